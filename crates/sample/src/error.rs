//! The one error type of the sample crate.

use std::path::PathBuf;

use jiff::civil::Date;
use thiserror::Error;
use wheelhouse_core::{CoreError, OptionType};
use wheelhouse_pricing::PricingError;

/// Why a history could not be loaded or a chain could not be generated.
///
/// Loader variants name the file (a path, or `embedded:<path>` for the bundled copy), the
/// 1-based line of the CSV record and the field.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SampleError {
    /// The file could not be opened or read.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The CSV layer failed (bad quoting, invalid UTF-8, a record with the wrong field count).
    #[error("{file}:{line}: {source}", line = line.map_or_else(|| "?".to_owned(), |l| l.to_string()))]
    Csv {
        /// The file.
        file: String,
        /// 1-based line of the record, when the CSV reader knows it.
        line: Option<u64>,
        /// The CSV error.
        source: csv::Error,
    },
    /// A required column is absent from the header.
    #[error(
        "{file}: missing column {column:?} (expected Ticker,Date,Open,High,Low,Close,Volume,Adj Close)"
    )]
    MissingColumn {
        /// The file.
        file: String,
        /// The column name.
        column: &'static str,
    },
    /// A field could not be parsed or is outside its domain.
    #[error("{file}:{line}: field {field:?} = {value:?}: {reason}")]
    Field {
        /// The file.
        file: String,
        /// 1-based line of the record.
        line: u64,
        /// The column name.
        field: &'static str,
        /// The text found.
        value: String,
        /// What was expected.
        reason: &'static str,
    },
    /// The same symbol and date appear twice.
    #[error("{file}:{line}: {symbol} {date} appears more than once")]
    DuplicateDate {
        /// The file.
        file: String,
        /// 1-based line of the second occurrence.
        line: u64,
        /// The symbol.
        symbol: String,
        /// The repeated date.
        date: Date,
    },
    /// The adjustment factor `AdjClose/Close` changes by a ratio that is neither a split of
    /// small integers nor a cash dividend below half the price.
    #[error(
        "{file}:{line}: {symbol} {date}: adjustment factor ratio f(t-1)/f(t) = {ratio} is neither a split nor a cash dividend"
    )]
    UnexplainedAdjustment {
        /// The file.
        file: String,
        /// 1-based line of day `t`.
        line: u64,
        /// The symbol.
        symbol: String,
        /// Day `t`.
        date: Date,
        /// `f(t-1)/f(t)`.
        ratio: f64,
    },
    /// A history handed to the generator holds an unusable bar.
    #[error("{symbol} bar at {ts_ns} ns: {field} = {value}: {reason}")]
    InvalidBar {
        /// The symbol.
        symbol: String,
        /// The bar's timestamp, ns since the epoch.
        ts_ns: i64,
        /// The offending field.
        field: &'static str,
        /// Its value.
        value: f64,
        /// What was expected.
        reason: &'static str,
    },
    /// A configuration value is out of range.
    #[error("config {field} = {value}: {reason}")]
    InvalidConfig {
        /// The field of [`ChainConfig`](crate::ChainConfig).
        field: &'static str,
        /// Its value, formatted.
        value: String,
        /// What is allowed.
        reason: &'static str,
    },
    /// A requested symbol has no daily bars in the history.
    #[error("symbol {symbol:?} has no daily bars in the history")]
    UnknownSymbol {
        /// The symbol.
        symbol: String,
    },
    /// A requested date is not one of the symbol's trading days in the history.
    #[error("{symbol}: {date} is not a trading day of the history")]
    NotATradingDay {
        /// The symbol.
        symbol: String,
        /// The date.
        date: Date,
    },
    /// No rate observation on or before the quote date, or an unusable one.
    #[error("rates: {reason} (quote date {date})")]
    Rates {
        /// The quote date.
        date: Date,
        /// What is wrong.
        reason: &'static str,
    },
    /// A date or time conversion failed.
    #[error("{context}: {source}")]
    Time {
        /// What was being converted.
        context: String,
        /// The core error.
        source: CoreError,
    },
    /// The pricing engine rejected a contract.
    #[error("{symbol} {date}: {kind} strike {strike} expiring {expiry}: {source}", kind = option_type.as_str())]
    Pricing {
        /// The symbol.
        symbol: String,
        /// The quote date.
        date: Date,
        /// The expiration date.
        expiry: Date,
        /// The strike.
        strike: f64,
        /// Call or put.
        option_type: OptionType,
        /// The pricing error.
        source: PricingError,
    },
}
