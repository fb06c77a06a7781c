//! Analytics of one chain snapshot: time to expiry, rates, forwards and implied dividend
//! yields, bid/ask/mid implied volatilities with typed statuses, Greeks at the mid IV, an SVI
//! smile per expiry, the calendar-arbitrage check and the summary a trader reads first.
//!
//! # Conventions
//! - Time to expiry: ACT/365F from the quote instant to the settlement instant, fractional.
//! - Rate for an expiry: the stored zero curve interpolated linearly in tenor (flat beyond its
//!   ends), or [`ChainSettings::default_rate`] when no curve is stored.
//! - Forward and dividend yield per expiry from put-call parity on the `parity_pairs` strikes
//!   where call and put mids are closest (both with a bid): European chains take the
//!   spread-weighted median of `F = K + e^{rT}(C − P)`; American chains, where parity is only
//!   an inequality, solve per pair for the yield `q` at which the American call and put
//!   implied volatilities agree ("vol parity") and take the median. `q = r − ln(F/S)/T`.
//! - American quotes are inverted and their Greeks computed with the ALO engine
//!   ([`wheelhouse_pricing::american`]) at [`ChainSettings::american`]; European quotes with
//!   Let's Be Rational and closed-form Greeks.
//! - SVI per expiry on out-of-the-money mids (puts below the forward, calls above), weights
//!   vega / spread; the smile is constrained free of butterfly arbitrage ([`crate::svi`]).

use rayon::prelude::*;
use wheelhouse_core::records::OptionQuote;
use wheelhouse_core::{ExerciseStyle, OptionType, UnixNanos, year_fraction_act365f};
use wheelhouse_pricing::american::{
    AmericanSettings, NearSolution, american_first_order, american_implied_volatility,
    american_implied_volatility_near,
};
use wheelhouse_pricing::black::bsm_greeks;
use wheelhouse_pricing::iv::implied_volatility_bsm;
use wheelhouse_pricing::normal::norm_cdf;
use wheelhouse_pricing::{BsmInputs, PricingError};

use crate::surface::{SurfaceSlice, VolSurface};
use crate::svi::{SliceQuote, SviFit, SviFitOptions, fit_svi};

/// Settings of chain analytics.
#[derive(Debug, Clone)]
pub struct ChainSettings {
    /// Rate used when no curve is stored (continuously compounded decimal).
    pub default_rate: f64,
    /// Dividend yield used for an expiry without a usable call/put pair.
    pub fallback_dividend_yield: f64,
    /// ALO settings for American quotes.
    pub american: AmericanSettings,
    /// Strikes used for the parity forward.
    pub parity_pairs: usize,
    /// SVI fit options.
    pub svi: SviFitOptions,
    /// Fewest usable quotes for an SVI fit of an expiry.
    pub min_svi_quotes: usize,
}

impl Default for ChainSettings {
    fn default() -> Self {
        ChainSettings {
            default_rate: 0.0,
            fallback_dividend_yield: 0.0,
            american: AmericanSettings::FAST,
            parity_pairs: 6,
            svi: SviFitOptions::default(),
            min_svi_quotes: 5,
        }
    }
}

/// Why an implied volatility is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum IvIssue {
    /// The price is zero or missing (no bid).
    NoPrice,
    /// The price is below the option's intrinsic (or discounted intrinsic) value.
    BelowIntrinsic,
    /// The price equals intrinsic value: any volatility up to some level fits.
    AtIntrinsic,
    /// The price is at or above the no-arbitrage upper bound.
    AboveUpperBound,
    /// The solver did not converge.
    NoConvergence,
    /// The model does not cover these inputs (e.g. double-boundary American regime).
    Unsupported,
    /// Inputs invalid for pricing (e.g. expired).
    Invalid,
}

