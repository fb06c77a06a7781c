//! The risk engine: exposures, stress grids and P&L explain ([`book`]), beta-weighted delta
//! ([`beta`]), counter-based random numbers ([`philox`]), small dense linear algebra for
//! correlations ([`linalg`]), VaR and expected shortfall with standard errors ([`var`]),
//! historical simulation and named shocks ([`historical`]), the Monte Carlo P&L of a book with
//! full revaluation through `compute` ([`mc`]) and Reg-T margin ([`margin`]).
//!
//! # Units
//! Money in account currency with losses positive in VaR/CVaR; volatilities and rates as
//! decimals; Monte Carlo steps are trading days (1/252 year); option times in years.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod beta;
pub mod book;
pub mod historical;
pub mod linalg;
pub mod margin;
pub mod mc;
pub mod philox;
pub mod var;

use thiserror::Error;

/// Errors of the risk engine.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum RiskError {
    /// Bad input, named in the message.
    #[error("{0}")]
    Input(String),
}
