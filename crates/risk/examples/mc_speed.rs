//! Monte Carlo speed: 10 correlated underlyings, 50 options, 21 daily steps, full BSM
//! revaluation at the horizon. `cargo run --release -p wheelhouse-risk --example mc_speed --
//! [paths] [threads]` prints seconds and VaR; `mc_numpy.py` next to it runs the same
//! computation in numpy for the side-by-side figure in BENCHMARKS.md.

use std::time::Instant;

use wheelhouse_compute::Backend;
use wheelhouse_core::OptionType;
use wheelhouse_risk::mc::{Holding, McSettings, Position, Underlying, simulate};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let paths: usize = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let threads: Option<usize> = args.get(2).and_then(|s| s.parse().ok());
    let n_options: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(50);
    let american = args.get(4).is_some_and(|s| s == "american");
    if let Some(t) = threads {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global();
    }
    let nu = 10;
    let u: Vec<Underlying> = (0..nu)
        .map(|i| Underlying {
            spot: 50.0 + 10.0 * i as f64,
            vol: 0.2 + 0.02 * i as f64,
            drift: 0.03,
        })
        .collect();
    // Correlation 0.3 everywhere, 0.6 between neighbours.
    let mut c = vec![0.3; nu * nu];
    for i in 0..nu {
        c[i * nu + i] = 1.0;
        if i + 1 < nu {
            c[i * nu + i + 1] = 0.6;
            c[(i + 1) * nu + i] = 0.6;
        }
    }
    let mut p: Vec<Position> = (0..n_options)
        .map(|j| {
            let ui = j % nu;
            let kind = if j % 2 == 0 {
                OptionType::Put
            } else {
                OptionType::Call
            };
            let m = 0.9 + 0.2 * (j as f64 / 49.0);
            Position {
                underlying: ui,
                holding: Holding::Option {
                    kind,
                    strike: (u[ui].spot * m * 100.0).round() / 100.0,
                    years: 0.1 + 0.01 * j as f64,
                    rate: 0.03,
                    dividend_yield: 0.01,
                    vol: u[ui].vol + 0.03,
                },
                quantity: -100.0,
            }
        })
        .collect();
    if p.is_empty() {
        // Paths only: one share of each underlying.
        p = (0..nu)
            .map(|i| Position {
                underlying: i,
                holding: Holding::Stock,
                quantity: 1.0,
            })
            .collect();
    }
    let b = Backend::cpu(threads).unwrap();
    let s = McSettings {
        paths,
        horizon_days: 21,
        seed: 42,
        confidence: 0.99,
        vol_shock: 0.0,
        vol_of_vol: 0.0,
        jumps: None,
        american,
    };
    let t = Instant::now();
    let r = simulate(&u, &c, &p, &s, &b).unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{{\"engine\":\"wheelhouse\",\"paths\":{paths},\"threads\":{},\"seconds\":{secs:.4},\"var\":{:.2},\"cvar\":{:.2},\"var_se\":{:.2}}}",
        b.threads(),
        r.tail.var,
        r.tail.cvar,
        r.tail.var_standard_error.unwrap_or(f64::NAN)
    );
}
