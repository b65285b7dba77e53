//! OpenID Connect provider persistence: clients, pending authorization requests,
//! authorization codes, device codes and issued tokens (the trait methods delegate here).
//! Secrets are never stored: codes, tokens and client secrets are kept as SHA-256 hex
//! digests computed by the caller. Single use is enforced with conditional `UPDATE`s, so two
//! instances racing for one code or refresh token cannot both win.

use crate::rows::{from_ms, ms, uuid};
use crate::sql::{SqlStore, append_in, commit_if_changed, conflict, db, safe};
use crate::{Result, StoreError};
use time::OffsetDateTime;
use trustplane_core::audit::AuditDraft;
use uuid::Uuid;

/// A registered relying party.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OidcClient {
    /// The `client_id`.
    pub id: String,
    pub name: String,
    /// The application the client belongs to (conditional access targets it).
    pub app_id: String,
    /// SHA-256 hex of the client secret; `None` for a public client.
    #[serde(skip_serializing)]
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub grant_types: Vec<String>,
    /// `client_secret_basic`, `client_secret_post` or `none`.
    pub token_endpoint_auth_method: String,
    /// `id_token_signed_response_alg`.
    pub id_token_alg: String,
    pub groups_claim: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl OidcClient {
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }
}

/// An authorization code (its hash) and what it was bound to. `data` is JSON the server
/// owns (redirect URI, PKCE challenge, nonce, scope, authentication facts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcCode {
    pub hash: String,
    pub grant_id: Uuid,
    pub client_id: String,
    pub user_id: Uuid,
    pub session_id: Option<Uuid>,
    pub data: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
}

/// What taking a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeTake {
    /// Unknown code.
    Unknown,
    /// First use: the code is now spent.
    Fresh(OidcCode),
    /// The code was used before (the caller revokes what it issued).
    Reused(OidcCode),
}

/// An issued access or refresh token (its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcToken {
    pub hash: String,
    /// `jti` of a JWT access token; a handle for refresh tokens.
    pub id: Uuid,
    /// `access` or `refresh`.
    pub kind: String,
    /// The grant (authorization code, device code or client credentials request) the token
    /// descends from: a refresh family, revoked as one.
    pub grant_id: Uuid,
    pub client_id: String,
    pub user_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    pub scope: String,
    pub data: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

impl OidcToken {
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// A device authorization (RFC 8628).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCode {
    pub hash: String,
    pub grant_id: Uuid,
    /// Normalised (uppercase letters, no separator).
    pub user_code: String,
    pub client_id: String,
    pub scope: String,
    /// `pending`, `approved`, `denied` or `used`.
    pub status: String,
    pub user_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    pub data: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub last_poll_at: Option<OffsetDateTime>,
}

/// A pending authorization request, resumed after sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcRequest {
    pub id: String,
    pub client_id: String,
    pub data: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

fn list(what: &str, s: &str) -> Result<Vec<String>> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("oidc client {what}: {e}")))
}

fn to_json(v: &[String]) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Database(e.to_string()))
}

