//! Value at risk and expected shortfall of a P&L sample, with batch-means standard errors.
//!
//! # Definitions
//! Losses `L = −P&L`, sorted ascending `L(1) ≤ … ≤ L(n)`; confidence `α` (e.g. 0.99);
//! `k = ⌈α·n⌉`.
//! - VaR = `L(k)`, the smallest loss that at least a fraction `α` of the sample does not exceed.
//! - Expected shortfall (CVaR), the Acerbi–Tasche estimator:
//!   `[Σ_{i>k} L(i) + (k − α·n)·L(k)] / (n·(1 − α))`, the mean of the worst `(1 − α)` share.
//!
//! Both are amounts of money with losses positive (a negative VaR means a gain at that
//! quantile). Standard errors by batch means: the sample is split into `B` = 20 consecutive
//! batches, each gives its own estimate, and SE = sd(estimates)/√B (needs at least
//! `20/(1 − α)` values).

use serde::Serialize;

use crate::RiskError;

/// VaR and CVaR of a sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TailRisk {
    /// Value at risk, money (loss positive).
    pub var: f64,
    /// Expected shortfall, money (loss positive).
    pub cvar: f64,
    /// Batch-means standard error of `var` (None for small samples).
    pub var_standard_error: Option<f64>,
    /// Batch-means standard error of `cvar`.
    pub cvar_standard_error: Option<f64>,
    /// Sample size.
    pub n: usize,
    /// Confidence.
    pub confidence: f64,
}

/// Batches of the standard-error estimate.
pub const BATCHES: usize = 20;

fn check(pnl: &[f64], confidence: f64) -> Result<(), RiskError> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(RiskError::Input(format!(
            "confidence {confidence} must be strictly between 0 and 1"
        )));
    }
    if pnl.is_empty() {
        return Err(RiskError::Input(
            "no P&L values (zero paths or an empty history)".into(),
        ));
    }
    if let Some(i) = pnl.iter().position(|x| !x.is_finite()) {
        return Err(RiskError::Input(format!("P&L value {i} is {}", pnl[i])));
    }
    Ok(())
}

/// (VaR, CVaR) of `pnl` at `confidence`, no standard errors.
///
/// # Errors
/// Empty sample, a non-finite value, confidence outside (0, 1).
pub fn var_cvar(pnl: &[f64], confidence: f64) -> Result<(f64, f64), RiskError> {
    check(pnl, confidence)?;
    let mut l: Vec<f64> = pnl.iter().map(|x| -x).collect();
    let n = l.len();
    let an = confidence * n as f64;
    let k = (an.ceil() as usize).clamp(1, n);
    // L(k) by selection (linear time), then only the tail above it sorted, so the sum runs in
    // ascending order exactly as over a fully sorted sample.
    let (_, &mut var, tail) = l.select_nth_unstable_by(k - 1, f64::total_cmp);
    tail.sort_unstable_by(f64::total_cmp);
    let tail: f64 = tail.iter().sum();
    let cvar = if n as f64 - an > 0.0 {
        (tail + (k as f64 - an) * var) / (n as f64 - an)
    } else {
        var
    };
    Ok((var, cvar))
}

/// VaR and CVaR with batch-means standard errors.
///
/// # Errors
/// As [`var_cvar`].
pub fn tail_risk(pnl: &[f64], confidence: f64) -> Result<TailRisk, RiskError> {
    let (var, cvar) = var_cvar(pnl, confidence)?;
    let n = pnl.len();
    let per = n / BATCHES;
    let (vse, cse) = if (per as f64) * (1.0 - confidence) >= 1.0 {
        let mut vs = Vec::with_capacity(BATCHES);
        let mut cs = Vec::with_capacity(BATCHES);
        for b in 0..BATCHES {
            let (v, c) = var_cvar(&pnl[b * per..(b + 1) * per], confidence)?;
            vs.push(v);
            cs.push(c);
        }
        let se = |x: &[f64]| {
            let m = x.iter().sum::<f64>() / x.len() as f64;
            let v = x.iter().map(|y| (y - m) * (y - m)).sum::<f64>() / (x.len() - 1) as f64;
            (v / x.len() as f64).sqrt()
        };
        (Some(se(&vs)), Some(se(&cs)))
    } else {
        (None, None)
    };
    Ok(TailRisk {
        var,
        cvar,
        var_standard_error: vse,
        cvar_standard_error: cse,
        n,
        confidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_example() {
        // Ten P&Ls; losses sorted: −5 −4 −3 −2 −1 0 1 2 10 20 (n = 10).
        let pnl = [5.0, 4.0, 3.0, 2.0, 1.0, 0.0, -1.0, -2.0, -10.0, -20.0];
        // α = 0.9: k = 9 → VaR = L(9) = 10; αn = 9 → CVaR = (20 + 0·10)/1 = 20.
        let (v, c) = var_cvar(&pnl, 0.9).unwrap();
        assert_eq!((v, c), (10.0, 20.0));
        // α = 0.85: αn = 8.5, k = 9 → VaR = 10; CVaR = (20 + 0.5·10)/1.5 = 16.666…
        let (v, c) = var_cvar(&pnl, 0.85).unwrap();
        assert_eq!(v, 10.0);
        assert!((c - 25.0 / 1.5).abs() < 1e-12);
        // α = 0.5: k = 5 → VaR = L(5) = −1 (a gain); CVaR = (0+1+2+10+20 + 0)/5 = 6.6.
        let (v, c) = var_cvar(&pnl, 0.5).unwrap();
        assert_eq!(v, -1.0);
        assert!((c - 6.6).abs() < 1e-12);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(var_cvar(&[], 0.99).is_err());
        assert!(var_cvar(&[1.0, f64::NAN], 0.99).is_err());
        assert!(var_cvar(&[1.0], 1.0).is_err());
        assert!(var_cvar(&[1.0], f64::NAN).is_err());
        let t = tail_risk(&[1.0, 2.0, 3.0], 0.99).unwrap();
        assert!(t.var_standard_error.is_none());
    }
}
