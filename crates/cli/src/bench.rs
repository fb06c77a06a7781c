//! `wheelhouse bench pricing`: our batch engines and the installed peers on the same inputs,
//! in the same run, with ratios.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, anyhow};
use clap::{Args, ValueEnum};
use rayon::prelude::*;
use serde::Serialize;
use wheelhouse_compute::{Backend, IvInput, OptionBatch};
use wheelhouse_pricing::american::AmericanSettings;
use wheelhouse_pricing::{ExerciseStyle, OptionType};

use crate::table::print_aligned;
use crate::{EXIT_OK, Exit, Format};

const PEERS_PY: &str = include_str!("peers.py");

/// What to benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Suite {
    /// Price + Greeks, implied volatility and American pricing.
    Pricing,
}

/// `wheelhouse bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The suite to run.
    #[arg(value_enum)]
    suite: Suite,
    /// Batch sizes (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1000,10000,100000,1000000,10000000"
    )]
    sizes: Vec<usize>,
    /// Largest batch for the American engine (it is ~1000× slower per option).
    #[arg(long, default_value_t = 100_000)]
    american_max: usize,
    /// Seconds to spend on each measurement (best of repeated runs).
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
    /// Skip the peers (numpy+scipy, numba, QuantLib via python3; the implied-vol crate).
    #[arg(long)]
    no_peers: bool,
    /// Random seed of the inputs.
    #[arg(long, default_value_t = 20_261_122)]
    seed: u64,
}

#[derive(Debug, Clone, Serialize)]
struct Row {
    task: String,
    engine: String,
    n: usize,
    threads: usize,
    per_sec: f64,
    /// ours / peer for peer rows, empty for ours.
    ratio_vs_peer: Option<f64>,
    note: String,
}

/// Fixed-seed inputs over the ranges: T 1 h–5 y (log-uniform), K/S 0.25–4
/// (log-uniform), σ 1 %–300 % (log-uniform), r −1 %–10 %, q 0–6 %.
struct Inputs {
    kind: Vec<OptionType>,
    spot: Vec<f64>,
    strike: Vec<f64>,
    years: Vec<f64>,
    rate: Vec<f64>,
    dividend_yield: Vec<f64>,
    volatility: Vec<f64>,
}

struct SplitMix(u64);
impl SplitMix {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
    fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + (hi.ln() - lo.ln()) * self.next()).exp()
    }
}

fn inputs(n: usize, seed: u64) -> Inputs {
    let mut g = SplitMix(seed);
    let mut x = Inputs {
        kind: Vec::with_capacity(n),
        spot: Vec::with_capacity(n),
        strike: Vec::with_capacity(n),
        years: Vec::with_capacity(n),
        rate: Vec::with_capacity(n),
        dividend_yield: Vec::with_capacity(n),
        volatility: Vec::with_capacity(n),
    };
    for _ in 0..n {
        let s = 100.0;
        x.kind.push(if g.next() < 0.5 {
            OptionType::Call
        } else {
            OptionType::Put
        });
        x.spot.push(s);
        x.strike.push(s * g.log_uniform(0.25, 4.0));
        x.years.push(g.log_uniform(1.0 / 8760.0, 5.0));
        x.rate.push(-0.01 + 0.11 * g.next());
        x.dividend_yield.push(0.06 * g.next());
        x.volatility.push(g.log_uniform(0.01, 3.0));
    }
    x
}

fn best_of(seconds: f64, mut f: impl FnMut()) -> f64 {
    let mut best = f64::INFINITY;
    let start = Instant::now();
    let mut reps = 0;
    while reps < 2 || (start.elapsed().as_secs_f64() < seconds && reps < 1000) {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
        reps += 1;
    }
    best
}

fn batch<'a>(x: &'a Inputs, n: usize, style: Option<&'a [ExerciseStyle]>) -> OptionBatch<'a> {
    OptionBatch {
        kind: &x.kind[..n],
        spot: &x.spot[..n],
        strike: &x.strike[..n],
        years: &x.years[..n],
        rate: &x.rate[..n],
        dividend_yield: &x.dividend_yield[..n],
        volatility: &x.volatility[..n],
        style,
    }
}

fn implied_vol_crate(price: f64, x: &Inputs, i: usize) -> Option<f64> {
    let t = x.years[i];
    let fwd = x.spot[i] * ((x.rate[i] - x.dividend_yield[i]) * t).exp();
    let undiscounted = price * (x.rate[i] * t).exp();
    implied_vol::ImpliedBlackVolatility::builder()
        .option_price(undiscounted)
        .forward(fwd)
        .strike(x.strike[i])
        .expiry(t)
        .is_call(x.kind[i] == OptionType::Call)
        .build()?
        .calculate::<implied_vol::DefaultSpecialFn>()
}

