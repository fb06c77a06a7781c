//! The vectorised European path of `Backend::greeks` against the scalar reference
//! `bsm_greeks_unchecked` on 120 000 fixed-seed random elements plus far-tail families, with
//! |diff| ≤ 1e-13·|value| + 1e-15·scale for each of the nine outputs; against the mpmath goldens
//! with the acceptance tolerance |err| ≤ 1e-12·|value| + 1e-14·scale; and bit-identical results
//! for 1 and 2 threads, for any batch length or offset, and with American elements mixed in.

use wheelhouse_compute::{Backend, FirstOrderBatch, GreeksBatch, OptionBatch, Status};
use wheelhouse_pricing::american::{AmericanSettings, american_greeks};
use wheelhouse_pricing::black::bsm_greeks_unchecked;
use wheelhouse_pricing::normal::{norm_cdf, norm_pdf};
use wheelhouse_pricing::{BsmInputs, ExerciseStyle, Greeks, OptionType};
use wheelhouse_testkit::golden;

/// Values below this magnitude are subnormal or about to be (in either implementation):
/// relative accuracy is impossible there, so comparisons have this absolute floor.
const UNDERFLOW_FLOOR: f64 = 1e-300;

const NAMES: [&str; 9] = [
    "price", "delta", "gamma", "vega", "theta", "rho", "vanna", "volga", "charm",
];

/// splitmix64, mapped to [a, b).
struct Rng(u64);

impl Rng {
    fn unif(&mut self, a: f64, b: f64) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        a + (b - a) * ((z >> 11) as f64 / (1u64 << 53) as f64)
    }

    fn log_unif(&mut self, a: f64, b: f64) -> f64 {
        self.unif(a.ln(), b.ln()).exp()
    }
}

#[derive(Default)]
struct Cols {
    kind: Vec<OptionType>,
    x: [Vec<f64>; 6],
    style: Vec<ExerciseStyle>,
}

impl Cols {
    fn push(&mut self, i: &BsmInputs) {
        self.kind.push(i.kind);
        let v = [
            i.spot,
            i.strike,
            i.years,
            i.rate,
            i.dividend_yield,
            i.volatility,
        ];
        for (c, x) in self.x.iter_mut().zip(v) {
            c.push(x);
        }
        self.style.push(ExerciseStyle::European);
    }

    fn get(&self, i: usize) -> BsmInputs {
        BsmInputs {
            kind: self.kind[i],
            spot: self.x[0][i],
            strike: self.x[1][i],
            years: self.x[2][i],
            rate: self.x[3][i],
            dividend_yield: self.x[4][i],
            volatility: self.x[5][i],
        }
    }

    fn len(&self) -> usize {
        self.kind.len()
    }

    /// The elements `r` as a batch, with the style column if `styled`.
    fn batch(&self, r: std::ops::Range<usize>, styled: bool) -> OptionBatch<'_> {
        OptionBatch {
            kind: &self.kind[r.clone()],
            spot: &self.x[0][r.clone()],
            strike: &self.x[1][r.clone()],
            years: &self.x[2][r.clone()],
            rate: &self.x[3][r.clone()],
            dividend_yield: &self.x[4][r.clone()],
            volatility: &self.x[5][r.clone()],
            style: styled.then(|| &self.style[r]),
        }
    }
}

