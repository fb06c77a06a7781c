//! The advisor: per underlying, its analyses run concurrently and each is timed; the results
//! combine into one recommendation (a new trade, or "no trade" with the reason), actions on held
//! options, alternatives, the binding size limit, a confidence score, reasons and warnings.
//!
//! # Account figures (money)
//! - Net liquidation value: cash + Σ positions at mid (short options negative).
//! - Requirement per position: cash accounts — short put `K × multiplier` (cash-secured), long
//!   stock its value, covered calls nothing; margin accounts — short put and uncovered call by
//!   Reg-T ([`crate::sizing`]), long stock 50 % of its value.
//! - Buying power available: cash accounts — cash − Σ put collateral; margin accounts — net
//!   liquidation − Σ requirements + the short options' market value (their Reg-T requirement
//!   includes the premium, which net liquidation already deducts).
//! - Delta dollars: Σ delta × shares × spot (stock delta 1).
//!
//! # Confidence
//! Starts at 1 and is multiplied down, with a reason each time: snapshot older than a day
//! (0.9), surface calendar violations (0.9), IV taken from quotes instead of the surface
//! (0.9), short return history (< 60 returns: 0.9), negative P&L in some vol scenario (0.8),
//! fewer than three passing candidates (0.9), liquidity score below 0.5 (0.85), correlation to
//! a held underlying above `max_correlation` (0.85), unknown IV rank (0.95), open interest or
//! volume not reported (0.9).

use std::collections::BTreeMap;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;
use wheelhouse_compute::Backend;
use wheelhouse_core::{OptionType, UnixNanos};

use crate::candidates::{Candidate, FilterStats, MarketView, Search, find_candidates};
use crate::config::AdvisorConfig;
use crate::ledger::{AccountType, InstrumentKind, Ledger, Position};
use crate::manage::{Management, manage_option};
use crate::probability::{Gbm, RealizedVol, realized_vol};
use wheelhouse_risk::margin::{LegKind, MarginLeg, MarginMethod, RegT};

use crate::sizing::{
    Cap, Sizing, allowed, bind, cash_secured, kelly_contracts, kelly_lognormal, reg_t_naked,
};

/// Time of one analysis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timing {
    /// Analysis name.
    pub analysis: &'static str,
    /// Underlying (empty for account-wide analyses).
    pub underlying: String,
    /// Wall time, milliseconds.
    pub ms: f64,
}

/// Account-wide figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountRisk {
    /// Cash or margin.
    pub account: AccountType,
    /// Cash balance.
    pub cash: f64,
    /// Net liquidation value.
    pub net_liquidation: f64,
    /// Σ requirements.
    pub requirement: f64,
    /// Buying power available.
    pub buying_power: f64,
    /// Σ short-put strike × multiplier × contracts.
    pub short_put_notional: f64,
    /// Σ delta × shares × spot.
    pub delta_dollars: f64,
    /// Requirement by underlying.
    pub requirement_by_underlying: BTreeMap<String, f64>,
    /// Positions that could not be marked (no market data): marked at their open price.
    pub unmarked: Vec<String>,
}

/// Volatility regime of an underlying.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VolRegime {
    /// Realized-vol estimates.
    pub realized: Option<RealizedVol>,
    /// 30-day ATM implied vol.
    pub atm_iv_30d: Option<f64>,
    /// IV / EWMA forecast.
    pub iv_rv_ratio: Option<f64>,
    /// IV rank in [0, 1].
    pub iv_rank: Option<f64>,
    /// IV percentile in [0, 1].
    pub iv_percentile: Option<f64>,
    /// Snapshots behind the rank.
    pub iv_history: usize,
}

