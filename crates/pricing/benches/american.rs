//! Throughput of the American (ALO) engine: prices per second, single thread.
//!
//! `cargo bench -p wheelhouse-pricing --bench american`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wheelhouse_pricing::american::{AmericanSettings, american_greeks, american_price};
use wheelhouse_pricing::{BsmInputs, OptionType};

/// Fixed-seed random cases over the supported domain (T 1 hour–5 years, K/S 0.25–4,
/// σ 1 %–300 %, r −1 %–10 %, q 0–6 %), half calls, half puts.
fn cases(n: usize) -> Vec<BsmInputs> {
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let lu = |a: f64, b: f64, u: f64| (a.ln() + (b.ln() - a.ln()) * u).exp();
    (0..n)
        .map(|i| {
            let (u1, u2, u3, u4, u5) = (next(), next(), next(), next(), next());
            BsmInputs {
                kind: if i % 2 == 0 {
                    OptionType::Call
                } else {
                    OptionType::Put
                },
                spot: 100.0,
                strike: 100.0 * lu(0.25, 4.0, u1),
                years: lu(1.0 / 8760.0, 5.0, u2),
                rate: -0.01 + 0.11 * u3,
                dividend_yield: 0.06 * u4,
                volatility: lu(0.01, 3.0, u5),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let inputs = cases(256);
    let mut g = c.benchmark_group("american");
    g.throughput(Throughput::Elements(inputs.len() as u64));
    for (name, st) in [
        ("fast", AmericanSettings::FAST),
        ("accurate", AmericanSettings::ACCURATE),
    ] {
        g.bench_function(format!("price_{name}"), |b| {
            b.iter(|| {
                let mut acc = 0.0;
                for x in &inputs {
                    acc += american_price(black_box(x), &st).unwrap();
                }
                acc
            })
        });
    }
    g.finish();
    let mut g = c.benchmark_group("american_greeks");
    let few = &inputs[..32];
    g.throughput(Throughput::Elements(few.len() as u64));
    g.sample_size(10);
    g.bench_function("greeks_accurate", |b| {
        b.iter(|| {
            let mut acc = 0.0;
            for x in few {
                acc += american_greeks(black_box(x), &AmericanSettings::ACCURATE)
                    .unwrap()
                    .delta;
            }
            acc
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