impl IvIssue {
    /// A short code for tables and CSV.
    pub fn code(self) -> &'static str {
        match self {
            IvIssue::NoPrice => "no_price",
            IvIssue::BelowIntrinsic => "below_intrinsic",
            IvIssue::AtIntrinsic => "at_intrinsic",
            IvIssue::AboveUpperBound => "above_upper_bound",
            IvIssue::NoConvergence => "no_convergence",
            IvIssue::Unsupported => "unsupported",
            IvIssue::Invalid => "invalid_input",
        }
    }

    fn from_error(e: &PricingError) -> Self {
        match e {
            PricingError::BelowIntrinsic { .. } => IvIssue::BelowIntrinsic,
            PricingError::AtIntrinsic { .. } => IvIssue::AtIntrinsic,
            PricingError::AboveUpperBound { .. } => IvIssue::AboveUpperBound,
            PricingError::NoConvergence { .. } => IvIssue::NoConvergence,
            PricingError::Unsupported { .. } => IvIssue::Unsupported,
            _ => IvIssue::Invalid,
        }
    }
}

/// Analytics of one quote.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QuoteAnalytics {
    /// Index of the quote in the snapshot.
    pub index: usize,
    /// Time to expiry, years.
    pub years: f64,
    /// (bid + ask)/2.
    pub mid: f64,
    /// Implied volatility of the bid.
    pub bid_iv: Result<f64, IvIssue>,
    /// Implied volatility of the ask.
    pub ask_iv: Result<f64, IvIssue>,
    /// Implied volatility of the mid.
    pub mid_iv: Result<f64, IvIssue>,
    /// Greeks at the mid IV (None when the mid IV is absent).
    pub greeks: Option<QuoteGreeks>,
}

/// Greeks of a quote at its mid implied volatility.
///
/// # Units
/// Raw derivatives per share: vega per 1.00 vol, theta per year.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QuoteGreeks {
    /// Model value at the mid IV (equals the mid to solver tolerance).
    pub price: f64,
    /// ∂V/∂S.
    pub delta: f64,
    /// ∂²V/∂S².
    pub gamma: f64,
    /// ∂V/∂σ per 1.00 vol.
    pub vega: f64,
    /// ∂V/∂t per year.
    pub theta: f64,
    /// Risk-neutral probability of finishing in the money.
    pub prob_itm: f64,
}

/// How an expiry's forward was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ForwardMethod {
    /// European put-call parity on this many strikes.
    Parity(usize),
    /// American vol parity on this many strikes.
    VolParity(usize),
    /// No usable pair: the fallback dividend yield.
    Fallback,
}

/// Analytics of one expiry.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ExpiryAnalytics {
    /// Settlement instant.
    pub expiration: UnixNanos,
    /// Time to expiry, years.
    pub years: f64,
    /// Rate used.
    pub rate: f64,
    /// Implied continuous dividend yield.
    pub dividend_yield: f64,
    /// Forward `S e^{(r−q)T}`.
    pub forward: f64,
    /// How the forward was found.
    pub forward_method: ForwardMethod,
    /// The SVI fit, or why there is none.
    pub svi: Result<SviFit, String>,
    /// ATM (k = 0) implied vol from the fit, or from the nearest quotes without one.
    pub atm_vol: Option<f64>,
    /// 25-delta risk reversal: σ(25Δ put) − σ(25Δ call), from the fit.
    pub skew_25d: Option<f64>,
    /// Number of quotes of this expiry.
    pub quotes: usize,
}

/// The whole snapshot.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ChainAnalytics {
    /// Underlying.
    pub underlying: String,
    /// Snapshot instant.
    pub quote_time: UnixNanos,
    /// Underlying price (median over the snapshot's quotes).
    pub spot: f64,
    /// Per quote, in the snapshot's order.
    pub quotes: Vec<QuoteAnalytics>,
    /// Per expiry, ascending.
    pub expiries: Vec<ExpiryAnalytics>,
    /// The surface of the fitted slices (None with fewer than one fit).
    pub surface: Option<VolSurface>,
    /// Calendar-arbitrage violations between consecutive fitted slices.
    pub calendar_violations: usize,
    /// Summary numbers.
    pub summary: Summary,
}

/// Summary of a snapshot.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// ATM vol interpolated (in total variance) to 30 calendar days.
    pub atm_vol_30d: Option<f64>,
    /// 25-delta risk reversal at 30 days.
    pub skew_25d_30d: Option<f64>,
    /// (days to expiry, ATM vol) per fitted expiry.
    pub term_structure: Vec<(f64, f64)>,
}

