//! Validated, atomic, idempotent imports of canonical (or mapped) CSV and Parquet files.
//!
//! One import is one DuckDB transaction: rows are parsed and validated, de-duplicated on the
//! table's key (first occurrence in the file wins) and stored where the key is not already
//! stored. Two paths give that result: when no key fingerprint repeats within the file, the
//! rows are appended straight to the table under the new import id and those whose key was
//! already stored are deleted afterwards; otherwise (and for tables whose sequence numbers are
//! derived) the rows are staged in a temporary table and merged from there. Canonical Arrow
//! batches (Parquet, in-memory) are checked a column at a time; any batch with a bad row or a
//! layout the columnar checks do not cover goes through the row parser. Batches reach DuckDB
//! through a table function fed by the reader, so the insert runs on every database thread. Every rejected row is reported with its line (CSV) or
//! row number (Parquet, 1-based), the field and the reason; a file-level problem (missing
//! column, wrong field count, truncated or corrupt data) aborts the whole import and leaves
//! the store exactly as it was. Re-importing the same data inserts nothing; a stored key with
//! different values is kept as it was and counted in `conflicts`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::Hasher;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant as Clock;

use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type, TimestampNanosecondType};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use duckdb::Connection;
use jiff::tz::TimeZone;
use wheelhouse_core::{ExerciseStyle, OptionType, Settlement};

use crate::mapping::Mapping;
use crate::spec::{Check, Req, Table, TableSpec, Ty};
use crate::timeparse::{TimeValue, date_at, date_from_days, parse_time};
use crate::{Store, StoreError};

/// Rows per staged Arrow batch.
const BATCH_ROWS: usize = 32 * 1024;

/// Input file format, from the extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Comma-separated text with a header line.
    Csv,
    /// Apache Parquet.
    Parquet,
}

impl FileFormat {
    /// `.csv`/`.txt`/`.tsv` → CSV, `.parquet`/`.pq` → Parquet.
    ///
    /// # Errors
    /// [`StoreError::MalformedFile`] for any other extension.
    pub fn from_path(path: &Path) -> Result<Self, StoreError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv" | "txt" | "tsv") => Ok(FileFormat::Csv),
            Some("parquet" | "pq") => Ok(FileFormat::Parquet),
            _ => Err(StoreError::malformed(
                &path.display().to_string(),
                "unknown file type: use a .csv or .parquet extension",
            )),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::Parquet => "parquet",
        }
    }
}

/// One rejected row.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// Line in a CSV file (the header is line 1) or 1-based row in a Parquet file.
    pub line: u64,
    /// The canonical field at fault, if one.
    pub field: Option<&'static str>,
    /// The offending value as read, if one.
    pub value: Option<String>,
    /// Why the row was rejected.
    pub reason: String,
    /// The raw CSV record (empty for Parquet).
    pub raw: String,
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct ImportReport {
    /// The input file.
    pub file: String,
    /// The table imported into.
    pub table: Table,
    /// The input format.
    pub format: FileFormat,
    /// Data rows read.
    pub rows_read: u64,
    /// Rows newly stored.
    pub accepted: u64,
    /// Rows rejected (see `rejections`).
    pub rejected: u64,
    /// Valid rows not stored because their key was already stored or repeated in the file.
    pub duplicates: u64,
    /// Of the duplicates, those whose values differ from the stored (or first) row.
    pub conflicts: u64,
    /// Every rejected row.
    pub rejections: Vec<Rejection>,
    /// Source columns that map to nothing (ignored).
    pub ignored_columns: Vec<String>,
    /// The id of this import in the `imports` table (None when nothing was stored).
    pub import_id: Option<i64>,
    /// Wall time of the import.
    pub seconds: f64,
}

/// Options of one import.
#[derive(Debug, Default)]
pub struct ImportOptions<'a> {
    /// A column mapping for a non-canonical layout.
    pub mapping: Option<&'a Mapping>,
    /// A label stored in the `imports` table (default: the file name).
    pub source_label: Option<&'a str>,
}

/// Where rows come from.
enum Source<'a> {
    File(&'a Path, FileFormat),
    Batches(&'a str, Vec<RecordBatch>),
}

/// One cell of a source row.
#[derive(Debug, Clone, Copy)]
enum Cell<'a> {
    Null,
    Text(&'a str),
    F64(f64),
    I64(i64),
    /// ns since the epoch, UTC.
    Instant(i64),
    /// A local date-time without zone, as ns of a naive clock.
    Naive(i64),
    /// Days since 1970-01-01.
    Date(i32),
}

/// A parsed value ready for storage.
#[derive(Debug, Clone)]
enum Val<'a> {
    Null,
    F64(f64),
    I64(i64),
    Str(Cow<'a, str>),
}

impl Val<'_> {
    fn f64(&self) -> Option<f64> {
        match self {
            Val::F64(v) => Some(*v),
            Val::I64(v) => Some(*v as f64),
            _ => None,
        }
    }
    fn i64(&self) -> Option<i64> {
        match self {
            Val::I64(v) => Some(*v),
            _ => None,
        }
    }
    fn str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }
}

struct Reject {
    field: Option<&'static str>,
    value: Option<String>,
    reason: String,
}

fn reject(
    field: &'static str,
    value: impl Into<Option<String>>,
    reason: impl Into<String>,
) -> Reject {
    Reject {
        field: Some(field),
        value: value.into(),
        reason: reason.into(),
    }
}

fn cell_text(c: Cell<'_>) -> String {
    match c {
        Cell::Null => String::new(),
        Cell::Text(s) => s.to_string(),
        Cell::F64(v) => v.to_string(),
        Cell::I64(v) | Cell::Instant(v) | Cell::Naive(v) => v.to_string(),
        Cell::Date(d) => d.to_string(),
    }
}

/// Column plan: where each canonical column comes from and how to read it.
struct Plan {
    spec: &'static TableSpec,
    /// A mapping file applies (the columnar path stands aside).
    mapped: bool,
    src: Vec<Option<usize>>,
    tz: TimeZone,
    formats: Vec<Option<String>>,
    times: Vec<Option<(i8, i8)>>,
    values: Vec<Option<HashMap<String, String>>>,
    scale: Vec<f64>,
    defaults: Vec<Option<String>>,
    settlement_idx: Option<usize>,
    /// root → column → value rules from the mapping.
    roots: HashMap<String, HashMap<String, String>>,
    root_idx: Option<usize>,
    underlying_idx: Option<usize>,
    /// One-entry cache per column: last text parsed as a time and its result.
    time_cache: Vec<Option<(String, Result<TimeValue, String>)>>,
}

impl Plan {
    fn new(
        spec: &'static TableSpec,
        headers: &[String],
        mapping: Option<&Mapping>,
        file: &str,
    ) -> Result<(Self, Vec<String>), StoreError> {
        let norm = |s: &str| s.trim().to_ascii_lowercase();
        let header_idx: HashMap<String, usize> = headers
            .iter()
            .enumerate()
            .map(|(i, h)| (norm(h), i))
            .collect();
        let mut src = Vec::with_capacity(spec.cols.len());
        let mut used = vec![false; headers.len()];
        for c in spec.cols {
            let found = if let Some(srcname) = mapping.and_then(|m| m.columns.get(c.name)) {
                match header_idx.get(&norm(srcname)) {
                    Some(&i) => Some(i),
                    None => {
                        return Err(StoreError::malformed(
                            file,
                            format!(
                                "the mapping takes column {} from {srcname:?}, which is not in the header",
                                c.name
                            ),
                        ));
                    }
                }
            } else {
                std::iter::once(c.name)
                    .chain(c.aliases.iter().copied())
                    .find_map(|n| header_idx.get(n).copied())
            };
            let has_default = mapping.is_some_and(|m| m.defaults.contains_key(c.name));
            if found.is_none() && c.req == Req::Required && !has_default {
                return Err(StoreError::malformed(
                    file,
                    format!(
                        "missing required column {:?} (header has: {})",
                        c.name,
                        headers.join(",")
                    ),
                ));
            }
            if let Some(i) = found {
                used[i] = true;
            }
            src.push(found);
        }
        let ignored = headers
            .iter()
            .zip(&used)
            .filter(|(_, u)| !**u)
            .map(|(h, _)| h.clone())
            .collect();
        let tz_name = mapping
            .and_then(|m| m.time_zone.clone())
            .unwrap_or_else(|| wheelhouse_core::exchange_time::NEW_YORK.to_string());
        let tz = TimeZone::get(&tz_name).map_err(|e| StoreError::InvalidConfig {
            field: "time_zone",
            value: tz_name.clone(),
            reason: e.to_string(),
        })?;
        let per_col = |f: &dyn Fn(&Mapping, &str) -> Option<String>| -> Vec<Option<String>> {
            spec.cols
                .iter()
                .map(|c| mapping.and_then(|m| f(m, c.name)))
                .collect()
        };
        let formats = per_col(&|m, c| m.formats.get(c).cloned());
        let defaults = spec
            .cols
            .iter()
            .map(|c| {
                mapping
                    .and_then(|m| m.defaults.get(c.name).cloned())
                    .or(match c.req {
                        Req::Default(d) => Some(d.to_string()),
                        _ => None,
                    })
            })
            .collect();
        let times = spec
            .cols
            .iter()
            .map(|c| mapping.and_then(|m| m.times.get(c.name).copied()))
            .collect();
        let values = spec
            .cols
            .iter()
            .map(|c| {
                mapping.and_then(|m| {
                    m.values.get(c.name).map(|v| {
                        v.iter()
                            .map(|(k, val)| (k.trim().to_string(), val.clone()))
                            .collect()
                    })
                })
            })
            .collect();
        let scale = spec
            .cols
            .iter()
            .map(|c| {
                mapping
                    .and_then(|m| m.scale.get(c.name).copied())
                    .unwrap_or(1.0)
            })
            .collect();
        Ok((
            Plan {
                spec,
                mapped: mapping.is_some(),
                src,
                tz,
                formats,
                times,
                values,
                scale,
                defaults,
                settlement_idx: spec.index("settlement"),
                roots: mapping.map(|m| m.roots.clone()).unwrap_or_default(),
                root_idx: spec.index("root"),
                underlying_idx: spec.index("underlying"),
                time_cache: vec![None; spec.cols.len()],
            },
            ignored,
        ))
    }

    /// Canonical columns that are null in every row: no source column, no default, no rule
    /// that fills them.
    fn always_null(&self) -> Vec<bool> {
        self.spec
            .cols
            .iter()
            .enumerate()
            .map(|(i, c)| {
                self.src[i].is_none()
                    && self.defaults[i].is_none()
                    && c.req != Req::Required
                    && (self.roots.is_empty() || !matches!(c.ty, Ty::Style | Ty::Settlement))
            })
            .collect()
    }

