//! SVI slices and surfaces: exact and noisy recovery of known smiles, arbitrage-free fits of
//! arbitrageable data (checked independently here), the density against Black-76 finite
//! differences, surface interpolation and the calendar check, and every error variant.

use proptest::prelude::*;
use wheelhouse_market::surface::{CALENDAR_TOLERANCE, SurfaceSlice, VolSurface, default_k_grid};
use wheelhouse_market::svi::{SliceQuote, SviError, SviFit, SviFitOptions, SviParams, fit_svi};
use wheelhouse_pricing::black::black76_price;
use wheelhouse_pricing::{Black76Inputs, OptionType};

/// SplitMix64: a fixed-seed generator for reproducible noise.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

fn p(a: f64, b: f64, rho: f64, m: f64, sigma: f64) -> SviParams {
    SviParams {
        a,
        b,
        rho,
        m,
        sigma,
    }
}

/// (name, params, t, k range): realistic arbitrage-free smiles.
fn cases() -> Vec<(&'static str, SviParams, f64, (f64, f64))> {
    vec![
        (
            "equity 1y",
            p(0.02, 0.12, -0.7, 0.05, 0.15),
            1.0,
            (-1.0, 0.6),
        ),
        ("flat", p(0.03, 0.02, 0.0, 0.0, 0.5), 0.75, (-0.6, 0.6)),
        (
            "steep wings",
            p(0.04, 0.4, -0.3, 0.0, 0.1),
            0.5,
            (-0.7, 0.7),
        ),
        (
            "equity 2w",
            p(0.0008, 0.025, -0.6, 0.01, 0.05),
            14.0 / 365.0,
            (-0.25, 0.15),
        ),
        ("long 3y", p(0.06, 0.25, -0.5, 0.1, 0.4), 3.0, (-1.5, 1.0)),
        (
            "commodity call skew",
            p(0.02, 0.1, 0.5, -0.05, 0.2),
            0.5,
            (-0.6, 0.8),
        ),
    ]
}

fn uniform_ks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64)
        .collect()
}

fn quotes_of(
    params: &SviParams,
    t: f64,
    ks: &[f64],
    noise_vol: f64,
    rng: &mut SplitMix64,
) -> Vec<SliceQuote> {
    ks.iter()
        .map(|&k| {
            let vol = params.implied_vol(k, t);
            // Vega-like weights: heavier near the money.
            let weight = (-0.5 * k * k / (vol * vol * t).max(1e-4)).exp().max(0.05);
            SliceQuote {
                k,
                implied_vol: (vol + noise_vol * rng.normal()).max(0.01),
                weight,
            }
        })
        .collect()
}

/// g(k) computed here from scratch (closed-form w, w′, w″), independent of the crate.
fn g_independent(s: &SviParams, k: f64) -> f64 {
    let x = k - s.m;
    let r = (x * x + s.sigma * s.sigma).sqrt();
    let w = s.a + s.b * (s.rho * x + r);
    let w1 = s.b * (s.rho + x / r);
    let w2 = s.b * s.sigma * s.sigma / (r * r * r);
    if w <= 0.0 {
        return f64::NEG_INFINITY;
    }
    (1.0 - k * w1 / (2.0 * w)).powi(2) - w1 * w1 / 4.0 * (1.0 / w + 0.25) + w2 / 2.0
}

