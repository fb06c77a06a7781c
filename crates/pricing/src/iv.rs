//! European implied volatility after Peter Jäckel's "Let's Be Rational".
//!
//! Everything is solved in normalised coordinates: with forward `F`, strike `K`, time `T` and
//! volatility `σ`, let `x = ln(F/K)`, `s = σ√T`, and let the normalised Black price be
//!
//! ```text
//! b(x, s, θ) = θ·[ e^{x/2}·Φ(θ(x/s + s/2)) − e^{−x/2}·Φ(θ(x/s − s/2)) ]
//! ```
//!
//! (θ = +1 for a call, −1 for a put), so that the undiscounted Black price is `√(FK)·b`
//! ([`normalised_black`]). Put–call parity and the symmetry `b(x, s, −1) = b(−x, s, +1)`
//! reduce every input to an out-of-the-money call with `x ≤ 0`, whose price lies in
//! `(0, e^{x/2})`.
//!
//! # Method
//! 1. **Normalised Black function** without cancellation or premature underflow, in four
//!    regions of `h = x/s`, `t = s/2` (as in LBR): an asymptotic expansion for `h → −∞`, a
//!    small-`t` Taylor expansion, the `erfcx` difference form (Cody's `erfcx`, no exponential
//!    inside), and `b_max − (b_max − b)` when `h + t` is positive. In the lowest branch the
//!    price enters only through `ln b` and `b/b'`, so prices far below the smallest normal
//!    double (deep OTM, e.g. 1e-300) are still solved.
//! 2. **Initial guess**: the four branches of LBR, delimited by the inflexion point
//!    `s_c = √(2|x|)` and the tangent intercepts `s_l`, `s_u`; rational cubic interpolation
//!    (Delbourgo–Gregory) of `s(β)` in the two middle branches and of the transformed maps
//!    `f_l(β)`, `f_u(β)` in the outer ones, with control parameters fitted to second
//!    derivatives.
//! 3. **Householder(3) steps** on the branch objective: `1/ln b − 1/ln β` in the lowest
//!    branch, `b − β` in the middle, `ln((b_max − β)/(b_max − b))` in the highest
//!    (when `β > b_max/2`). One step is taken; a second (and further, at most 12 in all) only
//!    when the step just taken was larger than 1e-5·s — an a-priori criterion from the step
//!    itself, no extra evaluation: Householder(3) converges with order four, so a step of
//!    relative size δ from a guess in the basin leaves an error of order δ⁴·s. Subnormal
//!    normalised prices (β < 2.2e-308) always take two steps. The result is checked (finite,
//!    > 0) before it is returned.
//! 4. **Time values at rounding level**: in the money, a price within 4 ulps of the intrinsic
//!    value (ulps of `max(price, S·e^{−qT})`, the leg whose rounding the intrinsic value
//!    carries) is [`PricingError::AtIntrinsic`] (below it: `BelowIntrinsic`); out of the money
//!    (intrinsic 0) every positive price is solved, down to 1e-300 and below: for subnormal
//!    `β` the solver gets `ln β` from the time value rescaled by an exact power of two.
//!
//! This is an independent implementation of the published method; the expansions were
//! re-derived (Mills-ratio recurrence `Y' = 1 + hY`, `Y = Φ/φ`), not transcribed.
//!
//! # Accuracy and speed
//! `tests/iv_roundtrip.rs`, 200 000 random BSM round trips σ → price → σ̂ over T ∈ [1 h, 5 y],
//! K/S ∈ [0.25, 4], σ ∈ [1 %, 300 %], r ∈ [−1 %, 10 %], q ∈ [0, 6 %]: on the ~60 000
//! well-conditioned ones (time value ≥ 1e-9·S, vega ≥ 1e-6·S·√T) the largest error was
//! 0.005 of the tolerance `1e-10·σ + 100·ε·price/vega`, i.e. at most 9·ε·(price/vega + σ);
//! everywhere else the result reprices to rounding accuracy or is a typed error (the time
//! value is at rounding level). 100 000 normalised round trips with |x| ≤ 60, s ∈ [1e-6, 60]
//! stay within `1e-13·s + 32·ε·b/b'`.
//!
//! Speed (single thread, `cargo bench -p wheelhouse-pricing --bench iv`, same random quotes;
//! batch: `cargo bench -p wheelhouse-compute --bench iv`): about 2.5 M implied volatilities
//! per second per core on the 2-core development VM (4.7 M/s on both cores through
//! `Backend::implied_volatility`), against about 3.0 M/s for the `implied-vol` 2.1 crate on
//! one core; the remaining gap is in the deep out-of-the-money lowest branch (where
//! `implied-vol` by default swaps LBR for a different seed). Most solves cost two
//! evaluations of the normalised Black function (one at the branch node for the initial
//! guess, one for the Householder step).
//!
//! # References
//! * P. Jäckel, "Let's Be Rational", Wilmott (2015), 40–53.
//! * P. Jäckel, "Let's Be Rational" revisions (2016, 2017): branch definitions, the
//!   four-region evaluation of the normalised Black function and thresholds.
//! * R. Delbourgo, J. A. Gregory, "Shape preserving piecewise rational interpolation",
//!   SIAM J. Sci. Stat. Comput. 6 (1985), 967–976.
//! * A. S. Householder, "The Numerical Treatment of a Single Nonlinear Equation" (1970).

use crate::normal::{
    CDF_THRESHOLD, erfcx, erfcx_positive, inverse_norm_cdf, norm_cdf, norm_cdf_central,
};
use crate::{OptionType, PricingError};
use std::f64::consts::{FRAC_1_SQRT_2, PI, SQRT_2};

/// √(2π).
const SQRT_2PI: f64 = 2.5066282746310002;
/// 1/√(2π).
const FRAC_1_SQRT_2PI: f64 = 0.3989422804014327;
/// √(π/2).
const SQRT_PI_OVER_2: f64 = 1.2533141373155003;
/// √(2/π).
const SQRT_2_OVER_PI: f64 = 0.7978845608028654;
/// ln √(2π).
const LN_SQRT_2PI: f64 = 0.9189385332046728;
/// 1/√3.
const FRAC_1_SQRT_3: f64 = 0.5773502691896258;
/// √3.
const SQRT_3: f64 = 1.7320508075688772;

