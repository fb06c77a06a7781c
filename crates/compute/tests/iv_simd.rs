//! Verifies the vectorised European implied volatility of `Backend::implied_volatility` against the scalar `implied_volatility_bsm`: ≥ 100 000 fixed-seed random cases (same Ok/Err status and error, agreement within `1e-10·σ + 100·ε·price/vega`), the golden BSM and edge cases, and bit-identity across thread counts and batch offsets.
use wheelhouse_compute::{Backend, IvInput, Status};
use wheelhouse_pricing::OptionType;
use wheelhouse_pricing::iv::{implied_volatility_bsm, normalised_black, normalised_vega};
use wheelhouse_testkit::golden::{self, IvExpect};

#[derive(Default)]
struct Columns {
    kind: Vec<OptionType>,
    price: Vec<f64>,
    spot: Vec<f64>,
    strike: Vec<f64>,
    years: Vec<f64>,
    rate: Vec<f64>,
    dividend_yield: Vec<f64>,
    /// True σ where known (NaN otherwise).
    sigma: Vec<f64>,
}

impl Columns {
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

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        kind: OptionType,
        price: f64,
        s: f64,
        k: f64,
        t: f64,
        r: f64,
        q: f64,
        v: f64,
    ) {
        self.kind.push(kind);
        self.price.push(price);
        self.spot.push(s);
        self.strike.push(k);
        self.years.push(t);
        self.rate.push(r);
        self.dividend_yield.push(q);
        self.sigma.push(v);
    }
}

struct Rng(u64);

