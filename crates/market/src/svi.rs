//! Raw SVI smiles: evaluation, butterfly-arbitrage checks and the constrained fit.
//!
//! # Parametrization and units
//! One expiry's smile in total implied variance w = σ²·t as a function of the log-forward
//! moneyness k = ln(K/F) (Gatheral 2004):
//!
//! w(k) = a + b·(ρ·(k − m) + √((k − m)² + σ²))
//!
//! with t in years and volatilities as decimals (0.2 = 20 %); "vol points" are 100 × vol.
//! A usable slice has b ≥ 0, |ρ| < 1, σ > 0, a non-negative minimum
//! w_min = a + b·σ·√(1 − ρ²), and wings within Lee's moment bound b·(1 + |ρ|) ≤ 2
//! ([`SviParams::validate`]).
//!
//! # Butterfly arbitrage
//! The risk-neutral density of ln(S_T/F) at k is
//! p(k) = g(k)/√(2π·w(k))·exp(−d₋(k)²/2), d₋ = −k/√w − √w/2, with (Gatheral & Jacquier 2014)
//!
//! g(k) = (1 − k·w′/(2w))² − (w′²/4)·(1/w + 1/4) + w″/2,
//!
//! so a slice is free of butterfly arbitrage iff g ≥ 0 everywhere. [`SviParams::butterfly_check`]
//! scans g on a grid of about 3 200 points (see its documentation) and refines the lowest one.
//!
//! # Fit ([`fit_svi`])
//! Minimizes Σᵢ ŵᵢ·(σ_SVI(kᵢ) − σᵢ)² where ŵ are the caller's weights normalized to sum 1:
//!
//! 1. **Quasi-explicit stage** (Zeliade 2009; De Marco & Martini). For fixed (m, σ) the model is
//!    linear in (a, b·ρ, b): w = a + (bρ)·x + b·√(x² + σ²), x = k − m. Residuals in total
//!    variance are weighted by ŵᵢ/(2σᵢt)², so the linear problem is the first-order image of the
//!    implied-vol objective. It is solved exactly under the polytope constraints
//!    |bρ| ≤ ρ_max·b (so b ≥ 0), b + |bρ| ≤ L (Lee, L = `max_wing_slope`·(1 − 10⁻⁹)) and
//!    a + σ·(α_j·b + β_j·bρ) ≥ w_floor for the six chords α_j + β_j·r of the concave
//!    √(1 − r²) between the nodes r = ρ_max·{−1, −0.9, −0.6, 0, 0.6, 0.9, 1} — chords lie
//!    below a concave function, so these linear constraints imply w_min ≥ w_floor — by
//!    enumerating the active sets of size 0–3 of the ten constraints, smallest first, and
//!    stopping at the first Karush–Kuhn–Tucker point (the problem is a strictly convex QP).
//!    w_floor = 10⁻⁴ × the smallest quoted total variance.
//! 2. **Outer search** over (m, ln σ) in the box m ∈ [k_min − h, k_max + h],
//!    h = max(½(k_max − k_min), 0.05), σ ∈ [`sigma_min`, `sigma_max`]: a 7 × 7 grid (m uniform
//!    over the quoted range, σ log-uniform from max(σ_min, 10⁻³) to σ_max), then Nelder–Mead
//!    (clamped to the box) from the `starts` best grid points that are not neighbours of one
//!    another. The outer objective is the inner optimum plus a butterfly penalty
//!    s_vv·Σ min(1, max(0, 10⁻⁵ − g))² over 41 points (21 over the quotes, 11 over the scan
//!    wings, 9 over m ± 6σ), s_vv = Σ ωᵢvᵢ²: otherwise noisy or narrow quote sets often make the
//!    linear fit prefer wildly arbitrageable (m, σ) by a hair, a start the polish cannot
//!    recover from. For arbitrage-free data the penalty vanishes at the optimum.
//! 3. **Polish** of all five parameters in implied-vol space by Levenberg–Marquardt with an
//!    analytic Jacobian. Box constraints (b ≥ 0, |ρ| ≤ ρ_max, σ and m in the box) are kept by
//!    projection; Lee's bound, w_min ≥ w_floor and g ≥ 10⁻⁵ on a 103-point polishing grid
//!    (41 points over the quotes, 41 over the scan wings, 21 over m ± 6σ) are smooth quadratic
//!    penalties of weight μ = 1. After each round the slice is snapped onto Lee's bound and the
//!    variance floor if it overshoots them, and scanned; if the scan fails, its worst k joins
//!    the penalty points and the next round (μ × 100, up to 10⁸) starts from there — an
//!    exchange method for the semi-infinite constraint g ≥ 0 (at most 7 rounds; the first has
//!    `max_polish_iterations`, later ones half of it). A round stops on a relative cost gain
//!    below 10⁻⁹, below 10⁻⁶ over 8 steps, a negligible step, or when no step reduces the
//!    cost.
//! 4. **Verification.** The result must pass [`SviParams::validate`] and the full butterfly scan
//!    over the quoted range. If no polishing round passes, the fit falls back to the
//!    lowest-cost verified candidate among: the last polished slice with its b shrunk (at fixed
//!    w(m)) towards a flat smile — a flat smile has g ≡ 1 — by bisection; the quasi-explicit
//!    slice if it passes (else shrunk the same way); and the largest verified step from the
//!    latter towards the polished slice (bisection on the segment). The returned slice is
//!    therefore always verified free of butterfly arbitrage on the scan grid and within Lee's
//!    bound.
//!
//! # References
//! - J. Gatheral (2004), "A parsimonious arbitrage-free implied volatility parameterization
//!   with application to the valuation of volatility derivatives", Global Derivatives.
//! - J. Gatheral, A. Jacquier (2014), "Arbitrage-free SVI volatility surfaces", Quantitative
//!   Finance 14(1), 59–71.
//! - Zeliade Systems (2009), "Quasi-explicit calibration of Gatheral's SVI model", white paper;
//!   S. De Marco, C. Martini, "Quasi-explicit calibration of Gatheral's SVI model".
//! - R. Lee (2004), "The moment formula for implied volatility at extreme strikes",
//!   Mathematical Finance 14(3), 469–480.

use std::f64::consts::PI;

/// Fewest distinct log-moneyness values (among quotes with positive weight) [`fit_svi`] accepts.
pub const MIN_DISTINCT_QUOTES: usize = 5;

/// Lee's moment bound on the total-variance wing slopes b·(1 ± ρ).
pub const LEE_MAX_WING_SLOPE: f64 = 2.0;

// Butterfly scan grid (documented on `SviParams::butterfly_check`).
const SCAN_RANGE_POINTS: usize = 1001;
const SCAN_WING_POINTS: usize = 1001;
const SCAN_LOCAL_POINTS: usize = 201;
const SCAN_LOCAL_HALF_WIDTH: f64 = 10.0;
const SCAN_WING_FACTOR: f64 = 5.0;
const SCAN_REFINE_STEPS: usize = 40;
const SCAN_FAR_POINTS: usize = 400;
const SCAN_REFINED_MINIMA: usize = 8;
const SCAN_FAR_LIMIT: f64 = 1e6;

// Polishing grid for the g ≥ 0 penalty.
const POLISH_RANGE_POINTS: usize = 41;
const POLISH_WING_POINTS: usize = 41;
const POLISH_LOCAL_POINTS: usize = 21;
const POLISH_LOCAL_HALF_WIDTH: f64 = 6.0;
const G_MARGIN: f64 = 1e-5;
const PENALTY_START: f64 = 1.0;
const PENALTY_GROWTH: f64 = 100.0;
const PENALTY_STEPS: usize = 4;
const POLISH_ROUNDS: usize = 7;
// Levenberg–Marquardt stops when the cost fell by less than 10⁻⁶ (relative) over this many steps.
const STAGNATION_WINDOW: usize = 8;

// Nodes (× ρ_max) of the chords of √(1 − ρ²) in the quasi-explicit positivity constraints.
const POSITIVITY_NODES: [f64; 7] = [-1.0, -0.9, -0.6, 0.0, 0.6, 0.9, 1.0];
const N_CONSTRAINTS: usize = 4 + POSITIVITY_NODES.len() - 1;

// Coarse grid of the outer search's butterfly penalty.
const OUTER_RANGE_POINTS: usize = 21;
const OUTER_WING_POINTS: usize = 11;
const OUTER_LOCAL_POINTS: usize = 9;
const OUTER_PENALTY: f64 = 1.0;

// Outer grid of starting points.
const GRID_M: usize = 7;
const GRID_S: usize = 7;
const REPAIR_BISECTIONS: usize = 8;

