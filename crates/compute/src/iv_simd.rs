//! Vectorised European implied volatility (8 lanes), after the scalar
//! [`wheelhouse_pricing::iv::implied_volatility_bsm`] ("Let's Be Rational").
//!
//! Each group of 8 elements runs through branch-free lane code (every region and branch is
//! evaluated and the lane picks its own with selects), compiled for AVX-512 or AVX2+FMA and
//! chosen at run time. The lane code covers the common case only: valid inputs strictly
//! inside the no-arbitrage bounds (in the money: time value > 64 ulps of max(price, S·e^{−qT})),
//! |(r−q)T| ≤ 0.6, normalised prices in [1e-250, (1 − 1e-12)·e^{x/2}), the initial guess and the
//! Householder(3) iterates outside the asymptotic region (h < −12), and convergence (last
//! step ≤ 1e-5·s) within two steps. Elements go through a screen first (the first checks of
//! the setup, vectorised: valid inputs, the carry bound, the price inside the band with its
//! time value): those it turns away go straight to the scalar solver instead of taking a lane
//! (half of a random mix), and the rest are packed into full groups. Every other lane is recomputed by the scalar function, so
//! errors and edge cases are exactly the scalar ones. A lane's result depends only on its own
//! inputs (the second step is computed for all lanes when any needs it, and kept only where
//! needed), so results do not depend on batch split or thread count.
#![allow(
    clippy::excessive_precision,
    reason = "published coefficients (Cody, Wichura, fdlibm) kept digit for digit"
)]

use crate::batch::{IvInput, Status};
use wheelhouse_pricing::ExerciseStyle;
use wheelhouse_pricing::iv::implied_volatility_bsm;
// Region bounds and the step criterion must match the scalar solver exactly.
use wheelhouse_pricing::iv::{ASYM_C, ASYM_N, ETA, STEP_TOLERANCE, TAU};
use wheelhouse_pricing::normal::{
    A, AS241_A, AS241_B, AS241_C, AS241_D, AS241_E, AS241_F, B, C, D, P, Q,
};

/// Lanes per group.
pub(crate) const LANES: usize = 8;

const SQRT_2: f64 = std::f64::consts::SQRT_2;
const FRAC_1_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;
const PI: f64 = std::f64::consts::PI;
const SQRT_2PI: f64 = 2.5066282746310002;
const FRAC_1_SQRT_2PI: f64 = 0.3989422804014327;
const SQRT_PI_OVER_2: f64 = 1.2533141373155003;
const SQRT_2_OVER_PI: f64 = 0.7978845608028654;
const LN_SQRT_2PI: f64 = 0.9189385332046728;
const FRAC_1_SQRT_3: f64 = 0.5773502691896258;
const SQRT_3: f64 = 1.7320508075688772;
/// ln √3.
const LN_SQRT_3: f64 = 0.5493061443340549;
const ONE_OVER_SQRT_PI: f64 = 0.564_189_583_547_756_3;
const THRESHOLD: f64 = 0.468_75;
const CDF_THRESHOLD: f64 = 0.6629126073623883;
const R_MIN: f64 = -(1.0 - 1.490_116_119_384_765_6e-8);
const R_MAX: f64 = 2.0 / (f64::EPSILON * f64::EPSILON);

const OBJ_LOW: u8 = 0;
const OBJ_MID: u8 = 1;
const OBJ_HIGH: u8 = 2;

// Cody (1969) erf/erfcx and Wichura AS 241 coefficients come from wheelhouse_pricing::normal.

// ---------------------------------------------------------------------------------------------
// Branch-free lane primitives (inlined into the target-feature kernels, where the lane loops
// are vectorised).
// ---------------------------------------------------------------------------------------------

#[inline(always)]
fn sel(c: bool, a: f64, b: f64) -> f64 {
    if c { a } else { b }
}

#[inline(always)]
fn fma(a: f64, b: f64, c: f64) -> f64 {
    a.mul_add(b, c)
}

/// e^x to about 1 ulp; 0 below −745, +∞ above 709.8, NaN for NaN.
#[inline(always)]
fn exp_l(x: f64) -> f64 {
    const LOG2_E: f64 = std::f64::consts::LOG2_E;
    const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5·2^52
    let xc = sel(x < -745.2, -745.2, sel(x > 709.9, 709.9, x));
    let n = fma(xc, LOG2_E, SHIFT) - SHIFT;
    let r = fma(-n, LN2_LO, fma(-n, LN2_HI, xc));
    // Taylor polynomial of degree 13 on |r| ≤ ln2/2.
    let mut p = 1.0 / 6_227_020_800.0;
    p = fma(p, r, 1.0 / 479_001_600.0);
    p = fma(p, r, 1.0 / 39_916_800.0);
    p = fma(p, r, 1.0 / 3_628_800.0);
    p = fma(p, r, 1.0 / 362_880.0);
    p = fma(p, r, 1.0 / 40_320.0);
    p = fma(p, r, 1.0 / 5_040.0);
    p = fma(p, r, 1.0 / 720.0);
    p = fma(p, r, 1.0 / 120.0);
    p = fma(p, r, 1.0 / 24.0);
    p = fma(p, r, 1.0 / 6.0);
    p = fma(p, r, 0.5);
    p = fma(p, r, 1.0);
    p = fma(p, r, 1.0);
    // Wrapping integer operations (they cannot overflow here): with overflow checks on, as
    // in the dev and test profiles, checked ones keep the lane loops from vectorising.
    let ni = n as i64;
    let n1 = ni >> 1;
    let n2 = ni.wrapping_sub(n1);
    let s1 = f64::from_bits((n1.wrapping_add(1023) as u64) << 52);
    let s2 = f64::from_bits((n2.wrapping_add(1023) as u64) << 52);
    let v = p * s1 * s2;
    let v = sel(x > 709.9, f64::INFINITY, sel(x < -745.2, 0.0, v));
    sel(x.is_nan(), x, v)
}

/// e^x − 1 to about an ulp for |x| ≤ 0.6 (Taylor polynomial of degree 18; the caller sends
/// other lanes to the scalar path).
#[inline(always)]
fn expm1_l(x: f64) -> f64 {
    const INV_FACT: [f64; 17] = [
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5_040.0,
        1.0 / 40_320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        1.0 / 6_227_020_800.0,
        1.0 / 87_178_291_200.0,
        1.0 / 1_307_674_368_000.0,
        1.0 / 20_922_789_888_000.0,
        1.0 / 355_687_428_096_000.0,
        1.0 / 6_402_373_705_728_000.0,
    ];
    let mut p = INV_FACT[16];
    for &c in INV_FACT[..16].iter().rev() {
        p = fma(p, x, c);
    }
    fma(x * x, p, x)
}

