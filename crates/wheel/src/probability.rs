//! Probabilities and payoff moments of a short option under geometric Brownian motion, the
//! spread-aware fill estimate, and the realized-volatility forecast.
//!
//! # Model
//! `S_T = S·exp((μ − σ²/2)T + σ√T·Z)`, `Z ~ N(0, 1)`, with `μ` the drift (continuous) and `σ`
//! the volatility. Risk-neutral figures use `μ = r − q` and the implied volatility;
//! "forecast" figures use `μ = r − q` and the realized-volatility forecast, so the only
//! difference between the two is the volatility — the variance premium the wheel harvests.
//! `F = S·e^{μT}`, `d1 = (ln(F/K) + σ²T/2)/(σ√T)`, `d2 = d1 − σ√T`.
//!
//! Golden values: `tests/golden/wheel_probabilities.csv`, computed by quadrature in mpmath
//! (`tests/golden/gen_wheel_golden.py`), independent of the closed forms here.

use wheelhouse_core::OptionType;
use wheelhouse_pricing::iv::normalised_black;
use wheelhouse_pricing::normal::norm_cdf;

/// Inputs of the GBM model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gbm {
    /// Spot, > 0.
    pub spot: f64,
    /// Drift μ, continuous decimal.
    pub drift: f64,
    /// Volatility σ, decimal, > 0.
    pub vol: f64,
    /// Years, > 0.
    pub years: f64,
}

impl Gbm {
    fn d1_d2(&self, strike: f64) -> (f64, f64, f64) {
        let s = self.vol * self.years.sqrt();
        let f = self.spot * (self.drift * self.years).exp();
        let d1 = ((f / strike).ln() + 0.5 * s * s) / s;
        (d1, d1 - s, f)
    }

    fn valid(&self, strike: f64) -> bool {
        self.spot > 0.0
            && strike > 0.0
            && self.vol > 0.0
            && self.years > 0.0
            && self.spot.is_finite()
            && strike.is_finite()
            && self.vol.is_finite()
            && self.years.is_finite()
            && self.drift.is_finite()
    }
}

/// P(the option finishes in the money): `N(−d2)` for puts, `N(d2)` for calls.
/// NaN only for invalid inputs (non-positive spot, strike, vol or time).
pub fn prob_itm(kind: OptionType, strike: f64, m: &Gbm) -> f64 {
    if !m.valid(strike) {
        return f64::NAN;
    }
    let (_, d2, _) = m.d1_d2(strike);
    match kind {
        OptionType::Put => norm_cdf(-d2),
        OptionType::Call => norm_cdf(d2),
    }
}

/// P(the underlying touches the strike at some time before expiry), by the reflection
/// principle for Brownian motion with drift `ν = μ − σ²/2` in log space, barrier
/// `b = ln(K/S)`, `s = σ√T`:
/// - put (`K < S`): `N((b − νT)/s) + e^{2νb/σ²}·N((b + νT)/s)`;
/// - call (`K > S`): `N((−b + νT)/s) + e^{2νb/σ²}·N((−b − νT)/s)`;
/// - 1 when the option is already in the money.
///
/// With zero drift this is `2·N(−|b|/s)`, twice the probability of finishing beyond the strike.
pub fn prob_touch(kind: OptionType, strike: f64, m: &Gbm) -> f64 {
    if !m.valid(strike) {
        return f64::NAN;
    }
    let b = (strike / m.spot).ln();
    let itm = match kind {
        OptionType::Put => b >= 0.0,
        OptionType::Call => b <= 0.0,
    };
    if itm {
        return 1.0;
    }
    let nu = m.drift - 0.5 * m.vol * m.vol;
    let s = m.vol * m.years.sqrt();
    let nt = nu * m.years;
    // e^{2νb/σ²}·N(y), in log space when the exponent is large (tiny σ, large drift), where
    // the factor alone would overflow while the product is a probability.
    let ex = 2.0 * nu * b / (m.vol * m.vol);
    let weighted = |y: f64| {
        if ex < 700.0 {
            ex.exp() * norm_cdf(y)
        } else {
            (ex + norm_cdf(y).ln()).exp()
        }
    };
    let p = match kind {
        OptionType::Put => norm_cdf((b - nt) / s) + weighted((b + nt) / s),
        OptionType::Call => norm_cdf((-b + nt) / s) + weighted((-b - nt) / s),
    };
    p.min(1.0)
}

