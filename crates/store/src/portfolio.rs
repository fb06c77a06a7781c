//! The portfolio tables: the wheel ledger's fills (append-only, in `seq` order) and account
//! settings. Rows are plain values; the `wheel` crate validates them by replaying the ledger
//! before they are stored, and a batch is appended in one transaction (all or nothing).

use wheelhouse_core::UnixNanos;

use crate::{Store, StoreError};

/// One stored fill (see `wheelhouse_wheel::ledger::Fill` for the meaning of each field).
#[derive(Debug, Clone, PartialEq)]
pub struct FillRow {
    /// Order of insertion (assigned by the store on append).
    pub seq: i64,
    /// When it happened.
    pub time: UnixNanos,
    /// Underlying (empty for cash).
    pub underlying: String,
    /// `stock|call|put|cash`.
    pub kind: String,
    /// `trade|assign|exercise|expire|dividend|deposit`.
    pub event: String,
    /// Signed quantity.
    pub quantity: f64,
    /// Price per share.
    pub price: f64,
    /// Strike (options).
    pub strike: Option<f64>,
    /// Expiration (options).
    pub expiration: Option<UnixNanos>,
    /// `american|european`.
    pub style: String,
    /// Shares per contract.
    pub multiplier: f64,
    /// Fees, money.
    pub fees: f64,
    /// Roll link.
    pub link: Option<String>,
    /// Where it came from (file name or `cli`).
    pub source: String,
}

impl Store {
    /// Every stored fill in `seq` order.
    ///
    /// # Errors
    /// DuckDB errors.
    pub fn portfolio_fills(&self) -> Result<Vec<FillRow>, StoreError> {
        let mut st = self.connection().prepare(
            "SELECT seq, time, underlying, kind, event, quantity, price, strike, expiration, style,
                    multiplier, fees, link, source
             FROM portfolio_fills ORDER BY seq",
        )?;
        let rows = st.query_map([], |r| {
            Ok(FillRow {
                seq: r.get(0)?,
                time: UnixNanos(r.get(1)?),
                underlying: r.get(2)?,
                kind: r.get(3)?,
                event: r.get(4)?,
                quantity: r.get(5)?,
                price: r.get(6)?,
                strike: r.get(7)?,
                expiration: r.get::<_, Option<i64>>(8)?.map(UnixNanos),
                style: r.get(9)?,
                multiplier: r.get(10)?,
                fees: r.get(11)?,
                link: r.get(12)?,
                source: r.get(13)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Appends fills in one transaction (their `seq` is assigned after the stored ones) and,
    /// when given, sets the account type in the same transaction. Returns the number appended.
    ///
    /// # Errors
    /// DuckDB errors; nothing is stored then.
    pub fn append_portfolio_fills(
        &mut self,
        rows: &[FillRow],
        account_type: Option<&str>,
    ) -> Result<usize, StoreError> {
        let conn = self.connection();
        conn.execute_batch("BEGIN TRANSACTION")?;
        let res = (|| -> Result<usize, StoreError> {
            let next: i64 = conn.query_row(
                "SELECT coalesce(max(seq), 0) + 1 FROM portfolio_fills",
                [],
                |r| r.get(0),
            )?;
            let now = crate::now_ns();
            let mut st = conn.prepare(
                "INSERT INTO portfolio_fills VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )?;
            for (i, f) in rows.iter().enumerate() {
                st.execute(duckdb::params![
                    next + i as i64,
                    f.time.0,
                    f.underlying,
                    f.kind,
                    f.event,
                    f.quantity,
                    f.price,
                    f.strike,
                    f.expiration.map(|e| e.0),
                    f.style,
                    f.multiplier,
                    f.fees,
                    f.link,
                    f.source,
                    now
                ])?;
            }
            if let Some(a) = account_type {
                conn.execute(
                    "INSERT OR REPLACE INTO portfolio_settings VALUES ('account_type', ?)",
                    duckdb::params![a],
                )?;
            }
            Ok(rows.len())
        })();
        match res {
            Ok(n) => {
                conn.execute_batch("COMMIT")?;
                Ok(n)
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// The stored account type (`cash` or `margin`), if set.
    ///
    /// # Errors
    /// DuckDB errors.
    pub fn account_type(&self) -> Result<Option<String>, StoreError> {
        let mut st = self
            .connection()
            .prepare("SELECT value FROM portfolio_settings WHERE key = 'account_type'")?;
        let mut rows = st.query([])?;
        Ok(match rows.next()? {
            Some(r) => Some(r.get(0)?),
            None => None,
        })
    }

    /// Deletes every fill and setting (`wheelhouse portfolio clear`). Returns the fills removed.
    ///
    /// # Errors
    /// DuckDB errors.
    pub fn clear_portfolio(&mut self) -> Result<usize, StoreError> {
        let conn = self.connection();
        conn.execute_batch("BEGIN TRANSACTION")?;
        let r = conn
            .execute("DELETE FROM portfolio_fills", [])
            .and_then(|n| {
                conn.execute("DELETE FROM portfolio_settings", [])
                    .map(|_| n)
            });
        match r {
            Ok(n) => {
                conn.execute_batch("COMMIT")?;
                Ok(n)
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e.into())
            }
        }
    }
}
