//! The synthetic end-of-day option-chain generator.
//!
//! Everything random is drawn from a hash of `(seed, symbol, date, contract, stream)`
//! ([`crate::rng`]): a day, a symbol or the whole range regenerate bit for bit, in any order and
//! on any number of threads.

use jiff::civil::Date;
use rayon::prelude::*;
use wheelhouse_core::exchange_time::{close_instant, expiration_instant};
use wheelhouse_core::records::{BarInterval, OptionQuote, Rate};
use wheelhouse_core::{ExerciseStyle, OptionType, Settlement, UnixNanos, year_fraction_act365f};
use wheelhouse_pricing::BsmInputs;
use wheelhouse_pricing::american::{AmericanSettings, american_price};
use wheelhouse_pricing::black::bsm_price;
use wheelhouse_pricing::normal::norm_cdf;

use crate::SampleError;
use crate::calendar::{ExpiryKind, date_of, day_of, expirations};
use crate::history::{UnderlyingHistory, ny_date};
use crate::rates::{RateBook, ZeroCurve};
use crate::rng::{Key, poisson};
use crate::surface::SmileSurface;

/// Label attached to every imported row of the generated chains.
pub const SOURCE_LABEL: &str =
    "wheelhouse-sample synthetic chain (real underlying closes, generated quotes)";

/// Shares per contract of the generated (US equity) options.
pub const MULTIPLIER: f64 = 100.0;

// ---------------------------------------------------------------------------------------------
// Model constants (documented on `generate_chains`).

/// Trading days per year, for annualising daily returns.
const TRADING_DAYS: f64 = 252.0;
/// Weight of the 20-day realized variance in the short-end blend (the rest is 60-day).
const BLEND_20D: f64 = 0.6;
/// Implied vol = `VRP_MULT` × realized + `VRP_ADD` (the variance risk premium).
const VRP_MULT: f64 = 1.10;
/// See [`VRP_MULT`].
const VRP_ADD: f64 = 0.015;
/// Prior vol (annualised) standing in for missing returns at the start of a history.
const PRIOR_VOL: f64 = 0.35;
/// Fewer returns than this in a window are topped up with [`PRIOR_VOL`].
const MIN_RETURNS: usize = 10;
/// Mean-reversion speed of the ATM variance term structure, per year (half-life ≈ 2.8 months).
const KAPPA: f64 = 3.0;
/// Daily persistence of the AR(1) noise on log implied vol.
const NOISE_PERSISTENCE: f64 = 0.9;
/// Stationary standard deviation of that noise.
const NOISE_SD: f64 = 0.10;
/// Lags summed for the AR(1) noise (0.9^40 ≈ 1.5 %).
const NOISE_LAGS: usize = 40;
/// SSVI parameters: base skew, base curvature, curvature decay.
const RHO_BASE: f64 = -0.55;
const ETA_BASE: f64 = 0.65;
const GAMMA: f64 = 0.45;
/// Early-exercise premium bounds below this (per share) are treated as 0: the European price.
pub const EARLY_EXERCISE_SKIP: f64 = 1e-4;
/// Smallest half-width of a strike range in log moneyness (so a 1-day weekly has strikes).
const MIN_HALF_WIDTH: f64 = 0.05;
/// Half-width, in ATM standard deviations, of the fine near-the-money strikes of the monthly
/// expirations other than the front month within [`FINE_MAX_YEARS`] (the front month and the
/// weeklies have fine strikes over their whole range).
const FINE_SIGMAS: f64 = 1.0;
/// Monthly expirations beyond this get no fine strikes.
const FINE_MAX_YEARS: f64 = 0.5;
/// Closes at or above this are rejected (they would overflow the cent arithmetic of strikes
/// and ticks).
const MAX_PRICE: f64 = 1e9;
/// Largest number of strikes of one expiry (a guard against absurd inputs).
const MAX_STRIKES_PER_EXPIRY: usize = 1000;
/// Half-spread = `HALF_SPREAD_ABS + HALF_SPREAD_REL·theo·(liquidity multiplier)`.
const HALF_SPREAD_ABS: f64 = 0.02;
const HALF_SPREAD_REL: f64 = 0.007;
/// The theo entering the half-spread is capped at this fraction of the spot (deep in-the-money
/// options are quoted around their delta hedge, not their premium).
const HALF_SPREAD_THEO_CAP: f64 = 0.1;
/// Expected contracts traded per day per share of average daily stock volume, at $50.
const CONTRACTS_PER_SHARE: f64 = 0.004;

// Random streams of one contract.
const S_SPREAD: u64 = 0;
const S_VOL_MIX: u64 = 1;
const S_VOL: u64 = 2;
const S_OI_MIX: u64 = 3;
const S_OI: u64 = 4;
const S_LAST_A: u64 = 5;
const S_LAST_B: u64 = 6;
// Random streams of one symbol-day.
const S_DAY_VOL: u64 = 100;
const S_DAY_SKEW: u64 = 101;

