//! The real underlying history: Quandl WIKI daily bars, with splits and dividends derived from
//! the adjustment factor.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use jiff::civil::Date;
use wheelhouse_core::UnixNanos;
use wheelhouse_core::exchange_time::close_instant;
use wheelhouse_core::records::{Bar, BarInterval, Dividend, Split};

use crate::SampleError;

/// The bundled Quandl file, relative to the repository root.
pub const EMBEDDED_PATH: &str = "data/sample/underlying/quandl_wiki_daily_2000-2013.csv";

const EMBEDDED_CSV: &str =
    include_str!("../../../data/sample/underlying/quandl_wiki_daily_2000-2013.csv");

/// Relative changes of the adjustment factor `f = AdjClose/Close` at or below this are noise,
/// not corporate actions.
///
/// The adjusted close carries 12–14 significant digits and the close is exact to its cents,
/// so the factor's day-to-day noise is ~1e-13 relative (measured maximum on the bundled file:
/// 7.4e-14). The smallest real event, a $0.01 dividend on a $1 000 stock, moves it by 1e-5.
pub const FACTOR_NOISE: f64 = 1e-8;

/// Relative tolerance within which `f(t)/f(t-1)` must equal a small-integer ratio to be read
/// as a split (the bundled splits match to 1e-12).
pub const SPLIT_TOLERANCE: f64 = 1e-6;

/// Largest numerator and denominator of a recognised split ratio (so 3:2, 7:1 and 1:10
/// reverse splits are found, a 97:96 "split" is not).
pub const MAX_SPLIT_TERM: u32 = 10;

/// Daily bars and corporate actions of several symbols.
///
/// Each vector is sorted by symbol, then by time. Bars are unadjusted (as traded); daily bars'
/// `ts` is the 16:00 New York close of their date.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnderlyingHistory {
    /// Unadjusted OHLCV bars.
    pub bars: Vec<Bar>,
    /// Stock splits (`ratio` new shares per old share).
    pub splits: Vec<Split>,
    /// Cash dividends per share (in the shares of their ex-date).
    pub dividends: Vec<Dividend>,
}

impl UnderlyingHistory {
    /// The symbols with bars, sorted, without repeats.
    pub fn symbols(&self) -> Vec<String> {
        let mut s: Vec<String> = self.bars.iter().map(|b| b.symbol.clone()).collect();
        s.sort();
        s.dedup();
        s
    }

    /// The bars of `symbol`, in time order (assumes the documented sort).
    pub fn bars_of(&self, symbol: &str) -> &[Bar] {
        let lo = self.bars.partition_point(|b| b.symbol.as_str() < symbol);
        let hi = self.bars.partition_point(|b| b.symbol.as_str() <= symbol);
        &self.bars[lo..hi]
    }

    /// The splits of `symbol`, in time order.
    pub fn splits_of(&self, symbol: &str) -> Vec<Split> {
        self.splits
            .iter()
            .filter(|s| s.symbol == symbol)
            .cloned()
            .collect()
    }

    /// The dividends of `symbol`, in time order.
    pub fn dividends_of(&self, symbol: &str) -> Vec<Dividend> {
        self.dividends
            .iter()
            .filter(|d| d.symbol == symbol)
            .cloned()
            .collect()
    }

    /// Sorts every vector by symbol, then time (stable).
    pub fn sort(&mut self) {
        self.bars
            .sort_by(|a, b| a.symbol.cmp(&b.symbol).then(a.ts.cmp(&b.ts)));
        self.splits
            .sort_by(|a, b| a.symbol.cmp(&b.symbol).then(a.ex_date.cmp(&b.ex_date)));
        self.dividends
            .sort_by(|a, b| a.symbol.cmp(&b.symbol).then(a.ex_date.cmp(&b.ex_date)));
    }
}

/// The bundled history: AAPL, IBM, MSFT 2000-03-01..2013-03-01 and GOOG 2004-08-19..2013-03-01
/// (Quandl WIKI, public domain), parsed by [`parse_quandl_daily`].
///
/// The CSV is compiled into the binary (`include_str!`, about 790 KB), so this needs no file.
///
/// # Panics
/// Never on a released build: the bundled file is fixed and parsed in this crate's tests.
pub fn embedded_history() -> UnderlyingHistory {
    match parse_quandl_daily(
        EMBEDDED_CSV.as_bytes(),
        &format!("embedded:{EMBEDDED_PATH}"),
    ) {
        Ok(h) => h,
        // The file is a compile-time constant checked by the tests; reaching this is a build
        // defect, not bad input.
        Err(e) => panic!("the bundled sample history does not parse: {e}"),
    }
}

