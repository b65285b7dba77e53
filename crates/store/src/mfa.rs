//! Registered second factors (the trait methods delegate here).

use crate::rows::{from_ms, ms, uuid};
use crate::sql::{SqlStore, append_in, db, safe};
use crate::{Result, StoreError, WebauthnStore};
use time::OffsetDateTime;
use trustplane_core::audit::AuditDraft;
use trustplane_core::mfa::{MfaKind, MfaMethod};
use uuid::Uuid;

const COLS: &str = "id, user_id, kind, label, last_step, created_at, last_used_at";

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    user_id: String,
    kind: String,
    label: String,
    last_step: Option<i64>,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl TryFrom<Row> for MfaMethod {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self> {
        Ok(MfaMethod {
            id: uuid(&r.id)?,
            user_id: uuid(&r.user_id)?,
            kind: MfaKind::parse(&r.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("mfa kind {:?}", r.kind)))?,
            label: r.label,
            last_step: r.last_step.map(|s| s.max(0) as u64),
            created_at: from_ms(r.created_at)?,
            last_used_at: r.last_used_at.map(from_ms).transpose()?,
        })
    }
}

impl SqlStore {
    /// Deletes a TOTP or email method with its audit entry; false when there is none.
    async fn remove_app_method(&self, id: Uuid, audit: AuditDraft) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM mfa_methods WHERE id = $1")
            .bind(id.to_string())
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

#[async_trait::async_trait]
impl crate::MfaStore for SqlStore {
    async fn add_mfa_method(
        &self,
        m: &MfaMethod,
        secret_sealed: &str,
        audit: AuditDraft,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(safe(format!(
            "INSERT INTO mfa_methods ({COLS}, secret_sealed) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)"
        )))
        .bind(m.id.to_string())
        .bind(m.user_id.to_string())
        .bind(m.kind.as_str())
        .bind(&m.label)
        .bind(m.last_step.map(|s| s as i64))
        .bind(ms(m.created_at))
        .bind(m.last_used_at.map(ms))
        .bind(secret_sealed)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(x) if x.is_foreign_key_violation() => {
                StoreError::NotFound("user")
            }
            _ => db(e),
        })?;
        // A new second factor satisfies an administrator's "register again".
        sqlx::query("UPDATE users SET mfa_reregister_required = 0 WHERE id = $1")
            .bind(m.user_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        append_in(self.audit_keying(), &mut tx, &audit).await?;
        tx.commit().await
    }

    async fn list_mfa_methods(&self, user_id: Uuid) -> Result<Vec<MfaMethod>> {
        let rows: Vec<Row> = sqlx::query_as(safe(format!(
            "SELECT {COLS} FROM mfa_methods WHERE user_id = $1 ORDER BY created_at, id"
        )))
        .bind(user_id.to_string())
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        let mut all: Vec<MfaMethod> = rows
            .into_iter()
            .map(MfaMethod::try_from)
            .collect::<Result<_>>()?;
        // Security keys and passkeys are second factors too (their own table).
        all.extend(
            self.list_webauthn_credentials(user_id)
                .await?
                .into_iter()
                .map(crate::webauthn::as_method),
        );
        all.sort_by_key(|m| (m.created_at, m.id));
        Ok(all)
    }

