//! Monte Carlo P&L of a book as one batch: correlated GBM paths (optional Merton jumps and a
//! market-wide vol-of-vol draw) from Philox normals, full revaluation of every option at the
//! horizon, P&L per path. The risk engine hands whole path ranges to
//! [`Backend::mc_pnl`](crate::Backend::mc_pnl); a GPU backend runs the same batch as one fused
//! kernel with the same Philox streams.
//!
//! # Model
//! Underlying `i`: `ln S_T = ln S_0 + (μᵢ − σᵢ²/2)·Δ·n + σᵢ√Δ·(L·Z)ᵢ + Jᵢ`, `Z_k = Σ_steps z_{k,t}`,
//! the sum over the `n` steps of the Philox normals of factor `k` (the diffusion is linear in
//! the normals, so correlating the sum is the same as correlating each step), `L` the Cholesky
//! factor of the correlation, `Δ` the step in years. Jumps: in every step a Poisson number
//! `N` (intensity λ·Δ, by inversion of the uniform of counter `(path, step, 2¹⁶ + i)`, words
//! 0–1) of jumps with log sizes `N(μ_J, σ_J²)` summed as `N·μ_J + √N·σ_J·z` (`z` from words
//! 2–3), and the compensator `−λ(e^{μ_J + σ_J²/2} − 1)Δ`. Vol of vol ν: each path scales every
//! option's volatility at the horizon by `exp(ν·z − ν²/2)`, `z` the first normal of counter
//! `(path, n, 2¹⁶)`. Options are revalued with their volatility plus the shock (times that
//! factor, floored at 1e-6), time to expiry less the horizon; an option that expires within
//! the horizon is worth its intrinsic value at the horizon.
//!
//! # Reproducibility
//! A path's P&L depends only on its index and the book: same bits for any thread count, block
//! split or first path, and for the AVX-512, AVX2 and scalar copies of the normal generator
//! (see [`crate::philox`]). The revaluation is the price-only vector kernel of
//! [`crate::Backend::greeks`] (within 1e-13 relative of the scalar reference).

// Lane code: loops over lane indices that address several arrays at once.
#![allow(clippy::needless_range_loop)]

use rayon::prelude::*;
use wheelhouse_pricing::american::american_price;
use wheelhouse_pricing::{BsmInputs, OptionType, PricingError};

use crate::batch::{Backend, BatchError, check_lengths};
use crate::philox::{
    inverse_normal, inverse_normal_buffer, key_of, normals, philox4x32_10, uniform_pair_16,
};
use crate::simd::{Level, McPriceIn, mc_prices};

/// Paths per work block (a multiple of the generator's lane count).
pub const MC_BLOCK: usize = 256;
/// Paths per lane group of the normal generator.
const LANES: usize = 16;

/// Merton jumps of every underlying (see the module notes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct McJumps {
    /// Expected jumps per year, ≥ 0.
    pub intensity: f64,
    /// Mean log jump.
    pub mean: f64,
    /// Standard deviation of the log jump, ≥ 0.
    pub sd: f64,
}

impl McJumps {
    /// Whether the parameters are usable: intensity and sd ≥ 0, all finite.
    pub fn is_valid(&self) -> bool {
        self.intensity >= 0.0
            && self.intensity.is_finite()
            && self.mean.is_finite()
            && self.sd >= 0.0
            && self.sd.is_finite()
    }
}

