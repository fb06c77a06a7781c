//! Golden reference tables (CSV files in `crates/testkit/data/`) and their loaders.
//!
//! The European tables hold mpmath closed-form values (checked against numerical
//! differentiation and quadrature), correctly rounded to `f64`; the American table holds
//! QuantLib prices. Each loader parses its table, embedded with `include_str!`, into typed rows.
//! `crates/testkit/data/README.md` documents sources, generator commands, versions and seeds.
//!
//! # Tolerance
//! A computed value `x` matches a reference `value` with scale `scale` when
//! `|x - value| <= 1e-12 |value| + 1e-14 scale` (see [`tolerance`] and [`within_tolerance`]).
//! The scale is the magnitude of the largest term of the value's closed form, so it absorbs
//! the rounding error of unavoidable cancellation.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use wheelhouse_pricing::types::{Black76Inputs, BsmInputs, Greeks, OptionType};

/// Relative part of the acceptance tolerance: `1e-12 · |value|`.
pub const REL_TOL: f64 = 1e-12;
/// Scale part of the acceptance tolerance: `1e-14 · scale`.
pub const SCALE_TOL: f64 = 1e-14;

/// The largest acceptable `|computed - value|` for a reference `value` with `scale`.
pub fn tolerance(value: f64, scale: f64) -> f64 {
    REL_TOL * value.abs() + SCALE_TOL * scale.abs()
}

/// Whether `computed` matches the reference `value` (with `scale`) within [`tolerance`].
///
/// Exact equality (including two zeros) always matches; NaN never does.
pub fn within_tolerance(computed: f64, value: f64, scale: f64) -> bool {
    computed == value || (computed - value).abs() <= tolerance(value, scale)
}

/// What an implied-volatility solver must report for a price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IvExpect {
    /// A volatility exists; `iv_ref` holds it.
    Ok,
    /// The price is below the discounted intrinsic value `max(ω(S·Dq − K·Df), 0)`.
    BelowIntrinsic,
    /// The price equals the discounted intrinsic value exactly (implied volatility 0).
    AtIntrinsic,
    /// The price is at or above the upper bound (`S·Dq` for a call, `K·Df` for a put).
    AboveUpperBound,
    /// An input is NaN, infinite or out of its domain; holds the field name.
    InvalidInput(String),
}

impl IvExpect {
    /// Parses `ok`, `below_intrinsic`, `at_intrinsic`, `above_upper_bound` or
    /// `invalid_input:<field>`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "ok" => Some(IvExpect::Ok),
            "below_intrinsic" => Some(IvExpect::BelowIntrinsic),
            "at_intrinsic" => Some(IvExpect::AtIntrinsic),
            "above_upper_bound" => Some(IvExpect::AboveUpperBound),
            other => other
                .strip_prefix("invalid_input:")
                .filter(|f| !f.is_empty())
                .map(|f| IvExpect::InvalidInput(f.to_owned())),
        }
    }
}

fn de_option_type<'de, D: Deserializer<'de>>(d: D) -> Result<OptionType, D::Error> {
    let s = String::deserialize(d)?;
    OptionType::parse(&s).ok_or_else(|| D::Error::custom(format!("bad option type {s:?}")))
}

fn de_iv_expect<'de, D: Deserializer<'de>>(d: D) -> Result<IvExpect, D::Error> {
    let s = String::deserialize(d)?;
    IvExpect::parse(&s).ok_or_else(|| D::Error::custom(format!("bad iv_expect {s:?}")))
}

fn de_flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match u8::deserialize(d)? {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(D::Error::custom(format!("bad 0/1 flag {v}"))),
    }
}

