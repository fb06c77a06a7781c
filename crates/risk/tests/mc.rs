//! Monte Carlo: a single long stock against the closed-form lognormal quantile, bit-for-bit
//! results whatever the thread count, bad input as errors.

use wheelhouse_compute::Backend;
use wheelhouse_core::OptionType;
use wheelhouse_pricing::normal::inverse_norm_cdf;
use wheelhouse_risk::mc::{Holding, McSettings, Position, Underlying, simulate};

fn settings(paths: usize) -> McSettings {
    McSettings {
        paths,
        horizon_days: 10,
        seed: 20_261_202,
        confidence: 0.99,
        vol_shock: 0.0,
        vol_of_vol: 0.0,
        jumps: None,
        american: false,
        keep_paths: true,
    }
}

#[test]
fn long_stock_var_matches_the_lognormal_quantile() {
    let u = [Underlying {
        spot: 100.0,
        vol: 0.3,
        drift: 0.05,
    }];
    let p = [Position {
        underlying: 0,
        holding: Holding::Stock,
        quantity: 1000.0,
    }];
    let b = Backend::cpu(Some(2)).unwrap();
    let r = simulate(&u, &[1.0], &p, &settings(200_000), &b).unwrap();
    // Loss quantile: 1000·100·(1 − exp((μ − σ²/2)h + σ√h·Φ⁻¹(0.01))), h = 10/252.
    let h: f64 = 10.0 / 252.0;
    let want = 1000.0
        * 100.0
        * (1.0 - ((0.05 - 0.045) * h + 0.3 * h.sqrt() * inverse_norm_cdf(0.01)).exp());
    let se = r.tail.var_standard_error.unwrap();
    assert!(
        (r.tail.var - want).abs() < 4.0 * se,
        "VaR {} vs {want} (se {se})",
        r.tail.var
    );
    assert!(r.tail.cvar > r.tail.var);
    assert!(se > 0.0 && se < 0.02 * want);
}