    /// Parses one row into `out` (one value per canonical column).
    fn parse_row<'r>(
        &mut self,
        cell: &dyn Fn(usize) -> Cell<'r>,
        out: &mut Vec<Val<'r>>,
    ) -> Result<(), Reject> {
        out.clear();
        let n = self.spec.cols.len();
        out.resize(n, Val::Null);
        // Expiration last: a bare expiration date needs the settlement column.
        for pass in 0..2 {
            for i in 0..n {
                let is_exp = self.spec.cols[i].ty == Ty::Expiration;
                if (pass == 0) == is_exp {
                    continue;
                }
                let v = self.parse_col(i, cell, out)?;
                out[i] = v;
            }
        }
        validate_row(self.spec, out)
    }

    fn parse_col<'r>(
        &mut self,
        i: usize,
        cell: &dyn Fn(usize) -> Cell<'r>,
        parsed: &[Val<'r>],
    ) -> Result<Val<'r>, Reject> {
        let c = &self.spec.cols[i];
        let mut raw = match self.src[i] {
            Some(j) => cell(j),
            None => Cell::Null,
        };
        if let Cell::Text(s) = raw
            && s.trim().is_empty()
        {
            raw = Cell::Null;
        }
        // Value translation from the mapping.
        let mut translated: Option<String> = None;
        if let (Some(map), Cell::Text(s)) = (&self.values[i], raw)
            && let Some(t) = map.get(s.trim())
        {
            translated = Some(t.clone());
        }
        if translated.is_none()
            && matches!(raw, Cell::Null)
            && !self.roots.is_empty()
            && matches!(c.ty, Ty::Style | Ty::Settlement)
        {
            let root = self
                .root_idx
                .and_then(|j| parsed[j].str())
                .or_else(|| self.underlying_idx.and_then(|j| parsed[j].str()));
            if let Some(rule) = root
                .and_then(|r| self.roots.get(r))
                .and_then(|m| m.get(c.name))
            {
                translated = Some(rule.clone());
            }
        }
        let default_owned;
        let raw = match (&translated, raw) {
            (Some(_), _) => Cell::Null, // replaced below
            (None, Cell::Null) => match &self.defaults[i] {
                Some(d) => {
                    default_owned = d.clone();
                    return self.parse_text_owned(i, &default_owned, parsed).map(own);
                }
                None => match c.req {
                    Req::Required => {
                        return Err(reject(c.name, None, "missing value"));
                    }
                    _ => return Ok(Val::Null),
                },
            },
            (None, other) => other,
        };
        if let Some(t) = translated {
            return self.parse_text_owned(i, &t, parsed).map(own);
        }
        self.parse_cell(i, raw, parsed)
    }

    fn parse_text_owned(
        &mut self,
        i: usize,
        s: &str,
        parsed: &[Val<'_>],
    ) -> Result<Val<'static>, Reject> {
        // A translated or default text: parse, then detach from the temporary.
        let v = self.parse_cell(i, Cell::Text(s), parsed)?;
        Ok(match v {
            Val::Str(c) => Val::Str(Cow::Owned(c.into_owned())),
            Val::F64(x) => Val::F64(x),
            Val::I64(x) => Val::I64(x),
            Val::Null => Val::Null,
        })
    }

    fn parse_cell<'r>(
        &mut self,
        i: usize,
        raw: Cell<'r>,
        parsed: &[Val<'_>],
    ) -> Result<Val<'r>, Reject> {
        let c = self.spec.cols[i];
        let name = c.name;
        let bad = |reason: &str| reject(name, Some(cell_text(raw)), reason.to_string());
        let v = match c.ty {
            Ty::Symbol => match raw {
                Cell::Text(s) => {
                    let t = s.trim();
                    if t.is_empty() || t.chars().any(char::is_whitespace) {
                        return Err(bad("not a symbol"));
                    }
                    if t.bytes().any(|b| b.is_ascii_lowercase()) {
                        Val::Str(Cow::Owned(t.to_ascii_uppercase()))
                    } else {
                        Val::Str(Cow::Borrowed(t))
                    }
                }
                _ => return Err(bad("not a symbol")),
            },
            Ty::F64 | Ty::Tenor => {
                let x = match raw {
                    Cell::F64(x) => x,
                    Cell::I64(x) => x as f64,
                    Cell::Text(s) => {
                        let s = s.trim();
                        match s.parse::<f64>() {
                            Ok(x) => x,
                            Err(_) if c.ty == Ty::Tenor => parse_tenor(s).ok_or_else(|| {
                                bad("not a tenor (years, or a code like 3M, 13W, 1Y)")
                            })?,
                            Err(_) => return Err(bad("not a number")),
                        }
                    }
                    _ => return Err(bad("not a number")),
                };
                let x = x * self.scale[i];
                check_number(name, x, c.check, raw)?;
                Val::F64(x)
            }
            Ty::I64 => {
                let x = match raw {
                    Cell::I64(x) => x,
                    Cell::F64(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => x as i64,
                    Cell::Text(s) => {
                        let s = s.trim();
                        match s.parse::<i64>() {
                            Ok(x) => x,
                            Err(_) => match s.parse::<f64>() {
                                Ok(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => x as i64,
                                _ => return Err(bad("not an integer")),
                            },
                        }
                    }
                    _ => return Err(bad("not an integer")),
                };
                let xf = x as f64 * self.scale[i];
                check_number(name, xf, c.check, raw)?;
                Val::I64(xf as i64)
            }
            Ty::Instant | Ty::Expiration => {
                let tv = match raw {
                    Cell::Text(s) => {
                        let s = s.trim();
                        let hit = match &self.time_cache[i] {
                            Some((k, r)) if k == s => Some(r.clone()),
                            _ => None,
                        };
                        let r = match hit {
                            Some(r) => r,
                            None => {
                                let r = parse_time(s, &self.tz, self.formats[i].as_deref());
                                self.time_cache[i] = Some((s.to_string(), r.clone()));
                                r
                            }
                        };
                        r.map_err(|e| bad(&e))?
                    }
                    Cell::Instant(ns) => TimeValue::Instant(ns),
                    Cell::Naive(ns) => {
                        let ts = jiff::Timestamp::from_nanosecond(i128::from(ns))
                            .map_err(|e| bad(&e.to_string()))?;
                        let dt = ts.to_zoned(TimeZone::UTC).datetime();
                        let u = wheelhouse_core::exchange_time::local_to_utc(dt, &self.tz)
                            .map_err(|e| bad(&e.to_string()))?;
                        TimeValue::Instant(u.0)
                    }
                    Cell::Date(d) => TimeValue::Date(date_from_days(d).map_err(|e| bad(&e))?),
                    _ => return Err(bad("not a date or time")),
                };
                match tv {
                    TimeValue::Instant(ns) => Val::I64(ns),
                    TimeValue::Date(d) => {
                        let (h, m) = if let Some(t) = self.times[i] {
                            t
                        } else if c.ty == Ty::Expiration {
                            let s = self
                                .settlement_idx
                                .and_then(|j| parsed[j].str())
                                .and_then(Settlement::parse)
                                .unwrap_or_default();
                            match s {
                                Settlement::Pm => (16, 0),
                                Settlement::Am => (9, 30),
                            }
                        } else {
                            (16, 0)
                        };
                        Val::I64(date_at(d, h, m, &self.tz).map_err(|e| bad(&e))?.0)
                    }
                }
            }
            Ty::OptionType => match raw {
                Cell::Text(s) => Val::Str(Cow::Borrowed(
                    OptionType::parse(s)
                        .ok_or_else(|| bad("unknown option type (call|put|C|P)"))?
                        .as_str(),
                )),
                _ => return Err(bad("unknown option type (call|put|C|P)")),
            },
            Ty::Style => match raw {
                Cell::Text(s) => Val::Str(Cow::Borrowed(
                    ExerciseStyle::parse(s)
                        .ok_or_else(|| bad("unknown exercise style (american|european)"))?
                        .as_str(),
                )),
                _ => return Err(bad("unknown exercise style (american|european)")),
            },
            Ty::Settlement => match raw {
                Cell::Text(s) => Val::Str(Cow::Borrowed(
                    Settlement::parse(s)
                        .ok_or_else(|| bad("unknown settlement (am|pm)"))?
                        .as_str(),
                )),
                _ => return Err(bad("unknown settlement (am|pm)")),
            },
            Ty::Interval => {
                let secs = match raw {
                    Cell::I64(x) if x > 0 && x <= i64::from(u32::MAX) => x as u32,
                    Cell::Text(s) => match s.trim().parse::<u32>() {
                        Ok(x) if x > 0 => x,
                        _ => wheelhouse_core::records::BarInterval::parse(s)
                            .ok_or_else(|| bad("unknown interval (1d, 1m, 5m, 1h or seconds)"))?
                            .as_seconds(),
                    },
                    _ => return Err(bad("unknown interval (1d, 1m, 5m, 1h or seconds)")),
                };
                Val::I64(i64::from(secs))
            }
        };
        Ok(v)
    }
}

