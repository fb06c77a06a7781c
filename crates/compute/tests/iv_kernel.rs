//! The European implied-volatility kernel (`kernels/iv.cu`, `bsm_iv`) compiled as host C++
//! (`wheelhouse_testkit::hostcuda`) and run element by element against the CPU batch
//! (`Backend::implied_volatility` on one thread: the lane code, the scalar solver for what it
//! leaves). CI has no GPU; this checks the kernel's logic there. On a device the kernel also
//! differs by CUDA's `exp`/`log` rounding and its fused multiply-adds (tests/gpu.rs).
//!
//! What is checked, on seeded chain quotes, the whole documented domain with edge prices, and
//! the golden BSM and edge tables:
//! * the build that solves region 1 in one pass (`-DIV_NO_DEFER`) and the one that defers it
//!   to `bsm_iv_deferred` (shipped; deferred lanes are poisoned before that pass), with one or
//!   two step call sites (`-DIV_TWO_STEP_SITES`), give the same bits, and lanes are deferred;
//! * the tuning variants (`-DIV_SETUP_OUTER_ONLY`: the initial guess's outer-interval pieces
//!   only on the lanes that use them; `-DIV_OBJECTIVE_SELECTS`, `-DIV_SELECTS`: every objective
//!   or form evaluated on every lane and selected, as the CPU lane code does) give the same
//!   bits as the shipped kernel, status for status;
//! * every element the CPU reports as an error is left to the CPU (status 1, NaN);
//! * every volatility the kernel returns is within 1e-13 relative of the CPU's, or, where vega
//!   is so small that the price determines σ less well, within 100·ε·price/vega;
//! * few valid elements are left to the CPU.
//!
//! Skipped (with a message) where no C++ compiler is found (`CXX` or `c++`).

use std::path::PathBuf;

use wheelhouse_compute::cuda::iv_kernel_source;
use wheelhouse_compute::{Backend, IvInput, Status};
use wheelhouse_pricing::black::{bsm_greeks_unchecked, bsm_price_unchecked};
use wheelhouse_pricing::{BsmInputs, OptionType};
use wheelhouse_testkit::golden;
use wheelhouse_testkit::hostcuda;
use wheelhouse_testkit::random::{log_uniform, uniforms};

/// Reads `n` then n lines `kind price spot strike years rate q`; runs `bsm_iv` thread by thread,
/// then `bsm_iv_deferred` on the lanes it deferred; prints per element the status and the bits
/// of the volatility, then `-1` and the number of deferred lanes.
const MAIN: &str = r#"
int main() {
    int n;
    if (scanf("%d", &n) != 1) return 2;
    std::vector<int> kind(n);
    std::vector<double> p(n), s(n), k(n), t(n), r(n), q(n), iv(n);
    std::vector<int> st(n);
    for (int i = 0; i < n; ++i)
        if (scanf("%d %lf %lf %lf %lf %lf %lf", &kind[i], &p[i], &s[i], &k[i], &t[i], &r[i], &q[i]) != 7)
            return 3;
    std::vector<int> deferred(n);
    int n_deferred = 0;
    for (int i = 0; i < n; ++i) {
        blockIdx.x = i;
        bsm_iv(n, kind.data(), p.data(), s.data(), k.data(), t.data(), r.data(), q.data(),
               iv.data(), st.data(), deferred.data(), &n_deferred);
    }
    // Deferred lanes have no output yet: poison them, so that the deferred pass must write.
    for (int j = 0; j < n_deferred; ++j) {
        iv[deferred[j]] = -1.0;
        st[deferred[j]] = 7;
    }
    blockIdx.x = 0;
    bsm_iv_deferred(deferred.data(), &n_deferred, kind.data(), p.data(), s.data(), k.data(),
                    t.data(), r.data(), q.data(), iv.data(), st.data());
    for (int i = 0; i < n; ++i) {
        printf("%d", st[i]);
        bits(iv[i]);
        printf("\n");
    }
    printf("-1");
    bits((double)n_deferred);
    printf("\n");
    return 0;
}
"#;

/// The tuning variants that must give the shipped kernel's bits.
const VARIANTS: [(&str, &[&str]); 7] = [
    ("shipped", &[]),
    ("one-pass", &["-DIV_NO_DEFER"]),
    ("two-step-sites", &["-DIV_TWO_STEP_SITES"]),
    (
        "two-step-sites-one-pass",
        &["-DIV_TWO_STEP_SITES", "-DIV_NO_DEFER"],
    ),
    ("setup-outer-only", &["-DIV_SETUP_OUTER_ONLY"]),
    ("objective-selects", &["-DIV_OBJECTIVE_SELECTS"]),
    ("selects", &["-DIV_SELECTS"]),
];