    async fn mfa_secret(&self, id: Uuid) -> Result<Option<(MfaMethod, String)>> {
        #[derive(sqlx::FromRow)]
        struct WithSecret {
            #[sqlx(flatten)]
            row: Row,
            secret_sealed: String,
        }
        let row: Option<WithSecret> = sqlx::query_as(safe(format!(
            "SELECT {COLS}, secret_sealed FROM mfa_methods WHERE id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        row.map(|r| Ok((MfaMethod::try_from(r.row)?, r.secret_sealed)))
            .transpose()
    }

    async fn use_totp_step(&self, id: Uuid, step: u64, at: OffsetDateTime) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE mfa_methods SET last_step = $1, last_used_at = $2 \
             WHERE id = $3 AND (last_step IS NULL OR last_step < $1)",
        )
        .bind(step as i64)
        .bind(ms(at))
        .bind(id.to_string())
        .execute(self.pool())
        .await
        .map_err(db)?
        .rows_affected();
        Ok(n == 1)
    }

    /// Removes a method of either table (TOTP and email here, security keys and passkeys in
    /// the WebAuthn table); false when there is none with this id.
    async fn remove_mfa_method(&self, id: Uuid, audit: AuditDraft) -> Result<bool> {
        if self.remove_app_method(id, audit.clone()).await? {
            return Ok(true);
        }
        self.remove_webauthn_credential(id, audit).await
    }

    /// Renames one of the user's methods; false when it is not theirs.
    async fn rename_mfa_method(
        &self,
        id: Uuid,
        user_id: Uuid,
        label: &str,
        audit: AuditDraft,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        // Security keys and passkeys live in their own table.
        let mut n = 0;
        for table in ["mfa_methods", "webauthn_credentials"] {
            n += sqlx::query(crate::sql::safe(format!(
                "UPDATE {table} SET label = $1 WHERE id = $2 AND user_id = $3"
            )))
            .bind(label)
            .bind(id.to_string())
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        }
        if n == 0 {
            return Ok(false);
        }
        append_in(self.audit_keying(), &mut tx, &audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn replace_recovery_codes(
        &self,
        user_id: Uuid,
        hashes: &[String],
        at: OffsetDateTime,
        audit: AuditDraft,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        for h in hashes {
            sqlx::query(
                "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1,$2,$3)",
            )
            .bind(user_id.to_string())
            .bind(h)
            .bind(ms(at))
            .execute(&mut *tx)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(x) if x.is_foreign_key_violation() => {
                    StoreError::NotFound("user")
                }
                _ => db(e),
            })?;
        }
        append_in(self.audit_keying(), &mut tx, &audit).await?;
        tx.commit().await
    }

    async fn unused_recovery_codes(&self, user_id: Uuid) -> Result<i64> {
        let row: (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id.to_string())
        .fetch_one(self.pool())
        .await
        .map_err(db)?;
        Ok(row.0)
    }

    async fn use_recovery_code(
        &self,
        user_id: Uuid,
        code_hash: &str,
        at: OffsetDateTime,
    ) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE recovery_codes SET used_at = $1 \
             WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
        )
        .bind(ms(at))
        .bind(user_id.to_string())
        .bind(code_hash)
        .execute(self.pool())
        .await
        .map_err(db)?
        .rows_affected();
        Ok(n == 1)
    }

    async fn registration_prompted(
        &self,
        user_id: Uuid,
        at: OffsetDateTime,
    ) -> Result<OffsetDateTime> {
        sqlx::query(
            "UPDATE users SET mfa_registration_prompted_at = $1 \
             WHERE id = $2 AND mfa_registration_prompted_at IS NULL",
        )
        .bind(ms(at))
        .bind(user_id.to_string())
        .execute(self.pool())
        .await
        .map_err(db)?;
        let row: Option<(Option<i64>,)> =
            sqlx::query_as("SELECT mfa_registration_prompted_at FROM users WHERE id = $1")
                .bind(user_id.to_string())
                .fetch_optional(self.pool())
                .await
                .map_err(db)?;
        match row {
            Some((Some(v),)) => from_ms(v),
            _ => Err(StoreError::NotFound("user")),
        }
    }
}

#[async_trait::async_trait]
impl crate::SettingsStore for SqlStore {
    async fn get_setting(&self, name: &str) -> Result<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await
            .map_err(db)?;
        Ok(row.map(|r| r.0))
    }

    async fn put_setting(&self, name: &str, value: &str, audit: AuditDraft) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO settings (name, value, updated_at) VALUES ($1,$2,$3) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(value)
        .bind(ms(OffsetDateTime::now_utc()))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        append_in(self.audit_keying(), &mut tx, &audit).await?;
        tx.commit().await
    }
}
