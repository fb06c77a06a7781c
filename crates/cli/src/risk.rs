//! `wheelhouse risk`: exposures, stress grid, Monte Carlo and historical VaR/CVaR, margin.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, anyhow};
use clap::Args;
use serde_json::json;
use wheelhouse_core::UnixNanos;
use wheelhouse_risk::book::{
    BookPosition, OptionTerms, VolModel, explain, exposures, stress_grid_with,
};
use wheelhouse_risk::historical::{HistoricalSettings, historical_var, named_shocks};
use wheelhouse_risk::mc::{
    Holding, McSettings, Position as McPosition, Underlying, simulate_with_progress,
};
use wheelhouse_store::Store;
use wheelhouse_wheel::advisor::{account_risk, return_correlation};
use wheelhouse_wheel::candidates::MarketView;
use wheelhouse_wheel::ledger::{InstrumentKind, Ledger};

use crate::commands::AmericanMode;
use crate::data::{StoreFlags, open_for_reading, settings};
use crate::output::{fixed, pct};
use crate::wheel::{
    AccountArg, at_or_now, market_view_with, read_portfolio, replay, stored, stored_ledger,
    stored_locs,
};
use crate::{EXIT_OK, Exit, Format};

/// `--stress-correlation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StressCorrelationArg {
    /// Every underlying moves by the row's move.
    Perfect,
    /// Each underlying moves by its beta to --benchmark times the row's move.
    Beta,
}

/// `--vol-model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VolModelArg {
    /// Each option keeps its IV (plus the grid's shift).
    StickyStrike,
    /// IVs move with the forward along each expiry's fitted SVI smile.
    StickyDelta,
}

/// `wheelhouse risk`.
#[derive(Debug, Args)]
pub struct RiskArgs {
    /// Portfolio file (CSV or JSON fills) instead of the stored portfolio.
    #[arg(long, value_name = "FILE")]
    pub portfolio: Option<PathBuf>,
    /// Account type for --portfolio.
    #[arg(long, value_enum, default_value = "cash")]
    pub account: AccountArg,
    /// Valuation time: a date (end of that New York day) or RFC 3339 instant; default now.
    #[arg(long, value_name = "DATE|TIME")]
    pub at: Option<String>,
    /// Monte Carlo paths.
    #[arg(long, default_value_t = 100_000)]
    pub paths: usize,
    /// Horizon in trading days.
    #[arg(long, default_value_t = 1)]
    pub horizon_days: u32,
    /// VaR confidence.
    #[arg(long, default_value_t = 0.99)]
    pub confidence: f64,
    /// Monte Carlo seed.
    #[arg(long, default_value_t = 20_261_202)]
    pub seed: u64,
    /// Vol points (decimal) added to every IV at the Monte Carlo horizon.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub vol_shock: f64,
    /// Vol of vol: every IV at the horizon scaled by exp(ν·Z − ν²/2), one Z per path.
    #[arg(long, default_value_t = 0.0)]
    pub vol_of_vol: f64,
    /// Merton jumps of every underlying: INTENSITY,MEAN,SD (jumps per year, mean and sd of
    /// the log jump), e.g. 1,-0.05,0.1.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, num_args = 1)]
    pub jumps: Option<Vec<f64>>,
    /// Monte Carlo: value the options as American (ALO engine, ~650× the cost per option)
    /// instead of Black–Scholes–Merton.
    #[arg(long)]
    pub american: bool,
    /// Historical scenarios (most recent windows).
    #[arg(long, default_value_t = 500)]
    pub lookback: usize,
    /// Historical: one-day returns scaled by √horizon instead of overlapping windows.
    #[arg(long)]
    pub scaled: bool,
    /// Spot moves of the stress grid (relative).
    #[arg(
        long,
        value_delimiter = ',',
        allow_hyphen_values = true,
        default_value = "-0.3,-0.2,-0.1,-0.05,0,0.05,0.1,0.2,0.3"
    )]
    pub spot_moves: Vec<f64>,
    /// Vol shifts of the stress grid (absolute, decimal).
    #[arg(
        long,
        value_delimiter = ',',
        allow_hyphen_values = true,
        default_value = "-0.1,-0.05,0,0.05,0.1,0.2"
    )]
    pub vol_shifts: Vec<f64>,
    /// How IVs respond to the stress grid's spot moves: sticky-strike (each option keeps its
    /// IV) or sticky-delta (IVs slide along the fitted smile with the forward).
    #[arg(long, value_enum, default_value = "sticky-strike")]
    pub vol_model: VolModelArg,
    /// How the underlyings move together in the book's stress grid: perfect (all by the row's
    /// move) or beta (the row's move is the benchmark's; each underlying moves by its beta
    /// times it). Per-underlying grids are in the JSON either way.
    #[arg(long, value_enum, default_value = "perfect")]
    pub stress_correlation: StressCorrelationArg,
    /// Benchmark of the beta-weighted delta (β from daily log returns over --beta-lookback
    /// common days; skipped with a note when the store has no history for it).
    #[arg(long, default_value = "SPY", value_name = "SYMBOL")]
    pub benchmark: String,
    /// Daily returns the betas are estimated from.
    #[arg(long, default_value_t = 252)]
    pub beta_lookback: usize,
    /// A proposed trade (a fills file like --portfolio's): report what it changes in margin,
    /// buying power and exposures.
    #[arg(long, value_name = "FILE")]
    pub what_if: Option<PathBuf>,
    /// Write the stress grid as a heat map (SVG or PNG by extension).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
}

