//! The dispatcher's American path, without a GPU: a batch's American elements go to the
//! accelerator (gathered into columns of their own) once there are at least its
//! `min_american`, its answers land on the right elements, the elements it leaves are run
//! through the CPU engine, European elements stay on the CPU's kernels, and a failing
//! accelerator falls back (counted) with the CPU's bits — for price + Greeks, first-order
//! Greeks, prices and implied volatilities.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wheelhouse_compute::cuda::{Accelerator, AmericanTask};
use wheelhouse_compute::{Backend, GreeksBatch, IvInput, OptionBatch};
use wheelhouse_core::{ExerciseStyle, OptionType};
use wheelhouse_pricing::BsmInputs;
use wheelhouse_pricing::american::{
    AmericanSettings, american_greeks, american_implied_volatility, american_price,
};

/// Added to every value the fake device returns, so that its answers can be told apart.
const MARK: f64 = 1000.0;

/// A device that answers with the CPU engine plus [`MARK`], leaves every 5th element to the
/// CPU (poisoned), or fails every call.
#[derive(Debug)]
struct FakeAmerican {
    fails: bool,
    calls: AtomicU64,
    /// Elements it was given, over all calls.
    elements: AtomicU64,
}

impl FakeAmerican {
    fn new(fails: bool) -> Self {
        FakeAmerican {
            fails,
            calls: AtomicU64::new(0),
            elements: AtomicU64::new(0),
        }
    }

    fn enter(&self, n: usize) -> Result<(), String> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.elements.fetch_add(n as u64, Ordering::Relaxed);
        if self.fails {
            Err("injected fault: launch failed".into())
        } else {
            Ok(())
        }
    }
}

fn inputs(b: &OptionBatch<'_>, i: usize) -> BsmInputs {
    BsmInputs {
        kind: b.kind[i],
        spot: b.spot[i],
        strike: b.strike[i],
        years: b.years[i],
        rate: b.rate[i],
        dividend_yield: b.dividend_yield[i],
        volatility: b.volatility[i],
    }
}

impl Accelerator for FakeAmerican {
    fn describe(&self) -> String {
        "fake American device".into()
    }
    fn min_american(&self, _task: AmericanTask, _cpu_threads: usize) -> usize {
        10
    }
    fn american_greeks(
        &self,
        batch: &OptionBatch<'_>,
        settings: &AmericanSettings,
        out: &mut GreeksBatch,
    ) -> Result<Vec<usize>, String> {
        assert!(batch.style.is_none());
        self.enter(batch.kind.len())?;
        let mut left = Vec::new();
        for i in 0..batch.kind.len() {
            let g = american_greeks(&inputs(batch, i), settings);
            let vals = match (&g, i % 5) {
                (Ok(g), 1..) => [
                    g.price, g.delta, g.gamma, g.vega, g.theta, g.rho, g.vanna, g.volga, g.charm,
                ]
                .map(|x| x + MARK),
                _ => {
                    left.push(i);
                    [-42.0; 9]
                }
            };
            for (c, v) in out.columns_mut().into_iter().zip(vals) {
                c[i] = v;
            }
        }
        Ok(left)
    }
    fn american_prices(
        &self,
        batch: &OptionBatch<'_>,
        settings: &AmericanSettings,
        out: &mut [f64],
    ) -> Result<Vec<usize>, String> {
        self.enter(batch.kind.len())?;
        let mut left = Vec::new();
        for (i, o) in out.iter_mut().enumerate() {
            match (american_price(&inputs(batch, i), settings), i % 5) {
                (Ok(p), 1..) => *o = p + MARK,
                _ => {
                    left.push(i);
                    *o = -42.0;
                }
            }
        }
        Ok(left)
    }
    fn american_iv(
        &self,
        input: &IvInput<'_>,
        settings: &AmericanSettings,
        out: &mut [f64],
    ) -> Result<Vec<usize>, String> {
        self.enter(input.kind.len())?;
        let mut left = Vec::new();
        for (i, o) in out.iter_mut().enumerate() {
            let r = american_implied_volatility(
                input.price[i],
                input.spot[i],
                input.strike[i],
                input.years[i],
                input.rate[i],
                input.dividend_yield[i],
                input.kind[i],
                settings,
            );
            match (r, i % 5) {
                (Ok(v), 1..) => *o = v + MARK,
                _ => {
                    left.push(i);
                    *o = -42.0;
                }
            }
        }
        Ok(left)
    }
}

