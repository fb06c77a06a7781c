//! Black-Scholes-Merton (spot with continuous dividend yield) and Black-76 (forward) prices and
//! Greeks in closed form.
//!
//! # Formula
//! With ω = +1 for a call and −1 for a put, D_r = e^{−rT}, D_q = e^{−qT},
//! d₁ = (ln(S/K) + (r − q + σ²/2)T)/(σ√T), d₂ = d₁ − σ√T:
//!
//! | quantity | BSM closed form |
//! |---|---|
//! | price | ω(S·D_q·N(ωd₁) − K·D_r·N(ωd₂)) |
//! | delta ∂V/∂S | ω·D_q·N(ωd₁) |
//! | gamma ∂²V/∂S² | D_q·φ(d₁)/(S·σ√T) |
//! | vega ∂V/∂σ | S·D_q·φ(d₁)·√T |
//! | theta ∂V/∂t = −∂V/∂T | −S·D_q·φ(d₁)·σ/(2√T) − ω·r·K·D_r·N(ωd₂) + ω·q·S·D_q·N(ωd₁) |
//! | rho ∂V/∂r | ω·K·T·D_r·N(ωd₂) |
//! | epsilon ∂V/∂q | −ω·S·T·D_q·N(ωd₁) |
//! | vanna ∂²V/∂S∂σ | −D_q·φ(d₁)·d₂/σ |
//! | volga ∂²V/∂σ² | vega·d₁·d₂/σ |
//! | charm ∂Δ/∂t | ω·q·D_q·N(ωd₁) − D_q·φ(d₁)·(2(r−q)T − d₂σ√T)/(2Tσ√T) |
//! | dual delta ∂V/∂K | −ω·D_r·N(ωd₂) |
//! | P(ITM) | N(ωd₂) |
//!
//! Black-76 is the same with the forward F in place of S·e^{(r−q)T}, the whole value discounted
//! by D_r, derivatives taken with respect to F, and rho = −T·V (F held fixed).
//!
//! # Accuracy
//! Every quantity is evaluated from its closed form with the Cody-accurate [`norm_cdf`] (no
//! cancellation-prone `1 − N(x)`), so the error is within a few ulps of the largest term of the
//! formula; the golden tests check |err| ≤ 1e-12·|value| + 1e-14·(largest term) against mpmath.
//!
//! # References
//! - F. Black, M. Scholes (1973); R. C. Merton (1973); F. Black (1976), "The pricing of
//!   commodity contracts".
//! - E. G. Haug, *The Complete Guide to Option Pricing Formulas*, 2nd ed., ch. 1–2.

use crate::error::PricingError;
use std::f64::consts::FRAC_1_SQRT_2;

use crate::normal::{erfcx, norm_cdf, norm_pdf};
use crate::types::{Black76Inputs, BsmInputs, Greeks, OptionType};

#[inline]
fn invalid(field: &'static str, value: f64, reason: &'static str) -> PricingError {
    PricingError::InvalidInput {
        field,
        value,
        reason,
    }
}

/// Error-free sum: `a + b = s + e` exactly.
#[inline(always)]
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// ln(a/b) with the rounding of the division compensated (one fused multiply-add), so the
/// error is that of the logarithm alone, relative to the result.
#[inline(always)]
fn ln_ratio(a: f64, b: f64) -> f64 {
    let q = a / b;
    let q_lo = (-q).mul_add(b, a) / b;
    q.ln() + q_lo / q
}

/// The shared pieces of every closed form: d₁, d₂, N(ωd₁), N(ωd₂), φ(d₁), and the two terms
/// `a·N(ωd₁)` and `b·N(ωd₂)` of the price ω(a·N(ωd₁) − b·N(ωd₂)), where a = S·D_q (F·D_r for
/// Black-76) and b = K·D_r.
struct Core {
    d1: f64,
    d2: f64,
    nd1: f64,
    nd2: f64,
    pdf1: f64,
    term_a: f64,
    term_b: f64,
    price: f64,
}

/// √(π/2).
const SQRT_HALF_PI: f64 = 1.253_314_137_315_500_3;

