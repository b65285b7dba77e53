//! Login flows in progress and risk detections (their trait implementations live here, to
//! keep `sql/` to the foundation tables).

use crate::rows::{from_ms, ms, uuid};
use crate::sql::{SqlStore, append_in, db};
use crate::{Result, StoreError};
use time::OffsetDateTime;
use trustplane_core::audit::AuditDraft;
use trustplane_core::risk::{DetectionKind, DetectionState, RiskDetection, RiskLevel};
use uuid::Uuid;

const DETECTION_COLS: &str =
    "id, user_id, kind, level, state, source, correlation_id, detected_at, updated_at";

#[derive(sqlx::FromRow)]
struct DetectionRow {
    id: String,
    user_id: String,
    kind: String,
    level: String,
    state: String,
    source: String,
    correlation_id: Option<String>,
    detected_at: i64,
    updated_at: i64,
}

impl TryFrom<DetectionRow> for RiskDetection {
    type Error = StoreError;
    fn try_from(r: DetectionRow) -> Result<Self> {
        Ok(RiskDetection {
            id: uuid(&r.id)?,
            user_id: uuid(&r.user_id)?,
            kind: DetectionKind::parse(&r.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("detection kind {:?}", r.kind)))?,
            level: RiskLevel::parse(&r.level)
                .ok_or_else(|| StoreError::Corrupt(format!("risk level {:?}", r.level)))?,
            state: DetectionState::parse(&r.state)
                .ok_or_else(|| StoreError::Corrupt(format!("detection state {:?}", r.state)))?,
            source: r.source,
            correlation_id: r.correlation_id,
            detected_at: from_ms(r.detected_at)?,
            updated_at: from_ms(r.updated_at)?,
        })
    }
}

/// Marks the user's active leaked-credential detections remediated (inside the transaction
/// that changes the password).
pub(crate) async fn remediate_leaked_in(
    conn: &mut sqlx::AnyConnection,
    user_id: Uuid,
    at: OffsetDateTime,
) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE risk_detections SET state = 'remediated', updated_at = $1 \
         WHERE user_id = $2 AND kind = $3 AND state = 'at_risk'",
    )
    .bind(ms(at))
    .bind(user_id.to_string())
    .bind(DetectionKind::LeakedCredentials.as_str())
    .execute(conn)
    .await
    .map_err(db)?
    .rows_affected())
}

#[async_trait::async_trait]
impl crate::FlowStore for SqlStore {
    async fn save_login_flow(
        &self,
        id_hash: &str,
        user_id: Option<Uuid>,
        data: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        // Expired flows are swept whenever a new one is written: the table stays small
        // without a background job.
        sqlx::query("DELETE FROM login_flows WHERE expires_at < $1")
            .bind(ms(now))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "INSERT INTO login_flows (id_hash, user_id, data, created_at, expires_at) \
             VALUES ($1,$2,$3,$4,$5) \
             ON CONFLICT (id_hash) DO UPDATE SET data = excluded.data, \
             user_id = excluded.user_id, expires_at = excluded.expires_at \
             WHERE login_flows.data <> ''",
        )
        .bind(id_hash)
        .bind(user_id.map(|u| u.to_string()))
        .bind(data)
        .bind(ms(now))
        .bind(ms(expires_at))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await
    }

    async fn load_login_flow(&self, id_hash: &str, now: OffsetDateTime) -> Result<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT data FROM login_flows WHERE id_hash = $1 AND expires_at >= $2 \
                 AND data <> ''",
        )
        .bind(id_hash)
        .bind(ms(now))
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        Ok(row.map(|r| r.0))
    }

    async fn delete_login_flow(&self, id_hash: &str) -> Result<bool> {
        // A tombstone, not a deletion: a concurrent request that loaded the flow before it
        // ended must not bring it back (with a fresh attempt budget) by saving it again. The
        // row goes with the other expired ones.
        let n = sqlx::query("UPDATE login_flows SET data = '' WHERE id_hash = $1 AND data <> ''")
            .bind(id_hash)
            .execute(self.pool())
            .await
            .map_err(db)?
            .rows_affected();
        Ok(n > 0)
    }
}

#[async_trait::async_trait]
impl crate::RiskStore for SqlStore {
    async fn record_risk_detection(&self, d: &RiskDetection) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(crate::sql::safe(format!(
            "INSERT INTO risk_detections ({DETECTION_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)"
        )))
        .bind(d.id.to_string())
        .bind(d.user_id.to_string())
        .bind(d.kind.as_str())
        .bind(d.level.as_str())
        .bind(d.state.as_str())
        .bind(&d.source)
        .bind(d.correlation_id.as_deref())
        .bind(ms(d.detected_at))
        .bind(ms(d.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(x) if x.is_foreign_key_violation() => {
                StoreError::NotFound("user")
            }
            _ => db(e),
        })?;
        // The user's risk changed: decisions about them are re-evaluated everywhere.
        tx.announce(crate::Change::User(d.user_id)).await?;
        tx.commit().await
    }

    async fn list_risk_detections(
        &self,
        user_id: Option<Uuid>,
        state: Option<DetectionState>,
        limit: i64,
    ) -> Result<Vec<RiskDetection>> {
        let mut sql = format!("SELECT {DETECTION_COLS} FROM risk_detections WHERE 1=1");
        let mut n = 0;
        if user_id.is_some() {
            n += 1;
            sql.push_str(&format!(" AND user_id = ${n}"));
        }
        if state.is_some() {
            n += 1;
            sql.push_str(&format!(" AND state = ${n}"));
        }
        sql.push_str(&format!(
            " ORDER BY detected_at DESC, id DESC LIMIT {}",
            limit.clamp(1, 1000)
        ));
        let mut q = sqlx::query_as::<_, DetectionRow>(crate::sql::safe(sql));
        if let Some(u) = user_id {
            q = q.bind(u.to_string());
        }
        if let Some(s) = state {
            q = q.bind(s.as_str());
        }
        let rows = q.fetch_all(self.pool()).await.map_err(db)?;
        rows.into_iter().map(RiskDetection::try_from).collect()
    }

    async fn get_risk_detection(&self, id: Uuid) -> Result<Option<RiskDetection>> {
        let row: Option<DetectionRow> = sqlx::query_as(crate::sql::safe(format!(
            "SELECT {DETECTION_COLS} FROM risk_detections WHERE id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        row.map(RiskDetection::try_from).transpose()
    }

    /// Moves one detection from `at_risk` to `to`, with its audit entry, in one transaction.
    /// False when it does not exist or is no longer at risk.
    async fn close_risk_detection(
        &self,
        id: Uuid,
        to: DetectionState,
        at: OffsetDateTime,
        audit: AuditDraft,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE risk_detections SET state = $1, updated_at = $2 \
             WHERE id = $3 AND state = 'at_risk'",
        )
        .bind(to.as_str())
        .bind(ms(at))
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
