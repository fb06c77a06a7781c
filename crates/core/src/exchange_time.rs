//! Exchange-local instants for US listed options, stored as UTC nanoseconds.
//!
//! US equity and ETF options expire at the close, 16:00 America/New_York, on their expiration
//! date (PM-settled index options likewise); AM-settled index options settle on the opening
//! print, 09:30 America/New_York. Daylight saving time is taken from the bundled IANA tz
//! database, so 16:00 New York is 21:00 UTC in winter and 20:00 UTC in summer (and the rules
//! before 2007 are right too).

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;

use crate::{CoreError, Settlement, UnixNanos};

/// The IANA zone of US options exchanges.
pub const NEW_YORK: &str = "America/New_York";

fn new_york() -> Result<TimeZone, CoreError> {
    TimeZone::get(NEW_YORK).map_err(|e| CoreError::TimeZone(e.to_string()))
}

/// `date` at `hour:minute` New York local time, as a UTC instant.
///
/// # Errors
/// [`CoreError::InvalidDate`] for an impossible date or time.
pub fn new_york_instant(
    year: i16,
    month: i8,
    day: i8,
    hour: i8,
    minute: i8,
) -> Result<UnixNanos, CoreError> {
    let date = Date::new(year, month, day)
        .map_err(|e| CoreError::InvalidDate(format!("{year:04}-{month:02}-{day:02}: {e}")))?;
    let time = Time::new(hour, minute, 0, 0)
        .map_err(|e| CoreError::InvalidDate(format!("{hour:02}:{minute:02}: {e}")))?;
    local_to_utc(DateTime::from_parts(date, time), &new_york()?)
}

/// A civil date-time in `tz` as a UTC instant (an ambiguous or skipped local time, at a DST
/// change, resolves as jiff's "compatible" strategy: the earlier offset for a repeated hour,
/// pushed forward through a gap).
///
/// # Errors
/// [`CoreError::InvalidDate`] when the instant is out of range.
pub fn local_to_utc(dt: DateTime, tz: &TimeZone) -> Result<UnixNanos, CoreError> {
    let zoned = dt
        .to_zoned(tz.clone())
        .map_err(|e| CoreError::InvalidDate(format!("{dt}: {e}")))?;
    let ns = zoned.timestamp().as_nanosecond();
    i64::try_from(ns)
        .map(UnixNanos)
        .map_err(|_| CoreError::InvalidDate(format!("{dt}: outside the i64 nanosecond range")))
}

/// The settlement instant of an option expiring on `date` (16:00 or 09:30 New York).
///
/// # Errors
/// [`CoreError::InvalidDate`] for an impossible date.
pub fn expiration_instant(date: Date, settlement: Settlement) -> Result<UnixNanos, CoreError> {
    let (h, m) = match settlement {
        Settlement::Pm => (16, 0),
        Settlement::Am => (9, 30),
    };
    new_york_instant(date.year(), date.month(), date.day(), h, m)
}

/// The US regular-session close (16:00 New York) of `date`: the quote time of end-of-day data.
///
/// # Errors
/// [`CoreError::InvalidDate`] for an impossible date.
pub fn close_instant(date: Date) -> Result<UnixNanos, CoreError> {
    expiration_instant(date, Settlement::Pm)
}

/// The New York calendar date of a UTC instant.
///
/// # Errors
/// [`CoreError::InvalidDate`] when the instant is out of range.
pub fn new_york_date(t: UnixNanos) -> Result<Date, CoreError> {
    let ts = jiff::Timestamp::from_nanosecond(i128::from(t.0))
        .map_err(|e| CoreError::InvalidDate(format!("{} ns: {e}", t.0)))?;
    Ok(ts.to_zoned(new_york()?).date())
}

/// A UTC instant formatted as RFC 3339 in New York local time, e.g.
/// `2013-03-15T16:00:00-04:00`.
pub fn format_new_york(t: UnixNanos) -> String {
    match (
        jiff::Timestamp::from_nanosecond(i128::from(t.0)),
        new_york(),
    ) {
        (Ok(ts), Ok(tz)) => {
            let z = ts.to_zoned(tz);
            z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
        }
        _ => format!("{}ns", t.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_in_winter_and_summer() {
        // 2013-03-08 is before the 2013-03-10 DST change: EST, UTC-5.
        let w = close_instant(Date::new(2013, 3, 8).unwrap()).unwrap();
        assert_eq!(w.0, 1_362_776_400 * 1_000_000_000);
        // 2013-03-15 is after it: EDT, UTC-4 → 20:00 UTC.
        let s = close_instant(Date::new(2013, 3, 15).unwrap()).unwrap();
        assert_eq!(s.0, 1_363_377_600 * 1_000_000_000);
        // Old rules: 2005-04-01 was still EST (DST began the first Sunday of April until 2006).
        let old = close_instant(Date::new(2005, 4, 1).unwrap()).unwrap();
        assert_eq!(old.0, 1_112_389_200 * 1_000_000_000);
        assert_eq!(format_new_york(s), "2013-03-15T16:00:00-04:00");
        assert_eq!(new_york_date(s).unwrap(), Date::new(2013, 3, 15).unwrap());
    }

    #[test]
    fn am_settlement() {
        let am = expiration_instant(Date::new(2013, 3, 15).unwrap(), Settlement::Am).unwrap();
        assert_eq!(am.0, (1_363_377_600 - 6 * 3600 - 1800) * 1_000_000_000);
    }
}