fn own(v: Val<'static>) -> Val<'static> {
    v
}

fn check_number(name: &'static str, x: f64, check: Check, raw: Cell<'_>) -> Result<(), Reject> {
    let bad = |reason: &str| reject(name, Some(cell_text(raw)), reason.to_string());
    if !x.is_finite() {
        return Err(bad("not a finite number"));
    }
    match check {
        Check::Finite => Ok(()),
        Check::Positive if x <= 0.0 => Err(bad("must be > 0")),
        Check::NonNegative if x < 0.0 => Err(bad("must be ≥ 0 (negative)")),
        Check::Rate if !(-1.0..=1.0).contains(&x) => {
            Err(bad("rate outside [-1, 1]: rates are decimals (0.05 = 5 %)"))
        }
        _ => Ok(()),
    }
}

/// `3M` → 0.25, `13W` → 91/365, `30D` → 30/365, `2Y` → 2.
fn parse_tenor(s: &str) -> Option<f64> {
    let s = s.trim().to_ascii_uppercase();
    let (n, unit) = s.split_at(s.len().checked_sub(1)?);
    let n: f64 = n.parse().ok()?;
    let years = match unit {
        "D" => n / 365.0,
        "W" => n * 7.0 / 365.0,
        "M" => n / 12.0,
        "Y" => n,
        _ => return None,
    };
    (years > 0.0 && years.is_finite()).then_some(years)
}

/// Cross-field rules of each table.
fn validate_row(spec: &TableSpec, v: &[Val<'_>]) -> Result<(), Reject> {
    let f = |name: &str| spec.index(name).and_then(|i| v[i].f64());
    let i = |name: &str| spec.index(name).and_then(|i| v[i].i64());
    match spec.table {
        Table::Quotes => {
            let (bid, ask) = (f("bid").unwrap_or(0.0), f("ask").unwrap_or(0.0));
            if bid > ask {
                return Err(reject(
                    "bid",
                    Some(bid.to_string()),
                    format!("bid {bid} > ask {ask}"),
                ));
            }
            let (qt, exp) = (i("quote_time").unwrap_or(0), i("expiration").unwrap_or(0));
            if exp <= qt {
                return Err(reject(
                    "expiration",
                    Some(exp.to_string()),
                    "expiration is not after the quote time",
                ));
            }
            let s = f("underlying_price").unwrap_or(f64::INFINITY);
            let k = f("strike").unwrap_or(f64::INFINITY);
            let is_call = spec.index("type").and_then(|j| v[j].str()) == Some("call");
            // Model-free upper bounds: a call is worth at most the share, a put at most the
            // strike (American; a European put at most the discounted strike, which is lower
            // for positive rates).
            let bound = if is_call { s } else { k };
            if bid > bound * (1.0 + 1e-9) {
                return Err(reject(
                    "bid",
                    Some(bid.to_string()),
                    format!(
                        "bid {bid} above the no-arbitrage upper bound {bound} ({})",
                        if is_call {
                            "a call is worth at most the underlying"
                        } else {
                            "a put is worth at most its strike"
                        }
                    ),
                ));
            }
            Ok(())
        }
        Table::Bars => {
            let (o, h, l, c) = (
                f("open").unwrap_or(0.0),
                f("high").unwrap_or(0.0),
                f("low").unwrap_or(0.0),
                f("close").unwrap_or(0.0),
            );
            if h < l || h < o || h < c || l > o || l > c {
                return Err(reject(
                    "high",
                    Some(h.to_string()),
                    format!("inconsistent bar: open {o} high {h} low {l} close {c}"),
                ));
            }
            Ok(())
        }
        Table::Nbbo => {
            let (bid, ask) = (f("bid").unwrap_or(0.0), f("ask").unwrap_or(0.0));
            if bid > ask && ask > 0.0 {
                return Err(reject(
                    "bid",
                    Some(bid.to_string()),
                    format!("crossed quote: bid {bid} > ask {ask}"),
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Arrow builders for the staged columns.
enum Builder {
    Str(StringBuilder),
    F64(Float64Builder),
    I64(Int64Builder),
}

/// How staged batches end: a `_line` column (the temporary stage) or the import id (rows
/// appended straight to the table).
#[derive(Debug, Clone, Copy)]
enum Tail {
    Line,
    ImportId(i64),
}

/// Keys fingerprinted per import before the stager stops tracking them (8 bytes each, 128 MiB
/// at the cap); beyond it the store checks repeats itself.
const FINGERPRINT_CAP: usize = 16 * 1024 * 1024;

/// What the stager learned about the keys of the rows it staged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repeats {
    /// Every row's key fingerprint is distinct: no key repeats in the file.
    None,
    /// Two rows share a fingerprint: a key may repeat (or two keys share a hash).
    Possible,
    /// Too many rows to track: unknown.
    Untracked,
}

/// A fast 64-bit hasher for key fingerprints (multiply–rotate per word, MurmurHash3's
/// finaliser). Not collision-resistant against crafted input, and it need not be: two keys
/// that share a fingerprint only send the import to the exact (staged) path.
#[derive(Clone, Copy)]
struct Fp(u64);

impl Default for Fp {
    fn default() -> Self {
        Fp(0x2545_F491_4F6C_DD1D)
    }
}

impl Fp {
    #[inline]
    fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29);
    }

    // One key value as stored (the row path and the columnar path must agree).
    #[inline]
    fn text(&mut self, s: &str) {
        self.write_u8(1);
        self.write(s.as_bytes());
        self.write_u8(0xff);
    }
    #[inline]
    fn double(&mut self, x: f64) {
        self.write_u8(2);
        self.write_u64((x + 0.0).to_bits());
    }
    #[inline]
    fn int(&mut self, x: i64) {
        self.write_u8(3);
        self.write_i64(x);
    }
    #[inline]
    fn null(&mut self) {
        self.write_u8(0);
    }
}

impl Hasher for Fp {
    #[inline]
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        h ^= h >> 33;
        h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
        h ^ (h >> 33)
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.word(u64::from_le_bytes(w));
        }
        let r = chunks.remainder();
        let mut last = [0u8; 8];
        last[..r.len()].copy_from_slice(r);
        self.word(u64::from_le_bytes(last) ^ ((bytes.len() as u64) << 56));
    }
    #[inline]
    fn write_u8(&mut self, b: u8) {
        self.word(u64::from(b) | 0x100);
    }
    #[inline]
    fn write_u64(&mut self, x: u64) {
        self.word(x);
    }
}

struct Stager {
    spec: &'static TableSpec,
    builders: Vec<Builder>,
    line: Int64Builder,
    tail: Tail,
    schema: Arc<Schema>,
    rows: usize,
    /// Rows staged in all batches so far.
    staged: u64,
    /// `root` column filled from `underlying` when missing: (root, underlying).
    root_from: Option<(usize, usize)>,
    key_idx: Vec<usize>,
    time_idx: Option<usize>,
    /// Smallest and largest value of the time column.
    lo: i64,
    hi: i64,
    /// Key fingerprints (only when `tail` is the import id).
    keys: Option<Vec<u64>>,
    cap: usize,
    repeats: Repeats,
    /// Columns left out of the batches (null in every row: the table's default fills them).
    omitted: Vec<bool>,
    /// Batches staged whole (the columnar path), waiting to be sent.
    ready: Vec<RecordBatch>,
}

impl Stager {
    /// `cap`: key fingerprints tracked at most (with `Tail::ImportId`).
    fn new(spec: &'static TableSpec, tail: Tail, expected_rows: u64, cap: usize) -> Self {
        let mut fields: Vec<Field> = spec
            .cols
            .iter()
            .map(|c| Field::new(c.name, arrow_type(c.ty), true))
            .collect();
        fields.push(match tail {
            Tail::Line => Field::new("_line", DataType::Int64, false),
            Tail::ImportId(_) => Field::new("import_id", DataType::Int64, false),
        });
        let keys = matches!(tail, Tail::ImportId(_)).then(|| {
            let reserve = usize::try_from(expected_rows).unwrap_or(cap).min(cap);
            Vec::with_capacity(reserve)
        });
        let mut s = Stager {
            spec,
            builders: Vec::new(),
            line: Int64Builder::new(),
            tail,
            schema: Arc::new(Schema::new(fields)),
            rows: 0,
            staged: 0,
            root_from: spec.index("root").zip(spec.index("underlying")),
            key_idx: spec.key.iter().filter_map(|k| spec.index(k)).collect(),
            time_idx: spec.index(spec.time_col),
            lo: i64::MAX,
            hi: i64::MIN,
            keys,
            cap,
            repeats: Repeats::None,
            omitted: vec![false; spec.cols.len()],
            ready: Vec::new(),
        };
        s.reset();
        s
    }

    /// Leaves the columns marked in `always_null` out of the batches (before any row; the
    /// root filled from the underlying is kept).
    fn omit(&mut self, always_null: &[bool]) {
        self.omitted = always_null.to_vec();
        if let Some((root, _)) = self.root_from {
            self.omitted[root] = false;
        }
        let fields: Vec<Field> = self
            .schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.omitted.get(*i).copied().unwrap_or(false))
            .map(|(_, f)| f.as_ref().clone())
            .collect();
        self.schema = Arc::new(Schema::new(fields));
    }

    fn reset(&mut self) {
        self.builders = self
            .spec
            .cols
            .iter()
            .map(|c| match arrow_type(c.ty) {
                DataType::Utf8 => {
                    Builder::Str(StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 6))
                }
                DataType::Float64 => Builder::F64(Float64Builder::with_capacity(BATCH_ROWS)),
                _ => Builder::I64(Int64Builder::with_capacity(BATCH_ROWS)),
            })
            .collect();
        self.line = Int64Builder::with_capacity(BATCH_ROWS);
        self.rows = 0;
    }

    /// The value stored for column `i` of a parsed row (a missing root is the underlying).
    fn effective<'v, 'r>(&self, vals: &'v [Val<'r>], i: usize) -> &'v Val<'r> {
        match (&vals[i], self.root_from) {
            (Val::Null, Some((root, underlying))) if root == i => &vals[underlying],
            (v, _) => v,
        }
    }

    /// Fingerprint of the row's key as it will be stored (the column types decide the
    /// representation: an integer in a DOUBLE column hashes as the double).
    fn fingerprint(&self, vals: &[Val<'_>]) -> u64 {
        let mut h = Fp::default();
        for &i in &self.key_idx {
            match (&self.builders[i], self.effective(vals, i)) {
                (Builder::Str(_), Val::Str(s)) => h.text(s),
                (Builder::F64(_), Val::F64(x)) => h.double(*x),
                (Builder::F64(_), Val::I64(x)) => h.double(*x as f64),
                (Builder::I64(_), Val::I64(x)) => h.int(*x),
                _ => h.null(),
            }
        }
        h.finish()
    }

    /// Records one row's key fingerprint (up to the cap).
    #[inline]
    fn track(&mut self, fp: u64) {
        if let Some(keys) = self.keys.as_mut() {
            if keys.len() >= self.cap {
                self.keys = None;
                self.repeats = Repeats::Untracked;
            } else {
                keys.push(fp);
            }
        }
    }

    /// After the last row: whether two fingerprints are equal (sorted, then compared with
    /// their neighbours).
    fn settle_repeats(&mut self) {
        if let Some(mut keys) = self.keys.take() {
            keys.sort_unstable();
            if keys.windows(2).any(|w| w[0] == w[1]) {
                self.repeats = Repeats::Possible;
            }
        }
    }

    fn push(&mut self, vals: &[Val<'_>], line: u64) {
        if let Some(t) = self.time_idx.and_then(|i| vals[i].i64()) {
            self.lo = self.lo.min(t);
            self.hi = self.hi.max(t);
        }
        if self.keys.is_some() {
            let fp = self.fingerprint(vals);
            self.track(fp);
        }
        for i in 0..self.builders.len() {
            if self.omitted[i] {
                continue;
            }
            let v = self.effective(vals, i);
            match (&mut self.builders[i], v) {
                (Builder::Str(b), Val::Str(s)) => b.append_value(s),
                (Builder::F64(b), Val::F64(x)) => b.append_value(*x),
                (Builder::F64(b), Val::I64(x)) => b.append_value(*x as f64),
                (Builder::I64(b), Val::I64(x)) => b.append_value(*x),
                (Builder::Str(b), _) => b.append_null(),
                (Builder::F64(b), _) => b.append_null(),
                (Builder::I64(b), _) => b.append_null(),
            }
        }
        self.line.append_value(line as i64);
        self.rows += 1;
        self.staged += 1;
    }

    fn finish(&mut self) -> Result<RecordBatch, StoreError> {
        let mut cols: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .zip(&self.omitted)
            .filter(|(_, o)| !**o)
            .map(|(b, _)| -> ArrayRef {
                match b {
                    Builder::Str(b) => Arc::new(b.finish()),
                    Builder::F64(b) => Arc::new(b.finish()),
                    Builder::I64(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        cols.push(match self.tail {
            Tail::Line => Arc::new(self.line.finish()),
            Tail::ImportId(id) => Arc::new(arrow_array::Int64Array::from_value(id, self.rows)),
        });
        let batch =
            RecordBatch::try_new(self.schema.clone(), cols).map_err(|e| StoreError::Arrow {
                context: "staging batch".into(),
                message: e.to_string(),
            })?;
        self.reset();
        Ok(batch)
    }
}

fn arrow_type(ty: Ty) -> DataType {
    if TableSpec::is_text(ty) {
        DataType::Utf8
    } else if TableSpec::is_int(ty) {
        DataType::Int64
    } else {
        DataType::Float64
    }
}

fn sql_type(ty: Ty) -> &'static str {
    match arrow_type(ty) {
        DataType::Utf8 => "VARCHAR",
        DataType::Float64 => "DOUBLE",
        _ => "BIGINT",
    }
}

/// Progress of an import: (done, total) in bytes for CSV, rows for Parquet.
pub type Progress<'a> = &'a mut (dyn FnMut(u64, u64) + Send);

impl Store {
    /// Imports `path` into `table` atomically; see the module docs.
    ///
    /// # Errors
    /// [`StoreError::MalformedFile`] (nothing imported) for a file-level problem; database and
    /// I/O errors (nothing imported). Bad rows are not errors: they are in the report.
    pub fn import_file(
        &mut self,
        table: Table,
        path: &Path,
        opts: &ImportOptions<'_>,
        progress: Progress<'_>,
    ) -> Result<ImportReport, StoreError> {
        let format = FileFormat::from_path(path)?;
        self.import_source(table, Source::File(path, format), opts, progress)
    }

    /// Imports in-memory Arrow batches in a canonical (or mapped) layout, with the same
    /// validation, atomicity and idempotency as [`Store::import_file`]; `name` stands for the
    /// file in the report. Rows are numbered from 1 across the batches.
    ///
    /// # Errors
    /// As [`Store::import_file`].
    pub fn import_batches(
        &mut self,
        table: Table,
        name: &str,
        batches: Vec<RecordBatch>,
        opts: &ImportOptions<'_>,
        progress: Progress<'_>,
    ) -> Result<ImportReport, StoreError> {
        self.import_source(table, Source::Batches(name, batches), opts, progress)
    }

    fn import_source(
        &mut self,
        table: Table,
        source: Source<'_>,
        opts: &ImportOptions<'_>,
        progress: Progress<'_>,
    ) -> Result<ImportReport, StoreError> {
        self.import_capped(table, source, opts, progress, FINGERPRINT_CAP)
    }

    /// [`Store::import_source`] tracking at most `cap` key fingerprints.
    fn import_capped(
        &mut self,
        table: Table,
        source: Source<'_>,
        opts: &ImportOptions<'_>,
        progress: Progress<'_>,
        cap: usize,
    ) -> Result<ImportReport, StoreError> {
        let started = Clock::now();
        let (format, file, path) = match &source {
            Source::File(p, f) => (*f, p.display().to_string(), Some(*p)),
            Source::Batches(n, _) => (FileFormat::Parquet, (*n).to_string(), None),
        };
        let spec = table.spec();
        let label = opts.source_label.map(str::to_string).unwrap_or_else(|| {
            path.and_then(|p| p.file_name())
                .map_or(file.clone(), |n| n.to_string_lossy().into_owned())
        });
        let conn = &self.conn;
        let _unordered = UnorderedInserts::new(conn)?;
        conn.execute_batch("BEGIN TRANSACTION")?;
        let result = (|| {
            // Tables without window-derived columns first try the direct path: rows go
            // straight into the table (one write instead of a stage plus a copy). It hands
            // back when a key may repeat within the file; the transaction is then rolled back
            // and the file staged.
            let source = if spec.index("seq").is_none() {
                let again = match &source {
                    Source::File(p, f) => Source::File(p, *f),
                    Source::Batches(n, b) => Source::Batches(n, b.clone()),
                };
                match import_direct(
                    conn, spec, source, opts, &file, &label, format, progress, cap,
                )? {
                    Some(merged) => return Ok(merged),
                    None => {
                        tracing::debug!(
                            seconds = started.elapsed().as_secs_f64(),
                            "import: keys may repeat within the file; staging it instead"
                        );
                        conn.execute_batch("ROLLBACK; BEGIN TRANSACTION")?;
                        again
                    }
                }
            } else {
                source
            };
            let ddl: Vec<String> = spec
                .cols
                .iter()
                .map(|c| format!("\"{}\" {}", c.name, sql_type(c.ty)))
                .collect();
            conn.execute_batch(&format!(
                "DROP TABLE IF EXISTS temp._stage; CREATE TEMP TABLE _stage ({}, _line BIGINT)",
                ddl.join(", ")
            ))?;
            let staged = stage(
                conn,
                Target::Stage,
                source,
                Stager::new(spec, Tail::Line, 0, 0),
                opts.mapping,
                &file,
                progress,
            )?;
            tracing::debug!(
                seconds = started.elapsed().as_secs_f64(),
                appender_seconds = staged.append_seconds,
                "import: parsed, validated and staged"
            );
            let (accepted, duplicates, conflicts, import_id) =
                merge_stage(conn, spec, &label, format, staged.rejections.len())?;
            Ok(staged.report(
                &file, table, format, accepted, duplicates, conflicts, import_id,
            ))
        })();
        match result {
            Ok(mut report) => {
                conn.execute_batch("DROP TABLE IF EXISTS temp._stage; COMMIT")?;
                report.seconds = started.elapsed().as_secs_f64();
                tracing::info!(
                    file = %report.file,
                    table = spec.db_table,
                    accepted = report.accepted,
                    rejected = report.rejected,
                    duplicates = report.duplicates,
                    seconds = report.seconds,
                    "import committed"
                );
                Ok(report)
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                tracing::warn!(file = %file, error = %e, "import rolled back");
                Err(e)
            }
        }
    }
}

/// Turns DuckDB's `preserve_insertion_order` off for one import — rows carry their line
/// numbers, and keeping the order would make the insert single-threaded — and back to what it
/// was when dropped, after the COMMIT or ROLLBACK (a failed transaction refuses every
/// statement but ROLLBACK). The setting is database-wide.
struct UnorderedInserts<'c> {
    conn: &'c Connection,
    was: bool,
}

impl<'c> UnorderedInserts<'c> {
    fn new(conn: &'c Connection) -> Result<Self, StoreError> {
        let was: bool = conn.query_row(
            "SELECT current_setting('preserve_insertion_order')::BOOLEAN",
            [],
            |r| r.get(0),
        )?;
        conn.execute_batch("SET preserve_insertion_order = false")?;
        Ok(UnorderedInserts { conn, was })
    }
}

impl Drop for UnorderedInserts<'_> {
    fn drop(&mut self) {
        if let Err(e) = self
            .conn
            .execute_batch(&format!("SET preserve_insertion_order = {}", self.was))
        {
            tracing::warn!(error = %e, "could not restore preserve_insertion_order");
        }
    }
}

/// What reading and appending a source produced.
struct Staged {
    rows_read: u64,
    ignored: Vec<String>,
    rejections: Vec<Rejection>,
    /// Rows appended.
    appended: u64,
    append_seconds: f64,
    /// Smallest and largest value of the time column among the appended rows.
    lo: i64,
    hi: i64,
    repeats: Repeats,
}

impl Staged {
    #[allow(clippy::too_many_arguments, reason = "the report's fields")]
    fn report(
        self,
        file: &str,
        table: Table,
        format: FileFormat,
        accepted: u64,
        duplicates: u64,
        conflicts: u64,
        import_id: Option<i64>,
    ) -> ImportReport {
        ImportReport {
            file: file.to_string(),
            table,
            format,
            rows_read: self.rows_read,
            accepted,
            rejected: self.rejections.len() as u64,
            duplicates,
            conflicts,
            rejections: self.rejections,
            ignored_columns: self.ignored,
            import_id,
            seconds: 0.0,
        }
    }
}

/// Where staged batches go: the temporary stage, or the table itself.
#[derive(Debug, Clone, Copy)]
enum Target {
    Stage,
    Table(&'static str),
}

/// Reads, validates and stages `source` on a second thread while this one appends the staged
/// Arrow batches to `target` (the two halves take similar time and overlap); flushes. The
/// appender takes the batches' columns (the others get the table's defaults).
fn stage(
    conn: &Connection,
    target: Target,
    source: Source<'_>,
    mut stager: Stager,
    mapping: Option<&Mapping>,
    file: &str,
    progress: Progress<'_>,
) -> Result<Staged, StoreError> {
    let spec = stager.spec;
    let (tx, rx) = std::sync::mpsc::sync_channel::<RecordBatch>(2);
    let mut append_seconds = 0.0;
    let (read, appended) = std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut sink = |stager: &mut Stager, force: bool| -> Result<(), StoreError> {
                if stager.rows > 0 && (force || stager.rows >= BATCH_ROWS) {
                    let batch = stager.finish()?;
                    stager.ready.push(batch);
                }
                for batch in stager.ready.drain(..) {
                    // A closed channel means the appender failed: stop reading (its error is
                    // the one reported).
                    tx.send(batch)
                        .map_err(|_| StoreError::malformed(file, "stopped"))?;
                }
                Ok(())
            };
            let mut rejections = Vec::new();
            let (rows_read, ignored) = match source {
                Source::File(p, format) => {
                    let read = match format {
                        FileFormat::Csv => read_csv,
                        FileFormat::Parquet => read_parquet,
                    };
                    read(
                        p,
                        file,
                        spec,
                        mapping,
                        &mut stager,
                        &mut sink,
                        &mut rejections,
                        progress,
                    )?
                }
                Source::Batches(_, batches) => {
                    let headers: Vec<String> = batches
                        .first()
                        .map(|b| {
                            b.schema()
                                .fields()
                                .iter()
                                .map(|f| f.name().clone())
                                .collect()
                        })
                        .unwrap_or_default();
                    let total = batches.iter().map(|b| b.num_rows() as u64).sum();
                    read_arrow(
                        file,
                        spec,
                        mapping,
                        &headers,
                        total,
                        batches.into_iter().map(Ok),
                        &mut stager,
                        &mut sink,
                        &mut rejections,
                        progress,
                    )?
                }
            };
            sink(&mut stager, true)?;
            stager.settle_repeats();
            Ok::<_, StoreError>((rows_read, ignored, rejections, stager))
        });
        // The first batch names the columns; then DuckDB's threads take the rest from the
        // channel (`feed`) while the reader keeps reading. Insertion order is not needed (the
        // stage carries line numbers), and keeping it would make the insert single-threaded.
        let appended = match rx.recv() {
            Err(_) => Ok(()),
            Ok(first) => {
                let t = Clock::now();
                let names: Vec<String> = first
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| format!("\"{}\"", f.name()))
                    .collect();
                let table = match target {
                    Target::Stage => "temp._stage",
                    Target::Table(t) => t,
                };
                let feed = crate::feed::Registration::new(first, rx);
                crate::feed::register(conn);
                let inserted = conn.execute(
                    &format!(
                        "INSERT INTO {table} ({}) SELECT * FROM {}({})",
                        names.join(", "),
                        crate::feed::FUNCTION,
                        feed.token()
                    ),
                    [],
                );
                // Closes the channel: a reader still going stops at its next batch.
                feed.close();
                append_seconds += t.elapsed().as_secs_f64();
                inserted.map(|_| ()).map_err(StoreError::from)
            }
        };
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(StoreError::malformed(file, "the reader thread panicked")));
        (read, appended)
    });
    appended?;
    let (rows_read, ignored, rejections, stager) = read?;
    Ok(Staged {
        rows_read,
        ignored,
        rejections,
        appended: stager.staged,
        append_seconds,
        lo: stager.lo,
        hi: stager.hi,
        repeats: stager.repeats,
    })
}

