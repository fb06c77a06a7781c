//! Worked examples of the wheel ledger: two full cycles with a roll, partial and early
//! assignment, expiry, a dividend and fees, checked against hand-computed figures.

use wheelhouse_core::{OptionType, UnixNanos};
use wheelhouse_wheel::ledger::{
    AccountType, Fill, FillEvent, Ledger, WheelState, annualized_roc, unrealized_pnl,
};

const DAY: i64 = 86_400_000_000_000;
const T0: i64 = 1_700_000_000_000_000_000;

fn day(d: i64) -> UnixNanos {
    UnixNanos(T0 + d * DAY)
}

fn put(d: i64, k: f64, exp: i64, n: f64, px: f64) -> Fill {
    Fill::option_trade(day(d), "XYZ", OptionType::Put, k, day(exp), n, px)
}

fn call(d: i64, k: f64, exp: i64, n: f64, px: f64) -> Fill {
    Fill::option_trade(day(d), "XYZ", OptionType::Call, k, day(exp), n, px)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + b.abs())
}

/// Cycle 1: put 50 sold at 2.00, rolled (bought back 1.00, put 48 sold 1.50: net credit 0.50),
/// assigned at 48, call 50 sold at 1.00, called away at 50.
fn cycle_one() -> Vec<Fill> {
    vec![
        Fill::deposit(day(-1), 100_000.0),
        put(0, 50.0, 30, -1.0, 2.00),
        put(20, 50.0, 30, 1.0, 1.00).with_link("r1"),
        put(20, 48.0, 58, -1.0, 1.50).with_link("r1"),
        put(58, 48.0, 58, 1.0, 0.0).with_event(FillEvent::Assign),
        call(60, 50.0, 90, -1.0, 1.00),
        call(90, 50.0, 90, 1.0, 0.0).with_event(FillEvent::Assign),
    ]
}

/// Cycle 2: two puts 45 sold at 1.20; one assigned early (day 125 < 130), the other expires;
/// call 46 sold at 0.80 expires; a 0.25 dividend; the shares sold at 44.
fn cycle_two() -> Vec<Fill> {
    let mut div = Fill::stock_trade(day(140), "XYZ", 0.0, 0.25);
    div.event = FillEvent::Dividend;
    vec![
        put(100, 45.0, 130, -2.0, 1.20),
        put(125, 45.0, 130, 1.0, 0.0).with_event(FillEvent::Assign),
        put(130, 45.0, 130, 0.0, 0.0).with_event(FillEvent::Expire),
        call(131, 46.0, 160, -1.0, 0.80),
        div,
        call(160, 46.0, 160, 0.0, 0.0).with_event(FillEvent::Expire),
        Fill::stock_trade(day(161), "XYZ", -100.0, 44.0),
    ]
}

#[test]
fn two_cycles_with_a_roll() {
    let mut fills = cycle_one();
    fills.extend(cycle_two());
    let l = Ledger::replay(AccountType::Cash, &fills).unwrap();
    let s = l.summary("XYZ", day(200)).unwrap();
    assert_eq!(s.state, WheelState::Cash);
    assert!(s.open_cycle.is_none());
    assert_eq!(
        s.closed_cycles.len(),
        2,
        "the roll must not split cycle one"
    );
    let c1 = &s.closed_cycles[0];
    // Cash flow: +200 − 100 + 150 − 4 800 + 100 + 5 000 = 550.
    assert!(close(c1.cash_flow, 550.0), "{}", c1.cash_flow);
    // Realized: put 50 +100, put 48 +150 (assigned at 0), shares 48 → 50 +200, call +100.
    assert!(close(c1.realized_pnl, 550.0), "{}", c1.realized_pnl);
    assert!(close(c1.net_premium, 350.0));
    assert_eq!(c1.rolls.len(), 1);
    assert!(close(c1.rolls[0].net_credit, 50.0));
    assert_eq!(c1.assignments, 2);
    // Capital-days: 5 000 × 20 + 4 800 × 38 + 4 800 × 32 = 436 000.
    assert!(close(c1.capital_days, 436_000.0), "{}", c1.capital_days);
    let roc = annualized_roc(c1.realized_pnl, c1.capital_days).unwrap();
    assert!(close(roc, 550.0 * 365.0 / 436_000.0));
    assert!(close(c1.days(day(200)), 90.0));
    let states: Vec<_> = c1.transitions.iter().map(|t| t.to).collect();
    assert_eq!(
        states,
        vec![
            WheelState::ShortPut,
            WheelState::Cash, // the roll's closing leg, inside the cycle
            WheelState::ShortPut,
            WheelState::Shares,
            WheelState::CoveredCall,
            WheelState::Cash,
        ]
    );

    let c2 = &s.closed_cycles[1];
    // 240 − 4 500 + 80 + 25 + 4 400 = 245 = puts 240 + call 80 + dividend 25 − shares 100.
    assert!(close(c2.cash_flow, 245.0), "{}", c2.cash_flow);
    assert!(close(c2.realized_pnl, 245.0), "{}", c2.realized_pnl);
    assert!(close(c2.dividends, 25.0));
    // A dividend paid after the shares were sold goes to the closed cycle (100 entitled shares).
    let mut late = Fill::stock_trade(day(170), "XYZ", 100.0, 0.10);
    late.event = FillEvent::Dividend;
    let mut with_late = fills.clone();
    with_late.push(late);
    let l2 = Ledger::replay(AccountType::Cash, &with_late).unwrap();
    let c2b = &l2.summary("XYZ", day(200)).unwrap().closed_cycles[1];
    assert!(close(c2b.realized_pnl, 255.0) && close(c2b.cash_flow, 255.0));
    assert!(close(l2.cash(), l.cash() + 10.0));
    // 9 000 × 25 + (4 500 put + 4 500 shares) × 5 + 4 500 × 31 = 409 500.
    assert!(close(c2.capital_days, 409_500.0), "{}", c2.capital_days);
    let early: Vec<_> = c2.transitions.iter().filter(|t| t.early).collect();
    assert_eq!(early.len(), 1);
    assert_eq!(early[0].to, WheelState::SharesAndShortPut);
    assert!(close(l.cash(), 100_000.0 + 550.0 + 245.0));
}

