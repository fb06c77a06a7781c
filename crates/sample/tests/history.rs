//! Verifies the bundled Quandl history: bars, the splits and dividends derived from the
//! adjustment factor (against the companies' published corporate actions), and the synthetic
//! rate path.

use jiff::civil::Date;
use wheelhouse_core::exchange_time::{close_instant, new_york_date};
use wheelhouse_core::records::BarInterval;
use wheelhouse_sample::{
    EMBEDDED_PATH, SAMPLE_RATE_TENORS_YEARS, UnderlyingHistory, embedded_history,
    load_quandl_daily, sample_rates,
};

fn repo_file() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(EMBEDDED_PATH)
}

fn d(y: i16, m: i8, day: i8) -> Date {
    jiff::civil::date(y, m, day)
}

/// (ex-date, value) of splits or dividends.
type Events = Vec<(Date, f64)>;

fn events(h: &UnderlyingHistory, sym: &str) -> (Events, Events) {
    let splits = h
        .splits_of(sym)
        .iter()
        .map(|s| (new_york_date(s.ex_date).unwrap(), s.ratio))
        .collect();
    let divs = h
        .dividends_of(sym)
        .iter()
        .map(|s| (new_york_date(s.ex_date).unwrap(), s.amount))
        .collect();
    (splits, divs)
}

#[test]
fn file_and_embedded_copy_agree() {
    let h = load_quandl_daily(repo_file()).unwrap();
    assert_eq!(h, embedded_history());
    assert_eq!(h.symbols(), ["AAPL", "GOOG", "IBM", "MSFT"]);
    assert_eq!(h.bars.len(), 11_958);
    for (sym, n) in [
        ("AAPL", 3270),
        ("GOOG", 2148),
        ("IBM", 3270),
        ("MSFT", 3270),
    ] {
        assert_eq!(h.bars_of(sym).len(), n, "{sym}");
    }
}

#[test]
fn bars_are_unadjusted_dailies_at_the_close() {
    let h = embedded_history();
    let aapl = h.bars_of("AAPL");
    let first = &aapl[0];
    assert_eq!(first.ts, close_instant(d(2000, 3, 1)).unwrap());
    assert_eq!(
        (first.open, first.high, first.low, first.close, first.volume),
        (118.56, 132.06, 118.5, 130.31, 9_616_100.0)
    );
    assert!(h.bars.iter().all(|b| b.interval == BarInterval::Day));
    // Unadjusted: the 2005 split halves the close overnight.
    let before = aapl
        .iter()
        .find(|b| b.ts == close_instant(d(2005, 2, 25)).unwrap())
        .unwrap();
    let after = aapl
        .iter()
        .find(|b| b.ts == close_instant(d(2005, 2, 28)).unwrap())
        .unwrap();
    assert_eq!((before.close, after.close), (88.99, 44.86));
    for w in h.bars.windows(2) {
        assert!(w[0].symbol < w[1].symbol || (w[0].symbol == w[1].symbol && w[0].ts < w[1].ts));
    }
}

#[test]
fn aapl_splits_and_2012_dividends() {
    let h = embedded_history();
    let (splits, divs) = events(&h, "AAPL");
    // Apple's 2-for-1 splits (ex-dates 2000-06-21 and 2005-02-28, per Apple investor relations).
    assert_eq!(splits, vec![(d(2000, 6, 21), 2.0), (d(2005, 2, 28), 2.0)]);
    // Apple resumed dividends in 2012: $2.65 a quarter (ex 2012-08-09, 2012-11-07, 2013-02-07).
    let dates: Vec<Date> = divs.iter().map(|x| x.0).collect();
    assert_eq!(dates, vec![d(2012, 8, 9), d(2012, 11, 7), d(2013, 2, 7)]);
    for (date, amount) in divs {
        assert!((amount / 2.65 - 1.0).abs() < 0.04, "{date}: {amount}");
    }
}

