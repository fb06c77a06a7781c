//! Round trips σ → price → σ̂ for the Let's-Be-Rational implied volatility, plus edge cases.
//!
//! Prices come from the crate's own normalised Black function (`iv::normalised_black`), whose
//! out-of-the-money part is free of cancellation, so the reference price is accurate to a few
//! ulps even deep out of the money.

use wheelhouse_pricing::iv::{
    implied_black_volatility, implied_volatility_black76, implied_volatility_bsm, normalised_black,
    normalised_vega,
};
use wheelhouse_pricing::{OptionType, PricingError};

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fixed-seed, no dependency.
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + (hi.ln() - lo.ln()) * self.unit()).exp()
    }
}

#[derive(Debug, Clone, Copy)]
struct Case {
    kind: OptionType,
    spot: f64,
    strike: f64,
    years: f64,
    rate: f64,
    div: f64,
    sigma: f64,
}

/// BSM price: accurate discounted intrinsic value plus the out-of-the-money value from the
/// normalised Black function (the latter is free of cancellation).
fn bsm_price(c: &Case, sigma: f64) -> f64 {
    let carry = (c.rate - c.div) * c.years;
    let fwd = c.spot * carry.exp();
    let x = (c.spot / c.strike).ln() + carry;
    let s = sigma * c.years.sqrt();
    let otm = normalised_black(-x.abs(), s, OptionType::Call);
    discounted_intrinsic(c) + (-c.rate * c.years).exp() * fwd.sqrt() * c.strike.sqrt() * otm
}

fn bsm_vega(c: &Case) -> f64 {
    let fwd = c.spot * ((c.rate - c.div) * c.years).exp();
    let x = (fwd / c.strike).ln();
    let s = c.sigma * c.years.sqrt();
    (-c.rate * c.years).exp()
        * fwd.sqrt()
        * c.strike.sqrt()
        * normalised_vega(x, s)
        * c.years.sqrt()
}

/// e^{−rT}·max(θ(F − K), 0) with F − K = (S − K) + S·expm1((r−q)T): accurate relative to
/// |F − K| rather than to S.
fn discounted_intrinsic(c: &Case) -> f64 {
    let carry = (c.rate - c.div) * c.years;
    let f_minus_k = (c.spot - c.strike) + c.spot * carry.exp_m1();
    (-c.rate * c.years).exp() * (c.kind.sign() * f_minus_k).max(0.0)
}

fn random_case(rng: &mut SplitMix) -> Case {
    let kind = if rng.next_u64() & 1 == 0 {
        OptionType::Call
    } else {
        OptionType::Put
    };
    let spot = rng.log_uniform(1.0, 1000.0);
    Case {
        kind,
        spot,
        strike: spot * rng.log_uniform(0.25, 4.0),
        years: rng.log_uniform(1.0 / (365.0 * 24.0), 5.0),
        rate: rng.uniform(-0.01, 0.10),
        div: rng.uniform(0.0, 0.06),
        sigma: rng.log_uniform(0.01, 3.0),
    }
}

#[derive(Default, Debug)]
struct Stats {
    well: usize,
    ill: usize,
    typed_errors: usize,
    /// max |σ̂ − σ| / (1e-10·σ + 100·ε·price/vega) over well-conditioned cases.
    worst_ratio: f64,
    /// max |σ̂ − σ| / (ε·price/vega + ε·σ) over well-conditioned cases (in "ulps of attainable").
    worst_attainable: f64,
}