/// Why an SVI slice or surface could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SviError {
    /// Fewer distinct log-moneyness values (with positive weight) than the five SVI needs.
    #[error(
        "{distinct} distinct log-moneyness values with positive weight, at least {required} needed"
    )]
    TooFewQuotes {
        /// Distinct k among quotes with positive weight.
        distinct: usize,
        /// The minimum ([`MIN_DISTINCT_QUOTES`]).
        required: usize,
    },
    /// A quote has a non-finite or out-of-domain field.
    #[error("quote {index} is invalid: {reason}")]
    InvalidQuote {
        /// Index of the quote in the input slice.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The time to expiry is not finite and > 0.
    #[error("time to expiry {t} must be finite and > 0")]
    InvalidMaturity {
        /// The value given, years.
        t: f64,
    },
    /// A field of [`SviFitOptions`] is out of its domain.
    #[error("fit option `{field}` is invalid: {reason}")]
    InvalidOptions {
        /// Name of the field.
        field: &'static str,
        /// Its domain.
        reason: &'static str,
    },
    /// SVI parameters violate a condition of [`SviParams::validate`].
    #[error("invalid SVI parameters: {reason}")]
    InvalidParams {
        /// The violated condition.
        reason: &'static str,
    },
    /// The optimizers exhausted their iteration budgets without meeting their tolerances, or
    /// produced no finite candidate.
    #[error("the SVI fit did not converge ({iterations} iterations)")]
    NoConvergence {
        /// Optimizer iterations spent (Nelder–Mead over all starts plus Levenberg–Marquardt).
        iterations: usize,
    },
    /// A surface needs at least one slice.
    #[error("a volatility surface needs at least one slice")]
    EmptySurface,
    /// A surface slice has an invalid time, forward or parameters.
    #[error("surface slice {index} is invalid: {reason}")]
    InvalidSlice {
        /// Index of the slice in the input.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// Two surface slices share a time to expiry.
    #[error("two surface slices have the same time to expiry {t}")]
    DuplicateMaturity {
        /// The shared time, years.
        t: f64,
    },
}

/// Raw SVI parameters of one slice: w(k) = a + b·(ρ·(k − m) + √((k − m)² + σ²)).
///
/// # Units
/// `a` in total variance (σ²·t); `b` per unit of k; `rho` dimensionless; `m` and `sigma` in
/// log-forward moneyness.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SviParams {
    /// Level: w(m) = a + b·σ.
    pub a: f64,
    /// Wing slope scale, ≥ 0.
    pub b: f64,
    /// Skew (rotation), |ρ| < 1.
    pub rho: f64,
    /// Horizontal translation.
    pub m: f64,
    /// Curvature at the vertex, > 0.
    pub sigma: f64,
}

/// Result of [`SviParams::butterfly_check`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ButterflyReport {
    /// True iff the parameters pass [`SviParams::validate`] (which includes Lee's bound) and
    /// g ≥ 0 at every scanned point.
    pub arbitrage_free: bool,
    /// The lowest g found (−∞ where w ≤ 0 or g is not a number).
    pub min_g: f64,
    /// The k at which `min_g` was found.
    pub at_k: f64,
}

impl SviParams {
    /// Total implied variance w(k) = σ_impl(k)²·t.
    #[inline]
    pub fn total_variance(&self, k: f64) -> f64 {
        let x = k - self.m;
        self.a + self.b * (self.rho * x + (x * x + self.sigma * self.sigma).sqrt())
    }

    /// First derivative ∂w/∂k = b·(ρ + (k − m)/√((k − m)² + σ²)).
    #[inline]
    pub fn dw_dk(&self, k: f64) -> f64 {
        let x = k - self.m;
        self.b * (self.rho + x / (x * x + self.sigma * self.sigma).sqrt())
    }

    /// Second derivative ∂²w/∂k² = b·σ²/((k − m)² + σ²)^{3/2}.
    #[inline]
    pub fn d2w_dk2(&self, k: f64) -> f64 {
        let x = k - self.m;
        let r2 = x * x + self.sigma * self.sigma;
        self.b * self.sigma * self.sigma / (r2 * r2.sqrt())
    }

    /// Implied volatility √(w(k)/t) at log-forward moneyness `k` for time to expiry `t` years.
    ///
    /// NaN when `t` is not > 0 or w(k) < 0 (parameters that fail [`validate`](Self::validate)).
    #[inline]
    pub fn implied_vol(&self, k: f64, t: f64) -> f64 {
        let w = self.total_variance(k);
        if t.is_nan() || t <= 0.0 || w < 0.0 {
            return f64::NAN;
        }
        (w / t).sqrt()
    }

    /// Gatheral–Jacquier g(k) = (1 − k·w′/(2w))² − (w′²/4)·(1/w + 1/4) + w″/2.
    ///
    /// The risk-neutral density is non-negative at k iff g(k) ≥ 0. Returns −∞ where w(k) ≤ 0
    /// (or is NaN): no density exists there.
    #[inline]
    pub fn density_g(&self, k: f64) -> f64 {
        let x = k - self.m;
        let r2 = x * x + self.sigma * self.sigma;
        let r = r2.sqrt();
        let w = self.a + self.b * (self.rho * x + r);
        if w.is_nan() || w <= 0.0 {
            return f64::NEG_INFINITY;
        }
        let ir = 1.0 / r;
        let iw = 1.0 / w;
        let w1 = self.b * (self.rho + x * ir);
        let w2 = self.b * self.sigma * self.sigma * ir * ir * ir;
        let u = 1.0 - 0.5 * k * w1 * iw;
        u * u - 0.25 * w1 * w1 * (iw + 0.25) + 0.5 * w2
    }

    /// Risk-neutral density of ln(S_T/F) at k: g(k)/√(2π·w(k))·exp(−d₋(k)²/2) with
    /// d₋ = −k/√w − √w/2. The density of S_T at strike K = F·e^k is this divided by K.
    ///
    /// NaN where w(k) ≤ 0.
    #[inline]
    pub fn density(&self, k: f64) -> f64 {
        let w = self.total_variance(k);
        if w.is_nan() || w <= 0.0 {
            return f64::NAN;
        }
        let sw = w.sqrt();
        let dm = -k / sw - 0.5 * sw;
        self.density_g(k) / (2.0 * PI * w).sqrt() * (-0.5 * dm * dm).exp()
    }

    /// Minimum total variance over all k: a + b·σ·√(1 − ρ²), reached at
    /// k = m − ρσ/√(1 − ρ²).
    #[inline]
    pub fn min_variance(&self) -> f64 {
        self.a + self.b * self.sigma * (1.0 - self.rho * self.rho).sqrt()
    }

    /// Checks that every parameter is finite, b ≥ 0, |ρ| < 1, σ > 0, w ≥ 0 everywhere
    /// ([`min_variance`](Self::min_variance) ≥ 0) and Lee's wing bound b·(1 + |ρ|) ≤ 2.
    ///
    /// These are necessary, not sufficient, for absence of butterfly arbitrage; see
    /// [`butterfly_check`](Self::butterfly_check).
    ///
    /// # Errors
    /// [`SviError::InvalidParams`] naming the first violated condition.
    pub fn validate(&self) -> Result<(), SviError> {
        let bad = |reason| Err(SviError::InvalidParams { reason });
        if ![self.a, self.b, self.rho, self.m, self.sigma]
            .iter()
            .all(|v| v.is_finite())
        {
            return bad("a parameter is not finite");
        }
        if self.b < 0.0 {
            return bad("b < 0");
        }
        if self.rho.abs() >= 1.0 {
            return bad("|rho| >= 1");
        }
        if self.sigma <= 0.0 {
            return bad("sigma <= 0");
        }
        if self.min_variance() < 0.0 {
            return bad("total variance is negative somewhere: a + b·σ·√(1−ρ²) < 0");
        }
        if self.b * (1.0 + self.rho.abs()) > LEE_MAX_WING_SLOPE {
            return bad("Lee's wing bound b·(1 + |rho|) <= 2 is violated");
        }
        Ok(())
    }