/// Errors of chain analytics.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The snapshot has no quotes.
    #[error("the snapshot has no quotes")]
    Empty,
    /// Quotes of different underlyings or instants were mixed.
    #[error("quote {index} belongs to another snapshot ({what})")]
    MixedSnapshot {
        /// Index of the first offending quote.
        index: usize,
        /// What differs.
        what: &'static str,
    },
    /// A rate curve point is not finite or has a non-positive tenor.
    #[error("rate curve point {index} ({tenor}, {rate}) is invalid")]
    BadRate {
        /// Point index.
        index: usize,
        /// Tenor, years.
        tenor: f64,
        /// Rate.
        rate: f64,
    },
}

/// The rate for `years` from a curve `(tenor, rate)` sorted by tenor: linear in tenor, flat
/// beyond the ends; `default` for an empty curve.
pub fn curve_rate(curve: &[(f64, f64)], years: f64, default: f64) -> f64 {
    match curve {
        [] => default,
        [(_, r)] => *r,
        _ => {
            if years <= curve[0].0 {
                return curve[0].1;
            }
            for w in curve.windows(2) {
                let ((t0, r0), (t1, r1)) = (w[0], w[1]);
                if years <= t1 {
                    return r0 + (r1 - r0) * (years - t0) / (t1 - t0);
                }
            }
            curve[curve.len() - 1].1
        }
    }
}

/// Computes the analytics of one snapshot.
///
/// # Errors
/// [`ChainError`] for an empty or mixed snapshot or a bad rate curve. Problems of single
/// quotes or expiries are statuses inside the result, never errors.
pub fn analyze_chain(
    quotes: &[OptionQuote],
    rate_curve: &[(f64, f64)],
    settings: &ChainSettings,
) -> Result<ChainAnalytics, ChainError> {
    let first = quotes.first().ok_or(ChainError::Empty)?;
    for (i, q) in quotes.iter().enumerate() {
        if q.underlying != first.underlying {
            return Err(ChainError::MixedSnapshot {
                index: i,
                what: "underlying",
            });
        }
        if q.quote_time != first.quote_time {
            return Err(ChainError::MixedSnapshot {
                index: i,
                what: "quote_time",
            });
        }
    }
    for (i, &(t, r)) in rate_curve.iter().enumerate() {
        if !(t.is_finite() && t > 0.0 && r.is_finite()) {
            return Err(ChainError::BadRate {
                index: i,
                tenor: t,
                rate: r,
            });
        }
    }
    let mut spots: Vec<f64> = quotes.iter().map(|q| q.underlying_price).collect();
    spots.sort_by(f64::total_cmp);
    let spot = spots[spots.len() / 2];
    let now = first.quote_time;

    // Group by expiry (quotes are usually sorted; sort indices to be safe).
    let mut order: Vec<usize> = (0..quotes.len()).collect();
    order.sort_by(|&a, &b| {
        quotes[a]
            .expiration
            .cmp(&quotes[b].expiration)
            .then(quotes[a].strike.total_cmp(&quotes[b].strike))
    });
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for &i in &order {
        match groups.last_mut() {
            Some(g) if quotes[g[0]].expiration == quotes[i].expiration => g.push(i),
            _ => groups.push(vec![i]),
        }
    }

    // Forwards per expiry, in parallel.
    let carries: Vec<(f64, f64, f64, ForwardMethod)> = groups
        .par_iter()
        .map(|g| {
            let exp = quotes[g[0]].expiration;
            let years = year_fraction_act365f(now, exp).unwrap_or(0.0);
            let rate = curve_rate(rate_curve, years, settings.default_rate);
            let (q, method) = implied_yield(quotes, g, spot, years, rate, settings);
            (years, rate, q, method)
        })
        .collect();
    let mut expiry_of = vec![0usize; quotes.len()];
    for (e, g) in groups.iter().enumerate() {
        for &i in g {
            expiry_of[i] = e;
        }
    }

    // Per-quote IVs and Greeks, in parallel.
    let qa: Vec<QuoteAnalytics> = (0..quotes.len())
        .into_par_iter()
        .map(|i| {
            let (years, rate, dy, _) = carries[expiry_of[i]];
            quote_analytics(i, &quotes[i], spot, years, rate, dy, settings)
        })
        .collect();

    // SVI per expiry, in parallel.
    let mut expiries: Vec<ExpiryAnalytics> = groups
        .par_iter()
        .zip(carries.par_iter())
        .map(|(g, &(years, rate, dy, method))| {
            let forward = spot * ((rate - dy) * years).exp();
            let svi = fit_expiry(quotes, &qa, g, forward, years, settings);
            let atm_vol = match &svi {
                Ok(f) => Some(f.params.implied_vol(0.0, years)),
                Err(_) => nearest_atm_iv(quotes, &qa, g, forward),
            };
            let skew_25d = svi
                .as_ref()
                .ok()
                .and_then(|f| skew_25d(&|k| f.params.implied_vol(k, years), years, rate, dy));
            ExpiryAnalytics {
                expiration: quotes[g[0]].expiration,
                years,
                rate,
                dividend_yield: dy,
                forward,
                forward_method: method,
                svi,
                atm_vol,
                skew_25d,
                quotes: g.len(),
            }
        })
        .collect();
    expiries.sort_by_key(|e| e.expiration);

    let slices: Vec<SurfaceSlice> = expiries
        .iter()
        .filter(|e| e.years > 0.0)
        .filter_map(|e| {
            e.svi.as_ref().ok().map(|f| SurfaceSlice {
                t: e.years,
                forward: e.forward,
                params: f.params,
            })
        })
        .collect();
    let surface = if slices.is_empty() {
        None
    } else {
        VolSurface::new(slices).ok()
    };
    let calendar_violations = surface.as_ref().map_or(0, |s| {
        let grid: Vec<f64> = (-40..=40).map(|i| f64::from(i) * 0.025).collect();
        s.calendar_check(&grid).len()
    });
    let summary = summarize(&expiries, surface.as_ref());
    Ok(ChainAnalytics {
        underlying: first.underlying.clone(),
        quote_time: now,
        spot,
        quotes: qa,
        expiries,
        surface,
        calendar_violations,
        summary,
    })
}