/// The direct path: appends the valid rows straight to the table under a new import id, then
/// removes those whose key is already stored (counting conflicts). `None` when a key may
/// repeat within the file (the caller rolls back and stages the file, where the first
/// occurrence wins).
#[allow(clippy::too_many_arguments, reason = "private step of import_source")]
fn import_direct(
    conn: &Connection,
    spec: &'static TableSpec,
    source: Source<'_>,
    opts: &ImportOptions<'_>,
    file: &str,
    label: &str,
    format: FileFormat,
    progress: Progress<'_>,
    cap: usize,
) -> Result<Option<ImportReport>, StoreError> {
    let started = Clock::now();
    let t = spec.db_table;
    let import_id: i64 = conn.query_row(
        "SELECT coalesce(max(import_id), 0) + 1 FROM imports",
        [],
        |r| r.get(0),
    )?;
    let expected = match &source {
        Source::Batches(_, b) => b.iter().map(|b| b.num_rows() as u64).sum(),
        Source::File(..) => 1 << 20,
    };
    let staged = stage(
        conn,
        Target::Table(t),
        source,
        Stager::new(spec, Tail::ImportId(import_id), expected, cap),
        opts.mapping,
        file,
        progress,
    )?;
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        appender_seconds = staged.append_seconds,
        repeats = ?staged.repeats,
        "import: parsed, validated and appended"
    );
    let phase = Clock::now();
    let lap = |what: &str| {
        tracing::debug!(
            seconds = phase.elapsed().as_secs_f64(),
            "import merge: {what}"
        );
    };
    let q = |c: &str| format!("\"{c}\"");
    let key: Vec<String> = spec.key.iter().map(|c| q(c)).collect();
    let mine = format!("import_id = {import_id}");
    match staged.repeats {
        Repeats::None => {}
        Repeats::Possible => return Ok(None),
        Repeats::Untracked => {
            let repeated: i64 = conn.query_row(
                &format!(
                    "SELECT count(*) FROM (SELECT 1 FROM {t} WHERE {mine} GROUP BY {k} HAVING count(*) > 1)",
                    k = key.join(", ")
                ),
                [],
                |r| r.get(0),
            )?;
            lap("repeated keys in the file");
            if repeated > 0 {
                return Ok(None);
            }
        }
    }
    let tc = spec.time_col;
    let (lo, hi) = (staged.lo, staged.hi);
    let window = format!("s.\"{tc}\" BETWEEN {lo} AND {hi} AND s.import_id <> {import_id}");
    // Stored rows in the file's time range: none (a new day, a fresh store) means nothing is
    // a duplicate.
    let overlap: bool = staged.appended > 0
        && conn.query_row(
            &format!("SELECT EXISTS (SELECT 1 FROM {t} s WHERE {window})"),
            [],
            |r| r.get(0),
        )?;
    let (duplicates, conflicts) = if overlap {
        let on = spec
            .key
            .iter()
            .map(|c| format!("u.\"{c}\" = s.\"{c}\""))
            .collect::<Vec<_>>()
            .join(" AND ");
        let matched = format!("{t} u JOIN {t} s ON {on} WHERE u.{mine} AND {window}");
        let conflicts: i64 = conn.query_row(
            &format!(
                "SELECT count(*) FROM {matched} AND ({diff})",
                diff = differs(spec, "u", "s")
            ),
            [],
            |r| r.get(0),
        )?;
        let duplicates = conn.execute(
            &format!("DELETE FROM {t} WHERE rowid IN (SELECT u.rowid FROM {matched})"),
            [],
        )?;
        lap("stored duplicates removed");
        (duplicates as u64, conflicts.max(0) as u64)
    } else {
        (0, 0)
    };
    let inserted = staged.appended.saturating_sub(duplicates);
    let id = if inserted > 0 {
        record_import(
            conn,
            spec,
            label,
            format,
            import_id,
            [
                inserted,
                staged.rejections.len() as u64,
                duplicates,
                conflicts,
            ],
            &format!("(SELECT * FROM {t} WHERE {mine})"),
        )?;
        Some(import_id)
    } else {
        None
    };
    lap("bookkeeping");
    Ok(Some(staged.report(
        file, spec.table, format, inserted, duplicates, conflicts, id,
    )))
}

