//! On a GPU (each test says "skipped" without one): host batches through the device — the
//! pinned two-lane staging pipeline of `cuda.rs` — against the CPU, for sizes below one chunk,
//! ending mid-chunk and spanning several chunks (both lanes reused), written into outputs
//! poisoned beforehand: every element overwritten, the CPU's status for every element, values
//! within the CPU kernels' tolerance. Inputs are chain-like quotes with far-tail and invalid
//! elements mixed in (the kernels leave those to the CPU reference).

use wheelhouse_compute::{
    Backend, DeviceChoice, GreeksBatch, IvBatch, IvInput, OptionBatch, Status,
};
use wheelhouse_core::OptionType;
use wheelhouse_testkit::random::{log_uniform, uniforms};

const POISON: f64 = -7.25e77;

fn gpu() -> Option<Backend> {
    match Backend::with_device(Some(2), DeviceChoice::Cuda) {
        Ok(b) => Some(b.force_device()),
        Err(e) => {
            eprintln!("skipped: no CUDA device ({e})");
            None
        }
    }
}

struct Columns {
    kind: Vec<OptionType>,
    spot: Vec<f64>,
    strike: Vec<f64>,
    years: Vec<f64>,
    rate: Vec<f64>,
    dividend_yield: Vec<f64>,
    vol: Vec<f64>,
}

impl Columns {
    /// `n` options from a fixed seed: chain quotes (S 100, K 60–140, a week to two years,
    /// σ 10–80 %), every 7th far out in the tails (1 hour to 5 years, K/S 1/4–4, σ 1–300 %),
    /// and a negative spot and a NaN volatility where the batch is long enough.
    fn new(n: usize, seed: u64) -> Columns {
        let mut u = uniforms(seed);
        let lu = log_uniform;
        let mut c = Columns {
            kind: Vec::with_capacity(n),
            spot: Vec::with_capacity(n),
            strike: Vec::with_capacity(n),
            years: Vec::with_capacity(n),
            rate: Vec::with_capacity(n),
            dividend_yield: Vec::with_capacity(n),
            vol: Vec::with_capacity(n),
        };
        for i in 0..n {
            c.kind.push(if u() < 0.5 {
                OptionType::Call
            } else {
                OptionType::Put
            });
            if i % 7 == 3 {
                let s = lu(u(), 5.0, 2000.0);
                c.spot.push(s);
                c.strike.push(s * lu(u(), 0.25, 4.0));
                c.years.push(lu(u(), 1.0 / 8760.0, 5.0));
                c.vol.push(lu(u(), 0.01, 3.0));
            } else {
                c.spot.push(100.0);
                c.strike.push(60.0 + 80.0 * u());
                c.years.push(lu(u(), 7.0 / 365.0, 2.0));
                c.vol.push(0.1 + 0.7 * u());
            }
            c.rate.push(0.05 * u());
            c.dividend_yield.push(0.03 * u());
        }
        if n > 20 {
            c.spot[5] = -1.0;
            c.vol[17] = f64::NAN;
        }
        c
    }

    fn batch(&self) -> OptionBatch<'_> {
        OptionBatch {
            kind: &self.kind,
            spot: &self.spot,
            strike: &self.strike,
            years: &self.years,
            rate: &self.rate,
            dividend_yield: &self.dividend_yield,
            volatility: &self.vol,
            style: None,
        }
    }

    fn iv_input<'a>(&'a self, price: &'a [f64]) -> IvInput<'a> {
        IvInput {
            kind: &self.kind,
            price,
            spot: &self.spot,
            strike: &self.strike,
            years: &self.years,
            rate: &self.rate,
            dividend_yield: &self.dividend_yield,
            style: None,
        }
    }
}

fn poisoned_greeks(n: usize) -> GreeksBatch {
    GreeksBatch::filled(n, POISON)
}

/// Statuses equal element by element (as text: an error's NaN field is not equal to itself).
fn assert_statuses(got: &[Status], want: &[Status], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if g != w {
            assert_eq!(format!("{g:?}"), format!("{w:?}"), "{what}: element {i}");
        }
    }
}

fn columns(g: &GreeksBatch) -> [&Vec<f64>; 9] {
    [
        &g.price, &g.delta, &g.gamma, &g.vega, &g.theta, &g.rho, &g.vanna, &g.volga, &g.charm,
    ]
}

