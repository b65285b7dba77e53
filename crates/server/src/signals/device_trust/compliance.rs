//! The compliance configuration (policies per platform and the no-policy default), kept as
//! the audited setting `devices.compliance`, and the judgement of one device against it.

use crate::edge::error::AppError;
use crate::state::AppState;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trustplane_core::audit::AuditDraft;
use trustplane_core::device::compliance::evaluate;
use trustplane_core::device::{
    ComplianceInput, ComplianceOutcome, CompliancePolicy, Device, NoPolicyDefault, Posture,
};

pub const SETTING: &str = "devices.compliance";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplianceConfig {
    /// What a device no policy applies to is (default: non-compliant).
    #[serde(default)]
    pub no_policy: NoPolicyDefault,
    #[serde(default)]
    pub policies: Vec<CompliancePolicy>,
}

impl ComplianceConfig {
    /// Refuses two policies for one platform, empty ids and absurd periods.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = Vec::new();
        for p in &self.policies {
            if p.id.trim().is_empty() || p.name.trim().is_empty() {
                return Err("every compliance policy needs an id and a name".into());
            }
            if seen.contains(&p.platform) {
                return Err(format!(
                    "two compliance policies for the platform {}: keep one per platform",
                    p.platform.as_str()
                ));
            }
            seen.push(p.platform);
            if p.validity_period_days == 0 || p.validity_period_days > 365 {
                return Err(format!(
                    "policy {}: validity_period_days must be 1 to 365",
                    p.id
                ));
            }
            if p.grace_period_days > 90 {
                return Err(format!(
                    "policy {}: grace_period_days must be 0 to 90",
                    p.id
                ));
            }
        }
        Ok(())
    }

    pub fn policy_for(&self, d: &Device) -> Option<&CompliancePolicy> {
        self.policies.iter().find(|p| p.platform == d.platform)
    }
}

pub async fn load(state: &AppState) -> Result<ComplianceConfig, AppError> {
    match state.store.get_setting(SETTING).await? {
        None => Ok(ComplianceConfig::default()),
        Some(json) => serde_json::from_str(&json).map_err(|e| {
            tracing::error!(error = %e, "the stored device compliance configuration is unreadable");
            AppError::internal()
        }),
    }
}

pub async fn save(
    state: &AppState,
    cfg: &ComplianceConfig,
    audit: AuditDraft,
) -> Result<(), AppError> {
    cfg.validate()
        .map_err(|m| AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_compliance", m))?;
    let json = serde_json::to_string(cfg).map_err(|_| AppError::internal())?;
    state
        .store
        .put_setting(SETTING, &json, audit.after(cfg))
        .await?;
    Ok(())
}

/// Judges `device` now, from its latest posture.
pub fn judge(
    cfg: &ComplianceConfig,
    device: &Device,
    posture: Option<&Posture>,
    now: time::OffsetDateTime,
) -> ComplianceOutcome {
    evaluate(&ComplianceInput {
        device,
        policy: cfg.policy_for(device),
        no_policy: cfg.no_policy,
        posture,
        previous: &device.compliance,
        now,
    })
}

/// Judges every enabled device again from what it last reported: grace periods run out and
/// silent devices pass their validity period without a new report. Changes are recorded (and
/// reach continuous access); returns how many devices changed.
pub async fn rejudge_all(state: &AppState) -> Result<u64, AppError> {
    let cfg = load(state).await?;
    let now = state.now();
    let mut changed = 0u64;
    let mut before = None;
    loop {
        let page = state
            .store
            .list_devices(&trustplane_store::DeviceQuery {
                state: Some(trustplane_core::device::DeviceState::Enabled),
                before,
                limit: 500,
                ..Default::default()
            })
            .await?;
        for d in &page {
            let posture = crate::signals::device_trust::profiles::stored_posture(state, d)
                .await?
                .map(|(p, _)| p);
            let outcome = judge(&cfg, d, posture.as_ref(), now);
            if outcome.state != d.compliance {
                state
                    .store
                    .set_device_compliance(d.id, &outcome.state, d.machine_risk, None)
                    .await?;
                changed += 1;
                notify_owner(state, &cfg, d, &outcome).await;
                if outcome.access_changed_from(&d.compliance) {
                    tracing::info!(device = %d.id, compliance = outcome.state.name(),
                        "device compliance changed on re-judgement");
                }
            }
        }
        if page.len() < 500 {
            break;
        }
        before = page.last().map(|d| d.id);
    }
    Ok(changed)
}

/// Re-judges every device every `every` (0: never; tests call [`rejudge_all`]).
pub fn start(state: &AppState, every: std::time::Duration) {
    if every.is_zero() {
        return;
    }
    let weak = std::sync::Arc::downgrade(&state.0);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(inner) = weak.upgrade() else {
                return;
            };
            if let Err(e) = rejudge_all(&crate::state::AppState(inner)).await {
                tracing::warn!(error = %e.message, "device compliance re-judgement failed");
            }
        }
    });
}

/// Tells the device's owner by email when it entered its grace period or became
/// non-compliant, with what to fix (when the policy says to notify and a mailer and an
/// address exist). A failure to send is logged, never fatal: the judgement stands.
pub async fn notify_owner(
    state: &AppState,
    cfg: &ComplianceConfig,
    device: &Device,
    outcome: &ComplianceOutcome,
) {
    // Entering grace or becoming non-compliant (from any other state) is news to the owner.
    let news = outcome.state != trustplane_core::device::ComplianceState::Compliant
        && outcome.state.name() != device.compliance.name();
    if !news || !cfg.policy_for(device).is_some_and(|p| p.notify_user) {
        return;
    }
    let Some(mailer) = state.mailer.as_ref() else {
        return;
    };
    let owner = match state.store.get_user(device.owner_id).await {
        Ok(Some(u)) => u,
        _ => return,
    };
    let Some(to) = owner.email.as_deref() else {
        return;
    };
    let when = match &outcome.state {
        trustplane_core::device::ComplianceState::InGrace { until, .. } => format!(
            "It can still be used until {} (UTC); after that, applications that require a \
             compliant device will refuse it.",
            crate::edge::pages::fmt_time(*until)
        ),
        _ => "Applications that require a compliant device refuse it until it is fixed.".into(),
    };
    let fixes: String = outcome
        .reasons
        .iter()
        .map(|r| format!("  - {}\n", r.message))
        .collect();
    let body = format!(
        "Hello {},\n\nYour device \"{}\" does not meet {}'s requirements.\n{when}\n\nWhat to fix:\n{fixes}\nThe trustplane agent reports the change by itself once it is fixed.\n",
        owner.display_name, device.display_name, state.cfg.organisation
    );
    let subject = format!("Your device {} needs attention", device.display_name);
    if let Err(e) = mailer.send(to, &subject, &body).await {
        tracing::warn!(error = %e, device = %device.id, "cannot send the compliance notice");
    }
}
