//! The audit log ([`AuditStore`]) and the audited write every change goes through: its
//! entry is appended in the change's own transaction ([`append_in`]), so both commit or
//! neither does.

use super::query::{Where, now_ms, safe};
use super::{SqlStore, db};
use crate::chain::AuditKeying;
use crate::changes::{Change, WriteTx};
use crate::rows::{AUDIT_COLS, AuditRow};
use crate::{AuditQuery, AuditStore, Result};
use async_trait::async_trait;
use trustplane_core::audit::{AuditDraft, AuditEntry, ChainError, ChainVerifier, seal_with};

/// How many audit entries `verify_audit` reads per page.
const AUDIT_PAGE: i64 = 1000;

/// Appends an audit entry inside the caller's transaction. The `UPDATE` of the chain head
/// locks it, so concurrent appends (from several instances too) serialise.
pub(crate) async fn append_in(
    keying: &AuditKeying,
    conn: &mut WriteTx,
    draft: &AuditDraft,
) -> Result<AuditEntry> {
    keying.may_append()?;
    let (seq, prev): (i64, String) =
        sqlx::query_as("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
            .fetch_one(&mut **conn)
            .await
            .map_err(db)?;
    let e = seal_with(keying.key(), draft, seq, now_ms(), &prev);
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor_id, actor_name, ip, action, target_type, target_id, \
         before_json, after_json, prev_hash, hash) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
    )
    .bind(e.seq)
    .bind(e.at_ms)
    .bind(&e.actor_id)
    .bind(&e.actor_name)
    .bind(&e.ip)
    .bind(&e.action)
    .bind(&e.target_type)
    .bind(&e.target_id)
    .bind(&e.before)
    .bind(&e.after)
    .bind(&e.prev_hash)
    .bind(&e.hash)
    .execute(&mut **conn)
    .await
    .map_err(db)?;
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&e.hash)
        .execute(&mut **conn)
        .await
        .map_err(db)?;
    // Continuous access evaluation: subscribers (here, and on other instances through
    // PostgreSQL's NOTIFY in this transaction) learn of the change once it committed. The
    // change names what changed, never its content.
    conn.announce(Change::Audited {
        action: e.action.clone(),
        target_type: e.target_type.clone(),
        target_id: e.target_id.clone(),
    })
    .await?;
    Ok(e)
}

/// Ends a transaction whose change touched `changed` rows: nothing changed, it is rolled back
/// (`Ok(false)`, no audit entry); otherwise the audit entry is appended and it commits.
pub(crate) async fn commit_if_changed(
    keying: &AuditKeying,
    mut tx: WriteTx,
    changed: u64,
    audit: &AuditDraft,
) -> Result<bool> {
    if changed == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    append_in(keying, &mut tx, audit).await?;
    tx.commit().await?;
    Ok(true)
}

/// Runs a single audited statement: `Ok(true)` and an audit entry if it changed a row.
macro_rules! audited_change {
    ($self:ident, $audit:ident, $change:expr, $query:expr) => {{
        let mut tx = $self.begin_write().await?;
        let n = $query.execute(&mut *tx).await.map_err(db)?.rows_affected();
        if n > 0 {
            tx.announce($change).await?;
        }
        Ok(commit_if_changed(&$self.audit, tx, n, &$audit).await?)
    }};
    ($self:ident, $audit:ident, $query:expr) => {{
        let mut tx = $self.begin_write().await?;
        let n = $query.execute(&mut *tx).await.map_err(db)?.rows_affected();
        Ok(commit_if_changed(&$self.audit, tx, n, &$audit).await?)
    }};
}
pub(crate) use audited_change;

#[async_trait]
impl AuditStore for SqlStore {
    async fn append_audit(&self, draft: AuditDraft) -> Result<AuditEntry> {
        let mut tx = self.begin_write().await?;
        let e = append_in(&self.audit, &mut tx, &draft).await?;
        tx.commit().await?;
        Ok(e)
    }

    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let mut w = Where::default();
        if let Some(s) = q.before_seq {
            w.push_i("seq < ?", s);
        }
        if let Some(a) = &q.action {
            w.push("action = ?", a.clone());
        }
        if let Some(t) = &q.target_id {
            w.push("target_id = ?", t.clone());
        }
        let sql = format!(
            "SELECT {AUDIT_COLS} FROM audit_log{} ORDER BY seq DESC LIMIT {}",
            w.sql(),
            q.limit.clamp(1, 10_000)
        );
        let rows: Vec<AuditRow> = w.fetch_all(sql, &self.pool).await?;
        Ok(rows.into_iter().map(AuditEntry::from).collect())
    }

    async fn verify_audit(&self) -> Result<std::result::Result<u64, ChainError>> {
        // The chain head is read first: every entry up to its seq was committed together with
        // it, so the walk must reach that entry and find the head's hash there. Without this
        // check, deleting the newest entries (after dropping the append-only triggers) would
        // leave a shorter chain that still verifies.
        let (head_seq, head_hash): (i64, String) =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&self.pool)
                .await
                .map_err(db)?;
        let mut hash_at_head = None;
        let key = self.audit.verifying_key()?;
        // After an archive (`audit_archive.rs`) the chain continues from the MACed archive
        // point; the archived entries are verified from the archive file.
        let (mut v, mut after) = match self.archive_point().await? {
            Some(p) => {
                if p.seq == head_seq {
                    hash_at_head = Some(p.hash.clone());
                }
                (ChainVerifier::resume(key, p.seq, &p.hash), p.seq)
            }
            None => (ChainVerifier::keyed(key), 0i64),
        };
        loop {
            let rows: Vec<AuditRow> = sqlx::query_as(safe(format!(
                "SELECT {AUDIT_COLS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
            )))
            .bind(after)
            .bind(AUDIT_PAGE)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
            let Some(last) = rows.last() else { break };
            after = last.seq;
            for r in rows {
                let e = AuditEntry::from(r);
                if let Err(err) = v.push(&e) {
                    return Ok(Err(err));
                }
                if e.seq == head_seq {
                    hash_at_head = Some(e.hash);
                }
            }
        }
        let checked = v.last_seq();
        if checked < head_seq {
            return Ok(Err(ChainError::Gap {
                seq: head_seq,
                expected: checked + 1,
            }));
        }
        if head_seq > 0 && hash_at_head.as_deref() != Some(head_hash.as_str()) {
            return Ok(Err(ChainError::HashMismatch { seq: head_seq }));
        }
        Ok(Ok(v.checked))
    }
}
