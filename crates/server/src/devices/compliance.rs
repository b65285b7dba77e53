//! The compliance configuration (policies per platform and the no-policy default), kept as
//! the audited setting `devices.compliance`, and the judgement of one device against it.

use crate::error::AppError;
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