/// A book and a path model, as parallel columns. Quantities are signed share equivalents
/// (contracts × multiplier for options).
#[derive(Debug, Clone, Copy)]
pub struct McBook<'a> {
    /// Spot of each underlying now, > 0.
    pub spot: &'a [f64],
    /// Return volatility of each underlying, decimal.
    pub vol: &'a [f64],
    /// Drift of each underlying, continuous decimal per year.
    pub drift: &'a [f64],
    /// Lower-triangular Cholesky factor of the correlation, row-major `n × n`.
    pub cholesky: &'a [f64],
    /// Stock positions: underlying index.
    pub stock_underlying: &'a [usize],
    /// Stock positions: signed shares.
    pub stock_quantity: &'a [f64],
    /// Option positions: underlying index.
    pub option_underlying: &'a [usize],
    /// Option positions: call or put.
    pub option_kind: &'a [OptionType],
    /// Option positions: strike.
    pub option_strike: &'a [f64],
    /// Option positions: years to expiry now.
    pub option_years: &'a [f64],
    /// Option positions: rate.
    pub option_rate: &'a [f64],
    /// Option positions: dividend yield.
    pub option_dividend_yield: &'a [f64],
    /// Option positions: implied volatility now.
    pub option_vol: &'a [f64],
    /// Option positions: signed share-equivalent quantity.
    pub option_quantity: &'a [f64],
    /// Option positions: value now (per share), the P&L's base.
    pub option_value_now: &'a [f64],
    /// Value the options at the horizon with the backend's American engine setting instead of
    /// Black–Scholes–Merton.
    pub american: bool,
    /// Seed of the Philox streams.
    pub seed: u64,
    /// Steps to the horizon, ≥ 1.
    pub steps: u32,
    /// Years per step, > 0.
    pub dt: f64,
    /// Volatility added to every option's IV at the horizon (decimal).
    pub vol_shock: f64,
    /// Vol of vol ν ≥ 0 (0: off).
    pub vol_of_vol: f64,
    /// Optional jumps.
    pub jumps: Option<McJumps>,
}

impl McBook<'_> {
    pub(crate) fn check(&self) -> Result<(), BatchError> {
        let nu = self.spot.len();
        check_lengths(nu, &[("vol", self.vol.len()), ("drift", self.drift.len())])?;
        check_lengths(nu * nu, &[("cholesky", self.cholesky.len())])?;
        check_lengths(
            self.stock_underlying.len(),
            &[("stock_quantity", self.stock_quantity.len())],
        )?;
        check_lengths(
            self.option_underlying.len(),
            &[
                ("option_kind", self.option_kind.len()),
                ("option_strike", self.option_strike.len()),
                ("option_years", self.option_years.len()),
                ("option_rate", self.option_rate.len()),
                ("option_dividend_yield", self.option_dividend_yield.len()),
                ("option_vol", self.option_vol.len()),
                ("option_quantity", self.option_quantity.len()),
                ("option_value_now", self.option_value_now.len()),
            ],
        )?;
        let bad_index = self
            .stock_underlying
            .iter()
            .chain(self.option_underlying)
            .find(|&&u| u >= nu);
        if let Some(&u) = bad_index {
            return Err(BatchError::Invalid(format!(
                "position on underlying {u} of {nu}"
            )));
        }
        if self.steps == 0 || !(self.dt > 0.0 && self.dt.is_finite()) {
            return Err(BatchError::Invalid(format!(
                "{} steps of {} years",
                self.steps, self.dt
            )));
        }
        Ok(())
    }
}

/// Per-block work space, allocated once per worker task.
struct Scratch {
    /// Σ normals per factor for one lane group: `[factor][lane]`.
    zsum: Vec<[f64; LANES]>,
    /// The generator's buffers.
    gen_buf: GenBuf,
    /// Terminal spots `[underlying][path]`, path stride [`MC_BLOCK`].
    spot_u: Vec<f64>,
    /// Their logarithms, as generated.
    ln_spot_u: Vec<f64>,
    /// Vol-of-vol factor per path.
    vol_mult: Vec<f64>,
    /// Volatility per live option and path (option-major).
    vol: Vec<f64>,
    price: Vec<f64>,
    failures: Vec<(usize, PricingError)>,
}

/// The part of a Monte Carlo run that VaR and CVaR need, for [`Backend::mc_tail`]: the run's
/// largest losses and those of each of `batches` equal batches (the batch-means standard
/// errors).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TailSpec {
    /// VaR confidence α in (0, 1).
    pub confidence: f64,
    /// Batches of `paths / batches` paths whose own largest losses are kept too (0: none).
    pub batches: usize,
}

impl TailSpec {
    /// How many of the largest losses of `m` values VaR and CVaR read: VaR is the ⌈α·m⌉-th
    /// smallest loss (at least the first), CVaR averages it with the ones above.
    pub fn need(&self, m: usize) -> usize {
        if m == 0 {
            return 0;
        }
        let k = ((self.confidence * m as f64).ceil() as usize).clamp(1, m);
        m - k + 1
    }
}