/// `a.v IS DISTINCT FROM b.v OR …` over the table's non-key columns (`false` when none).
fn differs(spec: &TableSpec, a: &str, b: &str) -> String {
    let values: Vec<String> = spec
        .cols
        .iter()
        .map(|c| c.name)
        .filter(|c| !spec.key.contains(c))
        .map(|c| format!("{a}.\"{c}\" IS DISTINCT FROM {b}.\"{c}\""))
        .collect();
    if values.is_empty() {
        "false".into()
    } else {
        values.join(" OR ")
    }
}

/// Writes the `imports` row (counts: inserted, rejected, duplicates, conflicts), registers new
/// symbols and drops the cached analytics that depend on the rows in `new_rows` (a table
/// expression).
fn record_import(
    conn: &Connection,
    spec: &TableSpec,
    label: &str,
    format: FileFormat,
    import_id: i64,
    counts: [u64; 4],
    new_rows: &str,
) -> Result<(), StoreError> {
    let [inserted, rejected, duplicates, conflicts] =
        counts.map(|c| i64::try_from(c).unwrap_or(i64::MAX));
    conn.execute(
        "INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        duckdb::params![
            import_id,
            spec.db_table,
            label,
            format.as_str(),
            crate::now_ns(),
            inserted,
            rejected,
            duplicates,
            conflicts
        ],
    )?;
    if let Some((sym, kind)) = spec.symbol_col {
        conn.execute(
            &format!(
                "INSERT INTO instruments SELECT DISTINCT \"{sym}\", '{kind}', {import_id} FROM {new_rows}
                 WHERE \"{sym}\" NOT IN (SELECT symbol FROM instruments)"
            ),
            [],
        )?;
    }
    // Cached analytics that depend on what changed.
    match spec.table {
        Table::Quotes => conn.execute_batch(&format!(
            "DELETE FROM analytics_cache WHERE (underlying, quote_time) IN
             (SELECT DISTINCT underlying, quote_time FROM {new_rows})"
        ))?,
        Table::Rates => conn.execute_batch("DELETE FROM analytics_cache")?,
        Table::Dividends | Table::Splits | Table::Bars => conn.execute_batch(&format!(
            "DELETE FROM analytics_cache WHERE underlying IN (SELECT DISTINCT symbol FROM {new_rows})"
        ))?,
        Table::Trades | Table::Nbbo => {}
    }
    Ok(())
}

