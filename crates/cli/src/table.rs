//! Tabular input and output: CSV and Parquet files chosen by extension, JSON lines, and
//! aligned text tables. Input columns pass through to the output unchanged.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float32Array, Float64Array, Int32Array, Int64Array,
    LargeStringArray, RecordBatch, StringArray, StringViewArray, UInt32Array, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::{Exit, Format};

/// File kinds recognised by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Comma-separated values with a header line.
    Csv,
    /// Apache Parquet.
    Parquet,
    /// JSON lines (output only).
    JsonLines,
}

impl FileKind {
    /// The kind of `path` from its extension.
    pub fn of(path: &Path) -> Result<Self, Exit> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        match ext.as_str() {
            "csv" => Ok(FileKind::Csv),
            "parquet" | "pq" => Ok(FileKind::Parquet),
            "json" | "jsonl" | "ndjson" => Ok(FileKind::JsonLines),
            _ => Err(Exit::usage(anyhow!(
                "{}: unknown file extension {ext:?} (use .csv, .parquet, or .jsonl for output)",
                path.display()
            ))),
        }
    }
}

enum Cells {
    Csv(Vec<csv::StringRecord>),
    Parquet(Vec<RecordBatch>),
}

/// A whole input file in memory: its column names and cells.
pub struct InputTable {
    path: PathBuf,
    headers: Vec<String>,
    cells: Cells,
    /// For CSV, the 1-based line number of each data row.
    lines: Vec<u64>,
    rows: usize,
}

impl InputTable {
    /// Reads a CSV or Parquet file.
    pub fn read(path: &Path) -> Result<Self, Exit> {
        match FileKind::of(path)? {
            FileKind::Csv => Self::read_csv(path),
            FileKind::Parquet => Self::read_parquet(path),
            FileKind::JsonLines => Err(Exit::usage(anyhow!(
                "{}: JSON lines are an output format; give a .csv or .parquet input",
                path.display()
            ))),
        }
    }