/// Region 1 (asymptotic expansion) applies for h < ETA and h + t < ETA + TAU.
pub const ETA: f64 = -12.0;
/// Region 2 (small-t expansion) applies for t < TAU. LBR uses 2·ε^{1/6} ≈ 0.0049 with a
/// fixed-order expansion; the recurrence below converges fast enough to go to 0.1, which cuts
/// the cancellation of the difference forms just above the threshold from ~1/(2·0.0049) to ~5.
pub const TAU: f64 = 0.1;
/// Householder steps always taken for subnormal normalised prices (whose evaluation is less
/// accurate); otherwise one suffices where the step itself was small, see `STEP_TOLERANCE`:
/// Householder(3) converges with order four.
const MIN_STEPS: u32 = 2;
/// Hard cap on Householder steps (the safety net; never reached in tests).
const MAX_STEPS: u32 = 12;
/// After `MIN_STEPS`, keep iterating only while |ds| > this · s. A step of relative size δ
/// from a guess in the basin leaves a relative error of order δ⁴ (Householder(3) is of order
/// four), so 1e-5 leaves ~1e-20·s: far below rounding.
pub const STEP_TOLERANCE: f64 = 1e-5;

// ---------------------------------------------------------------------------------------------
// Normalised Black function.
// ---------------------------------------------------------------------------------------------

/// Number of terms of the asymptotic expansion (region 1).
pub const ASYM_N: usize = 23;

const fn binomial(n: u32, k: u32) -> u128 {
    let mut r: u128 = 1;
    let mut i: u32 = 0;
    while i < k {
        r = r * (n - i) as u128 / (i + 1) as u128;
        i += 1;
    }
    r
}

/// `c[n][m] = (−1)ⁿ (2n−1)!! C(2n+1, 2m+1)`: coefficient of `qⁿ eᵐ` in the asymptotic sum.
const fn asymptotic_table() -> [[f64; ASYM_N]; ASYM_N] {
    let mut c = [[0.0; ASYM_N]; ASYM_N];
    let mut double_factorial: u128 = 1; // (2n−1)!!
    let mut n = 0;
    while n < ASYM_N {
        if n > 0 {
            double_factorial *= (2 * n - 1) as u128;
        }
        let sign = if n % 2 == 0 { 1.0 } else { -1.0 };
        let mut m = 0;
        while m <= n {
            let binom = binomial(2 * n as u32 + 1, 2 * m as u32 + 1) as f64;
            c[n][m] = sign * (double_factorial as f64) * binom;
            m += 1;
        }
        n += 1;
    }
    c
}

/// The asymptotic expansion's coefficients (region 1): `ASYM_C[n][m]` multiplies `qⁿ eᵐ`
/// (zero for `m > n`); shared with the vectorised solver so both sum the same series.
pub const ASYM_C: [[f64; ASYM_N]; ASYM_N] = asymptotic_table();

/// `b/b'` in region 1 (h ≪ 0): with the Mills ratio `Y = Φ/φ` and its asymptotic series
/// `Y(z) ~ −Σ (−1)ⁿ (2n−1)!! z^{−(2n+1)}`,
/// `Y(h+t) − Y(h−t) = (2t/r)·Σₙ (−1)ⁿ (2n−1)!! qⁿ Σₘ C(2n+1, 2m+1) eᵐ`
/// with `r = (h+t)(h−t)`, `q = (h/r)²`, `e = (t/h)²`, free of cancellation.
#[inline(never)]
fn asymptotic_scaled(h: f64, t: f64) -> f64 {
    let e = (t / h) * (t / h);
    let r = (h + t) * (h - t);
    let q = (h / r) * (h / r);
    // Terms shrink like (2n−1)!!/(h+t)^{2n}: sum forward and stop once negligible. With
    // e = (t/h)² < 1e-3 the inner polynomial in e converges after a few powers.
    let m_cap = if e < 1e-3 { 6 } else { ASYM_N };
    let mut sum = 0.0;
    let mut qn = 1.0;
    for (n, row) in ASYM_C.iter().enumerate() {
        let mut m = n.min(m_cap);
        let mut p = row[m];
        while m > 0 {
            m -= 1;
            p = p * e + row[m];
        }
        let term = p * qn;
        sum += term;
        if term.abs() <= 1e-17 * sum.abs() {
            break;
        }
        qn *= q;
    }
    2.0 * t / r * sum
}

/// `b/b'` in region 2 (t small): `Y(h+t) − Y(h−t) = 2 Σ_{k odd} Y⁽ᵏ⁾(h) tᵏ/k!` where the
/// derivatives follow from `Y' = 1 + hY`, `Y⁽ᵏ⁺¹⁾ = h Y⁽ᵏ⁾ + k Y⁽ᵏ⁻¹⁾`.
#[inline(never)]
fn small_t_scaled(h: f64, t: f64) -> f64 {
    let y0 = SQRT_PI_OVER_2 * erfcx(-h * FRAC_1_SQRT_2);
    let mut y_prev = y0;
    let mut y = 1.0 + h * y0; // Y'
    let t2 = t * t;
    let mut tk = t; // t^k / k!
    let mut sum = y * t;
    let mut k = 1.0;
    // t < 0.1: at most seven further odd terms (t^15/15!! is far below ε relative to the
    // first); usually far fewer are needed.
    for _ in 0..7 {
        let y_next = h * y + k * y_prev; // Y^(k+1)
        let y_next2 = h * y_next + (k + 1.0) * y; // Y^(k+2)
        tk *= t2 / ((k + 1.0) * (k + 2.0));
        let term = y_next2 * tk;
        sum += term;
        if term.abs() <= 1e-17 * sum.abs() {
            break;
        }
        y_prev = y_next;
        y = y_next2;
        k += 2.0;
    }
    2.0 * sum
}

/// Which evaluation of the out-of-the-money normalised call applies at `(h, t)`.
#[inline]
fn in_region_1(h: f64, t: f64) -> bool {
    h < ETA && h + t < ETA + TAU
}

/// Out-of-the-money normalised call `b(x, s)` for `x ≤ 0`, and the vega `∂b/∂s`.
///
/// `b_max = e^{x/2}`, `inv_b_max = e^{−x/2}` are passed in (they are per-problem constants).
#[inline]
fn otm_call_and_vega(x: f64, s: f64, b_max: f64, inv_b_max: f64) -> (f64, f64) {
    let h = x / s;
    let t = 0.5 * s;
    let vega = FRAC_1_SQRT_2PI * (-0.5 * (h * h + t * t)).exp();
    let z1 = h + t;
    let b = if z1 > CDF_THRESHOLD {
        // b_max − b = e^{x/2}Φ(−h−t) + e^{−x/2}Φ(h−t): two positive terms, b ≥ ~b_max/2.
        let d = erfcx_positive(z1 * FRAC_1_SQRT_2) + erfcx_positive((t - h) * FRAC_1_SQRT_2);
        b_max - vega * SQRT_PI_OVER_2 * d
    } else if in_region_1(h, t) {
        vega * asymptotic_scaled(h, t)
    } else if t < TAU {
        vega * small_t_scaled(h, t)
    } else {
        // e^{x/2}Φ(h+t) − e^{−x/2}Φ(h−t), each term either from the central Φ (no
        // exponential) or as b'·Y(z) = b'·√(π/2)·erfcx(−z/√2).
        let first = if z1 >= -CDF_THRESHOLD {
            b_max * norm_cdf_central(z1)
        } else {
            vega * SQRT_PI_OVER_2 * erfcx_positive(-z1 * FRAC_1_SQRT_2)
        };
        let z2 = h - t;
        let second = if z2 >= -CDF_THRESHOLD {
            inv_b_max * norm_cdf_central(z2)
        } else {
            vega * SQRT_PI_OVER_2 * erfcx_positive(-z2 * FRAC_1_SQRT_2)
        };
        first - second
    };
    (b.max(0.0), vega)
}