const DAY: i64 = 86_400_000_000_000;

/// The book of the ledger's positions at `now`, with the market data behind it.
fn book_of(
    ledger: &Ledger,
    views: &BTreeMap<String, MarketView>,
    now: UnixNanos,
) -> Result<Vec<BookPosition>, Exit> {
    let mut out = Vec::new();
    for p in ledger.positions() {
        let v = views.get(&p.underlying).ok_or_else(|| {
            Exit::usage(anyhow!(
                "position {} {}: no market data for {} at or before the valuation time",
                p.underlying,
                p.kind.as_str(),
                p.underlying
            ))
        })?;
        let spot = v.chain.spot;
        let option = match p.kind {
            InstrumentKind::Stock => None,
            InstrumentKind::Call | InstrumentKind::Put => {
                let ot = p.option_type().expect("option");
                let (k, e) = (p.strike.unwrap_or(f64::NAN), p.expiration.unwrap_or(now));
                let years = (e.0 - v.chain.quote_time.0) as f64 / (365.0 * DAY as f64);
                if years <= 0.0 {
                    return Err(Exit::usage(anyhow!(
                        "position {} {ot:?} {k}: expired before the snapshot; record its expiry or assignment",
                        p.underlying
                    )));
                }
                let ex = v
                    .chain
                    .expiries
                    .iter()
                    .min_by(|a, b| (a.years - years).abs().total_cmp(&(b.years - years).abs()))
                    .ok_or_else(|| {
                        Exit::usage(anyhow!("{}: the chain has no expiries", p.underlying))
                    })?;
                let quote_iv = v
                    .quotes
                    .iter()
                    .position(|q| {
                        q.option_type == ot && (q.strike - k).abs() < 1e-9 && q.expiration == e
                    })
                    .and_then(|i| v.chain.quotes[i].mid_iv.ok());
                let vol = quote_iv
                    .or_else(|| {
                        v.chain
                            .surface
                            .as_ref()
                            .map(|s| s.implied_vol_at_strike(years, k, spot * ((ex.rate - ex.dividend_yield) * years).exp()))
                            .filter(|x| x.is_finite() && *x > 0.0)
                    })
                    .ok_or_else(|| {
                        Exit::usage(anyhow!(
                            "position {} {} {k}: no implied volatility (no quote with a mid IV, no surface)",
                            p.underlying,
                            ot.as_str()
                        ))
                    })?;
                Some(OptionTerms {
                    kind: ot,
                    strike: k,
                    years,
                    rate: ex.rate,
                    dividend_yield: ex.dividend_yield,
                    vol,
                    style: p.style,
                })
            }
            InstrumentKind::Cash => continue,
        };
        out.push(BookPosition {
            underlying: p.underlying.clone(),
            spot,
            quantity: p.quantity * p.multiplier,
            option,
        });
    }
    if out.is_empty() {
        return Err(Exit::usage(anyhow!(
            "empty portfolio: no open positions to measure"
        )));
    }
    Ok(out)
}

