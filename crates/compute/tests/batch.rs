//! The batch API: per-element statuses (a bad element never fails the batch), length checks,
//! agreement with the scalar library, and bit-identical results for 1 and 2 threads with mixed
//! European and American elements.

use wheelhouse_compute::{Backend, BatchError, IvInput, OptionBatch, Status};
use wheelhouse_pricing::american::{AmericanSettings, american_greeks};
use wheelhouse_pricing::black::bsm_greeks;
use wheelhouse_pricing::iv::implied_volatility_bsm;
use wheelhouse_pricing::{BsmInputs, ExerciseStyle, OptionType, PricingError};
use wheelhouse_testkit::random::{log_uniform, uniforms};

struct Cols {
    kind: Vec<OptionType>,
    spot: Vec<f64>,
    strike: Vec<f64>,
    years: Vec<f64>,
    rate: Vec<f64>,
    q: Vec<f64>,
    vol: Vec<f64>,
    style: Vec<ExerciseStyle>,
}

fn cols(n: usize, american_every: usize) -> Cols {
    let mut u = uniforms(0x9E37_79B9_7F4A_7C15);
    let lu = log_uniform;
    let mut c = Cols {
        kind: vec![],
        spot: vec![],
        strike: vec![],
        years: vec![],
        rate: vec![],
        q: vec![],
        vol: vec![],
        style: vec![],
    };
    for i in 0..n {
        c.kind.push(if u() < 0.5 {
            OptionType::Call
        } else {
            OptionType::Put
        });
        let spot = lu(u(), 5.0, 2000.0);
        c.spot.push(spot);
        c.strike.push(spot * lu(u(), 0.25, 4.0));
        c.years.push(lu(u(), 1.0 / 8760.0, 5.0));
        c.rate.push(-0.01 + 0.11 * u());
        c.q.push(0.06 * u());
        c.vol.push(lu(u(), 0.01, 3.0));
        c.style
            .push(if american_every > 0 && i % american_every == 0 {
                ExerciseStyle::American
            } else {
                ExerciseStyle::European
            });
    }
    c
}

fn batch(c: &Cols) -> OptionBatch<'_> {
    OptionBatch {
        kind: &c.kind,
        spot: &c.spot,
        strike: &c.strike,
        years: &c.years,
        rate: &c.rate,
        dividend_yield: &c.q,
        volatility: &c.vol,
        style: Some(&c.style),
    }
}

fn inp(c: &Cols, i: usize) -> BsmInputs {
    BsmInputs {
        kind: c.kind[i],
        spot: c.spot[i],
        strike: c.strike[i],
        years: c.years[i],
        rate: c.rate[i],
        dividend_yield: c.q[i],
        volatility: c.vol[i],
    }
}

#[test]
fn one_and_two_threads_give_identical_bits() {
    let c = cols(20_000, 97);
    let a = Backend::cpu(Some(1)).unwrap().greeks(&batch(&c)).unwrap();
    let b = Backend::cpu(Some(2)).unwrap().greeks(&batch(&c)).unwrap();
    for (x, y) in [
        (&a.price, &b.price),
        (&a.delta, &b.delta),
        (&a.theta, &b.theta),
        (&a.charm, &b.charm),
    ] {
        assert!(
            x.iter()
                .zip(y.iter())
                .all(|(p, q)| p.to_bits() == q.to_bits())
        );
    }
    assert_eq!(a.status, b.status);
    let iv_in = IvInput {
        kind: &c.kind,
        price: &a.price,
        spot: &c.spot,
        strike: &c.strike,
        years: &c.years,
        rate: &c.rate,
        dividend_yield: &c.q,
        style: Some(&c.style),
    };
    let x = Backend::cpu(Some(1))
        .unwrap()
        .implied_volatility(&iv_in)
        .unwrap();
    let y = Backend::cpu(Some(2))
        .unwrap()
        .implied_volatility(&iv_in)
        .unwrap();
    assert!(
        x.implied_volatility
            .iter()
            .zip(&y.implied_volatility)
            .all(|(p, q)| p.to_bits() == q.to_bits())
    );
    assert_eq!(x.status, y.status);
}

