//! Advisor configuration: the `[advisor]` section of the config file. Every field has a
//! documented default; unknown keys are errors.

use serde::{Deserialize, Serialize};

/// Candidate filters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Filters {
    /// Shortest days to expiry (calendar days, fractional). Default 21.
    pub min_dte: f64,
    /// Longest days to expiry. Default 60.
    pub max_dte: f64,
    /// Smallest |delta| (puts have negative deltas; magnitudes are compared). Default 0.15.
    pub min_abs_delta: f64,
    /// Largest |delta|. Default 0.35.
    pub max_abs_delta: f64,
    /// Smallest bid, per share. Default 0.10.
    pub min_bid: f64,
    /// Largest (ask − bid)/mid. Default 0.15.
    pub max_spread_pct: f64,
    /// Smallest open interest, contracts. Default 100.
    pub min_open_interest: i64,
    /// Smallest day volume, contracts. Default 10.
    pub min_volume: i64,
    /// Allow expiries that span a known earnings date. Default false.
    pub allow_earnings: bool,
    /// Allow expiries that span an ex-dividend date. Default false.
    pub allow_ex_dividend: bool,
    /// Covered calls may have strikes below the adjusted cost basis. Default false.
    pub allow_call_below_basis: bool,
}

impl Default for Filters {
    fn default() -> Self {
        Filters {
            min_dte: 21.0,
            max_dte: 60.0,
            min_abs_delta: 0.15,
            max_abs_delta: 0.35,
            min_bid: 0.10,
            max_spread_pct: 0.15,
            min_open_interest: 100,
            min_volume: 10,
            allow_earnings: false,
            allow_ex_dividend: false,
            allow_call_below_basis: false,
        }
    }
}

/// Weights of the score's components (each component is shown with its value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    /// Annualized premium yield on collateral. Default 1.0.
    pub annualized_yield: f64,
    /// Worst-scenario expected P&L, annualized on collateral. Default 2.0.
    pub robust_edge: f64,
    /// Probability of finishing out of the money. Default 0.5.
    pub prob_otm: f64,
    /// Liquidity score in [0, 1]. Default 0.3.
    pub liquidity: f64,
    /// Expected P&L over its standard deviation. Default 0.5.
    pub sharpe: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            annualized_yield: 1.0,
            robust_edge: 2.0,
            prob_otm: 0.5,
            liquidity: 0.3,
            sharpe: 0.5,
        }
    }
}

/// Sizing and limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Fraction of the Kelly size. Default 0.25.
    pub kelly_fraction: f64,
    /// Largest share of total buying power committed to one underlying. Default 0.25.
    pub max_bp_per_underlying: f64,
    /// Largest total short-put notional (strike × multiplier × contracts), as a multiple of
    /// net liquidation value. Default 1.0 (cash-secured-like even on margin).
    pub max_short_put_notional: f64,
    /// Largest portfolio delta in dollars (|Σ delta × shares × spot|), as a multiple of net
    /// liquidation value. Default 1.0.
    pub max_delta_dollars: f64,
    /// Largest number of contracts per trade. Default 100.
    pub max_contracts: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            kelly_fraction: 0.25,
            max_bp_per_underlying: 0.25,
            max_short_put_notional: 1.0,
            max_delta_dollars: 1.0,
            max_contracts: 100,
        }
    }
}

/// Management of open positions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Management {
    /// Close when this share of the premium is captured. Default 0.50.
    pub take_profit: f64,
    /// Roll (or decide) at or below this many days to expiry. Default 21.
    pub roll_dte: f64,
    /// Roll when |delta| exceeds this. Default 0.50.
    pub roll_abs_delta: f64,
    /// Smallest net credit per share for a roll. Default 0.0 (credit or nothing).
    pub min_roll_credit: f64,
    /// Close short options before an earnings date inside their life. Default true.
    pub close_before_earnings: bool,
}

impl Default for Management {
    fn default() -> Self {
        Management {
            take_profit: 0.5,
            roll_dte: 21.0,
            roll_abs_delta: 0.5,
            min_roll_credit: 0.0,
            close_before_earnings: true,
        }
    }
}