/// Natural logarithm (fdlibm's reduction and polynomial) for normal positive finite `x`;
/// NaN otherwise.
#[inline(always)]
fn ln_l(x: f64) -> f64 {
    const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    const LG1: f64 = 6.666_666_666_666_735_130e-01;
    const LG2: f64 = 3.999_999_999_940_941_908e-01;
    const LG3: f64 = 2.857_142_874_366_239_149e-01;
    const LG4: f64 = 2.222_219_843_214_978_396e-01;
    const LG5: f64 = 1.818_357_216_161_805_012e-01;
    const LG6: f64 = 1.531_383_769_920_937_332e-01;
    const LG7: f64 = 1.479_819_860_511_658_591e-01;
    let bits = x.to_bits();
    let e = (((bits >> 52) & 0x7ff) as i64).wrapping_sub(1023);
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let big = m > SQRT_2;
    let m = sel(big, 0.5 * m, m);
    let k = e.wrapping_add(big as i64) as f64;
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * fma(w, fma(w, LG6, LG4), LG2);
    let t2 = z * fma(w, fma(w, fma(w, LG7, LG5), LG3), LG1);
    let r = t2 + t1;
    let hfsq = 0.5 * f * f;
    let v = k * LN2_HI - ((hfsq - (s * (hfsq + r) + k * LN2_LO)) - f);
    sel((f64::MIN_POSITIVE..=f64::MAX).contains(&x), v, f64::NAN)
}

/// erf(x)/x for |x| ≤ 0.46875 as a function of z = x², as (numerator, denominator).
#[inline(always)]
fn erf_small_ratio_nd(z: f64) -> (f64, f64) {
    let mut num = A[4] * z;
    let mut den = z;
    num = (num + A[0]) * z;
    den = (den + B[0]) * z;
    num = (num + A[1]) * z;
    den = (den + B[1]) * z;
    num = (num + A[2]) * z;
    den = (den + B[2]) * z;
    (num + A[3], den + B[3])
}

/// erfcx(y) for y > 0.46875 as (numerator, denominator): Cody's second interval, or his
/// third (x > 4) with the polynomials in 1/y² multiplied through by y¹⁰, so that the lane
/// needs one division whichever interval it is in.
#[inline(always)]
fn erfcx_pos_nd(y: f64) -> (f64, f64) {
    let y2 = y * y;
    let y4 = y2 * y2;
    let n1 = ((C[7] + C[6] * y) + (C[5] + C[4] * y) * y2)
        + ((C[3] + C[2] * y) + (C[1] + C[0] * y) * y2) * y4
        + C[8] * (y4 * y4);
    let d1 = ((D[7] + D[6] * y) + (D[5] + D[4] * y) * y2)
        + ((D[3] + D[2] * y) + (D[1] + D[0] * y) * y2) * y4
        + y4 * y4;
    // y ∈ (4, 6.71e7): r = P(1/u)/(u·Q(1/u)), u = y², erfcx = (1/√π − r)/y
    //   = (u·D/√π − N)/(u·D·y) with N = u⁵·P(1/u), D = u⁵·Q(1/u).
    let yc = sel(y > 4.0, sel(y < 6.71e7, y, 6.71e7), 4.0);
    let u = yc * yc;
    let mut n = P[4];
    n = fma(n, u, P[3]);
    n = fma(n, u, P[2]);
    n = fma(n, u, P[1]);
    n = fma(n, u, P[0]);
    n = fma(n, u, P[5]);
    let mut d = Q[4];
    d = fma(d, u, Q[3]);
    d = fma(d, u, Q[2]);
    d = fma(d, u, Q[1]);
    d = fma(d, u, Q[0]);
    d = fma(d, u, 1.0);
    let ud = u * d;
    let n2 = fma(ud, ONE_OVER_SQRT_PI, -n);
    let d2 = ud * yc;
    let far = y >= 6.71e7;
    let num = sel(y <= 4.0, n1, sel(far, ONE_OVER_SQRT_PI, n2));
    let den = sel(y <= 4.0, d1, sel(far, y, d2));
    (num, den)
}

/// erfcx(y) for y ≥ 0 (one division).
#[inline(always)]
fn erfcx_nonneg(y: f64) -> f64 {
    let small = y <= THRESHOLD;
    let ys = sel(small, y, 0.0);
    let (a, b) = erf_small_ratio_nd(ys * ys);
    let e = exp_l(ys * ys);
    let (n, d) = erfcx_pos_nd(sel(small, 1.0, y));
    sel(small, e * fma(-ys, a, b), n) / sel(small, b, d)
}

/// Φ(z) for |z| ≤ CDF_THRESHOLD.
#[inline(always)]
fn norm_cdf_central(z: f64) -> f64 {
    let y = z * FRAC_1_SQRT_2;
    let (a, b) = erf_small_ratio_nd(y * y);
    0.5 + 0.5 * (y * a / b)
}

#[inline(always)]
fn horner8(c: &[f64; 8], x: f64) -> f64 {
    let mut p = c[7];
    p = fma(p, x, c[6]);
    p = fma(p, x, c[5]);
    p = fma(p, x, c[4]);
    p = fma(p, x, c[3]);
    p = fma(p, x, c[2]);
    p = fma(p, x, c[1]);
    fma(p, x, c[0])
}

/// Φ⁻¹(p) for p ∈ (0, ½] (AS 241), given `ln_p = ln p`; garbage (possibly NaN) elsewhere.
#[inline(always)]
fn inverse_norm_cdf_lower(p: f64, ln_p: f64) -> f64 {
    let q = p - 0.5;
    let r = 0.180625 - q * q;
    let central = q.abs() <= 0.425;
    let rr = sel(central, 1.0, -ln_p).sqrt();
    let near = rr <= 5.0;
    let u = rr - sel(near, 1.6, 5.0);
    let num = sel(near, horner8(&AS241_C, u), horner8(&AS241_E, u));
    let den = sel(near, horner8(&AS241_D, u), horner8(&AS241_F, u));
    let num = sel(central, q * horner8(&AS241_A, r), -num);
    let den = sel(central, horner8(&AS241_B, r), den);
    num / den
}

// ---------------------------------------------------------------------------------------------
// Normalised Black function (out-of-the-money call, x ≤ 0), all regions but the asymptotic one.
// ---------------------------------------------------------------------------------------------

struct Eval {
    /// b(x, s) ≥ 0.
    b: f64,
    /// ∂b/∂s.
    vega: f64,
    /// b/b'.
    bx: f64,
    /// ln b = ln(ln_arg) + ln_off.
    ln_arg: f64,
    ln_off: f64,
    /// erfcx((t+h)/√2) + erfcx((t−h)/√2), valid where `upper`.
    sum: f64,
    /// h + t > CDF_THRESHOLD.
    upper: bool,
    /// In the asymptotic region and not handled (`R1` false).
    region1: bool,
}

