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
/// The numpy peer of the Monte Carlo suite (the same book, steps and revaluation).
const MC_NUMPY_PY: &str = include_str!("../../risk/examples/mc_numpy.py");

/// What to benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Suite {
    /// Price + Greeks, implied volatility and American pricing.
    Pricing,
    /// Store imports: canonical Parquet and CSV quote files into a fresh store, with DuckDB's
    /// own unvalidated CSV reader as the peer (`--sizes` gives the row count).
    Import,
    /// Monte Carlo VaR of the risk issue's book (10 correlated underlyings, 50 options, 21
    /// daily steps, full BSM revaluation, 99 % VaR/CVaR with standard errors): ours on 1 and
    /// all threads and on the `--device` GPU when one is used, numpy + scipy in the same run
    /// (`--sizes` gives the path counts; the peer runs sizes up to 2 M).
    Risk,
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
    /// Import suite: imports per engine, each into a fresh store (the best is reported, the
    /// median in the note).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    repeats: u32,
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

/// Our row of a measurement, echoed to stderr as it is taken.
fn push_ours(
    rows: &mut Vec<Row>,
    task: &str,
    engine: &str,
    n: usize,
    threads: usize,
    per_sec: f64,
    note: &str,
) {
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
}

/// The IV batch of the first `n` inputs at `prices` (all European).
fn iv_input<'a>(x: &'a Inputs, prices: &'a [f64], n: usize) -> IvInput<'a> {
    IvInput {
        kind: &x.kind[..n],
        price: &prices[..n],
        spot: &x.spot[..n],
        strike: &x.strike[..n],
        years: &x.years[..n],
        rate: &x.rate[..n],
        dividend_yield: &x.dividend_yield[..n],
        style: None,
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
    if args.suite == Suite::Import {
        return run_import(&args, format);
    }
    if args.suite == Suite::Risk {
        return run_risk(&args, format, threads);
    }
    let all =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let thread_counts: Vec<usize> = if all > 1 { vec![1, all] } else { vec![1] };
    let nmax = args.sizes.iter().copied().max().unwrap_or(0);
    let x = inputs(nmax, args.seed);
    let mut rows: Vec<Row> = Vec::new();
    let ours = push_ours;
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
    // The GPU rows: `--device cuda` (exit 2 without one) or `auto` with a usable GPU; the
    // device takes every batch (`force_device`), the lanes its kernels leave run on all CPU
    // threads, and the times are end to end (host columns in, host columns out).
    let gpu = gpu_backend(all)?;
    for &n in &args.sizes {
        if let Some(g) = &gpu
            && n >= 10_000
        {
            gpu_rows(g, &x, &prices, n, args.seconds, all, &mut rows)?;
        }
        for &t in &thread_counts {
            let be = Backend::cpu(Some(t)).map_err(anyhow::Error::from)?;
            let b = batch(&x, n, None);
            // Steady state: one output reused from batch to batch (`greeks_into`).
            let mut out = wheelhouse_compute::GreeksBatch::default();
            let secs = best_of(args.seconds, || {
                std::hint::black_box(be.greeks_into(&b, &mut out).ok());
            });
            ours(
                &mut rows,
                "greeks",
                "wheelhouse",
                n,
                t,
                n as f64 / secs,
                "price + 8 Greeks, f64, output reused",
            );
            let mut first = wheelhouse_compute::FirstOrderBatch::default();
            let secs = best_of(args.seconds, || {
                std::hint::black_box(be.first_order_into(&b, &mut first).ok());
            });
            ours(
                &mut rows,
                "greeks",
                "wheelhouse (first order)",
                n,
                t,
                n as f64 / secs,
                "price + delta, vega, theta, rho, f64, output reused",
            );
            let secs = best_of(args.seconds, || {
                std::hint::black_box(be.greeks(&b).ok());
            });
            ours(
                &mut rows,
                "greeks",
                "wheelhouse (fresh output)",
                n,
                t,
                n as f64 / secs,
                "price + 8 Greeks, output allocated per call",
            );
            let iv_in = iv_input(&x, &prices, n);
            let mut iv_out = wheelhouse_compute::IvBatch::default();
            let secs = best_of(args.seconds, || {
                std::hint::black_box(be.implied_volatility_into(&iv_in, &mut iv_out).ok());
            });
            ours(
                &mut rows,
                "iv",
                "wheelhouse",
                n,
                t,
                n as f64 / secs,
                "European, Let's Be Rational class, output reused",
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
                    // The batch API's price path (`Backend::prices`), as a caller uses it.
                    let secs = best_of(args.seconds, || {
                        std::hint::black_box(be.prices(&b).ok());
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
            let mut tasks = if n <= args.american_max {
                "greeks,american".to_string()
            } else {
                "greeks".to_string()
            };
            if gpu.is_some() && n >= 10_000 {
                tasks.push_str(",torch");
            }
            let tasks = tasks.as_str();
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

/// The GPU backend of the GPU rows, if any (see `run`).
fn gpu_backend(threads: usize) -> Result<Option<Backend>, Exit> {
    use wheelhouse_compute::DeviceChoice;
    let choice = crate::DEVICE
        .get()
        .copied()
        .unwrap_or(crate::DeviceArg::Auto);
    match choice {
        crate::DeviceArg::Cpu => Ok(None),
        crate::DeviceArg::Cuda => Ok(Some(crate::backend(Some(threads))?.force_device())),
        crate::DeviceArg::Auto => Ok(Backend::with_device(Some(threads), DeviceChoice::Cuda)
            .ok()
            .map(Backend::force_device)),
    }
}

/// Our GPU rows for one size: price + Greeks, IV, and the chain (IV then Greeks at it, the
/// volatilities resident on the device); plus the CPU chain on all threads to compare with.
fn gpu_rows(
    g: &Backend,
    x: &Inputs,
    prices: &[f64],
    n: usize,
    seconds: f64,
    all: usize,
    rows: &mut Vec<Row>,
) -> Result<(), Exit> {
    let device = g.accelerator().unwrap_or_else(|| "GPU".into());
    let b = batch(x, n, None);
    let iv_in = iv_input(x, prices, n);
    let mut out = wheelhouse_compute::GreeksBatch::default();
    let mut iv = wheelhouse_compute::IvBatch::default();
    let before = g.fallbacks();
    let mut push = |task: &str, engine: String, threads: usize, secs: f64, note: &str| {
        push_ours(rows, task, &engine, n, threads, n as f64 / secs, note);
    };
    let secs = best_of(seconds, || {
        std::hint::black_box(g.greeks_into(&b, &mut out).ok());
    });
    push(
        "greeks",
        format!("wheelhouse GPU {device}"),
        0,
        secs,
        "end to end, fp64, output reused",
    );
    let secs = best_of(seconds, || {
        std::hint::black_box(g.implied_volatility_into(&iv_in, &mut iv).ok());
    });
    push(
        "iv",
        format!("wheelhouse GPU {device}"),
        0,
        secs,
        "end to end; lanes the kernel leaves on the CPU threads",
    );
    let secs = best_of(seconds, || {
        std::hint::black_box(g.iv_and_greeks_into(&iv_in, &mut iv, &mut out).ok());
    });
    push(
        "iv+greeks",
        format!("wheelhouse GPU {device}"),
        0,
        secs,
        "IV then price + 8 Greeks, volatilities stay on the device",
    );
    let cpu = Backend::cpu(Some(all)).map_err(anyhow::Error::from)?;
    let secs = best_of(seconds, || {
        std::hint::black_box(cpu.iv_and_greeks_into(&iv_in, &mut iv, &mut out).ok());
    });
    push(
        "iv+greeks",
        "wheelhouse".into(),
        all,
        secs,
        "IV then price + 8 Greeks, CPU",
    );
    if g.fallbacks() > before {
        return Err(Exit::from(anyhow!(
            "the GPU failed {} batch(es) during the benchmark (see the log); its rows would be CPU times",
            g.fallbacks() - before
        )));
    }
    Ok(())
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

/// `wheelhouse bench import`: canonical quote files of `--sizes` rows (one size: the largest)
/// imported into a fresh store; DuckDB's bare `read_csv` into the same table as the peer.
fn run_import(args: &BenchArgs, format: Option<Format>) -> Result<u8, Exit> {
    use wheelhouse_store::{ImportOptions, Store, StoreConfig, Table};
    let n = args.sizes.iter().copied().max().unwrap_or(1_000_000).max(1);
    let dir = tempfile_dir()?;
    // Rows: 4 symbols × days × 12 expiries × strikes × 2 types, distinct keys.
    let quotes = wheelhouse_store::records::benchmark_quotes(n, args.seed);
    let pq = dir.join("quotes.parquet");
    let csv_path = dir.join("quotes.csv");
    {
        let mut w = parquet::arrow::ArrowWriter::try_new(
            std::fs::File::create(&pq).context("create parquet")?,
            wheelhouse_store::records::quotes_batch(&quotes[..1])
                .map_err(|e| anyhow!(e))?
                .schema(),
            None,
        )
        .context("parquet writer")?;
        let mut c = csv::Writer::from_path(&csv_path).context("create csv")?;
        c.write_record([
            "underlying",
            "quote_time",
            "expiration",
            "strike",
            "type",
            "style",
            "settlement",
            "multiplier",
            "bid",
            "ask",
            "last",
            "volume",
            "open_interest",
            "underlying_price",
        ])
        .context("csv")?;
        for chunk in quotes.chunks(65_536) {
            w.write(&wheelhouse_store::records::quotes_batch(chunk).map_err(|e| anyhow!(e))?)
                .context("parquet write")?;
            for q in chunk {
                c.write_record([
                    q.underlying.clone(),
                    q.quote_time.0.to_string(),
                    q.expiration.0.to_string(),
                    q.strike.to_string(),
                    q.option_type.as_str().into(),
                    "american".into(),
                    "pm".into(),
                    "100".into(),
                    q.bid.to_string(),
                    q.ask.to_string(),
                    String::new(),
                    q.volume.unwrap_or(0).to_string(),
                    q.open_interest.unwrap_or(0).to_string(),
                    "100".into(),
                ])
                .context("csv")?;
            }
        }
        w.close().context("parquet close")?;
        c.flush().context("csv flush")?;
    }
    drop(quotes);
    // CSV instants as RFC 3339 would be typical; integers are not accepted as times, so write
    // the CSV times as RFC 3339 through a second pass.
    let csv_rfc = dir.join("quotes_rfc3339.csv");
    {
        let mut r = csv::Reader::from_path(&csv_path).context("read csv")?;
        let mut w = csv::Writer::from_path(&csv_rfc).context("create csv")?;
        w.write_record(r.headers().context("csv")?).context("csv")?;
        let mut rec = csv::StringRecord::new();
        while r.read_record(&mut rec).context("csv")? {
            let conv = |s: &str| -> String {
                let ns: i64 = s.parse().unwrap_or(0);
                jiff::Timestamp::from_nanosecond(i128::from(ns))
                    .map_or_else(|_| s.to_string(), |t| t.to_string())
            };
            let mut out: Vec<String> = rec.iter().map(str::to_string).collect();
            out[1] = conv(&rec[1]);
            out[2] = conv(&rec[2]);
            w.write_record(&out).context("csv")?;
        }
        w.flush().context("csv")?;
    }
    let mut rows = Vec::new();
    let mut nop = |_: u64, _: u64| {};
    let reps = args.repeats as usize;
    for (what, path) in [("parquet", &pq), ("csv", &csv_rfc)] {
        let mut accepted = 0;
        let (best, median) = best_and_median(reps, |rep| {
            let db = dir.join(format!("bench_{what}_{rep}.duckdb"));
            let mut store = Store::open(&db, &StoreConfig::default()).map_err(|e| anyhow!(e))?;
            let started = Instant::now();
            let rep_report = store
                .import_file(Table::Quotes, path, &ImportOptions::default(), &mut nop)
                .map_err(|e| anyhow!(e))?;
            accepted = rep_report.accepted;
            Ok(started.elapsed().as_secs_f64())
        })?;
        eprintln!(
            "  import {what:<8} {accepted} rows accepted, best of {reps} {best:.3} s: {:.2} M rows/s (median {:.2})",
            n as f64 / best / 1e6,
            n as f64 / median / 1e6
        );
        rows.push(Row {
            task: "import".into(),
            engine: format!("wheelhouse import ({what}, validated, keyed)"),
            n,
            threads: 0,
            per_sec: n as f64 / best,
            ratio_vs_peer: None,
            note: format!(
                "{accepted} accepted; best of {reps}, median {:.3} M/s",
                n as f64 / median / 1e6
            ),
        });
    }
    // Peer: DuckDB's own CSV reader straight into the table, no validation or key checks.
    {
        let (secs, median) = best_and_median(reps, |rep| {
            let db = dir.join(format!("bench_peer_{rep}.duckdb"));
            let store = Store::open(&db, &StoreConfig::default()).map_err(|e| anyhow!(e))?;
            let started = Instant::now();
            store
                .connection()
                .execute_batch(&format!(
                    "INSERT INTO option_quotes (underlying, root, quote_time, expiration, strike, type, style, settlement, multiplier, bid, ask, last, volume, open_interest, underlying_price, import_id)
                     SELECT underlying, underlying, quote_time, expiration, strike, type, style, settlement, multiplier, bid, ask, last, volume, open_interest, underlying_price, 1
                     FROM read_csv('{}', header = true, auto_detect = true)",
                    csv_path.display()
                ))
                .map_err(|e| anyhow!(e))?;
            Ok(started.elapsed().as_secs_f64())
        })?;
        let peer = n as f64 / secs;
        eprintln!(
            "  peer: DuckDB read_csv (no validation) {:.2} M rows/s",
            peer / 1e6
        );
        for r in rows.iter_mut().filter(|r| r.engine.contains("csv")) {
            r.ratio_vs_peer = Some(r.per_sec / peer);
        }
        rows.push(Row {
            task: "import".into(),
            engine: "peer: DuckDB read_csv + INSERT (no validation)".into(),
            n,
            threads: 0,
            per_sec: peer,
            ratio_vs_peer: None,
            note: format!(
                "integer-ns CSV; best of {reps}, median {:.3} M/s",
                n as f64 / median / 1e6
            ),
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
    report(&rows, format.unwrap_or(Format::Table))?;
    Ok(EXIT_OK)
}

/// Best and median of `reps` timed runs (`run(rep)` returns its seconds).
fn best_and_median(
    reps: usize,
    mut run: impl FnMut(usize) -> Result<f64, Exit>,
) -> Result<(f64, f64), Exit> {
    let mut secs = (0..reps.max(1))
        .map(&mut run)
        .collect::<Result<Vec<f64>, Exit>>()?;
    secs.sort_by(f64::total_cmp);
    Ok((secs[0], secs[secs.len() / 2]))
}

fn tempfile_dir() -> Result<std::path::PathBuf, Exit> {
    let base = std::env::temp_dir().join(format!("wheelhouse-bench-{}", std::process::id()));
    std::fs::create_dir_all(&base).with_context(|| format!("create {}", base.display()))?;
    Ok(base)
}

/// `wheelhouse bench risk`.
fn run_risk(args: &BenchArgs, format: Option<Format>, threads: Option<usize>) -> Result<u8, Exit> {
    use wheelhouse_risk::mc::{McSettings, benchmark_book, simulate};
    let all =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let (u, c, p) = benchmark_book(50);
    let mut rows: Vec<Row> = Vec::new();
    for &paths in &args.sizes {
        if paths == 0 {
            return Err(Exit::usage(anyhow!("--sizes: zero paths")));
        }
        let s = McSettings {
            paths,
            horizon_days: 21,
            seed: args.seed,
            confidence: 0.99,
            vol_shock: 0.0,
            vol_of_vol: 0.0,
            jumps: None,
            american: false,
            keep_paths: false,
        };
        let mut ours = Vec::new();
        let mut engines: Vec<(String, Backend, usize)> = Vec::new();
        for t in if all > 1 { vec![1, all] } else { vec![1] } {
            engines.push((
                "wheelhouse CPU".into(),
                Backend::cpu(Some(t)).map_err(anyhow::Error::from)?,
                t,
            ));
        }
        let dev = crate::backend(Some(all))?;
        if let Some(name) = dev.accelerator() {
            engines.push((format!("wheelhouse GPU {name}"), dev, all));
        }
        for (name, b, t) in &engines {
            // Best of runs within --seconds (at least one).
            let started = Instant::now();
            let mut best = f64::INFINITY;
            let mut var = f64::NAN;
            while best.is_infinite() || started.elapsed().as_secs_f64() < args.seconds {
                let t0 = Instant::now();
                let r = simulate(&u, &c, &p, &s, b).map_err(|e| Exit::usage(anyhow!(e)))?;
                best = best.min(t0.elapsed().as_secs_f64());
                var = r.tail.var;
            }
            eprintln!(
                "  monte_carlo {name:<34} paths={paths:<9} threads={t} {best:>8.4} s  VaR {var:.2}"
            );
            ours.push(rows.len());
            rows.push(Row {
                task: "monte_carlo".into(),
                engine: name.clone(),
                n: paths,
                threads: *t,
                per_sec: paths as f64 / best,
                ratio_vs_peer: None,
                note: format!("{best:.4} s, VaR {var:.2}"),
            });
        }
        if args.no_peers || paths > 2_000_000 {
            continue;
        }
        let dir = std::env::temp_dir().join(format!("wheelhouse-bench-mc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).context("temporary directory")?;
        let script = dir.join("mc_numpy.py");
        std::fs::write(&script, MC_NUMPY_PY).context("writing the numpy peer")?;
        let out = Command::new("python3")
            .arg(&script)
            .arg(paths.to_string())
            .stderr(Stdio::inherit())
            .output();
        let _ = std::fs::remove_dir_all(&dir);
        let peer = out.ok().filter(|o| o.status.success()).and_then(|o| {
            serde_json::from_slice::<serde_json::Value>(&o.stdout)
                .ok()
                .and_then(|v| Some((v["seconds"].as_f64()?, v["var"].as_f64()?)))
        });
        match peer {
            Some((secs, var)) => {
                let peer_rate = paths as f64 / secs;
                eprintln!(
                    "  monte_carlo {:<34} paths={paths:<9}           {secs:>8.4} s  VaR {var:.2}",
                    "peer: numpy+scipy"
                );
                for &i in &ours {
                    rows[i].ratio_vs_peer = Some(rows[i].per_sec / peer_rate);
                }
                rows.push(Row {
                    task: "monte_carlo".into(),
                    engine: "peer: numpy+scipy".into(),
                    n: paths,
                    threads: 0,
                    per_sec: peer_rate,
                    ratio_vs_peer: None,
                    note: format!("{secs:.4} s, VaR {var:.2}"),
                });
            }
            None => eprintln!("  peer numpy+scipy unavailable (python3 with numpy and scipy)"),
        }
    }
    report(&rows, format.unwrap_or(Format::Table))?;
    Ok(EXIT_OK)
}
