//! Margin requirements and position sizing.
//!
//! # Requirements per contract (money), from `wheelhouse_risk::margin`
//! - Cash-secured put: `K × multiplier` (cash accounts; the premium received is added to cash
//!   separately).
//! - Reg-T naked put: `max(0.20·S − OTM + premium, 0.10·K + premium) × multiplier` with
//!   `OTM = max(S − K, 0)`.
//! - Reg-T naked call: `max(0.20·S − OTM + premium, 0.10·S + premium) × multiplier` with
//!   `OTM = max(K − S, 0)`.
//! - Covered call: nothing beyond the shares.
//! - Long stock: 50 % of its value on margin (Reg-T initial), 100 % in a cash account.
//!
//! # Sizing
//! Fractional Kelly on one contract's P&L `X` at expiry: the growth-optimal count `n*`
//! maximises `E[log(W + nX)]` with `X = (premium·e^{rT} − payoff(S_T)) × multiplier` and `S_T`
//! lognormal at the volatility forecast ([`kelly_lognormal`]: the expectation on a fixed grid
//! of 4 001 points of the standard normal over ±8, the root of `E[X/(W + nX)] = 0` by
//! bisection). The advisor takes `f·n*` (floored) with `f` = `limits.kelly_fraction`. The
//! second-order value `W·E[X]/E[X²]` ([`kelly_contracts`]) is shown beside it: it ignores the
//! tail and overstates the size of a short put many times over. The count never exceeds
//! `W / worst-case loss` (for a put the underlying at zero): Kelly never risks ruin. Covered
//! calls are sized by the shares they cover. The size is then capped by every limit;
//! the smallest cap (or Kelly itself) is the binding one and is reported.

use serde::Serialize;
use wheelhouse_core::OptionType;

pub use wheelhouse_risk::margin::{cash_secured, reg_t_naked};

/// One limit on the size and the number of contracts it allows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cap {
    /// Name (`kelly`, `buying_power`, `per_underlying`, `short_put_notional`, `delta`,
    /// `shares_to_cover`, `max_contracts`).
    pub name: &'static str,
    /// Contracts it allows (≥ 0).
    pub contracts: u32,
    /// How it was computed, in words with the numbers.
    pub detail: String,
}

/// The size and the limits behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sizing {
    /// Contracts to trade (the smallest cap).
    pub contracts: u32,
    /// The binding limit's name.
    pub binding: &'static str,
    /// Unrounded full Kelly count under the lognormal model (0 without an edge).
    pub kelly_full: f64,
    /// The second-order approximation `W·E[X]/E[X²]`, for comparison.
    pub kelly_second_order: f64,
    /// Every cap considered.
    pub caps: Vec<Cap>,
}

/// Kelly contracts: `fraction × W·mean/(sd² + mean²)`, unrounded (≤ 0 without an edge).
pub fn kelly_contracts(wealth: f64, mean: f64, sd: f64, fraction: f64) -> f64 {
    let m2 = sd * sd + mean * mean;
    if m2.is_nan() || m2 <= 0.0 || !wealth.is_finite() {
        return 0.0;
    }
    fraction * wealth * mean / m2
}