fn check_case(c: &Case, stats: &mut Stats) {
    let price = bsm_price(c, c.sigma);
    let got = implied_volatility_bsm(price, c.spot, c.strike, c.years, c.rate, c.div, c.kind);
    let vega = bsm_vega(c);
    let tv = price - discounted_intrinsic(c);
    let well = tv >= 1e-9 * c.spot && vega >= 1e-6 * c.spot * c.years.sqrt();
    if well {
        stats.well += 1;
        let sig = got.unwrap_or_else(|e| panic!("{c:?} price={price:e}: {e}"));
        let err = (sig - c.sigma).abs();
        let tol = 1e-10 * c.sigma + 100.0 * f64::EPSILON * price / vega;
        stats.worst_ratio = stats.worst_ratio.max(err / tol);
        let att = f64::EPSILON * (price / vega + c.sigma);
        stats.worst_attainable = stats.worst_attainable.max(err / att);
        assert!(
            err <= tol,
            "{c:?} price={price:e} got={sig:e} err={err:e} tol={tol:e}"
        );
    } else {
        stats.ill += 1;
        match got {
            Ok(sig) => {
                // The right value: it reproduces the price to rounding accuracy.
                assert!(sig.is_finite() && sig > 0.0, "{c:?}: {sig}");
                // Allowances: deep out of the money one ulp of σ moves the price by many ulps
                // (σ·vega term); in the money the intrinsic S·e^{−qT} − K·e^{−rT} itself carries
                // rounding of order ε·(S·e^{−qT} + K·e^{−rT}).
                let back = bsm_price(c, sig);
                let at = Case { sigma: sig, ..*c };
                let legs = c.spot * (-c.div * c.years).exp() + c.strike * (-c.rate * c.years).exp();
                let itm = discounted_intrinsic(c) > 0.0;
                let tol = 16.0 * f64::EPSILON * (price + sig * bsm_vega(&at))
                    + if itm { 8.0 * f64::EPSILON * legs } else { 0.0 }
                    + 1e-300;
                assert!(
                    (back - price).abs() <= tol,
                    "{c:?} price={price:e} sig={sig:e} back={back:e}"
                );
            }
            Err(PricingError::AtIntrinsic { .. })
            | Err(PricingError::BelowIntrinsic { .. })
            | Err(PricingError::AboveUpperBound { .. }) => {
                stats.typed_errors += 1;
                // Only legitimate where the time value is at rounding level, i.e. within 4 ulps
                // of max(price, S·e^{−qT}) (or the price at its upper bound to rounding).
                let leg = c.spot * (-c.div * c.years).exp();
                let ub = match c.kind {
                    OptionType::Call => leg,
                    OptionType::Put => c.strike * (-c.rate * c.years).exp(),
                };
                assert!(
                    tv <= 4.0 * f64::EPSILON * price.max(leg)
                        || (ub - price) <= 4.0 * f64::EPSILON * ub,
                    "{c:?} price={price:e} tv={tv:e}: {got:?}"
                );
            }
            Err(e) => panic!("{c:?} price={price:e}: unexpected {e}"),
        }
    }
}

#[test]
fn roundtrip_random_bsm() {
    let mut rng = SplitMix(0x5eed_1234_abcd_0001);
    let mut stats = Stats::default();
    for _ in 0..200_000 {
        let c = random_case(&mut rng);
        check_case(&c, &mut stats);
    }
    eprintln!("{stats:?}");
    assert!(stats.well > 50_000, "{stats:?}");
}

#[test]
fn roundtrip_black_and_black76_agree() {
    let mut rng = SplitMix(42);
    for _ in 0..20_000 {
        let c = random_case(&mut rng);
        let fwd = c.spot * ((c.rate - c.div) * c.years).exp();
        let x = (fwd / c.strike).ln();
        let s = c.sigma * c.years.sqrt();
        let und = fwd.sqrt() * c.strike.sqrt() * normalised_black(x, s, c.kind);
        let df = (-c.rate * c.years).exp();
        let vega = fwd.sqrt() * c.strike.sqrt() * normalised_vega(x, s) * c.years.sqrt();
        let tv = und - (c.kind.sign() * (fwd - c.strike)).max(0.0);
        if tv < 1e-9 * fwd || vega < 1e-6 * fwd * c.years.sqrt() {
            continue;
        }
        let tol = 1e-10 * c.sigma + 100.0 * f64::EPSILON * und / vega;
        let a = implied_black_volatility(und, fwd, c.strike, c.years, c.kind).unwrap();
        let b =
            implied_volatility_black76(und * df, fwd, c.strike, c.years, c.rate, c.kind).unwrap();
        assert!((a - c.sigma).abs() <= tol, "{c:?}: {a}");
        assert!((b - c.sigma).abs() <= tol, "{c:?}: {b}");
    }
}

