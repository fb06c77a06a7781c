//! Imports: every kind of bad row is rejected with its line and reason, imports are idempotent
//! and atomic, timestamps get their exchange-local meaning, presets and mappings work, and a
//! canonical CSV survives store → Parquet export → re-import unchanged.

use std::io::Write;
use std::path::{Path, PathBuf};

use wheelhouse_store::export::ExportFilter;
use wheelhouse_store::presets::Preset;
use wheelhouse_store::{ImportOptions, Mapping, Store, StoreConfig, StoreError, Table};

const HEADER: &str = "underlying,quote_time,expiration,strike,type,bid,ask,last,volume,open_interest,underlying_price";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    p
}

fn nop() -> impl FnMut(u64, u64) {
    |_, _| {}
}

fn count(store: &Store, table: &str) -> i64 {
    store
        .connection()
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn import(store: &mut Store, table: Table, path: &Path) -> wheelhouse_store::ImportReport {
    store
        .import_file(table, path, &ImportOptions::default(), &mut nop())
        .unwrap()
}

/// 16:00 New York on 2013-03-15 (EDT) and 2013-03-01 (EST), as UTC ns.
const EXP_2013_03_15_PM: i64 = 1_363_377_600_000_000_000;
const QT_2013_03_01_CLOSE: i64 = 1_362_171_600_000_000_000;

#[test]
fn bad_rows_are_rejected_with_line_field_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{HEADER}
AAPL,2013-03-01,2013-03-15,430,call,12.10,12.40,12.2,100,1000,431.14
AAPL,2013-03-01,2013-03-15,430,put,11.00,10.90,,,,431.14
AAPL,2013-03-01,2013-03-15,435,call,-1.0,2.0,,,,431.14
AAPL,2013-03-01,2013-03-15,440,call,NaN,2.0,,,,431.14
AAPL,2013-03-01,2013-03-15,0,call,1.0,2.0,,,,431.14
AAPL,2013-03-01,2013-02-15,440,call,1.0,2.0,,,,431.14
AAPL,2013-03-01,2013-03-15,445,straddle,1.0,2.0,,,,431.14
AAPL,2013-03-01,2013-03-15,450,put,abc,2.0,,,,431.14
AAPL,2013-03-01,2013-03-15,455,put,1.0,,,,,431.14
AAPL,2013-02-30,2013-03-15,460,put,1.0,2.0,,,,431.14
AAPL,2013-03-01,2013-03-15,100,call,440.0,450.0,,,,431.14
AAPL,2013-03-01,2013-03-15,465,put,1.0,2.0,,-5,,431.14
AAPL,2013-03-01,2013-03-15,470,put,40.0,41.0,,,,431.14
"
    );
    let p = write(dir.path(), "q.csv", &text);
    let mut store = Store::open_in_memory().unwrap();
    let r = import(&mut store, Table::Quotes, &p);
    assert_eq!(r.rows_read, 13);
    assert_eq!(r.accepted, 2, "{:#?}", r.rejections);
    assert_eq!(r.rejected, 11);
    let by_line: Vec<(u64, Option<&str>, &str)> = r
        .rejections
        .iter()
        .map(|x| (x.line, x.field, x.reason.as_str()))
        .collect();
    let expect: &[(u64, &str, &str)] = &[
        (3, "bid", "> ask"),
        (4, "bid", "negative"),
        (5, "bid", "finite"),
        (6, "strike", "> 0"),
        (7, "expiration", "not after the quote time"),
        (8, "type", "unknown option type"),
        (9, "bid", "not a number"),
        (10, "ask", "missing"),
        (11, "quote_time", "bad date"),
        (12, "bid", "upper bound"),
        (13, "volume", "negative"),
    ];
    assert_eq!(by_line.len(), expect.len(), "{by_line:#?}");
    for ((line, field, reason), (el, ef, er)) in by_line.iter().zip(expect) {
        assert_eq!(line, el);
        assert_eq!(*field, Some(*ef), "line {line}: {reason}");
        assert!(reason.contains(er), "line {line}: {reason:?} lacks {er:?}");
    }
    assert_eq!(count(&store, "option_quotes"), 2);
    // Rejects file.
    let rj = dir.path().join("rejects.csv");
    wheelhouse_store::import::write_rejects(&rj, &r).unwrap();
    let text = std::fs::read_to_string(&rj).unwrap();
    assert_eq!(text.lines().count(), 12);
    assert!(text.contains("q.csv,3,bid,11,bid 11 > ask 10.9"), "{text}");
    // Stored values: PM expiration at 16:00 New York, quote time at the close, defaults.
    let (qt, exp, style, settle, mult, root): (i64, i64, String, String, f64, String) = store
        .connection()
        .query_row(
            "SELECT quote_time, expiration, style, settlement, multiplier, root FROM option_quotes WHERE type='call'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )
        .unwrap();
    assert_eq!(qt, QT_2013_03_01_CLOSE);
    assert_eq!(exp, EXP_2013_03_15_PM);
    assert_eq!(
        (style.as_str(), settle.as_str(), mult, root.as_str()),
        ("american", "pm", 100.0, "AAPL")
    );
}

