//! Tests of the American (ALO) engine: no-arbitrage properties, Greeks against finite
//! differences, implied-volatility round trips, edge cases, a lattice cross-check and the
//! QuantLib goldens.

use wheelhouse_pricing::american::{
    AmericanSettings, NearSolution, american_first_order, american_greeks,
    american_implied_volatility, american_implied_volatility_near, american_price,
};
use wheelhouse_pricing::black::bsm_price;
use wheelhouse_pricing::{BsmInputs, OptionType, PricingError};
use wheelhouse_testkit::lattice::{american_reference, leisen_reimer_american};

const ACC: AmericanSettings = AmericanSettings::ACCURATE;
const FAST: AmericanSettings = AmericanSettings::FAST;

/// xorshift64 with a fixed seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn log_uniform(&mut self, a: f64, b: f64) -> f64 {
        (a.ln() + (b.ln() - a.ln()) * self.next()).exp()
    }
}

/// Random case over the supported domain: T 1 hour–5 years, K/S 0.25–4, σ 1 %–300 %,
/// r −1 %–10 %, q 0–6 %.
fn case(rng: &mut Rng) -> BsmInputs {
    let kind = if rng.next() < 0.5 {
        OptionType::Call
    } else {
        OptionType::Put
    };
    let years = rng.log_uniform(1.0 / 8760.0, 5.0);
    let strike = 100.0 * rng.log_uniform(0.25, 4.0);
    let volatility = rng.log_uniform(0.01, 3.0);
    let rate = -0.01 + 0.11 * rng.next();
    let dividend_yield = 0.06 * rng.next();
    BsmInputs {
        kind,
        spot: 100.0,
        strike,
        years,
        rate,
        dividend_yield,
        volatility,
    }
}

fn cases(seed: u64, n: usize) -> Vec<BsmInputs> {
    let mut rng = Rng(seed);
    (0..n).map(|_| case(&mut rng)).collect()
}

fn intrinsic(c: &BsmInputs) -> f64 {
    (c.kind.sign() * (c.spot - c.strike)).max(0.0)
}

/// The zero-volatility American value: the best deterministic exercise time's discounted
/// intrinsic value (the infimum of the price over σ), by a fine scan of exercise times.
fn zero_vol_value(c: &BsmInputs) -> f64 {
    (0..=10_000)
        .map(|i| {
            let t = c.years * f64::from(i) / 10_000.0;
            (c.kind.sign()
                * (c.spot * (-c.dividend_yield * t).exp() - c.strike * (-c.rate * t).exp()))
            .max(0.0)
        })
        .fold(intrinsic(c), f64::max)
}

#[test]
fn american_at_least_european_and_intrinsic() {
    for c in cases(1, 400) {
        for st in [ACC, FAST] {
            let a = american_price(&c, &st).unwrap();
            let e = bsm_price(&c).unwrap();
            assert!(a.is_finite(), "{c:?}");
            assert!(
                a >= e - 1e-12 * c.strike,
                "american {a} < european {e}: {c:?}"
            );
            assert!(
                a >= intrinsic(&c) - 1e-12 * c.strike,
                "below intrinsic: {c:?}"
            );
        }
    }
}

#[test]
fn call_without_dividends_is_european() {
    let mut rng = Rng(2);
    for _ in 0..200 {
        let mut c = case(&mut rng);
        c.kind = OptionType::Call;
        c.dividend_yield = 0.0;
        c.rate = c.rate.abs();
        let a = american_price(&c, &ACC).unwrap();
        let e = bsm_price(&c).unwrap();
        assert!((a - e).abs() <= 1e-12 * c.strike, "{a} vs {e}: {c:?}");
    }
}

#[test]
fn put_with_non_positive_rate_is_european() {
    let c = BsmInputs {
        kind: OptionType::Put,
        spot: 90.0,
        strike: 100.0,
        years: 1.0,
        rate: -0.005,
        dividend_yield: 0.02,
        volatility: 0.3,
    };
    assert_eq!(american_price(&c, &ACC).unwrap(), bsm_price(&c).unwrap());
}

