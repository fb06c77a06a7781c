//! The advisor on a synthetic 5 000-quote chain: the chosen candidate satisfies every filter
//! (property test over random filter settings), stale / empty / missing data give "no trade"
//! with the reason, sizing caps bind as configured, and held options get actions.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use proptest::prelude::*;
use wheelhouse_compute::Backend;
use wheelhouse_core::{ExerciseStyle, OptionType, UnixNanos};
use wheelhouse_market::chain::{ChainSettings, analyze_chain};
use wheelhouse_testkit::chains::{SnapshotSpec, synthetic_snapshot};
use wheelhouse_wheel::advisor::{Request, advise};
use wheelhouse_wheel::candidates::{MarketView, Search, failed_filter, find_candidates};
use wheelhouse_wheel::config::AdvisorConfig;
use wheelhouse_wheel::ledger::{AccountType, Fill, FillEvent, Ledger};

const DAY: i64 = 86_400_000_000_000;

/// A deterministic daily path (xorshift normals via Box–Muller) with 16 % annual vol, below
/// the chain's ~20–24 % implied vols: the variance premium the wheel sells.
fn closes(qt: UnixNanos, n: usize, vol: f64) -> Vec<(UnixNanos, f64)> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut u = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let mut p = 100.0;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let z = (-2.0 * u().ln()).sqrt() * (2.0 * std::f64::consts::PI * u()).cos();
        p *= (vol / 252f64.sqrt() * z).exp();
        out.push((UnixNanos(qt.0 - (n - i) as i64 * DAY), p));
    }
    // The last close equals the chain's spot.
    let last = out.last().unwrap().1;
    out.iter().map(|(t, c)| (*t, c * 100.0 / last)).collect()
}

fn view() -> &'static MarketView {
    static V: OnceLock<MarketView> = OnceLock::new();
    V.get_or_init(|| {
        let mut quotes = synthetic_snapshot(&SnapshotSpec::five_thousand(ExerciseStyle::European));
        // Liquidity that falls away from the money, with some illiquid strikes.
        for (i, q) in quotes.iter_mut().enumerate() {
            let m = (q.strike / 100.0).ln().abs();
            q.open_interest = Some(((5000.0 * (-m * 8.0).exp()) as i64).max(i as i64 % 7));
            q.volume = Some(((800.0 * (-m * 10.0).exp()) as i64) * ((i % 11 != 0) as i64));
            if i % 13 == 5 {
                // Not reported by the vendor.
                q.open_interest = None;
                q.volume = None;
            }
        }
        let chain = analyze_chain(
            &quotes,
            &[],
            &ChainSettings {
                default_rate: 0.03,
                ..ChainSettings::default()
            },
        )
        .unwrap();
        let qt = chain.quote_time;
        MarketView {
            symbol: "SYN".into(),
            closes: closes(qt, 300, 0.16),
            ex_dividends: vec![(UnixNanos(qt.0 + 50 * DAY), 0.40)],
            earnings: vec![UnixNanos(qt.0 + 35 * DAY)],
            iv_rank: Some((0.6, 0.7, 250)),
            quotes,
            chain,
        }
    })
}

fn backend() -> &'static Backend {
    static B: OnceLock<Backend> = OnceLock::new();
    B.get_or_init(|| Backend::cpu(Some(2)).unwrap())
}

fn markets(v: &MarketView) -> BTreeMap<String, MarketView> {
    BTreeMap::from([("SYN".to_string(), v.clone())])
}

fn cash_ledger(amount: f64) -> Ledger {
    Ledger::replay(AccountType::Cash, &[Fill::deposit(UnixNanos(0), amount)]).unwrap()
}

