//! Throughput of the batch API on the `wheelhouse bench pricing` inputs, without the CLI:
//! price + 8 Greeks (fresh output and reused output), price + first-order Greeks (reused
//! output), prices alone, European IV.
//!
//! `cargo run --release -p wheelhouse-compute --example pricing_speed -- [n] [threads] [seconds]`

use std::time::Instant;
use wheelhouse_compute::{Backend, FirstOrderBatch, GreeksBatch, IvInput, OptionBatch};

#[path = "common/mod.rs"]
mod common;

fn best_of(seconds: f64, mut f: impl FnMut()) -> f64 {
    let mut best = f64::INFINITY;
    let start = Instant::now();
    let mut reps = 0;
    while reps < 2 || (start.elapsed().as_secs_f64() < seconds && reps < 10_000) {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
        reps += 1;
    }
    best
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let threads: Option<usize> = args.get(2).and_then(|s| s.parse().ok());
    let seconds: f64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1.0);
    // Which measurements: all (default), greeks, reused, first, iv, prices or american (American
    // accurate prices and price + Greeks, not part of `all`).
    let only = args.get(4).map_or("all", String::as_str);
    let on = |m: &str| only == "all" || only == m;
    // Inputs: `random` (the bench's ranges) or `chain` (near the money).
    let chain = args.get(5).is_some_and(|m| m == "chain");
    let common::Columns {
        kind,
        spot: s,
        strike: k,
        years: t,
        rate: r,
        dividend_yield: q,
        volatility: v,
    } = common::Columns::generate(n, chain);
    let batch = OptionBatch {
        kind: &kind,
        spot: &s,
        strike: &k,
        years: &t,
        rate: &r,
        dividend_yield: &q,
        volatility: &v,
        style: None,
    };
    let be = Backend::cpu(threads).expect("thread pool");
    let th = be.threads();
    let rate = |secs: f64| n as f64 / secs / 1e6;
    let mut fresh = f64::NAN;
    if on("greeks") && only != "reused" {
        fresh = best_of(seconds, || {
            std::hint::black_box(be.greeks(&batch).expect("greeks"));
        });
    }
    let mut out = GreeksBatch::default();
    let mut reused = f64::NAN;
    be.greeks_into(&batch, &mut out).expect("greeks");
    if on("greeks") || only == "reused" {
        reused = best_of(seconds, || {
            be.greeks_into(&batch, &mut out).expect("greeks");
            std::hint::black_box(&out);
        });
    }
    let mut first = f64::NAN;
    if on("first") {
        let mut fo = FirstOrderBatch::default();
        first = best_of(seconds, || {
            be.first_order_into(&batch, &mut fo).expect("first order");
            std::hint::black_box(&fo);
        });
    }
    let mut prices = f64::NAN;
    if on("prices") {
        prices = best_of(seconds, || {
            std::hint::black_box(be.prices(&batch).expect("prices"));
        });
    }
    if only == "american" {
        let style = vec![wheelhouse_pricing::ExerciseStyle::American; n];
        let am = OptionBatch {
            style: Some(&style),
            ..batch
        };
        let p = best_of(seconds, || {
            std::hint::black_box(be.prices(&am).expect("prices"));
        });
        let g = best_of(seconds, || {
            std::hint::black_box(be.greeks(&am).expect("greeks"));
        });
        println!(
            "n={n} threads={th}: American accurate prices {:.1} k/s, price + Greeks {:.1} k/s",
            n as f64 / p / 1e3,
            n as f64 / g / 1e3
        );
        return;
    }
    let iv_in = IvInput {
        kind: &kind,
        price: &out.price,
        spot: &s,
        strike: &k,
        years: &t,
        rate: &r,
        dividend_yield: &q,
        style: None,
    };
    let mut iv = f64::NAN;
    if on("iv") {
        let (fb, total) = wheelhouse_compute::iv_vector_fallbacks(&iv_in);
        println!("iv: {fb} of {total} elements to the scalar solver");
        // Output reused, as `wheelhouse bench pricing` measures it.
        let mut iv_out = wheelhouse_compute::IvBatch::default();
        be.implied_volatility_into(&iv_in, &mut iv_out).expect("iv");
        println!(
            "iv: {} of {total} elements fail (typed errors)",
            iv_out.failures()
        );
        iv = best_of(seconds, || {
            be.implied_volatility_into(&iv_in, &mut iv_out).expect("iv");
            std::hint::black_box(&iv_out);
        });
        // The peer on the same quotes and as many threads: the `implied-vol` crate (Let's Be
        // Rational, scalar), as `wheelhouse bench pricing` runs it.
        use rayon::prelude::*;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(th)
            .build()
            .expect("pool");
        let peer = |i: usize| {
            let fwd = s[i] * ((r[i] - q[i]) * t[i]).exp();
            implied_vol::ImpliedBlackVolatility::builder()
                .option_price(out.price[i] * (r[i] * t[i]).exp())
                .forward(fwd)
                .strike(k[i])
                .expiry(t[i])
                .is_call(kind[i] == wheelhouse_pricing::OptionType::Call)
                .build()
                .and_then(|p| p.calculate::<implied_vol::DefaultSpecialFn>())
        };
        let mut pv: Vec<Option<f64>> = vec![None; n];
        let peer_secs = best_of(seconds, || {
            pool.install(|| {
                pv.par_iter_mut()
                    .enumerate()
                    .with_min_len(1024)
                    .for_each(|(i, v)| *v = peer(i))
            });
            std::hint::black_box(&pv);
        });
        println!(
            "iv: implied-vol crate {:.2} M/s on {th} threads ({} of {n} answered); ours ÷ peer {:.2}",
            rate(peer_secs),
            pv.iter().filter(|v| v.is_some()).count(),
            peer_secs / iv
        );
    }
    println!(
        "n={n} threads={th}: greeks fresh {:.2} M/s, greeks reused {:.2} M/s, first-order {:.2} M/s, prices {:.2} M/s, iv {:.2} M/s",
        rate(fresh),
        rate(reused),
        rate(first),
        rate(prices),
        rate(iv)
    );
}