#[test]
fn monotonic_in_volatility_and_expiry() {
    let mut rng = Rng(3);
    for _ in 0..100 {
        let c = case(&mut rng);
        let mut prev = american_price(&c, &ACC).unwrap();
        for i in 1..6 {
            let v = american_price(
                &BsmInputs {
                    volatility: c.volatility * (1.0 + 0.2 * i as f64),
                    ..c
                },
                &ACC,
            )
            .unwrap();
            assert!(v >= prev - 1e-9 * c.strike, "not increasing in σ: {c:?}");
            prev = v;
        }
        let mut prev = american_price(&c, &ACC).unwrap();
        for i in 1..6 {
            let t = (c.years * (1.0 + 0.2 * i as f64)).min(6.0);
            let v = american_price(&BsmInputs { years: t, ..c }, &ACC).unwrap();
            assert!(v >= prev - 1e-9 * c.strike, "not increasing in T: {c:?}");
            prev = v;
        }
    }
}

#[test]
fn greeks_match_finite_differences() {
    let mut rng = Rng(4);
    let mut checked = 0;
    while checked < 40 {
        let mut c = case(&mut rng);
        c.years = c.years.max(0.05);
        c.volatility = c.volatility.max(0.05);
        let g = american_greeks(&c, &ACC).unwrap();
        let p = |x: BsmInputs| american_price(&x, &ACC).unwrap();
        // Skip spots too close to the exercise boundary (kink in delta).
        let hs = 1e-3 * c.spot;
        let up = p(BsmInputs {
            spot: c.spot + hs,
            ..c
        });
        let dn = p(BsmInputs {
            spot: c.spot - hs,
            ..c
        });
        let ex = |v: f64, x: f64| (v - (c.kind.sign() * (x - c.strike))).abs() < 1e-9 * c.strike;
        if ex(up, c.spot + hs) || ex(dn, c.spot - hs) || ex(g.price, c.spot) {
            continue;
        }
        checked += 1;
        let scale = c.strike.max(c.spot);
        assert!((g.price - p(c)).abs() <= 1e-14 * scale, "{c:?}");
        let fd_delta = (up - dn) / (2.0 * hs);
        assert!(
            (g.delta - fd_delta).abs() <= 2e-5,
            "delta {} vs {fd_delta}: {c:?}",
            g.delta
        );
        let fd_gamma = (up - 2.0 * g.price + dn) / (hs * hs);
        assert!(
            (g.gamma - fd_gamma).abs() <= 1e-3 * fd_gamma.abs().max(1e-3 / c.spot),
            "gamma {} vs {fd_gamma}: {c:?}",
            g.gamma
        );
        let hk = 1e-4 * c.strike;
        let fd_dual = (p(BsmInputs {
            strike: c.strike + hk,
            ..c
        }) - p(BsmInputs {
            strike: c.strike - hk,
            ..c
        })) / (2.0 * hk);
        assert!(
            (g.dual_delta - fd_dual).abs() <= 2e-5,
            "dual {} vs {fd_dual}: {c:?}",
            g.dual_delta
        );
        let ht = 1e-4 * c.years;
        let fd_theta = -(p(BsmInputs {
            years: c.years + ht,
            ..c
        }) - p(BsmInputs {
            years: c.years - ht,
            ..c
        })) / (2.0 * ht);
        assert!(
            (g.theta - fd_theta).abs() <= 1e-3 * scale * 1e-2 + 1e-3 * fd_theta.abs(),
            "theta {} vs {fd_theta}: {c:?}",
            g.theta
        );
        for v in [
            g.vega, g.rho, g.epsilon, g.vanna, g.volga, g.charm, g.prob_itm,
        ] {
            assert!(v.is_finite(), "{g:?}");
        }
        assert!(g.vega >= -1e-6 * scale, "{g:?}");
    }
}

