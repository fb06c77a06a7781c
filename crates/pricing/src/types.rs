//! Plain input structs shared by every pricing model.

pub use wheelhouse_core::{ExerciseStyle, OptionType};

/// Inputs of a Black-Scholes-Merton option on a spot price with a continuous dividend yield.
///
/// # Units
/// Prices per share; `years` is time to expiry in years (ACT/365F); `rate`, `dividend_yield`
/// and `volatility` are annualised decimals, continuously compounded (0.05 = 5 %).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BsmInputs {
    /// Call or put.
    pub kind: OptionType,
    /// Spot price of the underlying, > 0.
    pub spot: f64,
    /// Strike, > 0.
    pub strike: f64,
    /// Time to expiry in years, > 0.
    pub years: f64,
    /// Risk-free rate, continuously compounded decimal (may be negative).
    pub rate: f64,
    /// Continuous dividend yield, decimal (may be negative, e.g. borrow cost).
    pub dividend_yield: f64,
    /// Volatility, annualised decimal, > 0.
    pub volatility: f64,
}

/// Inputs of a Black-76 option on a forward (or future) price.
///
/// # Units
/// As [`BsmInputs`]; `rate` only discounts the payoff.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Black76Inputs {
    /// Call or put.
    pub kind: OptionType,
    /// Forward price for the option's expiry, > 0.
    pub forward: f64,
    /// Strike, > 0.
    pub strike: f64,
    /// Time to expiry in years, > 0.
    pub years: f64,
    /// Discount rate, continuously compounded decimal.
    pub rate: f64,
    /// Volatility of the forward, annualised decimal, > 0.
    pub volatility: f64,
}

/// Price and sensitivities of one option, all raw derivatives.
///
/// # Units
/// `vega`, `vanna`, `volga` per 1.00 of volatility; `theta` = ∂V/∂t per year (calendar time
/// moving forward, i.e. −∂V/∂T); `rho` per 1.00 of rate; `epsilon` = ∂V/∂q per 1.00 of yield;
/// `charm` = ∂Δ/∂t per year; `dual_delta` = ∂V/∂K; `prob_itm` is the risk-neutral probability
/// of finishing in the money. For Black-76, `delta`/`gamma`/`vanna`/`charm` are with respect to
/// the forward and `epsilon` is 0.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Greeks {
    /// Option value.
    pub price: f64,
    /// ∂V/∂S.
    pub delta: f64,
    /// ∂²V/∂S².
    pub gamma: f64,
    /// ∂V/∂σ (per 1.00 vol).
    pub vega: f64,
    /// ∂V/∂t per year (= −∂V/∂T).
    pub theta: f64,
    /// ∂V/∂r (per 1.00 rate).
    pub rho: f64,
    /// ∂V/∂q (per 1.00 dividend yield).
    pub epsilon: f64,
    /// ∂²V/∂S∂σ.
    pub vanna: f64,
    /// ∂²V/∂σ² (also called vomma).
    pub volga: f64,
    /// ∂Δ/∂t per year (= −∂²V/∂S∂T).
    pub charm: f64,
    /// ∂V/∂K.
    pub dual_delta: f64,
    /// Risk-neutral probability of finishing in the money: N(d2) for a call, N(−d2) for a put.
    pub prob_itm: f64,
}