/// Loads a Quandl WIKI daily CSV (`Ticker,Date,Open,High,Low,Close,Volume,Adj Close`; extra
/// columns are ignored, column order is free) from `path`. See [`parse_quandl_daily`].
///
/// # Errors
/// [`SampleError::Io`] when the file cannot be opened; otherwise as [`parse_quandl_daily`].
pub fn load_quandl_daily(path: impl AsRef<Path>) -> Result<UnderlyingHistory, SampleError> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|source| SampleError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_quandl_daily(std::io::BufReader::new(file), &path.display().to_string())
}

/// Parses a Quandl WIKI daily CSV from `reader`; `file` names it in errors.
///
/// Returns the unadjusted daily bars (`ts` = [`close_instant`] of the date, interval
/// [`BarInterval::Day`]) and the corporate actions read off the adjustment factor
/// `f(t) = AdjClose(t)/Close(t)`. Between consecutive trading days of a symbol, with
/// `x = f(t-1)/f(t)`:
///
/// * `|x − 1| ≤ FACTOR_NOISE`: nothing happened;
/// * `x = m/n` within [`SPLIT_TOLERANCE`] for coprime `1 ≤ m, n ≤ MAX_SPLIT_TERM`, `m ≠ n`: an
///   `n`-for-`m` split on day `t` (`ratio = n/m`; AAPL 2000-06-21 and 2005-02-28 give 2);
/// * `0.5 ≤ x < 1`: a cash dividend with ex-date `t` of `D = Close(t-1)·(1 − x)`, rounded to
///   $0.0001;
/// * anything else: [`SampleError::UnexplainedAdjustment`].
///
/// # Formula
/// A back-adjusting vendor multiplies every price before an ex-date by `1 − D/C_ref`, so the
/// factor jumps by exactly that ratio at the ex-date. Quandl's reference close `C_ref` is not
/// always `Close(t-1)`, so derived amounts differ from the declared ones by up to ~3 %
/// (MSFT 2013-02-19: 0.2278 against 0.23 declared; AAPL 2012-08-09: 2.635 against 2.65).
///
/// # Errors
/// [`SampleError::Csv`], [`SampleError::MissingColumn`], [`SampleError::Field`] (unparsable
/// or non-positive price, negative volume, bad date), [`SampleError::DuplicateDate`],
/// [`SampleError::UnexplainedAdjustment`]; each names `file` and the line.
pub fn parse_quandl_daily(reader: impl Read, file: &str) -> Result<UnderlyingHistory, SampleError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let csv_err = |source: csv::Error| SampleError::Csv {
        file: file.to_owned(),
        line: source.position().map(|p| p.line()),
        source,
    };
    let headers = rdr.headers().map_err(csv_err)?.clone();
    let col = |name: &'static str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| SampleError::MissingColumn {
                file: file.to_owned(),
                column: name,
            })
    };
    let c_ticker = col("Ticker")?;
    let c_date = col("Date")?;
    let c_open = col("Open")?;
    let c_high = col("High")?;
    let c_low = col("Low")?;
    let c_close = col("Close")?;
    let c_volume = col("Volume")?;
    let c_adj = col("Adj Close")?;

    // symbol → (date → row)
    let mut rows: BTreeMap<String, BTreeMap<Date, Row>> = BTreeMap::new();
    let mut record = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_err(e)),
        }
        let line = record.position().map_or(0, |p| p.line());
        let field = |idx: usize| record.get(idx).unwrap_or("");
        let bad = |name: &'static str, idx: usize, reason: &'static str| SampleError::Field {
            file: file.to_owned(),
            line,
            field: name,
            value: field(idx).to_owned(),
            reason,
        };
        let symbol = field(c_ticker);
        if symbol.is_empty() {
            return Err(bad("Ticker", c_ticker, "empty symbol"));
        }
        let date: Date = field(c_date)
            .parse()
            .map_err(|_| bad("Date", c_date, "expected a YYYY-MM-DD date"))?;
        let price = |name: &'static str, idx: usize| -> Result<f64, SampleError> {
            match field(idx).parse::<f64>() {
                Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
                Ok(_) => Err(bad(name, idx, "expected a finite price > 0")),
                Err(_) => Err(bad(name, idx, "expected a number")),
            }
        };
        let row = Row {
            line,
            open: price("Open", c_open)?,
            high: price("High", c_high)?,
            low: price("Low", c_low)?,
            close: price("Close", c_close)?,
            adj_close: price("Adj Close", c_adj)?,
            volume: match field(c_volume).parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => v,
                Ok(_) => return Err(bad("Volume", c_volume, "expected a finite volume ≥ 0")),
                Err(_) => return Err(bad("Volume", c_volume, "expected a number")),
            },
        };
        if row.high < row.low {
            return Err(bad("High", c_high, "high is below low"));
        }
        let by_date = rows.entry(symbol.to_owned()).or_default();
        if by_date.insert(date, row).is_some() {
            return Err(SampleError::DuplicateDate {
                file: file.to_owned(),
                line,
                symbol: symbol.to_owned(),
                date,
            });
        }
    }

    let mut out = UnderlyingHistory::default();
    for (symbol, by_date) in &rows {
        let mut prev: Option<(Date, &Row)> = None;
        for (&date, row) in by_date {
            let ts = close_instant(date).map_err(|source| SampleError::Time {
                context: format!("{file}:{}: close of {date}", row.line),
                source,
            })?;
            out.bars.push(Bar {
                symbol: symbol.clone(),
                interval: BarInterval::Day,
                ts,
                open: row.open,
                high: row.high,
                low: row.low,
                close: row.close,
                volume: row.volume,
            });
            if let Some((_, p)) = prev {
                let x = (p.adj_close / p.close) / (row.adj_close / row.close);
                match classify_factor_change(x) {
                    FactorChange::None => {}
                    FactorChange::Split(ratio) => out.splits.push(Split {
                        symbol: symbol.clone(),
                        ex_date: ts,
                        ratio,
                    }),
                    FactorChange::Dividend => out.dividends.push(Dividend {
                        symbol: symbol.clone(),
                        ex_date: ts,
                        amount: round_to(p.close * (1.0 - x), 1e-4),
                    }),
                    FactorChange::Unexplained => {
                        return Err(SampleError::UnexplainedAdjustment {
                            file: file.to_owned(),
                            line: row.line,
                            symbol: symbol.clone(),
                            date,
                            ratio: x,
                        });
                    }
                }
            }
            prev = Some((date, row));
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy)]
struct Row {
    line: u64,
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    adj_close: f64,
    volume: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum FactorChange {
    None,
    /// New shares per old share.
    Split(f64),
    Dividend,
    Unexplained,
}

/// Classifies `x = f(t-1)/f(t)` (see [`parse_quandl_daily`]).
fn classify_factor_change(x: f64) -> FactorChange {
    if !x.is_finite() || x <= 0.0 {
        return FactorChange::Unexplained;
    }
    if (x - 1.0).abs() <= FACTOR_NOISE {
        return FactorChange::None;
    }
    // An n-for-m split multiplies the factor by n/m: x = m/n.
    for n in 1..=MAX_SPLIT_TERM {
        for m in 1..=MAX_SPLIT_TERM {
            if n == m || gcd(n, m) != 1 {
                continue;
            }
            let candidate = f64::from(m) / f64::from(n);
            if (x / candidate - 1.0).abs() <= SPLIT_TOLERANCE {
                return FactorChange::Split(f64::from(n) / f64::from(m));
            }
        }
    }
    if (0.5..1.0).contains(&x) {
        FactorChange::Dividend
    } else {
        FactorChange::Unexplained
    }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn round_to(x: f64, step: f64) -> f64 {
    (x / step).round() * step
}

/// The New York calendar date of an instant (a daily bar's trading day).
pub(crate) fn ny_date(ts: UnixNanos) -> Result<Date, SampleError> {
    wheelhouse_core::exchange_time::new_york_date(ts).map_err(|source| SampleError::Time {
        context: format!("New York date of {} ns", ts.0),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_factor_changes() {
        assert_eq!(classify_factor_change(1.0 + 5e-9), FactorChange::None);
        assert_eq!(classify_factor_change(0.5), FactorChange::Split(2.0));
        assert_eq!(classify_factor_change(2.0 / 3.0), FactorChange::Split(1.5));
        assert_eq!(classify_factor_change(10.0), FactorChange::Split(0.1));
        assert_eq!(
            classify_factor_change(1.0 / 7.0 * (1.0 + 1e-9)),
            FactorChange::Split(7.0)
        );
        assert_eq!(classify_factor_change(0.99186), FactorChange::Dividend);
        assert_eq!(classify_factor_change(0.8989), FactorChange::Dividend);
        assert_eq!(classify_factor_change(1.01), FactorChange::Unexplained);
        assert_eq!(classify_factor_change(0.31), FactorChange::Unexplained);
        assert_eq!(classify_factor_change(f64::NAN), FactorChange::Unexplained);
    }

    #[test]
    fn bad_rows_are_errors_with_line_and_field() {
        let head = "Ticker,Date,Open,High,Low,Close,Volume,Adj Close\n";
        let ok = "X,2013-01-02,10,11,9,10,100,10\n";
        let cases = [
            ("X,2013-01-03,10,11,9,abc,100,10\n", "Close"),
            ("X,2013-01-03,10,11,9,-1,100,10\n", "Close"),
            ("X,2013-01-03,10,11,9,10,-5,10\n", "Volume"),
            ("X,2013-13-03,10,11,9,10,5,10\n", "Date"),
            ("X,2013-01-03,10,8,9,10,5,10\n", "High"),
            ("X,2013-01-03,10,11,9,10,5,inf\n", "Adj Close"),
        ];
        for (row, want) in cases {
            let text = format!("{head}{ok}{row}");
            match parse_quandl_daily(text.as_bytes(), "t.csv") {
                Err(SampleError::Field {
                    line, field, file, ..
                }) => {
                    assert_eq!((line, field, file.as_str()), (3, want, "t.csv"), "{row}");
                }
                other => panic!("{row}: {other:?}"),
            }
        }
        let dup = format!("{head}{ok}{ok}");
        assert!(matches!(
            parse_quandl_daily(dup.as_bytes(), "t.csv"),
            Err(SampleError::DuplicateDate { line: 3, .. })
        ));
        let missing = "Ticker,Date,Open,High,Low,Close,Volume\nX,2013-01-02,1,1,1,1,1\n";
        assert!(matches!(
            parse_quandl_daily(missing.as_bytes(), "t.csv"),
            Err(SampleError::MissingColumn {
                column: "Adj Close",
                ..
            })
        ));
        let short = format!("{head}X,2013-01-02,1,1\n");
        assert!(matches!(
            parse_quandl_daily(short.as_bytes(), "t.csv"),
            Err(SampleError::Csv { line: Some(2), .. })
        ));
        // The factor falling by 3 % is neither a split nor a dividend.
        let jump = format!("{head}{ok}X,2013-01-03,10,11,9,10,100,9.7\n");
        assert!(matches!(
            parse_quandl_daily(jump.as_bytes(), "t.csv"),
            Err(SampleError::UnexplainedAdjustment { line: 3, .. })
        ));
    }

    #[test]
    fn unsorted_input_is_sorted_and_columns_may_move() {
        let text = "Date,Ticker,Close,Adj Close,Open,High,Low,Volume,Extra\n\
                    2013-01-03,B,10,5,10,10,10,1,x\n\
                    2013-01-02,B,20,5,20,20,20,1,x\n\
                    2013-01-02,A,1,1,1,1,1,1,x\n";
        let h = parse_quandl_daily(text.as_bytes(), "t.csv").unwrap();
        assert_eq!(h.symbols(), vec!["A".to_owned(), "B".to_owned()]);
        assert_eq!(h.bars_of("B").len(), 2);
        assert!(h.bars_of("B")[0].ts < h.bars_of("B")[1].ts);
        assert_eq!(h.splits.len(), 1);
        assert_eq!(h.splits[0].ratio, 2.0);
        assert!(h.dividends.is_empty());
    }
}
