//! Scalar f64 option mathematics for wheelhouse.
//!
//! Everything here is allocation-free and I/O-free: the normal distribution
//! ([`normal`]), Black-Scholes-Merton and Black-76 prices and Greeks ([`black`]), European
//! implied volatility after Jäckel's "Let's Be Rational" ([`iv`]), and American options under
//! BSM by the Andersen–Lake–Offengenden fixed-point method ([`american`]).
//!
//! # Units (one place for the whole project)
//! Time in years (ACT/365F), rates, yields and volatilities as annualised decimals with
//! continuous compounding, prices per share. Greeks are raw derivatives: vega per 1.00 of
//! volatility, theta = ∂V/∂t per year, rho per 1.00 of rate.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod american;
pub mod black;
pub mod error;
pub mod iv;
pub mod normal;
pub mod types;

pub use error::PricingError;
pub use types::{Black76Inputs, BsmInputs, ExerciseStyle, Greeks, OptionType};
