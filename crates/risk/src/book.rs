//! Exposures, the full-revaluation stress grid and the P&L explain of a book of stock and
//! option positions.
//!
//! # Conventions
//! - Quantities are in shares (option contracts × multiplier); negative is short.
//! - Greeks are raw per share (vega per 1.00 vol, theta per year, rho per 1.00 rate) times the
//!   quantity; the `_dollars`, `_per_point` and `_per_day` fields are the views whose names say
//!   so: delta dollars = Δ·q·S; dollar gamma per 1 % = Γ·q·S²/100 (the change of delta dollars
//!   for a 1 % move); vega per vol point = vega·q/100; theta per day = θ·q/365.
//! - Options flagged American are priced and their Greeks computed with the ALO engine
//!   (`compute`'s American path); European ones in closed form.
//! - Stress: spot moves are relative (−0.30 = −30 %), vol shifts absolute (+0.05 = +5 vol
//!   points), time unchanged. How an option's IV responds to the spot move is the
//!   [`VolModel`]: sticky strike (each option keeps its own IV, plus the shift) or sticky
//!   delta (the IV slides along the option's smile with the forward, plus the shift).

use serde::Serialize;
use wheelhouse_compute::{Backend, OptionBatch};
use wheelhouse_core::{ExerciseStyle, OptionType};

use crate::RiskError;

/// A position of the book.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BookPosition {
    /// Underlying symbol.
    pub underlying: String,
    /// Spot of the underlying now.
    pub spot: f64,
    /// Signed quantity in shares.
    pub quantity: f64,
    /// The option's terms (None for shares).
    pub option: Option<OptionTerms>,
}

/// Terms and market inputs of an option position.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OptionTerms {
    /// Call or put.
    pub kind: OptionType,
    /// Strike.
    pub strike: f64,
    /// Years to expiry.
    pub years: f64,
    /// Rate.
    pub rate: f64,
    /// Dividend yield.
    pub dividend_yield: f64,
    /// Implied volatility.
    pub vol: f64,
    /// Exercise style.
    pub style: ExerciseStyle,
}

/// Exposure of a position or an aggregate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Exposure {
    /// Market value.
    pub value: f64,
    /// Δ·q (share-equivalent delta).
    pub delta: f64,
    /// Γ·q.
    pub gamma: f64,
    /// vega·q per 1.00 vol.
    pub vega: f64,
    /// θ·q per year.
    pub theta: f64,
    /// ρ·q per 1.00 rate.
    pub rho: f64,
    /// Δ·q·S.
    pub delta_dollars: f64,
    /// Γ·q·S²/100.
    pub dollar_gamma_1pct: f64,
    /// vega·q/100.
    pub vega_per_point: f64,
    /// θ·q/365.
    pub theta_per_day: f64,
}

impl Exposure {
    fn add(&mut self, o: &Exposure) {
        self.value += o.value;
        self.delta += o.delta;
        self.gamma += o.gamma;
        self.vega += o.vega;
        self.theta += o.theta;
        self.rho += o.rho;
        self.delta_dollars += o.delta_dollars;
        self.dollar_gamma_1pct += o.dollar_gamma_1pct;
        self.vega_per_point += o.vega_per_point;
        self.theta_per_day += o.theta_per_day;
    }
}

/// Exposures per position, per underlying (sorted by symbol) and for the book.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exposures {
    /// Per position, in input order.
    pub positions: Vec<Exposure>,
    /// Per underlying.
    pub by_underlying: Vec<(String, Exposure)>,
    /// The whole book.
    pub total: Exposure,
}

fn check(book: &[BookPosition]) -> Result<(), RiskError> {
    if book.is_empty() {
        return Err(RiskError::Input("empty portfolio".into()));
    }
    for (i, p) in book.iter().enumerate() {
        if !(p.spot.is_finite() && p.spot > 0.0) {
            return Err(RiskError::Input(format!(
                "position {i} ({}): no valid spot ({})",
                p.underlying, p.spot
            )));
        }
        if !p.quantity.is_finite() {
            return Err(RiskError::Input(format!(
                "position {i}: quantity {}",
                p.quantity
            )));
        }
    }
    Ok(())
}