    fn read_csv(path: &Path) -> Result<Self, Exit> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut rdr = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .flexible(false)
            .from_reader(std::io::BufReader::with_capacity(1 << 20, file));
        let headers: Vec<String> = rdr
            .headers()
            .map_err(|e| {
                Exit::usage(anyhow!(
                    "{}: cannot read the header line: {e}",
                    path.display()
                ))
            })?
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').to_ascii_lowercase())
            .collect();
        let mut records = Vec::new();
        let mut lines = Vec::new();
        for rec in rdr.records() {
            let rec = rec.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                Exit::usage(anyhow!(
                    "{}: line {line}: malformed CSV record: {e}",
                    path.display()
                ))
            })?;
            lines.push(rec.position().map_or(0, |p| p.line()));
            records.push(rec);
        }
        Ok(InputTable {
            path: path.to_path_buf(),
            headers,
            rows: records.len(),
            cells: Cells::Csv(records),
            lines,
        })
    }

    fn read_parquet(path: &Path) -> Result<Self, Exit> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| {
                Exit::usage(anyhow!(
                    "{}: not a readable Parquet file: {e}",
                    path.display()
                ))
            })?
            .with_batch_size(65_536)
            .build()
            .map_err(|e| Exit::usage(anyhow!("{}: {e}", path.display())))?;
        let mut batches = Vec::new();
        let mut headers = None;
        let mut rows = 0;
        for b in reader {
            let b = b.map_err(|e| {
                Exit::usage(anyhow!("{}: corrupt Parquet data: {e}", path.display()))
            })?;
            if headers.is_none() {
                headers = Some(
                    b.schema()
                        .fields()
                        .iter()
                        .map(|f| f.name().to_ascii_lowercase())
                        .collect(),
                );
            }
            rows += b.num_rows();
            batches.push(b);
        }
        Ok(InputTable {
            path: path.to_path_buf(),
            headers: headers.unwrap_or_default(),
            rows,
            cells: Cells::Parquet(batches),
            lines: Vec::new(),
        })
    }

    /// Number of data rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Where row `i` is, for messages: "line N" for CSV, "row N" for Parquet.
    pub fn locate(&self, i: usize) -> String {
        match self.cells {
            Cells::Csv(_) => format!("line {}", self.lines[i]),
            Cells::Parquet(_) => format!("row {}", i + 1),
        }
    }

    fn index_of(&self, name: &str, required: bool) -> Result<Option<usize>, Exit> {
        match self.headers.iter().position(|h| h == name) {
            Some(i) => Ok(Some(i)),
            None if required => Err(Exit::usage(anyhow!(
                "{}: missing required column '{name}' (found: {})",
                self.path.display(),
                self.headers.join(",")
            ))),
            None => Ok(None),
        }
    }

    /// A numeric column. A cell that is empty or not a number is a malformed file: the error
    /// names the line (row) and column. `nan`/`inf` parse and are left to row validation.
    pub fn f64_column(&self, name: &str, required: bool) -> Result<Option<Vec<f64>>, Exit> {
        let Some(ci) = self.index_of(name, required)? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(self.rows);
        match &self.cells {
            Cells::Csv(recs) => {
                for (i, r) in recs.iter().enumerate() {
                    let s = r.get(ci).unwrap_or("");
                    let v: f64 = s.parse().map_err(|_| {
                        Exit::usage(anyhow!(
                            "{}: {}, column '{name}': cannot parse {s:?} as a number",
                            self.path.display(),
                            self.locate(i)
                        ))
                    })?;
                    out.push(v);
                }
            }
            Cells::Parquet(batches) => {
                let mut base = 0;
                for b in batches {
                    let a = b.column(ci);
                    for j in 0..a.len() {
                        let v = numeric_cell(a, j).ok_or_else(|| {
                            Exit::usage(anyhow!(
                                "{}: row {}, column '{name}': {} is not a number (type {})",
                                self.path.display(),
                                base + j + 1,
                                if a.is_null(j) { "null" } else { "value" },
                                a.data_type()
                            ))
                        })?;
                        out.push(v);
                    }
                    base += a.len();
                }
            }
        }
        Ok(Some(out))
    }

    /// A text column (cells as strings).
    pub fn str_column(&self, name: &str, required: bool) -> Result<Option<Vec<String>>, Exit> {
        let Some(ci) = self.index_of(name, required)? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(self.rows);
        match &self.cells {
            Cells::Csv(recs) => {
                out.extend(recs.iter().map(|r| r.get(ci).unwrap_or("").to_string()))
            }
            Cells::Parquet(batches) => {
                for b in batches {
                    let a = b.column(ci);
                    out.extend((0..a.len()).map(|j| text_cell(a, j)));
                }
            }
        }
        Ok(Some(out))
    }

    /// The text of cell (row, column) for pass-through output.
    fn cell(&self, row: usize, col: usize) -> String {
        match &self.cells {
            Cells::Csv(recs) => recs[row].get(col).unwrap_or("").to_string(),
            Cells::Parquet(batches) => {
                let mut r = row;
                for b in batches {
                    if r < b.num_rows() {
                        return text_cell(b.column(col), r);
                    }
                    r -= b.num_rows();
                }
                String::new()
            }
        }
    }
}

fn numeric_cell(a: &ArrayRef, j: usize) -> Option<f64> {
    if a.is_null(j) {
        return None;
    }
    let any = a.as_any();
    if let Some(x) = any.downcast_ref::<Float64Array>() {
        return Some(x.value(j));
    }
    if let Some(x) = any.downcast_ref::<Float32Array>() {
        return Some(f64::from(x.value(j)));
    }
    if let Some(x) = any.downcast_ref::<Int64Array>() {
        return Some(x.value(j) as f64);
    }
    if let Some(x) = any.downcast_ref::<Int32Array>() {
        return Some(f64::from(x.value(j)));
    }
    if let Some(x) = any.downcast_ref::<UInt64Array>() {
        return Some(x.value(j) as f64);
    }
    if let Some(x) = any.downcast_ref::<UInt32Array>() {
        return Some(f64::from(x.value(j)));
    }
    let s = text_cell(a, j);
    s.trim().parse().ok()
}

fn text_cell(a: &ArrayRef, j: usize) -> String {
    if a.is_null(j) {
        return String::new();
    }
    let any = a.as_any();
    if let Some(x) = any.downcast_ref::<StringArray>() {
        return x.value(j).to_string();
    }
    if let Some(x) = any.downcast_ref::<LargeStringArray>() {
        return x.value(j).to_string();
    }
    if let Some(x) = any.downcast_ref::<StringViewArray>() {
        return x.value(j).to_string();
    }
    if let Some(x) = any.downcast_ref::<Float64Array>() {
        return x.value(j).to_string();
    }
    if let Some(x) = any.downcast_ref::<Float32Array>() {
        return x.value(j).to_string();
    }
    if let Some(x) = any.downcast_ref::<Int64Array>() {
        return x.value(j).to_string();
    }
    if let Some(x) = any.downcast_ref::<Int32Array>() {
        return x.value(j).to_string();
    }
    if let Some(x) = any.downcast_ref::<UInt64Array>() {
        return x.value(j).to_string();
    }
    if let Some(x) = any.downcast_ref::<UInt32Array>() {
        return x.value(j).to_string();
    }
    if let Some(x) = any.downcast_ref::<BooleanArray>() {
        return x.value(j).to_string();
    }
    format!("<{}>", a.data_type())
}

