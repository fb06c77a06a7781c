//! American options under Black-Scholes-Merton with a continuous dividend yield, priced by the
//! Andersen–Lake–Offengenden (ALO) fixed-point method for the early-exercise boundary.
//!
//! # Method
//! Everything is solved for a put; a call is priced through the put–call symmetry
//! `C(S, K, r, q, σ, T) = P(K, S, q, r, σ, T)` (McDonald–Schroder), exactly.
//!
//! For a put with boundary `B(τ)` (τ = time to expiry) the price is the European price plus the
//! early-exercise premium
//!
//! ```text
//! V(S) = p_E(S) + ∫₀ᵀ [ rK e^{-rt} Φ(-d₋(t, S/B(T-t))) − qS e^{-qt} Φ(-d₊(t, S/B(T-t))) ] dt,
//! d±(t, z) = (ln z + (r − q)t)/(σ√t) ± σ√t/2.
//! ```
//!
//! The boundary is the fixed point of `B(τ) = K e^{-(r-q)τ} N(τ, B)/D(τ, B)`:
//!
//! * [`FixedPointEquation::FpB`] (value matching, ALO's FP-B, integrated in the variable that
//!   removes the `√(τ−u)` kink, "FP-B′" here): `N = Φ(d₋(τ, B(τ)/K)) + r∫₀^τ e^{ru}
//!   Φ(d₋(τ−u, B(τ)/B(u))) du`, `D = Φ(d₊(τ, B(τ)/K)) + q∫₀^τ e^{qu} Φ(d₊(τ−u, B(τ)/B(u))) du`;
//! * [`FixedPointEquation::FpA`] (smooth pasting, ALO's FP-A): `N = φ(d₋)/(σ√τ) + r∫ e^{ru}
//!   φ(d₋(τ−u, ·))/(σ√(τ−u)) du`, `D = φ(d₊)/(σ√τ) + Φ(d₊) + q∫ e^{qu} [Φ(d₊) + φ(d₊)/(σ√(τ−u))] du`.
//!
//! [`FixedPointEquation::Auto`] (the default) picks FP-A where it is stable and FP-B′ elsewhere.
//!
//! The boundary is represented by the Chebyshev interpolant (on `n + 1` Chebyshev–Lobatto nodes
//! in `z = 2√(τ/T) − 1`) of `H = ln(B(τ)/X)²`, `X = B(0⁺) = K·min(1, r/q)`. It starts from Li's
//! QD+ approximation (Newton at each node), then takes `coarse_iterations` cheap iterations with
//! `coarse_points` quadrature points and `iterations` full ones with `l` points, the first
//! `newton_iterations` of them Jacobi–Newton steps. Every integral (boundary and premium) uses
//! Gauss–Legendre in θ with `u = τ cos²θ`, which makes both integration ends (`√(τ−u)` at one,
//! `√u` at the other) smooth. The premium uses `p` points. No heap allocation per price
//! (quadrature rules are built once per process).
//!
//! # Regimes (put; a call maps to a put with `r` and `q` swapped)
//! * `r > 0`: one boundary, `B(0⁺) = K·min(1, r/q)` (`K` if `q ≤ 0`);
//! * `r = 0, q < 0`: one boundary starting at `K` (handled by the same method);
//! * `r ≤ 0, q ≥ r`: early exercise is never optimal, the price is the European one;
//! * `q < r < 0`: two exercise boundaries (Battauz–De Donno–Sbuelz): not supported,
//!   [`PricingError::Unsupported`]. For a call this is `r < q < 0`.
//!
//! # References
//! * L. Andersen, M. Lake, D. Offengenden (2016), "High-performance American option pricing",
//!   *Journal of Computational Finance* 20(1), 39–87.
//! * M. Li (2010), "Analytical approximations for the critical stock prices of American
//!   options: a performance comparison", *Review of Derivatives Research* 13, 75–99 (QD+), after
//!   M. Li (2005) and Ju–Zhong (1999).
//! * A. Battauz, M. De Donno, A. Sbuelz (2015), "Real options and American derivatives: the
//!   double continuation region", *Management Science* 61(5).

// The quadrature loops index several parallel arrays by point.
#![allow(clippy::needless_range_loop)]

use std::sync::OnceLock;

use crate::black::{bsm_price, validate_bsm};
use crate::iv::implied_volatility_bsm;
use crate::normal::{erfcx, norm_cdf, norm_pdf};
use crate::{BsmInputs, Greeks, OptionType, PricingError};

/// Largest supported number of Chebyshev intervals `n` in [`AmericanSettings::nodes`].
pub const MAX_NODES: usize = 64;
/// Largest supported number of quadrature points (`l` and `p` in [`AmericanSettings`]).
pub const MAX_QUADRATURE_POINTS: usize = 128;

/// Which fixed-point equation the boundary iteration uses (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FixedPointEquation {
    /// ALO's FP-B (value matching, `Φ` terms), integrated in the kink-removing variable
    /// ("FP-B′"): stable everywhere, but converges slowly for large `σ√T`.
    FpB,
    /// ALO's FP-A (smooth pasting, `φ` terms): converges about three times faster per
    /// iteration, but its quadrature under-resolves the `φ` kernels and the iteration can
    /// oscillate when `σ√T` is small.
    FpA,
    /// FP-A where `σ√T > 0.3` or `|r − q| < 0.001` (put space), FP-B elsewhere. Measured
    /// against QuantLib's high-precision QdFp prices and a converged lattice.
    #[default]
    Auto,
}

/// Discretisation of the ALO method.
///
/// # Units
/// Counts only.
///
/// # Errors
/// Pricing functions return [`PricingError::InvalidInput`] (field `settings.*`) when
/// `nodes ∉ 2..=MAX_NODES`, `iterations == 0`, `newton_iterations > iterations`, or a number
/// of points is outside `1..=MAX_QUADRATURE_POINTS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AmericanSettings {
    /// `n`: Chebyshev intervals of the boundary interpolant (`n + 1` nodes, one at expiry).
    pub nodes: usize,
    /// Cheap fixed-point iterations run first, with `coarse_points` quadrature points.
    pub coarse_iterations: usize,
    /// Gauss–Legendre points of each boundary integral in the coarse iterations.
    pub coarse_points: usize,
    /// `m`: fixed-point iterations with `integration_points` points, after the coarse ones.
    pub iterations: usize,
    /// How many of all iterations (the first ones, coarse or not) are Jacobi–Newton steps.
    pub newton_iterations: usize,
    /// `l`: Gauss–Legendre points of each boundary integral.
    pub integration_points: usize,
    /// `p`: Gauss–Legendre points of the early-exercise-premium integral.
    pub premium_points: usize,
    /// The fixed-point equation.
    pub equation: FixedPointEquation,
}

impl AmericanSettings {
    /// Fast: measured max error 3e-5 × strike (QuantLib goldens, random cases), ~3× faster
    /// than [`ACCURATE`](Self::ACCURATE).
    pub const FAST: AmericanSettings = AmericanSettings {
        nodes: 6,
        coarse_iterations: 1,
        coarse_points: 4,
        iterations: 1,
        newton_iterations: 1,
        integration_points: 8,
        premium_points: 16,
        equation: FixedPointEquation::Auto,
    };
    /// Accurate: measured max error below 1e-6 × strike over T 1 hour–5 years, K/S 0.25–4,
    /// σ 1 %–300 %, r −1 %–10 %, q 0–6 % (the default).
    pub const ACCURATE: AmericanSettings = AmericanSettings {
        nodes: 10,
        coarse_iterations: 2,
        coarse_points: 6,
        iterations: 2,
        newton_iterations: 1,
        integration_points: 10,
        premium_points: 24,
        equation: FixedPointEquation::Auto,
    };

