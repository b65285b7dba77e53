//! Configuration profiles (the audited setting `devices.profiles`): which are assigned to a
//! device (its platform, its owner's groups), and how its latest report measures up to them.

use crate::edge::auth::ApiCaller;
use crate::edge::error::AppError;
use crate::signals::device_trust::posture::PostureReport;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use trustplane_core::audit::AuditDraft;
use trustplane_core::device::{
    ConfigurationProfile, Device, SettingResult, SettingStatus, evaluate_setting,
};
use trustplane_core::identity::Permission;

pub const SETTING: &str = "devices.profiles";

pub async fn load(state: &AppState) -> Result<Vec<ConfigurationProfile>, AppError> {
    match state.store.get_setting(SETTING).await? {
        None => Ok(Vec::new()),
        Some(j) => serde_json::from_str(&j).map_err(|e| {
            tracing::error!(error = %e, "the stored configuration profiles are unreadable");
            AppError::internal()
        }),
    }
}

/// The profiles assigned to `device`.
pub async fn assigned(
    state: &AppState,
    device: &Device,
) -> Result<Vec<ConfigurationProfile>, AppError> {
    let groups: Vec<uuid::Uuid> = state.store.group_ids_of(device.owner_id).await?;
    Ok(load(state)
        .await?
        .into_iter()
        .filter(|p| p.applies_to(device.platform, &groups))
        .collect())
}

/// Every assigned setting judged from the report.
pub fn results(profiles: &[ConfigurationProfile], report: &PostureReport) -> Vec<SettingResult> {
    profiles
        .iter()
        .flat_map(|p| {
            p.settings
                .iter()
                .map(|d| evaluate_setting(&p.id, d, report.observation(d.observed_by())))
        })
        .collect()
}

/// The names of the settings that drifted or could not be read (what compliance counts).
pub fn failing(results: &[SettingResult]) -> Vec<String> {
    let mut names: Vec<String> = results
        .iter()
        .filter(|r| matches!(r.status, SettingStatus::Drift | SettingStatus::Error))
        .map(|r| r.setting.clone())
        .collect();
    names.dedup();
    names
}

fn validate(list: &[ConfigurationProfile]) -> Result<(), String> {
    let mut ids = Vec::new();
    for p in list {
        if p.id.trim().is_empty() || p.name.trim().is_empty() {
            return Err("every profile needs an id and a name".into());
        }
        if ids.contains(&p.id) {
            return Err(format!("two profiles have the id {}", p.id));
        }
        ids.push(p.id.clone());
        if p.platforms.is_empty() || p.settings.is_empty() {
            return Err(format!(
                "profile {}: name at least one platform and one setting",
                p.id
            ));
        }
        if p.settings.len() > 64 {
            return Err(format!("profile {}: at most 64 settings", p.id));
        }
    }
    Ok(())
}

/// `GET /api/v1/devices/profiles`.
pub async fn get(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<Vec<ConfigurationProfile>>, AppError> {
    caller.require(Permission::DevicesRead)?;
    Ok(Json(load(&state).await?))
}

/// `PUT /api/v1/devices/profiles`: replaces every profile.
pub async fn put(
    State(state): State<AppState>,
    caller: ApiCaller,
    body: axum::body::Bytes,
) -> Result<Json<Vec<ConfigurationProfile>>, AppError> {
    caller.require(Permission::DevicesWrite)?;
    let invalid =
        |m: String| AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_profiles", m);
    let list: Vec<ConfigurationProfile> = serde_json::from_slice(&body)
        .map_err(|e| invalid(format!("The profiles are not valid: {e}")))?;
    validate(&list).map_err(invalid)?;
    let json = serde_json::to_string(&list).map_err(|_| AppError::internal())?;
    let audit = AuditDraft::new(
        &caller.actor(),
        "device.profiles.update",
        "setting",
        Some(SETTING.into()),
    )
    .after(&list);
    state.store.put_setting(SETTING, &json, audit).await?;
    Ok(Json(list))
}

/// What compliance judges for `device` from a report: the posture with the assigned profile
/// settings that drifted.
pub async fn judged_posture(
    state: &AppState,
    device: &Device,
    report: &PostureReport,
    received_at: time::OffsetDateTime,
) -> Result<(trustplane_core::device::Posture, Vec<SettingResult>), AppError> {
    let mut posture = report.posture(received_at);
    let settings = results(&assigned(state, device).await?, report);
    posture.drifted_settings = failing(&settings);
    Ok((posture, settings))
}

/// The same from the device's stored latest report (`None`: it never reported).
pub async fn stored_posture(
    state: &AppState,
    device: &Device,
) -> Result<Option<(trustplane_core::device::Posture, Vec<SettingResult>)>, AppError> {
    let Some(report) = state
        .store
        .device_posture(device.id)
        .await?
        .and_then(|p| serde_json::from_str::<PostureReport>(&p).ok())
    else {
        return Ok(None);
    };
    let at = device.last_report_at.unwrap_or_else(|| state.now());
    judged_posture(state, device, &report, at).await.map(Some)
}
