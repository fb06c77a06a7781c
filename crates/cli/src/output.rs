//! Tabular output in the three formats: aligned table, CSV with a header, JSON lines.

use std::io::Write;

use anyhow::Context;
use serde_json::json;

use crate::table::print_aligned;
use crate::{Exit, Format};

/// One output cell.
#[derive(Debug, Clone)]
pub enum Val {
    /// A number (None = empty / null).
    Num(Option<f64>),
    /// An integer.
    Int(Option<i64>),
    /// Text (empty = null in JSON).
    Text(String),
    /// A boolean.
    Bool(bool),
}

impl Val {
    fn csv(&self) -> String {
        match self {
            Val::Num(Some(v)) => format!("{v}"),
            Val::Int(Some(v)) => v.to_string(),
            Val::Num(None) | Val::Int(None) => String::new(),
            Val::Text(s) => s.clone(),
            Val::Bool(b) => b.to_string(),
        }
    }

    fn json(&self) -> serde_json::Value {
        match self {
            Val::Num(Some(v)) => json!(v),
            Val::Int(Some(v)) => json!(v),
            Val::Num(None) | Val::Int(None) => serde_json::Value::Null,
            Val::Text(s) if s.is_empty() => serde_json::Value::Null,
            Val::Text(s) => json!(s),
            Val::Bool(b) => json!(b),
        }
    }
}

/// A table of machine values plus an optional human view of each row for `--format table`.
#[derive(Debug, Default)]
pub struct Rows {
    /// Machine column names (CSV header, JSON keys).
    pub header: Vec<&'static str>,
    /// Machine rows.
    pub rows: Vec<Vec<Val>>,
    /// Human column names.
    pub human_header: Vec<String>,
    /// Human rows (same count as `rows`).
    pub human: Vec<Vec<String>>,
}

impl Rows {
    /// Writes the rows to stdout in `format`.
    pub fn emit(&self, format: Format) -> Result<(), Exit> {
        let mut w = std::io::stdout().lock();
        match format {
            Format::Table => print_aligned(&mut w, &self.human_header, &self.human),
            Format::Csv => {
                let mut out = csv::Writer::from_writer(&mut w);
                out.write_record(&self.header)
                    .context("cannot write output")?;
                for r in &self.rows {
                    out.write_record(r.iter().map(Val::csv))
                        .context("cannot write output")?;
                }
                out.flush().context("cannot write output")?;
                Ok(())
            }
            Format::Json => {
                for r in &self.rows {
                    let obj: serde_json::Map<String, serde_json::Value> = self
                        .header
                        .iter()
                        .zip(r)
                        .map(|(k, v)| ((*k).to_string(), v.json()))
                        .collect();
                    writeln!(w, "{}", serde_json::Value::Object(obj))
                        .context("cannot write output")?;
                }
                w.flush().context("cannot write output")?;
                Ok(())
            }
        }
    }
}

/// `x` with `d` decimals, or `-`.
pub fn fixed(x: Option<f64>, d: usize) -> String {
    x.filter(|v| v.is_finite())
        .map_or_else(|| "-".to_string(), |v| format!("{v:.d$}"))
}

/// `x` as a percentage with `d` decimals, or `-`.
pub fn pct(x: Option<f64>, d: usize) -> String {
    x.filter(|v| v.is_finite())
        .map_or_else(|| "-".to_string(), |v| format!("{:.d$}%", 100.0 * v))
}

/// A cell as JSON.
pub fn json_of(v: &Val) -> serde_json::Value {
    v.json()
}
