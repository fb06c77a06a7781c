//! A chain's risk in one call: the implied volatility of every quote, price + Greeks at it,
//! and a Monte Carlo run of a book whose option positions are quotes of that chain, valued
//! now and revalued at the horizon at those volatilities ([`Backend::chain_risk`]).
//!
//! On a GPU the chain goes through the pinned two-lane pipeline of [`Backend::iv_and_greeks_into`]
//! (per chunk, `bsm_iv` then `bsm_greeks` on its volatilities, which stay on the device between
//! the two); its outputs come back once, as the caller wants them anyway; the positions' few
//! volatilities and values are picked from them and go up with the book, whose run `mc_pnl`
//! and the tail kernels reduce on the device. (With `WHEELHOUSE_GPU_STAGING=0` the chain's
//! columns stay whole on the device and a kernel, `mc_book_from_chain`, gathers the positions'
//! values there; the pageable copies make that 1.4–1.7× slower: BENCHMARKS.md.) On the CPU it
//! is [`Backend::iv_and_greeks_into`], the book assembled from its outputs, then the
//! caller's Monte Carlo ([`ChainRisk::tail`] is `None`: run [`Backend::mc_pnl`] on
//! [`ChainBook::book`]). Either way a position's volatility is its quote's implied volatility
//! and its value now is the quote's model price at that volatility (the quote's price to the
//! solver's accuracy), so the P&L of a path starts from the market.

use crate::batch::check_lengths;
use crate::{Backend, BatchError, GreeksBatch, IvBatch, IvInput, McBook, McJumps, McTail, Status};
use crate::{TailSpec, cuda};
use wheelhouse_pricing::{ExerciseStyle, OptionType};

/// A book whose option positions are quotes of a chain, with the path model of [`McBook`].
#[derive(Debug, Clone, Copy)]
pub struct ChainBook<'a> {
    /// The chain (European quotes; an American one referenced by a position is an error).
    pub quotes: IvInput<'a>,
    /// Spot of each underlying now, > 0; a referenced quote's spot must be its underlying's
    /// (within 1e-12 relative).
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
    /// Option positions: the quote each one is (index into `quotes`).
    pub option_quote: &'a [usize],
    /// Option positions: underlying index.
    pub option_underlying: &'a [usize],
    /// Option positions: signed share-equivalent quantity (contracts × multiplier).
    pub option_quantity: &'a [f64],
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

/// The option columns of a [`ChainBook`]: the terms copied from the quotes, and each
/// position's implied volatility and value now as the run used them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChainBookColumns {
    /// Call or put.
    pub kind: Vec<OptionType>,
    /// Strike.
    pub strike: Vec<f64>,
    /// Years to expiry now.
    pub years: Vec<f64>,
    /// Rate.
    pub rate: Vec<f64>,
    /// Dividend yield.
    pub dividend_yield: Vec<f64>,
    /// The quote's implied volatility (before the run's shock).
    pub vol: Vec<f64>,
    /// The quote's model price at that volatility, per share.
    pub value_now: Vec<f64>,
}

/// What [`Backend::chain_risk`] returns besides the chain's outputs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChainRisk {
    /// The book's option columns as the run used them.
    pub columns: ChainBookColumns,
    /// The run reduced to its tail on a device; `None` when no device took it: run
    /// [`Backend::mc_pnl`] on [`ChainBook::book`] with [`ChainRisk::columns`].
    pub tail: Option<McTail>,
}

