//! Terms of use and their acceptances (the trait methods delegate here).

use crate::rows::{from_ms, ms};
use crate::sql::{SqlStore, append_in, conflict, db};
use crate::{Result, StoreError};
use time::OffsetDateTime;
use trustplane_core::audit::AuditDraft;
use uuid::Uuid;

/// Terms of use a conditional access policy can require.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TermsOfUse {
    pub id: String,
    pub name: String,
    /// Plain text shown to the user before they accept.
    pub body: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    name: String,
    body: String,
    created_at: i64,
}

impl TryFrom<Row> for TermsOfUse {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self> {
        Ok(TermsOfUse {
            id: r.id,
            name: r.name,
            body: r.body,
            created_at: from_ms(r.created_at)?,
        })
    }
}

#[async_trait::async_trait]
impl crate::TermsStore for SqlStore {
    async fn create_terms(&self, t: &TermsOfUse, audit: AuditDraft) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO terms_of_use (id, name, body, created_at) VALUES ($1,$2,$3,$4)")
            .bind(&t.id)
            .bind(&t.name)
            .bind(&t.body)
            .bind(ms(t.created_at))
            .execute(&mut *tx)
            .await
            .map_err(conflict("terms of use"))?;
        append_in(self.audit_keying(), &mut tx, &audit).await?;
        tx.commit().await
    }

    async fn list_terms(&self) -> Result<Vec<TermsOfUse>> {
        let rows: Vec<Row> =
            sqlx::query_as("SELECT id, name, body, created_at FROM terms_of_use ORDER BY id")
                .fetch_all(self.pool())
                .await
                .map_err(db)?;
        rows.into_iter().map(TermsOfUse::try_from).collect()
    }

    async fn get_terms(&self, id: &str) -> Result<Option<TermsOfUse>> {
        let row: Option<Row> =
            sqlx::query_as("SELECT id, name, body, created_at FROM terms_of_use WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await
                .map_err(db)?;
        row.map(TermsOfUse::try_from).transpose()
    }

    async fn delete_terms(&self, id: &str, audit: AuditDraft) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM terms_of_use WHERE id = $1")
            .bind(id)
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

    async fn accept_terms(&self, user_id: Uuid, terms_id: &str, at: OffsetDateTime) -> Result<()> {
        sqlx::query(
            "INSERT INTO terms_acceptances (user_id, terms_id, accepted_at) VALUES ($1,$2,$3) \
             ON CONFLICT (user_id, terms_id) DO NOTHING",
        )
        .bind(user_id.to_string())
        .bind(terms_id)
        .bind(ms(at))
        .execute(self.pool())
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                StoreError::NotFound("terms of use")
            }
            _ => db(e),
        })?;
        Ok(())
    }

    async fn accepted_terms(&self, user_id: Uuid) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT terms_id FROM terms_acceptances WHERE user_id = $1 ORDER BY terms_id",
        )
        .bind(user_id.to_string())
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(|(t,)| t).collect())
    }
}
