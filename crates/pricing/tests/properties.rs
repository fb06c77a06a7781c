//! Property tests of the European closed forms: put-call parity, no-arbitrage bounds,
//! monotonicity in volatility, strike and time, and every Greek against a finite difference of
//! the price. Fixed seed, so failures reproduce.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use wheelhouse_pricing::black::{bsm_greeks, bsm_lower_bound, bsm_price, bsm_upper_bound};
use wheelhouse_pricing::{BsmInputs, OptionType};

fn config() -> Config {
    Config {
        cases: 3000,
        rng_seed: RngSeed::Fixed(0x5EED_2026),
        failure_persistence: None,
        ..Config::default()
    }
}

fn log_uniform(lo: f64, hi: f64) -> impl Strategy<Value = f64> {
    (0.0..1.0f64).prop_map(move |u| (lo.ln() + (hi.ln() - lo.ln()) * u).exp())
}

prop_compose! {
    fn inputs()(
        call in any::<bool>(),
        spot in log_uniform(5.0, 2000.0),
        moneyness in log_uniform(0.25, 4.0),
        years in log_uniform(1.0 / 8760.0, 5.0),
        rate in -0.01..0.10f64,
        dividend_yield in 0.0..0.06f64,
        volatility in log_uniform(0.01, 3.0),
    ) -> BsmInputs {
        BsmInputs {
            kind: if call { OptionType::Call } else { OptionType::Put },
            spot,
            strike: spot * moneyness,
            years,
            rate,
            dividend_yield,
            volatility,
        }
    }
}