/// `(ln b, b/b')` of the out-of-the-money normalised call, computed without forming `b` where
/// `b` may underflow (regions 1, 2 and the erfcx difference).
#[inline]
fn otm_call_ln_and_scaled(x: f64, s: f64, b_max: f64, inv_b_max: f64) -> (f64, f64) {
    let h = x / s;
    let t = 0.5 * s;
    let z1 = h + t;
    let bx = if in_region_1(h, t) {
        asymptotic_scaled(h, t)
    } else if t < TAU {
        small_t_scaled(h, t)
    } else if z1 < -CDF_THRESHOLD {
        SQRT_PI_OVER_2
            * (erfcx_positive(-z1 * FRAC_1_SQRT_2) - erfcx_positive((t - h) * FRAC_1_SQRT_2))
    } else {
        let (b, vega) = otm_call_and_vega(x, s, b_max, inv_b_max);
        return (b.ln(), b / vega);
    };
    let bx = bx.max(0.0);
    (bx.ln() - 0.5 * (h * h + t * t) - LN_SQRT_2PI, bx)
}

/// Normalised intrinsic value `2·sinh(|x|/2)` of the in-the-money option.
#[inline]
fn normalised_intrinsic(ax: f64) -> f64 {
    2.0 * (0.5 * ax).sinh()
}

/// The normalised Black function `b(x, s, θ)`.
///
/// `x = ln(F/K)` is the log-moneyness, `s = σ√T` the total standard deviation, and the
/// result is the undiscounted Black price divided by `√(F·K)`:
/// `b = θ·[e^{x/2}·Φ(θ(x/s + s/2)) − e^{−x/2}·Φ(θ(x/s − s/2))]`.
///
/// It is evaluated as intrinsic value plus the out-of-the-money value, and the latter without
/// subtractive cancellation (see the module documentation), so tiny out-of-the-money values
/// keep their relative accuracy down to the underflow threshold. `s ≤ 0` gives the intrinsic
/// value; NaN inputs give NaN. Intended domain |x| < 1400.
///
/// # References
/// P. Jäckel, "Let's Be Rational", Wilmott (2015), section 2.
#[inline]
pub fn normalised_black(x: f64, s: f64, kind: OptionType) -> f64 {
    let ax = x.abs();
    let intrinsic = if kind.sign() * x > 0.0 {
        normalised_intrinsic(ax)
    } else {
        0.0
    };
    if s.is_nan() || ax.is_nan() {
        return f64::NAN;
    }
    if s <= 0.0 {
        return intrinsic;
    }
    if s == f64::INFINITY {
        return intrinsic + (-0.5 * ax).exp();
    }
    let xo = -ax;
    let (b, _) = otm_call_and_vega(xo, s, (0.5 * xo).exp(), (0.5 * ax).exp());
    intrinsic + b
}

/// Vega of the normalised Black function, `∂b/∂s = e^{−(x²/s² + s²/4)/2}/√(2π)`.
///
/// The same for calls and puts; 0 for `s ≤ 0`.
#[inline]
pub fn normalised_vega(x: f64, s: f64) -> f64 {
    if s <= 0.0 {
        return 0.0;
    }
    let h = x / s;
    let t = 0.5 * s;
    FRAC_1_SQRT_2PI * (-0.5 * (h * h + t * t)).exp()
}

// ---------------------------------------------------------------------------------------------
// Rational cubic interpolation (Delbourgo & Gregory 1985).
// ---------------------------------------------------------------------------------------------

const R_MIN: f64 = -(1.0 - 1.490_116_119_384_765_6e-8); // −(1 − √ε)
const R_MAX: f64 = 2.0 / (f64::EPSILON * f64::EPSILON);

/// Delbourgo–Gregory rational cubic through `(x_l, y_l)`, `(x_r, y_r)` with end slopes
/// `d_l`, `d_r` and control parameter `r` (`r = 3`: cubic Hermite; `r → ∞`: linear).
#[inline]
#[allow(clippy::too_many_arguments)]
fn rational_cubic(
    x: f64,
    x_l: f64,
    x_r: f64,
    y_l: f64,
    y_r: f64,
    d_l: f64,
    d_r: f64,
    r: f64,
) -> f64 {
    let h = x_r - x_l;
    if h.abs() <= 0.0 {
        return 0.5 * (y_l + y_r);
    }
    let t = (x - x_l) / h;
    if r >= R_MAX {
        return y_r * t + y_l * (1.0 - t);
    }
    let u = 1.0 - t;
    let t2 = t * t;
    let u2 = u * u;
    let num =
        y_r * t2 * t + (r * y_r - h * d_r) * t2 * u + (r * y_l + h * d_l) * t * u2 + y_l * u2 * u;
    num / (1.0 + (r - 3.0) * t * u)
}

/// Smallest control parameter that keeps the interpolant monotone and convex/concave where
/// the data are (Delbourgo & Gregory's sufficient conditions).
#[inline]
fn minimum_control(d_l: f64, d_r: f64, delta: f64, prefer_shape: bool) -> f64 {
    let monotonic = d_l * delta >= 0.0 && d_r * delta >= 0.0;
    let convex = d_l <= delta && delta <= d_r;
    let concave = d_l >= delta && delta >= d_r;
    if !monotonic && !convex && !concave {
        return R_MIN;
    }
    let mut r1 = f64::MIN;
    let mut r2 = f64::MIN;
    if monotonic {
        if delta != 0.0 {
            r1 = (d_r + d_l) / delta;
        } else if prefer_shape {
            r1 = R_MAX;
        }
    }
    if convex || concave {
        let a = delta - d_l;
        let b = d_r - delta;
        if a != 0.0 && b != 0.0 {
            r2 = ((d_r - d_l) / b).abs().max(((d_r - d_l) / a).abs());
        } else if prefer_shape {
            r2 = R_MAX;
        }
    } else if monotonic && prefer_shape {
        r2 = R_MAX;
    }
    R_MIN.max(r1).max(r2)
}