impl<'a> ChainBook<'a> {
    /// Checks the positions against the chain and copies their terms from the quotes
    /// (volatilities and values left at zero).
    pub(crate) fn terms(&self) -> Result<ChainBookColumns, BatchError> {
        let n = self.quotes.len()?;
        let no = self.option_quote.len();
        check_lengths(
            no,
            &[
                ("option_underlying", self.option_underlying.len()),
                ("option_quantity", self.option_quantity.len()),
            ],
        )?;
        let nu = self.spot.len();
        for (i, ((&s, &v), &d)) in self.spot.iter().zip(self.vol).zip(self.drift).enumerate() {
            if !(s > 0.0 && s.is_finite() && v >= 0.0 && v.is_finite() && d.is_finite()) {
                return Err(BatchError::Invalid(format!(
                    "underlying {i}: spot {s}, vol {v}, drift {d} (spot > 0, vol ≥ 0, all finite)"
                )));
            }
        }
        if !(self.vol_shock.is_finite() && self.vol_of_vol >= 0.0 && self.vol_of_vol.is_finite()) {
            return Err(BatchError::Invalid(format!(
                "vol shock {} / vol of vol {} (finite, vol of vol ≥ 0)",
                self.vol_shock, self.vol_of_vol
            )));
        }
        if let Some(j) = self.jumps
            && !j.is_valid()
        {
            return Err(BatchError::Invalid(format!("jump parameters {j:?}")));
        }
        let mut c = ChainBookColumns {
            kind: Vec::with_capacity(no),
            strike: Vec::with_capacity(no),
            years: Vec::with_capacity(no),
            rate: Vec::with_capacity(no),
            dividend_yield: Vec::with_capacity(no),
            vol: vec![0.0; no],
            value_now: vec![0.0; no],
        };
        for (o, (&q, &u)) in self
            .option_quote
            .iter()
            .zip(self.option_underlying)
            .enumerate()
        {
            if q >= n {
                return Err(BatchError::Invalid(format!(
                    "option position {o}: quote {q} of a chain of {n}"
                )));
            }
            let Some(&s) = self.spot.get(u) else {
                return Err(BatchError::Invalid(format!(
                    "option position {o}: underlying {u} of {nu}"
                )));
            };
            let qs = self.quotes.spot[q];
            let same = (qs - s).abs() <= 1e-12 * s.abs();
            if !same {
                return Err(BatchError::Invalid(format!(
                    "option position {o}: quote {q}'s spot {qs} is not underlying {u}'s {s}"
                )));
            }
            if self
                .quotes
                .style
                .is_some_and(|st| st[q] != ExerciseStyle::European)
            {
                return Err(BatchError::Invalid(format!(
                    "option position {o}: quote {q} is American (a chain run values European \
                     options)"
                )));
            }
            c.kind.push(self.quotes.kind[q]);
            c.strike.push(self.quotes.strike[q]);
            c.years.push(self.quotes.years[q]);
            c.rate.push(self.quotes.rate[q]);
            c.dividend_yield.push(self.quotes.dividend_yield[q]);
        }
        Ok(c)
    }

    /// The Monte Carlo book of these positions with `columns` (from [`ChainRisk::columns`]).
    pub fn book<'b>(&'b self, columns: &'b ChainBookColumns) -> McBook<'b>
    where
        'a: 'b,
    {
        McBook {
            spot: self.spot,
            vol: self.vol,
            drift: self.drift,
            cholesky: self.cholesky,
            stock_underlying: self.stock_underlying,
            stock_quantity: self.stock_quantity,
            option_underlying: self.option_underlying,
            option_kind: &columns.kind,
            option_strike: &columns.strike,
            option_years: &columns.years,
            option_rate: &columns.rate,
            option_dividend_yield: &columns.dividend_yield,
            option_vol: &columns.vol,
            option_quantity: self.option_quantity,
            option_value_now: &columns.value_now,
            american: false,
            seed: self.seed,
            steps: self.steps,
            dt: self.dt,
            vol_shock: self.vol_shock,
            vol_of_vol: self.vol_of_vol,
            jumps: self.jumps,
        }
    }
}

/// The error of a position whose quote has no implied volatility or price.
fn unsolved(o: usize, q: usize, status: &Status) -> BatchError {
    let why = match status {
        Status::Failed(e) => format!("{e}"),
        Status::Ok => "no value".into(),
    };
    BatchError::Invalid(format!(
        "option position {o}: quote {q} has no implied volatility ({why})"
    ))
}

