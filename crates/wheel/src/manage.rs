//! Management of open short options: take profit, roll for a credit, close before events,
//! covered-call assignment risk before ex-dividend, let expire, accept assignment.
//!
//! Rules, in order (the first that applies decides):
//! 1. Expired or expiring today: let expire (out of the money) or accept assignment.
//! 2. An earnings date before expiry and `close_before_earnings`: close.
//! 3. A short call in the money before an ex-dividend date with extrinsic value below the
//!    dividend (early assignment is then rational for the holder): roll up/out for a credit,
//!    else close.
//! 4. Premium captured ≥ `take_profit`: close.
//! 5. DTE ≤ `roll_dte` or |delta| > `roll_abs_delta`: roll out (and down for puts, up for calls)
//!    to the best-scoring contract that gives a net credit ≥ `min_roll_credit`; without one,
//!    accept assignment when in the money, let expire when out of it.
//! 6. Otherwise hold.

use serde::Serialize;
use wheelhouse_compute::Backend;
use wheelhouse_core::{OptionType, UnixNanos};

use crate::candidates::{Candidate, MarketView, Search, find_candidates};
use crate::config::AdvisorConfig;
use crate::ledger::Position;
use crate::probability::expected_fill;

const DAY_NS: f64 = 86_400e9;

/// The action on a held position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Keep it.
    Hold,
    /// Buy it back now.
    Close,
    /// Close and open the named contract as one order.
    Roll,
    /// Let it expire worthless.
    LetExpire,
    /// Take (puts) or deliver (calls) the shares at the strike.
    AcceptAssignment,
}

impl Action {
    /// snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Hold => "hold",
            Action::Close => "close",
            Action::Roll => "roll",
            Action::LetExpire => "let_expire",
            Action::AcceptAssignment => "accept_assignment",
        }
    }
}

/// Advice on one held option.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Management {
    /// The position.
    pub position: Position,
    /// What to do.
    pub action: Action,
    /// Why, with the numbers.
    pub reasons: Vec<String>,
    /// Bid of the held contract (None without a quote).
    pub bid: Option<f64>,
    /// Ask of the held contract.
    pub ask: Option<f64>,
    /// Expected price to buy it back (spread-aware, between mid and ask).
    pub close_price: Option<f64>,
    /// Share of the opening premium captured if closed at `close_price`.
    pub profit_captured: Option<f64>,
    /// Calendar days to expiry.
    pub dte: f64,
    /// Delta of the held contract (per share, sign of a long option).
    pub delta: Option<f64>,
    /// Mid minus intrinsic value.
    pub extrinsic: Option<f64>,
    /// Roll target.
    pub roll_to: Option<Candidate>,
    /// Roll net credit per share (target's expected fill − close price).
    pub roll_credit: Option<f64>,
}