/// Control parameter matching the second derivative `second` at the **left** end,
/// raised to the shape-preserving minimum.
#[inline]
#[allow(clippy::too_many_arguments)]
fn control_fit_left(
    x_l: f64,
    x_r: f64,
    y_l: f64,
    y_r: f64,
    d_l: f64,
    d_r: f64,
    second: f64,
    prefer_shape: bool,
) -> f64 {
    let h = x_r - x_l;
    let delta = (y_r - y_l) / h;
    let num = 0.5 * h * second + (d_r - d_l);
    let den = delta - d_l;
    let r = fit_ratio(num, den);
    r.max(minimum_control(d_l, d_r, delta, prefer_shape))
}

/// Control parameter matching the second derivative `second` at the **right** end,
/// raised to the shape-preserving minimum.
#[inline]
#[allow(clippy::too_many_arguments)]
fn control_fit_right(
    x_l: f64,
    x_r: f64,
    y_l: f64,
    y_r: f64,
    d_l: f64,
    d_r: f64,
    second: f64,
    prefer_shape: bool,
) -> f64 {
    let h = x_r - x_l;
    let delta = (y_r - y_l) / h;
    let num = 0.5 * h * second + (d_r - d_l);
    let den = d_r - delta;
    let r = fit_ratio(num, den);
    r.max(minimum_control(d_l, d_r, delta, prefer_shape))
}

#[inline]
fn fit_ratio(num: f64, den: f64) -> f64 {
    if den == 0.0 || !(num / den).is_finite() {
        if num > 0.0 { R_MAX } else { R_MIN }
    } else {
        num / den
    }
}

// ---------------------------------------------------------------------------------------------
// Transformation maps of the outer branches.
// ---------------------------------------------------------------------------------------------

/// Lower map `f_l = (2π/√27)·|x|·Φ(h/√3)³` (h = x/s) and its first two derivatives with
/// respect to β, at `s`.
#[inline]
fn lower_map(x: f64, s: f64) -> (f64, f64, f64) {
    let h = x / s;
    let t = 0.5 * s;
    let z = h * FRAC_1_SQRT_3;
    // Φ(z)·e^{z²/2} = ½ erfcx(−z/√2) (z < 0): keeps e^{h²/3} from overflowing.
    let scaled = 0.5 * erfcx(-z * FRAC_1_SQRT_2);
    let e_z = (-0.5 * z * z).exp(); // e^{−h²/6}
    let phi_z = scaled * e_z;
    let f = (2.0 * PI / 27f64.sqrt()) * (-x) * phi_z * phi_z * phi_z;
    let e_t = (0.5 * t * t).exp();
    let g = (2.0 * PI / 3.0) * h * h * scaled * scaled * e_t;
    // d ln g / ds, then divide by b'(s) = e^{−(h²+t²)/2}/√(2π), e^{h²/2} = e_z^{−3}.
    let y_z = SQRT_2PI * scaled; // Φ(z)/φ(z)
    let dlng = -2.0 / s - 2.0 * z / (s * y_z) - 2.0 * h * h / (3.0 * s) + 0.5 * t;
    let second = g * dlng * SQRT_2PI * e_t / (e_z * e_z * e_z);
    (f, g, second)
}

/// Inverse of the lower map: `s` with `f_l(s) = f`.
#[inline]
fn inverse_lower_map(x: f64, f: f64) -> f64 {
    let p = SQRT_3 * (f / (2.0 * PI * (-x))).cbrt();
    let z = inverse_norm_cdf(p);
    x * FRAC_1_SQRT_3 / z
}

/// Upper map `f_u = Φ(−s/2)` and its first two derivatives with respect to β, at `s`.
#[inline]
fn upper_map(x: f64, s: f64) -> (f64, f64, f64) {
    let h = x / s;
    let t = 0.5 * s;
    let w = h * h;
    let f = norm_cdf(-t);
    let d1 = -0.5 * (0.5 * w).exp();
    let d2 = SQRT_PI_OVER_2 * (w + 0.5 * t * t).exp() * w / s;
    (f, d1, d2)
}

// ---------------------------------------------------------------------------------------------
// The solver.
// ---------------------------------------------------------------------------------------------

/// Householder(3) step factor: `ds = ν·(1 + ν h₂/2)/(1 + ν(h₂ + ν h₃/6))`, with
/// `h₂ = g''/g'`, `h₃ = g'''/g'`.
#[inline]
fn householder3(nu: f64, h2: f64, h3: f64) -> f64 {
    nu * (1.0 + 0.5 * h2 * nu) / (1.0 + nu * (h2 + h3 * nu * (1.0 / 6.0)))
}

/// Keeps an iterate inside the current bracket (bisection fallback).
#[inline]
fn guard(s_new: f64, lo: f64, hi: f64) -> f64 {
    if s_new >= lo && s_new <= hi && s_new > 0.0 {
        s_new
    } else if hi.is_finite() {
        0.5 * (lo + hi)
    } else {
        2.0 * lo.max(f64::MIN_POSITIVE)
    }
}

#[derive(Clone, Copy)]
enum Objective {
    /// `1/ln b − 1/ln β`.
    Lowest,
    /// `b − β`.
    Middle,
    /// `ln((b_max − β)/(b_max − b))`.
    Highest,
}

/// Implied `s = σ√T` of an out-of-the-money normalised call price `beta ∈ (0, b_max)` at
/// log-moneyness `x ≤ 0`, with `b_max = e^{x/2}`.
fn normalised_implied_s(beta: f64, x: f64) -> Result<f64, PricingError> {
    normalised_implied_s_ln(beta, beta.ln(), x)
}