fn host_kernels(tag: &str, defines: &[&str]) -> Option<PathBuf> {
    hostcuda::build(&iv_kernel_source(), MAIN, &format!("iv-{tag}"), defines)
}

#[derive(Default)]
struct Quotes {
    kind: Vec<OptionType>,
    price: Vec<f64>,
    spot: Vec<f64>,
    strike: Vec<f64>,
    years: Vec<f64>,
    rate: Vec<f64>,
    dividend_yield: Vec<f64>,
}

impl Quotes {
    fn input(&self) -> IvInput<'_> {
        IvInput {
            kind: &self.kind,
            price: &self.price,
            spot: &self.spot,
            strike: &self.strike,
            years: &self.years,
            rate: &self.rate,
            dividend_yield: &self.dividend_yield,
            style: None,
        }
    }

    fn push(&mut self, i: &BsmInputs, price: f64) {
        self.kind.push(i.kind);
        self.price.push(price);
        self.spot.push(i.spot);
        self.strike.push(i.strike);
        self.years.push(i.years);
        self.rate.push(i.rate);
        self.dividend_yield.push(i.dividend_yield);
    }

    fn stdin(&self) -> String {
        let mut s = format!("{}\n", self.kind.len());
        for i in 0..self.kind.len() {
            let kind = if self.kind[i] == OptionType::Call {
                0
            } else {
                1
            };
            // {:e} round-trips; the C library parses it back to the same double.
            s.push_str(&format!(
                "{kind} {:e} {:e} {:e} {:e} {:e} {:e}\n",
                self.price[i],
                self.spot[i],
                self.strike[i],
                self.years[i],
                self.rate[i],
                self.dividend_yield[i]
            ));
        }
        s
    }
}

/// `n` seeded quotes. `chain`: S 100, K 60–140, a week to two years, σ 10–80 %, r 0–6 %, q 0–3 %
/// (what the GPU benchmarks use). Otherwise the documented domain (T 1 hour–5 years, K/S
/// 0.25–4, σ 1 %–300 %, r −1 %–10 %, q 0–6 %) with every 10th price on or past an edge: the
/// intrinsic value, just above it, the upper bound, zero, negative, NaN, tiny.
fn quotes(seed: u64, n: usize, chain: bool) -> Quotes {
    let mut u = uniforms(seed);
    let mut q = Quotes::default();
    for i in 0..n {
        let kind = if u() < 0.5 {
            OptionType::Call
        } else {
            OptionType::Put
        };
        let inputs = if chain {
            BsmInputs {
                kind,
                spot: 100.0,
                strike: 60.0 + 80.0 * u(),
                years: log_uniform(u(), 7.0 / 365.0, 2.0),
                rate: 0.06 * u(),
                dividend_yield: 0.03 * u(),
                volatility: 0.1 + 0.7 * u(),
            }
        } else {
            let spot = log_uniform(u(), 5.0, 500.0);
            BsmInputs {
                kind,
                spot,
                strike: spot * log_uniform(u(), 0.25, 4.0),
                years: log_uniform(u(), 1.0 / 8760.0, 5.0),
                rate: -0.01 + 0.11 * u(),
                dividend_yield: 0.06 * u(),
                volatility: log_uniform(u(), 0.01, 3.0),
            }
        };
        let mut price = bsm_price_unchecked(&inputs);
        if !chain && i % 10 == 9 {
            let df = (-inputs.rate * inputs.years).exp();
            let fwd = inputs.spot * ((inputs.rate - inputs.dividend_yield) * inputs.years).exp();
            let intrinsic = df * (kind.sign() * (fwd - inputs.strike)).max(0.0);
            price = match (i / 10) % 8 {
                0 => intrinsic,
                1 => intrinsic + intrinsic.max(1.0) * 1e-14,
                2 => {
                    if kind == OptionType::Call {
                        inputs.spot * (-inputs.dividend_yield * inputs.years).exp()
                    } else {
                        inputs.strike * df
                    }
                }
                3 => 0.0,
                4 => -price,
                5 => f64::NAN,
                6 => 1e-200,
                _ => price * (1.0 + 1e-9),
            };
        }
        q.push(&inputs, price);
    }
    q
}

