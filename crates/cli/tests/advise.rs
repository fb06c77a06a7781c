//! End-to-end tests of `wheelhouse advise` and `wheelhouse portfolio` on the bundled sample:
//! the JSON contract, filters honoured by the chosen trade, stale data and unknown symbols
//! giving "no trade" with the reason, config and environment overrides, portfolio files with
//! errors that name the line, and the stored portfolio (all-or-nothing imports).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn wh_env(db: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wheelhouse"));
    c.args(args)
        .arg("--db")
        .arg(db)
        .env("RUST_LOG", "warn")
        .env_remove("WHEELHOUSE_DB")
        .env_remove("WHEELHOUSE_CONFIG")
        .env("XDG_CONFIG_HOME", db.parent().unwrap());
    for (k, _) in std::env::vars() {
        if k.starts_with("WHEELHOUSE_ADVISOR_") {
            c.env_remove(k);
        }
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run wheelhouse")
}

fn wh(db: &Path, args: &[&str]) -> Output {
    wh_env(db, args, &[])
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", err(o));
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

fn sample_portfolio() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/sample/portfolio.csv")
}

fn init(dir: &Path) -> PathBuf {
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

fn rec<'a>(v: &'a serde_json::Value, underlying: &str, action: &str) -> &'a serde_json::Value {
    v["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["underlying"] == underlying && r["action"] == action)
        .unwrap_or_else(|| panic!("no {action} for {underlying}: {}", v["recommendations"]))
}