/// Runs the suite and prints the report.
pub fn run(args: BenchArgs, format: Option<Format>, threads: Option<usize>) -> Result<u8, Exit> {
    let Suite::Pricing = args.suite;
    let all =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let thread_counts: Vec<usize> = if all > 1 { vec![1, all] } else { vec![1] };
    let nmax = args.sizes.iter().copied().max().unwrap_or(0);
    let x = inputs(nmax, args.seed);
    let mut rows: Vec<Row> = Vec::new();
    let ours = |rows: &mut Vec<Row>,
                task: &str,
                engine: &str,
                n: usize,
                threads: usize,
                per_sec: f64,
                note: &str| {
        eprintln!(
            "  {task:<10} {engine:<34} n={n:<9} threads={threads} {:>10.3} M/s",
            per_sec / 1e6
        );
        rows.push(Row {
            task: task.into(),
            engine: engine.into(),
            n,
            threads,
            per_sec,
            ratio_vs_peer: None,
            note: note.into(),
        });
    };
    let american_settings = [
        ("accurate", AmericanSettings::ACCURATE),
        ("fast", AmericanSettings::FAST),
    ];
    let american_style = vec![ExerciseStyle::American; args.american_max.min(nmax)];
    // Prices for the IV runs (European, from the same inputs).
    let pricer = Backend::cpu(Some(all)).map_err(anyhow::Error::from)?;
    let prices = pricer
        .greeks(&batch(&x, nmax, None))
        .map_err(anyhow::Error::from)?
        .price;
    for &n in &args.sizes {
        for &t in &thread_counts {
            let be = Backend::cpu(Some(t)).map_err(anyhow::Error::from)?;
            let b = batch(&x, n, None);
            let secs = best_of(args.seconds, || {
                std::hint::black_box(be.greeks(&b).ok());
            });
            ours(
                &mut rows,
                "greeks",
                "wheelhouse",
                n,
                t,
                n as f64 / secs,
                "price + 8 Greeks, f64",
            );
            let iv_in = IvInput {
                kind: &x.kind[..n],
                price: &prices[..n],
                spot: &x.spot[..n],
                strike: &x.strike[..n],
                years: &x.years[..n],
                rate: &x.rate[..n],
                dividend_yield: &x.dividend_yield[..n],
                style: None,
            };
            let secs = best_of(args.seconds, || {
                std::hint::black_box(be.implied_volatility(&iv_in).ok());
            });
            ours(
                &mut rows,
                "iv",
                "wheelhouse",
                n,
                t,
                n as f64 / secs,
                "European, Let's Be Rational class",
            );
            if !args.no_peers {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(t)
                    .build()
                    .context("thread pool")?;
                let secs = best_of(args.seconds, || {
                    pool.install(|| {
                        let v: Vec<Option<f64>> = (0..n)
                            .into_par_iter()
                            .map(|i| implied_vol_crate(prices[i], &x, i))
                            .collect();
                        std::hint::black_box(v);
                    });
                });
                ours(
                    &mut rows,
                    "iv",
                    "implied-vol crate 2.1 (peer)",
                    n,
                    t,
                    n as f64 / secs,
                    "same inputs, rayon",
                );
            }
            if n <= args.american_max {
                for (name, s) in american_settings {
                    let be = Backend::cpu(Some(t))
                        .map_err(anyhow::Error::from)?
                        .with_american_settings(s);
                    let b = batch(&x, n, Some(&american_style[..n]));
                    let secs = best_of(args.seconds, || {
                        std::hint::black_box(be.greeks(&b).ok());
                    });
                    ours(
                        &mut rows,
                        "american",
                        &format!("wheelhouse ALO {name} (+Greeks)"),
                        n,
                        t,
                        n as f64 / secs,
                        "price + all Greeks",
                    );
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(t)
                        .build()
                        .context("thread pool")?;
                    let secs = best_of(args.seconds, || {
                        pool.install(|| {
                            let v: Vec<_> = (0..n)
                                .into_par_iter()
                                .with_min_len(64)
                                .map(|i| {
                                    let inp = wheelhouse_pricing::BsmInputs {
                                        kind: x.kind[i],
                                        spot: x.spot[i],
                                        strike: x.strike[i],
                                        years: x.years[i],
                                        rate: x.rate[i],
                                        dividend_yield: x.dividend_yield[i],
                                        volatility: x.volatility[i],
                                    };
                                    wheelhouse_pricing::american::american_price(&inp, &s).ok()
                                })
                                .collect();
                            std::hint::black_box(v);
                        });
                    });
                    ours(
                        &mut rows,
                        "american",
                        &format!("wheelhouse ALO {name} (price)"),
                        n,
                        t,
                        n as f64 / secs,
                        "price only",
                    );
                }
            }
        }
        if !args.no_peers {
            let tasks = if n <= args.american_max {
                "greeks,american"
            } else {
                "greeks"
            };
            for r in python_peers(&x, &prices, n, all, tasks)? {
                eprintln!(
                    "  {:<10} {:<34} n={:<9} threads={} {:>10.3} M/s",
                    r.task,
                    r.engine,
                    r.n,
                    r.threads,
                    r.per_sec / 1e6
                );
                rows.push(r);
            }
        }
    }
    // Ratios: every peer row against our row of the same task, n and threads.
    let ours_rows: Vec<Row> = rows
        .iter()
        .filter(|r| r.engine.starts_with("wheelhouse"))
        .cloned()
        .collect();
    for r in rows
        .iter_mut()
        .filter(|r| !r.engine.starts_with("wheelhouse"))
    {
        let mine = ours_rows
            .iter()
            .filter(|o| {
                o.task == r.task && o.threads == r.threads && (o.n == r.n || r.task == "american")
            })
            .filter(|o| r.task != "american" || o.engine.contains("accurate (price)"))
            .map(|o| o.per_sec)
            .next();
        r.ratio_vs_peer = mine.map(|m| m / r.per_sec);
    }
    report(&rows, format.unwrap_or(Format::Table))?;
    Ok(EXIT_OK)
}