/// How implied volatilities respond to a spot move in the stress grid.
#[derive(Clone, Copy)]
pub enum VolModel<'a> {
    /// Each option keeps its IV (plus the grid's shift): the smile stays attached to strikes.
    StickyStrike,
    /// The smile moves with the forward: after a relative move `m` an option of strike K has
    /// the IV its smile gives at log-moneyness ln(K/F) − ln(1 + m) (the moneyness it would have
    /// had on the original surface), i.e. its IV now plus `smile_change(position, m)`, which the
    /// caller computes from the surface as σ(ln K/F − ln(1 + m)) − σ(ln K/F). At fixed time and
    /// volatility delta is a function of K/F alone, so this is sticky delta (sticky
    /// moneyness). Plus the grid's shift.
    StickyDelta(&'a (dyn Fn(usize, f64) -> f64 + Sync)),
}

impl std::fmt::Debug for VolModel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VolModel::StickyStrike => f.write_str("StickyStrike"),
            VolModel::StickyDelta(_) => f.write_str("StickyDelta"),
        }
    }
}

impl VolModel<'_> {
    /// The IV of position `i` (IV now `vol`) after spot move `m` and vol shift `v`.
    fn vol(&self, i: usize, vol: f64, m: f64, v: f64) -> f64 {
        match self {
            VolModel::StickyStrike => vol + v,
            VolModel::StickyDelta(change) => {
                if m == 0.0 {
                    vol + v
                } else {
                    vol + change(i, m) + v
                }
            }
        }
    }
}

/// Prices (and Greeks) of the book's options at shifted spots and vols, one batch.
fn reprice(
    book: &[BookPosition],
    scen: &[(f64, f64)],
    backend: &Backend,
) -> Result<wheelhouse_compute::GreeksBatch, RiskError> {
    reprice_with(book, scen, VolModel::StickyStrike, None, backend)
}

/// [`reprice`] under a vol model, position `i`'s spot moving by `m·scale[i]`.
fn reprice_with(
    book: &[BookPosition],
    scen: &[(f64, f64)],
    model: VolModel<'_>,
    scale: Option<&[f64]>,
    backend: &Backend,
) -> Result<wheelhouse_compute::GreeksBatch, RiskError> {
    let opts: Vec<(usize, &BookPosition, OptionTerms)> = book
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.option.map(|o| (i, p, o)))
        .collect();
    let n = opts.len() * scen.len();
    let mut kind = Vec::with_capacity(n);
    let mut spot = Vec::with_capacity(n);
    let mut strike = Vec::with_capacity(n);
    let mut years = Vec::with_capacity(n);
    let mut rate = Vec::with_capacity(n);
    let mut q = Vec::with_capacity(n);
    let mut vol = Vec::with_capacity(n);
    let mut style = Vec::with_capacity(n);
    for &(m, v) in scen {
        for (i, p, o) in &opts {
            let m = m * scale.map_or(1.0, |s| s[*i]);
            kind.push(o.kind);
            spot.push(p.spot * (1.0 + m));
            strike.push(o.strike);
            years.push(o.years);
            rate.push(o.rate);
            q.push(o.dividend_yield);
            vol.push(model.vol(*i, o.vol, m, v));
            style.push(o.style);
        }
    }
    let batch = OptionBatch {
        kind: &kind,
        spot: &spot,
        strike: &strike,
        years: &years,
        rate: &rate,
        dividend_yield: &q,
        volatility: &vol,
        style: Some(&style),
    };
    let g = backend
        .greeks(&batch)
        .map_err(|e| RiskError::Input(format!("revaluation batch: {e}")))?;
    if let Some(i) = g.status.iter().position(|s| !s.is_ok()) {
        let (_, p, _) = &opts[i % opts.len()];
        let (m, v) = scen[i / opts.len()];
        return Err(RiskError::Input(format!(
            "cannot price the {} option at spot move {m:+} and vol shift {v:+}: {:?}",
            p.underlying, g.status[i]
        )));
    }
    Ok(g)
}