/// A Monte Carlo run reduced on the device ([`Backend::mc_tail`]): its path count, the sum of
/// every path's P&L, and either its samples finished on the device (`rows`) or some of its
/// paths (`index`, `pnl`), in no particular order: for the run and for every batch, those kept
/// include every loss (`ℓ` = −P&L) of that sample above some level, at least
/// [`TailSpec::need`] of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct McTail {
    /// Paths in the run.
    pub paths: usize,
    /// Sum of every path's P&L.
    pub pnl_sum: f64,
    /// Paths the device kept for the tail (`index.len()` when they came back).
    pub kept: usize,
    /// Path index of each kept path (empty when `rows` is not).
    pub index: Vec<u64>,
    /// P&L of each kept path.
    pub pnl: Vec<f64>,
    /// The finish done on the device: one [`TailRow`] per batch of [`TailSpec::batches`]
    /// (when the batches have paths), then one for the whole run; empty when the host is to
    /// finish from `index` and `pnl`.
    pub rows: Vec<TailRow>,
}

/// One sample's VaR and the sum CVaR is made of, as a device computes them from its tail:
/// for `m` losses sorted ascending `ℓ(1) ≤ … ≤ ℓ(m)` and `k = ⌈α·m⌉` (at least 1), `var` is
/// `ℓ(k)` and `above` is `ℓ(k+1) + … + ℓ(m)` added one at a time in that order, starting from
/// Rust's empty `f64` sum — the additions of the host's own finish, so the same bits.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TailRow {
    /// `ℓ(k)`, the sample's VaR (money, loss positive).
    pub var: f64,
    /// The losses above it, summed in ascending order.
    pub above: f64,
}