fn python_peers(
    x: &Inputs,
    prices: &[f64],
    n: usize,
    threads: usize,
    tasks: &str,
) -> Result<Vec<Row>, Exit> {
    let dir = std::env::temp_dir().join(format!("wheelhouse-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let kind: Vec<f64> = x.kind[..n].iter().map(|k| k.sign()).collect();
    let cols: [(&str, &[f64]); 8] = [
        ("kind", &kind),
        ("spot", &x.spot[..n]),
        ("strike", &x.strike[..n]),
        ("years", &x.years[..n]),
        ("rate", &x.rate[..n]),
        ("dividend_yield", &x.dividend_yield[..n]),
        ("volatility", &x.volatility[..n]),
        ("price", &prices[..n]),
    ];
    for (name, v) in cols {
        write_f64(&dir.join(format!("{name}.f64")), v)?;
    }
    let out = Command::new("python3")
        .arg("-")
        .arg(&dir)
        .arg(n.to_string())
        .arg(threads.to_string())
        .arg(tasks)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(PEERS_PY.as_bytes())?;
            }
            child.wait_with_output()
        });
    let _ = std::fs::remove_dir_all(&dir);
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(error = %e, "python3 not runnable; skipping python peers");
            return Ok(Vec::new());
        }
    };
    if !out.status.success() {
        tracing::warn!(stderr = %String::from_utf8_lossy(&out.stderr), "python peers failed");
    }
    let mut rows = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| anyhow!("peer output {line:?}: {e}"))?;
        if v.get("status").is_some() {
            eprintln!(
                "  peer {}: {}",
                v["peer"].as_str().unwrap_or("?"),
                v["status"].as_str().unwrap_or("?")
            );
            continue;
        }
        rows.push(Row {
            task: v["task"].as_str().unwrap_or("").into(),
            engine: format!("{} (peer)", v["peer"].as_str().unwrap_or("")),
            n: v["n"].as_u64().unwrap_or(0) as usize,
            threads: v["threads"].as_u64().unwrap_or(1) as usize,
            per_sec: v["per_sec"].as_f64().unwrap_or(f64::NAN),
            ratio_vs_peer: None,
            note: v["note"].as_str().unwrap_or("").into(),
        });
    }
    Ok(rows)
}

fn write_f64(path: &Path, v: &[f64]) -> Result<(), Exit> {
    let mut bytes = Vec::with_capacity(v.len() * 8);
    for x in v {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn report(rows: &[Row], format: Format) -> Result<(), Exit> {
    let mut w = std::io::stdout().lock();
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut w, rows).context("cannot write output")?;
            writeln!(w).context("cannot write output")?;
        }
        Format::Csv => {
            let mut wr = csv::Writer::from_writer(w);
            for r in rows {
                wr.serialize(r).context("cannot write output")?;
            }
            wr.flush().context("cannot write output")?;
        }
        Format::Table => {
            let header: Vec<String> = [
                "task",
                "engine",
                "n",
                "threads",
                "M/s",
                "ours ÷ peer",
                "note",
            ]
            .iter()
            .map(|s| (*s).to_string())
            .collect();
            let body: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.task.clone(),
                        r.engine.clone(),
                        r.n.to_string(),
                        r.threads.to_string(),
                        format!("{:.3}", r.per_sec / 1e6),
                        r.ratio_vs_peer
                            .map_or(String::new(), |x| format!("{x:.2}×")),
                        r.note.clone(),
                    ]
                })
                .collect();
            print_aligned(&mut w, &header, &body)?;
        }
    }
    Ok(())
}
