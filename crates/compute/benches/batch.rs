//! Throughput of `Backend::greeks` on all-European batches (price and the eight Greeks of
//! `GreeksBatch`), for N = 1e3, 1e5, 1e6 elements on one thread and on every core, with two
//! input mixes: `random` (the golden tables' ranges — a third of the elements far in the tails)
//! and `chain` (option-chain-like inputs near the money).
//!
//! Run: `cargo bench -p wheelhouse-compute --bench batch` (criterion reports elements/s; add a
//! filter such as `-- greeks/random` to run part of it).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use wheelhouse_compute::{Backend, OptionBatch};
use wheelhouse_pricing::OptionType;

/// Input columns of a batch.
struct Columns {
    kind: Vec<OptionType>,
    cols: [Vec<f64>; 6],
}

/// splitmix64, mapped to [a, b).
struct Rng(u64);

impl Rng {
    fn unif(&mut self, a: f64, b: f64) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        a + (b - a) * ((z >> 11) as f64 / (1u64 << 53) as f64)
    }

    fn log_unif(&mut self, a: f64, b: f64) -> f64 {
        self.unif(a.ln(), b.ln()).exp()
    }
}

impl Columns {
    /// `n` elements, fixed seed. `random`: spot log-U[5, 2000], K/S log-U[0.25, 4], years
    /// log-U[1 hour, 5], vol log-U[1 %, 300 %], rate U[−1 %, 10 %], yield U[0, 6 %]. `chain`:
    /// spot 100, strike U[60, 140], years log-U[1 week, 2], vol U[10 %, 80 %], rate U[0, 5 %],
    /// yield U[0, 3 %].
    fn new(n: usize, random: bool) -> Columns {
        let mut rng = Rng(0x5EED);
        let mut c = Columns {
            kind: Vec::with_capacity(n),
            cols: Default::default(),
        };
        for _ in 0..n {
            let kind = if rng.unif(0.0, 1.0) < 0.5 {
                OptionType::Call
            } else {
                OptionType::Put
            };
            let row = if random {
                let spot = rng.log_unif(5.0, 2000.0);
                [
                    spot,
                    spot * rng.log_unif(0.25, 4.0),
                    rng.log_unif(1.0 / 8760.0, 5.0),
                    rng.unif(-0.01, 0.10),
                    rng.unif(0.0, 0.06),
                    rng.log_unif(0.01, 3.0),
                ]
            } else {
                [
                    100.0,
                    rng.unif(60.0, 140.0),
                    rng.log_unif(7.0 / 365.0, 2.0),
                    rng.unif(0.0, 0.05),
                    rng.unif(0.0, 0.03),
                    rng.unif(0.10, 0.80),
                ]
            };
            c.kind.push(kind);
            for (col, v) in c.cols.iter_mut().zip(row) {
                col.push(v);
            }
        }
        c
    }

    fn batch(&self) -> OptionBatch<'_> {
        let [spot, strike, years, rate, dividend_yield, volatility] = &self.cols;
        OptionBatch {
            kind: &self.kind,
            spot,
            strike,
            years,
            rate,
            dividend_yield,
            volatility,
            style: None,
        }
    }
}

fn greeks(c: &mut Criterion) {
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut threads = vec![1];
    if all > 1 {
        threads.push(all);
    }
    let backends: Vec<(usize, Backend)> = threads
        .iter()
        .map(|&t| (t, Backend::cpu(Some(t)).expect("thread pool")))
        .collect();
    for (mix, random) in [("random", true), ("chain", false)] {
        let mut g = c.benchmark_group(format!("greeks/{mix}"));
        for n in [1_000, 100_000, 1_000_000] {
            let data = Columns::new(n, random);
            let batch = data.batch();
            g.throughput(Throughput::Elements(n as u64));
            for (t, backend) in &backends {
                g.bench_with_input(
                    BenchmarkId::new(format!("threads_{t}"), n),
                    &batch,
                    |b, x| b.iter(|| backend.greeks(black_box(x)).expect("equal lengths")),
                );
            }
        }
        g.finish();
    }
}

criterion_group!(benches, greeks);
criterion_main!(benches);
