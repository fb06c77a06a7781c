//! The store's error type.

use std::path::PathBuf;

use thiserror::Error;

/// Errors of the store: opening, migrating, importing, querying, exporting.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// DuckDB reported an error.
    #[error("database: {0}")]
    Db(#[from] duckdb::Error),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The store was written by a newer wheelhouse than this one.
    #[error(
        "{path}: schema version {found} is newer than this wheelhouse supports ({supported}); upgrade wheelhouse"
    )]
    SchemaTooNew {
        /// The store file.
        path: PathBuf,
        /// Version in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// The input file is malformed as a whole (not a single bad row): missing column, wrong
    /// number of fields, truncated or corrupt data. Nothing was imported.
    #[error("{file}: {reason}")]
    MalformedFile {
        /// The file.
        file: String,
        /// What is wrong, naming the line/column where known.
        reason: String,
    },
    /// A configuration value is invalid.
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidConfig {
        /// The setting.
        field: &'static str,
        /// Its value.
        value: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The column-mapping file is invalid.
    #[error("mapping {file}: {reason}")]
    Mapping {
        /// The mapping file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A symbol with no data in the store.
    #[error("unknown symbol {symbol:?}: no {what} stored for it{hint}")]
    UnknownSymbol {
        /// The symbol asked for.
        symbol: String,
        /// What kind of data was looked for.
        what: &'static str,
        /// Known symbols, formatted as a hint (may be empty).
        hint: String,
    },
    /// No data matches the request.
    #[error("no data: {0}")]
    NotFound(String),
    /// Arrow or Parquet encoding/decoding failed.
    #[error("{context}: {message}")]
    Arrow {
        /// What was being done.
        context: String,
        /// The library's message.
        message: String,
    },
    /// The request is too large for the configured limits.
    #[error("request too large: {0}")]
    TooLarge(String),
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn malformed(file: &str, reason: impl Into<String>) -> Self {
        StoreError::MalformedFile {
            file: file.to_string(),
            reason: reason.into(),
        }
    }
}