fn heat_map(path: &std::path::Path, g: &wheelhouse_risk::book::StressGrid) -> Result<(), Exit> {
    use wheelhouse_plot::{Anchor, Chart, Color};
    let (nx, ny) = (g.vol_shifts.len(), g.spot_moves.len());
    let (cw, ch, left, top) = (70.0, 28.0, 80.0, 50.0);
    let mut c = Chart::new(left + cw * nx as f64 + 20.0, top + ch * ny as f64 + 40.0);
    let m = g
        .cells
        .iter()
        .flatten()
        .fold(0.0f64, |a, b| a.max(b.abs()))
        .max(f64::MIN_POSITIVE);
    c.text(
        left,
        22.0,
        "P&L: spot move (rows) × vol shift (columns)",
        12.0,
        Anchor::Start,
        Color(0, 0, 0),
    );
    for (j, v) in g.vol_shifts.iter().enumerate() {
        c.text(
            left + cw * (j as f64 + 0.5),
            top - 6.0,
            &format!("{:+.0} pt", v * 100.0),
            10.0,
            Anchor::Middle,
            Color(0, 0, 0),
        );
    }
    for (i, s) in g.spot_moves.iter().enumerate() {
        let y = top + ch * i as f64;
        c.text(
            left - 6.0,
            y + ch * 0.65,
            &format!("{:+.0} %", s * 100.0),
            10.0,
            Anchor::End,
            Color(0, 0, 0),
        );
        for (j, x) in g.cells[i].iter().enumerate() {
            let xx = left + cw * j as f64;
            c.rect(
                xx,
                y,
                cw,
                ch,
                Some(Color::diverging(x / m)),
                Some(Color(200, 200, 200)),
            );
            c.text(
                xx + cw / 2.0,
                y + ch * 0.65,
                &format!("{x:.0}"),
                9.0,
                Anchor::Middle,
                Color(0, 0, 0),
            );
        }
    }
    c.save(path)
        .with_context(|| format!("cannot write {}", path.display()))
        .map_err(Exit::from)
}

