//! Databento DBN files (`--preset dbn`), read with the official `dbn` crate.
//!
//! - Equity `ohlcv-1s/1m/1h/1d` → bars (a daily bar's instant is its date's 16:00 New York
//!   close; intraday bars keep their start), `trades` → trades, `mbp-1`, `bbo-1s/1m`,
//!   `tbbo` → NBBO (top of book).
//! - OPRA `cbbo-1s/1m`, `cmbp-1`, `tcbbo`, `mbp-1`, `bbo-*`, `tbbo` → option quotes. Each
//!   contract comes from the file's symbology (OSI symbols such as `AAPL  240119C00190000`) or
//!   from a definitions file (`--definitions defs.dbn.zst`, schema `definition`) when given.
//!   The quote instant is the record's `ts_recv` (the interval end for sampled schemas), the
//!   underlying price the latest one stored at or before it (NBBO mid, trade, or bar close:
//!   import the underlying first); expiration is the settlement instant of the contract's
//!   expiration date (16:00 New York; AM/European index roots per [`crate::presets`]).
//!
//! Records that cannot become rows (unknown instrument, undefined price, no underlying price)
//! are rejected with their record number (1-based) and the reason, like bad CSV rows.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, Int64Builder, StringBuilder, TimestampNanosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use dbn::decode::{DbnMetadata, DecodeRecordRef, DynDecoder};
use dbn::{
    BboMsg, CbboMsg, Cmbp1Msg, InstrumentDefMsg, Mbp1Msg, OhlcvMsg, RecordRef, Schema as DSchema,
    TradeMsg, TsSymbolMap, UNDEF_PRICE, VersionUpgradePolicy,
};

use crate::import::Rejection;
use crate::presets::INDEX_ROOTS;
use crate::spec::Table;
use crate::{Store, StoreError};

/// What a DBN file became.
#[derive(Debug)]
pub struct DbnRows {
    /// The canonical table the rows belong to.
    pub table: Table,
    /// Rows in the canonical layout, with a `_line` column holding the record number.
    pub batch: RecordBatch,
    /// Records that could not become rows.
    pub rejections: Vec<Rejection>,
    /// The DBN dataset and schema, for the report.
    pub description: String,
}

/// A contract's terms.
#[derive(Debug, Clone)]
struct Contract {
    underlying: String,
    root: String,
    expiration_date: jiff::civil::Date,
    strike: f64,
    call: bool,
}

/// Parses an OSI option symbol: root padded to 6, `YYMMDD`, `C`/`P`, strike × 1000 in 8 digits.
fn parse_osi(s: &str) -> Option<Contract> {
    let s = s.trim_end();
    if s.len() < 16 {
        return None;
    }
    let (root, rest) = s.split_at(s.len() - 15);
    let root = root.trim();
    let yy: i16 = rest.get(0..2)?.parse().ok()?;
    let mm: i8 = rest.get(2..4)?.parse().ok()?;
    let dd: i8 = rest.get(4..6)?.parse().ok()?;
    let call = match rest.get(6..7)? {
        "C" => true,
        "P" => false,
        _ => return None,
    };
    let strike: u64 = rest.get(7..15)?.parse().ok()?;
    if root.is_empty() {
        return None;
    }
    let date = jiff::civil::Date::new(2000 + yy, mm, dd).ok()?;
    // Adjusted roots (e.g. AAPL1) trade on the same underlying; index roots name their index.
    let underlying = match root {
        "SPXW" | "SPXQ" | "SPXPM" => "SPX".to_string(),
        "NDXP" => "NDX".to_string(),
        "RUTW" | "MRUT" => "RUT".to_string(),
        "VIXW" => "VIX".to_string(),
        r => r.trim_end_matches(|c: char| c.is_ascii_digit()).to_string(),
    };
    Some(Contract {
        underlying: if underlying.is_empty() {
            root.to_string()
        } else {
            underlying
        },
        root: root.to_string(),
        expiration_date: date,
        strike: strike as f64 / 1000.0,
        call,
    })
}

