//! Monte Carlo P&L of a book over a horizon: correlated GBM paths from Philox normals keyed
//! by `(seed, path, step, factor)`, full revaluation of every option at the horizon, VaR/CVaR
//! with standard errors. Path generation, revaluation and P&L run as one
//! [`wheelhouse_compute::Backend::mc_pnl`] batch (whose notes give the model to the formula),
//! so any compute backend can take the whole run over; this module validates, values the book
//! now, repairs the correlation and reduces the P&L sample.
//!
//! # Model
//! Underlying `i`: `ln S_{t+Δ} = ln S_t + (μᵢ − σᵢ²/2)Δ + σᵢ√Δ·εᵢ`, `ε = L·z`, `L` the Cholesky
//! factor of the correlation (repaired to the nearest positive-definite correlation when
//! needed), `Δ` one trading day = 1/252 year, `horizon_days` steps. Options are revalued at
//! the horizon (Black–Scholes–Merton, or the American engine with `american`) with their own
//! volatility plus `vol_shock` (sticky strike), time to expiry
//! reduced by `horizon_days/252` (intrinsic value when it expires inside the horizon), same
//! rate and dividend yield. P&L = Σ quantity × (value at horizon − value now).
//!
//! Results are identical to the bit whatever the number of threads: each path's numbers depend
//! only on its index, and VaR is taken from the full sorted sample.

use serde::Serialize;
use wheelhouse_compute::{Backend, BatchError, McBook, McJumps, TailSpec};
use wheelhouse_core::OptionType;
use wheelhouse_pricing::BsmInputs;
use wheelhouse_pricing::american::{AmericanSettings, american_price};
use wheelhouse_pricing::black::bsm_price;

use crate::RiskError;
use crate::linalg::{cholesky, nearest_correlation};
use crate::var::{BATCHES, TailRisk, tail_risk, tail_risk_from_rows, tail_risk_from_top};

/// Trading days per year of the path steps.
pub const TRADING_DAYS: f64 = 252.0;

/// One underlying of the simulation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Underlying {
    /// Spot now, > 0.
    pub spot: f64,
    /// Volatility of its returns, decimal.
    pub vol: f64,
    /// Drift μ, continuous decimal per year.
    pub drift: f64,
}

/// What a position holds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Holding {
    /// Shares.
    Stock,
    /// A European-valued option.
    Option {
        /// Call or put.
        kind: OptionType,
        /// Strike.
        strike: f64,
        /// Years to expiry now.
        years: f64,
        /// Rate.
        rate: f64,
        /// Dividend yield.
        dividend_yield: f64,
        /// Implied volatility now.
        vol: f64,
    },
}

/// A position: `quantity` in shares (contracts × multiplier for options; negative = short).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Position {
    /// Index into the underlyings.
    pub underlying: usize,
    /// What it is.
    pub holding: Holding,
    /// Signed share-equivalent quantity.
    pub quantity: f64,
}

/// Settings of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct McSettings {
    /// Paths, ≥ 1.
    pub paths: usize,
    /// Horizon in trading days, ≥ 1.
    pub horizon_days: u32,
    /// Seed.
    pub seed: u64,
    /// VaR confidence.
    pub confidence: f64,
    /// Volatility points added to every option's IV at the horizon (decimal).
    pub vol_shock: f64,
    /// Vol of vol: each path scales every IV at the horizon by `exp(ν·Z − ν²/2)` with one
    /// standard normal `Z` per path (a market-wide vol move, mean-preserving); 0 turns it off.
    pub vol_of_vol: f64,
    /// Optional jumps of every underlying.
    pub jumps: Option<Jumps>,
    /// Value the options (now with the ALO engine's accurate setting, at the horizon with the
    /// backend's) as American instead of Black–Scholes–Merton: right for American contracts,
    /// and about 650× the cost per option (BENCHMARKS.md).
    pub american: bool,
    /// Return every path's P&L in [`McResult::pnl`]. Without it a GPU reduces the run to its
    /// tail on the device (only the paths VaR and CVaR need come back; same VaR and CVaR as
    /// over every path) and `pnl` is empty; on the CPU `pnl` is filled either way.
    pub keep_paths: bool,
}