/// `b/b'` for small t (Taylor series of the Mills ratio difference).
#[inline(always)]
fn small_t_scaled(h: f64, t: f64) -> f64 {
    const INV: [f64; 7] = [
        1.0 / 6.0,
        1.0 / 20.0,
        1.0 / 42.0,
        1.0 / 72.0,
        1.0 / 110.0,
        1.0 / 156.0,
        1.0 / 210.0,
    ];
    let y0 = SQRT_PI_OVER_2 * erfcx_nonneg(-h * FRAC_1_SQRT_2);
    let mut y_prev = y0;
    let mut y = fma(h, y0, 1.0);
    let t2 = t * t;
    let mut tk = t;
    let mut sum = y * t;
    let mut k = 1.0;
    for inv in INV {
        let y_next = fma(h, y, k * y_prev);
        let y_next2 = fma(h, y_next, (k + 1.0) * y);
        tk *= t2 * inv;
        sum = fma(y_next2, tk, sum);
        y_prev = y_next;
        y = y_next2;
        k += 2.0;
    }
    2.0 * sum
}

/// `b/b'` in region 1 (h ≪ 0, the asymptotic expansion): the scalar solver's series with all
/// of its terms (those it stops before are below 1e-17 of the sum: with |h + t| > 11.9 the
/// n-th term is about (2n−1)!!/(h+t)²ⁿ of the first).
#[inline(always)]
fn asymptotic_scaled(h: f64, t: f64) -> f64 {
    let ratio = t / h;
    let e = ratio * ratio;
    let r = (h + t) * (h - t);
    let inv_r = 1.0 / r;
    let hr = h * inv_r;
    let q = hr * hr;
    let mut sum = 0.0;
    for n in (0..ASYM_N).rev() {
        let row = &ASYM_C[n];
        let mut p = row[n];
        for m in (0..n).rev() {
            p = fma(p, e, row[m]);
        }
        sum = fma(sum, q, p);
    }
    2.0 * t * inv_r * sum
}

/// The out-of-the-money normalised call at `s`; `R1`: some lane of the group may be in the
/// asymptotic region (its series is computed only then; a lane's result does not depend on
/// `R1` otherwise).
#[inline(always)]
fn eval<const R1: bool>(x: f64, s: f64, inv_s: f64, b_max: f64, inv_b_max: f64) -> Eval {
    let h = x * inv_s;
    let t = 0.5 * s;
    let q = h * h + t * t;
    let vega = FRAC_1_SQRT_2PI * exp_l(-0.5 * q);
    let z1 = h + t;
    let z2 = h - t;
    // Both erfcx values with one division (lanes where the denominators' product overflows
    // have |h| ≫ 1 and fall back as region-1 lanes).
    let (na, da) = erfcx_pos_nd(z1.abs() * FRAC_1_SQRT_2);
    let (nb, db) = erfcx_pos_nd((t - h) * FRAC_1_SQRT_2);
    let inv_ab = 1.0 / (da * db);
    let ea = na * db * inv_ab;
    let eb = nb * da * inv_ab;
    let upper = z1 > CDF_THRESHOLD;
    let region1 = h < ETA && z1 < ETA + TAU;
    let region2 = t < TAU;
    let diff = z1 < -CDF_THRESHOLD;
    let d = ea + eb;
    let b_up = b_max - vega * SQRT_PI_OVER_2 * d;
    let bx2 = small_t_scaled(h, t);
    let bx3 = SQRT_PI_OVER_2 * (ea - eb);
    // Φ(z1), Φ(z2) by Cody's first interval, with one division.
    let y1 = z1 * FRAC_1_SQRT_2;
    let y2 = z2 * FRAC_1_SQRT_2;
    let (a1, c1) = erf_small_ratio_nd(y1 * y1);
    let (a2, c2) = erf_small_ratio_nd(y2 * y2);
    let inv_c = 1.0 / (c1 * c2);
    let cdf1 = 0.5 + 0.5 * (y1 * (a1 * c2 * inv_c));
    let cdf2 = 0.5 + 0.5 * (y2 * (a2 * c1 * inv_c));
    let first = b_max * cdf1;
    let second = sel(
        z2 >= -CDF_THRESHOLD,
        inv_b_max * cdf2,
        vega * SQRT_PI_OVER_2 * eb,
    );
    let b_c = first - second;
    let r1 = R1 && region1;
    let bx1 = if R1 { asymptotic_scaled(h, t) } else { 0.0 };
    let scaled = !upper && (r1 || region2 || diff);
    let bx_s = sel(r1, bx1, sel(region2, bx2, bx3));
    let b = sel(upper, b_up, sel(scaled, vega * bx_s, b_c)).max(0.0);
    let bx = sel(scaled, bx_s.max(0.0), b / vega);
    Eval {
        b,
        vega,
        bx,
        ln_arg: sel(scaled, bx, b),
        ln_off: sel(scaled, -0.5 * q - LN_SQRT_2PI, 0.0),
        sum: d,
        upper,
        region1: region1 && !R1,
    }
}

// ---------------------------------------------------------------------------------------------
// Initial guess (the four branches of LBR, by selects).
// ---------------------------------------------------------------------------------------------

#[inline(always)]
fn minimum_control(d_l: f64, d_r: f64, delta: f64, prefer_shape: bool) -> f64 {
    let monotonic = d_l * delta >= 0.0 && d_r * delta >= 0.0;
    let convex = d_l <= delta && delta <= d_r;
    let concave = d_l >= delta && delta >= d_r;
    let r1 = sel(
        monotonic,
        sel(
            delta != 0.0,
            (d_r + d_l) / delta,
            sel(prefer_shape, R_MAX, f64::MIN),
        ),
        f64::MIN,
    );
    let a = delta - d_l;
    let b = d_r - delta;
    let r2cc = sel(
        a != 0.0 && b != 0.0,
        (d_r - d_l).abs() / a.abs().min(b.abs()),
        sel(prefer_shape, R_MAX, f64::MIN),
    );
    let r2 = sel(
        convex || concave,
        r2cc,
        sel(monotonic && prefer_shape, R_MAX, f64::MIN),
    );
    let r = R_MIN.max(r1).max(r2);
    sel(!monotonic && !convex && !concave, R_MIN, r)
}

#[inline(always)]
fn fit_ratio(num: f64, den: f64) -> f64 {
    let q = num / den;
    sel(
        den == 0.0 || !q.is_finite(),
        sel(num > 0.0, R_MAX, R_MIN),
        q,
    )
}

#[inline(always)]
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
    let t = (x - x_l) / h;
    let u = 1.0 - t;
    let t2 = t * t;
    let u2 = u * u;
    let num =
        y_r * t2 * t + (r * y_r - h * d_r) * t2 * u + (r * y_l + h * d_l) * t * u2 + y_l * u2 * u;
    let cubic = num / (1.0 + (r - 3.0) * t * u);
    let linear = y_r * t + y_l * (1.0 - t);
    sel(
        h.abs() <= 0.0,
        0.5 * (y_l + y_r),
        sel(r >= R_MAX, linear, cubic),
    )
}