/// One OPRA quote before its contract is resolved: (record number, instrument id, time, bid, ask, last).
type QuoteRec = (u64, u32, u64, Option<f64>, Option<f64>, Option<f64>);

fn px(p: i64) -> Option<f64> {
    (p != UNDEF_PRICE).then_some(p as f64 * 1e-9)
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

/// One column being built.
enum ColB {
    Text(StringBuilder),
    Num(Float64Builder),
    Int(Int64Builder),
    Ts(TimestampNanosecondBuilder),
}

/// Columnar accumulator of canonical rows.
struct Cols(Vec<(&'static str, ColB)>);

impl Cols {
    fn new(cols: &[(&'static str, DataType)]) -> Self {
        Cols(
            cols.iter()
                .map(|(n, t)| {
                    let b = match t {
                        DataType::Utf8 => ColB::Text(StringBuilder::new()),
                        DataType::Float64 => ColB::Num(Float64Builder::new()),
                        DataType::Int64 => ColB::Int(Int64Builder::new()),
                        _ => ColB::Ts(TimestampNanosecondBuilder::new().with_timezone("UTC")),
                    };
                    (*n, b)
                })
                .collect(),
        )
    }
    fn col(&mut self, n: &str) -> Option<&mut ColB> {
        self.0.iter_mut().find(|(c, _)| *c == n).map(|(_, b)| b)
    }
    fn s(&mut self, n: &'static str, v: &str) {
        if let Some(ColB::Text(b)) = self.col(n) {
            b.append_value(v);
        }
    }
    fn f(&mut self, n: &'static str, v: Option<f64>) {
        if let Some(ColB::Num(b)) = self.col(n) {
            b.append_option(v);
        }
    }
    fn i(&mut self, n: &'static str, v: Option<i64>) {
        if let Some(ColB::Int(b)) = self.col(n) {
            b.append_option(v);
        }
    }
    fn t(&mut self, n: &'static str, v: i64) {
        if let Some(ColB::Ts(b)) = self.col(n) {
            b.append_value(v);
        }
    }
    fn finish(self) -> Result<RecordBatch, StoreError> {
        let mut arrays: Vec<ArrayRef> = Vec::new();
        let mut fields = Vec::new();
        for (n, b) in self.0 {
            let a: ArrayRef = match b {
                ColB::Text(mut b) => Arc::new(b.finish()),
                ColB::Num(mut b) => Arc::new(b.finish()),
                ColB::Int(mut b) => Arc::new(b.finish()),
                ColB::Ts(mut b) => Arc::new(b.finish()),
            };
            fields.push(Field::new(n, a.data_type().clone(), true));
            arrays.push(a);
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| StoreError::Arrow {
            context: "DBN rows".into(),
            message: e.to_string(),
        })
    }
}

/// Latest stored underlying prices per symbol, sorted by time.
pub type PriceIndex = HashMap<String, Vec<(i64, f64)>>;

fn price_at(index: &PriceIndex, symbol: &str, t: i64) -> Option<f64> {
    let v = index.get(symbol)?;
    let i = v.partition_point(|&(ts, _)| ts <= t);
    // At most 4 days stale (a daily close before a weekend).
    (i > 0 && t - v[i - 1].0 <= 4 * 86_400_000_000_000).then(|| v[i - 1].1)
}

fn dbn_err(file: &str, e: dbn::Error) -> StoreError {
    StoreError::malformed(file, format!("DBN: {e}"))
}

/// Reads contract definitions (`definition` schema) into instrument id → contract.
fn read_definitions(path: &Path) -> Result<HashMap<u32, Contract>, StoreError> {
    let file = path.display().to_string();
    let mut dec = DynDecoder::from_file(path, VersionUpgradePolicy::UpgradeToV3)
        .map_err(|e| dbn_err(&file, e))?;
    let mut out = HashMap::new();
    while let Some(rec) = dec.decode_record_ref().map_err(|e| dbn_err(&file, e))? {
        if let Some(d) = rec.get::<InstrumentDefMsg>() {
            let Ok(raw) = d.raw_symbol() else { continue };
            if let Some(mut c) = parse_osi(raw) {
                if let Ok(u) = d.underlying()
                    && !u.trim().is_empty()
                {
                    c.underlying = u.trim().to_string();
                }
                out.insert(d.hd.instrument_id, c);
            }
        }
    }
    Ok(out)
}

impl Store {
    /// Prices of `symbols` usable as underlying prices: NBBO mids, trades and bar closes.
    ///
    /// # Errors
    /// DuckDB errors.
    pub fn underlying_price_index(&self, symbols: &[String]) -> Result<PriceIndex, StoreError> {
        let mut out: PriceIndex = HashMap::new();
        let list = symbols
            .iter()
            .map(|s| format!("'{}'", s.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(",");
        if list.is_empty() {
            return Ok(out);
        }
        let sql = format!(
            "SELECT symbol, t, p FROM (
               SELECT symbol, ts AS t, (bid + ask) / 2 AS p FROM nbbo WHERE bid > 0 AND ask > 0 AND symbol IN ({list})
               UNION ALL SELECT symbol, ts, price FROM trades WHERE symbol IN ({list})
               UNION ALL SELECT symbol, CASE WHEN interval_s = 86400 THEN ts ELSE ts + interval_s * 1000000000 END, close
                         FROM bars WHERE symbol IN ({list}))
             ORDER BY symbol, t"
        );
        let mut st = self.conn.prepare(&sql)?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, f64>(2)?,
            ))
        })?;
        for r in rows {
            let (s, t, p) = r?;
            out.entry(s).or_default().push((t, p));
        }
        Ok(out)
    }

    /// Imports a DBN file into the table its schema implies (see the module docs). `table` is
    /// the table the user asked for; a file of another kind is refused.
    ///
    /// # Errors
    /// [`StoreError::MalformedFile`] for unreadable DBN data or a schema that does not fit
    /// `table`; as [`Store::import_batches`] otherwise.
    pub fn import_dbn(
        &mut self,
        table: Table,
        path: &Path,
        definitions: Option<&Path>,
        progress: crate::import::Progress<'_>,
    ) -> Result<crate::ImportReport, StoreError> {
        let rows = self.read_dbn(table, path, definitions)?;
        let name = path.display().to_string();
        let label = format!(
            "{} ({})",
            path.file_name()
                .map_or(name.clone(), |n| n.to_string_lossy().into_owned()),
            rows.description
        );
        let opts = crate::ImportOptions {
            mapping: None,
            source_label: Some(&label),
        };
        let mut report =
            self.import_batches(rows.table, &name, vec![rows.batch], &opts, progress)?;
        report.rows_read += rows.rejections.len() as u64;
        report.rejected += rows.rejections.len() as u64;
        report.rejections.extend(rows.rejections);
        report.rejections.sort_by_key(|r| r.line);
        Ok(report)
    }

    fn read_dbn(
        &self,
        table: Table,
        path: &Path,
        definitions: Option<&Path>,
    ) -> Result<DbnRows, StoreError> {
        let file = path.display().to_string();
        let mut dec = DynDecoder::from_file(path, VersionUpgradePolicy::UpgradeToV3)
            .map_err(|e| dbn_err(&file, e))?;
        let meta = dec.metadata().clone();
        let schema = meta.schema.ok_or_else(|| {
            StoreError::malformed(
                &file,
                "DBN file with mixed schemas; export one schema per file",
            )
        })?;
        let description = format!("{} {}", meta.dataset, schema.as_str());
        let symbols = TsSymbolMap::from_metadata(&meta).map_err(|e| dbn_err(&file, e))?;
        let defs = definitions.map(read_definitions).transpose()?;
        let target = match schema {
            DSchema::Ohlcv1S
            | DSchema::Ohlcv1M
            | DSchema::Ohlcv1H
            | DSchema::Ohlcv1D
            | DSchema::OhlcvEod => Table::Bars,
            DSchema::Trades => Table::Trades,
            DSchema::Mbp1
            | DSchema::Bbo1S
            | DSchema::Bbo1M
            | DSchema::Tbbo
            | DSchema::Cmbp1
            | DSchema::Cbbo1S
            | DSchema::Cbbo1M
            | DSchema::Tcbbo => {
                if table == Table::Quotes {
                    Table::Quotes
                } else {
                    Table::Nbbo
                }
            }
            other => {
                return Err(StoreError::malformed(
                    &file,
                    format!(
                        "DBN schema {} is not importable (use ohlcv-*, trades, mbp-1, bbo-*, tbbo, cmbp-1, cbbo-*, tcbbo)",
                        other.as_str()
                    ),
                ));
            }
        };
        if target != table {
            return Err(StoreError::malformed(
                &file,
                format!(
                    "this DBN file ({description}) holds {}, not {}",
                    target.spec().db_table,
                    table.spec().db_table
                ),
            ));
        }
        let interval_s: i64 = match schema {
            DSchema::Ohlcv1S => 1,
            DSchema::Ohlcv1M => 60,
            DSchema::Ohlcv1H => 3600,
            _ => 86_400,
        };
        let symbol_of = |instrument_id: u32, ts: u64| -> Option<String> {
            symbols.get_for_ts(ts, instrument_id).cloned()
        };
        let mut rejections = Vec::new();
        let mut reject = |line: u64, field: &'static str, reason: String| {
            rejections.push(Rejection {
                line,
                field: Some(field),
                value: None,
                reason,
                raw: String::new(),
            });
        };
        let mut line_no = 0u64;
        let mut lines = Int64Builder::new();
        let cols = match target {
            Table::Bars => Cols::new(&[
                ("symbol", DataType::Utf8),
                ("interval_s", DataType::Int64),
                ("ts", ts_type()),
                ("open", DataType::Float64),
                ("high", DataType::Float64),
                ("low", DataType::Float64),
                ("close", DataType::Float64),
                ("volume", DataType::Float64),
            ]),
            Table::Trades => Cols::new(&[
                ("symbol", DataType::Utf8),
                ("ts", ts_type()),
                ("price", DataType::Float64),
                ("size", DataType::Float64),
            ]),
            Table::Nbbo => Cols::new(&[
                ("symbol", DataType::Utf8),
                ("ts", ts_type()),
                ("bid", DataType::Float64),
                ("ask", DataType::Float64),
                ("bid_size", DataType::Float64),
                ("ask_size", DataType::Float64),
            ]),
            _ => Cols::new(&[
                ("underlying", DataType::Utf8),
                ("root", DataType::Utf8),
                ("quote_time", ts_type()),
                ("expiration", ts_type()),
                ("strike", DataType::Float64),
                ("type", DataType::Utf8),
                ("style", DataType::Utf8),
                ("settlement", DataType::Utf8),
                ("bid", DataType::Float64),
                ("ask", DataType::Float64),
                ("last", DataType::Float64),
                ("underlying_price", DataType::Float64),
            ]),
        };
        let mut cols = cols;
        // Quotes need underlying prices: collect contracts first.
        let mut quote_recs: Vec<QuoteRec> = Vec::new();
        while let Some(rec) = dec.decode_record_ref().map_err(|e| {
            StoreError::malformed(
                &file,
                format!("corrupt DBN data after record {line_no}: {e}"),
            )
        })? {
            line_no += 1;
            let hd = rec.header();
            let (iid, ts_event) = (hd.instrument_id, hd.ts_event);
            match target {
                Table::Bars => {
                    let Some(b) = rec.get::<OhlcvMsg>() else {
                        continue;
                    };
                    let Some(sym) = symbol_of(iid, ts_event) else {
                        reject(
                            line_no,
                            "symbol",
                            format!("instrument id {iid} has no symbol in the file's symbology"),
                        );
                        continue;
                    };
                    let ts = if interval_s == 86_400 {
                        let date = jiff::Timestamp::from_nanosecond(i128::from(ts_event))
                            .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date())
                            .map_err(|e| StoreError::malformed(&file, e.to_string()))?;
                        wheelhouse_core::exchange_time::close_instant(date)
                            .map_err(|e| StoreError::malformed(&file, e.to_string()))?
                            .0
                    } else {
                        ts_event as i64
                    };
                    cols.s("symbol", &sym);
                    cols.i("interval_s", Some(interval_s));
                    cols.t("ts", ts);
                    cols.f("open", px(b.open));
                    cols.f("high", px(b.high));
                    cols.f("low", px(b.low));
                    cols.f("close", px(b.close));
                    cols.f("volume", Some(b.volume as f64));
                    lines.append_value(line_no as i64);
                }
                Table::Trades => {
                    let Some(t) = rec.get::<TradeMsg>() else {
                        continue;
                    };
                    let Some(sym) = symbol_of(iid, ts_event) else {
                        reject(
                            line_no,
                            "symbol",
                            format!("instrument id {iid} has no symbol in the file's symbology"),
                        );
                        continue;
                    };
                    cols.s("symbol", &sym);
                    cols.t("ts", ts_event as i64);
                    cols.f("price", px(t.price));
                    cols.f("size", Some(f64::from(t.size)));
                    lines.append_value(line_no as i64);
                }
                Table::Nbbo | Table::Quotes => {
                    let Some((bid, ask, bsz, asz, last, ts)) = top_of_book(&rec) else {
                        continue;
                    };
                    if target == Table::Nbbo {
                        let Some(sym) = symbol_of(iid, ts_event) else {
                            reject(
                                line_no,
                                "symbol",
                                format!(
                                    "instrument id {iid} has no symbol in the file's symbology"
                                ),
                            );
                            continue;
                        };
                        cols.s("symbol", &sym);
                        cols.t("ts", ts as i64);
                        cols.f("bid", Some(bid.unwrap_or(0.0)));
                        cols.f("ask", ask);
                        cols.f("bid_size", Some(bsz));
                        cols.f("ask_size", Some(asz));
                        lines.append_value(line_no as i64);
                    } else {
                        quote_recs.push((line_no, iid, ts, bid, ask, last));
                    }
                }
                _ => {}
            }
        }
        if target == Table::Quotes {
            // Contracts and underlying prices.
            let mut contracts: HashMap<u32, Option<Contract>> = HashMap::new();
            for &(_, iid, ts, ..) in &quote_recs {
                contracts.entry(iid).or_insert_with(|| {
                    defs.as_ref()
                        .and_then(|d| d.get(&iid).cloned())
                        .or_else(|| symbol_of(iid, ts).and_then(|s| parse_osi(&s)))
                });
            }
            let unds: Vec<String> = {
                let mut v: Vec<String> = contracts
                    .values()
                    .flatten()
                    .map(|c| c.underlying.clone())
                    .collect();
                v.sort();
                v.dedup();
                v
            };
            let prices = self.underlying_price_index(&unds)?;
            for (line, iid, ts, bid, ask, last) in quote_recs {
                let Some(Some(c)) = contracts.get(&iid) else {
                    reject(
                        line,
                        "root",
                        format!(
                            "instrument id {iid}: no OSI symbol in the symbology and no definition (pass --definitions)"
                        ),
                    );
                    continue;
                };
                let Some(ask) = ask else {
                    reject(line, "ask", "no offer (undefined ask price)".into());
                    continue;
                };
                let Some(spot) = price_at(&prices, &c.underlying, ts as i64) else {
                    reject(
                        line,
                        "underlying_price",
                        format!(
                            "no {} price stored at or before this quote (import its nbbo, trades or bars first)",
                            c.underlying
                        ),
                    );
                    continue;
                };
                let (style, settle) = INDEX_ROOTS
                    .iter()
                    .find(|(r, _)| *r == c.root)
                    .map_or(("american", "pm"), |(_, s)| ("european", *s));
                let settlement = wheelhouse_core::Settlement::parse(settle).unwrap_or_default();
                let exp = wheelhouse_core::exchange_time::expiration_instant(
                    c.expiration_date,
                    settlement,
                )
                .map_err(|e| StoreError::malformed(&file, e.to_string()))?;
                cols.s("underlying", &c.underlying);
                cols.s("root", &c.root);
                cols.t("quote_time", ts as i64);
                cols.t("expiration", exp.0);
                cols.f("strike", Some(c.strike));
                cols.s("type", if c.call { "call" } else { "put" });
                cols.s("style", style);
                cols.s("settlement", settle);
                cols.f("bid", Some(bid.unwrap_or(0.0)));
                cols.f("ask", Some(ask));
                cols.f("last", last);
                cols.f("underlying_price", Some(spot));
                lines.append_value(line as i64);
            }
        }
        let batch = cols.finish()?;
        let mut arrays: Vec<ArrayRef> = batch.columns().to_vec();
        let mut fields: Vec<Field> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        arrays.push(Arc::new(lines.finish()));
        fields.push(Field::new("_line", DataType::Int64, false));
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| {
            StoreError::Arrow {
                context: "DBN rows".into(),
                message: e.to_string(),
            }
        })?;
        Ok(DbnRows {
            table: target,
            batch,
            rejections,
            description,
        })
    }
}