/// Merton jumps: a Poisson number of jumps per step at `intensity` per year, each multiplying
/// the price by `exp(Y)` with `Y ~ N(mean, sd²)`; the drift is compensated by
/// `−intensity·(e^{mean + sd²/2} − 1)` so the expected price is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Jumps {
    /// Expected jumps per year.
    pub intensity: f64,
    /// Mean log jump.
    pub mean: f64,
    /// Standard deviation of the log jump.
    pub sd: f64,
}

impl From<Jumps> for McJumps {
    fn from(j: Jumps) -> McJumps {
        McJumps {
            intensity: j.intensity,
            mean: j.mean,
            sd: j.sd,
        }
    }
}

/// Result of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct McResult {
    /// VaR and CVaR with standard errors.
    pub tail: TailRisk,
    /// Mean P&L.
    pub mean_pnl: f64,
    /// Whether the correlation matrix had to be repaired.
    pub correlation_repaired: bool,
    /// P&L per path (index = path); empty when the run was reduced on a device without
    /// [`McSettings::keep_paths`].
    #[serde(skip)]
    pub pnl: Vec<f64>,
    /// Paths a device's tail reduction kept for VaR and CVaR (`None`: every path's P&L came
    /// back, in `pnl`).
    pub tail_paths: Option<usize>,
    /// Whether the device also finished VaR, CVaR and the batch estimates (only a few numbers
    /// came back) rather than sending the kept paths for the host to finish.
    pub tail_finished_on_device: bool,
    /// Seconds spent generating and revaluing the paths (the compute batches).
    pub paths_seconds: f64,
    /// Seconds spent on VaR/CVaR and their standard errors.
    pub reduce_seconds: f64,
}

/// The benchmark book of the risk issue (and `mc_numpy.py`, its numpy peer): 10 underlyings
/// (spots 50…140, vols 20 %…38 %, drift 3 %), correlation 0.3 with 0.6 between neighbours, and
/// `n_options` short options of 100 shares each (puts and calls alternating, strikes 90–110 %
/// of spot rounded to cents, 0.1 + 0.01·j years, r 3 %, q 1 %, IV = vol + 3 points) on the
/// underlyings in turn; with no options, one share of each underlying.
pub fn benchmark_book(n_options: usize) -> (Vec<Underlying>, Vec<f64>, Vec<Position>) {
    let nu = 10;
    let u: Vec<Underlying> = (0..nu)
        .map(|i| Underlying {
            spot: 50.0 + 10.0 * i as f64,
            vol: 0.2 + 0.02 * i as f64,
            drift: 0.03,
        })
        .collect();
    let mut c = vec![0.3; nu * nu];
    for i in 0..nu {
        c[i * nu + i] = 1.0;
        if i + 1 < nu {
            c[i * nu + i + 1] = 0.6;
            c[(i + 1) * nu + i] = 0.6;
        }
    }
    let mut p: Vec<Position> = (0..n_options)
        .map(|j| {
            let ui = j % nu;
            let kind = if j % 2 == 0 {
                OptionType::Put
            } else {
                OptionType::Call
            };
            let m = 0.9 + 0.2 * (j as f64 / 49.0);
            Position {
                underlying: ui,
                holding: Holding::Option {
                    kind,
                    strike: (u[ui].spot * m * 100.0).round() / 100.0,
                    years: 0.1 + 0.01 * j as f64,
                    rate: 0.03,
                    dividend_yield: 0.01,
                    vol: u[ui].vol + 0.03,
                },
                quantity: -100.0,
            }
        })
        .collect();
    if p.is_empty() {
        p = (0..nu)
            .map(|i| Position {
                underlying: i,
                holding: Holding::Stock,
                quantity: 1.0,
            })
            .collect();
    }
    (u, c, p)
}

