//! Canonical records → Arrow batches in the canonical import layout, so in-memory data (the
//! bundled sample) goes through the same validated, atomic import path as files.

use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, Int64Builder, StringBuilder, TimestampNanosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use wheelhouse_core::records::{Bar, Dividend, OptionQuote, Rate, Split};

use crate::StoreError;

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

fn ts_builder(n: usize) -> TimestampNanosecondBuilder {
    TimestampNanosecondBuilder::with_capacity(n).with_timezone("UTC")
}

fn batch(fields: Vec<(&str, DataType)>, cols: Vec<ArrayRef>) -> Result<RecordBatch, StoreError> {
    let schema = Schema::new(
        fields
            .into_iter()
            .map(|(n, t)| Field::new(n, t, true))
            .collect::<Vec<_>>(),
    );
    RecordBatch::try_new(Arc::new(schema), cols).map_err(|e| StoreError::Arrow {
        context: "building a record batch".into(),
        message: e.to_string(),
    })
}

/// `n` synthetic quotes with distinct keys, the rows of the import benchmarks (`wheelhouse
/// bench import`, the store's `import_probe` example): 4 symbols × 12 weekly expiries × 100
/// strikes × 2 types per day from 2013-03-01, mids uniform in [0.05, 20.05) from a SplitMix64
/// stream seeded with `seed`, volume and open interest from the same stream.
pub fn benchmark_quotes(n: usize, seed: u64) -> Vec<OptionQuote> {
    use wheelhouse_core::{ExerciseStyle, OptionType, Settlement, UnixNanos};
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    };
    let day = 86_400_000_000_000i64;
    let t0 = 1_362_171_600_000_000_000i64;
    let per_day = 4 * 12 * 100 * 2;
    (0..n)
        .map(|i| {
            let d = (i / per_day) as i64;
            let r = i % per_day;
            let e = (r / 200) % 12;
            let mid = 0.05 + 20.0 * next();
            OptionQuote {
                underlying: ["AAPL", "IBM", "MSFT", "GOOG"][r / 2400].to_string(),
                quote_time: UnixNanos(t0 + d * day),
                expiration: UnixNanos(t0 + d * day + (e as i64 + 1) * 7 * day),
                strike: 50.0 + ((r / 2) % 100) as f64 * 2.5,
                option_type: if r % 2 == 0 {
                    OptionType::Call
                } else {
                    OptionType::Put
                },
                style: ExerciseStyle::American,
                settlement: Settlement::Pm,
                multiplier: 100.0,
                bid: (mid * 0.98 * 100.0).round() / 100.0,
                ask: (mid * 1.02 * 100.0).round() / 100.0 + 0.01,
                last: None,
                volume: Some((next() * 1000.0) as i64),
                open_interest: Some((next() * 10_000.0) as i64),
                underlying_price: 100.0,
                vendor_iv: None,
                vendor_delta: None,
            }
        })
        .collect()
}

/// Option quotes as one batch.
///
/// # Errors
/// Arrow errors (not expected for well-formed records).
pub fn quotes_batch(q: &[OptionQuote]) -> Result<RecordBatch, StoreError> {
    let n = q.len();
    let mut und = StringBuilder::with_capacity(n, n * 4);
    let mut qt = ts_builder(n);
    let mut exp = ts_builder(n);
    let mut strike = Float64Builder::with_capacity(n);
    let mut ty = StringBuilder::with_capacity(n, n * 4);
    let mut style = StringBuilder::with_capacity(n, n * 8);
    let mut settle = StringBuilder::with_capacity(n, n * 2);
    let mut mult = Float64Builder::with_capacity(n);
    let mut bid = Float64Builder::with_capacity(n);
    let mut ask = Float64Builder::with_capacity(n);
    let mut last = Float64Builder::with_capacity(n);
    let mut vol = Int64Builder::with_capacity(n);
    let mut oi = Int64Builder::with_capacity(n);
    let mut und_px = Float64Builder::with_capacity(n);
    let mut viv = Float64Builder::with_capacity(n);
    let mut vdelta = Float64Builder::with_capacity(n);
    for r in q {
        und.append_value(&r.underlying);
        qt.append_value(r.quote_time.0);
        exp.append_value(r.expiration.0);
        strike.append_value(r.strike);
        ty.append_value(r.option_type.as_str());
        style.append_value(r.style.as_str());
        settle.append_value(r.settlement.as_str());
        mult.append_value(r.multiplier);
        bid.append_value(r.bid);
        ask.append_value(r.ask);
        last.append_option(r.last);
        vol.append_option(r.volume);
        oi.append_option(r.open_interest);
        und_px.append_value(r.underlying_price);
        viv.append_option(r.vendor_iv);
        vdelta.append_option(r.vendor_delta);
    }
    batch(
        vec![
            ("underlying", DataType::Utf8),
            ("quote_time", ts_type()),
            ("expiration", ts_type()),
            ("strike", DataType::Float64),
            ("type", DataType::Utf8),
            ("style", DataType::Utf8),
            ("settlement", DataType::Utf8),
            ("multiplier", DataType::Float64),
            ("bid", DataType::Float64),
            ("ask", DataType::Float64),
            ("last", DataType::Float64),
            ("volume", DataType::Int64),
            ("open_interest", DataType::Int64),
            ("underlying_price", DataType::Float64),
            ("vendor_iv", DataType::Float64),
            ("vendor_delta", DataType::Float64),
        ],
        vec![
            Arc::new(und.finish()),
            Arc::new(qt.finish()),
            Arc::new(exp.finish()),
            Arc::new(strike.finish()),
            Arc::new(ty.finish()),
            Arc::new(style.finish()),
            Arc::new(settle.finish()),
            Arc::new(mult.finish()),
            Arc::new(bid.finish()),
            Arc::new(ask.finish()),
            Arc::new(last.finish()),
            Arc::new(vol.finish()),
            Arc::new(oi.finish()),
            Arc::new(und_px.finish()),
            Arc::new(viv.finish()),
            Arc::new(vdelta.finish()),
        ],
    )
}