    /// Scans g(k) for butterfly arbitrage.
    ///
    /// # Grid
    /// With K = 5·max(|k_min|, |k_max|, 1), g is evaluated at
    /// - 1 001 uniform points on [k_min, k_max] (the quoted range; swapped if reversed),
    /// - 1 001 uniform points on [−K, K] (the wings),
    /// - 201 uniform points on [m − 10σ, m + 10σ] (where w′ turns and w″ peaks, which a
    ///   coarse grid can step over when σ is small),
    /// - 201 uniform points on k* ± 10R*, around the minimum of w at k* = m − ρσ/√(1 − ρ²)
    ///   (R* = σ/√(1 − ρ²)), where w is smallest and 1/w largest,
    /// - 400 geometrically spaced points on each side from K out to
    ///   K_far = min(max(2K, 8|α|/s), 10⁶), where α + s·|k| is that wing's asymptote
    ///   (s = b(1 ± ρ)): with α < 0 the factor 1 − k·w′/(2w) of g vanishes near |k| = −2α/s,
    ///   which can lie far beyond K,
    ///
    /// and the 8 lowest local minima along the grids are refined by 40 golden-section steps
    /// each, between their grid neighbours.
    /// Far out, g tends to 1/4 − s²/16 ≥ 0 for the wing slopes s ≤ 2 that
    /// [`validate`](Self::validate) enforces. Non-finite bounds give a report with
    /// `arbitrage_free = false` and NaN `min_g`, `at_k`. Allocation-free.
    pub fn butterfly_check(&self, k_min: f64, k_max: f64) -> ButterflyReport {
        if !(k_min.is_finite() && k_max.is_finite()) {
            return ButterflyReport {
                arbitrage_free: false,
                min_g: f64::NAN,
                at_k: f64::NAN,
            };
        }
        let (lo, hi) = if k_min <= k_max {
            (k_min, k_max)
        } else {
            (k_max, k_min)
        };
        let wing = SCAN_WING_FACTOR * lo.abs().max(hi.abs()).max(1.0);
        let g_of = |k: f64| {
            let g = self.density_g(k);
            if g.is_nan() { f64::NEG_INFINITY } else { g }
        };
        let mut tr = MinTracker::new();
        let mut visit = |k: f64, left: f64, right: f64| tr.push(g_of(k), k, left, right);
        let local = SCAN_LOCAL_HALF_WIDTH * self.sigma;
        // Vertex of w: k* = m − ρσ/√(1 − ρ²), curvature radius R* = σ/√(1 − ρ²) there.
        let c = (1.0 - self.rho * self.rho).sqrt();
        let (k_star, r_star) = (self.m - self.rho * self.sigma / c, self.sigma / c);
        let uniform = [
            (lo, hi, SCAN_RANGE_POINTS),
            (-wing, wing, SCAN_WING_POINTS),
            (self.m - local, self.m + local, SCAN_LOCAL_POINTS),
            (
                k_star - SCAN_LOCAL_HALF_WIDTH * r_star,
                k_star + SCAN_LOCAL_HALF_WIDTH * r_star,
                SCAN_LOCAL_POINTS,
            ),
        ];
        for (a, b, n) in uniform {
            if !(a.is_finite() && b.is_finite()) {
                continue;
            }
            let step = (b - a) / (n - 1) as f64;
            for j in 0..n {
                let k = a + step * j as f64;
                visit(k, (k - step).max(a), (k + step).min(b));
            }
            visit(f64::NAN, 0.0, 0.0);
        }
        // Far wings: w ≈ α + s·|k| with s = b(1 ± ρ); the dip of g sits near |k| = −2α/s when
        // α < 0, possibly far beyond ±K. Geometric grids from K to
        // K_far = min(max(2K, 8|α|/s), 10⁶) on each side.
        let s_right = self.b * (1.0 + self.rho);
        let s_left = self.b * (1.0 - self.rho);
        let wings = [
            (1.0, s_right, self.a - s_right * self.m),
            (-1.0, s_left, self.a + s_left * self.m),
        ];
        for (side, slope, alpha) in wings {
            if !(slope > 0.0 && alpha.is_finite()) {
                continue;
            }
            let far = (8.0 * alpha.abs() / slope)
                .max(2.0 * wing)
                .min(SCAN_FAR_LIMIT);
            if far.is_nan() || far <= wing {
                continue;
            }
            let ratio = (far / wing).powf(1.0 / (SCAN_FAR_POINTS - 1) as f64);
            let mut x = wing;
            for _ in 0..SCAN_FAR_POINTS {
                let (inner, outer) = (x / ratio, x * ratio);
                if side > 0.0 {
                    visit(x, inner, outer);
                } else {
                    visit(-x, -outer, -inner);
                }
                x *= ratio;
            }
            visit(f64::NAN, 0.0, 0.0);
        }
        // Golden-section refinement of the lowest local minima between their grid neighbours.
        let (mut min_g, mut at_k) = (f64::INFINITY, f64::NAN);
        for &(g0, k0, l0, r0) in &tr.cands[..tr.n] {
            if g0 < min_g || at_k.is_nan() {
                (min_g, at_k) = (g0, k0);
            }
            if !(g0.is_finite() && r0 > l0) {
                continue;
            }
            const INV_PHI: f64 = 0.618_033_988_749_894_9;
            let (mut l, mut r) = (l0, r0);
            let mut x1 = r - INV_PHI * (r - l);
            let mut x2 = l + INV_PHI * (r - l);
            let (mut f1, mut f2) = (g_of(x1), g_of(x2));
            for _ in 0..SCAN_REFINE_STEPS {
                if f1 < f2 {
                    r = x2;
                    x2 = x1;
                    f2 = f1;
                    x1 = r - INV_PHI * (r - l);
                    f1 = g_of(x1);
                } else {
                    l = x1;
                    x1 = x2;
                    f1 = f2;
                    x2 = l + INV_PHI * (r - l);
                    f2 = g_of(x2);
                }
            }
            for (f, x) in [(f1, x1), (f2, x2)] {
                if f < min_g {
                    (min_g, at_k) = (f, x);
                }
            }
        }
        ButterflyReport {
            arbitrage_free: self.validate().is_ok() && min_g >= 0.0,
            min_g,
            at_k,
        }
    }
}

/// The lowest local minima of g met along the scan grids, for refinement.
struct MinTracker {
    /// (g, k, left neighbour, right neighbour), ascending in g.
    cands: [(f64, f64, f64, f64); SCAN_REFINED_MINIMA],
    n: usize,
    /// g two points back and the previous point, along the current grid.
    prev2: f64,
    prev1: (f64, f64, f64, f64),
}

impl MinTracker {
    fn new() -> Self {
        MinTracker {
            cands: [(f64::INFINITY, f64::NAN, f64::NAN, f64::NAN); SCAN_REFINED_MINIMA],
            n: 0,
            prev2: f64::INFINITY,
            prev1: (f64::INFINITY, f64::NAN, f64::NAN, f64::NAN),
        }
    }

    /// Next grid point; a NaN `k` ends the current grid.
    fn push(&mut self, g: f64, k: f64, left: f64, right: f64) {
        let g = if k.is_nan() { f64::INFINITY } else { g };
        let p = self.prev1;
        if !p.1.is_nan() && p.0 <= self.prev2 && p.0 <= g {
            self.insert(p);
        }
        if k.is_nan() {
            self.prev2 = f64::INFINITY;
            self.prev1 = (f64::INFINITY, f64::NAN, f64::NAN, f64::NAN);
        } else {
            self.prev2 = p.0;
            self.prev1 = (g, k, left, right);
        }
    }

    fn insert(&mut self, c: (f64, f64, f64, f64)) {
        let mut i = self.n.min(SCAN_REFINED_MINIMA - 1);
        if self.n == SCAN_REFINED_MINIMA && c.0 >= self.cands[i].0 {
            return;
        }
        while i > 0 && self.cands[i - 1].0 > c.0 {
            self.cands[i] = self.cands[i - 1];
            i -= 1;
        }
        self.cands[i] = c;
        self.n = (self.n + 1).min(SCAN_REFINED_MINIMA);
    }
}

/// One market point of a slice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SliceQuote {
    /// Log-forward moneyness ln(K/F).
    pub k: f64,
    /// Implied volatility, decimal, > 0.
    pub implied_vol: f64,
    /// Fit weight, ≥ 0 (e.g. vega / spread); normalized internally; 0 ignores the quote.
    pub weight: f64,
}

/// Options of [`fit_svi`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SviFitOptions {
    /// Nelder–Mead starts of the outer (m, σ) search, ≥ 1 (default 3).
    pub starts: usize,
    /// Iteration budget of each Nelder–Mead start, ≥ 1 (default 200).
    pub max_outer_iterations: usize,
    /// Nelder–Mead stops when its simplex spans less than this in m and in ln σ
    /// (default 1e-5), > 0.
    pub outer_tolerance: f64,
    /// Polish all five parameters in implied-vol space (default true).
    pub polish: bool,
    /// Iteration budget of Levenberg–Marquardt in the first penalty round (default 100; half
    /// of it in each later round).
    pub max_polish_iterations: usize,
    /// Lower bound of σ (default 1e-4), > 0.
    pub sigma_min: f64,
    /// Upper bound of σ (default 2.0), > `sigma_min`.
    pub sigma_max: f64,
    /// Bound on |ρ| (default 0.999), in (0, 1).
    pub rho_max: f64,
    /// Bound on the wing slopes b·(1 + |ρ|) (default 2.0, Lee's bound), in (0, 2].
    pub max_wing_slope: f64,
}

impl Default for SviFitOptions {
    fn default() -> Self {
        SviFitOptions {
            starts: 3,
            max_outer_iterations: 200,
            outer_tolerance: 1e-5,
            polish: true,
            max_polish_iterations: 100,
            sigma_min: 1e-4,
            sigma_max: 2.0,
            rho_max: 0.999,
            max_wing_slope: LEE_MAX_WING_SLOPE,
        }
    }
}