/// Computed columns to append to the input columns.
pub struct Computed<'a> {
    /// Names and values; a failed row's values are not printed.
    pub columns: Vec<(&'static str, &'a [f64])>,
    /// Per row: `None` if the row succeeded, else the reason.
    pub errors: &'a [Option<String>],
}

/// Where results go.
pub enum Destination<'a> {
    /// A file, its format from its extension.
    File(&'a Path),
    /// Standard output in a format.
    Stdout(Format),
}

/// Writes the input columns followed by the computed ones and `error`.
pub fn write(
    input: &InputTable,
    computed: &Computed<'_>,
    dest: Destination<'_>,
) -> Result<(), Exit> {
    match dest {
        Destination::File(path) => {
            let kind = FileKind::of(path)?;
            // Write to a temporary file beside the target, then rename: never a half-written
            // output.
            let tmp = path.with_extension(format!(
                "{}.partial",
                path.extension().and_then(|e| e.to_str()).unwrap_or("out")
            ));
            let file =
                File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
            let res = match kind {
                FileKind::Csv => {
                    write_csv(input, computed, BufWriter::with_capacity(1 << 20, file))
                }
                FileKind::JsonLines => {
                    write_jsonl(input, computed, BufWriter::with_capacity(1 << 20, file))
                }
                FileKind::Parquet => write_parquet(input, computed, file),
            };
            if let Err(e) = res {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            std::fs::rename(&tmp, path)
                .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))?;
            Ok(())
        }
        Destination::Stdout(fmt) => {
            let out = std::io::stdout().lock();
            match fmt {
                Format::Csv => write_csv(input, computed, BufWriter::new(out)),
                Format::Json => write_jsonl(input, computed, BufWriter::new(out)),
                Format::Table => write_table(input, computed, BufWriter::new(out)),
            }
        }
    }
}

fn fmt_num(v: f64) -> String {
    // Shortest representation that round-trips to the same f64.
    format!("{v}")
}

fn write_csv<W: Write>(input: &InputTable, c: &Computed<'_>, w: W) -> Result<(), Exit> {
    let mut wr = csv::WriterBuilder::new().from_writer(w);
    let mut header: Vec<&str> = input.headers.iter().map(String::as_str).collect();
    header.extend(c.columns.iter().map(|(n, _)| *n));
    header.push("error");
    wr.write_record(&header).context("cannot write output")?;
    let mut row: Vec<String> = Vec::with_capacity(header.len());
    for i in 0..input.rows {
        row.clear();
        for col in 0..input.headers.len() {
            row.push(input.cell(i, col));
        }
        let err = &c.errors[i];
        for (_, vals) in &c.columns {
            row.push(if err.is_some() {
                String::new()
            } else {
                fmt_num(vals[i])
            });
        }
        row.push(err.clone().unwrap_or_default());
        wr.write_record(&row).context("cannot write output")?;
    }
    wr.flush().context("cannot write output")?;
    Ok(())
}

fn json_value(s: &str) -> serde_json::Value {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => serde_json::json!(v),
        _ => serde_json::Value::String(s.to_string()),
    }
}

fn write_jsonl<W: Write>(input: &InputTable, c: &Computed<'_>, mut w: W) -> Result<(), Exit> {
    for i in 0..input.rows {
        let mut obj = serde_json::Map::new();
        for (col, h) in input.headers.iter().enumerate() {
            obj.insert(h.clone(), json_value(&input.cell(i, col)));
        }
        let err = &c.errors[i];
        for (name, vals) in &c.columns {
            let v = if err.is_some() {
                serde_json::Value::Null
            } else {
                serde_json::json!(vals[i])
            };
            obj.insert((*name).to_string(), v);
        }
        obj.insert(
            "error".into(),
            err.as_ref().map_or(serde_json::Value::Null, |e| {
                serde_json::Value::String(e.clone())
            }),
        );
        serde_json::to_writer(&mut w, &obj).context("cannot write output")?;
        w.write_all(b"\n").context("cannot write output")?;
    }
    w.flush().context("cannot write output")?;
    Ok(())
}

