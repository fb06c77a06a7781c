//! The fp32 mode of price + Greeks against fp64, on one batch: the resident kernels (fp32 and
//! fp64, each beside its memory floor), end to end from host columns into reused outputs
//! (GPU fp32, CPU fp32 — the fp64 reference rounded —, CPU fp64), and the fp32 kernel's worst
//! error per column against the rounded reference.
//!
//! `gpu_f32 [n] [threads] [chain|random]` (prints JSON lines).

use std::time::Instant;
use wheelhouse_compute::cuda::CudaDevice;
use wheelhouse_compute::single::f32_errors;
use wheelhouse_compute::{
    Backend, DeviceChoice, GreeksBatch, GreeksBatchF32, OptionBatch, OptionBatchF32,
};

#[path = "common/mod.rs"]
mod common;

fn best(reps: usize, mut f: impl FnMut()) -> f64 {
    let mut b = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        f();
        b = b.min(t.elapsed().as_secs_f64());
    }
    b
}

#[allow(clippy::needless_range_loop)] // one element of several columns at a time
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let threads: Option<usize> = args.get(2).and_then(|s| s.parse().ok());
    let chain = args.get(3).is_none_or(|m| m == "chain");
    let c = common::Columns::generate(n, chain);
    let narrow = |v: &[f64]| v.iter().map(|x| *x as f32).collect::<Vec<f32>>();
    let f = [
        narrow(&c.spot),
        narrow(&c.strike),
        narrow(&c.years),
        narrow(&c.rate),
        narrow(&c.dividend_yield),
        narrow(&c.volatility),
    ];
    let b32 = OptionBatchF32 {
        kind: &c.kind,
        spot: &f[0],
        strike: &f[1],
        years: &f[2],
        rate: &f[3],
        dividend_yield: &f[4],
        volatility: &f[5],
    };
    // The fp64 batch of the same (widened) values, so both modes price identical options.
    let w: Vec<Vec<f64>> = f
        .iter()
        .map(|col| col.iter().map(|x| f64::from(*x)).collect())
        .collect();
    let b64 = OptionBatch {
        kind: &c.kind,
        spot: &w[0],
        strike: &w[1],
        years: &w[2],
        rate: &w[3],
        dividend_yield: &w[4],
        volatility: &w[5],
        style: None,
    };
    let dev = CudaDevice::open(0).expect("device");
    let t32 = dev
        .time_resident_greeks_f32(&b32, 10)
        .expect("resident fp32");
    let t64 = dev.time_resident_greeks(&b64, 10).expect("resident fp64");
    let mix = if chain { "chain" } else { "random" };
    println!(
        "{{\"mix\":\"{mix}\",\"n\":{n},\"resident_f32_s\":{:.6},\"floor_f32_s\":{:.6},\"f32_of_floor\":{:.3},\"f32_options_per_s\":{:.4e},\"resident_f64_s\":{:.6},\"floor_f64_s\":{:.6},\"f64_over_f32\":{:.3}}}",
        t32.kernel_seconds,
        t32.floor_seconds,
        t32.floor_seconds / t32.kernel_seconds,
        n as f64 / t32.kernel_seconds,
        t64.kernel_seconds,
        t64.floor_seconds,
        t64.kernel_seconds / t32.kernel_seconds
    );
    let gpu = Backend::with_device(threads, DeviceChoice::Cuda)
        .expect("gpu backend")
        .force_device();
    let cpu = Backend::cpu(threads).expect("pool");
    let mut g32 = GreeksBatchF32::default();
    let mut c32 = GreeksBatchF32::default();
    let mut c64 = GreeksBatch::default();
    let gpu_f32_s = best(3, || gpu.greeks_f32_into(&b32, &mut g32).expect("gpu f32"));
    let cpu_f32_s = best(3, || cpu.greeks_f32_into(&b32, &mut c32).expect("cpu f32"));
    let cpu_f64_s = best(3, || cpu.greeks_into(&b64, &mut c64).expect("cpu f64"));
    let mut worst = [0.0f64; 9];
    let mut status_mismatch = 0usize;
    for i in 0..n {
        if g32.status[i].is_ok() != c64.status[i].is_ok() {
            status_mismatch += 1;
            continue;
        }
        if !c64.status[i].is_ok() {
            continue;
        }
        let err = f32_errors(
            g32.columns().map(|c| f64::from(c[i])),
            c64.columns().map(|c| c[i]),
            w[0][i],
            w[1][i],
            w[2][i],
            w[5][i],
        );
        for (wc, e) in worst.iter_mut().zip(err) {
            *wc = wc.max(e);
        }
    }
    println!(
        "{{\"mix\":\"{mix}\",\"n\":{n},\"cpu_threads\":{},\"gpu_f32_s\":{gpu_f32_s:.4},\"cpu_f32_s\":{cpu_f32_s:.4},\"cpu_f64_s\":{cpu_f64_s:.4},\"status_mismatch\":{status_mismatch},\"worst_err_over_value_plus_1e-3_scale\":{worst:?}}}",
        cpu.threads()
    );
}