/// Advice for one held short option.
#[allow(clippy::too_many_arguments)]
pub fn manage_option(
    pos: &Position,
    view: Option<&MarketView>,
    basis: Option<f64>,
    forecast_vol: Option<f64>,
    now: UnixNanos,
    cfg: &AdvisorConfig,
    backend: &Backend,
) -> Management {
    let m = &cfg.management;
    let kind = pos.option_type().expect("options only");
    let strike = pos.strike.unwrap_or(f64::NAN);
    let exp = pos.expiration.unwrap_or(now);
    let dte = (exp.0 - now.0) as f64 / DAY_NS;
    let mut out = Management {
        position: pos.clone(),
        action: Action::Hold,
        reasons: Vec::new(),
        bid: None,
        ask: None,
        close_price: None,
        profit_captured: None,
        dte,
        delta: None,
        extrinsic: None,
        roll_to: None,
        roll_credit: None,
    };
    let spot = view.map(|v| v.chain.spot);
    let itm = spot.map(|s| match kind {
        OptionType::Put => s < strike,
        OptionType::Call => s > strike,
    });
    if pos.quantity > 0.0 {
        out.reasons
            .push("long option: not part of the wheel's rules; hold or close by hand".into());
        return out;
    }
    // Expiring: the advice is on (or after) the expiration's New York date.
    if crate::date_of(now) >= crate::date_of(exp) {
        match itm {
            Some(true) => {
                out.action = Action::AcceptAssignment;
                out.reasons.push(format!(
                    "expires in {dte:.1} days in the money (spot {:.2} vs strike {strike}): {}",
                    spot.unwrap_or(f64::NAN),
                    match kind {
                        OptionType::Put => "take the shares at the strike".to_string(),
                        OptionType::Call => match basis {
                            Some(b) => format!(
                                "shares called away at {strike} vs adjusted basis {b:.2} ({} {:.2}/share)",
                                if strike >= b { "gain" } else { "loss" },
                                (strike - b).abs()
                            ),
                            None => "shares called away at the strike".into(),
                        },
                    }
                ));
            }
            Some(false) => {
                out.action = Action::LetExpire;
                out.reasons.push(format!(
                    "expires in {dte:.1} days out of the money (spot {:.2} vs strike {strike}): keep the full premium {:.2}",
                    spot.unwrap_or(f64::NAN),
                    pos.open_price
                ));
            }
            None => out
                .reasons
                .push("expiring, but no market data to tell whether it is in the money".into()),
        }
        return out;
    }
    let Some(view) = view else {
        out.reasons
            .push("no chain for this underlying: cannot evaluate; hold".into());
        return out;
    };
    let Some(i) = view.quotes.iter().position(|q| {
        q.option_type == kind && (q.strike - strike).abs() < 1e-9 && q.expiration == exp
    }) else {
        out.reasons
            .push("the held contract is not in the latest chain: cannot evaluate; hold".into());
        return out;
    };
    let q = &view.quotes[i];
    let a = &view.chain.quotes[i];
    let s = view.chain.spot;
    let close = expected_fill(q.bid, q.ask, false, cfg.fill_spread_reference);
    let mid = 0.5 * (q.bid + q.ask);
    let intrinsic = match kind {
        OptionType::Put => (strike - s).max(0.0),
        OptionType::Call => (s - strike).max(0.0),
    };
    let captured = if pos.open_price > 0.0 {
        (pos.open_price - close) / pos.open_price
    } else {
        0.0
    };
    out.bid = Some(q.bid);
    out.ask = Some(q.ask);
    out.close_price = Some(close);
    out.profit_captured = Some(captured);
    out.delta = a.greeks.map(|g| g.delta);
    out.extrinsic = Some(mid - intrinsic);
    let itm = itm.unwrap_or(false);
    // Roll targets are ranked under the realized-vol forecast; without one, under the held
    // contract's own implied vol (the reasons say so).
    let vol = forecast_vol.or_else(|| a.mid_iv.ok());
    // For a call rolled away from an ex-dividend date, the target must keep at least
    // `min_extrinsic` of time value (else it is as likely to be assigned).
    let roll = |out: &mut Management, min_extrinsic: f64| -> bool {
        let Some(vol) = vol else {
            out.reasons
                .push("no volatility forecast or quote IV: no roll target can be ranked".into());
            return false;
        };
        if forecast_vol.is_none() {
            out.reasons.push(format!(
                "no realized-vol forecast: roll targets ranked at the held contract's IV {vol:.3}"
            ));
        }
        let search = Search {
            kind,
            basis,
            forecast_vol: vol,
            delta_band: false,
            roll_from: Some((strike, exp)),
        };
        let (cands, _) = find_candidates(view, &search, cfg, backend);
        let best = cands
            .into_iter()
            .filter(|c| c.expected_fill - close >= m.min_roll_credit)
            .filter(|c| {
                let intrinsic = match kind {
                    OptionType::Put => (c.strike - s).max(0.0),
                    OptionType::Call => (s - c.strike).max(0.0),
                };
                c.expected_fill - intrinsic >= min_extrinsic
            })
            .max_by(|a, b| a.score.total_cmp(&b.score));
        match best {
            Some(c) => {
                out.roll_credit = Some(c.expected_fill - close);
                out.reasons.push(format!(
                    "roll to {} {} {}: net credit {:.2}/share (sell at {:.2}, buy back at {:.2}), |delta| {:.2}",
                    crate::date_of(c.expiration),
                    c.strike,
                    kind.as_str(),
                    c.expected_fill - close,
                    c.expected_fill,
                    close,
                    c.delta.abs()
                ));
                out.roll_to = Some(c);
                out.action = Action::Roll;
                true
            }
            None => false,
        }
    };
    // 2. earnings
    if m.close_before_earnings && view.earnings.iter().any(|e| e.0 > now.0 && e.0 <= exp.0) {
        out.action = Action::Close;
        out.reasons.push(format!(
            "earnings before expiry: close at {close:.2} ({:.0} % of premium captured)",
            captured * 100.0
        ));
        return out;
    }
    // 3. ex-dividend assignment risk on short calls
    if kind == OptionType::Call && itm {
        let div = view
            .ex_dividends
            .iter()
            .find(|(t, _)| t.0 > now.0 && t.0 <= exp.0);
        if let Some((_, amount)) = div
            && mid - intrinsic < *amount
        {
            out.reasons.push(format!(
                "in the money before ex-dividend: extrinsic {:.2} < dividend {:.2}, early assignment likely",
                mid - intrinsic,
                amount
            ));
            if !roll(&mut out, *amount) {
                out.action = Action::Close;
                out.reasons
                    .push(format!(
                        "no credit roll up and out keeping extrinsic ≥ the dividend: close at {close:.2}"
                    ));
            }
            return out;
        }
    }
    // 4. take profit
    if captured >= m.take_profit {
        out.action = Action::Close;
        out.reasons.push(format!(
            "{:.0} % of the premium captured (opened at {:.2}, close at {close:.2}) ≥ take-profit {:.0} %",
            captured * 100.0,
            pos.open_price,
            m.take_profit * 100.0
        ));
        return out;
    }
    // 5. roll triggers
    let delta_hit = out.delta.is_some_and(|d| d.abs() > m.roll_abs_delta);
    if dte <= m.roll_dte || delta_hit {
        out.reasons.push(if delta_hit {
            format!(
                "|delta| {:.2} > {:.2}",
                out.delta.unwrap_or(f64::NAN).abs(),
                m.roll_abs_delta
            )
        } else {
            format!("{dte:.1} days to expiry ≤ {:.0}", m.roll_dte)
        });
        if roll(&mut out, 0.0) {
            return out;
        }
        if itm {
            out.action = Action::AcceptAssignment;
            out.reasons.push(format!(
                "no roll for a net credit ≥ {:.2}: accept assignment at {strike}",
                m.min_roll_credit
            ));
        } else {
            out.action = Action::LetExpire;
            out.reasons.push(format!(
                "no roll for a net credit ≥ {:.2}; out of the money: let expire (remaining value {:.2})",
                m.min_roll_credit, mid
            ));
        }
        return out;
    }
    out.reasons.push(format!(
        "{:.0} % of premium captured, {dte:.0} days left, |delta| {:.2}: no rule triggered",
        captured * 100.0,
        out.delta.unwrap_or(f64::NAN).abs()
    ));
    out
}
