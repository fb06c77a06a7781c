//! Chain analytics on a 5 000-quote snapshot (12 expiries): European and American styles.
//! Run: `cargo bench -p wheelhouse-market --bench chain`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wheelhouse_core::ExerciseStyle;
use wheelhouse_market::chain::{ChainSettings, analyze_chain};
use wheelhouse_pricing::american::AmericanSettings;
use wheelhouse_testkit::chains::{SnapshotSpec, synthetic_snapshot};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("chain_analytics");
    g.sample_size(10);
    for (name, style, american) in [
        ("european", ExerciseStyle::European, AmericanSettings::FAST),
        (
            "american_fast",
            ExerciseStyle::American,
            AmericanSettings::FAST,
        ),
        (
            "american_accurate",
            ExerciseStyle::American,
            AmericanSettings::ACCURATE,
        ),
    ] {
        let quotes = synthetic_snapshot(&SnapshotSpec::five_thousand(style));
        let settings = ChainSettings {
            american,
            ..ChainSettings::default()
        };
        g.throughput(Throughput::Elements(quotes.len() as u64));
        g.bench_function(format!("{name}/{}", quotes.len()), |b| {
            b.iter(|| analyze_chain(&quotes, &[(1.0, 0.03)], &settings).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