/// `wheelhouse risk`.
pub fn risk(
    args: RiskArgs,
    flags: &StoreFlags,
    format: Option<Format>,
    threads: Option<usize>,
) -> Result<u8, Exit> {
    let started = Instant::now();
    // The device first: `--device cuda` without a GPU fails before any store work.
    let backend = crate::backend_for(wheelhouse_hardware::pools::WorkloadClass::Risk, threads)?;
    let s = settings(flags)?;
    let store = open_for_reading(&s)?;
    let now = at_or_now(args.at.as_deref())?;
    if !(args.confidence > 0.0 && args.confidence < 1.0) {
        return Err(Exit::usage(anyhow!(
            "--confidence {} must be strictly between 0 and 1",
            args.confidence
        )));
    }
    if args.paths == 0 {
        return Err(Exit::usage(anyhow!(
            "--paths 0: the Monte Carlo needs at least one path"
        )));
    }
    let ledger = match &args.portfolio {
        Some(p) => {
            let (fills, locs) = read_portfolio(p)?;
            replay(
                args.account.account(),
                &fills,
                &locs,
                &p.display().to_string(),
            )?
        }
        None => {
            let l = stored_ledger(&store)?;
            if l.fill_count() == 0 {
                return Err(Exit::usage(anyhow!(
                    "empty portfolio: give --portfolio FILE or store one with `wheelhouse portfolio import FILE`"
                )));
            }
            l
        }
    };
    // Enough calendar days of closes for the historical lookback (≈ 252 trading days a year)
    // and the correlations, at least 400.
    let history_days =
        (((args.lookback + args.horizon_days as usize) as f64 * 365.0 / 252.0).ceil() as i64 + 30)
            .max(400);
    let mut views: BTreeMap<String, MarketView> = BTreeMap::new();
    for u in ledger.held_underlyings() {
        if let Some(v) =
            market_view_with(&store, &s, &u, now, AmericanMode::Fast, false, history_days)?
        {
            views.insert(u, v);
        }
    }
    let book = book_of(&ledger, &views, now)?;
    let rerr = |e: wheelhouse_risk::RiskError| Exit::usage(anyhow!(e));
    let t = Instant::now();
    let exp = exposures(&book, &backend).map_err(rerr)?;
    let names: Vec<String> = {
        let mut v: Vec<String> = book.iter().map(|p| p.underlying.clone()).collect();
        v.sort();
        v.dedup();
        v
    };
    let closes: BTreeMap<String, Vec<(i64, f64)>> = names
        .iter()
        .map(|n| {
            (
                n.clone(),
                views[n]
                    .closes
                    .iter()
                    .map(|(t, c)| (t.0.div_euclid(DAY), *c))
                    .collect(),
            )
        })
        .collect();
    let beta_section = beta_weighting(&store, &args, now, history_days, &names, &closes, &exp);
    let beta_by_position = |what: &str| -> Result<Vec<f64>, Exit> {
        book.iter()
            .map(|p| {
                beta_of(&beta_section, &p.underlying).ok_or_else(|| {
                    Exit::usage(anyhow!(
                        "{what}: no beta of {} to {} ({})",
                        p.underlying,
                        args.benchmark,
                        beta_section["unavailable"]
                            .as_str()
                            .unwrap_or("see beta_weighted in the JSON")
                    ))
                })
            })
            .collect()
    };
    let move_scale = match args.stress_correlation {
        StressCorrelationArg::Perfect => None,
        StressCorrelationArg::Beta => Some(beta_by_position("--stress-correlation beta")?),
    };
    let grid = grid_of(&book, &views, &args, move_scale.as_deref(), &backend)?;
    // One grid per underlying: its own positions, its own moves.
    let mut by_underlying = Vec::new();
    for n in &names {
        let sub: Vec<BookPosition> = book
            .iter()
            .filter(|p| &p.underlying == n)
            .cloned()
            .collect();
        let g = grid_of(&sub, &views, &args, None, &backend)?;
        by_underlying.push(json!({"underlying": n, "grid": g}));
    }
    // P&L explain: small moves with a day passing, a vol point, against full revaluation.
    let mut explains = Vec::new();
    for (m, dv, days) in [
        (-0.05, 0.0, 1.0),
        (-0.01, 0.0, 1.0),
        (0.01, 0.0, 1.0),
        (0.05, 0.0, 1.0),
        (0.0, 0.01, 0.0),
        (-0.01, 0.01, 1.0),
    ] {
        // An option expiring within the day cannot be carried a day forward: say so there.
        explains.push(match explain(&book, m, dv, days / 365.0, &backend) {
            Ok(e) => json!({"spot_move": m, "vol_shift": dv, "days": days, "explain": e}),
            Err(e) => {
                json!({"spot_move": m, "vol_shift": dv, "days": days, "error": e.to_string()})
            }
        });
    }
    let t_exposure = t.elapsed().as_secs_f64();
    // Monte Carlo: underlyings at their 30-day ATM IV, zero drift, correlation of daily returns.
    let mut und = Vec::new();
    for n in &names {
        let v = &views[n];
        let vol = v.chain.summary.atm_vol_30d.ok_or_else(|| {
            Exit::usage(anyhow!(
                "{n}: no 30-day ATM implied volatility for the Monte Carlo"
            ))
        })?;
        und.push(Underlying {
            spot: v.chain.spot,
            vol,
            drift: 0.0,
        });
    }
    let k = names.len();
    let mut corr = vec![0.0; k * k];
    for i in 0..k {
        corr[i * k + i] = 1.0;
        for j in 0..i {
            let c = return_correlation(&views[&names[i]].closes, &views[&names[j]].closes)
                .ok_or_else(|| {
                    Exit::usage(anyhow!(
                        "not enough common price history to correlate {} and {}",
                        names[i],
                        names[j]
                    ))
                })?;
            corr[i * k + j] = c;
            corr[j * k + i] = c;
        }
    }
    let mc_pos: Vec<McPosition> = book
        .iter()
        .map(|p| McPosition {
            underlying: names.binary_search(&p.underlying).expect("listed"),
            holding: match p.option {
                None => Holding::Stock,
                Some(o) => Holding::Option {
                    kind: o.kind,
                    strike: o.strike,
                    years: o.years,
                    rate: o.rate,
                    dividend_yield: o.dividend_yield,
                    vol: o.vol,
                },
            },
            quantity: p.quantity,
        })
        .collect();
    let mcs = McSettings {
        paths: args.paths,
        horizon_days: args.horizon_days,
        seed: args.seed,
        confidence: args.confidence,
        vol_shock: args.vol_shock,
        vol_of_vol: args.vol_of_vol,
        american: args.american,
        // VaR and CVaR only: a GPU keeps the paths on the device.
        keep_paths: false,
        jumps: match args.jumps.as_deref() {
            None => None,
            Some([i, m, sd]) => Some(wheelhouse_risk::mc::Jumps {
                intensity: *i,
                mean: *m,
                sd: *sd,
            }),
            Some(other) => {
                return Err(Exit::usage(anyhow!(
                    "--jumps takes INTENSITY,MEAN,SD; got {} values",
                    other.len()
                )));
            }
        },
    };
    // The P&L sample (and the VaR's working copy) from the machine's memory budget: an
    // oversized run is refused up front instead of the process being killed.
    // (the process budget: under pressure the store's DuckDB limit is lowered first).
    let budget = &crate::runtime::get().budget;
    let _mc_memory = budget
        .reserve(
            "engines",
            (args.paths as u64).saturating_mul(16),
            wheelhouse_hardware::budget::Priority::Normal,
        )
        .map_err(|e| Exit::usage(anyhow!("--paths {}: {e}", args.paths)))?;
    let (mut report, pb) = crate::data::progress_after_1s("Monte Carlo", "paths");
    let t = Instant::now();
    let mc =
        simulate_with_progress(&und, &corr, &mc_pos, &mcs, &backend, &mut report).map_err(rerr)?;
    let t_mc = t.elapsed().as_secs_f64();
    pb.finish_and_clear();
    let hs = HistoricalSettings {
        horizon_days: args.horizon_days as usize,
        overlapping: !args.scaled,
        lookback: args.lookback,
        confidence: args.confidence,
    };
    let t = Instant::now();
    let hist = historical_var(&book, &closes, &hs, &backend).map_err(rerr)?;
    let shocks = named_shocks(&book, &closes, &[1, 5], &backend).map_err(rerr)?;
    let t_hist = t.elapsed().as_secs_f64();
    let margin = account_risk(&ledger, &views);
    // What a proposed trade would change: the same measures with its fills added.
    let what_if = match &args.what_if {
        None => None,
        Some(f) => {
            let (mut fills, mut locs) = match &args.portfolio {
                Some(p) => read_portfolio(p)?,
                None => {
                    let (fills, _) = stored(&store)?;
                    let locs = stored_locs(fills.len());
                    (fills, locs)
                }
            };
            let (extra, extra_locs) = read_portfolio(f)?;
            fills.extend(extra);
            locs.extend(
                extra_locs
                    .into_iter()
                    .map(|l| format!("{}: {l}", f.display())),
            );
            let after = replay(
                ledger.account(),
                &fills,
                &locs,
                "portfolio with the proposed trade",
            )?;
            for u in after.held_underlyings() {
                if !views.contains_key(&u)
                    && let Some(v) = market_view_with(
                        &store,
                        &s,
                        &u,
                        now,
                        AmericanMode::Fast,
                        false,
                        history_days,
                    )?
                {
                    views.insert(u, v);
                }
            }
            let m2 = account_risk(&after, &views);
            let b2 = book_of(&after, &views, now)?;
            let e2 = exposures(&b2, &backend).map_err(rerr)?;
            Some(json!({
                "margin_after": m2,
                "requirement_change": m2.requirement - margin.requirement,
                "buying_power_change": m2.buying_power - margin.buying_power,
                "delta_dollars_change": e2.total.delta_dollars - exp.total.delta_dollars,
                "vega_per_point_change": e2.total.vega_per_point - exp.total.vega_per_point,
                "theta_per_day_change": e2.total.theta_per_day - exp.total.theta_per_day,
            }))
        }
    };
    if let Some(p) = &args.plot {
        heat_map(p, &grid)?;
    }
    let total = started.elapsed().as_secs_f64();
    match format.unwrap_or(Format::Table) {
        Format::Json | Format::Csv => {
            let v = json!({
                "at": wheelhouse_wheel::time_of(now),
                "exposures": {
                    "total": exp.total,
                    "by_underlying": exp.by_underlying.iter().map(|(n, e)| json!({"underlying": n, "exposure": e})).collect::<Vec<_>>(),
                    "positions": book.iter().zip(&exp.positions).map(|(p, e)| json!({"position": p, "exposure": e})).collect::<Vec<_>>(),
                },
                "beta_weighted": beta_section,
                "stress": grid,
                "stress_correlation": match args.stress_correlation { StressCorrelationArg::Perfect => "perfect", StressCorrelationArg::Beta => "beta" },
                "stress_by_underlying": by_underlying,
                "pnl_explain": explains,
                "stress_vol_model": match args.vol_model { VolModelArg::StickyStrike => "sticky-strike", VolModelArg::StickyDelta => "sticky-delta" },
                "monte_carlo": {
                    "var": mc.tail.var,
                    "cvar": mc.tail.cvar,
                    "standard_error": mc.tail.var_standard_error,
                    "cvar_standard_error": mc.tail.cvar_standard_error,
                    "paths": args.paths,
                    "horizon_days": args.horizon_days,
                    "confidence": args.confidence,
                    "seed": args.seed,
                    "vol_shock": args.vol_shock,
                    "vol_of_vol": args.vol_of_vol,
                    "american": args.american,
                    "jumps": mcs.jumps,
                    "mean_pnl": mc.mean_pnl,
                    "correlation_repaired": mc.correlation_repaired,
                    "underlyings": names.iter().zip(&und).map(|(n, u)| json!({"underlying": n, "spot": u.spot, "vol": u.vol})).collect::<Vec<_>>(),
                },
                "historical": {
                    "var": hist.tail.var,
                    "cvar": hist.tail.cvar,
                    "standard_error": hist.tail.var_standard_error,
                    "scenarios": hist.scenarios,
                    "horizon_days": args.horizon_days,
                    "overlapping": !args.scaled,
                    "confidence": args.confidence,
                },
                "named_shocks": shocks,
                "what_if": what_if,
                "margin": margin,
                "timings_s": {"exposures_and_stress": t_exposure, "monte_carlo": t_mc, "historical": t_hist, "total": total},
            });
            println!("{v}");
        }
        Format::Table => {
            println!(
                "risk at {}  ({} positions)",
                wheelhouse_wheel::time_of(now),
                book.len()
            );
            println!();
            println!(
                "{:<8} {:>12} {:>12} {:>12} {:>14} {:>12} {:>12}",
                "under", "value", "delta $", "gamma $/1%", "vega /pt", "theta /day", "rho"
            );
            for (n, e) in exp
                .by_underlying
                .iter()
                .map(|(n, e)| (n.as_str(), e))
                .chain([("TOTAL", &exp.total)])
            {
                println!(
                    "{:<8} {:>12.2} {:>12.2} {:>12.2} {:>14.2} {:>12.2} {:>12.2}",
                    n,
                    e.value,
                    e.delta_dollars,
                    e.dollar_gamma_1pct,
                    e.vega_per_point,
                    e.theta_per_day,
                    e.rho
                );
            }
            println!();
            match beta_section.get("by_underlying").and_then(|v| v.as_array()) {
                Some(rows) => {
                    println!(
                        "beta-weighted delta to {} (spot {:.2}, {} daily returns)",
                        args.benchmark,
                        beta_section["benchmark_spot"].as_f64().unwrap_or(f64::NAN),
                        args.beta_lookback
                    );
                    for r in rows {
                        match r["beta"].as_f64() {
                            Some(b) => println!(
                                "  {:<8} beta {:>6.2} (se {:.2})  {:>12.2} $  {:>10.1} {} shares",
                                r["underlying"].as_str().unwrap_or(""),
                                b,
                                r["beta_standard_error"].as_f64().unwrap_or(f64::NAN),
                                r["dollars"].as_f64().unwrap_or(f64::NAN),
                                r["benchmark_shares"].as_f64().unwrap_or(f64::NAN),
                                args.benchmark
                            ),
                            None => println!(
                                "  {:<8} no beta: {}",
                                r["underlying"].as_str().unwrap_or(""),
                                r["error"].as_str().unwrap_or("")
                            ),
                        }
                    }
                    println!(
                        "  {:<8} {:>31.2} $  {:>10.1} {} shares",
                        "TOTAL",
                        beta_section["total_dollars"].as_f64().unwrap_or(f64::NAN),
                        beta_section["total_benchmark_shares"]
                            .as_f64()
                            .unwrap_or(f64::NAN),
                        args.benchmark
                    );
                }
                None => println!(
                    "beta-weighted delta: {}",
                    beta_section["unavailable"]
                        .as_str()
                        .unwrap_or("unavailable")
                ),
            }
            println!();
            print!("stress P&L  spot \\ vol");
            for v in &grid.vol_shifts {
                print!(" {:>10}", format!("{:+.0}pt", v * 100.0));
            }
            println!();
            for (i, m) in grid.spot_moves.iter().enumerate() {
                print!("{:>22}", format!("{:+.0}%", m * 100.0));
                for x in &grid.cells[i] {
                    print!(" {x:>10.0}");
                }
                println!();
            }
            println!(
                "worst cell: spot {:+.0} %, vol {:+.0} pt: {:.2}  ({} moves{})",
                grid.worst.0 * 100.0,
                grid.worst.1 * 100.0,
                grid.worst.2,
                match args.stress_correlation {
                    StressCorrelationArg::Perfect => "all underlyings, same",
                    StressCorrelationArg::Beta => "benchmark; underlyings by beta",
                },
                match args.vol_model {
                    VolModelArg::StickyStrike => ", sticky strike",
                    VolModelArg::StickyDelta => ", sticky delta",
                }
            );
            for u in &by_underlying {
                println!(
                    "  {:<8} worst: spot {:+.0} %, vol {:+.0} pt: {:.2}",
                    u["underlying"].as_str().unwrap_or(""),
                    u["grid"]["worst"][0].as_f64().unwrap_or(f64::NAN) * 100.0,
                    u["grid"]["worst"][1].as_f64().unwrap_or(f64::NAN) * 100.0,
                    u["grid"]["worst"][2].as_f64().unwrap_or(f64::NAN)
                );
            }
            println!();
            println!(
                "P&L explain     {:>10} {:>10} {:>10} {:>10} {:>12} {:>12}",
                "delta", "gamma", "vega", "theta", "full reval", "unexplained"
            );
            for x in &explains {
                let label = format!(
                    "{:+.0}% {:+.0}pt {}d",
                    x["spot_move"].as_f64().unwrap_or(0.0) * 100.0,
                    x["vol_shift"].as_f64().unwrap_or(0.0) * 100.0,
                    x["days"].as_f64().unwrap_or(0.0)
                );
                match x.get("explain") {
                    Some(e) => println!(
                        "{label:<15} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>12.2} {:>12.2}",
                        e["delta"].as_f64().unwrap_or(f64::NAN),
                        e["gamma"].as_f64().unwrap_or(f64::NAN),
                        e["vega"].as_f64().unwrap_or(f64::NAN),
                        e["theta"].as_f64().unwrap_or(f64::NAN),
                        e["full"].as_f64().unwrap_or(f64::NAN),
                        e["unexplained"].as_f64().unwrap_or(f64::NAN)
                    ),
                    None => println!("{label:<15} {}", x["error"].as_str().unwrap_or("")),
                }
            }
            println!();
            println!(
                "Monte Carlo {}-day VaR {}: {:.2} ± {} (CVaR {:.2} ± {}), {} paths, seed {}{}",
                args.horizon_days,
                pct(Some(args.confidence), 1),
                mc.tail.var,
                fixed(mc.tail.var_standard_error, 2),
                mc.tail.cvar,
                fixed(mc.tail.cvar_standard_error, 2),
                args.paths,
                args.seed,
                if mc.correlation_repaired {
                    " (correlation repaired to positive definite)"
                } else {
                    ""
                }
            );
            println!(
                "historical {}-day VaR {}: {:.2} (CVaR {:.2}), {} {} scenarios",
                args.horizon_days,
                pct(Some(args.confidence), 1),
                hist.tail.var,
                hist.tail.cvar,
                hist.scenarios,
                if args.scaled {
                    "√h-scaled"
                } else {
                    "overlapping"
                }
            );
            for x in &shocks {
                println!(
                    "  {:<32} {} → {}: P&L {:>12.2}",
                    x.name,
                    // Day numbers are UTC dates of the closes; noon UTC is that date in New York.
                    wheelhouse_wheel::date_of(UnixNanos(x.window.0 * DAY + DAY / 2)),
                    wheelhouse_wheel::date_of(UnixNanos(x.window.1 * DAY + DAY / 2)),
                    x.pnl
                );
            }
            println!(
                "margin ({}): net liquidation {:.2}, requirement {:.2}, buying power {:.2}",
                margin.account.as_str(),
                margin.net_liquidation,
                margin.requirement,
                margin.buying_power
            );
            if let Some(w) = &what_if {
                println!(
                    "proposed trade: requirement {:+.2}, buying power {:+.2}, delta $ {:+.2}, vega/pt {:+.2}, theta/day {:+.2}",
                    w["requirement_change"].as_f64().unwrap_or(f64::NAN),
                    w["buying_power_change"].as_f64().unwrap_or(f64::NAN),
                    w["delta_dollars_change"].as_f64().unwrap_or(f64::NAN),
                    w["vega_per_point_change"].as_f64().unwrap_or(f64::NAN),
                    w["theta_per_day_change"].as_f64().unwrap_or(f64::NAN)
                );
            }
            println!(
                "timings (s): exposures+stress {t_exposure:.3}, Monte Carlo {t_mc:.3}, historical {t_hist:.3}, total {total:.3}"
            );
        }
    }
    Ok(EXIT_OK)
}