#[test]
fn msft_split_special_and_quarterly_dividends() {
    let h = embedded_history();
    let (splits, divs) = events(&h, "MSFT");
    // 2-for-1 split, ex 2003-02-18.
    assert_eq!(splits, vec![(d(2003, 2, 18), 2.0)]);
    assert_eq!(divs.len(), 37);
    let find = |date: Date| divs.iter().find(|x| x.0 == date).map(|x| x.1);
    // Declared amounts (Microsoft investor relations): first dividend $0.08 (2003-02-19),
    // $3.00 special + $0.08 regular (2004-11-15), $0.23 (2013-02-19).
    let first = find(d(2003, 2, 19)).unwrap();
    assert!((first / 0.08 - 1.0).abs() < 0.03, "{first}");
    let special = find(d(2004, 11, 15)).unwrap();
    assert!(special > 2.9 && special < 3.1, "{special}");
    let last = find(d(2013, 2, 19)).unwrap();
    assert!((last / 0.23 - 1.0).abs() < 0.03, "{last}");
    // Quarterly from 2005: four a year, 8 to 25 cents.
    for year in 2005..=2012 {
        let in_year: Vec<f64> = divs
            .iter()
            .filter(|x| x.0.year() == year)
            .map(|x| x.1)
            .collect();
        assert_eq!(in_year.len(), 4, "{year}");
        assert!(
            in_year.iter().all(|&a| (0.075..0.25).contains(&a)),
            "{year}: {in_year:?}"
        );
    }
}

#[test]
fn ibm_quarterly_dividends() {
    let h = embedded_history();
    let (splits, divs) = events(&h, "IBM");
    assert!(splits.is_empty());
    assert_eq!(divs.len(), 52);
    for year in 2001..=2012 {
        let n = divs.iter().filter(|x| x.0.year() == year).count();
        assert_eq!(n, 4, "{year}");
    }
    // IBM's declared quarterly dividend went from $0.13 (2000) to $0.85 (2012–13); each derived
    // amount is within 6 % of the nearest declared level and they never fall by more than
    // the derivation error.
    let declared = [
        0.13, 0.14, 0.15, 0.16, 0.18, 0.20, 0.30, 0.40, 0.50, 0.55, 0.65, 0.75, 0.85,
    ];
    for &(date, amount) in &divs {
        let nearest = declared
            .iter()
            .map(|&x| (amount / x - 1.0).abs())
            .fold(f64::INFINITY, f64::min);
        assert!(nearest < 0.06, "{date}: {amount}");
    }
    for w in divs.windows(2) {
        assert!(w[1].1 > w[0].1 * 0.9, "{:?} -> {:?}", w[0], w[1]);
    }
    let last = divs.last().unwrap();
    assert_eq!(last.0, d(2013, 2, 6));
    assert!((last.1 / 0.85 - 1.0).abs() < 0.03);
}

#[test]
fn goog_has_no_events() {
    let h = embedded_history();
    assert_eq!(events(&h, "GOOG"), (vec![], vec![]));
    assert_eq!(h.splits.len(), 3);
    assert_eq!(h.dividends.len(), 3 + 37 + 52);
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let err = load_quandl_daily("/nonexistent/x.csv").unwrap_err();
    assert!(err.to_string().contains("/nonexistent/x.csv"), "{err}");
}

#[test]
fn synthetic_rates_cover_every_trading_day() {
    let h = embedded_history();
    let rates = sample_rates(&h);
    assert_eq!(rates.len(), 3270 * SAMPLE_RATE_TENORS_YEARS.len());
    for r in &rates {
        assert!(r.rate.is_finite() && r.rate > 0.0 && r.rate < 0.07, "{r:?}");
    }
    let on = |date: Date, tenor: f64| {
        let ts = close_instant(date).unwrap();
        rates
            .iter()
            .find(|r| r.date == ts && r.tenor_years == tenor)
            .unwrap()
            .rate
    };
    // Fed funds target 6.5 % in mid-2000, 1 % in mid-2003, 0–0.25 % from 2009.
    assert!((on(d(2000, 6, 1), 0.25) - 0.065).abs() < 0.002);
    assert!((on(d(2003, 8, 1), 0.25) - 0.01).abs() < 0.001);
    assert!(on(d(2013, 3, 1), 0.25) < 0.003);
    assert!(on(d(2013, 3, 1), 2.0) > on(d(2013, 3, 1), 0.25));
}
