//! The American kernels (`kernels/american.cu`, with the IV kernel they start from) compiled as
//! host C++ and run element by element against the CPU engine (`wheelhouse_pricing::american`).
//!
//! CI has no GPU, but the kernels' logic is plain C++ with CUDA's qualifiers: with a few macros
//! a host compiler builds the very source NVRTC gets and runs every thread's code. On the host
//! the kernels use the C library's `exp` and `log`, as the Rust engine does, so the two differ
//! only where the port orders an operation differently; on the GPU they also differ by CUDA's
//! `exp`/`log` rounding and fused multiply-adds (tests/gpu.rs checks that on a device).
//!
//! What is checked, for the fast and the accurate settings, on seeded random options over the
//! engine's documented domain plus invalid and unsupported inputs:
//! * every element the CPU reports as an error is left to the CPU (status 1);
//! * the kernels leave few valid elements to the CPU;
//! * price, delta, gamma, theta agree within 1e-13 relative (of the price scale `strike`),
//!   the bumped Greeks within their bump's amplification of that, and implied volatilities
//!   within 1e-9 relative (the engine's own stopping rule is 1e-10 relative steps).
//!
//! Skipped (with a message) where no C++ compiler is found (`CXX` or `c++`).

use std::path::{Path, PathBuf};

use wheelhouse_compute::cuda::american_source;
use wheelhouse_pricing::american::{
    AmericanSettings, american_greeks, american_implied_volatility, american_price,
};
use wheelhouse_pricing::{BsmInputs, OptionType};
use wheelhouse_testkit::hostcuda;
use wheelhouse_testkit::random::{log_uniform, uniforms};

/// Reads `mode n` then n lines `kind spot strike years rate q x` (x: volatility or price) and
/// prints every output as the hex bits of its double.
const MAIN: &str = r#"
int main() {
    char mode[16];
    int n;
    if (scanf("%15s %d", mode, &n) != 2) return 2;
    std::vector<int> kind(n);
    std::vector<double> s(n), k(n), t(n), r(n), q(n), x(n);
    for (int i = 0; i < n; ++i)
        if (scanf("%d %lf %lf %lf %lf %lf %lf", &kind[i], &s[i], &k[i], &t[i], &r[i], &q[i], &x[i]) != 7)
            return 3;
    if (strcmp(mode, "greeks") == 0) {
        int v = AM_VARIANTS;
        std::vector<double> vp((size_t)v * n), vd((size_t)v * n), vg((size_t)v * n);
        std::vector<int> vf((size_t)v * n);
        for (long long e = 0; e < (long long)v * n; ++e) {
            blockIdx.x = (unsigned)e;
            american_values(n, v, 1, kind.data(), s.data(), k.data(), t.data(), r.data(), q.data(),
                            x.data(), vp.data(), vd.data(), vg.data(), vf.data());
        }
        std::vector<double> o(9 * (size_t)n);
        std::vector<int> st(n);
        for (int i = 0; i < n; ++i) {
            blockIdx.x = i;
            american_combine(n, s.data(), t.data(), r.data(), q.data(), x.data(), vp.data(),
                             vd.data(), vg.data(), vf.data(), &o[0], &o[n], &o[2 * n], &o[3 * n],
                             &o[4 * n], &o[5 * n], &o[6 * n], &o[7 * n], &o[8 * n], st.data());
        }
        for (int i = 0; i < n; ++i) {
            printf("%d", st[i]);
            for (int c = 0; c < 9; ++c) bits(o[(size_t)c * n + i]);
            printf("\n");
        }
    } else if (strcmp(mode, "prices") == 0) {
        std::vector<double> vp(n), vd(n), vg(n);
        std::vector<int> vf(n);
        for (int i = 0; i < n; ++i) {
            blockIdx.x = i;
            american_values(n, 1, 0, kind.data(), s.data(), k.data(), t.data(), r.data(), q.data(),
                            x.data(), vp.data(), vd.data(), vg.data(), vf.data());
        }
        for (int i = 0; i < n; ++i) {
            printf("%d", vf[i]);
            bits(vp[i]);
            printf("\n");
        }
    } else {
        std::vector<double> iv(n);
        std::vector<int> st(n);
        for (int i = 0; i < n; ++i) {
            blockIdx.x = i;
            american_iv(n, kind.data(), x.data(), s.data(), k.data(), t.data(), r.data(), q.data(),
                        iv.data(), st.data());
        }
        for (int i = 0; i < n; ++i) {
            printf("%d", st[i]);
            bits(iv[i]);
            printf("\n");
        }
    }
    return 0;
}
"#;

