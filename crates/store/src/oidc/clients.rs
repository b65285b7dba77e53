//! Registered relying parties (OpenID Connect clients).

use super::SqlStore;
use crate::rows::{from_ms, ms};
use crate::sql::{append_in, commit_if_changed, conflict, db, safe};
use crate::{Result, StoreError};
use time::OffsetDateTime;
use trustplane_core::audit::AuditDraft;

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
fn list(what: &str, s: &str) -> Result<Vec<String>> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("oidc client {what}: {e}")))
}

fn to_json(v: &[String]) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Database(e.to_string()))
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

const CLIENT_COLS: &str = "id, name, app_id, secret_hash, redirect_uris, \
    post_logout_redirect_uris, scopes, grant_types, token_endpoint_auth_method, id_token_alg, \
    groups_claim, created_at, updated_at";

pub(super) async fn create(store: &SqlStore, c: &OidcClient, audit: AuditDraft) -> Result<()> {
    let mut tx = store.begin_write().await?;
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
    append_in(store.audit_keying(), &mut tx, &audit).await?;
    tx.commit().await
}

/// Replaces every field but the id and creation time; `NotFound` when it does not exist.
pub(super) async fn update(store: &SqlStore, c: &OidcClient, audit: AuditDraft) -> Result<()> {
    let mut tx = store.begin_write().await?;
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
    if commit_if_changed(store.audit_keying(), tx, n, &audit).await? {
        Ok(())
    } else {
        Err(StoreError::NotFound("oidc client"))
    }
}

pub(super) async fn get(store: &SqlStore, id: &str) -> Result<Option<OidcClient>> {
    let row: Option<ClientRow> = sqlx::query_as(safe(format!(
        "SELECT {CLIENT_COLS} FROM oidc_clients WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(store.pool())
    .await
    .map_err(db)?;
    row.map(OidcClient::try_from).transpose()
}

pub(super) async fn list_all(store: &SqlStore) -> Result<Vec<OidcClient>> {
    let rows: Vec<ClientRow> = sqlx::query_as(safe(format!(
        "SELECT {CLIENT_COLS} FROM oidc_clients ORDER BY id"
    )))
    .fetch_all(store.pool())
    .await
    .map_err(db)?;
    rows.into_iter().map(OidcClient::try_from).collect()
}

/// Deletes the client with everything issued to it; false when it did not exist.
pub(super) async fn delete(store: &SqlStore, id: &str, audit: AuditDraft) -> Result<bool> {
    let mut tx = store.begin_write().await?;
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
    commit_if_changed(store.audit_keying(), tx, n, &audit).await
}
