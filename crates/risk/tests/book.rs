//! Exposures, stress grid and P&L explain against independent single-option revaluations.

use wheelhouse_compute::Backend;
use wheelhouse_core::{ExerciseStyle, OptionType};
use wheelhouse_pricing::BsmInputs;
use wheelhouse_pricing::american::{AmericanSettings, american_price};
use wheelhouse_pricing::black::bsm_price;
use wheelhouse_risk::book::{
    BookPosition, OptionTerms, VolModel, explain, exposures, stress_grid, stress_grid_with,
};

fn book() -> Vec<BookPosition> {
    let opt = |kind, strike, years, style| OptionTerms {
        kind,
        strike,
        years,
        rate: 0.03,
        dividend_yield: 0.01,
        vol: 0.28,
        style,
    };
    vec![
        BookPosition {
            underlying: "AAA".into(),
            spot: 100.0,
            quantity: 200.0,
            option: None,
        },
        BookPosition {
            underlying: "AAA".into(),
            spot: 100.0,
            quantity: -200.0,
            option: Some(opt(OptionType::Call, 105.0, 0.1, ExerciseStyle::American)),
        },
        BookPosition {
            underlying: "AAA".into(),
            spot: 100.0,
            quantity: -300.0,
            option: Some(opt(OptionType::Put, 92.0, 0.12, ExerciseStyle::American)),
        },
        BookPosition {
            underlying: "BBB".into(),
            spot: 50.0,
            quantity: -500.0,
            option: Some(opt(OptionType::Put, 47.5, 0.2, ExerciseStyle::European)),
        },
    ]
}

fn value(p: &BookPosition, m: f64, v: f64) -> f64 {
    let s = p.spot * (1.0 + m);
    match p.option {
        None => s,
        Some(o) => {
            let inp = BsmInputs {
                kind: o.kind,
                spot: s,
                strike: o.strike,
                years: o.years,
                rate: o.rate,
                dividend_yield: o.dividend_yield,
                volatility: o.vol + v,
            };
            match o.style {
                ExerciseStyle::European => bsm_price(&inp).unwrap(),
                ExerciseStyle::American => {
                    american_price(&inp, &AmericanSettings::ACCURATE).unwrap()
                }
            }
        }
    }
}

#[test]
fn stress_cells_equal_single_option_revaluations() {
    let b = Backend::cpu(Some(2)).unwrap();
    let bk = book();
    let moves = [-0.3, -0.1, 0.0, 0.05, 0.3];
    let shifts = [-0.1, 0.0, 0.2];
    let g = stress_grid(&bk, &moves, &shifts, &b).unwrap();
    for (i, &m) in moves.iter().enumerate() {
        for (j, &v) in shifts.iter().enumerate() {
            let want: f64 = bk
                .iter()
                .map(|p| p.quantity * (value(p, m, v) - value(p, 0.0, 0.0)))
                .sum();
            let scale: f64 = bk.iter().map(|p| (p.quantity * value(p, m, v)).abs()).sum();
            assert!(
                (g.cells[i][j] - want).abs() <= 1e-12 * scale,
                "cell ({m}, {v}): {} vs {want}",
                g.cells[i][j]
            );
            // One position at a time, through the same engine: the same bits.
            for (k, p) in bk.iter().enumerate() {
                let one = stress_grid(std::slice::from_ref(p), &[m], &[v], &b).unwrap();
                if (m, v) == (g.worst.0, g.worst.1) {
                    assert_eq!(one.cells[0][0].to_bits(), g.worst_positions[k].to_bits());
                }
            }
        }
    }
    // A short-vol book loses most when the market falls and vol rises.
    assert_eq!((g.worst.0, g.worst.1), (-0.3, 0.2));
    assert!(g.worst.2 < 0.0);
}

/// Sticky delta: each cell is the sum of single revaluations at IV now + the smile's change +
/// the shift; with a negative skew a fall in the market lowers the IV of a fixed strike, so a
/// short-put book loses less in the down-moves than under sticky strike.
#[test]
fn sticky_delta_cells_follow_the_smile() {
    let b = Backend::cpu(Some(2)).unwrap();
    let bk = book();
    // A smile in log-moneyness k: σ(k) = 0.28 − 0.4·k (skewed like equity smiles).
    let smile = |k: f64| 0.28 - 0.4 * k;
    let change = |i: usize, m: f64| {
        let p = &bk[i];
        let o = p.option.unwrap();
        let f = p.spot * ((o.rate - o.dividend_yield) * o.years).exp();
        let k = (o.strike / f).ln();
        smile(k - (1.0 + m).ln()) - smile(k)
    };
    let moves = [-0.2, -0.05, 0.1];
    let shifts = [0.0, 0.05];
    let g = stress_grid_with(
        &bk,
        &moves,
        &shifts,
        VolModel::StickyDelta(&change),
        None,
        &b,
    )
    .unwrap();
    let strike_grid = stress_grid(&bk, &moves, &shifts, &b).unwrap();
    for (i, &m) in moves.iter().enumerate() {
        for (j, &v) in shifts.iter().enumerate() {
            let want: f64 = bk
                .iter()
                .enumerate()
                .map(|(k, p)| {
                    let dv = if p.option.is_some() {
                        change(k, m)
                    } else {
                        0.0
                    };
                    p.quantity * (value(p, m, v + dv) - value(p, 0.0, 0.0))
                })
                .sum();
            let scale: f64 = bk.iter().map(|p| (p.quantity * value(p, m, v)).abs()).sum();
            assert!(
                (g.cells[i][j] - want).abs() <= 1e-12 * scale,
                "cell ({m}, {v}): {} vs {want}",
                g.cells[i][j]
            );
        }
    }
    // Down 20 %: IVs of the (short) options fall along the skew → smaller loss.
    assert!(g.cells[0][0] > strike_grid.cells[0][0]);
    // Zero move: both models agree exactly.
    let z = stress_grid_with(
        &bk,
        &[0.0],
        &[0.05],
        VolModel::StickyDelta(&change),
        None,
        &b,
    )
    .unwrap();
    let zs = stress_grid(&bk, &[0.0], &[0.05], &b).unwrap();
    assert_eq!(z.cells[0][0].to_bits(), zs.cells[0][0].to_bits());
}