    /// Checks the settings (the pricing functions call it first).
    ///
    /// # Errors
    /// [`PricingError::InvalidInput`] naming the offending `settings.*` field.
    pub fn validate(&self) -> Result<(), PricingError> {
        let bad = |field: &'static str, v: usize, reason: &'static str| {
            Err(PricingError::InvalidInput {
                field,
                value: v as f64,
                reason,
            })
        };
        if !(2..=MAX_NODES).contains(&self.nodes) {
            return bad("settings.nodes", self.nodes, "must be in 2..=MAX_NODES");
        }
        if self.iterations == 0 {
            return bad("settings.iterations", 0, "must be at least 1");
        }
        if self.newton_iterations > self.iterations + self.coarse_iterations {
            return bad(
                "settings.newton_iterations",
                self.newton_iterations,
                "must not exceed settings.iterations + settings.coarse_iterations",
            );
        }
        if !(1..=MAX_QUADRATURE_POINTS).contains(&self.coarse_points) {
            return bad(
                "settings.coarse_points",
                self.coarse_points,
                "must be in 1..=MAX_QUADRATURE_POINTS",
            );
        }
        if !(1..=MAX_QUADRATURE_POINTS).contains(&self.integration_points) {
            return bad(
                "settings.integration_points",
                self.integration_points,
                "must be in 1..=MAX_QUADRATURE_POINTS",
            );
        }
        if !(1..=MAX_QUADRATURE_POINTS).contains(&self.premium_points) {
            return bad(
                "settings.premium_points",
                self.premium_points,
                "must be in 1..=MAX_QUADRATURE_POINTS",
            );
        }
        Ok(())
    }
}

impl Default for AmericanSettings {
    fn default() -> Self {
        Self::ACCURATE
    }
}

// ---------------------------------------------------------------------------------------------
// Tables (built once per process, no allocation afterwards).

/// Gauss–Legendre rules for 1..=MAX_QUADRATURE_POINTS points, mapped to θ ∈ (0, π/2) by
/// θ = π(1 + x)/4: (sin θ, cos θ, π/4 · w).
struct Rules {
    start: [usize; MAX_QUADRATURE_POINTS + 2],
    sin: Vec<f64>,
    cos: Vec<f64>,
    weight: Vec<f64>,
}

fn legendre_rule(l: usize, x: &mut [f64], w: &mut [f64]) {
    // Newton on the Legendre polynomial P_l from the usual cosine initial guesses.
    let lf = l as f64;
    let eval = |z: f64| -> (f64, f64) {
        let (mut p0, mut p1) = (1.0, z);
        for k in 2..=l {
            let kf = k as f64;
            let p2 = ((2.0 * kf - 1.0) * z * p1 - (kf - 1.0) * p0) / kf;
            p0 = p1;
            p1 = p2;
        }
        (p1, lf * (z * p1 - p0) / (z * z - 1.0))
    };
    for i in 0..l.div_ceil(2) {
        let mut z = (std::f64::consts::PI * (i as f64 + 0.75) / (lf + 0.5)).cos();
        for _ in 0..100 {
            let (p, dp) = eval(z);
            let dz = p / dp;
            z -= dz;
            if dz.abs() < 1e-16 {
                break;
            }
        }
        let dp = eval(z).1;
        let wi = 2.0 / ((1.0 - z * z) * dp * dp);
        x[i] = -z;
        w[i] = wi;
        x[l - 1 - i] = z;
        w[l - 1 - i] = wi;
    }
    if l % 2 == 1 {
        x[l / 2] = 0.0;
    }
}

fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| {
        let total = MAX_QUADRATURE_POINTS * (MAX_QUADRATURE_POINTS + 1) / 2;
        let mut r = Rules {
            start: [0; MAX_QUADRATURE_POINTS + 2],
            sin: Vec::with_capacity(total),
            cos: Vec::with_capacity(total),
            weight: Vec::with_capacity(total),
        };
        let mut x = [0.0; MAX_QUADRATURE_POINTS];
        let mut w = [0.0; MAX_QUADRATURE_POINTS];
        for l in 1..=MAX_QUADRATURE_POINTS {
            r.start[l] = r.sin.len();
            legendre_rule(l, &mut x[..l], &mut w[..l]);
            for i in 0..l {
                let theta = std::f64::consts::FRAC_PI_4 * (1.0 + x[i]);
                r.sin.push(theta.sin());
                r.cos.push(theta.cos());
                r.weight.push(std::f64::consts::FRAC_PI_4 * w[i]);
            }
        }
        r.start[MAX_QUADRATURE_POINTS + 1] = r.sin.len();
        r
    })
}

/// A mapped quadrature rule: (sin θ_j, cos θ_j, weight_j), ∫₀^{π/2} f(θ) dθ ≈ Σ w_j f(θ_j).
#[derive(Clone, Copy)]
struct Rule {
    sin: &'static [f64],
    cos: &'static [f64],
    weight: &'static [f64],
}

fn rule(l: usize) -> Rule {
    let r = rules();
    let (a, b) = (r.start[l], r.start[l] + l);
    Rule {
        sin: &r.sin[a..b],
        cos: &r.cos[a..b],
        weight: &r.weight[a..b],
    }
}

/// cos(kπ/n), k = 0..2n, for n = 1..=MAX_NODES.
fn cos_table(n: usize) -> &'static [f64] {
    static TABLE: OnceLock<Vec<f64>> = OnceLock::new();
    let t = TABLE.get_or_init(|| {
        let mut v = Vec::with_capacity(MAX_NODES * (MAX_NODES + 1));
        for n in 1..=MAX_NODES {
            for k in 0..2 * n {
                v.push((std::f64::consts::PI * k as f64 / n as f64).cos());
            }
        }
        v
    });
    let start = (n - 1) * n; // Σ_{j<n} 2j
    &t[start..start + 2 * n]
}

/// The Gauss–Legendre rule of `l` points (`1..=MAX_QUADRATURE_POINTS`) that every integral of
/// the engine uses, mapped to θ ∈ (0, π/2) by θ = π(1 + x)/4: `(sin θ_j, cos θ_j, weight_j)`
/// with `∫₀^{π/2} f(θ) dθ ≈ Σ weight_j f(θ_j)`. For a device kernel that must integrate on the
/// same nodes, to the bit.
pub fn quadrature_rule(l: usize) -> Option<(&'static [f64], &'static [f64], &'static [f64])> {
    if !(1..=MAX_QUADRATURE_POINTS).contains(&l) {
        return None;
    }
    let r = rule(l);
    Some((r.sin, r.cos, r.weight))
}

/// `cos(kπ/n)` for `k = 0..2n` (`n` in `1..=MAX_NODES`): the Chebyshev–Lobatto nodes and the
/// fit's cosines of the boundary interpolant, as the engine computes them.
pub fn chebyshev_cosines(n: usize) -> Option<&'static [f64]> {
    (1..=MAX_NODES).contains(&n).then(|| cos_table(n))
}

// ---------------------------------------------------------------------------------------------
// The put engine.

/// A put in its own variables: spot, strike, rate, yield, volatility, expiry.
#[derive(Debug, Clone, Copy)]
struct Put {
    s: f64,
    k: f64,
    r: f64,
    q: f64,
    sigma: f64,
    t: f64,
}

/// Scratch arrays of the quadrature loops (one set per price, reused).
struct Scratch {
    z: [f64; MAX_QUADRATURE_POINTS],
    b1: [f64; MAX_QUADRATURE_POINTS],
    b2: [f64; MAX_QUADRATURE_POINTS],
    h: [f64; MAX_QUADRATURE_POINTS],
}

impl Scratch {
    fn new() -> Self {
        Scratch {
            z: [0.0; MAX_QUADRATURE_POINTS],
            b1: [0.0; MAX_QUADRATURE_POINTS],
            b2: [0.0; MAX_QUADRATURE_POINTS],
            h: [0.0; MAX_QUADRATURE_POINTS],
        }
    }
}

