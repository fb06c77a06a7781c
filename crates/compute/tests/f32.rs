//! The fp32 mode of price + Greeks (`wheelhouse_compute::single`): on the CPU the fp64
//! reference rounded to `f32`, bit for bit; the dispatcher's fp32 path with a fake device
//! (its answers land, the elements it leaves get the rounded reference, a failing device falls
//! back, counted); on a GPU (skipped without one) the fp32 kernel within `F32_TOLERANCE` of
//! each column's scale of the rounded reference, every element written.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wheelhouse_compute::cuda::Accelerator;
use wheelhouse_compute::single::f32_errors;
use wheelhouse_compute::{
    Backend, DeviceChoice, GreeksBatch, GreeksBatchF32, OptionBatch, OptionBatchF32, Status,
};
use wheelhouse_core::OptionType;
use wheelhouse_testkit::random::{log_uniform, uniforms};

/// Single-precision columns: chain quotes (S 100, K 60–140, 1 week–2 years, σ 10–80 %) or the
/// whole domain (K/S 0.25–4, 1 hour–5 years, σ 1–300 %), with a few invalid elements.
struct Cols {
    kind: Vec<OptionType>,
    c: [Vec<f32>; 6],
}

impl Cols {
    fn new(n: usize, seed: u64, chain: bool) -> Cols {
        let mut u = uniforms(seed);
        let mut kind = Vec::with_capacity(n);
        let mut c: [Vec<f32>; 6] = Default::default();
        for i in 0..n {
            kind.push(if u() < 0.5 {
                OptionType::Call
            } else {
                OptionType::Put
            });
            let row = if chain {
                [
                    100.0,
                    60.0 + 80.0 * u(),
                    log_uniform(u(), 7.0 / 365.0, 2.0),
                    0.05 * u(),
                    0.03 * u(),
                    0.1 + 0.7 * u(),
                ]
            } else {
                [
                    100.0,
                    100.0 * log_uniform(u(), 0.25, 4.0),
                    log_uniform(u(), 1.0 / 8760.0, 5.0),
                    -0.01 + 0.11 * u(),
                    0.06 * u(),
                    log_uniform(u(), 0.01, 3.0),
                ]
            };
            for (col, x) in c.iter_mut().zip(row) {
                col.push(x as f32);
            }
            if i % 997 == 13 {
                c[5][i] = -0.2;
            }
        }
        Cols { kind, c }
    }

    fn batch(&self) -> OptionBatchF32<'_> {
        OptionBatchF32 {
            kind: &self.kind,
            spot: &self.c[0],
            strike: &self.c[1],
            years: &self.c[2],
            rate: &self.c[3],
            dividend_yield: &self.c[4],
            volatility: &self.c[5],
        }
    }

    /// The fp64 reference of the same (widened) inputs.
    fn reference(&self) -> GreeksBatch {
        let w: Vec<Vec<f64>> = self
            .c
            .iter()
            .map(|c| c.iter().map(|x| f64::from(*x)).collect())
            .collect();
        Backend::cpu(Some(2))
            .unwrap()
            .greeks(&OptionBatch {
                kind: &self.kind,
                spot: &w[0],
                strike: &w[1],
                years: &w[2],
                rate: &w[3],
                dividend_yield: &w[4],
                volatility: &w[5],
                style: None,
            })
            .unwrap()
    }
}

#[test]
fn cpu_fp32_is_the_rounded_fp64_reference() {
    let cols = Cols::new(10_000, 0xf32, false);
    let want = cols.reference();
    let got = Backend::cpu(Some(2))
        .unwrap()
        .greeks_f32(&cols.batch())
        .unwrap();
    for (g, w) in got.columns().iter().zip(want.columns()) {
        for (i, (a, b)) in g.iter().zip(w).enumerate() {
            assert_eq!(a.to_bits(), (*b as f32).to_bits(), "element {i}");
        }
    }
    assert_eq!(got.status, want.status);
    assert!(got.status.iter().any(|s| !s.is_ok()));
    // A short column is refused as a whole.
    let mut b = cols.batch();
    b.rate = &cols.c[3][..10];
    assert!(Backend::cpu(Some(1)).unwrap().greeks_f32(&b).is_err());
}

/// Answers with marker values, leaving every third element to the CPU; or fails.
#[derive(Debug)]
struct Fake {
    fails: bool,
    calls: AtomicU64,
}

