//! The one error type of the pricing crate.

use thiserror::Error;

/// Why a price, a Greek or an implied volatility could not be computed.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
#[non_exhaustive]
pub enum PricingError {
    /// An input is NaN, infinite, or outside its domain (e.g. spot ≤ 0).
    #[error("invalid {field}: {value} ({reason})")]
    InvalidInput {
        /// Name of the offending input.
        field: &'static str,
        /// The value given.
        value: f64,
        /// What the domain is.
        reason: &'static str,
    },
    /// The option price is below its lower no-arbitrage bound (intrinsic value, discounted for
    /// European options): no volatility reproduces it.
    #[error("price {price} is below the no-arbitrage lower bound {bound} (intrinsic value)")]
    BelowIntrinsic {
        /// The price given.
        price: f64,
        /// The lower bound.
        bound: f64,
    },
    /// The option price is at or above its upper no-arbitrage bound (the discounted forward for
    /// a call, the discounted strike for a put): no finite volatility reproduces it.
    #[error("price {price} is at or above the no-arbitrage upper bound {bound}")]
    AboveUpperBound {
        /// The price given.
        price: f64,
        /// The upper bound.
        bound: f64,
    },
    /// The price equals the lower bound exactly: the implied volatility is 0, which is not a
    /// volatility any model can use.
    #[error("price {price} equals the intrinsic value: implied volatility is zero")]
    AtIntrinsic {
        /// The price given.
        price: f64,
    },
    /// An iterative method did not converge to the required tolerance.
    #[error("{method} did not converge after {iterations} iterations")]
    NoConvergence {
        /// Which method.
        method: &'static str,
        /// Iterations spent.
        iterations: u32,
    },
    /// The parameter regime is outside what the method supports (e.g. the double exercise
    /// boundary of an American put when q < r < 0).
    #[error("unsupported regime: {reason}")]
    Unsupported {
        /// What is unsupported.
        reason: &'static str,
    },
}