/// The `[advisor]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdvisorConfig {
    /// Candidate filters.
    pub filters: Filters,
    /// Score weights.
    pub weights: Weights,
    /// Sizing and limits.
    pub limits: Limits,
    /// Position management.
    pub management: Management,
    /// Volatility shocks (decimal vol points added to the forecast) of the scenario grid.
    /// Default [-0.05, 0, 0.05, 0.10].
    pub vol_shocks: Vec<f64>,
    /// EWMA decay of the realized-volatility forecast. Default 0.94.
    pub ewma_lambda: f64,
    /// Spread% at which the expected fill is halfway between bid and mid. Default 0.10.
    pub fill_spread_reference: f64,
    /// Oldest acceptable chain snapshot, hours before the advice time. Default 96
    /// (a long weekend).
    pub max_quote_age_hours: f64,
    /// Correlation above which a new underlying counts as concentrated with a held one.
    /// Default 0.7.
    pub max_correlation: f64,
    /// Alternatives shown per underlying. Default 3.
    pub alternatives: usize,
    /// Known earnings dates per symbol (`YYYY-MM-DD`, New York).
    pub earnings: std::collections::BTreeMap<String, Vec<String>>,
}

impl Default for AdvisorConfig {
    fn default() -> Self {
        AdvisorConfig {
            filters: Filters::default(),
            weights: Weights::default(),
            limits: Limits::default(),
            management: Management::default(),
            vol_shocks: vec![-0.05, 0.0, 0.05, 0.10],
            ewma_lambda: 0.94,
            fill_spread_reference: 0.10,
            max_quote_age_hours: 96.0,
            max_correlation: 0.7,
            alternatives: 3,
            earnings: Default::default(),
        }
    }
}

impl AdvisorConfig {
    /// Checks ranges; the error names the key.
    ///
    /// # Errors
    /// A sentence naming the first key out of range.
    pub fn validate(&self) -> Result<(), String> {
        let f = &self.filters;
        let checks: [(bool, &str); 16] = [
            (
                f.min_dte >= 0.0 && f.max_dte >= f.min_dte,
                "filters.min_dte/max_dte: need 0 ≤ min ≤ max",
            ),
            (
                (0.0..=1.0).contains(&f.min_abs_delta)
                    && (f.min_abs_delta..=1.0).contains(&f.max_abs_delta),
                "filters.min_abs_delta/max_abs_delta: need 0 ≤ min ≤ max ≤ 1",
            ),
            (f.min_bid >= 0.0, "filters.min_bid must be ≥ 0"),
            (f.max_spread_pct > 0.0, "filters.max_spread_pct must be > 0"),
            (
                f.min_open_interest >= 0 && f.min_volume >= 0,
                "filters.min_open_interest/min_volume must be ≥ 0",
            ),
            (
                self.limits.kelly_fraction > 0.0 && self.limits.kelly_fraction <= 1.0,
                "limits.kelly_fraction must be in (0, 1]",
            ),
            (
                self.limits.max_bp_per_underlying > 0.0 && self.limits.max_bp_per_underlying <= 1.0,
                "limits.max_bp_per_underlying must be in (0, 1]",
            ),
            (
                self.limits.max_short_put_notional > 0.0,
                "limits.max_short_put_notional must be > 0",
            ),
            (
                self.limits.max_delta_dollars > 0.0,
                "limits.max_delta_dollars must be > 0",
            ),
            (
                self.management.take_profit > 0.0 && self.management.take_profit <= 1.0,
                "management.take_profit must be in (0, 1]",
            ),
            (
                self.management.roll_dte >= 0.0,
                "management.roll_dte must be ≥ 0",
            ),
            (
                self.management.roll_abs_delta > 0.0 && self.management.roll_abs_delta <= 1.0,
                "management.roll_abs_delta must be in (0, 1]",
            ),
            (
                !self.vol_shocks.is_empty()
                    && self
                        .vol_shocks
                        .iter()
                        .all(|v| v.is_finite() && v.abs() < 1.0),
                "vol_shocks: one or more decimal shocks within ±1",
            ),
            (
                self.ewma_lambda > 0.0 && self.ewma_lambda < 1.0,
                "ewma_lambda must be in (0, 1)",
            ),
            (
                self.fill_spread_reference > 0.0,
                "fill_spread_reference must be > 0",
            ),
            (
                self.max_quote_age_hours > 0.0,
                "max_quote_age_hours must be > 0",
            ),
        ];
        for (ok, msg) in checks {
            if !ok {
                return Err(msg.to_string());
            }
        }
        let w = &self.weights;
        for (v, name) in [
            (w.annualized_yield, "annualized_yield"),
            (w.robust_edge, "robust_edge"),
            (w.prob_otm, "prob_otm"),
            (w.liquidity, "liquidity"),
            (w.sharpe, "sharpe"),
        ] {
            if !v.is_finite() {
                return Err(format!("weights.{name} must be a number"));
            }
        }
        Ok(())
    }
}