impl Backend {
    /// The implied volatility of every quote of `chain.quotes` into `iv`, price + Greeks at
    /// it into `greeks` (as [`Backend::iv_and_greeks_into`]), and a Monte Carlo run of the
    /// book of `chain`, each option position valued at its quote's implied volatility (module
    /// notes). On a GPU [`ChainRisk::tail`] is the run's tail as [`Backend::mc_tail`] gives
    /// it; on the CPU, or after a device error (logged and counted; the CPU then solves the
    /// chain and the run may still go to the device as [`Backend::mc_tail`] sends it), `tail`
    /// is what [`Backend::mc_tail`] returns: `None` means the caller runs the paths. A chain
    /// with American quotes is solved on the CPU (the American engine), its run as above.
    ///
    /// # Errors
    /// Columns of different lengths, a position on a missing quote or underlying, a quote
    /// whose spot is not its underlying's, an American quote, a position whose quote has no
    /// implied volatility (its error), and what [`Backend::mc_tail`] refuses. On an error the
    /// chain's outputs may hold its volatilities and Greeks.
    pub fn chain_risk(
        &self,
        chain: &ChainBook<'_>,
        iv: &mut IvBatch,
        greeks: &mut GreeksBatch,
        paths: usize,
        spec: &TailSpec,
        progress: &mut dyn FnMut(u64),
    ) -> Result<ChainRisk, BatchError> {
        let mut columns = chain.terms()?;
        chain.book(&columns).check()?;
        if let Some((a, per_launch)) = self.chain_device(chain, paths) {
            let n = chain.quotes.len()?;
            iv.implied_volatility.resize(n, f64::NAN);
            iv.status.resize(n, Status::Ok);
            greeks.resize(n);
            match a.chain_risk(
                chain,
                &mut columns,
                iv,
                greeks,
                paths,
                spec,
                per_launch,
                progress,
            ) {
                Ok((flagged, tail)) => {
                    self.finish_chain_on_device(&chain.quotes, &flagged, iv, greeks);
                    if let Some(tail) = tail {
                        return Ok(ChainRisk {
                            columns,
                            tail: Some(tail),
                        });
                    }
                    // A position's quote has no volatility: the CPU's error for it.
                    for (o, &q) in chain.option_quote.iter().enumerate() {
                        if !iv.status[q].is_ok() {
                            return Err(unsolved(o, q, &iv.status[q]));
                        }
                        if !greeks.status[q].is_ok() {
                            return Err(unsolved(o, q, &greeks.status[q]));
                        }
                    }
                    self.count_fallback(a.as_ref(), "chain risk: no tail and no failed quote");
                }
                Err(why) => self.count_fallback(a.as_ref(), &why),
            }
        }
        self.iv_and_greeks_into(&chain.quotes, iv, greeks)?;
        for (o, &q) in chain.option_quote.iter().enumerate() {
            if !iv.status[q].is_ok() {
                return Err(unsolved(o, q, &iv.status[q]));
            }
            if !greeks.status[q].is_ok() {
                return Err(unsolved(o, q, &greeks.status[q]));
            }
            columns.vol[o] = iv.implied_volatility[q];
            columns.value_now[o] = greeks.price[q];
        }
        let tail = self.try_mc_tail(&chain.book(&columns), paths, spec, progress);
        Ok(ChainRisk { columns, tail })
    }

    /// The accelerator for a chain run of `paths` paths, with the paths per launch: where the
    /// Monte Carlo run goes to the device (the chain's quotes go with it however few: they
    /// are one upload and two launches), the device has the chain run, the chain is all
    /// European (the device's IV kernel is; the CPU values American quotes with the American
    /// engine) and the book within the Monte Carlo kernel's underlyings.
    fn chain_device(
        &self,
        chain: &ChainBook<'_>,
        paths: usize,
    ) -> Option<(&std::sync::Arc<dyn cuda::Accelerator>, usize)> {
        if chain.quotes.is_empty()
            || chain.spot.len() > cuda::MC_MAX_UNDERLYINGS
            || chain
                .quotes
                .style
                .is_some_and(|st| st.iter().any(|s| *s != ExerciseStyle::European))
        {
            return None;
        }
        self.paths_device(paths).filter(|(a, _)| a.has_chain_risk())
    }
}

/// A quote the device left to the CPU, solved as the CPU batch solves it: its implied
/// volatility and its model price there, or the element's failure.
pub(crate) fn solve_quote(quotes: &IvInput<'_>, q: usize) -> Result<(f64, f64), Status> {
    let (mut v, mut st) = (f64::NAN, Status::Ok);
    crate::iv_simd::scalar_into(quotes, q, &mut v, &mut st);
    if !st.is_ok() {
        return Err(st);
    }
    let e = quotes.at(q, v);
    wheelhouse_pricing::black::validate_bsm(&e).map_err(Status::failed)?;
    Ok((v, wheelhouse_pricing::black::bsm_greeks_unchecked(&e).price))
}