/// The 30-day ATM volatility of a snapshot, computed cheaply for IV-rank history: only the two
/// expiries bracketing 30 days (or the nearest two) and strikes within ±15 % of spot are
/// analysed; the ATM vols of those expiries are interpolated linearly in total variance
/// (flat vol outside them). None when no ATM vol can be found.
pub fn atm_vol_30d_quick(
    quotes: &[OptionQuote],
    rate_curve: &[(f64, f64)],
    settings: &ChainSettings,
) -> Option<f64> {
    let first = quotes.first()?;
    let now = first.quote_time;
    let t30 = 30.0 / 365.0;
    let mut exps: Vec<(UnixNanos, f64)> = quotes
        .iter()
        .map(|q| q.expiration)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter_map(|e| {
            let t = year_fraction_act365f(now, e).ok()?;
            (t > 2.0 / 365.0).then_some((e, t))
        })
        .collect();
    if exps.is_empty() {
        return None;
    }
    let below = exps.iter().rposition(|&(_, t)| t <= t30);
    let pick: Vec<UnixNanos> = match below {
        Some(i) if i + 1 < exps.len() => vec![exps[i].0, exps[i + 1].0],
        Some(i) => vec![exps[i].0],
        None => {
            exps.truncate(2);
            exps.iter().map(|e| e.0).collect()
        }
    };
    let spot = first.underlying_price;
    let subset: Vec<OptionQuote> = quotes
        .iter()
        .filter(|q| pick.contains(&q.expiration) && (q.strike / spot).ln().abs() < 0.15)
        .cloned()
        .collect();
    let a = analyze_chain(&subset, rate_curve, settings).ok()?;
    let pts: Vec<(f64, f64)> = a
        .expiries
        .iter()
        .filter_map(|e| e.atm_vol.map(|v| (e.years, v)))
        .collect();
    match pts.as_slice() {
        [] => None,
        [(_, v)] => Some(*v),
        [(t0, v0), (t1, v1), ..] => {
            if t30 <= *t0 {
                Some(*v0)
            } else if t30 >= *t1 {
                Some(*v1)
            } else {
                let (w0, w1) = (v0 * v0 * t0, v1 * v1 * t1);
                let w = w0 + (w1 - w0) * (t30 - t0) / (t1 - t0);
                (w > 0.0).then(|| (w / t30).sqrt())
            }
        }
    }
}

