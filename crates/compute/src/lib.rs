//! The batch compute API of wheelhouse: struct-of-arrays in, all values plus a per-element
//! status out.
//!
//! A batch never fails as a whole because one element is bad: each element carries a
//! [`Status`]. Outputs are allocated once per batch, never per element. Work is split into
//! fixed-size chunks and spread over the CPU cores with rayon; every element is computed by the
//! same scalar code whatever the thread count, so results are bit-identical for 1 or N threads.
//!
//! This crate has the CPU backend; the CUDA backend joins it behind the same types later.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod batch;

pub use batch::{Backend, BatchError, CHUNK, GreeksBatch, IvBatch, IvInput, OptionBatch, Status};