/// [`normalised_implied_s`] with `ln β` supplied by the caller: for subnormal `β` the caller
/// can compute it from an unrounded (rescaled) time value, the lowest branch only uses `ln β`.
fn normalised_implied_s_ln(beta: f64, ln_beta: f64, x: f64) -> Result<f64, PricingError> {
    debug_assert!(x <= 0.0);
    let b_max = (0.5 * x).exp();
    let inv_b_max = 1.0 / b_max;
    let sqrt_ax = (-x).sqrt();
    let s_c = SQRT_2 * sqrt_ax;
    // b(x, s_c) = ½ b_max (1 − erfcx(√|x|)), b'(x, s_c) = b_max/√(2π).
    let ome = 1.0 - erfcx(sqrt_ax);
    let b_c = 0.5 * b_max * ome;
    let inv_v_c = SQRT_2PI / b_max;

    let (mut s, mut lo, mut hi, objective);
    if beta < b_c {
        let mut s_l = s_c - SQRT_PI_OVER_2 * ome;
        if s_l.is_nan() || s_l <= 0.0 {
            // Only reachable through rounding when |x| is tiny; any node in (0, s_c) serves.
            s_l = 0.25 * s_c * sqrt_ax.min(1.0);
        }
        let (b_l, v_l) = otm_call_and_vega(x, s_l, b_max, inv_b_max);
        if beta < b_l {
            let (f_l, d_f_l, d2_f_l) = lower_map(x, s_l);
            let r = if d2_f_l.is_finite() {
                control_fit_right(0.0, b_l, 0.0, f_l, 1.0, d_f_l, d2_f_l, true)
            } else {
                minimum_control(1.0, d_f_l, f_l / b_l, true)
            };
            let mut f = rational_cubic(beta, 0.0, b_l, 0.0, f_l, 1.0, d_f_l, r);
            if f.is_nan() || f <= 0.0 {
                let t = beta / b_l;
                f = (f_l * t + b_l * (1.0 - t)) * t;
            }
            s = inverse_lower_map(x, f);
            lo = 0.0;
            hi = s_l;
            objective = Objective::Lowest;
        } else {
            let r = control_fit_right(b_l, b_c, s_l, s_c, 1.0 / v_l, inv_v_c, 0.0, false);
            s = rational_cubic(beta, b_l, b_c, s_l, s_c, 1.0 / v_l, inv_v_c, r);
            lo = s_l;
            hi = s_c;
            objective = Objective::Middle;
        }
    } else {
        let s_u = s_c + SQRT_PI_OVER_2 * (2.0 - ome);
        let (b_u, v_u) = otm_call_and_vega(x, s_u, b_max, inv_b_max);
        if beta <= b_u {
            let r = control_fit_left(b_c, b_u, s_c, s_u, inv_v_c, 1.0 / v_u, 0.0, false);
            s = rational_cubic(beta, b_c, b_u, s_c, s_u, inv_v_c, 1.0 / v_u, r);
            lo = s_c;
            hi = s_u;
            objective = Objective::Middle;
        } else {
            let (f_u, d_f_u, d2_f_u) = upper_map(x, s_u);
            let mut f = if d2_f_u.abs() < 1.3407807929942596e154 {
                let r = control_fit_left(b_u, b_max, f_u, 0.0, d_f_u, -0.5, d2_f_u, true);
                rational_cubic(beta, b_u, b_max, f_u, 0.0, d_f_u, -0.5, r)
            } else {
                f64::MIN
            };
            if f.is_nan() || f <= 0.0 {
                let h = b_max - b_u;
                let t = (beta - b_u) / h;
                f = (f_u * (1.0 - t) + 0.5 * h * t) * (1.0 - t);
            }
            s = -2.0 * inverse_norm_cdf(f);
            lo = s_u;
            hi = f64::INFINITY;
            objective = if beta > 0.5 * b_max {
                Objective::Highest
            } else {
                Objective::Middle
            };
        }
    }
    s = guard(s, lo, hi);

    let beta_bar = b_max - beta;
    let mut steps = 0;
    loop {
        let inv_s = 1.0 / s;
        let h = x * inv_s;
        let hh_over_s = h * h * inv_s; // x²/s³
        let b2 = hh_over_s - 0.25 * s; // b''/b'
        let b3 = b2 * b2 - 3.0 * hh_over_s * inv_s - 0.25; // b'''/b'
        let ds = match objective {
            Objective::Middle => {
                let (b, vega) = otm_call_and_vega(x, s, b_max, inv_b_max);
                if b > beta {
                    hi = hi.min(s);
                } else {
                    lo = lo.max(s);
                }
                if vega.is_nan() || vega <= 0.0 {
                    f64::NAN
                } else {
                    householder3((beta - b) / vega, b2, b3)
                }
            }
            Objective::Lowest => {
                let (ln_b, bx) = otm_call_ln_and_scaled(x, s, b_max, inv_b_max);
                if ln_b > ln_beta {
                    hi = hi.min(s);
                } else {
                    lo = lo.max(s);
                }
                if bx.is_nan() || bx <= 0.0 || !ln_b.is_finite() || ln_b >= 0.0 {
                    f64::NAN
                } else {
                    let p = 1.0 / bx; // b'/b
                    let lambda = 1.0 / ln_b;
                    let otl = 1.0 + 2.0 * lambda;
                    let nu = (ln_beta - ln_b) * ln_b / ln_beta * bx;
                    let h2 = b2 - p * otl;
                    let h3 =
                        b3 - 3.0 * p * b2 * otl + p * p * (2.0 + 6.0 * lambda * (1.0 + lambda));
                    householder3(nu, h2, h3)
                }
            }
            Objective::Highest => {
                let t = 0.5 * s;
                let sum = erfcx((t + h) * FRAC_1_SQRT_2) + erfcx((t - h) * FRAC_1_SQRT_2);
                let gamma = SQRT_2_OVER_PI / sum; // b'/(b_max − b)
                let g = (beta_bar * gamma).ln() + 0.5 * (h * h + t * t) + LN_SQRT_2PI;
                if g < 0.0 {
                    lo = lo.max(s); // b(s) < β
                } else {
                    hi = hi.min(s);
                }
                let h2 = b2 + gamma;
                let h3 = b3 + gamma * (3.0 * b2 + 2.0 * gamma);
                householder3(-g / gamma, h2, h3)
            }
        };
        steps += 1;
        let s_new = guard(s + ds, lo, hi);
        let converged = (s_new - s).abs() <= STEP_TOLERANCE * s;
        s = s_new;
        if converged && (steps >= MIN_STEPS || beta >= f64::MIN_POSITIVE) {
            break;
        }
        if steps >= MAX_STEPS {
            return Err(PricingError::NoConvergence {
                method: "lets_be_rational",
                iterations: steps,
            });
        }
    }
    if s.is_finite() && s > 0.0 {
        Ok(s)
    } else {
        Err(PricingError::NoConvergence {
            method: "lets_be_rational",
            iterations: steps,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Public API.
// ---------------------------------------------------------------------------------------------

/// Below this normalised price the rescaled logarithm is used (2^−960 ≈ 1e-289).
const TINY_BETA: f64 = 1.0261342003245941e-289;
/// 2^600, an exact scaling.
const TWO_POW_600: f64 = 4.149515568880993e180;

/// Unit in the last place of a positive finite `v` (the spacing of doubles at `v`'s binade).
#[inline]
fn ulp(v: f64) -> f64 {
    f64::from_bits(v.to_bits() & 0x7ff0_0000_0000_0000) * f64::EPSILON
}

#[inline]
fn check_positive(field: &'static str, value: f64) -> Result<(), PricingError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(PricingError::InvalidInput {
            field,
            value,
            reason: "must be finite and > 0",
        })
    }
}

#[inline]
fn check_finite(field: &'static str, value: f64) -> Result<(), PricingError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(PricingError::InvalidInput {
            field,
            value,
            reason: "must be finite",
        })
    }
}