/// Computes [`Core`] for d₁,₂ = x/s ± s/2.
///
/// The rounding of d₁ and d₂ is carried in a low-order part and applied as a first-order
/// correction: otherwise their independent roundings (relative error ≈ d²·ε in N and φ) are
/// amplified by the cancellation between the two terms of an out-of-the-money price. When the
/// option is out of the money with respect to the forward (ωd₁, ωd₂ < 0), both terms are written
/// with the scaled complementary error function, using a·φ(d₁) = b·φ(d₂):
/// a·N(ωd₁) = a·φ(d₁)·√(π/2)·erfcx(−ωd₁/√2), b·N(ωd₂) = a·φ(d₁)·√(π/2)·erfcx(−ωd₂/√2),
/// so the difference is taken between two well-conditioned numbers of the same scale and
/// neither term underflows on its own (Jäckel, "Let's Be Rational", 2015, §3).
#[inline(always)]
fn core(w: f64, x: f64, sst: f64, a: f64, b: f64) -> Core {
    let h = x / sst;
    // x − h·s exactly (one fused multiply-add), divided by s: the low part of x/s.
    let h_lo = (-h).mul_add(sst, x) / sst;
    let t = 0.5 * sst;
    let (d1, e1) = two_sum(h, t);
    let (d2, e2) = two_sum(h, -t);
    let d1_lo = e1 + h_lo;
    let d2_lo = e2 + h_lo;
    let pdf1_hi = norm_pdf(d1);
    let pdf2_hi = norm_pdf(d2);
    let pdf1 = pdf1_hi - pdf1_hi * d1 * d1_lo;
    if w * d1 < 0.0 && w * d2 < 0.0 {
        let common = a * pdf1 * SQRT_HALF_PI;
        let e1 = erfcx(-w * d1 * FRAC_1_SQRT_2);
        let e2 = erfcx(-w * d2 * FRAC_1_SQRT_2);
        let pdf2 = pdf2_hi - pdf2_hi * d2 * d2_lo;
        Core {
            d1: d1 + d1_lo,
            d2: d2 + d2_lo,
            nd1: pdf1 * SQRT_HALF_PI * e1,
            nd2: pdf2 * SQRT_HALF_PI * e2,
            pdf1,
            term_a: common * e1,
            term_b: common * e2,
            price: w * common * (e1 - e2),
        }
    } else {
        let nd1 = norm_cdf(w * d1) + w * pdf1_hi * d1_lo;
        let nd2 = norm_cdf(w * d2) + w * pdf2_hi * d2_lo;
        let term_a = a * nd1;
        let term_b = b * nd2;
        Core {
            d1: d1 + d1_lo,
            d2: d2 + d2_lo,
            nd1,
            nd2,
            pdf1,
            term_a,
            term_b,
            price: w * (term_a - term_b),
        }
    }
}

/// Checks that `value` is finite and strictly positive.
#[inline]
pub(crate) fn check_positive(field: &'static str, value: f64) -> Result<(), PricingError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(invalid(field, value, "must be finite and > 0"))
    }
}

/// Checks that `value` is finite.
#[inline]
pub(crate) fn check_finite(field: &'static str, value: f64) -> Result<(), PricingError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(invalid(field, value, "must be finite"))
    }
}

/// Validates BSM inputs: spot, strike, years and volatility finite and > 0; rate and dividend
/// yield finite.
///
/// # Errors
/// [`PricingError::InvalidInput`] naming the first offending field.
#[inline]
pub fn validate_bsm(inp: &BsmInputs) -> Result<(), PricingError> {
    check_positive("spot", inp.spot)?;
    check_positive("strike", inp.strike)?;
    check_positive("years", inp.years)?;
    check_finite("rate", inp.rate)?;
    check_finite("dividend_yield", inp.dividend_yield)?;
    check_positive("volatility", inp.volatility)
}

/// Validates Black-76 inputs: forward, strike, years and volatility finite and > 0; rate finite.
///
/// # Errors
/// [`PricingError::InvalidInput`] naming the first offending field.
#[inline]
pub fn validate_black76(inp: &Black76Inputs) -> Result<(), PricingError> {
    check_positive("forward", inp.forward)?;
    check_positive("strike", inp.strike)?;
    check_positive("years", inp.years)?;
    check_finite("rate", inp.rate)?;
    check_positive("volatility", inp.volatility)
}

/// Black-Scholes-Merton price of a European option.
///
/// # Units
/// Per share, in the currency of `spot` and `strike`.
///
/// # Errors
/// [`PricingError::InvalidInput`] for NaN, infinite or out-of-domain inputs.
///
/// # Example
/// ```
/// use wheelhouse_pricing::{black::bsm_price, BsmInputs, OptionType};
/// let p = bsm_price(&BsmInputs {
///     kind: OptionType::Call, spot: 100.0, strike: 100.0, years: 1.0,
///     rate: 0.05, dividend_yield: 0.0, volatility: 0.2,
/// }).unwrap();
/// assert!((p - 10.450583572185565).abs() < 1e-12);
/// ```
#[inline]
pub fn bsm_price(inp: &BsmInputs) -> Result<f64, PricingError> {
    validate_bsm(inp)?;
    Ok(bsm_price_unchecked(inp))
}