#[inline(always)]
fn householder3(nu: f64, h2: f64, h3: f64) -> f64 {
    nu * fma(0.5 * h2, nu, 1.0) / fma(nu, fma(h3 * nu, 1.0 / 6.0, h2), 1.0)
}

#[inline(always)]
fn guard(s_new: f64, lo: f64, hi: f64) -> f64 {
    sel(
        s_new >= lo && s_new <= hi && s_new > 0.0,
        s_new,
        sel(
            hi.is_finite(),
            0.5 * (lo + hi),
            2.0 * lo.max(f64::MIN_POSITIVE),
        ),
    )
}

/// Problem state of one lane between Householder steps.
#[derive(Clone, Copy, Default)]
struct Lane {
    x: f64,
    b_max: f64,
    inv_b_max: f64,
    beta: f64,
    ln_beta: f64,
    s: f64,
    lo: f64,
    hi: f64,
    sqrt_years: f64,
    obj: u8,
    ok: bool,
    converged: bool,
}

/// The first checks of [`setup`] and the quantities they need.
struct Early {
    /// The lane passed: valid inputs, |(r − q)T| ≤ 0.6, the price strictly inside the
    /// no-arbitrage band with more than 64 ulps of time value.
    ok: bool,
    carry: f64,
    forward: f64,
    df: f64,
    intrinsic: f64,
}

/// The checks [`setup`] starts with (also the screen of [`phase_screen`], so both decide
/// alike, bit for bit).
#[inline(always)]
fn early(
    price: f64,
    spot: f64,
    strike: f64,
    years: f64,
    rate: f64,
    dividend_yield: f64,
    sign: f64,
) -> Early {
    let fin = |v: f64| v.abs() <= f64::MAX;
    let mut ok = fin(price)
        && price > 0.0
        && fin(spot)
        && spot > 0.0
        && fin(strike)
        && strike > 0.0
        && fin(years)
        && years > 0.0
        && fin(rate)
        && fin(dividend_yield);
    let call = sign > 0.0;
    let carry = (rate - dividend_yield) * years;
    ok &= carry.abs() <= 0.6;
    let growth_m1 = expm1_l(carry);
    let forward = spot * (1.0 + growth_m1);
    ok &= fin(forward) && forward > 0.0;
    let df = exp_l(-rate * years);
    let fmk = (spot - strike) + spot * growth_m1;
    let leg = forward * df;
    ok &= !(call && price >= leg * (1.0 - 1e-9));
    let intrinsic = df * (sign * fmk).max(0.0);
    let upper = sel(call, leg, strike * df);
    ok &= price < upper && price > intrinsic;
    let m = price.max(leg);
    let ulp = f64::from_bits(m.to_bits() & 0x7ff0_0000_0000_0000) * f64::EPSILON;
    ok &= !(intrinsic > 0.0 && price - intrinsic <= 64.0 * ulp);
    Early {
        ok,
        carry,
        forward,
        df,
        intrinsic,
    }
}

/// Phase 0, the screen: which lanes pass [`setup`]'s first checks ([`early`]); the others
/// certainly end on the scalar path, so the chunk loop gives them no lane.
#[inline(always)]
fn phase_screen(g: &Group) -> [bool; LANES] {
    let mut out = [false; LANES];
    for (i, o) in out.iter_mut().enumerate() {
        *o = early(
            g.price[i],
            g.spot[i],
            g.strike[i],
            g.years[i],
            g.rate[i],
            g.dividend_yield[i],
            g.sign[i],
        )
        .ok;
    }
    out
}

/// Checks and normalises one lane and computes the initial guess. `ok` false: scalar path.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn setup(
    price: f64,
    spot: f64,
    strike: f64,
    years: f64,
    rate: f64,
    dividend_yield: f64,
    sign: f64,
) -> Lane {
    let Early {
        mut ok,
        carry,
        forward,
        df,
        intrinsic,
    } = early(price, spot, strike, years, rate, dividend_yield, sign);
    let beta = (price - intrinsic) * (1.0 / df) / (forward.sqrt() * strike.sqrt());
    let x = -(ln_l(spot / strike) + carry).abs();
    let b_max = exp_l(0.5 * x);
    ok &= beta >= 1e-250 && beta < b_max * (1.0 - 1e-12);
    let ln_beta = ln_l(beta);

    // Initial guess.
    let inv_b_max = 1.0 / b_max;
    let sqrt_ax = (-x).sqrt();
    let s_c = SQRT_2 * sqrt_ax;
    let ome = 1.0 - erfcx_nonneg(sqrt_ax);
    let b_c = 0.5 * b_max * ome;
    let inv_v_c = SQRT_2PI / b_max;
    let lower_half = beta < b_c;
    let s_l0 = s_c - SQRT_PI_OVER_2 * ome;
    let s_l = sel(s_l0 > 0.0, s_l0, 0.25 * s_c * sqrt_ax.min(1.0));
    let s_u = s_c + SQRT_PI_OVER_2 * (2.0 - ome);
    let s_n = sel(lower_half, s_l, s_u);
    let inv_s_n = 1.0 / s_n;
    let en = eval::<false>(x, s_n, inv_s_n, b_max, inv_b_max);
    ok &= !en.region1;
    let b_n = en.b;
    let inv_v_n = 1.0 / en.vega;
    let lowest = lower_half && beta < b_n;
    let highest = !lower_half && beta > b_n;

    // Lower map (lowest branch) or upper map (others) at s_n, sharing one erfcx and two
    // exponentials.
    let h = x * inv_s_n;
    let t = 0.5 * s_n;
    let z = h * FRAC_1_SQRT_3;
    let w = h * h;
    let e_t = exp_l(0.5 * t * t);
    let e1 = exp_l(sel(lowest, -0.5 * z * z, 0.5 * w));
    let ex = erfcx_nonneg(sel(lowest, -z * FRAC_1_SQRT_2, t * FRAC_1_SQRT_2));
    // Lower: f_l = (2π/√27)|x|Φ(z)³ with Φ(z) = ½erfcx(−z/√2)·e^{−z²/2}.
    let scaled = 0.5 * ex;
    let e_z = e1;
    let phi_z = scaled * e_z;
    let lf = (2.0 * PI / 27f64.sqrt()) * (-x) * phi_z * phi_z * phi_z;
    let lg = (2.0 * PI / 3.0) * h * h * scaled * scaled * e_t;
    let y_z = SQRT_2PI * scaled;
    let dlng = -2.0 * inv_s_n - 2.0 * z * inv_s_n / y_z - 2.0 * h * h * inv_s_n / 3.0 + 0.5 * t;
    let l2 = lg * dlng * SQRT_2PI * e_t / (e_z * e_z * e_z);
    // Upper: f_u = Φ(−t), f_u' = −½e^{w/2}, f_u'' = √(π/2)e^{w+t²/2}·w/s.
    let uf = sel(t <= CDF_THRESHOLD, norm_cdf_central(-t), 0.5 * ex / e_t);
    let u1 = -0.5 * e1;
    let u2 = SQRT_PI_OVER_2 * (e1 * e1) * e_t * w * inv_s_n;
    let upper_ok = u2.abs() < 1.3407807929942596e154;

    // One rational cubic with per-lane parameters.
    let middle_low = lower_half && !lowest;
    let (x_l, x_r, y_l, y_r, d_l, d_r, second, right, prefer) = if lowest {
        (0.0, b_n, 0.0, lf, 1.0, lg, l2, true, true)
    } else if middle_low {
        (b_n, b_c, s_l, s_c, inv_v_n, inv_v_c, 0.0, true, false)
    } else if highest {
        (b_n, b_max, uf, 0.0, u1, -0.5, u2, false, true)
    } else {
        (b_c, b_n, s_c, s_u, inv_v_c, inv_v_n, 0.0, false, false)
    };
    let hh = x_r - x_l;
    let delta = (y_r - y_l) / hh;
    let num = 0.5 * hh * second + (d_r - d_l);
    let den = sel(right, d_r - delta, delta - d_l);
    let mc = minimum_control(d_l, d_r, delta, prefer);
    let r = sel(lowest && !l2.is_finite(), mc, fit_ratio(num, den).max(mc));
    let cubic = rational_cubic(beta, x_l, x_r, y_l, y_r, d_l, d_r, r);
    let f = sel(highest && !upper_ok, f64::MIN, cubic);
    let bad_f = f.is_nan() || f <= 0.0;
    let tl = beta / b_n;
    let f_low = sel(bad_f, (lf * tl + b_n * (1.0 - tl)) * tl, f);
    let hu = b_max - b_n;
    let tu = (beta - b_n) / hu;
    let f_up = sel(bad_f, (uf * (1.0 - tu) + 0.5 * hu * tu) * (1.0 - tu), f);
    // Inverse maps: one logarithm and one Φ⁻¹ (p < ½ in both outer branches).
    // Lowest: p = √3·∛(f/(2π|x|)), ln p = ln√3 + ⅓·ln(f/(2π|x|)).
    let ratio = f_low / (2.0 * PI * (-x));
    let ln_in = ln_l(sel(lowest, ratio, f_up));
    let ln_p = sel(lowest, LN_SQRT_3 + ln_in * (1.0 / 3.0), ln_in);
    let p = sel(lowest, SQRT_3 * exp_l(ln_in * (1.0 / 3.0)), f_up);
    let zi = inverse_norm_cdf_lower(p, ln_p);
    let s0 = sel(
        lowest,
        x * FRAC_1_SQRT_3 / zi,
        sel(highest, -2.0 * zi, cubic),
    );
    let lo = sel(lowest, 0.0, sel(middle_low, s_l, sel(highest, s_u, s_c)));
    let hi = sel(
        lowest,
        s_l,
        sel(middle_low, s_c, sel(highest, f64::INFINITY, s_u)),
    );
    let obj = if lowest {
        OBJ_LOW
    } else if highest && beta > 0.5 * b_max {
        OBJ_HIGH
    } else {
        OBJ_MID
    };
    Lane {
        x,
        b_max,
        inv_b_max,
        beta,
        ln_beta,
        s: guard(s0, lo, hi),
        lo,
        hi,
        sqrt_years: years.sqrt(),
        obj,
        ok,
        converged: false,
    }
}