/// 120 000 random elements over the acceptance ranges (T 1 hour–5 years, K/S 0.25–4,
/// σ 1 %–300 %, r −1 %–10 %, q 0–6 %), then tail families: for each of a grid of (T, σ) and of
/// targets d₁ ∈ ±{5, 11, 20, 30, 36.5, 37, 37.5, 38, 39, 45}, the strike that puts d₁ there
/// (values down to ~1e-300 and the scaled far-tail band), calls and puts.
fn cases() -> Cols {
    let mut rng = Rng(20_250_611);
    let mut c = Cols::default();
    for i in 0..120_000 {
        let spot = rng.log_unif(5.0, 2000.0);
        c.push(&BsmInputs {
            kind: if i % 2 == 0 {
                OptionType::Call
            } else {
                OptionType::Put
            },
            spot,
            strike: spot * rng.log_unif(0.25, 4.0),
            years: rng.log_unif(1.0 / 8760.0, 5.0),
            rate: rng.unif(-0.01, 0.10),
            dividend_yield: rng.unif(0.0, 0.06),
            volatility: rng.log_unif(0.01, 3.0),
        });
    }
    let targets = [5.0f64, 11.0, 20.0, 30.0, 36.5, 37.0, 37.5, 38.0, 39.0, 45.0];
    for years in [1.0f64 / 8760.0, 1.0 / 52.0, 0.5, 5.0] {
        for vol in [0.01f64, 0.05, 0.3] {
            for d in targets.iter().flat_map(|&d| [d, -d]) {
                for kind in [OptionType::Call, OptionType::Put] {
                    let (spot, rate, q) = (rng.log_unif(5.0, 2000.0), 0.03, 0.01);
                    let sst = vol * years.sqrt();
                    let ln_sk = d * sst - (rate - q + 0.5 * vol * vol) * years;
                    // Keep K/S within the acceptance range.
                    if ln_sk.abs() > 4f64.ln() {
                        continue;
                    }
                    c.push(&BsmInputs {
                        kind,
                        spot,
                        strike: spot * (-ln_sk).exp(),
                        years,
                        rate,
                        dividend_yield: q,
                        volatility: vol,
                    });
                }
            }
        }
    }
    c
}

fn outputs(g: &GreeksBatch, i: usize) -> [f64; 9] {
    [
        g.price[i], g.delta[i], g.gamma[i], g.vega[i], g.theta[i], g.rho[i], g.vanna[i],
        g.volga[i], g.charm[i],
    ]
}

fn fields(g: &Greeks) -> [f64; 9] {
    [
        g.price, g.delta, g.gamma, g.vega, g.theta, g.rho, g.vanna, g.volga, g.charm,
    ]
}

/// The largest term of each output's closed form (the definitions of
/// crates/testkit/gen/bsm_mp.py), in f64.
fn scales(i: &BsmInputs, g: &Greeks) -> [f64; 9] {
    let w = i.kind.sign();
    let (s, k, t, r, q, sig) = (
        i.spot,
        i.strike,
        i.years,
        i.rate,
        i.dividend_yield,
        i.volatility,
    );
    let sqt = t.sqrt();
    let v = sig * sqt;
    let ln_sk = (s / k).ln();
    let d1 = (ln_sk + (r - q) * t) / v + 0.5 * v;
    let d2 = d1 - v;
    let (dq, dr) = ((-q * t).exp(), (-r * t).exp());
    let n1 = norm_pdf(d1);
    let a = s * dq * norm_cdf(w * d1);
    let b = k * dr * norm_cdf(w * d2);
    let dterm = (ln_sk.abs() / v)
        .max((r - q).abs() * sqt / sig)
        .max(v / 2.0);
    let vega = s * dq * n1 * sqt;
    let c2 = dq
        * n1
        * ((r - q).abs() * t)
            .max(sig * sig * t / 2.0)
            .max(ln_sk.abs())
        / (2.0 * t * v);
    [
        a.abs().max(b.abs()),
        g.delta.abs(),
        g.gamma.abs(),
        g.vega.abs(),
        (s * dq * n1 * sig / (2.0 * sqt))
            .max((r * b).abs())
            .max((q * a).abs()),
        g.rho.abs(),
        dq * n1 * dterm / sig,
        vega * dterm * dterm / sig,
        (q * dq * norm_cdf(w * d1)).abs().max(c2),
    ]
}