#[test]
fn cash_secured_put_on_a_flat_account() {
    let v = view();
    let m = markets(v);
    let ledger = cash_ledger(100_000.0);
    let cfg = AdvisorConfig::default();
    let now = UnixNanos(v.chain.quote_time.0 + 3_600_000_000_000);
    let a = advise(&Request {
        now,
        ledger: &ledger,
        markets: &m,
        symbols: &["SYN".to_string()],
        config: &cfg,
        backend: backend(),
    });
    let r = &a.recommendations[0];
    assert_eq!(r.action, "sell_put", "{:?}", r.reasons);
    assert_eq!(r.kind, Some(OptionType::Put));
    let d = r.delta.unwrap();
    assert!(d < 0.0 && (0.15..=0.35).contains(&d.abs()), "put delta {d}");
    let c = r.detail.as_ref().unwrap();
    assert!(c.dte >= 21.0 && c.dte <= 60.0);
    // Earnings at day 35 and ex-dividend at day 50: no expiry after either.
    assert!(
        c.dte < 35.0,
        "spans the earnings or ex-dividend date: {}",
        c.dte
    );
    assert!(
        r.alternatives
            .iter()
            .all(|a| a.dte < 35.0 && a.score <= c.score)
    );
    assert!(
        r.expected_fill.unwrap() >= r.bid.unwrap()
            && r.expected_fill.unwrap() <= 0.5 * (r.bid.unwrap() + r.ask.unwrap())
    );
    // P(ITM) = N(−d2) at the surface IV, between 0 and |delta|-ish.
    let p = r.probability_itm.unwrap();
    assert!(p > 0.0 && p < 0.5);
    assert!(c.probability_touch > p);
    assert!(c.expected_pnl > 0.0, "forecast 16 % < IV: positive edge");
    let s = r.sizing.as_ref().unwrap();
    assert_eq!(s.contracts, r.contracts.unwrap());
    assert!(s.contracts >= 1);
    // Cash-secured: never more collateral than cash.
    assert!(s.contracts as f64 * c.strike * 100.0 <= 100_000.0);
    assert!(r.confidence > 0.0 && r.confidence <= 1.0);
    assert!(!a.timings.is_empty());
    for name in [
        "freshness",
        "vol_regime",
        "correlation",
        "candidates",
        "management",
        "sizing",
    ] {
        assert!(
            a.timings.iter().any(|t| t.analysis == name),
            "timing {name}"
        );
    }
    // Alternatives are ranked below the choice.
    let u = &a.underlyings[0];
    for alt in &u.alternatives {
        assert!(alt.score <= c.score);
    }
}

#[test]
fn no_trade_on_stale_missing_or_unforecastable_data() {
    let v = view();
    let ledger = cash_ledger(100_000.0);
    let cfg = AdvisorConfig::default();
    let run = |m: &BTreeMap<String, MarketView>, now: UnixNanos| {
        advise(&Request {
            now,
            ledger: &ledger,
            markets: m,
            symbols: &["SYN".to_string()],
            config: &cfg,
            backend: backend(),
        })
    };
    let m = markets(v);
    let stale = run(
        &m,
        UnixNanos(v.chain.quote_time.0 + 200 * 3_600_000_000_000),
    );
    let r = &stale.recommendations[0];
    assert_eq!(r.action, "no_trade");
    assert!(r.reasons[0].contains("stale"), "{:?}", r.reasons);
    assert!(r.strike.is_none() && r.contracts.is_none());

    let none = run(&BTreeMap::new(), v.chain.quote_time);
    assert_eq!(none.recommendations[0].action, "no_trade");
    assert!(none.recommendations[0].reasons[0].contains("no option chain"));

    let mut empty = v.clone();
    empty.quotes.clear();
    let e = run(&markets(&empty), v.chain.quote_time);
    assert_eq!(e.recommendations[0].action, "no_trade");
    assert!(e.recommendations[0].reasons[0].contains("empty"));

    let mut short = v.clone();
    short.closes.truncate(10);
    let s = run(&markets(&short), v.chain.quote_time);
    assert_eq!(s.recommendations[0].action, "no_trade");
    assert!(s.recommendations[0].reasons[0].contains("volatility forecast"));

    // Forecast far above IV: no edge, no trade.
    let mut wild = v.clone();
    wild.closes = closes(v.chain.quote_time, 300, 0.9);
    let w = run(&markets(&wild), v.chain.quote_time);
    assert_eq!(w.recommendations[0].action, "no_trade");
    assert!(
        w.recommendations[0].reasons[0].contains("no positive edge"),
        "{:?}",
        w.recommendations[0].reasons
    );
}

