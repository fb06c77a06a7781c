//! Validated, atomic, idempotent imports of canonical (or mapped) CSV and Parquet files.
//!
//! One import is one DuckDB transaction: rows are parsed and validated, staged in a temporary
//! table, de-duplicated on the table's key (first occurrence in the file wins), and inserted
//! where the key is not already stored. Every rejected row is reported with its line (CSV) or
//! row number (Parquet, 1-based), the field and the reason; a file-level problem (missing
//! column, wrong field count, truncated or corrupt data) aborts the whole import and leaves
//! the store exactly as it was. Re-importing the same data inserts nothing; a stored key with
//! different values is kept as it was and counted in `conflicts`.

use std::borrow::Cow;
use std::collections::HashMap;
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

struct Stager {
    spec: &'static TableSpec,
    builders: Vec<Builder>,
    line: Int64Builder,
    schema: Arc<Schema>,
    rows: usize,
}

impl Stager {
    fn new(spec: &'static TableSpec) -> Self {
        let mut fields: Vec<Field> = spec
            .cols
            .iter()
            .map(|c| Field::new(c.name, arrow_type(c.ty), true))
            .collect();
        fields.push(Field::new("_line", DataType::Int64, false));
        let mut s = Stager {
            spec,
            builders: Vec::new(),
            line: Int64Builder::new(),
            schema: Arc::new(Schema::new(fields)),
            rows: 0,
        };
        s.reset();
        s
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

    fn push(&mut self, vals: &[Val<'_>], line: u64) {
        for (b, v) in self.builders.iter_mut().zip(vals) {
            match (b, v) {
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
    }

    fn finish(&mut self) -> Result<RecordBatch, StoreError> {
        let mut cols: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|b| -> ArrayRef {
                match b {
                    Builder::Str(b) => Arc::new(b.finish()),
                    Builder::F64(b) => Arc::new(b.finish()),
                    Builder::I64(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        cols.push(Arc::new(self.line.finish()));
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
        let started = Clock::now();
        let (format, file, path) = match &source {
            Source::File(p, f) => (*f, p.display().to_string(), Some(*p)),
            Source::Batches(n, _) => (FileFormat::Parquet, (*n).to_string(), None),
        };
        let spec = table.spec();
        let conn = &self.conn;
        conn.execute_batch("BEGIN TRANSACTION")?;
        let result = (|| {
            let ddl: Vec<String> = spec
                .cols
                .iter()
                .map(|c| format!("\"{}\" {}", c.name, sql_type(c.ty)))
                .collect();
            conn.execute_batch(&format!(
                "DROP TABLE IF EXISTS temp._stage; CREATE TEMP TABLE _stage ({}, _line BIGINT)",
                ddl.join(", ")
            ))?;
            let mut appender = conn.appender_to_catalog_and_db("_stage", "temp", "main")?;
            // Reading and validating run on a second thread while this one appends the staged
            // Arrow batches to DuckDB: the two halves take similar time and overlap.
            let (tx, rx) = std::sync::mpsc::sync_channel::<RecordBatch>(2);
            let mapping = opts.mapping;
            let file_ref = file.as_str();
            let mut append_seconds = 0.0;
            let (read, appended) = std::thread::scope(|scope| {
                let reader = scope.spawn(move || {
                    let mut stager = Stager::new(spec);
                    let mut sink = |stager: &mut Stager, force: bool| -> Result<(), StoreError> {
                        if stager.rows > 0 && (force || stager.rows >= BATCH_ROWS) {
                            let batch = stager.finish()?;
                            // A closed channel means the appender failed: stop reading (its
                            // error is the one reported).
                            tx.send(batch)
                                .map_err(|_| StoreError::malformed(file_ref, "stopped"))?;
                        }
                        Ok(())
                    };
                    let mut rejections = Vec::new();
                    let (rows_read, ignored) = match source {
                        Source::File(p, FileFormat::Csv) => read_csv(
                            p,
                            file_ref,
                            spec,
                            mapping,
                            &mut stager,
                            &mut sink,
                            &mut rejections,
                            progress,
                        )?,
                        Source::File(p, FileFormat::Parquet) => read_parquet(
                            p,
                            file_ref,
                            spec,
                            mapping,
                            &mut stager,
                            &mut sink,
                            &mut rejections,
                            progress,
                        )?,
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
                                file_ref,
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
                    Ok::<_, StoreError>((rows_read, ignored, rejections))
                });
                let mut appended: Result<(), StoreError> = Ok(());
                for batch in &rx {
                    let t = Clock::now();
                    if let Err(e) = appender.append_record_batch(batch) {
                        appended = Err(e.into());
                        break;
                    }
                    append_seconds += t.elapsed().as_secs_f64();
                }
                drop(rx);
                let read = reader.join().unwrap_or_else(|_| {
                    Err(StoreError::malformed(
                        file_ref,
                        "the reader thread panicked",
                    ))
                });
                (read, appended)
            });
            appended?;
            let (rows_read, ignored, rejections) = read?;
            let t = Clock::now();
            appender.flush()?;
            drop(appender);
            append_seconds += t.elapsed().as_secs_f64();
            let label = opts.source_label.map(str::to_string).unwrap_or_else(|| {
                path.and_then(|p| p.file_name())
                    .map_or(file.clone(), |n| n.to_string_lossy().into_owned())
            });
            tracing::debug!(
                seconds = started.elapsed().as_secs_f64(),
                appender_seconds = append_seconds,
                "import: parsed, validated and staged"
            );
            let (accepted, duplicates, conflicts, import_id) =
                merge_stage(conn, spec, &label, format)?;
            Ok(ImportReport {
                file: file.clone(),
                table,
                format,
                rows_read,
                accepted,
                rejected: rejections.len() as u64,
                duplicates,
                conflicts,
                rejections,
                ignored_columns: ignored,
                import_id,
                seconds: 0.0,
            })
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

/// De-duplicates the staged rows and inserts the new ones; returns (accepted, duplicates,
/// conflicts, import id).
fn merge_stage(
    conn: &Connection,
    spec: &TableSpec,
    label: &str,
    format: FileFormat,
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
    let values: Vec<&str> = spec
        .cols
        .iter()
        .map(|c| c.name)
        .filter(|c| !spec.key.contains(c))
        .collect();
    let differs = |a: &str, b: &str| -> String {
        if values.is_empty() {
            "false".into()
        } else {
            values
                .iter()
                .map(|c| format!("{a}.\"{c}\" IS DISTINCT FROM {b}.\"{c}\""))
                .collect::<Vec<_>>()
                .join(" OR ")
        }
    };
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
        conn.execute(
            "INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            duckdb::params![
                import_id,
                t,
                label,
                format.as_str(),
                crate::now_ns(),
                inserted,
                0i64,
                duplicates,
                conflicts
            ],
        )?;
        if let Some((sym, kind)) = spec.symbol_col {
            conn.execute(
                &format!(
                    "INSERT INTO instruments SELECT DISTINCT \"{sym}\", '{kind}', {import_id} FROM temp._uniq
                     WHERE \"{sym}\" NOT IN (SELECT symbol FROM instruments)"
                ),
                [],
            )?;
        }
        // Cached analytics that depend on what changed.
        match spec.table {
            Table::Quotes => {
                conn.execute_batch(
                    "DELETE FROM analytics_cache WHERE (underlying, quote_time) IN
                     (SELECT DISTINCT underlying, quote_time FROM temp._uniq)",
                )?;
            }
            Table::Rates => conn.execute_batch("DELETE FROM analytics_cache")?,
            Table::Dividends | Table::Splits | Table::Bars => conn.execute_batch(
                "DELETE FROM analytics_cache WHERE underlying IN (SELECT DISTINCT symbol FROM temp._uniq)",
            )?,
            Table::Trades | Table::Nbbo => {}
        }
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
    // In-memory sources may carry their own row numbers (e.g. DBN record numbers).
    let line_col = headers.iter().position(|h| h == "_line");
    ignored.retain(|h| h != "_line");
    let mut rows = 0u64;
    let needed: Vec<usize> = plan.src.iter().flatten().copied().collect();
    let mut spare: Vec<Val<'static>> = Vec::with_capacity(spec.cols.len());
    for batch in batches {
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
