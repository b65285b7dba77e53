//! The audit chain's key and checkpoints (see docs/security.md, "Audit chain").
//!
//! - The chain key is derived from the master key (purpose `audit-chain`): every store
//!   trustplane opens is keyed with it ([`open_store`]).
//! - Checkpoints are signed with another derived key (purpose `audit-checkpoints`): the head's
//!   sequence number and hash at a time, written to the log and, when configured, appended to
//!   a JSON-lines file outside the database. [`verify_checkpoints`] checks a chain against
//!   them: a head below a checkpoint means the tail was cut off; another hash at a
//!   checkpoint's sequence means the chain was rewritten.

use crate::platform::config::Config;
use crate::platform::secrets::MasterKey;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use trustplane_core::audit::Checkpoint;
use trustplane_store::{AuditQuery, SqlStore, Store, StoreError};

pub const CHAIN_PURPOSE: &str = "audit-chain";
pub const CHECKPOINT_PURPOSE: &str = "audit-checkpoints";

/// Opens the configured database with the audit chain keyed by the master key.
pub async fn open_store(cfg: &Config, key: &MasterKey) -> Result<SqlStore, StoreError> {
    trustplane_store::open(&cfg.database_url())
        .await?
        .keyed(key.derive(CHAIN_PURPOSE))
        .await
}

/// A signed checkpoint of the current head (`None` while the log is empty).
pub async fn checkpoint(
    store: &dyn Store,
    key: &[u8; 32],
    now_ms: i64,
) -> Result<Option<Checkpoint>, StoreError> {
    let newest = store
        .list_audit(&AuditQuery {
            limit: 1,
            ..Default::default()
        })
        .await?;
    Ok(newest
        .first()
        .map(|e| Checkpoint::sign(key, e.seq, &e.hash, now_ms)))
}

/// Appends one checkpoint line to `path` (created 0600), and syncs it.
pub fn append_checkpoint(path: &Path, cp: &Checkpoint) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    let line = serde_json::to_string(cp).map_err(std::io::Error::other)?;
    f.write_all(format!("{line}\n").as_bytes())?;
    f.sync_data()
}

/// Reads checkpoints from JSON lines: checkpoint objects (the checkpoint file) or log lines
/// that carry one in their `audit_checkpoint` field (so a JSON log works as the file). Other
/// lines are skipped.
pub fn read_checkpoints(text: &str) -> Vec<Checkpoint> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
        .filter_map(|v| match v.get("audit_checkpoint") {
            Some(serde_json::Value::String(inner)) => serde_json::from_str(inner).ok(),
            Some(obj @ serde_json::Value::Object(_)) => serde_json::from_value(obj.clone()).ok(),
            _ => serde_json::from_value(v).ok(),
        })
        .collect()
}

/// What is wrong with the chain in the light of `checkpoints` (empty: consistent with all).
pub async fn verify_checkpoints(
    store: &dyn Store,
    key: &[u8; 32],
    checkpoints: &[Checkpoint],
) -> Result<Vec<String>, StoreError> {
    let mut problems = Vec::new();
    let head = store
        .list_audit(&AuditQuery {
            limit: 1,
            ..Default::default()
        })
        .await?
        .first()
        .map_or(0, |e| e.seq);
    for cp in checkpoints {
        if !cp.authentic(key) {
            problems.push(format!(
                "checkpoint at entry {} is not signed with this installation's key (forged or \
                 edited checkpoint)",
                cp.seq
            ));
            continue;
        }
        if cp.seq > head {
            problems.push(format!(
                "truncated: a checkpoint signed at {} saw entry {}, but the log now ends at \
                 entry {head} (the tail was removed and the head moved back)",
                crate::ops::audit_chain::time_text(cp.at_ms),
                cp.seq
            ));
            continue;
        }
        let at = store
            .list_audit(&AuditQuery {
                before_seq: Some(cp.seq.saturating_add(1)),
                limit: 1,
                ..Default::default()
            })
            .await?;
        match at.first() {
            Some(e) if e.seq == cp.seq && e.hash == cp.hash => {}
            Some(e) if e.seq == cp.seq => problems.push(format!(
                "rewritten: entry {} has another hash than the checkpoint signed at {} recorded",
                cp.seq,
                time_text(cp.at_ms)
            )),
            _ => problems.push(format!(
                "entry {} recorded by a checkpoint is missing",
                cp.seq
            )),
        }
    }
    Ok(problems)
}

fn time_text(at_ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{at_ms} ms"))
}

