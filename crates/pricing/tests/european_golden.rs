//! European prices, every Greek and implied volatility against the 40+-digit mpmath golden
//! tables in crates/testkit/data (random cases, Black-76 cases and edge cases), with the
//! acceptance tolerance |err| ≤ 1e-12·|value| + 1e-14·(largest term of the formula).

use wheelhouse_pricing::black::{black76_greeks, bsm_greeks, bsm_lower_bound, bsm_price};
use wheelhouse_pricing::iv::{implied_volatility_black76, implied_volatility_bsm};
use wheelhouse_pricing::{Greeks, PricingError};
use wheelhouse_testkit::golden::{self, IvExpect, tolerance};

/// Results below this magnitude are subnormal or about to be: relative accuracy is impossible
/// there, so the comparison has this absolute floor.
const UNDERFLOW_FLOOR: f64 = 1e-300;

const NAMES: [&str; 12] = [
    "price",
    "delta",
    "gamma",
    "vega",
    "theta",
    "rho",
    "epsilon",
    "vanna",
    "volga",
    "charm",
    "dual_delta",
    "prob_itm",
];

fn fields(g: &Greeks) -> [f64; 12] {
    [
        g.price,
        g.delta,
        g.gamma,
        g.vega,
        g.theta,
        g.rho,
        g.epsilon,
        g.vanna,
        g.volga,
        g.charm,
        g.dual_delta,
        g.prob_itm,
    ]
}

/// Largest |err| / tolerance over all cases, per quantity; panics naming the first failure.
fn check_greeks(
    label: &str,
    cases: impl Iterator<Item = (String, Greeks, Greeks, Greeks)>,
    skip_epsilon: bool,
) {
    let mut worst = [0.0f64; 12];
    let mut n = 0;
    for (id, got, want, scale) in cases {
        n += 1;
        for (k, ((g, w), s)) in fields(&got)
            .iter()
            .zip(fields(&want))
            .zip(fields(&scale))
            .enumerate()
        {
            if skip_epsilon && NAMES[k] == "epsilon" {
                continue;
            }
            let tol = tolerance(w, s).max(UNDERFLOW_FLOOR);
            let err = (g - w).abs();
            assert!(
                *g == w || err <= tol,
                "{label} case {id}: {} = {g:e}, reference {w:e}, |err| {err:e} > tol {tol:e}",
                NAMES[k]
            );
            worst[k] = worst[k].max(if *g == w { 0.0 } else { err / tol });
        }
    }
    assert!(n > 0);
    let summary: Vec<String> = NAMES
        .iter()
        .zip(worst)
        .map(|(n, w)| format!("{n} {w:.3}"))
        .collect();
    println!(
        "{label}: {n} cases; max |err|/tolerance: {}",
        summary.join(", ")
    );
}

#[test]
fn bsm_random_cases() {
    let cases = golden::european_bsm();
    assert!(cases.len() >= 2000);
    check_greeks(
        "bsm",
        cases.iter().map(|c| {
            (
                c.id.to_string(),
                bsm_greeks(&c.inputs()).unwrap(),
                c.greeks(),
                c.scales(),
            )
        }),
        false,
    );
}

#[test]
fn bsm_edge_cases() {
    let cases = golden::european_edge();
    check_greeks(
        "edge",
        cases.iter().map(|c| {
            (
                format!("{} ({})", c.id, c.note.clone().unwrap_or_default()),
                bsm_greeks(&c.inputs()).unwrap(),
                c.greeks(),
                c.scales(),
            )
        }),
        false,
    );
}

#[test]
fn black76_cases() {
    let cases = golden::european_black76();
    assert!(cases.len() >= 500);
    check_greeks(
        "black76",
        cases.iter().map(|c| {
            (
                c.id.to_string(),
                black76_greeks(&c.inputs()).unwrap(),
                c.greeks(),
                c.scales(),
            )
        }),
        true,
    );
}

