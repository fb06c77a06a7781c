//! Historical VaR on a hand-computed example.

use std::collections::BTreeMap;

use wheelhouse_compute::Backend;
use wheelhouse_core::{ExerciseStyle, OptionType};
use wheelhouse_risk::book::{BookPosition, OptionTerms};
use wheelhouse_risk::historical::{HistoricalSettings, historical_var};

#[test]
fn hand_computed_stock_example() {
    // Closes 100, 110, 99, 99, 108.9, 98.01: one-day returns +10 %, −10 %, 0, +10 %, −10 %.
    let c = [100.0, 110.0, 99.0, 99.0, 108.9, 98.01];
    let closes = BTreeMap::from([(
        "AAA".to_string(),
        c.iter()
            .enumerate()
            .map(|(i, x)| (i as i64, *x))
            .collect::<Vec<_>>(),
    )]);
    let book = [BookPosition {
        underlying: "AAA".into(),
        spot: 200.0,
        quantity: 10.0,
        option: None,
    }];
    let b = Backend::cpu(Some(1)).unwrap();
    let s = HistoricalSettings {
        horizon_days: 1,
        overlapping: true,
        lookback: 100,
        confidence: 0.8,
    };
    let r = historical_var(&book, &closes, &s, &b).unwrap();
    // P&L = 10 · 200 · (gross return − 1): +200, −200, 0, +200, −200 → losses sorted
    // −200 −200 0 200 200; α = 0.8, n = 5, k = 4 → VaR = 200; αn = 4 → CVaR = 200.
    assert_eq!(r.scenarios, 5);
    assert!(
        (r.tail.var - 200.0).abs() < 1e-9 && (r.tail.cvar - 200.0).abs() < 1e-9,
        "{:?}",
        r.tail
    );
    assert_eq!(r.window, (0, 5));
    // Two-day overlapping windows: gross 0.99, 0.9, 1.1, 0.99 → P&L −20, −200, +200, −20;
    // α = 0.75: k = 3 → VaR = 20, CVaR = 200.
    let s2 = HistoricalSettings {
        horizon_days: 2,
        confidence: 0.75,
        ..s
    };
    let r = historical_var(&book, &closes, &s2, &b).unwrap();
    assert_eq!(r.scenarios, 4);
    assert!(
        (r.tail.var - 20.0).abs() < 1e-9 && (r.tail.cvar - 200.0).abs() < 1e-9,
        "{:?}",
        r.tail
    );
    // Lookback keeps the latest scenarios.
    let r = historical_var(&book, &closes, &HistoricalSettings { lookback: 2, ..s }, &b).unwrap();
    assert_eq!(r.pnl.len(), 2);
    assert!((r.pnl[1] + 200.0).abs() < 1e-9);
}

#[test]
fn options_are_revalued_and_bad_input_named() {
    let closes: Vec<(i64, f64)> = (0..300)
        .map(|i| (i, 100.0 * (1.0 + 0.01 * ((i as f64) * 0.7).sin())))
        .collect();
    let map = BTreeMap::from([("AAA".to_string(), closes)]);
    let put = OptionTerms {
        kind: OptionType::Put,
        strike: 95.0,
        years: 0.1,
        rate: 0.03,
        dividend_yield: 0.0,
        vol: 0.3,
        style: ExerciseStyle::American,
    };
    let book = [BookPosition {
        underlying: "AAA".into(),
        spot: 100.0,
        quantity: -100.0,
        option: Some(put),
    }];
    let b = Backend::cpu(Some(2)).unwrap();
    let s = HistoricalSettings {
        horizon_days: 5,
        overlapping: true,
        lookback: 250,
        confidence: 0.99,
    };
    let r = historical_var(&book, &map, &s, &b).unwrap();
    assert_eq!(r.scenarios, 250);
    assert!(r.tail.var.is_finite() && r.tail.cvar >= r.tail.var);
    let scaled = historical_var(
        &book,
        &map,
        &HistoricalSettings {
            overlapping: false,
            ..s
        },
        &b,
    )
    .unwrap();
    assert!(scaled.tail.var.is_finite());
    let none = BTreeMap::new();
    assert!(
        historical_var(&book, &none, &s, &b)
            .unwrap_err()
            .to_string()
            .contains("no price history for AAA")
    );
    assert!(historical_var(&[], &map, &s, &b).is_err());
}

#[test]
fn named_shocks_replay_the_extreme_windows() {
    use wheelhouse_risk::historical::named_shocks;
    // AAA falls 20 % on day 3; BBB rises 10 % the same day.
    let a: Vec<(i64, f64)> = (0..10)
        .map(|i| (i, if i >= 3 { 80.0 } else { 100.0 }))
        .collect();
    let b: Vec<(i64, f64)> = (0..10)
        .map(|i| (i, if i >= 3 { 55.0 } else { 50.0 }))
        .collect();
    let closes = BTreeMap::from([("AAA".to_string(), a), ("BBB".to_string(), b)]);
    let book = [
        BookPosition {
            underlying: "AAA".into(),
            spot: 200.0,
            quantity: 10.0,
            option: None,
        },
        BookPosition {
            underlying: "BBB".into(),
            spot: 40.0,
            quantity: 100.0,
            option: None,
        },
    ];
    let bk = Backend::cpu(Some(1)).unwrap();
    let s = named_shocks(&book, &closes, &[1], &bk).unwrap();
    let fall = s
        .iter()
        .find(|x| x.name == "largest 1-day fall of AAA")
        .unwrap();
    assert_eq!(fall.window, (2, 3));
    // Joint replay: AAA × 0.8, BBB × 1.1 → 10·200·(−0.2) + 100·40·0.1 = −400 + 400 = 0.
    assert!(fall.pnl.abs() < 1e-9, "{fall:?}");
    assert!((fall.returns[0].1 - 0.8f64.ln()).abs() < 1e-15);
    assert_eq!(s.len(), 4);
}
