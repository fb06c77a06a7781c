//! Device selection and the accelerator dispatcher, without a GPU: `--device cuda` fails
//! clearly, `auto` falls back to the CPU, a failing accelerator's batch is rerun on the CPU
//! with the same bits and counted, a working one is used above its size threshold only. The
//! kernel source carries the CPU's AS 241 coefficients to the bit, and compiles under NVRTC
//! wherever NVRTC is present.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wheelhouse_compute::cuda::{
    Accelerator, american_source, compile_cubin, libraries_present, mc_source, module_source,
    nvrtc_present,
};
use wheelhouse_compute::{Backend, BatchError, DeviceChoice, McBook};
use wheelhouse_core::OptionType;
use wheelhouse_pricing::american::AmericanSettings;

#[derive(Debug)]
enum Fake {
    /// Every call fails (a launch error, a lost context, out of memory…).
    Fails(AtomicU64),
    /// Writes a marker value.
    Marks(AtomicU64),
}

impl Accelerator for Fake {
    fn describe(&self) -> String {
        "fake device".into()
    }
    fn min_paths(&self) -> usize {
        100
    }
    fn min_greeks(&self, _cpu_threads: usize) -> usize {
        100
    }
    fn greeks(
        &self,
        batch: &wheelhouse_compute::OptionBatch<'_>,
        _out: &mut wheelhouse_compute::GreeksBatch,
    ) -> Result<Vec<usize>, String> {
        match self {
            Fake::Fails(n) => {
                n.fetch_add(1, Ordering::Relaxed);
                Err("injected fault: launch failed".into())
            }
            // Leaves every element to the CPU reference.
            Fake::Marks(_) => Ok((0..batch.kind.len()).collect()),
        }
    }
    fn min_iv(&self, _cpu_threads: usize) -> usize {
        100
    }
    fn implied_volatility(
        &self,
        input: &wheelhouse_compute::IvInput<'_>,
        out: &mut wheelhouse_compute::IvBatch,
    ) -> Result<Vec<usize>, String> {
        match self {
            Fake::Fails(n) => {
                n.fetch_add(1, Ordering::Relaxed);
                Err("injected fault: lost context".into())
            }
            // Poisons every output and leaves the odd elements to the CPU: the even ones must
            // come back poisoned (they are the device's answer), the odd ones exact.
            Fake::Marks(_) => {
                out.implied_volatility.fill(-42.0);
                Ok((0..input.kind.len()).filter(|i| i % 2 == 1).collect())
            }
        }
    }
    fn iv_greeks(
        &self,
        input: &wheelhouse_compute::IvInput<'_>,
        iv: &mut wheelhouse_compute::IvBatch,
        greeks: &mut wheelhouse_compute::GreeksBatch,
    ) -> Result<Vec<usize>, String> {
        match self {
            Fake::Fails(n) => {
                n.fetch_add(1, Ordering::Relaxed);
                Err("injected fault: out of memory".into())
            }
            Fake::Marks(_) => {
                iv.implied_volatility.fill(-42.0);
                greeks.price.fill(-42.0);
                greeks.vega.fill(-42.0);
                Ok((0..input.kind.len()).filter(|i| i % 2 == 1).collect())
            }
        }
    }
    fn mc_pnl(&self, _book: &McBook<'_>, _first: u64, out: &mut [f64]) -> Result<(), String> {
        match self {
            Fake::Fails(n) => {
                n.fetch_add(1, Ordering::Relaxed);
                Err("injected fault: out of memory".into())
            }
            Fake::Marks(n) => {
                n.fetch_add(1, Ordering::Relaxed);
                out.fill(-42.0);
                Ok(())
            }
        }
    }
}

