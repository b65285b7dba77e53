//! Conditional access policy set versions (the trait methods delegate here).

use crate::rows::{from_ms, ms};
use crate::sql::{SqlStore, append_in, conflict, db};
use crate::{Result, StoreError};
use time::OffsetDateTime;
use trustplane_core::audit::AuditDraft;

/// One stored version of the conditional access policy set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PolicyVersion {
    pub version: i64,
    /// The policy set document (JSON).
    pub document: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Who saved it (actor name).
    pub created_by: String,
    pub comment: String,
}

#[derive(sqlx::FromRow)]
struct Row {
    version: i64,
    document: String,
    created_at: i64,
    created_by: String,
    comment: String,
}

impl TryFrom<Row> for PolicyVersion {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self> {
        Ok(PolicyVersion {
            version: r.version,
            document: r.document,
            created_at: from_ms(r.created_at)?,
            created_by: r.created_by,
            comment: r.comment,
        })
    }
}

const COLS: &str = "version, document, created_at, created_by, comment";

#[async_trait::async_trait]
impl crate::AccessPolicyStore for SqlStore {
    async fn current_policy_version(&self) -> Result<Option<PolicyVersion>> {
        let row: Option<Row> = sqlx::query_as(crate::sql::safe(format!(
            "SELECT {COLS} FROM ca_policy_versions ORDER BY version DESC LIMIT 1"
        )))
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        row.map(PolicyVersion::try_from).transpose()
    }

    async fn policy_version(&self, version: i64) -> Result<Option<PolicyVersion>> {
        let row: Option<Row> = sqlx::query_as(crate::sql::safe(format!(
            "SELECT {COLS} FROM ca_policy_versions WHERE version = $1"
        )))
        .bind(version)
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        row.map(PolicyVersion::try_from).transpose()
    }

    async fn list_policy_versions(&self, limit: i64) -> Result<Vec<PolicyVersion>> {
        let rows: Vec<Row> = sqlx::query_as(crate::sql::safe(format!(
            "SELECT {COLS} FROM ca_policy_versions ORDER BY version DESC LIMIT {}",
            limit.clamp(1, 1000)
        )))
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.into_iter().map(PolicyVersion::try_from).collect()
    }

    /// Stores `document` as version `based_on + 1` (1 when `based_on` is 0). Two concurrent
    /// saves based on the same version cannot both win: the second meets the primary key and
    /// gets `Conflict`, and so does a save based on a version that is not the newest.
    async fn save_policy_version(
        &self,
        based_on: i64,
        document: &str,
        created_by: &str,
        comment: &str,
        now: OffsetDateTime,
        audit: AuditDraft,
    ) -> Result<PolicyVersion> {
        let mut tx = self.begin_write().await?;
        let (newest,): (Option<i64>,) =
            sqlx::query_as("SELECT max(version) FROM ca_policy_versions")
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
        if newest.unwrap_or(0) != based_on {
            return Err(StoreError::Conflict("a newer policy version"));
        }
        let version = based_on + 1;
        sqlx::query(
            "INSERT INTO ca_policy_versions (version, document, created_at, created_by, comment) \
             VALUES ($1,$2,$3,$4,$5)",
        )
        .bind(version)
        .bind(document)
        .bind(ms(now))
        .bind(created_by)
        .bind(comment)
        .execute(&mut *tx)
        .await
        .map_err(conflict("a newer policy version"))?;
        append_in(self.audit_keying(), &mut tx, &audit).await?;
        tx.commit().await?;
        Ok(PolicyVersion {
            version,
            document: document.to_string(),
            created_at: from_ms(ms(now))?,
            created_by: created_by.to_string(),
            comment: comment.to_string(),
        })
    }
}