#[inline]
fn check_price(price: f64) -> Result<(), PricingError> {
    if price.is_finite() && price >= 0.0 {
        Ok(())
    } else {
        Err(PricingError::InvalidInput {
            field: "price",
            value: price,
            reason: "must be finite and >= 0",
        })
    }
}

/// Shared tail of the public functions, in the caller's (possibly discounted) price units.
///
/// `intrinsic` and `upper` are the no-arbitrage bounds in those units, `leg` the underlying's
/// leg of the intrinsic value (`S·e^{−qT}`, `e^{−rT}·F`) whose rounding bounds that of
/// `intrinsic`, `undiscount` converts those units into undiscounted (forward) money,
/// `x = ln(F/K)`.
#[inline]
#[allow(clippy::too_many_arguments)]
fn implied_from_bounds(
    price: f64,
    intrinsic: f64,
    leg: f64,
    upper: f64,
    undiscount: f64,
    forward: f64,
    strike: f64,
    x: f64,
    years: f64,
) -> Result<f64, PricingError> {
    if price >= upper {
        return Err(PricingError::AboveUpperBound {
            price,
            bound: upper,
        });
    }
    if price < intrinsic {
        return Err(PricingError::BelowIntrinsic {
            price,
            bound: intrinsic,
        });
    }
    if price == intrinsic {
        return Err(PricingError::AtIntrinsic { price });
    }
    // In the money, a time value within 4 ulps of max(price, underlying leg) is rounding noise
    // of the intrinsic value itself: no volatility is determined (it would be arbitrary).
    if intrinsic > 0.0 && price - intrinsic <= 4.0 * ulp(price.max(leg)) {
        return Err(PricingError::AtIntrinsic { price });
    }
    // Out-of-the-money part (put–call parity), undiscounted and normalised by √(FK).
    let beta = (price - intrinsic) * undiscount / (forward.sqrt() * strike.sqrt());
    let x = -x.abs();
    if beta.is_nan() || beta <= 0.0 {
        // The time value vanished in the normalisation (only for subnormal time values).
        return Err(PricingError::AtIntrinsic { price });
    }
    if beta >= (0.5 * x).exp() {
        // Rounding put the out-of-the-money price at its supremum: σ = ∞.
        return Err(PricingError::AboveUpperBound {
            price,
            bound: upper,
        });
    }
    // A subnormal β has lost relative precision in its own rounding; the solver needs only
    // ln β there, so take it from the time value scaled up by an exact power of two.
    let ln_beta = if beta < TINY_BETA {
        ((price - intrinsic) * TWO_POW_600 * undiscount / (forward.sqrt() * strike.sqrt())).ln()
            - 600.0 * std::f64::consts::LN_2
    } else {
        beta.ln()
    };
    let s = normalised_implied_s_ln(beta, ln_beta, x)?;
    let sigma = s / years.sqrt();
    if sigma.is_finite() && sigma > 0.0 {
        Ok(sigma)
    } else {
        Err(PricingError::NoConvergence {
            method: "lets_be_rational",
            iterations: 0,
        })
    }
}

/// Inverse of [`normalised_black`]: the `s = σ√T` with `b(x, s, θ) = beta`.
///
/// `beta` is the undiscounted price divided by `√(F·K)` and `x = ln(F/K)`.
///
/// # Errors
/// * [`PricingError::InvalidInput`]: `beta` NaN, infinite or negative (field `"price"`), `x`
///   not finite (field `"x"`).
/// * [`PricingError::BelowIntrinsic`] / [`PricingError::AtIntrinsic`]: `beta` below / equal to
///   the normalised intrinsic value `max(θ·2·sinh(x/2), 0)`.
/// * [`PricingError::AboveUpperBound`]: `beta ≥ e^{θx/2}` (the normalised `F` or `K`).
/// * [`PricingError::NoConvergence`]: never observed; reported instead of a guess.
///
/// # References
/// P. Jäckel, "Let's Be Rational", Wilmott (2015); see the [module documentation](self).
pub fn implied_normalised_volatility(
    beta: f64,
    x: f64,
    kind: OptionType,
) -> Result<f64, PricingError> {
    check_price(beta)?;
    check_finite("x", x)?;
    let theta_x = kind.sign() * x;
    let intrinsic = if theta_x > 0.0 {
        normalised_intrinsic(x.abs())
    } else {
        0.0
    };
    let upper = (0.5 * theta_x).exp();
    if beta >= upper {
        return Err(PricingError::AboveUpperBound {
            price: beta,
            bound: upper,
        });
    }
    if beta < intrinsic {
        return Err(PricingError::BelowIntrinsic {
            price: beta,
            bound: intrinsic,
        });
    }
    if beta == intrinsic {
        return Err(PricingError::AtIntrinsic { price: beta });
    }
    let xo = -x.abs();
    let b = beta - intrinsic;
    if b >= (0.5 * xo).exp() {
        return Err(PricingError::AboveUpperBound {
            price: beta,
            bound: upper,
        });
    }
    normalised_implied_s(b, xo)
}

/// Implied Black volatility of an **undiscounted** European option price.
///
/// Inverts Black's formula `P = θ·[F·Φ(θd₁) − K·Φ(θd₂)]`, `d₁,₂ = ln(F/K)/(σ√T) ± σ√T/2`,
/// for σ, to about machine precision wherever the problem is well conditioned.
///
/// # Errors
/// * [`PricingError::InvalidInput`] naming the field: `undiscounted_price` NaN, infinite or
///   negative (field `"price"`); `forward`, `strike` or `years` not finite or ≤ 0.
/// * [`PricingError::BelowIntrinsic`]: price below `max(θ(F − K), 0)`.
/// * [`PricingError::AtIntrinsic`]: price equal to it (σ = 0; this includes a zero price for
///   an out-of-the-money option, and time values lost to rounding).
/// * [`PricingError::AboveUpperBound`]: price ≥ F for a call, ≥ K for a put.
/// * [`PricingError::NoConvergence`]: never observed; reported instead of a guess.
///
/// # References
/// P. Jäckel, "Let's Be Rational", Wilmott (2015); see the [module documentation](self).
#[inline]
pub fn implied_black_volatility(
    undiscounted_price: f64,
    forward: f64,
    strike: f64,
    years: f64,
    kind: OptionType,
) -> Result<f64, PricingError> {
    check_price(undiscounted_price)?;
    check_positive("forward", forward)?;
    check_positive("strike", strike)?;
    check_positive("years", years)?;
    let (intrinsic, upper) = match kind {
        OptionType::Call => ((forward - strike).max(0.0), forward),
        OptionType::Put => ((strike - forward).max(0.0), strike),
    };
    let x = (forward / strike).ln();
    implied_from_bounds(
        undiscounted_price,
        intrinsic,
        forward,
        upper,
        1.0,
        forward,
        strike,
        x,
        years,
    )
}

