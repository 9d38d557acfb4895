//! Log timestamps: RFC 3339 in UTC with microseconds, written digit by digit.

use std::{
    fmt,
    time::{Duration, UNIX_EPOCH},
};

use tracing_subscriber::fmt::{
    format::Writer,
    time::{FormatTime, SystemTime},
};

/// Timestamps as RFC 3339 in UTC with microseconds, `2026-11-22T12:00:00.123456Z`: the text
/// tracing-subscriber's `SystemTime` writes, put together digit by digit instead of through
/// `fmt`: ~1,860 fewer instructions on every log line, 30 % of a typical line's cost
/// (callgrind; BENCHMARKS.md, "The log line").
#[derive(Debug, Clone, Copy, Default)]
pub struct UtcMicros;

impl FormatTime for UtcMicros {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        let text = std::time::SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .and_then(rfc3339_micros);
        match text {
            Some(text) => w.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?),
            // A clock before 1970 or after 9999: the general formatter handles both.
            None => SystemTime.format_time(w),
        }
    }
}

/// `since_epoch` as `YYYY-MM-DDTHH:MM:SS.ffffffZ`, or `None` after the year 9999.
fn rfc3339_micros(since_epoch: Duration) -> Option<[u8; 27]> {
    const SECS_PER_DAY: u64 = 86_400;
    let secs = since_epoch.as_secs();
    let (year, month, day) = civil_date(secs / SECS_PER_DAY);
    if year > 9999 {
        return None;
    }
    let time = secs % SECS_PER_DAY;
    let mut out = *b"0000-00-00T00:00:00.000000Z";
    put_digits(&mut out[0..4], year);
    put_digits(&mut out[5..7], month);
    put_digits(&mut out[8..10], day);
    put_digits(&mut out[11..13], time / 3600);
    put_digits(&mut out[14..16], time / 60 % 60);
    put_digits(&mut out[17..19], time % 60);
    put_digits(&mut out[20..26], u64::from(since_epoch.subsec_micros()));
    Some(out)
}

/// Writes `value`'s last `out.len()` decimal digits into `out`, zero-padded.
fn put_digits(out: &mut [u8], mut value: u64) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// The proleptic Gregorian (year, month, day) of the day `days` after 1970-01-01.
///
/// Counts in 400-year eras (146,097 days each) of years that start on 1 March, so that the
/// leap day is the last day of its year; the month then follows from the day of the year with
/// one linear formula (the lengths 31, 30, 31, 30, 31 repeat from March on).
fn civil_date(days: u64) -> (u64, u64, u64) {
    // 1970-01-01 is day 719,468 counted from 0000-03-01.
    let days = days + 719_468;
    let era = days / 146_097;
    let day_of_era = days % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let (month, year_offset) = if month_from_march < 10 {
        (month_from_march + 3, 0)
    } else {
        (month_from_march - 9, 1)
    };
    (era * 400 + year_of_era + year_offset, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_dates_follow_the_gregorian_calendar_for_every_day_to_9999() {
        let leap =
            |y: u64| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
        let (mut year, mut month, mut day) = (1970, 1, 1);
        let mut days = 0;
        loop {
            assert_eq!(civil_date(days), (year, month, day), "day {days}");
            let length = match month {
                2 if leap(year) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            day += 1;
            if day > length {
                day = 1;
                month += 1;
                if month > 12 {
                    month = 1;
                    year += 1;
                }
            }
            if year == 10_000 {
                break;
            }
            days += 1;
        }
        assert_eq!(days, 2_932_896, "9999-12-31 is day 2,932,896");
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        let text = |secs: u64, micros: u32| {
            rfc3339_micros(Duration::new(secs, micros * 1_000))
                .map(|t| String::from_utf8(t.to_vec()).unwrap())
        };
        assert_eq!(text(0, 0).unwrap(), "1970-01-01T00:00:00.000000Z");
        assert_eq!(text(951_782_400, 1).unwrap(), "2000-02-29T00:00:00.000001Z");
        assert_eq!(
            text(1_795_000_805, 100_000).unwrap(),
            "2026-11-18T11:20:05.100000Z"
        );
        assert_eq!(
            text(4_107_542_399, 999_999).unwrap(),
            "2100-02-28T23:59:59.999999Z"
        );
        assert_eq!(
            text(253_402_300_799, 999_999).unwrap(),
            "9999-12-31T23:59:59.999999Z"
        );
        assert_eq!(
            text(253_402_300_800, 0),
            None,
            "year 10000 goes to the general path"
        );
        // Nanoseconds are truncated to microseconds, as tracing-subscriber does.
        let truncated = rfc3339_micros(Duration::new(0, 999)).unwrap();
        assert_eq!(&truncated[20..26], b"000000");
    }

    #[test]
    fn timestamps_agree_with_tracing_subscribers_system_time() {
        let render = |timer: &dyn FormatTime| {
            let mut out = String::new();
            timer.format_time(&mut Writer::new(&mut out)).unwrap();
            out
        };
        // Ours before and after theirs: theirs matches one of them to the second (and in
        // shape), whichever second boundary falls in between.
        let before = render(&UtcMicros);
        let theirs = render(&SystemTime);
        let after = render(&UtcMicros);
        assert_eq!(before.len(), theirs.len());
        assert!(
            [&before[..19], &after[..19]].contains(&&theirs[..19]),
            "{before} / {theirs} / {after}"
        );
        assert!(theirs.ends_with('Z') && before.ends_with('Z') && &before[19..20] == ".");
    }
}
