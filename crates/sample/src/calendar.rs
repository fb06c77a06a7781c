//! Civil-date arithmetic and the US listed-option expiration calendar.
//!
//! Dates are handled as day numbers (days since 1970-01-01, proleptic Gregorian), which makes
//! the arithmetic total: no date computation here can fail or panic.

use jiff::civil::Date;

/// Days since 1970-01-01 of a civil date (H. Hinnant's `days_from_civil`).
pub(crate) fn day_number(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day number (H. Hinnant's `civil_from_days`).
pub(crate) fn civil(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y as i32, m, d)
}

/// Day number of a jiff date.
pub(crate) fn day_of(date: Date) -> i64 {
    day_number(
        i32::from(date.year()),
        date.month() as u32,
        date.day() as u32,
    )
}

/// The jiff date of a day number, or `None` outside jiff's range (years −9999..=9999).
pub(crate) fn date_of(days: i64) -> Option<Date> {
    let (y, m, d) = civil(days);
    let y = i16::try_from(y).ok()?;
    Date::new(y, m as i8, d as i8).ok()
}

/// Weekday with Monday = 0 … Sunday = 6.
pub(crate) fn weekday(days: i64) -> i64 {
    // 1970-01-01 was a Thursday (3).
    (days + 3).rem_euclid(7)
}

const FRIDAY: i64 = 4;
const SATURDAY: i64 = 5;

/// Easter Sunday of `year` (anonymous Gregorian algorithm, Meeus/Jones/Butcher).
pub(crate) fn easter(year: i32) -> i64 {
    let y = i64::from(year);
    let a = y.rem_euclid(19);
    let b = y.div_euclid(100);
    let c = y.rem_euclid(100);
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    day_number(year, month as u32, day as u32)
}

/// Whether a Friday `days` is a US exchange holiday: Good Friday, New Year's Day, Independence
/// Day (or its Friday observance, July 3) or Christmas (or December 24 observed).
///
/// One-off closures (e.g. 2004-06-11) are not modelled.
pub(crate) fn is_friday_holiday(days: i64) -> bool {
    let (y, m, d) = civil(days);
    if days == easter(y) - 2 {
        return true;
    }
    let observed = |month: u32, day: u32| {
        let h = day_number(y, month, day);
        h == days || (weekday(h) == SATURDAY && h - 1 == days)
    };
    (m == 1 && d == 1) || observed(7, 4) || observed(12, 25)
}

/// The expiration day of the options of a Friday: that Friday, or the Thursday before when the
/// Friday is an exchange holiday (e.g. Good Friday 2003-04-18 → 2003-04-17).
pub(crate) fn friday_expiration(friday: i64) -> i64 {
    if is_friday_holiday(friday) {
        friday - 1
    } else {
        friday
    }
}

/// The third Friday of `year`-`month` (before any holiday adjustment).
pub(crate) fn third_friday(year: i32, month: u32) -> i64 {
    let first = day_number(year, month, 1);
    let to_friday = (FRIDAY - weekday(first)).rem_euclid(7);
    first + to_friday + 14
}

/// Which listing an expiration belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpiryKind {
    /// A standard monthly expiration (third Friday).
    Monthly,
    /// A weekly expiration (any other Friday).
    Weekly,
}

