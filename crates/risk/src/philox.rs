//! The counter-based random numbers of the risk engine: Philox4x32-10 and the normals drawn
//! from it, keyed by `(seed, path, step, factor)`. They live in `wheelhouse-compute` (the
//! Monte Carlo batches generate them there, on every device); re-exported here.

pub use wheelhouse_compute::philox::{
    inverse_normal, key_of, normal, normals, philox4x32_10, uniform_open,
};