/// Writes a checkpoint every `audit.checkpoint_seconds` when the head moved: to the log
/// (`audit_checkpoint` field) and to `audit.checkpoint_file` when set.
pub fn start_writer(
    store: Arc<dyn Store>,
    key: [u8; 32],
    cfg: &crate::platform::config::AuditConfig,
    clock: Arc<dyn crate::platform::clock::Clock>,
) {
    if cfg.checkpoint_seconds == 0 {
        return;
    }
    let every = Duration::from_secs(cfg.checkpoint_seconds);
    let file = cfg.checkpoint_file.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        let mut last: Option<i64> = None;
        loop {
            tick.tick().await;
            let now_ms = (clock.now().unix_timestamp_nanos() / 1_000_000) as i64;
            let cp = match checkpoint(store.as_ref(), &key, now_ms).await {
                Ok(Some(cp)) if last != Some(cp.seq) => cp,
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(code = e.code(), error = %e, "cannot read the audit head for a checkpoint");
                    continue;
                }
            };
            let line = serde_json::to_string(&cp).unwrap_or_default();
            tracing::info!(audit_checkpoint = %line, seq = cp.seq, "audit checkpoint");
            if let Some(path) = &file
                && let Err(e) = append_checkpoint(path, &cp)
            {
                tracing::warn!(path = %path.display(), error = %e, "cannot append the audit checkpoint");
                continue;
            }
            last = Some(cp.seq);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_are_read_from_the_file_and_from_json_log_lines() {
        let cp = Checkpoint::sign(&[3u8; 32], 7, "h", 1);
        let raw = serde_json::to_string(&cp).unwrap();
        let log =
            serde_json::json!({"level": "INFO", "audit_checkpoint": raw, "seq": 7}).to_string();
        let text = format!("{raw}\nnot json\n{log}\n{{\"other\":1}}\n");
        assert_eq!(read_checkpoints(&text), vec![cp.clone(), cp]);
    }
}

/// The first line of an audit archive file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArchiveHeader {
    /// Format version (1).
    pub trustplane_audit_archive: u32,
    /// The first entry in the file.
    pub from_seq: i64,
    /// The last entry in the file.
    pub through_seq: i64,
    /// The hash the first entry links to (the genesis hash, or the previous archive's last).
    pub prev_hash: String,
}

/// One line of an archive file after the header: an entry, or the closing checkpoint.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum ArchiveLine {
    Entry {
        entry: trustplane_core::audit::AuditEntry,
    },
    End {
        checkpoint: Checkpoint,
    },
}

/// Writes an archive of `entries` (consecutive, oldest first) to `path`: a header line, one
/// line per entry and a closing checkpoint signed with `cp_key`. Written to a temporary file
/// beside it, synced, then linked into place, so the file is either whole or absent (mode
/// 0600). Refuses an existing `path`.
pub fn write_archive(
    path: &Path,
    prev_hash: &str,
    entries: &[trustplane_core::audit::AuditEntry],
    cp_key: &[u8; 32],
    now_ms: i64,
) -> std::io::Result<()> {
    let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
        return Err(std::io::Error::other("nothing to archive"));
    };
    let header = ArchiveHeader {
        trustplane_audit_archive: 1,
        from_seq: first.seq,
        through_seq: last.seq,
        prev_hash: prev_hash.to_string(),
    };
    let mut text = serde_json::to_string(&header).map_err(std::io::Error::other)?;
    text.push('\n');
    for e in entries {
        let line = serde_json::to_string(&ArchiveLine::Entry { entry: e.clone() })
            .map_err(std::io::Error::other)?;
        text.push_str(&line);
        text.push('\n');
    }
    let end = ArchiveLine::End {
        checkpoint: Checkpoint::sign(cp_key, last.seq, &last.hash, now_ms),
    };
    text.push_str(&serde_json::to_string(&end).map_err(std::io::Error::other)?);
    text.push('\n');
    if crate::platform::files::write_new_atomic(path, text.as_bytes())? {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} exists; choose a new file", path.display()),
        ))
    }
}

/// Checks an archive file: every entry links to the one before (from the header's
/// `prev_hash`) and carries the hash the chain key gives it, and the closing checkpoint is
/// signed with this installation's key and names the last entry. Returns the header and the
/// last entry's hash.
pub fn verify_archive(
    text: &str,
    chain_key: Option<trustplane_core::audit::ChainKey>,
    cp_key: &[u8; 32],
) -> Result<(ArchiveHeader, String), String> {
    let mut lines = text.lines().enumerate();
    let header: ArchiveHeader = lines
        .next()
        .and_then(|(_, l)| serde_json::from_str(l).ok())
        .ok_or("line 1: not a trustplane audit archive header")?;
    let mut v = trustplane_core::audit::ChainVerifier::resume(
        chain_key,
        header.from_seq - 1,
        &header.prev_hash,
    );
    let mut last_hash = None;
    let mut closed = false;
    for (i, line) in lines {
        if closed {
            return Err(format!("line {}: text after the closing checkpoint", i + 1));
        }
        match serde_json::from_str::<ArchiveLine>(line) {
            Ok(ArchiveLine::Entry { entry }) => {
                v.push(&entry)
                    .map_err(|e| format!("line {}: entry {}: {e}", i + 1, entry.seq))?;
                last_hash = Some(entry.hash);
            }
            Ok(ArchiveLine::End { checkpoint }) => {
                if !checkpoint.authentic(cp_key) {
                    return Err(format!(
                        "line {}: the closing checkpoint is not signed with this installation's key",
                        i + 1
                    ));
                }
                if checkpoint.seq != v.last_seq()
                    || Some(&checkpoint.hash) != last_hash.as_ref()
                    || checkpoint.seq != header.through_seq
                {
                    return Err(format!(
                        "line {}: the closing checkpoint does not name the last entry",
                        i + 1
                    ));
                }
                closed = true;
            }
            Err(_) => return Err(format!("line {}: not an archive line", i + 1)),
        }
    }
    if !closed {
        return Err("the archive has no closing checkpoint (cut off?)".into());
    }
    let hash = last_hash.ok_or("the archive holds no entries")?;
    Ok((header, hash))
}
