//! Sign-in limits kept in the database, so that every instance sees the same numbers:
//! failure counters per account (and per known browser), the attempts of a flow, the
//! browsers that signed in before, and how many unauthenticated pending rows exist.
//!
//! Every counter is changed by ONE statement (a conditional upsert or a conditional
//! `UPDATE … RETURNING`): concurrent requests, from one instance or several, cannot both
//! read the same value and both pass.

use crate::Result;
use crate::rows::ms;
use crate::sql::{SqlStore, db};
use async_trait::async_trait;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// Kinds of rows that unauthenticated requests create (capped by the server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingKind {
    /// Username-less passkey challenges (`/login/passkey/options`).
    PasskeyChallenge,
    /// Authorization requests waiting for a sign-in (`/oauth2/authorize`).
    AuthorizationRequest,
    /// Device authorizations waiting for a user (`/oauth2/device_authorization`).
    DeviceAuthorization,
}

impl PendingKind {
    fn count_sql(self) -> &'static str {
        match self {
            PendingKind::PasskeyChallenge => {
                "SELECT COUNT(*) FROM webauthn_ceremonies WHERE purpose = 'passwordless' AND expires_at >= $1"
            }
            PendingKind::AuthorizationRequest => {
                "SELECT COUNT(*) FROM oidc_requests WHERE expires_at >= $1"
            }
            PendingKind::DeviceAuthorization => {
                "SELECT COUNT(*) FROM oidc_device_codes WHERE status = 'pending' AND expires_at >= $1"
            }
        }
    }
}

#[async_trait]
pub trait LimitStore: Send + Sync {
    /// Adds one failure to `key` and returns the count in the current window (a window that
    /// began `window` or longer before `now` starts again at 1). Expired counters are swept.
    async fn add_failure(&self, key: &str, now: OffsetDateTime, window: Duration) -> Result<u32>;
    /// Takes one failure back (a reserved attempt that succeeded); never below zero.
    async fn release_failure(&self, key: &str) -> Result<()>;
    /// The failures of `key` in the current window.
    async fn failures(&self, key: &str, now: OffsetDateTime, window: Duration) -> Result<u32>;
    /// Forgets `key`'s failures (after a success).
    async fn clear_failures(&self, key: &str) -> Result<()>;
    /// Claims one attempt of the flow `id_hash`: true when it had used fewer than `max` and is
    /// unexpired (the attempt is counted), false otherwise. Atomic.
    async fn claim_flow_attempt(
        &self,
        id_hash: &str,
        max: u32,
        now: OffsetDateTime,
    ) -> Result<bool>;
    /// Records that the browser `device_hash` signed in successfully as `user_id`.
    async fn remember_device(
        &self,
        device_hash: &str,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<()>;
    /// Whether the browser `device_hash` signed in successfully before as the account whose
    /// folded login name is `username_folded`.
    async fn is_known_device(&self, device_hash: &str, username_folded: &str) -> Result<bool>;
    /// How many unexpired rows of this kind exist.
    async fn pending_rows(&self, kind: PendingKind, now: OffsetDateTime) -> Result<u64>;
}

fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

#[async_trait]
impl LimitStore for SqlStore {
    async fn add_failure(&self, key: &str, now: OffsetDateTime, window: Duration) -> Result<u32> {
        let stale = ms(now - window);
        sqlx::query("DELETE FROM sign_in_failures WHERE window_start <= $1")
            .bind(stale)
            .execute(self.pool())
            .await
            .map_err(db)?;
        let (n,): (i64,) = sqlx::query_as(
            "INSERT INTO sign_in_failures (name, window_start, count) VALUES ($1, $2, 1) \
             ON CONFLICT (name) DO UPDATE SET \
             count = CASE WHEN sign_in_failures.window_start <= $3 THEN 1 \
                          ELSE sign_in_failures.count + 1 END, \
             window_start = CASE WHEN sign_in_failures.window_start <= $3 THEN $2 \
                          ELSE sign_in_failures.window_start END \
             RETURNING count",
        )
        .bind(key)
        .bind(ms(now))
        .bind(stale)
        .fetch_one(self.pool())
        .await
        .map_err(db)?;
        Ok(count(n))
    }

    async fn release_failure(&self, key: &str) -> Result<()> {
        sqlx::query("UPDATE sign_in_failures SET count = count - 1 WHERE name = $1 AND count > 0")
            .bind(key)
            .execute(self.pool())
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn failures(&self, key: &str, now: OffsetDateTime, window: Duration) -> Result<u32> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT count FROM sign_in_failures WHERE name = $1 AND window_start > $2",
        )
        .bind(key)
        .bind(ms(now - window))
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        Ok(row.map_or(0, |r| count(r.0)))
    }

    async fn clear_failures(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM sign_in_failures WHERE name = $1")
            .bind(key)
            .execute(self.pool())
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn claim_flow_attempt(
        &self,
        id_hash: &str,
        max: u32,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let row: Option<(i64,)> = sqlx::query_as(
            "UPDATE login_flows SET attempts = attempts + 1 \
             WHERE id_hash = $1 AND attempts < $2 AND expires_at >= $3 AND data <> '' \
             RETURNING attempts",
        )
        .bind(id_hash)
        .bind(i64::from(max))
        .bind(ms(now))
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        Ok(row.is_some())
    }

    async fn remember_device(
        &self,
        device_hash: &str,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO known_devices (device_hash, user_id, first_seen, last_seen) \
             VALUES ($1, $2, $3, $3) \
             ON CONFLICT (device_hash, user_id) DO UPDATE SET last_seen = excluded.last_seen",
        )
        .bind(device_hash)
        .bind(user_id.to_string())
        .bind(ms(now))
        .execute(self.pool())
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(x) if x.is_foreign_key_violation() => {
                crate::StoreError::NotFound("user")
            }
            _ => db(e),
        })?;
        Ok(())
    }

    async fn is_known_device(&self, device_hash: &str, username_folded: &str) -> Result<bool> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT d.first_seen FROM known_devices d JOIN users u ON u.id = d.user_id \
             WHERE d.device_hash = $1 AND u.username_folded = $2",
        )
        .bind(device_hash)
        .bind(username_folded)
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        Ok(row.is_some())
    }

    async fn pending_rows(&self, kind: PendingKind, now: OffsetDateTime) -> Result<u64> {
        let (n,): (i64,) = sqlx::query_as(kind.count_sql())
            .bind(ms(now))
            .fetch_one(self.pool())
            .await
            .map_err(db)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
