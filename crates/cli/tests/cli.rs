//! End-to-end tests of the `wheelhouse` binary in a temporary directory: single-option output,
//! CSV/Parquet/JSON files, per-row errors and exit codes, malformed files, and --help.

use std::path::Path;
use std::process::{Command, Output};

fn wh(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wheelhouse"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run wheelhouse")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

const SINGLE: &[&str] = &[
    "--type",
    "put",
    "--spot",
    "100",
    "--strike",
    "95",
    "--years",
    "0.25",
    "--rate",
    "0.04",
    "--dividend-yield",
    "0.01",
    "--volatility",
    "0.3",
];

#[test]
fn single_option_table_shows_raw_and_human_views() {
    let mut args = vec!["price"];
    args.extend_from_slice(SINGLE);
    let o = wh(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = stdout(&o);
    for needle in [
        "price",
        "delta",
        "gamma",
        "vega",
        "theta",
        "rho",
        "vanna",
        "volga",
        "charm",
        "per calendar day",
        "per vol point",
    ] {
        assert!(s.contains(needle), "missing {needle} in\n{s}");
    }
}

#[test]
fn single_option_json_matches_the_library() {
    let mut args = vec!["price", "--format", "json"];
    args.extend_from_slice(SINGLE);
    let o = wh(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let g = wheelhouse_pricing::black::bsm_greeks(&wheelhouse_pricing::BsmInputs {
        kind: wheelhouse_pricing::OptionType::Put,
        spot: 100.0,
        strike: 95.0,
        years: 0.25,
        rate: 0.04,
        dividend_yield: 0.01,
        volatility: 0.3,
    })
    .unwrap();
    assert_eq!(v["price"].as_f64().unwrap(), g.price);
    assert_eq!(v["delta"].as_f64().unwrap(), g.delta);
    assert!(g.delta < 0.0, "put delta is negative");
    assert_eq!(v["theta"].as_f64().unwrap(), g.theta);
}

#[test]
fn american_single_option_is_worth_at_least_european() {
    let mut eu = vec!["price", "--format", "json"];
    eu.extend_from_slice(SINGLE);
    let mut am = eu.clone();
    am.extend_from_slice(&["--style", "american"]);
    let e: serde_json::Value = serde_json::from_str(stdout(&wh(&eu)).trim()).unwrap();
    let o = wh(&am);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let a: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert!(a["price"].as_f64().unwrap() > e["price"].as_f64().unwrap());
    assert_eq!(a["style"], "american");
}

#[test]
fn iv_single_round_trips_and_rejects_below_intrinsic() {
    let o = wh(&[
        "iv", "--format", "json", "--type", "call", "--spot", "100", "--strike", "110", "--years",
        "0.5", "--rate", "0.04", "--price", "4.2",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let iv = v["implied_volatility"].as_f64().unwrap();
    let p = wheelhouse_pricing::black::bsm_price(&wheelhouse_pricing::BsmInputs {
        kind: wheelhouse_pricing::OptionType::Call,
        spot: 100.0,
        strike: 110.0,
        years: 0.5,
        rate: 0.04,
        dividend_yield: 0.0,
        volatility: iv,
    })
    .unwrap();
    assert!((p - 4.2).abs() < 1e-12, "{p}");
    // A put worth less than its discounted intrinsic value has no implied volatility.
    let o = wh(&[
        "iv", "--type", "put", "--spot", "80", "--strike", "100", "--years", "0.5", "--price", "10",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("below the no-arbitrage lower bound"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn invalid_single_input_is_a_usage_error() {
    let o = wh(&[
        "price",
        "--type",
        "call",
        "--spot",
        "-5",
        "--strike",
        "100",
        "--years",
        "1",
        "--volatility",
        "0.2",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("spot"), "{}", stderr(&o));
}

const GOOD: &str = "type,spot,strike,years,rate,dividend_yield,volatility,style,note
call,100,100,1,0.05,0,0.2,european,atm
put,100,90,0.25,0.03,0.01,0.35,american,otm put
put,50,60,2,0.02,0.0,0.5,,itm put
";

#[test]
fn csv_file_in_csv_out_keeps_input_columns_first() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "in.csv", GOOD);
    let output = dir.path().join("out.csv");
    let o = wh(&[
        "price",
        "--input",
        &input,
        "--output",
        output.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&output).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "type,spot,strike,years,rate,dividend_yield,volatility,style,note,price,delta,gamma,vega,theta,rho,vanna,volga,charm,error"
    );
    let first: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(first[8], "atm");
    let price: f64 = first[9].parse().unwrap();
    assert!((price - 10.450583572185565).abs() < 1e-12, "{price}");
    assert_eq!(*first.last().unwrap(), "");
    assert_eq!(text.lines().count(), 4);
}

#[test]
fn bad_rows_get_their_error_and_exit_code_3() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "in.csv",
        "type,spot,strike,years,rate,dividend_yield,volatility
call,100,100,1,0.05,0,0.2
call,-100,100,1,0.05,0,0.2
straddle,100,100,1,0.05,0,0.2
put,100,100,1,0.05,0,nan
put,100,100,0,0.05,0,0.2
",
    );
    let o = wh(&["price", "--input", &input, "--format", "csv"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let s = stdout(&o);
    let rows: Vec<&str> = s.lines().skip(1).collect();
    assert_eq!(rows.len(), 5, "no row is dropped");
    assert!(rows[0].ends_with(','), "first row succeeds: {}", rows[0]);
    assert!(rows[1].contains("invalid spot"), "{}", rows[1]);
    assert!(rows[2].contains("invalid type"), "{}", rows[2]);
    assert!(rows[3].contains("invalid volatility"), "{}", rows[3]);
    assert!(rows[4].contains("invalid years"), "{}", rows[4]);
    assert!(stderr(&o).contains("4 of 5 rows failed"));
}

/// `--precision f32`: on the CPU the f64 values of the f32 inputs rounded to f32, so within
/// single precision of the f64 run; bad rows keep their reasons; American rows and
/// `--greeks first` are refused with exit 2.
#[test]
fn price_file_in_single_precision() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "in.csv",
        "type,spot,strike,years,rate,dividend_yield,volatility
call,100,100,1,0.05,0,0.2
put,100,90,0.25,0.03,0.01,0.35
call,100,80,2,-0.005,0.04,0.6
put,-1,100,1,0.05,0,0.2
call,1e39,100,1,0.05,0,0.2
",
    );
    let f64_run = wh(&["price", "--input", &input, "--format", "csv"]);
    let f32_run = wh(&[
        "price",
        "--input",
        &input,
        "--precision",
        "f32",
        "--format",
        "csv",
    ]);
    assert_eq!(f32_run.status.code(), Some(3), "{}", stderr(&f32_run));
    let rows = |o: &Output| -> Vec<Vec<String>> {
        stdout(o)
            .lines()
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect()
    };
    let (a, b) = (rows(&f64_run), rows(&f32_run));
    assert_eq!(a[0], b[0]);
    assert_eq!(b.len(), 6, "no row dropped");
    // A spot beyond f32's range is reported as such, not priced at +inf.
    let last = b[5].join(",");
    assert!(last.contains("outside the range of f32"), "{last}");
    let start = a[0].iter().position(|h| h == "price").unwrap();
    for r in 1..a.len() - 1 {
        for c in start..a[0].len() {
            match (a[r][c].parse::<f64>(), b[r][c].parse::<f64>()) {
                // The inputs are rounded to f32 too (0.05 and 0.2 are not f32 numbers), so
                // the values agree to single precision, not to the bit.
                (Ok(x), Ok(y)) if x.is_finite() => assert!(
                    (y - x).abs() <= 2e-6 * x.abs() + 1e-9,
                    "row {r} {}: {x} vs {y}",
                    a[0][c]
                ),
                _ => assert_eq!(a[r][c], b[r][c], "row {r} {}", a[0][c]),
            }
        }
    }
    let american = write(
        dir.path(),
        "am.csv",
        "type,spot,strike,years,rate,dividend_yield,volatility,style
call,100,100,1,0.05,0,0.2,european
put,100,110,0.5,0.05,0.02,0.25,american
",
    );
    let o = wh(&["price", "--input", &american, "--precision", "f32"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("line 3 is American"), "{}", stderr(&o));
    let o = wh(&[
        "price",
        "--input",
        &input,
        "--precision",
        "f32",
        "--greeks",
        "first",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

/// `--greeks first` writes price, delta, vega, theta, rho and error only, with the values of
/// the full run (European and American rows; a bad row keeps its reason and exit code 3).
#[test]
fn price_file_first_order_greeks_match_the_full_set() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "in.csv",
        "type,spot,strike,years,rate,dividend_yield,volatility,style
call,100,100,1,0.05,0,0.2,european
put,100,90,0.25,0.03,0.01,0.35,european
put,100,110,0.5,0.05,0.02,0.25,american
call,100,80,2,-0.005,0.04,0.6,european
put,-1,100,1,0.05,0,0.2,european
",
    );
    let all = wh(&["price", "--input", &input, "--format", "csv"]);
    let first = wh(&[
        "price", "--input", &input, "--greeks", "first", "--format", "csv",
    ]);
    assert_eq!(all.status.code(), Some(3), "{}", stderr(&all));
    assert_eq!(first.status.code(), Some(3), "{}", stderr(&first));
    let table = |o: &Output| -> Vec<Vec<String>> {
        stdout(o)
            .lines()
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect()
    };
    let (a, f) = (table(&all), table(&first));
    let head = &f[0];
    assert_eq!(
        head[8..].join(","),
        "price,delta,vega,theta,rho,error",
        "{head:?}"
    );
    assert!(!head.iter().any(|h| h == "gamma" || h == "charm"));
    assert_eq!(f.len(), 6, "no row dropped");
    for name in ["price", "delta", "vega", "theta", "rho", "error"] {
        let ia = a[0].iter().position(|h| h == name).unwrap();
        let jf = f[0].iter().position(|h| h == name).unwrap();
        for r in 1..f.len() {
            let (x, y) = (&a[r][ia], &f[r][jf]);
            match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(x), Ok(y)) if x.is_finite() => {
                    assert!(
                        (x - y).abs() <= 1e-13 * x.abs().max(1e-12),
                        "{name} row {r}: {x} vs {y}"
                    )
                }
                _ => assert_eq!(x, y, "{name} row {r}"),
            }
        }
    }
    assert!(f[5].last().unwrap().contains("invalid spot"), "{:?}", f[5]);
    // Without a file the option is refused.
    let o = wh(&["price", "--greeks", "first"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn malformed_files_exit_2_naming_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let missing = write(
        dir.path(),
        "m.csv",
        "type,spot,strike,years,rate,volatility\ncall,100,100,1,0.05,0.2\n",
    );
    let o = wh(&["price", "--input", &missing]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("missing required column 'dividend_yield'"),
        "{}",
        stderr(&o)
    );
    let bad = write(
        dir.path(),
        "b.csv",
        "type,spot,strike,years,rate,dividend_yield,volatility\ncall,100,100,1,0.05,0,0.2\ncall,100,1OO,1,0.05,0,0.2\n",
    );
    let o = wh(&["price", "--input", &bad]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("line 3") && e.contains("'strike'") && e.contains("1OO"),
        "{e}"
    );
    let ragged = write(
        dir.path(),
        "r.csv",
        "type,spot,strike,years,rate,dividend_yield,volatility\ncall,100,100\n",
    );
    let o = wh(&["price", "--input", &ragged]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("line 2"), "{}", stderr(&o));
    let o = wh(&[
        "price",
        "--input",
        dir.path().join("nope.csv").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn parquet_round_trip_and_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "in.csv", GOOD);
    let pq = dir.path().join("out.parquet");
    let o = wh(&["price", "--input", &input, "--output", pq.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Parquet in, JSON lines out: same prices as CSV in.
    let o = wh(&["price", "--input", pq.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    let o2 = wh(&["price", "--input", &input, "--format", "json"]);
    let lines2: Vec<serde_json::Value> = stdout(&o2)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (a, b) in lines.iter().zip(&lines2) {
        assert_eq!(a["price"].as_f64(), b["price"].as_f64());
        assert!(b["error"].is_null());
    }
}

#[test]
fn iv_file_recovers_the_volatilities() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "in.csv", GOOD);
    let o = wh(&["price", "--input", &input, "--format", "json"]);
    let rows: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut csv = String::from("type,spot,strike,years,rate,dividend_yield,price,style\n");
    for r in &rows {
        let style = r["style"].as_str().unwrap_or("");
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            r["type"].as_str().unwrap(),
            r["spot"],
            r["strike"],
            r["years"],
            r["rate"],
            r["dividend_yield"],
            r["price"],
            style
        ));
    }
    csv.push_str("call,100,100,1,0.05,0,-1,\n");
    let ivin = write(dir.path(), "iv.csv", &csv);
    let o = wh(&["iv", "--input", &ivin, "--format", "json"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let out: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(out.len(), 4);
    for (r, v) in rows.iter().zip(&out) {
        let want = r["volatility"].as_f64().unwrap();
        let got = v["implied_volatility"].as_f64().unwrap();
        assert!((got - want).abs() < 1e-8 * want, "{got} vs {want}");
    }
    assert!(
        out[3]["error"].as_str().unwrap().contains("price"),
        "{}",
        out[3]
    );
}

#[test]
fn every_command_has_help() {
    for cmd in [
        vec!["--help"],
        vec!["price", "--help"],
        vec!["iv", "--help"],
        vec!["bench", "--help"],
    ] {
        let o = wh(&cmd);
        assert_eq!(o.status.code(), Some(0), "{cmd:?}");
        assert!(stdout(&o).contains("Usage"), "{cmd:?}");
    }
    let o = wh(&["price", "--bogus"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn sample_file_prices_cleanly() {
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/sample/options.csv");
    let o = wh(&["price", "--input", sample, "--format", "csv"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 361);
}

/// `wheelhouse hw`: the machine as JSON (CPU, memory, usable cores, GPUs or why not), live
/// samples with --watch, and a bad interval as a usage error.
#[test]
fn hw_reports_the_machine() {
    let o = wh(&["hw", "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let hw = &v["hardware"];
    assert!(hw["cpu"]["logical"].as_u64().unwrap() >= 1);
    assert!(hw["usable_cores"].as_u64().unwrap() >= 1);
    assert!(hw["gpus"]["nvml"].as_bool().unwrap() || hw["gpus"]["reason"].is_string());
    assert!(v["live"]["cpu_temperatures"].is_array());
    assert_eq!(v["policy"]["mode"], "Balanced");
    assert!(v["policy"]["batch_scale"].as_f64().unwrap() > 0.0);
    let o = wh(&[
        "hw",
        "--format",
        "json",
        "--watch",
        "--count",
        "3",
        "--interval",
        "0.05",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 3);
    let o = wh(&["hw"]);
    assert!(stdout(&o).contains("CPU") && stdout(&o).contains("usable"));
    let o = wh(&["hw", "--watch", "--interval", "0"]);
    assert_eq!(o.status.code(), Some(2));
}

/// `wheelhouse bench risk`: the Monte Carlo suite reports our engines (and the numpy peer when
/// asked) with the same VaR on every thread count.
#[test]
fn bench_risk_runs_the_monte_carlo_suite() {
    let o = wh(&[
        "bench",
        "risk",
        "--sizes",
        "3000",
        "--seconds",
        "0",
        "--no-peers",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(!rows.is_empty());
    let notes: Vec<&str> = rows.iter().map(|r| r["note"].as_str().unwrap()).collect();
    let vars: Vec<&str> = notes
        .iter()
        .map(|n| n.split("VaR ").nth(1).unwrap())
        .collect();
    assert!(vars.iter().all(|v| *v == vars[0]), "{notes:?}");
    assert!(
        rows.iter()
            .all(|r| r["task"] == "monte_carlo" && r["n"] == 3000)
    );
}

/// `--device cuda` where no GPU is usable: exit 2 with a message naming the device, before any
/// work (advise does not create or load a store). Skipped where a GPU is usable.
#[test]
fn device_cuda_without_a_gpu_exits_2_before_any_work() {
    let mut args = vec!["--device", "cuda", "price"];
    args.extend_from_slice(SINGLE);
    let o = wh(&args);
    if o.status.code() == Some(0) {
        eprintln!("a CUDA device is usable here: nothing to test");
        return;
    }
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).to_lowercase().contains("cuda"), "{}", stderr(&o));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("never.duckdb");
    let o = wh(&[
        "--device",
        "cuda",
        "--db",
        db.to_str().unwrap(),
        "advise",
        "AAPL",
        "--cash",
        "10000",
        "--at",
        "2013-03-01",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).to_lowercase().contains("cuda"), "{}", stderr(&o));
    assert!(!db.exists(), "the store was opened before the device check");
}