/// Paths per call of the compute batch (the unit of progress reports).
pub const PROGRESS_BLOCK: usize = 65_536;

fn value_now(p: &Position, u: &[Underlying], american: bool) -> Result<f64, RiskError> {
    match p.holding {
        Holding::Stock => Ok(u[p.underlying].spot),
        Holding::Option {
            kind,
            strike,
            years,
            rate,
            dividend_yield,
            vol,
        } => {
            let inp = BsmInputs {
                kind,
                spot: u[p.underlying].spot,
                strike,
                years,
                rate,
                dividend_yield,
                volatility: vol,
            };
            if american {
                american_price(&inp, &AmericanSettings::ACCURATE)
            } else {
                bsm_price(&inp)
            }
            .map_err(|e| RiskError::Input(format!("option position cannot be priced: {e}")))
        }
    }
}

/// Runs the simulation.
///
/// # Errors
/// Zero paths or horizon, no positions, bad underlyings or positions, a correlation matrix of
/// the wrong shape or not a correlation; element failures of the revaluation.
pub fn simulate(
    underlyings: &[Underlying],
    correlation: &[f64],
    positions: &[Position],
    s: &McSettings,
    backend: &Backend,
) -> Result<McResult, RiskError> {
    simulate_with_progress(
        underlyings,
        correlation,
        positions,
        s,
        backend,
        &mut |_, _| {},
    )
}

