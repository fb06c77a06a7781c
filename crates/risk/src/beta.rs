//! Beta to a benchmark and beta-weighted delta.
//!
//! β = cov(r_a, r_b) / var(r_b) over daily log returns between consecutive days on which both
//! the asset and the benchmark have a close (the last `lookback` such returns), sample
//! moments. Beta-weighted delta expresses a position's dollar delta Δ·S as benchmark exposure:
//! β·Δ·S dollars, or β·Δ·S / S_b benchmark shares — "the book moves like this many shares of
//! the benchmark" for a move of the benchmark that the asset follows by its beta.

use serde::Serialize;

use crate::RiskError;

/// Fewest returns a beta is estimated from.
pub const MIN_RETURNS: usize = 20;

/// A beta estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Beta {
    /// cov(r_a, r_b) / var(r_b).
    pub beta: f64,
    /// Correlation of the returns.
    pub correlation: f64,
    /// Returns used.
    pub observations: usize,
    /// Standard error of β (OLS, homoskedastic).
    pub standard_error: f64,
}

/// β of `asset` to `benchmark` from daily closes `(day number, close)` in ascending days,
/// over the last `lookback` common returns.
///
/// # Errors
/// Fewer than [`MIN_RETURNS`] common returns, a non-positive or non-finite close, a benchmark
/// without variance.
pub fn beta(
    asset: &[(i64, f64)],
    benchmark: &[(i64, f64)],
    lookback: usize,
) -> Result<Beta, RiskError> {
    for (what, s) in [("asset", asset), ("benchmark", benchmark)] {
        if let Some((d, c)) = s.iter().find(|(_, c)| !(c.is_finite() && *c > 0.0)) {
            return Err(RiskError::Input(format!("{what} close {c} on day {d}")));
        }
        if s.windows(2).any(|w| w[1].0 <= w[0].0) {
            return Err(RiskError::Input(format!(
                "{what} closes not in ascending days"
            )));
        }
    }
    // Common days by merge.
    let (mut i, mut j) = (0, 0);
    let mut common: Vec<(f64, f64)> = Vec::new();
    while i < asset.len() && j < benchmark.len() {
        match asset[i].0.cmp(&benchmark[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common.push((asset[i].1, benchmark[j].1));
                i += 1;
                j += 1;
            }
        }
    }
    let returns: Vec<(f64, f64)> = common
        .windows(2)
        .map(|w| ((w[1].0 / w[0].0).ln(), (w[1].1 / w[0].1).ln()))
        .collect();
    let take = returns.len().min(lookback);
    let r = &returns[returns.len() - take..];
    if r.len() < MIN_RETURNS {
        return Err(RiskError::Input(format!(
            "{} common daily returns with the benchmark, {MIN_RETURNS} needed for a beta",
            r.len()
        )));
    }
    let n = r.len() as f64;
    let ma = r.iter().map(|x| x.0).sum::<f64>() / n;
    let mb = r.iter().map(|x| x.1).sum::<f64>() / n;
    let (mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0);
    for &(a, b) in r {
        saa += (a - ma) * (a - ma);
        sbb += (b - mb) * (b - mb);
        sab += (a - ma) * (b - mb);
    }
    if sbb <= 0.0 {
        return Err(RiskError::Input(
            "the benchmark's returns have no variance".into(),
        ));
    }
    let beta = sab / sbb;
    let correlation = if saa > 0.0 {
        sab / (saa * sbb).sqrt()
    } else {
        0.0
    };
    // Residual variance / Σ(b − b̄)².
    let resid = (saa - beta * sab).max(0.0) / (n - 2.0);
    Ok(Beta {
        beta,
        correlation,
        observations: r.len(),
        standard_error: (resid / sbb).sqrt(),
    })
}

/// Beta-weighted delta of a dollar delta.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BetaWeighted {
    /// β·Δ·S in dollars.
    pub dollars: f64,
    /// β·Δ·S / S_b in benchmark shares.
    pub benchmark_shares: f64,
}

