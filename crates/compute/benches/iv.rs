//! Batch implied-volatility throughput: `Backend::implied_volatility` on 1 and 2 threads
//! against the scalar `implied-vol` crate (2.x) on one thread, same random European quotes
//! (T 1 h – 5 y, K/S 0.25 – 4, σ 1 % – 300 %, r −1 % – 10 %, q 0 – 6 %, calls and puts).
//!
//! Run: `cargo bench -p wheelhouse-compute --bench iv`
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use implied_vol::{DefaultSpecialFn, ImpliedBlackVolatility};
use std::hint::black_box;
use wheelhouse_compute::{Backend, IvInput};
use wheelhouse_pricing::OptionType;
use wheelhouse_pricing::iv::normalised_black;

struct Columns {
    kind: Vec<OptionType>,
    price: Vec<f64>,
    spot: Vec<f64>,
    strike: Vec<f64>,
    years: Vec<f64>,
    rate: Vec<f64>,
    dividend_yield: Vec<f64>,
}

fn columns(n: usize) -> Columns {
    let mut s = 0x0bad_5eed_1234_5678u64;
    let mut u = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut c = Columns {
        kind: Vec::with_capacity(n),
        price: Vec::with_capacity(n),
        spot: Vec::with_capacity(n),
        strike: Vec::with_capacity(n),
        years: Vec::with_capacity(n),
        rate: Vec::with_capacity(n),
        dividend_yield: Vec::with_capacity(n),
    };
    while c.kind.len() < n {
        let kind = if u() < 0.5 {
            OptionType::Call
        } else {
            OptionType::Put
        };
        let spot = 100.0;
        let strike = 100.0 * (0.25f64.ln() + 16f64.ln() * u()).exp();
        let years = ((1.0f64 / 8760.0).ln() + (5.0f64 * 8760.0).ln() * u()).exp();
        let sigma = (0.01f64.ln() + 300f64.ln() * u()).exp();
        let rate = -0.01 + 0.11 * u();
        let q = 0.06 * u();
        let fwd = spot * ((rate - q) * years).exp();
        let x = (fwd / strike).ln();
        let df = (-rate * years).exp();
        let price = df * (fwd * strike).sqrt() * normalised_black(x, sigma * years.sqrt(), kind);
        let intrinsic = df * (kind.sign() * (fwd - strike)).max(0.0);
        // A time value well above rounding, so that both solvers return a volatility.
        if price - intrinsic > 1e-12 * spot && price.is_finite() {
            c.kind.push(kind);
            c.price.push(price);
            c.spot.push(spot);
            c.strike.push(strike);
            c.years.push(years);
            c.rate.push(rate);
            c.dividend_yield.push(q);
        }
    }
    c
}

fn bench(crit: &mut Criterion) {
    let n = 100_000;
    let c = columns(n);
    let input = IvInput {
        kind: &c.kind,
        price: &c.price,
        spot: &c.spot,
        strike: &c.strike,
        years: &c.years,
        rate: &c.rate,
        dividend_yield: &c.dividend_yield,
        style: None,
    };
    let (fallbacks, total) = wheelhouse_compute::iv_vector_fallbacks(&input);
    println!(
        "vector kernel: {fallbacks} of {total} quotes ({:.3} %) fall back to the scalar solver",
        100.0 * fallbacks as f64 / total as f64
    );
    let mut g = crit.benchmark_group("batch_implied_vol");
    g.throughput(Throughput::Elements(n as u64));
    for threads in [1, 2] {
        let backend = Backend::cpu(Some(threads)).expect("thread pool");
        g.bench_function(BenchmarkId::new("wheelhouse_threads", threads), |b| {
            b.iter(|| {
                backend
                    .implied_volatility(black_box(&input))
                    .expect("lengths")
            })
        });
    }
    g.bench_function(BenchmarkId::new("implied_vol_crate_1_thread", n), |b| {
        b.iter(|| {
            (0..n)
                .map(|i| {
                    let df = (-c.rate[i] * c.years[i]).exp();
                    let fwd = c.spot[i] * ((c.rate[i] - c.dividend_yield[i]) * c.years[i]).exp();
                    ImpliedBlackVolatility::builder()
                        .option_price(black_box(c.price[i]) / df)
                        .forward(fwd)
                        .strike(c.strike[i])
                        .expiry(c.years[i])
                        .is_call(c.kind[i] == OptionType::Call)
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