/// The beta-weighted delta section: β of each underlying to the benchmark from the stored
/// closes, β·Δ$ and β·Δ$/S_b per underlying and in total; `{"unavailable": why}` when the
/// benchmark has no usable history.
fn beta_weighting(
    store: &Store,
    args: &RiskArgs,
    now: UnixNanos,
    history_days: i64,
    names: &[String],
    closes: &BTreeMap<String, Vec<(i64, f64)>>,
    exp: &wheelhouse_risk::book::Exposures,
) -> serde_json::Value {
    let bench_days = history_days.max((args.beta_lookback as f64 * 365.0 / 252.0) as i64 + 30);
    let bench: Vec<(i64, f64)> = match crate::wheel::adjusted_closes(
        store,
        &args.benchmark,
        now,
        bench_days,
    ) {
        Ok(v) if !v.is_empty() => v.iter().map(|(t, c)| (t.0.div_euclid(DAY), *c)).collect(),
        Ok(_) => {
            return json!({"benchmark": args.benchmark, "unavailable": format!("no daily bars of {} up to the snapshot", args.benchmark)});
        }
        Err(e) => {
            return json!({"benchmark": args.benchmark, "unavailable": format!("no stored history of {}: {}", args.benchmark, e.error)});
        }
    };
    let bench_spot = bench.last().map_or(f64::NAN, |b| b.1);
    let mut rows = vec![];
    let (mut tot_d, mut tot_s) = (0.0, 0.0);
    for n in names {
        let delta_dollars = exp
            .by_underlying
            .iter()
            .find(|(u, _)| u == n)
            .map_or(0.0, |(_, e)| e.delta_dollars);
        let est = if *n == args.benchmark {
            Ok(wheelhouse_risk::beta::Beta {
                beta: 1.0,
                correlation: 1.0,
                observations: 0,
                standard_error: 0.0,
            })
        } else {
            closes
                .get(n)
                .map(|c| {
                    // Split-adjusted closes of the underlying at the same lookback.
                    wheelhouse_risk::beta::beta(c, &bench, args.beta_lookback)
                })
                .unwrap_or_else(|| {
                    Err(wheelhouse_risk::RiskError::Input(format!(
                        "no closes of {n}"
                    )))
                })
        };
        match est {
            Ok(b) => {
                let w = wheelhouse_risk::beta::beta_weighted(delta_dollars, b.beta, bench_spot);
                tot_d += w.dollars;
                tot_s += w.benchmark_shares;
                rows.push(json!({"underlying": n, "beta": b.beta, "beta_standard_error": b.standard_error, "correlation": b.correlation, "observations": b.observations, "delta_dollars": delta_dollars, "dollars": w.dollars, "benchmark_shares": w.benchmark_shares}));
            }
            Err(e) => rows.push(
                json!({"underlying": n, "delta_dollars": delta_dollars, "error": e.to_string()}),
            ),
        }
    }
    json!({
        "benchmark": args.benchmark,
        "benchmark_spot": bench_spot,
        "lookback_returns": args.beta_lookback,
        "by_underlying": rows,
        "total_dollars": tot_d,
        "total_benchmark_shares": tot_s,
    })
}