fn with_kind(i: &BsmInputs, kind: OptionType) -> BsmInputs {
    BsmInputs { kind, ..*i }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn put_call_parity(i in inputs()) {
        let c = bsm_greeks(&with_kind(&i, OptionType::Call)).unwrap();
        let p = bsm_greeks(&with_kind(&i, OptionType::Put)).unwrap();
        let sdq = i.spot * (-i.dividend_yield * i.years).exp();
        let kdr = i.strike * (-i.rate * i.years).exp();
        let scale = sdq.max(kdr);
        prop_assert!((c.price - p.price - (sdq - kdr)).abs() <= 4e-16 * scale * 4.0,
            "parity: {} vs {}", c.price - p.price, sdq - kdr);
        prop_assert!((c.delta - p.delta - sdq / i.spot).abs() <= 1e-15);
        prop_assert!((c.gamma - p.gamma).abs() <= 1e-14 * c.gamma.abs().max(1e-300));
        prop_assert!((c.vega - p.vega).abs() <= 1e-14 * c.vega.abs().max(1e-300));
        prop_assert!((c.prob_itm + p.prob_itm - 1.0).abs() <= 4.0 * f64::EPSILON);
        prop_assert!((c.dual_delta - p.dual_delta + kdr / i.strike).abs() <= 1e-15);
    }

    #[test]
    fn within_no_arbitrage_bounds(i in inputs()) {
        let v = bsm_price(&i).unwrap();
        let lo = bsm_lower_bound(i.kind, i.spot, i.strike, i.years, i.rate, i.dividend_yield);
        let hi = bsm_upper_bound(i.kind, i.spot, i.strike, i.years, i.rate, i.dividend_yield);
        let tol = 1e-14 * hi;
        prop_assert!(v >= lo - tol && v <= hi + tol, "{lo} <= {v} <= {hi}");
        prop_assert!(v >= 0.0);
    }

    #[test]
    fn increasing_in_volatility(i in inputs(), bump in 1.0001..2.0f64) {
        let v0 = bsm_price(&i).unwrap();
        let v1 = bsm_price(&BsmInputs { volatility: i.volatility * bump, ..i }).unwrap();
        prop_assert!(v1 >= v0 - 1e-14 * i.spot.max(i.strike), "{v0} -> {v1}");
        prop_assert!(bsm_greeks(&i).unwrap().vega >= 0.0);
    }

    #[test]
    fn monotone_in_strike(i in inputs(), bump in 1.0001..1.5f64) {
        let v0 = bsm_price(&i).unwrap();
        let v1 = bsm_price(&BsmInputs { strike: i.strike * bump, ..i }).unwrap();
        let tol = 1e-14 * i.spot.max(i.strike * bump);
        match i.kind {
            OptionType::Call => prop_assert!(v1 <= v0 + tol),
            OptionType::Put => prop_assert!(v1 >= v0 - tol),
        }
    }

    #[test]
    fn call_without_dividends_increases_with_time(i in inputs(), bump in 1.0001..2.0f64) {
        // With q = 0 and r >= 0 a longer call is worth at least as much.
        let i = BsmInputs { kind: OptionType::Call, dividend_yield: 0.0, rate: i.rate.abs(), ..i };
        let v0 = bsm_price(&i).unwrap();
        let v1 = bsm_price(&BsmInputs { years: i.years * bump, ..i }).unwrap();
        prop_assert!(v1 >= v0 - 1e-14 * i.spot.max(i.strike));
        prop_assert!(bsm_greeks(&i).unwrap().theta <= 1e-14 * i.spot);
    }

    #[test]
    fn greeks_match_finite_differences(i in inputs()) {
        let g = bsm_greeks(&i).unwrap();
        let scale = i.spot.max(i.strike);
        let sst = i.volatility * i.years.sqrt();
        // Richardson-extrapolated central differences at steps h and h/2; the tolerance is the
        // observed difference between the two (truncation) plus the rounding of the price.
        let check_of = |name: &str, f: &dyn Fn(&BsmInputs) -> f64, exact: f64, h: f64, bump: &dyn Fn(&mut BsmInputs, f64)| {
            let v = |d: f64| {
                let mut j = i;
                bump(&mut j, d);
                f(&j)
            };
            let d1 = (v(h) - v(-h)) / (2.0 * h);
            let d2 = (v(h / 2.0) - v(-h / 2.0)) / h;
            let rich = (4.0 * d2 - d1) / 3.0;
            let tol = 2.0 * (d1 - d2).abs() + 1e-14 * scale / h + 1e-7 * exact.abs() + 1e-12;
            assert!((rich - exact).abs() <= tol, "{name}: exact {exact} vs fd {rich} (tol {tol}) for {i:?}");
        };
        let price = |j: &BsmInputs| bsm_price(j).unwrap();
        let check = |name: &str, exact: f64, h: f64, bump: &dyn Fn(&mut BsmInputs, f64)| check_of(name, &price, exact, h, bump);
        check("delta", g.delta, i.spot * sst * 1e-3, &|j, d| j.spot += d);
        check("vega", g.vega, i.volatility * 1e-3, &|j, d| j.volatility += d);
        check("rho", g.rho, 1e-4 / i.years.max(1e-2), &|j, d| j.rate += d);
        check("epsilon", g.epsilon, 1e-4 / i.years.max(1e-2), &|j, d| j.dividend_yield += d);
        check("dual_delta", g.dual_delta, i.strike * sst * 1e-3, &|j, d| j.strike += d);
        check("theta", -g.theta, i.years * 1e-3, &|j, d| j.years += d);
        // Second order: differentiate the analytic first-order Greeks.
        let delta = |j: &BsmInputs| bsm_greeks(j).unwrap().delta;
        let vega = |j: &BsmInputs| bsm_greeks(j).unwrap().vega;
        check_of("gamma", &delta, g.gamma, i.spot * sst * 1e-3, &|j, d| j.spot += d);
        check_of("vanna", &delta, g.vanna, i.volatility * 1e-3, &|j, d| j.volatility += d);
        check_of("volga", &vega, g.volga, i.volatility * 1e-3, &|j, d| j.volatility += d);
        check_of("charm", &delta, -g.charm, i.years * 1e-3, &|j, d| j.years += d);
    }
}