impl Backend {
    /// A whole run of `paths` paths (0, 1, …) reduced on the accelerator to its tail
    /// ([`McTail`]), the P&L of every path staying on the device; `progress(paths done)` after
    /// each launch. `Ok(None)` when no accelerator takes the run (none, too few paths, an
    /// American book) or it failed (logged and counted): the caller then runs
    /// [`Backend::mc_pnl`] on the CPU.
    ///
    /// # Errors
    /// A bad book, as [`Backend::mc_pnl`].
    pub fn mc_tail(
        &self,
        book: &McBook<'_>,
        paths: usize,
        spec: &TailSpec,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Option<McTail>, BatchError> {
        book.check()?;
        Ok(self.try_mc_tail(book, paths, spec, progress))
    }

    /// P&L of `book` on paths `first_path .. first_path + out.len()`, into `out`.
    ///
    /// # Errors
    /// Columns of different lengths, a position on a missing underlying, no steps
    /// ([`BatchError::LengthMismatch`], [`BatchError::Invalid`]); an option that cannot be
    /// revalued on some path ([`BatchError::Revaluation`], the lowest such path).
    pub fn mc_pnl(
        &self,
        book: &McBook<'_>,
        first_path: u64,
        out: &mut [f64],
    ) -> Result<(), BatchError> {
        book.check()?;
        if self.try_accelerated(book, first_path, out) {
            return Ok(());
        }
        let nu = book.spot.len();
        let level = Level::detect();
        let no = book.option_underlying.len();
        let h = f64::from(book.steps) * book.dt;
        // Per underlying: ln S₀ + drift term, and σ√Δ.
        let base: Vec<f64> = (0..nu)
            .map(|i| {
                book.spot[i].ln()
                    + (book.drift[i] - 0.5 * book.vol[i] * book.vol[i])
                        * book.dt
                        * f64::from(book.steps)
            })
            .collect();
        let scale: Vec<f64> = book.vol.iter().map(|v| v * book.dt.sqrt()).collect();
        // Options alive at the horizon (revalued) and expired ones (intrinsic).
        let live: Vec<usize> = (0..no).filter(|&o| book.option_years[o] > h).collect();
        let american = self.american_settings();
        let first_error = self.install(|| {
            out.par_chunks_mut(MC_BLOCK)
                .enumerate()
                .map_init(
                    || Scratch {
                        zsum: vec![[0.0; LANES]; nu],
                        gen_buf: GenBuf::default(),
                        spot_u: vec![0.0; MC_BLOCK * nu],
                        ln_spot_u: vec![0.0; MC_BLOCK * nu],
                        vol_mult: vec![1.0; MC_BLOCK],
                        vol: Vec::with_capacity(MC_BLOCK * live.len()),
                        price: Vec::with_capacity(MC_BLOCK * live.len()),
                        failures: Vec::new(),
                    },
                    |scr, (bi, pnl)| {
                        let first = first_path + (bi * MC_BLOCK) as u64;
                        let m = pnl.len();
                        terminal_spots(level, book, &base, &scale, first, m, scr);
                        // Stocks.
                        pnl.fill(0.0);
                        for (&u, &q) in book.stock_underlying.iter().zip(book.stock_quantity) {
                            for (j, p) in pnl.iter_mut().enumerate() {
                                *p += q * (scr.spot_u[u * MC_BLOCK + j] - book.spot[u]);
                            }
                        }
                        // Expired options: intrinsic at the horizon.
                        for o in (0..no).filter(|&o| book.option_years[o] <= h) {
                            let (u, x) = (book.option_underlying[o], book.option_strike[o]);
                            for (j, p) in pnl.iter_mut().enumerate() {
                                let s = scr.spot_u[u * MC_BLOCK + j];
                                let v = match book.option_kind[o] {
                                    OptionType::Call => (s - x).max(0.0),
                                    OptionType::Put => (x - s).max(0.0),
                                };
                                *p += book.option_quantity[o] * (v - book.option_value_now[o]);
                            }
                        }
                        if live.is_empty() {
                            return None;
                        }
                        revalue(book, &live, h, &american, m, scr);
                        if let Some(&(idx, e)) = scr.failures.first() {
                            let (o, j) = (live[idx / m], idx % m);
                            return Some(BatchError::Revaluation {
                                path: first + j as u64,
                                position: o,
                                reason: e,
                            });
                        }
                        // Option-major columns: element o·m + j is live option o on path j.
                        for (k, &o) in live.iter().enumerate() {
                            let (q, v0) = (book.option_quantity[o], book.option_value_now[o]);
                            for (j, p) in pnl.iter_mut().enumerate() {
                                *p += q * (scr.price[k * m + j] - v0);
                            }
                        }
                        None
                    },
                )
                .filter_map(|e| e)
                .min_by_key(|e| match e {
                    BatchError::Revaluation { path, .. } => *path,
                    _ => u64::MAX,
                })
        });
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Terminal spots of paths `first .. first + m` into `scr.st`, and their vol-of-vol factors.
fn terminal_spots(
    level: Level,
    book: &McBook<'_>,
    base: &[f64],
    scale: &[f64],
    first: u64,
    m: usize,
    scr: &mut Scratch,
) {
    let nu = book.spot.len();
    let key = key_of(book.seed);
    for g in (0..m).step_by(LANES) {
        normal_sums(
            level,
            key,
            first + g as u64,
            book.steps,
            &mut scr.zsum,
            &mut scr.gen_buf,
        );
        for l in 0..LANES.min(m - g) {
            let j = g + l;
            let path = first + j as u64;
            for i in 0..nu {
                let row = &book.cholesky[i * nu..i * nu + i + 1];
                let mut e = 0.0;
                for (k, lik) in row.iter().enumerate() {
                    e += lik * scr.zsum[k][l];
                }
                let mut x = base[i] + scale[i] * e;
                if let Some(jp) = book.jumps {
                    x += jump_sum(book.seed, path, book.steps, i as u32, book.dt, jp);
                }
                scr.ln_spot_u[i * MC_BLOCK + j] = x;
                scr.spot_u[i * MC_BLOCK + j] = x.exp();
            }
            scr.vol_mult[j] = if book.vol_of_vol > 0.0 {
                let (z, _) = normals(book.seed, path, book.steps, 1 << 16);
                let nu2 = book.vol_of_vol;
                (nu2 * z - 0.5 * nu2 * nu2).exp()
            } else {
                1.0
            };
        }
    }
}

/// The log-price jump of underlying `i` summed over the steps of `path`, compensator included.
fn jump_sum(seed: u64, path: u64, steps: u32, i: u32, dt: f64, jp: McJumps) -> f64 {
    let lam = jp.intensity * dt;
    let kappa = (jp.mean + 0.5 * jp.sd * jp.sd).exp() - 1.0;
    let p0 = (-lam).exp();
    let mut x = 0.0;
    for step in 0..steps {
        let r = philox4x32_10(
            [path as u32, (path >> 32) as u32, step, (1 << 16) + i],
            key_of(seed),
        );
        let u = crate::philox::uniform_open(r[0], r[1]);
        // Poisson count by inversion.
        let (mut n, mut p, mut cdf) = (0u32, p0, p0);
        while u > cdf && n < 50 {
            n += 1;
            p *= lam / f64::from(n);
            cdf += p;
        }
        x -= jp.intensity * kappa * dt;
        if n > 0 {
            let z = inverse_normal(crate::philox::uniform_open(r[2], r[3]));
            x += f64::from(n) * jp.mean + f64::from(n).sqrt() * jp.sd * z;
        }
    }
    x
}

/// Σ over `steps` of the normals of every factor for the `LANES` paths from `first`.
fn normal_sums(
    level: Level,
    key: [u32; 2],
    first: u64,
    steps: u32,
    zsum: &mut [[f64; LANES]],
    g: &mut GenBuf,
) {
    match level {
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 if level.available() => {
            // SAFETY: the CPU supports every feature `sums_avx512` is compiled for (checked
            // just above by `available`).
            unsafe { sums_avx512(key, first, steps, zsum, g) }
        }
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 if level.available() => {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above by `available`).
            unsafe { sums_avx2(key, first, steps, zsum, g) }
        }
        _ => sums_body(key, first, steps, zsum, g),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
fn sums_avx512(key: [u32; 2], first: u64, steps: u32, zsum: &mut [[f64; LANES]], g: &mut GenBuf) {
    sums_body(key, first, steps, zsum, g);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn sums_avx2(key: [u32; 2], first: u64, steps: u32, zsum: &mut [[f64; LANES]], g: &mut GenBuf) {
    sums_body(key, first, steps, zsum, g);
}

#[inline(always)]
fn sums_body(key: [u32; 2], first: u64, steps: u32, zsum: &mut [[f64; LANES]], g: &mut GenBuf) {
    let p0: [u32; LANES] = std::array::from_fn(|l| (first + l as u64) as u32);
    let p1: [u32; LANES] = std::array::from_fn(|l| ((first + l as u64) >> 32) as u32);
    let nf = zsum.len();
    let pairs = nf.div_ceil(2);
    // Every uniform of the group: [step][pair][2 × LANES].
    g.z.resize(steps as usize * pairs * 2 * LANES, 0.0);
    for step in 0..steps as usize {
        for pair in 0..pairs {
            let at = (step * pairs + pair) * 2 * LANES;
            uniform_pair_16(
                key,
                &p0,
                &p1,
                step as u32,
                pair as u32,
                &mut g.z[at..at + 2 * LANES],
            );
        }
    }
    inverse_normal_buffer(&mut g.z, &mut g.tail_idx, &mut g.tail_u);
    // Σ over the steps in step order.
    for (f, acc) in zsum.iter_mut().enumerate() {
        *acc = [0.0; LANES];
        for step in 0..steps as usize {
            let at = (step * pairs + f / 2) * 2 * LANES + (f % 2) * LANES;
            for l in 0..LANES {
                acc[l] += g.z[at + l];
            }
        }
    }
}

/// Work space of the normal generator.
#[derive(Default)]
struct GenBuf {
    z: Vec<f64>,
    tail_idx: Vec<u32>,
    tail_u: Vec<f64>,
}

/// Values of the live options on the block's `m` paths into `scr.price` (option-major:
/// element `k·m + j` is live option `k` on path `j`).
fn revalue(
    book: &McBook<'_>,
    live: &[usize],
    h: f64,
    american: &wheelhouse_pricing::american::AmericanSettings,
    m: usize,
    scr: &mut Scratch,
) {
    let n = live.len() * m;
    scr.price.clear();
    scr.price.resize(n, 0.0);
    scr.failures.clear();
    scr.vol.clear();
    for &o in live {
        let v = book.option_vol[o] + book.vol_shock;
        scr.vol
            .extend(scr.vol_mult[..m].iter().map(|f| (v * f).max(1e-6)));
    }
    for (k, &o) in live.iter().enumerate() {
        let u = book.option_underlying[o];
        let r = k * m..(k + 1) * m;
        let paths = u * MC_BLOCK..u * MC_BLOCK + m;
        if book.american {
            for j in 0..m {
                let inp = BsmInputs {
                    kind: book.option_kind[o],
                    spot: scr.spot_u[paths.start + j],
                    strike: book.option_strike[o],
                    years: book.option_years[o] - h,
                    rate: book.option_rate[o],
                    dividend_yield: book.option_dividend_yield[o],
                    volatility: scr.vol[k * m + j],
                };
                match american_price(&inp, american) {
                    Ok(v) => scr.price[k * m + j] = v,
                    Err(e) => {
                        scr.price[k * m + j] = f64::NAN;
                        scr.failures.push((k * m + j, e));
                    }
                }
            }
        } else {
            let inp = McPriceIn {
                kind: book.option_kind[o],
                strike: book.option_strike[o],
                years: book.option_years[o] - h,
                rate: book.option_rate[o],
                dividend_yield: book.option_dividend_yield[o],
                spot: &scr.spot_u[paths.clone()],
                ln_spot: &scr.ln_spot_u[paths],
                vol: &scr.vol[r.clone()],
            };
            let before = scr.failures.len();
            mc_prices(&inp, &mut scr.price[r], &mut scr.failures);
            // Failure indices into the option-major columns.
            for f in &mut scr.failures[before..] {
                f.0 += k * m;
            }
        }
    }
    // Lowest path first, then lowest option.
    scr.failures.sort_by_key(|f| (f.0 % m, f.0 / m));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::philox::normal;

    fn book_parts() -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
        // Two underlyings, correlation 0.5.
        let r = 0.5f64;
        (
            vec![100.0, 50.0],
            vec![0.2, 0.35],
            vec![0.05, 0.0],
            vec![1.0, 0.0, r, (1.0 - r * r).sqrt()],
        )
    }

    /// A path's terminal spots are the model's formula on the scalar normals, and its P&L the
    /// positions' revaluations; blocks, first path and thread count do not change a bit.
    #[test]
    fn pnl_is_the_model_on_scalar_normals_and_independent_of_the_split() {
        let (spot, vol, drift, chol) = book_parts();
        let kind = [OptionType::Put, OptionType::Call, OptionType::Put];
        let strike = [95.0, 55.0, 100.0];
        let years = [0.25, 0.5, 0.05];
        let rate = [0.03; 3];
        let q = [0.01, 0.0, 0.01];
        let ov = [0.25, 0.4, 0.22];
        let oq = [-100.0, 200.0, -100.0];
        let v0 = [2.0, 3.0, 1.0];
        let book = McBook {
            spot: &spot,
            vol: &vol,
            drift: &drift,
            cholesky: &chol,
            stock_underlying: &[0],
            stock_quantity: &[100.0],
            option_underlying: &[0, 1, 0],
            option_kind: &kind,
            option_strike: &strike,
            option_years: &years,
            option_rate: &rate,
            option_dividend_yield: &q,
            option_vol: &ov,
            option_quantity: &oq,
            option_value_now: &v0,
            american: false,
            seed: 11,
            steps: 21,
            dt: 1.0 / 252.0,
            vol_shock: 0.01,
            vol_of_vol: 0.3,
            jumps: Some(McJumps {
                intensity: 3.0,
                mean: -0.05,
                sd: 0.1,
            }),
        };
        let b1 = Backend::cpu(Some(1)).unwrap();
        let b2 = Backend::cpu(Some(2)).unwrap();
        let mut a = vec![0.0; 1000];
        b1.mc_pnl(&book, 0, &mut a).unwrap();
        let mut b = vec![0.0; 1000];
        b2.mc_pnl(&book, 0, &mut b).unwrap();
        let mut c = vec![0.0; 1000 - 37];
        b2.mc_pnl(&book, 37, &mut c).unwrap();
        for j in 0..1000 {
            assert_eq!(a[j].to_bits(), b[j].to_bits(), "path {j}");
            if j >= 37 {
                assert_eq!(a[j].to_bits(), c[j - 37].to_bits(), "path {j}");
            }
        }
        // Path 123 by hand.
        let path = 123u64;
        let h = 21.0 / 252.0;
        let mut st = [0.0; 2];
        let zs: Vec<f64> = (0..2)
            .map(|k| (0..21).map(|t| normal(11, path, t, k)).sum())
            .collect();
        for i in 0..2 {
            let e: f64 = (0..=i).map(|k| chol[i * 2 + k] * zs[k]).sum();
            let mut x = spot[i].ln()
                + (drift[i] - 0.5 * vol[i] * vol[i]) * (1.0 / 252.0) * 21.0
                + vol[i] * (1.0f64 / 252.0).sqrt() * e;
            x += jump_sum(11, path, 21, i as u32, 1.0 / 252.0, book.jumps.unwrap());
            st[i] = x.exp();
        }
        let z = normal(11, path, 21, 1 << 17);
        let f = (0.3 * z - 0.5 * 0.09).exp();
        let mut want = 100.0 * (st[0] - 100.0);
        for o in 0..3 {
            let s = st[book.option_underlying[o]];
            let v = if years[o] <= h {
                (strike[o] - s).max(0.0)
            } else {
                wheelhouse_pricing::black::bsm_price(&BsmInputs {
                    kind: kind[o],
                    spot: s,
                    strike: strike[o],
                    years: years[o] - h,
                    rate: rate[o],
                    dividend_yield: q[o],
                    volatility: (ov[o] + 0.01) * f,
                })
                .unwrap()
            };
            want += oq[o] * (v - v0[o]);
        }
        let got = a[path as usize];
        assert!(
            (got - want).abs() <= 1e-9 * (1.0 + want.abs()),
            "{got} vs {want}"
        );
    }

    #[test]
    fn every_level_generates_the_same_sums() {
        let key = key_of(5);
        let mut want = vec![[0.0; LANES]; 7];
        sums_body(key, (1 << 32) - 5, 21, &mut want, &mut GenBuf::default());
        for level in [Level::Avx2, Level::Avx512] {
            if !level.available() {
                continue;
            }
            let mut got = vec![[0.0; LANES]; 7];
            normal_sums(
                level,
                key,
                (1 << 32) - 5,
                21,
                &mut got,
                &mut GenBuf::default(),
            );
            for (g, w) in got.iter().zip(&want) {
                for l in 0..LANES {
                    assert_eq!(g[l].to_bits(), w[l].to_bits(), "{level:?}");
                }
            }
        }
        // Lane l of the group is path first + l, factor k the sum of its scalar normals.
        let path = (1u64 << 32) - 5 + 9;
        let s: f64 = (0..21).map(|t| normal(5, path, t, 6)).sum();
        assert_eq!(want[6][9].to_bits(), s.to_bits());
    }

    #[test]
    fn bad_books_are_refused() {
        let (spot, vol, drift, chol) = book_parts();
        let mut book = McBook {
            spot: &spot,
            vol: &vol,
            drift: &drift,
            cholesky: &chol,
            stock_underlying: &[2],
            stock_quantity: &[1.0],
            option_underlying: &[],
            option_kind: &[],
            option_strike: &[],
            option_years: &[],
            option_rate: &[],
            option_dividend_yield: &[],
            option_vol: &[],
            option_quantity: &[],
            option_value_now: &[],
            american: false,
            seed: 1,
            steps: 1,
            dt: 1.0 / 252.0,
            vol_shock: 0.0,
            vol_of_vol: 0.0,
            jumps: None,
        };
        let b = Backend::cpu(Some(1)).unwrap();
        let mut out = vec![0.0; 10];
        assert!(matches!(
            b.mc_pnl(&book, 0, &mut out),
            Err(BatchError::Invalid(_))
        ));
        book.stock_underlying = &[1];
        book.cholesky = &chol[..3];
        assert!(matches!(
            b.mc_pnl(&book, 0, &mut out),
            Err(BatchError::LengthMismatch { .. })
        ));
        book.cholesky = &chol;
        b.mc_pnl(&book, 0, &mut out).unwrap();
        // An option that cannot be revalued (negative strike) names its path and position.
        book.option_underlying = &[0];
        book.option_kind = &[OptionType::Call];
        book.option_strike = &[-1.0];
        book.option_years = &[1.0];
        book.option_rate = &[0.0];
        book.option_dividend_yield = &[0.0];
        book.option_vol = &[0.2];
        book.option_quantity = &[1.0];
        book.option_value_now = &[1.0];
        match b.mc_pnl(&book, 5, &mut out) {
            Err(BatchError::Revaluation { path, position, .. }) => {
                assert_eq!((path, position), (5, 0));
            }
            other => panic!("{other:?}"),
        }
    }
}
