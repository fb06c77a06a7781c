//! `advise` for one underlying with a ~5 000-quote chain and a 50-position portfolio, chain
//! analytics already computed (as the CLI holds them in its analytics cache).
//!
//! - `advise/in_memory`: the advisor alone on a ready `MarketView`.
//! - `advise/from_cache_json`: plus decoding the cached analytics payload (what the CLI reads
//!   from the store's analytics cache), the in-process end-to-end path after warm-up.
//! - `advise/analytics_cold`: the chain analytics themselves (European chain), for scale.
//!
//! `cargo bench -p wheelhouse-wheel --bench advise`

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use wheelhouse_compute::Backend;
use wheelhouse_core::{ExerciseStyle, OptionType, UnixNanos};
use wheelhouse_market::chain::{ChainAnalytics, ChainSettings, analyze_chain};
use wheelhouse_testkit::chains::{SnapshotSpec, synthetic_snapshot};
use wheelhouse_wheel::advisor::{Request, advise};
use wheelhouse_wheel::candidates::MarketView;
use wheelhouse_wheel::config::AdvisorConfig;
use wheelhouse_wheel::ledger::{AccountType, Fill, Ledger};

const DAY: i64 = 86_400_000_000_000;

fn closes(qt: UnixNanos, n: usize) -> Vec<(UnixNanos, f64)> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut u = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let mut p = 100.0;
    (0..n)
        .map(|i| {
            let z = (-2.0 * u().ln()).sqrt() * (2.0 * std::f64::consts::PI * u()).cos();
            p *= (0.16 / 252f64.sqrt() * z).exp();
            (UnixNanos(qt.0 - (n - i) as i64 * DAY), p)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut quotes = synthetic_snapshot(&SnapshotSpec::five_thousand(ExerciseStyle::European));
    for (i, q) in quotes.iter_mut().enumerate() {
        let m = (q.strike / 100.0).ln().abs();
        q.open_interest = Some(((5000.0 * (-m * 8.0).exp()) as i64).max(i as i64 % 7));
        q.volume = Some((800.0 * (-m * 10.0).exp()) as i64);
    }
    let settings = ChainSettings {
        default_rate: 0.03,
        ..ChainSettings::default()
    };
    let chain = analyze_chain(&quotes, &[], &settings).unwrap();
    let qt = chain.quote_time;
    let payload = serde_json::to_string(&chain).unwrap();
    // 50 positions: 5 000 shares and 49 short options held on the chain's own contracts.
    let mut fills = vec![
        Fill::deposit(UnixNanos(qt.0 - 100 * DAY), 2_000_000.0),
        Fill::stock_trade(UnixNanos(qt.0 - 90 * DAY), "SYN", 5_000.0, 98.0),
    ];
    let mut picked = 0;
    for (i, q) in quotes.iter().enumerate() {
        let d = (q.expiration.0 - qt.0) / DAY;
        if picked < 49 && i % 83 == 0 && d > 5 && q.bid > 0.05 {
            fills.push(Fill::option_trade(
                UnixNanos(qt.0 - 5 * DAY),
                "SYN",
                q.option_type,
                q.strike,
                q.expiration,
                -1.0,
                q.bid * 1.3,
            ));
            picked += 1;
        }
    }
    let ledger = Ledger::replay(AccountType::Margin, &fills).unwrap();
    assert_eq!(ledger.positions().len(), 50);
    let view = MarketView {
        symbol: "SYN".into(),
        quotes: quotes.clone(),
        chain,
        closes: closes(qt, 300),
        ex_dividends: vec![],
        earnings: vec![],
        iv_rank: Some((0.5, 0.5, 250)),
    };
    let mut markets = BTreeMap::from([("SYN".to_string(), view)]);
    let cfg = AdvisorConfig::default();
    let backend = Backend::cpu(None).unwrap();
    let symbols = vec!["SYN".to_string()];
    let now = UnixNanos(qt.0 + 3_600_000_000_000);
    let a = advise(&Request {
        now,
        ledger: &ledger,
        markets: &markets,
        symbols: &symbols,
        config: &cfg,
        backend: &backend,
    });
    eprintln!(
        "{} quotes, {} positions: {} recommendations, first {:?} {:?}",
        quotes.len(),
        ledger.positions().len(),
        a.recommendations.len(),
        a.recommendations[0].action,
        a.recommendations[0].kind
    );
    let mut g = c.benchmark_group("advise");
    g.bench_function("in_memory", |b| {
        b.iter(|| {
            black_box(advise(&Request {
                now,
                ledger: &ledger,
                markets: &markets,
                symbols: &symbols,
                config: &cfg,
                backend: &backend,
            }))
        })
    });
    g.bench_function("from_cache_json", |b| {
        b.iter(|| {
            let chain: ChainAnalytics = serde_json::from_str(black_box(&payload)).unwrap();
            markets.get_mut("SYN").unwrap().chain = chain;
            black_box(advise(&Request {
                now,
                ledger: &ledger,
                markets: &markets,
                symbols: &symbols,
                config: &cfg,
                backend: &backend,
            }))
        })
    });
    g.sample_size(10);
    g.bench_function("analytics_cold", |b| {
        b.iter(|| black_box(analyze_chain(&quotes, &[], &settings).unwrap()))
    });
    g.finish();
    let _ = OptionType::Put;
}

criterion_group!(benches, bench);
criterion_main!(benches);