fn summarize(expiries: &[ExpiryAnalytics], surface: Option<&VolSurface>) -> Summary {
    let term_structure = expiries
        .iter()
        .filter_map(|e| e.atm_vol.map(|v| (e.years * 365.0, v)))
        .collect();
    let t30 = 30.0 / 365.0;
    let (atm_vol_30d, skew_25d_30d) = match surface {
        Some(s) => {
            let atm = s.implied_vol(t30, 0.0);
            // Carry at 30 days from the nearest expiries' rate and yield.
            let near = expiries
                .iter()
                .min_by(|a, b| (a.years - t30).abs().total_cmp(&(b.years - t30).abs()));
            let skew = near
                .and_then(|e| skew_25d(&|k| s.implied_vol(t30, k), t30, e.rate, e.dividend_yield));
            (Some(atm).filter(|v| v.is_finite()), skew)
        }
        None => (None, None),
    };
    Summary {
        atm_vol_30d,
        skew_25d_30d,
        term_structure,
    }
}

/// σ(25Δ put) − σ(25Δ call) of a smile `vol(k)` (k = ln(K/F)), with BSM spot deltas.
fn skew_25d(vol: &dyn Fn(f64) -> f64, t: f64, _r: f64, q: f64) -> Option<f64> {
    let dq = (-q * t).exp();
    // Call delta e^{−qT} N(d1), d1 = (−k + w/2)/√w: decreasing in k. Bisection on k.
    let solve = |target: f64, call: bool| -> Option<f64> {
        let delta = |k: f64| {
            let s = vol(k);
            let sq = s * t.sqrt();
            let d1 = (-k + 0.5 * sq * sq) / sq;
            if call {
                dq * norm_cdf(d1)
            } else {
                -dq * norm_cdf(-d1)
            }
        };
        let (mut lo, mut hi) = (-3.0f64, 3.0f64);
        // call delta falls from ~dq to 0 as k rises; put delta falls from 0 to −dq.
        let f = |k: f64| delta(k) - target;
        let (flo, fhi) = (f(lo), f(hi));
        if !(flo.is_finite() && fhi.is_finite()) || flo.signum() == fhi.signum() {
            return None;
        }
        for _ in 0..80 {
            let mid = 0.5 * (lo + hi);
            if f(mid).signum() == flo.signum() {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(vol(0.5 * (lo + hi)))
    };
    let put = solve(-0.25, false)?;
    let call = solve(0.25, true)?;
    Some(put - call)
}

fn nearest_atm_iv(
    quotes: &[OptionQuote],
    qa: &[QuoteAnalytics],
    g: &[usize],
    forward: f64,
) -> Option<f64> {
    g.iter()
        .filter_map(|&i| {
            qa[i]
                .mid_iv
                .ok()
                .map(|v| ((quotes[i].strike / forward).ln().abs(), v))
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, v)| v)
}

fn fit_expiry(
    quotes: &[OptionQuote],
    qa: &[QuoteAnalytics],
    g: &[usize],
    forward: f64,
    years: f64,
    settings: &ChainSettings,
) -> Result<SviFit, String> {
    if years <= 0.0 {
        return Err("expired".into());
    }
    let mut pts = Vec::with_capacity(g.len() / 2 + 1);
    for &i in g {
        let q = &quotes[i];
        let otm = match q.option_type {
            OptionType::Put => q.strike < forward,
            OptionType::Call => q.strike >= forward,
        };
        if !otm || q.bid <= 0.0 {
            continue;
        }
        let (Ok(iv), Some(gk)) = (qa[i].mid_iv, qa[i].greeks) else {
            continue;
        };
        let spread = (q.ask - q.bid).max(0.01);
        let weight = gk.vega.max(1e-8) / spread;
        pts.push(SliceQuote {
            k: (q.strike / forward).ln(),
            implied_vol: iv,
            weight,
        });
    }
    if pts.len() < settings.min_svi_quotes {
        return Err(format!(
            "{} usable out-of-the-money quotes, {} needed",
            pts.len(),
            settings.min_svi_quotes
        ));
    }
    fit_svi(years, &pts, &settings.svi).map_err(|e| e.to_string())
}

fn quote_analytics(
    index: usize,
    q: &OptionQuote,
    spot: f64,
    years: f64,
    rate: f64,
    dy: f64,
    settings: &ChainSettings,
) -> QuoteAnalytics {
    let mid = 0.5 * (q.bid + q.ask);
    let s = q.underlying_price;
    let _ = spot;
    let american = q.style == ExerciseStyle::American && !euro_equivalent(q.option_type, rate, dy);
    let iv = |price: f64| -> Result<f64, IvIssue> {
        if price.is_nan() || price <= 0.0 {
            return Err(IvIssue::NoPrice);
        }
        if years <= 0.0 {
            return Err(IvIssue::Invalid);
        }
        let r = if american {
            american_implied_volatility(
                price,
                s,
                q.strike,
                years,
                rate,
                dy,
                q.option_type,
                &settings.american,
            )
        } else {
            implied_volatility_bsm(price, s, q.strike, years, rate, dy, q.option_type)
        };
        r.map_err(|e| IvIssue::from_error(&e))
    };
    let mid_iv = iv(mid);
    // Greeks at the mid IV; for American quotes also the local model (price, vega, volga) that
    // starts the bid and ask inversions.
    let mut near_model: Option<NearSolution> = None;
    let greeks = mid_iv.ok().and_then(|sigma| {
        let inp = BsmInputs {
            kind: q.option_type,
            spot: s,
            strike: q.strike,
            years,
            rate,
            dividend_yield: dy,
            volatility: sigma,
        };
        if american {
            american_first_order(&inp, &settings.american)
                .ok()
                .map(|g| {
                    near_model = Some(NearSolution {
                        vol: sigma,
                        price: g.price,
                        vega: Some(g.vega),
                        volga: Some(g.volga),
                    });
                    QuoteGreeks {
                        price: g.price,
                        delta: g.delta,
                        gamma: g.gamma,
                        vega: g.vega,
                        theta: g.theta,
                        prob_itm: g.prob_itm,
                    }
                })
        } else {
            bsm_greeks(&inp).ok().map(|g| QuoteGreeks {
                price: g.price,
                delta: g.delta,
                gamma: g.gamma,
                vega: g.vega,
                theta: g.theta,
                prob_itm: g.prob_itm,
            })
        }
    });
    // Bid and ask: American quotes start from the mid's solution and its local model.
    let near = |price: f64| -> Result<f64, IvIssue> {
        match &near_model {
            Some(m) if price > 0.0 && years > 0.0 => american_implied_volatility_near(
                price,
                s,
                q.strike,
                years,
                rate,
                dy,
                q.option_type,
                m,
                &settings.american,
            )
            .map_err(|e| IvIssue::from_error(&e)),
            _ => iv(price),
        }
    };
    let bid_iv = if q.bid > 0.0 {
        near(q.bid)
    } else {
        Err(IvIssue::NoPrice)
    };
    let ask_iv = near(q.ask);
    QuoteAnalytics {
        index,
        years,
        mid,
        bid_iv,
        ask_iv,
        mid_iv,
        greeks,
    }
}

/// An American call with no dividend yield and a non-negative rate is never exercised early
/// (Merton 1973): its value is the European one.
fn euro_equivalent(kind: OptionType, rate: f64, dy: f64) -> bool {
    kind == OptionType::Call && dy <= 0.0 && rate >= 0.0
}

/// The implied dividend yield of one expiry and how it was found.
fn implied_yield(
    quotes: &[OptionQuote],
    g: &[usize],
    spot: f64,
    years: f64,
    rate: f64,
    settings: &ChainSettings,
) -> (f64, ForwardMethod) {
    if years <= 0.0 {
        return (settings.fallback_dividend_yield, ForwardMethod::Fallback);
    }
    // Pairs (call, put) at the same strike, both with a bid.
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    let mut j = 0;
    while j < g.len() {
        let k = quotes[g[j]].strike;
        let mut call = None;
        let mut put = None;
        while j < g.len() && quotes[g[j]].strike == k {
            let q = &quotes[g[j]];
            if q.bid > 0.0 && q.ask >= q.bid {
                match q.option_type {
                    OptionType::Call => call = Some(g[j]),
                    OptionType::Put => put = Some(g[j]),
                }
            }
            j += 1;
        }
        if let (Some(c), Some(p)) = (call, put) {
            pairs.push((c, p));
        }
    }
    if pairs.is_empty() {
        return (settings.fallback_dividend_yield, ForwardMethod::Fallback);
    }
    let mid = |i: usize| 0.5 * (quotes[i].bid + quotes[i].ask);
    pairs.sort_by(|a, b| {
        (mid(a.0) - mid(a.1))
            .abs()
            .total_cmp(&(mid(b.0) - mid(b.1)).abs())
    });
    pairs.truncate(settings.parity_pairs.max(1));
    let df_inv = (rate * years).exp();
    // European parity forwards, spread-weighted median.
    let mut fw: Vec<(f64, f64)> = pairs
        .iter()
        .map(|&(c, p)| {
            let f = quotes[c].strike + df_inv * (mid(c) - mid(p));
            let w =
                1.0 / ((quotes[c].ask - quotes[c].bid) + (quotes[p].ask - quotes[p].bid)).max(1e-4);
            (f, w)
        })
        .filter(|(f, _)| f.is_finite() && *f > 0.0)
        .collect();
    if fw.is_empty() {
        return (settings.fallback_dividend_yield, ForwardMethod::Fallback);
    }
    let f0 = weighted_median(&mut fw);
    let q0 = rate - (f0 / spot).ln() / years;
    let all_american = pairs.iter().all(|&(c, p)| {
        quotes[c].style == ExerciseStyle::American && quotes[p].style == ExerciseStyle::American
    });
    if !all_american {
        return (q0, ForwardMethod::Parity(fw.len()));
    }
    // Vol parity: per pair, the q where American call and put IVs agree.
    let solved: Vec<f64> = pairs
        .iter()
        .take(3)
        .filter_map(|&(c, p)| vol_parity_yield(&quotes[c], &quotes[p], years, rate, q0, settings))
        .collect();
    if solved.is_empty() {
        return (q0, ForwardMethod::Parity(fw.len()));
    }
    let mut s = solved.clone();
    s.sort_by(f64::total_cmp);
    (s[s.len() / 2], ForwardMethod::VolParity(s.len()))
}

fn weighted_median(v: &mut [(f64, f64)]) -> f64 {
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = v.iter().map(|x| x.1).sum();
    let mut acc = 0.0;
    for &(x, w) in v.iter() {
        acc += w;
        if acc >= 0.5 * total {
            return x;
        }
    }
    v[v.len() - 1].0
}

/// Solves σ_call(q) = σ_put(q) for q by the secant method from `q0` (the European-parity
/// estimate), with the American engine. None when either side has no IV near q0 or the
/// iteration fails.
fn vol_parity_yield(
    call: &OptionQuote,
    put: &OptionQuote,
    years: f64,
    rate: f64,
    q0: f64,
    settings: &ChainSettings,
) -> Option<f64> {
    let s = call.underlying_price;
    let g = |q: f64| -> Option<f64> {
        let iv = |o: &OptionQuote| {
            american_implied_volatility(
                0.5 * (o.bid + o.ask),
                s,
                o.strike,
                years,
                rate,
                q,
                o.option_type,
                &settings.american,
            )
            .ok()
        };
        Some(iv(call)? - iv(put)?)
    };
    let (mut x0, mut x1) = (q0, q0 + 0.002);
    let (mut g0, mut g1) = (g(x0)?, g(x1)?);
    for _ in 0..12 {
        if g1 == g0 {
            break;
        }
        let x2 = x1 - g1 * (x1 - x0) / (g1 - g0);
        if !x2.is_finite() || (x2 - q0).abs() > 0.5 {
            return None;
        }
        x0 = x1;
        g0 = g1;
        x1 = x2;
        g1 = g(x1)?;
        if g1.abs() < 1e-7 || (x1 - x0).abs() < 1e-9 {
            return Some(x1);
        }
    }
    (g1.abs() < 1e-5).then_some(x1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curve_interpolation() {
        let c = [(0.25, 0.01), (1.0, 0.02)];
        assert_eq!(curve_rate(&c, 0.1, 0.5), 0.01);
        assert!((curve_rate(&c, 0.625, 0.5) - 0.015).abs() < 1e-15);
        assert_eq!(curve_rate(&c, 3.0, 0.5), 0.02);
        assert_eq!(curve_rate(&[], 3.0, 0.5), 0.5);
    }
}
