//! Times one Parquet quote import of `N` rows (default 1 M) into a fresh store, `REPS` times:
//! `cargo run --release -p wheelhouse-store --example import_probe -- [N] [REPS]`. The rows
//! are those of `wheelhouse bench import` ([`wheelhouse_store::records::benchmark_quotes`], its
//! default seed). `RUST_LOG=wheelhouse_store=debug` shows the phases.

use std::time::Instant;

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
    let quotes = wheelhouse_store::records::benchmark_quotes(n, 20_261_122);
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
