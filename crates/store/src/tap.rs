//! Temporary Access Passes (the trait methods delegate here).

use crate::rows::{from_ms, ms, uuid};
use crate::sql::{SqlStore, append_in, db};
use crate::{Result, StoreError};
use time::OffsetDateTime;
use trustplane_core::audit::AuditDraft;
use trustplane_core::mfa::tap::TemporaryAccessPass;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    user_id: String,
    one_time: i64,
    created_at: i64,
    expires_at: i64,
    created_by: String,
    used_at: Option<i64>,
}

impl TryFrom<Row> for TemporaryAccessPass {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self> {
        Ok(TemporaryAccessPass {
            id: uuid(&r.id)?,
            user_id: uuid(&r.user_id)?,
            one_time: r.one_time != 0,
            created_at: from_ms(r.created_at)?,
            expires_at: from_ms(r.expires_at)?,
            created_by: r.created_by,
            used_at: r.used_at.map(from_ms).transpose()?,
        })
    }
}

#[async_trait::async_trait]
impl crate::TapStore for SqlStore {
    /// Replaces the user's pass (if any) with this one.
    async fn issue_tap(
        &self,
        tap: &TemporaryAccessPass,
        pass_hash: &str,
        audit: AuditDraft,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM temporary_access_passes WHERE user_id = $1")
            .bind(tap.user_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "INSERT INTO temporary_access_passes \
             (id, user_id, pass_hash, one_time, created_at, expires_at, created_by, used_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
        )
        .bind(tap.id.to_string())
        .bind(tap.user_id.to_string())
        .bind(pass_hash)
        .bind(i64::from(tap.one_time))
        .bind(ms(tap.created_at))
        .bind(ms(tap.expires_at))
        .bind(&tap.created_by)
        .bind(tap.used_at.map(ms))
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(x) if x.is_foreign_key_violation() => {
                StoreError::NotFound("user")
            }
            _ => db(e),
        })?;
        append_in(self.audit_keying(), &mut tx, &audit).await?;
        tx.commit().await
    }

    async fn tap_of(&self, user_id: Uuid) -> Result<Option<TemporaryAccessPass>> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT id, user_id, one_time, created_at, expires_at, created_by, used_at \
             FROM temporary_access_passes WHERE user_id = $1",
        )
        .bind(user_id.to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        row.map(TemporaryAccessPass::try_from).transpose()
    }

    /// Uses the pass: true when it matched, was unexpired and (if one-time) unused; atomic.
    async fn use_tap(&self, user_id: Uuid, pass_hash: &str, now: OffsetDateTime) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE temporary_access_passes SET used_at = $1 \
             WHERE user_id = $2 AND pass_hash = $3 AND expires_at > $1 AND created_at <= $1 \
             AND (one_time = 0 OR used_at IS NULL)",
        )
        .bind(ms(now))
        .bind(user_id.to_string())
        .bind(pass_hash)
        .execute(self.pool())
        .await
        .map_err(db)?
        .rows_affected();
        Ok(n == 1)
    }

    async fn revoke_tap(&self, user_id: Uuid, audit: AuditDraft) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM temporary_access_passes WHERE user_id = $1")
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        append_in(self.audit_keying(), &mut tx, &audit).await?;
        tx.commit().await?;
        Ok(true)
    }
}