/// Full Kelly contracts for a short option held to expiry under GBM (see the module docs):
/// `premium_fv` is the premium per share grown to expiry (`fill·e^{rT}`). 0 without an edge.
pub fn kelly_lognormal(
    wealth: f64,
    kind: OptionType,
    strike: f64,
    premium_fv: f64,
    m: &crate::probability::Gbm,
    multiplier: f64,
) -> f64 {
    const N: usize = 4001;
    const Z: f64 = 8.0;
    if !(wealth > 0.0 && m.vol > 0.0 && m.years > 0.0 && m.spot > 0.0 && strike > 0.0) {
        return 0.0;
    }
    let h = 2.0 * Z / (N - 1) as f64;
    let mu = (m.drift - 0.5 * m.vol * m.vol) * m.years;
    let sd = m.vol * m.years.sqrt();
    let mut xs = Vec::with_capacity(N);
    let mut ws = Vec::with_capacity(N);
    let mut wsum = 0.0;
    for i in 0..N {
        let z = -Z + h * i as f64;
        let st = m.spot * (mu + sd * z).exp();
        let payoff = match kind {
            OptionType::Put => (strike - st).max(0.0),
            OptionType::Call => (st - strike).max(0.0),
        };
        let w = (-0.5 * z * z).exp() * if i == 0 || i == N - 1 { 0.5 } else { 1.0 };
        xs.push((premium_fv - payoff) * multiplier);
        ws.push(w);
        wsum += w;
    }
    let grad = |n: f64| -> f64 {
        xs.iter()
            .zip(&ws)
            .map(|(x, w)| w * x / (wealth + n * x))
            .sum::<f64>()
            / wsum
    };
    if grad(0.0) <= 0.0 {
        return 0.0;
    }
    // Ruin bound: W + nX > 0 in the worst case — the underlying at zero for a put (beyond the
    // grid's reach), the grid's worst point for a call (whose loss is unbounded; the grid
    // truncates it at z = +8).
    let grid_worst = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let worst = match kind {
        OptionType::Put => grid_worst.min((premium_fv - strike) * multiplier),
        OptionType::Call => grid_worst,
    };
    let mut hi = if worst < 0.0 { wealth / -worst } else { 1e12 };
    let mut lo = 0.0;
    if grad(hi * (1.0 - 1e-12)) > 0.0 {
        return hi;
    }
    hi *= 1.0 - 1e-12;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if grad(mid) > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-9 * hi {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// Contracts allowed by a budget at a per-contract cost (0 for a non-positive budget).
pub fn allowed(budget: f64, per_contract: f64) -> u32 {
    if per_contract.is_nan() || budget.is_nan() || per_contract <= 0.0 || budget <= 0.0 {
        return if per_contract <= 0.0 && budget > 0.0 {
            u32::MAX
        } else {
            0
        };
    }
    let n = (budget / per_contract + 1e-9).floor();
    if n >= u32::MAX as f64 {
        u32::MAX
    } else {
        n as u32
    }
}

/// Picks the smallest of `caps` (the first of equal ones).
pub fn bind(kelly_full: f64, kelly_second_order: f64, caps: Vec<Cap>) -> Sizing {
    let (contracts, binding) = caps
        .iter()
        .min_by_key(|c| c.contracts)
        .map_or((0, "none"), |c| (c.contracts, c.name));
    Sizing {
        contracts,
        binding,
        kelly_full,
        kelly_second_order,
        caps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kelly_lognormal_bounds() {
        use crate::probability::{Gbm, payoff_moments};
        let m = Gbm {
            spot: 100.0,
            drift: 0.0,
            vol: 0.2,
            years: 30.0 / 365.0,
        };
        let (e1, _) = payoff_moments(OptionType::Put, 95.0, &m);
        // No edge (premium = expected payoff) or less: no position.
        assert_eq!(
            kelly_lognormal(100_000.0, OptionType::Put, 95.0, e1, &m, 100.0),
            0.0
        );
        assert_eq!(
            kelly_lognormal(100_000.0, OptionType::Put, 95.0, 0.5 * e1, &m, 100.0),
            0.0
        );
        // A 50 % edge at 20 % vol: GBM's left tail is so thin that full Kelly sits at the
        // ruin count W / ((K − premium) × 100) (hence fractional Kelly and the hard caps).
        let prem = 1.5 * e1;
        let ruin = 100_000.0 / ((95.0 - prem) * 100.0);
        let n = kelly_lognormal(100_000.0, OptionType::Put, 95.0, prem, &m, 100.0);
        assert!(n > 0.99 * ruin && n <= ruin, "{n} vs {ruin}");
        // A 5 % edge at 60 % vol: an interior optimum where d/dn E[log(W + nX)] = 0 (checked
        // against a finer, independent grid of the objective).
        let m = Gbm { vol: 0.6, ..m };
        let (e1, _) = payoff_moments(OptionType::Put, 95.0, &m);
        let prem = 1.05 * e1;
        let n = kelly_lognormal(100_000.0, OptionType::Put, 95.0, prem, &m, 100.0);
        let ruin = 100_000.0 / ((95.0 - prem) * 100.0);
        assert!(n > 0.0 && n < 0.9 * ruin, "{n} vs {ruin}");
        let t = 30.0f64 / 365.0;
        let g = |n: f64| {
            let mut s = 0.0;
            let mut w = 0.0;
            for i in 0..40_001 {
                let z = -8.0 + 16.0 * i as f64 / 40_000.0;
                let st = 100.0 * (-0.18 * t + 0.6 * t.sqrt() * z).exp();
                let x = (prem - (95.0 - st).max(0.0)) * 100.0;
                let wt = (-0.5 * z * z).exp();
                s += wt * (100_000.0 + n * x).ln();
                w += wt;
            }
            s / w
        };
        assert!(g(n) > g(n * 0.97) && g(n) > g(n * 1.03), "{n}");
        // Twice the wealth, twice the contracts.
        let n2 = kelly_lognormal(200_000.0, OptionType::Put, 95.0, prem, &m, 100.0);
        assert!((n2 / n - 2.0).abs() < 1e-6);
    }

    #[test]
    fn kelly_and_allowed() {
        // W 100 000, mean 50, sd 500: full Kelly 100 000·50/(250 000 + 2 500) = 19.80…
        let k = kelly_contracts(100_000.0, 50.0, 500.0, 1.0);
        assert!((k - 5_000_000.0 / 252_500.0).abs() < 1e-12);
        assert!((kelly_contracts(100_000.0, 50.0, 500.0, 0.25) - k / 4.0).abs() < 1e-12);
        assert!(kelly_contracts(100_000.0, -5.0, 500.0, 0.25) < 0.0);
        assert_eq!(allowed(10_000.0, 9_500.0), 1);
        assert_eq!(allowed(19_000.0, 9_500.0), 2);
        assert_eq!(allowed(-1.0, 9_500.0), 0);
        assert_eq!(allowed(1.0, 0.0), u32::MAX);
    }
}