/// One Householder(3) step on the lane's objective.
#[inline(always)]
fn step<const R1: bool>(l: &mut Lane) {
    let x = l.x;
    let s = l.s;
    let inv_s = 1.0 / s;
    let h = x * inv_s;
    let t = 0.5 * s;
    let hh_over_s = h * h * inv_s;
    let b2 = hh_over_s - 0.25 * s;
    let b3 = b2 * b2 - 3.0 * hh_over_s * inv_s - 0.25;
    let e = eval::<R1>(x, s, inv_s, l.b_max, l.inv_b_max);
    let low = l.obj == OBJ_LOW;
    let high = l.obj == OBJ_HIGH;
    // Highest: γ = b'/(b_max − b).
    let gamma = SQRT_2_OVER_PI / e.sum;
    let beta_bar = l.b_max - l.beta;
    let ln_in = sel(high, beta_bar * gamma, e.ln_arg);
    let ln_v = ln_l(ln_in);
    let ln_b = ln_v + e.ln_off;
    let g = ln_v + 0.5 * (h * h + t * t) + LN_SQRT_2PI;
    // Lowest: 1/ln b − 1/ln β.
    let p = 1.0 / e.bx;
    let lambda = 1.0 / ln_b;
    let otl = 1.0 + 2.0 * lambda;
    let nu_low = (l.ln_beta - ln_b) * ln_b / l.ln_beta * e.bx;
    let h2_low = b2 - p * otl;
    let h3_low = b3 - 3.0 * p * b2 * otl + p * p * (2.0 + 6.0 * lambda * (1.0 + lambda));
    let ok_low = e.bx > 0.0 && e.bx.is_finite() && ln_b.is_finite() && ln_b < 0.0;
    // Middle: b − β.
    let nu_mid = (l.beta - e.b) / e.vega;
    let ok_mid = e.vega >= f64::MIN_POSITIVE;
    // Highest.
    let nu_high = -g / gamma;
    let h2_high = b2 + gamma;
    let h3_high = b3 + gamma * (3.0 * b2 + 2.0 * gamma);
    let ok_high = e.upper && gamma > 0.0 && g.is_finite();

    let nu = sel(low, nu_low, sel(high, nu_high, nu_mid));
    let h2 = sel(low, h2_low, sel(high, h2_high, b2));
    let h3 = sel(low, h3_low, sel(high, h3_high, b3));
    let go_down =
        (low && ln_b > l.ln_beta) || (high && g >= 0.0) || (!low && !high && e.b > l.beta);
    let ds = householder3(nu, h2, h3);
    l.hi = sel(go_down, l.hi.min(s), l.hi);
    l.lo = sel(go_down, l.lo, l.lo.max(s));
    let s_new = guard(s + ds, l.lo, l.hi);
    l.converged = (s_new - s).abs() <= STEP_TOLERANCE * s;
    let ok_obj = (low && ok_low) || (high && ok_high) || (!low && !high && ok_mid);
    l.ok &= !e.region1 && ok_obj;
    l.s = s_new;
}

/// One group of lanes as parallel columns; `sign` is +1 for calls, −1 for puts.
#[derive(Clone, Copy, Default)]
pub(crate) struct Group {
    pub price: [f64; LANES],
    pub spot: [f64; LANES],
    pub strike: [f64; LANES],
    pub years: [f64; LANES],
    pub rate: [f64; LANES],
    pub dividend_yield: [f64; LANES],
    pub sign: [f64; LANES],
}