/// Lowest g on a fine grid: 40 001 points over [−K, K], K = 5·max(|k|, 1), 20 001 over
/// m ± 20σ and over the vertex of w ± 20σ/√(1 − ρ²), and geometric steps of 0.2 % from K out
/// to 10⁵ on both sides.
fn min_g_fine(s: &SviParams, lo: f64, hi: f64) -> f64 {
    let kk = 5.0 * lo.abs().max(hi.abs()).max(1.0);
    let mut min = f64::INFINITY;
    for i in 0..=40_000 {
        min = min.min(g_independent(s, -kk + 2.0 * kk * f64::from(i) / 40_000.0));
    }
    let c = (1.0 - s.rho * s.rho).sqrt();
    for (centre, half) in [
        (s.m, 20.0 * s.sigma),
        (s.m - s.rho * s.sigma / c, 20.0 * s.sigma / c),
    ] {
        for i in 0..=20_000 {
            let k = centre - half + 2.0 * half * f64::from(i) / 20_000.0;
            min = min.min(g_independent(s, k));
        }
    }
    let mut x = kk;
    while x < 1e5 {
        min = min.min(g_independent(s, x)).min(g_independent(s, -x));
        x *= 1.002;
    }
    min
}

fn assert_sound(fit: &SviFit, lo: f64, hi: f64, what: &str) {
    let q = fit.params;
    assert!(fit.butterfly.arbitrage_free, "{what}: {fit:?}");
    assert!(fit.butterfly.min_g >= 0.0, "{what}: {fit:?}");
    assert!(q.validate().is_ok(), "{what}: {q:?}");
    assert!(
        q.b >= 0.0 && q.rho.abs() < 1.0 && q.sigma > 0.0,
        "{what}: {q:?}"
    );
    assert!(q.b * (1.0 + q.rho.abs()) <= 2.0, "{what}: Lee bound {q:?}");
    assert!(q.min_variance() >= 0.0, "{what}: {q:?}");
    let g = min_g_fine(&q, lo, hi);
    assert!(g >= 0.0, "{what}: independent min g {g} for {q:?}");
}

#[test]
fn generating_smiles_are_arbitrage_free() {
    for (name, s, _, (lo, hi)) in cases() {
        assert!(s.validate().is_ok(), "{name}");
        let r = s.butterfly_check(lo, hi);
        assert!(r.arbitrage_free && r.min_g > 1e-3, "{name}: {r:?}");
        assert!(min_g_fine(&s, lo, hi) > 1e-3, "{name}");
    }
}

#[test]
fn exact_quotes_are_recovered() {
    let mut rng = SplitMix64(1);
    for (name, truth, t, (lo, hi)) in cases() {
        let ks = uniform_ks(lo, hi, 41);
        let quotes = quotes_of(&truth, t, &ks, 0.0, &mut rng);
        let fit = fit_svi(t, &quotes, &SviFitOptions::default()).unwrap();
        assert_sound(&fit, lo, hi, name);
        assert_eq!(fit.n_quotes, 41);
        assert_eq!(fit.t, t);
        let mut worst = 0.0f64;
        for k in uniform_ks(lo, hi, 1001) {
            worst = worst.max((fit.params.implied_vol(k, t) - truth.implied_vol(k, t)).abs());
        }
        assert!(
            worst < 1e-8,
            "{name}: worst smile error {worst:e}, {:?} vs {truth:?}",
            fit.params
        );
        assert!(
            fit.rmse_vol_points < 1e-6 && fit.max_abs_error_vol_points < 1e-6,
            "{name}: {fit:?}"
        );
        let q = fit.params;
        for (x, y, what) in [
            (q.a, truth.a, "a"),
            (q.b, truth.b, "b"),
            (q.rho, truth.rho, "rho"),
            (q.m, truth.m, "m"),
            (q.sigma, truth.sigma, "sigma"),
        ] {
            assert!(
                (x - y).abs() <= 1e-6 * y.abs().max(0.01),
                "{name}: {what} {x} vs {y}"
            );
        }
    }
}