#[test]
fn caps_bind_as_configured() {
    let v = view();
    let m = markets(v);
    let now = v.chain.quote_time;
    let run = |ledger: &Ledger, cfg: &AdvisorConfig| {
        let a = advise(&Request {
            now,
            ledger,
            markets: &m,
            symbols: &["SYN".to_string()],
            config: cfg,
            backend: backend(),
        });
        a.recommendations[0].sizing.clone().unwrap()
    };
    // A small cash account: buying power (cash-secured collateral) binds.
    let mut cfg = AdvisorConfig::default();
    cfg.limits.max_bp_per_underlying = 1.0;
    cfg.limits.max_short_put_notional = 10.0;
    cfg.limits.kelly_fraction = 1.0;
    let s = run(&cash_ledger(12_000.0), &cfg);
    assert_eq!((s.binding, s.contracts), ("buying_power", 1), "{s:?}");
    // The default 25 % per underlying allows no contract of a ~94 strike on 12 000.
    let s = run(&cash_ledger(12_000.0), &AdvisorConfig::default());
    assert_eq!((s.binding, s.contracts), ("per_underlying", 0), "{s:?}");
    // Kelly binds with a tiny Kelly fraction.
    let mut cfg = AdvisorConfig::default();
    cfg.limits.kelly_fraction = 0.001;
    let s = run(&cash_ledger(1_000_000.0), &cfg);
    assert_eq!(s.binding, "kelly", "{s:?}");
    // Per-underlying share.
    let mut cfg = AdvisorConfig::default();
    cfg.limits.max_bp_per_underlying = 0.05;
    let s = run(&cash_ledger(1_000_000.0), &cfg);
    assert_eq!(s.binding, "per_underlying", "{s:?}");
    // Short-put notional.
    let mut cfg = AdvisorConfig::default();
    cfg.limits.max_short_put_notional = 0.02;
    cfg.limits.max_bp_per_underlying = 1.0;
    let s = run(&cash_ledger(1_000_000.0), &cfg);
    assert_eq!(s.binding, "short_put_notional", "{s:?}");
    // Delta dollars.
    let mut cfg = AdvisorConfig::default();
    cfg.limits.max_delta_dollars = 0.002;
    cfg.limits.max_bp_per_underlying = 1.0;
    let s = run(&cash_ledger(1_000_000.0), &cfg);
    assert_eq!(s.binding, "delta", "{s:?}");
    // Margin account: Reg-T per contract is far below the strike, so buying power allows more.
    let margin = Ledger::replay(
        AccountType::Margin,
        &[Fill::deposit(UnixNanos(0), 12_000.0)],
    )
    .unwrap();
    let mut cfg = AdvisorConfig::default();
    cfg.limits.max_bp_per_underlying = 1.0;
    cfg.limits.max_short_put_notional = 10.0;
    cfg.limits.max_delta_dollars = 10.0;
    cfg.limits.kelly_fraction = 1.0;
    let s = run(&margin, &cfg);
    let bp = s.caps.iter().find(|c| c.name == "buying_power").unwrap();
    assert!(bp.contracts > 1, "{s:?}");
}

