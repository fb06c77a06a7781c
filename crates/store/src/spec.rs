//! Canonical import layouts: for each table, its columns, their types, defaults, checks and key.
//!
//! The README's "Canonical layouts" section is generated from the same facts; a test keeps the
//! two in step with the schema.

/// How a textual or typed source value becomes a stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// A symbol: trimmed, upper-cased, non-empty, no whitespace inside.
    Symbol,
    /// A 64-bit float.
    F64,
    /// A 64-bit integer (a float with no fraction is accepted, e.g. `12.0`).
    I64,
    /// An instant. A bare date means the 16:00 New York close of that date.
    Instant,
    /// An option's expiration instant. A bare date means its settlement time on that date
    /// (16:00 New York for PM settlement, 09:30 for AM), read from the `settlement` column.
    Expiration,
    /// `call`/`put` (also `C`/`P`).
    OptionType,
    /// `american`/`european` (also `A`/`E`).
    Style,
    /// `pm`/`am`.
    Settlement,
    /// A tenor in years, or a code like `1M`, `13W`, `1Y`.
    Tenor,
    /// A bar interval: `1d`, `1m`, `5m`, `1h`, or seconds.
    Interval,
}

/// Whether a column must be present in the file and non-empty.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Req {
    /// Column and value required.
    Required,
    /// May be absent or empty: stored as NULL.
    Optional,
    /// May be absent or empty: stored as this default (text form, parsed like input).
    Default(&'static str),
    /// May be absent or empty: filled by a rule of the table (documented per column).
    Derived,
}

/// A range check applied after parsing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Check {
    /// No check beyond being finite.
    Finite,
    /// Strictly positive.
    Positive,
    /// Zero or positive.
    NonNegative,
    /// A decimal rate within [−1, 1] (catches percent given as 5 for 5 %).
    Rate,
}

/// One canonical column.
#[derive(Debug, Clone, Copy)]
pub struct Col {
    /// Canonical (and stored) name.
    pub name: &'static str,
    /// Other accepted header names (case-insensitive).
    pub aliases: &'static [&'static str],
    /// Type.
    pub ty: Ty,
    /// Presence rule.
    pub req: Req,
    /// Range check (numbers only).
    pub check: Check,
}

const fn col(name: &'static str, ty: Ty, req: Req, check: Check) -> Col {
    Col {
        name,
        aliases: &[],
        ty,
        req,
        check,
    }
}

const fn col_a(
    name: &'static str,
    aliases: &'static [&'static str],
    ty: Ty,
    req: Req,
    check: Check,
) -> Col {
    Col {
        name,
        aliases,
        ty,
        req,
        check,
    }
}

/// The importable tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// Option quotes.
    Quotes,
    /// Underlying OHLCV bars.
    Bars,
    /// Underlying trade prints.
    Trades,
    /// Underlying NBBO updates.
    Nbbo,
    /// Risk-free zero rates.
    Rates,
    /// Cash dividends.
    Dividends,
    /// Splits.
    Splits,
}

/// Layout of one table.
#[derive(Debug)]
pub struct TableSpec {
    /// Which table.
    pub table: Table,
    /// The DuckDB table.
    pub db_table: &'static str,
    /// Canonical columns, in stored order (the store adds `import_id`).
    pub cols: &'static [Col],
    /// Columns forming the idempotency key.
    pub key: &'static [&'static str],
    /// The time column used to narrow duplicate detection.
    pub time_col: &'static str,
    /// The symbol column registered in `instruments`, if any, and the kind it registers.
    pub symbol_col: Option<(&'static str, &'static str)>,
}

use Check::*;
use Req::*;
use Ty::*;

/// Option quotes: `underlying,quote_time,expiration,strike,type,bid,ask,last,volume,
/// open_interest,underlying_price[,style][,multiplier][,settlement][,root][,vendor_iv]…`.
pub const QUOTES: TableSpec = TableSpec {
    table: Table::Quotes,
    db_table: "option_quotes",
    cols: &[
        col_a(
            "underlying",
            &["symbol", "underlying_symbol"],
            Symbol,
            Required,
            Finite,
        ),
        col("root", Symbol, Derived, Finite),
        col_a(
            "quote_time",
            &["quote_date", "time", "timestamp"],
            Instant,
            Required,
            Finite,
        ),
        col_a(
            "expiration",
            &["expiry", "expiration_date"],
            Expiration,
            Required,
            Finite,
        ),
        col("strike", F64, Required, Positive),
        col_a(
            "type",
            &["option_type", "right", "cp", "put_call"],
            OptionType,
            Required,
            Finite,
        ),
        col_a(
            "style",
            &["exercise_style"],
            Style,
            Default("american"),
            Finite,
        ),
        col("settlement", Settlement, Default("pm"), Finite),
        col("multiplier", F64, Default("100"), Positive),
        col("bid", F64, Required, NonNegative),
        col("ask", F64, Required, NonNegative),
        col("last", F64, Optional, NonNegative),
        col("volume", I64, Optional, NonNegative),
        col_a("open_interest", &["oi"], I64, Optional, NonNegative),
        col_a(
            "underlying_price",
            &["spot", "underlying_last"],
            F64,
            Required,
            Positive,
        ),
        col_a(
            "vendor_iv",
            &["iv", "implied_volatility"],
            F64,
            Optional,
            NonNegative,
        ),
        col_a("vendor_delta", &["delta"], F64, Optional, Finite),
        col_a("vendor_gamma", &["gamma"], F64, Optional, Finite),
        col_a("vendor_vega", &["vega"], F64, Optional, Finite),
        col_a("vendor_theta", &["theta"], F64, Optional, Finite),
    ],
    key: &[
        "underlying",
        "root",
        "quote_time",
        "expiration",
        "strike",
        "type",
    ],
    time_col: "quote_time",
    symbol_col: Some(("underlying", "underlying")),
};