/// Exposures of the book.
///
/// # Errors
/// An empty book, a position without a valid spot, an option that cannot be priced.
pub fn exposures(book: &[BookPosition], backend: &Backend) -> Result<Exposures, RiskError> {
    check(book)?;
    let g = reprice(book, &[(0.0, 0.0)], backend)?;
    let mut k = 0;
    let mut positions = Vec::with_capacity(book.len());
    for p in book {
        let q = p.quantity;
        let s = p.spot;
        let e = match p.option {
            None => Exposure {
                value: q * s,
                delta: q,
                delta_dollars: q * s,
                ..Exposure::default()
            },
            Some(_) => {
                let e = Exposure {
                    value: q * g.price[k],
                    delta: q * g.delta[k],
                    gamma: q * g.gamma[k],
                    vega: q * g.vega[k],
                    theta: q * g.theta[k],
                    rho: q * g.rho[k],
                    delta_dollars: q * g.delta[k] * s,
                    dollar_gamma_1pct: q * g.gamma[k] * s * s / 100.0,
                    vega_per_point: q * g.vega[k] / 100.0,
                    theta_per_day: q * g.theta[k] / 365.0,
                };
                k += 1;
                e
            }
        };
        positions.push(e);
    }
    let mut by: std::collections::BTreeMap<String, Exposure> = Default::default();
    let mut total = Exposure::default();
    for (p, e) in book.iter().zip(&positions) {
        by.entry(p.underlying.clone()).or_default().add(e);
        total.add(e);
    }
    Ok(Exposures {
        positions,
        by_underlying: by.into_iter().collect(),
        total,
    })
}

/// The stress grid: `cells[i][j]` is the book's P&L (full revaluation) when every underlying
/// moves by `spot_moves[i]` and every IV by `vol_shifts[j]` (perfect correlation of the
/// moves; per-underlying grids come from calling it with one underlying's positions).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StressGrid {
    /// Relative spot moves.
    pub spot_moves: Vec<f64>,
    /// Absolute vol shifts.
    pub vol_shifts: Vec<f64>,
    /// P&L per cell.
    pub cells: Vec<Vec<f64>>,
    /// The worst cell (spot move, vol shift, P&L).
    pub worst: (f64, f64, f64),
    /// P&L of each position in the worst cell.
    pub worst_positions: Vec<f64>,
}

/// Computes the stress grid in one batch.
///
/// # Errors
/// As [`exposures`]; empty move or shift lists; a move of −100 % or worse.
pub fn stress_grid(
    book: &[BookPosition],
    spot_moves: &[f64],
    vol_shifts: &[f64],
    backend: &Backend,
) -> Result<StressGrid, RiskError> {
    stress_grid_with(
        book,
        spot_moves,
        vol_shifts,
        VolModel::StickyStrike,
        None,
        backend,
    )
}

