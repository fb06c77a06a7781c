//! Column mappings: how a vendor's layout becomes a canonical layout.
//!
//! A mapping file (`--map mapping.toml`) looks like:
//! ```toml
//! table = "quotes"                 # optional: the table the mapping is for
//! time_zone = "America/New_York"   # zone of local date-times without an offset
//! delimiter = ","                  # CSV delimiter (one character)
//!
//! [columns]                        # canonical column = source column (header name)
//! underlying = "Symbol"
//! quote_time = "QuoteDate"
//! expiration = "Expiry"
//! type = "PutCall"
//!
//! [formats]                        # strftime formats for time columns
//! quote_time = "%m/%d/%Y"
//! expiration = "%m/%d/%Y"
//!
//! [times]                          # what a bare date means in a time column (HH:MM local)
//! quote_time = "15:45"
//!
//! [values.type]                    # source text → canonical text, per column
//! C = "call"
//! P = "put"
//!
//! [scale]                          # multiply a numeric column (e.g. strikes in 1/1000)
//! strike = 0.001
//!
//! [defaults]                       # constant values for columns the file lacks
//! style = "american"
//!
//! [roots.SPX]                      # style/settlement of rows whose root (or underlying) is SPX
//! style = "european"
//! settlement = "am"
//! ```

use std::collections::HashMap;

use serde::Deserialize;

use crate::StoreError;
use crate::spec::Table;

/// A parsed, validated mapping.
#[derive(Debug, Clone, Default)]
pub struct Mapping {
    /// Table the mapping is for, if it says.
    pub table: Option<Table>,
    /// Zone for local date-times (IANA name).
    pub time_zone: Option<String>,
    /// CSV delimiter.
    pub delimiter: Option<u8>,
    /// canonical column → source column.
    pub columns: HashMap<String, String>,
    /// canonical time column → strftime format.
    pub formats: HashMap<String, String>,
    /// canonical time column → (hour, minute) a bare date stands for.
    pub times: HashMap<String, (i8, i8)>,
    /// canonical column → (source text → canonical text).
    pub values: HashMap<String, HashMap<String, String>>,
    /// canonical numeric column → factor.
    pub scale: HashMap<String, f64>,
    /// canonical column → constant text value.
    pub defaults: HashMap<String, String>,
    /// root (or underlying) → column → value, applied when the row lacks that column.
    pub roots: HashMap<String, HashMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    table: Option<String>,
    time_zone: Option<String>,
    delimiter: Option<String>,
    #[serde(default)]
    columns: HashMap<String, String>,
    #[serde(default)]
    formats: HashMap<String, String>,
    #[serde(default)]
    times: HashMap<String, String>,
    #[serde(default)]
    values: HashMap<String, HashMap<String, String>>,
    #[serde(default)]
    scale: HashMap<String, f64>,
    #[serde(default)]
    defaults: HashMap<String, String>,
    #[serde(default)]
    roots: HashMap<String, HashMap<String, String>>,
}

impl Mapping {
    /// Reads and validates a mapping file for `table`.
    ///
    /// # Errors
    /// [`StoreError::Mapping`] naming the problem: bad TOML, unknown canonical column, a table
    /// other than `table`, bad delimiter or time of day, non-finite scale.
    pub fn from_file(path: &std::path::Path, table: Table) -> Result<Self, StoreError> {
        let text = std::fs::read_to_string(path).map_err(|e| StoreError::io(path, e))?;
        Self::from_toml(&text, &path.display().to_string(), table)
    }

    /// Parses mapping TOML (see the module docs); `name` is used in errors.
    ///
    /// # Errors
    /// As [`Mapping::from_file`].
    pub fn from_toml(text: &str, name: &str, table: Table) -> Result<Self, StoreError> {
        let err = |reason: String| StoreError::Mapping {
            file: name.to_string(),
            reason,
        };
        let raw: RawMapping = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let spec = table.spec();
        let m_table = match &raw.table {
            Some(t) => {
                let parsed = Table::parse(t).ok_or_else(|| err(format!("unknown table {t:?}")))?;
                if parsed != table {
                    return Err(err(format!(
                        "mapping is for table {t:?}, but importing {}",
                        spec.db_table
                    )));
                }
                Some(parsed)
            }
            None => None,
        };
        let check_col = |c: &str, section: &str| {
            if spec.index(c).is_none() {
                let known: Vec<&str> = spec.cols.iter().map(|c| c.name).collect();
                Err(err(format!(
                    "[{section}] names {c:?}, which is not a column of {} (columns: {})",
                    spec.db_table,
                    known.join(", ")
                )))
            } else {
                Ok(())
            }
        };
        for c in raw.columns.keys() {
            check_col(c, "columns")?;
        }
        for c in raw.formats.keys() {
            check_col(c, "formats")?;
        }
        for c in raw.values.keys() {
            check_col(c, "values")?;
        }
        for c in raw.defaults.keys() {
            check_col(c, "defaults")?;
        }
        for (c, f) in &raw.scale {
            check_col(c, "scale")?;
            if !f.is_finite() || *f == 0.0 {
                return Err(err(format!(
                    "[scale] {c} = {f} must be finite and non-zero"
                )));
            }
        }
        let mut times = HashMap::new();
        for (c, t) in &raw.times {
            check_col(c, "times")?;
            let (h, m) = t
                .split_once(':')
                .and_then(|(h, m)| Some((h.parse::<i8>().ok()?, m.parse::<i8>().ok()?)))
                .filter(|(h, m)| (0..24).contains(h) && (0..60).contains(m))
                .ok_or_else(|| err(format!("[times] {c} = {t:?} is not HH:MM")))?;
            times.insert(c.clone(), (h, m));
        }
        let delimiter = match raw.delimiter.as_deref() {
            None => None,
            Some("\\t") | Some("\t") => Some(b'\t'),
            Some(d) if d.len() == 1 => Some(d.as_bytes()[0]),
            Some(d) => return Err(err(format!("delimiter {d:?} must be one character"))),
        };
        if let Some(tz) = &raw.time_zone {
            jiff::tz::TimeZone::get(tz).map_err(|e| err(format!("time_zone {tz:?}: {e}")))?;
        }
        for (root, cols) in &raw.roots {
            for c in cols.keys() {
                if c != "style" && c != "settlement" {
                    return Err(err(format!(
                        "[roots.{root}] may set style and settlement, not {c:?}"
                    )));
                }
            }
        }
        let roots = raw
            .roots
            .into_iter()
            .map(|(k, v)| (k.trim().to_ascii_uppercase(), v))
            .collect();
        Ok(Mapping {
            roots,
            table: m_table,
            time_zone: raw.time_zone,
            delimiter,
            columns: raw.columns,
            formats: raw.formats,
            times,
            values: raw.values,
            scale: raw.scale,
            defaults: raw.defaults,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let m = Mapping::from_toml(
            "table='quotes'\n[columns]\nunderlying='Sym'\n[times]\nquote_time='15:45'\n[values.type]\nC='call'\n",
            "m.toml",
            Table::Quotes,
        )
        .unwrap();
        assert_eq!(m.columns["underlying"], "Sym");
        assert_eq!(m.times["quote_time"], (15, 45));
        let e = Mapping::from_toml("[columns]\nbogus='x'\n", "m.toml", Table::Quotes)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
        let e = Mapping::from_toml("table='bars'\n", "m.toml", Table::Quotes)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bars"), "{e}");
        assert!(Mapping::from_toml("[times]\nquote_time='25:00'\n", "m", Table::Quotes).is_err());
    }
}
