//! On a GPU (each test says "skipped" without one): host batches through the device — the
//! pinned two-lane staging pipeline of `cuda.rs` — against the CPU, for sizes below one chunk,
//! ending mid-chunk and spanning several chunks (both lanes reused), written into outputs
//! poisoned beforehand: every element overwritten, the CPU's status for every element, values
//! within the CPU kernels' tolerance. Inputs are chain-like quotes with far-tail and invalid
//! elements mixed in (the kernels leave those to the CPU reference).

use wheelhouse_compute::cuda::{Accelerator, CudaDevice};
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

/// The IVs of `c` at `price` from the device's host-batch path, into poisoned outputs, against
/// the CPU's `want`: every status the CPU's, and every volatility within `rel` of the CPU's or
/// (where σ is barely determined by an fp64 price) one that reprices the quote — a wrong column
/// or element would miss both by far. Returns the device's batch.
fn iv_through_the_device(
    gpu: &Backend,
    cpu: &Backend,
    c: &Columns,
    price: &[f64],
    want: &IvBatch,
    rel: f64,
) -> IvBatch {
    let n = price.len();
    let mut got = IvBatch {
        implied_volatility: vec![POISON; n],
        status: vec![Status::Ok; n],
    };
    gpu.implied_volatility_into(&c.iv_input(price), &mut got)
        .unwrap();
    assert_statuses(&got.status, &want.status, &format!("n {n}: IV"));
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
        let close = (a - b).abs() <= rel * b;
        let reprices = (repriced[i] - price[i]).abs() <= 1e-10 * price[i] + 1e-300;
        assert!(close || reprices, "n {n} element {i}: σ {a} vs {b}");
    }
    got
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
        let got = iv_through_the_device(&gpu, &cpu, &c, &price, &want, 1e-9);
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

/// Region 1 (far out of the money, σ√T small: h < −12), which `bsm_iv` defers to
/// `bsm_iv_deferred`: a batch of such quotes only (nearly every lane queued) and one
/// spanning several staging chunks with every other quote in region 1 and the rest chain
/// quotes, into poisoned outputs; every status the CPU's, every volatility within 1e-12 of the
/// CPU's or repricing the quote.
#[test]
fn region_1_quotes_through_the_deferred_pass_match_the_cpu() {
    let Some(gpu) = gpu() else { return };
    let cpu = Backend::cpu(Some(2)).unwrap();
    for (n, every, seed) in [(70_001usize, 1usize, 6u64), (1_100_003, 2, 7)] {
        let mut c = Columns::new(n, 0x2545_f491_4f6c_dd1d ^ seed);
        let mut u = uniforms(seed);
        for i in (0..n).step_by(every) {
            // x ≈ −0.19…−0.23 and σ√T 0.009–0.015: h from about −25 to −13.
            let (sigma, s) = (0.12 + 0.03 * u(), 0.009 + 0.006 * u());
            (c.spot[i], c.strike[i], c.years[i], c.vol[i]) =
                (100.0, 121.0 + 5.0 * u(), (s / sigma).powi(2), sigma);
            c.kind[i] = OptionType::Call;
            (c.rate[i], c.dividend_yield[i]) = (0.0, 0.0);
        }
        let price = cpu.greeks(&c.batch()).unwrap().price;
        let input = c.iv_input(&price);
        let want = cpu.implied_volatility(&input).unwrap();
        let region_1_solved = (0..n)
            .step_by(every)
            .filter(|&i| want.status[i].is_ok())
            .count();
        assert!(
            region_1_solved * 10 >= 9 * n.div_ceil(every),
            "n {n}: {region_1_solved} region-1 quotes solved by the CPU"
        );
        iv_through_the_device(&gpu, &cpu, &c, &price, &want, 1e-12);
        // The device itself solved the region-1 quotes (through the deferred pass) rather
        // than leaving them to the CPU: its own list of lanes left over is short.
        let dev = CudaDevice::open(0).unwrap();
        let mut raw = IvBatch {
            implied_volatility: vec![POISON; n],
            status: vec![Status::Ok; n],
        };
        let left = Accelerator::implied_volatility(&dev, &input, &mut raw).unwrap();
        let left_region_1 = left
            .iter()
            .filter(|&&i| i % every == 0 && want.status[i].is_ok())
            .count();
        assert!(
            left_region_1 * 20 <= region_1_solved,
            "n {n}: the device left {left_region_1} of {region_1_solved} region-1 quotes"
        );
    }
    assert_eq!(gpu.fallbacks(), 0);
}

