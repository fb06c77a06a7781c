//! A volatility surface of raw-SVI slices across expiries.
//!
//! # Conventions
//! k = ln(K/F(t)) is the log-forward moneyness of the maturity asked for, t in years, total
//! implied variance w(t, k) = σ²·t, volatilities as decimals.
//!
//! # Interpolation and extrapolation in t
//! With slices at t₁ < t₂ < … < tₙ (total variances wᵢ(k)):
//! - at a slice's tᵢ: exactly wᵢ(k);
//! - between tᵢ and tᵢ₊₁: linear in t of total variance at the same k,
//!   w = wᵢ(k) + (t − tᵢ)/(tᵢ₊₁ − tᵢ)·(wᵢ₊₁(k) − wᵢ(k)). This keeps ∂w/∂t ≥ 0 (no calendar
//!   arbitrage) wherever the two slices are ordered, but a convex combination of two
//!   butterfly-free slices is not guaranteed butterfly-free in general (Gatheral & Jacquier
//!   2014, §5.3): check interpolated smiles where that matters;
//! - before t₁: w₁(k)·t/t₁ (the first slice's implied vol at fixed k held constant);
//! - after tₙ: wₙ(k)·t/tₙ (the last slice's implied vol at fixed k held constant).
//!
//! At t = 0 the total variance is 0; negative or non-finite t gives NaN.
//!
//! # Forwards
//! ln F is linear in t between the slices' forwards (constant carry over each interval).
//! Outside [t₁, tₙ] the carry of the nearest interval continues (flat carry extrapolation);
//! a single-slice surface has the constant forward F₁.
//!
//! # Calendar check
//! [`VolSurface::calendar_check`] flags every grid k where the total variance of a slice falls
//! below that of the previous slice by more than [`CALENDAR_TOLERANCE`]:
//! w(k, tᵢ₊₁) < w(k, tᵢ) − 10⁻¹⁰ (Gatheral & Jacquier 2014, Lemma 2.1: absence of calendar
//! arbitrage ⇔ w non-decreasing in t at fixed k).

use crate::svi::{SviError, SviParams};

/// Absolute tolerance in total variance of [`VolSurface::calendar_check`].
pub const CALENDAR_TOLERANCE: f64 = 1e-10;

/// One expiry of a surface.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SurfaceSlice {
    /// Time to expiry, years, > 0.
    pub t: f64,
    /// Forward price for this expiry, > 0.
    pub forward: f64,
    /// The slice's raw-SVI smile in k = ln(K/forward).
    pub params: SviParams,
}

/// SVI slices sorted by strictly increasing time to expiry.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VolSurface {
    slices: Vec<SurfaceSlice>,
}

/// A calendar-arbitrage violation between consecutive slices at one k.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalendarViolation {
    /// Index (in [`VolSurface::slices`]) of the earlier slice.
    pub earlier: usize,
    /// Index of the later slice (`earlier + 1`).
    pub later: usize,
    /// Log-forward moneyness of the violation.
    pub k: f64,
    /// Total variance of the earlier slice at k.
    pub w_earlier: f64,
    /// Total variance of the later slice at k (below `w_earlier − CALENDAR_TOLERANCE`).
    pub w_later: f64,
}

impl VolSurface {
    /// Builds a surface: slices are sorted by t.
    ///
    /// # Errors
    /// - [`SviError::EmptySurface`] for no slices;
    /// - [`SviError::InvalidSlice`] (index in the input) for t or forward not finite and > 0,
    ///   or parameters failing [`SviParams::validate`];
    /// - [`SviError::DuplicateMaturity`] when two slices share a t.
    pub fn new(mut slices: Vec<SurfaceSlice>) -> Result<Self, SviError> {
        if slices.is_empty() {
            return Err(SviError::EmptySurface);
        }
        for (index, s) in slices.iter().enumerate() {
            let bad = |reason| Err(SviError::InvalidSlice { index, reason });
            if !(s.t.is_finite() && s.t > 0.0) {
                return bad("time to expiry must be finite and > 0");
            }
            if !(s.forward.is_finite() && s.forward > 0.0) {
                return bad("forward must be finite and > 0");
            }
            if let Err(SviError::InvalidParams { reason }) = s.params.validate() {
                return bad(reason);
            }
        }
        slices.sort_by(|a, b| a.t.total_cmp(&b.t));
        if let Some(w) = slices.windows(2).find(|w| w[0].t >= w[1].t) {
            return Err(SviError::DuplicateMaturity { t: w[0].t });
        }
        Ok(VolSurface { slices })
    }

    /// The slices, sorted by t.
    pub fn slices(&self) -> &[SurfaceSlice] {
        &self.slices
    }

    /// Total implied variance at time `t` (years) and log-forward moneyness `k` of that
    /// maturity, interpolated and extrapolated as the [module documentation](self) describes.
    /// NaN for negative or non-finite `t`. Allocation-free.
    pub fn total_variance(&self, t: f64, k: f64) -> f64 {
        if !(t.is_finite() && t >= 0.0) {
            return f64::NAN;
        }
        let s = &self.slices;
        let (first, last) = (&s[0], &s[s.len() - 1]);
        if t <= first.t {
            return first.params.total_variance(k) * (t / first.t);
        }
        if t >= last.t {
            return last.params.total_variance(k) * (t / last.t);
        }
        // first.t < t < last.t: 1 ≤ i ≤ n − 1 with s[i−1].t ≤ t < s[i].t.
        let i = s.partition_point(|x| x.t <= t);
        let (lo, hi) = (&s[i - 1], &s[i]);
        let wl = lo.params.total_variance(k);
        if t == lo.t {
            return wl;
        }
        let wh = hi.params.total_variance(k);
        wl + (t - lo.t) / (hi.t - lo.t) * (wh - wl)
    }