fn with_book<R>(f: impl FnOnce(&McBook<'_>) -> R) -> R {
    let chol = [1.0, 0.0, 0.3, (1.0f64 - 0.09).sqrt()];
    let book = McBook {
        spot: &[100.0, 40.0],
        vol: &[0.25, 0.4],
        drift: &[0.0, 0.0],
        cholesky: &chol,
        stock_underlying: &[1],
        stock_quantity: &[300.0],
        option_underlying: &[0, 1],
        option_kind: &[OptionType::Put, OptionType::Call],
        option_strike: &[95.0, 45.0],
        option_years: &[0.2, 0.3],
        option_rate: &[0.03, 0.03],
        option_dividend_yield: &[0.0, 0.01],
        option_vol: &[0.27, 0.42],
        option_quantity: &[-200.0, -300.0],
        option_value_now: &[2.5, 1.1],
        american: false,
        seed: 3,
        steps: 10,
        dt: 1.0 / 252.0,
        vol_shock: 0.0,
        vol_of_vol: 0.0,
        jumps: None,
    };
    f(&book)
}

#[test]
fn failing_accelerator_falls_back_with_the_same_bits() {
    with_book(|book| {
        let cpu = Backend::cpu(Some(2)).unwrap();
        let mut want = vec![0.0; 1000];
        cpu.mc_pnl(book, 0, &mut want).unwrap();
        let fake = Arc::new(Fake::Fails(AtomicU64::new(0)));
        let b = Backend::cpu(Some(2))
            .unwrap()
            .with_accelerator(fake.clone());
        assert_eq!(b.accelerator().as_deref(), Some("fake device"));
        let mut got = vec![0.0; 1000];
        b.mc_pnl(book, 0, &mut got).unwrap();
        assert_eq!(
            got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            want.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(b.fallbacks(), 1);
        let Fake::Fails(calls) = &*fake else {
            unreachable!()
        };
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    });
}

#[test]
fn working_accelerator_takes_large_batches_only() {
    with_book(|book| {
        let fake = Arc::new(Fake::Marks(AtomicU64::new(0)));
        let b = Backend::cpu(Some(1))
            .unwrap()
            .with_accelerator(fake.clone());
        let mut big = vec![0.0; 500];
        b.mc_pnl(book, 0, &mut big).unwrap();
        assert!(big.iter().all(|&x| x == -42.0));
        // Below its threshold the CPU runs the batch.
        let mut small = vec![0.0; 50];
        b.mc_pnl(book, 0, &mut small).unwrap();
        assert!(small.iter().all(|&x| x != -42.0));
        assert_eq!(b.fallbacks(), 0);
        // Invalid books are refused before any device sees them.
        let bad = McBook { steps: 0, ..*book };
        assert!(matches!(
            b.mc_pnl(&bad, 0, &mut big),
            Err(BatchError::Invalid(_))
        ));
        let Fake::Marks(calls) = &*fake else {
            unreachable!()
        };
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    });
}

/// Without CUDA (as in CI) `Cuda` is a clear error and `Auto` the CPU; with a GPU both open it.
#[test]
fn device_choice_without_or_with_a_gpu() {
    match libraries_present() {
        Err(why) => {
            let e = Backend::with_device(Some(1), DeviceChoice::Cuda).unwrap_err();
            assert!(matches!(e, BatchError::DeviceUnavailable(_)));
            assert!(e.to_string().contains("no usable CUDA device"), "{e}");
            assert!(e.to_string().contains(&why), "{e}");
            let auto = Backend::with_device(Some(1), DeviceChoice::Auto).unwrap();
            assert_eq!(auto.accelerator(), None);
        }
        Ok(()) => {
            let b = Backend::with_device(Some(1), DeviceChoice::Auto).unwrap();
            eprintln!("accelerator: {:?}", b.accelerator());
        }
    }
    let cpu = Backend::with_device(Some(1), DeviceChoice::Cpu).unwrap();
    assert_eq!(cpu.accelerator(), None);
}

#[test]
fn kernel_source_carries_the_cpu_coefficients() {
    let iv = wheelhouse_compute::cuda::iv_source();
    for (name, c) in [
        ("CODY_A", &wheelhouse_pricing::normal::A[..]),
        ("CODY_C", &wheelhouse_pricing::normal::C[..]),
        ("CODY_Q", &wheelhouse_pricing::normal::Q[..]),
    ] {
        let line = iv
            .lines()
            .find(|l| l.contains(&format!("{name}[{}]", c.len())))
            .unwrap();
        let body = &line[line.find('{').unwrap() + 1..line.rfind('}').unwrap()];
        let parsed: Vec<f64> = body.split(',').map(|x| x.trim().parse().unwrap()).collect();
        assert_eq!(parsed.len(), c.len());
        for (p, w) in parsed.iter().zip(c) {
            assert_eq!(p.to_bits(), w.to_bits(), "{name}");
        }
    }
    assert!(!iv.contains("#include") && module_source().contains("bsm_iv"));
    let src = mc_source();
    for (name, c) in [
        ("AS241_A", &wheelhouse_pricing::normal::AS241_A),
        ("AS241_D", &wheelhouse_pricing::normal::AS241_D),
        ("AS241_F", &wheelhouse_pricing::normal::AS241_F),
    ] {
        let line = src
            .lines()
            .find(|l| l.contains(&format!("{name}[8]")))
            .unwrap();
        let body = &line[line.find('{').unwrap() + 1..line.rfind('}').unwrap()];
        let parsed: Vec<f64> = body.split(',').map(|x| x.trim().parse().unwrap()).collect();
        assert_eq!(parsed.len(), 8);
        for (p, w) in parsed.iter().zip(c) {
            assert_eq!(p.to_bits(), w.to_bits(), "{name}");
        }
    }
    assert!(!src.contains("#include"));
}

/// Every kernel compiles under NVRTC where NVRTC is present (skipped, and said so, where not).
/// No GPU or driver is needed: `.ci/run` puts NVRTC from PyPI on the library path.
#[test]
fn kernels_compile_under_nvrtc_where_available() {
    // Settings the CPU engine refuses are refused here too.
    let bad = AmericanSettings {
        nodes: 1,
        ..AmericanSettings::FAST
    };
    assert!(american_source(&bad).is_err());
    if let Err(why) = nvrtc_present() {
        eprintln!("skipped: {why}");
        return;
    }
    for arch in ["sm_80", "sm_90"] {
        let cubin = compile_cubin(&module_source(), arch).unwrap();
        assert!(cubin.len() > 1000, "{arch}");
        for st in [AmericanSettings::FAST, AmericanSettings::ACCURATE] {
            let cubin = compile_cubin(&american_source(&st).unwrap(), arch).unwrap();
            assert!(cubin.len() > 1000, "{arch} {st:?}");
        }
    }
}

/// Price + Greeks: a failing device falls back (counted) with the CPU's results; elements a
/// device leaves to the reference get the scalar reference's values and errors; American
/// batches never go to the device.
#[test]
fn greeks_dispatch_and_fallback() {
    let n = 500;
    let kind: Vec<OptionType> = (0..n)
        .map(|i| {
            if i % 2 == 0 {
                OptionType::Call
            } else {
                OptionType::Put
            }
        })
        .collect();
    let mut spot: Vec<f64> = (0..n).map(|i| 80.0 + (i % 40) as f64).collect();
    spot[3] = -1.0;
    let strike = vec![100.0; n];
    let years: Vec<f64> = (0..n).map(|i| 0.05 + (i % 7) as f64 * 0.2).collect();
    let rate = vec![0.03; n];
    let q = vec![0.01; n];
    let vol: Vec<f64> = (0..n).map(|i| 0.1 + (i % 5) as f64 * 0.1).collect();
    let batch = wheelhouse_compute::OptionBatch {
        kind: &kind,
        spot: &spot,
        strike: &strike,
        years: &years,
        rate: &rate,
        dividend_yield: &q,
        volatility: &vol,
        style: None,
    };
    let want = Backend::cpu(Some(1)).unwrap().greeks(&batch).unwrap();
    let failing = Backend::cpu(Some(1))
        .unwrap()
        .with_accelerator(Arc::new(Fake::Fails(AtomicU64::new(0))));
    let got = failing.greeks(&batch).unwrap();
    assert_eq!(failing.fallbacks(), 1);
    assert_eq!(
        got.price.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        want.price.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
    let leaving = Backend::cpu(Some(1))
        .unwrap()
        .with_accelerator(Arc::new(Fake::Marks(AtomicU64::new(0))));
    let got = leaving.greeks(&batch).unwrap();
    assert_eq!(leaving.fallbacks(), 0);
    assert!(!got.status[3].is_ok() && got.price[3].is_nan());
    for i in (0..n).filter(|&i| i != 3) {
        for (a, b) in [(got.price[i], want.price[i]), (got.vega[i], want.vega[i])] {
            assert!(
                (a - b).abs() <= 1e-13 * b.abs() + 1e-13,
                "element {i}: {a} vs {b}"
            );
        }
    }
    // American elements keep the batch on the CPU (the fake would have flagged everything).
    let styles = vec![wheelhouse_core::ExerciseStyle::American; n];
    let am = wheelhouse_compute::OptionBatch {
        style: Some(&styles),
        ..batch
    };
    let failing2 = Backend::cpu(Some(1))
        .unwrap()
        .with_accelerator(Arc::new(Fake::Fails(AtomicU64::new(0))));
    failing2.greeks(&am).unwrap();
    assert_eq!(failing2.fallbacks(), 0);
}

/// Implied volatility and the chained IV → Greeks: a failing device falls back (counted) with
/// the CPU's bits; elements the device leaves get the scalar solver's values and errors, the
/// others keep the device's answer; an element whose IV fails carries that error into its
/// Greeks; American batches stay on the CPU.
#[test]
fn iv_dispatch_fallback_and_chain() {
    let n = 400;
    let kind: Vec<OptionType> = (0..n)
        .map(|i| {
            if i % 3 == 0 {
                OptionType::Put
            } else {
                OptionType::Call
            }
        })
        .collect();
    let spot: Vec<f64> = (0..n).map(|i| 80.0 + (i % 40) as f64).collect();
    let strike = vec![100.0; n];
    let years: Vec<f64> = (0..n).map(|i| 0.05 + (i % 7) as f64 * 0.2).collect();
    let rate = vec![0.03; n];
    let q = vec![0.01; n];
    let vol: Vec<f64> = (0..n).map(|i| 0.1 + (i % 5) as f64 * 0.1).collect();
    let cpu = Backend::cpu(Some(1)).unwrap();
    let mut price = cpu
        .greeks(&wheelhouse_compute::OptionBatch {
            kind: &kind,
            spot: &spot,
            strike: &strike,
            years: &years,
            rate: &rate,
            dividend_yield: &q,
            volatility: &vol,
            style: None,
        })
        .unwrap()
        .price;
    price[7] = 0.0; // below intrinsic or zero: an IV error
    let input = wheelhouse_compute::IvInput {
        kind: &kind,
        price: &price,
        spot: &spot,
        strike: &strike,
        years: &years,
        rate: &rate,
        dividend_yield: &q,
        style: None,
    };
    let want = cpu.implied_volatility(&input).unwrap();
    assert!(!want.status[7].is_ok());
    let (mut want_iv, mut want_g) = Default::default();
    cpu.iv_and_greeks_into(&input, &mut want_iv, &mut want_g)
        .unwrap();
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(&want_iv.implied_volatility),
        bits(&want.implied_volatility)
    );
    // The chain = IV, then Greeks at those volatilities; the IV error carried into Greeks.
    assert_eq!(
        format!("{:?}", want_g.status[7]),
        format!("{:?}", want.status[7])
    );
    assert!(want_g.price[7].is_nan());
    let solved: Vec<usize> = (0..n).filter(|&i| want.status[i].is_ok()).collect();
    assert!(solved.len() > n / 2);
    for &i in &solved {
        // Repriced at its implied volatility, the element gives back its price.
        assert!(
            (want_g.price[i] - price[i]).abs() <= 1e-10 * price[i] + 1e-12,
            "{i}"
        );
    }
    for i in (0..n).filter(|&i| !want.status[i].is_ok()) {
        assert_eq!(
            format!("{:?}", want_g.status[i]),
            format!("{:?}", want.status[i])
        );
    }

    let failing = Backend::cpu(Some(1))
        .unwrap()
        .with_accelerator(Arc::new(Fake::Fails(AtomicU64::new(0))));
    let got = failing.implied_volatility(&input).unwrap();
    assert_eq!(failing.fallbacks(), 1);
    assert_eq!(
        bits(&got.implied_volatility),
        bits(&want.implied_volatility)
    );
    let (mut iv, mut g) = Default::default();
    failing.iv_and_greeks_into(&input, &mut iv, &mut g).unwrap();
    assert_eq!(failing.fallbacks(), 2, "one per batch, the chain included");
    assert_eq!(bits(&iv.implied_volatility), bits(&want.implied_volatility));
    assert_eq!(bits(&g.price), bits(&want_g.price));

    let marking = Backend::cpu(Some(1))
        .unwrap()
        .with_accelerator(Arc::new(Fake::Marks(AtomicU64::new(0))));
    let got = marking.implied_volatility(&input).unwrap();
    assert_eq!(marking.fallbacks(), 0);
    for i in 0..n {
        if i % 2 == 0 {
            assert_eq!(got.implied_volatility[i], -42.0, "{i}: the device's answer");
            assert!(got.status[i].is_ok());
        } else {
            assert_eq!(
                format!("{:?}", got.status[i]),
                format!("{:?}", want.status[i]),
                "{i}"
            );
            assert_eq!(
                got.implied_volatility[i].to_bits(),
                iv_scalar(&input, i).to_bits(),
                "{i}"
            );
        }
    }
    // Element 7 (odd: left to the CPU) fails with the scalar solver's error in both outputs.
    let (mut iv, mut g) = Default::default();
    marking.iv_and_greeks_into(&input, &mut iv, &mut g).unwrap();
    assert!(!iv.status[7].is_ok() && !g.status[7].is_ok() && g.price[7].is_nan());
    for i in (1..n).step_by(2).filter(|i| want.status[*i].is_ok()) {
        assert!(
            (g.price[i] - price[i]).abs() <= 1e-10 * price[i] + 1e-12,
            "{i}"
        );
        assert!(g.status[i].is_ok());
    }
    assert_eq!(g.price[0], -42.0);

    // American elements keep IV on the CPU.
    let styles = vec![wheelhouse_core::ExerciseStyle::American; n];
    let am = wheelhouse_compute::IvInput {
        style: Some(&styles),
        ..input
    };
    let failing2 = Backend::cpu(Some(1))
        .unwrap()
        .with_accelerator(Arc::new(Fake::Fails(AtomicU64::new(0))));
    failing2.implied_volatility(&am).unwrap();
    assert_eq!(failing2.fallbacks(), 0);
}

/// The scalar solver's volatility (NaN on error).
fn iv_scalar(input: &wheelhouse_compute::IvInput<'_>, i: usize) -> f64 {
    wheelhouse_pricing::iv::implied_volatility_bsm(
        input.price[i],
        input.spot[i],
        input.strike[i],
        input.years[i],
        input.rate[i],
        input.dividend_yield[i],
        input.kind[i],
    )
    .unwrap_or(f64::NAN)
}

/// A "device" that runs the CPU's own batch on the sub-range it is given: with the policy's
/// batch factor splitting a Monte Carlo batch into launches, the paths must come out exactly
/// as one unsplit CPU batch (each launch starts at its own first path).
struct CpuAsDevice {
    cpu: Backend,
    calls: AtomicU64,
    fail_at_call: Option<u64>,
}

impl std::fmt::Debug for CpuAsDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CpuAsDevice")
    }
}

