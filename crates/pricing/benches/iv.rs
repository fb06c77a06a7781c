//! Implied volatility throughput, one thread: this crate's Let's-Be-Rational implementation
//! against the `implied-vol` crate (2.x), on the same random inputs (product ranges:
//! T 1 h – 5 y, K/F 0.25 – 4, σ 1 % – 300 %, calls and puts, in and out of the money).
//!
//! Run: `cargo bench -p wheelhouse-pricing --bench iv`
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use implied_vol::{DefaultSpecialFn, ImpliedBlackVolatility};
use std::hint::black_box;
use wheelhouse_pricing::OptionType;
use wheelhouse_pricing::iv::{implied_black_volatility, implied_volatility_bsm, normalised_black};

#[derive(Clone, Copy)]
struct Quote {
    price: f64,
    forward: f64,
    strike: f64,
    years: f64,
    kind: OptionType,
}

fn quotes(n: usize) -> Vec<Quote> {
    let mut s = 0x1234_5678_9abc_def0u64;
    let mut u = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let kind = if u() < 0.5 {
            OptionType::Call
        } else {
            OptionType::Put
        };
        let forward = 100.0;
        let strike = 100.0 * (0.25f64.ln() + 16f64.ln() * u()).exp();
        let years = ((1.0f64 / 8760.0).ln() + (5.0f64 * 8760.0).ln() * u()).exp();
        let sigma = (0.01f64.ln() + 300f64.ln() * u()).exp();
        let x = (forward / strike).ln();
        let price = (forward * strike).sqrt() * normalised_black(x, sigma * years.sqrt(), kind);
        // Keep quotes both solvers accept (a non-zero time value).
        let intrinsic = (kind.sign() * (forward - strike)).max(0.0);
        if price > intrinsic
            && price
                < if kind == OptionType::Call {
                    forward
                } else {
                    strike
                }
        {
            out.push(Quote {
                price,
                forward,
                strike,
                years,
                kind,
            });
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let n = 10_000;
    let q = quotes(n);
    let mut g = c.benchmark_group("implied_vol");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function(BenchmarkId::new("wheelhouse_black", n), |b| {
        b.iter(|| {
            q.iter()
                .map(|q| {
                    let q = black_box(q);
                    implied_black_volatility(q.price, q.forward, q.strike, q.years, q.kind)
                        .unwrap_or(0.0)
                })
                .sum::<f64>()
        })
    });
    g.bench_function(BenchmarkId::new("wheelhouse_bsm", n), |b| {
        b.iter(|| {
            q.iter()
                .map(|q| {
                    let q = black_box(q);
                    implied_volatility_bsm(q.price, q.forward, q.strike, q.years, 0.0, 0.0, q.kind)
                        .unwrap_or(0.0)
                })
                .sum::<f64>()
        })
    });
    g.bench_function(BenchmarkId::new("implied_vol_crate", n), |b| {
        b.iter(|| {
            q.iter()
                .map(|q| {
                    let q = black_box(q);
                    ImpliedBlackVolatility::builder()
                        .option_price(q.price)
                        .forward(q.forward)
                        .strike(q.strike)
                        .expiry(q.years)
                        .is_call(q.kind == OptionType::Call)
                        .build()
                        .and_then(|v| v.calculate::<DefaultSpecialFn>())
                        .unwrap_or(0.0)
                })
                .sum::<f64>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