impl Group {
    /// A benign at-the-money element used to pad partial groups.
    const PAD: (f64, f64, f64, f64, f64, f64, f64) = (10.0, 100.0, 100.0, 1.0, 0.0, 0.0, 1.0);

    /// A group filled with the padding element.
    pub(crate) fn padded() -> Self {
        let (p, s, k, t, r, q, g) = Self::PAD;
        Group {
            price: [p; LANES],
            spot: [s; LANES],
            strike: [k; LANES],
            years: [t; LANES],
            rate: [r; LANES],
            dividend_yield: [q; LANES],
            sign: [g; LANES],
        }
    }
}

/// Lane states as parallel arrays (so that the lane loops vectorise without interleaving).
#[derive(Default)]
struct Soa {
    x: [f64; LANES],
    b_max: [f64; LANES],
    inv_b_max: [f64; LANES],
    beta: [f64; LANES],
    ln_beta: [f64; LANES],
    s: [f64; LANES],
    lo: [f64; LANES],
    hi: [f64; LANES],
    sqrt_years: [f64; LANES],
    obj: [u8; LANES],
    ok: [bool; LANES],
    converged: [bool; LANES],
}

impl Soa {
    #[inline(always)]
    fn get(&self, i: usize) -> Lane {
        Lane {
            x: self.x[i],
            b_max: self.b_max[i],
            inv_b_max: self.inv_b_max[i],
            beta: self.beta[i],
            ln_beta: self.ln_beta[i],
            s: self.s[i],
            lo: self.lo[i],
            hi: self.hi[i],
            sqrt_years: self.sqrt_years[i],
            obj: self.obj[i],
            ok: self.ok[i],
            converged: self.converged[i],
        }
    }

    #[inline(always)]
    fn put(&mut self, i: usize, l: &Lane) {
        self.x[i] = l.x;
        self.b_max[i] = l.b_max;
        self.inv_b_max[i] = l.inv_b_max;
        self.beta[i] = l.beta;
        self.ln_beta[i] = l.ln_beta;
        self.s[i] = l.s;
        self.lo[i] = l.lo;
        self.hi[i] = l.hi;
        self.sqrt_years[i] = l.sqrt_years;
        self.obj[i] = l.obj;
        self.ok[i] = l.ok;
        self.converged[i] = l.converged;
    }
}

/// Phase 1: checks, normalisation and initial guess of every lane.
#[inline(always)]
fn phase_setup(g: &Group, st: &mut Soa) {
    for i in 0..LANES {
        let l = setup(
            g.price[i],
            g.spot[i],
            g.strike[i],
            g.years[i],
            g.rate[i],
            g.dividend_yield[i],
            g.sign[i],
        );
        st.put(i, &l);
    }
}

/// Whether a lane of the group is in the asymptotic region at its current `s`.
#[inline(always)]
fn any_region1(st: &Soa) -> bool {
    let mut any = false;
    for i in 0..LANES {
        // As `eval` computes it (bit for bit), so no lane's region depends on this test.
        let h = st.x[i] * (1.0 / st.s[i]);
        any |= h < ETA && h + 0.5 * st.s[i] < ETA + TAU;
    }
    any
}

/// Phase 2: the first Householder step of every lane.
#[inline(always)]
fn phase_step<const R1: bool>(st: &mut Soa) {
    for i in 0..LANES {
        let mut l = st.get(i);
        step::<R1>(&mut l);
        st.put(i, &l);
    }
}

/// Phase 3: a second step for every lane (lane results stay independent of their neighbours:
/// lanes that had converged keep their first result; the others must converge now).
#[inline(always)]
fn phase_second_step<const R1: bool>(st: &mut Soa) {
    for i in 0..LANES {
        let l = st.get(i);
        let mut m = l;
        step::<R1>(&mut m);
        let redo = !l.converged;
        st.s[i] = sel(redo, m.s, l.s);
        st.ok[i] = (redo && m.ok && m.converged) || (!redo && l.ok);
    }
}

#[inline(always)]
fn needs_second_step(st: &Soa) -> bool {
    let mut again = false;
    for i in 0..LANES {
        again |= st.ok[i] && !st.converged[i];
    }
    again
}

#[inline(always)]
fn finish(st: &Soa) -> ([f64; LANES], [bool; LANES]) {
    let mut sigma = [0.0; LANES];
    let mut ok = [false; LANES];
    for i in 0..LANES {
        let v = st.s[i] / st.sqrt_years[i];
        sigma[i] = v;
        ok[i] = st.ok[i] && v.is_finite() && v > 0.0;
    }
    (sigma, ok)
}

/// A kernel compiled for one feature set; its phases are separate (not inlined) functions of
/// the same features, which keeps register pressure down.
macro_rules! kernel {
    ($name:ident, $features:literal) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        fn $name(g: &Group) -> ([f64; LANES], [bool; LANES]) {
            #[target_feature(enable = $features)]
            #[inline(never)]
            fn setup_all(g: &Group, st: &mut Soa) {
                phase_setup(g, st)
            }
            #[target_feature(enable = $features)]
            #[inline(never)]
            fn step_all<const R1: bool>(st: &mut Soa) {
                phase_step::<R1>(st)
            }
            #[target_feature(enable = $features)]
            #[inline(never)]
            fn second_step_all<const R1: bool>(st: &mut Soa) {
                phase_second_step::<R1>(st)
            }
            let mut st = Soa::default();
            setup_all(g, &mut st);
            // The asymptotic series only for groups that need it (lane results do not
            // depend on which version runs).
            if any_region1(&st) {
                step_all::<true>(&mut st);
            } else {
                step_all::<false>(&mut st);
            }
            if needs_second_step(&st) {
                if any_region1(&st) {
                    second_step_all::<true>(&mut st);
                } else {
                    second_step_all::<false>(&mut st);
                }
            }
            finish(&st)
        }
    };
}

kernel!(kernel_avx512, "avx512f,avx512dq,avx512vl,avx2,fma");
kernel!(kernel_avx2, "avx2,fma");

macro_rules! screen {
    ($name:ident, $features:literal) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        fn $name(g: &Group) -> [bool; LANES] {
            phase_screen(g)
        }
    };
}

screen!(screen_avx512, "avx512f,avx512dq,avx512vl,avx2,fma");
screen!(screen_avx2, "avx2,fma");

/// The screen of one group with `kernel`'s instructions (every lane passes where there is no
/// kernel: the scalar solver takes them all anyway).
fn screen_group(kernel: Kernel, g: &Group) -> [bool; LANES] {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `detect` returned Avx512 only after checking every feature it enables.
        Kernel::Avx512 => unsafe { screen_avx512(g) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `detect` returned Avx2 only after checking avx2 and fma.
        Kernel::Avx2 => unsafe { screen_avx2(g) },
        Kernel::Scalar => [true; LANES],
    }
}

/// Which kernel this CPU runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kernel {
    #[cfg(target_arch = "x86_64")]
    Avx512,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    Scalar,
}

