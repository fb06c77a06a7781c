//! Historical-simulation VaR: the book revalued under the underlyings' past moves.
//!
//! # Method
//! Dates common to every underlying of the book (daily closes, split-adjusted by the caller)
//! give log returns. A scenario is one past window of `horizon_days` trading days:
//! - overlapping (default): `ln(C_{t+h}/C_t)` for every start `t` (windows share days, so the
//!   scenarios are not independent; the standard error is then optimistic);
//! - scaled: one-day returns times `√h`.
//!
//! The last `lookback` scenarios are used. Each applies its returns to today's spots
//! (`S·e^r`), options are fully revalued (American engine where flagged) at their IV (sticky
//! strike) with `horizon_days/252` years less to expiry (intrinsic value when that is ≤ 0);
//! P&L = Σ quantity × (value after − value now). VaR/CVaR as in [`crate::var`].

use std::collections::BTreeMap;

use serde::Serialize;
use wheelhouse_compute::{Backend, OptionBatch};
use wheelhouse_core::OptionType;

use crate::RiskError;
use crate::book::BookPosition;
use crate::var::{TailRisk, tail_risk};

/// Settings of a historical run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HistoricalSettings {
    /// Horizon in trading days, ≥ 1.
    pub horizon_days: usize,
    /// Overlapping h-day windows (true) or one-day returns scaled by √h (false).
    pub overlapping: bool,
    /// Most recent scenarios used.
    pub lookback: usize,
    /// VaR confidence.
    pub confidence: f64,
}

/// Result of a historical run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoricalResult {
    /// VaR and CVaR (standard errors by batch means when the sample allows).
    pub tail: TailRisk,
    /// Scenarios used.
    pub scenarios: usize,
    /// First and last day (days since the Unix epoch) of the returns used.
    pub window: (i64, i64),
    /// P&L per scenario, oldest first.
    #[serde(skip)]
    pub pnl: Vec<f64>,
}

/// Runs the historical simulation. `closes` maps each underlying of the book to its daily
/// closes as (day number, close), ascending.
///
/// # Errors
/// An empty book; an underlying without closes; fewer common dates than the horizon needs;
/// a non-positive close; an option that cannot be priced.
pub fn historical_var(
    book: &[BookPosition],
    closes: &BTreeMap<String, Vec<(i64, f64)>>,
    s: &HistoricalSettings,
    backend: &Backend,
) -> Result<HistoricalResult, RiskError> {
    if book.is_empty() {
        return Err(RiskError::Input("empty portfolio".into()));
    }
    if s.horizon_days == 0 || s.lookback == 0 {
        return Err(RiskError::Input(
            "horizon and lookback must be at least 1".into(),
        ));
    }
    let (names, maps, days) = common_history(book, closes)?;
    let h = s.horizon_days;
    let step = if s.overlapping { h } else { 1 };
    if days.len() <= step {
        return Err(RiskError::Input(format!(
            "{} common dates of {} cannot make a {h}-day scenario",
            days.len(),
            names.join(", ")
        )));
    }
    let starts: Vec<usize> = (0..days.len() - step).collect();
    let starts = &starts[starts.len().saturating_sub(s.lookback)..];
    let scale = if s.overlapping {
        1.0
    } else {
        (h as f64).sqrt()
    };
    // returns[scenario][underlying]
    let returns: Vec<Vec<f64>> = starts
        .iter()
        .map(|&t| {
            maps.iter()
                .map(|m| scale * (m[&days[t + step]] / m[&days[t]]).ln())
                .collect()
        })
        .collect();
    let pnl = scenario_pnl(book, &names, &returns, h, backend)?;
    let tail = tail_risk(&pnl, s.confidence)?;
    Ok(HistoricalResult {
        tail,
        scenarios: pnl.len(),
        window: (days[starts[0]], days[starts[starts.len() - 1] + step]),
        pnl,
    })
}

