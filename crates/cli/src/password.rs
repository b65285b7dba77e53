//! `trustplane password check|import-breached`: password protection from the command line.

use crate::{CliError, breach, open_ops, open_store, os_user};
use clap::Subcommand;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use trustplane_core::audit::Actor;
use trustplane_core::password::Verdict;
use trustplane_server::platform::config::Config;

#[derive(Subcommand)]
pub enum PasswordCmd {
    /// Check a candidate password (read from standard input) against password protection.
    /// Exit code 0 when accepted, 1 when refused.
    Check {
        /// Also check for this user's name, login and email.
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Import a Have I Been Pwned "Pwned Passwords" SHA-1 file (HASH:COUNT lines, sorted by
    /// hash; plain SHA-1 lines also accepted) into the breached-password filter. The previous
    /// filter stays in place if the import fails, and an import that would remove more than
    /// half of its hashes is refused unless --replace is given. A running server loads the new
    /// filter by itself (within `breached_filter_reload_seconds`); no restart is needed. The
    /// import is audited with the hash counts before and after.
    ImportBreached {
        file: PathBuf,
        /// Leave out hashes seen fewer times than this.
        #[arg(long, default_value_t = 1)]
        threshold: u64,
        /// Replace the filter even if the new one holds less than half as many hashes.
        #[arg(long)]
        replace: bool,
    },
}

pub async fn run(cfg: Config, cmd: PasswordCmd) -> Result<ExitCode, CliError> {
    match cmd {
        PasswordCmd::Check { user, json } => check(&cfg, user, json).await,
        PasswordCmd::ImportBreached {
            file,
            threshold,
            replace,
        } => {
            let store = open_store(&cfg).await?;
            breach::import_breached(
                &cfg,
                &store,
                &Actor::cli(&os_user()),
                &file,
                threshold,
                replace,
            )
            .await
        }
    }
}

/// Checks the candidate on standard input: exit code 0 when accepted, 1 when refused.
async fn check(cfg: &Config, user: Option<String>, json: bool) -> Result<ExitCode, CliError> {
    let (_, ops) = open_ops(cfg).await?;
    let mut raw = Vec::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_end(&mut raw)
        .map_err(|e| CliError::Other(format!("cannot read standard input: {e}")))?;
    let raw = raw
        .strip_suffix(b"\r\n")
        .or_else(|| raw.strip_suffix(b"\n"))
        .unwrap_or(&raw)
        .to_vec();
    let verdict = match String::from_utf8(raw) {
        Err(e) => trustplane_core::password::PasswordChecker {
            policy: &ops.password_policy,
            global: trustplane_server::ops::global_banned()?,
            custom: &*ops.custom_banned().await?,
        }
        .evaluate_bytes(&Default::default(), e.as_bytes()),
        Ok(pw) => match &user {
            Some(login) => {
                let u = ops.user_by_name(login).await?;
                ops.evaluate_password(&u.username, &u.display_name, u.email.as_deref(), &pw)
                    .await?
            }
            None => ops.evaluate_password("", "", None, &pw).await?,
        },
    };
    print_verdict(&verdict, json);
    Ok(if verdict.accepted {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_verdict(verdict: &Verdict, json: bool) {
    if json {
        let reasons: Vec<serde_json::Value> = verdict
            .reasons
            .iter()
            .map(|r| serde_json::json!({"code": r.code(), "message": r.message()}))
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "accepted": verdict.accepted,
                "score": verdict.score,
                "required_score": verdict.required_score,
                "reasons": reasons,
            })
        );
    } else if verdict.accepted {
        println!(
            "accepted (score {} of at least {})",
            verdict.score, verdict.required_score
        );
    } else {
        println!(
            "refused (score {} of at least {})",
            verdict.score, verdict.required_score
        );
        for m in verdict.messages() {
            println!("  - {m}");
        }
    }
}