fn opt_uuid(v: Option<String>) -> Result<Option<Uuid>> {
    v.as_deref().map(uuid).transpose()
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    id: String,
    name: String,
    app_id: String,
    secret_hash: Option<String>,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    scopes: String,
    grant_types: String,
    token_endpoint_auth_method: String,
    id_token_alg: String,
    groups_claim: i64,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ClientRow> for OidcClient {
    type Error = StoreError;
    fn try_from(r: ClientRow) -> Result<Self> {
        Ok(OidcClient {
            redirect_uris: list("redirect_uris", &r.redirect_uris)?,
            post_logout_redirect_uris: list(
                "post_logout_redirect_uris",
                &r.post_logout_redirect_uris,
            )?,
            scopes: list("scopes", &r.scopes)?,
            grant_types: list("grant_types", &r.grant_types)?,
            id: r.id,
            name: r.name,
            app_id: r.app_id,
            secret_hash: r.secret_hash,
            token_endpoint_auth_method: r.token_endpoint_auth_method,
            id_token_alg: r.id_token_alg,
            groups_claim: r.groups_claim != 0,
            created_at: from_ms(r.created_at)?,
            updated_at: from_ms(r.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct CodeRow {
    hash: String,
    grant_id: String,
    client_id: String,
    user_id: String,
    session_id: Option<String>,
    data: String,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

impl TryFrom<CodeRow> for OidcCode {
    type Error = StoreError;
    fn try_from(r: CodeRow) -> Result<Self> {
        Ok(OidcCode {
            grant_id: uuid(&r.grant_id)?,
            user_id: uuid(&r.user_id)?,
            session_id: opt_uuid(r.session_id)?,
            hash: r.hash,
            client_id: r.client_id,
            data: r.data,
            created_at: from_ms(r.created_at)?,
            expires_at: from_ms(r.expires_at)?,
            used_at: r.used_at.map(from_ms).transpose()?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    hash: String,
    id: String,
    kind: String,
    grant_id: String,
    client_id: String,
    user_id: Option<String>,
    session_id: Option<String>,
    scope: String,
    data: String,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TryFrom<TokenRow> for OidcToken {
    type Error = StoreError;
    fn try_from(r: TokenRow) -> Result<Self> {
        Ok(OidcToken {
            id: uuid(&r.id)?,
            grant_id: uuid(&r.grant_id)?,
            user_id: opt_uuid(r.user_id)?,
            session_id: opt_uuid(r.session_id)?,
            hash: r.hash,
            kind: r.kind,
            client_id: r.client_id,
            scope: r.scope,
            data: r.data,
            created_at: from_ms(r.created_at)?,
            expires_at: from_ms(r.expires_at)?,
            used_at: r.used_at.map(from_ms).transpose()?,
            revoked_at: r.revoked_at.map(from_ms).transpose()?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct DeviceRow {
    hash: String,
    grant_id: String,
    user_code: String,
    client_id: String,
    scope: String,
    status: String,
    user_id: Option<String>,
    session_id: Option<String>,
    data: String,
    created_at: i64,
    expires_at: i64,
    last_poll_at: Option<i64>,
}

impl TryFrom<DeviceRow> for DeviceCode {
    type Error = StoreError;
    fn try_from(r: DeviceRow) -> Result<Self> {
        Ok(DeviceCode {
            grant_id: uuid(&r.grant_id)?,
            user_id: opt_uuid(r.user_id)?,
            session_id: opt_uuid(r.session_id)?,
            hash: r.hash,
            user_code: r.user_code,
            client_id: r.client_id,
            scope: r.scope,
            status: r.status,
            data: r.data,
            created_at: from_ms(r.created_at)?,
            expires_at: from_ms(r.expires_at)?,
            last_poll_at: r.last_poll_at.map(from_ms).transpose()?,
        })
    }
}

const CLIENT_COLS: &str = "id, name, app_id, secret_hash, redirect_uris, \
    post_logout_redirect_uris, scopes, grant_types, token_endpoint_auth_method, id_token_alg, \
    groups_claim, created_at, updated_at";
const CODE_COLS: &str =
    "hash, grant_id, client_id, user_id, session_id, data, created_at, expires_at, used_at";
const TOKEN_COLS: &str = "hash, id, kind, grant_id, client_id, user_id, session_id, scope, \
    data, created_at, expires_at, used_at, revoked_at";
const DEVICE_COLS: &str = "hash, grant_id, user_code, client_id, scope, status, user_id, \
    session_id, data, created_at, expires_at, last_poll_at";

impl SqlStore {
    async fn device_where(&self, column: &str, value: &str) -> Result<Option<DeviceCode>> {
        let row: Option<DeviceRow> = sqlx::query_as(safe(format!(
            "SELECT {DEVICE_COLS} FROM oidc_device_codes WHERE {column} = $1"
        )))
        .bind(value)
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        row.map(DeviceCode::try_from).transpose()
    }

    pub(crate) async fn device_by_hash_impl(&self, hash: &str) -> Result<Option<DeviceCode>> {
        self.device_where("hash", hash).await
    }
}

/// A user's answer on the device page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceDecision {
    Approve {
        user_id: Uuid,
        session_id: Uuid,
        data: String,
    },
    Deny,
}

#[async_trait::async_trait]
impl crate::OidcStore for SqlStore {
    async fn create_oidc_client(&self, c: &OidcClient, audit: AuditDraft) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let found: Option<(String,)> = sqlx::query_as("SELECT id FROM applications WHERE id = $1")
            .bind(&c.app_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if found.is_none() {
            return Err(StoreError::NotFound("application"));
        }
        sqlx::query(
            "INSERT INTO oidc_clients (id, name, app_id, secret_hash, redirect_uris, \
             post_logout_redirect_uris, scopes, grant_types, token_endpoint_auth_method, \
             id_token_alg, groups_claim, created_at, updated_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.app_id)
        .bind(&c.secret_hash)
        .bind(to_json(&c.redirect_uris)?)
        .bind(to_json(&c.post_logout_redirect_uris)?)
        .bind(to_json(&c.scopes)?)
        .bind(to_json(&c.grant_types)?)
        .bind(&c.token_endpoint_auth_method)
        .bind(&c.id_token_alg)
        .bind(i64::from(c.groups_claim))
        .bind(ms(c.created_at))
        .bind(ms(c.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(conflict("oidc client"))?;
        append_in(self.audit_keying(), &mut tx, &audit).await?;
        tx.commit().await
    }

    /// Replaces every field but the id and creation time; `NotFound` when it does not exist.
    async fn update_oidc_client(&self, c: &OidcClient, audit: AuditDraft) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE oidc_clients SET name = $2, app_id = $3, secret_hash = $4, \
             redirect_uris = $5, post_logout_redirect_uris = $6, scopes = $7, \
             grant_types = $8, token_endpoint_auth_method = $9, id_token_alg = $10, \
             groups_claim = $11, updated_at = $12 WHERE id = $1",
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.app_id)
        .bind(&c.secret_hash)
        .bind(to_json(&c.redirect_uris)?)
        .bind(to_json(&c.post_logout_redirect_uris)?)
        .bind(to_json(&c.scopes)?)
        .bind(to_json(&c.grant_types)?)
        .bind(&c.token_endpoint_auth_method)
        .bind(&c.id_token_alg)
        .bind(i64::from(c.groups_claim))
        .bind(ms(c.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if commit_if_changed(self.audit_keying(), tx, n, &audit).await? {
            Ok(())
        } else {
            Err(StoreError::NotFound("oidc client"))
        }
    }

    async fn get_oidc_client(&self, id: &str) -> Result<Option<OidcClient>> {
        let row: Option<ClientRow> = sqlx::query_as(safe(format!(
            "SELECT {CLIENT_COLS} FROM oidc_clients WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        row.map(OidcClient::try_from).transpose()
    }

    async fn list_oidc_clients(&self) -> Result<Vec<OidcClient>> {
        let rows: Vec<ClientRow> = sqlx::query_as(safe(format!(
            "SELECT {CLIENT_COLS} FROM oidc_clients ORDER BY id"
        )))
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.into_iter().map(OidcClient::try_from).collect()
    }

    /// Deletes the client with everything issued to it; false when it did not exist.
    async fn delete_oidc_client(&self, id: &str, audit: AuditDraft) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        for table in [
            "oidc_tokens",
            "oidc_codes",
            "oidc_device_codes",
            "oidc_requests",
        ] {
            sqlx::query(safe(format!("DELETE FROM {table} WHERE client_id = $1")))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        let n = sqlx::query("DELETE FROM oidc_clients WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        commit_if_changed(self.audit_keying(), tx, n, &audit).await
    }

    async fn save_oidc_request(&self, r: &OidcRequest) -> Result<()> {
        sqlx::query(
            "INSERT INTO oidc_requests (id, client_id, data, created_at, expires_at) \
             VALUES ($1,$2,$3,$4,$5)",
        )
        .bind(&r.id)
        .bind(&r.client_id)
        .bind(&r.data)
        .bind(ms(r.created_at))
        .bind(ms(r.expires_at))
        .execute(self.pool())
        .await
        .map_err(conflict("oidc request"))?;
        Ok(())
    }

    /// The request if it exists and has not expired.
    async fn load_oidc_request(
        &self,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<OidcRequest>> {
        let row: Option<(String, String, String, i64, i64)> = sqlx::query_as(
            "SELECT id, client_id, data, created_at, expires_at FROM oidc_requests \
             WHERE id = $1 AND expires_at > $2",
        )
        .bind(id)
        .bind(ms(now))
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        row.map(|(id, client_id, data, c, e)| {
            Ok(OidcRequest {
                id,
                client_id,
                data,
                created_at: from_ms(c)?,
                expires_at: from_ms(e)?,
            })
        })
        .transpose()
    }

    /// Deletes a request (and, opportunistically, every expired one).
    async fn delete_oidc_request(&self, id: &str, now: OffsetDateTime) -> Result<bool> {
        let n = sqlx::query("DELETE FROM oidc_requests WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(db)?
            .rows_affected();
        sqlx::query("DELETE FROM oidc_requests WHERE expires_at <= $1")
            .bind(ms(now))
            .execute(self.pool())
            .await
            .map_err(db)?;
        Ok(n > 0)
    }

    async fn create_oidc_code(&self, c: &OidcCode) -> Result<()> {
        sqlx::query(
            "INSERT INTO oidc_codes (hash, grant_id, client_id, user_id, session_id, data, \
             created_at, expires_at, used_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
        )
        .bind(&c.hash)
        .bind(c.grant_id.to_string())
        .bind(&c.client_id)
        .bind(c.user_id.to_string())
        .bind(c.session_id.map(|s| s.to_string()))
        .bind(&c.data)
        .bind(ms(c.created_at))
        .bind(ms(c.expires_at))
        .bind(c.used_at.map(ms))
        .execute(self.pool())
        .await
        .map_err(conflict("authorization code"))?;
        Ok(())
    }

    /// Marks the code used (atomically: of two concurrent takes, one is `Fresh`).
    async fn take_oidc_code(&self, hash: &str, now: OffsetDateTime) -> Result<CodeTake> {
        let n =
            sqlx::query("UPDATE oidc_codes SET used_at = $2 WHERE hash = $1 AND used_at IS NULL")
                .bind(hash)
                .bind(ms(now))
                .execute(self.pool())
                .await
                .map_err(db)?
                .rows_affected();
        let row: Option<CodeRow> = sqlx::query_as(safe(format!(
            "SELECT {CODE_COLS} FROM oidc_codes WHERE hash = $1"
        )))
        .bind(hash)
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        Ok(match row {
            None => CodeTake::Unknown,
            Some(r) if n == 1 => CodeTake::Fresh(r.try_into()?),
            Some(r) => CodeTake::Reused(r.try_into()?),
        })
    }

    async fn create_oidc_token(&self, t: &OidcToken) -> Result<()> {
        sqlx::query(
            "INSERT INTO oidc_tokens (hash, id, kind, grant_id, client_id, user_id, session_id, \
             scope, data, created_at, expires_at, used_at, revoked_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
        )
        .bind(&t.hash)
        .bind(t.id.to_string())
        .bind(&t.kind)
        .bind(t.grant_id.to_string())
        .bind(&t.client_id)
        .bind(t.user_id.map(|u| u.to_string()))
        .bind(t.session_id.map(|s| s.to_string()))
        .bind(&t.scope)
        .bind(&t.data)
        .bind(ms(t.created_at))
        .bind(ms(t.expires_at))
        .bind(t.used_at.map(ms))
        .bind(t.revoked_at.map(ms))
        .execute(self.pool())
        .await
        .map_err(conflict("token"))?;
        Ok(())
    }

    /// Writes many tokens in one transaction (multi-row inserts, one commit). A token whose
    /// client or user was deleted meanwhile is skipped (the batch is then written row by
    /// row); a token already stored is left as it is.
    async fn create_oidc_tokens(&self, ts: &[OidcToken]) -> Result<()> {
        const COLS: usize = 13;
        const CHUNK: usize = 200;
        if ts.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        let mut failed = false;
        for chunk in ts.chunks(CHUNK) {
            let mut sql = String::from(
                "INSERT INTO oidc_tokens (hash, id, kind, grant_id, client_id, user_id, \
                 session_id, scope, data, created_at, expires_at, used_at, revoked_at) VALUES ",
            );
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push(',');
                }
                sql.push('(');
                for c in 1..=COLS {
                    if c > 1 {
                        sql.push(',');
                    }
                    sql.push_str(&format!("${}", i * COLS + c));
                }
                sql.push(')');
            }
            sql.push_str(" ON CONFLICT (hash) DO NOTHING");
            let mut q = sqlx::query(safe(sql));
            for t in chunk {
                q = q
                    .bind(t.hash.clone())
                    .bind(t.id.to_string())
                    .bind(t.kind.clone())
                    .bind(t.grant_id.to_string())
                    .bind(t.client_id.clone())
                    .bind(t.user_id.map(|u| u.to_string()))
                    .bind(t.session_id.map(|s| s.to_string()))
                    .bind(t.scope.clone())
                    .bind(t.data.clone())
                    .bind(ms(t.created_at))
                    .bind(ms(t.expires_at))
                    .bind(t.used_at.map(ms))
                    .bind(t.revoked_at.map(ms));
            }
            if q.execute(&mut *tx).await.is_err() {
                failed = true;
                break;
            }
        }
        if !failed {
            return tx.commit().await;
        }
        drop(tx);
        // One row failed (a foreign key: its client or user is gone): row by row.
        for t in ts {
            match self.create_oidc_token(t).await {
                Ok(()) | Err(StoreError::Conflict(_)) => {}
                Err(StoreError::Database(e)) => {
                    tracing::debug!(error = %e, "token not recorded (client or user gone)");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn oidc_token(&self, hash: &str) -> Result<Option<OidcToken>> {
        let row: Option<TokenRow> = sqlx::query_as(safe(format!(
            "SELECT {TOKEN_COLS} FROM oidc_tokens WHERE hash = $1"
        )))
        .bind(hash)
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        row.map(OidcToken::try_from).transpose()
    }

    /// Spends a live refresh token (atomically); false when it was used, revoked or expired.
    async fn use_refresh_token(&self, hash: &str, now: OffsetDateTime) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE oidc_tokens SET used_at = $2 WHERE hash = $1 AND kind = 'refresh' \
             AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(hash)
        .bind(ms(now))
        .execute(self.pool())
        .await
        .map_err(db)?
        .rows_affected();
        Ok(n == 1)
    }

    /// Revokes one token; false when unknown or already revoked.
    async fn revoke_oidc_token(&self, hash: &str, now: OffsetDateTime) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE oidc_tokens SET revoked_at = $2 WHERE hash = $1 AND revoked_at IS NULL",
        )
        .bind(hash)
        .bind(ms(now))
        .execute(self.pool())
        .await
        .map_err(db)?
        .rows_affected();
        Ok(n > 0)
    }

    /// Revokes every token of a grant (a refresh family); the number revoked.
    async fn revoke_oidc_grant(&self, grant_id: Uuid, now: OffsetDateTime) -> Result<u64> {
        let n = sqlx::query(
            "UPDATE oidc_tokens SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL",
        )
        .bind(grant_id.to_string())
        .bind(ms(now))
        .execute(self.pool())
        .await
        .map_err(db)?
        .rows_affected();
        Ok(n)
    }

    async fn create_device_code(&self, d: &DeviceCode) -> Result<()> {
        sqlx::query(
            "INSERT INTO oidc_device_codes (hash, grant_id, user_code, client_id, scope, status, \
             user_id, session_id, data, created_at, expires_at, last_poll_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
        )
        .bind(&d.hash)
        .bind(d.grant_id.to_string())
        .bind(&d.user_code)
        .bind(&d.client_id)
        .bind(&d.scope)
        .bind(&d.status)
        .bind(d.user_id.map(|u| u.to_string()))
        .bind(d.session_id.map(|s| s.to_string()))
        .bind(&d.data)
        .bind(ms(d.created_at))
        .bind(ms(d.expires_at))
        .bind(d.last_poll_at.map(ms))
        .execute(self.pool())
        .await
        .map_err(conflict("device code"))?;
        Ok(())
    }

    async fn device_by_user_code(&self, user_code: &str) -> Result<Option<DeviceCode>> {
        self.device_where("user_code", user_code).await
    }

    /// Moves a pending, unexpired device code to `approved` (with the user, session and
    /// authentication data) or `denied`; false when it was not pending.
    async fn decide_device_code(
        &self,
        hash: &str,
        decision: DeviceDecision,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let (status, user, session, data) = match decision {
            DeviceDecision::Approve {
                user_id,
                session_id,
                data,
            } => (
                "approved",
                Some(user_id.to_string()),
                Some(session_id.to_string()),
                Some(data),
            ),
            DeviceDecision::Deny => ("denied", None, None, None),
        };
        let n = sqlx::query(
            "UPDATE oidc_device_codes SET status = $2, user_id = $3, session_id = $4, \
             data = COALESCE($5, data) WHERE hash = $1 AND status = 'pending' AND expires_at > $6",
        )
        .bind(hash)
        .bind(status)
        .bind(user)
        .bind(session)
        .bind(data)
        .bind(ms(now))
        .execute(self.pool())
        .await
        .map_err(db)?
        .rows_affected();
        Ok(n == 1)
    }

    /// Records a poll; returns the previous poll time.
    async fn poll_device_code(
        &self,
        hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>> {
        let before = self.device_by_hash_impl(hash).await?;
        sqlx::query("UPDATE oidc_device_codes SET last_poll_at = $2 WHERE hash = $1")
            .bind(hash)
            .bind(ms(now))
            .execute(self.pool())
            .await
            .map_err(db)?;
        Ok(before.and_then(|d| d.last_poll_at))
    }

    /// Spends an approved device code (atomically); false when it was not approved.
    async fn use_device_code(&self, hash: &str) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE oidc_device_codes SET status = 'used' WHERE hash = $1 AND status = 'approved'",
        )
        .bind(hash)
        .execute(self.pool())
        .await
        .map_err(db)?
        .rows_affected();
        Ok(n == 1)
    }

    async fn device_code(&self, hash: &str) -> Result<Option<DeviceCode>> {
        self.device_by_hash_impl(hash).await
    }
}