/// A mixed batch: every third element European, one invalid American element.
struct Mixed {
    kind: Vec<OptionType>,
    cols: [Vec<f64>; 6],
    style: Vec<ExerciseStyle>,
}

impl Mixed {
    fn new(n: usize) -> Mixed {
        let kind = (0..n)
            .map(|i| {
                if i % 2 == 0 {
                    OptionType::Put
                } else {
                    OptionType::Call
                }
            })
            .collect();
        let mut spot: Vec<f64> = (0..n).map(|i| 80.0 + (i % 41) as f64).collect();
        spot[4] = f64::NAN;
        let cols = [
            spot,
            vec![100.0; n],
            (0..n).map(|i| 0.05 + (i % 7) as f64 * 0.15).collect(),
            vec![0.04; n],
            (0..n).map(|i| 0.01 * (i % 3) as f64).collect(),
            (0..n).map(|i| 0.15 + (i % 5) as f64 * 0.08).collect(),
        ];
        let style = (0..n)
            .map(|i| {
                if i % 3 == 2 {
                    ExerciseStyle::European
                } else {
                    ExerciseStyle::American
                }
            })
            .collect();
        Mixed { kind, cols, style }
    }

    fn batch(&self) -> OptionBatch<'_> {
        OptionBatch {
            kind: &self.kind,
            spot: &self.cols[0],
            strike: &self.cols[1],
            years: &self.cols[2],
            rate: &self.cols[3],
            dividend_yield: &self.cols[4],
            volatility: &self.cols[5],
            style: Some(&self.style),
        }
    }
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Whether element `i` carries the fake device's answer: an American element the fake does
/// not leave to the CPU (every 5th of the American rows), valid for the CPU engine (`ok`).
fn device_answered(style: &[ExerciseStyle], i: usize, ok: bool) -> bool {
    let row = style[..i]
        .iter()
        .filter(|s| **s == ExerciseStyle::American)
        .count();
    style[i] == ExerciseStyle::American && !row.is_multiple_of(5) && ok
}

#[test]
fn greeks_and_prices_route_american_elements_to_the_device() {
    let m = Mixed::new(60);
    let batch = m.batch();
    let cpu = Backend::cpu(Some(2)).unwrap();
    let want = cpu.greeks(&batch).unwrap();
    let fake = Arc::new(FakeAmerican::new(false));
    let dev = Backend::cpu(Some(2))
        .unwrap()
        .with_accelerator(fake.clone());
    let got = dev.greeks(&batch).unwrap();
    assert_eq!(dev.fallbacks(), 0);
    assert_eq!(fake.calls.load(Ordering::Relaxed), 1);
    assert_eq!(fake.elements.load(Ordering::Relaxed), 40);
    for i in 0..60 {
        let w = [want.price[i], want.vega[i], want.charm[i]];
        let g = [got.price[i], got.vega[i], got.charm[i]];
        assert_eq!(got.status[i].is_ok(), want.status[i].is_ok(), "element {i}");
        let device_answer = device_answered(&m.style, i, want.status[i].is_ok());
        for (a, b) in g.into_iter().zip(w) {
            if device_answer {
                assert_eq!(a, b + MARK, "element {i}: the device's answer");
            } else {
                assert_eq!(a.to_bits(), b.to_bits(), "element {i}: the CPU's answer");
            }
        }
    }
    // The invalid element keeps the CPU engine's error.
    assert!(!got.status[4].is_ok() && got.price[4].is_nan());

    // First-order Greeks take the same path.
    let fo = dev.first_order(&batch).unwrap();
    let fo_cpu = cpu.first_order(&batch).unwrap();
    for i in 0..60 {
        let marked = device_answered(&m.style, i, fo_cpu.status[i].is_ok());
        let want = if marked {
            fo_cpu.rho[i] + MARK
        } else {
            fo_cpu.rho[i]
        };
        assert_eq!(fo.rho[i].to_bits(), want.to_bits(), "element {i}");
    }

    // Prices.
    let (p, st) = dev.prices(&batch).unwrap();
    let (pw, stw) = cpu.prices(&batch).unwrap();
    for i in 0..60 {
        assert_eq!(st[i].is_ok(), stw[i].is_ok(), "element {i}");
        let marked = device_answered(&m.style, i, stw[i].is_ok());
        let want = if marked { pw[i] + MARK } else { pw[i] };
        assert_eq!(p[i].to_bits(), want.to_bits(), "element {i}");
    }

    // A failing device: counted, and the CPU's bits.
    let failing = Backend::cpu(Some(2))
        .unwrap()
        .with_accelerator(Arc::new(FakeAmerican::new(true)));
    let got = failing.greeks(&batch).unwrap();
    assert_eq!(failing.fallbacks(), 1);
    for c in 0..9 {
        let (a, b) = (got.columns()[c], want.columns()[c]);
        assert_eq!(bits(a), bits(b), "column {c}");
    }
    let (p, _) = failing.prices(&batch).unwrap();
    assert_eq!(bits(&p), bits(&pw));
    assert_eq!(failing.fallbacks(), 2);

    // An all-American batch goes to the device as it is (no gather): the same answers.
    let mut all = Mixed::new(60);
    all.style.fill(ExerciseStyle::American);
    let fake = Arc::new(FakeAmerican::new(false));
    let dev = Backend::cpu(Some(2))
        .unwrap()
        .with_accelerator(fake.clone());
    let (p, st) = dev.prices(&all.batch()).unwrap();
    let (pw, stw) = cpu.prices(&all.batch()).unwrap();
    assert_eq!(fake.elements.load(Ordering::Relaxed), 60);
    for i in 0..60 {
        assert_eq!(st[i].is_ok(), stw[i].is_ok(), "element {i}");
        let marked = device_answered(&all.style, i, stw[i].is_ok());
        let want = if marked { pw[i] + MARK } else { pw[i] };
        assert_eq!(p[i].to_bits(), want.to_bits(), "all American, element {i}");
    }

    // Below the device's minimum (10 American elements) the batch stays on the CPU.
    let small = Mixed::new(12);
    let fake = Arc::new(FakeAmerican::new(false));
    let dev = Backend::cpu(Some(2))
        .unwrap()
        .with_accelerator(fake.clone());
    let got = dev.greeks(&small.batch()).unwrap();
    assert_eq!(fake.calls.load(Ordering::Relaxed), 0);
    let want = cpu.greeks(&small.batch()).unwrap();
    assert_eq!(bits(&got.price), bits(&want.price));
}