/// The stress grid of `book` under the arguments' vol model and the given move scaling.
fn grid_of(
    book: &[BookPosition],
    views: &BTreeMap<String, MarketView>,
    args: &RiskArgs,
    move_scale: Option<&[f64]>,
    backend: &wheelhouse_compute::Backend,
) -> Result<wheelhouse_risk::book::StressGrid, Exit> {
    let rerr = |e: wheelhouse_risk::RiskError| Exit::usage(anyhow!(e));
    Ok(match args.vol_model {
        VolModelArg::StickyStrike => stress_grid_with(
            book,
            &args.spot_moves,
            &args.vol_shifts,
            VolModel::StickyStrike,
            move_scale,
            backend,
        )
        .map_err(rerr)?,
        VolModelArg::StickyDelta => {
            // The smile's change per option position, from its underlying's fitted surface.
            for p in book.iter().filter(|p| p.option.is_some()) {
                if views[&p.underlying].chain.surface.is_none() {
                    return Err(Exit::usage(anyhow!(
                        "--vol-model sticky-delta: {} has no fitted volatility surface at the snapshot",
                        p.underlying
                    )));
                }
            }
            let change = |i: usize, m: f64| -> f64 {
                let p = &book[i];
                let (Some(o), Some(surf)) = (p.option, views[&p.underlying].chain.surface.as_ref())
                else {
                    return 0.0;
                };
                let f = p.spot * ((o.rate - o.dividend_yield) * o.years).exp();
                let k = (o.strike / f).ln();
                surf.implied_vol(o.years, k - (1.0 + m).ln()) - surf.implied_vol(o.years, k)
            };
            stress_grid_with(
                book,
                &args.spot_moves,
                &args.vol_shifts,
                VolModel::StickyDelta(&change),
                move_scale,
                backend,
            )
            .map_err(rerr)?
        }
    })
}

/// The beta of `underlying` in the beta section, if estimated.
fn beta_of(section: &serde_json::Value, underlying: &str) -> Option<f64> {
    section["by_underlying"]
        .as_array()?
        .iter()
        .find(|r| r["underlying"] == underlying)?["beta"]
        .as_f64()
}
