//! Sessions and API tokens: the data and the pure lifetime rules.

use crate::authn::MethodUse;
use crate::identity::Role;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// Idle and absolute lifetime of browser sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub idle: Duration,
    pub absolute: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            idle: Duration::hours(8),
            absolute: Duration::hours(24),
        }
    }
}

/// How often `last_seen_at` is written back: at most once a minute per session, so that a
/// busy session does not turn every request into a database write.
pub const TOUCH_INTERVAL: Duration = Duration::seconds(60);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Public handle (UUIDv7); the secret cookie value is never stored, only its hash.
    pub id: Uuid,
    pub user_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub idle_expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub absolute_expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub methods: Vec<MethodUse>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionInvalid {
    Revoked,
    IdleExpired,
    Expired,
}

impl Session {
    pub fn new(
        id: Uuid,
        user_id: Uuid,
        now: OffsetDateTime,
        policy: &SessionPolicy,
        methods: Vec<MethodUse>,
    ) -> Self {
        let absolute = now + policy.absolute;
        Session {
            id,
            user_id,
            created_at: now,
            last_seen_at: now,
            idle_expires_at: (now + policy.idle).min(absolute),
            absolute_expires_at: absolute,
            revoked_at: None,
            ip: None,
            user_agent: None,
            methods,
        }
    }

    pub fn check(&self, now: OffsetDateTime) -> Result<(), SessionInvalid> {
        if self.revoked_at.is_some() {
            Err(SessionInvalid::Revoked)
        } else if now >= self.absolute_expires_at {
            Err(SessionInvalid::Expired)
        } else if now >= self.idle_expires_at {
            Err(SessionInvalid::IdleExpired)
        } else {
            Ok(())
        }
    }

    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.check(now).is_ok()
    }

    /// The new idle deadline if the session should be touched now, `None` if the last touch
    /// is recent enough.
    pub fn touch(&self, now: OffsetDateTime, policy: &SessionPolicy) -> Option<OffsetDateTime> {
        if now - self.last_seen_at < TOUCH_INTERVAL {
            return None;
        }
        Some((now + policy.idle).min(self.absolute_expires_at))
    }
}

/// An API token for the admin API: scoped to one role, expiring, stored hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl ApiToken {
    pub fn is_usable(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-25 10:00 UTC);

    #[test]
    fn lifetimes_are_enforced() {
        let p = SessionPolicy {
            idle: Duration::hours(1),
            absolute: Duration::hours(3),
        };
        let mut s = Session::new(Uuid::from_u128(1), Uuid::from_u128(2), T0, &p, vec![]);
        assert!(s.is_active(T0 + Duration::minutes(59)));
        assert_eq!(
            s.check(T0 + Duration::hours(1)),
            Err(SessionInvalid::IdleExpired)
        );
        // touching extends the idle deadline but never past the absolute one
        assert_eq!(s.touch(T0 + Duration::seconds(30), &p), None);
        let t = T0 + Duration::minutes(150);
        s.idle_expires_at = s.touch(t, &p).unwrap_or(s.idle_expires_at);
        s.last_seen_at = t;
        assert_eq!(s.idle_expires_at, T0 + Duration::hours(3));
        assert_eq!(
            s.check(T0 + Duration::hours(3)),
            Err(SessionInvalid::Expired)
        );
        s.revoked_at = Some(T0);
        assert_eq!(s.check(T0), Err(SessionInvalid::Revoked));
    }

    #[test]
    fn tokens_expire_and_revoke() {
        let mut t = ApiToken {
            id: Uuid::from_u128(1),
            name: "ci".into(),
            role: Role::SecurityReader,
            created_at: T0,
            expires_at: T0 + Duration::days(1),
            created_by: "cli:root".into(),
            last_used_at: None,
            revoked_at: None,
        };
        assert!(t.is_usable(T0));
        assert!(!t.is_usable(T0 + Duration::days(1)));
        t.revoked_at = Some(T0);
        assert!(!t.is_usable(T0));
    }
}