#[test]
fn extreme_grid_normalised() {
    // Wider than the product ranges: |x| up to 20, s from 1e-5 to 20, prices down to 1e-300.
    let mut checked = 0;
    for i in 0..=40 {
        let x = -20.0 * (i as f64 / 40.0).powi(3);
        for j in 0..=80 {
            let s = 10f64.powf(-5.0 + 6.3 * j as f64 / 80.0);
            for kind in [OptionType::Call, OptionType::Put] {
                let x = if kind == OptionType::Put { -x } else { x };
                let b = normalised_black(x, s, kind);
                let intrinsic = (kind.sign() * 2.0 * (0.5 * x).sinh()).max(0.0);
                let tv = b - intrinsic;
                let (f, k) = ((0.5 * x).exp(), (-0.5 * x).exp()); // √(FK) = 1
                let r = implied_black_volatility(b, f, k, 1.0, kind);
                if tv.is_nan() || tv <= 1e-300 {
                    continue;
                }
                match r {
                    Ok(sig) => {
                        let vega = normalised_vega(x, s);
                        let tol = 1e-12 * s + 64.0 * f64::EPSILON * b / vega;
                        assert!((sig - s).abs() <= tol, "x={x} s={s:e} b={b:e} got={sig:e}");
                        checked += 1;
                    }
                    Err(PricingError::AtIntrinsic { .. }) => {
                        assert!(tv <= 4.0 * f64::EPSILON * b.max(f), "x={x} s={s:e}");
                    }
                    Err(PricingError::AboveUpperBound { .. }) => {
                        assert!(b >= (1.0 - 1e-15) * if kind == OptionType::Call { f } else { k });
                    }
                    Err(e) => panic!("x={x} s={s:e} b={b:e}: {e}"),
                }
            }
        }
    }
    assert!(checked > 2500, "{checked}");
}

#[test]
fn deep_otm_tiny_prices() {
    // Deep OTM prices near 1e-30 and below: solved in the normalised log space.
    let cases: [(f64, f64, f64, OptionType); 3] = [
        (100.0, 400.0, 0.25, OptionType::Call),
        (100.0, 25.0, 0.25, OptionType::Put),
        (100.0, 150.0, 1.0 / 365.0, OptionType::Call),
    ];
    for (f, k, t, kind) in cases {
        let x = (f / k).ln();
        for &target in &[1e-30, 1e-100, 1e-200, 1e-300] {
            let sigma = implied_black_volatility(target, f, k, t, kind).unwrap();
            let s = sigma * (t).sqrt();
            let back = (f * k).sqrt() * normalised_black(x, s, kind);
            assert!(
                ((back - target) / target).abs() < 1e-12,
                "{f} {k} {t} {target:e}: sigma={sigma} back={back:e}"
            );
        }
    }
    // σ = 5 %, T = 1 h, K/S = 1.0062: price ~ 1e-30.
    let c = OptionType::Call;
    let (s0, k, t, sigma): (f64, f64, f64, f64) = (100.0, 100.62, 1.0 / 8760.0, 0.05);
    let x: f64 = (s0 / k).ln();
    let price = (s0 * k).sqrt() * normalised_black(x, sigma * (t).sqrt(), c);
    assert!(price > 1e-40 && price < 1e-20, "{price:e}");
    let got = implied_black_volatility(price, s0, k, t, c).unwrap();
    assert!((got - sigma).abs() < 1e-12 * sigma, "{got}");
}

