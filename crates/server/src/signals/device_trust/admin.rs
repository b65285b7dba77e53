//! Admin API for devices: list with filters and keyset paging, detail with the latest posture,
//! disable/enable, delete (or a device unregistering itself), stale cleanup, and the compliance
//! configuration.

use crate::edge::auth::ApiCaller;
use crate::edge::error::AppError;
use crate::signals::device_trust::compliance::{self, ComplianceConfig};
use crate::state::AppState;
use axum::Json;
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use time::OffsetDateTime;
use trustplane_core::audit::AuditDraft;
use trustplane_core::device::{Device, DeviceState};
use trustplane_core::identity::Permission;
use trustplane_store::DeviceQuery;
use uuid::Uuid;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    pub owner: Option<Uuid>,
    pub state: Option<String>,
    pub platform: Option<String>,
    pub compliance: Option<String>,
    pub search: Option<String>,
    pub inactive_days: Option<u32>,
    pub before: Option<Uuid>,
    pub limit: Option<i64>,
}

fn bad(message: impl Into<String>) -> AppError {
    AppError::new(StatusCode::BAD_REQUEST, "invalid_query", message)
}

/// The store query for list parameters (shared by the API, the console and the CLI).
pub fn query(p: &ListParams, now: OffsetDateTime) -> Result<DeviceQuery, AppError> {
    let state = match p.state.as_deref() {
        None => None,
        Some(s) => {
            Some(DeviceState::parse(s).ok_or_else(|| bad("state must be enabled or disabled"))?)
        }
    };
    let platform = match p.platform.as_deref() {
        None => None,
        Some(s) => Some(crate::signals::device_trust::agent::platform(s)?),
    };
    if let Some(c) = p.compliance.as_deref()
        && !matches!(c, "compliant" | "in_grace" | "non_compliant")
    {
        return Err(bad(
            "compliance must be compliant, in_grace or non_compliant",
        ));
    }
    Ok(DeviceQuery {
        owner_id: p.owner,
        state,
        platform,
        compliance: p.compliance.clone(),
        search: p.search.clone().filter(|s| !s.trim().is_empty()),
        last_seen_before: p
            .inactive_days
            .map(|d| now - time::Duration::days(i64::from(d))),
        before: p.before,
        limit: p.limit.unwrap_or(100).clamp(1, 1000),
    })
}

/// A device as the API shows it (the certificate itself is left out).
pub fn view(d: &Device) -> serde_json::Value {
    serde_json::json!({
        "id": d.id,
        "owner_id": d.owner_id,
        "display_name": d.display_name,
        "platform": d.platform.as_str(),
        "os_version": d.os_version,
        "hostname": d.hostname,
        "manufacturer": d.manufacturer,
        "model": d.model,
        "trust_type": d.trust_type.as_str(),
        "state": d.state.as_str(),
        "cert_serial": d.cert_serial,
        "cert_fingerprint": d.cert_fingerprint,
        "cert_not_after": d.cert_not_after.unix_timestamp(),
        "first_seen": d.first_seen.unix_timestamp(),
        "last_seen": d.last_seen.unix_timestamp(),
        "last_report_at": d.last_report_at.map(|t| t.unix_timestamp()),
        "compliance": d.compliance,
        "machine_risk": d.machine_risk.as_str(),
    })
}

/// `GET /api/v1/devices`.
pub async fn list(
    State(state): State<AppState>,
    caller: ApiCaller,
    Query(p): Query<ListParams>,
) -> Result<Json<serde_json::Value>, AppError> {
    caller.require(Permission::DevicesRead)?;
    let q = query(&p, state.now())?;
    let devices = state.store.list_devices(&q).await?;
    let next = (devices.len() as i64 == q.limit)
        .then(|| devices.last().map(|d| d.id))
        .flatten();
    Ok(Json(serde_json::json!({
        "devices": devices.iter().map(view).collect::<Vec<_>>(),
        "next_before": next,
    })))
}

/// `GET /api/v1/devices/{id}`: the device and its latest posture report.
pub async fn get(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<serde_json::Value>, AppError> {
    caller.require(Permission::DevicesRead)?;
    let d = state
        .store
        .get_device(id)
        .await?
        .ok_or_else(|| AppError::not_found("device"))?;
    let posture = state
        .store
        .device_posture(id)
        .await?
        .and_then(|p| serde_json::from_str::<serde_json::Value>(&p).ok());
    let mut v = view(&d);
    v["posture"] = posture.unwrap_or(serde_json::Value::Null);
    Ok(Json(v))
}

async fn set_state(
    state: &AppState,
    caller: &ApiCaller,
    id: Uuid,
    to: DeviceState,
) -> Result<Json<serde_json::Value>, AppError> {
    caller.require(Permission::DevicesWrite)?;
    let action = match to {
        DeviceState::Disabled => "device.disable",
        DeviceState::Enabled => "device.enable",
    };
    let audit = AuditDraft::new(&caller.actor(), action, "device", Some(id.to_string()));
    if !state.store.set_device_state(id, to, audit).await?
        && state.store.get_device(id).await?.is_none()
    {
        return Err(AppError::not_found("device"));
    }
    Ok(Json(serde_json::json!({ "id": id, "state": to.as_str() })))
}

/// `POST /api/v1/devices/{id}/disable`: the device stops counting at once (its certificate
/// proves nothing any more).
pub async fn disable(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<serde_json::Value>, AppError> {
    set_state(&state, &caller, id, DeviceState::Disabled).await
}

/// `POST /api/v1/devices/{id}/enable`.
pub async fn enable(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<serde_json::Value>, AppError> {
    set_state(&state, &caller, id, DeviceState::Enabled).await
}

/// `DELETE /api/v1/devices/{id}`: an administrator deletes it, or the device (with a device
/// proof) unregisters itself.
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    req: Request,
) -> Result<Response, AppError> {
    let (mut parts, _) = req.into_parts();
    if parts
        .headers
        .contains_key(crate::signals::device_trust::proof::HEADER)
    {
        return crate::signals::device_trust::agent::unregister(&state, id, &parts.headers).await;
    }
    let caller = ApiCaller::from_request_parts(&mut parts, &state).await?;
    caller.require(Permission::DevicesWrite)?;
    let audit = AuditDraft::new(
        &caller.actor(),
        "device.delete",
        "device",
        Some(id.to_string()),
    );
    if !state.store.delete_device(id, audit).await? {
        return Err(AppError::not_found("device"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v1/devices/compliance`.
pub async fn get_compliance(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<ComplianceConfig>, AppError> {
    caller.require(Permission::DevicesRead)?;
    Ok(Json(compliance::load(&state).await?))
}

/// `PUT /api/v1/devices/compliance`: replaces the compliance policies and the no-policy
/// default; every device is judged again on its next report.
pub async fn put_compliance(
    State(state): State<AppState>,
    caller: ApiCaller,
    body: axum::body::Bytes,
) -> Result<Json<ComplianceConfig>, AppError> {
    caller.require(Permission::DevicesWrite)?;
    let cfg: ComplianceConfig = serde_json::from_slice(&body).map_err(|e| {
        AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_compliance",
            format!("The compliance configuration is not valid: {e}"),
        )
    })?;
    let audit = AuditDraft::new(
        &caller.actor(),
        "device.compliance.update",
        "setting",
        Some(compliance::SETTING.into()),
    );
    compliance::save(&state, &cfg, audit).await?;
    Ok(Json(cfg))
}
