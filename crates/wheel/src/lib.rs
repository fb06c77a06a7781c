//! The wheel strategy: sell cash-secured puts; when assigned, sell covered calls on the
//! shares; repeat.
//!
//! - [`ledger`]: fills → positions, the wheel state per underlying, cycles, cost basis net of
//!   premiums, realized/unrealized P&L and annualized return on capital.
//! - [`probability`]: P(ITM), P(touch), payoff moments under GBM, the spread-aware fill,
//!   the EWMA realized-volatility forecast.
//! - [`candidates`]: filters and the numbers of each candidate, vol-shock scenarios priced as
//!   one `compute` batch, the explainable score.
//! - [`sizing`]: Reg-T and cash-secured requirements, fractional Kelly and its caps.
//! - [`manage`]: rules for held options (take profit, roll for a credit, events, expiry).
//! - [`advisor`]: the concurrent, timed analyses combined into recommendations.
//! - [`config`]: the `[advisor]` configuration and its defaults.
//!
//! # Units
//! Prices per share, money in account currency, time to expiry in years (ACT/365F) and days
//! to expiry in calendar days, rates and volatilities as decimals, continuous compounding.
//! Greeks from the chain are raw (theta per year); per-day views are named `_per_day`.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod advisor;
pub mod candidates;
pub mod config;
pub mod ledger;
pub mod manage;
pub mod probability;
pub mod sizing;

use thiserror::Error;
use wheelhouse_core::UnixNanos;

/// Errors of the wheel crate.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum WheelError {
    /// A fill the ledger cannot apply.
    #[error("fill {index}: {reason}")]
    Fill {
        /// 0-based index of the fill in the input.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// A configuration value out of range.
    #[error("advisor config: {0}")]
    Config(String),
}

/// `YYYY-MM-DD` of an instant in New York.
pub fn date_of(t: UnixNanos) -> String {
    wheelhouse_core::exchange_time::new_york_date(t)
        .map(|d| d.to_string())
        .unwrap_or_else(|_| format!("{}ns", t.0))
}

/// An instant as New York local time with its offset.
pub fn time_of(t: UnixNanos) -> String {
    wheelhouse_core::exchange_time::format_new_york(t)
}