/// First and second moments of the payoff at expiry, per share, undiscounted:
/// `E[(K − S_T)^+]` and `E[((K − S_T)^+)²]` for puts, `E[(S_T − K)^+]` and
/// `E[((S_T − K)^+)²]` for calls.
///
/// The first moment is the undiscounted Black value `√(FK)·b(ln(F/K), σ√T)` through Jäckel's
/// normalised Black function, which keeps full relative accuracy far out of the money. The
/// second uses `(K − S)² = K(K − S) − S(K − S)` and the change to the share measure, under which
/// `S_T` is lognormal with forward `F' = F·e^{σ²T}`:
/// `E[((K − S_T)^+)²] = K·P(F) − F·P(F')` and `E[((S_T − K)^+)²] = F·C(F') − K·C(F)`, with `P`,
/// `C` the undiscounted Black values; expanded this is
/// `K²N(−d2) − 2KF·N(−d1) + F²e^{σ²T}·N(−d1 − σ√T)` (puts) and
/// `F²e^{σ²T}·N(d1 + σ√T) − 2KF·N(d1) + K²N(d2)` (calls).
pub fn payoff_moments(kind: OptionType, strike: f64, m: &Gbm) -> (f64, f64) {
    if !m.valid(strike) {
        return (f64::NAN, f64::NAN);
    }
    let s = m.vol * m.years.sqrt();
    let f = m.spot * (m.drift * m.years).exp();
    let fp = f * (s * s).exp();
    let k = strike;
    let black = |fwd: f64| (fwd * k).sqrt() * normalised_black((fwd / k).ln(), s, kind);
    let e1 = black(f);
    let e1p = black(fp);
    let e2 = match kind {
        OptionType::Put => k * e1 - f * e1p,
        OptionType::Call => f * e1p - k * e1,
    };
    (e1, e2.max(e1 * e1))
}

/// Expected P&L and its standard deviation of a short option held to expiry, per share:
/// `P&L = premium·e^{rT} − payoff` (the premium earns the rate until expiry).
pub fn short_option_pnl(
    kind: OptionType,
    strike: f64,
    premium: f64,
    rate: f64,
    m: &Gbm,
) -> (f64, f64) {
    let (e1, e2) = payoff_moments(kind, strike, m);
    let mean = premium * (rate * m.years).exp() - e1;
    let var = (e2 - e1 * e1).max(0.0);
    (mean, var.sqrt())
}

/// Expected fill of a sale: `bid + (mid − bid)·1/(1 + spread%/reference)` where
/// `spread% = (ask − bid)/mid`: the mid for a zero spread, halfway at a spread of `reference`,
/// towards the bid as the spread widens. A buy mirrors it from the ask.
pub fn expected_fill(bid: f64, ask: f64, sell: bool, reference: f64) -> f64 {
    let mid = 0.5 * (bid + ask);
    if mid <= 0.0 {
        return if sell { bid } else { ask };
    }
    let spread = (ask - bid) / mid;
    let w = 1.0 / (1.0 + spread / reference.max(1e-9));
    if sell {
        bid + (mid - bid) * w
    } else {
        ask - (ask - mid) * w
    }
}