/// The best kernel available at run time.
pub(crate) fn detect() -> Kernel {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512dq")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
        {
            return Kernel::Avx512;
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return Kernel::Avx2;
        }
    }
    Kernel::Scalar
}

/// Runs one group; `None` where the kernel is not available (scalar for every lane).
fn run_group(kernel: Kernel, g: &Group) -> Option<([f64; LANES], [bool; LANES])> {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `detect` returned Avx512 only after checking every feature it enables.
        Kernel::Avx512 => Some(unsafe { kernel_avx512(g) }),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `detect` returned Avx2 only after checking avx2 and fma.
        Kernel::Avx2 => Some(unsafe { kernel_avx2(g) }),
        Kernel::Scalar => None,
    }
}

/// The scalar solver for element `i`, written into `iv` / `status`.
#[inline(never)]
pub(crate) fn scalar_into(input: &IvInput<'_>, i: usize, iv: &mut f64, status: &mut Status) {
    match implied_volatility_bsm(
        input.price[i],
        input.spot[i],
        input.strike[i],
        input.years[i],
        input.rate[i],
        input.dividend_yield[i],
        input.kind[i],
    ) {
        Ok(v) => *iv = v,
        Err(e) => status.set_failed(e),
    }
}

/// European implied volatilities of the chunk `[start, start + ivs.len())` of `input`, for
/// the elements whose style is European (the others are left untouched). Statuses are only
/// written on failure (an element that gets a value is left with the status it had: the
/// caller makes it `Ok`).
pub(crate) fn implied_volatility_chunk(
    input: &IvInput<'_>,
    start: usize,
    ivs: &mut [f64],
    sts: &mut [Status],
) {
    let kernel = detect();
    let n = ivs.len();
    let gather = |idx: &[usize; LANES], fill: usize| {
        let mut g = Group::padded();
        for (lane, &j) in idx.iter().enumerate().take(fill) {
            let i = start + j;
            g.price[lane] = input.price[i];
            g.spot[lane] = input.spot[i];
            g.strike[lane] = input.strike[i];
            g.years[lane] = input.years[i];
            g.rate[lane] = input.rate[i];
            g.dividend_yield[lane] = input.dividend_yield[i];
            g.sign[lane] = input.kind[i].sign();
        }
        g
    };
    // A kernel group's results, lane `l` being element `js[l]` (l < m): the solved lanes'
    // values, the others through the scalar solver.
    type Res = Option<([f64; LANES], [bool; LANES])>;
    let settle = |res: Res, js: &[usize; LANES], m: usize, ivs: &mut [f64], sts: &mut [Status]| {
        for (lane, &j) in js.iter().enumerate().take(m) {
            match res {
                Some((sigma, ok)) if ok[lane] => ivs[j] = sigma[lane],
                _ => scalar_into(input, start + j, &mut ivs[j], &mut sts[j]),
            }
        }
    };
    let flush = |idx: &[usize; LANES], fill: usize, ivs: &mut [f64], sts: &mut [Status]| {
        settle(run_group(kernel, &gather(idx, fill)), idx, fill, ivs, sts);
    };
    // Screened elements `js[..m]`: those that passed packed into `idx` (a full group runs),
    // the others to the scalar solver.
    let route = |pass: &[bool; LANES],
                 js: &[usize; LANES],
                 m: usize,
                 idx: &mut [usize; LANES],
                 fill: &mut usize,
                 ivs: &mut [f64],
                 sts: &mut [Status]| {
        for (lane, &j) in js.iter().enumerate().take(m) {
            if pass[lane] {
                idx[*fill] = j;
                *fill += 1;
                if *fill == LANES {
                    flush(idx, *fill, ivs, sts);
                    *fill = 0;
                }
            } else {
                scalar_into(input, start + j, &mut ivs[j], &mut sts[j]);
            }
        }
    };
    // European elements in blocks of 8 through the screen (`phase_screen`): those it turns
    // away go straight to the scalar solver (the kernel would have sent them there), the
    // others are packed into full groups for the kernel. Which group an element lands in
    // does not change its result.
    let (mut idx, mut fill) = ([0usize; LANES], 0);
    let (mut blk, mut bn) = ([0usize; LANES], 0);
    // All European: full blocks straight from the columns; a block that passes the screen
    // whole (most of a real chain) goes to the kernel as it is. The screen itself costs about
    // a tenth of a group, so it runs only while it pays: it is switched off by a block it
    // passes whole and on again by a kernel group with two or more lanes left to the scalar
    // solver (results never depend on it).
    let mut screening = true;
    let direct = if input.style.is_none() {
        n - n % LANES
    } else {
        0
    };
    for j0 in (0..direct).step_by(LANES) {
        let i0 = start + j0;
        let col = |c: &[f64]| <[f64; LANES]>::try_from(&c[i0..i0 + LANES]).unwrap_or([0.0; LANES]);
        let g = Group {
            price: col(input.price),
            spot: col(input.spot),
            strike: col(input.strike),
            years: col(input.years),
            rate: col(input.rate),
            dividend_yield: col(input.dividend_yield),
            sign: std::array::from_fn(|l| input.kind[i0 + l].sign()),
        };
        let pass = if screening {
            screen_group(kernel, &g)
        } else {
            [true; LANES]
        };
        let js: [usize; LANES] = std::array::from_fn(|l| j0 + l);
        if pass.iter().all(|&p| p) {
            let res = run_group(kernel, &g);
            screening = res.is_some_and(|(_, ok)| ok.iter().filter(|&&o| !o).count() >= 2);
            settle(res, &js, LANES, ivs, sts);
        } else {
            route(&pass, &js, LANES, &mut idx, &mut fill, ivs, sts);
        }
    }
    for j in direct..n {
        let european = input
            .style
            .is_none_or(|s| s[start + j] == ExerciseStyle::European);
        if european {
            blk[bn] = j;
            bn += 1;
        }
        if bn == LANES || (j + 1 == n && bn > 0) {
            let pass = screen_group(kernel, &gather(&blk, bn));
            route(&pass, &blk, bn, &mut idx, &mut fill, ivs, sts);
            bn = 0;
        }
    }
    if fill > 0 {
        flush(&idx, fill, ivs, sts);
    }
}

