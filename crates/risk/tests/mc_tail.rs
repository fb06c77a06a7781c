//! The Monte Carlo tail reduction: a device that keeps every path's P&L to itself and returns
//! only the paths VaR and CVaR need gives the bits of VaR/CVaR over every path; a failing
//! device falls back to the CPU, counted; progress is reported. Without a GPU the "device"
//! is the CPU's own batch with the reduction's rule applied on the host; with one (where
//! CUDA is present) the real kernels are checked against the same run with every path.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wheelhouse_compute::cuda::Accelerator;
use wheelhouse_compute::{Backend, DeviceChoice, McBook, McTail, TailRow, TailSpec};
use wheelhouse_risk::mc::{McSettings, benchmark_book, simulate, simulate_with_progress};

/// The CPU posing as a device with the tail reduction: all paths on the CPU, then the
/// device's rule (keep every loss at or above the lowest of the run's and each batch's VaR,
/// less a margin, as a histogram bin gives), sent back in reverse order, or (`finish`)
/// finished as the device's last pass does: per batch and for the run, the kept losses sorted,
/// VaR and the sum of the losses above it.
#[derive(Debug)]
struct TailOnCpu {
    cpu: Backend,
    fail: bool,
    finish: bool,
    calls: AtomicU64,
}

impl TailOnCpu {
    fn new(fail: bool, finish: bool) -> Arc<TailOnCpu> {
        Arc::new(TailOnCpu {
            cpu: Backend::cpu(Some(1)).unwrap(),
            fail,
            finish,
            calls: AtomicU64::new(0),
        })
    }
}

impl Accelerator for TailOnCpu {
    fn describe(&self) -> String {
        "the CPU posing as a device".into()
    }
    fn min_paths(&self) -> usize {
        100
    }
    fn mc_pnl(&self, book: &McBook<'_>, first: u64, out: &mut [f64]) -> Result<(), String> {
        self.cpu.mc_pnl(book, first, out).map_err(|e| e.to_string())
    }
    fn mc_tail(
        &self,
        book: &McBook<'_>,
        paths: usize,
        spec: &TailSpec,
        per_launch: usize,
        progress: &mut dyn FnMut(u64),
    ) -> Result<McTail, String> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if self.fail {
            return Err("injected fault: out of memory in the tail reduction".into());
        }
        let mut pnl = vec![0.0; paths];
        let mut done = 0;
        for chunk in pnl.chunks_mut(per_launch) {
            self.cpu
                .mc_pnl(book, done as u64, chunk)
                .map_err(|e| e.to_string())?;
            done += chunk.len();
            progress(done as u64);
        }
        let kth = |v: &[f64]| {
            let mut l: Vec<f64> = v.iter().map(|x| -x).collect();
            l.sort_by(f64::total_cmp);
            l[l.len() - spec.need(l.len())]
        };
        let mut cut = kth(&pnl);
        let per = paths / spec.batches;
        for b in 0..spec.batches {
            cut = cut.min(kth(&pnl[b * per..(b + 1) * per]));
        }
        cut -= 1.0;
        let (index, kept): (Vec<u64>, Vec<f64>) = pnl
            .iter()
            .enumerate()
            .filter(|(_, p)| -**p >= cut)
            .map(|(i, p)| (i as u64, *p))
            .rev()
            .unzip();
        let mut t = McTail {
            paths,
            pnl_sum: pnl.iter().sum(),
            kept: index.len(),
            index,
            pnl: kept,
            rows: Vec::new(),
        };
        if self.finish {
            let row = |m: usize, in_row: &dyn Fn(u64) -> bool| {
                let mut l: Vec<f64> = t
                    .index
                    .iter()
                    .zip(&t.pnl)
                    .filter(|(i, _)| in_row(**i))
                    .map(|(_, p)| -p)
                    .collect();
                l.sort_by(f64::total_cmp);
                let at = l.len() - spec.need(m);
                TailRow {
                    var: l[at],
                    above: l[at + 1..].iter().sum(),
                }
            };
            let mut rows: Vec<TailRow> = (0..spec.batches as u64)
                .map(|b| row(per, &|i| i / per as u64 == b))
                .collect();
            rows.push(row(paths, &|_| true));
            t.rows = rows;
            t.index.clear();
            t.pnl.clear();
        }
        Ok(t)
    }
}

fn settings(paths: usize, keep_paths: bool) -> McSettings {
    McSettings {
        paths,
        horizon_days: 21,
        seed: 42,
        confidence: 0.99,
        vol_shock: 0.0,
        vol_of_vol: 0.0,
        jumps: None,
        american: false,
        keep_paths,
    }
}

