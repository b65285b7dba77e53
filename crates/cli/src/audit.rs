//! `trustplane admin audit verify [--checkpoints FILE] [--archive FILE]`, `trustplane admin
//! audit checkpoint [--file FILE]` and `trustplane admin audit archive`.

use crate::CliError;
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;
use trustplane_core::audit::ChainKey;
use trustplane_server::ops::audit_chain;
use trustplane_server::platform::secrets::MasterKey;
use trustplane_store::SqlStore;
use trustplane_store::prelude::*;

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Verify the audit log's hash chain (keyed with the master key); names the first broken
    /// entry. With --checkpoints, also check the chain against signed checkpoints kept outside
    /// the database (the checkpoint file, or a JSON log): detects a cut-off tail and a
    /// rewritten chain. Exit code 3 when anything is wrong.
    Verify {
        /// JSON-lines file of checkpoints (`audit.checkpoint_file`, or the JSON log).
        #[arg(long)]
        checkpoints: Option<PathBuf>,
        /// Also check archive files made by `admin audit archive` (each one whole, signed,
        /// and linking to the one before; the newest one ending where the database begins).
        #[arg(long)]
        archive: Vec<PathBuf>,
    },
    /// Move the oldest audit entries to a file and remove them from the database. The chain
    /// is verified first; the file (JSON lines: a header, the entries, a closing checkpoint
    /// signed with this installation's key) is written atomically and checked before any
    /// entry is removed; the database keeps a MACed archive point and an `audit.archive`
    /// entry, and verifies from there on. Keep the files: `verify --archive` checks them.
    Archive {
        /// Archive the entries older than this time (RFC 3339, e.g. 2026-01-01T00:00:00Z).
        #[arg(long, conflicts_with = "through")]
        before: Option<String>,
        /// Archive the entries up to this sequence number.
        #[arg(long)]
        through: Option<i64>,
        /// The archive file to create (refused when it exists).
        #[arg(long)]
        out: PathBuf,
        /// Show what would be archived; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write a signed checkpoint of the chain head now: appended to FILE, or printed.
    Checkpoint {
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

pub async fn run(store: &SqlStore, key: &MasterKey, cmd: AuditCmd) -> Result<ExitCode, CliError> {
    let cp_key = key.derive(audit_chain::CHECKPOINT_PURPOSE);
    let chain_key = store.audit_keyed_from().map(|keyed_from| ChainKey {
        key: key.derive(audit_chain::CHAIN_PURPOSE),
        keyed_from,
    });
    match cmd {
        AuditCmd::Archive {
            before,
            through,
            out,
            dry_run,
        } => archive(store, chain_key, &cp_key, before, through, &out, dry_run).await,
        AuditCmd::Verify {
            checkpoints,
            archive,
        } => {
            let mut broken = false;
            match store.verify_audit().await? {
                Ok(n) => println!("audit log intact: {n} entries verified"),
                Err(e) => {
                    println!("audit log BROKEN at entry {}: {e}", e.seq());
                    broken = true;
                }
            }
            if let Some(path) = checkpoints {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| CliError::Other(format!("cannot read {}: {e}", path.display())))?;
                let cps = audit_chain::read_checkpoints(&text);
                if cps.is_empty() {
                    return Err(CliError::Other(format!(
                        "{} holds no audit checkpoint",
                        path.display()
                    )));
                }
                let problems = audit_chain::verify_checkpoints(store, &cp_key, &cps).await?;
                if problems.is_empty() {
                    println!("consistent with {} checkpoint(s)", cps.len());
                } else {
                    broken = true;
                    for p in problems {
                        println!("audit log BROKEN: {p}");
                    }
                }
            }
            if !archive.is_empty() && !verify_archives(store, chain_key, &cp_key, &archive).await? {
                broken = true;
            }
            Ok(if broken {
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            })
        }
        AuditCmd::Checkpoint { file } => {
            let now = time::OffsetDateTime::now_utc();
            let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
            let Some(cp) = audit_chain::checkpoint(store, &cp_key, now_ms).await? else {
                return Err(CliError::Other("the audit log is empty".into()));
            };
            match file {
                Some(path) => {
                    audit_chain::append_checkpoint(&path, &cp).map_err(|e| {
                        CliError::Other(format!("cannot append to {}: {e}", path.display()))
                    })?;
                    println!(
                        "checkpoint at entry {} appended to {}",
                        cp.seq,
                        path.display()
                    );
                }
                None => println!(
                    "{}",
                    serde_json::to_string(&cp).map_err(|e| CliError::Other(e.to_string()))?
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn other(e: impl std::fmt::Display) -> CliError {
    CliError::Other(e.to_string())
}

fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}

/// The genesis hash the first entry links to.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

async fn archive(
    store: &SqlStore,
    chain_key: Option<ChainKey>,
    cp_key: &[u8; 32],
    before: Option<String>,
    through: Option<i64>,
    out: &std::path::Path,
    dry_run: bool,
) -> Result<ExitCode, CliError> {
    if chain_key.is_none() {
        return Err(CliError::Other(
            "archiving needs the keyed audit chain; this database is not keyed".into(),
        ));
    }
    if let Err(e) = store.verify_audit().await? {
        return Err(CliError::Other(format!(
            "the audit log is broken at entry {} ({e}); refusing to archive it",
            e.seq()
        )));
    }
    let point = store.archive_point().await?;
    let (from, prev_hash) = match &point {
        Some(p) => (p.seq, p.hash.clone()),
        None => (0, GENESIS.to_string()),
    };
    let through = match (through, before) {
        (Some(n), None) => n,
        (None, Some(b)) => {
            let t = time::OffsetDateTime::parse(&b, &time::format_description::well_known::Rfc3339)
                .map_err(|e| CliError::Other(format!("--before {b}: {e} (use RFC 3339)")))?;
            let cutoff = i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
            // The newest entry older than the cutoff (entries are in time order).
            let mut last = from;
            loop {
                let page = store.audit_range(last, i64::MAX, 1000).await?;
                let older: Vec<_> = page.iter().take_while(|e| e.at_ms < cutoff).collect();
                let done = older.len() < page.len() || page.is_empty();
                if let Some(e) = older.last() {
                    last = e.seq;
                }
                if done {
                    break;
                }
            }
            last
        }
        _ => {
            return Err(CliError::Other(
                "say what to archive: --before TIME or --through SEQ".into(),
            ));
        }
    };
    if through <= from {
        println!("nothing to archive (the database begins after entry {from})");
        return Ok(ExitCode::SUCCESS);
    }
    let mut entries = Vec::new();
    let mut after = from;
    while after < through {
        let page = store.audit_range(after, through, 1000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        entries.extend(page);
    }
    let Some(last) = entries.last().cloned() else {
        return Err(CliError::Other(format!("entry {through} does not exist")));
    };
    if last.seq != through {
        return Err(CliError::Other(format!("entry {through} does not exist")));
    }
    if dry_run {
        println!(
            "would archive entries {}..={through} ({} entries) to {}",
            from + 1,
            entries.len(),
            out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    audit_chain::write_archive(out, &prev_hash, &entries, cp_key, now_ms())
        .map_err(|e| CliError::Other(format!("cannot write the archive {}: {e}", out.display())))?;
    // Read back what is on disk and check it before removing anything.
    let text = std::fs::read_to_string(out).map_err(other)?;
    audit_chain::verify_archive(&text, chain_key, cp_key).map_err(|e| {
        CliError::Other(format!(
            "the archive just written does not verify ({e}); nothing was removed"
        ))
    })?;
    let draft = trustplane_core::audit::AuditDraft::new(
        &trustplane_core::audit::Actor::cli("admin audit archive"),
        "audit.archive",
        "audit_log",
        None,
    )
    .after(&serde_json::json!({
        "from_seq": from + 1,
        "through_seq": through,
        "entries": entries.len(),
        "last_hash": last.hash,
        "file": out.display().to_string(),
    }));
    let removed = store
        .remove_archived_audit(through, &last.hash, time::OffsetDateTime::now_utc(), draft)
        .await?;
    println!(
        "archived entries {}..={through} to {} and removed {removed} from the database",
        from + 1,
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Checks archive files in order; prints what it found. Returns whether all is well.
async fn verify_archives(
    store: &SqlStore,
    chain_key: Option<ChainKey>,
    cp_key: &[u8; 32],
    files: &[PathBuf],
) -> Result<bool, CliError> {
    let mut expected_prev = GENESIS.to_string();
    let mut expected_from = 1;
    let mut ok = true;
    for f in files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| CliError::Other(format!("cannot read {}: {e}", f.display())))?;
        match audit_chain::verify_archive(&text, chain_key.clone(), cp_key) {
            Ok((h, last_hash)) => {
                if h.from_seq != expected_from || h.prev_hash != expected_prev {
                    println!(
                        "archive {} BROKEN: it begins at entry {} but entry {expected_from} was expected (give the files oldest first)",
                        f.display(),
                        h.from_seq
                    );
                    ok = false;
                } else {
                    println!(
                        "archive {} intact: entries {}..={}",
                        f.display(),
                        h.from_seq,
                        h.through_seq
                    );
                }
                expected_from = h.through_seq + 1;
                expected_prev = last_hash;
            }
            Err(e) => {
                println!("archive {} BROKEN: {e}", f.display());
                ok = false;
            }
        }
    }
    match store.archive_point().await? {
        Some(p) if p.seq + 1 != expected_from || p.hash != expected_prev => {
            println!(
                "the database begins after entry {}, but the archives end at entry {}",
                p.seq,
                expected_from - 1
            );
            ok = false;
        }
        None if expected_from > 1 => {
            println!("the database has no archive point, but archives were given");
            ok = false;
        }
        _ => {}
    }
    Ok(ok)
}