/// Chebyshev interpolant of H(z) = ln(B/X)², z = 2√(τ/T) − 1.
struct Boundary {
    n: usize,
    coef: [f64; MAX_NODES + 1],
}

impl Boundary {
    /// H at z ∈ [−1, 1] (Clenshaw).
    #[inline(always)]
    fn h(&self, z: f64) -> f64 {
        let c = &self.coef[..=self.n];
        let z2 = 2.0 * z;
        let (mut b1, mut b2) = (0.0, 0.0);
        for &ck in c[1..].iter().rev() {
            let b0 = ck + z2 * b1 - b2;
            b2 = b1;
            b1 = b0;
        }
        c[0] + z * b1 - b2
    }

    /// H at z_j = zp1·c_j − 1 for every j (Clenshaw, vectorised over the points), into
    /// `sc.h[..c.len()]`.
    #[inline(always)]
    fn h_many(&self, zp1: f64, c: &[f64], sc: &mut Scratch) {
        let l = c.len();
        let (z, b1, b2, out) = (
            &mut sc.z[..l],
            &mut sc.b1[..l],
            &mut sc.b2[..l],
            &mut sc.h[..l],
        );
        for j in 0..l {
            z[j] = zp1 * c[j] - 1.0;
            b1[j] = 0.0;
            b2[j] = 0.0;
        }
        let coef = &self.coef[..=self.n];
        for &ck in coef[1..].iter().rev() {
            for j in 0..l {
                let b0 = ck + 2.0 * z[j] * b1[j] - b2[j];
                b2[j] = b1[j];
                b1[j] = b0;
            }
        }
        for j in 0..l {
            out[j] = coef[0] + z[j] * b1[j] - b2[j];
        }
    }

    /// ln(X/B) = √H ≥ 0 at z.
    #[inline(always)]
    fn g(&self, z: f64) -> f64 {
        self.h(z).max(0.0).sqrt()
    }

    /// Sets the coefficients from values y_k at z_k = −cos(kπ/n), k = 0..=n.
    fn fit(&mut self, y: &[f64], cos: &[f64]) {
        let n = self.n;
        let two_n = 2 * n;
        let scale = 2.0 / n as f64;
        for j in 0..=n {
            let mut s = 0.5 * (y[0] + if j.is_multiple_of(2) { y[n] } else { -y[n] });
            let mut idx = j; // (j·k) mod 2n, k = 1
            for &yk in &y[1..n] {
                s += yk * cos[idx];
                idx += j;
                if idx >= two_n {
                    idx -= two_n;
                }
            }
            // T_j(−x) = (−1)^j T_j(x)
            let sign = if j.is_multiple_of(2) { 1.0 } else { -1.0 };
            let mut c = sign * scale * s;
            if j == 0 || j == n {
                c *= 0.5;
            }
            self.coef[j] = c;
        }
    }
}

const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// e^{−x²/2} (the Gaussian density without its constant).
#[inline(always)]
fn gauss(x: f64) -> f64 {
    (-0.5 * x * x).exp()
}

/// Φ(x) given `a` = e^{−x²/2}: through the scaled complementary error function where that
/// saves the exponential, `Φ(−|x|) = ½·e^{−x²/2}·erfcx(|x|/√2)`.
#[inline(always)]
fn cdf_with_gauss(x: f64, a: f64) -> f64 {
    let ax = x.abs();
    if ax < 0.67 {
        return norm_cdf(x);
    }
    let tail = if ax > 38.0 {
        0.0
    } else {
        0.5 * a * erfcx(ax * std::f64::consts::FRAC_1_SQRT_2)
    };
    if x < 0.0 { tail } else { 1.0 - tail }
}

/// x/(1 − e^{−x}) / τ-free helper: r/(1 − e^{−rτ}), continuous at r = 0 (→ 1/τ).
#[inline]
fn r_over_h(r: f64, tau: f64) -> f64 {
    let x = r * tau;
    if x.abs() < 1e-8 {
        (1.0 + 0.5 * x) / tau
    } else {
        r / (-(-x).exp_m1())
    }
}

/// QD+ (Li) exercise boundary of the put at time to expiry `tau`, by safeguarded Newton in
/// ln B from `guess`.
#[allow(clippy::too_many_arguments)]
fn qd_plus(
    k: f64,
    r: f64,
    q: f64,
    sigma: f64,
    tau: f64,
    xmax: f64,
    guess: f64,
    nc: &NodeCarry,
) -> f64 {
    let v = sigma * tau.sqrt();
    let sig2 = sigma * sigma;
    let (dr, dq, g) = (nc.dr, nc.dq, nc.r_over_h);
    let omega = 2.0 * (r - q) / sig2;
    let sq = ((omega - 1.0) * (omega - 1.0) + 8.0 * g / sig2).sqrt();
    let lambda = 0.5 * (-(omega - 1.0) - sq);
    let c0 = 2.0 * dr * g / (sig2 * sq) - 4.0 * dr * g * g / (sig2 * sig2 * sq * sq * sq);
    let lc = lambda + c0;
    let tcoef = 2.0 / (sig2 * sq);
    let drift = (r - q) * tau;
    // F(b) and dF/d ln b.
    let ln_k = k.ln();
    let eval = |x: f64, b: f64| -> (f64, f64) {
        let dp = (x - ln_k + drift) / v + 0.5 * v;
        let dm = dp - v;
        let ncdp = norm_cdf(-dp);
        let ncdm = norm_cdf(-dm);
        let pdp = gauss(dp) * INV_SQRT_2PI;
        let pe = k * dr * ncdm - b * dq * ncdp;
        let theta = r * k * dr * ncdm - q * b * dq * ncdp - 0.5 * sig2 * b * dq * pdp / v;
        let one_m = 1.0 - dq * ncdp;
        let f = one_m * b + lc * (k - b - pe) - tcoef * theta;
        let dtheta = dq * (-q * ncdp + pdp / v * (q - r - 0.5 * sig2 + 0.5 * sig2 * dp / v));
        let fp = one_m + dq * pdp / v - lc * one_m - tcoef * dtheta;
        (f, fp * b)
    };
    let hi = xmax;
    let mut x = guess.min(hi).ln();
    let lnhi = hi.ln();
    for _ in 0..60 {
        let (f, fp) = eval(x, x.exp());
        if !(f.is_finite() && fp.is_finite()) || fp == 0.0 {
            break;
        }
        let step = (f / fp).clamp(-1.0, 1.0);
        let xn = (x - step).min(lnhi);
        let done = (xn - x).abs() < 1e-9;
        x = xn;
        if done {
            break;
        }
    }
    x.exp().min(hi)
}

/// Per-node quantities that depend on the carry (r, q, T) and the settings but not on σ, spot
/// or strike.
#[derive(Debug, Clone, Copy, Default)]
struct NodeCarry {
    /// e^{−(r−q)τ}.
    fwd: f64,
    /// e^{rτ}.
    ert: f64,
    /// e^{qτ}.
    eqt: f64,
    /// e^{−rτ}.
    dr: f64,
    /// e^{−qτ}.
    dq: f64,
    /// r/(1 − e^{−rτ}).
    r_over_h: f64,
}

/// The σ-independent exponentials of one boundary solve and premium integral for a carry
/// (r, q, T) and settings: an implied-volatility search, the bumps of vega and the bid and ask
/// inversions of one quote (and all quotes of one expiry) share them. Built by
/// [`carry_for`], which keeps the last few per thread.
#[derive(Debug)]
struct Carry {
    key: [u64; 7],
    /// Per node k = 0..=n.
    node: Vec<NodeCarry>,
    /// Per node k and point j of the coarse rule, `(e^{−qm}, e^{−rm}, e^{(r−q)m})` at
    /// m = τ_k sin²θ_j.
    coarse: Vec<[f64; 3]>,
    /// The same for the fine rule.
    fine: Vec<[f64; 3]>,
    /// Per point of the premium rule at t = T sin²θ_j: `(e^{−rt}, e^{−qt})`.
    premium: Vec<[f64; 2]>,
}

