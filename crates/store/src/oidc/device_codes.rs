//! Device authorizations (RFC 8628): pending until the user decides, polled by the device,
//! spent once approved.

use super::{SqlStore, opt_uuid};
use crate::rows::{from_ms, ms, uuid};
use crate::sql::{conflict, db, safe};
use crate::{Result, StoreError};
use time::OffsetDateTime;
use uuid::Uuid;

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

pub(super) async fn create(store: &SqlStore, d: &DeviceCode) -> Result<()> {
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
    .execute(store.pool())
    .await
    .map_err(conflict("device code"))?;
    Ok(())
}

pub(super) async fn by_user_code(store: &SqlStore, user_code: &str) -> Result<Option<DeviceCode>> {
    store.device_where("user_code", user_code).await
}

/// Moves a pending, unexpired device code to `approved` (with the user, session and
/// authentication data) or `denied`; false when it was not pending.
pub(super) async fn decide(
    store: &SqlStore,
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
    .execute(store.pool())
    .await
    .map_err(db)?
    .rows_affected();
    Ok(n == 1)
}

/// Records a poll; returns the previous poll time.
pub(super) async fn poll(
    store: &SqlStore,
    hash: &str,
    now: OffsetDateTime,
) -> Result<Option<OffsetDateTime>> {
    let before = store.device_by_hash_impl(hash).await?;
    sqlx::query("UPDATE oidc_device_codes SET last_poll_at = $2 WHERE hash = $1")
        .bind(hash)
        .bind(ms(now))
        .execute(store.pool())
        .await
        .map_err(db)?;
    Ok(before.and_then(|d| d.last_poll_at))
}

/// Spends an approved device code (atomically); false when it was not approved.
pub(super) async fn spend(store: &SqlStore, hash: &str) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE oidc_device_codes SET status = 'used' WHERE hash = $1 AND status = 'approved'",
    )
    .bind(hash)
    .execute(store.pool())
    .await
    .map_err(db)?
    .rows_affected();
    Ok(n == 1)
}