#[test]
fn a_device_tail_gives_the_bits_of_every_path_and_failures_fall_back() {
    let (u, c, p) = benchmark_book(12);
    let cpu = Backend::cpu(Some(2)).unwrap();
    let want = simulate(&u, &c, &p, &settings(20_000, true), &cpu).unwrap();
    assert_eq!(want.pnl.len(), 20_000);

    let dev = TailOnCpu::new(false, false);
    let b = Backend::cpu(Some(2)).unwrap().with_accelerator(dev.clone());
    let mut reports = Vec::new();
    let got = simulate_with_progress(
        &u,
        &c,
        &p,
        &settings(20_000, false),
        &b,
        &mut |done, total| reports.push((done, total)),
    )
    .unwrap();
    assert_eq!(dev.calls.load(Ordering::Relaxed), 1);
    assert!(got.pnl.is_empty(), "the paths stayed on the device");
    assert!(got.tail_paths.is_some_and(|k| k < 20_000));
    assert_eq!(want.tail_paths, None);
    assert_eq!(format!("{:?}", got.tail), format!("{:?}", want.tail));
    assert_eq!(got.tail.var.to_bits(), want.tail.var.to_bits());
    assert_eq!(got.tail.cvar.to_bits(), want.tail.cvar.to_bits());
    assert!(got.tail.var_standard_error.is_some());
    assert_eq!(got.mean_pnl.to_bits(), want.mean_pnl.to_bits());
    assert_eq!(reports.last(), Some(&(20_000, 20_000)));
    assert_eq!(b.fallbacks(), 0);

    assert!(!got.tail_finished_on_device);

    // A device that also finishes (sorts each sample's kept losses, VaR and the sum above it):
    // the same bits again, with no path sent back.
    let fin = TailOnCpu::new(false, true);
    let bf = Backend::cpu(Some(2)).unwrap().with_accelerator(fin.clone());
    let done = simulate(&u, &c, &p, &settings(20_000, false), &bf).unwrap();
    assert_eq!(fin.calls.load(Ordering::Relaxed), 1);
    assert!(done.tail_finished_on_device);
    assert_eq!(done.tail_paths, got.tail_paths);
    assert_eq!(format!("{:?}", done.tail), format!("{:?}", want.tail));
    assert_eq!(done.tail.cvar.to_bits(), want.tail.cvar.to_bits());
    assert_eq!(
        done.tail.cvar_standard_error.map(f64::to_bits),
        want.tail.cvar_standard_error.map(f64::to_bits)
    );
    assert_eq!(done.mean_pnl.to_bits(), want.mean_pnl.to_bits());
    assert_eq!(bf.fallbacks(), 0);

    // Keeping the paths never asks for the reduction.
    let kept = simulate(&u, &c, &p, &settings(20_000, true), &b).unwrap();
    assert_eq!(dev.calls.load(Ordering::Relaxed), 1);
    assert_eq!(kept.pnl.len(), 20_000);

    // A run below the device's size stays on the CPU, paths filled.
    let small = simulate(&u, &c, &p, &settings(99, false), &b).unwrap();
    assert_eq!(small.pnl.len(), 99);
    assert_eq!(dev.calls.load(Ordering::Relaxed), 1);

    // A failing reduction: counted, logged, and the CPU runs every path with the same bits.
    let bad = TailOnCpu::new(true, false);
    let b2 = Backend::cpu(Some(2)).unwrap().with_accelerator(bad.clone());
    let fell = simulate(&u, &c, &p, &settings(20_000, false), &b2).unwrap();
    assert_eq!(bad.calls.load(Ordering::Relaxed), 1);
    assert_eq!(b2.fallbacks(), 1);
    assert_eq!(fell.pnl.len(), 20_000);
    assert_eq!(format!("{:?}", fell.tail), format!("{:?}", want.tail));
}

/// On a GPU (skipped, and said so, without one): the kernels' reduction against the same run
/// with every path brought back from the device, several sizes and confidences, the
/// thermal policy's smaller launches included.
#[test]
fn gpu_tail_reduction_matches_every_path() {
    let gpu = match Backend::with_device(Some(2), DeviceChoice::Cuda) {
        Ok(b) => b.force_device(),
        Err(e) => {
            eprintln!("skipped: no CUDA device ({e})");
            return;
        }
    };
    let (u, c, p) = benchmark_book(50);
    for (paths, conf) in [
        (1_000_000usize, 0.99),
        (65_537, 0.95),
        (100_000, 0.999),
        (30_011, 0.5),
    ] {
        let mut s = settings(paths, true);
        s.confidence = conf;
        let full = simulate(&u, &c, &p, &s, &gpu).unwrap();
        s.keep_paths = false;
        let reduced = simulate(&u, &c, &p, &s, &gpu).unwrap();
        assert!(reduced.pnl.is_empty());
        // Only a tail came back (the bins' slack on top of what VaR/CVaR read).
        let kept = reduced.tail_paths.expect("reduced on the device");
        if conf >= 0.95 {
            assert!(
                kept < paths / 2,
                "{paths} paths at {conf}: {kept} came back"
            );
        }
        assert_eq!(
            format!("{:?}", reduced.tail),
            format!("{:?}", full.tail),
            "{paths} paths at {conf}"
        );
        // The device finishes when each sample's kept losses fit one block's sort (16 384 on
        // an H100/H200): the 1 % tail of 1 M paths does.
        if paths == 1_000_000 {
            assert!(reduced.tail_finished_on_device, "{paths} paths at {conf}");
        }
        let mean: f64 = full.pnl.iter().sum::<f64>() / paths as f64;
        assert!(
            (reduced.mean_pnl - mean).abs()
                <= 1e-12 * full.pnl.iter().map(|x| x.abs()).sum::<f64>() / paths as f64,
            "{paths}: mean {} vs {mean}",
            reduced.mean_pnl
        );
    }
    assert_eq!(gpu.fallbacks(), 0);
    // Smaller launches (a hot device): the same tail.
    let scales = wheelhouse_compute::Scales::new();
    scales.set(1.0, 0.3);
    let hot = Backend::with_device(Some(2), DeviceChoice::Cuda)
        .unwrap()
        .force_device()
        .with_scales(scales);
    let s = settings(200_000, false);
    let a = simulate(&u, &c, &p, &s, &hot).unwrap();
    let b = simulate(&u, &c, &p, &settings(200_000, true), &gpu).unwrap();
    assert_eq!(format!("{:?}", a.tail), format!("{:?}", b.tail));
    assert_eq!(hot.fallbacks(), 0);
}