/// A new trade, an action on a held option, or no trade — the JSON's `recommendations`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    /// Underlying.
    pub underlying: String,
    /// `sell_put`, `sell_call`, `no_trade`, or a management action (`hold`, `close`, `roll`,
    /// `let_expire`, `accept_assignment`).
    pub action: String,
    /// Expiration date (New York), `YYYY-MM-DD`.
    pub expiration: Option<String>,
    /// Strike.
    pub strike: Option<f64>,
    /// `call` or `put`.
    #[serde(rename = "type")]
    pub kind: Option<OptionType>,
    /// Contracts (new trades: to sell; actions: held).
    pub contracts: Option<u32>,
    /// Bid.
    pub bid: Option<f64>,
    /// Ask.
    pub ask: Option<f64>,
    /// Expected fill per share (sale for new trades, buyback for closes).
    pub expected_fill: Option<f64>,
    /// Implied volatility (surface at the strike).
    pub implied_volatility: Option<f64>,
    /// Delta per share.
    pub delta: Option<f64>,
    /// Risk-neutral P(ITM).
    pub probability_itm: Option<f64>,
    /// Annualized premium yield on collateral.
    pub annualized_yield: Option<f64>,
    /// Confidence in [0, 1].
    pub confidence: f64,
    /// Why.
    pub reasons: Vec<String>,
    /// Warnings (stale data, wide spreads, low liquidity, event risk, concentration).
    pub warnings: Vec<String>,
    /// The full candidate (new trades) or the roll target.
    pub detail: Option<Candidate>,
    /// Sizing and its caps (new trades).
    pub sizing: Option<Sizing>,
    /// The next best candidates (new trades).
    pub alternatives: Vec<Candidate>,
}

impl Recommendation {
    fn empty(underlying: &str, action: &str) -> Self {
        Recommendation {
            underlying: underlying.to_string(),
            action: action.to_string(),
            expiration: None,
            strike: None,
            kind: None,
            contracts: None,
            bid: None,
            ask: None,
            expected_fill: None,
            implied_volatility: None,
            delta: None,
            probability_itm: None,
            annualized_yield: None,
            confidence: 0.0,
            reasons: Vec::new(),
            warnings: Vec::new(),
            detail: None,
            sizing: None,
            alternatives: Vec::new(),
        }
    }
}

/// Everything about one underlying.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnderlyingAdvice {
    /// Underlying.
    pub underlying: String,
    /// Snapshot time (None without a chain).
    pub quote_time: Option<String>,
    /// Spot of the snapshot.
    pub spot: Option<f64>,
    /// Wheel state.
    pub state: String,
    /// Adjusted cost basis per share.
    pub adjusted_basis: Option<f64>,
    /// Volatility regime.
    pub vol_regime: VolRegime,
    /// Filter counts.
    pub filters: Option<FilterStats>,
    /// Highest correlation of daily returns with a held underlying.
    pub max_correlation: Option<(String, f64)>,
    /// The new-trade recommendation (or no trade).
    pub recommendation: Recommendation,
    /// The next best candidates.
    pub alternatives: Vec<Candidate>,
    /// Actions on held options.
    pub actions: Vec<Management>,
}

/// The advisor's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Advice {
    /// Advice time.
    pub at: String,
    /// Account figures.
    pub account: AccountRisk,
    /// Flattened: per underlying its new-trade recommendation, then its actions.
    pub recommendations: Vec<Recommendation>,
    /// Per underlying detail.
    pub underlyings: Vec<UnderlyingAdvice>,
    /// Per-analysis timings.
    pub timings: Vec<Timing>,
    /// Total wall time, milliseconds.
    pub total_ms: f64,
}

/// What to advise on.
#[derive(Debug)]
pub struct Request<'a> {
    /// Advice time (freshness is measured against it).
    pub now: UnixNanos,
    /// The account.
    pub ledger: &'a Ledger,
    /// Market data by symbol (requested symbols and held underlyings where available).
    pub markets: &'a BTreeMap<String, MarketView>,
    /// Underlyings to advise on (held underlyings are always managed).
    pub symbols: &'a [String],
    /// Configuration.
    pub config: &'a AdvisorConfig,
    /// Batch backend.
    pub backend: &'a Backend,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Marks and delta of a position from its market view.
fn mark_of(p: &Position, markets: &BTreeMap<String, MarketView>) -> Option<(f64, f64, f64)> {
    let v = markets.get(&p.underlying)?;
    let s = v.chain.spot;
    match p.kind {
        InstrumentKind::Stock => Some((s, 1.0, s)),
        InstrumentKind::Call | InstrumentKind::Put => {
            let ot = p.option_type()?;
            let strike = p.strike?;
            let exp = p.expiration?;
            let i = v.quotes.iter().position(|q| {
                q.option_type == ot && (q.strike - strike).abs() < 1e-9 && q.expiration == exp
            })?;
            let q = &v.quotes[i];
            // Without Greeks (no mid IV, e.g. a bid below intrinsic deep in the money) the mid
            // still marks it; delta falls back to ±1 in the money and 0 out of it.
            let d = v.chain.quotes[i].greeks.map_or_else(
                || match ot {
                    OptionType::Call if s > strike => 1.0,
                    OptionType::Put if s < strike => -1.0,
                    _ => 0.0,
                },
                |g| g.delta,
            );
            Some((0.5 * (q.bid + q.ask), d, s))
        }
        InstrumentKind::Cash => None,
    }
}