impl SviFitOptions {
    fn check(&self) -> Result<(), SviError> {
        let bad = |field, reason| Err(SviError::InvalidOptions { field, reason });
        if self.starts == 0 {
            return bad("starts", "must be >= 1");
        }
        if self.max_outer_iterations == 0 {
            return bad("max_outer_iterations", "must be >= 1");
        }
        if !(self.outer_tolerance.is_finite() && self.outer_tolerance > 0.0) {
            return bad("outer_tolerance", "must be finite and > 0");
        }
        if !(self.sigma_min.is_finite() && self.sigma_min > 0.0) {
            return bad("sigma_min", "must be finite and > 0");
        }
        if !(self.sigma_max.is_finite() && self.sigma_max > self.sigma_min) {
            return bad("sigma_max", "must be finite and > sigma_min");
        }
        if !(self.rho_max > 0.0 && self.rho_max < 1.0) {
            return bad("rho_max", "must be in (0, 1)");
        }
        if !(self.max_wing_slope > 0.0 && self.max_wing_slope <= LEE_MAX_WING_SLOPE) {
            return bad("max_wing_slope", "must be in (0, 2]");
        }
        Ok(())
    }
}

/// A fitted slice.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SviFit {
    /// The fitted parameters (they pass [`SviParams::validate`]).
    pub params: SviParams,
    /// Time to expiry of the slice, years.
    pub t: f64,
    /// Weighted root-mean-square implied-vol error in vol points:
    /// 100·√(Σ ŵᵢ·(σ_SVI(kᵢ) − σᵢ)²) with the weights normalized to sum 1 (the square root
    /// of the minimized objective).
    pub rmse_vol_points: f64,
    /// Largest |σ_SVI(kᵢ) − σᵢ| in vol points over the quotes with positive weight.
    pub max_abs_error_vol_points: f64,
    /// Butterfly scan of the fitted slice over the quoted k range.
    pub butterfly: ButterflyReport,
    /// Optimizer iterations: Nelder–Mead over all starts plus Levenberg–Marquardt.
    pub iterations: usize,
    /// Quotes used (positive weight).
    pub n_quotes: usize,
}

#[derive(Debug, Clone, Copy)]
struct Point {
    k: f64,
    vol: f64,
    /// Normalized implied-vol weight ŵ.
    wv: f64,
    /// √ŵ.
    sw: f64,
    /// Market total variance σ²t.
    v: f64,
    /// Total-variance weight ŵ/(2σt)².
    om: f64,
}

/// Fits a raw-SVI slice to implied volatilities, free of butterfly arbitrage and within Lee's
/// bound (see the [module documentation](self) for the algorithm).
///
/// `t` is the time to expiry in years; each quote gives k = ln(K/F), its implied volatility and
/// a weight.
///
/// # Errors
/// - [`SviError::InvalidMaturity`] for `t` not finite and > 0;
/// - [`SviError::InvalidQuote`] for a non-finite k, a vol not finite and > 0, a weight not
///   finite and ≥ 0, or σ²t not finite;
/// - [`SviError::TooFewQuotes`] for fewer than [`MIN_DISTINCT_QUOTES`] distinct k with
///   positive weight;
/// - [`SviError::InvalidOptions`] for options out of their domains;
/// - [`SviError::NoConvergence`] when no optimizer stage met its tolerance within its budget or
///   no finite candidate was found.
pub fn fit_svi(t: f64, quotes: &[SliceQuote], opts: &SviFitOptions) -> Result<SviFit, SviError> {
    if !(t.is_finite() && t > 0.0) {
        return Err(SviError::InvalidMaturity { t });
    }
    opts.check()?;
    let mut w_max = 0.0f64;
    for (index, q) in quotes.iter().enumerate() {
        let bad = |reason| Err(SviError::InvalidQuote { index, reason });
        if !q.k.is_finite() {
            return bad("log-moneyness k is not finite");
        }
        if !(q.implied_vol.is_finite() && q.implied_vol > 0.0) {
            return bad("implied vol must be finite and > 0");
        }
        if !(q.weight.is_finite() && q.weight >= 0.0) {
            return bad("weight must be finite and >= 0");
        }
        if !(q.implied_vol * q.implied_vol * t).is_finite() {
            return bad("total variance vol²·t overflows");
        }
        w_max = w_max.max(q.weight);
    }
    let mut pts: Vec<Point> = quotes
        .iter()
        .filter(|q| q.weight > 0.0)
        .map(|q| Point {
            k: q.k,
            vol: q.implied_vol,
            wv: q.weight / w_max,
            sw: 0.0,
            v: q.implied_vol * q.implied_vol * t,
            om: 0.0,
        })
        .collect();
    pts.sort_by(|a, b| a.k.total_cmp(&b.k));
    let distinct =
        pts.windows(2).filter(|p| p[0].k != p[1].k).count() + usize::from(!pts.is_empty());
    if distinct < MIN_DISTINCT_QUOTES {
        return Err(SviError::TooFewQuotes {
            distinct,
            required: MIN_DISTINCT_QUOTES,
        });
    }
    let total: f64 = pts.iter().map(|p| p.wv).sum();
    let mut om_total = 0.0;
    for p in &mut pts {
        p.wv /= total;
        p.sw = p.wv.sqrt();
        let d = 2.0 * p.vol * t;
        p.om = p.wv / (d * d);
        om_total += p.om;
    }
    // Normalizing ω changes no argmin; it keeps sums O(1).
    for p in &mut pts {
        p.om /= om_total;
    }
    let prob = Problem::new(&pts, t, opts);

    // Stages 1–2: quasi-explicit inner solve, outer search over (m, ln σ).
    let (qe, mut iterations, mut converged) = prob.outer_search(opts, OUTER_PENALTY);
    let Some(qe) = qe else {
        return Err(SviError::NoConvergence { iterations });
    };
    // Stages 3–4: polish and verify.
    let best = prob.finish(qe, opts);
    iterations += best.iterations;
    converged |= best.converged;
    let (p, butterfly) = (best.p, best.report);
    if !converged || !p.iter().all(|v| v.is_finite()) {
        return Err(SviError::NoConvergence { iterations });
    }
    let params = to_params(&p);
    let mut sse = 0.0;
    let mut max_err = 0.0f64;
    for q in &pts {
        let e = params.implied_vol(q.k, t) - q.vol;
        sse += q.wv * e * e;
        max_err = max_err.max(e.abs());
    }
    Ok(SviFit {
        params,
        t,
        rmse_vol_points: 100.0 * sse.sqrt(),
        max_abs_error_vol_points: 100.0 * max_err,
        butterfly,
        iterations,
        n_quotes: pts.len(),
    })
}

#[inline]
fn to_params(p: &[f64; 5]) -> SviParams {
    SviParams {
        a: p[0],
        b: p[1],
        rho: p[2],
        m: p[3],
        sigma: p[4],
    }
}

/// The prepared fitting problem.
struct Problem<'a> {
    pts: &'a [Point],
    t: f64,
    k_lo: f64,
    k_hi: f64,
    wing: f64,
    m_lo: f64,
    m_hi: f64,
    s_lo: f64,
    s_hi: f64,
    rho_max: f64,
    slope: f64,
    w_floor: f64,
    v_scale: f64,
    // Σω, Σω·k̄-centred moments for the inner problem.
    s0: f64,
    k_bar: f64,
    s_cc: f64,
    s_v: f64,
    s_vc: f64,
    s_vv: f64,
}

/// A verified slice.
struct Candidate {
    p: [f64; 5],
    report: ButterflyReport,
    iterations: usize,
    converged: bool,
}

struct LmResult {
    p: [f64; 5],
    iterations: usize,
    converged: bool,
}

impl<'a> Problem<'a> {
    fn new(pts: &'a [Point], t: f64, opts: &SviFitOptions) -> Self {
        let k_lo = pts[0].k;
        let k_hi = pts[pts.len() - 1].k;
        let widen = (0.5 * (k_hi - k_lo)).max(0.05);
        let s0: f64 = pts.iter().map(|p| p.om).sum();
        let k_bar = pts.iter().map(|p| p.om * p.k).sum::<f64>() / s0;
        let (mut s_cc, mut s_v, mut s_vc, mut s_vv) = (0.0, 0.0, 0.0, 0.0);
        let mut v_min = f64::INFINITY;
        let mut v_mean = 0.0;
        for p in pts {
            let c = p.k - k_bar;
            s_cc += p.om * c * c;
            s_v += p.om * p.v;
            s_vc += p.om * p.v * c;
            s_vv += p.om * p.v * p.v;
            v_min = v_min.min(p.v);
            v_mean += p.wv * p.v;
        }
        Problem {
            pts,
            t,
            k_lo,
            k_hi,
            wing: SCAN_WING_FACTOR * k_lo.abs().max(k_hi.abs()).max(1.0),
            m_lo: k_lo - widen,
            m_hi: k_hi + widen,
            s_lo: opts.sigma_min,
            s_hi: opts.sigma_max,
            rho_max: opts.rho_max,
            slope: opts.max_wing_slope * (1.0 - 1e-9),
            w_floor: 1e-4 * v_min,
            v_scale: v_mean,
            s0,
            k_bar,
            s_cc,
            s_v,
            s_vc,
            s_vv,
        }
    }