#[test]
fn noisy_quotes_fit_at_the_noise_level() {
    let noise = 0.005; // 0.5 vol points
    let mut rng = SplitMix64(0x5EED);
    for (name, truth, t, (lo, hi)) in cases() {
        let ks = uniform_ks(lo, hi, 200);
        let mut quotes = quotes_of(&truth, t, &ks, noise, &mut rng);
        for q in &mut quotes {
            q.weight = 1.0;
        }
        let fit = fit_svi(t, &quotes, &SviFitOptions::default()).unwrap();
        assert_sound(&fit, lo, hi, name);
        // Residual RMSE ≈ noise·√(1 − 5/n) when the model is right.
        assert!(
            fit.rmse_vol_points > 0.40 && fit.rmse_vol_points < 0.60,
            "{name}: rmse {} vp",
            fit.rmse_vol_points
        );
        assert!(
            fit.max_abs_error_vol_points < 2.5,
            "{name}: max {} vp",
            fit.max_abs_error_vol_points
        );
        // Optimal: no worse than the generating smile, which is feasible.
        let wsum: f64 = quotes.iter().map(|q| q.weight).sum();
        let truth_rmse = 100.0
            * (quotes
                .iter()
                .map(|q| q.weight * (truth.implied_vol(q.k, t) - q.implied_vol).powi(2))
                .sum::<f64>()
                / wsum)
                .sqrt();
        assert!(
            fit.rmse_vol_points <= truth_rmse + 1e-9,
            "{name}: {} vs truth {truth_rmse}",
            fit.rmse_vol_points
        );
        // The fitted smile is much closer to the truth than the noise.
        let mut worst = 0.0f64;
        let mut ss = 0.0;
        for k in &ks {
            let e = fit.params.implied_vol(*k, t) - truth.implied_vol(*k, t);
            worst = worst.max(e.abs());
            ss += e * e;
        }
        let rms = (ss / ks.len() as f64).sqrt();
        assert!(
            rms < 0.35 * noise,
            "{name}: smile rms error {} vp",
            100.0 * rms
        );
        assert!(
            worst < 1.2 * noise,
            "{name}: smile max error {} vp",
            100.0 * worst
        );
    }
}

/// Smiles with butterfly arbitrage: Vogt's example (Gatheral & Jacquier 2014, §3) and a steep
/// one-week equity skew. The fits must be arbitrage-free nonetheless.
#[test]
fn arbitrageable_data_gives_arbitrage_free_fits() {
    let bad = [
        (
            "Vogt",
            p(-0.0410, 0.1331, 0.3060, 0.3586, 0.4153),
            1.0,
            (-1.5, 1.5),
            0.0,
        ),
        (
            "steep 1w skew",
            p(0.0003, 0.06, -0.9, 0.0, 0.015),
            0.02,
            (-0.25, 0.12),
            0.0,
        ),
        (
            "steep 1w skew, noisy",
            p(0.0003, 0.06, -0.9, 0.0, 0.015),
            0.02,
            (-0.25, 0.12),
            0.01,
        ),
        (
            "Vogt, noisy",
            p(-0.0410, 0.1331, 0.3060, 0.3586, 0.4153),
            1.0,
            (-1.5, 1.5),
            0.005,
        ),
    ];
    let mut rng = SplitMix64(7);
    for (name, truth, t, (lo, hi), noise) in bad {
        assert!(truth.validate().is_ok(), "{name}");
        let r = truth.butterfly_check(lo, hi);
        assert!(!r.arbitrage_free && r.min_g < 0.0, "{name}: {r:?}");
        assert!(min_g_fine(&truth, lo, hi) < 0.0, "{name}");
        let ks = uniform_ks(lo, hi, 120);
        let quotes = quotes_of(&truth, t, &ks, noise, &mut rng);
        let fit = fit_svi(t, &quotes, &SviFitOptions::default()).unwrap();
        assert_sound(&fit, lo, hi, name);
        // Still a close fit: the arbitrage costs little.
        assert!(fit.rmse_vol_points < 5.0, "{name}: {fit:?}");
        eprintln!(
            "{name}: rmse {:.4} vp, max {:.4} vp, min g {:.3e} at {:.3}, {:?}",
            fit.rmse_vol_points,
            fit.max_abs_error_vol_points,
            fit.butterfly.min_g,
            fit.butterfly.at_k,
            fit.params
        );
    }
}