/// Checks one implied volatility against its reference.
#[allow(
    clippy::too_many_arguments,
    reason = "a test helper taking one golden row's fields"
)]
fn check_iv(
    id: &str,
    got: Result<f64, PricingError>,
    expect: &IvExpect,
    iv_ref: Option<f64>,
    well_conditioned: bool,
    price: f64,
    vega: f64,
    reprice: impl Fn(f64) -> f64,
    price_scale: f64,
    intrinsic: f64,
) -> f64 {
    match expect {
        IvExpect::Ok => {
            let want = iv_ref.expect("iv_ref present when iv_expect is ok");
            match got {
                Ok(v) if well_conditioned => {
                    let tol = 1e-10 * want + 100.0 * f64::EPSILON * price / vega;
                    let err = (v - want).abs();
                    assert!(
                        err <= tol,
                        "iv case {id}: {v} vs {want}, |err| {err:e} > {tol:e}"
                    );
                    err / tol
                }
                Ok(v) => {
                    // Ill-conditioned: the volatility must still reproduce the price.
                    let p = reprice(v);
                    let tol = 1e-12 * price + 8.0 * f64::EPSILON * price_scale;
                    assert!(v > 0.0 && v.is_finite(), "iv case {id}: {v}");
                    assert!(
                        (p - price).abs() <= tol,
                        "iv case {id}: σ̂={v} reprices to {p}, not {price}"
                    );
                    0.0
                }
                Err(e) => {
                    assert!(
                        !well_conditioned,
                        "iv case {id}: well-conditioned but failed: {e}"
                    );
                    0.0
                }
            }
        }
        IvExpect::BelowIntrinsic
            if (price - intrinsic).abs() > 4.0 * f64::EPSILON * price_scale =>
        {
            assert!(
                matches!(got, Err(PricingError::BelowIntrinsic { .. })),
                "iv case {id}: {got:?}"
            );
            0.0
        }
        // Within a few ulps of the intrinsic value, "at" and "below" are the same statement in
        // double precision: either typed error is right.
        IvExpect::AtIntrinsic | IvExpect::BelowIntrinsic => {
            assert!(
                matches!(
                    got,
                    Err(PricingError::AtIntrinsic { .. } | PricingError::BelowIntrinsic { .. })
                ),
                "iv case {id}: {got:?}"
            );
            0.0
        }
        IvExpect::AboveUpperBound => {
            assert!(
                matches!(got, Err(PricingError::AboveUpperBound { .. })),
                "iv case {id}: {got:?}"
            );
            0.0
        }
        IvExpect::InvalidInput(field) => {
            match got {
                Err(PricingError::InvalidInput { field: f, .. }) => {
                    assert_eq!(f, field, "iv case {id}")
                }
                other => panic!("iv case {id}: expected invalid {field}, got {other:?}"),
            }
            0.0
        }
    }
}

#[test]
fn implied_volatility_bsm_cases() {
    let mut worst = 0.0f64;
    let mut n = 0;
    for c in golden::european_bsm()
        .iter()
        .chain(golden::european_edge().iter())
    {
        let i = c.inputs();
        let got = implied_volatility_bsm(
            c.price,
            i.spot,
            i.strike,
            i.years,
            i.rate,
            i.dividend_yield,
            i.kind,
        );
        worst = worst.max(check_iv(
            &c.id.to_string(),
            got,
            &c.iv_expect,
            c.iv_ref,
            c.iv_well_conditioned,
            c.price,
            c.vega,
            |v| bsm_price(&wheelhouse_pricing::BsmInputs { volatility: v, ..i }).unwrap(),
            c.price_scale,
            bsm_lower_bound(i.kind, i.spot, i.strike, i.years, i.rate, i.dividend_yield),
        ));
        n += 1;
    }
    println!("iv bsm: {n} cases; max |err|/tolerance {worst:.3}");
}

#[test]
fn implied_volatility_black76_cases() {
    let mut worst = 0.0f64;
    for c in golden::european_black76() {
        let i = c.inputs();
        let got = implied_volatility_black76(c.price, i.forward, i.strike, i.years, i.rate, i.kind);
        worst = worst.max(check_iv(
            &c.id.to_string(),
            got,
            &c.iv_expect,
            c.iv_ref,
            c.iv_well_conditioned,
            c.price,
            c.vega,
            |v| {
                black76_greeks(&wheelhouse_pricing::Black76Inputs { volatility: v, ..i })
                    .unwrap()
                    .price
            },
            c.price_scale,
            (-i.rate * i.years).exp() * (i.kind.sign() * (i.forward - i.strike)).max(0.0),
        ));
    }
    println!("iv black76: max |err|/tolerance {worst:.3}");
}

#[test]
fn implied_volatility_typed_errors() {
    let cases = golden::iv_invalid();
    assert!(!cases.is_empty());
    for (k, c) in cases.iter().enumerate() {
        let got = implied_volatility_bsm(
            c.price,
            c.spot,
            c.strike,
            c.years,
            c.rate,
            c.dividend_yield,
            c.kind,
        );
        let intrinsic =
            bsm_lower_bound(c.kind, c.spot, c.strike, c.years, c.rate, c.dividend_yield);
        let scale = c.spot.max(c.strike);
        check_iv(
            &format!("invalid row {k}"),
            got,
            &c.expect,
            None,
            false,
            c.price,
            1.0,
            |_| f64::NAN,
            scale,
            intrinsic,
        );
    }
}