/// Every status equal, and every value within the CPU kernels' tolerance
/// (1e-13·|v| + 1e-15·max(S, K)); failed elements NaN in both.
fn assert_greeks_match(c: &Columns, got: &GreeksBatch, want: &GreeksBatch, what: &str) {
    assert_statuses(&got.status, &want.status, what);
    for (col, (g, w)) in columns(got).iter().zip(columns(want)).enumerate() {
        for i in 0..w.len() {
            let (a, b) = (g[i], w[i]);
            if !want.status[i].is_ok() {
                assert!(a.is_nan() && b.is_nan(), "{what}: column {col} element {i}");
                continue;
            }
            let tol = 1e-13 * b.abs() + 1e-15 * c.spot[i].max(c.strike[i]);
            assert!(
                (a - b).abs() <= tol,
                "{what}: column {col} element {i}: {a} vs {b}"
            );
        }
    }
}

#[test]
fn greeks_through_the_staging_pipeline_match_the_cpu() {
    let Some(gpu) = gpu() else { return };
    let cpu = Backend::cpu(Some(2)).unwrap();
    for (n, seed) in [(100usize, 1u64), (4_097, 2), (1_100_003, 3)] {
        let c = Columns::new(n, 0x9e37_79b9_7f4a_7c15 ^ seed);
        let want = cpu.greeks(&c.batch()).unwrap();
        // Twice into the same poisoned outputs: the second call reuses the staging buffers.
        for round in 0..2 {
            let mut got = poisoned_greeks(n);
            gpu.greeks_into(&c.batch(), &mut got).unwrap();
            assert_greeks_match(&c, &got, &want, &format!("n {n} round {round}"));
        }
    }
    assert_eq!(gpu.fallbacks(), 0);
}

#[test]
fn iv_and_the_chain_through_the_staging_pipeline_match_the_cpu() {
    let Some(gpu) = gpu() else { return };
    let cpu = Backend::cpu(Some(2)).unwrap();
    for (n, seed) in [(100usize, 4u64), (600_001, 5)] {
        let c = Columns::new(n, 0x2545_f491_4f6c_dd1d ^ seed);
        // Prices from the CPU at the drawn volatilities (failed ones stay NaN: typed errors).
        let price = cpu.greeks(&c.batch()).unwrap().price;
        let input = c.iv_input(&price);
        let want = cpu.implied_volatility(&input).unwrap();
        let mut got = IvBatch {
            implied_volatility: vec![POISON; n],
            status: vec![Status::Ok; n],
        };
        gpu.implied_volatility_into(&input, &mut got).unwrap();
        assert_statuses(&got.status, &want.status, &format!("n {n}: IV"));
        // The same volatility, or (where σ is barely determined by an fp64 price) one that
        // reprices the quote: a wrong column or element would miss both by far.
        let repriced = {
            let b = OptionBatch {
                volatility: &got.implied_volatility,
                ..c.batch()
            };
            cpu.greeks(&b).unwrap().price
        };
        for i in 0..n {
            let (a, b) = (got.implied_volatility[i], want.implied_volatility[i]);
            if !want.status[i].is_ok() {
                assert!(a.is_nan() && b.is_nan(), "n {n} element {i}");
                continue;
            }
            let close = (a - b).abs() <= 1e-9 * b;
            let reprices = (repriced[i] - price[i]).abs() <= 1e-10 * price[i] + 1e-300;
            assert!(close || reprices, "n {n} element {i}: σ {a} vs {b}");
        }
        // IV then price + Greeks, the volatilities staying on the device.
        let mut iv = IvBatch {
            implied_volatility: vec![POISON; n],
            status: vec![Status::Ok; n],
        };
        let mut greeks = poisoned_greeks(n);
        gpu.iv_and_greeks_into(&input, &mut iv, &mut greeks)
            .unwrap();
        assert_statuses(&iv.status, &want.status, &format!("n {n}: chain IV"));
        assert_eq!(
            iv.implied_volatility
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>(),
            got.implied_volatility
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>(),
            "n {n}: the chain's volatilities are the IV batch's"
        );
        let at_iv = OptionBatch {
            volatility: &iv.implied_volatility,
            ..c.batch()
        };
        let mut want_g = cpu.greeks(&at_iv).unwrap();
        for (g, s) in want_g.status.iter_mut().zip(&want.status) {
            if !s.is_ok() {
                *g = s.clone();
            }
        }
        assert_greeks_match(&c, &greeks, &want_g, &format!("n {n}: chain Greeks"));
    }
    assert_eq!(gpu.fallbacks(), 0);
}
