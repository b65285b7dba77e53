//! `trustplane devices list|show|disable|enable|delete|cleanup`: registered devices on the
//! configured database (the same store, rules and audit entries as the admin API).

use crate::CliError;
use clap::Subcommand;
use std::process::ExitCode;
use std::sync::Arc;
use time::OffsetDateTime;
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_core::device::{Device, DeviceState};
use trustplane_server::signals::device_trust::admin::{ListParams, query, view};
use trustplane_store::Store;
use uuid::Uuid;

#[derive(Subcommand)]
pub enum DevicesCmd {
    /// List devices, newest first.
    List {
        /// Only this user's devices (login name).
        #[arg(long)]
        owner: Option<String>,
        /// enabled or disabled.
        #[arg(long)]
        state: Option<String>,
        /// compliant, in_grace or non_compliant.
        #[arg(long)]
        compliance: Option<String>,
        /// Only devices not seen for this many days.
        #[arg(long)]
        inactive_days: Option<u32>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Show one device with its latest posture report (JSON).
    Show { id: Uuid },
    /// Disable a device: its certificate stops counting at once.
    Disable { id: Uuid },
    /// Enable a disabled device.
    Enable { id: Uuid },
    /// Delete a device.
    Delete { id: Uuid },
    /// Disable (or with --delete, delete) devices not seen for N days: stale device cleanup.
    Cleanup {
        #[arg(long)]
        inactive_days: u32,
        /// Delete instead of disable.
        #[arg(long)]
        delete: bool,
        /// Show what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

fn line(d: &Device) -> String {
    format!(
        "{}  {:<24} {:<8} {:<10} {:<9} {:<14} last seen {}",
        d.id,
        d.display_name,
        d.platform.as_str(),
        d.trust_type.as_str(),
        d.state.as_str(),
        d.compliance.name(),
        d.last_seen.date()
    )
}

pub async fn run(
    store: Arc<dyn Store>,
    actor: &Actor,
    cmd: DevicesCmd,
) -> Result<ExitCode, CliError> {
    let now = OffsetDateTime::now_utc();
    let err = |e: trustplane_server::edge::error::AppError| CliError::Other(e.message);
    match cmd {
        DevicesCmd::List {
            owner,
            state,
            compliance,
            inactive_days,
            limit,
            json,
        } => {
            let owner = match owner {
                None => None,
                Some(name) => Some(
                    store
                        .find_user(&name)
                        .await?
                        .ok_or_else(|| CliError::Other(format!("no user `{name}`")))?
                        .id,
                ),
            };
            let p = ListParams {
                owner,
                state,
                compliance,
                inactive_days,
                limit: Some(limit),
                ..Default::default()
            };
            let devices = store.list_devices(&query(&p, now).map_err(err)?).await?;
            if json {
                let v: Vec<_> = devices.iter().map(view).collect();
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else if devices.is_empty() {
                println!("no devices");
            } else {
                for d in &devices {
                    println!("{}", line(d));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DevicesCmd::Show { id } => {
            let d = store
                .get_device(id)
                .await?
                .ok_or_else(|| CliError::Other(format!("no device {id}")))?;
            let mut v = view(&d);
            v["posture"] = store
                .device_posture(id)
                .await?
                .and_then(|p| serde_json::from_str(&p).ok())
                .unwrap_or(serde_json::Value::Null);
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
        DevicesCmd::Disable { id } | DevicesCmd::Enable { id } => {
            let (to, action) = if matches!(cmd, DevicesCmd::Disable { .. }) {
                (DeviceState::Disabled, "device.disable")
            } else {
                (DeviceState::Enabled, "device.enable")
            };
            if store.get_device(id).await?.is_none() {
                return Err(CliError::Other(format!("no device {id}")));
            }
            let audit = AuditDraft::new(actor, action, "device", Some(id.to_string()));
            let changed = store.set_device_state(id, to, audit).await?;
            println!(
                "{id}: {}{}",
                to.as_str(),
                if changed { "" } else { " (already)" }
            );
            Ok(ExitCode::SUCCESS)
        }
        DevicesCmd::Delete { id } => {
            let audit = AuditDraft::new(actor, "device.delete", "device", Some(id.to_string()));
            if !store.delete_device(id, audit).await? {
                return Err(CliError::Other(format!("no device {id}")));
            }
            println!("{id}: deleted");
            Ok(ExitCode::SUCCESS)
        }
        DevicesCmd::Cleanup {
            inactive_days,
            delete,
            dry_run,
        } => cleanup(store.as_ref(), actor, now, inactive_days, delete, dry_run).await,
    }
}

async fn cleanup(
    store: &dyn Store,
    actor: &Actor,
    now: OffsetDateTime,
    inactive_days: u32,
    delete: bool,
    dry_run: bool,
) -> Result<ExitCode, CliError> {
    if inactive_days == 0 {
        return Err(CliError::Other("--inactive-days must be at least 1".into()));
    }
    let p = ListParams {
        inactive_days: Some(inactive_days),
        state: (!delete).then(|| "enabled".to_string()),
        limit: Some(1000),
        ..Default::default()
    };
    let q = query(&p, now).map_err(|e| CliError::Other(e.message))?;
    let verb = if delete { "delete" } else { "disable" };
    let mut n = 0u64;
    loop {
        let page = store.list_devices(&q).await?;
        if page.is_empty() {
            break;
        }
        for d in &page {
            println!("{}{verb} {}", if dry_run { "would " } else { "" }, line(d));
            n += 1;
            if dry_run {
                continue;
            }
            let audit = AuditDraft::new(actor, &format!("device.cleanup.{verb}"), "device", Some(d.id.to_string()))
                .before(&serde_json::json!({ "last_seen": d.last_seen.unix_timestamp(), "inactive_days": inactive_days }));
            if delete {
                store.delete_device(d.id, audit).await?;
            } else {
                store
                    .set_device_state(d.id, DeviceState::Disabled, audit)
                    .await?;
            }
        }
        if dry_run || page.len() < 1000 {
            break;
        }
    }
    println!(
        "{n} device(s) {}{}",
        if dry_run { "would be " } else { "" },
        if delete { "deleted" } else { "disabled" }
    );
    Ok(ExitCode::SUCCESS)
}
