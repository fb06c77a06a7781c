//! Canonical market-data records: what importers produce, the store keeps and engines read.
//!
//! # Units
//! Instants are [`UnixNanos`] (UTC); prices per share in the instrument's currency; option
//! `multiplier` is shares per contract (100 for US equity options); volumes and open interest
//! are counts. A vendor's implied volatility is an annualised decimal; vendor Greeks are kept as
//! the vendor published them (for comparison only, never used in computations).

use crate::{ExerciseStyle, OptionType, Settlement, UnixNanos};

/// One option quote: a contract and its market at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionQuote {
    /// Underlying symbol, e.g. `AAPL`.
    pub underlying: String,
    /// When the quote was observed.
    pub quote_time: UnixNanos,
    /// Settlement instant of the contract (16:00 New York for PM-settled, 09:30 for AM).
    pub expiration: UnixNanos,
    /// Strike price, > 0.
    pub strike: f64,
    /// Call or put.
    pub option_type: OptionType,
    /// American or European exercise.
    pub style: ExerciseStyle,
    /// AM or PM settlement (already reflected in `expiration`).
    pub settlement: Settlement,
    /// Shares per contract.
    pub multiplier: f64,
    /// Best bid (0 when there is no bid).
    pub bid: f64,
    /// Best offer.
    pub ask: f64,
    /// Last trade price, if any.
    pub last: Option<f64>,
    /// Contracts traded in the session, if known.
    pub volume: Option<i64>,
    /// Open interest, if known.
    pub open_interest: Option<i64>,
    /// Underlying price at the quote time.
    pub underlying_price: f64,
    /// Vendor-published implied volatility (decimal), kept for comparison.
    pub vendor_iv: Option<f64>,
    /// Vendor-published delta, kept for comparison.
    pub vendor_delta: Option<f64>,
}

/// Bar length of an OHLCV bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BarInterval {
    /// One trading day; `ts` is the session close (16:00 New York).
    Day,
    /// Intraday bar of this many seconds; `ts` is the bar's start.
    Seconds(u32),
}

impl BarInterval {
    /// Seconds in the bar; 86 400 stands for a daily bar.
    pub fn as_seconds(self) -> u32 {
        match self {
            BarInterval::Day => 86_400,
            BarInterval::Seconds(s) => s,
        }
    }

    /// The interval from its length in seconds (86 400 = daily).
    pub fn from_seconds(s: u32) -> Self {
        if s == 86_400 {
            BarInterval::Day
        } else {
            BarInterval::Seconds(s)
        }
    }

    /// Parses `1d`, `day`, `daily`, or `<n>s`/`<n>m`/`<n>h`.
    pub fn parse(s: &str) -> Option<Self> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "1d" | "d" | "day" | "daily" => return Some(BarInterval::Day),
            _ => {}
        }
        let (num, unit) = t.split_at(t.len().checked_sub(1)?);
        let n: u32 = num.parse().ok()?;
        let secs = match unit {
            "s" => n,
            "m" => n.checked_mul(60)?,
            "h" => n.checked_mul(3600)?,
            _ => return None,
        };
        (secs > 0).then(|| BarInterval::from_seconds(secs))
    }
}

/// One unadjusted OHLCV bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Symbol.
    pub symbol: String,
    /// Bar length.
    pub interval: BarInterval,
    /// Close of the session (daily) or start of the bar (intraday).
    pub ts: UnixNanos,
    /// Open.
    pub open: f64,
    /// High.
    pub high: f64,
    /// Low.
    pub low: f64,
    /// Close.
    pub close: f64,
    /// Shares traded.
    pub volume: f64,
}

/// A stock split: on `ex_date` one old share becomes `ratio` new shares (2.0 for 2-for-1).
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Symbol.
    pub symbol: String,
    /// Ex-date (the 16:00 New York close instant of that date).
    pub ex_date: UnixNanos,
    /// New shares per old share.
    pub ratio: f64,
}

/// A cash dividend per share.
#[derive(Debug, Clone, PartialEq)]
pub struct Dividend {
    /// Symbol.
    pub symbol: String,
    /// Ex-date (close instant of that date).
    pub ex_date: UnixNanos,
    /// Cash amount per share.
    pub amount: f64,
}

/// A risk-free zero rate for one tenor on one date.
#[derive(Debug, Clone, PartialEq)]
pub struct Rate {
    /// Observation date (close instant of that date).
    pub date: UnixNanos,
    /// Tenor in years.
    pub tenor_years: f64,
    /// Continuously compounded zero rate, decimal.
    pub rate: f64,
}

/// One trade print of an underlying.
#[derive(Debug, Clone, PartialEq)]
pub struct Trade {
    /// Symbol.
    pub symbol: String,
    /// Trade time.
    pub ts: UnixNanos,
    /// Sequence number making prints with the same timestamp distinct.
    pub seq: i64,
    /// Price per share.
    pub price: f64,
    /// Shares.
    pub size: f64,
}

/// A national best bid and offer update.
#[derive(Debug, Clone, PartialEq)]
pub struct Nbbo {
    /// Symbol.
    pub symbol: String,
    /// Quote time.
    pub ts: UnixNanos,
    /// Sequence number making updates with the same timestamp distinct.
    pub seq: i64,
    /// Best bid.
    pub bid: f64,
    /// Best offer.
    pub ask: f64,
    /// Shares at the bid.
    pub bid_size: f64,
    /// Shares at the offer.
    pub ask_size: f64,
}