#[test]
fn reimport_is_idempotent_and_conflicts_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(
        dir.path(),
        "a.csv",
        &format!(
            "{HEADER}
aapl,2013-03-01,2013-03-15,430,C,12.10,12.40,12.2,100,1000,431.14
AAPL,2013-03-01,2013-03-15,430,P,11.00,11.30,,,,431.14
AAPL,2013-03-01,2013-03-15,430,P,11.00,11.30,,,,431.14
"
        ),
    );
    let mut store = Store::open_in_memory().unwrap();
    let r1 = import(&mut store, Table::Quotes, &a);
    assert_eq!((r1.accepted, r1.duplicates, r1.conflicts), (2, 1, 0));
    let r2 = import(&mut store, Table::Quotes, &a);
    assert_eq!((r2.accepted, r2.duplicates, r2.conflicts), (0, 3, 0));
    assert_eq!(r2.import_id, None);
    assert_eq!(count(&store, "option_quotes"), 2);
    assert_eq!(count(&store, "imports"), 1);
    // Same key, different bid: kept as stored, counted as a conflict.
    let b = write(
        dir.path(),
        "b.csv",
        &format!(
            "{HEADER}\nAAPL,2013-03-01,2013-03-15,430,call,12.00,12.40,12.2,100,1000,431.14\n"
        ),
    );
    let r3 = import(&mut store, Table::Quotes, &b);
    assert_eq!((r3.accepted, r3.duplicates, r3.conflicts), (0, 1, 1));
    let bid: f64 = store
        .connection()
        .query_row(
            "SELECT bid FROM option_quotes WHERE type = 'call'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(bid, 12.10);
}