#[test]
fn density_matches_black_second_derivative() {
    let f = 100.0;
    for (name, s, t, (lo, hi)) in cases() {
        let call = |strike: f64| {
            let vol = s.implied_vol((strike / f).ln(), t);
            black76_price(&Black76Inputs {
                kind: OptionType::Call,
                forward: f,
                strike,
                years: t,
                rate: 0.0,
                volatility: vol,
            })
            .unwrap()
        };
        let mut peak = 0.0f64;
        let mut rows = Vec::new();
        for k in uniform_ks(lo.max(-0.8), hi.min(0.6), 29) {
            let strike = f * f64::exp(k);
            // Central second difference, Richardson-extrapolated: O(h⁴).
            let h = 2e-3 * strike * (s.total_variance(k)).sqrt().max(0.02);
            let d2 = |h: f64| (call(strike + h) - 2.0 * call(strike) + call(strike - h)) / (h * h);
            let fd = (4.0 * d2(0.5 * h) - d2(h)) / 3.0;
            // ∂²C/∂K² = density of S_T at K = p(k)/K with p the density of ln(S_T/F).
            let model = s.density(k) / strike;
            let g = s.density_g(k);
            let sw = s.total_variance(k).sqrt();
            let dm = -k / sw - sw / 2.0;
            let by_hand =
                g / (2.0 * std::f64::consts::PI * sw * sw).sqrt() * (-dm * dm / 2.0).exp() / strike;
            assert!((model - by_hand).abs() <= 1e-14 * by_hand.abs(), "{name}");
            peak = peak.max(model);
            rows.push((k, fd, model));
        }
        for (k, fd, model) in rows {
            assert!(
                (fd - model).abs() <= 1e-5 * model.abs() + 1e-7 * peak,
                "{name}: k {k}: FD {fd:e} vs density {model:e} (rel {:e})",
                (fd - model) / model
            );
        }
    }
}

#[test]
fn zero_weight_quotes_are_ignored() {
    let (_, truth, t, (lo, hi)) = cases().remove(0);
    let ks = uniform_ks(lo, hi, 30);
    let mut quotes = quotes_of(&truth, t, &ks, 0.0, &mut SplitMix64(3));
    quotes.push(SliceQuote {
        k: 0.1,
        implied_vol: 0.9,
        weight: 0.0,
    });
    let fit = fit_svi(t, &quotes, &SviFitOptions::default()).unwrap();
    assert_eq!(fit.n_quotes, 30);
    assert!((fit.params.implied_vol(0.1, t) - truth.implied_vol(0.1, t)).abs() < 1e-8);
}

#[test]
fn quasi_explicit_stage_alone_is_sound() {
    let opts = SviFitOptions {
        polish: false,
        ..SviFitOptions::default()
    };
    let mut rng = SplitMix64(11);
    for (name, truth, t, (lo, hi)) in cases() {
        let quotes = quotes_of(&truth, t, &uniform_ks(lo, hi, 60), 0.0, &mut rng);
        let fit = fit_svi(t, &quotes, &opts).unwrap();
        assert_sound(&fit, lo, hi, name);
        assert!(fit.max_abs_error_vol_points < 0.1, "{name}: {fit:?}");
    }
}

