//! A SYNTHETIC short-rate path for the sample, and zero-curve lookup by date.

use wheelhouse_core::UnixNanos;
use wheelhouse_core::records::Rate;

use crate::calendar::{day_number, day_of};
use crate::history::{UnderlyingHistory, ny_date};

/// Tenors of [`sample_rates`], in years.
pub const SAMPLE_RATE_TENORS_YEARS: [f64; 3] = [0.25, 1.0, 2.0];

/// US federal funds target changes 2000–2008 as `(year, month, day, percent)`, in force from
/// that date (FOMC statements; the 2008-12-16 range 0–0.25 % is represented by 0.125 %).
const FED_FUNDS_TARGET: [(i32, u32, u32, f64); 44] = [
    (1999, 11, 16, 5.50),
    (2000, 2, 2, 5.75),
    (2000, 3, 21, 6.00),
    (2000, 5, 16, 6.50),
    (2001, 1, 3, 6.00),
    (2001, 1, 31, 5.50),
    (2001, 3, 20, 5.00),
    (2001, 4, 18, 4.50),
    (2001, 5, 15, 4.00),
    (2001, 6, 27, 3.75),
    (2001, 8, 21, 3.50),
    (2001, 9, 17, 3.00),
    (2001, 10, 2, 2.50),
    (2001, 11, 6, 2.00),
    (2001, 12, 11, 1.75),
    (2002, 11, 6, 1.25),
    (2003, 6, 25, 1.00),
    (2004, 6, 30, 1.25),
    (2004, 8, 10, 1.50),
    (2004, 9, 21, 1.75),
    (2004, 11, 10, 2.00),
    (2004, 12, 14, 2.25),
    (2005, 2, 2, 2.50),
    (2005, 3, 22, 2.75),
    (2005, 5, 3, 3.00),
    (2005, 6, 30, 3.25),
    (2005, 8, 9, 3.50),
    (2005, 9, 20, 3.75),
    (2005, 11, 1, 4.00),
    (2005, 12, 13, 4.25),
    (2006, 1, 31, 4.50),
    (2006, 3, 28, 4.75),
    (2006, 5, 10, 5.00),
    (2006, 6, 29, 5.25),
    (2007, 9, 18, 4.75),
    (2007, 10, 31, 4.50),
    (2007, 12, 11, 4.25),
    (2008, 1, 22, 3.50),
    (2008, 1, 30, 3.00),
    (2008, 3, 18, 2.25),
    (2008, 4, 30, 2.00),
    (2008, 10, 8, 1.50),
    (2008, 10, 29, 1.00),
    (2008, 12, 16, 0.125),
];

/// The fed funds target (decimal, as published) in force on day number `day`.
fn fed_funds_target(day: i64) -> f64 {
    let mut level = FED_FUNDS_TARGET[0].3;
    for &(y, m, d, pct) in &FED_FUNDS_TARGET {
        if day_number(y, m, d) <= day {
            level = pct;
        } else {
            break;
        }
    }
    level / 100.0
}

/// Term spread added to the target at `tenor_years` (decimal): 0.25 % × (1 − e^{−τ/1.5}).
fn term_spread(tenor_years: f64) -> f64 {
    0.0025 * (1.0 - (-tenor_years / 1.5).exp())
}

/// A SYNTHETIC risk-free zero curve: one observation per trading day of `history` (the union
/// of its symbols' bar dates) at each tenor of [`SAMPLE_RATE_TENORS_YEARS`].
///
/// **Not market data.** The level is the US federal funds target in force that day (a
/// piecewise-constant path through the FOMC changes of 2000–2008, then 0.125 % for the
/// 0–0.25 % range) plus a small upward term spread `0.25 % × (1 − e^{−τ/1.5})`, converted to
/// continuous compounding, `r = ln(1 + y)`. It ignores the curve inversions of 2000 and 2006–07
/// and all day-to-day noise; it is close enough to price the sample chains.
///
/// # Units
/// `Rate::date` is the observation day's close instant (the bar's `ts`); `tenor_years` in
/// years; `rate` continuously compounded decimal.
pub fn sample_rates(history: &UnderlyingHistory) -> Vec<Rate> {
    let mut days: Vec<UnixNanos> = history.bars.iter().map(|b| b.ts).collect();
    days.sort_unstable();
    days.dedup();
    let mut out = Vec::with_capacity(days.len() * SAMPLE_RATE_TENORS_YEARS.len());
    for ts in days {
        // A bar time jiff cannot place (beyond year 9999) gets no rate.
        let Ok(date) = ny_date(ts) else { continue };
        let target = fed_funds_target(day_of(date));
        for tenor in SAMPLE_RATE_TENORS_YEARS {
            out.push(Rate {
                date: ts,
                tenor_years: tenor,
                rate: (target + term_spread(tenor)).ln_1p(),
            });
        }
    }
    out
}

