//! Issued access and refresh tokens: stored as hashes, refresh tokens spent once, revoked
//! one by one or by grant.

use super::{SqlStore, opt_uuid};
use crate::rows::{from_ms, ms, uuid};
use crate::sql::{conflict, db, safe};
use crate::{Result, StoreError};
use time::OffsetDateTime;
use uuid::Uuid;

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

const TOKEN_COLS: &str = "hash, id, kind, grant_id, client_id, user_id, session_id, scope, \
    data, created_at, expires_at, used_at, revoked_at";

pub(super) async fn create(store: &SqlStore, t: &OidcToken) -> Result<()> {
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
    .execute(store.pool())
    .await
    .map_err(conflict("token"))?;
    Ok(())
}

/// Writes many tokens in one transaction (multi-row inserts, one commit). A token whose
/// client or user was deleted meanwhile is skipped (the batch is then written row by
/// row); a token already stored is left as it is.
pub(super) async fn create_many(store: &SqlStore, ts: &[OidcToken]) -> Result<()> {
    const COLS: usize = 13;
    const CHUNK: usize = 200;
    if ts.is_empty() {
        return Ok(());
    }
    let mut tx = store.begin_write().await?;
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
        match create(store, t).await {
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(StoreError::Database(e)) => {
                tracing::debug!(error = %e, "token not recorded (client or user gone)");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub(super) async fn get(store: &SqlStore, hash: &str) -> Result<Option<OidcToken>> {
    let row: Option<TokenRow> = sqlx::query_as(safe(format!(
        "SELECT {TOKEN_COLS} FROM oidc_tokens WHERE hash = $1"
    )))
    .bind(hash)
    .fetch_optional(store.pool())
    .await
    .map_err(db)?;
    row.map(OidcToken::try_from).transpose()
}

/// Spends a live refresh token (atomically); false when it was used, revoked or expired.
pub(super) async fn use_refresh(store: &SqlStore, hash: &str, now: OffsetDateTime) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE oidc_tokens SET used_at = $2 WHERE hash = $1 AND kind = 'refresh' \
         AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(hash)
    .bind(ms(now))
    .execute(store.pool())
    .await
    .map_err(db)?
    .rows_affected();
    Ok(n == 1)
}

/// Revokes one token; false when unknown or already revoked.
pub(super) async fn revoke(store: &SqlStore, hash: &str, now: OffsetDateTime) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE oidc_tokens SET revoked_at = $2 WHERE hash = $1 AND revoked_at IS NULL",
    )
    .bind(hash)
    .bind(ms(now))
    .execute(store.pool())
    .await
    .map_err(db)?
    .rows_affected();
    Ok(n > 0)
}

/// Revokes every token of a grant (a refresh family); the number revoked.
pub(super) async fn revoke_grant(
    store: &SqlStore,
    grant_id: Uuid,
    now: OffsetDateTime,
) -> Result<u64> {
    let n = sqlx::query(
        "UPDATE oidc_tokens SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL",
    )
    .bind(grant_id.to_string())
    .bind(ms(now))
    .execute(store.pool())
    .await
    .map_err(db)?
    .rows_affected();
    Ok(n)
}
