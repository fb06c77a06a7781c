//! Runs chain analytics on the 5 000-quote American snapshot N times, after printing how many
//! bid, ask and mid IVs solved or why not (for profilers):
//! `cargo run --release -p wheelhouse-market --example chain_once -- 20`.
use wheelhouse_core::ExerciseStyle;
use wheelhouse_market::chain::{ChainSettings, analyze_chain};
use wheelhouse_testkit::chains::{SnapshotSpec, synthetic_snapshot};

fn main() {
    let quotes = synthetic_snapshot(&SnapshotSpec::five_thousand(ExerciseStyle::American));
    let settings = ChainSettings::default();
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let a = analyze_chain(&quotes, &[(1.0, 0.03)], &settings).unwrap();
    let mut hist = std::collections::BTreeMap::<String, usize>::new();
    for qa in &a.quotes {
        for (side, r) in [("mid", qa.mid_iv), ("bid", qa.bid_iv), ("ask", qa.ask_iv)] {
            let k = match r {
                Ok(_) => format!("{side} ok"),
                Err(e) => format!("{side} {}", e.code()),
            };
            *hist.entry(k).or_default() += 1;
        }
    }
    println!("{} quotes: {hist:?}", quotes.len());
    let t = std::time::Instant::now();
    for _ in 0..n {
        let a = analyze_chain(&quotes, &[(1.0, 0.03)], &settings).unwrap();
        std::hint::black_box(a);
    }
    println!(
        "{:.1} ms per run",
        t.elapsed().as_secs_f64() * 1e3 / n as f64
    );
}
