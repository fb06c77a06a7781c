//! wheelhouse's bundled sample data: a **real** underlying history and a reproducible
//! **synthetic** option-chain generator.
//!
//! * [`embedded_history`] / [`load_quandl_daily`]: daily OHLCV of AAPL, GOOG, IBM and MSFT,
//!   2000-03-01 (GOOG 2004-08-19) to 2013-03-01, from the Quandl WIKI prices (public domain),
//!   with splits and cash dividends derived from the adjusted close.
//! * [`sample_rates`]: a **SYNTHETIC** risk-free curve following the US fed funds target.
//! * [`generate_chains`] / [`ChainGenerator`]: end-of-day option chains on the real closes.
//!   **The option quotes are generated, not observed**: a realized-vol-driven SSVI surface free
//!   of static arbitrage, American theoretical values, tick-rounded markets around them and
//!   simulated volume and open interest. Rows imported from them carry [`SOURCE_LABEL`].
//!
//! Generation is deterministic: every random draw is a hash of (seed, symbol, date, contract),
//! so any day or subset regenerates identically, in any order, on any number of threads.
//!
//! ```
//! use wheelhouse_sample::{ChainConfig, ChainGenerator, embedded_history, sample_rates};
//! let hist = embedded_history();
//! let rates = sample_rates(&hist);
//! let generator = ChainGenerator::new(&hist, &rates, &ChainConfig::default()).unwrap();
//! let chain = generator
//!     .generate_day("MSFT", jiff::civil::date(2013, 3, 1))
//!     .unwrap();
//! assert!(chain.iter().all(|q| q.underlying_price == 27.95 && q.ask > q.bid));
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod calendar;
mod chains;
mod error;
mod history;
mod rates;
mod rng;
mod surface;

pub use calendar::ExpiryKind;
pub use chains::{
    ChainConfig, ChainGenerator, DayModel, EARLY_EXERCISE_SKIP, MULTIPLIER, SOURCE_LABEL,
    SyntheticQuote, generate_chains, tick_size,
};
pub use error::SampleError;
pub use history::{
    EMBEDDED_PATH, FACTOR_NOISE, MAX_SPLIT_TERM, SPLIT_TOLERANCE, UnderlyingHistory,
    embedded_history, load_quandl_daily, parse_quandl_daily,
};
pub use rates::{SAMPLE_RATE_TENORS_YEARS, ZeroCurve, sample_rates};
pub use surface::{SmileSlice, SmileSurface};