/// The kernels for `settings` built as a host program, or None without a C++ compiler.
fn host_kernels(settings: &AmericanSettings, tag: &str) -> Option<PathBuf> {
    hostcuda::build(
        &american_source(settings).unwrap(),
        MAIN,
        &format!("am-{tag}"),
        &[],
    )
}

/// One option: kind, spot, strike, years, rate, yield, and the sixth input.
#[derive(Debug, Clone, Copy)]
struct Row {
    kind: OptionType,
    s: f64,
    k: f64,
    t: f64,
    r: f64,
    q: f64,
    x: f64,
}

impl Row {
    fn inputs(&self, vol: f64) -> BsmInputs {
        BsmInputs {
            kind: self.kind,
            spot: self.s,
            strike: self.k,
            years: self.t,
            rate: self.r,
            dividend_yield: self.q,
            volatility: vol,
        }
    }
}

/// Runs the host kernels in `mode` on `rows`: per row, the status and the outputs.
fn run(bin: &Path, mode: &str, rows: &[Row]) -> Vec<(i32, Vec<f64>)> {
    let mut input = format!("{mode} {}\n", rows.len());
    for r in rows {
        let kind = if r.kind == OptionType::Call { 0 } else { 1 };
        // {:e} round-trips; the C library parses it back to the same double.
        input.push_str(&format!(
            "{kind} {:e} {:e} {:e} {:e} {:e} {:e}\n",
            r.s, r.k, r.t, r.r, r.q, r.x
        ));
    }
    hostcuda::run(bin, &input)
}

/// Seeded options over the engine's documented domain (T 1 hour–5 years, K/S 0.25–4, σ 1 %–
/// 300 %, r −1 %–10 %, q 0–6 %, both kinds; with `quoted`, the part of it where listed quotes
/// live: T 1 day–3 years, K/S 0.5–2, σ 5 %–150 %), with every 10th one on the edges: zero
/// rate or yield, yield above rate, tiny volatility, a negative rate with the unsupported
/// double boundary, and invalid inputs. `x` is the volatility.
fn options(seed: u64, n: usize, quoted: bool) -> Vec<Row> {
    let (moneyness, years, vol) = if quoted {
        ((0.5, 2.0), (1.0 / 365.0, 3.0), (0.05, 1.5))
    } else {
        ((0.25, 4.0), (1.0 / (365.0 * 24.0), 5.0), (0.01, 3.0))
    };
    let mut u = uniforms(seed);
    (0..n)
        .map(|i| {
            let kind = if u() < 0.5 {
                OptionType::Call
            } else {
                OptionType::Put
            };
            let s = log_uniform(u(), 5.0, 500.0);
            let mut row = Row {
                kind,
                s,
                k: s * log_uniform(u(), moneyness.0, moneyness.1),
                t: log_uniform(u(), years.0, years.1),
                r: -0.01 + 0.11 * u(),
                q: 0.06 * u(),
                x: log_uniform(u(), vol.0, vol.1),
            };
            if i % 10 == 9 {
                match (i / 10) % 8 {
                    0 => row.r = 0.0,
                    1 => row.q = 0.0,
                    2 => (row.r, row.q) = (0.01, 0.08),
                    3 => row.x = 1e-9,
                    4 => (row.r, row.q) = (-0.02, -0.03),
                    5 => row.s = f64::NAN,
                    6 => row.x = -0.2,
                    _ => row.t = 0.0,
                }
            }
            row
        })
        .collect()
}