/// (bid, ask, bid size, ask size, last trade price, quote instant) of a top-of-book record.
#[allow(
    clippy::type_complexity,
    reason = "private tuple of one record's fields"
)]
fn top_of_book(
    rec: &RecordRef<'_>,
) -> Option<(Option<f64>, Option<f64>, f64, f64, Option<f64>, u64)> {
    if let Some(m) = rec.get::<Mbp1Msg>() {
        let l = &m.levels[0];
        return Some((
            px(l.bid_px),
            px(l.ask_px),
            f64::from(l.bid_sz),
            f64::from(l.ask_sz),
            None,
            m.ts_recv,
        ));
    }
    if let Some(m) = rec.get::<BboMsg>() {
        let l = &m.levels[0];
        return Some((
            px(l.bid_px),
            px(l.ask_px),
            f64::from(l.bid_sz),
            f64::from(l.ask_sz),
            px(m.price),
            m.ts_recv,
        ));
    }
    if let Some(m) = rec.get::<Cmbp1Msg>() {
        let l = &m.levels[0];
        return Some((
            px(l.bid_px),
            px(l.ask_px),
            f64::from(l.bid_sz),
            f64::from(l.ask_sz),
            None,
            m.ts_recv,
        ));
    }
    if let Some(m) = rec.get::<CbboMsg>() {
        let l = &m.levels[0];
        return Some((
            px(l.bid_px),
            px(l.ask_px),
            f64::from(l.bid_sz),
            f64::from(l.ask_sz),
            px(m.price),
            m.ts_recv,
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osi_symbols() {
        let c = parse_osi("AAPL  240119C00190000").unwrap();
        assert_eq!(
            (c.root.as_str(), c.underlying.as_str(), c.strike, c.call),
            ("AAPL", "AAPL", 190.0, true)
        );
        assert_eq!(c.expiration_date, jiff::civil::Date::constant(2024, 1, 19));
        let c = parse_osi("SPXW  240119P04750500").unwrap();
        assert_eq!((c.root.as_str(), c.strike, c.call), ("SPXW", 4750.5, false));
        let c = parse_osi("AAPL1 240119P00100000").unwrap();
        assert_eq!((c.root.as_str(), c.underlying.as_str()), ("AAPL1", "AAPL"));
        assert!(parse_osi("AAPL").is_none());
        assert!(parse_osi("AAPL  241319C00190000").is_none());
    }
}
