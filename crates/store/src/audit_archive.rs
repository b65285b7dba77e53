//! Archiving a prefix of the audit log: the entries up to a sequence number are exported to a
//! file by the caller (`trustplane admin audit archive`), then removed here in one transaction
//! that records the archive point (the last archived entry's sequence number and hash, MACed
//! with the chain key) and appends an `audit.archive` entry. The chain in the database then
//! verifies from the archive point on; the archive file verifies up to it.
//!
//! Without the chain key nobody can move the archive point (its MAC would not match), so
//! removing more entries than were archived is detected like any other cut.

use crate::rows::{AUDIT_COLS, AuditRow, ms};
use crate::sql::{SqlStore, append_in, db, safe};
use crate::{Result, StoreError};
use trustplane_core::audit::{AuditDraft, AuditEntry, ChainKey};

const POINT: &str = "audit.archived_through";
/// The plain sequence number the delete trigger reads (migration 0040).
const SEQ: &str = "audit.archived_seq";

/// Where the chain in the database begins after an archive.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArchivePoint {
    /// The last archived entry.
    pub seq: i64,
    /// Its hash: the first remaining entry links to it.
    pub hash: String,
    /// When the archive was made (unix milliseconds).
    pub at_ms: i64,
    /// HMAC of `seq` and `hash` under the chain key.
    pub mac: String,
}

fn malformed() -> StoreError {
    StoreError::Corrupt("the audit archive point is malformed".into())
}

impl SqlStore {
    /// The archive point, when a prefix was archived. Refuses a point whose MAC does not
    /// match the chain key (moved or forged).
    pub async fn archive_point(&self) -> Result<Option<ArchivePoint>> {
        let row: Option<(String,)> = sqlx::query_as("SELECT value FROM settings WHERE name = $1")
            .bind(POINT)
            .fetch_optional(self.pool())
            .await
            .map_err(db)?;
        let Some((v,)) = row else { return Ok(None) };
        let p: ArchivePoint = serde_json::from_str(&v).map_err(|_| malformed())?;
        if let Some(k) = self.audit.key()
            && ChainKey::archive_mac(&k.key, p.seq, &p.hash) != p.mac
        {
            return Err(StoreError::Corrupt(
                "the audit archive point does not match the master key (moved or forged)".into(),
            ));
        }
        Ok(Some(p))
    }

    /// Entries with `after < seq <= through`, oldest first, at most `limit`.
    pub async fn audit_range(
        &self,
        after: i64,
        through: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        let rows: Vec<AuditRow> = sqlx::query_as(safe(format!(
            "SELECT {AUDIT_COLS} FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3"
        )))
        .bind(after)
        .bind(through)
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(AuditEntry::from).collect())
    }

    /// Removes the entries up to `through` (which the caller archived; `hash` is the hash of
    /// entry `through` as archived), records the MACed archive point and appends `draft` (an
    /// `audit.archive` entry), all in one transaction. Refuses when the chain is not keyed,
    /// when entry `through` is not the newest-but-kept one the caller saw (another hash), or
    /// when `through` is not past the previous archive point.
    pub async fn remove_archived_audit(
        &self,
        through: i64,
        hash: &str,
        now: time::OffsetDateTime,
        draft: AuditDraft,
    ) -> Result<u64> {
        let Some(key) = self.audit.key().cloned() else {
            return Err(StoreError::InUse(
                "archiving needs the keyed audit chain (open the store with the master key)",
            ));
        };
        let previous = self.archive_point().await?;
        if previous.as_ref().is_some_and(|p| through <= p.seq) {
            return Err(StoreError::Conflict("an archive of these entries"));
        }
        let mut tx = self.begin_write().await?;
        // Locks the chain head: appends wait until the archive is done.
        let (head,): (i64,) =
            sqlx::query_as("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq")
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
        if through < 1 || through > head {
            return Err(StoreError::NotFound("audit entry"));
        }
        let at: Option<(String,)> = sqlx::query_as("SELECT hash FROM audit_log WHERE seq = $1")
            .bind(through)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        match at {
            Some((h,)) if h == hash => {}
            Some(_) => {
                return Err(StoreError::Corrupt(format!(
                    "audit entry {through} has another hash than the archive holds"
                )));
            }
            None => return Err(StoreError::NotFound("audit entry")),
        }
        let point = ArchivePoint {
            seq: through,
            hash: hash.to_string(),
            at_ms: ms(now),
            mac: ChainKey::archive_mac(&key.key, through, hash),
        };
        let value =
            serde_json::to_string(&point).map_err(|e| StoreError::Database(e.to_string()))?;
        for (name, value) in [(SEQ, through.to_string()), (POINT, value)] {
            sqlx::query(
                "INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(name)
            .bind(value)
            .bind(ms(now))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        let removed = sqlx::query("DELETE FROM audit_log WHERE seq <= $1")
            .bind(through)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        append_in(&self.audit, &mut tx, &draft).await?;
        tx.commit().await?;
        Ok(removed)
    }
}
