//! The wall clock and RFC 3339 times. The state machines take `now` as an
//! argument; this is where the callers at the edges read it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, Month, OffsetDateTime};

/// Seconds since the epoch; 0 for a clock set before 1970.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The last second RFC 3339 can write (9999-12-31T23:59:59Z).
const LATEST: u64 = 253_402_300_799;

/// RFC 3339 with milliseconds, in UTC (`2026-11-28T00:50:00.000Z`). Times
/// outside what the format can hold (before 1970, after 9999) are clamped
/// rather than failing.
pub fn rfc3339_millis(time: SystemTime) -> String {
    let latest = UNIX_EPOCH + Duration::from_secs(LATEST);
    let since_epoch = time
        .clamp(UNIX_EPOCH, latest)
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    (OffsetDateTime::UNIX_EPOCH + since_epoch)
        .format(format)
        .expect("a time between 1970 and 9999 always formats")
}

/// Seconds since the epoch as RFC 3339 with milliseconds, clamped like
/// [`rfc3339_millis`].
pub fn rfc3339(seconds: f64) -> String {
    let seconds = if seconds.is_nan() {
        0.0
    } else {
        seconds.clamp(0.0, LATEST as f64)
    };
    rfc3339_millis(UNIX_EPOCH + Duration::from_secs_f64(seconds))
}

/// Seconds since the epoch of an RFC 3339 time (`2026-11-28T00:50:00.5Z`,
/// `...+02:00`); `None` for anything else.
pub fn parse_rfc3339(text: &str) -> Option<f64> {
    let time = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    Some(time.unix_timestamp() as f64 + f64::from(time.nanosecond()) / 1e9)
}

/// Days since 1970-01-01 of a date of the proleptic Gregorian calendar;
/// `None` for a date that does not exist (February 30th, month 13).
pub fn days_since_epoch(year: i32, month: u8, day: u8) -> Option<i64> {
    let date = Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()?;
    Some(i64::from(
        date.to_julian_day() - OffsetDateTime::UNIX_EPOCH.date().to_julian_day(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_milliseconds_in_utc_and_clamps() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_392_388_200.25), "2014-02-14T14:30:00.250Z");
        assert_eq!(rfc3339(-5.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(f64::NAN), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1e300), "9999-12-31T23:59:59.000Z");
        assert_eq!(
            rfc3339_millis(UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(
            rfc3339_millis(UNIX_EPOCH - Duration::from_secs(10)),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn parses_rfc3339_with_offsets_and_fractions() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(
            parse_rfc3339("2014-02-14T16:30:00.5+02:00"),
            Some(1_392_388_200.5)
        );
        assert_eq!(parse_rfc3339("2014-02-14 14:30:00"), None);
        assert_eq!(parse_rfc3339("not a time"), None);
        for seconds in [0.0, 1_392_388_200.25, 1_700_000_000.125] {
            assert_eq!(parse_rfc3339(&rfc3339(seconds)), Some(seconds));
        }
    }

    #[test]
    fn counts_days_of_the_gregorian_calendar() {
        assert_eq!(days_since_epoch(1970, 1, 1), Some(0));
        assert_eq!(days_since_epoch(2000, 2, 29), Some(11_016));
        assert_eq!(days_since_epoch(1969, 12, 31), Some(-1));
        assert_eq!(days_since_epoch(2001, 2, 29), None);
        assert_eq!(days_since_epoch(2001, 13, 1), None);
        assert_eq!(days_since_epoch(2001, 4, 31), None);
    }
}