/// One European BSM case (`european_bsm.csv`, `european_edge.csv`).
///
/// Every reference value `x` comes with `x_scale`, the magnitude of the largest term of its
/// closed form (for single-term values `|x|`; for vanna, volga and charm `d1`, `d2` are
/// expanded into their terms).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EuropeanCase {
    /// Row id (0-based, unique within the file).
    pub id: u32,
    /// Call or put (CSV column `type`).
    #[serde(rename = "type", deserialize_with = "de_option_type")]
    pub kind: OptionType,
    /// Spot price S.
    pub spot: f64,
    /// Strike K.
    pub strike: f64,
    /// Time to expiry T in years.
    pub years: f64,
    /// Risk-free rate r (continuous).
    pub rate: f64,
    /// Dividend yield q (continuous).
    pub dividend_yield: f64,
    /// Volatility σ.
    pub volatility: f64,
    /// Option value.
    pub price: f64,
    /// `max(|S·Dq·N(ωd1)|, |K·Df·N(ωd2)|)`.
    pub price_scale: f64,
    /// ∂V/∂S.
    pub delta: f64,
    /// Scale of `delta`.
    pub delta_scale: f64,
    /// ∂²V/∂S².
    pub gamma: f64,
    /// Scale of `gamma`.
    pub gamma_scale: f64,
    /// ∂V/∂σ.
    pub vega: f64,
    /// Scale of `vega`.
    pub vega_scale: f64,
    /// ∂V/∂t = −∂V/∂T, per year.
    pub theta: f64,
    /// Largest of `|S·Dq·φ(d1)·σ/(2√T)|`, `|r·K·Df·N(ωd2)|`, `|q·S·Dq·N(ωd1)|`.
    pub theta_scale: f64,
    /// ∂V/∂r.
    pub rho: f64,
    /// Scale of `rho`.
    pub rho_scale: f64,
    /// ∂V/∂q.
    pub epsilon: f64,
    /// Scale of `epsilon`.
    pub epsilon_scale: f64,
    /// ∂²V/∂S∂σ.
    pub vanna: f64,
    /// Scale of `vanna`.
    pub vanna_scale: f64,
    /// ∂²V/∂σ².
    pub volga: f64,
    /// Scale of `volga`.
    pub volga_scale: f64,
    /// ∂Δ/∂t = −∂²V/∂S∂T, per year.
    pub charm: f64,
    /// Scale of `charm`.
    pub charm_scale: f64,
    /// ∂V/∂K.
    pub dual_delta: f64,
    /// Scale of `dual_delta`.
    pub dual_delta_scale: f64,
    /// N(ωd2).
    pub prob_itm: f64,
    /// Scale of `prob_itm`.
    pub prob_itm_scale: f64,
    /// Exact implied volatility of the `f64` `price` (None unless `iv_expect` is `Ok`).
    pub iv_ref: Option<f64>,
    /// What an implied-volatility solver must report for `price`.
    #[serde(deserialize_with = "de_iv_expect")]
    pub iv_expect: IvExpect,
    /// `price − max(ω(S·Dq − K·Df), 0)`, exact.
    pub time_value: f64,
    /// Whether `time_value ≥ 1e-9·S` and `vega ≥ 1e-6·S·√T` (implied volatility is then a
    /// well-conditioned function of the price).
    #[serde(deserialize_with = "de_flag")]
    pub iv_well_conditioned: bool,
    /// Which family of edge case (`european_edge.csv` only).
    #[serde(default)]
    pub note: Option<String>,
}

impl EuropeanCase {
    /// The inputs as the pricing crate's type.
    pub fn inputs(&self) -> BsmInputs {
        BsmInputs {
            kind: self.kind,
            spot: self.spot,
            strike: self.strike,
            years: self.years,
            rate: self.rate,
            dividend_yield: self.dividend_yield,
            volatility: self.volatility,
        }
    }

    /// The reference values.
    pub fn greeks(&self) -> Greeks {
        Greeks {
            price: self.price,
            delta: self.delta,
            gamma: self.gamma,
            vega: self.vega,
            theta: self.theta,
            rho: self.rho,
            epsilon: self.epsilon,
            vanna: self.vanna,
            volga: self.volga,
            charm: self.charm,
            dual_delta: self.dual_delta,
            prob_itm: self.prob_itm,
        }
    }