#[test]
fn implied_volatilities_route_american_elements_to_the_device() {
    let m = Mixed::new(45);
    let batch = m.batch();
    let settings = AmericanSettings::ACCURATE;
    // Prices: the model's own (American or European by style), one below intrinsic.
    let cpu = Backend::cpu(Some(2))
        .unwrap()
        .with_american_settings(settings);
    let (mut price, _) = cpu.prices(&batch).unwrap();
    price[7] = 0.0;
    let input = IvInput {
        kind: batch.kind,
        price: &price,
        spot: batch.spot,
        strike: batch.strike,
        years: batch.years,
        rate: batch.rate,
        dividend_yield: batch.dividend_yield,
        style: batch.style,
    };
    let want = cpu.implied_volatility(&input).unwrap();
    let fake = Arc::new(FakeAmerican::new(false));
    let dev = Backend::cpu(Some(2))
        .unwrap()
        .with_american_settings(settings)
        .with_accelerator(fake.clone());
    let got = dev.implied_volatility(&input).unwrap();
    assert_eq!(fake.calls.load(Ordering::Relaxed), 1);
    assert_eq!(fake.elements.load(Ordering::Relaxed), 30);
    for i in 0..45 {
        assert_eq!(
            got.status[i].is_ok(),
            want.status[i].is_ok(),
            "element {i}: {:?} vs {:?}",
            got.status[i],
            want.status[i]
        );
        let marked = device_answered(&m.style, i, want.status[i].is_ok());
        let w = if marked {
            want.implied_volatility[i] + MARK
        } else {
            want.implied_volatility[i]
        };
        assert_eq!(
            got.implied_volatility[i].to_bits(),
            w.to_bits(),
            "element {i}"
        );
    }
    assert!(!got.status[4].is_ok() && !got.status[7].is_ok());
    let failing = Backend::cpu(Some(2))
        .unwrap()
        .with_american_settings(settings)
        .with_accelerator(Arc::new(FakeAmerican::new(true)));
    let got = failing.implied_volatility(&input).unwrap();
    assert_eq!(failing.fallbacks(), 1);
    assert_eq!(
        bits(&got.implied_volatility),
        bits(&want.implied_volatility)
    );
}