/// Realized-volatility estimates from daily closes (oldest first, split-adjusted).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RealizedVol {
    /// EWMA (RiskMetrics) forecast of the next day's volatility, annualized with √252.
    pub ewma: f64,
    /// Close-to-close volatility of the last 20 returns, annualized with √252.
    pub close_to_close_20d: f64,
    /// Returns used.
    pub returns: usize,
}

/// EWMA volatility forecast with decay `lambda` (0.94 is RiskMetrics' daily value): the
/// variance starts at the mean squared return of the first 20 returns and is updated
/// `σ²ₜ = λσ²ₜ₋₁ + (1 − λ)rₜ²` through the rest; the last value is the forecast. Uses at most
/// the last `window` returns. None with fewer than 21 returns or a non-positive close.
pub fn realized_vol(closes: &[f64], lambda: f64, window: usize) -> Option<RealizedVol> {
    if closes.iter().any(|c| !(c.is_finite() && *c > 0.0)) {
        return None;
    }
    let returns: Vec<f64> = closes.windows(2).map(|w| (w[1] / w[0]).ln()).collect();
    let r = &returns[returns.len().saturating_sub(window)..];
    if r.len() < 21 {
        return None;
    }
    let seed = 20;
    let mut var = r[..seed].iter().map(|x| x * x).sum::<f64>() / seed as f64;
    for x in &r[seed..] {
        var = lambda * var + (1.0 - lambda) * x * x;
    }
    let last = &r[r.len() - 20..];
    let mean = last.iter().sum::<f64>() / 20.0;
    let cc = last.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 19.0;
    Some(RealizedVol {
        ewma: (var * 252.0).sqrt(),
        close_to_close_20d: (cc * 252.0).sqrt(),
        returns: r.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_drift_touch_is_twice_finish() {
        // ν = μ − σ²/2 = 0 ⇒ P(touch) = 2·N(−|ln K/S|/(σ√T)) = 2·P(finish beyond K).
        let m = Gbm {
            spot: 100.0,
            drift: 0.125,
            vol: 0.5,
            years: 0.25,
        };
        assert_eq!(m.drift - 0.5 * m.vol * m.vol, 0.0);
        for k in [70.0, 90.0, 99.0] {
            let t = prob_touch(OptionType::Put, k, &m);
            let want = 2.0 * norm_cdf(-((k / 100.0_f64).ln()).abs() / (0.5 * 0.5));
            assert!((t - want).abs() < 1e-15, "{t} vs {want}");
            let itm = prob_itm(OptionType::Put, k, &m);
            assert!((t - 2.0 * itm).abs() < 1e-15);
        }
    }

    #[test]
    fn fill_between_bid_and_mid() {
        assert_eq!(expected_fill(1.0, 1.0, true, 0.1), 1.0);
        let f = expected_fill(1.0, 1.2, true, 0.1);
        // spread% = 0.2/1.1; w = 1/(1 + 1.818…)
        let w = 1.0 / (1.0 + (0.2 / 1.1) / 0.1);
        assert!((f - (1.0 + 0.1 * w)).abs() < 1e-15);
        assert!(f > 1.0 && f < 1.1);
        let b = expected_fill(1.0, 1.2, false, 0.1);
        assert!((b - (1.2 - 0.1 * w)).abs() < 1e-15);
    }

    #[test]
    fn ewma_of_constant_returns() {
        // Every return ln(1.01): EWMA variance stays at r² exactly; 20-day sd is 0.
        let closes: Vec<f64> = (0..60).map(|i| 100.0 * 1.01f64.powi(i)).collect();
        let rv = realized_vol(&closes, 0.94, 250).unwrap();
        let r = 1.01f64.ln();
        assert!((rv.ewma - r * 252f64.sqrt()).abs() < 1e-12);
        assert!(rv.close_to_close_20d < 1e-9);
        assert_eq!(rv.returns, 59);
        assert!(realized_vol(&closes[..21], 0.94, 250).is_none());
        assert!(realized_vol(&[1.0, -1.0], 0.94, 250).is_none());
    }
}