/// Bars as one batch.
///
/// # Errors
/// Arrow errors.
pub fn bars_batch(b: &[Bar]) -> Result<RecordBatch, StoreError> {
    let n = b.len();
    let mut sym = StringBuilder::with_capacity(n, n * 4);
    let mut iv = Int64Builder::with_capacity(n);
    let mut ts = ts_builder(n);
    let (mut o, mut h, mut l, mut c, mut v) = (
        Float64Builder::with_capacity(n),
        Float64Builder::with_capacity(n),
        Float64Builder::with_capacity(n),
        Float64Builder::with_capacity(n),
        Float64Builder::with_capacity(n),
    );
    for r in b {
        sym.append_value(&r.symbol);
        iv.append_value(i64::from(r.interval.as_seconds()));
        ts.append_value(r.ts.0);
        o.append_value(r.open);
        h.append_value(r.high);
        l.append_value(r.low);
        c.append_value(r.close);
        v.append_value(r.volume);
    }
    batch(
        vec![
            ("symbol", DataType::Utf8),
            ("interval_s", DataType::Int64),
            ("ts", ts_type()),
            ("open", DataType::Float64),
            ("high", DataType::Float64),
            ("low", DataType::Float64),
            ("close", DataType::Float64),
            ("volume", DataType::Float64),
        ],
        vec![
            Arc::new(sym.finish()),
            Arc::new(iv.finish()),
            Arc::new(ts.finish()),
            Arc::new(o.finish()),
            Arc::new(h.finish()),
            Arc::new(l.finish()),
            Arc::new(c.finish()),
            Arc::new(v.finish()),
        ],
    )
}

/// Dated per-symbol values (splits: ratio; dividends: amount) as one batch.
fn dated_batch(
    rows: impl Iterator<Item = (String, i64, f64)>,
    value_col: &str,
) -> Result<RecordBatch, StoreError> {
    let mut sym = StringBuilder::new();
    let mut ts = ts_builder(0);
    let mut v = Float64Builder::new();
    for (s, t, x) in rows {
        sym.append_value(s);
        ts.append_value(t);
        v.append_value(x);
    }
    batch(
        vec![
            ("symbol", DataType::Utf8),
            ("ex_date", ts_type()),
            (value_col, DataType::Float64),
        ],
        vec![
            Arc::new(sym.finish()),
            Arc::new(ts.finish()),
            Arc::new(v.finish()),
        ],
    )
}

/// Splits as one batch.
///
/// # Errors
/// Arrow errors.
pub fn splits_batch(s: &[Split]) -> Result<RecordBatch, StoreError> {
    dated_batch(
        s.iter().map(|r| (r.symbol.clone(), r.ex_date.0, r.ratio)),
        "ratio",
    )
}

/// Dividends as one batch.
///
/// # Errors
/// Arrow errors.
pub fn dividends_batch(d: &[Dividend]) -> Result<RecordBatch, StoreError> {
    dated_batch(
        d.iter().map(|r| (r.symbol.clone(), r.ex_date.0, r.amount)),
        "amount",
    )
}

/// Rates as one batch.
///
/// # Errors
/// Arrow errors.
pub fn rates_batch(r: &[Rate]) -> Result<RecordBatch, StoreError> {
    let mut ts = ts_builder(r.len());
    let mut tenor = Float64Builder::with_capacity(r.len());
    let mut rate = Float64Builder::with_capacity(r.len());
    for x in r {
        ts.append_value(x.date.0);
        tenor.append_value(x.tenor_years);
        rate.append_value(x.rate);
    }
    batch(
        vec![
            ("date", ts_type()),
            ("tenor_years", DataType::Float64),
            ("rate", DataType::Float64),
        ],
        vec![
            Arc::new(ts.finish()),
            Arc::new(tenor.finish()),
            Arc::new(rate.finish()),
        ],
    )
}
