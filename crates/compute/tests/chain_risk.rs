//! `Backend::chain_risk` without a GPU: a chain's implied volatilities and Greeks and a book
//! of its quotes valued at them. On the CPU: the chain's outputs are `iv_and_greeks_into`'s to
//! the bit, each position's volatility and value now are its quote's solved volatility (the
//! one that priced it, within the solver's accuracy) and model price (the quote's price), and
//! no tail comes back (the caller runs the paths). Bad books get errors naming the position
//! and the quote. Through a fake device: its answers land in place, the quotes it leaves are
//! finished by the CPU's solver, and a failing device falls back (counted) with the CPU's
//! bits. tests/gpu.rs runs the real device against the CPU.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wheelhouse_compute::cuda::Accelerator;
use wheelhouse_compute::{
    Backend, BatchError, ChainBook, ChainBookColumns, GreeksBatch, IvBatch, IvInput, McTail,
    Status, TailSpec,
};
use wheelhouse_core::{ExerciseStyle, OptionType};
use wheelhouse_pricing::black::bsm_price_unchecked;
use wheelhouse_pricing::{BsmInputs, PricingError};
use wheelhouse_testkit::random::uniforms;

/// Quotes of two underlyings (spots 100 and 40): calls and puts, strikes 70–130 % of spot,
/// 2 weeks to 1 year, on a smile; with their true volatilities.
struct Chain {
    kind: Vec<OptionType>,
    price: Vec<f64>,
    spot: Vec<f64>,
    strike: Vec<f64>,
    years: Vec<f64>,
    rate: Vec<f64>,
    dividend_yield: Vec<f64>,
    style: Vec<ExerciseStyle>,
    sigma: Vec<f64>,
    underlying: Vec<usize>,
}

const SPOTS: [f64; 2] = [100.0, 40.0];

impl Chain {
    fn new(per_underlying: usize, seed: u64) -> Chain {
        let mut u = uniforms(seed);
        let mut c = Chain {
            kind: vec![],
            price: vec![],
            spot: vec![],
            strike: vec![],
            years: vec![],
            rate: vec![],
            dividend_yield: vec![],
            style: vec![],
            sigma: vec![],
            underlying: vec![],
        };
        for (ui, &s) in SPOTS.iter().enumerate() {
            for _ in 0..per_underlying {
                let m = 0.7 + 0.6 * u();
                let years = 14.0 / 365.0 + u() * (1.0 - 14.0 / 365.0);
                let sigma = 0.25 + 0.3 * (m - 1.0) * (m - 1.0) + 0.1 * ui as f64;
                let inputs = BsmInputs {
                    kind: if u() < 0.5 {
                        OptionType::Call
                    } else {
                        OptionType::Put
                    },
                    spot: s,
                    strike: (s * m * 100.0).round() / 100.0,
                    years,
                    rate: 0.04,
                    dividend_yield: 0.01 * ui as f64,
                    volatility: sigma,
                };
                c.kind.push(inputs.kind);
                c.price.push(bsm_price_unchecked(&inputs));
                c.spot.push(s);
                c.strike.push(inputs.strike);
                c.years.push(years);
                c.rate.push(inputs.rate);
                c.dividend_yield.push(inputs.dividend_yield);
                c.style.push(ExerciseStyle::European);
                c.sigma.push(sigma);
                c.underlying.push(ui);
            }
        }
        c
    }

    fn input(&self) -> IvInput<'_> {
        IvInput {
            kind: &self.kind,
            price: &self.price,
            spot: &self.spot,
            strike: &self.strike,
            years: &self.years,
            rate: &self.rate,
            dividend_yield: &self.dividend_yield,
            style: Some(&self.style),
        }
    }
}

/// The path model and positions of a book on `chain`: a stock position in each underlying and
/// short options on every 7th quote.
struct Book {
    vol: Vec<f64>,
    drift: Vec<f64>,
    cholesky: Vec<f64>,
    stock_underlying: Vec<usize>,
    stock_quantity: Vec<f64>,
    option_quote: Vec<usize>,
    option_underlying: Vec<usize>,
    option_quantity: Vec<f64>,
}

impl Book {
    fn new(chain: &Chain) -> Book {
        let rho: f64 = 0.4;
        let option_quote: Vec<usize> = (0..chain.kind.len()).step_by(7).collect();
        Book {
            vol: vec![0.25, 0.35],
            drift: vec![0.05, 0.03],
            cholesky: vec![1.0, 0.0, rho, (1.0 - rho * rho).sqrt()],
            stock_underlying: vec![0, 1],
            stock_quantity: vec![300.0, -500.0],
            option_underlying: option_quote.iter().map(|&q| chain.underlying[q]).collect(),
            option_quantity: option_quote
                .iter()
                .map(|&q| if q % 2 == 0 { -100.0 } else { 200.0 })
                .collect(),
            option_quote,
        }
    }