impl Accelerator for CpuAsDevice {
    fn describe(&self) -> String {
        "the CPU posing as a device".into()
    }
    fn min_paths(&self) -> usize {
        100
    }
    fn mc_pnl(&self, book: &McBook<'_>, first: u64, out: &mut [f64]) -> Result<(), String> {
        let call = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        if self.fail_at_call == Some(call) {
            out.fill(-42.0); // a half-written batch must not survive
            return Err("injected fault: thermal shutdown mid-batch".into());
        }
        self.cpu.mc_pnl(book, first, out).map_err(|e| e.to_string())
    }
}

#[test]
fn thermal_scales_split_device_batches_and_shrink_cpu_workers_with_the_same_bits() {
    with_book(|book| {
        let cpu = Backend::cpu(Some(2)).unwrap();
        let mut want = vec![0.0; 1_000];
        cpu.mc_pnl(book, 7, &mut want).unwrap();
        // A hot state: device batches at a quarter, so four launches.
        let dev = Arc::new(CpuAsDevice {
            cpu: Backend::cpu(Some(1)).unwrap(),
            calls: AtomicU64::new(0),
            fail_at_call: None,
        });
        let scales = wheelhouse_compute::Scales::new();
        let b = Backend::cpu(Some(2))
            .unwrap()
            .with_accelerator(dev.clone())
            .with_scales(scales.clone());
        scales.set(0.5, 0.25);
        let mut got = vec![0.0; 1_000];
        b.mc_pnl(book, 7, &mut got).unwrap();
        assert_eq!(dev.calls.load(Ordering::Relaxed), 4);
        assert!(
            got.iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
        // A fault in the third launch: the whole batch reruns on the CPU, counted, same bits.
        let dev2 = Arc::new(CpuAsDevice {
            cpu: Backend::cpu(Some(1)).unwrap(),
            calls: AtomicU64::new(0),
            fail_at_call: Some(3),
        });
        let b2 = Backend::cpu(Some(2))
            .unwrap()
            .with_accelerator(dev2)
            .with_scales(scales.clone());
        let mut got2 = vec![0.0; 1_000];
        b2.mc_pnl(book, 7, &mut got2).unwrap();
        assert_eq!(b2.fallbacks(), 1);
        assert!(
            got2.iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
        // CPU workers: half of 2 is 1; results identical to the full pool's.
        let cpu_only = Backend::cpu(Some(2)).unwrap().with_scales(scales.clone());
        assert_eq!(cpu_only.workers_now(), 1);
        let mut got3 = vec![0.0; 1_000];
        cpu_only.mc_pnl(book, 7, &mut got3).unwrap();
        assert!(
            got3.iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
        // Cooling down restores the full pool; out-of-range factors are clamped.
        scales.set(1.0, 1.0);
        assert_eq!(cpu_only.workers_now(), 2);
        scales.set(f64::NAN, 7.0);
        assert_eq!((scales.workers(), scales.batch()), (1.0, 1.0));
        scales.set(0.0, -1.0);
        assert_eq!(cpu_only.workers_now(), 1);
    });
}
