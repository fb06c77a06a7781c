//! Times one Parquet quote import of `N` rows (default 1 M) into a fresh store, `REPS` times:
//! `cargo run --release -p wheelhouse-store --example import_probe -- [N] [REPS]`. The rows
//! are those of `wheelhouse bench import` (4 symbols × 12 expiries × 100 strikes × 2 types per
//! day). `RUST_LOG=wheelhouse_store=debug` shows the phases.

use std::time::Instant;

use wheelhouse_core::records::OptionQuote;
use wheelhouse_core::{ExerciseStyle, OptionType, Settlement, UnixNanos};
use wheelhouse_store::{ImportOptions, Store, StoreConfig, Table};

fn main() {
    tracing_subscriber_init();
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let reps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let dir = tempfile::tempdir().expect("temp dir");
    let day = 86_400_000_000_000i64;
    let t0 = 1_362_171_600_000_000_000i64;
    let per_day = 4 * 12 * 100 * 2;
    let mut state = 42u64;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    let quotes: Vec<OptionQuote> = (0..n)
        .map(|i| {
            let d = (i / per_day) as i64;
            let r = i % per_day;
            let e = (r / 200) % 12;
            let mid = 0.05 + 20.0 * next();
            OptionQuote {
                underlying: ["AAPL", "IBM", "MSFT", "GOOG"][r / 2400].to_string(),
                quote_time: UnixNanos(t0 + d * day),
                expiration: UnixNanos(t0 + d * day + (e as i64 + 1) * 7 * day),
                strike: 50.0 + ((r / 2) % 100) as f64 * 2.5,
                option_type: if r % 2 == 0 {
                    OptionType::Call
                } else {
                    OptionType::Put
                },
                style: ExerciseStyle::American,
                settlement: Settlement::Pm,
                multiplier: 100.0,
                bid: (mid * 0.98 * 100.0).round() / 100.0,
                ask: (mid * 1.02 * 100.0).round() / 100.0 + 0.01,
                last: None,
                volume: Some((next() * 1000.0) as i64),
                open_interest: Some((next() * 10_000.0) as i64),
                underlying_price: 100.0,
                vendor_iv: None,
                vendor_delta: None,
            }
        })
        .collect();
    let pq = dir.path().join("quotes.parquet");
    let first = wheelhouse_store::records::quotes_batch(&quotes[..1]).expect("batch");
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&pq).expect("create"),
        first.schema(),
        None,
    )
    .expect("writer");
    for chunk in quotes.chunks(65_536) {
        w.write(&wheelhouse_store::records::quotes_batch(chunk).expect("batch"))
            .expect("write");
    }
    w.close().expect("close");
    for rep in 0..reps {
        let db = dir.path().join(format!("probe{rep}.duckdb"));
        let mut store = Store::open(&db, &StoreConfig::default()).expect("open");
        let t = Instant::now();
        let r = store
            .import_file(
                Table::Quotes,
                &pq,
                &ImportOptions::default(),
                &mut |_, _| {},
            )
            .expect("import");
        let secs = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let again = store
            .import_file(
                Table::Quotes,
                &pq,
                &ImportOptions::default(),
                &mut |_, _| {},
            )
            .expect("re-import");
        println!(
            "rep {rep}: {} rows in {secs:.3} s = {:.3} M rows/s; re-import {} duplicates in {:.3} s",
            r.accepted,
            n as f64 / secs / 1e6,
            again.duplicates,
            t.elapsed().as_secs_f64()
        );
    }
}

fn tracing_subscriber_init() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
}