/// What to generate.
///
/// The default is the 4 bundled symbols over the six months to 2013-03-01 (2012-09-04 ..
/// 2013-03-01: 122 trading days each, 488 snapshots), seed 20130301.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ChainConfig {
    /// Seed of every random draw.
    pub seed: u64,
    /// Underlying symbols, generated in this order.
    pub symbols: Vec<String>,
    /// First quote date (inclusive).
    pub from: Date,
    /// Last quote date (inclusive).
    pub to: Date,
    /// Weeklies are listed on quote dates from this one on (default 2011-01-01).
    pub weeklies_from: Date,
    /// Weekly expirations listed: the Fridays of the next this many weeks (default 5).
    pub weekly_count: u32,
    /// Monthly expirations within this many calendar days are listed (default 365).
    pub monthly_horizon_days: u32,
    /// Half-width of an expiry's strike range in ATM standard deviations `σ√T` of log
    /// moneyness (default 3.5).
    pub strike_range_sigmas: f64,
    /// Cap on that half-width, in log moneyness (default 1.0: strikes within e^{±1}·spot).
    pub max_log_moneyness: f64,
    /// Settings of the American engine (default [`AmericanSettings::FAST`]).
    pub american: AmericanSettings,
}

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig {
            seed: 20_130_301,
            symbols: ["AAPL", "GOOG", "IBM", "MSFT"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            from: jiff::civil::date(2012, 9, 1),
            to: jiff::civil::date(2013, 3, 1),
            weeklies_from: jiff::civil::date(2011, 1, 1),
            weekly_count: 5,
            monthly_horizon_days: 365,
            strike_range_sigmas: 3.5,
            max_log_moneyness: 1.0,
            american: AmericanSettings::FAST,
        }
    }
}

impl ChainConfig {
    fn validate(&self) -> Result<(), SampleError> {
        let bad = |field: &'static str, value: String, reason: &'static str| {
            Err(SampleError::InvalidConfig {
                field,
                value,
                reason,
            })
        };
        if self.from > self.to {
            return bad("from", self.from.to_string(), "after `to`");
        }
        if self.symbols.is_empty() {
            return bad("symbols", "[]".into(), "no symbols");
        }
        if self.weekly_count > 52 {
            return bad("weekly_count", self.weekly_count.to_string(), "at most 52");
        }
        if self.monthly_horizon_days > 3 * 366 {
            return bad(
                "monthly_horizon_days",
                self.monthly_horizon_days.to_string(),
                "at most 1098 (3 years)",
            );
        }
        let s = self.strike_range_sigmas;
        if !(s.is_finite() && s > 0.0 && s <= 10.0) {
            return bad("strike_range_sigmas", s.to_string(), "must be in (0, 10]");
        }
        let m = self.max_log_moneyness;
        if !(MIN_HALF_WIDTH..=3.0).contains(&m) {
            return bad("max_log_moneyness", m.to_string(), "must be in [0.05, 3]");
        }
        Ok(())
    }
}

/// The model state of one symbol on one day, from the history up to and including that day
/// (nothing later is used).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DayModel {
    /// Underlying symbol.
    pub symbol: String,
    /// Quote date.
    pub date: Date,
    /// Quote instant: the 16:00 New York close of `date`.
    pub quote_time: UnixNanos,
    /// Underlying close (unadjusted), the quotes' `underlying_price`.
    pub spot: f64,
    /// Continuous dividend yield `ln(1 + D₁₂/S)`, `D₁₂` the dividends with ex-dates in the last
    /// 365 days (split-adjusted to today's shares).
    pub dividend_yield: f64,
    /// Annualised close-to-close realized vol over 20 trading days (total returns).
    pub realized_vol_20d: f64,
    /// The same over 60 trading days.
    pub realized_vol_60d: f64,
    /// The same over 252 trading days.
    pub realized_vol_252d: f64,
    /// Average share volume of the last 20 sessions.
    pub share_volume_20d: f64,
    /// The day's implied-volatility surface.
    pub surface: SmileSurface,
    /// The day's zero curve.
    pub curve: ZeroCurve,
}

/// A generated quote with the model values behind it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SyntheticQuote {
    /// The quote as a vendor would publish it (vendor fields `None`).
    pub quote: OptionQuote,
    /// Theoretical value: American (ALO) where early exercise can matter, else
    /// Black–Scholes–Merton.
    pub theo: f64,
    /// The European (BSM) value with the same inputs.
    pub european: f64,
    /// The model implied volatility of the contract, `√(w(k, T)/T)`.
    pub volatility: f64,
    /// Time to expiry, ACT/365F years.
    pub years: f64,
    /// Forward `S·e^{(r−q)T}`.
    pub forward: f64,
    /// Zero rate for the expiry (continuous, decimal).
    pub rate: f64,
    /// Dividend yield (continuous, decimal).
    pub dividend_yield: f64,
    /// Log-forward moneyness `ln(K/F)`.
    pub log_moneyness: f64,
    /// Monthly or weekly listing.
    pub expiry_kind: ExpiryKind,
}

/// Daily series of one symbol, prepared once.
#[derive(Debug, Clone)]
struct Series {
    symbol: String,
    days: Vec<i64>,
    dates: Vec<Date>,
    close: Vec<f64>,
    volume: Vec<f64>,
    /// Total log return from the previous session (0 at index 0, never used).
    ret: Vec<f64>,
    /// (ex-day, amount), sorted.
    dividends: Vec<(i64, f64)>,
    /// (ex-day, ratio), sorted.
    splits: Vec<(i64, f64)>,
}

/// Generates synthetic chains from a history and a rate set (see [`generate_chains`]).
#[derive(Debug, Clone)]
pub struct ChainGenerator {
    cfg: ChainConfig,
    series: Vec<Series>,
    rates: RateBook,
}

