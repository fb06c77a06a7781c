//! The volatility surface of one symbol on one day: an SSVI smile (Gatheral–Jacquier) on a
//! mean-reverting ATM total-variance term structure. Free of static arbitrage by construction.

use crate::SampleError;

/// Smallest allowed instantaneous or long-run ATM variance (vol 1 %).
const MIN_VARIANCE: f64 = 1e-4;

/// An arbitrage-free implied-volatility surface in total variance `w(k, T) = σ²(k, T)·T`, with
/// `k = ln(K/F_T)` the log-forward moneyness.
///
/// # Formula
/// ATM total variance, the expected integrated variance of a mean-reverting (Heston-like)
/// variance starting at `v0` and reverting to `v_inf` at rate `kappa`:
///
/// ```text
/// θ(T) = v_inf·T + (v0 − v_inf)·(1 − e^{−κT})/κ,   θ'(T) = v_inf + (v0 − v_inf)·e^{−κT} > 0
/// ```
///
/// so the term structure is inverted after a shock (`v0 > v_inf`) and upward sloping in calm
/// markets. The smile is SSVI with the power-law curvature:
///
/// ```text
/// w(k, θ) = θ/2 · (1 + ρφk + √((φk + ρ)² + 1 − ρ²)),   φ(θ) = η / (θ^γ (1 + θ)^{1−γ})
/// ```
///
/// With `0 < γ ≤ ½`, `|ρ| < 1` and `η(1 + |ρ|) ≤ 2` (checked by [`SmileSurface::new`]) the
/// surface has no butterfly arbitrage in any slice and no calendar arbitrage (`w` increasing
/// in `T` at every fixed `k`), Gatheral & Jacquier (2014), Theorems 4.1–4.2 and §4.4.
///
/// # References
/// J. Gatheral, A. Jacquier (2014), "Arbitrage-free SVI volatility surfaces", *Quantitative
/// Finance* 14(1), 59–71.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SmileSurface {
    v0: f64,
    v_inf: f64,
    kappa: f64,
    rho: f64,
    eta: f64,
    gamma: f64,
}

impl SmileSurface {
    /// A surface from the instantaneous ATM variance `v0`, the long-run variance `v_inf`
    /// (both annualised, decimal²), the mean-reversion speed `kappa` (per year) and the SSVI
    /// parameters `rho` (skew), `eta` (curvature level) and `gamma` (curvature decay).
    ///
    /// # Errors
    /// [`SampleError::InvalidConfig`] naming the parameter when a value is not finite or the
    /// no-arbitrage conditions fail: `v0, v_inf ≥ 1e-4`, `kappa > 0`, `|rho| < 1`,
    /// `0 < gamma ≤ 0.5`, `0 < eta` and `eta·(1 + |rho|) ≤ 2`.
    pub fn new(
        v0: f64,
        v_inf: f64,
        kappa: f64,
        rho: f64,
        eta: f64,
        gamma: f64,
    ) -> Result<Self, SampleError> {
        let bad = |field: &'static str, value: f64, reason: &'static str| {
            Err(SampleError::InvalidConfig {
                field,
                value: value.to_string(),
                reason,
            })
        };
        if !(v0.is_finite() && v0 >= MIN_VARIANCE) {
            return bad("v0", v0, "ATM variance must be finite and ≥ 1e-4");
        }
        if !(v_inf.is_finite() && v_inf >= MIN_VARIANCE) {
            return bad(
                "v_inf",
                v_inf,
                "long-run variance must be finite and ≥ 1e-4",
            );
        }
        if !(kappa.is_finite() && kappa > 0.0) {
            return bad("kappa", kappa, "mean reversion must be finite and > 0");
        }
        if !(rho.is_finite() && rho.abs() < 1.0) {
            return bad("rho", rho, "|rho| must be < 1");
        }
        if !(gamma.is_finite() && gamma > 0.0 && gamma <= 0.5) {
            return bad("gamma", gamma, "gamma must be in (0, 0.5]");
        }
        if !(eta.is_finite() && eta > 0.0 && eta * (1.0 + rho.abs()) <= 2.0) {
            return bad("eta", eta, "eta must be > 0 with eta·(1 + |rho|) ≤ 2");
        }
        Ok(SmileSurface {
            v0,
            v_inf,
            kappa,
            rho,
            eta,
            gamma,
        })
    }

    /// Instantaneous ATM variance `v0` (annualised, decimal²).
    pub fn v0(&self) -> f64 {
        self.v0
    }

    /// Long-run ATM variance `v_inf` (annualised, decimal²).
    pub fn v_inf(&self) -> f64 {
        self.v_inf
    }

    /// Mean-reversion speed `κ`, per year.
    pub fn kappa(&self) -> f64 {
        self.kappa
    }

    /// SSVI correlation (skew) parameter `ρ`.
    pub fn rho(&self) -> f64 {
        self.rho
    }

    /// SSVI curvature level `η`.
    pub fn eta(&self) -> f64 {
        self.eta
    }

    /// SSVI curvature decay `γ`.
    pub fn gamma(&self) -> f64 {
        self.gamma
    }

    /// ATM total variance `θ(T)` for `years` ≥ 0 (0 at 0).
    pub fn atm_total_variance(&self, years: f64) -> f64 {
        let t = years.max(0.0);
        let k = self.kappa;
        // (1 − e^{−κT})/κ written with expm1 for small κT.
        self.v_inf * t + (self.v0 - self.v_inf) * (-(-k * t).exp_m1() / k)
    }

