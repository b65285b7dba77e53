//! Temporary Access Pass: a time-limited passcode an administrator issues so that a new user,
//! or one who lost every method, can sign in (it satisfies MFA) and register methods.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// Shortest and longest lifetime an administrator may choose (as Entra ID).
pub const MIN_LIFETIME: Duration = Duration::minutes(10);
pub const MAX_LIFETIME: Duration = Duration::days(30);
/// Default lifetime.
pub const DEFAULT_LIFETIME: Duration = Duration::hours(1);
/// Random bytes behind a pass (the pass shows 80 of their bits).
pub const PASS_BYTES: usize = 10;

/// An issued pass (never the pass itself; only its SHA-256 is stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemporaryAccessPass {
    pub id: Uuid,
    pub user_id: Uuid,
    /// One sign-in only, or any number until it expires.
    pub one_time: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Who issued it (actor id).
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub used_at: Option<OffsetDateTime>,
}

impl TemporaryAccessPass {
    /// Whether the pass can still sign the user in at `now`.
    pub fn usable(&self, now: OffsetDateTime) -> bool {
        now < self.expires_at
            && now >= self.created_at
            && !(self.one_time && self.used_at.is_some())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TapError {
    #[error("a Temporary Access Pass lasts from 10 minutes to 30 days")]
    Lifetime,
}

/// Checks an administrator's chosen lifetime.
pub fn check_lifetime(lifetime: Duration) -> Result<Duration, TapError> {
    if (MIN_LIFETIME..=MAX_LIFETIME).contains(&lifetime) {
        Ok(lifetime)
    } else {
        Err(TapError::Lifetime)
    }
}

/// A pass as shown to the administrator: 16 base32 characters in groups of four.
pub fn format_pass(random: &[u8; PASS_BYTES]) -> String {
    let s = super::base32(random).to_ascii_lowercase();
    format!("{}-{}-{}-{}", &s[0..4], &s[4..8], &s[8..12], &s[12..16])
}

/// The canonical form of a typed pass (case, spaces and dashes ignored), or `None`.
pub fn normalize_pass(input: &str) -> Option<String> {
    let s: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (s.len() == 16
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)))
    .then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-25 10:00 UTC);

    fn tap(one_time: bool) -> TemporaryAccessPass {
        TemporaryAccessPass {
            id: Uuid::from_u128(1),
            user_id: Uuid::from_u128(2),
            one_time,
            created_at: T0,
            expires_at: T0 + Duration::hours(1),
            created_by: "user:x".into(),
            used_at: None,
        }
    }

    #[test]
    fn usable_until_expiry_and_once_when_one_time() {
        let mut t = tap(true);
        assert!(t.usable(T0));
        assert!(!t.usable(T0 - Duration::seconds(1)));
        assert!(!t.usable(T0 + Duration::hours(1)));
        t.used_at = Some(T0);
        assert!(!t.usable(T0 + Duration::minutes(1)));
        let mut multi = tap(false);
        multi.used_at = Some(T0);
        assert!(multi.usable(T0 + Duration::minutes(1)));
    }

    #[test]
    fn lifetime_bounds() {
        assert!(check_lifetime(Duration::minutes(9)).is_err());
        assert!(check_lifetime(Duration::minutes(10)).is_ok());
        assert!(check_lifetime(Duration::days(30)).is_ok());
        assert!(check_lifetime(Duration::days(31)).is_err());
    }

    #[test]
    fn pass_format() {
        let p = format_pass(&[7; PASS_BYTES]);
        assert_eq!(p.len(), 19);
        let n = normalize_pass(&p).unwrap();
        assert_eq!(normalize_pass(&p.to_uppercase().replace('-', " ")), Some(n));
        assert_eq!(normalize_pass("abcd-efgh-ijkl"), None);
        assert_eq!(normalize_pass("correct horse battery staple"), None);
    }
}