/// β-weighting of `delta_dollars` to a benchmark at `benchmark_spot`.
pub fn beta_weighted(delta_dollars: f64, beta: f64, benchmark_spot: f64) -> BetaWeighted {
    BetaWeighted {
        dollars: beta * delta_dollars,
        benchmark_shares: beta * delta_dollars / benchmark_spot,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand example: asset returns exactly 1.5× the benchmark's plus nothing → β = 1.5,
    /// correlation 1; and a worked two-series case checked against the textbook formulas.
    #[test]
    fn beta_by_hand() {
        let mut b = vec![(0i64, 100.0)];
        let mut a = vec![(0i64, 50.0)];
        let rb = [
            0.01, -0.02, 0.015, 0.003, -0.007, 0.012, -0.011, 0.004, 0.02, -0.015, 0.006, -0.003,
            0.009, -0.012, 0.007, 0.001, -0.004, 0.013, -0.009, 0.005, 0.002, -0.006,
        ];
        for (k, r) in rb.iter().enumerate() {
            let d = k as i64 + 1;
            b.push((d, b[k].1 * f64::exp(*r)));
            a.push((d, a[k].1 * f64::exp(1.5 * r)));
        }
        let e = beta(&a, &b, 500).unwrap();
        assert!((e.beta - 1.5).abs() < 1e-12, "{e:?}");
        assert!((e.correlation - 1.0).abs() < 1e-12);
        assert!(e.standard_error < 1e-6);
        assert_eq!(e.observations, rb.len());
        // Missing days are skipped: drop benchmark day 5 → returns across 4→6 still exact.
        let b2: Vec<_> = b.iter().copied().filter(|x| x.0 != 5).collect();
        let e2 = beta(&a, &b2, 500).unwrap();
        assert!((e2.beta - 1.5).abs() < 1e-12);
        assert_eq!(e2.observations, rb.len() - 1);
        // Lookback keeps the last returns.
        assert!(beta(&a, &b, 10).is_err());
        // β·Δ·S weighting.
        let w = beta_weighted(10_000.0, 1.5, 400.0);
        assert_eq!((w.dollars, w.benchmark_shares), (15_000.0, 37.5));
    }

    /// Against an independent two-pass computation on an uncorrelated-noise series.
    #[test]
    fn beta_matches_the_regression_slope() {
        let mut s = 12345u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let (mut a, mut b) = (vec![(0i64, 10.0)], vec![(0i64, 20.0)]);
        let mut pairs = vec![];
        for d in 1..300i64 {
            let rb = 0.02 * next();
            let ra = 0.8 * rb + 0.01 * next();
            pairs.push((ra, rb));
            a.push((d, a[d as usize - 1].1 * ra.exp()));
            b.push((d, b[d as usize - 1].1 * rb.exp()));
        }
        let last = &pairs[pairs.len() - 250..];
        let n = last.len() as f64;
        let (ma, mb) = (
            last.iter().map(|p| p.0).sum::<f64>() / n,
            last.iter().map(|p| p.1).sum::<f64>() / n,
        );
        let slope = last.iter().map(|p| (p.0 - ma) * (p.1 - mb)).sum::<f64>()
            / last.iter().map(|p| (p.1 - mb).powi(2)).sum::<f64>();
        let e = beta(&a, &b, 250).unwrap();
        assert!((e.beta - slope).abs() < 1e-9, "{} vs {slope}", e.beta);
        assert!((e.beta - 0.8).abs() < 4.0 * e.standard_error + 0.05);
    }

    #[test]
    fn bad_series_are_refused() {
        let a = [(0, 1.0), (1, f64::NAN)];
        assert!(beta(&a, &a, 10).is_err());
        let flat: Vec<(i64, f64)> = (0..40).map(|d| (d, 5.0)).collect();
        let up: Vec<(i64, f64)> = (0..40).map(|d| (d, 5.0 + d as f64)).collect();
        assert!(beta(&up, &flat, 100).is_err());
        let desc = [(1, 1.0), (0, 1.0)];
        assert!(beta(&desc, &up, 100).is_err());
    }
}