#[test]
fn covered_call_above_basis_and_held_put_managed() {
    let v = view();
    let m = markets(v);
    let qt = v.chain.quote_time;
    // Assigned 100 shares at 104 after a 3.00 put: adjusted basis 101.00.
    let exp_old = UnixNanos(qt.0 - 2 * DAY);
    let fills = vec![
        Fill::deposit(UnixNanos(0), 50_000.0),
        Fill::option_trade(
            UnixNanos(qt.0 - 30 * DAY),
            "SYN",
            OptionType::Put,
            104.0,
            exp_old,
            -1.0,
            3.0,
        ),
        Fill::option_trade(exp_old, "SYN", OptionType::Put, 104.0, exp_old, 1.0, 0.0)
            .with_event(FillEvent::Assign),
    ];
    let ledger = Ledger::replay(AccountType::Cash, &fills).unwrap();
    assert!((ledger.adjusted_basis("SYN").unwrap() - 101.0).abs() < 1e-12);
    let cfg = AdvisorConfig::default();
    let a = advise(&Request {
        now: qt,
        ledger: &ledger,
        markets: &m,
        symbols: &["SYN".to_string()],
        config: &cfg,
        backend: backend(),
    });
    let r = &a.recommendations[0];
    if r.action == "sell_call" {
        assert!(r.strike.unwrap() >= 101.0, "{r:?}");
        assert_eq!(r.contracts, Some(1));
    } else {
        assert_eq!(r.action, "no_trade");
        assert!(
            r.reasons[0].contains("below_basis")
                || r.reasons[0].contains("filters")
                || r.reasons[0].contains("edge"),
            "{:?}",
            r.reasons
        );
    }
    // A short put at 90 expiring in 30 days, sold at 2.00, now worth far less: take profit.
    let q = v
        .quotes
        .iter()
        .find(|q| {
            q.option_type == OptionType::Put
                && (q.expiration.0 - qt.0) / DAY == 30
                && q.strike < 92.0
                && q.strike > 88.0
        })
        .unwrap();
    let fills = vec![
        Fill::deposit(UnixNanos(0), 50_000.0),
        Fill::option_trade(
            UnixNanos(qt.0 - 10 * DAY),
            "SYN",
            OptionType::Put,
            q.strike,
            q.expiration,
            -1.0,
            2.0 * q.ask + 0.5,
        ),
    ];
    let ledger = Ledger::replay(AccountType::Cash, &fills).unwrap();
    let a = advise(&Request {
        now: qt,
        ledger: &ledger,
        markets: &m,
        symbols: &[],
        config: &cfg,
        backend: backend(),
    });
    let act = &a.underlyings[0].actions[0];
    assert_eq!(act.action.as_str(), "close", "{:?}", act.reasons);
    assert!(act.profit_captured.unwrap() >= 0.5);
    assert_eq!(
        a.recommendations.len(),
        1,
        "only the action, no new trade requested"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]
    /// Whatever the filter settings, every candidate (and so the chosen one) passes every filter,
    /// and the chosen one is the best-scoring candidate with a positive edge.
    #[test]
    fn chosen_candidate_satisfies_every_filter(
        min_dte in 0.0f64..40.0, span in 5.0f64..200.0,
        min_d in 0.0f64..0.4, dspan in 0.02f64..0.6,
        min_bid in 0.0f64..1.0, max_spread in 0.005f64..0.3,
        min_oi in 0i64..2000, min_vol in 0i64..300,
        allow_ex in any::<bool>(), allow_earn in any::<bool>(), put in any::<bool>(),
        basis in 80.0f64..120.0,
    ) {
        let v = view();
        let mut cfg = AdvisorConfig::default();
        cfg.filters.min_dte = min_dte;
        cfg.filters.max_dte = min_dte + span;
        cfg.filters.min_abs_delta = min_d;
        cfg.filters.max_abs_delta = (min_d + dspan).min(1.0);
        cfg.filters.min_bid = min_bid;
        cfg.filters.max_spread_pct = max_spread;
        cfg.filters.min_open_interest = min_oi;
        cfg.filters.min_volume = min_vol;
        cfg.filters.allow_ex_dividend = allow_ex;
        cfg.filters.allow_earnings = allow_earn;
        let kind = if put { OptionType::Put } else { OptionType::Call };
        let search = Search { kind, basis: (!put).then_some(basis), forecast_vol: 0.16, delta_band: true, roll_from: None };
        let (cands, stats) = find_candidates(v, &search, &cfg, backend());
        prop_assert_eq!(stats.passed, cands.len());
        prop_assert_eq!(stats.passed + stats.rejected.values().sum::<usize>(), v.quotes.len());
        for c in &cands {
            prop_assert!(failed_filter(v, c.index, &search, &cfg.filters).is_none());
            let q = &v.quotes[c.index];
            prop_assert_eq!(q.option_type, kind);
            prop_assert!(c.dte >= cfg.filters.min_dte && c.dte <= cfg.filters.max_dte);
            prop_assert!(c.delta.abs() >= cfg.filters.min_abs_delta && c.delta.abs() <= cfg.filters.max_abs_delta);
            prop_assert!(q.bid >= min_bid && (q.ask - q.bid) / (0.5 * (q.bid + q.ask)) <= max_spread);
            prop_assert!(q.open_interest.is_none_or(|x| x >= min_oi) && q.volume.is_none_or(|x| x >= min_vol));
            if !allow_ex { prop_assert!(c.dte < 50.0); }
            if !allow_earn { prop_assert!(c.dte < 35.0); }
            if !put { prop_assert!(c.strike >= basis); }
            prop_assert!(c.score.is_finite());
        }
        for w in cands.windows(2) { prop_assert!(w[0].score >= w[1].score); }
    }
}