#[test]
fn implied_volatility_round_trip() {
    let mut rng = Rng(5);
    let mut done = 0;
    while done < 60 {
        let c = case(&mut rng);
        let price = american_price(&c, &ACC).unwrap();
        // Skip prices with no identifiable volatility (at the zero-volatility value to the
        // last digits).
        if price - zero_vol_value(&c) < 1e-7 * c.strike {
            continue;
        }
        done += 1;
        let iv = american_implied_volatility(
            price,
            c.spot,
            c.strike,
            c.years,
            c.rate,
            c.dividend_yield,
            c.kind,
            &ACC,
        )
        .unwrap_or_else(|e| panic!("{e:?}: {c:?} price {price}"));
        let back = american_price(
            &BsmInputs {
                volatility: iv,
                ..c
            },
            &ACC,
        )
        .unwrap();
        assert!(
            (back - price).abs() <= 1e-10 * c.strike,
            "{iv} vs {}: {c:?}",
            c.volatility
        );
        let vega = american_greeks(&c, &ACC).unwrap().vega;
        if vega > 1e-3 * c.strike {
            assert!(
                (iv - c.volatility).abs() <= 1e-8 * c.volatility,
                "{iv}: {c:?}"
            );
        }
    }
}

/// Inverting a nearby price (as a chain does for the bid and the ask from the mid's solution)
/// gives the same volatility as a full solve, with and without the seed's vega and volga.
#[test]
fn near_implied_volatility_matches_full_solve() {
    let mut rng = Rng(17);
    let mut done = 0;
    while done < 80 {
        let c = case(&mut rng);
        let st = if done % 2 == 0 { FAST } else { ACC };
        let fo = american_first_order(&c, &st).unwrap();
        // A target a few vol points away, as a bid or an ask is from the mid.
        let shift = (rng.next() - 0.5) * 0.1 * c.volatility.min(0.5);
        let target_vol = c.volatility + shift;
        let target = american_price(
            &BsmInputs {
                volatility: target_vol,
                ..c
            },
            &st,
        )
        .unwrap();
        if fo.vega < 1e-3 * c.strike || target - zero_vol_value(&c) < 1e-6 * c.strike {
            continue;
        }
        done += 1;
        let full = american_implied_volatility(
            target,
            c.spot,
            c.strike,
            c.years,
            c.rate,
            c.dividend_yield,
            c.kind,
            &st,
        )
        .unwrap();
        for near in [
            NearSolution {
                vol: c.volatility,
                price: fo.price,
                vega: Some(fo.vega),
                volga: Some(fo.volga),
            },
            NearSolution {
                vol: c.volatility,
                price: fo.price,
                vega: None,
                volga: None,
            },
        ] {
            let iv = american_implied_volatility_near(
                target,
                c.spot,
                c.strike,
                c.years,
                c.rate,
                c.dividend_yield,
                c.kind,
                &near,
                &st,
            )
            .unwrap_or_else(|e| panic!("{e:?}: {c:?} target {target}"));
            // Same root as the full solve, or one that reprices within the solver's price
            // tolerance (1e-12 × strike; where vega is small that allows a larger Δσ).
            let back = american_price(
                &BsmInputs {
                    volatility: iv,
                    ..c
                },
                &st,
            )
            .unwrap();
            assert!(
                (iv - full).abs() <= 1e-10 * full || (back - target).abs() <= 2e-12 * c.strike,
                "near {iv} vs full {full} (true {target_vol}), repriced {back} vs {target}: {c:?}"
            );
            assert!(
                (iv - target_vol).abs() <= 1e-8 * target_vol,
                "near {iv} vs true {target_vol}: {c:?}"
            );
        }
    }
    let bad = NearSolution {
        vol: 0.2,
        price: 5.0,
        vega: Some(f64::NAN),
        volga: None,
    };
    let e = american_implied_volatility_near(
        5.0,
        100.0,
        100.0,
        0.5,
        0.03,
        0.01,
        OptionType::Put,
        &bad,
        &ACC,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            PricingError::InvalidInput {
                field: "near.vega",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn implied_volatility_errors() {
    let iv = |price: f64, spot: f64, years: f64, kind| {
        american_implied_volatility(price, spot, 100.0, years, 0.05, 0.01, kind, &ACC)
    };
    assert!(matches!(
        iv(f64::NAN, 100.0, 1.0, OptionType::Put),
        Err(PricingError::InvalidInput { field: "price", .. })
    ));
    assert!(matches!(
        iv(-1.0, 100.0, 1.0, OptionType::Put),
        Err(PricingError::InvalidInput { field: "price", .. })
    ));
    assert!(matches!(
        iv(5.0, -1.0, 1.0, OptionType::Put),
        Err(PricingError::InvalidInput { field: "spot", .. })
    ));
    assert!(matches!(
        iv(5.0, 100.0, 0.0, OptionType::Put),
        Err(PricingError::InvalidInput { field: "years", .. })
    ));
    assert!(matches!(
        iv(9.0, 90.0, 1.0, OptionType::Put),
        Err(PricingError::BelowIntrinsic { .. })
    ));
    assert!(matches!(
        iv(10.0, 90.0, 1.0, OptionType::Put),
        Err(PricingError::AtIntrinsic { .. })
    ));
    assert!(matches!(
        iv(100.0, 90.0, 1.0, OptionType::Put),
        Err(PricingError::AboveUpperBound { .. })
    ));
    assert!(matches!(
        iv(90.0, 90.0, 1.0, OptionType::Call),
        Err(PricingError::AboveUpperBound { .. })
    ));
    // A deep in-the-money call with r > q is worth at least S e^{−qT} − K e^{−rT} > S − K at
    // any volatility (waiting earns the carry): a price between the two has no volatility.
    // (A chain bid just above intrinsic used to send the search around 100 iterations.)
    let (s, k, t, r, q): (f64, f64, f64, f64, f64) = (100.0, 91.33, 0.01918, 0.03, 0.015);
    let floor = s * (-q * t).exp() - k * (-r * t).exp();
    assert!(floor > s - k + 0.019);
    match american_implied_volatility(s - k + 0.004, s, k, t, r, q, OptionType::Call, &FAST) {
        Err(PricingError::BelowIntrinsic { bound, .. }) => {
            assert!((bound - floor).abs() < 1e-12 * k, "{bound} vs {floor}");
        }
        other => panic!("{other:?}"),
    }
    let above =
        american_implied_volatility(floor + 0.05, s, k, t, r, q, OptionType::Call, &FAST).unwrap();
    assert!(above > 0.0 && above < 1.0, "{above}");
}

#[test]
fn edge_cases_behave() {
    let base = BsmInputs {
        kind: OptionType::Put,
        spot: 100.0,
        strike: 100.0,
        years: 1.0,
        rate: 0.05,
        dividend_yield: 0.02,
        volatility: 0.2,
    };
    let variants = [
        BsmInputs {
            years: 1e-12,
            ..base
        },
        BsmInputs {
            years: 1e-7,
            ..base
        },
        BsmInputs {
            years: 1.0 / 8760.0,
            ..base
        },
        BsmInputs {
            volatility: 1e-9,
            ..base
        },
        BsmInputs {
            volatility: 1e-4,
            ..base
        },
        BsmInputs {
            volatility: 5.0,
            years: 10.0,
            ..base
        },
        BsmInputs {
            volatility: 3.0,
            years: 5.0,
            strike: 400.0,
            ..base
        },
        BsmInputs { spot: 1.0, ..base },
        BsmInputs { spot: 1e4, ..base },
        BsmInputs {
            rate: 0.5,
            dividend_yield: 0.0,
            ..base
        },
        BsmInputs {
            rate: 0.05,
            dividend_yield: 0.05,
            ..base
        },
        BsmInputs {
            rate: 1e-9,
            dividend_yield: 0.03,
            ..base
        },
        BsmInputs {
            kind: OptionType::Call,
            rate: -0.01,
            dividend_yield: 0.0,
            ..base
        },
        BsmInputs {
            kind: OptionType::Call,
            rate: -0.01,
            dividend_yield: 0.03,
            ..base
        },
        BsmInputs {
            kind: OptionType::Call,
            dividend_yield: 0.5,
            spot: 500.0,
            ..base
        },
    ];
    for c in variants {
        for st in [ACC, FAST] {
            let p = american_price(&c, &st).unwrap();
            assert!(
                p.is_finite() && p >= intrinsic(&c) && p >= bsm_price(&c).unwrap() - 1e-12,
                "{c:?}"
            );
            let g = american_greeks(&c, &st).unwrap();
            for v in [
                g.delta,
                g.gamma,
                g.theta,
                g.vega,
                g.rho,
                g.epsilon,
                g.dual_delta,
                g.prob_itm,
            ] {
                assert!(v.is_finite(), "{c:?}: {g:?}");
            }
        }
    }
    // Deep in the exercise region the price is the intrinsic value.
    let deep = BsmInputs { spot: 20.0, ..base };
    assert_eq!(american_price(&deep, &ACC).unwrap(), 80.0);
    let g = american_greeks(&deep, &ACC).unwrap();
    assert_eq!((g.delta, g.gamma, g.theta), (-1.0, 0.0, 0.0));
    // A call with r = 0 in put space (q = 0, r < 0) exercises early: against the lattice.
    let c = BsmInputs {
        kind: OptionType::Call,
        rate: -0.01,
        dividend_yield: 0.0,
        spot: 130.0,
        ..base
    };
    let a = american_price(&c, &ACC).unwrap();
    assert!((a - american_reference(&c)).abs() <= 1e-6 * c.strike, "{a}");
    assert!(a > bsm_price(&c).unwrap());
    // Double boundary: unsupported.
    let dbl = BsmInputs {
        rate: -0.01,
        dividend_yield: -0.02,
        ..base
    };
    assert!(matches!(
        american_price(&dbl, &ACC),
        Err(PricingError::Unsupported { .. })
    ));
    let dbl_call = BsmInputs {
        kind: OptionType::Call,
        rate: -0.02,
        dividend_yield: -0.01,
        ..base
    };
    assert!(matches!(
        american_price(&dbl_call, &ACC),
        Err(PricingError::Unsupported { .. })
    ));
    // Invalid inputs and settings.
    assert!(matches!(
        american_price(
            &BsmInputs {
                volatility: f64::NAN,
                ..base
            },
            &ACC
        ),
        Err(PricingError::InvalidInput {
            field: "volatility",
            ..
        })
    ));
    assert!(matches!(
        american_price(&base, &AmericanSettings { nodes: 1, ..ACC }),
        Err(PricingError::InvalidInput {
            field: "settings.nodes",
            ..
        })
    ));
}

/// ACCURATE against the Leisen–Reimer + Richardson lattice on 200 random cases.
#[test]
fn accurate_matches_lattice() {
    let mut worst: f64 = 0.0;
    for c in cases(6, 200) {
        let a = american_price(&c, &ACC).unwrap();
        let l = american_reference(&c);
        let e = (a - l).abs() / c.strike;
        assert!(e <= 1e-5, "err/K {e:e}: {c:?} alo {a} lattice {l}");
        worst = worst.max(e);
    }
    println!("ACCURATE vs lattice: max |err|/K = {worst:.2e}");
    assert!(worst <= 2e-6, "{worst:e}");
}

/// ACCURATE and FAST against QuantLib's QdFp high-precision prices.
#[test]
fn matches_quantlib_goldens() {
    let g = wheelhouse_testkit::golden::american();
    assert!(g.len() >= 100);
    for (name, st, hard) in [("ACCURATE", ACC, 1e-6), ("FAST", FAST, 1e-4)] {
        let mut worst: (f64, u32) = (0.0, 0);
        for c in &g {
            let v = american_price(&c.inputs(), &st).unwrap();
            let e = (v - c.price).abs() / c.strike;
            if e > worst.0 {
                worst = (e, c.id);
            }
        }
        println!(
            "{name} vs QuantLib: max |err|/K = {:.2e} (id {})",
            worst.0, worst.1
        );
        assert!(worst.0 <= hard, "{name}: {:e} at id {}", worst.0, worst.1);
    }
}

/// Measures the lattice's own convergence against ALO at very high precision (slow).
#[test]
#[ignore = "slow: lattice convergence study, run with --ignored --nocapture"]
fn lattice_convergence() {
    let high = AmericanSettings {
        nodes: 48,
        coarse_iterations: 0,
        coarse_points: 1,
        iterations: 24,
        newton_iterations: 1,
        integration_points: 96,
        premium_points: 128,
        ..ACC
    };
    let mut w = [0.0f64; 3];
    for c in cases(7, 200) {
        let h = american_price(&c, &high).unwrap();
        let v = [
            leisen_reimer_american(&c, 1001),
            leisen_reimer_american(&c, 4001),
            american_reference(&c),
        ];
        for (k, x) in v.iter().enumerate() {
            w[k] = w[k].max((x - h).abs() / c.strike);
        }
    }
    println!(
        "max |err|/K: LR 1001 {:.1e}, LR 4001 {:.1e}, reference {:.1e}",
        w[0], w[1], w[2]
    );
}
