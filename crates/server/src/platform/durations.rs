//! Checked conversions from numbers someone supplied (an administrator's `--expires`, a
//! request's `lifetime_minutes`, a configuration value) to durations and instants.
//! `time::Duration::days(n)` and `OffsetDateTime + Duration` panic on overflow; these return
//! `None` instead, and the caller answers with a clear error.

use time::{Duration, OffsetDateTime};

/// `n` units of `unit_seconds` seconds, `None` on overflow.
pub fn checked(n: i64, unit_seconds: i64) -> Option<Duration> {
    n.checked_mul(unit_seconds).map(Duration::seconds)
}

pub fn minutes(n: i64) -> Option<Duration> {
    checked(n, 60)
}

pub fn hours(n: i64) -> Option<Duration> {
    checked(n, 3600)
}

pub fn days(n: i64) -> Option<Duration> {
    checked(n, 86_400)
}

/// `at + d`, `None` past the representable range.
pub fn after(at: OffsetDateTime, d: Duration) -> Option<OffsetDateTime> {
    at.checked_add(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_is_none_not_a_panic() {
        assert_eq!(days(90), Some(Duration::days(90)));
        assert_eq!(days(9_999_999_999_999_999), None);
        assert_eq!(minutes(i64::MAX), None);
        assert_eq!(hours(i64::MIN), None);
        let now = OffsetDateTime::UNIX_EPOCH;
        assert_eq!(after(now, Duration::days(365 * 20_000)), None);
    }
}
