//! Pending authorization requests, resumed after sign-in.

use super::SqlStore;
use crate::Result;
use crate::rows::{from_ms, ms};
use crate::sql::{conflict, db};
use time::OffsetDateTime;

/// A pending authorization request, resumed after sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcRequest {
    pub id: String,
    pub client_id: String,
    pub data: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

pub(super) async fn save(store: &SqlStore, r: &OidcRequest) -> Result<()> {
    sqlx::query(
        "INSERT INTO oidc_requests (id, client_id, data, created_at, expires_at) \
         VALUES ($1,$2,$3,$4,$5)",
    )
    .bind(&r.id)
    .bind(&r.client_id)
    .bind(&r.data)
    .bind(ms(r.created_at))
    .bind(ms(r.expires_at))
    .execute(store.pool())
    .await
    .map_err(conflict("oidc request"))?;
    Ok(())
}

/// The request if it exists and has not expired.
pub(super) async fn load(
    store: &SqlStore,
    id: &str,
    now: OffsetDateTime,
) -> Result<Option<OidcRequest>> {
    let row: Option<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT id, client_id, data, created_at, expires_at FROM oidc_requests \
         WHERE id = $1 AND expires_at > $2",
    )
    .bind(id)
    .bind(ms(now))
    .fetch_optional(store.pool())
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
pub(super) async fn delete(store: &SqlStore, id: &str, now: OffsetDateTime) -> Result<bool> {
    let n = sqlx::query("DELETE FROM oidc_requests WHERE id = $1")
        .bind(id)
        .execute(store.pool())
        .await
        .map_err(db)?
        .rows_affected();
    sqlx::query("DELETE FROM oidc_requests WHERE expires_at <= $1")
        .bind(ms(now))
        .execute(store.pool())
        .await
        .map_err(db)?;
    Ok(n > 0)
}