/// The expiration days listed on quote day `today` (day numbers), sorted, strictly after
/// `today`: the monthly expirations within `monthly_horizon_days`, and, when `weeklies` is
/// true, the weekly Fridays of the next `weekly_count` weeks (`today < Friday ≤ today + 7·n`)
/// that are not monthly expirations. Holiday Fridays expire on the Thursday before.
pub(crate) fn expirations(
    today: i64,
    monthly_horizon_days: i64,
    weeklies: bool,
    weekly_count: u32,
) -> Vec<(i64, ExpiryKind)> {
    let (y, m, _) = civil(today);
    let mut out: Vec<(i64, ExpiryKind)> = Vec::new();
    // Months until the horizon: at most horizon/28 + 2 months ahead.
    let months = (monthly_horizon_days.max(0) / 28 + 2) as i32;
    for i in 0..=months {
        let idx = (m as i32 - 1) + i;
        let (yy, mm) = (y + idx.div_euclid(12), (idx.rem_euclid(12) + 1) as u32);
        let e = friday_expiration(third_friday(yy, mm));
        if e > today && e <= today + monthly_horizon_days {
            out.push((e, ExpiryKind::Monthly));
        }
    }
    if weeklies {
        let next_friday = today + 1 + (FRIDAY - weekday(today + 1)).rem_euclid(7);
        for w in 0..i64::from(weekly_count) {
            let friday = next_friday + 7 * w;
            if friday > today + 7 * i64::from(weekly_count) {
                break;
            }
            let e = friday_expiration(friday);
            if e > today && !out.iter().any(|&(d, _)| d == e) {
                out.push((e, ExpiryKind::Weekly));
            }
        }
    }
    out.sort_unstable_by_key(|&(d, _)| d);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_round_trip() {
        assert_eq!(day_number(1970, 1, 1), 0);
        assert_eq!(day_number(2000, 3, 1), 11_017);
        for d in -800_000..800_000i64 {
            let (y, m, dd) = civil(d);
            assert_eq!(day_number(y, m, dd), d);
        }
        assert_eq!(weekday(day_number(2013, 3, 1)), FRIDAY);
        let jd = Date::new(2013, 3, 15).unwrap();
        assert_eq!(date_of(day_of(jd)), Some(jd));
    }

    #[test]
    fn easter_dates() {
        // Independent source: the published Gregorian Easter table.
        for (y, m, d) in [
            (2000, 4, 23),
            (2003, 4, 20),
            (2008, 3, 23),
            (2011, 4, 24),
            (2013, 3, 31),
            (2014, 4, 20),
            (2019, 4, 21),
        ] {
            assert_eq!(easter(y), day_number(y, m, d), "{y}");
        }
    }

    #[test]
    fn good_friday_on_third_friday_moves_to_thursday() {
        // 2000-04-21, 2003-04-18, 2008-03-21 and 2014-04-18 were Good Fridays and third Fridays;
        // the options expired on the Thursday.
        for (y, m, d) in [(2000, 4, 20), (2003, 4, 17), (2008, 3, 20), (2014, 4, 17)] {
            assert_eq!(friday_expiration(third_friday(y, m)), day_number(y, m, d));
        }
        // An ordinary third Friday.
        assert_eq!(
            friday_expiration(third_friday(2013, 3)),
            day_number(2013, 3, 15)
        );
        // Observed holidays on Fridays: 2010-12-24, 2009-07-03, 2010-01-01.
        assert!(is_friday_holiday(day_number(2010, 12, 24)));
        assert!(is_friday_holiday(day_number(2009, 7, 3)));
        assert!(is_friday_holiday(day_number(2010, 1, 1)));
        assert!(!is_friday_holiday(day_number(2010, 12, 17)));
    }

    #[test]
    fn expiration_lists() {
        let today = day_number(2013, 3, 1); // a Friday
        let all = expirations(today, 365, true, 5);
        let monthly: Vec<_> = all
            .iter()
            .filter(|e| e.1 == ExpiryKind::Monthly)
            .map(|e| civil(e.0))
            .collect();
        assert_eq!(monthly.first(), Some(&(2013, 3, 15)));
        assert_eq!(monthly.last(), Some(&(2014, 2, 21)));
        assert_eq!(monthly.len(), 12);
        let weekly: Vec<_> = all
            .iter()
            .filter(|e| e.1 == ExpiryKind::Weekly)
            .map(|e| civil(e.0))
            .collect();
        // Fridays 03-08 .. 04-05 minus the monthly 03-15; 03-29 is Good Friday 2013.
        assert_eq!(
            weekly,
            vec![(2013, 3, 8), (2013, 3, 22), (2013, 3, 28), (2013, 4, 5)]
        );
        assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(
            expirations(today, 365, false, 5)
                .iter()
                .all(|e| e.1 == ExpiryKind::Monthly)
        );
        // On a third Friday its own expiry is not listed (it expires at the quote instant).
        let e = expirations(day_number(2013, 3, 15), 365, true, 5);
        assert!(e.iter().all(|x| x.0 > day_number(2013, 3, 15)));
        assert_eq!(civil(e[0].0), (2013, 3, 22));
    }
}