/// Runs every variant on `q` and checks them against each other and the CPU batch (and, with
/// `expect_deferred`, that region 1 lanes went through the deferred pass); returns (valid
/// elements, left to the CPU, worst relative difference from the CPU).
fn check(tag: &str, q: &Quotes, expect_deferred: bool) -> Option<(usize, usize, f64)> {
    let input = q.stdin();
    let mut outputs = Vec::new();
    let mut deferred = Vec::new();
    for (name, defines) in VARIANTS {
        let bin = host_kernels(&format!("{tag}-{name}"), defines)?;
        let mut out = hostcuda::run(&bin, &input);
        let (tag_line, count) = out.pop().expect("the deferred count");
        assert_eq!(tag_line, -1);
        deferred.push((name, count[0] as usize));
        outputs.push((name, out));
    }
    let n = q.kind.len();
    let shipped = &outputs[0].1;
    assert_eq!(shipped.len(), n);
    for &(name, count) in &deferred {
        // The one-pass builds solve region 1 in place; the others defer it.
        if name.ends_with("one-pass") {
            assert_eq!(count, 0, "{tag}: the one-pass build deferred {count} lanes");
        } else if expect_deferred {
            assert!(count > 0, "{tag}: variant {name} deferred no lane");
        }
    }
    eprintln!("{tag}: deferred lanes per variant {deferred:?}");
    for (name, out) in &outputs[1..] {
        for i in 0..n {
            assert!(
                out[i].0 == shipped[i].0 && out[i].1[0].to_bits() == shipped[i].1[0].to_bits(),
                "{tag} element {i}: variant {name} gives ({}, {:e}), the shipped kernel ({}, {:e})",
                out[i].0,
                out[i].1[0],
                shipped[i].0,
                shipped[i].1[0]
            );
        }
    }
    let cpu = Backend::cpu(Some(1))
        .unwrap()
        .implied_volatility(&q.input())
        .unwrap();
    let (mut valid, mut left, mut worst, mut same_bits) = (0, 0, 0.0f64, 0);
    for (i, (st, out)) in shipped.iter().enumerate() {
        let (st, v) = (*st, out[0]);
        match &cpu.status[i] {
            Status::Failed(e) => {
                assert!(
                    st == 1 && v.is_nan(),
                    "{tag} element {i}: the CPU fails ({e:?}), the kernel gives ({st}, {v:e})"
                );
            }
            Status::Ok => {
                valid += 1;
                if st != 0 {
                    assert!(v.is_nan(), "{tag} element {i}: NaN expected, got {v:e}");
                    left += 1;
                    continue;
                }
                let w = cpu.implied_volatility[i];
                // Where vega is tiny (deep in the money) an fp64 price pins σ down only to
                // about ε·price/vega: there two solvers may stop at different σ that both
                // reprice the quote (tests/iv_simd.rs holds the CPU to the same allowance).
                let inputs = q.input().at(i, w);
                let vega = bsm_greeks_unchecked(&inputs).vega;
                let slack = 100.0 * f64::EPSILON * q.price[i] / vega.max(1e-300);
                let err = (v - w).abs();
                same_bits += usize::from(v.to_bits() == w.to_bits());
                assert!(
                    err <= 1e-13 * w + slack,
                    "{tag} element {i}: kernel {v:e}, CPU {w:e} (|difference| {err:e}, price \
                     allowance {slack:e})"
                );
                if slack <= 1e-13 * w {
                    worst = worst.max(err / w);
                }
            }
        }
    }
    eprintln!(
        "{tag}: {n} quotes, {valid} valid, {left} left to the CPU, {same_bits} with the CPU's bits, \
         worst relative difference where σ is well determined {worst:e}"
    );
    Some((valid, left, worst))
}

#[test]
fn chain_quotes_match_the_cpu() {
    let q = quotes(0x1f_c4a1, 4000, true);
    let Some((valid, left, worst)) = check("chain", &q, true) else {
        return;
    };
    // The invalid ones are deep in the money and short-dated: their prices equal the
    // intrinsic value in fp64.
    assert!(valid > 3800, "{valid} valid");
    assert!(left * 100 <= valid, "{left} of {valid} left to the CPU");
    assert!(worst <= 1e-13, "{worst:e}");
}

#[test]
fn the_whole_domain_and_edge_prices_match_the_cpu() {
    let q = quotes(0x1f_c4a2, 6000, false);
    let Some((valid, left, _)) = check("domain", &q, true) else {
        return;
    };
    assert!(
        left * 20 <= valid,
        "{left} of {valid} valid quotes left to the CPU"
    );
}

#[test]
fn golden_tables_match_the_cpu() {
    let mut q = Quotes::default();
    for g in golden::european_bsm()
        .iter()
        .chain(golden::european_edge().iter())
    {
        q.push(&g.inputs(), g.price);
    }
    check("golden", &q, false);
}