    /// The scales of the reference values, field by field.
    pub fn scales(&self) -> Greeks {
        Greeks {
            price: self.price_scale,
            delta: self.delta_scale,
            gamma: self.gamma_scale,
            vega: self.vega_scale,
            theta: self.theta_scale,
            rho: self.rho_scale,
            epsilon: self.epsilon_scale,
            vanna: self.vanna_scale,
            volga: self.volga_scale,
            charm: self.charm_scale,
            dual_delta: self.dual_delta_scale,
            prob_itm: self.prob_itm_scale,
        }
    }
}

/// One European Black-76 case (`european_black76.csv`); scales as in [`EuropeanCase`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Black76Case {
    /// Row id (0-based, unique within the file).
    pub id: u32,
    /// Call or put (CSV column `type`).
    #[serde(rename = "type", deserialize_with = "de_option_type")]
    pub kind: OptionType,
    /// Forward price F.
    pub forward: f64,
    /// Strike K.
    pub strike: f64,
    /// Time to expiry T in years.
    pub years: f64,
    /// Discount rate r (continuous).
    pub rate: f64,
    /// Volatility σ.
    pub volatility: f64,
    /// Option value `Df·ω[F·N(ωd1) − K·N(ωd2)]`.
    pub price: f64,
    /// `max(|Df·F·N(ωd1)|, |Df·K·N(ωd2)|)`.
    pub price_scale: f64,
    /// ∂V/∂F.
    pub delta: f64,
    /// Scale of `delta`.
    pub delta_scale: f64,
    /// ∂²V/∂F².
    pub gamma: f64,
    /// Scale of `gamma`.
    pub gamma_scale: f64,
    /// ∂V/∂σ.
    pub vega: f64,
    /// Scale of `vega`.
    pub vega_scale: f64,
    /// −∂V/∂T at fixed F, per year.
    pub theta: f64,
    /// Largest of `|r·Df·F·N(ωd1)|`, `|r·Df·K·N(ωd2)|`, `|Df·F·φ(d1)·σ/(2√T)|`.
    pub theta_scale: f64,
    /// ∂V/∂r at fixed F (= −T·V).
    pub rho: f64,
    /// `T · price_scale`.
    pub rho_scale: f64,
    /// ∂²V/∂F∂σ.
    pub vanna: f64,
    /// Scale of `vanna`.
    pub vanna_scale: f64,
    /// ∂²V/∂σ².
    pub volga: f64,
    /// Scale of `volga`.
    pub volga_scale: f64,
    /// −∂²V/∂F∂T, per year.
    pub charm: f64,
    /// Scale of `charm`.
    pub charm_scale: f64,
    /// ∂V/∂K.
    pub dual_delta: f64,
    /// Scale of `dual_delta`.
    pub dual_delta_scale: f64,
    /// N(ωd2).
    pub prob_itm: f64,
    /// Scale of `prob_itm`.
    pub prob_itm_scale: f64,
    /// Exact implied volatility of the `f64` `price` (None unless `iv_expect` is `Ok`).
    pub iv_ref: Option<f64>,
    /// What an implied-volatility solver must report for `price`.
    #[serde(deserialize_with = "de_iv_expect")]
    pub iv_expect: IvExpect,
    /// `price − max(ω·Df·(F − K), 0)`, exact.
    pub time_value: f64,
    /// Whether `time_value ≥ 1e-9·F` and `vega ≥ 1e-6·F·√T`.
    #[serde(deserialize_with = "de_flag")]
    pub iv_well_conditioned: bool,
}

impl Black76Case {
    /// The inputs as the pricing crate's type.
    pub fn inputs(&self) -> Black76Inputs {
        Black76Inputs {
            kind: self.kind,
            forward: self.forward,
            strike: self.strike,
            years: self.years,
            rate: self.rate,
            volatility: self.volatility,
        }
    }