impl Carry {
    fn key(p: &Put, st: &AmericanSettings) -> [u64; 7] {
        [
            p.r.to_bits(),
            p.q.to_bits(),
            p.t.to_bits(),
            st.nodes as u64,
            st.coarse_points as u64,
            st.integration_points as u64,
            st.premium_points as u64,
        ]
    }

    fn new(p: &Put, st: &AmericanSettings) -> Carry {
        let n = st.nodes;
        let cos = cos_table(n);
        let sqrt_t = p.t.sqrt();
        let (r, q) = (p.r, p.q);
        let mut node = vec![NodeCarry::default(); n + 1];
        let mut taus = vec![0.0; n + 1];
        for k in 1..=n {
            let sq_tau = 0.5 * sqrt_t * (1.0 - cos[k]);
            let tau = sq_tau * sq_tau;
            taus[k] = tau;
            node[k] = NodeCarry {
                fwd: (-(r - q) * tau).exp(),
                ert: (r * tau).exp(),
                eqt: (q * tau).exp(),
                dr: (-r * tau).exp(),
                dq: (-q * tau).exp(),
                r_over_h: r_over_h(r, tau),
            };
        }
        let per_point = |l: usize| -> Vec<[f64; 3]> {
            let rl = rule(l);
            let mut v = Vec::with_capacity((n + 1) * l);
            // Node 0 (τ = 0) is never updated: its entries are placeholders.
            v.resize(l, [1.0; 3]);
            for &tau in &taus[1..] {
                for &sn in rl.sin {
                    let m = tau * sn * sn;
                    let (eqm, erm) = ((-q * m).exp(), (-r * m).exp());
                    v.push([eqm, erm, eqm / erm]);
                }
            }
            v
        };
        let pr = rule(st.premium_points);
        let premium = pr
            .sin
            .iter()
            .map(|&sn| {
                let tt = p.t * sn * sn;
                [(-r * tt).exp(), (-q * tt).exp()]
            })
            .collect();
        Carry {
            key: Self::key(p, st),
            node,
            coarse: per_point(st.coarse_points),
            fine: per_point(st.integration_points),
            premium,
        }
    }
}

/// The [`Carry`] of `p` and `st`, from this thread's cache of the last four used (puts and
/// calls of one expiry alternate between two carries in put space).
fn carry_for(p: &Put, st: &AmericanSettings) -> std::rc::Rc<Carry> {
    use std::cell::RefCell;
    use std::rc::Rc;
    thread_local! {
        static CACHE: RefCell<Vec<Rc<Carry>>> = const { RefCell::new(Vec::new()) };
    }
    let key = Carry::key(p, st);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if let Some(i) = c.iter().position(|e| e.key == key) {
            let e = c.remove(i);
            c.insert(0, Rc::clone(&e));
            return e;
        }
        let e = Rc::new(Carry::new(p, st));
        c.insert(0, Rc::clone(&e));
        c.truncate(4);
        e
    })
}

/// Workspace of one boundary solve (on the stack).
struct Solver {
    p: Put,
    eq_a: bool,
    xmax: f64,
    ln_xk: f64,
    bnd: Boundary,
}

/// Early-exercise region limit B(0⁺) of the put, or None when early exercise is never
/// optimal (the European price applies). Err for the double-boundary regime.
fn put_regime(r: f64, q: f64) -> Result<Option<f64>, PricingError> {
    if r < 0.0 && q < r {
        return Err(PricingError::Unsupported {
            reason: "double exercise boundary (put with q < r < 0, call with r < q < 0) is \
                     not supported by the ALO method",
        });
    }
    if r < 0.0 || (r == 0.0 && q >= 0.0) {
        return Ok(None);
    }
    if q > 0.0 && r < q {
        Ok(Some(r / q))
    } else {
        Ok(Some(1.0))
    }
}

impl Solver {
    fn solve(p: Put, xratio: f64, st: &AmericanSettings, carry: &Carry) -> Solver {
        let n = st.nodes;
        let xmax = p.k * xratio;
        let eq_a = match st.equation {
            FixedPointEquation::FpA => true,
            FixedPointEquation::FpB => false,
            FixedPointEquation::Auto => p.sigma * p.t.sqrt() > 0.3 || (p.r - p.q).abs() < 1e-3,
        };
        let mut s = Solver {
            p,
            eq_a,
            xmax,
            ln_xk: xratio.ln(),
            bnd: Boundary {
                n,
                coef: [0.0; MAX_NODES + 1],
            },
        };
        let cos = cos_table(n);
        let sqrt_t = p.t.sqrt();
        // Nodes: z_k = −cos(kπ/n); √τ_k = √T(1 + z_k)/2.
        let mut sq_tau = [0.0; MAX_NODES + 1];
        let mut zp1 = [0.0; MAX_NODES + 1];
        for k in 0..=n {
            zp1[k] = 1.0 - cos[k];
            sq_tau[k] = 0.5 * sqrt_t * zp1[k];
        }
        let mut y = [0.0; MAX_NODES + 1];
        let mut b = [0.0; MAX_NODES + 1];
        b[0] = xmax;
        // QD+ node by node, each Newton solve starting from the linear extrapolation (in √τ)
        // of ln(X/B) through the previous two nodes.
        let mut gs = [0.0; MAX_NODES + 1];
        for k in 1..=n {
            let tau = sq_tau[k] * sq_tau[k];
            let g_guess = if k == 1 {
                2.0 * p.sigma * sq_tau[1]
            } else {
                let slope = (gs[k - 1] - gs[k - 2]) / (sq_tau[k - 1] - sq_tau[k - 2]);
                gs[k - 1] + slope * (sq_tau[k] - sq_tau[k - 1])
            };
            let guess = xmax * (-g_guess.max(0.0)).exp();
            let bk = qd_plus(p.k, p.r, p.q, p.sigma, tau, xmax, guess, &carry.node[k]);
            let bk = if bk.is_finite() && bk > 0.0 {
                bk
            } else {
                b[k - 1]
            };
            b[k] = bk;
            gs[k] = (xmax / bk).ln();
            y[k] = gs[k] * gs[k];
        }
        s.bnd.fit(&y[..=n], cos);

        let rl_fine = rule(st.integration_points);
        let rl_coarse = rule(st.coarse_points);
        let mut scratch = Scratch::new();
        let ci = st.coarse_iterations;
        for it in 0..st.iterations + ci {
            let (rl, exps) = if it < ci {
                (rl_coarse, &carry.coarse)
            } else {
                (rl_fine, &carry.fine)
            };
            let l = rl.sin.len();
            let newton = it < st.newton_iterations;
            for k in 1..=n {
                let bk = b[k];
                let nb = s.update(
                    bk,
                    y[k].sqrt(),
                    sq_tau[k],
                    zp1[k],
                    &carry.node[k],
                    &exps[k * l..(k + 1) * l],
                    &rl,
                    newton,
                    &mut scratch,
                );
                let nb = if nb.is_finite() && nb > 0.0 {
                    nb.min(xmax)
                } else {
                    bk
                };
                b[k] = nb;
                let l = (nb / xmax).ln();
                y[k] = l * l;
            }
            s.bnd.fit(&y[..=n], cos);
        }
        s
    }

