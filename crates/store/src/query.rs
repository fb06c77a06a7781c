//! Read queries returning canonical records.

use wheelhouse_core::records::{Bar, BarInterval, Dividend, OptionQuote, Split};
use wheelhouse_core::{ExerciseStyle, OptionType, Settlement, UnixNanos};

use crate::{Store, StoreError};

impl Store {
    /// Symbols with stored data, sorted.
    ///
    /// # Errors
    /// DuckDB errors.
    pub fn symbols(&self) -> Result<Vec<String>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT symbol FROM instruments ORDER BY symbol")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn unknown(&self, symbol: &str, what: &'static str) -> StoreError {
        let known = self.symbols().unwrap_or_default();
        let hint = if known.is_empty() {
            " (the store is empty: run `wheelhouse init --sample` or `wheelhouse import`)"
                .to_string()
        } else {
            format!(" (known: {})", known.join(", "))
        };
        StoreError::UnknownSymbol {
            symbol: symbol.to_string(),
            what,
            hint,
        }
    }

    /// Quote times (snapshots) stored for `underlying`, ascending, within `[from, to]`.
    ///
    /// # Errors
    /// [`StoreError::UnknownSymbol`] when no quotes exist for it; DuckDB errors.
    pub fn quote_times(
        &self,
        underlying: &str,
        from: Option<UnixNanos>,
        to: Option<UnixNanos>,
    ) -> Result<Vec<UnixNanos>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT DISTINCT quote_time FROM option_quotes
             WHERE underlying = ? AND quote_time BETWEEN ? AND ? ORDER BY quote_time",
        )?;
        let rows = st.query_map(
            duckdb::params![
                underlying,
                from.map_or(i64::MIN, |t| t.0),
                to.map_or(i64::MAX, |t| t.0)
            ],
            |r| r.get::<_, i64>(0),
        )?;
        let v: Vec<UnixNanos> = rows.map(|r| r.map(UnixNanos)).collect::<Result<_, _>>()?;
        if v.is_empty() && from.is_none() && to.is_none() {
            return Err(self.unknown(underlying, "option quotes"));
        }
        Ok(v)
    }

    /// The latest snapshot of `underlying` at or before `at` (the latest of all when `None`).
    ///
    /// # Errors
    /// [`StoreError::UnknownSymbol`]; [`StoreError::NotFound`] when every snapshot is after
    /// `at`.
    pub fn snapshot_at(
        &self,
        underlying: &str,
        at: Option<UnixNanos>,
    ) -> Result<UnixNanos, StoreError> {
        let t: Option<i64> = self.conn.query_row(
            "SELECT max(quote_time) FROM option_quotes WHERE underlying = ? AND quote_time <= ?",
            duckdb::params![underlying, at.map_or(i64::MAX, |t| t.0)],
            |r| r.get(0),
        )?;
        match t {
            Some(t) => Ok(UnixNanos(t)),
            None => {
                let any: i64 = self.conn.query_row(
                    "SELECT count(*) FROM option_quotes WHERE underlying = ?",
                    [underlying],
                    |r| r.get(0),
                )?;
                if any == 0 {
                    Err(self.unknown(underlying, "option quotes"))
                } else {
                    Err(StoreError::NotFound(format!(
                        "no {underlying} option quotes at or before {}",
                        wheelhouse_core::exchange_time::format_new_york(at.unwrap_or_default())
                    )))
                }
            }
        }
    }

    /// Every quote of one snapshot (optionally one expiration), ordered by expiration, strike,
    /// type.
    ///
    /// # Errors
    /// DuckDB errors.
    pub fn option_quotes(
        &self,
        underlying: &str,
        quote_time: UnixNanos,
        expiration: Option<UnixNanos>,
    ) -> Result<Vec<OptionQuote>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT underlying, quote_time, expiration, strike, type, style, settlement, multiplier,
                    bid, ask, last, volume, open_interest, underlying_price, vendor_iv, vendor_delta
             FROM option_quotes
             WHERE underlying = ? AND quote_time = ? AND (? OR expiration = ?)
             ORDER BY expiration, strike, type, root",
        )?;
        let rows = st.query_map(
            duckdb::params![
                underlying,
                quote_time.0,
                expiration.is_none(),
                expiration.map_or(0, |e| e.0)
            ],
            |r| {
                let ty: String = r.get(4)?;
                let style: String = r.get(5)?;
                let settle: String = r.get(6)?;
                Ok(OptionQuote {
                    underlying: r.get(0)?,
                    quote_time: UnixNanos(r.get(1)?),
                    expiration: UnixNanos(r.get(2)?),
                    strike: r.get(3)?,
                    option_type: OptionType::parse(&ty).unwrap_or(OptionType::Call),
                    style: ExerciseStyle::parse(&style).unwrap_or_default(),
                    settlement: Settlement::parse(&settle).unwrap_or_default(),
                    multiplier: r.get(7)?,
                    bid: r.get(8)?,
                    ask: r.get(9)?,
                    last: r.get(10)?,
                    volume: r.get(11)?,
                    open_interest: r.get(12)?,
                    underlying_price: r.get(13)?,
                    vendor_iv: r.get(14)?,
                    vendor_delta: r.get(15)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The rate curve `(tenor_years, rate)` of the latest date at or before `at`, by tenor;
    /// empty when no rates are stored before `at`.
    ///
    /// # Errors
    /// DuckDB errors.
    pub fn rate_curve(&self, at: UnixNanos) -> Result<Vec<(f64, f64)>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT tenor_years, rate FROM rates
             WHERE date = (SELECT max(date) FROM rates WHERE date <= ?) ORDER BY tenor_years",
        )?;
        let rows = st.query_map([at.0], |r| Ok((r.get::<_, f64>(0)?, r.get::<_, f64>(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Daily bars of `symbol` within `[from, to]`, ascending.
    ///
    /// # Errors
    /// [`StoreError::UnknownSymbol`] when no daily bars exist for it; DuckDB errors.
    pub fn daily_bars(
        &self,
        symbol: &str,
        from: Option<UnixNanos>,
        to: Option<UnixNanos>,
    ) -> Result<Vec<Bar>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT ts, open, high, low, close, volume FROM bars
             WHERE symbol = ? AND interval_s = 86400 AND ts BETWEEN ? AND ? ORDER BY ts",
        )?;
        let rows = st.query_map(
            duckdb::params![
                symbol,
                from.map_or(i64::MIN, |t| t.0),
                to.map_or(i64::MAX, |t| t.0)
            ],
            |r| {
                Ok(Bar {
                    symbol: symbol.to_string(),
                    interval: BarInterval::Day,
                    ts: UnixNanos(r.get(0)?),
                    open: r.get(1)?,
                    high: r.get(2)?,
                    low: r.get(3)?,
                    close: r.get(4)?,
                    volume: r.get(5)?,
                })
            },
        )?;
        let v: Vec<Bar> = rows.collect::<Result<_, _>>()?;
        if v.is_empty() && from.is_none() && to.is_none() {
            return Err(self.unknown(symbol, "daily bars"));
        }
        Ok(v)
    }

    /// Cash dividends of `symbol`, by ex-date.
    ///
    /// # Errors
    /// DuckDB errors.
    pub fn dividends(&self, symbol: &str) -> Result<Vec<Dividend>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT ex_date, amount FROM dividends WHERE symbol = ? ORDER BY ex_date")?;
        let rows = st.query_map([symbol], |r| {
            Ok(Dividend {
                symbol: symbol.to_string(),
                ex_date: UnixNanos(r.get(0)?),
                amount: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Splits of `symbol`, by ex-date.
    ///
    /// # Errors
    /// DuckDB errors.
    pub fn splits(&self, symbol: &str) -> Result<Vec<Split>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT ex_date, ratio FROM splits WHERE symbol = ? ORDER BY ex_date")?;
        let rows = st.query_map([symbol], |r| {
            Ok(Split {
                symbol: symbol.to_string(),
                ex_date: UnixNanos(r.get(0)?),
                ratio: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A cached analytics payload for a snapshot, if stored with this `version`.
    ///
    /// # Errors
    /// DuckDB errors.
    pub fn cache_get(
        &self,
        underlying: &str,
        quote_time: UnixNanos,
        kind: &str,
        version: i64,
    ) -> Result<Option<String>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT payload FROM analytics_cache
             WHERE underlying = ? AND quote_time = ? AND kind = ? AND version = ?",
        )?;
        let mut rows = st.query(duckdb::params![underlying, quote_time.0, kind, version])?;
        Ok(match rows.next()? {
            Some(r) => Some(r.get(0)?),
            None => None,
        })
    }

    /// Every cached payload of `kind` and `version` for snapshots of `underlying` in
    /// `[from, to]`, by quote time (one query, for histories).
    ///
    /// # Errors
    /// DuckDB errors.
    pub fn cache_get_range(
        &self,
        underlying: &str,
        kind: &str,
        version: i64,
        from: UnixNanos,
        to: UnixNanos,
    ) -> Result<std::collections::BTreeMap<i64, String>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT quote_time, payload FROM analytics_cache
             WHERE underlying = ? AND kind = ? AND version = ? AND quote_time BETWEEN ? AND ?",
        )?;
        let rows = st.query_map(
            duckdb::params![underlying, kind, version, from.0, to.0],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores (replacing) an analytics payload for a snapshot.
    ///
    /// # Errors
    /// DuckDB errors.
    pub fn cache_put(
        &self,
        underlying: &str,
        quote_time: UnixNanos,
        kind: &str,
        version: i64,
        payload: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT OR REPLACE INTO analytics_cache VALUES (?, ?, ?, ?, ?, ?)",
            duckdb::params![
                underlying,
                quote_time.0,
                kind,
                version,
                crate::now_ns(),
                payload
            ],
        )?;
        Ok(())
    }
}