/// Fallback diagnostics for tests and benchmarks: runs the vector kernel alone on `input`
/// (all taken as European) and returns how many lanes it could not solve, and the total.
pub(crate) fn count_fallbacks(input: &IvInput<'_>) -> (usize, usize) {
    let kernel = detect();
    let n = input.kind.len();
    let mut fallbacks = 0;
    let mut i = 0;
    while i < n {
        let mut g = Group::padded();
        let m = (n - i).min(LANES);
        for lane in 0..m {
            g.price[lane] = input.price[i + lane];
            g.spot[lane] = input.spot[i + lane];
            g.strike[lane] = input.strike[i + lane];
            g.years[lane] = input.years[i + lane];
            g.rate[lane] = input.rate[i + lane];
            g.dividend_yield[lane] = input.dividend_yield[i + lane];
            g.sign[lane] = input.kind[i + lane].sign();
        }
        match run_group(kernel, &g) {
            Some((_, ok)) => fallbacks += ok.iter().take(m).filter(|&&o| !o).count(),
            None => fallbacks += m,
        }
        i += m;
    }
    (fallbacks, n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wheelhouse_pricing::OptionType;

    /// The screen never turns away a lane the kernel would solve: on random inputs over the
    /// bench's ranges (half of them with prices at, just inside or just outside the bounds of
    /// the no-arbitrage band: intrinsic, intrinsic + a few ulps, the upper bound, zero,
    /// invalid), every element `screen_group` rejects is one the kernel hands to the scalar
    /// solver; and the screen does reject most of the hopeless ones.
    #[test]
    fn the_lane_screen_only_rejects_what_the_kernel_rejects() {
        let kernel = detect();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut u = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let (mut rejected, mut hopeless, mut caught) = (0, 0, 0);
        for _ in 0..40_000 {
            let mut g = Group::padded();
            for l in 0..LANES {
                let sign = if u() < 0.5 { 1.0 } else { -1.0 };
                let strike = 100.0 * (0.25f64.ln() + 16f64.ln() * u()).exp();
                let years = ((1.0f64 / 8760.0).ln() + (5.0f64 * 8760.0).ln() * u()).exp();
                let sigma = (0.01f64.ln() + 300f64.ln() * u()).exp();
                let rate = -0.01 + 0.11 * u();
                let q = 0.06 * u();
                let fwd = 100.0 * ((rate - q) * years).exp();
                let df = (-rate * years).exp();
                let intrinsic = df * (sign * (fwd - strike)).max(0.0);
                let upper = if sign > 0.0 { fwd * df } else { strike * df };
                let ulp = f64::EPSILON * intrinsic.max(upper);
                let kind = if sign > 0.0 {
                    OptionType::Call
                } else {
                    OptionType::Put
                };
                let black = df
                    * (fwd * strike).sqrt()
                    * wheelhouse_pricing::iv::normalised_black(
                        (fwd / strike).ln(),
                        sigma * years.sqrt(),
                        kind,
                    );
                let k = (u() * 80.0) as i32 - 40;
                g.price[l] = match (u() * 10.0) as u32 {
                    0 => intrinsic + f64::from(k) * ulp,
                    1 => intrinsic * (1.0 + f64::from(k) * 1e-10),
                    2 => upper * (1.0 + f64::from(k) * 1e-10),
                    3 => upper + f64::from(k) * ulp,
                    4 => [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-300][(u() * 5.0) as usize],
                    _ => black,
                };
                g.strike[l] = strike;
                g.years[l] = years;
                g.rate[l] = rate;
                g.dividend_yield[l] = q;
                g.sign[l] = sign;
            }
            let ok = run_group(kernel, &g).map_or([false; LANES], |r| r.1);
            let pass = screen_group(kernel, &g);
            for l in 0..LANES {
                let worth = pass[l];
                if !worth {
                    rejected += 1;
                    assert!(
                        !ok[l],
                        "screened out but solved by the kernel: price {:e}, strike {}, years {}, \
                         rate {}, yield {}, sign {}",
                        g.price[l],
                        g.strike[l],
                        g.years[l],
                        g.rate[l],
                        g.dividend_yield[l],
                        g.sign[l]
                    );
                }
                if !ok[l] {
                    hopeless += 1;
                    caught += usize::from(!worth);
                }
            }
        }
        assert!(
            rejected > 0 && caught * 10 > hopeless * 6,
            "{caught} of {hopeless}"
        );
    }

    /// The AVX2+FMA copy gives the same bits as the AVX-512 one (same operations, explicit
    /// FMAs), and both agree with the scalar solver; run where both are available.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_and_avx512_kernels_agree() {
        let has_avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
        if !has_avx2 {
            return;
        }
        let has_512 = detect() == Kernel::Avx512;
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut u = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut solved = 0;
        for _ in 0..4000 {
            let mut g = Group::padded();
            for l in 0..LANES {
                let sign = if u() < 0.5 { 1.0 } else { -1.0 };
                let kind = if sign > 0.0 {
                    OptionType::Call
                } else {
                    OptionType::Put
                };
                let strike = 100.0 * (0.25f64.ln() + 16f64.ln() * u()).exp();
                let years = ((1.0f64 / 8760.0).ln() + (5.0f64 * 8760.0).ln() * u()).exp();
                let sigma = (0.01f64.ln() + 300f64.ln() * u()).exp();
                let rate = -0.01 + 0.11 * u();
                let q = 0.06 * u();
                let fwd = 100.0 * ((rate - q) * years).exp();
                let x = (fwd / strike).ln();
                let df = (-rate * years).exp();
                let price = df
                    * (fwd * strike).sqrt()
                    * wheelhouse_pricing::iv::normalised_black(x, sigma * years.sqrt(), kind);
                g.price[l] = price;
                g.strike[l] = strike;
                g.years[l] = years;
                g.rate[l] = rate;
                g.dividend_yield[l] = q;
                g.sign[l] = sign;
            }
            // SAFETY: avx2 and fma were detected above.
            let (s2, ok2) = unsafe { kernel_avx2(&g) };
            if has_512 {
                // SAFETY: `detect` checked every feature of the AVX-512 kernel.
                let (s5, ok5) = unsafe { kernel_avx512(&g) };
                assert_eq!(ok2, ok5);
                for l in 0..LANES {
                    if ok2[l] {
                        assert_eq!(s2[l].to_bits(), s5[l].to_bits());
                    }
                }
            }
            for l in 0..LANES {
                if ok2[l] {
                    let kind = if g.sign[l] > 0.0 {
                        OptionType::Call
                    } else {
                        OptionType::Put
                    };
                    let want = implied_volatility_bsm(
                        g.price[l],
                        g.spot[l],
                        g.strike[l],
                        g.years[l],
                        g.rate[l],
                        g.dividend_yield[l],
                        kind,
                    )
                    .unwrap();
                    let (t, r, q) = (g.years[l], g.rate[l], g.dividend_yield[l]);
                    let fwd = g.spot[l] * ((r - q) * t).exp();
                    let vega = (-r * t).exp()
                        * (fwd * g.strike[l]).sqrt()
                        * wheelhouse_pricing::iv::normalised_vega(
                            (fwd / g.strike[l]).ln(),
                            want * t.sqrt(),
                        )
                        * t.sqrt();
                    let tol = 1e-10 * want + 100.0 * f64::EPSILON * g.price[l] / vega;
                    assert!((s2[l] - want).abs() <= tol, "{} vs {want}", s2[l]);
                    solved += 1;
                }
            }
        }
        assert!(solved > 4000 * LANES / 4);
    }
}
