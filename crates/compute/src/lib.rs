//! The batch compute API of wheelhouse: struct-of-arrays in, all values plus a per-element
//! status out.
//!
//! A batch never fails as a whole because one element is bad: each element carries a
//! [`Status`]. Outputs are allocated once per batch, never per element. Work is split into
//! fixed-size chunks and spread over the CPU cores with rayon; every element's result depends
//! only on its own inputs, so results are bit-identical for 1 or N threads and any batch split.
//!
//! European prices + Greeks and European implied volatilities go through vector kernels
//! (AVX-512 or AVX2+FMA, chosen at run time with `is_x86_feature_detected!`; partial groups
//! padded; lanes with extreme inputs recomputed by the scalar reference). They agree with the
//! scalar f64 reference in `wheelhouse-pricing` to 1e-13·|value| + 1e-15·(largest term)
//! (Greeks) and within the IV accuracy bound, not bit for bit; other CPUs use the scalar
//! reference itself. American elements use the scalar Andersen–Lake–Offengenden engine
//! (batches holding them are split into small tasks, at least 8 per worker).
//!
//! [`Backend::greeks_into`] computes the price and all eight Greeks; [`Backend::first_order_into`]
//! the price and the first-order Greeks alone (delta, vega, theta, rho: the same values, the
//! second-order ones neither computed nor stored), for callers that need no more.
//!
//! CUDA: [`Backend::with_device`] adds a GPU (through `cudarc`, loaded at run time) for the
//! batches it has kernels for — the Monte Carlo P&L now — falling back to the CPU on any
//! error ([`cuda`]).
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod batch;
pub mod chain_risk;
pub mod cuda;
mod iv_simd;
pub mod mc;
pub mod philox;
mod simd;
pub mod single;

pub use batch::{
    Backend, BatchError, CHUNK, DeviceChoice, FirstOrderBatch, GreeksBatch, IvBatch, IvInput,
    OptionBatch, Scales, Status,
};
pub use chain_risk::{ChainBook, ChainBookColumns, ChainRisk};
pub use mc::{McBook, McJumps, McTail, TailRow, TailSpec};
pub use single::{GreeksBatchF32, OptionBatchF32};

/// Diagnostics: how many of `input`'s elements (all taken as European) the vectorised
/// implied-volatility kernel hands to the scalar solver, and the total. Not a stable API.
#[doc(hidden)]
pub fn iv_vector_fallbacks(input: &IvInput<'_>) -> (usize, usize) {
    iv_simd::count_fallbacks(input)
}