/// |a − b| ≤ tol·scale, with NaN equal only to NaN.
fn close(a: f64, b: f64, tol: f64, scale: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a - b).abs() <= tol * scale.max(1e-300)
}

fn check_greeks(settings: AmericanSettings, tag: &str, n: usize) {
    let Some(bin) = host_kernels(&settings, tag) else {
        return;
    };
    let rows = options(0x5eed_a3e1 ^ n as u64, n, false);
    let out = run(&bin, "greeks", &rows);
    compare_greeks(&settings, tag, &rows, &out, 1e-13, 100);
}

/// Checks kernel results `out` (per row: status, the nine columns) against the CPU engine:
/// CPU errors left to the CPU with NaN outputs, at most one valid row in `max_left` left,
/// values within `tol` of their scale. Returns the worst error / scale per column.
fn compare_greeks(
    settings: &AmericanSettings,
    tag: &str,
    rows: &[Row],
    out: &[(i32, Vec<f64>)],
    tol: f64,
    max_left: usize,
) -> [f64; 9] {
    assert_eq!(out.len(), rows.len());
    let (mut left, mut valid, mut worst) = (0, 0, [0.0f64; 9]);
    for (i, (row, (st, v))) in rows.iter().zip(out).enumerate() {
        let cpu = american_greeks(&row.inputs(row.x), settings);
        let Ok(g) = cpu else {
            assert_eq!(
                *st, 1,
                "row {i} {row:?}: the CPU fails ({cpu:?}), the kernel did not"
            );
            assert!(
                v.iter().all(|x| x.is_nan()),
                "row {i}: NaN outputs expected"
            );
            continue;
        };
        valid += 1;
        if *st != 0 {
            left += 1;
            assert!(
                v.iter().all(|x| x.is_nan()),
                "row {i}: NaN outputs expected"
            );
            continue;
        }
        let want = [
            g.price, g.delta, g.gamma, g.vega, g.theta, g.rho, g.vanna, g.volga, g.charm,
        ];
        // Scales: the price's (strike), and each bumped Greek's amplification of it.
        let hs = (1e-3 * row.x).max(1e-5).min(0.5 * row.x);
        let ht = (1e-4 * row.t).max(1e-9);
        let k = row.k;
        let scale = [
            k,
            1.0,
            1.0 / row.s,
            k / hs,
            k * (1.0 + row.r.abs() + row.x * row.x),
            k / 1e-5,
            1.0 / hs,
            k / (hs * hs),
            1.0 / ht,
        ];
        for c in 0..9 {
            let err = (v[c] - want[c]).abs() / scale[c];
            worst[c] = worst[c].max(err);
            assert!(
                close(v[c], want[c], tol, scale[c]),
                "row {i} {row:?} column {c}: kernel {} CPU {} (err {err:e} of scale {})",
                v[c],
                want[c],
                scale[c]
            );
        }
    }
    eprintln!(
        "{tag}: {valid} valid of {}, {left} left to the CPU; worst error / scale per column: {worst:?}",
        rows.len()
    );
    assert!(
        left * max_left <= valid,
        "{left} of {valid} valid elements left to the CPU"
    );
    worst
}

#[test]
fn greeks_match_the_cpu_engine_accurate() {
    check_greeks(AmericanSettings::ACCURATE, "accurate", 1500);
}

#[test]
fn greeks_match_the_cpu_engine_fast() {
    check_greeks(AmericanSettings::FAST, "fast", 1500);
}

