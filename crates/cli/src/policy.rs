//! `trustplane policy …`: conditional access from the command line, on the configured
//! database (the same validation, versioning and audit as the API).

use crate::{CliError, pretty};
use clap::{Args, Subcommand};
use std::process::ExitCode;
use std::sync::Arc;
use trustplane_core::access::{ClientAppType, DevicePlatform, PolicySet};
use trustplane_core::audit::Actor;
use trustplane_core::risk::RiskLevel;
use trustplane_server::enforce::policy::{self, PolicyCache};
use trustplane_server::ops::what_if::{self, WhatIf};
use trustplane_store::Store;

#[derive(Subcommand)]
pub enum PolicyCmd {
    /// Print the policy set in force (JSON), with its version and lint warnings on stderr.
    Show,
    /// Replace the policy set with FILE (JSON, or YAML for .yaml/.yml; `-` for standard
    /// input, JSON). Refused with every problem named when invalid; nothing changes then.
    Set {
        file: String,
        /// Why (kept with the version).
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Validate FILE and print lint warnings, without saving.
    Validate { file: String },
    /// List the stored versions.
    Versions,
    /// Save version N again as the newest one.
    Restore { version: i64 },
    /// Print the shipped templates (all disabled).
    Templates,
    /// The decision, and why, for a hypothetical request.
    WhatIf(WhatIfArgs),
    /// Evaluate a draft policy set against the sign-ins of the last N days.
    Replay {
        #[arg(long)]
        draft: String,
        #[arg(long, default_value_t = 7)]
        days: u32,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct WhatIfArgs {
    /// Login name or user id.
    #[arg(long)]
    user: String,
    /// Application id (default: trustplane itself).
    #[arg(long)]
    app: Option<String>,
    #[arg(long)]
    ip: Option<std::net::IpAddr>,
    /// Two-letter country code.
    #[arg(long)]
    country: Option<String>,
    /// android, ios, windows, macos or linux.
    #[arg(long)]
    platform: Option<String>,
    /// browser, app or other.
    #[arg(long)]
    client: Option<String>,
    /// low, medium or high.
    #[arg(long)]
    sign_in_risk: Option<String>,
    /// low, medium or high (default: the user's real risk).
    #[arg(long)]
    user_risk: Option<String>,
    /// A device with this compliance state.
    #[arg(long)]
    device_compliant: Option<bool>,
    /// A registered device (id): its real state is used.
    #[arg(long)]
    device: Option<uuid::Uuid>,
    /// The user has also passed a second factor.
    #[arg(long)]
    mfa: bool,
    #[arg(long)]
    json: bool,
}

fn read(file: &str) -> Result<(String, bool), CliError> {
    let text = crate::read_input(file)?;
    let yaml = file.ends_with(".yaml") || file.ends_with(".yml");
    Ok((text, yaml))
}

fn parse<T: serde::de::DeserializeOwned>(
    flag: &str,
    v: Option<String>,
) -> Result<Option<T>, CliError> {
    v.map(|s| {
        serde_json::from_value(serde_json::Value::String(s.clone()))
            .map_err(|_| CliError::Other(format!("--{flag}: {s:?} is not a valid value")))
    })
    .transpose()
}

fn print_warnings(w: &[trustplane_core::access::Warning]) {
    for w in w {
        eprintln!("warning: {}: {}", w.policy_id, w.message);
    }
}

pub async fn run(
    store: Arc<dyn Store>,
    actor: &Actor,
    cmd: PolicyCmd,
) -> Result<ExitCode, CliError> {
    let store = store.as_ref();
    let cache = PolicyCache::default();
    match cmd {
        PolicyCmd::Show => show(store, &cache).await?,
        PolicyCmd::Set { file, comment } => {
            let (text, yaml) = read(&file)?;
            let set = policy::validate(store, &text, yaml).await?;
            let version = save(store, &cache, actor, &set, &comment).await?;
            println!("Saved the policy set as version {version}.");
        }
        PolicyCmd::Validate { file } => {
            let (text, yaml) = read(&file)?;
            let set = policy::validate(store, &text, yaml).await?;
            let warnings =
                trustplane_core::access::lint(&set, &policy::lint_directory(store).await?);
            print_warnings(&warnings);
            println!("Valid: {} policies.", set.len());
        }
        PolicyCmd::Versions => {
            for v in store.list_policy_versions(1000).await? {
                println!(
                    "{:>5}  {}  {:<24} {}",
                    v.version, v.created_at, v.created_by, v.comment
                );
            }
        }
        PolicyCmd::Restore { version } => {
            let v = store
                .policy_version(version)
                .await?
                .ok_or_else(|| CliError::Other(format!("no version {version}")))?;
            let set = policy::validate(store, &v.document, false).await?;
            let comment = format!("restored version {version}");
            let saved = save(store, &cache, actor, &set, &comment).await?;
            println!("Restored version {version} as version {saved}.");
        }
        PolicyCmd::Templates => println!("{}", pretty(&trustplane_core::access::templates())?),
        PolicyCmd::WhatIf(args) => what_if(store, &cache, args).await?,
        PolicyCmd::Replay { draft, days, json } => replay(store, &draft, days, json).await?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn show(store: &dyn Store, cache: &PolicyCache) -> Result<(), CliError> {
    let loaded = cache.get(store).await?;
    eprintln!("version {}", loaded.version);
    print_warnings(&trustplane_core::access::lint(
        &loaded.set,
        &policy::lint_directory(store).await?,
    ));
    println!("{}", pretty(loaded.set.document())?);
    Ok(())
}

/// Saves `set` as the newest version, printing its lint warnings; returns the version.
async fn save(
    store: &dyn Store,
    cache: &PolicyCache,
    actor: &Actor,
    set: &PolicySet,
    comment: &str,
) -> Result<i64, CliError> {
    let based_on = cache.get(store).await?.version;
    let now = time::OffsetDateTime::now_utc();
    let (saved, warnings) = policy::save(store, actor, set, based_on, comment, now).await?;
    print_warnings(&warnings);
    Ok(saved.version)
}

async fn what_if(store: &dyn Store, cache: &PolicyCache, args: WhatIfArgs) -> Result<(), CliError> {
    let WhatIfArgs {
        user,
        app,
        ip,
        country,
        platform,
        client,
        sign_in_risk,
        user_risk,
        device_compliant,
        device,
        mfa,
        json,
    } = args;
    let client = match client.as_deref() {
        Some("app") => Some("mobile_desktop".to_string()),
        _ => client,
    };
    let w = WhatIf {
        user,
        app,
        ip,
        country,
        platform: parse::<DevicePlatform>("platform", platform)?,
        client: parse::<ClientAppType>("client", client)?,
        sign_in_risk: parse::<RiskLevel>("sign-in-risk", sign_in_risk)?,
        user_risk: parse::<RiskLevel>("user-risk", user_risk)?,
        device_compliant,
        device,
        mfa_done: mfa,
    };
    let r = what_if::what_if(store, cache, &w, time::OffsetDateTime::now_utc()).await?;
    if json {
        println!("{}", pretty(&r)?);
        return Ok(());
    }
    println!(
        "decision: {} (policy set version {})",
        r["outcome"].as_str().unwrap_or_default(),
        r["version"]
    );
    if r["outcome"] != "allow" {
        println!("  {}", r["decision"]);
    }
    for rec in r["records"].as_array().into_iter().flatten() {
        let id = rec["policy_id"].as_str().unwrap_or_default();
        let state = rec["state"].as_str().unwrap_or_default();
        let line = if rec["applied"] == true {
            format!(
                "applied: {}",
                rec["result"]["result"].as_str().unwrap_or_default()
            )
        } else if let Some(why) = rec["excluded_by"].as_str() {
            format!("not applied: {why}")
        } else {
            rec["result"]["result"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        println!("  {id:<32} {state:<12} {line}");
    }
    Ok(())
}

async fn replay(store: &dyn Store, draft: &str, days: u32, json: bool) -> Result<(), CliError> {
    let (text, yaml) = read(draft)?;
    let set = policy::validate(store, &text, yaml).await?;
    let r = what_if::replay(store, &set, days, time::OffsetDateTime::now_utc()).await?;
    if json {
        println!("{}", pretty(&r)?);
        return Ok(());
    }
    println!(
        "{} sign-ins replayed over {} days ({} without recorded signals skipped): {} decided differently",
        r.evaluated, r.days, r.skipped, r.changed
    );
    println!(
        "  newly blocked {}, no longer blocked {}, newly challenged {}, no longer challenged {}",
        r.newly_blocked, r.no_longer_blocked, r.newly_challenged, r.no_longer_challenged
    );
    if !r.users_affected.is_empty() {
        println!("  users affected: {}", r.users_affected.join(", "));
    }
    for c in &r.changes {
        println!(
            "  {} {:<24} {} -> {}",
            c.at, c.username, c.before["outcome"], c.after["outcome"]
        );
    }
    Ok(())
}