/// Implied volatility of a Black-Scholes-Merton European option on a spot with a continuous
/// dividend yield (the price as quoted, i.e. discounted).
///
/// Uses the forward `F = S·e^{(r−q)T}` and the undiscounted price `price·e^{rT}` with
/// [`implied_black_volatility`]'s solver.
///
/// # Errors
/// * [`PricingError::InvalidInput`] naming the field: `price` NaN, infinite or negative;
///   `spot`, `strike`, `years` not finite or ≤ 0; `rate` or `dividend_yield` not finite
///   (or a forward `S·e^{(r−q)T}` that overflows, reported on `spot`).
/// * [`PricingError::BelowIntrinsic`] / [`PricingError::AtIntrinsic`]: price below / equal to
///   the discounted intrinsic value `max(θ(S·e^{−qT} − K·e^{−rT}), 0)` (the bound reported),
///   computed as `e^{−rT}·θ·((S − K) + S·expm1((r−q)T))` so that it is accurate relative to
///   the time value.
/// * [`PricingError::AboveUpperBound`]: price ≥ `S·e^{−qT}` (call) or `K·e^{−rT}` (put).
/// * [`PricingError::NoConvergence`]: never observed; reported instead of a guess.
///
/// # References
/// P. Jäckel, "Let's Be Rational", Wilmott (2015); see the [module documentation](self).
#[inline]
pub fn implied_volatility_bsm(
    price: f64,
    spot: f64,
    strike: f64,
    years: f64,
    rate: f64,
    dividend_yield: f64,
    kind: OptionType,
) -> Result<f64, PricingError> {
    check_price(price)?;
    check_positive("spot", spot)?;
    check_positive("strike", strike)?;
    check_positive("years", years)?;
    check_finite("rate", rate)?;
    check_finite("dividend_yield", dividend_yield)?;
    let carry = (rate - dividend_yield) * years;
    // e^{c} = 1 + expm1(c) to within an ulp: one exponential serves both the forward and
    // the accurate F − K below.
    let growth_m1 = carry.exp_m1();
    let forward = spot * (1.0 + growth_m1);
    if !(forward.is_finite() && forward > 0.0) {
        return Err(PricingError::InvalidInput {
            field: "spot",
            value: spot,
            reason: "forward S·exp((r−q)T) is not a finite positive number",
        });
    }
    let df = (-rate * years).exp();
    // F − K = (S − K) + S·(e^{(r−q)T} − 1): for in-the-money options the intrinsic value must be
    // accurate relative to the *time value*, not to S; this form's rounding is of order
    // ε·(|F − K| + S·|(r−q)T|) instead of ε·S.
    let forward_minus_strike = (spot - strike) + spot * growth_m1;
    // S·e^{−qT} = F·e^{−rT} to a few ulps; the exact form (one more exponential) is only
    // needed for a call priced at its upper bound, where it is the bound reported.
    let approx_leg = forward * df;
    let spot_leg = if kind == OptionType::Call && price >= approx_leg * (1.0 - 1e-12) {
        spot * (-dividend_yield * years).exp()
    } else {
        approx_leg
    };
    let (intrinsic, upper) = match kind {
        OptionType::Call => (df * forward_minus_strike.max(0.0), spot_leg),
        OptionType::Put => (df * (-forward_minus_strike).max(0.0), strike * df),
    };
    let x = (spot / strike).ln() + carry;
    implied_from_bounds(
        price,
        intrinsic,
        spot_leg,
        upper,
        1.0 / df,
        forward,
        strike,
        x,
        years,
    )
}