/// Account-wide figures from the ledger and market data.
pub fn account_risk(ledger: &Ledger, markets: &BTreeMap<String, MarketView>) -> AccountRisk {
    let positions = ledger.positions();
    let mut nlv = ledger.cash();
    let mut legs = BTreeMap::<String, Vec<MarginLeg>>::new();
    let mut spn = 0.0;
    let mut dd = 0.0;
    let mut unmarked = Vec::new();
    let mut short_value = 0.0;
    for p in &positions {
        let (mark, delta, spot) = match mark_of(p, markets) {
            Some(x) => x,
            None => {
                unmarked.push(format!(
                    "{} {}{}",
                    p.underlying,
                    p.kind.as_str(),
                    p.strike.map(|k| format!(" {k}")).unwrap_or_default()
                ));
                // Shares without data still carry delta 1 (at their open price).
                let d = if p.kind == InstrumentKind::Stock {
                    1.0
                } else {
                    f64::NAN
                };
                (p.open_price, d, p.open_price)
            }
        };
        if p.quantity < 0.0 && p.option_type().is_some() {
            short_value += mark * -p.quantity * p.multiplier;
        }
        let value = mark * p.quantity * p.multiplier;
        nlv += value;
        if delta.is_finite() {
            dd += delta * p.quantity * p.multiplier * spot;
        }
        let leg_kind = match p.kind {
            InstrumentKind::Stock => Some(LegKind::Stock),
            InstrumentKind::Call => Some(LegKind::Call),
            InstrumentKind::Put => Some(LegKind::Put),
            InstrumentKind::Cash => None,
        };
        if p.kind == InstrumentKind::Put && p.quantity < 0.0 {
            spn += p.strike.unwrap_or(0.0) * p.multiplier * -p.quantity;
        }
        let g = legs.entry(p.underlying.clone()).or_default();
        if let Some(kind) = leg_kind {
            g.push(MarginLeg {
                kind,
                quantity: p.quantity,
                strike: p.strike.unwrap_or(0.0),
                mark,
                spot,
                multiplier: p.multiplier,
            });
        }
    }
    // Requirements per underlying through the margin method (Reg-T; the seam for portfolio
    // margin).
    let cash_account = ledger.account() == AccountType::Cash;
    let req: BTreeMap<String, f64> = legs
        .iter()
        .map(|(u, g)| (u.clone(), RegT.requirement(g, cash_account)))
        .collect();
    let total: f64 = req.values().sum();
    let bp = match ledger.account() {
        // Cash account: cash less put collateral (stock is paid for already).
        AccountType::Cash => {
            ledger.cash()
                - positions
                    .iter()
                    .filter(|p| p.kind == InstrumentKind::Put && p.quantity < 0.0)
                    .map(|p| cash_secured(p.strike.unwrap_or(0.0), p.multiplier) * -p.quantity)
                    .sum::<f64>()
        }
        // Margin: equity less requirements; the requirements of short options include their
        // premium, which net liquidation has already deducted as the options' market value.
        AccountType::Margin => nlv - total + short_value,
    };
    AccountRisk {
        account: ledger.account(),
        cash: ledger.cash(),
        net_liquidation: nlv,
        requirement: total,
        buying_power: bp,
        short_put_notional: spn,
        delta_dollars: dd,
        requirement_by_underlying: req,
        unmarked,
    }
}

