//! Parsing instants and dates from input files.
//!
//! Accepted forms (the mapping file may add a `strftime` format):
//! - RFC 3339 / ISO 8601 with an offset or `Z`: `2013-03-01T16:00:00-05:00`, `…Z`, fractions
//!   of a second to the nanosecond;
//! - a local date-time without offset (`2013-03-01 15:45:00`, `2013-03-01T15:45`): read in the
//!   import's time zone, America/New_York unless configured;
//! - a bare date (`2013-03-01`, `20130301`): meaning depends on the column (the close, or the
//!   option's settlement time on that date).

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use wheelhouse_core::UnixNanos;
use wheelhouse_core::exchange_time::local_to_utc;

/// A parsed time value before the column gives a bare date its meaning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeValue {
    /// A full instant, ns since the epoch UTC.
    Instant(i64),
    /// A calendar date.
    Date(Date),
}

/// Parses text as an instant, a local date-time in `tz`, or a date; `fmt` is an optional
/// `strftime` format tried first (with `%z`/`%Q` it is an instant, with a time a local
/// date-time, else a date).
pub fn parse_time(s: &str, tz: &TimeZone, fmt: Option<&str>) -> Result<TimeValue, String> {
    let s = s.trim();
    if let Some(f) = fmt {
        return parse_with_format(s, tz, f);
    }
    let b = s.as_bytes();
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        return s
            .parse::<Date>()
            .map(TimeValue::Date)
            .map_err(|e| format!("bad date {s:?}: {e}"));
    }
    if b.len() == 8 && b.iter().all(u8::is_ascii_digit) {
        let (y, m, d) = (&s[0..4], &s[4..6], &s[6..8]);
        let date = Date::new(
            y.parse().map_err(|_| format!("bad date {s:?}"))?,
            m.parse().map_err(|_| format!("bad date {s:?}"))?,
            d.parse().map_err(|_| format!("bad date {s:?}"))?,
        )
        .map_err(|e| format!("bad date {s:?}: {e}"))?;
        return Ok(TimeValue::Date(date));
    }
    // With an offset or `Z` it is an instant; otherwise a local date-time.
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return instant_of(ts).map(TimeValue::Instant);
    }
    let dt: DateTime = s.parse().map_err(|e| format!("bad date-time {s:?}: {e}"))?;
    local_to_utc(dt, tz)
        .map(|u| TimeValue::Instant(u.0))
        .map_err(|e| e.to_string())
}

fn parse_with_format(s: &str, tz: &TimeZone, f: &str) -> Result<TimeValue, String> {
    let has_zone = f.contains("%z") || f.contains("%Q") || f.contains("%:z") || f.contains("%s");
    let has_time = ["%H", "%I", "%M", "%S", "%T", "%R", "%s"]
        .iter()
        .any(|p| f.contains(p));
    let err = |e: jiff::Error| format!("{s:?} does not match format {f:?}: {e}");
    if has_zone {
        let ts = jiff::Timestamp::strptime(f, s).map_err(err)?;
        instant_of(ts).map(TimeValue::Instant)
    } else if has_time {
        let dt = DateTime::strptime(f, s).map_err(err)?;
        local_to_utc(dt, tz)
            .map(|u| TimeValue::Instant(u.0))
            .map_err(|e| e.to_string())
    } else {
        Date::strptime(f, s).map(TimeValue::Date).map_err(err)
    }
}

fn instant_of(ts: jiff::Timestamp) -> Result<i64, String> {
    i64::try_from(ts.as_nanosecond()).map_err(|_| format!("{ts} is outside the i64 ns range"))
}

/// A date at `hh:mm` in `tz`.
pub fn date_at(date: Date, hour: i8, minute: i8, tz: &TimeZone) -> Result<UnixNanos, String> {
    let t = jiff::civil::Time::new(hour, minute, 0, 0).map_err(|e| e.to_string())?;
    local_to_utc(DateTime::from_parts(date, t), tz).map_err(|e| e.to_string())
}

/// Days since 1970-01-01 (Arrow `Date32`) as a date.
pub fn date_from_days(days: i32) -> Result<Date, String> {
    let epoch = Date::constant(1970, 1, 1);
    epoch
        .checked_add(jiff::Span::new().days(i64::from(days)))
        .map_err(|e| format!("date32 {days} out of range: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ny() -> TimeZone {
        TimeZone::get("America/New_York").unwrap()
    }

    #[test]
    fn forms() {
        let tz = ny();
        assert_eq!(
            parse_time("2013-03-01T16:00:00-05:00", &tz, None).unwrap(),
            TimeValue::Instant(1_362_171_600_000_000_000)
        );
        assert_eq!(
            parse_time("2013-03-01T21:00:00Z", &tz, None).unwrap(),
            TimeValue::Instant(1_362_171_600_000_000_000)
        );
        assert_eq!(
            parse_time("2013-03-01 16:00:00", &tz, None).unwrap(),
            TimeValue::Instant(1_362_171_600_000_000_000)
        );
        assert_eq!(
            parse_time("2013-03-01", &tz, None).unwrap(),
            TimeValue::Date(Date::constant(2013, 3, 1))
        );
        assert_eq!(
            parse_time("20130301", &tz, None).unwrap(),
            TimeValue::Date(Date::constant(2013, 3, 1))
        );
        assert_eq!(
            parse_time("03/01/2013", &tz, Some("%m/%d/%Y")).unwrap(),
            TimeValue::Date(Date::constant(2013, 3, 1))
        );
        assert!(parse_time("2013-02-30", &tz, None).is_err());
        assert!(parse_time("yesterday", &tz, None).is_err());
        assert_eq!(date_from_days(15765).unwrap(), Date::constant(2013, 3, 1));
    }
}