#[test]
fn errors_are_typed() {
    let (_, truth, t, (lo, hi)) = cases().remove(0);
    let good = quotes_of(&truth, t, &uniform_ks(lo, hi, 20), 0.0, &mut SplitMix64(5));
    let opts = SviFitOptions::default();

    // Too few distinct k: four distinct values, one repeated.
    let few: Vec<SliceQuote> = [0, 1, 2, 3, 3].iter().map(|&i| good[i]).collect();
    assert_eq!(
        fit_svi(t, &few, &opts),
        Err(SviError::TooFewQuotes {
            distinct: 4,
            required: 5
        })
    );
    assert!(matches!(
        fit_svi(t, &[], &opts),
        Err(SviError::TooFewQuotes { distinct: 0, .. })
    ));
    // Five k but one with zero weight.
    let mut zero = good[..5].to_vec();
    zero[2].weight = 0.0;
    assert!(matches!(
        fit_svi(t, &zero, &opts),
        Err(SviError::TooFewQuotes { distinct: 4, .. })
    ));

    for (i, mutate) in [
        |q: &mut SliceQuote| q.implied_vol = f64::NAN,
        |q: &mut SliceQuote| q.implied_vol = -0.2,
        |q: &mut SliceQuote| q.implied_vol = f64::INFINITY,
        |q: &mut SliceQuote| q.weight = -1.0,
        |q: &mut SliceQuote| q.weight = f64::NAN,
        |q: &mut SliceQuote| q.k = f64::NEG_INFINITY,
        |q: &mut SliceQuote| q.implied_vol = 1e200,
    ]
    .into_iter()
    .enumerate()
    {
        let mut qs = good.clone();
        mutate(&mut qs[7]);
        let e = fit_svi(t, &qs, &opts).unwrap_err();
        assert!(
            matches!(e, SviError::InvalidQuote { index: 7, .. }),
            "case {i}: {e}"
        );
    }

    for bad_t in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            fit_svi(bad_t, &good, &opts),
            Err(SviError::InvalidMaturity { .. })
        ));
    }

    for o in [
        SviFitOptions { starts: 0, ..opts },
        SviFitOptions {
            sigma_min: 0.0,
            ..opts
        },
        SviFitOptions {
            sigma_max: 1e-5,
            ..opts
        },
        SviFitOptions {
            rho_max: 1.0,
            ..opts
        },
        SviFitOptions {
            max_wing_slope: 2.5,
            ..opts
        },
        SviFitOptions {
            outer_tolerance: f64::NAN,
            ..opts
        },
        SviFitOptions {
            max_outer_iterations: 0,
            ..opts
        },
    ] {
        assert!(
            matches!(fit_svi(t, &good, &o), Err(SviError::InvalidOptions { .. })),
            "{o:?}"
        );
    }

    // A one-iteration budget cannot converge.
    let starved = SviFitOptions {
        max_outer_iterations: 1,
        polish: false,
        ..opts
    };
    let noisy = quotes_of(&truth, t, &uniform_ks(lo, hi, 40), 0.01, &mut SplitMix64(9));
    assert!(matches!(
        fit_svi(t, &noisy, &starved),
        Err(SviError::NoConvergence { .. })
    ));

    for (params, what) in [
        (p(0.02, -0.1, 0.0, 0.0, 0.1), "b < 0"),
        (p(0.02, 0.1, 1.0, 0.0, 0.1), "|rho| >= 1"),
        (p(0.02, 0.1, 0.0, 0.0, 0.0), "sigma <= 0"),
        (p(-0.1, 0.1, 0.0, 0.0, 0.1), "negative variance"),
        (p(0.02, 1.5, -0.5, 0.0, 0.1), "Lee"),
        (p(f64::NAN, 0.1, 0.0, 0.0, 0.1), "NaN"),
    ] {
        assert!(
            matches!(params.validate(), Err(SviError::InvalidParams { .. })),
            "{what}"
        );
        assert!(!params.butterfly_check(-1.0, 1.0).arbitrage_free, "{what}");
    }

    // Surface errors.
    assert_eq!(VolSurface::new(vec![]), Err(SviError::EmptySurface));
    let sl = |t: f64, forward: f64, params: SviParams| SurfaceSlice { t, forward, params };
    assert!(matches!(
        VolSurface::new(vec![sl(0.5, 100.0, truth), sl(1.0, -1.0, truth)]),
        Err(SviError::InvalidSlice { index: 1, .. })
    ));
    assert!(matches!(
        VolSurface::new(vec![sl(0.0, 100.0, truth)]),
        Err(SviError::InvalidSlice { index: 0, .. })
    ));
    assert!(matches!(
        VolSurface::new(vec![
            sl(0.5, 100.0, truth),
            sl(1.0, 100.0, p(0.02, 1.5, -0.5, 0.0, 0.1))
        ]),
        Err(SviError::InvalidSlice { index: 1, .. })
    ));
    assert_eq!(
        VolSurface::new(vec![sl(0.5, 100.0, truth), sl(0.5, 101.0, truth)]),
        Err(SviError::DuplicateMaturity { t: 0.5 })
    );
    // Messages name the problem.
    assert!(
        SviError::TooFewQuotes {
            distinct: 3,
            required: 5
        }
        .to_string()
        .contains("at least 5")
    );
}

