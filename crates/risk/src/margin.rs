//! Margin requirements: the [`MarginMethod`] seam (the requirement of all positions on one
//! underlying, the unit a portfolio-margin method stresses together) and [`RegT`], the Reg-T
//! rules as FINRA 4210 / Reg T state them for customer accounts (portfolio margin, a
//! stress-based method, is a later step and plugs in as another `MarginMethod`).
//!
//! - Cash-secured put: `K × multiplier` (cash accounts; the premium received is added to cash
//!   separately).
//! - Naked put: `max(0.20·S − OTM + premium, 0.10·K + premium) × multiplier`, `OTM = max(S − K, 0)`.
//! - Naked call: `max(0.20·S − OTM + premium, 0.10·S + premium) × multiplier`, `OTM = max(K − S, 0)`.
//! - Covered call: nothing beyond the shares; long stock 50 % of its value on margin.

use wheelhouse_core::OptionType;

/// Which instrument a [`MarginLeg`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegKind {
    /// Shares.
    Stock,
    /// A call.
    Call,
    /// A put.
    Put,
}

/// What a margin method needs of one position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarginLeg {
    /// The instrument.
    pub kind: LegKind,
    /// Signed quantity: shares, or contracts (negative = short).
    pub quantity: f64,
    /// Strike (options).
    pub strike: f64,
    /// Mark per share: the option's premium, the stock's price.
    pub mark: f64,
    /// The underlying's price (NaN when unknown: the strike stands in).
    pub spot: f64,
    /// Shares per contract (1 for stock).
    pub multiplier: f64,
}

/// A margin methodology.
pub trait MarginMethod {
    /// Its name in reports.
    fn name(&self) -> &'static str;
    /// The requirement, money, of all the positions on one underlying (`legs` in ledger
    /// order), in a cash (`true`) or margin account.
    fn requirement(&self, legs: &[MarginLeg], cash_account: bool) -> f64;
}

/// Reg-T: long stock paid in full (cash) or 50 % (margin); short puts cash-secured (cash) or
/// naked (margin); short calls covered by the group's shares first, the rest naked.
#[derive(Debug, Clone, Copy, Default)]
pub struct RegT;

impl MarginMethod for RegT {
    fn name(&self) -> &'static str {
        "Reg-T"
    }

    fn requirement(&self, legs: &[MarginLeg], cash_account: bool) -> f64 {
        let mut cover: f64 = legs
            .iter()
            .filter(|l| l.kind == LegKind::Stock)
            .map(|l| l.quantity)
            .sum();
        let mut r = 0.0;
        for l in legs {
            let spot_or_strike = if l.spot.is_finite() { l.spot } else { l.strike };
            match (l.kind, l.quantity < 0.0) {
                (LegKind::Stock, false) => {
                    let value = l.mark * l.quantity * l.multiplier;
                    r += if cash_account { value } else { 0.5 * value };
                }
                (LegKind::Put, true) => {
                    r += -l.quantity
                        * if cash_account {
                            cash_secured(l.strike, l.multiplier)
                        } else {
                            reg_t_naked(
                                OptionType::Put,
                                spot_or_strike,
                                l.strike,
                                l.mark,
                                l.multiplier,
                            )
                        };
                }
                (LegKind::Call, true) => {
                    let need = -l.quantity * l.multiplier;
                    let covered = need.min(cover.max(0.0));
                    cover -= covered;
                    let naked = (need - covered) / l.multiplier;
                    if naked > 0.0 {
                        r += naked
                            * reg_t_naked(
                                OptionType::Call,
                                spot_or_strike,
                                l.strike,
                                l.mark,
                                l.multiplier,
                            );
                    }
                }
                _ => {}
            }
        }
        r
    }
}

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

    /// A group: 150 shares, 2 short calls (one covered, one naked), a short put.
    #[test]
    fn reg_t_groups() {
        let leg = |kind, quantity, strike, mark| MarginLeg {
            kind,
            quantity,
            strike,
            mark,
            spot: 100.0,
            multiplier: if kind == LegKind::Stock { 1.0 } else { 100.0 },
        };
        let legs = [
            leg(LegKind::Stock, 150.0, f64::NAN, 100.0),
            leg(LegKind::Call, -2.0, 105.0, 1.0),
            leg(LegKind::Put, -1.0, 95.0, 1.5),
        ];
        // Margin: 0.5·15 000 + the naked call's half (50 shares of cover short):
        // 0.5·(20 − 5 + 1 = 16 vs 10 + 1) = 800… per contract 1 600 × 0.5 = 800; put 1 650.
        let m = RegT.requirement(&legs, false);
        assert!(
            (m - (7_500.0 + 0.5 * 1_600.0 + 1_650.0)).abs() < 1e-9,
            "{m}"
        );
        // Cash: shares paid in full, the put cash-secured.
        let c = RegT.requirement(&legs, true);
        assert!(
            (c - (15_000.0 + 0.5 * 1_600.0 + 9_500.0)).abs() < 1e-9,
            "{c}"
        );
        assert_eq!(RegT.name(), "Reg-T");
    }
}
