//! Candidate short options: filters, their numbers, scenario P&L through `compute`, the score.
//!
//! # Units
//! Prices per share; `premium`, `collateral`, `expected_pnl`, `pnl_sd` and scenario P&Ls per
//! contract (× multiplier); `theta_per_day` is the short position's daily time decay income per
//! contract (−θ/365 × multiplier, θ per year); yields are decimals.

use std::collections::BTreeMap;

use serde::Serialize;
use wheelhouse_compute::{Backend, OptionBatch};
use wheelhouse_core::records::OptionQuote;
use wheelhouse_core::{OptionType, UnixNanos};
use wheelhouse_market::chain::{ChainAnalytics, ExpiryAnalytics};

use crate::config::{AdvisorConfig, Filters};
use crate::probability::{Gbm, expected_fill, prob_itm, prob_touch, short_option_pnl};

const DAY_NS: f64 = 86_400e9;

/// What the chain lacks to judge a quote, or which filter it failed.
pub const REASONS: [&str; 11] = [
    "wrong_type",
    "dte",
    "no_greeks",
    "delta",
    "bid",
    "spread",
    "open_interest",
    "volume",
    "earnings",
    "ex_dividend",
    "below_basis",
];

/// Market inputs of one underlying.
#[derive(Debug, Clone)]
pub struct MarketView {
    /// Symbol.
    pub symbol: String,
    /// The chain snapshot (one underlying, one quote time).
    pub quotes: Vec<OptionQuote>,
    /// Its analytics (same order as `quotes`).
    pub chain: ChainAnalytics,
    /// Split-adjusted daily closes up to the snapshot, oldest first.
    pub closes: Vec<(UnixNanos, f64)>,
    /// Ex-dividend dates and amounts per share.
    pub ex_dividends: Vec<(UnixNanos, f64)>,
    /// Known earnings instants.
    pub earnings: Vec<UnixNanos>,
    /// IV rank and percentile of the 30-day ATM vol, with the history length.
    pub iv_rank: Option<(f64, f64, usize)>,
}

/// One score component.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Component {
    /// Name.
    pub name: &'static str,
    /// Value.
    pub value: f64,
    /// Weight.
    pub weight: f64,
    /// value × weight.
    pub contribution: f64,
}

/// A short-option candidate and its numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// Index in the snapshot.
    #[serde(skip)]
    pub index: usize,
    /// Call or put.
    #[serde(rename = "type")]
    pub kind: OptionType,
    /// Strike.
    pub strike: f64,
    /// Expiration instant.
    pub expiration: UnixNanos,
    /// Calendar days to expiry.
    pub dte: f64,
    /// Underlying price of the snapshot.
    pub spot: f64,
    /// Years to expiry (ACT/365F).
    pub years: f64,
    /// Bid.
    pub bid: f64,
    /// Ask.
    pub ask: f64,
    /// (ask − bid)/mid.
    pub spread_pct: f64,
    /// Spread-aware expected sale price.
    pub expected_fill: f64,
    /// Surface IV at the strike (quote mid IV when no surface).
    pub implied_volatility: f64,
    /// Where the IV came from: `surface` or `quote`.
    pub iv_source: &'static str,
    /// Delta of the option (per share, negative for puts), from the chain analytics at the
    /// quote's mid IV (American engine for American quotes).
    pub delta: f64,
    /// Gamma per share.
    pub gamma: f64,
    /// Short position's theta income per day, per contract.
    pub theta_per_day: f64,
    /// Rate of the expiry.
    pub rate: f64,
    /// Dividend yield of the expiry.
    pub dividend_yield: f64,
    /// Premium per contract at the expected fill.
    pub premium: f64,
    /// Collateral per contract (strike × multiplier for puts, spot × multiplier for calls).
    pub collateral: f64,
    /// Premium / collateral.
    pub premium_yield: f64,
    /// premium_yield × 365 / dte.
    pub annualized_yield: f64,
    /// Breakeven price of the underlying at expiry (put: K − fill; call: basis or spot − fill).
    pub breakeven: f64,
    /// Risk-neutral P(finish in the money) at the IV.
    pub probability_itm: f64,
    /// Risk-neutral P(touch the strike before expiry) at the IV.
    pub probability_touch: f64,
    /// Expected P&L to expiry under the forecast vol, per contract.
    pub expected_pnl: f64,
    /// Its standard deviation, per contract.
    pub pnl_sd: f64,
    /// Expected P&L per contract for each vol shock of the scenario grid.
    pub scenario_pnl: Vec<f64>,
    /// The smallest scenario P&L.
    pub robust_pnl: f64,
    /// Liquidity score in [0, 1].
    pub liquidity: f64,
    /// Open interest.
    pub open_interest: Option<i64>,
    /// Volume.
    pub volume: Option<i64>,
    /// Shares per contract.
    pub multiplier: f64,
    /// Total score.
    pub score: f64,
    /// Its components.
    pub components: Vec<Component>,
}