#[test]
fn edge_cases() {
    let c = OptionType::Call;
    let p = OptionType::Put;
    // Below intrinsic (discounted, caller's terms), then exactly at the reported bound.
    let (s, k, t, r, q): (f64, f64, f64, f64, f64) = (100.0, 90.0, 0.5, 0.03, 0.01);
    let intr: f64 = s * (-q * t).exp() - k * (-r * t).exp();
    let bound = match implied_volatility_bsm(intr * 0.999, s, k, t, r, q, c) {
        Err(PricingError::BelowIntrinsic { price, bound }) => {
            assert_eq!(price, intr * 0.999);
            assert!((bound - intr).abs() <= 1e-14 * intr);
            bound
        }
        other => panic!("{other:?}"),
    };
    assert!(matches!(
        implied_volatility_bsm(bound, s, k, t, r, q, c),
        Err(PricingError::AtIntrinsic { .. })
    ));
    // Black-76 and undiscounted Black: exactly at intrinsic.
    assert!(matches!(
        implied_volatility_black76((-r * t).exp() * 10.0, 100.0, 90.0, t, r, c),
        Err(PricingError::AtIntrinsic { .. })
    ));
    assert!(matches!(
        implied_black_volatility(10.0, 90.0, 100.0, t, p),
        Err(PricingError::AtIntrinsic { .. })
    ));
    // Upper bounds: discounted spot for a call, discounted strike for a put.
    let ub_call = s * (-q * t).exp();
    match implied_volatility_bsm(ub_call, s, k, t, r, q, c) {
        Err(PricingError::AboveUpperBound { bound, .. }) => assert_eq!(bound, ub_call),
        other => panic!("{other:?}"),
    }
    let ub_put = k * (-r * t).exp();
    assert!(matches!(
        implied_volatility_bsm(ub_put * 1.5, s, k, t, r, q, p),
        Err(PricingError::AboveUpperBound { .. })
    ));
    // NaN / negative / zero inputs.
    for (price, spot, strike, years, rate, div) in [
        (f64::NAN, s, k, t, r, q),
        (-1.0, s, k, t, r, q),
        (f64::INFINITY, s, k, t, r, q),
        (1.0, 0.0, k, t, r, q),
        (1.0, -5.0, k, t, r, q),
        (1.0, f64::NAN, k, t, r, q),
        (1.0, s, 0.0, t, r, q),
        (1.0, s, k, 0.0, r, q),
        (1.0, s, k, -1.0, r, q),
        (1.0, s, k, f64::INFINITY, r, q),
        (1.0, s, k, t, f64::NAN, q),
        (1.0, s, k, t, r, f64::NEG_INFINITY),
    ] {
        let e = implied_volatility_bsm(price, spot, strike, years, rate, div, c);
        assert!(matches!(e, Err(PricingError::InvalidInput { .. })), "{e:?}");
    }
    // Zero price of an OTM option: at intrinsic (0).
    assert!(matches!(
        implied_volatility_bsm(0.0, s, 120.0, t, r, q, c),
        Err(PricingError::AtIntrinsic { .. })
    ));
    // Negative rates round-trip.
    let case_r = -0.01;
    let sigma = 0.25;
    for kind in [c, p] {
        let fwd: f64 = s * ((case_r - q) * t).exp();
        let x = (fwd / k).ln();
        let price =
            (-case_r * t).exp() * (fwd * k).sqrt() * normalised_black(x, sigma * (t).sqrt(), kind);
        let got = implied_volatility_bsm(price, s, k, t, case_r, q, kind).unwrap();
        assert!((got - sigma).abs() < 1e-13, "{kind:?} {got}");
        let got76 = implied_volatility_black76(price, fwd, k, t, case_r, kind).unwrap();
        assert!((got76 - sigma).abs() < 1e-13, "{kind:?} {got76}");
    }
    // Time value below an ulp of the price: a typed error or a value that reprices.
    let deep = 1e6;
    match implied_black_volatility(deep - 100.0 + 1e-12, deep, 100.0, 1.0, c) {
        Ok(sig) => assert!(sig.is_finite() && sig > 0.0),
        Err(PricingError::AtIntrinsic { .. }) => {}
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn agrees_with_implied_vol_crate() {
    use implied_vol::{DefaultSpecialFn, ImpliedBlackVolatility};
    let mut rng = SplitMix(7);
    let mut compared = 0;
    for _ in 0..20_000 {
        let c = random_case(&mut rng);
        let fwd = c.spot * ((c.rate - c.div) * c.years).exp();
        let x = (fwd / c.strike).ln();
        let s = c.sigma * c.years.sqrt();
        let und = fwd.sqrt() * c.strike.sqrt() * normalised_black(x, s, c.kind);
        let vega = fwd.sqrt() * c.strike.sqrt() * normalised_vega(x, s) * c.years.sqrt();
        let tv = und - (c.kind.sign() * (fwd - c.strike)).max(0.0);
        if tv < 1e-9 * fwd || vega < 1e-6 * fwd * c.years.sqrt() {
            continue;
        }
        let ours = implied_black_volatility(und, fwd, c.strike, c.years, c.kind).unwrap();
        let theirs = ImpliedBlackVolatility::builder()
            .option_price(und)
            .forward(fwd)
            .strike(c.strike)
            .expiry(c.years)
            .is_call(c.kind == OptionType::Call)
            .build()
            .and_then(|b| b.calculate::<DefaultSpecialFn>());
        if let Some(theirs) = theirs {
            let tol = 1e-10 * c.sigma + 100.0 * f64::EPSILON * und / vega;
            assert!(
                (ours - theirs).abs() <= 2.0 * tol,
                "{c:?}: {ours} vs {theirs}"
            );
            compared += 1;
        }
    }
    assert!(compared > 5_000, "{compared}");
}

#[test]
fn wide_random_normalised() {
    // Far outside the product ranges: |x| up to 60, s from 1e-6 to 60, both kinds.
    use wheelhouse_pricing::iv::implied_normalised_volatility;
    let mut rng = SplitMix(99);
    let mut solved = 0;
    for _ in 0..100_000 {
        let x = if rng.unit() < 0.02 {
            0.0
        } else {
            rng.log_uniform(1e-8, 60.0) * if rng.unit() < 0.5 { -1.0 } else { 1.0 }
        };
        let s = rng.log_uniform(1e-6, 60.0);
        let kind = if rng.unit() < 0.5 {
            OptionType::Call
        } else {
            OptionType::Put
        };
        let b = normalised_black(x, s, kind);
        match implied_normalised_volatility(b, x, kind) {
            Ok(got) => {
                let vega = normalised_vega(x, s);
                let tol = 1e-13 * s + 32.0 * f64::EPSILON * b / vega;
                if vega > 0.0 && b > 1e-300 {
                    assert!(
                        (got - s).abs() <= tol,
                        "x={x:e} s={s:e} b={b:e} got={got:e}"
                    );
                }
                solved += 1;
            }
            Err(PricingError::AtIntrinsic { .. }) | Err(PricingError::AboveUpperBound { .. }) => {
                // Time value lost to rounding (or price at its supremum): checked to be so.
                let intrinsic = (kind.sign() * 2.0 * (0.5 * x).sinh()).max(0.0);
                let upper = (0.5 * kind.sign() * x).exp();
                assert!(
                    b - intrinsic <= 4.0 * f64::EPSILON * b
                        || upper - b <= 4.0 * f64::EPSILON * upper,
                    "x={x:e} s={s:e} b={b:e}"
                );
            }
            Err(e) => panic!("x={x:e} s={s:e} b={b:e}: {e}"),
        }
    }
    assert!(solved > 50_000, "{solved}");
}