/// [`bsm_price`] without input validation: the caller guarantees valid inputs.
#[inline]
pub fn bsm_price_unchecked(inp: &BsmInputs) -> f64 {
    let w = inp.kind.sign();
    let sqrt_t = inp.years.sqrt();
    let sst = inp.volatility * sqrt_t;
    let x = ln_ratio(inp.spot, inp.strike) + (inp.rate - inp.dividend_yield) * inp.years;
    let dq = (-inp.dividend_yield * inp.years).exp();
    let dr = (-inp.rate * inp.years).exp();
    core(w, x, sst, inp.spot * dq, inp.strike * dr).price
}

/// Black-Scholes-Merton price and every Greek of [`Greeks`] in one pass.
///
/// # Units
/// See [`Greeks`]: raw derivatives, vega per 1.00 vol, theta per year, rho per 1.00 rate.
///
/// # Errors
/// [`PricingError::InvalidInput`] for NaN, infinite or out-of-domain inputs.
#[inline]
pub fn bsm_greeks(inp: &BsmInputs) -> Result<Greeks, PricingError> {
    validate_bsm(inp)?;
    Ok(bsm_greeks_unchecked(inp))
}

/// [`bsm_greeks`] without input validation: the caller guarantees valid inputs.
#[inline]
pub fn bsm_greeks_unchecked(inp: &BsmInputs) -> Greeks {
    let BsmInputs {
        kind,
        spot: s,
        strike: k,
        years: t,
        rate: r,
        dividend_yield: q,
        volatility: vol,
    } = *inp;
    let w = kind.sign();
    let sqrt_t = t.sqrt();
    let sst = vol * sqrt_t;
    let b = r - q;
    let x = ln_ratio(s, k) + b * t;
    let dq = (-q * t).exp();
    let dr = (-r * t).exp();
    let sdq = s * dq;
    let Core {
        d1,
        d2,
        nd1,
        nd2,
        pdf1,
        term_a: term_s,
        term_b: term_k,
        price,
    } = core(w, x, sst, sdq, k * dr);
    let sdq_pdf = sdq * pdf1;
    let vega = sdq_pdf * sqrt_t;
    Greeks {
        price,
        delta: w * dq * nd1,
        gamma: dq * pdf1 / (s * sst),
        vega,
        theta: -sdq_pdf * vol / (2.0 * sqrt_t) - w * r * term_k + w * q * term_s,
        rho: w * t * term_k,
        epsilon: -w * t * term_s,
        vanna: -dq * pdf1 * d2 / vol,
        volga: vega * d1 * d2 / vol,
        charm: w * q * dq * nd1 - dq * pdf1 * (2.0 * b * t - d2 * sst) / (2.0 * t * sst),
        dual_delta: -w * dr * nd2,
        prob_itm: nd2,
    }
}

/// Black-76 price of a European option on a forward.
///
/// # Errors
/// [`PricingError::InvalidInput`] for NaN, infinite or out-of-domain inputs.
#[inline]
pub fn black76_price(inp: &Black76Inputs) -> Result<f64, PricingError> {
    validate_black76(inp)?;
    let w = inp.kind.sign();
    let sst = inp.volatility * inp.years.sqrt();
    let dr = (-inp.rate * inp.years).exp();
    let x = ln_ratio(inp.forward, inp.strike);
    Ok(core(w, x, sst, inp.forward * dr, inp.strike * dr).price)
}

/// Black-76 price and Greeks (with respect to the forward) in one pass.
///
/// # Units
/// See [`Greeks`]; `delta`, `gamma`, `vanna`, `charm` are with respect to the forward, `rho`
/// holds the forward fixed (= −T·V) and `epsilon` is 0.
///
/// # Errors
/// [`PricingError::InvalidInput`] for NaN, infinite or out-of-domain inputs.
#[inline]
pub fn black76_greeks(inp: &Black76Inputs) -> Result<Greeks, PricingError> {
    validate_black76(inp)?;
    let Black76Inputs {
        kind,
        forward: f,
        strike: k,
        years: t,
        rate: r,
        volatility: vol,
    } = *inp;
    let w = kind.sign();
    let sqrt_t = t.sqrt();
    let sst = vol * sqrt_t;
    let dr = (-r * t).exp();
    let Core {
        d1,
        d2,
        nd1,
        nd2,
        pdf1,
        price,
        ..
    } = core(w, ln_ratio(f, k), sst, f * dr, k * dr);
    let delta = w * dr * nd1;
    let fdr_pdf = f * dr * pdf1;
    let vega = fdr_pdf * sqrt_t;
    Ok(Greeks {
        price,
        delta,
        gamma: dr * pdf1 / (f * sst),
        vega,
        theta: r * price - fdr_pdf * vol / (2.0 * sqrt_t),
        rho: -t * price,
        epsilon: 0.0,
        vanna: -dr * pdf1 * d2 / vol,
        volga: vega * d1 * d2 / vol,
        charm: r * delta + dr * pdf1 * d2 / (2.0 * t),
        dual_delta: -w * dr * nd2,
        prob_itm: nd2,
    })
}

