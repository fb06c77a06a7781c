//! Domain primitives shared by every wheelhouse crate.
//!
//! [`UnixNanos`], a nanosecond UTC timestamp; [`year_fraction_act365f`], the project's one day
//! count for time to expiry (fractional ACT/365F, never whole days); option contract terms
//! ([`OptionType`], [`ExerciseStyle`], [`Settlement`]); exchange-local instants
//! ([`exchange_time`]); and the canonical market-data records ([`records`]).
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

use thiserror::Error;

pub mod contract;
pub mod exchange_time;
pub mod records;

pub use contract::{ExerciseStyle, OptionType, Settlement};

/// Nanoseconds in one ACT/365F year.
pub const NANOS_PER_YEAR: f64 = 365.0 * 86_400.0 * 1e9;

/// Errors of the core crate.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The end instant is before the start instant.
    #[error("end {end} ns is before start {start} ns")]
    NegativeInterval {
        /// Start, ns since the Unix epoch.
        start: i64,
        /// End, ns since the Unix epoch.
        end: i64,
    },
    /// An impossible or out-of-range date or time.
    #[error("invalid date or time: {0}")]
    InvalidDate(String),
    /// The time-zone database could not resolve a zone.
    #[error("time zone: {0}")]
    TimeZone(String),
}

/// A UTC instant as nanoseconds since the Unix epoch.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct UnixNanos(pub i64);

impl UnixNanos {
    /// The instant `secs` seconds after the epoch.
    pub const fn from_secs(secs: i64) -> Self {
        UnixNanos(secs * 1_000_000_000)
    }

    /// Nanoseconds since the epoch.
    pub const fn as_i64(self) -> i64 {
        self.0
    }
}

/// Time from `start` to `end` in years, ACT/365F, fractional to the nanosecond.
///
/// # Units
/// Years of 365 days of 86 400 s; a 0DTE option one hour before expiry gets 1/8760, not 0 or 1
/// day.
///
/// # Errors
/// [`CoreError::NegativeInterval`] if `end < start`.
///
/// # Example
/// ```
/// use wheelhouse_core::{year_fraction_act365f, UnixNanos};
/// let t = year_fraction_act365f(UnixNanos::from_secs(0), UnixNanos::from_secs(3600)).unwrap();
/// assert!((t - 1.0 / 8760.0).abs() < 1e-18);
/// ```
pub fn year_fraction_act365f(start: UnixNanos, end: UnixNanos) -> Result<f64, CoreError> {
    if end.0 < start.0 {
        return Err(CoreError::NegativeInterval {
            start: start.0,
            end: end.0,
        });
    }
    // i128 so that the difference never overflows, then one rounding to f64.
    let ns = (end.0 as i128 - start.0 as i128) as f64;
    Ok(ns / NANOS_PER_YEAR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_year_and_one_day() {
        let d = 86_400i64;
        assert_eq!(
            year_fraction_act365f(UnixNanos::from_secs(0), UnixNanos::from_secs(365 * d)).unwrap(),
            1.0
        );
        let t =
            year_fraction_act365f(UnixNanos::from_secs(10), UnixNanos::from_secs(10 + d)).unwrap();
        assert!((t - 1.0 / 365.0).abs() < 1e-17);
    }

    #[test]
    fn negative_interval_is_an_error() {
        assert!(matches!(
            year_fraction_act365f(UnixNanos(5), UnixNanos(4)),
            Err(CoreError::NegativeInterval { .. })
        ));
    }

    #[test]
    fn extreme_instants_do_not_overflow() {
        let t = year_fraction_act365f(UnixNanos(i64::MIN), UnixNanos(i64::MAX)).unwrap();
        assert!(t > 584.0 && t < 585.0);
    }
}