fn scaled(params: SviParams, f: f64) -> SviParams {
    SviParams {
        a: params.a * f,
        b: params.b * f,
        ..params
    }
}

fn calendar_free_surface() -> VolSurface {
    let base = p(0.04, 0.1, -0.6, 0.0, 0.2);
    let ts = [0.1, 0.25, 0.5, 1.0, 2.0];
    let slices = ts
        .iter()
        .enumerate()
        .map(|(i, &t)| SurfaceSlice {
            t,
            forward: 100.0 * (0.02 * t).exp(),
            // Total variance grows with t; the skew flattens a little (ρ rises) but stays ordered.
            params: SviParams {
                rho: -0.6 + 0.02 * i as f64,
                ..scaled(base, t * (1.0 + 0.1 * i as f64))
            },
        })
        .collect();
    VolSurface::new(slices).unwrap()
}

#[test]
fn surface_hits_slices_and_is_monotone_in_t() {
    let s = calendar_free_surface();
    let grid = default_k_grid(1.5, 121);
    assert!(s.calendar_check(&grid).is_empty());
    for sl in s.slices() {
        for &k in &grid {
            assert_eq!(s.total_variance(sl.t, k), sl.params.total_variance(k));
            assert_eq!(s.implied_vol(sl.t, k), sl.params.implied_vol(k, sl.t));
        }
        assert!((s.forward(sl.t) / sl.forward - 1.0).abs() < 1e-15);
    }
    for &k in &grid {
        let mut prev = 0.0;
        for i in 0..=400 {
            let t = 3.0 * f64::from(i) / 400.0;
            let w = s.total_variance(t, k);
            assert!(w >= prev - 1e-15, "k {k} t {t}: {w} < {prev}");
            prev = w;
        }
    }
    // Constant implied vol outside the slices.
    let (first, last) = (s.slices()[0], s.slices()[4]);
    assert!((s.implied_vol(0.01, 0.2) - first.params.implied_vol(0.2, first.t)).abs() < 1e-15);
    assert!((s.implied_vol(5.0, -0.3) - last.params.implied_vol(-0.3, last.t)).abs() < 1e-15);
    // Linear in total variance between slices.
    let (a, b) = (s.slices()[1], s.slices()[2]);
    let tm = 0.3 * a.t + 0.7 * b.t;
    let want = 0.3 * a.params.total_variance(0.1) + 0.7 * b.params.total_variance(0.1);
    assert!((s.total_variance(tm, 0.1) - want).abs() < 1e-15);
    // By strike.
    let f = s.forward(0.7);
    assert_eq!(
        s.implied_vol_at_strike(0.7, 90.0, f),
        s.implied_vol(0.7, (90.0 / f).ln())
    );
    assert!(s.implied_vol_at_strike(0.7, -1.0, f).is_nan());
    assert!(s.total_variance(-1.0, 0.0).is_nan());
    assert_eq!(s.total_variance(0.0, 0.0), 0.0);
}