#[test]
fn prices_and_implied_volatilities_match_the_cpu_engine() {
    let settings = AmericanSettings::ACCURATE;
    let Some(bin) = host_kernels(&settings, "iv") else {
        return;
    };
    let n = 2000;
    let rows = options(0xa3e1_0001, n, true);
    // Prices alone.
    let out = run(&bin, "prices", &rows);
    let mut worst = 0.0f64;
    for (i, (row, (st, v))) in rows.iter().zip(&out).enumerate() {
        match american_price(&row.inputs(row.x), &settings) {
            Ok(p) if *st & !4 == 0 => {
                worst = worst.max((v[0] - p).abs() / row.k);
                assert!(close(v[0], p, 1e-13, row.k), "row {i}: {} vs {p}", v[0]);
            }
            Ok(_) => assert!(v[0].is_nan(), "row {i}"),
            Err(_) => assert_ne!(*st & !4, 0, "row {i}: the CPU fails, the kernel did not"),
        }
    }
    eprintln!("prices: worst error / strike {worst:e}");
    // Implied volatilities of the model's own prices at the rows' volatilities, plus prices
    // below the floor and above the upper bound.
    let mut u = uniforms(0x1f);
    let iv_rows: Vec<Row> = rows
        .iter()
        .map(|r| {
            let mut row = *r;
            row.x = american_price(&r.inputs(r.x), &settings).unwrap_or(f64::NAN);
            let v = u();
            if v < 0.03 {
                row.x = 0.5 * (r.kind.sign() * (r.s - r.k)).max(0.0);
            } else if v < 0.06 {
                row.x = 1.01 * if r.kind == OptionType::Call { r.s } else { r.k };
            }
            row
        })
        .collect();
    let out = run(&bin, "iv", &iv_rows);
    let sigma: Vec<f64> = out.iter().map(|(_, v)| v[0]).collect();
    let left: Vec<bool> = out.iter().map(|(st, _)| *st != 0).collect();
    check_iv(&settings, "iv", &iv_rows, &sigma, &left);
}

/// Checks kernel implied volatilities `sigma` (`left`: left to the CPU) of the prices in the
/// rows' `x` against the CPU engine: every CPU error left to the CPU; σ within 1e-9 relative,
/// or, where vega is tiny (deep in the money, short expiry) and the price pins σ down only to
/// the solvers' price tolerance (1e-12·strike), repricing the quote as well as the CPU's σ
/// does; at most 2 % of the quotes (prices of at least 1e-10·strike) left to the CPU.
fn check_iv(settings: &AmericanSettings, tag: &str, rows: &[Row], sigma: &[f64], left: &[bool]) {
    let (mut quotes, mut quotes_left, mut worst, mut ill) = (0, 0, 0.0f64, 0);
    for (i, row) in rows.iter().enumerate() {
        let price = row.x;
        let cpu = american_implied_volatility(
            price, row.s, row.k, row.t, row.r, row.q, row.kind, settings,
        );
        let Ok(want) = cpu else {
            assert!(
                left[i],
                "row {i} {row:?}: the CPU fails ({cpu:?}), the kernel did not"
            );
            continue;
        };
        let quote = price >= 1e-10 * row.k;
        quotes += usize::from(quote);
        if left[i] {
            quotes_left += usize::from(quote);
            continue;
        }
        let err = (sigma[i] - want).abs() / want;
        if err <= 1e-9 {
            worst = worst.max(err);
            continue;
        }
        ill += 1;
        let at = |v: f64| american_price(&row.inputs(v), settings).unwrap();
        let (pk, pc) = (at(sigma[i]), at(want));
        let tol = (10.0 * (pc - price).abs()).max(1e-11 * row.k);
        assert!(
            (pk - price).abs() <= tol,
            "row {i} {row:?}: σ {} vs the CPU's {want}, repricing error {:e} vs the CPU's {:e}",
            sigma[i],
            pk - price,
            pc - price
        );
    }
    eprintln!(
        "{tag}: {quotes} quotes of {}, {quotes_left} left to the CPU, worst relative error \
         {worst:e} ({ill} ill-conditioned, checked by repricing)",
        rows.len()
    );
    assert!(
        quotes_left * 50 <= quotes,
        "{quotes_left} of {quotes} quotes left to the CPU"
    );
}

/// The device's tolerance against the CPU engine, of the same scales as the host's 1e-13:
/// CUDA's `exp` and `log` round differently from the C library's, and fused multiply-adds
/// change the rounding of most expressions, so the two boundary iterations differ by a few
/// ulps per step, and a Newton stopping test can end one step apart.
const DEVICE_TOL: f64 = 1e-10;