#[test]
fn batch_equals_the_scalar_library() {
    let c = cols(5_000, 53);
    let out = Backend::cpu(None).unwrap().greeks(&batch(&c)).unwrap();
    let settings = AmericanSettings::ACCURATE;
    for i in 0..c.kind.len() {
        let g = match c.style[i] {
            ExerciseStyle::European => bsm_greeks(&inp(&c, i)),
            ExerciseStyle::American => american_greeks(&inp(&c, i), &settings),
        };
        match g {
            Ok(g) => {
                assert_eq!(out.status[i], Status::Ok, "element {i}");
                let tol = |v: f64| 1e-13 * v.abs() + 1e-15 * c.spot[i].max(c.strike[i]);
                assert!((out.price[i] - g.price).abs() <= tol(g.price), "price {i}");
                assert!(
                    (out.delta[i] - g.delta).abs() <= tol(g.delta) + 1e-15,
                    "delta {i}"
                );
                assert!((out.vega[i] - g.vega).abs() <= tol(g.vega), "vega {i}");
            }
            Err(e) => assert_eq!(out.status[i], Status::failed(e)),
        }
    }
}

#[test]
fn bad_elements_fail_alone() {
    let mut c = cols(10, 0);
    c.spot[3] = -1.0;
    c.vol[5] = f64::NAN;
    c.years[7] = 0.0;
    let out = Backend::cpu(Some(2)).unwrap().greeks(&batch(&c)).unwrap();
    assert_eq!(out.failures(), 3);
    assert!(matches!(
        out.status[3].error(),
        Some(PricingError::InvalidInput { field: "spot", .. })
    ));
    assert!(matches!(
        out.status[5].error(),
        Some(PricingError::InvalidInput {
            field: "volatility",
            ..
        })
    ));
    assert!(matches!(
        out.status[7].error(),
        Some(PricingError::InvalidInput { field: "years", .. })
    ));
    assert!(out.price[3].is_nan() && out.price[0].is_finite());
    // Implied volatility: a price below intrinsic fails alone too.
    let mut prices: Vec<f64> = out.price.clone();
    prices[0] = 0.0;
    let iv = Backend::cpu(Some(1))
        .unwrap()
        .implied_volatility(&IvInput {
            kind: &c.kind,
            price: &prices,
            spot: &c.spot,
            strike: &c.strike,
            years: &c.years,
            rate: &c.rate,
            dividend_yield: &c.q,
            style: None,
        })
        .unwrap();
    assert!(!iv.status[0].is_ok());
    for i in [1, 2, 4, 6, 8, 9] {
        let direct = implied_volatility_bsm(
            prices[i],
            c.spot[i],
            c.strike[i],
            c.years[i],
            c.rate[i],
            c.q[i],
            c.kind[i],
        );
        match direct {
            // European elements go through the vector kernel (iv_simd): equal to the scalar
            // solver to well within its accuracy, not necessarily to the bit.
            Ok(v) => assert!((iv.implied_volatility[i] - v).abs() <= 1e-12 * v, "{i}"),
            Err(e) => assert_eq!(iv.status[i], Status::failed(e)),
        }
    }
}

#[test]
fn mismatched_columns_are_a_batch_error() {
    let c = cols(4, 0);
    let mut b = batch(&c);
    b.strike = &c.strike[..3];
    assert!(matches!(
        Backend::cpu(Some(1)).unwrap().greeks(&b),
        Err(BatchError::LengthMismatch {
            column: "strike",
            got: 3,
            expected: 4
        })
    ));
}