    /// Implied volatility √(w(t, k)/t); NaN for t ≤ 0 or negative variance.
    pub fn implied_vol(&self, t: f64, k: f64) -> f64 {
        let w = self.total_variance(t, k);
        if t.is_nan() || t <= 0.0 || w < 0.0 {
            return f64::NAN;
        }
        (w / t).sqrt()
    }

    /// Implied volatility at `strike` for time `t`, with k = ln(strike/forward); `forward` is
    /// the caller's forward for `t` (e.g. [`forward`](Self::forward)). NaN for a strike or
    /// forward not finite and > 0.
    pub fn implied_vol_at_strike(&self, t: f64, strike: f64, forward: f64) -> f64 {
        if !(strike.is_finite() && strike > 0.0 && forward.is_finite() && forward > 0.0) {
            return f64::NAN;
        }
        self.implied_vol(t, (strike / forward).ln())
    }

    /// Forward for time `t`: ln F linear in t through the slices' forwards, the nearest
    /// interval's carry continued outside them (constant forward with a single slice).
    /// NaN for non-finite `t`.
    pub fn forward(&self, t: f64) -> f64 {
        if !t.is_finite() {
            return f64::NAN;
        }
        let s = &self.slices;
        if s.len() == 1 {
            return s[0].forward;
        }
        let i = s.partition_point(|x| x.t <= t).clamp(1, s.len() - 1);
        let (lo, hi) = (&s[i - 1], &s[i]);
        if t == lo.t {
            return lo.forward;
        }
        let (l0, l1) = (lo.forward.ln(), hi.forward.ln());
        (l0 + (t - lo.t) / (hi.t - lo.t) * (l1 - l0)).exp()
    }

    /// Calendar-arbitrage check between consecutive slices on `k_grid` (non-finite k are
    /// skipped): every (slice pair, k) with w(k, tᵢ₊₁) < w(k, tᵢ) − [`CALENDAR_TOLERANCE`].
    pub fn calendar_check(&self, k_grid: &[f64]) -> Vec<CalendarViolation> {
        let mut out = Vec::new();
        for (i, pair) in self.slices.windows(2).enumerate() {
            for &k in k_grid.iter().filter(|k| k.is_finite()) {
                let w0 = pair[0].params.total_variance(k);
                let w1 = pair[1].params.total_variance(k);
                if w1 < w0 - CALENDAR_TOLERANCE {
                    out.push(CalendarViolation {
                        earlier: i,
                        later: i + 1,
                        k,
                        w_earlier: w0,
                        w_later: w1,
                    });
                }
            }
        }
        out
    }
}

/// A uniform grid of `points` log-moneyness values on [−half_width, half_width] for
/// [`VolSurface::calendar_check`]; `default_k_grid(1.0, 81)` is the ±1 grid with step 0.025
/// that chain analytics uses. Returns `[0.0]` for `points < 2` or a half width not finite
/// and > 0.
pub fn default_k_grid(half_width: f64, points: usize) -> Vec<f64> {
    if points < 2 || !(half_width.is_finite() && half_width > 0.0) {
        return vec![0.0];
    }
    let step = 2.0 * half_width / (points - 1) as f64;
    (0..points).map(|i| -half_width + step * i as f64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(t: f64, forward: f64, scale: f64) -> SurfaceSlice {
        SurfaceSlice {
            t,
            forward,
            params: SviParams {
                a: 0.04 * scale,
                b: 0.1 * scale,
                rho: -0.6,
                m: 0.0,
                sigma: 0.2,
            },
        }
    }

    #[test]
    fn sorted_and_forward_is_log_linear() {
        let s = VolSurface::new(vec![slice(1.0, 110.0, 2.0), slice(0.5, 105.0, 1.0)]).unwrap();
        assert_eq!(s.slices()[0].t, 0.5);
        assert_eq!(s.forward(0.5), 105.0);
        assert!((s.forward(1.0) - 110.0).abs() < 1e-12);
        let mid = (105.0f64.ln() * 0.5 + 110.0f64.ln() * 0.5).exp();
        assert!((s.forward(0.75) - mid).abs() < 1e-12);
        // Flat carry beyond the ends.
        let c = (110.0f64 / 105.0).ln() / 0.5;
        assert!((s.forward(2.0) - 110.0 * (c * 1.0).exp()).abs() < 1e-9);
        assert!((s.forward(0.0) - 105.0 * (-c * 0.5).exp()).abs() < 1e-9);
    }

    #[test]
    fn default_grid() {
        let g = default_k_grid(1.0, 81);
        assert_eq!(g.len(), 81);
        assert_eq!(g[0], -1.0);
        assert!((g[80] - 1.0).abs() < 1e-15);
        assert_eq!(default_k_grid(f64::NAN, 10), vec![0.0]);
    }
}
