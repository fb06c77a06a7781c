//! Export of stored tables in the canonical Parquet layout (re-importable as is).

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;

use crate::spec::{Table, Ty};
use crate::{Store, StoreError};

/// Filter of an export.
#[derive(Debug, Clone, Default)]
pub struct ExportFilter {
    /// Only this symbol (the `underlying` of quotes, the `symbol` elsewhere).
    pub symbol: Option<String>,
    /// Only rows whose time column is ≥ this (ns).
    pub from_ns: Option<i64>,
    /// Only rows whose time column is ≤ this (ns).
    pub to_ns: Option<i64>,
}

impl Store {
    /// Writes `table` (filtered) to `path` as Parquet with the canonical column names; instants
    /// become `Timestamp(ns, "UTC")`. Written to a temporary file and renamed, so `path` is
    /// never half-written. Returns the number of rows.
    ///
    /// # Errors
    /// I/O, DuckDB and Arrow errors.
    pub fn export(
        &self,
        table: Table,
        path: &Path,
        filter: &ExportFilter,
    ) -> Result<u64, StoreError> {
        let spec = table.spec();
        let cols: Vec<String> = spec
            .cols
            .iter()
            .map(|c| format!("\"{}\"", c.name))
            .collect();
        let sym = spec
            .symbol_col
            .map(|(s, _)| s)
            .filter(|_| filter.symbol.is_some());
        let mut sql = format!(
            "SELECT {} FROM {} WHERE true",
            cols.join(", "),
            spec.db_table
        );
        if let Some(s) = sym {
            sql.push_str(&format!(" AND \"{s}\" = ?"));
        }
        sql.push_str(&format!(
            " AND \"{tc}\" BETWEEN {lo} AND {hi} ORDER BY {key}",
            tc = spec.time_col,
            lo = filter.from_ns.unwrap_or(i64::MIN),
            hi = filter.to_ns.unwrap_or(i64::MAX),
            key = spec
                .key
                .iter()
                .map(|k| format!("\"{k}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let mut st = self.conn.prepare(&sql)?;
        let batches: Vec<RecordBatch> = match (&filter.symbol, sym) {
            (Some(s), Some(_)) => st.query_arrow([s.as_str()])?.collect(),
            _ => st.query_arrow([])?.collect(),
        };
        let fields: Vec<Field> = spec
            .cols
            .iter()
            .map(|c| {
                let dt = match c.ty {
                    Ty::Instant | Ty::Expiration => {
                        DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
                    }
                    Ty::Symbol | Ty::OptionType | Ty::Style | Ty::Settlement => DataType::Utf8,
                    Ty::I64 | Ty::Interval => DataType::Int64,
                    Ty::F64 | Ty::Tenor => DataType::Float64,
                };
                Field::new(c.name, dt, true)
            })
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let arrow_err = |e: &dyn std::fmt::Display| StoreError::Arrow {
            context: format!("exporting {}", spec.db_table),
            message: e.to_string(),
        };
        let tmp = path.with_extension("parquet.tmp");
        let file = std::fs::File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
        let props = parquet::file::properties::WriterProperties::builder()
            .set_compression(parquet::basic::Compression::SNAPPY)
            .build();
        let mut w =
            ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| arrow_err(&e))?;
        let mut rows = 0u64;
        for b in batches {
            let cols: Vec<ArrayRef> = b
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(a, f)| {
                    if a.data_type() == f.data_type() {
                        Ok(a.clone())
                    } else {
                        arrow_cast::cast(a, f.data_type()).map_err(|e| arrow_err(&e))
                    }
                })
                .collect::<Result<_, _>>()?;
            let nb = RecordBatch::try_new(schema.clone(), cols).map_err(|e| arrow_err(&e))?;
            rows += nb.num_rows() as u64;
            w.write(&nb).map_err(|e| arrow_err(&e))?;
        }
        w.close().map_err(|e| arrow_err(&e))?;
        std::fs::rename(&tmp, path).map_err(|e| StoreError::io(path, e))?;
        Ok(rows)
    }
}
