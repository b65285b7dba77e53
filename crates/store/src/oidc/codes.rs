//! Authorization codes: stored as hashes, spent once.

use super::{SqlStore, opt_uuid};
use crate::rows::{from_ms, ms, uuid};
use crate::sql::{conflict, db, safe};
use crate::{Result, StoreError};
use time::OffsetDateTime;
use uuid::Uuid;

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

const CODE_COLS: &str =
    "hash, grant_id, client_id, user_id, session_id, data, created_at, expires_at, used_at";

pub(super) async fn create(store: &SqlStore, c: &OidcCode) -> Result<()> {
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
    .execute(store.pool())
    .await
    .map_err(conflict("authorization code"))?;
    Ok(())
}

/// Marks the code used (atomically: of two concurrent takes, one is `Fresh`).
pub(super) async fn take(store: &SqlStore, hash: &str, now: OffsetDateTime) -> Result<CodeTake> {
    let n = sqlx::query("UPDATE oidc_codes SET used_at = $2 WHERE hash = $1 AND used_at IS NULL")
        .bind(hash)
        .bind(ms(now))
        .execute(store.pool())
        .await
        .map_err(db)?
        .rows_affected();
    let row: Option<CodeRow> = sqlx::query_as(safe(format!(
        "SELECT {CODE_COLS} FROM oidc_codes WHERE hash = $1"
    )))
    .bind(hash)
    .fetch_optional(store.pool())
    .await
    .map_err(db)?;
    Ok(match row {
        None => CodeTake::Unknown,
        Some(r) if n == 1 => CodeTake::Fresh(r.try_into()?),
        Some(r) => CodeTake::Reused(r.try_into()?),
    })
}