#[test]
fn advise_sample_portfolio() {
    let dir = tempfile::tempdir().unwrap();
    let db = init(dir.path());
    let p = sample_portfolio();
    let args = [
        "advise",
        "AAPL",
        "MSFT",
        "IBM",
        "--at",
        "2013-03-01",
        "--portfolio",
        p.to_str().unwrap(),
        "--format",
        "json",
    ];
    let v = json(&wh(&db, &args));
    let recs = v["recommendations"].as_array().unwrap();
    for r in recs {
        for key in [
            "underlying",
            "action",
            "expiration",
            "strike",
            "type",
            "contracts",
            "bid",
            "ask",
            "expected_fill",
            "implied_volatility",
            "delta",
            "probability_itm",
            "annualized_yield",
            "confidence",
            "reasons",
        ] {
            assert!(r.get(key).is_some(), "recommendation lacks {key}: {r}");
        }
        assert!(!r["reasons"].as_array().unwrap().is_empty(), "{r}");
    }
    // A new put on MSFT honouring the default filters.
    let m = rec(&v, "MSFT", "sell_put");
    assert_eq!(m["type"], "put");
    let d = m["delta"].as_f64().unwrap();
    assert!((-0.35..=-0.15).contains(&d), "{m}");
    let detail = &m["detail"];
    let dte = detail["dte"].as_f64().unwrap();
    assert!((21.0..=60.0).contains(&dte), "{m}");
    assert!(m["contracts"].as_u64().unwrap() >= 1);
    let (bid, ask, fill) = (
        m["bid"].as_f64().unwrap(),
        m["ask"].as_f64().unwrap(),
        m["expected_fill"].as_f64().unwrap(),
    );
    assert!(bid <= fill && fill <= 0.5 * (bid + ask));
    assert!(m["sizing"]["binding"].is_string());
    // The held IBM puts get an action with numbers; AAPL's shares have an adjusted basis.
    let ibm_actions: Vec<_> = recs
        .iter()
        .filter(|r| r["underlying"] == "IBM" && r["strike"] == 197.5)
        .collect();
    assert_eq!(ibm_actions.len(), 1, "{recs:?}");
    let aapl = v["underlyings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["underlying"] == "AAPL")
        .unwrap();
    let basis = aapl["adjusted_basis"].as_f64().unwrap();
    assert!((basis - (475.0 - 11.25 + 0.0065)).abs() < 1e-9, "{basis}");
    assert_eq!(aapl["state"], "shares");
    // Timings per analysis.
    let t = v["timings"].as_array().unwrap();
    for name in [
        "freshness",
        "vol_regime",
        "candidates",
        "management",
        "correlation",
    ] {
        assert!(t.iter().any(|x| x["analysis"] == name), "timing {name}");
    }
    assert!(v["timings_ms"]["end_to_end"].as_f64().unwrap() > 0.0);

    // The table view runs too.
    let o = wh(&db, &args[..args.len() - 2]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("MSFT"));
}

#[test]
fn no_trade_with_reasons_and_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = init(dir.path());
    // Long after the last snapshot: stale.
    let v = json(&wh(
        &db,
        &[
            "advise",
            "MSFT",
            "ZZZZ",
            "--at",
            "2013-06-03",
            "--cash",
            "50000",
            "--format",
            "json",
        ],
    ));
    let m = rec(&v, "MSFT", "no_trade");
    assert!(m["reasons"][0].as_str().unwrap().contains("stale"), "{m}");
    assert!(m["strike"].is_null() && m["contracts"].is_null());
    let z = rec(&v, "ZZZZ", "no_trade");
    assert!(
        z["reasons"][0]
            .as_str()
            .unwrap()
            .contains("no option chain"),
        "{z}"
    );
    // Before the first snapshot: no chain at or before the advice time.
    let v = json(&wh(
        &db,
        &[
            "advise",
            "MSFT",
            "--at",
            "2012-01-03",
            "--cash",
            "50000",
            "--format",
            "json",
        ],
    ));
    rec(&v, "MSFT", "no_trade");
    // Usage errors: exit 2 with a message.
    for args in [
        vec!["advise", "MSFT", "--cash", "-5"],
        vec!["advise", "MSFT", "--cash", "nan"],
        vec!["advise", "MSFT", "--at", "not-a-date", "--cash", "100"],
        vec!["advise", "MSFT"], // no portfolio stored
    ] {
        let o = wh(&db, &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", err(&o));
        assert!(err(&o).contains("error:"), "{args:?}");
    }
}

#[test]
fn config_and_environment_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let db = init(dir.path());
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[advisor.filters]\nmin_dte = 40\nmax_dte = 60\n").unwrap();
    let base = [
        "advise",
        "MSFT",
        "--at",
        "2013-03-01",
        "--cash",
        "100000",
        "--format",
        "json",
    ];
    let mut args: Vec<&str> = base.to_vec();
    args.extend(["--config", cfg.to_str().unwrap()]);
    let v = json(&wh(&db, &args));
    let r = &v["recommendations"][0];
    if r["action"] == "sell_put" {
        assert!(r["detail"]["dte"].as_f64().unwrap() >= 40.0, "{r}");
    } else {
        assert!(
            r["reasons"][0].as_str().unwrap().contains("filters")
                || r["reasons"][0].as_str().unwrap().contains("edge"),
            "{r}"
        );
    }
    // Environment override of one key, and a tight band that nothing passes.
    let v = json(&wh_env(
        &db,
        &base,
        &[
            ("WHEELHOUSE_ADVISOR_FILTERS_MIN_ABS_DELTA", "0.34"),
            ("WHEELHOUSE_ADVISOR_FILTERS_MAX_ABS_DELTA", "0.341"),
        ],
    ));
    let r = &v["recommendations"][0];
    if r["action"] == "sell_put" {
        let d = r["delta"].as_f64().unwrap().abs();
        assert!((0.34..=0.341).contains(&d), "{r}");
    } else {
        assert!(r["reasons"][0].as_str().unwrap().contains("delta"), "{r}");
    }
    // Unknown keys and out-of-range values are usage errors naming the key.
    let o = wh_env(
        &db,
        &base,
        &[("WHEELHOUSE_ADVISOR_FILTERS_MIN_DELTA", "0.2")],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("min_delta"), "{}", err(&o));
    let o = wh_env(
        &db,
        &base,
        &[("WHEELHOUSE_ADVISOR_LIMITS_KELLY_FRACTION", "3")],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("kelly_fraction"), "{}", err(&o));
    std::fs::write(&cfg, "[advisor]\nbogus = 1\n").unwrap();
    let o = wh(&db, &args);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("bogus"), "{}", err(&o));
}