/// De-duplicates the staged rows and inserts the new ones; returns (accepted, duplicates,
/// conflicts, import id).
fn merge_stage(
    conn: &Connection,
    spec: &TableSpec,
    label: &str,
    format: FileFormat,
    rejected: usize,
) -> Result<(u64, u64, u64, Option<i64>), StoreError> {
    let t = spec.db_table;
    let q = |c: &str| format!("\"{c}\"");
    let cols: Vec<String> = spec.cols.iter().map(|c| q(c.name)).collect();
    let key: Vec<String> = spec.key.iter().map(|c| q(c)).collect();
    let has_seq = spec.index("seq").is_some();
    // Derived columns: a missing sequence number is the row's order among rows with the same
    // symbol and timestamp in this file; a missing root is the underlying.
    let mut select = String::from("*");
    if has_seq {
        select = "* REPLACE (coalesce(\"seq\", row_number() OVER (PARTITION BY \"symbol\", \"ts\" ORDER BY _line) - 1) AS \"seq\")".into();
    }
    if spec.index("root").is_some() {
        select = "* REPLACE (coalesce(\"root\", \"underlying\") AS \"root\")".into();
    }
    let phase = Clock::now();
    let lap = |what: &str| {
        tracing::debug!(
            seconds = phase.elapsed().as_secs_f64(),
            "import merge: {what}"
        );
    };
    let k = key.join(", ");
    // Derived columns: a view over the stage, except where a window derives the sequence number
    // (materialized once, as the view would recompute it at every read).
    let derived_kind = if has_seq { "TABLE" } else { "VIEW" };
    conn.execute_batch(&format!(
        "CREATE TEMP {derived_kind} _derived AS SELECT {select} FROM temp._stage"
    ))?;
    // In-file duplicates: the common file has none, and then the stage itself is the set of
    // unique rows (no copy, no window, no conflict join).
    let repeated_keys: i64 = conn.query_row(
        &format!(
            "SELECT count(*) FROM (SELECT 1 FROM temp._derived GROUP BY {k} HAVING count(*) > 1)"
        ),
        [],
        |r| r.get(0),
    )?;
    let uniq_kind = if repeated_keys == 0 { "VIEW" } else { "TABLE" };
    if repeated_keys == 0 {
        conn.execute_batch("CREATE TEMP VIEW _uniq AS SELECT * FROM temp._derived")?;
    } else {
        conn.execute_batch(&format!(
            "CREATE TEMP TABLE _uniq AS SELECT * EXCLUDE (_rn) FROM (
                 SELECT *, row_number() OVER (PARTITION BY {k} ORDER BY _line) AS _rn
                 FROM temp._derived)
             WHERE _rn = 1"
        ))?;
    }
    lap("derived columns and in-file de-duplication");
    let staged: i64 = conn.query_row("SELECT count(*) FROM temp._stage", [], |r| r.get(0))?;
    let differs = |a: &str, b: &str| differs(spec, a, b);
    let join_on = |a: &str, b: &str| -> String {
        spec.key
            .iter()
            .map(|c| format!("{a}.\"{c}\" = {b}.\"{c}\""))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    let tc = spec.time_col;
    let (lo, hi): (Option<i64>, Option<i64>) = conn.query_row(
        &format!("SELECT min(\"{tc}\"), max(\"{tc}\") FROM temp._uniq"),
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (lo, hi) = (lo.unwrap_or(0), hi.unwrap_or(-1));
    let in_file_conflicts: i64 = if repeated_keys == 0 {
        0
    } else {
        conn.query_row(
        &format!(
            "SELECT count(*) FROM temp._derived d JOIN temp._uniq u ON {on} AND d._line <> u._line WHERE {diff}",
            on = join_on("d", "u"),
            diff = differs("d", "u")
        ),
        [],
        |r| r.get(0),
    )?
    };
    // Stored rows in the file's time range: none (a new day, a fresh store) means no conflicts
    // and nothing to skip.
    let overlap: bool = conn.query_row(
        &format!("SELECT EXISTS (SELECT 1 FROM {t} WHERE \"{tc}\" BETWEEN {lo} AND {hi})"),
        [],
        |r| r.get(0),
    )?;
    let stored_conflicts: i64 = if !overlap {
        0
    } else {
        conn.query_row(
        &format!(
            "SELECT count(*) FROM temp._uniq u JOIN {t} s ON {on} WHERE s.\"{tc}\" BETWEEN {lo} AND {hi} AND ({diff})",
            on = join_on("u", "s"),
            diff = differs("u", "s")
        ),
        [],
        |r| r.get(0),
    )?
    };
    lap("conflict counts");
    let import_id: i64 = conn.query_row(
        "SELECT coalesce(max(import_id), 0) + 1 FROM imports",
        [],
        |r| r.get(0),
    )?;
    let inserted = conn.execute(
        &format!(
            "INSERT INTO {t} ({cols}, import_id)
             SELECT {ucols}, {import_id} FROM temp._uniq u {anti_join}",
            cols = cols.join(", "),
            ucols = spec.cols.iter().map(|c| format!("u.\"{}\"", c.name)).collect::<Vec<_>>().join(", "),
            anti_join = if overlap {
                format!(
                    "WHERE NOT EXISTS (SELECT 1 FROM {t} s WHERE s.\"{tc}\" BETWEEN {lo} AND {hi} AND {on})",
                    on = join_on("u", "s")
                )
            } else {
                String::new()
            },
        ),
        [],
    )? as i64;
    lap("insert of new rows");
    let duplicates = staged - inserted;
    let conflicts = in_file_conflicts + stored_conflicts;
    let id = if inserted > 0 {
        record_import(
            conn,
            spec,
            label,
            format,
            import_id,
            [
                inserted as u64,
                rejected as u64,
                duplicates.max(0) as u64,
                conflicts.max(0) as u64,
            ],
            "temp._uniq",
        )?;
        Some(import_id)
    } else {
        None
    };
    conn.execute_batch(&format!(
        "DROP {uniq_kind} temp._uniq; DROP {derived_kind} temp._derived"
    ))?;
    Ok((
        inserted as u64,
        duplicates.max(0) as u64,
        conflicts.max(0) as u64,
        id,
    ))
}

#[allow(
    clippy::too_many_arguments,
    reason = "one private helper per format, called twice"
)]
fn read_csv(
    path: &Path,
    file: &str,
    spec: &'static TableSpec,
    mapping: Option<&Mapping>,
    stager: &mut Stager,
    sink: &mut dyn FnMut(&mut Stager, bool) -> Result<(), StoreError>,
    rejections: &mut Vec<Rejection>,
    progress: Progress<'_>,
) -> Result<(u64, Vec<String>), StoreError> {
    let f = std::fs::File::open(path).map_err(|e| StoreError::io(path, e))?;
    let total = f.metadata().map(|m| m.len()).unwrap_or(0);
    let delim = mapping.and_then(|m| m.delimiter).unwrap_or(
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("tsv"))
        {
            b'\t'
        } else {
            b','
        },
    );
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delim)
        .has_headers(true)
        .flexible(false)
        .from_reader(std::io::BufReader::with_capacity(1 << 20, f));
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| StoreError::malformed(file, format!("header: {e}")))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    if headers.iter().all(|h| h.trim().is_empty()) {
        return Err(StoreError::malformed(
            file,
            "empty file or empty header line",
        ));
    }
    let (mut plan, ignored) = Plan::new(spec, &headers, mapping, file)?;
    stager.omit(&plan.always_null());
    let mut rec = csv::StringRecord::new();
    let mut spare: Vec<Val<'static>> = Vec::with_capacity(spec.cols.len());
    let mut rows = 0u64;
    loop {
        match rdr.read_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                let what = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => format!(
                        "line {line} has {len} fields, the header has {expected_len} (truncated or malformed file)"
                    ),
                    csv::ErrorKind::Utf8 { .. } => format!("line {line}: not valid UTF-8"),
                    _ => format!("line {line}: {e}"),
                };
                return Err(StoreError::malformed(file, what));
            }
        }
        rows += 1;
        let line = rec.position().map_or(rows + 1, |p| p.line());
        let r = &rec;
        let cell = |j: usize| -> Cell<'_> {
            match r.get(j) {
                Some(s) => Cell::Text(s),
                None => Cell::Null,
            }
        };
        let mut vals = recycle(std::mem::take(&mut spare));
        let parsed = plan.parse_row(&cell, &mut vals);
        if parsed.is_ok() {
            stager.push(&vals, line);
        }
        spare = recycle(vals);
        match parsed {
            Ok(()) => {
                sink(stager, false)?;
            }
            Err(rj) => {
                rejections.push(Rejection {
                    line,
                    field: rj.field,
                    value: rj.value,
                    reason: rj.reason,
                    raw: rec.iter().collect::<Vec<_>>().join(","),
                });
            }
        }
        if rows.is_multiple_of(65_536) {
            progress(rec.position().map_or(0, |p| p.byte()), total);
        }
    }
    progress(total, total);
    Ok((rows, ignored))
}

/// A Parquet column cast to one of the types rows are read from.
enum PqCol {
    Str(arrow_array::StringArray),
    F64(arrow_array::Float64Array),
    I64(arrow_array::Int64Array),
    Ts(arrow_array::TimestampNanosecondArray, bool),
    Date(arrow_array::Date32Array),
}

#[allow(
    clippy::too_many_arguments,
    reason = "one private helper per format, called twice"
)]
fn read_parquet(
    path: &Path,
    file: &str,
    spec: &'static TableSpec,
    mapping: Option<&Mapping>,
    stager: &mut Stager,
    sink: &mut dyn FnMut(&mut Stager, bool) -> Result<(), StoreError>,
    rejections: &mut Vec<Rejection>,
    progress: Progress<'_>,
) -> Result<(u64, Vec<String>), StoreError> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let f = std::fs::File::open(path).map_err(|e| StoreError::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(|e| StoreError::malformed(file, format!("not a readable Parquet file: {e}")))?;
    let total = u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    let headers: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let reader = builder
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| StoreError::malformed(file, format!("Parquet: {e}")))?;
    read_arrow(
        file,
        spec,
        mapping,
        &headers,
        total,
        reader.map(|b| b.map_err(|e| e.to_string())),
        stager,
        sink,
        rejections,
        progress,
    )
}

#[allow(
    clippy::too_many_arguments,
    reason = "private helper shared by Parquet and in-memory batches"
)]
fn read_arrow(
    file: &str,
    spec: &'static TableSpec,
    mapping: Option<&Mapping>,
    headers: &[String],
    total: u64,
    batches: impl Iterator<Item = Result<RecordBatch, String>>,
    stager: &mut Stager,
    sink: &mut dyn FnMut(&mut Stager, bool) -> Result<(), StoreError>,
    rejections: &mut Vec<Rejection>,
    progress: Progress<'_>,
) -> Result<(u64, Vec<String>), StoreError> {
    let (mut plan, mut ignored) = Plan::new(spec, headers, mapping, file)?;
    stager.omit(&plan.always_null());
    // In-memory sources may carry their own row numbers (e.g. DBN record numbers).
    let line_col = headers.iter().position(|h| h == "_line");
    ignored.retain(|h| h != "_line");
    let mut rows = 0u64;
    let needed: Vec<usize> = plan.src.iter().flatten().copied().collect();
    let mut spare: Vec<Val<'static>> = Vec::with_capacity(spec.cols.len());
    let (mut columnar, mut batches_read) = (0u64, 0u64);
    for batch in batches {
        batches_read += 1;
        let batch = batch.map_err(|e| {
            StoreError::malformed(file, format!("corrupt Parquet data after row {rows}: {e}"))
        })?;
        if batch.num_columns() != headers.len() {
            return Err(StoreError::malformed(
                file,
                "batches with different columns",
            ));
        }
        let mut cols: Vec<Option<PqCol>> = (0..batch.num_columns()).map(|_| None).collect();
        for &j in &needed {
            cols[j] = Some(prepare_column(batch.column(j), &headers[j], file)?);
        }
        let n = batch.num_rows();
        if let Some(staged) = plan.columnar(&cols, n) {
            columnar += 1;
            let given = line_col.and_then(|j| batch.column(j).as_primitive_opt::<Int64Type>());
            let lines: ArrayRef = match given {
                Some(l) => Arc::new(arrow_array::Int64Array::new(l.values().clone(), None)),
                None => Arc::new(arrow_array::Int64Array::from_iter_values(
                    (rows + 1..=rows + n as u64).map(|l| l as i64),
                )),
            };
            // Rows staged one by one go first.
            sink(stager, true)?;
            stager.push_columns(staged, lines)?;
            sink(stager, false)?;
            rows += n as u64;
            progress(rows, total);
            continue;
        }
        let mut vals = recycle(std::mem::take(&mut spare));
        let lines = line_col.and_then(|j| batch.column(j).as_primitive_opt::<Int64Type>().cloned());
        for r in 0..batch.num_rows() {
            rows += 1;
            let line = lines.as_ref().map_or(rows, |l| l.value(r) as u64);
            let cols = &cols;
            let cell = |j: usize| -> Cell<'_> {
                match cols.get(j).and_then(Option::as_ref) {
                    None => Cell::Null,
                    Some(c) => pq_cell(c, r),
                }
            };
            match plan.parse_row(&cell, &mut vals) {
                Ok(()) => {
                    stager.push(&vals, line);
                    sink(stager, false)?;
                }
                Err(rj) => {
                    rejections.push(Rejection {
                        line,
                        field: rj.field,
                        value: rj.value,
                        reason: rj.reason,
                        raw: String::new(),
                    });
                }
            }
        }
        spare = recycle(vals);
        progress(rows, total);
    }
    tracing::debug!(
        batches = batches_read,
        columnar,
        "import: Arrow batches checked a column at a time (the others row by row)"
    );
    Ok((rows, ignored))
}

