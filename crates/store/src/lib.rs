//! The wheelhouse market-data store: one embedded DuckDB file.
//!
//! - [`Store::open`] creates or opens the file and runs the schema migrations ([`schema`]).
//! - [`Store::import_file`] imports canonical or mapped CSV/Parquet files atomically and
//!   idempotently, with a report of every rejected row ([`import`], layouts in [`spec`]).
//! - Queries return the canonical records of `wheelhouse_core::records`; [`Store::export`]
//!   writes any table back to the canonical Parquet layout.
//!
//! # Time
//! Every instant is stored as `BIGINT` nanoseconds since the Unix epoch, UTC. Option
//! expirations are the settlement instant (16:00 America/New_York for PM-settled contracts,
//! 09:30 for AM-settled), daily bars and other dated rows the 16:00 New York close of their date.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod databento;
pub mod error;
pub mod export;
pub mod import;
pub mod mapping;
pub mod portfolio;
pub mod presets;
pub mod query;
pub mod records;
pub mod schema;
pub mod spec;
pub mod timeparse;

use std::path::{Path, PathBuf};

use duckdb::{Config, Connection};

pub use error::StoreError;
pub use import::{FileFormat, ImportOptions, ImportReport, Rejection};
pub use mapping::Mapping;
pub use spec::Table;

/// Settings of the embedded database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreConfig {
    /// DuckDB memory limit, e.g. `"2GB"` (DuckDB's default, 80 % of RAM, when `None`).
    pub memory_limit: Option<String>,
    /// DuckDB worker threads (all cores when `None`).
    pub threads: Option<usize>,
    /// Open read-only (no migrations; fails on a missing file).
    pub read_only: bool,
}

/// An open store.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// Current time as ns since the epoch.
pub(crate) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The default store file: `$WHEELHOUSE_DB`, else `$XDG_DATA_HOME/wheelhouse/wheelhouse.duckdb`,
/// else `~/.local/share/wheelhouse/wheelhouse.duckdb`, else `./wheelhouse.duckdb`.
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os("WHEELHOUSE_DB").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|p| !p.is_empty())
                .map(|h| PathBuf::from(h).join(".local").join("share"))
        });
    match base {
        Some(b) => b.join("wheelhouse").join("wheelhouse.duckdb"),
        None => PathBuf::from("wheelhouse.duckdb"),
    }
}

impl Store {
    /// Opens (creating if needed) the store at `path` and migrates it to the current schema.
    ///
    /// # Errors
    /// I/O errors creating the parent directory; invalid config values; DuckDB errors (e.g. the
    /// file is locked by another process or is not a DuckDB file); [`StoreError::SchemaTooNew`].
    pub fn open(path: &Path, config: &StoreConfig) -> Result<Self, StoreError> {
        if !config.read_only
            && let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::io(parent, e))?;
        }
        let mut cfg = Config::default().enable_autoload_extension(false)?;
        if let Some(m) = &config.memory_limit {
            validate_memory(m)?;
            cfg = cfg.max_memory(m)?;
        }
        if let Some(t) = config.threads {
            if t == 0 || t > 1024 {
                return Err(StoreError::InvalidConfig {
                    field: "threads",
                    value: t.to_string(),
                    reason: "must be 1..=1024".into(),
                });
            }
            cfg = cfg.threads(t as i64)?;
        }
        if config.read_only {
            cfg = cfg.access_mode(duckdb::AccessMode::ReadOnly)?;
        }
        let conn = Connection::open_with_flags(path, cfg)?;
        if !config.read_only {
            schema::migrate(&conn, path)?;
        }
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// An in-memory store (tests, scratch work).
    ///
    /// # Errors
    /// DuckDB errors.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory()?;
        schema::migrate(&conn, Path::new(":memory:"))?;
        Ok(Store {
            conn,
            path: PathBuf::from(":memory:"),
        })
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open store.
    ///
    /// # Errors
    /// DuckDB errors.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT max(version) FROM schema_migrations", [], |r| {
                r.get(0)
            })?)
    }

    /// The raw connection, for read-only ad-hoc queries in tests and tools.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Row counts of every data table, `(table, rows)`.
    ///
    /// # Errors
    /// DuckDB errors.
    pub fn table_counts(&self) -> Result<Vec<(&'static str, i64)>, StoreError> {
        let mut out = Vec::new();
        for t in Table::ALL {
            let name = t.spec().db_table;
            let n: i64 = self
                .conn
                .query_row(&format!("SELECT count(*) FROM {name}"), [], |r| r.get(0))?;
            out.push((name, n));
        }
        Ok(out)
    }
}

fn validate_memory(m: &str) -> Result<(), StoreError> {
    let t = m.trim().to_ascii_uppercase();
    let digits: String = t
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let unit = t[digits.len()..].trim();
    let ok = !digits.is_empty()
        && digits.parse::<f64>().is_ok_and(|v| v > 0.0)
        && matches!(
            unit,
            "B" | "KB" | "MB" | "GB" | "TB" | "KIB" | "MIB" | "GIB" | "TIB"
        );
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidConfig {
            field: "memory_limit",
            value: m.to_string(),
            reason: "expected a size like 512MB or 4GB".into(),
        })
    }
}
