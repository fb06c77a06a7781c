//! Synthetic chain snapshots with known parameters, for chain-analytics tests and benchmarks.
//!
//! Mids are exact model prices (BSM for European, the ALO engine at its accurate setting for
//! American) at an SVI-shaped smile, so the analytics must recover the generating forward,
//! yield and volatilities; bid/ask sit symmetrically around the mid.

use wheelhouse_core::records::OptionQuote;
use wheelhouse_core::{ExerciseStyle, OptionType, Settlement, UnixNanos};
use wheelhouse_pricing::BsmInputs;
use wheelhouse_pricing::american::{AmericanSettings, american_price};
use wheelhouse_pricing::black::bsm_price;

/// Parameters of a synthetic snapshot.
#[derive(Debug, Clone)]
pub struct SnapshotSpec {
    /// Underlying price.
    pub spot: f64,
    /// Rate (flat).
    pub rate: f64,
    /// Dividend yield (flat).
    pub dividend_yield: f64,
    /// Expiries in days from the quote time.
    pub days: Vec<f64>,
    /// Strikes per expiry (both calls and puts are quoted at each).
    pub strikes_per_expiry: usize,
    /// Exercise style of every quote.
    pub style: ExerciseStyle,
    /// Half-spread as a fraction of the mid (at least 0.005).
    pub half_spread: f64,
}

impl SnapshotSpec {
    /// About 5 000 quotes over 12 expiries (1 week to 1 year), 272 strikes each (quotes worth less than a cent are left out).
    pub fn five_thousand(style: ExerciseStyle) -> Self {
        SnapshotSpec {
            spot: 100.0,
            rate: 0.03,
            dividend_yield: 0.015,
            days: vec![
                7.0, 14.0, 21.0, 30.0, 45.0, 60.0, 91.0, 120.0, 182.0, 240.0, 300.0, 365.0,
            ],
            strikes_per_expiry: 272,
            style,
            half_spread: 0.01,
        }
    }
}

/// The generating smile: raw SVI in total variance per expiry, equity-like skew.
/// Returns (a, b, rho, m, sigma) for time `t` (years).
pub fn smile_params(t: f64) -> (f64, f64, f64, f64, f64) {
    let atm_var = 0.04 + 0.02 * (1.0 - (-t / 0.5).exp()); // 20 % → ~24 % vol term structure
    let b = 0.1 * t.sqrt().max(0.1);
    let rho = -0.6;
    let m = 0.0;
    let sigma = 0.15 * t.sqrt().max(0.1);
    // w(0) = a + b·σ (m = 0) = atm_var·t
    let a = atm_var * t - b * sigma;
    (a, b, rho, m, sigma)
}

/// Total implied variance of the generating smile.
pub fn smile_total_variance(t: f64, k: f64) -> f64 {
    let (a, b, rho, m, s) = smile_params(t);
    a + b * (rho * (k - m) + ((k - m) * (k - m) + s * s).sqrt())
}

/// Builds the snapshot. Quotes whose model value is below one cent are skipped.
pub fn synthetic_snapshot(spec: &SnapshotSpec) -> Vec<OptionQuote> {
    let qt = UnixNanos(1_362_171_600_000_000_000); // 2013-03-01 16:00 New York
    let mut out = Vec::new();
    for &d in &spec.days {
        let t = d / 365.0;
        let exp = UnixNanos(qt.0 + (d * 86_400.0 * 1e9) as i64);
        let fwd = spec.spot * ((spec.rate - spec.dividend_yield) * t).exp();
        let width = 4.0 * (0.25 * t).sqrt().max(0.05);
        let n = spec.strikes_per_expiry.max(2);
        for i in 0..n {
            let k = -width + 2.0 * width * i as f64 / (n - 1) as f64;
            let strike = ((fwd * k.exp()) * 100.0).round() / 100.0;
            let kk = (strike / fwd).ln();
            let vol = (smile_total_variance(t, kk) / t).sqrt();
            for kind in [OptionType::Call, OptionType::Put] {
                let inp = BsmInputs {
                    kind,
                    spot: spec.spot,
                    strike,
                    years: t,
                    rate: spec.rate,
                    dividend_yield: spec.dividend_yield,
                    volatility: vol,
                };
                let mid = match spec.style {
                    ExerciseStyle::European => bsm_price(&inp),
                    ExerciseStyle::American => american_price(&inp, &AmericanSettings::ACCURATE),
                };
                let Ok(mid) = mid else { continue };
                if mid < 0.01 {
                    continue;
                }
                let h = (spec.half_spread * mid).max(0.005);
                out.push(OptionQuote {
                    underlying: "SYN".into(),
                    quote_time: qt,
                    expiration: exp,
                    strike,
                    option_type: kind,
                    style: spec.style,
                    settlement: Settlement::Pm,
                    multiplier: 100.0,
                    bid: mid - h,
                    ask: mid + h,
                    last: None,
                    volume: None,
                    open_interest: None,
                    underlying_price: spec.spot,
                    vendor_iv: None,
                    vendor_delta: None,
                });
            }
        }
    }
    out
}
