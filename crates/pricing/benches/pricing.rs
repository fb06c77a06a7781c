//! Scalar closed-form BSM: price alone and price + all Greeks, per element, one thread.
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use wheelhouse_pricing::black::{bsm_greeks_unchecked, bsm_price_unchecked};
use wheelhouse_pricing::{BsmInputs, OptionType};

fn inputs(n: usize) -> Vec<BsmInputs> {
    let mut s = 0x1234_5678_9abc_def0u64;
    let mut u = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| BsmInputs {
            kind: if u() < 0.5 {
                OptionType::Call
            } else {
                OptionType::Put
            },
            spot: 100.0,
            strike: 100.0 * (0.25f64.ln() + 16f64.ln() * u()).exp(),
            years: ((1.0f64 / 8760.0).ln() + (5.0f64 * 8760.0).ln() * u()).exp(),
            rate: -0.01 + 0.11 * u(),
            dividend_yield: 0.06 * u(),
            volatility: (0.01f64.ln() + 300f64.ln() * u()).exp(),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let n = 100_000;
    let x = inputs(n);
    let mut g = c.benchmark_group("bsm_scalar");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function(BenchmarkId::new("price", n), |b| {
        b.iter(|| {
            x.iter()
                .map(|i| bsm_price_unchecked(black_box(i)))
                .sum::<f64>()
        })
    });
    g.bench_function(BenchmarkId::new("greeks", n), |b| {
        b.iter(|| {
            x.iter()
                .map(|i| bsm_greeks_unchecked(black_box(i)).theta)
                .sum::<f64>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