    /// ATM implied volatility `√(θ(T)/T)` for `years` > 0.
    pub fn atm_vol(&self, years: f64) -> f64 {
        (self.atm_total_variance(years) / years).sqrt()
    }

    /// The SSVI curvature `φ(θ)`.
    pub fn phi(&self, theta: f64) -> f64 {
        self.eta / (theta.powf(self.gamma) * (1.0 + theta).powf(1.0 - self.gamma))
    }

    /// Total implied variance `w(k, T)` at log-forward moneyness `k = ln(K/F_T)`.
    pub fn total_variance(&self, k: f64, years: f64) -> f64 {
        self.slice(years).total_variance(k)
    }

    /// Implied volatility `√(w(k, T)/T)` for `years` > 0.
    pub fn implied_vol(&self, k: f64, years: f64) -> f64 {
        (self.total_variance(k, years) / years).sqrt()
    }

    /// The smile of one expiry (θ and φ evaluated once).
    pub fn slice(&self, years: f64) -> SmileSlice {
        let theta = self.atm_total_variance(years);
        SmileSlice {
            theta,
            phi: self.phi(theta),
            rho: self.rho,
        }
    }
}

/// One expiry of a [`SmileSurface`]: `w(k) = θ/2·(1 + ρφk + √((φk + ρ)² + 1 − ρ²))`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SmileSlice {
    /// ATM total variance θ.
    pub theta: f64,
    /// Curvature φ(θ).
    pub phi: f64,
    /// Skew ρ.
    pub rho: f64,
}

impl SmileSlice {
    /// Total implied variance at log-forward moneyness `k`.
    #[inline]
    pub fn total_variance(&self, k: f64) -> f64 {
        let pk = self.phi * k;
        let r = self.rho;
        0.5 * self.theta * (1.0 + r * pk + ((pk + r) * (pk + r) + 1.0 - r * r).sqrt())
    }

    /// Durrleman's butterfly density factor `g(k)`; `g ≥ 0` everywhere means no butterfly
    /// arbitrage (Gatheral & Jacquier 2014, eq. 2.1).
    pub fn durrleman_g(&self, k: f64) -> f64 {
        let pk = self.phi * k;
        let r = self.rho;
        let s = ((pk + r) * (pk + r) + 1.0 - r * r).sqrt();
        let w = self.total_variance(k);
        let w1 = 0.5 * self.theta * self.phi * (r + (pk + r) / s);
        let w2 = 0.5 * self.theta * self.phi * self.phi * (1.0 - r * r) / (s * s * s);
        let a = 1.0 - k * w1 / (2.0 * w);
        a * a - w1 * w1 / 4.0 * (1.0 / w + 0.25) + w2 / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn surfaces() -> Vec<SmileSurface> {
        let mut v = Vec::new();
        for (v0, vi) in [(0.04, 0.09), (0.25, 0.06), (0.0225, 0.0225), (1.2, 0.1)] {
            for rho in [-0.9, -0.6, -0.3, 0.0] {
                let eta = 2.0 / (1.0 + f64::abs(rho));
                for gamma in [0.3, 0.45, 0.5] {
                    v.push(SmileSurface::new(v0, vi, 3.0, rho, eta, gamma).unwrap());
                }
            }
        }
        v
    }

    #[test]
    fn no_butterfly_arbitrage_at_the_limit_eta() {
        let ts = [1.0 / 365.0, 7.0 / 365.0, 0.1, 0.5, 1.0, 2.0];
        for s in surfaces() {
            for &t in &ts {
                let sl = s.slice(t);
                for i in -400..=400 {
                    let k = f64::from(i) * 0.01;
                    let g = sl.durrleman_g(k);
                    assert!(g >= -1e-12, "{s:?} T={t} k={k} g={g}");
                }
            }
        }
    }

    #[test]
    fn no_calendar_arbitrage() {
        for s in surfaces() {
            for i in -300..=300 {
                let k = f64::from(i) * 0.01;
                let mut prev = 0.0;
                for j in 1..=200 {
                    let t = f64::from(j) / 100.0;
                    let w = s.total_variance(k, t);
                    assert!(w > prev, "{s:?} k={k} T={t}");
                    prev = w;
                }
            }
        }
    }

    #[test]
    fn term_structure_shapes() {
        let shocked = SmileSurface::new(0.36, 0.09, 3.0, -0.5, 1.0, 0.45).unwrap();
        assert!(shocked.atm_vol(0.05) > shocked.atm_vol(1.0));
        let calm = SmileSurface::new(0.03, 0.06, 3.0, -0.5, 1.0, 0.45).unwrap();
        assert!(calm.atm_vol(0.05) < calm.atm_vol(1.0));
        assert!((calm.atm_vol(1e-6) - 0.03f64.sqrt()).abs() < 1e-6);
        // The smile is skewed: OTM puts above OTM calls.
        assert!(calm.implied_vol(-0.1, 0.25) > calm.implied_vol(0.1, 0.25));
    }

    #[test]
    fn rejects_arbitrageable_parameters() {
        assert!(SmileSurface::new(0.04, 0.04, 3.0, -0.5, 1.4, 0.4).is_err());
        assert!(SmileSurface::new(0.04, 0.04, 3.0, -0.5, 1.0, 0.6).is_err());
        assert!(SmileSurface::new(0.04, 0.04, 3.0, -1.0, 1.0, 0.4).is_err());
        assert!(SmileSurface::new(f64::NAN, 0.04, 3.0, -0.5, 1.0, 0.4).is_err());
        assert!(SmileSurface::new(0.04, 0.04, 0.0, -0.5, 1.0, 0.4).is_err());
    }
}