    fn chain_book<'a>(&'a self, chain: &'a Chain) -> ChainBook<'a> {
        ChainBook {
            quotes: chain.input(),
            spot: &SPOTS,
            vol: &self.vol,
            drift: &self.drift,
            cholesky: &self.cholesky,
            stock_underlying: &self.stock_underlying,
            stock_quantity: &self.stock_quantity,
            option_quote: &self.option_quote,
            option_underlying: &self.option_underlying,
            option_quantity: &self.option_quantity,
            seed: 42,
            steps: 5,
            dt: 1.0 / 252.0,
            vol_shock: 0.02,
            vol_of_vol: 0.0,
            jumps: None,
        }
    }
}

const SPEC: TailSpec = TailSpec {
    confidence: 0.99,
    batches: 20,
};

fn run(
    b: &Backend,
    cb: &ChainBook<'_>,
    paths: usize,
) -> Result<(IvBatch, GreeksBatch, wheelhouse_compute::ChainRisk), BatchError> {
    let (mut iv, mut g) = (IvBatch::default(), GreeksBatch::default());
    let r = b.chain_risk(cb, &mut iv, &mut g, paths, &SPEC, &mut |_| {})?;
    Ok((iv, g, r))
}

fn same_status(a: &Status, b: &Status) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

fn assert_same_chain(a: &(IvBatch, GreeksBatch), b: &(IvBatch, GreeksBatch), what: &str) {
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let (ga, gb) = (a.1.columns(), b.1.columns());
    for i in 0..a.0.status.len() {
        assert!(same_status(&a.0.status[i], &b.0.status[i]), "{what} {i}");
        assert!(same_status(&a.1.status[i], &b.1.status[i]), "{what} {i}");
    }
    assert_eq!(
        bits(&a.0.implied_volatility),
        bits(&b.0.implied_volatility),
        "{what}: volatilities"
    );
    for (c, (x, y)) in ga.iter().zip(&gb).enumerate() {
        assert_eq!(bits(x), bits(y), "{what}: Greeks column {c}");
    }
}

#[test]
fn on_the_cpu_positions_take_their_quotes_volatility_and_price() {
    let mut chain = Chain::new(300, 0xc4a1);
    // Quote 0 (a position's) far out of the money and short-dated: h < −12, where the GPU
    // kernel's initial guess leaves the quote to the CPU's scalar solver.
    let far = BsmInputs {
        kind: OptionType::Call,
        spot: 100.0,
        strike: 140.0,
        years: 0.02,
        rate: 0.04,
        dividend_yield: 0.0,
        volatility: 0.1,
    };
    (
        chain.kind[0],
        chain.strike[0],
        chain.years[0],
        chain.sigma[0],
    ) = (far.kind, far.strike, far.years, far.volatility);
    chain.price[0] = bsm_price_unchecked(&far);
    let book = Book::new(&chain);
    let cb = book.chain_book(&chain);
    let cpu = Backend::cpu(Some(2)).unwrap();
    let (iv, g, r) = run(&cpu, &cb, 2_000).unwrap();
    assert!(r.tail.is_none(), "no device: the caller runs the paths");
    // The chain's outputs are iv_and_greeks_into's.
    let (mut iv2, mut g2) = (IvBatch::default(), GreeksBatch::default());
    cpu.iv_and_greeks_into(&chain.input(), &mut iv2, &mut g2)
        .unwrap();
    assert_same_chain(&(iv, g), &(iv2, g2.clone()), "chain");
    let c = &r.columns;
    assert_eq!(c.vol.len(), book.option_quote.len());
    for (o, &q) in book.option_quote.iter().enumerate() {
        assert_eq!(c.kind[o], chain.kind[q]);
        assert_eq!(c.strike[o], chain.strike[q]);
        assert_eq!(c.years[o], chain.years[q]);
        assert!(
            (c.vol[o] - chain.sigma[q]).abs() <= 1e-9 * chain.sigma[q],
            "position {o}: σ {} vs the quote's {}",
            c.vol[o],
            chain.sigma[q]
        );
        assert!(
            (c.value_now[o] - chain.price[q]).abs() <= 1e-10 * chain.price[q].max(1e-3),
            "position {o}: value {} vs the quote's price {}",
            c.value_now[o],
            chain.price[q]
        );
        assert_eq!(c.value_now[o].to_bits(), g2.price[q].to_bits());
    }
    // The book runs: P&L of a few paths through mc_pnl, as the caller would.
    let mut pnl = vec![0.0; 2_000];
    cpu.mc_pnl(&cb.book(c), 0, &mut pnl).unwrap();
    assert!(pnl.iter().all(|p| p.is_finite()));
    assert!(pnl.iter().any(|p| *p != 0.0));
}