    /// Data cost Σ ŵ·(σ_SVI − σ)² (+∞ where w ≤ 0 at a quote).
    fn cost(&self, p: &[f64; 5]) -> f64 {
        let sp = to_params(p);
        let mut c = 0.0;
        for q in self.pts {
            let w = sp.total_variance(q.k);
            if w.is_nan() || w <= 0.0 {
                return f64::INFINITY;
            }
            let e = (w / self.t).sqrt() - q.vol;
            c += q.wv * e * e;
        }
        c
    }

    fn report(&self, p: &[f64; 5]) -> ButterflyReport {
        to_params(p).butterfly_check(self.k_lo, self.k_hi)
    }

    /// Inner quasi-explicit problem at fixed (m, s): returns the weighted total-variance SSE and
    /// the parameters, or None when the QP has no solution.
    fn inner(&self, m: f64, s: f64) -> Option<(f64, [f64; 5])> {
        let s2 = s * s;
        let (mut s_r, mut s_xr, mut s_vr) = (0.0, 0.0, 0.0);
        for p in self.pts {
            let x = p.k - m;
            let r = (x * x + s2).sqrt();
            let o = p.om * r;
            s_r += o;
            s_xr += o * x;
            s_vr += o * p.v;
        }
        let dk = self.k_bar - m;
        let s_x = self.s0 * dk;
        let s_xx = self.s_cc + self.s0 * dk * dk;
        let s_vx = self.s_vc + self.s_v * dk;
        // Variables (a, p = bρ, q = b); basis (1, x, R).
        let a = [
            [self.s0, s_x, s_r],
            [s_x, s_xx, s_xr],
            [s_r, s_xr, s_xx + s2 * self.s0],
        ];
        let r = [self.s_v, s_vx, s_vr];
        let rm = self.rho_max;
        let l = self.slope;
        // |bρ| ≤ ρ_max·b, Lee on both wings, and w_min ≥ w_floor through the chords of the
        // concave √(1 − r²) (r = ρ) between the nodes ρ_max·POSITIVITY_NODES: each chord
        // α + β·r lies below √(1 − r²) on its piece, so a + σ·(α·b + β·bρ) ≥ w_floor for all
        // pieces implies a + b·σ·√(1 − ρ²) ≥ w_floor.
        let mut g = [[0.0; 3]; N_CONSTRAINTS];
        let mut h = [0.0; N_CONSTRAINTS];
        g[0] = [0.0, 1.0, -rm];
        g[1] = [0.0, -1.0, -rm];
        g[2] = [0.0, 1.0, 1.0];
        g[3] = [0.0, -1.0, 1.0];
        h[2] = l;
        h[3] = l;
        for (j, pair) in POSITIVITY_NODES.windows(2).enumerate() {
            let (r0, r1) = (rm * pair[0], rm * pair[1]);
            let (f0, f1) = ((1.0 - r0 * r0).sqrt(), (1.0 - r1 * r1).sqrt());
            let beta = (f1 - f0) / (r1 - r0);
            let alpha = f0 - beta * r0;
            g[4 + j] = [-1.0, -s * beta, -s * alpha];
            h[4 + j] = -self.w_floor;
        }
        let x = qp3(&a, &r, &g, &h)?;
        let mut f = self.s_vv - 2.0 * (r[0] * x[0] + r[1] * x[1] + r[2] * x[2]);
        for i in 0..3 {
            for j in 0..3 {
                f += x[i] * a[i][j] * x[j];
            }
        }
        // Back to raw parameters, clamped onto the constraints against rounding.
        let b = x[2].max(0.0);
        let rho = if b > 0.0 {
            (x[1] / b).clamp(-rm, rm)
        } else {
            0.0
        };
        Some((f, [x[0], b, rho, m, s]))
    }

    fn outer_objective(&self, z: [f64; 2], mu: f64) -> f64 {
        match self.inner(z[0], z[1].exp()) {
            Some((f, p)) if f.is_finite() => f + mu * self.outer_penalty(&p),
            _ => f64::INFINITY,
        }
    }

    /// Butterfly penalty of the outer search (before its weight): s_vv·Σ min(1, max(0, 10⁻⁵ − g))²
    /// on a coarse grid
    /// (21 points over the quotes, 11 over the scan wings, 9 over m ± 6σ). It steers the
    /// search away from (m, σ) whose linear fit only matches the quotes with arbitrage.
    fn outer_penalty(&self, p: &[f64; 5]) -> f64 {
        let sp = to_params(p);
        let local = POLISH_LOCAL_HALF_WIDTH * sp.sigma;
        let grids = [
            (self.k_lo, self.k_hi, OUTER_RANGE_POINTS),
            (-self.wing, self.wing, OUTER_WING_POINTS),
            (sp.m - local, sp.m + local, OUTER_LOCAL_POINTS),
        ];
        let mut pen = 0.0;
        for (a, b, n) in grids {
            let step = (b - a) / (n - 1) as f64;
            for j in 0..n {
                // NaN counts as the worst violation.
                let g = sp.density_g(a + step * j as f64);
                let g = if g.is_nan() { f64::NEG_INFINITY } else { g };
                if g < G_MARGIN {
                    let e = (G_MARGIN - g).min(1.0);
                    pen += e * e;
                }
            }
        }
        self.s_vv * pen
    }

    /// Grid + multi-start Nelder–Mead over (m, ln s). Returns the best parameters, the
    /// iterations and whether any start converged.
    fn outer_search(&self, opts: &SviFitOptions, mu: f64) -> (Option<[f64; 5]>, usize, bool) {
        let u_lo = self.s_lo.ln();
        let u_hi = self.s_hi.ln();
        let u_grid_lo = self.s_lo.max(1e-3).min(self.s_hi).ln();
        let mut grid = [[0.0f64; GRID_S]; GRID_M];
        let m_at = |i: usize| self.k_lo + (self.k_hi - self.k_lo) * i as f64 / (GRID_M - 1) as f64;
        let u_at = |j: usize| u_grid_lo + (u_hi - u_grid_lo) * j as f64 / (GRID_S - 1) as f64;
        for (i, row) in grid.iter_mut().enumerate() {
            for (j, cell) in row.iter_mut().enumerate() {
                *cell = self.outer_objective([m_at(i), u_at(j)], mu);
            }
        }
        // Starts: grid points by increasing objective, skipping neighbours (8-neighbourhood)
        // of points already taken, so that the starts explore distinct basins.
        let mut cand: [(f64, usize, usize); GRID_M * GRID_S] =
            [(f64::INFINITY, 0, 0); GRID_M * GRID_S];
        for i in 0..GRID_M {
            for j in 0..GRID_S {
                cand[i * GRID_S + j] = (grid[i][j], i, j);
            }
        }
        cand.sort_by(|x, y| x.0.total_cmp(&y.0));
        let mut starts = [(0usize, 0usize); GRID_M * GRID_S];
        let mut n_starts = 0;
        for &(f, i, j) in &cand {
            if n_starts == opts.starts.min(starts.len()) || !f.is_finite() {
                break;
            }
            if starts[..n_starts]
                .iter()
                .all(|&(si, sj)| si.abs_diff(i) > 1 || sj.abs_diff(j) > 1)
            {
                starts[n_starts] = (i, j);
                n_starts += 1;
            }
        }
        let step = [
            (0.5 * (self.k_hi - self.k_lo) / (GRID_M - 1) as f64).max(1e-3),
            0.5 * (u_hi - u_grid_lo) / (GRID_S - 1) as f64,
        ];
        let lo = [self.m_lo, u_lo];
        let hi = [self.m_hi, u_hi];
        let mut best: Option<([f64; 2], f64)> = None;
        let mut iters = 0;
        let mut converged = false;
        for &(i, j) in &starts[..n_starts] {
            let res = nelder_mead(
                |z| self.outer_objective(z, mu),
                [m_at(i), u_at(j)],
                step,
                lo,
                hi,
                opts.max_outer_iterations,
                opts.outer_tolerance,
            );
            iters += res.iterations;
            converged |= res.converged;
            if best.is_none_or(|b| res.f < b.1) {
                best = Some((res.x, res.f));
            }
        }
        let params = best.and_then(|(z, _)| self.inner(z[0], z[1].exp()).map(|(_, p)| p));
        (params, iters, converged)
    }