#[test]
fn calendar_check_flags_a_crossed_pair() {
    let mut slices = calendar_free_surface().slices().to_vec();
    // Slice 3 (t = 1) gets a strong call skew: below slice 2 on the put side.
    slices[3].params = p(0.02, 0.1, 0.9, 0.2, 0.1);
    let s = VolSurface::new(slices).unwrap();
    let grid = default_k_grid(1.0, 81);
    let v = s.calendar_check(&grid);
    assert!(!v.is_empty());
    for x in &v {
        assert_eq!(x.later, x.earlier + 1);
        assert!(x.earlier == 2 || x.earlier == 3, "{x:?}");
        let (e, l) = (s.slices()[x.earlier], s.slices()[x.later]);
        assert_eq!(x.w_earlier, e.params.total_variance(x.k));
        assert_eq!(x.w_later, l.params.total_variance(x.k));
        assert!(x.w_later < x.w_earlier - CALENDAR_TOLERANCE);
    }
    assert!(v.iter().any(|x| x.earlier == 2 && x.k < 0.0));
}

#[test]
fn chain_like_smiles_fit_within_budget() {
    // The generating smile of the synthetic chains, 200 quotes per slice.
    for d in [7.0, 30.0, 91.0, 365.0] {
        let t: f64 = d / 365.0;
        let (a, b, rho, m, sigma) = wheelhouse_testkit::chains::smile_params(t);
        let truth = p(a, b, rho, m, sigma);
        let width = 4.0 * (0.25 * t).sqrt().max(0.05);
        let quotes = quotes_of(
            &truth,
            t,
            &uniform_ks(-width, width, 200),
            0.0,
            &mut SplitMix64(1),
        );
        let fit = fit_svi(t, &quotes, &SviFitOptions::default()).unwrap();
        assert_sound(&fit, -width, width, "chain smile");
        assert!(fit.max_abs_error_vol_points < 1e-6, "{d} d: {fit:?}");
    }
}

/// Timing: `cargo test --release -p wheelhouse-market --test svi -- --ignored --nocapture`.
#[test]
#[ignore = "timing; run in release with --nocapture"]
fn fit_timing_200_quotes() {
    let mut rng = SplitMix64(42);
    for (name, truth, t, (lo, hi)) in cases() {
        for noise in [0.0, 0.005] {
            let quotes = quotes_of(&truth, t, &uniform_ks(lo, hi, 200), noise, &mut rng);
            for polish in [true, false] {
                let opts = SviFitOptions {
                    polish,
                    ..SviFitOptions::default()
                };
                let reps = 200;
                let start = std::time::Instant::now();
                let mut iters = 0;
                for _ in 0..reps {
                    iters = std::hint::black_box(
                        fit_svi(t, std::hint::black_box(&quotes), &opts).unwrap(),
                    )
                    .iterations;
                }
                let us = start.elapsed().as_secs_f64() * 1e6 / f64::from(reps);
                eprintln!(
                    "{name:>20} noise {noise:5}, polish {polish:5}: {us:7.1} µs per fit ({iters} iterations)"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any (possibly arbitrageable) SVI smile with noise gives a verified arbitrage-free fit.
    #[test]
    fn fits_are_always_arbitrage_free(
        atm in 0.01f64..0.8,
        b in 0.01f64..1.5,
        rho in -0.95f64..0.95,
        m in -0.2f64..0.2,
        sigma in 0.005f64..0.8,
        t in 0.01f64..3.0,
        noise in 0.0f64..0.02,
        seed in any::<u64>(),
    ) {
        let b = b.min(1.9 / (1.0 + rho.abs()));
        let a = atm * atm * t - b * sigma * (1.0 - rho * rho).sqrt() * 0.9;
        let truth = p(a, b, rho, m, sigma);
        prop_assume!(truth.validate().is_ok() && truth.min_variance() > 0.0);
        let half = 3.0 * atm * t.sqrt();
        let mut rng = SplitMix64(seed);
        let quotes = quotes_of(&truth, t, &uniform_ks(-half, 0.7 * half, 50), noise, &mut rng);
        let fit = fit_svi(t, &quotes, &SviFitOptions::default()).unwrap();
        assert_sound(&fit, -half, 0.7 * half, "proptest");
    }
}