/// Rate observations grouped by date, for zero-rate lookup on a quote date.
#[derive(Debug, Clone)]
pub(crate) struct RateBook {
    /// (observation time, sorted (tenor, rate) points), sorted by time.
    dates: Vec<(UnixNanos, Vec<(f64, f64)>)>,
}

impl RateBook {
    /// Groups `rates`, dropping observations with a non-finite rate or a tenor ≤ 0.
    pub(crate) fn new(rates: &[Rate]) -> Self {
        let mut all: Vec<&Rate> = rates
            .iter()
            .filter(|r| r.rate.is_finite() && r.tenor_years.is_finite() && r.tenor_years > 0.0)
            .collect();
        all.sort_by(|a, b| {
            a.date
                .cmp(&b.date)
                .then(a.tenor_years.total_cmp(&b.tenor_years))
        });
        let mut dates: Vec<(UnixNanos, Vec<(f64, f64)>)> = Vec::new();
        for r in all {
            match dates.last_mut() {
                Some((d, pts)) if *d == r.date => pts.push((r.tenor_years, r.rate)),
                _ => dates.push((r.date, vec![(r.tenor_years, r.rate)])),
            }
        }
        RateBook { dates }
    }

    /// The curve of the latest observation at or before `t`, if any.
    pub(crate) fn curve_at(&self, t: UnixNanos) -> Option<ZeroCurve> {
        let idx = self.dates.partition_point(|(d, _)| *d <= t);
        let (_, pts) = self.dates.get(idx.checked_sub(1)?)?;
        Some(ZeroCurve {
            points: pts.clone(),
        })
    }
}

/// Zero rates of one date, linear in tenor between points and flat beyond them.
#[derive(Debug, Clone, PartialEq)]
pub struct ZeroCurve {
    points: Vec<(f64, f64)>,
}

impl ZeroCurve {
    /// The continuously compounded zero rate (decimal) for `years`.
    pub fn rate(&self, years: f64) -> f64 {
        let p = &self.points;
        // Never empty: a curve is built only from a non-empty group of observations.
        let (Some(first), Some(last)) = (p.first(), p.last()) else {
            return f64::NAN;
        };
        if years <= first.0 {
            return first.1;
        }
        if years >= last.0 {
            return last.1;
        }
        let i = p.partition_point(|&(t, _)| t <= years);
        let (t0, r0) = p[i - 1];
        let (t1, r1) = p[i];
        if t1 > t0 {
            r0 + (r1 - r0) * (years - t0) / (t1 - t0)
        } else {
            r0
        }
    }

    /// The `(tenor_years, rate)` points.
    pub fn points(&self) -> &[(f64, f64)] {
        &self.points
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_path() {
        assert_eq!(fed_funds_target(day_number(2000, 6, 1)), 0.065);
        assert_eq!(fed_funds_target(day_number(2003, 7, 1)), 0.01);
        assert_eq!(fed_funds_target(day_number(2007, 9, 17)), 0.0525);
        assert_eq!(fed_funds_target(day_number(2013, 3, 1)), 0.00125);
        assert!(
            FED_FUNDS_TARGET.windows(2).all(|w| {
                day_number(w[0].0, w[0].1, w[0].2) < day_number(w[1].0, w[1].1, w[1].2)
            })
        );
    }

    #[test]
    fn curve_interpolates_and_extrapolates_flat() {
        let c = ZeroCurve {
            points: vec![(0.25, 0.01), (1.0, 0.02), (2.0, 0.03)],
        };
        assert_eq!(c.rate(0.01), 0.01);
        assert!((c.rate(0.625) - 0.015).abs() < 1e-15);
        assert_eq!(c.rate(5.0), 0.03);
        let book = RateBook::new(&[
            Rate {
                date: UnixNanos(10),
                tenor_years: 1.0,
                rate: 0.02,
            },
            Rate {
                date: UnixNanos(20),
                tenor_years: 1.0,
                rate: 0.03,
            },
        ]);
        assert!(book.curve_at(UnixNanos(9)).is_none());
        assert_eq!(book.curve_at(UnixNanos(15)).unwrap().rate(1.0), 0.02);
        assert_eq!(book.curve_at(UnixNanos(20)).unwrap().rate(1.0), 0.03);
    }
}