#[test]
fn agrees_with_the_scalar_reference() {
    let c = cases();
    assert!(c.len() >= 120_000);
    let got = Backend::cpu(Some(2))
        .unwrap()
        .greeks(&c.batch(0..c.len(), false))
        .unwrap();
    let mut worst = [(0.0f64, 0usize); 9];
    for i in 0..c.len() {
        let inp = c.get(i);
        let want = fields(&bsm_greeks_unchecked(&inp));
        let sc = scales(&inp, &bsm_greeks_unchecked(&inp));
        assert!(got.status[i].is_ok(), "element {i}");
        for (k, (g, w)) in outputs(&got, i).into_iter().zip(want).enumerate() {
            if g.to_bits() == w.to_bits() {
                continue;
            }
            let tol = (1e-13 * w.abs() + 1e-15 * sc[k]).max(UNDERFLOW_FLOOR);
            let err = (g - w).abs();
            assert!(
                err <= tol,
                "element {i} {inp:?}: {} = {g:e}, reference {w:e}, |diff| {err:e} > {tol:e}",
                NAMES[k]
            );
            if err / tol > worst[k].0 {
                worst[k] = (err / tol, i);
            }
        }
    }
    let summary: Vec<String> = NAMES
        .iter()
        .zip(worst)
        .map(|(n, (w, _))| format!("{n} {w:.3}"))
        .collect();
    println!(
        "{} elements; max |diff|/tolerance: {}; worst price at {:?}",
        c.len(),
        summary.join(", "),
        c.get(worst[0].1)
    );
}

/// The golden tables through the batch path, with the acceptance tolerance.
#[test]
fn matches_the_mpmath_goldens() {
    for (label, table) in [
        ("european_bsm", golden::european_bsm()),
        ("european_edge", golden::european_edge()),
    ] {
        let mut c = Cols::default();
        for case in &table {
            c.push(&case.inputs());
        }
        let got = Backend::cpu(Some(1))
            .unwrap()
            .greeks(&c.batch(0..c.len(), false))
            .unwrap();
        let mut worst = [0.0f64; 9];
        for (i, case) in table.iter().enumerate() {
            assert!(got.status[i].is_ok(), "{label} case {}", case.id);
            let (want, scale) = (fields(&case.greeks()), fields(&case.scales()));
            for (k, g) in outputs(&got, i).into_iter().enumerate() {
                let tol = golden::tolerance(want[k], scale[k]).max(UNDERFLOW_FLOOR);
                let err = (g - want[k]).abs();
                assert!(
                    g == want[k] || err <= tol,
                    "{label} case {}: {} = {g:e}, golden {:e}, |err| {err:e} > {tol:e}",
                    case.id,
                    NAMES[k],
                    want[k]
                );
                if g != want[k] {
                    worst[k] = worst[k].max(err / tol);
                }
            }
        }
        let summary: Vec<String> = NAMES
            .iter()
            .zip(worst)
            .map(|(n, w)| format!("{n} {w:.3}"))
            .collect();
        println!(
            "{label}: {} cases; max |err|/tolerance: {}",
            table.len(),
            summary.join(", ")
        );
    }
}

/// Status equality that treats the NaN inside an error as equal to itself.
fn same_status(a: &Status, b: &Status) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

fn assert_same_bits(a: &GreeksBatch, ia: usize, b: &GreeksBatch, ib: usize) {
    assert!(
        same_status(&a.status[ia], &b.status[ib]),
        "elements {ia} and {ib}"
    );
    for (x, y) in outputs(a, ia).into_iter().zip(outputs(b, ib)) {
        assert_eq!(x.to_bits(), y.to_bits(), "elements {ia} and {ib}");
    }
}

/// A smaller mix with invalid elements, for the bit-identity checks.
fn mixed_cases(n: usize) -> Cols {
    let all = cases();
    let mut c = Cols::default();
    let step = all.len() / n;
    for i in 0..n {
        let mut inp = all.get(i * step);
        match i % 101 {
            7 => inp.volatility = f64::NAN,
            8 => inp.spot = -1.0,
            9 => inp.rate = f64::INFINITY,
            10 => inp.years = 1e-320,
            _ => {}
        }
        c.push(&inp);
    }
    c
}

#[test]
fn bit_identical_for_any_thread_count_length_and_offset() {
    let c = mixed_cases(10_007);
    let n = c.len();
    let one = Backend::cpu(Some(1)).unwrap();
    let two = Backend::cpu(Some(2)).unwrap();
    let a = one.greeks(&c.batch(0..n, false)).unwrap();
    let b = two.greeks(&c.batch(0..n, false)).unwrap();
    assert!(a.failures() >= 3 * (n / 101));
    for i in 0..n {
        assert_same_bits(&a, i, &b, i);
    }
    // Element i alone, and in batches starting at other offsets with other lengths (so it sits
    // in another lane of another tile, or in a padded partial tile).
    for i in (0..n).step_by(37) {
        let alone = one.greeks(&c.batch(i..i + 1, false)).unwrap();
        assert_same_bits(&alone, 0, &a, i);
    }
    for (start, len) in [(3, 1_000), (1, 63), (5_000, 2_049), (n - 17, 17)] {
        let part = two.greeks(&c.batch(start..start + len, false)).unwrap();
        for j in 0..len {
            assert_same_bits(&part, j, &a, start + j);
        }
    }
}

