//! Reg-T margin requirements of option and stock positions (the rules as FINRA 4210 / Reg T
//! state them for customer accounts; portfolio margin is a later step).
//!
//! - Cash-secured put: `K × multiplier` (cash accounts; the premium received is added to cash
//!   separately).
//! - Naked put: `max(0.20·S − OTM + premium, 0.10·K + premium) × multiplier`, `OTM = max(S − K, 0)`.
//! - Naked call: `max(0.20·S − OTM + premium, 0.10·S + premium) × multiplier`, `OTM = max(K − S, 0)`.
//! - Covered call: nothing beyond the shares; long stock 50 % of its value on margin.

use wheelhouse_core::OptionType;

/// Reg-T requirement of one naked short option contract, money.
pub fn reg_t_naked(kind: OptionType, spot: f64, strike: f64, premium: f64, multiplier: f64) -> f64 {
    let per_share = match kind {
        OptionType::Put => {
            let otm = (spot - strike).max(0.0);
            (0.20 * spot - otm + premium).max(0.10 * strike + premium)
        }
        OptionType::Call => {
            let otm = (strike - spot).max(0.0);
            (0.20 * spot - otm + premium).max(0.10 * spot + premium)
        }
    };
    per_share * multiplier
}

/// Cash-secured requirement of one short put contract, money.
pub fn cash_secured(strike: f64, multiplier: f64) -> f64 {
    strike * multiplier
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reg_t_worked_examples() {
        // Put, S 100, K 95, premium 1.50: OTM 5 → 20 − 5 + 1.5 = 16.5; 9.5 + 1.5 = 11 → 1 650.
        assert!((reg_t_naked(OptionType::Put, 100.0, 95.0, 1.5, 100.0) - 1650.0).abs() < 1e-9);
        // Deep OTM put, S 100, K 60, premium 0.20: 20 − 40 + 0.2 < 0; 6 + 0.2 → 620.
        assert!((reg_t_naked(OptionType::Put, 100.0, 60.0, 0.2, 100.0) - 620.0).abs() < 1e-9);
        // ITM put, S 90, K 100, premium 11: 18 − 0 + 11 = 29 → 2 900.
        assert!((reg_t_naked(OptionType::Put, 90.0, 100.0, 11.0, 100.0) - 2900.0).abs() < 1e-9);
        // Call, S 50, K 55, premium 1: 10 − 5 + 1 = 6; 5 + 1 = 6 → 600.
        assert!((reg_t_naked(OptionType::Call, 50.0, 55.0, 1.0, 100.0) - 600.0).abs() < 1e-9);
        assert_eq!(cash_secured(95.0, 100.0), 9500.0);
    }
}
