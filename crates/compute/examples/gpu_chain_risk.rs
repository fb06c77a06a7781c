//! A chain's risk in one call against the same work in separate calls and on the CPU: the
//! implied volatility of every quote of a chain (spot 100, the `chain` mix), price + Greeks at
//! it, and a Monte Carlo run (21 daily steps, 99 % VaR with batch-means errors) of a book of
//! short and long options on quotes of that chain plus shares.
//!
//! * `chain_risk`: `Backend::chain_risk`, one call (with `WHEELHOUSE_GPU_STAGING=0`: the
//!   chain's columns kept whole on the device and the positions' values gathered there);
//! * `separate`: `iv_and_greeks_into`, the book assembled on the host from its outputs, then
//!   `mc_tail`;
//! * `cpu`: the same on the CPU pool, with the paths' P&L reduced on the host.
//!
//! `gpu_chain_risk [quotes=1000000] [paths=1000000] [positions=50] [threads] [reps=5]` prints
//! one JSON line: best seconds of each and the agreement of the VaR and the positions'
//! volatilities.

use std::time::Instant;
use wheelhouse_compute::{
    Backend, ChainBook, DeviceChoice, GreeksBatch, IvBatch, IvInput, McTail, OptionBatch, TailSpec,
};

#[path = "common/mod.rs"]
mod common;

fn best<R>(reps: usize, mut f: impl FnMut() -> R) -> (f64, R) {
    let mut b = f64::INFINITY;
    let mut last = None;
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        let r = f();
        b = b.min(t.elapsed().as_secs_f64());
        last = Some(r);
    }
    (b, last.expect("one run"))
}

/// VaR of a device tail (the whole run's row, or the host's finish of the kept paths).
fn var_of(t: &McTail, confidence: f64) -> f64 {
    if let Some(r) = t.rows.last() {
        return r.var;
    }
    let k = ((confidence * t.paths as f64).ceil() as usize).max(1);
    let mut l: Vec<f64> = t.pnl.iter().map(|p| -p).collect();
    l.sort_by(f64::total_cmp);
    l[l.len() - (t.paths - k) - 1]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (n, paths, positions) = (arg(1, 1_000_000), arg(2, 1_000_000), arg(3, 50));
    let threads = args.get(4).and_then(|s| s.parse().ok());
    let reps = arg(5, 5);
    let c = common::Columns::generate(n, true);
    let cpu = Backend::cpu(threads).expect("cpu");
    let gpu = Backend::with_device(threads, DeviceChoice::Cuda)
        .expect("a CUDA device")
        .force_device();
    let batch = OptionBatch {
        kind: &c.kind,
        spot: &c.spot,
        strike: &c.strike,
        years: &c.years,
        rate: &c.rate,
        dividend_yield: &c.dividend_yield,
        volatility: &c.volatility,
        style: None,
    };
    let price = cpu.greeks(&batch).expect("prices").price;
    let quotes = IvInput {
        kind: &c.kind,
        price: &price,
        spot: &c.spot,
        strike: &c.strike,
        years: &c.years,
        rate: &c.rate,
        dividend_yield: &c.dividend_yield,
        style: None,
    };
    // Positions on quotes spread over the chain, strikes 80–120, a month or more.
    let option_quote: Vec<usize> = (0..n)
        .filter(|&i| (c.strike[i] - 100.0).abs() <= 20.0 && c.years[i] >= 30.0 / 365.0)
        .step_by((n / (2 * positions.max(1))).max(1))
        .take(positions)
        .collect();
    let no = option_quote.len();
    let option_underlying = vec![0usize; no];
    let option_quantity: Vec<f64> = (0..no)
        .map(|o| if o % 3 == 0 { 100.0 } else { -100.0 })
        .collect();
    let chain = ChainBook {
        quotes,
        spot: &[100.0],
        vol: &[0.3],
        drift: &[0.04],
        cholesky: &[1.0],
        stock_underlying: &[0],
        stock_quantity: &[1000.0],
        option_quote: &option_quote,
        option_underlying: &option_underlying,
        option_quantity: &option_quantity,
        seed: 11,
        steps: 21,
        dt: 1.0 / 252.0,
        vol_shock: 0.0,
        vol_of_vol: 0.0,
        jumps: None,
    };
    let spec = TailSpec {
        confidence: 0.99,
        batches: 20,
    };
    let (mut iv, mut greeks) = (IvBatch::default(), GreeksBatch::default());
    // Warm: the device, its kernels and the staging buffers.
    let _ = gpu.chain_risk(&chain, &mut iv, &mut greeks, paths, &spec, &mut |_| {});
    let (resident_s, resident) = best(reps, || {
        gpu.chain_risk(&chain, &mut iv, &mut greeks, paths, &spec, &mut |_| {})
            .expect("chain risk")
    });
    let resident_var = var_of(resident.tail.as_ref().expect("device tail"), 0.99);
    let (separate_s, (separate_var, separate_cols)) = best(reps, || {
        gpu.iv_and_greeks_into(&chain.quotes, &mut iv, &mut greeks)
            .expect("chain");
        let mut cols = resident.columns.clone();
        for (o, &q) in option_quote.iter().enumerate() {
            cols.vol[o] = iv.implied_volatility[q];
            cols.value_now[o] = greeks.price[q];
        }
        let t = gpu
            .mc_tail(&chain.book(&cols), paths, &spec, &mut |_| {})
            .expect("book")
            .expect("device tail");
        (var_of(&t, 0.99), cols)
    });
    let cpu_reps = if n * paths > 100_000_000_000 {
        1
    } else {
        reps.min(2)
    };
    let (cpu_s, (cpu_var, cpu_cols)) = best(cpu_reps, || {
        let r = cpu
            .chain_risk(&chain, &mut iv, &mut greeks, paths, &spec, &mut |_| {})
            .expect("cpu chain");
        let mut pnl = vec![0.0; paths];
        cpu.mc_pnl(&chain.book(&r.columns), 0, &mut pnl)
            .expect("paths");
        let k = ((0.99 * paths as f64).ceil() as usize).max(1);
        let mut l: Vec<f64> = pnl.iter().map(|p| -p).collect();
        l.select_nth_unstable_by(k - 1, f64::total_cmp);
        (l[k - 1], r.columns)
    });
    let vol_diff = resident
        .columns
        .vol
        .iter()
        .zip(&cpu_cols.vol)
        .map(|(a, b)| (a - b).abs() / b)
        .fold(0.0f64, f64::max);
    let same_as_separate = resident.columns == separate_cols;
    println!(
        "{{\"quotes\":{n},\"paths\":{paths},\"positions\":{no},\"cpu_threads\":{},\"chain_risk_s\":{resident_s:.6},\"separate_s\":{separate_s:.6},\"cpu_s\":{cpu_s:.6},\"separate_over_chain_risk\":{:.3},\"cpu_over_chain_risk\":{:.2},\"var_chain_risk\":{resident_var},\"var_separate\":{separate_var},\"var_cpu\":{cpu_var},\"var_rel_diff_cpu\":{:.3e},\"position_vol_max_rel_diff_cpu\":{vol_diff:.3e},\"columns_same_as_separate\":{same_as_separate},\"fallbacks\":{}}}",
        cpu.threads(),
        separate_s / resident_s,
        cpu_s / resident_s,
        (resident_var - cpu_var).abs() / cpu_var.abs().max(1e-300),
        gpu.fallbacks()
    );
}