/// Implied volatility of a Black-76 European option on a forward or future (the price as
/// quoted, i.e. discounted with `e^{−rT}`).
///
/// # Errors
/// * [`PricingError::InvalidInput`] naming the field: `price` NaN, infinite or negative;
///   `forward`, `strike`, `years` not finite or ≤ 0; `rate` not finite.
/// * [`PricingError::BelowIntrinsic`] / [`PricingError::AtIntrinsic`]: price below / equal to
///   the discounted intrinsic value `e^{−rT}·max(θ(F − K), 0)` (the bound reported).
/// * [`PricingError::AboveUpperBound`]: price ≥ `e^{−rT}·F` (call) or `e^{−rT}·K` (put).
/// * [`PricingError::NoConvergence`]: never observed; reported instead of a guess.
///
/// # References
/// P. Jäckel, "Let's Be Rational", Wilmott (2015); see the [module documentation](self).
#[inline]
pub fn implied_volatility_black76(
    price: f64,
    forward: f64,
    strike: f64,
    years: f64,
    rate: f64,
    kind: OptionType,
) -> Result<f64, PricingError> {
    check_price(price)?;
    check_positive("forward", forward)?;
    check_positive("strike", strike)?;
    check_positive("years", years)?;
    check_finite("rate", rate)?;
    let df = (-rate * years).exp();
    let (intrinsic, upper) = match kind {
        OptionType::Call => (df * (forward - strike).max(0.0), df * forward),
        OptionType::Put => (df * (strike - forward).max(0.0), df * strike),
    };
    let x = (forward / strike).ln();
    implied_from_bounds(
        price,
        intrinsic,
        df * forward,
        upper,
        (rate * years).exp(),
        forward,
        strike,
        x,
        years,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rational_cubic_fits_second_derivatives() {
        let (x_l, x_r, y_l, y_r, d_l, d_r) = (0.3, 1.1, 0.2, 1.5, 0.4, 3.5);
        for second in [0.5, 2.0, 7.0] {
            for right in [false, true] {
                let r = if right {
                    control_fit_right(x_l, x_r, y_l, y_r, d_l, d_r, second, false)
                } else {
                    control_fit_left(x_l, x_r, y_l, y_r, d_l, d_r, second, false)
                };
                let f = |x: f64| rational_cubic(x, x_l, x_r, y_l, y_r, d_l, d_r, r);
                let e = 1e-4;
                let at = if right { x_r - 2.0 * e } else { x_l + 2.0 * e };
                // Second difference near the end, extrapolated linearly to the end point.
                let sd = |c: f64| (f(c + e) - 2.0 * f(c) + f(c - e)) / (e * e);
                let est = if right {
                    2.0 * sd(at) - sd(at - e)
                } else {
                    2.0 * sd(at) - sd(at + e)
                };
                if r > minimum_control(d_l, d_r, (y_r - y_l) / (x_r - x_l), false) {
                    assert!(
                        (est - second).abs() < 1e-2 * second.max(1.0),
                        "{est} vs {second}"
                    );
                }
                assert!((f(x_l) - y_l).abs() < 1e-15 && (f(x_r) - y_r).abs() < 1e-15);
            }
        }
    }

    #[test]
    fn transformation_map_derivatives() {
        for &(x, s) in &[(-0.5f64, 0.2f64), (-2.0, 0.9), (-0.05, 0.02), (-8.0, 1.2)] {
            let bm = (0.5 * x).exp();
            let ib = (-0.5 * x).exp();
            for upper in [false, true] {
                let map = |s: f64| {
                    if upper {
                        upper_map(x, s)
                    } else {
                        lower_map(x, s)
                    }
                };
                let s = if upper { s * 8.0 } else { s };
                let d = 1e-4 * s;
                let b = |s: f64| otm_call_and_vega(x, s, bm, ib).0;
                let (_, d1, d2) = map(s);
                let (fp, d1p, _) = map(s + d);
                let (fm, d1m, _) = map(s - d);
                let db = b(s + d) - b(s - d);
                let fd1 = (fp - fm) / db;
                let fd2 = (d1p - d1m) / db;
                assert!((fd1 / d1 - 1.0).abs() < 1e-5, "d1");
                assert!((fd2 / d2 - 1.0).abs() < 1e-4, "d2");
            }
        }
    }

    /// Simple reference: direct Black formula with the accurate Φ (fine where not tiny).
    fn reference_black(x: f64, s: f64, kind: OptionType) -> f64 {
        let th = kind.sign();
        let h = x / s;
        let t = 0.5 * s;
        th * ((0.5 * x).exp() * norm_cdf(th * (h + t)) - (-0.5 * x).exp() * norm_cdf(th * (h - t)))
    }

    #[test]
    fn normalised_black_matches_direct_formula() {
        for &x in &[-3.0, -1.0, -0.3, -0.01, 0.0, 0.02, 0.5, 2.0] {
            for &s in &[0.02, 0.1, 0.5, 1.0, 2.0, 5.0] {
                for kind in [OptionType::Call, OptionType::Put] {
                    let a = normalised_black(x, s, kind);
                    let b = reference_black(x, s, kind);
                    assert!(
                        (a - b).abs() <= 1e-13 * b.abs().max(1e-3),
                        "{x} {s} {a} {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn regions_agree_at_boundaries() {
        // Region 1 vs erfcx difference just across h = ETA with moderate t.
        for &t in &[0.01, 0.5, 2.0] {
            let h = ETA - t - 1e-9;
            let a = asymptotic_scaled(h, t);
            let b = SQRT_PI_OVER_2
                * (erfcx_positive(-(h + t) * FRAC_1_SQRT_2)
                    - erfcx_positive((t - h) * FRAC_1_SQRT_2));
            assert!((a / b - 1.0).abs() < 1e-12, "t={t}: {a} {b}");
        }
        // Small-t vs erfcx difference at t = TAU.
        for &h in &[-11.0, -5.0, -1.0, -0.7] {
            let a = small_t_scaled(h, TAU);
            let b = SQRT_PI_OVER_2
                * (erfcx(-(h + TAU) * FRAC_1_SQRT_2) - erfcx((TAU - h) * FRAC_1_SQRT_2));
            assert!((a / b - 1.0).abs() < 1e-11, "h={h}: {a} {b}");
        }
    }

    #[test]
    fn normalised_roundtrip_grid() {
        let mut worst: f64 = 0.0;
        for i in 0..=60 {
            let x = -(10f64).powf(-6.0 + 0.12 * i as f64); // −1e-6 … −1.6e1
            for j in 0..=60 {
                let s = (10f64).powf(-3.0 + 0.065 * j as f64); // 1e-3 … ~8
                let beta = normalised_black(x, s, OptionType::Call);
                if beta.is_nan() || beta <= 1e-300 || beta >= (0.5 * x).exp() {
                    continue;
                }
                let got = normalised_implied_s(beta, x).unwrap();
                let vega = normalised_vega(x, s);
                // Attainable: a relative perturbation of β by a few ε.
                let tol = 1e-14 * s + 8.0 * f64::EPSILON * beta / vega;
                let err = (got - s).abs();
                worst = worst.max(err / tol);
                assert!(err <= tol, "x={x:e} s={s:e} beta={beta:e} got={got:e}");
            }
        }
        assert!(worst <= 1.0);
    }

    #[test]
    fn errors_are_typed() {
        let c = OptionType::Call;
        let p = OptionType::Put;
        assert!(matches!(
            implied_black_volatility(f64::NAN, 100.0, 100.0, 1.0, c),
            Err(PricingError::InvalidInput { field: "price", .. })
        ));
        assert!(matches!(
            implied_black_volatility(-1.0, 100.0, 100.0, 1.0, c),
            Err(PricingError::InvalidInput { field: "price", .. })
        ));
        assert!(matches!(
            implied_black_volatility(1.0, 0.0, 100.0, 1.0, c),
            Err(PricingError::InvalidInput {
                field: "forward",
                ..
            })
        ));
        assert!(matches!(
            implied_black_volatility(1.0, 100.0, f64::INFINITY, 1.0, c),
            Err(PricingError::InvalidInput {
                field: "strike",
                ..
            })
        ));
        assert!(matches!(
            implied_black_volatility(1.0, 100.0, 100.0, 0.0, c),
            Err(PricingError::InvalidInput { field: "years", .. })
        ));
        assert!(matches!(
            implied_black_volatility(10.0, 110.0, 100.0, 1.0, c),
            Err(PricingError::AtIntrinsic { .. })
        ));
        assert!(matches!(
            implied_black_volatility(9.0, 110.0, 100.0, 1.0, c),
            Err(PricingError::BelowIntrinsic { .. })
        ));
        assert!(matches!(
            implied_black_volatility(110.0, 110.0, 100.0, 1.0, c),
            Err(PricingError::AboveUpperBound { .. })
        ));
        assert!(matches!(
            implied_black_volatility(100.0, 110.0, 100.0, 1.0, p),
            Err(PricingError::AboveUpperBound { .. })
        ));
        assert!(matches!(
            implied_black_volatility(0.0, 110.0, 100.0, 1.0, p),
            Err(PricingError::AtIntrinsic { .. })
        ));
        assert!(matches!(
            implied_volatility_bsm(1.0, 100.0, 100.0, 1.0, f64::NAN, 0.0, c),
            Err(PricingError::InvalidInput { field: "rate", .. })
        ));
        assert!(matches!(
            implied_volatility_bsm(1.0, 100.0, 100.0, 1.0, 0.0, f64::INFINITY, c),
            Err(PricingError::InvalidInput {
                field: "dividend_yield",
                ..
            })
        ));
    }

    #[test]
    fn atm_and_simple_values() {
        let f = 100.0;
        let sigma = 0.2;
        let s = sigma;
        let price = f * normalised_black(0.0, s, OptionType::Call);
        let got = implied_black_volatility(price, f, f, 1.0, OptionType::Call).unwrap();
        assert!((got - sigma).abs() < 1e-14);
    }
}