/// [`simulate`], calling `progress(paths done, paths)` after every block of
/// [`PROGRESS_BLOCK`] paths (16 times that on an accelerator).
///
/// # Errors
/// As [`simulate`].
pub fn simulate_with_progress(
    underlyings: &[Underlying],
    correlation: &[f64],
    positions: &[Position],
    s: &McSettings,
    backend: &Backend,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<McResult, RiskError> {
    let nu = underlyings.len();
    if s.paths == 0 {
        return Err(RiskError::Input("zero paths".into()));
    }
    if s.horizon_days == 0 {
        return Err(RiskError::Input("zero-day horizon".into()));
    }
    if positions.is_empty() {
        return Err(RiskError::Input("empty portfolio".into()));
    }
    for (i, u) in underlyings.iter().enumerate() {
        if !(u.spot > 0.0
            && u.vol >= 0.0
            && u.spot.is_finite()
            && u.vol.is_finite()
            && u.drift.is_finite())
        {
            return Err(RiskError::Input(format!(
                "underlying {i}: spot {}, vol {}, drift {} invalid",
                u.spot, u.vol, u.drift
            )));
        }
    }
    for (i, p) in positions.iter().enumerate() {
        if p.underlying >= nu {
            return Err(RiskError::Input(format!(
                "position {i} refers to underlying {} of {nu}",
                p.underlying
            )));
        }
        if !p.quantity.is_finite() {
            return Err(RiskError::Input(format!(
                "position {i} quantity {}",
                p.quantity
            )));
        }
    }
    if !(s.vol_of_vol.is_finite() && s.vol_of_vol >= 0.0 && s.vol_shock.is_finite()) {
        return Err(RiskError::Input(format!(
            "vol shock {} / vol of vol {} invalid",
            s.vol_shock, s.vol_of_vol
        )));
    }
    if let Some(j) = s.jumps
        && !McJumps::from(j).is_valid()
    {
        return Err(RiskError::Input(format!("jump parameters {j:?} invalid")));
    }
    let (corr, repaired) = nearest_correlation(correlation, nu)?;
    let l = cholesky(&corr, nu)?;
    // Positions as the compute batch's columns (option position k of the batch is
    // `option_index[k]` of `positions`).
    let mut stock_u = vec![];
    let mut stock_q = vec![];
    let mut option_index = vec![];
    let (mut ou, mut ok, mut ox, mut ot, mut or, mut oq, mut ov, mut on, mut o0) = (
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
    );
    for (i, p) in positions.iter().enumerate() {
        match p.holding {
            Holding::Stock => {
                stock_u.push(p.underlying);
                stock_q.push(p.quantity);
            }
            Holding::Option {
                kind,
                strike,
                years,
                rate,
                dividend_yield,
                vol,
            } => {
                option_index.push(i);
                ou.push(p.underlying);
                ok.push(kind);
                ox.push(strike);
                ot.push(years);
                or.push(rate);
                oq.push(dividend_yield);
                ov.push(vol);
                on.push(p.quantity);
                o0.push(value_now(p, underlyings, s.american)?);
            }
        }
    }
    let spot: Vec<f64> = underlyings.iter().map(|u| u.spot).collect();
    let vol: Vec<f64> = underlyings.iter().map(|u| u.vol).collect();
    let drift: Vec<f64> = underlyings.iter().map(|u| u.drift).collect();
    let book = McBook {
        spot: &spot,
        vol: &vol,
        drift: &drift,
        cholesky: &l,
        stock_underlying: &stock_u,
        stock_quantity: &stock_q,
        option_underlying: &ou,
        option_kind: &ok,
        option_strike: &ox,
        option_years: &ot,
        option_rate: &or,
        option_dividend_yield: &oq,
        option_vol: &ov,
        option_quantity: &on,
        option_value_now: &o0,
        american: s.american,
        seed: s.seed,
        steps: s.horizon_days,
        dt: 1.0 / TRADING_DAYS,
        vol_shock: s.vol_shock,
        vol_of_vol: s.vol_of_vol,
        jumps: s.jumps.map(McJumps::from),
    };
    let started = std::time::Instant::now();
    let total = s.paths as u64;
    let revaluation = |e: BatchError| match e {
        BatchError::Revaluation {
            path,
            position,
            reason,
        } => RiskError::Input(format!(
            "revaluation of position {} on path {path} failed: {reason}",
            option_index[position]
        )),
        other => RiskError::Input(format!("Monte Carlo batch: {other}")),
    };
    if !s.keep_paths {
        // On a device: every path's P&L stays there, only the tail comes back.
        let spec = TailSpec {
            confidence: s.confidence,
            batches: BATCHES,
        };
        let reduced = backend
            .mc_tail(&book, s.paths, &spec, &mut |done| progress(done, total))
            .map_err(revaluation)?;
        if let Some(t) = reduced {
            let paths_seconds = started.elapsed().as_secs_f64();
            let started = std::time::Instant::now();
            // Finished on the device (one row per sample), or by the host from the kept paths.
            let tail = if t.rows.is_empty() {
                tail_risk_from_top(t.paths, &t.index, &t.pnl, s.confidence)?
            } else {
                tail_risk_from_rows(t.paths, &t.rows, s.confidence)?
            };
            return Ok(McResult {
                tail,
                mean_pnl: t.pnl_sum / t.paths as f64,
                correlation_repaired: repaired,
                tail_paths: Some(t.kept),
                tail_finished_on_device: !t.rows.is_empty(),
                pnl: Vec::new(),
                paths_seconds,
                reduce_seconds: started.elapsed().as_secs_f64(),
            });
        }
    }
    let mut pnl = vec![0.0; s.paths];
    // A device takes the run in large pieces (each call uploads the book and launches once).
    let block_len = if backend.accelerator().is_some() {
        16 * PROGRESS_BLOCK
    } else {
        PROGRESS_BLOCK
    };
    for (b, block) in pnl.chunks_mut(block_len).enumerate() {
        let first = (b * block_len) as u64;
        backend.mc_pnl(&book, first, block).map_err(revaluation)?;
        progress(first + block.len() as u64, total);
    }
    let paths_seconds = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let tail = tail_risk(&pnl, s.confidence)?;
    let mean_pnl = pnl.iter().sum::<f64>() / pnl.len() as f64;
    Ok(McResult {
        tail,
        mean_pnl,
        correlation_repaired: repaired,
        pnl,
        tail_paths: None,
        tail_finished_on_device: false,
        paths_seconds,
        reduce_seconds: started.elapsed().as_secs_f64(),
    })
}
