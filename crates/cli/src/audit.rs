//! `trustplane admin audit verify [--checkpoints FILE]` and `trustplane admin audit
//! checkpoint [--file FILE]`.

use crate::CliError;
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;
use trustplane_server::audit_chain;
use trustplane_server::secrets::MasterKey;
use trustplane_store::Store;

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
    },
    /// Write a signed checkpoint of the chain head now: appended to FILE, or printed.
    Checkpoint {
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

pub async fn run(store: &dyn Store, key: &MasterKey, cmd: AuditCmd) -> Result<ExitCode, CliError> {
    let cp_key = key.derive(audit_chain::CHECKPOINT_PURPOSE);
    match cmd {
        AuditCmd::Verify { checkpoints } => {
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