impl ChainGenerator {
    /// Prepares the generator: validates `cfg` and the daily bars of its symbols.
    ///
    /// # Errors
    /// [`SampleError::InvalidConfig`], [`SampleError::UnknownSymbol`] (no daily bars),
    /// [`SampleError::InvalidBar`] (non-finite or non-positive close, negative volume, a
    /// repeated date, a bad split ratio or dividend).
    pub fn new(
        history: &UnderlyingHistory,
        rates: &[Rate],
        cfg: &ChainConfig,
    ) -> Result<Self, SampleError> {
        cfg.validate()?;
        let mut series = Vec::with_capacity(cfg.symbols.len());
        for sym in &cfg.symbols {
            if series.iter().any(|s: &Series| &s.symbol == sym) {
                return Err(SampleError::InvalidConfig {
                    field: "symbols",
                    value: sym.clone(),
                    reason: "listed twice",
                });
            }
            series.push(prepare_series(history, sym)?);
        }
        Ok(ChainGenerator {
            cfg: cfg.clone(),
            series,
            rates: RateBook::new(rates),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ChainConfig {
        &self.cfg
    }

    /// The trading days of `symbol` in the history (all of them, not only the configured
    /// range).
    ///
    /// # Errors
    /// [`SampleError::UnknownSymbol`] when `symbol` is not configured.
    pub fn trading_days(&self, symbol: &str) -> Result<&[Date], SampleError> {
        Ok(&self.series_of(symbol)?.dates)
    }

    /// The `(symbol, date)` snapshots of the configured range, in output order: by symbol in
    /// configuration order, then by date.
    pub fn snapshots(&self) -> Vec<(String, Date)> {
        let mut out = Vec::new();
        for s in &self.series {
            for &d in &s.dates {
                if d >= self.cfg.from && d <= self.cfg.to {
                    out.push((s.symbol.clone(), d));
                }
            }
        }
        out
    }

    fn series_of(&self, symbol: &str) -> Result<&Series, SampleError> {
        self.series
            .iter()
            .find(|s| s.symbol == symbol)
            .ok_or_else(|| SampleError::UnknownSymbol {
                symbol: symbol.to_owned(),
            })
    }

    /// The model state of `symbol` on trading day `date` (any trading day of the history).
    ///
    /// # Errors
    /// [`SampleError::UnknownSymbol`], [`SampleError::NotATradingDay`],
    /// [`SampleError::Rates`] (no rate on or before `date`), [`SampleError::Time`].
    pub fn day_model(&self, symbol: &str, date: Date) -> Result<DayModel, SampleError> {
        let s = self.series_of(symbol)?;
        let i = s
            .days
            .binary_search(&day_of(date))
            .map_err(|_| SampleError::NotATradingDay {
                symbol: symbol.to_owned(),
                date,
            })?;
        let quote_time = close_instant(date).map_err(|source| SampleError::Time {
            context: format!("close of {date}"),
            source,
        })?;
        let curve = self.rates.curve_at(quote_time).ok_or(SampleError::Rates {
            date,
            reason: "no rate observation on or before the quote date",
        })?;
        let spot = s.close[i];
        let v20 = realized_variance(&s.ret, i, 20);
        let v60 = realized_variance(&s.ret, i, 60);
        let v252 = realized_variance(&s.ret, i, 252);
        let blend = BLEND_20D * v20 + (1.0 - BLEND_20D) * v60;
        let key = Key::new(self.cfg.seed).with_str(symbol);

        // Persistent noise on the level: AR(1) built from hashed daily innovations.
        let mut noise = 0.0;
        let mut weight = 1.0;
        for j in 0..NOISE_LAGS.min(i + 1) {
            noise += weight * key.with(s.days[i - j] as u64).normal(S_DAY_VOL);
            weight *= NOISE_PERSISTENCE;
        }
        noise *= NOISE_SD * (1.0 - NOISE_PERSISTENCE * NOISE_PERSISTENCE).sqrt();

        let sigma_short = (VRP_MULT * blend.sqrt() + VRP_ADD) * noise.exp();
        let sigma_long = VRP_MULT * v252.sqrt() + VRP_ADD;
        // Calm (short vol below the long-run level) and selloff (20-day return in 20-day
        // sigmas, negative side) steepen the skew.
        let calm = ((sigma_long - sigma_short) / sigma_long).clamp(0.0, 1.0);
        let n20 = 20.min(i);
        let ret20: f64 = s.ret[i + 1 - n20..=i].iter().sum();
        let sd20 = (v20 * n20 as f64 / TRADING_DAYS).sqrt();
        let selloff = if sd20 > 0.0 {
            (-ret20 / sd20 / 2.5).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let day_key = key.with(s.days[i] as u64);
        let rho = (RHO_BASE - 0.25 * calm - 0.15 * selloff + 0.03 * day_key.normal(S_DAY_SKEW))
            .clamp(-0.9, -0.15);
        let eta_cap = 0.95 * 2.0 / (1.0 + rho.abs());
        let eta = (ETA_BASE * (1.0 + 0.35 * selloff + 0.3 * calm)).min(eta_cap);
        let surface = SmileSurface::new(
            (sigma_short * sigma_short).max(1e-4),
            (sigma_long * sigma_long).max(1e-4),
            KAPPA,
            rho,
            eta,
            GAMMA,
        )?;

        // Trailing-12-month dividends in today's shares.
        let today = s.days[i];
        let mut d12 = 0.0;
        for &(ex, amount) in &s.dividends {
            if ex > today - 365 && ex <= today {
                let later_splits: f64 = s
                    .splits
                    .iter()
                    .filter(|&&(sx, _)| sx > ex && sx <= today)
                    .map(|&(_, r)| r)
                    .product();
                d12 += amount / later_splits;
            }
        }
        let n_vol = 20.min(i + 1);
        let share_volume_20d = s.volume[i + 1 - n_vol..=i].iter().sum::<f64>() / n_vol as f64;
        Ok(DayModel {
            symbol: symbol.to_owned(),
            date,
            quote_time,
            spot,
            dividend_yield: (d12 / spot).ln_1p(),
            realized_vol_20d: v20.sqrt(),
            realized_vol_60d: v60.sqrt(),
            realized_vol_252d: v252.sqrt(),
            share_volume_20d,
            surface,
            curve,
        })
    }

    /// The end-of-day chain of `symbol` on trading day `date` (any trading day of the
    /// history), sorted by expiration, strike, then call before put.
    ///
    /// # Errors
    /// As [`ChainGenerator::day_model`], plus [`SampleError::Pricing`].
    pub fn generate_day(&self, symbol: &str, date: Date) -> Result<Vec<OptionQuote>, SampleError> {
        Ok(self
            .generate_day_detailed(symbol, date)?
            .into_iter()
            .map(|q| q.quote)
            .collect())
    }

    /// [`ChainGenerator::generate_day`] with each quote's model values (theo, vol, forward…).
    ///
    /// # Errors
    /// As [`ChainGenerator::generate_day`].
    pub fn generate_day_detailed(
        &self,
        symbol: &str,
        date: Date,
    ) -> Result<Vec<SyntheticQuote>, SampleError> {
        let m = self.day_model(symbol, date)?;
        let today = day_of(date);
        let weeklies = date >= self.cfg.weeklies_from;
        let expiries = expirations(
            today,
            i64::from(self.cfg.monthly_horizon_days),
            weeklies,
            self.cfg.weekly_count,
        );
        let front_monthly = expiries
            .iter()
            .find(|e| e.1 == ExpiryKind::Monthly)
            .map(|e| e.0);
        let key = Key::new(self.cfg.seed).with_str(symbol).with(today as u64);
        let q = m.dividend_yield;
        let s = m.spot;

        let mut pending: Vec<Pending> = Vec::new();
        for &(exp_day, kind) in &expiries {
            let Some(exp_date) = date_of(exp_day) else {
                continue;
            };
            let expiration = expiration_instant(exp_date, Settlement::Pm).map_err(|source| {
                SampleError::Time {
                    context: format!("expiration instant of {exp_date}"),
                    source,
                }
            })?;
            let years = year_fraction_act365f(m.quote_time, expiration).map_err(|source| {
                SampleError::Time {
                    context: format!("{symbol} {date}: time to {exp_date}"),
                    source,
                }
            })?;
            if years <= 0.0 {
                continue;
            }
            let r = m.curve.rate(years);
            let forward = s * ((r - q) * years).exp();
            let slice = m.surface.slice(years);
            let atm_sd = slice.theta.sqrt();
            let fine_sigmas = if kind == ExpiryKind::Weekly || Some(exp_day) == front_monthly {
                self.cfg.strike_range_sigmas
            } else if years <= FINE_MAX_YEARS {
                FINE_SIGMAS
            } else {
                0.0
            };
            let strikes = strike_grid(
                s,
                atm_sd,
                fine_sigmas,
                self.cfg.strike_range_sigmas,
                self.cfg.max_log_moneyness,
            );
            let exp_key = key.with(exp_day as u64);
            for strike_cents in strikes {
                let strike = strike_cents as f64 / 100.0;
                let k = (strike / forward).ln();
                let vol = (slice.total_variance(k) / years).sqrt();
                for option_type in [OptionType::Call, OptionType::Put] {
                    let inp = BsmInputs {
                        kind: option_type,
                        spot: s,
                        strike,
                        years,
                        rate: r,
                        dividend_yield: q,
                        volatility: vol,
                    };
                    let perr = |source| SampleError::Pricing {
                        symbol: symbol.to_owned(),
                        date,
                        expiry: exp_date,
                        strike,
                        option_type,
                        source,
                    };
                    let european = bsm_price(&inp).map_err(perr)?;
                    let theo = if early_exercise_matters(&inp) {
                        american_price(&inp, &self.cfg.american)
                            .map_err(perr)?
                            .max(european)
                    } else {
                        european
                    };
                    let z = k / atm_sd;
                    let otm = match option_type {
                        OptionType::Call => k > 0.0,
                        OptionType::Put => k < 0.0,
                    };
                    pending.push(Pending {
                        option_type,
                        expiration,
                        strike_cents,
                        theo,
                        european,
                        vol,
                        years,
                        forward,
                        rate: r,
                        k,
                        z,
                        kind,
                        weight: activity_weight(z, years, otm, strike_cents, kind),
                        key: exp_key
                            .with(strike_cents as u64)
                            .with(option_type.sign().to_bits()),
                    });
                }
            }
        }

        let total_weight: f64 = pending.iter().map(|p| p.weight).sum();
        let day_contracts =
            CONTRACTS_PER_SHARE * m.share_volume_20d * (s / 50.0).sqrt().clamp(0.5, 4.0);
        let mut out = Vec::with_capacity(pending.len());
        for p in pending {
            let lambda = if total_weight > 0.0 {
                day_contracts * p.weight / total_weight
            } else {
                0.0
            };
            out.push(p.into_quote(symbol, &m, lambda));
        }
        Ok(out)
    }

    /// Every snapshot of the configured range (see [`ChainGenerator::snapshots`]), days in
    /// parallel on the rayon pool, concatenated in snapshot order.
    ///
    /// # Errors
    /// The first error of any day, as [`ChainGenerator::generate_day`].
    pub fn generate(&self) -> Result<Vec<OptionQuote>, SampleError> {
        let days = self.snapshots();
        let per_day: Vec<Vec<OptionQuote>> = days
            .par_iter()
            .map(|(sym, d)| self.generate_day(sym, *d))
            .collect::<Result<_, _>>()?;
        let n = per_day.iter().map(Vec::len).sum();
        let mut out = Vec::with_capacity(n);
        for v in per_day {
            out.extend(v);
        }
        Ok(out)
    }
}

/// Generates the synthetic end-of-day option chains of `cfg.symbols` for every trading day of
/// `history` in `[cfg.from, cfg.to]`: **synthetic quotes on real underlying closes** (label
/// them [`SOURCE_LABEL`]).
///
/// Each snapshot is at the 16:00 New York close with `underlying_price` = that day's close.
///
/// # Model
/// * **Listings.** Monthly expirations (third Friday; the Thursday before when the Friday is
///   Good Friday) within `monthly_horizon_days`; from `weeklies_from` on, the Fridays of the
///   next `weekly_count` weeks (Thursday when the Friday is an exchange holiday). PM-settled,
///   American, multiplier 100. Strikes every $2.50 below $25, $5 to $200, $10 above, within
///   `±strike_range_sigmas·σ_ATM√T` of the spot in log moneyness (at least ±5 %, at most
///   `±max_log_moneyness`). Fine strikes — $0.50 below $5, $1 below $50, $2.50 below $200,
///   $5 above — over the whole range of the front month and the weeklies, and within ±1 σ√T
///   (at least ±3 %) for the other monthlies up to 6 months.
/// * **ATM level.** `σ_short = (1.10·σ_RV + 0.015)·e^{ε}`, `σ_RV² = 0.6·RV₂₀² + 0.4·RV₆₀²`
///   (annualised close-to-close total returns), ε an AR(1) noise (daily persistence 0.9,
///   sd 0.10); long-run `σ_∞ = 1.10·RV₂₅₂ + 0.015`. Implied exceeds realized on average (the
///   variance premium). Windows short of 10 returns are topped up with a 35 % prior.
/// * **Term structure and smile.** [`SmileSurface`]: ATM total variance of a variance
///   mean-reverting from `σ_short²` to `σ_∞²` at κ = 3/yr (inverted after shocks, upward in
///   calm), SSVI smile with γ = 0.45, `ρ = −0.55 − 0.25·calm − 0.15·selloff` (±0.03 noise,
///   clamped to [−0.9, −0.15]) and `η = 0.65·(1 + 0.35·selloff + 0.3·calm)` capped at
///   `0.95·2/(1+|ρ|)`, where `calm = (σ_∞ − σ_short)/σ_∞` clamped to [0, 1] and `selloff` is
///   the 20-day return's fall in 20-day sigmas / 2.5, clamped to [0, 1]: the skew steepens in
///   calm markets and after selloffs. No static arbitrage (see [`SmileSurface`]).
/// * **Carry.** Zero rate from `rates` (latest date on or before the quote date, linear in
///   tenor, flat outside); continuous dividend yield `ln(1 + D₁₂/S)` from the trailing
///   365 days of dividends.
/// * **Theo.** BSM with the contract's smile vol; the American ALO engine (`cfg.american`) for
///   puts and, when `q > 0`, calls, unless an upper bound on the early-exercise premium
///   (`∫₀ᵀ rK e^{−rt} Q(S_t ≤ K·min(1, r/q)) dt` for a put, calls by put–call symmetry) is
///   below [`EARLY_EXERCISE_SKIP`]. Calls with `q ≤ 0` are European-priced, which is exact.
/// * **Bid/ask.** Half-spread `h = (0.02 + 0.007·min(theo, 0.1·S)·L)·u`,
///   `L = min(1 + 0.06·z², 3)·(1 + 0.5T)` (`z` = log-forward moneyness in ATM sigmas: wider
///   away from the money and for longer expiries), `u` uniform in [0.85, 1.15], at least $0.01.
///   Bid = `theo − h` rounded down and ask = `theo + h` rounded up to the tick — $0.01 below
///   $3, $0.05 from $3 (the penny-pilot rule all four names followed) — so `bid < theo < ask`;
///   a negative bid becomes 0 (far out-of-the-money "zero bid" contracts).
/// * **Activity.** Expected contracts per symbol-day `0.004 × 20-day share volume × √(S/50)`
///   (the root clamped to [0.5, 4]), shared among contracts by `e^{−z²/1.125}` × (1 out of the
///   money, 0.35 in the money) × `(e^{−T/0.1} + 0.03)` × 1.5 on strikes that are multiples of
///   twice the standard increment × 1.3 for weeklies. Volume is Poisson around that with a
///   log-normal (σ = 1.2) mixing, so zero-volume contracts are common; open interest likewise
///   around `(5 + 60T)×` the expected volume. `last` is a price inside the market when the
///   contract traded, else missing (45 %) or a stale print (theo ± a few spreads). Vendor IV
///   and delta are `None`.
///
/// # Errors
/// As [`ChainGenerator::new`] and [`ChainGenerator::generate_day`].
pub fn generate_chains(
    history: &UnderlyingHistory,
    rates: &[Rate],
    cfg: &ChainConfig,
) -> Result<Vec<OptionQuote>, SampleError> {
    ChainGenerator::new(history, rates, cfg)?.generate()
}

// ---------------------------------------------------------------------------------------------

/// A priced contract waiting for its market.
#[derive(Debug, Clone)]
struct Pending {
    option_type: OptionType,
    expiration: UnixNanos,
    strike_cents: i64,
    theo: f64,
    european: f64,
    vol: f64,
    years: f64,
    forward: f64,
    rate: f64,
    k: f64,
    z: f64,
    kind: ExpiryKind,
    weight: f64,
    key: Key,
}

impl Pending {
    fn into_quote(self, symbol: &str, m: &DayModel, lambda: f64) -> SyntheticQuote {
        let theo = self.theo;
        let key = self.key;
        let liquidity = (1.0 + 0.06 * self.z * self.z).min(3.0) * (1.0 + 0.5 * self.years);
        let jitter = 0.85 + 0.3 * key.uniform(S_SPREAD);
        let quoted = theo.min(HALF_SPREAD_THEO_CAP * m.spot);
        let half = ((HALF_SPREAD_ABS + HALF_SPREAD_REL * quoted * liquidity) * jitter).max(0.01);
        let (bid, ask) = market(theo, half);

        let mix = (1.2 * key.normal(S_VOL_MIX) - 0.72).exp();
        let volume = poisson(lambda * mix, key.uniform(S_VOL));
        let oi_mean =
            lambda * (5.0 + 60.0 * self.years) * (0.6 * key.normal(S_OI_MIX) - 0.18).exp();
        let open_interest = poisson(oi_mean, key.uniform(S_OI));
        let last = if volume > 0 {
            let lo = if bid > 0.0 { bid } else { 0.01_f64.min(ask) };
            let x = lo + (ask - lo) * key.uniform(S_LAST_A);
            Some(((x * 100.0).round() / 100.0).clamp(lo, ask))
        } else if key.uniform(S_LAST_A) < 0.45 {
            None
        } else {
            // A stale print: theo give or take a few spreads.
            let stale = theo + 1.5 * (ask - bid) * key.normal(S_LAST_B);
            Some(((stale * 100.0).round() / 100.0).max(0.01))
        };
        SyntheticQuote {
            quote: OptionQuote {
                underlying: symbol.to_owned(),
                quote_time: m.quote_time,
                expiration: self.expiration,
                strike: self.strike_cents as f64 / 100.0,
                option_type: self.option_type,
                style: ExerciseStyle::American,
                settlement: Settlement::Pm,
                multiplier: MULTIPLIER,
                bid,
                ask,
                last,
                volume: Some(volume),
                open_interest: Some(open_interest),
                underlying_price: m.spot,
                vendor_iv: None,
                vendor_delta: None,
            },
            theo,
            european: self.european,
            volatility: self.vol,
            years: self.years,
            forward: self.forward,
            rate: self.rate,
            dividend_yield: m.dividend_yield,
            log_moneyness: self.k,
            expiry_kind: self.kind,
        }
    }
}

/// Price tick at level `x`: $0.01 below $3, $0.05 from $3.
pub fn tick_size(x: f64) -> f64 {
    if x < 3.0 { 0.01 } else { 0.05 }
}

/// Bid and ask around `theo` with half-spread `half > 0`, on the tick grid, with
/// `bid ≤ theo − half` (0 when that is negative) and `ask ≥ theo + half`. `theo` is below
/// `MAX_PRICE·e³` (spots are below `MAX_PRICE`, strikes within e³ of them), far from the
/// i64 cent range.
fn market(theo: f64, half: f64) -> (f64, f64) {
    let lo = theo - half;
    let bid = if lo <= 0.0 {
        0.0
    } else {
        let mut c = (lo * 100.0).floor() as i64;
        if c >= 300 {
            c -= c % 5;
        }
        // Guard against rounding of lo·100 up across a cent.
        while c > 0 && c as f64 / 100.0 > lo {
            c -= if c > 300 { 5 } else { 1 };
        }
        c.max(0) as f64 / 100.0
    };
    let hi = theo + half;
    let mut c = (hi * 100.0).ceil() as i64;
    if c > 300 {
        c += (5 - c % 5) % 5;
    }
    while (c as f64 / 100.0) < hi {
        c += if c >= 300 { 5 } else { 1 };
    }
    (bid, c.max(1) as f64 / 100.0)
}

/// Relative trading activity of a contract.
fn activity_weight(z: f64, years: f64, otm: bool, strike_cents: i64, kind: ExpiryKind) -> f64 {
    let moneyness = (-z * z / (2.0 * 0.75 * 0.75)).exp();
    let side = if otm { 1.0 } else { 0.35 };
    let term = (-years / 0.1).exp() + 0.03;
    let round = if strike_cents % (2 * base_increment_cents(strike_cents)) == 0 {
        1.5
    } else {
        1.0
    };
    let weekly = if kind == ExpiryKind::Weekly { 1.3 } else { 1.0 };
    moneyness * side * term * round * weekly
}

/// Whether the early-exercise premium can exceed [`EARLY_EXERCISE_SKIP`] (see
/// [`generate_chains`]); calls with `q ≤ 0` never exercise early.
fn early_exercise_matters(inp: &BsmInputs) -> bool {
    match inp.kind {
        OptionType::Put => {
            put_premium_bound(
                inp.spot,
                inp.strike,
                inp.rate,
                inp.dividend_yield,
                inp.volatility,
                inp.years,
            ) >= EARLY_EXERCISE_SKIP
        }
        OptionType::Call => {
            inp.dividend_yield > 0.0
                && put_premium_bound(
                    inp.strike,
                    inp.spot,
                    inp.dividend_yield,
                    inp.rate,
                    inp.volatility,
                    inp.years,
                ) >= EARLY_EXERCISE_SKIP
        }
    }
}

/// Upper bound of an American put's early-exercise premium under BSM.
///
/// # Formula
/// The premium is `∫₀ᵀ [rK e^{−rt} Q(S_t ≤ B) − qS e^{−qt} Q^S(S_t ≤ B)] dt` with the exercise
/// boundary `B ≤ X = K·min(1, r/q)`. Dropping the second (non-negative for q ≥ 0) term and
/// bounding `Q(S_t ≤ B) ≤ Q(S_t ≤ X) = Φ(z(t))`, `z(t) = (ln(X/S) − bt)/(σ√t)`,
/// `b = r − q − σ²/2`, the premium is at most `∫₀ᵀ rK e^{−rt} Φ(z(t)) dt`. For `X < S`, `z`
/// increases up to `t* = min(T, −ln(X/S)/b)` (`T` when `b ≤ 0`) and decreases after, so the
/// integral is bounded by `K(1 − e^{−rT})·Φ(z(t*))` and, tighter, by the upper Riemann sum on
/// 16 intervals (each factor at its maximum on the interval), which is what is returned.
/// Returns +∞ (never skip) outside `r > 0, q ≥ 0`, except 0 when `r ≤ 0 ≤ q` (exercise never
/// optimal).
fn put_premium_bound(s: f64, k: f64, r: f64, q: f64, sigma: f64, t: f64) -> f64 {
    const INTERVALS: u32 = 16;
    if r <= 0.0 {
        return if q >= 0.0 { 0.0 } else { f64::INFINITY };
    }
    if q < 0.0 {
        return f64::INFINITY;
    }
    let cap = k * -(-r * t).exp_m1();
    let x = if q > 0.0 { k * (r / q).min(1.0) } else { k };
    let a = (x / s).ln();
    if a >= 0.0 {
        return cap;
    }
    let b = r - q - 0.5 * sigma * sigma;
    let t_star = if b > 0.0 { (-a / b).min(t) } else { t };
    let z = |u: f64| (a - b * u) / (sigma * u.sqrt());
    let coarse = cap * norm_cdf(z(t_star));
    if coarse < EARLY_EXERCISE_SKIP {
        return coarse;
    }
    let h = t / f64::from(INTERVALS);
    let mut sum = 0.0;
    for i in 0..INTERVALS {
        let (ta, tb) = (f64::from(i) * h, f64::from(i + 1) * h);
        let z_max = if tb <= t_star {
            z(tb)
        } else if ta >= t_star {
            z(ta)
        } else {
            z(t_star)
        };
        sum += (-r * ta).exp() * norm_cdf(z_max);
    }
    (r * k * h * sum).min(coarse)
}

/// Standard strike increment at strike level `cents`: $2.50 below $25, $5 below $200, $10.
fn base_increment_cents(cents: i64) -> i64 {
    if cents < 2_500 {
        250
    } else if cents < 20_000 {
        500
    } else {
        1_000
    }
}

/// Fine increment (near the money, near expiries): $0.50 below $5, $1 below $50, $2.50 below
/// $200, $5 from $200.
fn fine_increment_cents(cents: i64) -> i64 {
    if cents < 500 {
        50
    } else if cents < 5_000 {
        100
    } else if cents < 20_000 {
        250
    } else {
        500
    }
}

/// Strikes (in cents) on the grid of `increment` within `[lo, hi]` (dollars).
fn grid(lo: f64, hi: f64, increment: fn(i64) -> i64, out: &mut Vec<i64>) {
    if !(lo.is_finite() && hi.is_finite() && hi >= lo && hi < 100.0 * MAX_PRICE) {
        return;
    }
    let lo_c = (lo * 100.0).ceil().max(1.0) as i64;
    let hi_c = (hi * 100.0).floor() as i64;
    let inc = increment(lo_c);
    let mut c = (lo_c + inc - 1) / inc * inc;
    let start = out.len();
    while c <= hi_c && out.len() - start < MAX_STRIKES_PER_EXPIRY {
        out.push(c);
        c += increment(c);
    }
}

/// The strikes (cents, sorted, unique, > 0) of one expiry: the standard grid within
/// `±sigmas·atm_sd` (clamped to `[MIN_HALF_WIDTH, max_half_width]`) of the spot in log
/// moneyness, plus the fine grid within `±fine_sigmas·atm_sd` (at least ±3 %, at most the
/// range) when `fine_sigmas > 0`.
fn strike_grid(
    spot: f64,
    atm_sd: f64,
    fine_sigmas: f64,
    sigmas: f64,
    max_half_width: f64,
) -> Vec<i64> {
    let width = (sigmas * atm_sd).clamp(MIN_HALF_WIDTH, max_half_width);
    let mut out = Vec::new();
    grid(
        spot * (-width).exp(),
        spot * width.exp(),
        base_increment_cents,
        &mut out,
    );
    if fine_sigmas > 0.0 {
        let fw = (fine_sigmas * atm_sd).clamp(0.03, width);
        grid(
            spot * (-fw).exp(),
            spot * fw.exp(),
            fine_increment_cents,
            &mut out,
        );
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Annualised realized variance of the `n` returns ending at index `i` (index 0 has none),
/// topped up with [`PRIOR_VOL`] when fewer than [`MIN_RETURNS`] exist.
fn realized_variance(ret: &[f64], i: usize, n: usize) -> f64 {
    let first = (i + 1).saturating_sub(n).max(1);
    let m = (i + 1).saturating_sub(first);
    let sum_sq: f64 = ret
        .get(first..=i)
        .map_or(0.0, |r| r.iter().map(|x| x * x).sum());
    let missing = MIN_RETURNS.saturating_sub(m);
    (TRADING_DAYS * sum_sq + missing as f64 * PRIOR_VOL * PRIOR_VOL) / m.max(MIN_RETURNS) as f64
}

/// Collects and validates the daily bars and corporate actions of `symbol`.
fn prepare_series(history: &UnderlyingHistory, symbol: &str) -> Result<Series, SampleError> {
    let mut bars: Vec<_> = history
        .bars
        .iter()
        .filter(|b| b.symbol == symbol && b.interval == BarInterval::Day)
        .collect();
    if bars.is_empty() {
        return Err(SampleError::UnknownSymbol {
            symbol: symbol.to_owned(),
        });
    }
    bars.sort_by_key(|b| b.ts);
    let invalid = |ts: UnixNanos, field: &'static str, value: f64, reason: &'static str| {
        SampleError::InvalidBar {
            symbol: symbol.to_owned(),
            ts_ns: ts.0,
            field,
            value,
            reason,
        }
    };
    let mut s = Series {
        symbol: symbol.to_owned(),
        days: Vec::with_capacity(bars.len()),
        dates: Vec::with_capacity(bars.len()),
        close: Vec::with_capacity(bars.len()),
        volume: Vec::with_capacity(bars.len()),
        ret: Vec::with_capacity(bars.len()),
        dividends: Vec::new(),
        splits: Vec::new(),
    };
    for b in &bars {
        if !(b.close.is_finite() && b.close > 0.0 && b.close < MAX_PRICE) {
            return Err(invalid(b.ts, "close", b.close, "must be > 0 and < 1e9"));
        }
        if !(b.volume.is_finite() && b.volume >= 0.0) {
            return Err(invalid(b.ts, "volume", b.volume, "must be finite and ≥ 0"));
        }
        let date = ny_date(b.ts)?;
        let day = day_of(date);
        if s.days.last() == Some(&day) {
            return Err(invalid(
                b.ts,
                "ts",
                b.ts.0 as f64,
                "two daily bars on one date",
            ));
        }
        s.days.push(day);
        s.dates.push(date);
        s.close.push(b.close);
        s.volume.push(b.volume);
    }
    for d in history.dividends.iter().filter(|d| d.symbol == symbol) {
        if !(d.amount.is_finite() && d.amount >= 0.0) {
            return Err(invalid(
                d.ex_date,
                "dividend amount",
                d.amount,
                "must be finite and ≥ 0",
            ));
        }
        s.dividends.push((day_of(ny_date(d.ex_date)?), d.amount));
    }
    for sp in history.splits.iter().filter(|x| x.symbol == symbol) {
        if !(sp.ratio.is_finite() && sp.ratio > 0.0) {
            return Err(invalid(
                sp.ex_date,
                "split ratio",
                sp.ratio,
                "must be finite and > 0",
            ));
        }
        s.splits.push((day_of(ny_date(sp.ex_date)?), sp.ratio));
    }
    s.dividends.sort_by_key(|x| x.0);
    s.splits.sort_by_key(|x| x.0);
    // Total log returns: ln((C_t + D_t)·s_t / C_{t−1}), actions with ex-day in (t−1, t].
    s.ret.push(0.0);
    for i in 1..s.days.len() {
        let (d0, d1) = (s.days[i - 1], s.days[i]);
        let div: f64 = s
            .dividends
            .iter()
            .filter(|x| x.0 > d0 && x.0 <= d1)
            .map(|x| x.1)
            .sum();
        let split: f64 = s
            .splits
            .iter()
            .filter(|x| x.0 > d0 && x.0 <= d1)
            .map(|x| x.1)
            .product();
        s.ret
            .push(((s.close[i] + div) * split / s.close[i - 1]).ln());
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markets_straddle_theo_on_ticks() {
        for &(theo, half) in &[
            (0.004, 0.02),
            (0.29, 0.01),
            (2.995, 0.02),
            (3.0, 0.02),
            (3.02, 0.01),
            (17.33, 0.2),
            (1e-30, 0.02),
            (0.0, 0.02),
        ] {
            let (bid, ask) = market(theo, half);
            assert!(bid <= theo - half || bid == 0.0, "{theo} {bid}");
            assert!(ask >= theo + half, "{theo} {ask}");
            assert!(ask > bid);
            for p in [bid, ask] {
                let cents = (p * 100.0).round();
                assert!((p * 100.0 - cents).abs() < 1e-9);
                if p > 3.0 {
                    assert_eq!(cents as i64 % 5, 0, "{p}");
                }
            }
        }
    }

    #[test]
    fn strike_grids() {
        // AAPL-like: $10 strikes, $5 near the money in the front month.
        let g = strike_grid(430.0, 0.1, 1.0, 3.5, 1.0);
        assert!(g.contains(&43_000) && g.contains(&43_500) && !g.contains(&43_250));
        assert_eq!(g.first(), Some(&31_000));
        assert!(!g.contains(&30_500) && !g.contains(&31_500));
        assert!(g.windows(2).all(|w| w[0] < w[1]));
        // Crossing $25 and $200.
        let g = strike_grid(60.0, 1.0, 0.0, 3.5, 1.5);
        assert!(
            g.contains(&1_500) && g.contains(&2_250) && g.contains(&2_500) && g.contains(&3_000)
        );
        assert!(g.contains(&19_500) && g.contains(&20_000) && g.contains(&21_000));
        assert!(!g.contains(&2_750) && !g.contains(&20_500));
        // Low-priced: $1 near the money.
        let g = strike_grid(27.95, 0.05, 1.0, 3.5, 1.0);
        assert!(g.contains(&2_700) && g.contains(&2_800) && g.contains(&2_900));
        assert!(g.iter().all(|&c| c > 0));
    }

    #[test]
    fn premium_bound_is_an_upper_bound() {
        let settings = AmericanSettings::ACCURATE;
        for &(s, k, r, q, v, t) in &[
            (100.0, 90.0, 0.05, 0.0, 0.3, 1.0),
            (100.0, 60.0, 0.05, 0.0, 0.3, 1.0),
            (100.0, 110.0, 0.002, 0.02, 0.3, 0.5),
            (100.0, 80.0, 0.002, 0.0, 0.2, 0.05),
            (100.0, 100.0, 0.06, 0.03, 0.4, 2.0),
        ] {
            let inp = BsmInputs {
                kind: OptionType::Put,
                spot: s,
                strike: k,
                years: t,
                rate: r,
                dividend_yield: q,
                volatility: v,
            };
            let prem = american_price(&inp, &settings).unwrap() - bsm_price(&inp).unwrap();
            let bound = put_premium_bound(s, k, r, q, v, t);
            assert!(
                prem <= bound + 1e-6 * k,
                "{inp:?}: premium {prem} bound {bound}"
            );
            let call = BsmInputs {
                kind: OptionType::Call,
                spot: k,
                strike: s,
                rate: q,
                dividend_yield: r,
                ..inp
            };
            let cprem = american_price(&call, &settings).unwrap() - bsm_price(&call).unwrap();
            assert!(cprem <= bound + 1e-6 * k, "{call:?}: {cprem} {bound}");
        }
    }

    #[test]
    fn realized_variance_tops_up_short_windows() {
        let ret = vec![0.0, 0.01, -0.01, 0.01];
        let v = realized_variance(&ret, 3, 20);
        let expect = (252.0 * 3e-4 + 7.0 * PRIOR_VOL * PRIOR_VOL) / 10.0;
        assert!((v - expect).abs() < 1e-12);
        assert_eq!(realized_variance(&ret, 0, 20), PRIOR_VOL * PRIOR_VOL);
    }
}