/// Reuses a row buffer's allocation across borrows of different sources (empties it; the
/// in-place `collect` keeps the capacity because the element type's layout is unchanged).
fn recycle<'b>(mut v: Vec<Val<'_>>) -> Vec<Val<'b>> {
    v.clear();
    v.into_iter().map(|_| Val::Null).collect()
}

fn pq_cell(c: &PqCol, r: usize) -> Cell<'_> {
    match c {
        PqCol::Str(a) => {
            if a.is_null(r) {
                Cell::Null
            } else {
                Cell::Text(a.value(r))
            }
        }
        PqCol::F64(a) => {
            if a.is_null(r) {
                Cell::Null
            } else {
                Cell::F64(a.value(r))
            }
        }
        PqCol::I64(a) => {
            if a.is_null(r) {
                Cell::Null
            } else {
                Cell::I64(a.value(r))
            }
        }
        PqCol::Ts(a, utc) => {
            if a.is_null(r) {
                Cell::Null
            } else if *utc {
                Cell::Instant(a.value(r))
            } else {
                Cell::Naive(a.value(r))
            }
        }
        PqCol::Date(a) => {
            if a.is_null(r) {
                Cell::Null
            } else {
                Cell::Date(a.value(r))
            }
        }
    }
}

fn prepare_column(a: &ArrayRef, name: &str, file: &str) -> Result<PqCol, StoreError> {
    let cast = |to: &DataType| {
        arrow_cast::cast(a, to).map_err(|e| {
            StoreError::malformed(
                file,
                format!(
                    "column {name:?} of type {} cannot be read as {to}: {e}",
                    a.data_type()
                ),
            )
        })
    };
    Ok(match a.data_type() {
        DataType::Float64
        | DataType::Float32
        | DataType::Float16
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => PqCol::F64(
            cast(&DataType::Float64)?
                .as_primitive::<Float64Type>()
                .clone(),
        ),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => {
            PqCol::I64(cast(&DataType::Int64)?.as_primitive::<Int64Type>().clone())
        }
        DataType::Timestamp(_, tz) => {
            let utc = tz.is_some();
            let to = DataType::Timestamp(TimeUnit::Nanosecond, tz.clone());
            PqCol::Ts(
                cast(&to)?.as_primitive::<TimestampNanosecondType>().clone(),
                utc,
            )
        }
        DataType::Date32 | DataType::Date64 => PqCol::Date(
            cast(&DataType::Date32)?
                .as_primitive::<Date32Type>()
                .clone(),
        ),
        _ => PqCol::Str(cast(&DataType::Utf8)?.as_string::<i32>().clone()),
    })
}

/// Writes rejected rows as CSV: `line,field,value,reason,raw`.
///
/// # Errors
/// I/O errors.
pub fn write_rejects(path: &Path, report: &ImportReport) -> Result<(), StoreError> {
    let tmp = path.with_extension("tmp-rejects");
    let io = |e: std::io::Error| StoreError::io(path, e);
    {
        let mut w = csv::Writer::from_path(&tmp)
            .map_err(|e| StoreError::io(path, std::io::Error::other(e)))?;
        let csv_err = |e: csv::Error| StoreError::io(path, std::io::Error::other(e));
        w.write_record([
            "file",
            if report.format == FileFormat::Csv {
                "line"
            } else {
                "row"
            },
            "field",
            "value",
            "reason",
            "raw",
        ])
        .map_err(csv_err)?;
        for r in &report.rejections {
            w.write_record([
                report.file.as_str(),
                &r.line.to_string(),
                r.field.unwrap_or(""),
                r.value.as_deref().unwrap_or(""),
                &r.reason,
                &r.raw,
            ])
            .map_err(csv_err)?;
        }
        w.flush().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)
}

// ---------------------------------------------------------------------------------------------
// The columnar path for Arrow sources (Parquet files, in-memory batches) in the canonical
// layout: whole columns are checked and passed on without a per-row parse. It takes a batch
// only when it can show that every row is valid and that each value is exactly what the row
// path would store; any other batch (a bad row, a type it does not handle, a mapping) goes
// through the row path, which finds and reports the bad rows. Tests import the same rows both
// ways and compare the stores.
// ---------------------------------------------------------------------------------------------

/// Canonical text of a categorical column (`call`/`put`, …), parsed as the row path does.
fn category(ty: Ty, s: &str) -> Option<&'static str> {
    match ty {
        Ty::OptionType => OptionType::parse(s).map(OptionType::as_str),
        Ty::Style => ExerciseStyle::parse(s).map(ExerciseStyle::as_str),
        Ty::Settlement => Settlement::parse(s).map(Settlement::as_str),
        _ => None,
    }
}

/// Whether every value of a non-null string array is a symbol the row path stores unchanged:
/// non-empty ASCII without whitespace or lower-case letters.
fn plain_symbols(a: &arrow_array::StringArray) -> bool {
    if a.null_count() > 0 {
        return false;
    }
    let offsets = a.value_offsets();
    if offsets.windows(2).any(|w| w[1] <= w[0]) {
        return false;
    }
    let (lo, hi) = (offsets[0] as usize, offsets[offsets.len() - 1] as usize);
    a.values()[lo..hi].iter().all(|&b| {
        b.is_ascii()
            && !b.is_ascii_lowercase()
            && !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
    })
}

/// `check_number` for a whole column of finite-or-not values (true: all pass).
fn column_passes(check: Check, mut xs: impl Iterator<Item = f64>) -> bool {
    xs.all(|x| {
        x.is_finite()
            && match check {
                Check::Finite => true,
                Check::Positive => x > 0.0,
                Check::NonNegative => x >= 0.0,
                Check::Rate => (-1.0..=1.0).contains(&x),
            }
    })
}