/// The discounted intrinsic value max(ω(S·D_q − K·D_r), 0): the lower no-arbitrage bound of a
/// European option's price.
#[inline]
pub fn bsm_lower_bound(
    kind: OptionType,
    spot: f64,
    strike: f64,
    years: f64,
    rate: f64,
    dividend_yield: f64,
) -> f64 {
    let fwd_pv = spot * (-dividend_yield * years).exp();
    let k_pv = strike * (-rate * years).exp();
    (kind.sign() * (fwd_pv - k_pv)).max(0.0)
}

/// The upper no-arbitrage bound of a European option's price: S·D_q for a call, K·D_r for a put.
#[inline]
pub fn bsm_upper_bound(
    kind: OptionType,
    spot: f64,
    strike: f64,
    years: f64,
    rate: f64,
    dividend_yield: f64,
) -> f64 {
    match kind {
        OptionType::Call => spot * (-dividend_yield * years).exp(),
        OptionType::Put => strike * (-rate * years).exp(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inp(kind: OptionType) -> BsmInputs {
        BsmInputs {
            kind,
            spot: 100.0,
            strike: 95.0,
            years: 0.5,
            rate: 0.03,
            dividend_yield: 0.01,
            volatility: 0.25,
        }
    }

    #[test]
    fn haug_reference_values() {
        // Haug (2007), p. 4: call S=60, K=65, T=0.25, r=0.08, q=0, σ=0.30 → 2.1334
        let c = bsm_price(&BsmInputs {
            kind: OptionType::Call,
            spot: 60.0,
            strike: 65.0,
            years: 0.25,
            rate: 0.08,
            dividend_yield: 0.0,
            volatility: 0.3,
        })
        .unwrap();
        assert!((c - 2.1334).abs() < 5e-5, "{c}");
        // Haug (2007), p. 5 (Merton): put S=100, K=95, T=0.5, r=0.10, q=0.05, σ=0.20 → 2.4648
        let p = bsm_price(&BsmInputs {
            kind: OptionType::Put,
            spot: 100.0,
            strike: 95.0,
            years: 0.5,
            rate: 0.1,
            dividend_yield: 0.05,
            volatility: 0.2,
        })
        .unwrap();
        assert!((p - 2.4648).abs() < 5e-5, "{p}");
    }

    #[test]
    fn put_delta_is_negative_and_parity_holds() {
        let c = bsm_greeks(&inp(OptionType::Call)).unwrap();
        let p = bsm_greeks(&inp(OptionType::Put)).unwrap();
        assert!(p.delta < 0.0 && c.delta > 0.0);
        let i = inp(OptionType::Call);
        let fwd =
            i.spot * (-i.dividend_yield * i.years).exp() - i.strike * (-i.rate * i.years).exp();
        assert!((c.price - p.price - fwd).abs() < 1e-12);
        assert!((c.delta - p.delta - (-i.dividend_yield * i.years).exp()).abs() < 1e-15);
        assert!((c.gamma - p.gamma).abs() < 1e-15 && (c.vega - p.vega).abs() < 1e-12);
        assert!((c.prob_itm + p.prob_itm - 1.0).abs() < 1e-15);
    }

    #[test]
    fn black76_matches_bsm_with_forward() {
        let i = inp(OptionType::Put);
        let f = i.spot * ((i.rate - i.dividend_yield) * i.years).exp();
        let b = black76_greeks(&Black76Inputs {
            kind: i.kind,
            forward: f,
            strike: i.strike,
            years: i.years,
            rate: i.rate,
            volatility: i.volatility,
        })
        .unwrap();
        let s = bsm_greeks(&i).unwrap();
        assert!((b.price - s.price).abs() < 1e-12);
        assert!((b.vega - s.vega).abs() < 1e-11);
    }

    #[test]
    fn invalid_inputs_name_the_field() {
        let mut i = inp(OptionType::Call);
        i.volatility = f64::NAN;
        assert!(matches!(
            bsm_price(&i),
            Err(PricingError::InvalidInput {
                field: "volatility",
                ..
            })
        ));
        let mut i = inp(OptionType::Call);
        i.spot = -1.0;
        assert!(matches!(
            bsm_greeks(&i),
            Err(PricingError::InvalidInput { field: "spot", .. })
        ));
        let mut i = inp(OptionType::Call);
        i.years = 0.0;
        assert!(matches!(
            bsm_greeks(&i),
            Err(PricingError::InvalidInput { field: "years", .. })
        ));
    }
}