/// Files without repeated keys take the direct path (rows appended straight to the table):
/// overlapping another symbol's rows is not a duplicate, a partial re-import stores only the
/// new rows, and the bookkeeping (imports row with its counts, instruments) is the same.
#[test]
fn overlapping_imports_store_only_new_keys() {
    let dir = tempfile::tempdir().unwrap();
    let aapl = write(
        dir.path(),
        "aapl.csv",
        &format!(
            "{HEADER}
AAPL,2013-03-01,2013-03-15,430,C,12.10,12.40,12.2,100,1000,431.14
AAPL,2013-03-01,2013-03-15,430,P,11.00,11.30,,,,431.14
AAPL,2013-03-01,2013-03-15,-5,P,11.00,11.30,,,,431.14
"
        ),
    );
    let ibm = write(
        dir.path(),
        "ibm.csv",
        &format!(
            "{HEADER}
IBM,2013-03-01,2013-03-15,200,C,2.10,2.40,,,,201.5
IBM,2013-03-01,2013-03-15,200,P,1.00,1.30,,,,201.5
"
        ),
    );
    let more = write(
        dir.path(),
        "more.csv",
        &format!(
            "{HEADER}
AAPL,2013-03-01,2013-03-15,430,P,11.00,11.30,,,,431.14
IBM,2013-03-01,2013-03-15,200,P,1.05,1.30,,,,201.5
IBM,2013-03-01,2013-03-15,205,P,3.00,3.30,,,,201.5
"
        ),
    );
    let mut store = Store::open_in_memory().unwrap();
    let r = import(&mut store, Table::Quotes, &aapl);
    assert_eq!((r.accepted, r.rejected, r.duplicates), (2, 1, 0));
    let r = import(&mut store, Table::Quotes, &ibm);
    assert_eq!((r.accepted, r.duplicates, r.conflicts), (2, 0, 0));
    let r = import(&mut store, Table::Quotes, &more);
    assert_eq!((r.accepted, r.duplicates, r.conflicts), (1, 2, 1));
    assert_eq!(r.import_id, Some(3));
    let r = import(&mut store, Table::Quotes, &ibm);
    assert_eq!((r.accepted, r.duplicates, r.conflicts), (0, 2, 0));
    assert_eq!(count(&store, "option_quotes"), 5);
    let per_import: Vec<(i64, i64, i64, i64, i64)> = store
        .connection()
        .prepare(
            "SELECT i.import_id, accepted, rejected, duplicates, (SELECT count(*) FROM option_quotes q WHERE q.import_id = i.import_id)
             FROM imports i ORDER BY 1",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        per_import,
        [(1, 2, 1, 0, 2), (2, 2, 0, 0, 2), (3, 1, 0, 2, 1)]
    );
    assert_eq!(count(&store, "instruments"), 2);
    // The stored IBM 200 put keeps its first bid.
    let bid: f64 = store
        .connection()
        .query_row(
            "SELECT bid FROM option_quotes WHERE underlying = 'IBM' AND strike = 200 AND type = 'put'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(bid, 1.0);
}

#[test]
fn malformed_or_truncated_files_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_in_memory().unwrap();
    let good = write(
        dir.path(),
        "good.csv",
        &format!(
            "{HEADER}\nAAPL,2013-03-01,2013-03-15,430,call,12.10,12.40,12.2,100,1000,431.14\n"
        ),
    );
    import(&mut store, Table::Quotes, &good);
    let before = count(&store, "option_quotes");
    // Many valid rows, then a truncated last line.
    let mut text = String::from(HEADER);
    text.push('\n');
    for i in 0..50_000 {
        text.push_str(&format!(
            "MSFT,2013-03-01,2013-04-19,{},put,1.00,1.10,,,,27.95\n",
            10.0 + f64::from(i) * 0.001
        ));
    }
    text.push_str("MSFT,2013-03-01,2013-04-19,28,put,1.0");
    let trunc = write(dir.path(), "trunc.csv", &text);
    let e = store
        .import_file(Table::Quotes, &trunc, &ImportOptions::default(), &mut nop())
        .unwrap_err();
    assert!(matches!(e, StoreError::MalformedFile { .. }), "{e}");
    assert!(e.to_string().contains("line 50002"), "{e}");
    assert_eq!(count(&store, "option_quotes"), before);
    assert_eq!(count(&store, "instruments"), 1);
    // Missing column.
    let nocol = write(
        dir.path(),
        "nocol.csv",
        "underlying,quote_time\nAAPL,2013-03-01\n",
    );
    let e = store
        .import_file(Table::Quotes, &nocol, &ImportOptions::default(), &mut nop())
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing required column \"expiration\""), "{e}");
    // A corrupt Parquet file (a valid export cut short).
    let pq = dir.path().join("q.parquet");
    store
        .export(Table::Quotes, &pq, &ExportFilter::default())
        .unwrap();
    let bytes = std::fs::read(&pq).unwrap();
    let cut = dir.path().join("cut.parquet");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = store
        .import_file(Table::Quotes, &cut, &ImportOptions::default(), &mut nop())
        .unwrap_err();
    assert!(matches!(e, StoreError::MalformedFile { .. }), "{e}");
    assert_eq!(count(&store, "option_quotes"), before);
    // Unknown extension.
    let e = store
        .import_file(
            Table::Quotes,
            &dir.path().join("x.xlsx"),
            &ImportOptions::default(),
            &mut nop(),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown file type"), "{e}");
    // Imports turn DuckDB's insertion-order setting off while they run; failed ones too
    // leave it as it was.
    let order: bool = store
        .connection()
        .query_row(
            "SELECT current_setting('preserve_insertion_order')::BOOLEAN",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(order);
}

#[test]
fn csv_to_store_to_parquet_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        dir.path(),
        "rt.csv",
        "underlying,root,quote_time,expiration,strike,type,style,settlement,multiplier,bid,ask,last,volume,open_interest,underlying_price,vendor_iv,vendor_delta
SPX,SPX,2013-03-01T15:45:00-05:00,2013-03-15,1500,call,european,am,100,19.5,20.1,19.9,1200,50000,1518.2,0.123,0.61
SPX,SPXW,2013-03-01T15:45:00-05:00,2013-03-15,1500,call,european,pm,100,19.9,20.5,,,,1518.2,,
AAPL,AAPL,2013-03-01 15:59:59.123456789,2013-03-15T16:00:00-04:00,430,put,american,pm,100,11.00,11.30,,7,,431.14,,
",
    );
    let mut a = Store::open_in_memory().unwrap();
    let r = import(&mut a, Table::Quotes, &csv);
    assert_eq!(r.accepted, 3, "{:?}", r.rejections);
    // AM settlement on the expiration date: 09:30 New York.
    let am: i64 = a
        .connection()
        .query_row(
            "SELECT expiration FROM option_quotes WHERE root = 'SPX'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        am,
        EXP_2013_03_15_PM - 6 * 3_600_000_000_000 - 1_800_000_000_000
    );
    let pq = dir.path().join("rt.parquet");
    assert_eq!(
        a.export(Table::Quotes, &pq, &ExportFilter::default())
            .unwrap(),
        3
    );
    let mut b = Store::open_in_memory().unwrap();
    let r = import(&mut b, Table::Quotes, &pq);
    assert_eq!(r.accepted, 3, "{:?}", r.rejections);
    let dump = |s: &Store| -> Vec<String> {
        let mut st = s
            .connection()
            .prepare("SELECT * EXCLUDE (import_id) FROM option_quotes ORDER BY root, strike")
            .unwrap();
        let n = st.column_count();
        let _ = n;
        st.query_map([], |r| {
            let mut v = Vec::new();
            for i in 0..20 {
                let x: duckdb::types::Value = r.get(i)?;
                v.push(format!("{x:?}"));
            }
            Ok(v.join("|"))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    assert_eq!(dump(&a), dump(&b));
    // Nanosecond precision of a local time survives.
    let qt: i64 = b
        .connection()
        .query_row(
            "SELECT quote_time FROM option_quotes WHERE root = 'AAPL'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(qt % 1_000_000_000, 123_456_789);
}

#[test]
fn other_tables_validate_their_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open_in_memory().unwrap();
    let bars = write(
        dir.path(),
        "bars.csv",
        "symbol,date,open,high,low,close,volume\nAAPL,2013-03-01,438,438.2,429,430.47,19730000\nAAPL,2013-03-04,430,425,429,420,1\n",
    );
    let r = import(&mut s, Table::Bars, &bars);
    assert_eq!((r.accepted, r.rejected), (1, 1));
    assert!(r.rejections[0].reason.contains("inconsistent bar"));
    let rates = write(
        dir.path(),
        "rates.csv",
        "date,tenor,rate\n2013-03-01,3M,0.0011\n2013-03-01,1Y,5.0\n2013-03-01,bogus,0.01\n",
    );
    let r = import(&mut s, Table::Rates, &rates);
    assert_eq!((r.accepted, r.rejected), (1, 2));
    assert!(r.rejections[0].reason.contains("rates are decimals"));
    let tenor: f64 = s
        .connection()
        .query_row("SELECT tenor_years FROM rates", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tenor, 0.25);
    let trades = write(
        dir.path(),
        "trades.csv",
        "symbol,ts,price,size\nAAPL,2013-03-01T14:30:00.000001Z,430.1,100\nAAPL,2013-03-01T14:30:00.000001Z,430.2,200\nAAPL,2013-03-01T14:30:01Z,0,200\n",
    );
    let r = import(&mut s, Table::Trades, &trades);
    assert_eq!((r.accepted, r.rejected), (2, 1));
    let seqs: Vec<i64> = {
        let mut st = s
            .connection()
            .prepare("SELECT seq FROM trades ORDER BY seq")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(seqs, vec![0, 1]);
    assert_eq!(import(&mut s, Table::Trades, &trades).accepted, 0);
    let nbbo = write(
        dir.path(),
        "nbbo.csv",
        "symbol,ts,bid,ask,bid_size,ask_size\nAAPL,2013-03-01T14:30:00Z,430.1,430.2,100,200\nAAPL,2013-03-01T14:30:01Z,430.3,430.2,1,1\n",
    );
    let r = import(&mut s, Table::Nbbo, &nbbo);
    assert_eq!((r.accepted, r.rejected), (1, 1));
    assert!(r.rejections[0].reason.contains("crossed"));
    let divs = write(
        dir.path(),
        "d.csv",
        "symbol,ex_date,amount\nMSFT,2013-02-19,0.23\n",
    );
    assert_eq!(import(&mut s, Table::Dividends, &divs).accepted, 1);
    let splits = write(
        dir.path(),
        "s.csv",
        "symbol,ex_date,ratio\nAAPL,2005-02-28,2\nAAPL,2000-06-21,-2\n",
    );
    let r = import(&mut s, Table::Splits, &splits);
    assert_eq!((r.accepted, r.rejected), (1, 1));
    assert_eq!(
        s.symbols().unwrap(),
        vec!["AAPL".to_string(), "MSFT".to_string()]
    );
}

#[test]
fn mapping_file_and_cboe_preset() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open_in_memory().unwrap();
    let vendor = write(
        dir.path(),
        "vendor.csv",
        "Sym;Date;Expiry;StrikeX1000;PC;Bid;Ask;Px\nibm;03/01/2013;03/15/2013;200000;P;1.05;1.10;202.91\nibm;03/01/2013;03/15/2013;205000;X;1.05;1.10;202.91\n",
    );
    let map = Mapping::from_toml(
        r#"
table = "quotes"
delimiter = ";"
[columns]
underlying = "Sym"
quote_time = "Date"
expiration = "Expiry"
strike = "StrikeX1000"
type = "PC"
bid = "Bid"
ask = "Ask"
underlying_price = "Px"
[formats]
quote_time = "%m/%d/%Y"
expiration = "%m/%d/%Y"
[values.type]
P = "put"
C = "call"
[scale]
strike = 0.001
"#,
        "map.toml",
        Table::Quotes,
    )
    .unwrap();
    let r = s
        .import_file(
            Table::Quotes,
            &vendor,
            &ImportOptions {
                mapping: Some(&map),
                source_label: None,
            },
            &mut nop(),
        )
        .unwrap();
    assert_eq!((r.accepted, r.rejected), (1, 1), "{:?}", r.rejections);
    assert_eq!(r.rejections[0].line, 3);
    let (k, exp): (f64, i64) = s
        .connection()
        .query_row("SELECT strike, expiration FROM option_quotes", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((k, exp), (200.0, EXP_2013_03_15_PM));

    let cboe = write(
        dir.path(),
        "UnderlyingOptionsEODCalcs_2013-03-01.csv",
        "underlying_symbol,quote_date,root,expiration,strike,option_type,open,high,low,close,trade_volume,bid_size_1545,bid_1545,ask_size_1545,ask_1545,underlying_bid_1545,underlying_ask_1545,implied_underlying_price_1545,active_underlying_price_1545,implied_volatility_1545,delta_1545,gamma_1545,theta_1545,vega_1545,rho_1545,bid_size_eod,bid_eod,ask_size_eod,ask_eod,underlying_bid_eod,underlying_ask_eod,vwap,open_interest,delivery_code
^SPX,2013-03-01,SPX,2013-03-15,1500.000,C,0,0,0,0.0000,0,50,19.5000,50,20.1000,1517.9,1518.5,1518.3,1518.2000,0.1230,0.6100,0.0050,-0.3100,1.0200,0.4000,10,19.4,10,20.0,1518.0,1518.6,0,50000,
^SPX,2013-03-01,SPXW,2013-03-15,1500.000,C,0,0,0,20.0000,12,50,19.9000,50,20.5000,1517.9,1518.5,1518.3,1518.2000,0.1200,0.6000,0.0050,-0.3000,1.0000,0.4000,10,19.8,10,20.4,1518.0,1518.6,20.0,900,
AAPL,2013-03-01,AAPL,2013-03-15,430.000,P,11,12,10,11.2000,345,5,11.0000,5,11.3000,431.1,431.2,431.15,431.1400,0.3100,-0.4500,0.0100,-0.9000,0.3000,-0.1000,5,11.1,5,11.4,431.0,431.3,11.1,2000,
",
    );
    let m = Preset::Cboe.mapping(Table::Quotes).unwrap();
    let r = s
        .import_file(
            Table::Quotes,
            &cboe,
            &ImportOptions {
                mapping: Some(&m),
                source_label: None,
            },
            &mut nop(),
        )
        .unwrap();
    assert_eq!((r.accepted, r.rejected), (3, 0), "{:?}", r.rejections);
    let rows: Vec<(String, String, String, i64, i64, Option<f64>)> = {
        let mut st = s
            .connection()
            .prepare("SELECT root, style, settlement, quote_time, expiration, vendor_iv FROM option_quotes WHERE quote_time < 1362171600000000000 ORDER BY root")
            .unwrap();
        st.query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    // 15:45 New York on 2013-03-01 = 20:45 UTC.
    let qt = QT_2013_03_01_CLOSE - 15 * 60 * 1_000_000_000;
    assert_eq!(rows[0].0, "AAPL");
    assert_eq!(
        (rows[0].1.as_str(), rows[0].2.as_str(), rows[0].3),
        ("american", "pm", qt)
    );
    assert_eq!(
        (rows[1].0.as_str(), rows[1].1.as_str(), rows[1].2.as_str()),
        ("SPX", "european", "am")
    );
    assert_eq!(rows[1].4, EXP_2013_03_15_PM - 23_400_000_000_000);
    assert_eq!(
        (rows[2].0.as_str(), rows[2].2.as_str(), rows[2].4),
        ("SPXW", "pm", EXP_2013_03_15_PM)
    );
    assert_eq!(rows[1].5, Some(0.123));
}

#[test]
fn store_file_schema_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("w.duckdb");
    let cfg = StoreConfig {
        memory_limit: Some("256MB".into()),
        threads: Some(1),
        read_only: false,
    };
    {
        let s = Store::open(&path, &cfg).unwrap();
        assert_eq!(
            s.schema_version().unwrap(),
            wheelhouse_store::schema::latest_version()
        );
    }
    {
        let s = Store::open(&path, &cfg).unwrap();
        assert_eq!(
            s.schema_version().unwrap(),
            wheelhouse_store::schema::latest_version()
        );
        s.connection()
            .execute_batch("INSERT INTO schema_migrations VALUES (999, 'future', 0)")
            .unwrap();
    }
    let e = Store::open(&path, &cfg).unwrap_err();
    assert!(
        matches!(e, StoreError::SchemaTooNew { found: 999, .. }),
        "{e}"
    );
    let bad = StoreConfig {
        memory_limit: Some("lots".into()),
        ..StoreConfig::default()
    };
    let e = Store::open(&dir.path().join("x.duckdb"), &bad)
        .unwrap_err()
        .to_string();
    assert!(e.contains("memory_limit"), "{e}");
    let mem = Store::open_in_memory().unwrap();
    let e = mem.snapshot_at("ZZZ", None).unwrap_err().to_string();
    assert!(e.contains("unknown symbol \"ZZZ\""), "{e}");
}

/// Arrow sources in the canonical layout take the columnar path; with a mapping file they
/// take the row path. Both store the same rows (values, nulls, derived root, defaults) and
/// report the same rejections; a batch with a bad row, lower-case symbols or integer columns
/// read as doubles goes through the row path and is stored identically.
#[test]
fn columnar_and_row_paths_store_the_same_rows() {
    use arrow_array::{
        ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray,
    };
    use std::sync::Arc;
    let n = 3000;
    let day = 86_400_000_000_000i64;
    let batch = |first: usize, bad: Option<usize>, lower: bool| -> RecordBatch {
        let rows = first..first + n;
        let und: Vec<String> = rows
            .clone()
            .map(|i| {
                let s = ["AAPL", "IBM", "MSFT"][i % 3];
                if lower && i % 7 == 0 {
                    s.to_ascii_lowercase()
                } else {
                    s.to_string()
                }
            })
            .collect();
        let qt: Vec<i64> = rows
            .clone()
            .map(|i| QT_2013_03_01_CLOSE + (i / 600) as i64 * day)
            .collect();
        let exp: Vec<i64> = qt.iter().map(|t| t + 14 * day).collect();
        let strike: Vec<f64> = rows.clone().map(|i| 10.0 + i as f64 * 0.25).collect();
        let ty: Vec<&str> = rows
            .clone()
            .map(|i| ["C", "put", "call"][(i / 2) % 3])
            .collect();
        let bid: Vec<f64> = rows.clone().map(|i| 1.0 + (i % 17) as f64 * 0.05).collect();
        let ask: Vec<f64> = rows
            .clone()
            .map(|i| {
                if Some(i) == bad {
                    0.5
                } else {
                    1.1 + (i % 17) as f64 * 0.05
                }
            })
            .collect();
        let last: Vec<Option<f64>> = rows.clone().map(|i| (i % 5 == 0).then_some(1.05)).collect();
        let vol: Vec<Option<i64>> = rows
            .clone()
            .map(|i| (i % 3 != 0).then_some(i as i64))
            .collect();
        let spot: Vec<f64> = rows.clone().map(|i| 100.0 + (i % 11) as f64).collect();
        let cols: Vec<(&str, ArrayRef)> = vec![
            ("underlying", Arc::new(StringArray::from(und))),
            (
                "quote_time",
                Arc::new(TimestampNanosecondArray::from(qt).with_timezone("UTC")),
            ),
            (
                "expiration",
                Arc::new(TimestampNanosecondArray::from(exp).with_timezone("UTC")),
            ),
            ("strike", Arc::new(Float64Array::from(strike))),
            ("type", Arc::new(StringArray::from(ty))),
            ("bid", Arc::new(Float64Array::from(bid))),
            ("ask", Arc::new(Float64Array::from(ask))),
            ("last", Arc::new(Float64Array::from(last))),
            ("volume", Arc::new(Int64Array::from(vol))),
            ("underlying_price", Arc::new(Float64Array::from(spot))),
        ];
        RecordBatch::try_from_iter(cols).unwrap()
    };
    // Local times: quote times as naive date-times (New York), expirations as dates whose
    // meaning depends on the row's settlement (AM: 09:30, PM: 16:00).
    let local = |b: RecordBatch| -> RecordBatch {
        use arrow_array::{Array, Date32Array};
        let qt = b.column_by_name("quote_time").unwrap();
        let qt = qt
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .unwrap();
        let naive: ArrayRef = Arc::new(TimestampNanosecondArray::from(
            qt.values()
                .iter()
                .map(|t| t - 5 * 3_600_000_000_000)
                .collect::<Vec<_>>(),
        ));
        let days: ArrayRef = Arc::new(Date32Array::from(
            (0..b.num_rows())
                .map(|r| 15_820 + (r % 9) as i32)
                .collect::<Vec<_>>(),
        ));
        let settle: ArrayRef = Arc::new(StringArray::from(
            (0..b.num_rows())
                .map(|r| if r % 4 == 0 { "AM" } else { "pm" })
                .collect::<Vec<_>>(),
        ));
        let mut cols: Vec<(&str, ArrayRef)> = b
            .schema()
            .fields()
            .iter()
            .zip(b.columns())
            .map(|(f, c)| match f.name().as_str() {
                "quote_time" => ("quote_time", naive.clone()),
                "expiration" => ("expiration", days.clone()),
                name => (
                    [
                        "underlying",
                        "strike",
                        "type",
                        "bid",
                        "ask",
                        "last",
                        "volume",
                        "underlying_price",
                    ]
                    .into_iter()
                    .find(|k| *k == name)
                    .unwrap(),
                    c.clone(),
                ),
            })
            .collect();
        cols.push(("settlement", settle));
        RecordBatch::try_from_iter(cols).unwrap()
    };
    let batches = vec![
        batch(0, None, false),
        batch(n, Some(n + 17), false),
        batch(2 * n, None, true),
    ];
    // Text times: RFC 3339 quote times, bare-date expirations (with the settlement column).
    let text = |b: RecordBatch| -> RecordBatch {
        let b = local(b);
        let qt = b.column_by_name("quote_time").unwrap();
        let qt = qt
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .unwrap();
        let rfc: ArrayRef = Arc::new(StringArray::from(
            qt.values()
                .iter()
                .map(|t| {
                    jiff::Timestamp::from_nanosecond(i128::from(t + 5 * 3_600_000_000_000))
                        .unwrap()
                        .to_string()
                })
                .collect::<Vec<_>>(),
        ));
        let days: ArrayRef = Arc::new(StringArray::from(
            (0..b.num_rows())
                .map(|r| format!("2013-04-{}", 26 + r % 3))
                .collect::<Vec<_>>(),
        ));
        let cols: Vec<(String, ArrayRef)> = b
            .schema()
            .fields()
            .iter()
            .zip(b.columns())
            .map(|(f, c)| match f.name().as_str() {
                "quote_time" => (f.name().clone(), rfc.clone()),
                "expiration" => (f.name().clone(), days.clone()),
                _ => (f.name().clone(), c.clone()),
            })
            .collect();
        RecordBatch::try_from_iter(cols).unwrap()
    };
    let local_batches = vec![local(batch(3 * n, None, false))];
    let text_batches = vec![text(batch(4 * n, None, false))];
    // A null in a column with a default (multiplier): the default, on both paths.
    let with_multiplier = |b: RecordBatch| -> RecordBatch {
        let m: ArrayRef = Arc::new(Float64Array::from(
            (0..b.num_rows())
                .map(|r| (r % 13 != 0).then_some(100.0))
                .collect::<Vec<_>>(),
        ));
        let mut cols: Vec<(String, ArrayRef)> = b
            .schema()
            .fields()
            .iter()
            .zip(b.columns())
            .map(|(f, c)| (f.name().clone(), c.clone()))
            .collect();
        cols.push(("multiplier".into(), m));
        RecordBatch::try_from_iter(cols).unwrap()
    };
    let multiplier_batches = vec![with_multiplier(batch(5 * n, None, false))];
    let mapping = Mapping::from_toml(
        "[defaults]\nstyle = \"american\"\n",
        "identity",
        Table::Quotes,
    )
    .unwrap();
    let mut stores = Vec::new();
    let mut reports = Vec::new();
    for mapped in [false, true] {
        let mut store = Store::open_in_memory().unwrap();
        let opts = ImportOptions {
            mapping: mapped.then_some(&mapping),
            source_label: None,
        };
        for part in [&batches, &local_batches, &text_batches, &multiplier_batches] {
            let r = store
                .import_batches(Table::Quotes, "quotes", part.clone(), &opts, &mut nop())
                .unwrap();
            reports.push((
                r.accepted,
                r.rejected,
                r.duplicates,
                r.rejections
                    .iter()
                    .map(|j| (j.line, j.field))
                    .collect::<Vec<_>>(),
            ));
        }
        stores.push(store);
    }
    assert_eq!(reports[..4], reports[4..]);
    assert_eq!(
        (reports[0].0, reports[1].0, reports[2].0, reports[3].0),
        (3 * n as u64 - 1, n as u64, n as u64, n as u64)
    );
    assert_eq!(reports[0].3, [(n as u64 + 18, Some("bid"))]);
    let dump = |s: &Store| -> Vec<String> {
        let mut st = s
            .connection()
            .prepare("SELECT * EXCLUDE (import_id) FROM option_quotes ORDER BY ALL")
            .unwrap();
        let mut rows = st.query([]).unwrap();
        let mut out = Vec::new();
        while let Some(r) = rows.next().unwrap() {
            out.push(
                (0..20)
                    .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                    .collect::<Vec<_>>()
                    .join("|"),
            );
        }
        out
    };
    let (a, b) = (dump(&stores[0]), dump(&stores[1]));
    assert_eq!(a.len(), 6 * n - 1);
    assert_eq!(a, b);
    let defaults: i64 = stores[0]
        .connection()
        .query_row(
            "SELECT count(*) FROM option_quotes WHERE style = 'american' AND settlement = 'pm' AND multiplier = 100 AND root = underlying",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(defaults, 4 * n as i64 - 1 + 2 * (3 * n as i64 / 4));
    // AM-settled expirations at 09:30 New York (EDT in April 2013: 13:30 UTC).
    let am: i64 = stores[0]
        .connection()
        .query_row(
            "SELECT count(*) FROM option_quotes WHERE settlement = 'am' AND expiration % 86400000000000 = 48600000000000",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(am, 2 * (n as i64 / 4));
}
