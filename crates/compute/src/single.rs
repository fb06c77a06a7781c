//! The fp32 mode of price + Greeks: single-precision columns in and out.
//!
//! European price + Greeks is bound by memory traffic, so storing the columns in `f32` is what
//! makes it faster: half the bytes read and written. On a GPU the kernel (`bsm_greeks_f32` in
//! `kernels/greeks.cu`) computes in single precision; elsewhere, and for every element the
//! kernel leaves (invalid inputs, |d| > 12, non-finite outputs), the values are the fp64
//! reference's rounded to `f32` — the most accurate `f32` answer there is.
//!
//! # Accuracy
//! The fp32 kernel against the fp64 values of the same inputs, as |fp32 − fp64| ÷ (|fp64| +
//! 10⁻³·scale), the scales being S + K (price, theta), 1 (delta), 1/S (gamma), S√T (vega),
//! (S + K)·T (rho), 1/σ (vanna), S√T/σ (volga), 1/T (charm): at most 2.6e-5 on 10 M chain
//! quotes and 1.6e-4 over the whole domain (1-hour to 5-year expiries, σ 1–300 %) on an H200
//! (BENCHMARKS.md, 2026-12-03, fifth session); the tests hold it to 1e-3. Large |d| costs
//! the most: φ(d) and N(d) take the relative error of d times |d|. The CPU's values are the
//! fp64 ones rounded, within half an f32 ulp.
//!
//! # Speed
//! Resident on the device the fp32 kernel runs at 0.95 of its memory floor, 1.8× the fp64
//! kernel (53 G options/s on an H200); from host columns the copies dominate, so the
//! dispatcher sends fp32 host batches to the device only from 1 M options with at most 8 CPU
//! threads ([`crate::cuda::Accelerator::min_greeks_f32`]). On the CPU the mode costs about
//! 30 % more than fp64 (the widening and rounding).
//!
//! # Units
//! As [`crate::GreeksBatch`].

use rayon::prelude::*;

use crate::batch::Gathered;
use crate::{Backend, BatchError, GreeksBatch, Status};
use wheelhouse_pricing::OptionType;

/// The fp32 mode's error measure for one option and its nine columns (price first, as
/// [`GreeksBatchF32::columns`]): |fp32 − fp64| ÷ (|fp64| + 10⁻³·scale), the scales as in the
/// [module docs](self). `fp32` and `fp64` are the two values of each column; spot, strike,
/// years and volatility are the option's.
pub fn f32_errors(
    fp32: [f64; 9],
    fp64: [f64; 9],
    spot: f64,
    strike: f64,
    years: f64,
    volatility: f64,
) -> [f64; 9] {
    let (s, k, t, v) = (spot, strike, years, volatility);
    let scale = [
        s + k,
        1.0,
        1.0 / s,
        s * t.sqrt(),
        s + k,
        (s + k) * t,
        1.0 / v,
        s * t.sqrt() / v,
        1.0 / t,
    ];
    std::array::from_fn(|c| (fp32[c] - fp64[c]).abs() / (fp64[c].abs() + 1e-3 * scale[c]))
}

/// A batch of European options in single precision (see [`OptionBatch`] for the fields).
#[derive(Debug, Clone, Copy)]
pub struct OptionBatchF32<'a> {
    /// Call or put, per element.
    pub kind: &'a [OptionType],
    /// Spot prices.
    pub spot: &'a [f32],
    /// Strikes.
    pub strike: &'a [f32],
    /// Years to expiry.
    pub years: &'a [f32],
    /// Continuously compounded rates.
    pub rate: &'a [f32],
    /// Continuous dividend yields.
    pub dividend_yield: &'a [f32],
    /// Volatilities.
    pub volatility: &'a [f32],
}

impl OptionBatchF32<'_> {
    /// Number of elements, after checking every column has the same length.
    ///
    /// # Errors
    /// [`BatchError::LengthMismatch`] naming the first column of a different length.
    pub fn len(&self) -> Result<usize, BatchError> {
        let n = self.kind.len();
        for (column, got) in [
            ("spot", self.spot.len()),
            ("strike", self.strike.len()),
            ("years", self.years.len()),
            ("rate", self.rate.len()),
            ("dividend_yield", self.dividend_yield.len()),
            ("volatility", self.volatility.len()),
        ] {
            if got != n {
                return Err(BatchError::LengthMismatch {
                    column,
                    got,
                    expected: n,
                });
            }
        }
        Ok(n)
    }

    /// Whether the batch has no elements.
    pub fn is_empty(&self) -> bool {
        self.kind.is_empty()
    }
}

/// Prices and Greeks in single precision (the columns of [`GreeksBatch`]).
#[derive(Debug, Clone, Default)]
pub struct GreeksBatchF32 {
    /// Values (see [`wheelhouse_pricing::Greeks`] for the units).
    pub price: Vec<f32>,
    /// ∂V/∂S.
    pub delta: Vec<f32>,
    /// ∂²V/∂S².
    pub gamma: Vec<f32>,
    /// ∂V/∂σ per 1.00 vol.
    pub vega: Vec<f32>,
    /// ∂V/∂t per year.
    pub theta: Vec<f32>,
    /// ∂V/∂r per 1.00 rate.
    pub rho: Vec<f32>,
    /// ∂²V/∂S∂σ.
    pub vanna: Vec<f32>,
    /// ∂²V/∂σ².
    pub volga: Vec<f32>,
    /// ∂Δ/∂t per year.
    pub charm: Vec<f32>,
    /// Per-element outcome.
    pub status: Vec<Status>,
}