    /// Stages 3–4 from a quasi-explicit slice: polish (if enabled) and verify, with the
    /// fallbacks of the module documentation. The result is verified arbitrage-free.
    fn finish(&self, qe: [f64; 5], opts: &SviFitOptions) -> Candidate {
        let mut iterations = 0;
        let mut converged = false;
        if !opts.polish {
            let p = self.snap(qe);
            let report = self.report(&p);
            let p = if report.arbitrage_free {
                p
            } else {
                self.shrink_to_feasible(p)
            };
            return self.candidate(p, iterations, converged);
        }
        // Exchange rounds with a growing penalty: each failed scan adds its worst k to the
        // penalty points.
        let mut extra = [0.0f64; POLISH_ROUNDS];
        let mut n_extra = 0;
        let mut p = self.project(qe);
        for round in 0..POLISH_ROUNDS {
            let mu = PENALTY_START * PENALTY_GROWTH.powi(round.min(PENALTY_STEPS) as i32);
            let budget = if round == 0 {
                opts.max_polish_iterations
            } else {
                opts.max_polish_iterations.div_ceil(2)
            };
            let lm = self.levenberg_marquardt(p, mu, &extra[..n_extra], budget);
            iterations += lm.iterations;
            converged |= lm.converged;
            p = self.snap(lm.p);
            let report = self.report(&p);
            if report.arbitrage_free {
                return Candidate {
                    p,
                    report,
                    iterations,
                    converged,
                };
            }
            if report.at_k.is_finite() {
                extra[n_extra] = report.at_k;
                n_extra += 1;
            }
        }
        // Fall back on the best verified candidate: the polished slice or the quasi-explicit
        // one with b shrunk towards a flat smile, and the largest verified step from the
        // latter towards the polished slice.
        let q = self.snap(qe);
        let base = if self.report(&q).arbitrage_free {
            q
        } else {
            self.shrink_to_feasible(q)
        };
        let shrunk = self.shrink_to_feasible(p);
        let step = self.repair(base, p);
        let best = [base, shrunk, step]
            .into_iter()
            .map(|c| (self.cost(&c), c))
            .min_by(|x, y| x.0.total_cmp(&y.0))
            .map_or(base, |x| x.1);
        self.candidate(best, iterations, converged)
    }

    fn candidate(&self, p: [f64; 5], iterations: usize, converged: bool) -> Candidate {
        Candidate {
            p,
            report: self.report(&p),
            iterations,
            converged,
        }
    }

    /// Box constraints by projection.
    fn project(&self, mut p: [f64; 5]) -> [f64; 5] {
        p[1] = p[1].max(0.0);
        p[2] = p[2].clamp(-self.rho_max, self.rho_max);
        p[3] = p[3].clamp(self.m_lo, self.m_hi);
        p[4] = p[4].clamp(self.s_lo, self.s_hi);
        p
    }

    /// Projection, then the coupled constraints: Lee's bound (b shrunk), variance floor
    /// (a raised).
    fn snap(&self, p: [f64; 5]) -> [f64; 5] {
        let mut p = self.project(p);
        let cap = self.slope / (1.0 + p[2].abs());
        if p[1] > cap {
            p[1] = cap;
        }
        let wm = p[0] + p[1] * p[4] * (1.0 - p[2] * p[2]).sqrt();
        if wm < self.w_floor {
            p[0] += self.w_floor - wm;
        }
        p
    }