    /// One fixed-point (or Jacobi–Newton) update of the boundary value `b` at the node with
    /// √τ = `st`, z + 1 = `zp1`, ln(X/b) = `gb`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn update(
        &self,
        b: f64,
        gb: f64,
        st: f64,
        zp1: f64,
        nc: &NodeCarry,
        exps: &[[f64; 3]],
        rl: &Rule,
        newton: bool,
        sc: &mut Scratch,
    ) -> f64 {
        let Put { r, q, sigma, .. } = self.p;
        let tau = st * st;
        let rq = r - q;
        let l = rl.sin.len();
        self.bnd.h_many(zp1, rl.cos, sc);
        let h = &sc.h[..l];
        let sst = sigma * st;
        let (mut ni, mut di, mut di2) = (0.0, 0.0, 0.0);
        for j in 0..l {
            let (sn, cs, w) = (rl.sin[j], rl.cos[j], rl.weight[j]);
            let m = tau * sn * sn;
            let vm = sst * sn;
            let lnr = h[j].max(0.0).sqrt() - gb;
            let x = lnr + rq * m;
            let dp = x / vm + 0.5 * vm;
            let a = gauss(dp);
            let cdp = cdf_with_gauss(dp, a);
            let [eqm, erm, erqm] = exps[j];
            let elnr = lnr.exp();
            if self.eq_a {
                // e^{ru} φ(d₋) = e^{rτ} φ(d₊) e^{lnr − qm};  e^{qu} = e^{qτ} e^{−qm}
                ni += w * cs * a * elnr * eqm;
                di += w * cs * eqm * cdp * sn;
                di2 += w * cs * eqm * a;
            } else {
                // Φ(d₋) needs e^{−d₋²/2} = e^{−d₊²/2} e^{x}, e^{x} = e^{lnr} e^{(r−q)m}
                let dm = dp - vm;
                let cdm = cdf_with_gauss(dm, a * elnr * erqm);
                let wu = w * sn * cs;
                ni += wu * erm * cdm;
                di += wu * eqm * cdp;
            }
        }
        let v = sst;
        let dp = (self.ln_xk - gb + rq * tau) / v + 0.5 * v;
        let dm = dp - v;
        let (alpha, ert, eqt) = (self.p.k * nc.fwd, nc.ert, nc.eqt);
        let (nn, dd, nd, ddd);
        if self.eq_a {
            let pdp = gauss(dp) * INV_SQRT_2PI;
            let pdm = gauss(dm) * INV_SQRT_2PI;
            // ∫ e^{ru} φ(d₋)/(σ√(τ−u)) du = 2√τ/σ ∫ e^{ru} φ(d₋) cos θ dθ
            let c = 2.0 * st / sigma * INV_SQRT_2PI;
            nn = pdm / v + r * ert * c * ni;
            dd = pdp / v + norm_cdf(dp) + q * eqt * (2.0 * tau * di + c * di2);
            nd = -dm * pdm / (b * v * v);
            ddd = -dp * pdp / (b * v * v) + pdp / (b * v);
        } else {
            nn = norm_cdf(dm) + r * ert * 2.0 * tau * ni;
            dd = norm_cdf(dp) + q * eqt * 2.0 * tau * di;
            nd = norm_pdf(dm) / (b * v);
            ddd = norm_pdf(dp) / (b * v);
        }
        let f = alpha * nn / dd;
        if !newton {
            return f;
        }
        let fd = alpha * (nd / dd - ddd * nn / (dd * dd));
        let nb = b - (f - b) / (fd - 1.0);
        if nb.is_finite() && nb > 0.0 { nb } else { f }
    }

    /// Put price, delta and gamma at spot `s` (boundary held fixed); `exercise` when spot is in
    /// the exercise region.
    fn value(&self, s: f64, pts: usize, with_greeks: bool, carry: &Carry) -> PutValue {
        let Put {
            k, r, q, sigma, t, ..
        } = self.p;
        let intrinsic = (k - s).max(0.0);
        // Exercise region: S ≤ B(T).
        let bt = self.xmax * (-self.bnd.g(1.0)).exp();
        if s <= bt {
            return PutValue {
                price: intrinsic,
                delta: -1.0,
                gamma: 0.0,
                exercise: true,
            };
        }
        let rl = rule(pts);
        let sqrt_t = t.sqrt();
        let ln_sx = (s / self.xmax).ln();
        let rq = r - q;
        let (mut prem, mut dprem, mut gprem) = (0.0, 0.0, 0.0);
        let kx = k / self.xmax;
        for j in 0..rl.sin.len() {
            let (sn, cs, w) = (rl.sin[j], rl.cos[j], rl.weight[j]);
            let tt = t * sn * sn;
            let g = self.bnd.g(2.0 * cs - 1.0);
            let lnsb = ln_sx + g;
            let vt = sigma * sqrt_t * sn;
            let dp = (lnsb + rq * tt) / vt + 0.5 * vt;
            let dm = dp - vt;
            let [er, eq] = carry.premium[j];
            let wt = w * 2.0 * t * sn * cs;
            let ncdp = norm_cdf(-dp);
            prem += wt * (r * k * er * norm_cdf(-dm) - q * s * eq * ncdp);
            if with_greeks {
                let pdp = norm_pdf(dp);
                let kb = kx * g.exp();
                let c = q - r * kb;
                // φ(d₊)/(σ√t) dt = φ(d₊) · 2√T cos θ/σ · w
                let wp = w * 2.0 * sqrt_t * cs / sigma;
                dprem += eq * (-q * ncdp * wt + c * pdp * wp);
                gprem += eq * pdp * wp / s * (q - c * dp / vt);
            }
        }
        let v = sigma * sqrt_t;
        let dp = ((s / k).ln() + rq * t) / v + 0.5 * v;
        let dm = dp - v;
        let dq = (-q * t).exp();
        let euro = k * (-r * t).exp() * norm_cdf(-dm) - s * dq * norm_cdf(-dp);
        let price = euro.max(0.0) + prem.max(0.0);
        if intrinsic > 0.0 && price <= intrinsic {
            return PutValue {
                price: intrinsic,
                delta: -1.0,
                gamma: 0.0,
                exercise: true,
            };
        }
        let (mut delta, mut gamma) = (0.0, 0.0);
        if with_greeks {
            delta = -dq * norm_cdf(-dp) + dprem;
            gamma = dq * norm_pdf(dp) / (s * v) + gprem;
        }
        PutValue {
            price,
            delta,
            gamma,
            exercise: false,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct PutValue {
    price: f64,
    delta: f64,
    gamma: f64,
    exercise: bool,
}

/// Validated inputs mapped to put space.
fn to_put(inp: &BsmInputs) -> Put {
    match inp.kind {
        OptionType::Put => Put {
            s: inp.spot,
            k: inp.strike,
            r: inp.rate,
            q: inp.dividend_yield,
            sigma: inp.volatility,
            t: inp.years,
        },
        OptionType::Call => Put {
            s: inp.strike,
            k: inp.spot,
            r: inp.dividend_yield,
            q: inp.rate,
            sigma: inp.volatility,
            t: inp.years,
        },
    }
}

/// Below this σ√T the boundary problem is numerically degenerate: the option is priced as the
/// larger of the European price and the best deterministic exercise (the σ → 0 limit).
const TINY_TOTAL_VOL: f64 = 1e-7;

/// max over t ∈ [0, T] of (K e^{−rt} − S e^{−qt})⁺: the zero-volatility American put.
fn deterministic_put(p: &Put) -> f64 {
    let f = |t: f64| (p.k * (-p.r * t).exp() - p.s * (-p.q * t).exp()).max(0.0);
    let mut best = f(0.0).max(f(p.t));
    if p.r != p.q && p.r > 0.0 && p.q > 0.0 {
        let te = (p.r * p.k / (p.q * p.s)).ln() / (p.r - p.q);
        if te > 0.0 && te < p.t {
            best = best.max(f(te));
        }
    }
    best
}

/// Core put computation (input already validated). Returns the value with put-space delta and
/// gamma, or None-boundary European fallback.
fn put_value(p: &Put, st: &AmericanSettings, with_greeks: bool) -> Result<PutValue, PricingError> {
    let regime = put_regime(p.r, p.q)?;
    let euro_inputs = BsmInputs {
        kind: OptionType::Put,
        spot: p.s,
        strike: p.k,
        years: p.t,
        rate: p.r,
        dividend_yield: p.q,
        volatility: p.sigma,
    };
    let european = |p: &Put| -> Result<PutValue, PricingError> {
        let price = bsm_price(&euro_inputs)?;
        let (mut delta, mut gamma) = (0.0, 0.0);
        if with_greeks {
            let v = p.sigma * p.t.sqrt();
            let dp = ((p.s / p.k).ln() + (p.r - p.q) * p.t) / v + 0.5 * v;
            let dq = (-p.q * p.t).exp();
            delta = -dq * norm_cdf(-dp);
            gamma = dq * norm_pdf(dp) / (p.s * v);
        }
        Ok(PutValue {
            price,
            delta,
            gamma,
            exercise: false,
        })
    };
    let Some(xratio) = regime else {
        return european(p);
    };
    if p.sigma * p.t.sqrt() < TINY_TOTAL_VOL {
        let e = european(p)?;
        let d = deterministic_put(p);
        let intrinsic = (p.k - p.s).max(0.0);
        if d > e.price {
            let exercise = d <= intrinsic;
            return Ok(PutValue {
                price: d,
                delta: if exercise { -1.0 } else { e.delta },
                gamma: 0.0,
                exercise,
            });
        }
        return Ok(e);
    }
    let carry = carry_for(p, st);
    let solver = Solver::solve(*p, xratio, st, &carry);
    Ok(solver.value(p.s, st.premium_points, with_greeks, &carry))
}

/// Price of an American option under Black-Scholes-Merton with a continuous dividend yield,
/// by the Andersen–Lake–Offengenden fixed-point method (see the [module docs](self)).
///
/// # Units
/// As [`BsmInputs`]: price per share.
///
/// # Errors
/// * [`PricingError::InvalidInput`]: an input fails [`validate_bsm`], or `settings` is out of
///   range (see [`AmericanSettings`]);
/// * [`PricingError::Unsupported`]: the double-boundary regime (put with `q < r < 0`, call with
///   `r < q < 0`).
///
/// # References
/// Andersen, Lake, Offengenden (2016), *J. Comp. Finance* 20(1); see the [module docs](self).
pub fn american_price(inp: &BsmInputs, settings: &AmericanSettings) -> Result<f64, PricingError> {
    validate_bsm(inp)?;
    settings.validate()?;
    Ok(put_value(&to_put(inp), settings, false)?.price)
}

/// Price, delta (∂V/∂S) and gamma of the American option at `inp`.
fn value_delta_gamma(
    inp: &BsmInputs,
    st: &AmericanSettings,
) -> Result<(f64, f64, f64, bool), PricingError> {
    let p = to_put(inp);
    let v = put_value(&p, st, true)?;
    Ok(match inp.kind {
        OptionType::Put => (v.price, v.delta, v.gamma, v.exercise),
        OptionType::Call => {
            // C(S, K) = P(K, S): ∂C/∂S = ∂P/∂K' = (P − S'Δ')/K', ∂²C/∂S² = Γ' S'²/K'².
            if v.exercise {
                (v.price, 1.0, 0.0, true)
            } else {
                let delta = (v.price - p.s * v.delta) / p.k;
                let gamma = v.gamma * (p.s / p.k) * (p.s / p.k);
                (v.price, delta, gamma, false)
            }
        }
    })
}

/// Validates, then one boundary solve: price, delta and gamma (boundary held fixed) and theta
/// from the BSM PDE in the continuation region (0 in the exercise region).
fn spot_greeks(
    inp: &BsmInputs,
    settings: &AmericanSettings,
) -> Result<(f64, f64, f64, f64), PricingError> {
    validate_bsm(inp)?;
    settings.validate()?;
    let (price, delta, gamma, exercise) = value_delta_gamma(inp, settings)?;
    let (s, r, q, sigma) = (inp.spot, inp.rate, inp.dividend_yield, inp.volatility);
    let theta = if exercise {
        0.0
    } else {
        r * price - (r - q) * s * delta - 0.5 * sigma * sigma * s * s * gamma
    };
    Ok((price, delta, gamma, theta))
}

/// The volatility bump of vega and volga: 1e-3·σ, at least 1e-5, at most σ/2 (σ − h > 0).
fn vol_bump(sigma: f64) -> f64 {
    (1e-3 * sigma).max(1e-5).min(0.5 * sigma)
}

/// Price and sensitivities of an American option (BSM, continuous dividend yield).
///
/// * `delta`, `gamma`: analytic derivatives of the integral representation with the exercise
///   boundary held fixed (the boundary does not depend on spot); in the exercise region
///   `delta = ±1`, `gamma = 0`.
/// * `theta`: from the BSM PDE in the continuation region, `θ = rV − (r−q)SΔ − ½σ²S²Γ`; 0 in
///   the exercise region (the value is the intrinsic value, constant in time).
/// * `vega`, `vanna`, `volga`: central differences in σ with re-solved boundaries;
///   `rho`, `epsilon`: central differences in `r` and `q`; `charm`: central difference of delta
///   in the expiry (one-sided when the expiry is too short to bump down).
/// * `dual_delta` = ∂V/∂K exactly from homogeneity, `V = SΔ + K ∂V/∂K`.
/// * `prob_itm`: the terminal risk-neutral probability `N(ω d₂)` of finishing in the money.
///   It ignores early exercise (it is the European quantity, not the exercise probability).
///
/// # Units
/// As [`Greeks`]: raw derivatives, vega per 1.00 of volatility, theta per year.
///
/// # Errors
/// As [`american_price`]. A bumped input leaving the supported regime (e.g. `r` crossing into
/// the double-boundary case) reports that error too.
///
/// # References
/// Andersen, Lake, Offengenden (2016), *J. Comp. Finance* 20(1).
pub fn american_greeks(
    inp: &BsmInputs,
    settings: &AmericanSettings,
) -> Result<Greeks, PricingError> {
    let (price, delta, gamma, theta) = spot_greeks(inp, settings)?;
    let (s, kk, r, q, sigma, t) = (
        inp.spot,
        inp.strike,
        inp.rate,
        inp.dividend_yield,
        inp.volatility,
        inp.years,
    );
    let dual_delta = (price - s * delta) / kk;

    // Volatility bumps: vega, volga, vanna (σ − h stays > 0).
    let hs = vol_bump(sigma);
    let up = value_delta_gamma(
        &BsmInputs {
            volatility: sigma + hs,
            ..*inp
        },
        settings,
    )?;
    let dn = value_delta_gamma(
        &BsmInputs {
            volatility: sigma - hs,
            ..*inp
        },
        settings,
    )?;
    let vega = (up.0 - dn.0) / (2.0 * hs);
    let volga = (up.0 - 2.0 * price + dn.0) / (hs * hs);
    let vanna = (up.1 - dn.1) / (2.0 * hs);

    // Rate and yield bumps; one-sided where one side leaves the supported regime (e.g. a call
    // with q = 0 and r < 0 sits at the edge of the double-boundary case).
    let hr = 1e-5;
    let rho = bump_derivative(price, hr, |h| {
        american_price(
            &BsmInputs {
                rate: r + h,
                ..*inp
            },
            settings,
        )
    })?;
    let epsilon = bump_derivative(price, hr, |h| {
        american_price(
            &BsmInputs {
                dividend_yield: q + h,
                ..*inp
            },
            settings,
        )
    })?;

    // Expiry bump: charm = −∂Δ/∂T (one-sided when the expiry is too short to bump down).
    let ht = (1e-4 * t).max(1e-9);
    let charm = {
        let u = value_delta_gamma(
            &BsmInputs {
                years: t + ht,
                ..*inp
            },
            settings,
        )?
        .1;
        if t > 2.0 * ht {
            let d = value_delta_gamma(
                &BsmInputs {
                    years: t - ht,
                    ..*inp
                },
                settings,
            )?
            .1;
            -(u - d) / (2.0 * ht)
        } else {
            -(u - delta) / ht
        }
    };

    let v = sigma * t.sqrt();
    let d2 = ((s / kk).ln() + (r - q) * t) / v - 0.5 * v;
    let prob_itm = norm_cdf(inp.kind.sign() * d2);

    Ok(Greeks {
        price,
        delta,
        gamma,
        vega,
        theta,
        rho,
        epsilon,
        vanna,
        volga,
        charm,
        dual_delta,
        prob_itm,
    })
}

/// Price and the first-order sensitivities a chain view needs, at a third of the cost of
/// [`american_greeks`]: one boundary solve for price, delta, gamma and theta, two more for vega
/// (and volga, which comes with them).
///
/// Same definitions and units as [`american_greeks`] (theta per year, vega per 1.00 vol).
///
/// # Errors
/// As [`american_price`].
pub fn american_first_order(
    inp: &BsmInputs,
    settings: &AmericanSettings,
) -> Result<AmericanFirstOrder, PricingError> {
    let (price, delta, gamma, theta) = spot_greeks(inp, settings)?;
    let (s, kk, r, q, sigma, t) = (
        inp.spot,
        inp.strike,
        inp.rate,
        inp.dividend_yield,
        inp.volatility,
        inp.years,
    );
    let hs = vol_bump(sigma);
    let up = american_price(
        &BsmInputs {
            volatility: sigma + hs,
            ..*inp
        },
        settings,
    )?;
    let dn = american_price(
        &BsmInputs {
            volatility: sigma - hs,
            ..*inp
        },
        settings,
    )?;
    let vega = (up - dn) / (2.0 * hs);
    let volga = (up - 2.0 * price + dn) / (hs * hs);
    let v = sigma * t.sqrt();
    let d2 = ((s / kk).ln() + (r - q) * t) / v - 0.5 * v;
    Ok(AmericanFirstOrder {
        price,
        delta,
        gamma,
        theta,
        vega,
        volga,
        prob_itm: norm_cdf(inp.kind.sign() * d2),
    })
}

/// Result of [`american_first_order`].
///
/// # Units
/// As [`Greeks`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AmericanFirstOrder {
    /// Option value.
    pub price: f64,
    /// ∂V/∂S.
    pub delta: f64,
    /// ∂²V/∂S².
    pub gamma: f64,
    /// ∂V/∂t per year.
    pub theta: f64,
    /// ∂V/∂σ per 1.00 vol.
    pub vega: f64,
    /// ∂²V/∂σ² per 1.00 vol squared (from the same two bumps as `vega`).
    pub volga: f64,
    /// Risk-neutral probability of finishing in the money (European, ignores early exercise).
    pub prob_itm: f64,
}

/// Central difference `(f(h) − f(−h))/2h`, or the one-sided one (with `f(0) = base`) when one
/// side is [`PricingError::Unsupported`].
fn bump_derivative(
    base: f64,
    h: f64,
    f: impl Fn(f64) -> Result<f64, PricingError>,
) -> Result<f64, PricingError> {
    match (f(h), f(-h)) {
        (Ok(u), Ok(d)) => Ok((u - d) / (2.0 * h)),
        (Ok(u), Err(PricingError::Unsupported { .. })) => Ok((u - base) / h),
        (Err(PricingError::Unsupported { .. }), Ok(d)) => Ok((base - d) / h),
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

/// Implied volatility of an American option price (BSM, continuous dividend yield).
///
/// Safeguarded secant on σ (one ALO price per iteration; European-vega Newton and bisection as
/// fallbacks) inside a bracket that is widened until it contains the root; the start is the
/// European implied volatility of the price less an estimate of the early-exercise premium.
/// Stops at a step `|Δσ| ≤ 1e-10·σ`, a price error `≤ 1e-12·strike` (in the price function
/// given by `settings`), or a secant step `≤ 1e-8·σ` that follows one `≤ 1e-4·σ` (superlinear
/// convergence puts that step's end within about 1e-12·σ of the root; the tests check the
/// result against a full solve to 1e-10 relative).
///
/// # Units
/// `price` per share; other inputs as [`BsmInputs`]; returns an annualised decimal volatility.
///
/// # Errors
/// * [`PricingError::InvalidInput`]: NaN or infinite input, `spot ≤ 0`, `strike ≤ 0`,
///   `years ≤ 0`, `price < 0` (naming the field), or bad `settings`;
/// * [`PricingError::BelowIntrinsic`]: `price` below the zero-volatility value
///   `max_{t ≤ T} (ω(S e^{−qt} − K e^{−rt}))⁺` (at least the intrinsic value `max(ω(S − K), 0)`;
///   larger when carry favours waiting), the price's infimum over all volatilities;
/// * [`PricingError::AtIntrinsic`]: `price` equals that zero-volatility value (σ not
///   identifiable);
/// * [`PricingError::AboveUpperBound`]: `price ≥ S` (call) or `price ≥ K` (put);
/// * [`PricingError::Unsupported`]: the double-boundary regime;
/// * [`PricingError::NoConvergence`]: no volatility in (0, 100] matches the price to the
///   tolerance within the iteration budget.
///
/// # References
/// Andersen, Lake, Offengenden (2016), *J. Comp. Finance* 20(1).
#[allow(clippy::too_many_arguments)]
pub fn american_implied_volatility(
    price: f64,
    spot: f64,
    strike: f64,
    years: f64,
    rate: f64,
    dividend_yield: f64,
    kind: OptionType,
    settings: &AmericanSettings,
) -> Result<f64, PricingError> {
    american_iv_core(
        price,
        spot,
        strike,
        years,
        rate,
        dividend_yield,
        kind,
        settings,
        None,
    )
}

/// A solved nearby point of the American price as a function of volatility, used to start
/// [`american_implied_volatility_near`]: e.g. the mid price's IV, its model price and its vega
/// and volga (from [`american_first_order`]) when inverting the bid and the ask.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NearSolution {
    /// Volatility of the known point.
    pub vol: f64,
    /// American price at `vol` (same settings as the search).
    pub price: f64,
    /// ∂V/∂σ at `vol`, if known (a Newton start instead of the de-Americanised one).
    pub vega: Option<f64>,
    /// ∂²V/∂σ² at `vol`, if known (with `vega`: a second-order start).
    pub volga: Option<f64>,
}

/// [`american_implied_volatility`] started from a nearby solution (see [`NearSolution`]).
/// Saves the first American price of the search, and with vega and volga most of the rest;
/// same result, errors and accuracy.
///
/// # Errors
/// As [`american_implied_volatility`]; also [`PricingError::InvalidInput`] for a non-finite
/// or non-positive `near.vol`, a non-finite `near.price`, or a non-finite `near.vega` /
/// `near.volga`.
#[allow(clippy::too_many_arguments)]
pub fn american_implied_volatility_near(
    price: f64,
    spot: f64,
    strike: f64,
    years: f64,
    rate: f64,
    dividend_yield: f64,
    kind: OptionType,
    near: &NearSolution,
    settings: &AmericanSettings,
) -> Result<f64, PricingError> {
    let bad = |field: &'static str, value: f64, reason: &'static str| {
        Err(PricingError::InvalidInput {
            field,
            value,
            reason,
        })
    };
    if !(near.vol.is_finite() && near.vol > 0.0) {
        return bad("near.vol", near.vol, "must be finite and > 0");
    }
    if !near.price.is_finite() {
        return bad("near.price", near.price, "must be finite");
    }
    for (field, v) in [("near.vega", near.vega), ("near.volga", near.volga)] {
        if let Some(v) = v
            && !v.is_finite()
        {
            return bad(field, v, "must be finite");
        }
    }
    american_iv_core(
        price,
        spot,
        strike,
        years,
        rate,
        dividend_yield,
        kind,
        settings,
        Some(*near),
    )
}

#[allow(clippy::too_many_arguments)]
fn american_iv_core(
    price: f64,
    spot: f64,
    strike: f64,
    years: f64,
    rate: f64,
    dividend_yield: f64,
    kind: OptionType,
    settings: &AmericanSettings,
    seed: Option<NearSolution>,
) -> Result<f64, PricingError> {
    let finite = |field: &'static str, v: f64| {
        if v.is_finite() {
            Ok(())
        } else {
            Err(PricingError::InvalidInput {
                field,
                value: v,
                reason: "must be finite",
            })
        }
    };
    let positive = |field: &'static str, v: f64| {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err(PricingError::InvalidInput {
                field,
                value: v,
                reason: "must be finite and > 0",
            })
        }
    };
    finite("price", price)?;
    if price < 0.0 {
        return Err(PricingError::InvalidInput {
            field: "price",
            value: price,
            reason: "must be >= 0",
        });
    }
    positive("spot", spot)?;
    positive("strike", strike)?;
    positive("years", years)?;
    finite("rate", rate)?;
    finite("dividend_yield", dividend_yield)?;
    settings.validate()?;

    let w = kind.sign();
    let inp = |sigma: f64| BsmInputs {
        kind,
        spot,
        strike,
        years,
        rate,
        dividend_yield,
        volatility: sigma,
    };
    // The price at σ → 0 is the best deterministic exercise, max over t ≤ T of the discounted
    // intrinsic value (at least the intrinsic value; more when carry favours waiting, e.g. a
    // deep in-the-money call with r > q): the price increases in σ from there, so no
    // volatility reaches a price below it.
    let intrinsic = (w * (spot - strike)).max(0.0);
    let floor = deterministic_put(&to_put(&inp(1.0))).max(intrinsic);
    let upper = if w > 0.0 { spot } else { strike };
    if price < floor {
        return Err(PricingError::BelowIntrinsic {
            price,
            bound: floor,
        });
    }
    if price >= upper {
        return Err(PricingError::AboveUpperBound {
            price,
            bound: upper,
        });
    }
    if price == floor {
        return Err(PricingError::AtIntrinsic { price });
    }
    let p = to_put(&inp(0.2));
    put_regime(p.r, p.q)?;
    let am = |sigma: f64| american_price(&inp(sigma), settings);

    const MAX_VOL: f64 = 100.0;
    const MIN_VOL: f64 = 1e-8;
    let tol_price = 1e-12 * strike;

    // Start: European IV of the price less the premium estimated at the European IV; that
    // first American price is also the secant's first point.
    let mut prev: Option<(f64, f64)> = None; // (σ, price(σ) − target)
    // With a seed's vega (and volga), the first slope comes from its local model, which is far
    // better than the secant through the seed.
    let mut model: Option<(f64, f64, f64)> = None; // (σ₀, vega, volga)
    let euro_start = match seed {
        // A known nearby solution: its local model or its premium gives the start.
        Some(near) => {
            let (sv, sp) = (near.vol, near.price);
            prev = Some((sv, sp - price));
            match near.vega {
                Some(vega) if vega > 0.0 => {
                    let volga = near.volga.unwrap_or(0.0);
                    model = Some((sv, vega, volga));
                    // δ solving vega·δ + ½·volga·δ² = target − price(σ₀), the root nearest 0.
                    let d = price - sp;
                    let disc = vega * vega + 2.0 * volga * d;
                    let delta = if disc > 0.0 {
                        2.0 * d / (vega + disc.sqrt())
                    } else {
                        d / vega
                    };
                    let start = sv + delta;
                    Ok(
                        if start.is_finite() && start > 0.5 * sv && start < 2.0 * sv {
                            start
                        } else {
                            sv + d / vega
                        },
                    )
                }
                _ => {
                    let prem = sp - bsm_price(&inp(sv))?;
                    Ok(implied_volatility_bsm(
                        price - prem,
                        spot,
                        strike,
                        years,
                        rate,
                        dividend_yield,
                        kind,
                    )
                    .unwrap_or(sv))
                }
            }
        }
        None => Err(()),
    };
    let mut sigma = match euro_start {
        Ok(s) => s,
        Err(()) => {
            match implied_volatility_bsm(price, spot, strike, years, rate, dividend_yield, kind) {
                Ok(s0) => {
                    let a0 = am(s0)?;
                    prev = Some((s0, a0 - price));
                    let prem = a0 - bsm_price(&inp(s0))?;
                    implied_volatility_bsm(
                        price - prem,
                        spot,
                        strike,
                        years,
                        rate,
                        dividend_yield,
                        kind,
                    )
                    .unwrap_or(s0)
                }
                Err(_) => 0.3,
            }
        }
    };
    if !(sigma.is_finite() && sigma > MIN_VOL) {
        sigma = 0.3;
    }
    let mut lo = 0.0_f64; // price(lo) < target (σ → 0 gives at most the target)
    let mut hi = f64::INFINITY;
    if let Some((s0, d0)) = prev {
        if d0 > 0.0 {
            hi = s0;
        } else {
            lo = s0;
        }
    }
    let mut iterations = 0;
    let mut last_step = f64::INFINITY;
    let mut widths = [f64::INFINITY; 2]; // bracket widths of the last two iterations
    // Safeguarded secant: one American price per iteration. The slope is the secant through
    // the last two points, or the European vega when there is no usable previous point; a
    // step leaving the bracket [lo, hi] falls back to European-vega Newton, then bisection.
    while iterations < 100 {
        iterations += 1;
        let v = am(sigma)?;
        let diff = v - price;
        if diff.abs() <= tol_price {
            return Ok(sigma);
        }
        if diff > 0.0 {
            hi = hi.min(sigma);
        } else {
            lo = lo.max(sigma);
        }
        let euro_vega =
            || -> Result<f64, PricingError> { Ok(crate::black::bsm_greeks(&inp(sigma))?.vega) };
        let inside = |x: f64| x.is_finite() && x > lo && x < hi;
        let mut next = f64::NAN;
        let mut superlinear = true;
        if let Some((s0, vega, volga)) = model.take() {
            // First step after a seeded start: Newton with the seed's local slope.
            let slope = vega + volga * (sigma - s0);
            if slope > 0.0 {
                next = sigma - diff / slope;
            }
        } else if let Some((s0, d0)) = prev
            && s0 != sigma
        {
            let slope = (diff - d0) / (sigma - s0);
            if slope > 0.0 {
                next = sigma - diff / slope;
            }
        }
        if !inside(next) {
            superlinear = false;
            let vega = euro_vega()?;
            if vega > 0.0 {
                next = sigma - diff / vega;
            }
        }
        // Bisect when the step leaves the bracket, or when the bracket has not halved over the
        // last two iterations (a secant that stagnates, e.g. at the small jump an approximate
        // boundary leaves where the option enters the exercise region).
        let width = hi - lo;
        let stagnating = hi.is_finite() && width > 0.5 * widths[0];
        widths = [widths[1], width];
        if !inside(next) || stagnating {
            superlinear = false;
            next = if hi.is_finite() {
                0.5 * (lo + hi)
            } else {
                (2.0 * sigma).min(MAX_VOL)
            };
        }
        prev = Some((sigma, diff));
        let step = (next - sigma).abs();
        if step <= 1e-10 * sigma {
            return Ok(next);
        }
        // A secant (or seeded Newton) step this small after a small one lands within about
        // C·|step|·|previous step| ≈ 1e-12·σ of the root: done without pricing it.
        if superlinear && step <= 1e-8 * sigma && last_step <= 1e-4 * sigma {
            return Ok(next);
        }
        last_step = if superlinear { step } else { f64::INFINITY };
        if hi.is_finite() && (hi - lo) <= 1e-10 * hi {
            return Ok(0.5 * (lo + hi));
        }
        if sigma >= MAX_VOL && next >= MAX_VOL {
            break;
        }
        sigma = next.max(MIN_VOL);
    }
    Err(PricingError::NoConvergence {
        method: "american_implied_volatility",
        iterations,
    })
}