fn write_table<W: Write>(input: &InputTable, c: &Computed<'_>, mut w: W) -> Result<(), Exit> {
    let mut header: Vec<String> = input.headers.clone();
    header.extend(c.columns.iter().map(|(n, _)| (*n).to_string()));
    header.push("error".into());
    let mut rows: Vec<Vec<String>> = Vec::with_capacity(input.rows);
    for i in 0..input.rows {
        let mut row: Vec<String> = (0..input.headers.len())
            .map(|col| input.cell(i, col))
            .collect();
        let err = &c.errors[i];
        for (_, vals) in &c.columns {
            row.push(if err.is_some() {
                String::new()
            } else {
                format!("{:.6}", vals[i])
            });
        }
        row.push(err.clone().unwrap_or_default());
        rows.push(row);
    }
    print_aligned(&mut w, &header, &rows)
}

/// Prints rows as an aligned text table.
pub fn print_aligned<W: Write>(
    w: &mut W,
    header: &[String],
    rows: &[Vec<String>],
) -> Result<(), Exit> {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (k, cell) in r.iter().enumerate() {
            width[k] = width[k].max(cell.chars().count());
        }
    }
    let line = |w: &mut W, cells: &[String]| -> std::io::Result<()> {
        let mut s = String::new();
        for (k, cell) in cells.iter().enumerate() {
            if k > 0 {
                s.push_str("  ");
            }
            let pad = width[k] - cell.chars().count();
            s.push_str(cell);
            s.extend(std::iter::repeat_n(' ', pad));
        }
        writeln!(w, "{}", s.trim_end())
    };
    line(w, header).context("cannot write output")?;
    let rule: Vec<String> = width.iter().map(|&n| "-".repeat(n)).collect();
    line(w, &rule).context("cannot write output")?;
    for r in rows {
        line(w, r).context("cannot write output")?;
    }
    w.flush().context("cannot write output")?;
    Ok(())
}

fn write_parquet(input: &InputTable, c: &Computed<'_>, file: File) -> Result<(), Exit> {
    // Pass-through columns: the original arrays for Parquet input (one output batch per input
    // batch), text for CSV input.
    let parts: Vec<(usize, Vec<Field>, Vec<ArrayRef>)> = match &input.cells {
        Cells::Parquet(batches) => {
            let mut base = 0;
            let mut parts = Vec::with_capacity(batches.len());
            for b in batches {
                let fields = b
                    .schema()
                    .fields()
                    .iter()
                    .enumerate()
                    .map(|(k, f)| Field::new(input.headers[k].clone(), f.data_type().clone(), true))
                    .collect();
                parts.push((base, fields, b.columns().to_vec()));
                base += b.num_rows();
            }
            parts
        }
        Cells::Csv(_) => {
            let mut fields = Vec::new();
            let mut arrays: Vec<ArrayRef> = Vec::new();
            for (col, h) in input.headers.iter().enumerate() {
                let vals: Vec<String> = (0..input.rows).map(|i| input.cell(i, col)).collect();
                fields.push(Field::new(h.clone(), DataType::Utf8, true));
                arrays.push(Arc::new(StringArray::from(vals)));
            }
            vec![(0, fields, arrays)]
        }
    };
    let mut writer: Option<ArrowWriter<File>> = None;
    let mut file = Some(file);
    for (base, mut fields, mut arrays) in parts {
        let n = arrays.first().map_or(input.rows, |a| a.len());
        for (name, vals) in &c.columns {
            let arr: Float64Array = (base..base + n)
                .map(|i| {
                    if c.errors[i].is_some() {
                        None
                    } else {
                        Some(vals[i])
                    }
                })
                .collect();
            fields.push(Field::new(*name, DataType::Float64, true));
            arrays.push(Arc::new(arr));
        }
        let errs: StringArray = c.errors[base..base + n]
            .iter()
            .map(|e| Some(e.as_deref().unwrap_or("")))
            .collect();
        fields.push(Field::new("error", DataType::Utf8, false));
        arrays.push(Arc::new(errs));
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(schema.clone(), arrays)
            .context("cannot assemble the Parquet output")?;
        if writer.is_none() {
            let f = file
                .take()
                .ok_or_else(|| anyhow!("internal: Parquet writer already closed"))?;
            writer = Some(ArrowWriter::try_new(f, schema, None).context("cannot write Parquet")?);
        }
        if let Some(w) = writer.as_mut() {
            w.write(&batch).context("cannot write Parquet")?;
        }
    }
    match writer {
        Some(w) => {
            w.close().context("cannot write Parquet")?;
        }
        None => return Err(anyhow!("nothing to write: the input has no columns").into()),
    }
    Ok(())
}