/// Bars: `symbol,ts,open,high,low,close,volume[,interval]` (`ts` may be `date`).
pub const BARS: TableSpec = TableSpec {
    table: Table::Bars,
    db_table: "bars",
    cols: &[
        col_a("symbol", &["ticker"], Symbol, Required, Finite),
        col_a("interval_s", &["interval"], Interval, Default("1d"), Finite),
        col_a(
            "ts",
            &["date", "time", "timestamp"],
            Instant,
            Required,
            Finite,
        ),
        col("open", F64, Required, Positive),
        col("high", F64, Required, Positive),
        col("low", F64, Required, Positive),
        col("close", F64, Required, Positive),
        col("volume", F64, Default("0"), NonNegative),
    ],
    key: &["symbol", "interval_s", "ts"],
    time_col: "ts",
    symbol_col: Some(("symbol", "underlying")),
};

/// Splits: `symbol,ex_date,ratio` (new shares per old share).
pub const SPLITS: TableSpec = TableSpec {
    table: Table::Splits,
    db_table: "splits",
    cols: &[
        col_a("symbol", &["ticker"], Symbol, Required, Finite),
        col_a("ex_date", &["date"], Instant, Required, Finite),
        col("ratio", F64, Required, Positive),
    ],
    key: &["symbol", "ex_date"],
    time_col: "ex_date",
    symbol_col: Some(("symbol", "underlying")),
};

/// Dividends: `symbol,ex_date,amount` (cash per share).
pub const DIVIDENDS: TableSpec = TableSpec {
    table: Table::Dividends,
    db_table: "dividends",
    cols: &[
        col_a("symbol", &["ticker"], Symbol, Required, Finite),
        col_a("ex_date", &["date"], Instant, Required, Finite),
        col_a(
            "amount",
            &["dividend", "cash_amount"],
            F64,
            Required,
            NonNegative,
        ),
    ],
    key: &["symbol", "ex_date"],
    time_col: "ex_date",
    symbol_col: Some(("symbol", "underlying")),
};

/// Trades: `symbol,ts,price,size[,seq]`.
pub const TRADES: TableSpec = TableSpec {
    table: Table::Trades,
    db_table: "trades",
    cols: &[
        col_a("symbol", &["ticker"], Symbol, Required, Finite),
        col_a("ts", &["time", "timestamp"], Instant, Required, Finite),
        col_a("seq", &["sequence"], I64, Derived, NonNegative),
        col("price", F64, Required, Positive),
        col_a("size", &["quantity", "volume"], F64, Required, Positive),
    ],
    key: &["symbol", "ts", "seq"],
    time_col: "ts",
    symbol_col: Some(("symbol", "underlying")),
};

/// NBBO: `symbol,ts,bid,ask,bid_size,ask_size[,seq]`.
pub const NBBO: TableSpec = TableSpec {
    table: Table::Nbbo,
    db_table: "nbbo",
    cols: &[
        col_a("symbol", &["ticker"], Symbol, Required, Finite),
        col_a("ts", &["time", "timestamp"], Instant, Required, Finite),
        col_a("seq", &["sequence"], I64, Derived, NonNegative),
        col("bid", F64, Required, NonNegative),
        col("ask", F64, Required, NonNegative),
        col("bid_size", F64, Default("0"), NonNegative),
        col("ask_size", F64, Default("0"), NonNegative),
    ],
    key: &["symbol", "ts", "seq"],
    time_col: "ts",
    symbol_col: Some(("symbol", "underlying")),
};

/// Rates: `date,tenor,rate` (tenor in years or a code like `3M`; rate a continuously
/// compounded decimal).
pub const RATES: TableSpec = TableSpec {
    table: Table::Rates,
    db_table: "rates",
    cols: &[
        col_a("date", &["ts", "time"], Instant, Required, Finite),
        col_a(
            "tenor_years",
            &["tenor", "maturity"],
            Tenor,
            Required,
            Positive,
        ),
        col("rate", F64, Required, Rate),
    ],
    key: &["date", "tenor_years"],
    time_col: "date",
    symbol_col: None,
};

impl Table {
    /// Parses `quotes|bars|trades|nbbo|rates|dividends|splits`.
    pub fn parse(s: &str) -> Option<Table> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "quotes" | "options" | "option_quotes" => Table::Quotes,
            "bars" | "ohlcv" => Table::Bars,
            "trades" => Table::Trades,
            "nbbo" | "bbo" => Table::Nbbo,
            "rates" => Table::Rates,
            "dividends" => Table::Dividends,
            "splits" => Table::Splits,
            _ => return None,
        })
    }

    /// The layout.
    pub fn spec(self) -> &'static TableSpec {
        match self {
            Table::Quotes => &QUOTES,
            Table::Bars => &BARS,
            Table::Trades => &TRADES,
            Table::Nbbo => &NBBO,
            Table::Rates => &RATES,
            Table::Dividends => &DIVIDENDS,
            Table::Splits => &SPLITS,
        }
    }

    /// Every table.
    pub const ALL: [Table; 7] = [
        Table::Quotes,
        Table::Bars,
        Table::Trades,
        Table::Nbbo,
        Table::Rates,
        Table::Dividends,
        Table::Splits,
    ];
}

impl TableSpec {
    /// Index of a canonical column.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.cols.iter().position(|c| c.name == name)
    }

    /// Whether a column is stored as text.
    pub fn is_text(ty: Ty) -> bool {
        matches!(ty, Symbol | OptionType | Style | Settlement)
    }

    /// Whether a column is stored as BIGINT.
    pub fn is_int(ty: Ty) -> bool {
        matches!(ty, I64 | Instant | Expiration | Interval)
    }
}
