//! GPU vs CPU American options (Andersen–Lake–Offengenden): price + Greeks, prices alone, and
//! implied volatilities of a batch of American options, end to end (host columns in, host
//! columns out) on the CPU pool and through the device, with the agreement of every element.
//!
//! `gpu_american [sizes] [threads] [chain|random] [fast|accurate] [cpu_max]` prints one JSON
//! line per size and task; sizes comma-separated (default 1000,10000,100000); the CPU runs
//! sizes up to `cpu_max` (default 100000). With `RUST_LOG=debug` the backend logs each device
//! batch's upload and kernel times and what it left to the CPU.

use std::time::Instant;
use wheelhouse_compute::{Backend, DeviceChoice, IvInput, OptionBatch};
use wheelhouse_core::ExerciseStyle;
use wheelhouse_pricing::american::AmericanSettings;

#[path = "common/mod.rs"]
mod common;

/// Best seconds of `reps` runs of `f`, and its last result.
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

fn main() {
    // `RUST_LOG=debug`: the backend's timings (upload, kernels) per device batch on stderr.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let args: Vec<String> = std::env::args().collect();
    let sizes: Vec<usize> = args
        .get(1)
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000]);
    let threads: Option<usize> = args.get(2).and_then(|s| s.parse().ok());
    let chain = args.get(3).is_none_or(|m| m == "chain");
    let settings = if args.get(4).is_some_and(|m| m == "fast") {
        AmericanSettings::FAST
    } else {
        AmericanSettings::ACCURATE
    };
    let cpu_max: usize = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let nmax = sizes.iter().copied().max().unwrap_or(0);
    let c = common::Columns::generate(nmax, chain);
    let style = vec![ExerciseStyle::American; nmax];
    let cpu = Backend::cpu(threads)
        .expect("pool")
        .with_american_settings(settings);
    let t0 = Instant::now();
    let gpu = match Backend::with_device(threads, DeviceChoice::Cuda) {
        Ok(b) => b.force_device().with_american_settings(settings),
        Err(e) => {
            eprintln!("no CUDA device: {e}");
            std::process::exit(2);
        }
    };
    let open_s = t0.elapsed().as_secs_f64();
    // The first American batch compiles the kernels for these settings (or reads the cache).
    let tiny = OptionBatch {
        kind: &c.kind[..1],
        spot: &c.spot[..1],
        strike: &c.strike[..1],
        years: &c.years[..1],
        rate: &c.rate[..1],
        dividend_yield: &c.dividend_yield[..1],
        volatility: &c.volatility[..1],
        style: Some(&style[..1]),
    };
    let t1 = Instant::now();
    gpu.prices(&tiny).expect("first batch");
    let first_s = t1.elapsed().as_secs_f64();
    println!(
        "{{\"device\":{:?},\"open_s\":{open_s:.4},\"first_american_batch_s\":{first_s:.4},\"settings\":\"{:?}\",\"threads\":{}}}",
        gpu.accelerator().unwrap_or_default(),
        settings,
        cpu.threads()
    );
    let mix = if chain { "chain" } else { "random" };
    for &n in &sizes {
        let batch = OptionBatch {
            kind: &c.kind[..n],
            spot: &c.spot[..n],
            strike: &c.strike[..n],
            years: &c.years[..n],
            rate: &c.rate[..n],
            dividend_yield: &c.dividend_yield[..n],
            volatility: &c.volatility[..n],
            style: Some(&style[..n]),
        };
        let reps = if n <= 10_000 { 5 } else { 2 };
        let run_cpu = n <= cpu_max;
        // Price + Greeks.
        let (g_gpu_s, g_gpu) = best(reps, || gpu.greeks(&batch).expect("gpu greeks"));
        let (mut g_cpu_s, mut worst, mut status_diff) = (f64::NAN, 0.0f64, 0usize);
        if run_cpu {
            let (s, g_cpu) = best(1, || cpu.greeks(&batch).expect("cpu greeks"));
            g_cpu_s = s;
            for i in 0..n {
                if g_cpu.status[i].is_ok() != g_gpu.status[i].is_ok() {
                    status_diff += 1;
                } else if g_cpu.status[i].is_ok() {
                    worst = worst.max((g_cpu.price[i] - g_gpu.price[i]).abs() / batch.strike[i]);
                }
            }
        }
        println!(
            "{{\"task\":\"american_greeks\",\"mix\":\"{mix}\",\"n\":{n},\"gpu_s\":{g_gpu_s:.6},\"cpu_s\":{g_cpu_s:.6},\"gpu_options_per_s\":{:.0},\"speedup\":{:.2},\"price_max_err_over_strike\":{worst:e},\"status_mismatches\":{status_diff}}}",
            n as f64 / g_gpu_s,
            g_cpu_s / g_gpu_s
        );
        // Prices alone.
        let (p_gpu_s, (p_gpu, _)) = best(reps, || gpu.prices(&batch).expect("gpu prices"));
        let mut p_cpu_s = f64::NAN;
        let mut prices = p_gpu.clone();
        if run_cpu {
            let (s, (p_cpu, _)) = best(1, || cpu.prices(&batch).expect("cpu prices"));
            p_cpu_s = s;
            prices = p_cpu;
        }
        println!(
            "{{\"task\":\"american_price\",\"mix\":\"{mix}\",\"n\":{n},\"gpu_s\":{p_gpu_s:.6},\"cpu_s\":{p_cpu_s:.6},\"gpu_options_per_s\":{:.0},\"speedup\":{:.2}}}",
            n as f64 / p_gpu_s,
            p_cpu_s / p_gpu_s
        );
        // Implied volatilities of those prices.
        let input = IvInput {
            kind: batch.kind,
            price: &prices,
            spot: batch.spot,
            strike: batch.strike,
            years: batch.years,
            rate: batch.rate,
            dividend_yield: batch.dividend_yield,
            style: batch.style,
        };
        let (i_gpu_s, iv_gpu) = best(reps, || {
            gpu.implied_volatility(&input)
                .expect("gpu implied volatility")
        });
        let (mut i_cpu_s, mut worst, mut status_diff) = (f64::NAN, 0.0f64, 0usize);
        if run_cpu {
            let (s, iv_cpu) = best(1, || cpu.implied_volatility(&input).expect("cpu iv"));
            i_cpu_s = s;
            for i in 0..n {
                if iv_cpu.status[i].is_ok() != iv_gpu.status[i].is_ok() {
                    status_diff += 1;
                } else if iv_cpu.status[i].is_ok() {
                    let (a, b) = (iv_cpu.implied_volatility[i], iv_gpu.implied_volatility[i]);
                    worst = worst.max((a - b).abs() / a);
                }
            }
        }
        println!(
            "{{\"task\":\"american_iv\",\"mix\":\"{mix}\",\"n\":{n},\"gpu_s\":{i_gpu_s:.6},\"cpu_s\":{i_cpu_s:.6},\"gpu_options_per_s\":{:.0},\"speedup\":{:.2},\"iv_max_rel_err\":{worst:e},\"status_mismatches\":{status_diff}}}",
            n as f64 / i_gpu_s,
            i_cpu_s / i_gpu_s
        );
    }
}
