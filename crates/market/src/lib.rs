//! Chain analytics and volatility surfaces.
//!
//! - [`chain`]: one snapshot → forwards, implied dividends, quote IVs with typed statuses,
//!   Greeks at mid IV, an SVI smile per expiry, calendar check and a summary.
//! - [`svi`]: raw-SVI slices, their butterfly-arbitrage checks and the constrained fit.
//! - [`surface`]: SVI slices across expiries, interpolation in total variance, calendar check.
//! - [`history`]: IV rank and percentile of a value against its history.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod chain;
pub mod history;
pub mod surface;
pub mod svi;