/// How many quotes each filter removed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FilterStats {
    /// Quotes of the snapshot.
    pub considered: usize,
    /// Quotes removed, by the first filter they failed.
    pub rejected: BTreeMap<&'static str, usize>,
    /// Quotes that passed.
    pub passed: usize,
}

impl FilterStats {
    /// "delta 812, spread 40, …" for messages, most frequent first.
    pub fn describe(&self) -> String {
        let mut v: Vec<_> = self
            .rejected
            .iter()
            .filter(|(k, _)| **k != "wrong_type")
            .collect();
        v.sort_by(|a, b| b.1.cmp(a.1));
        v.iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What to look for.
#[derive(Debug, Clone, Copy)]
pub struct Search {
    /// Puts (cash-secured) or calls (covered).
    pub kind: OptionType,
    /// Adjusted cost basis per share (covered calls; None for puts).
    pub basis: Option<f64>,
    /// Realized-volatility forecast.
    pub forecast_vol: f64,
    /// Apply the delta band (false for roll targets).
    pub delta_band: bool,
    /// Roll targets: only strikes at or below (puts) / at or above (calls) this, expiries after
    /// this; the ex-dividend filter does not apply (the roll rules weigh dividend risk).
    pub roll_from: Option<(f64, UnixNanos)>,
}

fn spans(events: &[UnixNanos], from: UnixNanos, to: UnixNanos) -> bool {
    events.iter().any(|e| e.0 > from.0 && e.0 <= to.0)
}

/// The filter a quote fails first, or None.
pub fn failed_filter(
    view: &MarketView,
    i: usize,
    search: &Search,
    f: &Filters,
) -> Option<&'static str> {
    let q = &view.quotes[i];
    let a = &view.chain.quotes[i];
    if q.option_type != search.kind {
        return Some("wrong_type");
    }
    let dte = (q.expiration.0 - q.quote_time.0) as f64 / DAY_NS;
    if let Some((k, after)) = search.roll_from {
        if q.expiration.0 <= after.0 {
            return Some("dte");
        }
        let ok = match search.kind {
            OptionType::Put => q.strike <= k,
            OptionType::Call => q.strike >= k,
        };
        if !ok {
            return Some("wrong_type");
        }
    }
    if !(dte >= f.min_dte && dte <= f.max_dte) {
        return Some("dte");
    }
    let Some(g) = a.greeks else {
        return Some("no_greeks");
    };
    if search.delta_band && !(g.delta.abs() >= f.min_abs_delta && g.delta.abs() <= f.max_abs_delta)
    {
        return Some("delta");
    }
    if q.bid.is_nan() || q.bid < f.min_bid || q.bid <= 0.0 {
        return Some("bid");
    }
    let mid = 0.5 * (q.bid + q.ask);
    let spread = (q.ask - q.bid) / mid;
    if spread.is_nan() || spread > f.max_spread_pct {
        return Some("spread");
    }
    // Open interest and volume filter when reported; a quote without them passes (the advisor
    // warns, and the liquidity score counts them as 0).
    if q.open_interest.is_some_and(|oi| oi < f.min_open_interest) {
        return Some("open_interest");
    }
    if q.volume.is_some_and(|v| v < f.min_volume) {
        return Some("volume");
    }
    if !f.allow_earnings && spans(&view.earnings, q.quote_time, q.expiration) {
        return Some("earnings");
    }
    // Roll targets always outlive the held contract and so span any ex-date it spans; the
    // roll rules weigh dividend risk themselves.
    let exd: Vec<UnixNanos> = view.ex_dividends.iter().map(|d| d.0).collect();
    if !f.allow_ex_dividend && search.roll_from.is_none() && spans(&exd, q.quote_time, q.expiration)
    {
        return Some("ex_dividend");
    }
    if search.kind == OptionType::Call
        && !f.allow_call_below_basis
        && let Some(b) = search.basis
        && q.strike < b
    {
        return Some("below_basis");
    }
    None
}

/// Liquidity score in [0, 1]: the mean of `1 − spread%/max_spread%`, `ln(1+OI)/ln(1+5000)` and
/// `ln(1+volume)/ln(1+1000)`, each clamped to [0, 1].
pub fn liquidity_score(spread_pct: f64, max_spread_pct: f64, oi: i64, volume: i64) -> f64 {
    let s = (1.0 - spread_pct / max_spread_pct).clamp(0.0, 1.0);
    let o = ((1.0 + oi.max(0) as f64).ln() / 5001f64.ln()).clamp(0.0, 1.0);
    let v = ((1.0 + volume.max(0) as f64).ln() / 1001f64.ln()).clamp(0.0, 1.0);
    (s + o + v) / 3.0
}

fn expiry_of(chain: &ChainAnalytics, e: UnixNanos) -> Option<&ExpiryAnalytics> {
    chain.expiries.iter().find(|x| x.expiration == e)
}

/// Filters the snapshot and computes every passing candidate's numbers, best score first.
///
/// The vol-shock scenarios are priced as one batch through `backend` (European BSM at
/// `forecast + shock`, whose value is the discounted expected payoff under the model).
pub fn find_candidates(
    view: &MarketView,
    search: &Search,
    cfg: &AdvisorConfig,
    backend: &Backend,
) -> (Vec<Candidate>, FilterStats) {
    let f = &cfg.filters;
    let mut stats = FilterStats {
        considered: view.quotes.len(),
        ..FilterStats::default()
    };
    let spot = view.chain.spot;
    let mut out = Vec::new();
    for i in 0..view.quotes.len() {
        if let Some(r) = failed_filter(view, i, search, f) {
            *stats.rejected.entry(r).or_default() += 1;
            continue;
        }
        let q = &view.quotes[i];
        let a = &view.chain.quotes[i];
        let g = a.greeks.expect("filtered for greeks");
        let Some(ex) = expiry_of(&view.chain, q.expiration) else {
            *stats.rejected.entry("no_greeks").or_default() += 1;
            continue;
        };
        let (iv, src) = match view
            .chain
            .surface
            .as_ref()
            .map(|s| s.implied_vol_at_strike(a.years, q.strike, ex.forward))
            .filter(|v| v.is_finite() && *v > 0.0)
        {
            Some(v) => (v, "surface"),
            None => match a.mid_iv {
                Ok(v) => (v, "quote"),
                Err(_) => {
                    *stats.rejected.entry("no_greeks").or_default() += 1;
                    continue;
                }
            },
        };
        let dte = (q.expiration.0 - q.quote_time.0) as f64 / DAY_NS;
        let mid = 0.5 * (q.bid + q.ask);
        let spread_pct = (q.ask - q.bid) / mid;
        let fill = expected_fill(q.bid, q.ask, true, cfg.fill_spread_reference);
        let m = q.multiplier;
        let collateral_ps = match search.kind {
            OptionType::Put => q.strike,
            OptionType::Call => spot,
        };
        let premium_yield = fill / collateral_ps;
        let drift = ex.rate - ex.dividend_yield;
        let rn = Gbm {
            spot,
            drift,
            vol: iv,
            years: a.years,
        };
        let fc = Gbm {
            vol: search.forecast_vol,
            ..rn
        };
        let (mean, sd) = short_option_pnl(search.kind, q.strike, fill, ex.rate, &fc);
        let breakeven = match search.kind {
            OptionType::Put => q.strike - fill,
            OptionType::Call => search.basis.unwrap_or(spot) - fill,
        };
        out.push(Candidate {
            index: i,
            kind: search.kind,
            strike: q.strike,
            expiration: q.expiration,
            dte,
            spot,
            years: a.years,
            bid: q.bid,
            ask: q.ask,
            spread_pct,
            expected_fill: fill,
            implied_volatility: iv,
            iv_source: src,
            delta: g.delta,
            gamma: g.gamma,
            theta_per_day: -g.theta / 365.0 * m,
            rate: ex.rate,
            dividend_yield: ex.dividend_yield,
            premium: fill * m,
            collateral: collateral_ps * m,
            premium_yield,
            annualized_yield: premium_yield * 365.0 / dte,
            breakeven,
            probability_itm: prob_itm(search.kind, q.strike, &rn),
            probability_touch: prob_touch(search.kind, q.strike, &rn),
            expected_pnl: mean * m,
            pnl_sd: sd * m,
            scenario_pnl: Vec::new(),
            robust_pnl: f64::NAN,
            liquidity: liquidity_score(
                spread_pct,
                f.max_spread_pct,
                q.open_interest.unwrap_or(0),
                q.volume.unwrap_or(0),
            ),
            open_interest: q.open_interest,
            volume: q.volume,
            multiplier: m,
            score: f64::NAN,
            components: Vec::new(),
        });
    }
    stats.passed = out.len();
    scenarios(
        &mut out,
        spot,
        search.forecast_vol,
        &cfg.vol_shocks,
        backend,
    );
    for c in &mut out {
        score(c, cfg);
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
    (out, stats)
}

/// Scenario P&L per contract: `(fill − V(σ_f + shock))·e^{rT}·multiplier`, with `V` the
/// European BSM value from one `compute` batch of every candidate × shock.
fn scenarios(out: &mut [Candidate], spot: f64, forecast: f64, shocks: &[f64], backend: &Backend) {
    let n = out.len() * shocks.len();
    if n == 0 {
        return;
    }
    let mut kind = Vec::with_capacity(n);
    let mut s = Vec::with_capacity(n);
    let mut k = Vec::with_capacity(n);
    let mut t = Vec::with_capacity(n);
    let mut r = Vec::with_capacity(n);
    let mut q = Vec::with_capacity(n);
    let mut v = Vec::with_capacity(n);
    for c in out.iter() {
        for sh in shocks {
            kind.push(c.kind);
            s.push(spot);
            k.push(c.strike);
            t.push(c.years);
            r.push(c.rate);
            q.push(c.dividend_yield);
            v.push((forecast + sh).max(0.01));
        }
    }
    let batch = OptionBatch {
        kind: &kind,
        spot: &s,
        strike: &k,
        years: &t,
        rate: &r,
        dividend_yield: &q,
        volatility: &v,
        style: None,
    };
    let res = backend.greeks(&batch);
    for (ci, c) in out.iter_mut().enumerate() {
        let growth = (c.rate * c.years).exp();
        c.scenario_pnl = (0..shocks.len())
            .map(|j| {
                let idx = ci * shocks.len() + j;
                match &res {
                    Ok(g) if g.status[idx].is_ok() => {
                        (c.expected_fill - g.price[idx]) * growth * c.multiplier
                    }
                    _ => f64::NAN,
                }
            })
            .collect();
        c.robust_pnl = c.scenario_pnl.iter().copied().fold(f64::INFINITY, |a, b| {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.min(b)
            }
        });
    }
}

fn score(c: &mut Candidate, cfg: &AdvisorConfig) {
    let w = &cfg.weights;
    let robust = if c.robust_pnl.is_finite() {
        c.robust_pnl / c.collateral * 365.0 / c.dte
    } else {
        -1.0
    };
    let sharpe = if c.pnl_sd > 0.0 {
        c.expected_pnl / c.pnl_sd
    } else {
        0.0
    };
    let comps = [
        ("annualized_yield", c.annualized_yield, w.annualized_yield),
        ("robust_edge", robust, w.robust_edge),
        ("prob_otm", 1.0 - c.probability_itm, w.prob_otm),
        ("liquidity", c.liquidity, w.liquidity),
        ("sharpe", sharpe, w.sharpe),
    ];
    c.components = comps
        .iter()
        .map(|&(name, value, weight)| Component {
            name,
            value,
            weight,
            contribution: value * weight,
        })
        .collect();
    c.score = c.components.iter().map(|x| x.contribution).sum();
}