fn held(
    v: &MarketView,
    kind: OptionType,
    days: i64,
    strike_near: f64,
) -> &wheelhouse_core::records::OptionQuote {
    let qt = v.chain.quote_time;
    v.quotes
        .iter()
        .filter(|q| q.option_type == kind && (q.expiration.0 - qt.0) / DAY == days)
        .min_by(|a, b| {
            (a.strike - strike_near)
                .abs()
                .total_cmp(&(b.strike - strike_near).abs())
        })
        .unwrap()
}

fn manage_one(
    v: &MarketView,
    fills: Vec<Fill>,
    symbols: &[String],
) -> wheelhouse_wheel::manage::Management {
    let m = markets(v);
    let ledger = Ledger::replay(AccountType::Cash, &fills).unwrap();
    let cfg = AdvisorConfig::default();
    let a = advise(&Request {
        now: v.chain.quote_time,
        ledger: &ledger,
        markets: &m,
        symbols,
        config: &cfg,
        backend: backend(),
    });
    a.underlyings
        .iter()
        .find(|u| u.underlying == "SYN")
        .unwrap()
        .actions[0]
        .clone()
}

#[test]
fn covered_call_before_ex_dividend_with_little_extrinsic() {
    // A deep ITM short call (strike ~80, spot 100) expiring in 30 days, ex-dividend of 5.00
    // in 10 days: extrinsic < dividend, so early assignment is likely → roll or close.
    let mut v = view().clone();
    let qt = v.chain.quote_time;
    v.ex_dividends = vec![(UnixNanos(qt.0 + 10 * DAY), 5.0)];
    v.earnings.clear();
    let q = held(&v, OptionType::Call, 30, 80.0).clone();
    let fills = vec![
        Fill::deposit(UnixNanos(0), 50_000.0),
        Fill::stock_trade(UnixNanos(qt.0 - 20 * DAY), "SYN", 100.0, 95.0),
        Fill::option_trade(
            UnixNanos(qt.0 - 5 * DAY),
            "SYN",
            OptionType::Call,
            q.strike,
            q.expiration,
            -1.0,
            q.bid,
        ),
    ];
    let a = manage_one(&v, fills, &[]);
    assert!(matches!(a.action.as_str(), "roll" | "close"), "{a:?}");
    assert!(a.reasons[0].contains("ex-dividend"), "{:?}", a.reasons);
    assert!(a.extrinsic.unwrap() < 5.0);
    if let Some(t) = &a.roll_to {
        assert!(t.strike >= q.strike && t.expiration.0 > q.expiration.0);
        assert!(a.roll_credit.unwrap() >= 0.0);
        // The target keeps at least the dividend in time value.
        let intrinsic = (v.chain.spot - t.strike).max(0.0);
        assert!(t.expected_fill - intrinsic >= 5.0, "{t:?}");
    } else {
        assert!(
            a.reasons.iter().any(|r| r.contains("no credit roll")),
            "{:?}",
            a.reasons
        );
    }
}

