//! Information protection: authentication contexts, ordered sensitivity labels mapped to them,
//! and the labels of applications and routes (the trait methods delegate here).

use crate::rows::{from_ms, ms};
use crate::sql::{SqlStore, append_in, commit_if_changed, db};
use crate::{Result, StoreError};
use time::OffsetDateTime;
use trustplane_core::audit::AuditDraft;
use uuid::Uuid;

/// What a sensitive resource asks of a sign-in (Entra ID's `c1`..`c99`): conditional access
/// policies target it, and labels map to it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuthenticationContext {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A sensitivity label. `rank` orders labels (higher is more sensitive, unique); a resource
/// under a labelled route and a labelled application carries the higher of the two.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SensitivityLabel {
    pub id: String,
    pub name: String,
    pub rank: i32,
    /// The authentication context a request for a resource with this label asks for.
    #[serde(default)]
    pub authentication_context: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A unique violation is a conflict; a foreign-key violation means the label (or context)
/// named does not exist.
pub(crate) fn label_or_conflict(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(what),
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
            StoreError::NotFound("sensitivity label or authentication context")
        }
        _ => db(e),
    }
}

#[derive(sqlx::FromRow)]
struct ContextRow {
    id: String,
    name: String,
    description: String,
    created_at: i64,
}

#[derive(sqlx::FromRow)]
struct LabelRow {
    id: String,
    name: String,
    rank: i32,
    authentication_context: Option<String>,
    created_at: i64,
}

#[async_trait::async_trait]
impl crate::LabelStore for SqlStore {
    /// Creates or replaces (by id) an authentication context.
    async fn put_authentication_context(
        &self,
        c: &AuthenticationContext,
        audit: AuditDraft,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO authentication_contexts (id, name, description, created_at) \
             VALUES ($1,$2,$3,$4) ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
             description = excluded.description",
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.description)
        .bind(ms(c.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        append_in(self.audit_keying(), &mut tx, &audit).await?;
        tx.commit().await
    }

    async fn list_authentication_contexts(&self) -> Result<Vec<AuthenticationContext>> {
        let rows: Vec<ContextRow> = sqlx::query_as(
            "SELECT id, name, description, created_at FROM authentication_contexts ORDER BY id",
        )
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.into_iter()
            .map(|r| {
                Ok(AuthenticationContext {
                    id: r.id,
                    name: r.name,
                    description: r.description,
                    created_at: from_ms(r.created_at)?,
                })
            })
            .collect()
    }

    /// False when it did not exist; `InUse` while a label maps to it.
    async fn delete_authentication_context(&self, id: &str, audit: AuditDraft) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let used: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM sensitivity_labels WHERE authentication_context = $1 LIMIT 1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if used.is_some() {
            return Err(StoreError::InUse(
                "a sensitivity label maps to this authentication context",
            ));
        }
        let n = sqlx::query("DELETE FROM authentication_contexts WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        commit_if_changed(self.audit_keying(), tx, n, &audit).await
    }

    /// Creates or replaces (by id) a label. `Conflict` when another label has the rank,
    /// `NotFound` when the authentication context does not exist.
    async fn put_sensitivity_label(&self, l: &SensitivityLabel, audit: AuditDraft) -> Result<()> {
        let mut tx = self.begin_write().await?;
        if let Some(c) = &l.authentication_context {
            let found: Option<(String,)> =
                sqlx::query_as("SELECT id FROM authentication_contexts WHERE id = $1")
                    .bind(c)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?;
            if found.is_none() {
                return Err(StoreError::NotFound("authentication context"));
            }
        }
        sqlx::query(
            "INSERT INTO sensitivity_labels (id, name, rank, authentication_context, created_at) \
             VALUES ($1,$2,$3,$4,$5) ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
             rank = excluded.rank, authentication_context = excluded.authentication_context",
        )
        .bind(&l.id)
        .bind(&l.name)
        .bind(l.rank)
        .bind(&l.authentication_context)
        .bind(ms(l.created_at))
        .execute(&mut *tx)
        .await
        .map_err(label_or_conflict("a sensitivity label with this rank"))?;
        append_in(self.audit_keying(), &mut tx, &audit).await?;
        tx.commit().await
    }

    /// Labels, least sensitive first.
    async fn list_sensitivity_labels(&self) -> Result<Vec<SensitivityLabel>> {
        let rows: Vec<LabelRow> = sqlx::query_as(
            "SELECT id, name, rank, authentication_context, created_at FROM sensitivity_labels \
             ORDER BY rank",
        )
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.into_iter()
            .map(|r| {
                Ok(SensitivityLabel {
                    id: r.id,
                    name: r.name,
                    rank: r.rank,
                    authentication_context: r.authentication_context,
                    created_at: from_ms(r.created_at)?,
                })
            })
            .collect()
    }

    /// False when it did not exist; `InUse` while an application or route carries it.
    async fn delete_sensitivity_label(&self, id: &str, audit: AuditDraft) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let used: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM applications WHERE sensitivity_label = $1 \
             UNION ALL SELECT id FROM routes WHERE sensitivity_label = $1 LIMIT 1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if used.is_some() {
            return Err(StoreError::InUse(
                "an application or route carries this sensitivity label",
            ));
        }
        let n = sqlx::query("DELETE FROM sensitivity_labels WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        commit_if_changed(self.audit_keying(), tx, n, &audit).await
    }

    /// Sets (or clears) the label of an application (`route: None`) or of one of its routes.
    /// False when the application or route does not exist; `NotFound` for an unknown label.
    async fn set_sensitivity_label(
        &self,
        app_id: &str,
        route: Option<Uuid>,
        label: Option<&str>,
        audit: AuditDraft,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        if let Some(l) = label {
            let found: Option<(String,)> =
                sqlx::query_as("SELECT id FROM sensitivity_labels WHERE id = $1")
                    .bind(l)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?;
            if found.is_none() {
                return Err(StoreError::NotFound("sensitivity label"));
            }
        }
        let n = match route {
            None => {
                sqlx::query("UPDATE applications SET sensitivity_label = $1 WHERE id = $2")
                    .bind(label)
                    .bind(app_id)
                    .execute(&mut *tx)
                    .await
            }
            Some(r) => {
                sqlx::query(
                    "UPDATE routes SET sensitivity_label = $1 WHERE id = $2 AND app_id = $3",
                )
                .bind(label)
                .bind(r.to_string())
                .bind(app_id)
                .execute(&mut *tx)
                .await
            }
        }
        .map_err(db)?
        .rows_affected();
        commit_if_changed(self.audit_keying(), tx, n, &audit).await
    }
}