    /// The reference values (`epsilon` is 0).
    pub fn greeks(&self) -> Greeks {
        Greeks {
            price: self.price,
            delta: self.delta,
            gamma: self.gamma,
            vega: self.vega,
            theta: self.theta,
            rho: self.rho,
            epsilon: 0.0,
            vanna: self.vanna,
            volga: self.volga,
            charm: self.charm,
            dual_delta: self.dual_delta,
            prob_itm: self.prob_itm,
        }
    }

    /// The scales of the reference values, field by field (`epsilon` is 0).
    pub fn scales(&self) -> Greeks {
        Greeks {
            price: self.price_scale,
            delta: self.delta_scale,
            gamma: self.gamma_scale,
            vega: self.vega_scale,
            theta: self.theta_scale,
            rho: self.rho_scale,
            epsilon: 0.0,
            vanna: self.vanna_scale,
            volga: self.volga_scale,
            charm: self.charm_scale,
            dual_delta: self.dual_delta_scale,
            prob_itm: self.prob_itm_scale,
        }
    }
}

/// One implied-volatility input that a solver must reject (`iv_invalid.csv`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct IvInvalidCase {
    /// Call or put (CSV column `type`).
    #[serde(rename = "type", deserialize_with = "de_option_type")]
    pub kind: OptionType,
    /// Spot price (may be NaN, infinite or ≤ 0).
    pub spot: f64,
    /// Strike (may be NaN, infinite or ≤ 0).
    pub strike: f64,
    /// Time to expiry in years (may be NaN, infinite or ≤ 0).
    pub years: f64,
    /// Risk-free rate (may be NaN or infinite).
    pub rate: f64,
    /// Dividend yield (may be NaN or infinite).
    pub dividend_yield: f64,
    /// Option price to invert.
    pub price: f64,
    /// The required outcome (never [`IvExpect::Ok`]).
    #[serde(deserialize_with = "de_iv_expect")]
    pub expect: IvExpect,
}

/// One American BSM case (`american.csv`), priced by QuantLib.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AmericanCase {
    /// Row id (0-based, unique within the file).
    pub id: u32,
    /// Call or put (CSV column `type`).
    #[serde(rename = "type", deserialize_with = "de_option_type")]
    pub kind: OptionType,
    /// Spot price S.
    pub spot: f64,
    /// Strike K.
    pub strike: f64,
    /// Time to expiry in years, exactly `days / 365`.
    pub years: f64,
    /// Time to expiry in whole days (QuantLib's resolution).
    pub days: u32,
    /// Risk-free rate r (continuous).
    pub rate: f64,
    /// Dividend yield q (continuous).
    pub dividend_yield: f64,
    /// Volatility σ.
    pub volatility: f64,
    /// American price: QuantLib `QdFpAmericanEngine`, high-precision scheme.
    pub price: f64,
    /// European price: QuantLib `AnalyticEuropeanEngine`.
    pub european_price: f64,
    /// Finite-difference American price, Richardson-extrapolated over three grids (subset).
    pub fd_price: Option<f64>,
    /// Finite-difference American price on the finest grid alone (subset).
    pub fd_price_finest: Option<f64>,
    /// `price − fd_price` (subset).
    pub qdfp_minus_fd: Option<f64>,
    /// ∂V/∂S from the finest finite-difference grid (subset).
    pub fd_delta: Option<f64>,
    /// ∂²V/∂S² from the finest finite-difference grid (subset).
    pub fd_gamma: Option<f64>,
    /// QuantLib's theta from the finest finite-difference grid: ∂V/∂t per year (subset).
    pub fd_theta: Option<f64>,
    /// Regime remarks (`;`-separated), e.g. a put with r ≤ 0 (no early exercise).
    pub regime_note: Option<String>,
}