/// [`stress_grid`] under a chosen [`VolModel`] and correlation assumption: with `move_scale`,
/// position `i`'s underlying moves by `m·move_scale[i]` in the row of move `m` (e.g. its beta
/// to a benchmark: the grid's moves are then the benchmark's, and each underlying follows by
/// its beta); without, every underlying moves by `m` (perfect correlation).
///
/// # Errors
/// As [`stress_grid`]; a scale slice of the wrong length or a scaled move of −100 % or worse;
/// a revalued option whose IV the model takes to zero or below.
pub fn stress_grid_with(
    book: &[BookPosition],
    spot_moves: &[f64],
    vol_shifts: &[f64],
    model: VolModel<'_>,
    move_scale: Option<&[f64]>,
    backend: &Backend,
) -> Result<StressGrid, RiskError> {
    if let Some(sc) = move_scale {
        if sc.len() != book.len() {
            return Err(RiskError::Input(format!(
                "{} move scales for {} positions",
                sc.len(),
                book.len()
            )));
        }
        for (i, f) in sc.iter().enumerate() {
            if let Some(m) = spot_moves
                .iter()
                .find(|m| !(f.is_finite() && **m * f > -1.0))
            {
                return Err(RiskError::Input(format!(
                    "position {i}: move {m} × scale {f} is not a move above −100 %"
                )));
            }
        }
    }
    check(book)?;
    if spot_moves.is_empty() || vol_shifts.is_empty() {
        return Err(RiskError::Input(
            "the stress grid needs spot moves and vol shifts".into(),
        ));
    }
    if let Some(m) = spot_moves.iter().find(|m| !(m.is_finite() && **m > -1.0)) {
        return Err(RiskError::Input(format!("spot move {m} must be > −100 %")));
    }
    if let Some(v) = vol_shifts.iter().find(|v| !v.is_finite()) {
        return Err(RiskError::Input(format!("vol shift {v} is not a number")));
    }
    // Scenario 0 is the base; then the grid in row-major order.
    let mut scen = vec![(0.0, 0.0)];
    for &m in spot_moves {
        for &v in vol_shifts {
            scen.push((m, v));
        }
    }
    let g = reprice_with(book, &scen, model, move_scale, backend)?;
    let nopt = book.iter().filter(|p| p.option.is_some()).count();
    let pos_pnl = |si: usize| -> Vec<f64> {
        let (m, _) = scen[si];
        let mut k = 0;
        book.iter()
            .enumerate()
            .map(|(i, p)| match p.option {
                None => p.quantity * p.spot * m * move_scale.map_or(1.0, |s| s[i]),
                Some(_) => {
                    let r = p.quantity * (g.price[si * nopt + k] - g.price[k]);
                    k += 1;
                    r
                }
            })
            .collect()
    };
    let mut cells = Vec::with_capacity(spot_moves.len());
    let mut worst = (0.0, 0.0, f64::INFINITY);
    let mut worst_si = 1;
    for (i, &m) in spot_moves.iter().enumerate() {
        let mut row = Vec::with_capacity(vol_shifts.len());
        for (j, &v) in vol_shifts.iter().enumerate() {
            let si = 1 + i * vol_shifts.len() + j;
            let pnl: f64 = pos_pnl(si).iter().sum();
            if pnl < worst.2 {
                worst = (m, v, pnl);
                worst_si = si;
            }
            row.push(pnl);
        }
        cells.push(row);
    }
    Ok(StressGrid {
        spot_moves: spot_moves.to_vec(),
        vol_shifts: vol_shifts.to_vec(),
        cells,
        worst,
        worst_positions: pos_pnl(worst_si),
    })
}

/// P&L explain of a move: the Taylor terms against the full revaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Explain {
    /// Δ·dS.
    pub delta: f64,
    /// ½Γ·dS².
    pub gamma: f64,
    /// vega·dσ.
    pub vega: f64,
    /// θ·dt.
    pub theta: f64,
    /// Full revaluation P&L.
    pub full: f64,
    /// full − (delta + gamma + vega + theta).
    pub unexplained: f64,
}

/// Explains the P&L of the book for a relative spot move `m`, a vol shift `dv` and `dt` years
/// passing (full revaluation with the time to expiry shortened by `dt`).
///
/// # Errors
/// As [`exposures`].
pub fn explain(
    book: &[BookPosition],
    m: f64,
    dv: f64,
    dt: f64,
    backend: &Backend,
) -> Result<Explain, RiskError> {
    let e = exposures(book, backend)?;
    let moved: Vec<BookPosition> = book
        .iter()
        .map(|p| BookPosition {
            spot: p.spot * (1.0 + m),
            option: p.option.map(|o| OptionTerms {
                years: o.years - dt,
                vol: o.vol + dv,
                ..o
            }),
            ..p.clone()
        })
        .collect();
    let after = exposures(&moved, backend)?;
    let mut d = 0.0;
    let mut gm = 0.0;
    for (p, x) in book.iter().zip(&e.positions) {
        let ds = p.spot * m;
        d += x.delta * ds;
        gm += 0.5 * x.gamma * ds * ds;
    }
    let full = after.total.value - e.total.value;
    let (vega, theta) = (e.total.vega * dv, e.total.theta * dt);
    Ok(Explain {
        delta: d,
        gamma: gm,
        vega,
        theta,
        full,
        unexplained: full - (d + gm + vega + theta),
    })
}
