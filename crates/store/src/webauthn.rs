//! WebAuthn credentials and ceremonies in progress (the trait methods delegate here).

use crate::rows::{from_ms, ms, uuid};
use crate::sql::{SqlStore, append_in, db, safe};
use crate::{Result, StoreError};
use time::OffsetDateTime;
use trustplane_core::audit::AuditDraft;
use trustplane_core::mfa::MfaMethod;
use trustplane_core::mfa::webauthn::WebauthnCredential;
use uuid::Uuid;

const COLS: &str = "id, user_id, credential_id, label, aaguid, backup_eligible, backup_state, \
     user_verified, attestation_format, attested, sign_count, created_at, last_used_at";

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    user_id: String,
    credential_id: String,
    label: String,
    aaguid: Option<String>,
    backup_eligible: i64,
    backup_state: i64,
    user_verified: i64,
    attestation_format: String,
    attested: i64,
    sign_count: i64,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl TryFrom<Row> for WebauthnCredential {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self> {
        Ok(WebauthnCredential {
            id: uuid(&r.id)?,
            user_id: uuid(&r.user_id)?,
            credential_id: r.credential_id,
            label: r.label,
            aaguid: r.aaguid.as_deref().map(uuid).transpose()?,
            backup_eligible: r.backup_eligible != 0,
            backup_state: r.backup_state != 0,
            user_verified: r.user_verified != 0,
            attestation_format: r.attestation_format,
            attested: r.attested != 0,
            sign_count: u32::try_from(r.sign_count)
                .map_err(|_| StoreError::Corrupt(format!("sign count {}", r.sign_count)))?,
            created_at: from_ms(r.created_at)?,
            last_used_at: r.last_used_at.map(from_ms).transpose()?,
        })
    }
}

/// A WebAuthn credential as one of the user's second factors.
pub(crate) fn as_method(c: WebauthnCredential) -> MfaMethod {
    MfaMethod {
        id: c.id,
        user_id: c.user_id,
        kind: c.kind(),
        label: c.label,
        last_step: None,
        created_at: c.created_at,
        last_used_at: c.last_used_at,
    }
}

#[derive(sqlx::FromRow)]
struct WithKey {
    #[sqlx(flatten)]
    row: Row,
    passkey: String,
}