impl GreeksBatchF32 {
    /// The nine value columns, price first.
    pub fn columns(&self) -> [&[f32]; 9] {
        [
            &self.price,
            &self.delta,
            &self.gamma,
            &self.vega,
            &self.theta,
            &self.rho,
            &self.vanna,
            &self.volga,
            &self.charm,
        ]
    }

    /// The nine value columns, mutable, in the order of [`GreeksBatchF32::columns`].
    pub fn columns_mut(&mut self) -> [&mut Vec<f32>; 9] {
        [
            &mut self.price,
            &mut self.delta,
            &mut self.gamma,
            &mut self.vega,
            &mut self.theta,
            &mut self.rho,
            &mut self.vanna,
            &mut self.volga,
            &mut self.charm,
        ]
    }

    fn resize(&mut self, n: usize) {
        for c in self.columns_mut() {
            c.resize(n, f32::NAN);
        }
        self.status.resize(n, Status::Ok);
    }
}

/// Elements per CPU task of the fp64 reference (widened, computed, rounded).
const F32_CHUNK: usize = 4096;

impl Backend {
    /// Price + Greeks of a single-precision batch into `out` (resized; every element
    /// overwritten): on the accelerator in fp32 when there is one and the batch is large
    /// enough (or the device is forced), else the fp64 reference rounded to `f32`; elements
    /// the device leaves get the rounded reference too (see the [module docs](crate::single)).
    ///
    /// # Errors
    /// [`BatchError::LengthMismatch`]; element failures are in the statuses.
    pub fn greeks_f32_into(
        &self,
        batch: &OptionBatchF32<'_>,
        out: &mut GreeksBatchF32,
    ) -> Result<(), BatchError> {
        let n = batch.len()?;
        out.resize(n);
        let Some(left) = self.try_accelerated_greeks_f32(batch, out) else {
            // Every element: contiguous chunks on the pool, each widened, priced by the fp64
            // kernels and rounded straight into its slice of the outputs.
            let GreeksBatchF32 {
                price,
                delta,
                gamma,
                vega,
                theta,
                rho,
                vanna,
                volga,
                charm,
                status,
            } = out;
            let cols = [price, delta, gamma, vega, theta, rho, vanna, volga, charm];
            let mut col_chunks = cols.map(|c| c.chunks_mut(F32_CHUNK));
            let tasks: Vec<_> = status
                .chunks_mut(F32_CHUNK)
                .enumerate()
                .map(|(ci, st)| {
                    let cs = col_chunks
                        .each_mut()
                        .map(|it| it.next().unwrap_or_default());
                    (ci * F32_CHUNK, cs, st)
                })
                .collect();
            self.install(|| {
                tasks.into_par_iter().for_each(|(start, mut cs, st)| {
                    let idx: Vec<usize> = (start..start + st.len()).collect();
                    let g = self.reference_of(batch, &idx);
                    for (dst, src) in cs.iter_mut().zip(g.columns()) {
                        for (d, x) in dst.iter_mut().zip(src) {
                            *d = *x as f32;
                        }
                    }
                    st.clone_from_slice(&g.status);
                })
            });
            return Ok(());
        };
        // The elements the device left: the fp64 reference, chunk by chunk on the pool.
        let solved: Vec<(usize, [f32; 9], Status)> = self.install(|| {
            left.par_chunks(F32_CHUNK)
                .flat_map_iter(|idx| {
                    let g = self.reference_of(batch, idx);
                    let out: Vec<(usize, [f32; 9], Status)> = idx
                        .iter()
                        .enumerate()
                        .map(|(r, &i)| (i, g.columns().map(|c| c[r] as f32), g.status[r].clone()))
                        .collect();
                    out
                })
                .collect()
        });
        for (i, v, st) in solved {
            for (c, x) in out.columns_mut().into_iter().zip(v) {
                c[i] = x;
            }
            out.status[i] = st;
        }
        Ok(())
    }

    /// The fp64 price + Greeks of elements `idx` of `batch`, widened.
    fn reference_of(&self, batch: &OptionBatchF32<'_>, idx: &[usize]) -> GreeksBatch {
        let gathered = Gathered::new(
            batch.kind,
            [
                batch.spot,
                batch.strike,
                batch.years,
                batch.rate,
                batch.dividend_yield,
                batch.volatility,
            ],
            idx,
        );
        let mut g = GreeksBatch::default();
        self.greeks_reference(&gathered.batch(), &mut g);
        g
    }

    /// As [`Backend::greeks_f32_into`] into a new [`GreeksBatchF32`].
    ///
    /// # Errors
    /// As [`Backend::greeks_f32_into`].
    pub fn greeks_f32(&self, batch: &OptionBatchF32<'_>) -> Result<GreeksBatchF32, BatchError> {
        let mut out = GreeksBatchF32::default();
        self.greeks_f32_into(batch, &mut out)?;
        Ok(out)
    }

    /// The fp32 kernel on the accelerator when it takes the batch: `Some(elements left)`, the
    /// statuses of the others `Ok`; `None` to run the reference for every element.
    fn try_accelerated_greeks_f32(
        &self,
        batch: &OptionBatchF32<'_>,
        out: &mut GreeksBatchF32,
    ) -> Option<Vec<usize>> {
        let n = out.price.len();
        if n < crate::cuda::MIN_DEVICE_PATHS {
            return None;
        }
        let a = self.accel_for_f32(n)?;
        match a.greeks_f32(batch, out) {
            Ok(left) => {
                for s in out.status.iter_mut() {
                    *s = Status::Ok;
                }
                Some(left)
            }
            Err(why) => {
                self.count_fallback(a.as_ref(), &why);
                None
            }
        }
    }
}