#[test]
fn same_seed_same_numbers_whatever_the_threads() {
    let u = [
        Underlying {
            spot: 100.0,
            vol: 0.25,
            drift: 0.0,
        },
        Underlying {
            spot: 50.0,
            vol: 0.4,
            drift: 0.02,
        },
        Underlying {
            spot: 200.0,
            vol: 0.2,
            drift: 0.01,
        },
    ];
    // A singular correlation (first two perfectly correlated) is repaired, not an error.
    let c = [1.0, 1.0, 0.3, 1.0, 1.0, 0.3, 0.3, 0.3, 1.0];
    let opt = |k, x, t| Holding::Option {
        kind: k,
        strike: x,
        years: t,
        rate: 0.03,
        dividend_yield: 0.01,
        vol: 0.3,
    };
    let p = [
        Position {
            underlying: 0,
            holding: Holding::Stock,
            quantity: 300.0,
        },
        Position {
            underlying: 0,
            holding: opt(OptionType::Call, 105.0, 0.1),
            quantity: -300.0,
        },
        Position {
            underlying: 1,
            holding: opt(OptionType::Put, 45.0, 0.2),
            quantity: -500.0,
        },
        Position {
            underlying: 2,
            holding: opt(OptionType::Put, 190.0, 0.02),
            quantity: -100.0,
        },
    ];
    let s = settings(10_000);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let two = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let r1 = one
        .install(|| simulate(&u, &c, &p, &s, &Backend::cpu(Some(1)).unwrap()))
        .unwrap();
    let r2 = two
        .install(|| simulate(&u, &c, &p, &s, &Backend::cpu(Some(2)).unwrap()))
        .unwrap();
    assert!(r1.correlation_repaired);
    assert_eq!(r1.pnl.len(), 10_000);
    assert!(
        r1.pnl
            .iter()
            .zip(&r2.pnl)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
    assert_eq!(r1.tail.var.to_bits(), r2.tail.var.to_bits());
    assert_eq!(r1.tail.cvar.to_bits(), r2.tail.cvar.to_bits());
    // Another seed, other numbers.
    let r3 = simulate(
        &u,
        &c,
        &p,
        &McSettings { seed: 1, ..s },
        &Backend::cpu(Some(2)).unwrap(),
    )
    .unwrap();
    assert_ne!(r1.tail.var, r3.tail.var);
}

#[test]
fn bad_input_is_a_clear_error() {
    let u = [Underlying {
        spot: 100.0,
        vol: 0.3,
        drift: 0.0,
    }];
    let p = [Position {
        underlying: 0,
        holding: Holding::Stock,
        quantity: 1.0,
    }];
    let b = Backend::cpu(Some(1)).unwrap();
    let e = |r: Result<_, wheelhouse_risk::RiskError>| {
        r.map(|_: wheelhouse_risk::mc::McResult| ())
            .unwrap_err()
            .to_string()
    };
    assert!(e(simulate(&u, &[1.0], &p, &settings(0), &b)).contains("zero paths"));
    assert!(e(simulate(&u, &[1.0], &[], &settings(10), &b)).contains("empty portfolio"));
    let bad = [Position {
        underlying: 3,
        ..p[0]
    }];
    assert!(e(simulate(&u, &[1.0], &bad, &settings(10), &b)).contains("underlying 3"));
    assert!(
        e(simulate(
            &[Underlying { spot: -1.0, ..u[0] }],
            &[1.0],
            &p,
            &settings(10),
            &b
        ))
        .contains("spot")
    );
    assert!(e(simulate(&u, &[1.0, 0.0], &p, &settings(10), &b)).contains("entries"));
}

#[test]
fn jumps_and_vol_of_vol_widen_the_tail() {
    let u = [Underlying {
        spot: 100.0,
        vol: 0.2,
        drift: 0.0,
    }];
    let put = Holding::Option {
        kind: OptionType::Put,
        strike: 95.0,
        years: 0.1,
        rate: 0.0,
        dividend_yield: 0.0,
        vol: 0.25,
    };
    let p = [Position {
        underlying: 0,
        holding: put,
        quantity: -1000.0,
    }];
    let b = Backend::cpu(Some(2)).unwrap();
    let base = settings(50_000);
    let r0 = simulate(&u, &[1.0], &p, &base, &b).unwrap();
    let jumps = wheelhouse_risk::mc::Jumps {
        intensity: 5.0,
        mean: -0.05,
        sd: 0.05,
    };
    let rj = simulate(
        &u,
        &[1.0],
        &p,
        &McSettings {
            jumps: Some(jumps),
            ..base
        },
        &b,
    )
    .unwrap();
    let rv = simulate(
        &u,
        &[1.0],
        &p,
        &McSettings {
            vol_of_vol: 0.5,
            ..base
        },
        &b,
    )
    .unwrap();
    assert!(
        rj.tail.var > r0.tail.var + 3.0 * r0.tail.var_standard_error.unwrap(),
        "{:?} {:?}",
        rj.tail,
        r0.tail
    );
    assert!(rv.tail.var > r0.tail.var, "{:?} {:?}", rv.tail, r0.tail);
    // The jump compensator keeps the stock's expected price: a long share's mean P&L ≈ 0.
    let s = [Position {
        underlying: 0,
        holding: Holding::Stock,
        quantity: 1.0,
    }];
    let rs = simulate(
        &u,
        &[1.0],
        &s,
        &McSettings {
            jumps: Some(jumps),
            paths: 200_000,
            ..base
        },
        &b,
    )
    .unwrap();
    let sd = rs.pnl.iter().map(|x| x * x).sum::<f64>().sqrt() / rs.pnl.len() as f64;
    assert!(rs.mean_pnl.abs() < 4.0 * sd, "{} vs {sd}", rs.mean_pnl);
    assert!(
        simulate(
            &u,
            &[1.0],
            &p,
            &McSettings {
                vol_of_vol: -1.0,
                ..base
            },
            &b
        )
        .is_err()
    );
}

#[test]
fn american_revaluation_on_request() {
    // The spot stands still (zero vol, zero drift): a deep in-the-money American put with a
    // high rate is worth its intrinsic value now and at the horizon (P&L 0), while the
    // European put, below intrinsic, gains as it ages.
    let u = [Underlying {
        spot: 100.0,
        vol: 0.0,
        drift: 0.0,
    }];
    let put = Holding::Option {
        kind: OptionType::Put,
        strike: 130.0,
        years: 0.5,
        rate: 0.08,
        dividend_yield: 0.0,
        vol: 0.2,
    };
    let p = [Position {
        underlying: 0,
        holding: put,
        quantity: 100.0,
    }];
    let b = Backend::cpu(Some(2)).unwrap();
    let s = settings(100);
    let eu = simulate(&u, &[1.0], &p, &s, &b).unwrap();
    let am = simulate(
        &u,
        &[1.0],
        &p,
        &McSettings {
            american: true,
            ..s
        },
        &b,
    )
    .unwrap();
    assert!(eu.pnl.iter().all(|x| *x > 1.0), "{:?}", &eu.pnl[..3]);
    assert!(am.pnl.iter().all(|x| x.abs() < 1e-3), "{:?}", &am.pnl[..3]);
}
