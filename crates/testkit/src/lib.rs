//! Test fixtures for wheelhouse: golden reference tables generated independently in high
//! precision (see `crates/testkit/data/README.md`) and loaders for them.
#![deny(missing_docs)]

pub mod chains;
pub mod golden;
pub mod hostcuda;
pub mod lattice;
pub mod random;