impl Plan {
    /// The staged columns of a batch (one per canonical column, `None`: null in every row), or
    /// `None` for the row path. See the section comment.
    fn columnar(&mut self, cols: &[Option<PqCol>], n: usize) -> Option<Vec<Option<ArrayRef>>> {
        use arrow_array::{Float64Array, Int64Array, StringArray};
        if self.mapped || n == 0 {
            return None;
        }
        let spec = self.spec;
        let mut out: Vec<Option<ArrayRef>> = Vec::with_capacity(spec.cols.len());
        let mut deferred: Vec<(usize, usize)> = Vec::new();
        for (i, c) in spec.cols.iter().enumerate() {
            let col: Option<ArrayRef> = match self.src[i] {
                None => match (self.defaults[i].clone(), c.req) {
                    (Some(d), _) => {
                        if matches!(c.ty, Ty::Instant | Ty::Expiration) {
                            return None;
                        }
                        let v = self.parse_text_owned(i, &d, &[]).ok()?;
                        Some(match v {
                            Val::Str(s) => {
                                Arc::new(StringArray::from_iter_values(std::iter::repeat_n(s, n)))
                            }
                            Val::F64(x) if arrow_type(c.ty) == DataType::Float64 => {
                                Arc::new(Float64Array::from_value(x, n))
                            }
                            Val::I64(x) if arrow_type(c.ty) == DataType::Int64 => {
                                Arc::new(Int64Array::from_value(x, n))
                            }
                            _ => return None,
                        })
                    }
                    (None, Req::Required) => return None,
                    (None, _) => None,
                },
                Some(j) => {
                    let a = cols.get(j)?.as_ref()?;
                    let required = c.req == Req::Required;
                    match (c.ty, a) {
                        (Ty::Symbol, PqCol::Str(a)) if plain_symbols(a) => {
                            Some(Arc::new(a.clone()))
                        }
                        (Ty::F64, PqCol::F64(a)) => {
                            if (required || self.defaults[i].is_some()) && a.null_count() > 0 {
                                return None;
                            }
                            let ok = match a.nulls() {
                                None => column_passes(c.check, a.values().iter().copied()),
                                Some(_) => column_passes(c.check, a.iter().flatten()),
                            };
                            if !ok {
                                return None;
                            }
                            Some(Arc::new(a.clone()))
                        }
                        (Ty::I64, PqCol::I64(a)) => {
                            if (required || self.defaults[i].is_some()) && a.null_count() > 0 {
                                return None;
                            }
                            // Stored as the row path stores it: through a double.
                            if !column_passes(c.check, a.iter().flatten().map(|x| x as f64)) {
                                return None;
                            }
                            let exact = a.values().iter().all(|&x| (x as f64) as i64 == x);
                            if exact {
                                Some(Arc::new(a.clone()))
                            } else {
                                Some(Arc::new(a.unary::<_, Int64Type>(|x| (x as f64) as i64)))
                            }
                        }
                        (Ty::Instant | Ty::Expiration, PqCol::Ts(a, true)) => {
                            if a.null_count() > 0 {
                                return None;
                            }
                            Some(Arc::new(Int64Array::new(a.values().clone(), None)))
                        }
                        // Local date-times and dates: after the settlement column is known.
                        (
                            Ty::Instant | Ty::Expiration,
                            PqCol::Ts(_, false) | PqCol::Date(_) | PqCol::Str(_),
                        ) => {
                            deferred.push((i, j));
                            None
                        }
                        (Ty::OptionType | Ty::Style | Ty::Settlement, PqCol::Str(a)) => {
                            if a.null_count() > 0 {
                                return None;
                            }
                            let mut last: Option<(&str, &'static str)> = None;
                            let mut vals = Vec::with_capacity(n);
                            for s in a.iter().flatten() {
                                let v = match last {
                                    Some((k, v)) if k == s => v,
                                    _ => {
                                        if s.trim().is_empty() {
                                            return None;
                                        }
                                        let v = category(c.ty, s)?;
                                        last = Some((s, v));
                                        v
                                    }
                                };
                                vals.push(v);
                            }
                            Some(Arc::new(StringArray::from_iter_values(vals)))
                        }
                        _ => return None,
                    }
                }
            };
            out.push(col);
        }
        for (i, j) in deferred {
            let col = self.local_times(i, cols.get(j)?.as_ref()?, &out, n)?;
            out[i] = Some(col);
        }
        // A missing root is the underlying.
        if let (Some(r), Some(u)) = (self.root_idx, self.underlying_idx)
            && out[r].is_none()
        {
            out[r] = out[u].clone();
        }
        self.cross_checks(&out, n).then_some(out)
    }

    /// A time column of local date-times, dates or text, parsed as the row path parses each value
    /// (with the row's settlement for a bare expiration date), once per distinct value and
    /// settlement. `None` when a value is null or does not parse.
    fn local_times(
        &mut self,
        i: usize,
        a: &PqCol,
        out: &[Option<ArrayRef>],
        n: usize,
    ) -> Option<ArrayRef> {
        let settle = self
            .settlement_idx
            .and_then(|j| out[j].clone())
            .filter(|a| a.data_type() == &DataType::Utf8);
        let settle = settle.as_ref().map(|a| a.as_string::<i32>());
        let stand_in = |s: &'static str| -> Vec<Val<'static>> {
            let mut v = vec![Val::Null; self.spec.cols.len()];
            if let Some(j) = self.settlement_idx {
                v[j] = Val::Str(Cow::Borrowed(s));
            }
            v
        };
        let (pm, am) = (stand_in("pm"), stand_in("am"));
        // Keyed by the raw value: the number, or the text (blank text is a missing value).
        #[derive(PartialEq, Eq, Hash)]
        enum Raw<'a> {
            Num(i64),
            Text(&'a str),
        }
        let mut cache: HashMap<(Raw<'_>, bool), i64> = HashMap::new();
        let mut values = Vec::with_capacity(n);
        for r in 0..n {
            let raw = match a {
                PqCol::Ts(t, _) if !t.is_null(r) => Raw::Num(t.value(r)),
                PqCol::Date(d) if !d.is_null(r) => Raw::Num(i64::from(d.value(r))),
                PqCol::Str(t) if !t.is_null(r) && !t.value(r).trim().is_empty() => {
                    Raw::Text(t.value(r))
                }
                _ => return None,
            };
            let is_am = settle.is_some_and(|s| s.value(r) == "am");
            let key = (raw, is_am);
            let v = match cache.get(&key) {
                Some(&v) => v,
                None => {
                    let parsed = if is_am { &am } else { &pm };
                    let Ok(Val::I64(v)) = self.parse_cell(i, pq_cell(a, r), parsed) else {
                        return None;
                    };
                    cache.insert(key, v);
                    v
                }
            };
            values.push(v);
        }
        Some(Arc::new(arrow_array::Int64Array::from(values)))
    }

    /// [`validate_row`]'s cross-field rules over whole columns (true: every row passes).
    fn cross_checks(&self, out: &[Option<ArrayRef>], n: usize) -> bool {
        let spec = self.spec;
        let f = |name: &str| -> Option<&[f64]> {
            let a = out[spec.index(name)?].as_ref()?;
            let a = a.as_primitive_opt::<Float64Type>()?;
            (a.null_count() == 0).then(|| a.values().as_ref())
        };
        let i = |name: &str| -> Option<&[i64]> {
            let a = out[spec.index(name)?].as_ref()?;
            let a = a.as_primitive_opt::<Int64Type>()?;
            (a.null_count() == 0).then(|| a.values().as_ref())
        };
        match spec.table {
            Table::Quotes => {
                let (Some(bid), Some(ask), Some(qt), Some(exp), Some(s), Some(k)) = (
                    f("bid"),
                    f("ask"),
                    i("quote_time"),
                    i("expiration"),
                    f("underlying_price"),
                    f("strike"),
                ) else {
                    return false;
                };
                let Some(ty) = spec
                    .index("type")
                    .and_then(|j| out[j].as_ref())
                    .and_then(|a| a.as_string_opt::<i32>())
                else {
                    return false;
                };
                (0..n).all(|r| {
                    let bound = if ty.value(r) == "call" { s[r] } else { k[r] };
                    bid[r] <= ask[r] && exp[r] > qt[r] && bid[r] <= bound * (1.0 + 1e-9)
                })
            }
            Table::Bars => {
                let (Some(o), Some(h), Some(l), Some(c)) =
                    (f("open"), f("high"), f("low"), f("close"))
                else {
                    return false;
                };
                (0..n).all(|r| {
                    !(h[r] < l[r] || h[r] < o[r] || h[r] < c[r] || l[r] > o[r] || l[r] > c[r])
                })
            }
            Table::Nbbo => {
                let (Some(bid), Some(ask)) = (f("bid"), f("ask")) else {
                    return false;
                };
                (0..n).all(|r| !(bid[r] > ask[r] && ask[r] > 0.0))
            }
            _ => true,
        }
    }
}

impl Stager {
    /// Stages a whole batch from the columnar path (after the rows staged one by one, which
    /// the caller flushes first): time range, key fingerprints, and one ready batch.
    fn push_columns(
        &mut self,
        cols: Vec<Option<ArrayRef>>,
        lines: ArrayRef,
    ) -> Result<(), StoreError> {
        let n = lines.len();
        if let Some(t) = self
            .time_idx
            .and_then(|i| cols[i].as_ref())
            .and_then(|a| a.as_primitive_opt::<Int64Type>())
        {
            for &x in t.values().iter() {
                self.lo = self.lo.min(x);
                self.hi = self.hi.max(x);
            }
        }
        if self.keys.is_some() {
            enum K<'a> {
                S(&'a arrow_array::StringArray),
                F(&'a [f64]),
                I(&'a [i64]),
                Null,
            }
            let keys: Vec<K<'_>> = self
                .key_idx
                .iter()
                .map(|&i| match cols[i].as_ref() {
                    None => K::Null,
                    Some(a) => match a.data_type() {
                        DataType::Utf8 => K::S(a.as_string::<i32>()),
                        DataType::Float64 => K::F(a.as_primitive::<Float64Type>().values()),
                        _ => K::I(a.as_primitive::<Int64Type>().values()),
                    },
                })
                .collect();
            let nulls: Vec<_> = self
                .key_idx
                .iter()
                .map(|&i| cols[i].as_ref().and_then(|a| a.nulls()))
                .collect();
            for r in 0..n {
                let mut h = Fp::default();
                for (k, nulls) in keys.iter().zip(&nulls) {
                    let null = nulls.is_some_and(|nb| nb.is_null(r));
                    match k {
                        _ if null => h.null(),
                        K::S(a) => h.text(a.value(r)),
                        K::F(v) => h.double(v[r]),
                        K::I(v) => h.int(v[r]),
                        K::Null => h.null(),
                    }
                }
                self.track(h.finish());
            }
        }
        let mut arrays: Vec<ArrayRef> = cols
            .into_iter()
            .zip(self.spec.cols)
            .zip(&self.omitted)
            .filter(|(_, o)| !**o)
            .map(|((a, c), _)| {
                a.unwrap_or_else(|| arrow_array::new_null_array(&arrow_type(c.ty), n))
            })
            .collect();
        arrays.push(match self.tail {
            Tail::Line => lines,
            Tail::ImportId(id) => Arc::new(arrow_array::Int64Array::from_value(id, n)),
        });
        let batch =
            RecordBatch::try_new(self.schema.clone(), arrays).map_err(|e| StoreError::Arrow {
                context: "staging batch".into(),
                message: e.to_string(),
            })?;
        self.ready.push(batch);
        self.staged += n as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "underlying,quote_time,expiration,strike,type,bid,ask,last,volume,open_interest,underlying_price";

    fn run(store: &mut Store, dir: &Path, name: &str, rows: &[&str], cap: usize) -> ImportReport {
        let p = dir.join(name);
        std::fs::write(&p, format!("{HEADER}\n{}\n", rows.join("\n"))).unwrap();
        store
            .import_capped(
                Table::Quotes,
                Source::File(&p, FileFormat::Csv),
                &ImportOptions::default(),
                &mut |_, _| {},
                cap,
            )
            .unwrap()
    }

    fn bids(store: &Store) -> Vec<(f64, String)> {
        let mut st = store
            .connection()
            .prepare("SELECT strike, type, bid FROM option_quotes ORDER BY strike, type")
            .unwrap();
        st.query_map([], |r| {
            Ok((
                r.get::<_, f64>(2)?,
                format!("{}{}", r.get::<_, f64>(0)?, r.get::<_, String>(1)?),
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    }

    /// Past the fingerprint cap the store itself looks for repeated keys: the same outcome as
    /// with tracked keys (first occurrence wins, conflicts counted), on both paths.
    #[test]
    fn repeats_past_the_fingerprint_cap_are_found_by_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let a = "AAPL,2013-03-01,2013-03-15,430,C,12.10,12.40,,,,431.14";
        let b = "AAPL,2013-03-01,2013-03-15,430,P,11.00,11.30,,,,431.14";
        let a2 = "AAPL,2013-03-01,2013-03-15,430,C,12.00,12.40,,,,431.14";
        let c = "AAPL,2013-03-01,2013-03-15,435,C,9.00,9.30,,,,431.14";
        for cap in [0, 1, 2, FINGERPRINT_CAP] {
            let mut store = Store::open_in_memory().unwrap();
            // A key repeated within the file (different bid): the first row is kept.
            let r = run(&mut store, dir.path(), "r.csv", &[a, b, a2], cap);
            assert_eq!(
                (r.accepted, r.duplicates, r.conflicts),
                (2, 1, 1),
                "cap {cap}"
            );
            assert_eq!(
                bids(&store),
                [(12.10, "430call".into()), (11.0, "430put".into())]
            );
            // No repeats: direct path; one stored duplicate with a conflict, one new row.
            let r = run(&mut store, dir.path(), "s.csv", &[a2, c], cap);
            assert_eq!(
                (r.accepted, r.duplicates, r.conflicts),
                (1, 1, 1),
                "cap {cap}"
            );
            assert_eq!(r.import_id, Some(2));
            assert_eq!(
                bids(&store),
                [
                    (12.10, "430call".into()),
                    (11.0, "430put".into()),
                    (9.0, "435call".into())
                ]
            );
            let r = run(&mut store, dir.path(), "s.csv", &[a2, c], cap);
            assert_eq!(
                (r.accepted, r.duplicates, r.conflicts),
                (0, 2, 1),
                "cap {cap}"
            );
            assert_eq!(r.import_id, None);
        }
    }
}
