//! Organisation-specific banned password terms ([`BannedTermStore`]).

use super::query::now_ms;
use super::{SqlStore, append_in, audited_change, commit_if_changed, db};
use crate::rows::from_ms;
use crate::{BannedTerm, BannedTermStore, Result};
use async_trait::async_trait;
use trustplane_core::audit::AuditDraft;

#[async_trait]
impl BannedTermStore for SqlStore {
    async fn list_banned_terms(&self) -> Result<Vec<BannedTerm>> {
        let rows: Vec<(String, String, i64, String)> = sqlx::query_as(
            "SELECT term, display, added_at, added_by FROM banned_terms ORDER BY term",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.into_iter()
            .map(|(term, display, at, added_by)| {
                Ok(BannedTerm {
                    term,
                    display,
                    added_at: from_ms(at)?,
                    added_by,
                })
            })
            .collect()
    }

    async fn add_banned_terms(
        &self,
        terms: &[(String, String)],
        added_by: &str,
        audit: AuditDraft,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let at = now_ms();
        let mut added = 0;
        for (term, display) in terms {
            added += sqlx::query(
                "INSERT INTO banned_terms (term, display, added_at, added_by) VALUES ($1,$2,$3,$4) \
                 ON CONFLICT (term) DO NOTHING",
            )
            .bind(term)
            .bind(display)
            .bind(at)
            .bind(added_by)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        }
        if added == 0 {
            tx.rollback().await?;
            return Ok(0);
        }
        append_in(&self.audit, &mut tx, &audit).await?;
        tx.commit().await?;
        Ok(added)
    }

    async fn remove_banned_term(&self, term: &str, audit: AuditDraft) -> Result<bool> {
        audited_change!(
            self,
            audit,
            sqlx::query("DELETE FROM banned_terms WHERE term = $1").bind(term)
        )
    }

    async fn banned_terms_revision(&self) -> Result<i64> {
        let row: (i64,) = sqlx::query_as("SELECT rev FROM revisions WHERE name = 'banned_terms'")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        Ok(row.0)
    }
}