impl AmericanCase {
    /// The inputs as the pricing crate's type.
    pub fn inputs(&self) -> BsmInputs {
        BsmInputs {
            kind: self.kind,
            spot: self.spot,
            strike: self.strike,
            years: self.years,
            rate: self.rate,
            dividend_yield: self.dividend_yield,
            volatility: self.volatility,
        }
    }
}

fn load<T: DeserializeOwned>(name: &str, text: &str) -> Vec<T> {
    csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .from_reader(text.as_bytes())
        .deserialize()
        .enumerate()
        .map(|(i, row)| row.unwrap_or_else(|e| panic!("{name}: data row {i}: {e}")))
        .collect()
}

/// Random European BSM cases (`european_bsm.csv`).
///
/// # Panics
/// If the embedded table does not parse (a bug in the table).
pub fn european_bsm() -> Vec<EuropeanCase> {
    load("european_bsm.csv", include_str!("../data/european_bsm.csv"))
}

/// Random European Black-76 cases (`european_black76.csv`).
///
/// # Panics
/// If the embedded table does not parse (a bug in the table).
pub fn european_black76() -> Vec<Black76Case> {
    load(
        "european_black76.csv",
        include_str!("../data/european_black76.csv"),
    )
}

/// Hand-picked European BSM edge cases (`european_edge.csv`), each with a `note`.
///
/// # Panics
/// If the embedded table does not parse (a bug in the table).
pub fn european_edge() -> Vec<EuropeanCase> {
    load(
        "european_edge.csv",
        include_str!("../data/european_edge.csv"),
    )
}

/// Implied-volatility inputs that must be rejected (`iv_invalid.csv`).
///
/// # Panics
/// If the embedded table does not parse (a bug in the table).
pub fn iv_invalid() -> Vec<IvInvalidCase> {
    load("iv_invalid.csv", include_str!("../data/iv_invalid.csv"))
}

/// Random American BSM cases (`american.csv`).
///
/// # Panics
/// If the embedded table does not parse (a bug in the table).
pub fn american() -> Vec<AmericanCase> {
    load("american.csv", include_str!("../data/american.csv"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_counts() {
        assert_eq!(european_bsm().len(), 2000);
        assert_eq!(european_black76().len(), 600);
        assert_eq!(european_edge().len(), 170);
        assert_eq!(iv_invalid().len(), 48);
        assert_eq!(american().len(), 1000);
    }

    #[test]
    fn fields_parse_as_documented() {
        let bsm = european_bsm();
        assert!(bsm.iter().enumerate().all(|(i, c)| c.id as usize == i));
        assert!(bsm.iter().all(|c| c.note.is_none()));
        assert!(
            bsm.iter()
                .all(|c| c.iv_ref.is_some() == (c.iv_expect == IvExpect::Ok))
        );
        assert!(european_edge().iter().all(|c| c.note.is_some()));
        let inv = iv_invalid();
        assert!(inv.iter().any(|c| c.price.is_nan()));
        assert!(inv.iter().all(|c| c.expect != IvExpect::Ok));
        assert!(
            inv.iter()
                .any(|c| c.expect == IvExpect::InvalidInput("spot".into()))
        );
        let am = american();
        assert!(am.iter().filter(|c| c.fd_price.is_some()).count() >= 200);
        assert!(
            am.iter()
                .all(|c| c.years == f64::from(c.days) / 365.0 && c.price >= 0.0)
        );
    }

    #[test]
    fn tolerance_rule() {
        assert!(within_tolerance(1.0 + 5e-13, 1.0, 1.0));
        assert!(!within_tolerance(1.0 + 5e-12, 1.0, 1.0));
        assert!(within_tolerance(1e-3, 0.0, 1e12));
        assert!(within_tolerance(0.0, 0.0, 0.0));
        assert!(!within_tolerance(f64::NAN, 1.0, 1.0));
    }
}