/// A chain's risk in one device call (`Backend::chain_risk`: IV, price + Greeks, the book's
/// volatilities and values gathered on the device, Monte Carlo, tail) against the CPU: the
/// chain's statuses and values as `iv_and_greeks_into` checks them, each position's volatility
/// within 1e-12 of the CPU's (or repricing its quote) and value now within the Greeks
/// tolerance, a position whose quote the device leaves to the CPU (region 1, far out of the
/// money) solved there, and the run's VaR and mean P&L those of the CPU's paths.
#[test]
fn a_chain_risk_run_on_the_device_matches_the_cpu() {
    let Some(gpu) = gpu() else { return };
    let cpu = Backend::cpu(None).unwrap();
    let n = 300_007;
    let mut c = Columns::new(n, 0x5851_f42d_4c95_7f2d);
    // A far out-of-the-money short-dated call (h < −12): the device's initial guess leaves it.
    let far = 10;
    (c.spot[far], c.strike[far], c.years[far], c.vol[far]) = (100.0, 140.0, 0.02, 0.1);
    c.kind[far] = OptionType::Call;
    let price = cpu.greeks(&c.batch()).unwrap().price;
    // Positions on chain quotes (spot 100) spread over the chain, and the far one.
    let mut option_quote: Vec<usize> = (0..n)
        .filter(|&i| c.spot[i] == 100.0 && i % 7 != 3)
        .step_by(6_000)
        .take(49)
        .collect();
    option_quote.push(far);
    let no = option_quote.len();
    let option_underlying = vec![0usize; no];
    let option_quantity: Vec<f64> = (0..no)
        .map(|o| if o % 2 == 0 { -100.0 } else { 100.0 })
        .collect();
    let cb = wheelhouse_compute::ChainBook {
        quotes: c.iv_input(&price),
        spot: &[100.0],
        vol: &[0.3],
        drift: &[0.04],
        cholesky: &[1.0],
        stock_underlying: &[0],
        stock_quantity: &[500.0],
        option_quote: &option_quote,
        option_underlying: &option_underlying,
        option_quantity: &option_quantity,
        seed: 7,
        steps: 21,
        dt: 1.0 / 252.0,
        vol_shock: 0.01,
        vol_of_vol: 0.0,
        jumps: None,
    };
    let spec = wheelhouse_compute::TailSpec {
        confidence: 0.99,
        batches: 20,
    };
    let paths = 200_000;
    let (mut g_iv, mut g_greeks) = (
        IvBatch {
            implied_volatility: vec![POISON; n],
            status: vec![Status::Ok; n],
        },
        poisoned_greeks(n),
    );
    let g = gpu
        .chain_risk(&cb, &mut g_iv, &mut g_greeks, paths, &spec, &mut |_| {})
        .unwrap();
    let (mut c_iv, mut c_greeks) = (IvBatch::default(), GreeksBatch::default());
    let r = cpu
        .chain_risk(&cb, &mut c_iv, &mut c_greeks, paths, &spec, &mut |_| {})
        .unwrap();
    assert!(r.tail.is_none());
    assert_eq!(gpu.fallbacks(), 0, "the device ran the chain");
    assert_statuses(&g_iv.status, &c_iv.status, "chain risk: IV");
    // The chain's volatilities: the CPU's, or (where an fp64 price barely determines σ) one
    // that reprices the quote.
    let repriced = {
        let b = OptionBatch {
            volatility: &g_iv.implied_volatility,
            ..c.batch()
        };
        cpu.greeks(&b).unwrap().price
    };
    for i in 0..n {
        let (a, b) = (g_iv.implied_volatility[i], c_iv.implied_volatility[i]);
        if !c_iv.status[i].is_ok() {
            assert!(a.is_nan() && b.is_nan(), "chain risk: element {i}");
            continue;
        }
        let close = (a - b).abs() <= 1e-9 * b;
        let reprices = (repriced[i] - price[i]).abs() <= 1e-10 * price[i] + 1e-300;
        assert!(close || reprices, "chain risk: element {i}: σ {a} vs {b}");
    }
    let at_iv = OptionBatch {
        volatility: &g_iv.implied_volatility,
        ..c.batch()
    };
    let mut want_g = cpu.greeks(&at_iv).unwrap();
    for (w, s) in want_g.status.iter_mut().zip(&c_iv.status) {
        if !s.is_ok() {
            *w = s.clone();
        }
    }
    assert_greeks_match(&c, &g_greeks, &want_g, "chain risk: Greeks");
    let (gc, cc) = (&g.columns, &r.columns);
    for (o, &q) in option_quote.iter().enumerate() {
        let (a, b) = (gc.vol[o], cc.vol[o]);
        assert!(
            (a - b).abs() <= 1e-12 * b,
            "position {o} (quote {q}): σ {a} vs {b}"
        );
        let (a, b) = (gc.value_now[o], cc.value_now[o]);
        assert!(
            (a - b).abs() <= 1e-13 * b.abs() + 1e-15 * c.strike[q],
            "position {o} (quote {q}): value {a} vs {b}"
        );
    }
    // The run against the CPU's paths: VaR (the ⌈α·m⌉-th smallest loss) and the mean.
    let mut pnl = vec![0.0; paths];
    cpu.mc_pnl(&cb.book(cc), 0, &mut pnl).unwrap();
    let mut loss: Vec<f64> = pnl.iter().map(|p| -p).collect();
    loss.sort_by(f64::total_cmp);
    let k = ((spec.confidence * paths as f64).ceil() as usize).max(1);
    let cpu_var = loss[k - 1];
    let tail = g.tail.expect("the device's tail");
    let gpu_var = match tail.rows.last() {
        Some(row) => row.var,
        None => {
            let mut l: Vec<f64> = tail.pnl.iter().map(|p| -p).collect();
            l.sort_by(f64::total_cmp);
            l[l.len() - (paths - k) - 1]
        }
    };
    let scale = 500.0 * 100.0;
    assert!(
        (gpu_var - cpu_var).abs() <= 1e-9 * scale,
        "VaR {gpu_var} vs the CPU's {cpu_var}"
    );
    let (gm, cm) = (
        tail.pnl_sum / paths as f64,
        pnl.iter().sum::<f64>() / paths as f64,
    );
    assert!((gm - cm).abs() <= 1e-9 * scale, "mean P&L {gm} vs {cm}");
    eprintln!(
        "chain risk: {n} quotes, {no} positions, {paths} paths: VaR {gpu_var} (CPU {cpu_var}), \
         mean {gm} (CPU {cm})"
    );
}
