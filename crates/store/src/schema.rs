//! The versioned schema: migrations applied in order when a store is opened.
//!
//! Every table keeps instants as `BIGINT` nanoseconds since the Unix epoch, UTC (column names
//! end in `_time`, `ts`, `expiration`, `date` or `ex_date`; see [`crate`] docs for what each
//! instant means). Keys are enforced by the importers (anti-join on the key columns), not by
//! DuckDB indexes, which would slow bulk loads and have to live in memory.

use duckdb::Connection;

use crate::StoreError;

/// One schema migration.
#[derive(Debug)]
pub struct Migration {
    /// Version reached after applying it (1, 2, …).
    pub version: i64,
    /// What it does.
    pub description: &'static str,
    /// The SQL, applied in one transaction together with its bookkeeping row.
    pub sql: &'static str,
}

/// All migrations, oldest first. Never edit a released one: add a new version.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "market data: instruments, bars, splits, dividends, option quotes, trades, nbbo, rates, imports, analytics cache",
        sql: r#"
CREATE TABLE imports (
    import_id     BIGINT PRIMARY KEY,
    table_name    VARCHAR NOT NULL,
    source        VARCHAR NOT NULL,
    format        VARCHAR NOT NULL,
    imported_at   BIGINT NOT NULL,
    accepted      BIGINT NOT NULL,
    rejected      BIGINT NOT NULL,
    duplicates    BIGINT NOT NULL,
    conflicts     BIGINT NOT NULL
);
CREATE TABLE instruments (
    symbol        VARCHAR PRIMARY KEY,
    kind          VARCHAR NOT NULL,
    first_import  BIGINT NOT NULL
);
CREATE TABLE bars (
    symbol        VARCHAR NOT NULL,
    interval_s    BIGINT NOT NULL,
    ts            BIGINT NOT NULL,
    open          DOUBLE NOT NULL,
    high          DOUBLE NOT NULL,
    low           DOUBLE NOT NULL,
    close         DOUBLE NOT NULL,
    volume        DOUBLE NOT NULL,
    import_id     BIGINT NOT NULL
);
CREATE TABLE splits (
    symbol        VARCHAR NOT NULL,
    ex_date       BIGINT NOT NULL,
    ratio         DOUBLE NOT NULL,
    import_id     BIGINT NOT NULL
);
CREATE TABLE dividends (
    symbol        VARCHAR NOT NULL,
    ex_date       BIGINT NOT NULL,
    amount        DOUBLE NOT NULL,
    import_id     BIGINT NOT NULL
);
CREATE TABLE option_quotes (
    underlying       VARCHAR NOT NULL,
    root             VARCHAR NOT NULL,
    quote_time       BIGINT NOT NULL,
    expiration       BIGINT NOT NULL,
    strike           DOUBLE NOT NULL,
    type             VARCHAR NOT NULL,
    style            VARCHAR NOT NULL,
    settlement       VARCHAR NOT NULL,
    multiplier       DOUBLE NOT NULL,
    bid              DOUBLE NOT NULL,
    ask              DOUBLE NOT NULL,
    last             DOUBLE,
    volume           BIGINT,
    open_interest    BIGINT,
    underlying_price DOUBLE NOT NULL,
    vendor_iv        DOUBLE,
    vendor_delta     DOUBLE,
    vendor_gamma     DOUBLE,
    vendor_vega      DOUBLE,
    vendor_theta     DOUBLE,
    import_id        BIGINT NOT NULL
);
CREATE TABLE trades (
    symbol        VARCHAR NOT NULL,
    ts            BIGINT NOT NULL,
    seq           BIGINT NOT NULL,
    price         DOUBLE NOT NULL,
    size          DOUBLE NOT NULL,
    import_id     BIGINT NOT NULL
);
CREATE TABLE nbbo (
    symbol        VARCHAR NOT NULL,
    ts            BIGINT NOT NULL,
    seq           BIGINT NOT NULL,
    bid           DOUBLE NOT NULL,
    ask           DOUBLE NOT NULL,
    bid_size      DOUBLE NOT NULL,
    ask_size      DOUBLE NOT NULL,
    import_id     BIGINT NOT NULL
);
CREATE TABLE rates (
    date          BIGINT NOT NULL,
    tenor_years   DOUBLE NOT NULL,
    rate          DOUBLE NOT NULL,
    import_id     BIGINT NOT NULL
);
CREATE TABLE analytics_cache (
    underlying    VARCHAR NOT NULL,
    quote_time    BIGINT NOT NULL,
    kind          VARCHAR NOT NULL,
    version       BIGINT NOT NULL,
    computed_at   BIGINT NOT NULL,
    payload       VARCHAR NOT NULL,
    PRIMARY KEY (underlying, quote_time, kind)
);
"#,
    },
    Migration {
        version: 2,
        description: "portfolio: fills of the wheel ledger and account settings",
        sql: r#"
CREATE TABLE portfolio_fills (
    seq           BIGINT PRIMARY KEY,
    time          BIGINT NOT NULL,
    underlying    VARCHAR NOT NULL,
    kind          VARCHAR NOT NULL,
    event         VARCHAR NOT NULL,
    quantity      DOUBLE NOT NULL,
    price         DOUBLE NOT NULL,
    strike        DOUBLE,
    expiration    BIGINT,
    style         VARCHAR NOT NULL,
    multiplier    DOUBLE NOT NULL,
    fees          DOUBLE NOT NULL,
    link          VARCHAR,
    source        VARCHAR NOT NULL,
    added_at      BIGINT NOT NULL
);
CREATE TABLE portfolio_settings (
    key           VARCHAR PRIMARY KEY,
    value         VARCHAR NOT NULL
);
"#,
    },
];

/// The newest schema version this build knows.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Applies every migration newer than the store's version. Each runs in its own transaction
/// with its bookkeeping row, so a failure leaves the store at the previous version.
pub(crate) fn migrate(conn: &Connection, path: &std::path::Path) -> Result<i64, StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY, description VARCHAR NOT NULL, applied_at BIGINT NOT NULL)",
    )?;
    let current: i64 = conn.query_row(
        "SELECT coalesce(max(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    let latest = latest_version();
    if current > latest {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found: current,
            supported: latest,
        });
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        conn.execute_batch("BEGIN TRANSACTION")?;
        let applied = conn.execute_batch(m.sql).and_then(|()| {
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                duckdb::params![m.version, m.description, crate::now_ns()],
            )
            .map(|_| ())
        });
        match applied {
            Ok(()) => conn.execute_batch("COMMIT")?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e.into());
            }
        }
        tracing::info!(
            version = m.version,
            description = m.description,
            "applied migration"
        );
    }
    Ok(latest)
}
