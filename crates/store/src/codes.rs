//! One-time codes sent by email, and the "register again" flag (the trait methods delegate
//! here).

use crate::rows::ms;
use crate::sql::{SqlStore, append_in, db};
use crate::{Result, StoreError};
use time::OffsetDateTime;
use trustplane_core::audit::AuditDraft;
use trustplane_core::mfa::email::CodePurpose;
use uuid::Uuid;

/// A code to store (its hash only).
#[derive(Debug, Clone)]
pub struct NewCode {
    pub id: Uuid,
    pub user_id: Uuid,
    pub purpose: CodePurpose,
    /// The ceremony it belongs to (digest of a flow secret, or a session id).
    pub bound_to: String,
    /// Where it was sent.
    pub destination: String,
    pub code_hash: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// The code that is live for a ceremony: its id (the edge hashes the typed code with it),
/// hash and destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveCode {
    pub id: Uuid,
    pub user_id: Uuid,
    pub destination: String,
    pub code_hash: String,
    pub attempts: u32,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    user_id: String,
    destination: String,
    code_hash: String,
    attempts: i64,
}

#[async_trait::async_trait]
impl crate::CodeStore for SqlStore {
    /// Stores a new code for a ceremony; earlier unused codes of the same ceremony and
    /// purpose stop working (only the latest code is live).
    async fn create_code(&self, c: &NewCode) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE one_time_codes SET used_at = $1 \
             WHERE bound_to = $2 AND purpose = $3 AND used_at IS NULL",
        )
        .bind(ms(c.created_at))
        .bind(&c.bound_to)
        .bind(c.purpose.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query(
            "INSERT INTO one_time_codes (id, user_id, purpose, bound_to, destination, code_hash, \
             attempts, created_at, expires_at, used_at) VALUES ($1,$2,$3,$4,$5,$6,0,$7,$8,NULL)",
        )
        .bind(c.id.to_string())
        .bind(c.user_id.to_string())
        .bind(c.purpose.as_str())
        .bind(&c.bound_to)
        .bind(&c.destination)
        .bind(&c.code_hash)
        .bind(ms(c.created_at))
        .bind(ms(c.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(x) if x.is_foreign_key_violation() => {
                StoreError::NotFound("user")
            }
            _ => db(e),
        })?;
        // Used and expired codes older than a day are of no further use.
        sqlx::query("DELETE FROM one_time_codes WHERE expires_at < $1")
            .bind(ms(c.created_at) - 86_400_000)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await
    }

    /// Codes sent to this user since `since` (for the sending rate limit).
    async fn codes_sent_since(&self, user_id: Uuid, since: OffsetDateTime) -> Result<u32> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM one_time_codes WHERE user_id = $1 AND created_at >= $2",
        )
        .bind(user_id.to_string())
        .bind(ms(since))
        .fetch_one(self.pool())
        .await
        .map_err(db)?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// The live (unused, unexpired) code of a ceremony, if any.
    async fn live_code(
        &self,
        bound_to: &str,
        purpose: CodePurpose,
        now: OffsetDateTime,
    ) -> Result<Option<LiveCode>> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT id, user_id, destination, code_hash, attempts FROM one_time_codes \
             WHERE bound_to = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3 \
             ORDER BY created_at DESC LIMIT 1",
        )
        .bind(bound_to)
        .bind(purpose.as_str())
        .bind(ms(now))
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        row.map(|r| {
            Ok(LiveCode {
                id: crate::rows::uuid(&r.id)?,
                user_id: crate::rows::uuid(&r.user_id)?,
                destination: r.destination,
                code_hash: r.code_hash,
                attempts: u32::try_from(r.attempts.max(0)).unwrap_or(u32::MAX),
            })
        })
        .transpose()
    }

    /// Marks the code used: true exactly once (atomic against a concurrent use).
    async fn use_code(&self, id: Uuid, now: OffsetDateTime) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE one_time_codes SET used_at = $1 \
             WHERE id = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(ms(now))
        .bind(id.to_string())
        .execute(self.pool())
        .await
        .map_err(db)?
        .rows_affected();
        Ok(n == 1)
    }

    /// Counts a wrong guess; at `max_attempts` the code is void. Returns the attempts so far.
    async fn fail_code(&self, id: Uuid, max_attempts: u32, now: OffsetDateTime) -> Result<u32> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE one_time_codes SET attempts = attempts + 1 WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let n: i64 = sqlx::query_scalar("SELECT attempts FROM one_time_codes WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .unwrap_or(i64::from(max_attempts));
        if n >= i64::from(max_attempts) {
            sqlx::query("UPDATE one_time_codes SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
                .bind(ms(now))
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await?;
        Ok(u32::try_from(n.max(0)).unwrap_or(u32::MAX))
    }

    /// "Register your second factors again": removes every second factor and recovery code of
    /// the user, revokes their sessions and makes the next sign-in register a method; one
    /// transaction.
    async fn require_reregistration(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
        audit: AuditDraft,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE users SET mfa_reregister_required = 1, updated_at = $1 WHERE id = $2",
        )
        .bind(ms(now))
        .bind(user_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("user"));
        }
        let mut removed = 0;
        for table in ["mfa_methods", "webauthn_credentials"] {
            removed += sqlx::query(crate::sql::safe(format!(
                "DELETE FROM {table} WHERE user_id = $1"
            )))
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        }
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(ms(now))
        .bind(user_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        append_in(self.audit_keying(), &mut tx, &audit).await?;
        tx.commit().await?;
        Ok(removed)
    }

    async fn reregistration_required(&self, user_id: Uuid) -> Result<bool> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT mfa_reregister_required FROM users WHERE id = $1")
                .bind(user_id.to_string())
                .fetch_optional(self.pool())
                .await
                .map_err(db)?;
        Ok(v.unwrap_or(0) != 0)
    }
}