/// Pearson correlation of daily log returns over the dates both series have (the last 250
/// returns), None with fewer than 20.
pub fn return_correlation(a: &[(UnixNanos, f64)], b: &[(UnixNanos, f64)]) -> Option<f64> {
    // Returns over consecutive common dates of both series, so a gap in one never pairs a
    // two-day return with a one-day one.
    let day = |t: UnixNanos| t.0.div_euclid(86_400_000_000_000);
    let cb: BTreeMap<i64, f64> = b.iter().map(|(t, c)| (day(*t), *c)).collect();
    let common: Vec<(f64, f64)> = a
        .iter()
        .filter_map(|(t, c)| cb.get(&day(*t)).map(|y| (*c, *y)))
        .filter(|(x, y)| *x > 0.0 && *y > 0.0)
        .collect();
    let pairs: Vec<(f64, f64)> = common
        .windows(2)
        .map(|w| ((w[1].0 / w[0].0).ln(), (w[1].1 / w[0].1).ln()))
        .collect();
    let p = &pairs[pairs.len().saturating_sub(250)..];
    if p.len() < 20 {
        return None;
    }
    let n = p.len() as f64;
    let mx = p.iter().map(|x| x.0).sum::<f64>() / n;
    let my = p.iter().map(|x| x.1).sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in p {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// Runs the advisor.
pub fn advise(req: &Request<'_>) -> Advice {
    let started = Instant::now();
    let t0 = Instant::now();
    let account = account_risk(req.ledger, req.markets);
    let mut timings = vec![Timing {
        analysis: "portfolio_risk",
        underlying: String::new(),
        ms: ms(t0),
    }];
    let held = req.ledger.held_underlyings();
    let mut symbols: Vec<String> = req.symbols.to_vec();
    for u in &held {
        if !symbols.contains(u) {
            symbols.push(u.clone());
        }
    }
    let results: Vec<(UnderlyingAdvice, Vec<Timing>)> = symbols
        .par_iter()
        .map(|s| {
            let new_trades = req.symbols.contains(s);
            advise_one(req, s, &account, &held, new_trades)
        })
        .collect();
    let mut recs = Vec::new();
    let mut unds = Vec::new();
    for (u, t) in results {
        timings.extend(t);
        if req.symbols.contains(&u.underlying) {
            recs.push(u.recommendation.clone());
        }
        for a in &u.actions {
            recs.push(action_rec(a));
        }
        unds.push(u);
    }
    Advice {
        at: crate::time_of(req.now),
        account,
        recommendations: recs,
        underlyings: unds,
        timings,
        total_ms: ms(started),
    }
}

fn action_rec(m: &Management) -> Recommendation {
    let p = &m.position;
    let mut r = Recommendation::empty(&p.underlying, m.action.as_str());
    r.expiration = p.expiration.map(crate::date_of);
    r.strike = p.strike;
    r.kind = p.option_type();
    r.contracts = Some(p.quantity.abs().round() as u32);
    r.bid = m.bid;
    r.ask = m.ask;
    r.expected_fill = m.close_price;
    r.delta = m.delta;
    r.confidence = if m.bid.is_some() { 0.9 } else { 0.3 };
    r.reasons = m.reasons.clone();
    r.detail = m.roll_to.clone();
    if let Some(c) = &m.roll_to {
        r.implied_volatility = Some(c.implied_volatility);
        r.probability_itm = Some(c.probability_itm);
        r.annualized_yield = Some(c.annualized_yield);
    }
    r
}

fn advise_one(
    req: &Request<'_>,
    symbol: &str,
    account: &AccountRisk,
    held: &[String],
    new_trades: bool,
) -> (UnderlyingAdvice, Vec<Timing>) {
    let cfg = req.config;
    let mut timings = Vec::new();
    let time = |timings: &mut Vec<Timing>, name: &'static str, t: Instant| {
        timings.push(Timing {
            analysis: name,
            underlying: symbol.to_string(),
            ms: ms(t),
        })
    };
    let summary = req.ledger.summary(symbol, req.now);
    let state = summary
        .as_ref()
        .map_or("cash", |s| s.state.as_str())
        .to_string();
    let basis = summary.as_ref().and_then(|s| s.adjusted_basis);
    let shares = summary.as_ref().map_or(0.0, |s| s.shares);
    let positions: Vec<Position> = req
        .ledger
        .positions()
        .into_iter()
        .filter(|p| p.underlying == symbol)
        .collect();
    let view = req.markets.get(symbol);
    let mut adv = UnderlyingAdvice {
        underlying: symbol.to_string(),
        quote_time: view.map(|v| crate::time_of(v.chain.quote_time)),
        spot: view.map(|v| v.chain.spot),
        state,
        adjusted_basis: basis,
        vol_regime: VolRegime {
            realized: None,
            atm_iv_30d: None,
            iv_rv_ratio: None,
            iv_rank: None,
            iv_percentile: None,
            iv_history: 0,
        },
        filters: None,
        max_correlation: None,
        recommendation: Recommendation::empty(symbol, "no_trade"),
        alternatives: Vec::new(),
        actions: Vec::new(),
    };
    // Freshness first: everything else needs a usable snapshot.
    let t = Instant::now();
    let fresh: Result<(&MarketView, f64), String> = match view {
        None => Err(format!("no option chain stored for {symbol}")),
        Some(v) => {
            let age_h = (req.now.0 - v.chain.quote_time.0) as f64 / 3.6e12;
            if v.quotes.is_empty() {
                Err(format!("the chain of {symbol} is empty"))
            } else if age_h < 0.0 {
                Err(format!(
                    "the chain of {symbol} is from {}, after the advice time",
                    crate::time_of(v.chain.quote_time)
                ))
            } else if age_h > cfg.max_quote_age_hours {
                Err(format!(
                    "stale data: the latest chain of {symbol} is from {}, {:.0} hours before the advice time (limit {:.0})",
                    crate::time_of(v.chain.quote_time),
                    age_h,
                    cfg.max_quote_age_hours
                ))
            } else if !(v.chain.spot.is_finite() && v.chain.spot > 0.0) {
                Err(format!(
                    "the chain of {symbol} has no valid underlying price"
                ))
            } else {
                Ok((v, age_h))
            }
        }
    };
    time(&mut timings, "freshness", t);
    let (view, age_h) = match fresh {
        Ok(x) => x,
        Err(reason) => {
            adv.recommendation.reasons.push(reason.clone());
            // Held options still get advice (expiry/assignment needs no chain).
            for p in positions.iter().filter(|p| p.option_type().is_some()) {
                let mut m = manage_option(p, None, basis, None, req.now, cfg, req.backend);
                m.reasons.insert(0, reason.clone());
                adv.actions.push(m);
            }
            return (adv, timings);
        }
    };

    // Concurrent analyses: vol regime, correlation, candidates (which need the forecast, so
    // the forecast is computed inside both; it is microseconds), management.
    let closes: Vec<f64> = view.closes.iter().map(|c| c.1).collect();
    let mut regime = None;
    let mut corr = None;
    let mut cands = None;
    let mut actions = None;
    let mut tv = Vec::new();
    let forecast = realized_vol(&closes, cfg.ewma_lambda, 250);
    let kind = if shares >= 100.0 {
        OptionType::Call
    } else {
        OptionType::Put
    };
    rayon::scope(|sc| {
        sc.spawn(|_| {
            let t = Instant::now();
            let atm = view.chain.summary.atm_vol_30d;
            regime = Some((
                VolRegime {
                    realized: forecast,
                    atm_iv_30d: atm,
                    iv_rv_ratio: atm
                        .zip(forecast)
                        .map(|(a, f)| a / f.ewma)
                        .filter(|x| x.is_finite()),
                    iv_rank: view.iv_rank.map(|r| r.0),
                    iv_percentile: view.iv_rank.map(|r| r.1),
                    iv_history: view.iv_rank.map_or(0, |r| r.2),
                },
                ms(t),
            ));
        });
        sc.spawn(|_| {
            let t = Instant::now();
            let mut best: Option<(String, f64)> = None;
            for u in held.iter().filter(|u| *u != symbol) {
                if let Some(o) = req.markets.get(u)
                    && let Some(c) = return_correlation(&view.closes, &o.closes)
                    && best.as_ref().is_none_or(|b| c > b.1)
                {
                    best = Some((u.clone(), c));
                }
            }
            corr = Some((best, ms(t)));
        });
        sc.spawn(|_| {
            let t = Instant::now();
            let r = forecast.filter(|_| new_trades).map(|f| {
                let search = Search {
                    kind,
                    basis,
                    forecast_vol: f.ewma,
                    delta_band: true,
                    roll_from: None,
                };
                find_candidates(view, &search, cfg, req.backend)
            });
            cands = Some((r, ms(t)));
        });
        sc.spawn(|_| {
            let t = Instant::now();
            let a: Vec<Management> = positions
                .par_iter()
                .filter(|p| p.option_type().is_some())
                .map(|p| {
                    manage_option(
                        p,
                        Some(view),
                        basis,
                        forecast.map(|f| f.ewma),
                        req.now,
                        cfg,
                        req.backend,
                    )
                })
                .collect();
            actions = Some((a, ms(t)));
        });
    });
    let (regime, t_regime) = regime.expect("spawned");
    let (corr, t_corr) = corr.expect("spawned");
    let (cands, t_cands) = cands.expect("spawned");
    let (actions, t_manage) = actions.expect("spawned");
    tv.push(("vol_regime", t_regime));
    tv.push(("correlation", t_corr));
    tv.push(("candidates", t_cands));
    tv.push(("management", t_manage));
    for (name, v) in tv {
        timings.push(Timing {
            analysis: name,
            underlying: symbol.to_string(),
            ms: v,
        });
    }
    adv.vol_regime = regime;
    adv.max_correlation = corr.clone();
    adv.actions = actions;
    if !new_trades {
        adv.recommendation
            .reasons
            .push("held position only: managed, no new trade requested".into());
        return (adv, timings);
    }
    let rec = &mut adv.recommendation;
    let Some(fc) = forecast else {
        rec.reasons.push(format!(
            "no volatility forecast: {} daily closes stored up to the snapshot, need ≥ 22",
            view.closes.len()
        ));
        return (adv, timings);
    };
    // All shares already covered: no new call; puts are not added while shares are held.
    if kind == OptionType::Call {
        let short_calls: f64 = positions
            .iter()
            .filter(|p| p.kind == InstrumentKind::Call && p.quantity < 0.0)
            .map(|p| -p.shares())
            .sum();
        if shares - short_calls < 100.0 {
            rec.action = "no_trade".into();
            rec.reasons.push(format!(
                "{shares:.0} shares held, {short_calls:.0} already covered by short calls: nothing to sell"
            ));
            return (adv, timings);
        }
    }
    let (list, stats) = cands.expect("new trades with a forecast");
    adv.filters = Some(stats.clone());
    let t = Instant::now();
    let positive: Vec<&Candidate> = list.iter().filter(|c| c.expected_pnl > 0.0).collect();
    let Some(best) = positive.first().copied() else {
        rec.reasons.push(if list.is_empty() {
            format!(
                "no {} passes the filters ({} quotes; rejected: {})",
                kind.as_str(),
                stats.considered,
                stats.describe()
            )
        } else {
            format!(
                "no positive edge: {} candidates pass the filters but none has a positive expected P&L at the forecast vol {:.3} (best IV {:.3})",
                list.len(),
                fc.ewma,
                list[0].implied_volatility
            )
        });
        time(&mut timings, "sizing", t);
        return (adv, timings);
    };
    // Sizing.
    let sizing = size(
        symbol,
        best,
        kind,
        shares,
        &positions,
        account,
        req.ledger.account(),
        fc.ewma,
        cfg,
    );
    time(&mut timings, "sizing", t);
    let t = Instant::now();
    let mut conf: f64 = 1.0;
    let mut reasons = Vec::new();
    let mut warnings = Vec::new();
    let penal = |c: &mut f64, f: f64, w: String, warnings: &mut Vec<String>| {
        *c *= f;
        warnings.push(w);
    };
    if age_h > 24.0 {
        penal(
            &mut conf,
            0.9,
            format!("snapshot is {age_h:.0} hours old"),
            &mut warnings,
        );
    }
    if view.chain.calendar_violations > 0 {
        penal(
            &mut conf,
            0.9,
            format!(
                "surface has {} calendar-arbitrage violations",
                view.chain.calendar_violations
            ),
            &mut warnings,
        );
    }
    if best.iv_source != "surface" {
        penal(
            &mut conf,
            0.9,
            "no fitted surface at this expiry: IV from the quote".into(),
            &mut warnings,
        );
    }
    if fc.returns < 60 {
        penal(
            &mut conf,
            0.9,
            format!("only {} daily returns behind the vol forecast", fc.returns),
            &mut warnings,
        );
    }
    if best.robust_pnl < 0.0 {
        penal(
            &mut conf,
            0.8,
            format!(
                "loses money in a vol scenario: worst expected P&L {:.2}/contract at forecast {:+.0} vol pts",
                best.robust_pnl,
                cfg.vol_shocks
                    .iter()
                    .copied()
                    .fold(f64::NEG_INFINITY, f64::max)
                    * 100.0
            ),
            &mut warnings,
        );
    }
    if positive.len() < 3 {
        penal(
            &mut conf,
            0.9,
            format!("only {} candidates with a positive edge", positive.len()),
            &mut warnings,
        );
    }
    if best.liquidity < 0.5 {
        penal(
            &mut conf,
            0.85,
            format!("low liquidity score {:.2}", best.liquidity),
            &mut warnings,
        );
    }
    if best.open_interest.is_none() || best.volume.is_none() {
        penal(
            &mut conf,
            0.9,
            "open interest or volume not reported for this contract: liquidity unchecked".into(),
            &mut warnings,
        );
    }
    if best.spread_pct > 0.5 * cfg.filters.max_spread_pct {
        warnings.push(format!(
            "wide spread {:.1} % of mid",
            best.spread_pct * 100.0
        ));
    }
    if let Some((u, c)) = &corr
        && *c > cfg.max_correlation
    {
        penal(
            &mut conf,
            0.85,
            format!("daily returns correlate {c:.2} with held {u}: concentration"),
            &mut warnings,
        );
    }
    if view.iv_rank.is_none() {
        penal(
            &mut conf,
            0.95,
            "IV rank unknown (no stored IV history)".into(),
            &mut warnings,
        );
    }
    if !view
        .ex_dividends
        .iter()
        .any(|d| d.0.0 > view.chain.quote_time.0)
        && kind == OptionType::Call
    {
        warnings.push("no future ex-dividend date stored: dividend risk unchecked".into());
    }
    reasons.push(format!(
        "{} {} {} at {:.2}: {:.1} % annualized on {:.0} collateral, P(ITM) {:.1} %, P(touch) {:.1} %",
        if kind == OptionType::Put { "sell put" } else { "sell call" },
        crate::date_of(best.expiration),
        best.strike,
        best.expected_fill,
        best.annualized_yield * 100.0,
        best.collateral,
        best.probability_itm * 100.0,
        best.probability_touch * 100.0
    ));
    reasons.push(format!(
        "edge: IV {:.1} % vs EWMA forecast {:.1} % (20-day {:.1} %): expected P&L {:.2} ± {:.2} per contract",
        best.implied_volatility * 100.0,
        fc.ewma * 100.0,
        fc.close_to_close_20d * 100.0,
        best.expected_pnl,
        best.pnl_sd
    ));
    reasons.push(format!(
        "score {:.3} = {}",
        best.score,
        best.components
            .iter()
            .map(|c| format!("{} {:.3}×{}", c.name, c.value, c.weight))
            .collect::<Vec<_>>()
            .join(" + ")
    ));
    if let Some(b) = basis
        && kind == OptionType::Call
    {
        reasons.push(format!("strike {} ≥ adjusted basis {:.2}", best.strike, b));
    }
    reasons.push(format!(
        "size {} contracts, bound by {}",
        sizing.contracts, sizing.binding
    ));
    let rec = &mut adv.recommendation;
    if sizing.contracts == 0 {
        rec.action = "no_trade".into();
        rec.reasons.push(format!(
            "the best candidate ({} {} {}) sizes to 0 contracts: limit {} ({})",
            crate::date_of(best.expiration),
            best.strike,
            kind.as_str(),
            sizing.binding,
            sizing
                .caps
                .iter()
                .find(|c| c.name == sizing.binding)
                .map(|c| c.detail.clone())
                .unwrap_or_default()
        ));
        rec.sizing = Some(sizing);
        rec.warnings = warnings;
        time(&mut timings, "combine", t);
        return (adv, timings);
    }
    rec.action = if kind == OptionType::Put {
        "sell_put"
    } else {
        "sell_call"
    }
    .into();
    rec.expiration = Some(crate::date_of(best.expiration));
    rec.strike = Some(best.strike);
    rec.kind = Some(kind);
    rec.contracts = Some(sizing.contracts);
    rec.bid = Some(best.bid);
    rec.ask = Some(best.ask);
    rec.expected_fill = Some(best.expected_fill);
    rec.implied_volatility = Some(best.implied_volatility);
    rec.delta = Some(best.delta);
    rec.probability_itm = Some(best.probability_itm);
    rec.annualized_yield = Some(best.annualized_yield);
    rec.confidence = conf.clamp(0.0, 1.0);
    rec.reasons = reasons;
    rec.warnings = warnings;
    rec.detail = Some(best.clone());
    rec.sizing = Some(sizing);
    adv.alternatives = positive
        .iter()
        .skip(1)
        .take(cfg.alternatives)
        .map(|c| (*c).clone())
        .collect();
    adv.recommendation.alternatives = adv.alternatives.clone();
    time(&mut timings, "combine", t);
    (adv, timings)
}

/// Contracts for the best candidate and every cap on them.
#[allow(clippy::too_many_arguments)]
pub fn size(
    underlying: &str,
    c: &Candidate,
    kind: OptionType,
    shares: f64,
    positions: &[Position],
    account: &AccountRisk,
    account_type: AccountType,
    forecast_vol: f64,
    cfg: &AdvisorConfig,
) -> Sizing {
    let l = &cfg.limits;
    let nlv = account.net_liquidation;
    let m = c.multiplier;
    let growth = (c.rate * c.years).exp();
    let fc = Gbm {
        spot: c.spot,
        drift: c.rate - c.dividend_yield,
        vol: forecast_vol,
        years: c.years,
    };
    // Covered calls reduce the risk of shares already held: the shares bound them, not Kelly.
    let kelly_full = match kind {
        OptionType::Put => kelly_lognormal(nlv, kind, c.strike, c.expected_fill * growth, &fc, m),
        OptionType::Call => f64::INFINITY,
    };
    let second = kelly_contracts(nlv, c.expected_pnl, c.pnl_sd, 1.0);
    let kelly = kelly_full * l.kelly_fraction;
    let mut caps = Vec::new();
    caps.push(Cap {
        name: "max_contracts",
        contracts: l.max_contracts,
        detail: format!("configured maximum {}", l.max_contracts),
    });
    let used_here = account
        .requirement_by_underlying
        .get(underlying)
        .copied()
        .unwrap_or(0.0);
    match kind {
        OptionType::Put => {
            let per = match account_type {
                AccountType::Cash => cash_secured(c.strike, m),
                AccountType::Margin => {
                    reg_t_naked(OptionType::Put, c.spot, c.strike, c.expected_fill, m)
                }
            };
            caps.push(Cap {
                name: "buying_power",
                contracts: allowed(account.buying_power, per),
                detail: format!(
                    "buying power {:.0} / {:.0} per contract ({})",
                    account.buying_power,
                    per,
                    match account_type {
                        AccountType::Cash => "cash-secured",
                        AccountType::Margin => "Reg-T",
                    }
                ),
            });
            let budget = l.max_bp_per_underlying * nlv - used_here;
            caps.push(Cap {
                name: "per_underlying",
                contracts: allowed(budget, per),
                detail: format!(
                    "{:.0} % of net liquidation {:.0} − {:.0} already used = {:.0}, / {:.0} per contract",
                    l.max_bp_per_underlying * 100.0,
                    nlv,
                    used_here,
                    budget,
                    per
                ),
            });
            let notional = c.strike * m;
            let budget = l.max_short_put_notional * nlv - account.short_put_notional;
            caps.push(Cap {
                name: "short_put_notional",
                contracts: allowed(budget, notional),
                detail: format!(
                    "{:.2} × net liquidation − {:.0} short-put notional held = {:.0}, / {:.0} per contract",
                    l.max_short_put_notional, account.short_put_notional, budget, notional
                ),
            });
            // A short put adds −delta × multiplier × spot delta dollars (delta < 0 ⇒ long).
            let per_delta = -c.delta * m * c.spot;
            let budget = l.max_delta_dollars * nlv - account.delta_dollars;
            caps.push(Cap {
                name: "delta",
                contracts: allowed(budget, per_delta),
                detail: format!(
                    "{:.2} × net liquidation − {:.0} delta dollars held = {:.0}, / {:.0} per contract",
                    l.max_delta_dollars, account.delta_dollars, budget, per_delta
                ),
            });
        }
        OptionType::Call => {
            let short_calls: f64 = positions
                .iter()
                .filter(|p| p.kind == InstrumentKind::Call && p.quantity < 0.0)
                .map(|p| -p.shares())
                .sum();
            let free = shares - short_calls;
            caps.push(Cap {
                name: "shares_to_cover",
                contracts: allowed(free, m),
                detail: format!(
                    "{shares:.0} shares − {short_calls:.0} covered = {free:.0} free, / {m} per contract"
                ),
            });
        }
    }
    // Hard limits first: on a tie the hard limit is reported as binding.
    if kind == OptionType::Put {
        caps.push(Cap {
        name: "kelly",
        contracts: if kelly > 0.0 {
            kelly.floor().min(u32::MAX as f64) as u32
        } else {
            0
        },
        detail: format!(
            "{:.2} × full Kelly {:.2} (lognormal at forecast vol {:.3}, W {:.0}; second-order W·E[X]/E[X²] would be {:.1})",
            l.kelly_fraction, kelly_full, forecast_vol, nlv, second
        ),
    });
    }
    bind(kelly_full, second, caps)
}