impl SqlStore {
    /// Deletes a credential with its audit entry; false when there is none with this id.
    pub(crate) async fn remove_webauthn_credential(
        &self,
        id: Uuid,
        audit: AuditDraft,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM webauthn_credentials WHERE id = $1")
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
impl crate::WebauthnStore for SqlStore {
    async fn add_webauthn_credential(
        &self,
        c: &WebauthnCredential,
        passkey: &str,
        audit: AuditDraft,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(safe(format!(
            "INSERT INTO webauthn_credentials ({COLS}, passkey) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)"
        )))
        .bind(c.id.to_string())
        .bind(c.user_id.to_string())
        .bind(&c.credential_id)
        .bind(&c.label)
        .bind(c.aaguid.map(|a| a.to_string()))
        .bind(i64::from(c.backup_eligible))
        .bind(i64::from(c.backup_state))
        .bind(i64::from(c.user_verified))
        .bind(&c.attestation_format)
        .bind(i64::from(c.attested))
        .bind(i64::from(c.sign_count))
        .bind(ms(c.created_at))
        .bind(c.last_used_at.map(ms))
        .bind(passkey)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(x) if x.is_foreign_key_violation() => {
                StoreError::NotFound("user")
            }
            sqlx::Error::Database(x) if x.is_unique_violation() => {
                StoreError::Conflict("a credential with this id")
            }
            _ => db(e),
        })?;
        // A new second factor satisfies an administrator's "register again".
        sqlx::query("UPDATE users SET mfa_reregister_required = 0 WHERE id = $1")
            .bind(c.user_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        append_in(self.audit_keying(), &mut tx, &audit).await?;
        tx.commit().await
    }

    async fn list_webauthn_credentials(&self, user_id: Uuid) -> Result<Vec<WebauthnCredential>> {
        let rows: Vec<Row> = sqlx::query_as(safe(format!(
            "SELECT {COLS} FROM webauthn_credentials WHERE user_id = $1 ORDER BY created_at, id"
        )))
        .bind(user_id.to_string())
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.into_iter().map(WebauthnCredential::try_from).collect()
    }

    async fn webauthn_keys(&self, user_id: Uuid) -> Result<Vec<(WebauthnCredential, String)>> {
        let rows: Vec<WithKey> = sqlx::query_as(safe(format!(
            "SELECT {COLS}, passkey FROM webauthn_credentials WHERE user_id = $1 \
             ORDER BY created_at, id"
        )))
        .bind(user_id.to_string())
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.into_iter()
            .map(|r| Ok((WebauthnCredential::try_from(r.row)?, r.passkey)))
            .collect()
    }

    async fn webauthn_by_credential_id(
        &self,
        credential_id: &str,
    ) -> Result<Option<(WebauthnCredential, String)>> {
        if credential_id.contains('\0') {
            return Ok(None);
        }
        let row: Option<WithKey> = sqlx::query_as(safe(format!(
            "SELECT {COLS}, passkey FROM webauthn_credentials WHERE credential_id = $1"
        )))
        .bind(credential_id)
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        row.map(|r| Ok((WebauthnCredential::try_from(r.row)?, r.passkey)))
            .transpose()
    }

    /// Compare-and-set on the sign counter, so two racing uses of one counter value (a cloned
    /// authenticator, or a replayed assertion) succeed once.
    async fn record_webauthn_use(
        &self,
        id: Uuid,
        expected_count: u32,
        new_count: u32,
        backup_state: bool,
        passkey: &str,
        at: OffsetDateTime,
    ) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE webauthn_credentials SET sign_count = $1, backup_state = $2, passkey = $3, \
             last_used_at = $4 WHERE id = $5 AND sign_count = $6",
        )
        .bind(i64::from(new_count))
        .bind(i64::from(backup_state))
        .bind(passkey)
        .bind(ms(at))
        .bind(id.to_string())
        .bind(i64::from(expected_count))
        .execute(self.pool())
        .await
        .map_err(db)?
        .rows_affected();
        Ok(n == 1)
    }

    async fn rename_webauthn_credential(
        &self,
        id: Uuid,
        user_id: Uuid,
        label: &str,
        audit: AuditDraft,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE webauthn_credentials SET label = $1 WHERE id = $2 AND user_id = $3",
        )
        .bind(label)
        .bind(id.to_string())
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

    #[allow(clippy::too_many_arguments)]
    async fn save_webauthn_ceremony(
        &self,
        id_hash: &str,
        purpose: &str,
        binding: &str,
        user_id: Option<Uuid>,
        state: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        sqlx::query("DELETE FROM webauthn_ceremonies WHERE expires_at <= $1")
            .bind(ms(now))
            .execute(self.pool())
            .await
            .map_err(db)?;
        sqlx::query(
            "INSERT INTO webauthn_ceremonies \
             (id_hash, purpose, binding, user_id, state, created_at, expires_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7)",
        )
        .bind(id_hash)
        .bind(purpose)
        .bind(binding)
        .bind(user_id.map(|u| u.to_string()))
        .bind(state)
        .bind(ms(now))
        .bind(ms(expires_at))
        .execute(self.pool())
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(x) if x.is_foreign_key_violation() => {
                StoreError::NotFound("user")
            }
            sqlx::Error::Database(x) if x.is_unique_violation() => {
                StoreError::Conflict("a ceremony with this id")
            }
            _ => db(e),
        })?;
        Ok(())
    }

    /// Consumes a ceremony: deletes it and returns its user and state, when it exists, has
    /// this purpose and binding, and is unexpired. Atomic: only one caller gets it.
    async fn take_webauthn_ceremony(
        &self,
        id_hash: &str,
        purpose: &str,
        binding: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(Option<Uuid>, String)>> {
        if id_hash.contains('\0') || binding.contains('\0') {
            return Ok(None);
        }
        let row: Option<(Option<String>, String, i64)> = sqlx::query_as(
            "DELETE FROM webauthn_ceremonies WHERE id_hash = $1 AND purpose = $2 AND binding = $3 \
             RETURNING user_id, state, expires_at",
        )
        .bind(id_hash)
        .bind(purpose)
        .bind(binding)
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        match row {
            Some((user, state, expires)) if expires > ms(now) => {
                Ok(Some((user.as_deref().map(uuid).transpose()?, state)))
            }
            _ => Ok(None),
        }
    }
}
