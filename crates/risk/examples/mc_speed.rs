//! Monte Carlo speed: 10 correlated underlyings, 50 options, 21 daily steps, full BSM
//! revaluation at the horizon. `cargo run --release -p wheelhouse-risk --example mc_speed --
//! [paths] [threads] [options] [european|american] [cpu|cuda|auto|compare]` prints seconds
//! and VaR; `compare` runs the CPU and the GPU on the same paths and reports how far apart the
//! P&L of each path and the VaR are, and the GPU's cold and warm times. `mc_numpy.py` next to
//! it runs the same computation in numpy for the side-by-side figure in BENCHMARKS.md.

use std::time::Instant;

use wheelhouse_compute::{Backend, DeviceChoice};
use wheelhouse_risk::mc::{McSettings, benchmark_book, simulate};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let paths: usize = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let threads: Option<usize> = args.get(2).and_then(|s| s.parse().ok());
    let n_options: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(50);
    let american = args.get(4).is_some_and(|s| s == "american");
    let device = args.get(5).map_or("cpu", |s| s.as_str());
    let extra = std::env::var_os("MC_EXTRA").is_some();
    if let Some(t) = threads {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global();
    }
    let (u, c, p) = benchmark_book(n_options);
    let s = McSettings {
        paths,
        horizon_days: 21,
        seed: 42,
        confidence: 0.99,
        vol_shock: 0.0,
        // MC_EXTRA=1: also a vol-of-vol draw and jumps (to compare those paths across devices).
        vol_of_vol: if extra { 0.4 } else { 0.0 },
        jumps: extra.then_some(wheelhouse_risk::mc::Jumps {
            intensity: 2.0,
            mean: -0.04,
            sd: 0.08,
        }),
        american,
        // The figure a user gets: a GPU reduces the run to its tail on the device.
        keep_paths: false,
    };
    let choice = match device {
        "cuda" | "compare" => DeviceChoice::Cuda,
        "auto" => DeviceChoice::Auto,
        _ => DeviceChoice::Cpu,
    };
    let t = Instant::now();
    let b = Backend::with_device(threads, choice).unwrap();
    let open_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let r = simulate(&u, &c, &p, &s, &b).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let accel = b.accelerator();
    println!(
        "{{\"engine\":\"wheelhouse\",\"device\":{:?},\"paths\":{paths},\"threads\":{},\"seconds\":{secs:.4},\"open_seconds\":{open_secs:.4},\"var\":{:.2},\"cvar\":{:.2},\"var_se\":{:.2},\"paths_seconds\":{:.4},\"reduce_seconds\":{:.4},\"tail_paths\":{:?},\"tail_on_device\":{},\"fallbacks\":{}}}",
        accel.as_deref().unwrap_or("cpu"),
        b.threads(),
        r.tail.var,
        r.tail.cvar,
        r.tail.var_standard_error.unwrap_or(f64::NAN),
        r.paths_seconds,
        r.reduce_seconds,
        r.tail_paths,
        r.tail_finished_on_device,
        b.fallbacks()
    );
    if device == "compare" {
        // Ten warm GPU runs, then the CPU on the same paths.
        let mut warm = vec![];
        for _ in 0..10 {
            let t = Instant::now();
            let w = simulate(&u, &c, &p, &s, &b).unwrap();
            warm.push((t.elapsed().as_secs_f64(), w.paths_seconds));
        }
        // The same run with every path brought back: the device's tail reduction must give
        // the bits of VaR/CVaR over all of its paths.
        let keep = McSettings {
            keep_paths: true,
            ..s
        };
        let t = Instant::now();
        let full = simulate(&u, &c, &p, &keep, &b).unwrap();
        let full_secs = t.elapsed().as_secs_f64();
        println!(
            "{{\"tail_reduction\":true,\"full_paths_seconds\":{full_secs:.4},\"tail_equal_bits\":{},\"mean_rel_diff\":{:.3e},\"reduced\":\"{:?}\",\"full\":\"{:?}\"}}",
            format!("{:?}", r.tail) == format!("{:?}", full.tail),
            (r.mean_pnl - full.mean_pnl).abs() / full.mean_pnl.abs().max(1e-300),
            r.tail,
            full.tail
        );
        let r = full;
        let cpu = Backend::cpu(threads).unwrap();
        let t = Instant::now();
        let rc = simulate(&u, &c, &p, &keep, &cpu).unwrap();
        let cpu_secs = t.elapsed().as_secs_f64();
        // Scale of a path's P&L: the book's notional (Σ |quantity| × spot).
        let notional: f64 = p
            .iter()
            .map(|x| x.quantity.abs() * u[x.underlying].spot)
            .sum();
        let (mut worst, mut worst_path) = (0.0f64, 0usize);
        for (j, (a, g)) in rc.pnl.iter().zip(&r.pnl).enumerate() {
            let d = (a - g).abs();
            if d > worst {
                worst = d;
                worst_path = j;
            }
        }
        println!(
            "{{\"compare\":true,\"paths\":{paths},\"gpu_warm_seconds\":{warm:?},\"cpu_seconds\":{cpu_secs:.4},\"gpu_var\":{:.6},\"cpu_var\":{:.6},\"var_rel_diff\":{:.3e},\"cvar_rel_diff\":{:.3e},\"max_path_pnl_abs_diff\":{worst:.3e},\"max_diff_over_notional\":{:.3e},\"worst_path\":{worst_path}}}",
            r.tail.var,
            rc.tail.var,
            (r.tail.var - rc.tail.var).abs() / rc.tail.var.abs(),
            (r.tail.cvar - rc.tail.cvar).abs() / rc.tail.cvar.abs(),
            worst / notional,
        );
    }
}