/// P&L of the book under each scenario of log returns (`returns[scenario][underlying]`, the
/// underlyings in `names` order) over `h` trading days, full revaluation.
fn scenario_pnl(
    book: &[BookPosition],
    names: &[String],
    returns: &[Vec<f64>],
    h: usize,
    backend: &Backend,
) -> Result<Vec<f64>, RiskError> {
    let idx: Vec<usize> = book
        .iter()
        .map(|p| names.binary_search(&p.underlying).expect("listed"))
        .collect();
    let dt = h as f64 / 252.0;
    let opts: Vec<usize> = (0..book.len())
        .filter(|&i| book[i].option.is_some())
        .collect();
    // Base values (scenario "none"), then every scenario, in one batch.
    let ns = returns.len() + 1;
    let n = opts.len() * ns;
    let (mut kind, mut spot, mut strike, mut years) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut rate, mut q, mut vol, mut style) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for si in 0..ns {
        for &i in &opts {
            let p = &book[i];
            let o = p.option.expect("options only");
            let (sp, t) = if si == 0 {
                (p.spot, o.years)
            } else {
                (
                    p.spot * returns[si - 1][idx[i]].exp(),
                    (o.years - dt).max(1e-12),
                )
            };
            kind.push(o.kind);
            spot.push(sp);
            strike.push(o.strike);
            years.push(t);
            rate.push(o.rate);
            q.push(o.dividend_yield);
            vol.push(o.vol);
            style.push(o.style);
        }
    }
    let g = backend
        .greeks(&OptionBatch {
            kind: &kind,
            spot: &spot,
            strike: &strike,
            years: &years,
            rate: &rate,
            dividend_yield: &q,
            volatility: &vol,
            style: Some(&style),
        })
        .map_err(|e| RiskError::Input(format!("revaluation batch: {e}")))?;
    if let Some(e) = g.status.iter().position(|st| !st.is_ok()) {
        return Err(RiskError::Input(format!(
            "cannot price the {} option in scenario {}: {:?}",
            book[opts[e % opts.len().max(1)]].underlying,
            e / opts.len().max(1),
            g.status[e]
        )));
    }
    let no = opts.len();
    let pnl: Vec<f64> = (1..ns)
        .map(|si| {
            let mut k = 0;
            book.iter()
                .enumerate()
                .map(|(i, p)| {
                    let r = returns[si - 1][idx[i]];
                    match p.option {
                        None => p.quantity * p.spot * (r.exp() - 1.0),
                        Some(o) => {
                            let after = if o.years <= dt {
                                let sp = spot[si * no + k];
                                match o.kind {
                                    OptionType::Call => (sp - o.strike).max(0.0),
                                    OptionType::Put => (o.strike - sp).max(0.0),
                                }
                            } else {
                                g.price[si * no + k]
                            };
                            let v = p.quantity * (after - g.price[k]);
                            k += 1;
                            v
                        }
                    }
                })
                .sum()
        })
        .collect();
    Ok(pnl)
}

/// A named historical shock: the book revalued under one past window's moves of every
/// underlying.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamedShock {
    /// E.g. "largest 5-day fall of AAPL".
    pub name: String,
    /// The underlying whose move picked the window.
    pub underlying: String,
    /// Window length in trading days.
    pub horizon_days: usize,
    /// First and last day of the window (days since the Unix epoch).
    pub window: (i64, i64),
    /// Log return of each underlying over the window.
    pub returns: Vec<(String, f64)>,
    /// Book P&L (full revaluation), money.
    pub pnl: f64,
}

/// For each underlying of the book and each horizon: the largest fall and the largest rise
/// over the common history (non-overlapping choice is not enforced: each is the extreme
/// window), replayed jointly for all underlyings.
///
/// # Errors
/// As [`historical_var`].
pub fn named_shocks(
    book: &[BookPosition],
    closes: &BTreeMap<String, Vec<(i64, f64)>>,
    horizons: &[usize],
    backend: &Backend,
) -> Result<Vec<NamedShock>, RiskError> {
    if book.is_empty() {
        return Err(RiskError::Input("empty portfolio".into()));
    }
    let (names, maps, days) = common_history(book, closes)?;
    let mut out = Vec::new();
    for &h in horizons {
        if h == 0 || days.len() <= h {
            continue;
        }
        let window_returns = |t: usize| -> Vec<f64> {
            maps.iter()
                .map(|m| (m[&days[t + h]] / m[&days[t]]).ln())
                .collect()
        };
        for (ui, n) in names.iter().enumerate() {
            let mut lo = (f64::INFINITY, 0);
            let mut hi = (f64::NEG_INFINITY, 0);
            for t in 0..days.len() - h {
                let r = (maps[ui][&days[t + h]] / maps[ui][&days[t]]).ln();
                if r < lo.0 {
                    lo = (r, t);
                }
                if r > hi.0 {
                    hi = (r, t);
                }
            }
            for (what, t) in [("fall", lo.1), ("rise", hi.1)] {
                let r = window_returns(t);
                let pnl = scenario_pnl(book, &names, std::slice::from_ref(&r), h, backend)?[0];
                out.push(NamedShock {
                    name: format!("largest {h}-day {what} of {n}"),
                    underlying: n.clone(),
                    horizon_days: h,
                    window: (days[t], days[t + h]),
                    returns: names.iter().cloned().zip(r).collect(),
                    pnl,
                });
            }
        }
    }
    Ok(out)
}

/// The book's underlyings (sorted), their closes by day, and the days all of them have.
#[allow(clippy::type_complexity)]
fn common_history(
    book: &[BookPosition],
    closes: &BTreeMap<String, Vec<(i64, f64)>>,
) -> Result<(Vec<String>, Vec<BTreeMap<i64, f64>>, Vec<i64>), RiskError> {
    let mut names: Vec<String> = book.iter().map(|p| p.underlying.clone()).collect();
    names.sort();
    names.dedup();
    let mut maps = Vec::with_capacity(names.len());
    for n in &names {
        let c = closes
            .get(n)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| RiskError::Input(format!("no price history for {n}")))?;
        if let Some((d, x)) = c.iter().find(|(_, x)| !(x.is_finite() && *x > 0.0)) {
            return Err(RiskError::Input(format!("{n}: close {x} on day {d}")));
        }
        maps.push(c.iter().copied().collect::<BTreeMap<i64, f64>>());
    }
    let days: Vec<i64> = maps
        .first()
        .map(|m0| {
            m0.keys()
                .copied()
                .filter(|d| maps.iter().all(|m| m.contains_key(d)))
                .collect()
        })
        .unwrap_or_default();
    Ok((names, maps, days))
}