/// A change to a good book or chain, and what its error must say.
type BadCase = (fn(&mut Book, &mut Chain), &'static [&'static str]);

#[test]
fn bad_books_are_named() {
    let cpu = Backend::cpu(Some(1)).unwrap();
    let cases: [BadCase; 5] = [
        // A quote past the chain.
        (
            |b, _| b.option_quote[1] = 10_000,
            &["option position 1", "quote 10000"],
        ),
        // An underlying past the book's.
        (
            |b, _| b.option_underlying[4] = 7,
            &["option position 4", "underlying 7"],
        ),
        // A quote on another underlying than the position's.
        (
            |b, _| b.option_underlying[0] = 1,
            &["option position 0", "spot"],
        ),
        // An American quote.
        (
            |b, c| c.style[b.option_quote[2]] = ExerciseStyle::American,
            &["option position 2", "American"],
        ),
        // A quote priced below its intrinsic value: no volatility, with the solver's reason.
        (
            |b, c| c.price[b.option_quote[3]] = -1.0,
            &["option position 3", "no implied volatility"],
        ),
    ];
    for (change, words) in cases {
        let mut chain = Chain::new(40, 0xc4a2);
        let mut book = Book::new(&chain);
        change(&mut book, &mut chain);
        let e = run(&cpu, &book.chain_book(&chain), 100)
            .unwrap_err()
            .to_string();
        assert!(words.iter().all(|w| e.contains(w)), "{words:?}: {e}");
    }
    // Columns of different lengths.
    let chain = Chain::new(40, 0xc4a2);
    let mut short = Book::new(&chain);
    short.option_quantity.pop();
    assert!(matches!(
        run(&cpu, &short.chain_book(&chain), 100).unwrap_err(),
        BatchError::LengthMismatch { .. }
    ));
}

/// A device that answers with the CPU (chain outputs, positions' columns, every path's P&L as
/// the tail), leaving every 5th quote to the CPU (poisoned); or one that fails every call.
#[derive(Debug)]
struct FakeChainDevice {
    fails: bool,
    calls: AtomicU64,
}

impl Accelerator for FakeChainDevice {
    fn describe(&self) -> String {
        "fake chain device".into()
    }
    fn min_paths(&self) -> usize {
        1
    }
    fn has_chain_risk(&self) -> bool {
        true
    }
    fn chain_risk(
        &self,
        chain: &ChainBook<'_>,
        columns: &mut ChainBookColumns,
        iv: &mut IvBatch,
        greeks: &mut GreeksBatch,
        paths: usize,
        _spec: &TailSpec,
        _per_launch: usize,
        _progress: &mut dyn FnMut(u64),
    ) -> Result<(Vec<usize>, Option<McTail>), String> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if self.fails {
            return Err("injected fault: launch failed".into());
        }
        let cpu = Backend::cpu(Some(1)).unwrap();
        cpu.iv_and_greeks_into(&chain.quotes, iv, greeks)
            .map_err(|e| e.to_string())?;
        // As a device: every 5th quote and every one the CPU fails left to the CPU (poisoned),
        // statuses not written (the dispatcher sets them).
        let flagged: Vec<usize> = (0..iv.status.len())
            .filter(|&i| i % 5 == 0 || !iv.status[i].is_ok() || !greeks.status[i].is_ok())
            .collect();
        for (o, &q) in chain.option_quote.iter().enumerate() {
            if !iv.status[q].is_ok() {
                return Ok((flagged, None));
            }
            columns.vol[o] = iv.implied_volatility[q];
            columns.value_now[o] = greeks.price[q];
        }
        let stale = Status::failed(PricingError::InvalidInput {
            field: "stale",
            value: 0.0,
            reason: "a status the device never wrote",
        });
        iv.status.fill(stale.clone());
        greeks.status.fill(stale);
        for &i in &flagged {
            iv.implied_volatility[i] = -3.0;
            greeks.price[i] = -3.0;
        }
        let mut pnl = vec![0.0; paths];
        cpu.mc_pnl(&chain.book(columns), 0, &mut pnl)
            .map_err(|e| e.to_string())?;
        let tail = McTail {
            paths,
            pnl_sum: pnl.iter().sum(),
            kept: paths,
            index: (0..paths as u64).collect(),
            pnl,
            rows: Vec::new(),
        };
        Ok((flagged, Some(tail)))
    }
}

