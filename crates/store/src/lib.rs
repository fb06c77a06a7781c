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
mod feed;
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

/// The database's memory limit, adjustable from another thread (a memory-pressure callback
/// of the hardware budget): a second connection to the same database, whose settings are
/// database-wide.
#[derive(Debug)]
pub struct MemoryLimit {
    conn: std::sync::Mutex<Connection>,
}

impl MemoryLimit {
    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sets the limit to `bytes` (rounded down to whole MiB, at least 1 MiB).
    ///
    /// # Errors
    /// DuckDB errors.
    pub fn set_bytes(&self, bytes: u64) -> Result<(), StoreError> {
        let mib = (bytes >> 20).max(1);
        self.conn()
            .execute_batch(&format!("SET memory_limit = '{mib}MiB'"))?;
        Ok(())
    }

    /// The limit in force, bytes (DuckDB reports it rounded to a few digits).
    ///
    /// # Errors
    /// DuckDB errors; [`StoreError::InvalidConfig`] if the setting cannot be read as a size.
    pub fn bytes(&self) -> Result<u64, StoreError> {
        let text: String =
            self.conn()
                .query_row("SELECT current_setting('memory_limit')", [], |r| r.get(0))?;
        parse_duckdb_size(&text).ok_or_else(|| StoreError::InvalidConfig {
            field: "memory_limit",
            value: text.clone(),
            reason: "not a size DuckDB reports".into(),
        })
    }
}

/// `"953.6 MiB"`, `"1.8 GiB"`, `"512 bytes"`, `"2GB"` → bytes.
fn parse_duckdb_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let value: f64 = t[..split].parse().ok()?;
    let mult: f64 = match t[split..].trim().to_ascii_lowercase().as_str() {
        "" | "b" | "byte" | "bytes" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some((value * mult) as u64)
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

    /// A handle on the database's memory limit that another thread may use.
    ///
    /// # Errors
    /// DuckDB errors opening the second connection.
    pub fn memory_limit(&self) -> Result<MemoryLimit, StoreError> {
        Ok(MemoryLimit {
            conn: std::sync::Mutex::new(self.conn.try_clone()?),
        })
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

#[cfg(test)]
mod memory_limit_tests {
    use super::*;

    #[test]
    fn the_limit_is_read_and_lowered_from_another_thread() {
        let store = Store::open_in_memory().unwrap();
        let h = store.memory_limit().unwrap();
        h.set_bytes(512 << 20).unwrap();
        let got = h.bytes().unwrap();
        assert!((got as f64 - (512u64 << 20) as f64).abs() < 0.01 * (512u64 << 20) as f64);
        std::thread::spawn(move || h.set_bytes(100 << 20).unwrap())
            .join()
            .unwrap();
        // Database-wide: the store's own connection sees the new limit.
        let text: String = store
            .connection()
            .query_row("SELECT current_setting('memory_limit')", [], |r| r.get(0))
            .unwrap();
        let b = parse_duckdb_size(&text).unwrap();
        assert!(
            (b as f64 - (100u64 << 20) as f64).abs() < 0.01 * (100u64 << 20) as f64,
            "{text}"
        );
        assert_eq!(parse_duckdb_size("1.5 GiB"), Some(1_610_612_736));
        assert_eq!(parse_duckdb_size("2GB"), Some(2_000_000_000));
        assert_eq!(parse_duckdb_size("lots"), None);
    }
}