#[test]
fn portfolio_store_import_show_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = init(dir.path());
    let p = sample_portfolio();
    // A file whose 3rd data row assigns a put that is not held: nothing is stored.
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "underlying,kind,quantity,strike,expiration,style,open_price,open_time,event\n\
         ,cash,10000,,,,,2013-01-02,deposit\n\
         MSFT,put,-1,27,2013-03-15,american,0.5,2013-02-01,trade\n\
         MSFT,put,1,26,2013-03-15,american,0,2013-03-01,assign\n",
    )
    .unwrap();
    let o = wh(&db, &["portfolio", "import", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("line 4"), "{}", err(&o));
    let missing = dir.path().join("missing.csv");
    std::fs::write(&missing, "underlying,kind,quantity\nMSFT,put,-1\n").unwrap();
    let o = wh(&db, &["portfolio", "import", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("strike"), "{}", err(&o));
    let nan = dir.path().join("nan.csv");
    std::fs::write(
        &nan,
        "underlying,kind,quantity,strike,expiration,style,open_price,open_time\nMSFT,put,-1,27,2013-03-15,american,NaN,2013-02-01\n",
    )
    .unwrap();
    let o = wh(&db, &["portfolio", "import", nan.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("line 2") && err(&o).contains("price"),
        "{}",
        err(&o)
    );
    let v = json(&wh(
        &db,
        &[
            "portfolio",
            "show",
            "--at",
            "2013-03-01",
            "--format",
            "json",
        ],
    ));
    assert!(
        v["positions"].as_array().unwrap().is_empty(),
        "failed imports stored nothing"
    );

    // The sample imports; show has the cost basis and the marks.
    let o = wh(
        &db,
        &[
            "portfolio",
            "import",
            p.to_str().unwrap(),
            "--account",
            "cash",
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    let v = json(&wh(
        &db,
        &[
            "portfolio",
            "show",
            "--at",
            "2013-03-01",
            "--format",
            "json",
        ],
    ));
    assert_eq!(v["account"], "cash");
    let pos = v["positions"].as_array().unwrap();
    assert_eq!(pos.len(), 2, "{pos:?}");
    assert!(pos.iter().all(|p| p["mark"].is_number()), "{pos:?}");
    let aapl = v["underlyings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["underlying"] == "AAPL")
        .unwrap();
    assert!((aapl["adjusted_basis"].as_f64().unwrap() - 463.7565).abs() < 1e-9);
    let ibm = v["underlyings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["underlying"] == "IBM")
        .unwrap();
    let cyc = &ibm["open_cycle"];
    assert_eq!(cyc["rolls"].as_array().unwrap().len(), 1);
    // Roll net credit: −2 × 0.12 × 100 − 1.30 + 2 × 2.50 × 100 − 1.30 = 473.40.
    assert!(
        (cyc["rolls"][0]["net_credit"].as_f64().unwrap() - 473.40).abs() < 1e-9,
        "{cyc}"
    );

    // The same kind of file as JSON: MSFT puts sold, one contract assigned early.
    let j = dir.path().join("more.json");
    std::fs::write(
        &j,
        r#"[{"underlying":"MSFT","kind":"put","quantity":-2,"strike":27,"expiration":"2013-03-15",
             "style":"american","open_price":0.55,"open_time":"2013-02-20","fees":1.3},
            {"underlying":"MSFT","kind":"put","quantity":1,"strike":27,"expiration":"2013-03-15",
             "style":"american","open_price":0,"open_time":"2013-02-27","event":"assign"}]"#,
    )
    .unwrap();
    let o = wh(&db, &["portfolio", "import", j.to_str().unwrap()]);
    assert!(o.status.success(), "{}", err(&o));
    let v = json(&wh(
        &db,
        &[
            "portfolio",
            "show",
            "--at",
            "2013-03-01",
            "--format",
            "json",
        ],
    ));
    let msft = v["underlyings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["underlying"] == "MSFT")
        .unwrap();
    assert_eq!(msft["state"], "shares_and_short_put");
    // Basis: (2 700 − 110 + 1.30) / 100 shares, the open put's premium included.
    assert!(
        (msft["adjusted_basis"].as_f64().unwrap() - 25.913).abs() < 1e-9,
        "{msft}"
    );
    let t = &msft["open_cycle"]["transitions"];
    assert_eq!(t[1]["early"], true, "{t}");

    // Roll the MSFT put out and down as one linked transaction.
    let o = wh(
        &db,
        &[
            "portfolio",
            "roll",
            "--underlying",
            "MSFT",
            "--kind",
            "put",
            "--strike",
            "27",
            "--expiration",
            "2013-03-15",
            "--close-price",
            "0.30",
            "--new-strike",
            "26",
            "--new-expiration",
            "2013-04-19",
            "--new-price",
            "0.40",
            "--time",
            "2013-03-01",
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    let v = json(&wh(
        &db,
        &[
            "portfolio",
            "show",
            "--at",
            "2013-03-01",
            "--format",
            "json",
        ],
    ));
    let msft = v["underlyings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["underlying"] == "MSFT")
        .unwrap();
    let rolls = msft["open_cycle"]["rolls"].as_array().unwrap();
    assert_eq!(rolls.len(), 1);
    assert!(
        (rolls[0]["net_credit"].as_f64().unwrap() - 10.0).abs() < 1e-9,
        "{rolls:?}"
    );
    assert!(
        v["positions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["underlying"] == "MSFT" && p["strike"] == 26.0)
    );

    // Advise from the stored portfolio; then close the IBM puts and see them gone.
    let v = json(&wh(
        &db,
        &["advise", "MSFT", "--at", "2013-03-01", "--format", "json"],
    ));
    assert!(
        v["recommendations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["underlying"] == "IBM")
    );
    let o = wh(
        &db,
        &[
            "portfolio",
            "close",
            "--underlying",
            "IBM",
            "--kind",
            "put",
            "--strike",
            "197.5",
            "--expiration",
            "2013-03-15",
            "--price",
            "1.19",
            "--time",
            "2013-03-01",
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    let v = json(&wh(
        &db,
        &[
            "portfolio",
            "show",
            "--at",
            "2013-03-01",
            "--format",
            "json",
        ],
    ));
    assert_eq!(
        v["positions"].as_array().unwrap().len(),
        3,
        "AAPL shares, MSFT shares and put"
    );
    // Assigning a position that does not exist is refused.
    let o = wh(
        &db,
        &[
            "portfolio",
            "assign",
            "--underlying",
            "IBM",
            "--kind",
            "put",
            "--strike",
            "197.5",
            "--expiration",
            "2013-03-15",
            "--time",
            "2013-03-15",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let o = wh(&db, &["portfolio", "clear"]);
    assert_eq!(o.status.code(), Some(2));
    let o = wh(&db, &["portfolio", "clear", "--yes"]);
    assert!(o.status.success());
}

#[test]
fn risk_report_and_its_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = init(dir.path());
    let p = sample_portfolio();
    let png = dir.path().join("grid.png");
    let v = json(&wh(
        &db,
        &[
            "risk",
            "--portfolio",
            p.to_str().unwrap(),
            "--at",
            "2013-03-01",
            "--paths",
            "20000",
            "--horizon-days",
            "5",
            "--seed",
            "7",
            "--plot",
            png.to_str().unwrap(),
            "--format",
            "json",
        ],
    ));
    let mc = &v["monte_carlo"];
    for k in [
        "var",
        "cvar",
        "standard_error",
        "paths",
        "horizon_days",
        "confidence",
        "seed",
    ] {
        assert!(!mc[k].is_null(), "monte_carlo.{k}: {mc}");
    }
    assert_eq!(mc["paths"], 20000);
    assert!(
        mc["var"].as_f64().unwrap() > 0.0
            && mc["cvar"].as_f64().unwrap() >= mc["var"].as_f64().unwrap()
    );
    assert!(v["historical"]["var"].is_number() && v["historical"]["cvar"].is_number());
    assert_eq!(
        v["named_shocks"].as_array().unwrap().len(),
        8,
        "2 underlyings × 2 horizons × fall/rise"
    );
    let by = v["exposures"]["by_underlying"].as_array().unwrap();
    assert_eq!(by.len(), 2, "AAPL shares and IBM puts: {by:?}");
    assert!(std::fs::metadata(&png).unwrap().len() > 1000);
    // Beta-weighted delta: the default benchmark SPY is not in the sample store (a note, not an
    // error); against IBM, IBM's own beta is 1 and the total is the sum of the rows.
    assert!(
        v["beta_weighted"]["unavailable"]
            .as_str()
            .unwrap()
            .contains("SPY"),
        "{}",
        v["beta_weighted"]
    );
    assert_eq!(v["stress_vol_model"], "sticky-strike");
    // Per-underlying grids add up to the book's (perfect correlation: same moves) and the P&L
    // explain is there, small moves nearly fully explained.
    let per = v["stress_by_underlying"].as_array().unwrap();
    assert_eq!(per.len(), 2);
    let cell = |g: &serde_json::Value, i: usize, j: usize| g["cells"][i][j].as_f64().unwrap();
    for (i, j) in [(0, 0), (2, 1)] {
        let sum: f64 = per.iter().map(|u| cell(&u["grid"], i, j)).sum();
        let book = cell(&v["stress"], i, j);
        assert!(
            (sum - book).abs() <= 1e-9 * book.abs().max(1.0),
            "{sum} vs {book}"
        );
    }
    let ex = v["pnl_explain"].as_array().unwrap();
    assert_eq!(ex.len(), 6);
    let small = &ex[2]["explain"];
    assert!(
        small["unexplained"].as_f64().unwrap().abs()
            < 0.01 * small["full"].as_f64().unwrap().abs().max(1.0),
        "{small}"
    );
    let b = json(&wh(
        &db,
        &[
            "risk",
            "--portfolio",
            p.to_str().unwrap(),
            "--at",
            "2013-03-01",
            "--paths",
            "2000",
            "--seed",
            "7",
            "--benchmark",
            "IBM",
            "--vol-model",
            "sticky-delta",
            "--stress-correlation",
            "beta",
            "--format",
            "json",
        ],
    ));
    assert_eq!(b["stress_correlation"], "beta");
    let bw = &b["beta_weighted"];
    let rows = bw["by_underlying"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{bw}");
    let mut sum = 0.0;
    for r in rows {
        let beta = r["beta"].as_f64().unwrap();
        if r["underlying"] == "IBM" {
            assert_eq!(beta, 1.0);
        } else {
            assert!(beta > 0.0 && beta < 3.0, "{r}");
            assert!(r["observations"].as_u64().unwrap() >= 200, "{r}");
        }
        let dd = r["delta_dollars"].as_f64().unwrap();
        assert!((r["dollars"].as_f64().unwrap() - beta * dd).abs() < 1e-6 * dd.abs().max(1.0));
        sum += r["dollars"].as_f64().unwrap();
    }
    assert!((bw["total_dollars"].as_f64().unwrap() - sum).abs() < 1e-6 * sum.abs().max(1.0));
    // Sticky delta moves the IVs with the spot: same cells at a zero move, others differ.
    assert_eq!(b["stress_vol_model"], "sticky-delta");
    let moves = v["stress"]["spot_moves"].as_array().unwrap();
    let zero = moves.iter().position(|m| m.as_f64() == Some(0.0)).unwrap();
    assert_eq!(b["stress"]["cells"][zero], v["stress"]["cells"][zero]);
    assert_ne!(b["stress"]["cells"][0], v["stress"]["cells"][0]);
    // Beta moves need a benchmark with history: SPY is not in the sample store.
    let o = wh(
        &db,
        &[
            "risk",
            "--portfolio",
            p.to_str().unwrap(),
            "--at",
            "2013-03-01",
            "--paths",
            "1000",
            "--stress-correlation",
            "beta",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("no beta"), "{}", err(&o));
    // Same seed, same VaR.
    let again = json(&wh(
        &db,
        &[
            "risk",
            "--portfolio",
            p.to_str().unwrap(),
            "--at",
            "2013-03-01",
            "--paths",
            "20000",
            "--horizon-days",
            "5",
            "--seed",
            "7",
            "--format",
            "json",
            "--threads",
            "1",
        ],
    ));
    assert_eq!(again["monte_carlo"]["var"], v["monte_carlo"]["var"]);
    // A proposed trade: two cash-secured MSFT puts need 2 × 27 × 100 of buying power, less
    // the premium received.
    let trade = dir.path().join("trade.csv");
    std::fs::write(
        &trade,
        "underlying,kind,quantity,strike,expiration,style,open_price,open_time\nMSFT,put,-2,27,2013-04-19,american,0.45,2013-03-01\n",
    )
    .unwrap();
    let w = json(&wh(
        &db,
        &[
            "risk",
            "--portfolio",
            p.to_str().unwrap(),
            "--at",
            "2013-03-01",
            "--paths",
            "5000",
            "--what-if",
            trade.to_str().unwrap(),
            "--format",
            "json",
        ],
    ));
    let bp = w["what_if"]["buying_power_change"].as_f64().unwrap();
    assert!((bp - (-5400.0 + 90.0)).abs() < 1e-6, "{}", w["what_if"]);
    assert!(w["what_if"]["delta_dollars_change"].as_f64().unwrap() > 0.0);
    // Errors: zero paths, no portfolio, a position on an underlying with no data.
    let o = wh(
        &db,
        &[
            "risk",
            "--portfolio",
            p.to_str().unwrap(),
            "--at",
            "2013-03-01",
            "--paths",
            "0",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("paths"), "{}", err(&o));
    // An oversized run is refused by the memory budget, not killed by the kernel.
    let o = wh(
        &db,
        &[
            "risk",
            "--portfolio",
            p.to_str().unwrap(),
            "--at",
            "2013-03-01",
            "--paths",
            "100000000000",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("memory budget exhausted"), "{}", err(&o));
    let o = wh(&db, &["risk", "--at", "2013-03-01"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("empty portfolio"), "{}", err(&o));
    let nodata = dir.path().join("nodata.csv");
    std::fs::write(
        &nodata,
        "underlying,kind,quantity,strike,expiration,style,open_price,open_time\nZZZZ,stock,100,,,,10,2013-02-01\n",
    )
    .unwrap();
    let o = wh(
        &db,
        &[
            "risk",
            "--portfolio",
            nodata.to_str().unwrap(),
            "--at",
            "2013-03-01",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("no market data for ZZZZ"), "{}", err(&o));
}