#[test]
fn a_device_run_is_finished_on_the_cpu_and_a_failing_one_falls_back() {
    let chain = Chain::new(200, 0xc4a3);
    let book = Book::new(&chain);
    let cb = book.chain_book(&chain);
    let cpu = Backend::cpu(Some(2)).unwrap();
    let (iv0, g0, r0) = run(&cpu, &cb, 3_000).unwrap();
    let mut pnl0 = vec![0.0; 3_000];
    cpu.mc_pnl(&cb.book(&r0.columns), 0, &mut pnl0).unwrap();

    // A working device: the quotes it left are the CPU scalar solver's, within the IV
    // accuracy of the vector lanes it otherwise matches; the tail is the device's.
    let fake = Arc::new(FakeChainDevice {
        fails: false,
        calls: AtomicU64::new(0),
    });
    let dev = Backend::cpu(Some(2))
        .unwrap()
        .with_accelerator(fake.clone());
    let (iv1, g1, r1) = run(&dev, &cb, 3_000).unwrap();
    assert_eq!(fake.calls.load(Ordering::Relaxed), 1);
    assert_eq!(dev.fallbacks(), 0);
    for i in 0..iv0.status.len() {
        assert!(same_status(&iv0.status[i], &iv1.status[i]), "{i}");
        let (a, b) = (iv0.implied_volatility[i], iv1.implied_volatility[i]);
        assert!((a - b).abs() <= 1e-12 * a, "{i}: {a} vs {b}");
        let (a, b) = (g0.price[i], g1.price[i]);
        assert!((a - b).abs() <= 1e-12 * a.max(1.0), "{i}: {a} vs {b}");
    }
    assert_eq!(r1.columns, r0.columns);
    let tail = r1.tail.expect("the device's tail");
    assert_eq!(tail.paths, 3_000);
    assert_eq!(tail.pnl, pnl0);

    // A failing device: counted, and the CPU's bits.
    let fake = Arc::new(FakeChainDevice {
        fails: true,
        calls: AtomicU64::new(0),
    });
    let dev = Backend::cpu(Some(2))
        .unwrap()
        .with_accelerator(fake.clone());
    let (iv2, g2, r2) = run(&dev, &cb, 3_000).unwrap();
    assert_eq!(fake.calls.load(Ordering::Relaxed), 1);
    // The chain run, then the Monte Carlo tail the fake does not have.
    assert_eq!(dev.fallbacks(), 2);
    assert_same_chain(&(iv2, g2), &(iv0, g0), "fallback");
    assert_eq!(r2.columns, r0.columns);
    assert!(r2.tail.is_none());
}

#[test]
fn american_quotes_keep_the_chain_on_the_cpu_and_bad_quotes_are_the_cpus_errors() {
    let chain = Chain::new(100, 0xc4a4);
    let book = Book::new(&chain);
    let cpu = Backend::cpu(Some(2)).unwrap();
    // An American quote no position holds: the device's IV kernel is European, so the chain
    // stays on the CPU (the American engine values that quote).
    let mut am = Chain::new(100, 0xc4a4);
    am.style[1] = ExerciseStyle::American;
    assert!(!book.option_quote.contains(&1));
    let fake = Arc::new(FakeChainDevice {
        fails: false,
        calls: AtomicU64::new(0),
    });
    let dev = Backend::cpu(Some(2))
        .unwrap()
        .with_accelerator(fake.clone());
    let (iv_d, g_d, r_d) = run(&dev, &book.chain_book(&am), 2_000).unwrap();
    let (iv_c, g_c, r_c) = run(&cpu, &book.chain_book(&am), 2_000).unwrap();
    assert_eq!(
        fake.calls.load(Ordering::Relaxed),
        0,
        "the device got an American chain"
    );
    assert_same_chain(&(iv_d, g_d), &(iv_c, g_c), "American chain");
    assert_eq!(r_d.columns, r_c.columns);
    // A position's quote without a volatility on the device: the CPU's error, not a fallback.
    let mut bad = Chain::new(100, 0xc4a4);
    bad.price[book.option_quote[2]] = -1.0;
    // (The American chain's run counted one: the fake has no Monte Carlo tail.)
    let before = dev.fallbacks();
    let want = run(&cpu, &book.chain_book(&bad), 2_000)
        .unwrap_err()
        .to_string();
    let got = run(&dev, &book.chain_book(&bad), 2_000)
        .unwrap_err()
        .to_string();
    assert_eq!(got, want);
    assert!(got.contains("option position 2"), "{got}");
    assert_eq!(fake.calls.load(Ordering::Relaxed), 1);
    assert_eq!(dev.fallbacks(), before);
}