/// On a GPU (skipped without one): the kernels through the device, poisoned outputs, against
/// the CPU engine, for both settings: every element written, the CPU's errors left to it,
/// values within [`DEVICE_TOL`] of their scales, implied volatilities within 1e-9 relative.
#[test]
fn device_matches_the_cpu_engine() {
    use wheelhouse_compute::cuda::{Accelerator, CudaDevice};
    use wheelhouse_compute::{GreeksBatch, IvInput, OptionBatch};
    let dev = match CudaDevice::open(0) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("skipped: no CUDA device ({e})");
            return;
        }
    };
    const POISON: f64 = -7.25e77;
    for (settings, tag, n) in [
        (AmericanSettings::FAST, "device fast", 20_000),
        (AmericanSettings::ACCURATE, "device accurate", 20_000),
    ] {
        let rows = options(0xd3c1_ce00 ^ n as u64, n, false);
        let kind: Vec<OptionType> = rows.iter().map(|r| r.kind).collect();
        let col = |f: fn(&Row) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
        let (s, k, t, r, q, x) = (
            col(|r| r.s),
            col(|r| r.k),
            col(|r| r.t),
            col(|r| r.r),
            col(|r| r.q),
            col(|r| r.x),
        );
        let batch = OptionBatch {
            kind: &kind,
            spot: &s,
            strike: &k,
            years: &t,
            rate: &r,
            dividend_yield: &q,
            volatility: &x,
            style: None,
        };
        let mut g = GreeksBatch::filled(n, POISON);
        let left = dev.american_greeks(&batch, &settings, &mut g).unwrap();
        let mut out: Vec<(i32, Vec<f64>)> = (0..n)
            .map(|i| (0, g.columns().iter().map(|c| c[i]).collect()))
            .collect();
        for i in left {
            out[i].0 = 1;
        }
        assert!(out.iter().all(|(_, v)| v.iter().all(|x| *x != POISON)));
        compare_greeks(&settings, tag, &rows, &out, DEVICE_TOL, 100);

        // Prices alone: the same values as the Greeks' price column.
        let mut p = vec![POISON; n];
        let mut left_p = vec![false; n];
        for i in dev.american_prices(&batch, &settings, &mut p).unwrap() {
            left_p[i] = true;
        }
        for i in 0..n {
            if !left_p[i] && out[i].0 == 0 {
                assert_eq!(p[i].to_bits(), out[i].1[0].to_bits(), "row {i}");
            }
        }

        // Implied volatilities of the CPU engine's prices on the quoted domain.
        let qrows = options(0xd3c1_ce01 ^ n as u64, n, true);
        let price: Vec<f64> = qrows
            .iter()
            .map(|r| american_price(&r.inputs(r.x), &settings).unwrap_or(f64::NAN))
            .collect();
        let kind: Vec<OptionType> = qrows.iter().map(|r| r.kind).collect();
        let col = |f: fn(&Row) -> f64| qrows.iter().map(f).collect::<Vec<f64>>();
        let (s, k, t, r, q) = (
            col(|r| r.s),
            col(|r| r.k),
            col(|r| r.t),
            col(|r| r.r),
            col(|r| r.q),
        );
        let input = IvInput {
            kind: &kind,
            price: &price,
            spot: &s,
            strike: &k,
            years: &t,
            rate: &r,
            dividend_yield: &q,
            style: None,
        };
        let mut iv = vec![POISON; n];
        let mut left = vec![false; n];
        for i in dev.american_iv(&input, &settings, &mut iv).unwrap() {
            left[i] = true;
        }
        assert!(iv.iter().all(|v| *v != POISON));
        let quoted: Vec<Row> = qrows
            .iter()
            .zip(&price)
            .map(|(r, p)| Row { x: *p, ..*r })
            .collect();
        check_iv(&settings, &format!("{tag} iv"), &quoted, &iv, &left);
    }
}