#[test]
fn short_put_near_expiry_rolls_for_a_credit_or_takes_assignment() {
    // An at-the-money put with 14 days left, sold for its current bid (nothing captured):
    // DTE ≤ 21 triggers the roll rule.
    let mut v = view().clone();
    v.earnings.clear();
    v.ex_dividends.clear();
    let q = held(&v, OptionType::Put, 14, 100.0).clone();
    let qt = v.chain.quote_time;
    let fills = vec![
        Fill::deposit(UnixNanos(0), 50_000.0),
        Fill::option_trade(
            UnixNanos(qt.0 - 20 * DAY),
            "SYN",
            OptionType::Put,
            q.strike,
            q.expiration,
            -1.0,
            q.bid,
        ),
    ];
    let a = manage_one(&v, fills, &[]);
    match a.action.as_str() {
        "roll" => {
            let t = a.roll_to.as_ref().unwrap();
            assert!(
                t.strike <= q.strike,
                "roll down or same: {} vs {}",
                t.strike,
                q.strike
            );
            assert!(t.expiration.0 > q.expiration.0, "roll out");
            assert!(a.roll_credit.unwrap() >= 0.0, "net credit");
            assert!(
                (a.roll_credit.unwrap() - (t.expected_fill - a.close_price.unwrap())).abs() < 1e-12
            );
        }
        "accept_assignment" | "let_expire" => {}
        other => panic!("unexpected {other}: {:?}", a.reasons),
    }
    assert!(
        a.reasons.iter().any(|r| r.contains("days to expiry")),
        "{:?}",
        a.reasons
    );
    // An earnings date before expiry closes it instead.
    let mut e = v.clone();
    e.earnings = vec![UnixNanos(qt.0 + 5 * DAY)];
    let fills = vec![
        Fill::deposit(UnixNanos(0), 50_000.0),
        Fill::option_trade(
            UnixNanos(qt.0 - 20 * DAY),
            "SYN",
            OptionType::Put,
            q.strike,
            q.expiration,
            -1.0,
            q.bid,
        ),
    ];
    let a = manage_one(&e, fills, &[]);
    assert_eq!(a.action.as_str(), "close", "{:?}", a.reasons);
    assert!(a.reasons[0].contains("earnings"));
}

#[test]
fn margin_buying_power_counts_the_premium_once() {
    // Reg-T: cash after the sale less the requirement (which includes the premium).
    let v = view();
    let m = markets(v);
    let q = held(v, OptionType::Put, 30, 95.0).clone();
    let qt = v.chain.quote_time;
    let fills = vec![
        Fill::deposit(UnixNanos(0), 10_000.0),
        Fill::option_trade(
            UnixNanos(qt.0 - DAY),
            "SYN",
            OptionType::Put,
            q.strike,
            q.expiration,
            -1.0,
            2.0,
        ),
    ];
    let ledger = Ledger::replay(AccountType::Margin, &fills).unwrap();
    let r = wheelhouse_wheel::advisor::account_risk(&ledger, &m);
    let mid = 0.5 * (q.bid + q.ask);
    let req =
        wheelhouse_wheel::sizing::reg_t_naked(OptionType::Put, v.chain.spot, q.strike, mid, 100.0);
    assert!((r.net_liquidation - (10_200.0 - 100.0 * mid)).abs() < 1e-9);
    assert!((r.requirement - req).abs() < 1e-9);
    assert!((r.buying_power - (10_200.0 - req)).abs() < 1e-9, "{r:?}");
    assert!((r.short_put_notional - q.strike * 100.0).abs() < 1e-9);
    // The same trade in a cash account: cash less the strike's collateral.
    let ledger = Ledger::replay(AccountType::Cash, &fills).unwrap();
    let r = wheelhouse_wheel::advisor::account_risk(&ledger, &m);
    assert!((r.buying_power - (10_200.0 - q.strike * 100.0)).abs() < 1e-9);
    // Shares of an underlying with no data still count delta 1 at their open price.
    let fills = vec![
        Fill::deposit(UnixNanos(0), 10_000.0),
        Fill::stock_trade(UnixNanos(qt.0 - DAY), "NODATA", 10.0, 50.0),
    ];
    let ledger = Ledger::replay(AccountType::Cash, &fills).unwrap();
    let r = wheelhouse_wheel::advisor::account_risk(&ledger, &m);
    assert!((r.delta_dollars - 500.0).abs() < 1e-9 && r.unmarked.len() == 1);
}