/// `prices` gives `greeks`' prices and statuses (European within the kernels' agreement,
/// American to the bit: the same engine call) and the same for 1 and 2 threads.
#[test]
fn prices_match_greeks() {
    let mut c = cols(4_000, 61);
    c.spot[10] = -1.0;
    c.vol[11] = f64::NAN;
    let b1 = Backend::cpu(Some(1)).unwrap();
    let b2 = Backend::cpu(Some(2)).unwrap();
    let g = b2.greeks(&batch(&c)).unwrap();
    let (p1, s1) = b1.prices(&batch(&c)).unwrap();
    let (p2, s2) = b2.prices(&batch(&c)).unwrap();
    for i in 0..c.kind.len() {
        assert_eq!(p1[i].to_bits(), p2[i].to_bits(), "element {i}");
        assert_eq!(s1[i].is_ok(), g.status[i].is_ok(), "element {i}");
        assert_eq!(s1[i].is_ok(), s2[i].is_ok());
        if g.status[i].is_ok() {
            let tol = 1e-13 * g.price[i].abs() + 1e-15 * c.spot[i].max(c.strike[i]);
            assert!((p1[i] - g.price[i]).abs() <= tol, "element {i}");
            if c.style[i] == ExerciseStyle::American {
                assert_eq!(p1[i].to_bits(), g.price[i].to_bits(), "element {i}");
            }
        } else {
            assert!(p1[i].is_nan());
            // (Debug text: the NaN inside an error is not equal to itself.)
            assert_eq!(format!("{:?}", s1[i]), format!("{:?}", g.status[i]));
        }
    }
    assert!(!s1[10].is_ok() && !s1[11].is_ok());
}

/// Bits of every value column and the statuses of a Greeks batch.
fn greeks_bits(g: &wheelhouse_compute::GreeksBatch) -> (Vec<[u64; 9]>, String) {
    let v = (0..g.price.len())
        .map(|i| {
            [
                g.price[i], g.delta[i], g.gamma[i], g.vega[i], g.theta[i], g.rho[i], g.vanna[i],
                g.volga[i], g.charm[i],
            ]
            .map(f64::to_bits)
        })
        .collect();
    (v, format!("{:?}", g.status))
}

#[test]
fn reused_output_buffers_give_the_fresh_results() {
    // A first batch with failures at some positions, then batches of other lengths and other
    // failures into the same buffers: nothing stale may survive (values, NaNs or statuses).
    let be = Backend::cpu(Some(2)).unwrap();
    let mut first = cols(5_000, 7);
    for i in (0..5_000).step_by(13) {
        first.vol[i] = f64::NAN;
    }
    let mut out = wheelhouse_compute::GreeksBatch::default();
    be.greeks_into(&batch(&first), &mut out).unwrap();
    assert!(out.failures() >= 5_000 / 13);
    let mut iv_out = wheelhouse_compute::IvBatch::default();
    let zeros = vec![0.0; 5_000];
    be.implied_volatility_into(
        &IvInput {
            kind: &first.kind,
            price: &zeros,
            spot: &first.spot,
            strike: &first.strike,
            years: &first.years,
            rate: &first.rate,
            dividend_yield: &first.q,
            style: Some(&first.style),
        },
        &mut iv_out,
    )
    .unwrap();
    assert_eq!(iv_out.failures(), 5_000);
    for (n, american_every) in [(3_001, 11), (7_777, 0), (10, 3)] {
        let mut c = cols(n, american_every);
        c.spot[n / 2] = -1.0;
        let fresh = be.greeks(&batch(&c)).unwrap();
        be.greeks_into(&batch(&c), &mut out).unwrap();
        assert_eq!(greeks_bits(&out), greeks_bits(&fresh), "n = {n}");
        assert_eq!(out.failures(), 1);
        let iv_in = IvInput {
            kind: &c.kind,
            price: &fresh.price,
            spot: &c.spot,
            strike: &c.strike,
            years: &c.years,
            rate: &c.rate,
            dividend_yield: &c.q,
            style: Some(&c.style),
        };
        let fresh_iv = be.implied_volatility(&iv_in).unwrap();
        be.implied_volatility_into(&iv_in, &mut iv_out).unwrap();
        // Debug text: an error may carry a NaN input, and NaN ≠ NaN.
        assert_eq!(
            format!("{:?}", iv_out.status),
            format!("{:?}", fresh_iv.status),
            "n = {n}"
        );
        assert!(
            iv_out
                .implied_volatility
                .iter()
                .zip(&fresh_iv.implied_volatility)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "n = {n}"
        );
        assert!(iv_out.implied_volatility[n / 2].is_nan());
    }
    // A length error leaves the buffers as they were.
    let c = cols(10, 0);
    let mut b = batch(&c);
    b.strike = &c.strike[..9];
    let before = greeks_bits(&out);
    assert!(be.greeks_into(&b, &mut out).is_err());
    assert_eq!(greeks_bits(&out), before);
}