#[test]
fn adjusted_basis_through_the_cycle() {
    let fills = cycle_one();
    // After assignment (day 58): cash flow 200 − 100 + 150 − 4 800 = −4 550 → 45.50 per share.
    let l = Ledger::replay(AccountType::Cash, &fills[..5]).unwrap();
    let s = l.summary("XYZ", day(58)).unwrap();
    assert_eq!(s.state, WheelState::Shares);
    assert!(close(s.shares, 100.0));
    assert!(close(s.share_basis.unwrap(), 48.0));
    assert!(close(s.adjusted_basis.unwrap(), 45.50));
    // After the call (day 60): 44.50; called away at 50 realizes (50 − 44.50) × 100 = 550.
    let l = Ledger::replay(AccountType::Cash, &fills[..6]).unwrap();
    let s = l.summary("XYZ", day(60)).unwrap();
    assert_eq!(s.state, WheelState::CoveredCall);
    assert!(close(s.adjusted_basis.unwrap(), 44.50));
    // Unrealized at spot 47 and call mark 0.40: shares (47 − 48) × 100 + call (1.00 − 0.40) × 100.
    let u = unrealized_pnl(&l.positions(), |p| match p.kind {
        wheelhouse_wheel::ledger::InstrumentKind::Stock => 47.0,
        _ => 0.40,
    });
    assert!(close(u, -100.0 + 60.0), "{u}");
    // Realized so far 250 (puts); realized + unrealized = cash flow + market value.
    let c = s.open_cycle.unwrap();
    assert!(close(c.realized_pnl, 250.0));
    let mv = 100.0 * 47.0 - 100.0 * 0.40;
    assert!(close(c.realized_pnl + u, c.cash_flow + mv));
    // Cycle two after the early assignment: 240 − 4 500 = −4 260 → 42.60, the open put's premium
    // included; after the call 41.80; after the dividend 41.55.
    let mut all = cycle_one();
    all.extend(cycle_two());
    for (n, want) in [(9, 42.60), (11, 41.80), (12, 41.55)] {
        let l = Ledger::replay(AccountType::Cash, &all[..n]).unwrap();
        let got = l.adjusted_basis("XYZ").unwrap();
        assert!(close(got, want), "after {n} fills: {got} vs {want}");
    }
}

#[test]
fn fees_reduce_cash_flow_and_pnl() {
    let fills = vec![
        put(0, 50.0, 30, -1.0, 2.00).with_fees(0.65),
        put(10, 50.0, 30, 1.0, 0.50).with_fees(0.65),
    ];
    let l = Ledger::replay(AccountType::Margin, &fills).unwrap();
    let c = &l.summary("XYZ", day(10)).unwrap().closed_cycles[0];
    assert!(close(c.cash_flow, 150.0 - 1.30));
    assert!(close(c.realized_pnl, 150.0 - 1.30));
    assert!(close(c.fees, 1.30));
}

#[test]
fn bad_fills_are_named() {
    // Assignment of a put that is not held.
    let e = Ledger::replay(
        AccountType::Cash,
        &[
            put(0, 50.0, 30, -1.0, 2.0),
            put(5, 45.0, 30, 1.0, 0.0).with_event(FillEvent::Assign),
        ],
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("fill 1:"), "{e}");
    // Closing more than is open.
    let e = Ledger::replay(
        AccountType::Cash,
        &[put(0, 50.0, 30, -1.0, 2.0), put(5, 50.0, 30, 2.0, 1.0)],
    )
    .unwrap_err();
    assert!(e.to_string().contains("only 1"), "{e}");
    // NaN price, negative strike, trade after expiry.
    assert!(Ledger::replay(AccountType::Cash, &[put(0, 50.0, 30, -1.0, f64::NAN)]).is_err());
    assert!(Ledger::replay(AccountType::Cash, &[put(0, -5.0, 30, -1.0, 1.0)]).is_err());
    assert!(Ledger::replay(AccountType::Cash, &[put(40, 50.0, 30, -1.0, 1.0)]).is_err());
    // A failed fill leaves the ledger unchanged.
    let mut l = Ledger::replay(AccountType::Cash, &[put(0, 50.0, 30, -1.0, 2.0)]).unwrap();
    let cash = l.cash();
    assert!(l.apply(&put(5, 50.0, 30, 3.0, 1.0)).is_err());
    assert!(close(l.cash(), cash));
    assert!(close(l.positions()[0].quantity, -1.0));
    // Expire applies to options only.
    let mut st = Fill::stock_trade(day(1), "XYZ", 0.0, 0.0);
    st.event = FillEvent::Expire;
    assert!(l.apply(&st).is_err());
    // A call assigned without the shares would leave the account short stock.
    let e = Ledger::replay(
        AccountType::Cash,
        &[
            call(0, 50.0, 30, -1.0, 1.0),
            call(30, 50.0, 30, 1.0, 0.0).with_event(FillEvent::Assign),
        ],
    )
    .unwrap_err();
    assert!(e.to_string().contains("short"), "{e}");
}