#[test]
fn american_elements_still_take_the_american_engine() {
    let mut c = mixed_cases(600);
    for i in (0..c.len()).step_by(7) {
        c.style[i] = ExerciseStyle::American;
    }
    let backend = Backend::cpu(Some(2)).unwrap();
    let mixed = backend.greeks(&c.batch(0..c.len(), true)).unwrap();
    let european = backend.greeks(&c.batch(0..c.len(), false)).unwrap();
    for i in 0..c.len() {
        if c.style[i] == ExerciseStyle::American {
            match american_greeks(&c.get(i), &AmericanSettings::ACCURATE) {
                Ok(g) => {
                    assert_eq!(mixed.status[i], Status::Ok);
                    for (x, y) in outputs(&mixed, i).into_iter().zip(fields(&g)) {
                        assert_eq!(x.to_bits(), y.to_bits(), "American element {i}");
                    }
                }
                Err(e) => assert!(same_status(&mixed.status[i], &Status::failed(e))),
            }
        } else {
            assert_same_bits(&mixed, i, &european, i);
        }
    }
}

/// `first_order_into` gives `greeks_into`'s price, delta, vega, theta and rho: bit for bit
/// (statuses too) on every element but the rare lanes where a second-order Greek overflows and
/// the full kernel takes the scalar reference (there within 1e-13 relative), with American
/// and invalid elements mixed in, at 1 and 2 threads, into a reused output that held a longer
/// batch.
#[test]
fn first_order_columns_are_the_full_kernels() {
    let mut c = mixed_cases(10_007);
    for i in (0..c.len()).step_by(53) {
        c.style[i] = ExerciseStyle::American;
    }
    let n = c.len();
    let mut out = FirstOrderBatch::default();
    for threads in [1, 2] {
        let be = Backend::cpu(Some(threads)).unwrap();
        for styled in [false, true] {
            let full = be.greeks(&c.batch(0..n, styled)).unwrap();
            // A longer batch first: every column must be resized and overwritten.
            let longer = mixed_cases(12_000);
            be.first_order_into(&longer.batch(0..longer.len(), false), &mut out)
                .unwrap();
            be.first_order_into(&c.batch(0..n, styled), &mut out)
                .unwrap();
            assert_eq!(out.price.len(), n);
            assert_eq!(out.failures(), full.failures());
            let mut differ = 0;
            for i in 0..n {
                assert!(same_status(&out.status[i], &full.status[i]), "element {i}");
                let got = [
                    out.price[i],
                    out.delta[i],
                    out.vega[i],
                    out.theta[i],
                    out.rho[i],
                ];
                let want = [
                    full.price[i],
                    full.delta[i],
                    full.vega[i],
                    full.theta[i],
                    full.rho[i],
                ];
                if got
                    .iter()
                    .zip(&want)
                    .any(|(a, b)| a.to_bits() != b.to_bits())
                {
                    differ += 1;
                    for (a, b) in got.iter().zip(&want) {
                        assert!(
                            (a - b).abs() <= 1e-13 * b.abs() + UNDERFLOW_FLOOR,
                            "element {i}: {got:?} vs {want:?}"
                        );
                    }
                }
            }
            assert!(differ * 1000 < n, "{differ} of {n} differ");
            assert!(full.failures() >= 3 * (n / 101));
        }
    }
    // The allocating form is the same.
    let be = Backend::cpu(Some(2)).unwrap();
    let fresh = be.first_order(&c.batch(0..n, true)).unwrap();
    for i in 0..n {
        assert_eq!(
            fresh.vega[i].to_bits(),
            out.vega[i].to_bits(),
            "element {i}"
        );
        assert!(same_status(&fresh.status[i], &out.status[i]));
    }
}