/// Beta-scaled moves: each cell equals single revaluations with position i's spot moved by
/// β_i·m; β = 1 everywhere is the perfect-correlation grid to the bit.
#[test]
fn beta_scaled_grid_moves_each_underlying_by_its_beta() {
    let b = Backend::cpu(Some(2)).unwrap();
    let bk = book();
    let betas: Vec<f64> = bk
        .iter()
        .map(|p| if p.underlying == "AAA" { 1.4 } else { 0.6 })
        .collect();
    let moves = [-0.2, 0.1];
    let shifts = [0.0, 0.1];
    let g = stress_grid_with(
        &bk,
        &moves,
        &shifts,
        VolModel::StickyStrike,
        Some(&betas),
        &b,
    )
    .unwrap();
    for (i, &m) in moves.iter().enumerate() {
        for (j, &v) in shifts.iter().enumerate() {
            let want: f64 = bk
                .iter()
                .zip(&betas)
                .map(|(p, be)| p.quantity * (value(p, m * be, v) - value(p, 0.0, 0.0)))
                .sum();
            let scale: f64 = bk.iter().map(|p| (p.quantity * value(p, m, v)).abs()).sum();
            assert!((g.cells[i][j] - want).abs() <= 1e-12 * scale, "({m}, {v})");
        }
    }
    let ones = vec![1.0; bk.len()];
    let g1 = stress_grid_with(
        &bk,
        &moves,
        &shifts,
        VolModel::StickyStrike,
        Some(&ones),
        &b,
    )
    .unwrap();
    let g0 = stress_grid(&bk, &moves, &shifts, &b).unwrap();
    assert_eq!(g1, g0);
    // A beta that takes a move past −100 % is refused.
    let big = vec![6.0; bk.len()];
    assert!(
        stress_grid_with(&bk, &moves, &shifts, VolModel::StickyStrike, Some(&big), &b).is_err()
    );
    assert!(
        stress_grid_with(
            &bk,
            &moves,
            &shifts,
            VolModel::StickyStrike,
            Some(&[1.0]),
            &b
        )
        .is_err()
    );
}

#[test]
fn exposures_add_up_and_explain_converges() {
    let b = Backend::cpu(Some(2)).unwrap();
    let bk = book();
    let e = exposures(&bk, &b).unwrap();
    assert_eq!(e.by_underlying.len(), 2);
    let sum: f64 = e.by_underlying.iter().map(|(_, x)| x.delta_dollars).sum();
    assert!((sum - e.total.delta_dollars).abs() < 1e-9);
    // Shares: delta = quantity; short options: positive theta (time decay earned).
    assert_eq!(e.positions[0].delta, 200.0);
    assert!(e.total.theta > 0.0 && e.total.gamma < 0.0 && e.total.vega < 0.0);
    assert!((e.positions[1].theta_per_day - e.positions[1].theta / 365.0).abs() < 1e-12);
    // Unexplained P&L shrinks faster than the move (third order in the move).
    let r1 = explain(&bk, 0.02, 0.0, 0.0, &b).unwrap();
    let r2 = explain(&bk, 0.002, 0.0, 0.0, &b).unwrap();
    assert!(
        r2.unexplained.abs() < r1.unexplained.abs() / 50.0,
        "{r1:?} {r2:?}"
    );
    assert!((r2.delta + r2.gamma - r2.full).abs() < 1e-3 * r2.full.abs().max(1.0));
    let r3 = explain(&bk, 0.0, 0.001, 1.0 / 365.0, &b).unwrap();
    assert!(
        r3.unexplained.abs() < 0.05 * (r3.vega.abs() + r3.theta.abs()),
        "{r3:?}"
    );
}

#[test]
fn bad_books_are_errors() {
    let b = Backend::cpu(Some(1)).unwrap();
    assert!(
        exposures(&[], &b)
            .unwrap_err()
            .to_string()
            .contains("empty")
    );
    let mut bk = book();
    bk[3].spot = f64::NAN;
    assert!(exposures(&bk, &b).unwrap_err().to_string().contains("BBB"));
    assert!(stress_grid(&book(), &[-1.0], &[0.0], &b).is_err());
    assert!(stress_grid(&book(), &[], &[0.0], &b).is_err());
}
