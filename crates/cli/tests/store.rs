//! End-to-end tests of the store commands: `init --sample` (idempotent), `import` with
//! rejected rows and malformed files (exit codes 3 and 2), a killed import leaving the store
//! unchanged, `export` → re-import, `chain` and `surface` output, unknown symbols.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn wh(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wheelhouse"))
        .args(args)
        .arg("--db")
        .arg(db)
        .env("RUST_LOG", "warn")
        .env_remove("WHEELHOUSE_DB")
        .env_remove("WHEELHOUSE_CONFIG")
        .env("XDG_CONFIG_HOME", db.parent().unwrap())
        .output()
        .expect("run wheelhouse")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn init_small(dir: &Path) -> PathBuf {
    let db = dir.join("w.duckdb");
    let o = wh(
        &db,
        &[
            "init",
            "--sample",
            "--from",
            "2013-02-20",
            "--to",
            "2013-03-01",
            "--format",
            "csv",
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    db
}

#[test]
fn sample_chain_and_surface() {
    let dir = tempfile::tempdir().unwrap();
    let db = init_small(dir.path());
    // Idempotent: a second load stores nothing new.
    let o = wh(
        &db,
        &[
            "init",
            "--sample",
            "--from",
            "2013-02-20",
            "--to",
            "2013-03-01",
            "--format",
            "csv",
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    let text = out(&o);
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let accepted_idx = rdr
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "accepted")
        .unwrap();
    for r in rdr.records() {
        assert_eq!(&r.unwrap()[accepted_idx], "0", "{text}");
    }

    let o = wh(&db, &["chain", "AAPL", "--format", "csv"]);
    assert!(o.status.success(), "{}", err(&o));
    let text = out(&o);
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let h = rdr.headers().unwrap().clone();
    for col in [
        "underlying",
        "quote_time",
        "expiration",
        "strike",
        "type",
        "bid",
        "ask",
        "mid",
        "bid_iv",
        "ask_iv",
        "mid_iv",
        "delta",
        "gamma",
        "vega",
        "theta",
        "status",
    ] {
        assert!(h.iter().any(|x| x == col), "missing {col}");
    }
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert!(rows.len() > 200, "{}", rows.len());
    let st = h.iter().position(|x| x == "status").unwrap();
    let iv = h.iter().position(|x| x == "mid_iv").unwrap();
    let ok = rows.iter().filter(|r| &r[st] == "ok").count();
    assert!(ok * 10 > rows.len() * 7, "{ok} of {} ok", rows.len());
    for r in &rows {
        if r[st].starts_with("mid_") {
            assert_eq!(&r[iv], "", "an IV with a failure status");
        }
    }
    assert!(
        rows[0][h.iter().position(|x| x == "quote_time").unwrap()]
            .starts_with("2013-03-01T16:00:00-05:00")
    );
    assert!(rows[0][h.iter().position(|x| x == "expiration").unwrap()].contains("T16:00:00"));

    let o = wh(
        &db,
        &[
            "chain",
            "AAPL",
            "--at",
            "2013-02-25",
            "--expiry",
            "2013-03-16",
            "--format",
            "json",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("expiries:"), "{}", err(&o));

    let svg = dir.path().join("s.svg");
    let o = wh(
        &db,
        &[
            "surface",
            "AAPL",
            "--format",
            "json",
            "--plot",
            svg.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    let doc: serde_json::Value = serde_json::from_str(out(&o).trim()).unwrap();
    let exps = doc["expiries"].as_array().unwrap();
    assert!(exps.len() >= 6, "{}", exps.len());
    let fitted = exps.iter().filter(|e| e["svi_b"].is_number()).count();
    assert!(
        fitted * 10 >= exps.len() * 8,
        "{fitted} of {} fitted",
        exps.len()
    );
    for e in exps.iter().filter(|e| e["svi_b"].is_number()) {
        assert_eq!(e["butterfly_free"], serde_json::json!(true), "{e}");
    }
    assert!(doc["atm_vol_30d"].as_f64().unwrap() > 0.05);
    assert!(doc["history_snapshots"].as_u64().unwrap() >= 2);
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));

    let o = wh(&db, &["surface", "ZZZ"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("unknown symbol \"ZZZ\""), "{}", err(&o));
    assert!(err(&o).contains("AAPL"), "{}", err(&o));
}

#[test]
fn import_exit_codes_rejects_and_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("i.duckdb");
    let f = dir.path().join("q.csv");
    std::fs::write(
        &f,
        "underlying,quote_time,expiration,strike,type,bid,ask,last,volume,open_interest,underlying_price
IBM,2013-03-01,2013-03-15,200,put,1.05,1.10,,,,202.91
IBM,2013-03-01,2013-03-15,205,put,1.20,1.10,,,,202.91
",
    )
    .unwrap();
    let rej = dir.path().join("rej.csv");
    let o = wh(
        &db,
        &[
            "import",
            "quotes",
            f.to_str().unwrap(),
            "--rejects",
            rej.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", err(&o));
    assert!(
        err(&o).contains(":3: rejected (bid): bid 1.2 > ask 1.1"),
        "{}",
        err(&o)
    );
    let doc: serde_json::Value = serde_json::from_str(out(&o).trim()).unwrap();
    assert_eq!(doc["accepted"], 1);
    assert_eq!(doc["rejected"], 1);
    assert!(
        std::fs::read_to_string(&rej)
            .unwrap()
            .contains("bid 1.2 > ask 1.1")
    );

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "underlying,quote_time\nIBM,2013-03-01\n").unwrap();
    let o = wh(&db, &["import", "quotes", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("missing required column"), "{}", err(&o));

    let pq = dir.path().join("out.parquet");
    let o = wh(&db, &["export", "quotes", "-o", pq.to_str().unwrap()]);
    assert!(o.status.success(), "{}", err(&o));
    let db2 = dir.path().join("j.duckdb");
    let o = wh(
        &db2,
        &["import", "quotes", pq.to_str().unwrap(), "--format", "json"],
    );
    assert!(o.status.success(), "{}", err(&o));
    let doc: serde_json::Value = serde_json::from_str(out(&o).trim()).unwrap();
    assert_eq!(doc["accepted"], 1);
}

#[test]
fn killed_import_leaves_the_store_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.duckdb");
    let f = dir.path().join("big.csv");
    let mut text = String::from(
        "underlying,quote_time,expiration,strike,type,bid,ask,last,volume,open_interest,underlying_price\n",
    );
    for i in 0..1_500_000u32 {
        text.push_str(&format!(
            "MSFT,2013-03-01T16:00:00-05:00,2013-04-19,{}.{:03},put,1.00,1.10,,,,27.95\n",
            10 + i / 1000,
            i % 1000
        ));
    }
    std::fs::write(&f, text).unwrap();
    let o = wh(&db, &["init"]);
    assert!(o.status.success(), "{}", err(&o));
    let mut child = Command::new(env!("CARGO_BIN_EXE_wheelhouse"))
        .args([
            "import",
            "quotes",
            f.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let finished_before_kill = child.try_wait().unwrap().is_some();
    let _ = child.kill();
    let _ = child.wait();
    // The store opens cleanly and holds all or nothing.
    let store =
        wheelhouse_store::Store::open(&db, &wheelhouse_store::StoreConfig::default()).unwrap();
    let n: i64 = store
        .connection()
        .query_row("SELECT count(*) FROM option_quotes", [], |r| r.get(0))
        .unwrap();
    if finished_before_kill {
        assert_eq!(n, 1_500_000);
    } else {
        assert!(n == 0 || n == 1_500_000, "partial import: {n} rows");
    }
    let imports: i64 = store
        .connection()
        .query_row("SELECT count(*) FROM imports", [], |r| r.get(0))
        .unwrap();
    assert_eq!(imports, i64::from(n > 0));
}