impl Rng {
    fn u(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// BSM price through the normalised Black function (as the benchmark does).
fn bsm(kind: OptionType, spot: f64, strike: f64, years: f64, rate: f64, q: f64, sigma: f64) -> f64 {
    let fwd = spot * ((rate - q) * years).exp();
    let x = (fwd / strike).ln();
    let df = (-rate * years).exp();
    df * (fwd * strike).sqrt() * normalised_black(x, sigma * years.sqrt(), kind)
}

/// Price vega ∂P/∂σ.
fn vega(spot: f64, strike: f64, years: f64, rate: f64, q: f64, sigma: f64) -> f64 {
    let fwd = spot * ((rate - q) * years).exp();
    let x = (fwd / strike).ln();
    let df = (-rate * years).exp();
    df * (fwd * strike).sqrt() * normalised_vega(x, sigma * years.sqrt()) * years.sqrt()
}

/// The benchmark's distribution (T 1 h–5 y, K/S 0.25–4, σ 1 %–300 %, r −1 %–10 %, q 0–6 %),
/// unfiltered, plus a share of edge inputs (bounds, zero, NaN, tiny and huge prices).
fn random_cases(n: usize, seed: u64, edges: bool) -> Columns {
    let mut g = Rng(seed);
    let mut c = Columns::default();
    while c.kind.len() < n {
        let kind = if g.u() < 0.5 {
            OptionType::Call
        } else {
            OptionType::Put
        };
        let spot = 100.0 * (0.5 + g.u());
        let strike = spot * (0.25f64.ln() + 16f64.ln() * g.u()).exp();
        let years = ((1.0f64 / 8760.0).ln() + (5.0f64 * 8760.0).ln() * g.u()).exp();
        let sigma = (0.01f64.ln() + 300f64.ln() * g.u()).exp();
        let rate = -0.01 + 0.11 * g.u();
        let q = 0.06 * g.u();
        let mut price = bsm(kind, spot, strike, years, rate, q, sigma);
        let mut v = sigma;
        if edges {
            let df = (-rate * years).exp();
            let fwd = spot * ((rate - q) * years).exp();
            let intrinsic = df * (kind.sign() * (fwd - strike)).max(0.0);
            let e = g.u();
            if e < 0.02 {
                price = intrinsic;
                v = f64::NAN;
            } else if e < 0.03 {
                price = intrinsic * (1.0 - 1e-15) - 1e-300;
                v = f64::NAN;
            } else if e < 0.04 {
                price = intrinsic + intrinsic.max(1.0) * 1e-15 * g.u();
                v = f64::NAN;
            } else if e < 0.05 {
                price = if kind == OptionType::Call {
                    spot * (-q * years).exp()
                } else {
                    strike * df
                } * (1.0 - 1e-13 * g.u());
                v = f64::NAN;
            } else if e < 0.055 {
                price = [f64::NAN, -1.0, 0.0, f64::INFINITY][(g.u() * 4.0) as usize];
                v = f64::NAN;
            } else if e < 0.06 {
                let which = (g.u() * 3.0) as usize;
                let bad = [f64::NAN, 0.0, -1.0][(g.u() * 3.0) as usize];
                c.push(
                    kind,
                    price,
                    if which == 0 { bad } else { spot },
                    if which == 1 { bad } else { strike },
                    if which == 2 { bad } else { years },
                    rate,
                    q,
                    f64::NAN,
                );
                continue;
            }
        }
        c.push(kind, price, spot, strike, years, rate, q, v);
    }
    c
}

fn scalar(c: &Columns, i: usize) -> Result<f64, wheelhouse_pricing::PricingError> {
    implied_volatility_bsm(
        c.price[i],
        c.spot[i],
        c.strike[i],
        c.years[i],
        c.rate[i],
        c.dividend_yield[i],
        c.kind[i],
    )
}

#[test]
fn random_cases_match_scalar() {
    let backend = Backend::cpu(Some(2)).unwrap();
    let mut worst_vs_scalar = 0.0f64;
    // Against the σ that generated the price (the price itself carries rounding from its
    // own evaluation, so this is reported for both solvers, not asserted).
    let mut worst_vs_truth = 0.0f64;
    let mut worst_scalar_vs_truth = 0.0f64;
    let mut total = 0;
    for (seed, edges) in [(0x5eed_0001u64, false), (0x5eed_0002, true)] {
        let c = random_cases(120_000, seed, edges);
        let out = backend.implied_volatility(&c.input()).unwrap();
        for i in 0..c.kind.len() {
            let want = scalar(&c, i);
            let got = out.status[i].clone();
            match (want, got) {
                (Ok(w), Status::Ok) => {
                    let v = out.implied_volatility[i];
                    let (s, k, t, r, q) = (
                        c.spot[i],
                        c.strike[i],
                        c.years[i],
                        c.rate[i],
                        c.dividend_yield[i],
                    );
                    let tol =
                        1e-10 * w + 100.0 * f64::EPSILON * c.price[i] / vega(s, k, t, r, q, w);
                    let err = (v - w).abs();
                    assert!(
                        err <= tol,
                        "case {i}: vector {v} vs scalar {w} (tol {tol:e})"
                    );
                    worst_vs_scalar = worst_vs_scalar.max(err / tol);
                    let sigma = c.sigma[i];
                    let intrinsic = (-r * t).exp()
                        * (c.kind[i].sign() * (s * ((r - q) * t).exp() - k)).max(0.0);
                    let vg = vega(s, k, t, r, q, sigma);
                    if sigma.is_finite()
                        && c.price[i] - intrinsic >= 1e-9 * s
                        && vg >= 1e-6 * s * t.sqrt()
                    {
                        let tol = 1e-10 * sigma + 100.0 * f64::EPSILON * c.price[i] / vg;
                        worst_vs_truth = worst_vs_truth.max((v - sigma).abs() / tol);
                        worst_scalar_vs_truth = worst_scalar_vs_truth.max((w - sigma).abs() / tol);
                    }
                }
                (Err(e), Status::Failed(f)) => {
                    assert_eq!(format!("{e:?}"), format!("{f:?}"), "case {i}")
                }
                (w, g) => panic!("case {i}: scalar {w:?}, batch {g:?}"),
            }
            total += 1;
        }
    }
    println!(
        "{total} cases: max |vector − scalar|/tol {worst_vs_scalar:.3e}, \
         max |vector − σ|/tol (well-conditioned) {worst_vs_truth:.3e} \
         (scalar: {worst_scalar_vs_truth:.3e})"
    );
    assert!(worst_vs_scalar <= 1.0);
}

#[test]
fn fallback_fraction_on_benchmark_inputs() {
    // The benchmark keeps quotes whose time value exceeds 1e-12·spot.
    let all = random_cases(200_000, 0x0bad_5eed, false);
    let mut c = Columns::default();
    for i in 0..all.kind.len() {
        let df = (-all.rate[i] * all.years[i]).exp();
        let fwd = all.spot[i] * ((all.rate[i] - all.dividend_yield[i]) * all.years[i]).exp();
        let intrinsic = df * (all.kind[i].sign() * (fwd - all.strike[i])).max(0.0);
        if all.price[i] - intrinsic > 1e-12 * all.spot[i] && all.price[i].is_finite() {
            c.push(
                all.kind[i],
                all.price[i],
                all.spot[i],
                all.strike[i],
                all.years[i],
                all.rate[i],
                all.dividend_yield[i],
                all.sigma[i],
            );
        }
    }
    let (fallbacks, n) = wheelhouse_compute::iv_vector_fallbacks(&c.input());
    let frac = fallbacks as f64 / n as f64;
    println!("fallback fraction {frac:.4} ({fallbacks} of {n})");
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        assert!(frac < 0.05, "fallback fraction {frac}");
    }
}

#[test]
fn golden_cases() {
    let backend = Backend::cpu(Some(1)).unwrap();
    for (name, cases) in [
        ("european_bsm", golden::european_bsm()),
        ("european_edge", golden::european_edge()),
    ] {
        let mut c = Columns::default();
        for g in &cases {
            let i = g.inputs();
            c.push(
                i.kind,
                g.price,
                i.spot,
                i.strike,
                i.years,
                i.rate,
                i.dividend_yield,
                f64::NAN,
            );
        }
        let out = backend.implied_volatility(&c.input()).unwrap();
        let mut worst = 0.0f64;
        for (j, g) in cases.iter().enumerate() {
            // Same outcome as the scalar solver, error for error.
            match (scalar(&c, j), out.status[j].clone()) {
                (Ok(w), Status::Ok) => {
                    let v = out.implied_volatility[j];
                    let tol = 1e-10 * w + 100.0 * f64::EPSILON * g.price / g.vega.max(1e-300);
                    assert!((v - w).abs() <= tol, "{name} {}: {v} vs scalar {w}", g.id);
                }
                (Err(e), Status::Failed(f)) => {
                    assert_eq!(format!("{e:?}"), format!("{f:?}"), "{name} {}", g.id)
                }
                (w, got) => panic!("{name} {}: scalar {w:?}, batch {got:?}", g.id),
            }
            if g.iv_expect == IvExpect::Ok && g.iv_well_conditioned {
                let want = g.iv_ref.unwrap();
                assert!(
                    out.status[j].is_ok(),
                    "{name} {}: {:?}",
                    g.id,
                    out.status[j]
                );
                let v = out.implied_volatility[j];
                let tol = 1e-10 * want + 100.0 * f64::EPSILON * g.price / g.vega;
                let err = (v - want).abs();
                assert!(
                    err <= tol,
                    "{name} {}: {v} vs {want}, {err:e} > {tol:e}",
                    g.id
                );
                worst = worst.max(err / tol);
            }
        }
        println!("{name}: {} cases, max |err|/tol {worst:.3e}", cases.len());
    }
}

#[test]
fn bit_identical_across_threads_and_offsets() {
    let c = random_cases(20_011, 0x1234_5678, true);
    let one = Backend::cpu(Some(1)).unwrap();
    let two = Backend::cpu(Some(2)).unwrap();
    let a = one.implied_volatility(&c.input()).unwrap();
    let b = two.implied_volatility(&c.input()).unwrap();
    let same = |x: &Status, y: &Status| format!("{x:?}") == format!("{y:?}");
    for i in 0..c.kind.len() {
        assert!(same(&a.status[i], &b.status[i]), "{i}");
        assert_eq!(
            a.implied_volatility[i].to_bits(),
            b.implied_volatility[i].to_bits(),
            "{i}"
        );
    }
    // Sub-batches starting at other offsets (other lane positions and padding).
    for off in [1usize, 3, 7, 8, 1021, 5000] {
        let len = (c.kind.len() - off).min(3001);
        let input = IvInput {
            kind: &c.kind[off..off + len],
            price: &c.price[off..off + len],
            spot: &c.spot[off..off + len],
            strike: &c.strike[off..off + len],
            years: &c.years[off..off + len],
            rate: &c.rate[off..off + len],
            dividend_yield: &c.dividend_yield[off..off + len],
            style: None,
        };
        let s = one.implied_volatility(&input).unwrap();
        for j in 0..len {
            assert!(same(&s.status[j], &a.status[off + j]), "{off}+{j}");
            assert_eq!(
                s.implied_volatility[j].to_bits(),
                a.implied_volatility[off + j].to_bits(),
                "{off}+{j}"
            );
        }
    }
    // Single elements.
    for i in (0..c.kind.len()).step_by(97) {
        let input = IvInput {
            kind: &c.kind[i..=i],
            price: &c.price[i..=i],
            spot: &c.spot[i..=i],
            strike: &c.strike[i..=i],
            years: &c.years[i..=i],
            rate: &c.rate[i..=i],
            dividend_yield: &c.dividend_yield[i..=i],
            style: None,
        };
        let s = one.implied_volatility(&input).unwrap();
        assert!(same(&s.status[0], &a.status[i]), "{i}");
        assert_eq!(
            s.implied_volatility[0].to_bits(),
            a.implied_volatility[i].to_bits()
        );
    }
}

/// Deep out-of-the-money quotes whose solution lies in the asymptotic region (h = x/s from
/// −33 to −12, normalised prices down to ~1e-240): the lane code solves them (no longer left
/// to the scalar solver) and agrees with the scalar solver.
#[test]
fn asymptotic_region_is_solved_in_lanes() {
    let mut g = Rng(0xa5_0001);
    let mut c = Columns::default();
    while c.kind.len() < 20_000 {
        let call = g.u() < 0.5;
        let spot = 100.0;
        let ax = 0.05 + 1.35 * g.u();
        // Out of the money: call strike above the forward, put strike below.
        let strike = spot * if call { ax.exp() } else { (-ax).exp() };
        let years = 0.01 + 2.0 * g.u();
        // Normalised prices down to ~1e-240 (below 1e-250 the lanes leave them to the scalar
        // solver).
        let h = -12.05 - 21.0 * g.u();
        let sigma = ax / -h / years.sqrt();
        let kind = if call {
            OptionType::Call
        } else {
            OptionType::Put
        };
        let price = bsm(kind, spot, strike, years, 0.0, 0.0, sigma);
        if price > 0.0 && price.is_finite() {
            c.push(kind, price, spot, strike, years, 0.0, 0.0, sigma);
        }
    }
    let out = Backend::cpu(Some(2))
        .unwrap()
        .implied_volatility(&c.input())
        .unwrap();
    let mut solved = Columns::default();
    let mut worst = 0.0f64;
    for i in 0..c.kind.len() {
        match (scalar(&c, i), &out.status[i]) {
            (Ok(w), Status::Ok) => {
                let v = out.implied_volatility[i];
                let vg = vega(c.spot[i], c.strike[i], c.years[i], 0.0, 0.0, w);
                let tol = 1e-10 * w + 100.0 * f64::EPSILON * c.price[i] / vg;
                assert!((v - w).abs() <= tol, "case {i}: {v} vs scalar {w}");
                worst = worst.max((v - w).abs() / tol);
                solved.push(
                    c.kind[i],
                    c.price[i],
                    c.spot[i],
                    c.strike[i],
                    c.years[i],
                    0.0,
                    0.0,
                    c.sigma[i],
                );
            }
            (Err(e), Status::Failed(f)) => assert_eq!(format!("{e:?}"), format!("{f:?}")),
            (w, got) => panic!("case {i}: scalar {w:?}, batch {got:?}"),
        }
    }
    let (fallbacks, n) = wheelhouse_compute::iv_vector_fallbacks(&solved.input());
    println!(
        "{n} of {} solved; {fallbacks} left to the scalar solver; max |vector − scalar|/tol {worst:.3e}",
        c.kind.len()
    );
    assert!(n > 15_000, "{n}");
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        assert!(
            fallbacks * 50 < n,
            "{fallbacks} of {n} to the scalar solver"
        );
    }
}