impl Accelerator for Fake {
    fn describe(&self) -> String {
        "fake fp32 device".into()
    }
    fn min_greeks_f32(&self, _cpu_threads: usize) -> usize {
        100
    }
    fn greeks_f32(
        &self,
        batch: &OptionBatchF32<'_>,
        out: &mut GreeksBatchF32,
    ) -> Result<Vec<usize>, String> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if self.fails {
            return Err("injected fault: launch failed".into());
        }
        for c in out.columns_mut() {
            c.fill(-42.0);
        }
        Ok((0..batch.kind.len()).filter(|i| i % 3 == 0).collect())
    }
}

#[test]
fn dispatcher_merges_device_answers_and_falls_back() {
    let cols = Cols::new(3_000, 0xf33, true);
    let want = Backend::cpu(Some(2))
        .unwrap()
        .greeks_f32(&cols.batch())
        .unwrap();
    let fake = Arc::new(Fake {
        fails: false,
        calls: AtomicU64::new(0),
    });
    let dev = Backend::cpu(Some(2))
        .unwrap()
        .with_accelerator(fake.clone());
    let got = dev.greeks_f32(&cols.batch()).unwrap();
    assert_eq!(fake.calls.load(Ordering::Relaxed), 1);
    for i in 0..3_000 {
        if i % 3 == 0 {
            assert_eq!(
                got.price[i].to_bits(),
                want.price[i].to_bits(),
                "element {i}"
            );
            assert_eq!(got.status[i], want.status[i]);
        } else {
            assert_eq!(got.price[i], -42.0, "element {i}: the device's answer");
            assert_eq!(got.status[i], Status::Ok);
        }
    }
    // Small batches stay on the CPU.
    let small = Cols::new(50, 0xf34, true);
    dev.greeks_f32(&small.batch()).unwrap();
    assert_eq!(fake.calls.load(Ordering::Relaxed), 1);
    // A failing device: counted, and the CPU's bits.
    let failing = Backend::cpu(Some(2))
        .unwrap()
        .with_accelerator(Arc::new(Fake {
            fails: true,
            calls: AtomicU64::new(0),
        }));
    let got = failing.greeks_f32(&cols.batch()).unwrap();
    assert_eq!(failing.fallbacks(), 1);
    for (g, w) in got.columns().iter().zip(want.columns()) {
        assert!(g.iter().zip(w).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}

/// The fp32 kernel's tolerance on `single::f32_errors` (|GPU − reference| over |reference|
/// plus 10⁻³ of the column's scale).
const F32_TOLERANCE: f64 = 1e-3;

#[test]
fn gpu_fp32_kernel_within_its_tolerance() {
    let b = match Backend::with_device(Some(2), DeviceChoice::Cuda) {
        Ok(b) => b.force_device(),
        Err(e) => {
            eprintln!("skipped: no CUDA device ({e})");
            return;
        }
    };
    for (chain, n) in [(true, 1_000_003), (false, 1_000_003)] {
        let cols = Cols::new(n, 0xf35 + u64::from(chain), chain);
        let want = cols.reference();
        let mut got = GreeksBatchF32 {
            price: vec![-7.0e30; n],
            ..Default::default()
        };
        b.greeks_f32_into(&cols.batch(), &mut got).unwrap();
        let mut worst = [0.0f64; 9];
        for i in 0..n {
            assert_eq!(got.status[i].is_ok(), want.status[i].is_ok(), "element {i}");
            if !want.status[i].is_ok() {
                continue;
            }
            let (s, k, t, v) = (
                f64::from(cols.c[0][i]),
                f64::from(cols.c[1][i]),
                f64::from(cols.c[2][i]),
                f64::from(cols.c[5][i]),
            );
            let g = got.columns().map(|c| f64::from(c[i]));
            let r = want.columns().map(|c| c[i]);
            let err = f32_errors(g, r, s, k, t, v);
            for c in 0..9 {
                worst[c] = worst[c].max(err[c]);
                assert!(
                    err[c] <= F32_TOLERANCE,
                    "element {i} column {c}: fp32 {} fp64 {} (S {s} K {k} T {t} σ {v})",
                    g[c],
                    r[c]
                );
            }
        }
        eprintln!(
            "{} fp32 worst error / (|value| + 1e-3 scale) per column: {worst:?}",
            if chain { "chain" } else { "random" }
        );
    }
}