    /// Shrinks b at fixed w(m) towards a flat smile (g ≡ 1) until the scan passes.
    fn shrink_to_feasible(&self, p: [f64; 5]) -> [f64; 5] {
        let mut level = p[0] + p[1] * p[4];
        if !(level > 0.0 && level.is_finite()) {
            level = self.v_scale.max(self.w_floor);
        }
        let at = |lam: f64| {
            let b = lam * p[1];
            [level - b * p[4], b, p[2], p[3], p[4]]
        };
        if self.report(&at(1.0)).arbitrage_free {
            return at(1.0);
        }
        let (mut lo, mut hi) = (0.0, 1.0);
        for _ in 0..REPAIR_BISECTIONS {
            let mid = 0.5 * (lo + hi);
            if self.report(&at(mid)).arbitrage_free {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        at(lo)
    }

    /// The largest verified point on the segment from the verified `base` towards `target`.
    fn repair(&self, base: [f64; 5], target: [f64; 5]) -> [f64; 5] {
        let at = |lam: f64| {
            let mut p = [0.0; 5];
            for j in 0..5 {
                p[j] = base[j] + lam * (target[j] - base[j]);
            }
            self.snap(p)
        };
        let (mut lo, mut hi) = (0.0, 1.0);
        for _ in 0..REPAIR_BISECTIONS {
            let mid = 0.5 * (lo + hi);
            if self.report(&at(mid)).arbitrage_free {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        if lo == 0.0 { base } else { at(lo) }
    }

    /// Visits the k of the polishing grid for the g penalty.
    #[inline]
    fn polish_grid(&self, m: f64, s: f64, extra: &[f64], mut f: impl FnMut(f64)) {
        for &k in extra {
            f(k);
        }
        let local = POLISH_LOCAL_HALF_WIDTH * s;
        let grids = [
            (self.k_lo, self.k_hi, POLISH_RANGE_POINTS),
            (-self.wing, self.wing, POLISH_WING_POINTS),
            (m - local, m + local, POLISH_LOCAL_POINTS),
        ];
        for (a, b, n) in grids {
            let step = (b - a) / (n - 1) as f64;
            for j in 0..n {
                f(a + step * j as f64);
            }
        }
    }

    /// Penalized cost; with `normal`, accumulates JᵀJ (upper triangle) and Jᵀr.
    fn penalized(
        &self,
        p: &[f64; 5],
        mu: f64,
        extra: &[f64],
        mut normal: Option<(&mut [[f64; 5]; 5], &mut [f64; 5])>,
    ) -> f64 {
        let [a, b, rho, m, s] = *p;
        let s2 = s * s;
        let mut cost = 0.0;
        let want = normal.is_some();
        let mut add = |res: f64, jac: &[f64; 5], cost: &mut f64| {
            *cost += res * res;
            if let Some((jtj, jtr)) = normal.as_mut() {
                for i in 0..5 {
                    jtr[i] += jac[i] * res;
                    for j in i..5 {
                        jtj[i][j] += jac[i] * jac[j];
                    }
                }
            }
        };
        for q in self.pts {
            let x = q.k - m;
            let r = (x * x + s2).sqrt();
            let w = a + b * (rho * x + r);
            if w.is_nan() || w <= 0.0 {
                return f64::INFINITY;
            }
            let sig = (w / self.t).sqrt();
            let res = q.sw * (sig - q.vol);
            if want {
                let c = q.sw / (2.0 * self.t * sig);
                let jac = [
                    c,
                    c * (rho * x + r),
                    c * b * x,
                    -c * b * (rho + x / r),
                    c * b * s / r,
                ];
                add(res, &jac, &mut cost);
            } else {
                cost += res * res;
            }
        }
        let smu = mu.sqrt();
        // Lee's bound.
        let e = b * (1.0 + rho.abs()) - self.slope;
        if e > 0.0 {
            add(
                smu * e,
                &[
                    0.0,
                    smu * (1.0 + rho.abs()),
                    smu * b * rho.signum(),
                    0.0,
                    0.0,
                ],
                &mut cost,
            );
        }
        // Variance floor.
        let cr = (1.0 - rho * rho).max(0.0).sqrt();
        let e = (self.w_floor - (a + b * s * cr)) / self.v_scale;
        if e > 0.0 {
            let c = -smu / self.v_scale;
            let drho = if cr > 0.0 { -b * s * rho / cr } else { 0.0 };
            add(
                smu * e,
                &[c, c * s * cr, c * drho, 0.0, c * b * cr],
                &mut cost,
            );
        }
        // g ≥ margin on the polishing grid and the extra points.
        let mut bad = false;
        self.polish_grid(m, s, extra, |k| {
            if bad {
                return;
            }
            let (g, grad) = g_and_gradient(p, k);
            if !g.is_finite() {
                bad = true;
                return;
            }
            let e = G_MARGIN - g;
            if e > 0.0 {
                let jac = [
                    -smu * grad[0],
                    -smu * grad[1],
                    -smu * grad[2],
                    -smu * grad[3],
                    -smu * grad[4],
                ];
                add(smu * e, &jac, &mut cost);
            }
        });
        if bad { f64::INFINITY } else { cost }
    }

    #[allow(clippy::needless_range_loop)] // Small dense matrices: indices mirror the formulas.
    fn levenberg_marquardt(
        &self,
        p0: [f64; 5],
        mu: f64,
        extra: &[f64],
        max_iter: usize,
    ) -> LmResult {
        let mut p = p0;
        let mut jtj = [[0.0; 5]; 5];
        let mut jtr = [0.0; 5];
        let mut cost = self.penalized(&p, mu, extra, Some((&mut jtj, &mut jtr)));
        if !cost.is_finite() {
            return LmResult {
                p,
                iterations: 0,
                converged: false,
            };
        }
        let mut lambda = 1e-3;
        let mut converged = false;
        let mut iterations = 0;
        // Costs of the last accepted iterates, for the stagnation test.
        let mut history = [f64::INFINITY; STAGNATION_WINDOW];
        while iterations < max_iter {
            iterations += 1;
            if cost <= 1e-30 {
                converged = true;
                break;
            }
            // Solve (JᵀJ + λ·diag(JᵀJ)) δ = −Jᵀr; retry with larger λ until a step helps.
            let mut accepted = false;
            while lambda <= 1e16 {
                let mut mat = jtj;
                for i in 0..5 {
                    for j in 0..i {
                        mat[i][j] = mat[j][i];
                    }
                    mat[i][i] += lambda * jtj[i][i].max(1e-300) + 1e-300;
                }
                let rhs = [-jtr[0], -jtr[1], -jtr[2], -jtr[3], -jtr[4]];
                let Some(delta) = cholesky_solve5(&mat, &rhs) else {
                    lambda *= 10.0;
                    continue;
                };
                let mut trial = p;
                for j in 0..5 {
                    trial[j] += delta[j];
                }
                let trial = self.project(trial);
                let c_new = self.penalized(&trial, mu, extra, None);
                if c_new < cost {
                    let small_step =
                        (0..5).all(|j| (trial[j] - p[j]).abs() <= 1e-12 * (p[j].abs() + 1e-8));
                    let small_gain = cost - c_new <= 1e-9 * cost;
                    let oldest = history[iterations % STAGNATION_WINDOW];
                    history[iterations % STAGNATION_WINDOW] = c_new;
                    let stagnant = oldest - c_new <= 1e-6 * c_new;
                    p = trial;
                    jtj = [[0.0; 5]; 5];
                    jtr = [0.0; 5];
                    cost = self.penalized(&p, mu, extra, Some((&mut jtj, &mut jtr)));
                    lambda = (lambda / 3.0).max(1e-12);
                    accepted = true;
                    if small_step || small_gain || stagnant {
                        converged = true;
                    }
                    break;
                }
                lambda *= 4.0;
            }
            if !accepted {
                // No step reduces the cost: a stationary point to working precision.
                converged = true;
                break;
            }
            if converged {
                break;
            }
        }
        LmResult {
            p,
            iterations,
            converged,
        }
    }
}

/// g(k) and its gradient with respect to (a, b, ρ, m, σ).
#[inline]
fn g_and_gradient(p: &[f64; 5], k: f64) -> (f64, [f64; 5]) {
    let [a, b, rho, m, s] = *p;
    let x = k - m;
    let r2 = x * x + s * s;
    let r = r2.sqrt();
    let ir = 1.0 / r;
    let ir3 = ir / r2;
    let w = a + b * (rho * x + r);
    if w.is_nan() || w <= 0.0 {
        return (f64::NEG_INFINITY, [0.0; 5]);
    }
    let w1 = b * (rho + x * ir);
    let w2 = b * s * s * ir3;
    let dw = [1.0, rho * x + r, b * x, -w1, b * s * ir];
    let dw1 = [0.0, rho + x * ir, b, -b * s * s * ir3, -b * x * s * ir3];
    let ir5 = ir3 / r2;
    let dw2 = [
        0.0,
        s * s * ir3,
        0.0,
        3.0 * b * s * s * x * ir5,
        b * (2.0 * s * ir3 - 3.0 * s * s * s * ir5),
    ];
    let iw = 1.0 / w;
    let u = 1.0 - 0.5 * k * w1 * iw;
    let g = u * u - 0.25 * w1 * w1 * (iw + 0.25) + 0.5 * w2;
    let g_w = u * k * w1 * iw * iw + 0.25 * w1 * w1 * iw * iw;
    let g_w1 = -u * k * iw - 0.5 * w1 * (iw + 0.25);
    let mut grad = [0.0; 5];
    for j in 0..5 {
        grad[j] = g_w * dw[j] + g_w1 * dw1[j] + 0.5 * dw2[j];
    }
    (g, grad)
}

/// Solves the symmetric positive definite 5×5 system by Cholesky; None if not positive definite.
#[allow(clippy::needless_range_loop)] // Small dense matrices: indices mirror the formulas.
fn cholesky_solve5(a: &[[f64; 5]; 5], b: &[f64; 5]) -> Option<[f64; 5]> {
    let mut l = [[0.0f64; 5]; 5];
    for i in 0..5 {
        for j in 0..=i {
            let mut s = a[i][j];
            for k in 0..j {
                s -= l[i][k] * l[j][k];
            }
            if i == j {
                if !(s.is_finite() && s > 0.0) {
                    return None;
                }
                l[i][i] = s.sqrt();
            } else {
                l[i][j] = s / l[j][j];
            }
        }
    }
    let mut y = [0.0; 5];
    for i in 0..5 {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i][k] * y[k];
        }
        y[i] = s / l[i][i];
    }
    let mut x = [0.0; 5];
    for i in (0..5).rev() {
        let mut s = y[i];
        for k in i + 1..5 {
            s -= l[k][i] * x[k];
        }
        x[i] = s / l[i][i];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// Minimizes xᵀAx − 2rᵀx subject to G·x ≤ h (3 variables, 6 constraints, A positive
/// definite or semi-definite) by active-set enumeration: subsets of size 0..=3 in order, the
/// first Karush–Kuhn–Tucker point is the optimum; otherwise the best feasible candidate.
#[allow(clippy::needless_range_loop)] // Small dense matrices: indices mirror the formulas.
fn qp3(
    a: &[[f64; 3]; 3],
    r: &[f64; 3],
    g: &[[f64; 3]; N_CONSTRAINTS],
    h: &[f64; N_CONSTRAINTS],
) -> Option<[f64; 3]> {
    // Jacobi scaling: x = D·y with D = diag(A)^{-1/2}; constraint rows normalized.
    let mut d = [0.0; 3];
    for i in 0..3 {
        if !(a[i][i] > 0.0 && a[i][i].is_finite()) {
            return None;
        }
        d[i] = 1.0 / a[i][i].sqrt();
    }
    let mut as_ = [[0.0; 3]; 3];
    let mut rs = [0.0; 3];
    for i in 0..3 {
        rs[i] = r[i] * d[i];
        for j in 0..3 {
            as_[i][j] = a[i][j] * d[i] * d[j];
        }
    }
    const N: usize = N_CONSTRAINTS;
    let mut gs = [[0.0; 3]; N];
    let mut hs = [0.0; N];
    for c in 0..N {
        let row = [g[c][0] * d[0], g[c][1] * d[1], g[c][2] * d[2]];
        let n = (row[0] * row[0] + row[1] * row[1] + row[2] * row[2]).sqrt();
        if n.is_nan() || n <= 0.0 {
            return None;
        }
        gs[c] = [row[0] / n, row[1] / n, row[2] / n];
        hs[c] = h[c] / n;
    }
    let objective = |y: &[f64; 3]| {
        let mut f = -2.0 * (rs[0] * y[0] + rs[1] * y[1] + rs[2] * y[2]);
        for i in 0..3 {
            for j in 0..3 {
                f += y[i] * as_[i][j] * y[j];
            }
        }
        f
    };
    let mut best: Option<([f64; 3], f64)> = None;
    // Subsets of the constraints of sizes 0..=3, smallest first.
    let mut set = [0usize; 3];
    for size in 0..=3usize {
        let mut idx = [0usize, 1, 2];
        loop {
            set[..size].copy_from_slice(&idx[..size]);
            if let Some((y, mult)) = kkt_solve(&as_, &rs, &gs, &hs, &set[..size]) {
                let scale = 1.0 + y.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                let feasible = (0..N).all(|c| {
                    gs[c][0] * y[0] + gs[c][1] * y[1] + gs[c][2] * y[2]
                        <= hs[c] + 1e-10 * (scale + hs[c].abs())
                });
                if feasible {
                    if mult[..size].iter().all(|&u| u >= -1e-12 * scale) {
                        return Some([y[0] * d[0], y[1] * d[1], y[2] * d[2]]);
                    }
                    let f = objective(&y);
                    if best.is_none_or(|b| f < b.1) {
                        best = Some((y, f));
                    }
                }
            }
            // Next combination of `size` indices out of N.
            if size == 0 {
                break;
            }
            let mut i = size;
            loop {
                if i == 0 {
                    break;
                }
                i -= 1;
                if idx[i] < N - size + i {
                    idx[i] += 1;
                    for j in i + 1..size {
                        idx[j] = idx[j - 1] + 1;
                    }
                    i = usize::MAX;
                    break;
                }
            }
            if i != usize::MAX {
                break;
            }
        }
    }
    best.map(|(y, _)| [y[0] * d[0], y[1] * d[1], y[2] * d[2]])
}

/// Solves A·y + Gₛᵀ·u = r, Gₛ·y = hₛ for the active set `set` by Gaussian elimination with
/// partial pivoting. Returns (y, u) or None when singular.
#[allow(clippy::needless_range_loop)] // Small dense matrices: indices mirror the formulas.
fn kkt_solve(
    a: &[[f64; 3]; 3],
    r: &[f64; 3],
    g: &[[f64; 3]; N_CONSTRAINTS],
    h: &[f64; N_CONSTRAINTS],
    set: &[usize],
) -> Option<([f64; 3], [f64; 3])> {
    let n = 3 + set.len();
    let mut m = [[0.0f64; 7]; 6];
    for i in 0..3 {
        m[i][..3].copy_from_slice(&a[i]);
        for (c, &s) in set.iter().enumerate() {
            m[i][3 + c] = g[s][i];
        }
        m[i][n] = r[i];
    }
    for (c, &s) in set.iter().enumerate() {
        m[3 + c][..3].copy_from_slice(&g[s]);
        m[3 + c][n] = h[s];
    }
    for col in 0..n {
        let mut piv = col;
        for row in col + 1..n {
            if m[row][col].abs() > m[piv][col].abs() {
                piv = row;
            }
        }
        if m[piv][col].is_nan() || m[piv][col].abs() <= 1e-12 {
            return None;
        }
        m.swap(col, piv);
        let inv = 1.0 / m[col][col];
        for row in col + 1..n {
            let f = m[row][col] * inv;
            if f != 0.0 {
                for j in col..=n {
                    m[row][j] -= f * m[col][j];
                }
            }
        }
    }
    let mut sol = [0.0f64; 6];
    for i in (0..n).rev() {
        let mut s = m[i][n];
        for j in i + 1..n {
            s -= m[i][j] * sol[j];
        }
        sol[i] = s / m[i][i];
    }
    if !sol[..n].iter().all(|v| v.is_finite()) {
        return None;
    }
    Some(([sol[0], sol[1], sol[2]], [sol[3], sol[4], sol[5]]))
}

struct NmResult {
    x: [f64; 2],
    f: f64,
    iterations: usize,
    converged: bool,
}

/// Nelder–Mead in two dimensions, points clamped to the box [lo, hi]; stops when the simplex
/// spans at most `xtol` in each coordinate.
fn nelder_mead(
    mut f: impl FnMut([f64; 2]) -> f64,
    x0: [f64; 2],
    step: [f64; 2],
    lo: [f64; 2],
    hi: [f64; 2],
    max_iter: usize,
    xtol: f64,
) -> NmResult {
    let clamp = |x: [f64; 2]| [x[0].clamp(lo[0], hi[0]), x[1].clamp(lo[1], hi[1])];
    let mut eval = |x: [f64; 2]| {
        let v = f(x);
        if v.is_nan() { f64::INFINITY } else { v }
    };
    let x0 = clamp(x0);
    let mut v = [x0, x0, x0];
    for d in 0..2 {
        let mut x = x0;
        x[d] += step[d];
        if x[d] > hi[d] {
            x[d] = x0[d] - step[d];
        }
        v[d + 1] = clamp(x);
    }
    let mut fv = [eval(v[0]), eval(v[1]), eval(v[2])];
    let mut iterations = 0;
    let mut converged = false;
    while iterations < max_iter {
        // Order: best, middle, worst.
        let mut o = [0usize, 1, 2];
        o.sort_by(|&i, &j| fv[i].total_cmp(&fv[j]));
        v = [v[o[0]], v[o[1]], v[o[2]]];
        fv = [fv[o[0]], fv[o[1]], fv[o[2]]];
        let span = (1..3).fold(0.0f64, |s, i| {
            s.max((v[i][0] - v[0][0]).abs())
                .max((v[i][1] - v[0][1]).abs())
        });
        if span <= xtol {
            converged = true;
            break;
        }
        iterations += 1;
        let c = [0.5 * (v[0][0] + v[1][0]), 0.5 * (v[0][1] + v[1][1])];
        let along = |t: f64| clamp([c[0] + t * (v[2][0] - c[0]), c[1] + t * (v[2][1] - c[1])]);
        let xr = along(-1.0);
        let fr = eval(xr);
        if fr < fv[0] {
            let xe = along(-2.0);
            let fe = eval(xe);
            if fe < fr {
                (v[2], fv[2]) = (xe, fe);
            } else {
                (v[2], fv[2]) = (xr, fr);
            }
            continue;
        }
        if fr < fv[1] {
            (v[2], fv[2]) = (xr, fr);
            continue;
        }
        let (xc, fc) = if fr < fv[2] {
            let xc = along(-0.5);
            (xc, eval(xc))
        } else {
            let xc = along(0.5);
            (xc, eval(xc))
        };
        if fc < fv[2].min(fr) {
            (v[2], fv[2]) = (xc, fc);
            continue;
        }
        // Shrink towards the best vertex.
        for i in 1..3 {
            v[i] = [0.5 * (v[0][0] + v[i][0]), 0.5 * (v[0][1] + v[i][1])];
            fv[i] = eval(v[i]);
        }
    }
    let b = (0..3).min_by(|&i, &j| fv[i].total_cmp(&fv[j])).unwrap_or(0);
    NmResult {
        x: v[b],
        f: fv[b],
        iterations,
        converged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EQUITY: SviParams = SviParams {
        a: 0.02,
        b: 0.1,
        rho: -0.7,
        m: 0.05,
        sigma: 0.15,
    };

    #[test]
    fn derivatives_match_finite_differences() {
        let p = EQUITY;
        for &k in &[-1.0, -0.3, 0.0, 0.05, 0.4, 1.5] {
            let h = 1e-5;
            let d1 = (p.total_variance(k + h) - p.total_variance(k - h)) / (2.0 * h);
            let d2 = (p.total_variance(k + h) - 2.0 * p.total_variance(k)
                + p.total_variance(k - h))
                / (h * h);
            assert!((d1 - p.dw_dk(k)).abs() < 1e-9, "{k}");
            assert!((d2 - p.d2w_dk2(k)).abs() < 1e-4, "{k}");
        }
    }

    #[test]
    fn g_gradient_matches_finite_differences() {
        let p = [EQUITY.a, EQUITY.b, EQUITY.rho, EQUITY.m, EQUITY.sigma];
        for &k in &[-0.8, -0.1, 0.05, 0.3, 1.2] {
            let (g, grad) = g_and_gradient(&p, k);
            assert!((g - EQUITY.density_g(k)).abs() < 1e-14);
            for j in 0..5 {
                let h = 1e-6 * p[j].abs().max(1e-3);
                let mut up = p;
                let mut dn = p;
                up[j] += h;
                dn[j] -= h;
                let fd = (to_params(&up).density_g(k) - to_params(&dn).density_g(k)) / (2.0 * h);
                assert!(
                    (fd - grad[j]).abs() < 1e-6 * (1.0 + fd.abs()),
                    "k {k} j {j}: {fd} vs {}",
                    grad[j]
                );
            }
        }
    }

    #[test]
    fn qp_matches_unconstrained_and_active() {
        // A = I, r = (1, 2, 3): unconstrained optimum x = r.
        let a = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        let r = [1.0, 2.0, 3.0];
        let far = [[1.0, 0.0, 0.0]; N_CONSTRAINTS];
        let h = [10.0; N_CONSTRAINTS];
        let x = qp3(&a, &r, &far, &h).unwrap();
        assert!(
            (x[0] - 1.0).abs() < 1e-14 && (x[1] - 2.0).abs() < 1e-14 && (x[2] - 3.0).abs() < 1e-14
        );
        // x2 + x1 ≤ 1 active: projection of (1,2,3) onto the plane → (1, 0, 1).
        let mut g = far;
        g[3] = [0.0, 1.0, 1.0];
        let mut h2 = h;
        h2[3] = 1.0;
        let x = qp3(&a, &r, &g, &h2).unwrap();
        assert!(
            (x[0] - 1.0).abs() < 1e-12 && x[1].abs() < 1e-12 && (x[2] - 1.0).abs() < 1e-12,
            "{x:?}"
        );
    }

    #[test]
    fn fallbacks_are_verified() {
        // Vogt's arbitrageable smile (Gatheral & Jacquier 2014, §3).
        let vogt = [-0.0410, 0.1331, 0.3060, 0.3586, 0.4153];
        let sp = to_params(&vogt);
        assert!(!sp.butterfly_check(-1.5, 1.5).arbitrage_free);
        let pts: Vec<Point> = (0..31)
            .map(|i| {
                let k = -1.5 + 0.1 * f64::from(i);
                let vol = sp.implied_vol(k, 1.0);
                let d = 2.0 * vol;
                Point {
                    k,
                    vol,
                    wv: 1.0 / 31.0,
                    sw: (1.0f64 / 31.0).sqrt(),
                    v: vol * vol,
                    om: 1.0 / (31.0 * d * d),
                }
            })
            .collect();
        let prob = Problem::new(&pts, 1.0, &SviFitOptions::default());
        let shrunk = prob.shrink_to_feasible(vogt);
        assert!(prob.report(&shrunk).arbitrage_free);
        assert!(
            shrunk[1] < vogt[1] && shrunk[1] > 0.5 * vogt[1],
            "{shrunk:?}"
        );
        let step = prob.repair(shrunk, vogt);
        assert!(prob.report(&step).arbitrage_free);
        assert!(prob.cost(&step) <= prob.cost(&shrunk));
    }

    #[test]
    fn nelder_mead_finds_quadratic_minimum() {
        let r = nelder_mead(
            |z| (z[0] - 0.3).powi(2) + 4.0 * (z[1] + 0.2).powi(2),
            [0.0, 0.0],
            [0.1, 0.1],
            [-1.0, -1.0],
            [1.0, 1.0],
            500,
            1e-9,
        );
        assert!(r.converged);
        assert!(
            (r.x[0] - 0.3).abs() < 1e-8 && (r.x[1] + 0.2).abs() < 1e-8,
            "{:?}",
            r.x
        );
    }
}
