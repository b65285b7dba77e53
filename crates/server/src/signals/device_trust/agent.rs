//! What the trustplane agent calls: registration (with an access token from the device
//! authorization grant of the built-in `trustplane-agent` client), then posture reports,
//! profiles, enrollment, certificate renewal and unregistration, each signed with the device
//! key (`proof.rs`). The protocol is `docs/device-protocol.md`.

use crate::edge::error::AppError;
use crate::signals::device_trust::ca;
use crate::signals::device_trust::compliance;
use crate::signals::device_trust::posture::PostureReport;
use crate::signals::device_trust::proof;
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use trustplane_core::access::{DevicePlatform, TrustType};
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_core::device::{ComplianceState, Device, DeviceState, MachineRisk};
use trustplane_core::identity::UserStatus;
use uuid::Uuid;

/// The built-in public client the agent registers with.
pub const AGENT_CLIENT_ID: &str = "trustplane-agent";
/// The application conditional access policies target to gate device registration.
pub const DEVICES_APP_ID: &str = "trustplane-devices";
/// The scope of a registration token.
pub const REGISTER_SCOPE: &str = "device.register";

fn invalid(message: impl Into<String>) -> AppError {
    AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_device", message)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub csr_pem: String,
    pub display_name: String,
    pub platform: String,
    #[serde(default)]
    pub os_version: Option<String>,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub manufacturer: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
}

/// A short printable text from a device: trimmed, 1..=max characters, no control characters.
pub fn device_text(what: &str, v: &str, max: usize) -> Result<String, AppError> {
    let t = v.trim();
    if t.is_empty() || t.chars().count() > max || t.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{what} must be 1 to {max} printable characters."
        )));
    }
    Ok(t.to_string())
}

fn optional_text(what: &str, v: Option<&str>) -> Result<Option<String>, AppError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => device_text(what, s, 128).map(Some),
    }
}

pub fn platform(v: &str) -> Result<DevicePlatform, AppError> {
    DevicePlatform::ALL
        .into_iter()
        .find(|p| p.as_str() == v)
        .ok_or_else(|| {
            invalid(format!(
                "Unknown platform `{v}` (android, ios, windows, macos or linux)."
            ))
        })
}

/// `POST /api/v1/devices/register`.
pub async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let unauthorised = |m: &str| AppError::new(StatusCode::UNAUTHORIZED, "invalid_token", m);
    let token = crate::enforce::oidc::endpoints::bearer(&headers).ok_or_else(|| {
        unauthorised("Register with an access token of the trustplane-agent client (device authorization grant).")
    })?;
    let iss = crate::enforce::oidc::issuer(&state, &headers);
    let (t, _) = crate::enforce::oidc::token_issuer::live_access_token(&state, &iss, token)
        .await
        .map_err(|_| unauthorised("The access token is invalid, expired or revoked."))?
        .ok_or_else(|| unauthorised("The access token is invalid, expired or revoked."))?;
    if t.client_id != AGENT_CLIENT_ID
        || !crate::enforce::oidc::token_issuer::has_scope(&t.scope, REGISTER_SCOPE)
    {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "Only a token of the trustplane-agent client with the device.register scope may register a device.",
        ));
    }
    let user = match t.user_id {
        Some(u) => state.store.get_user(u).await?,
        None => None,
    }
    .filter(|u| u.status == UserStatus::Enabled)
    .ok_or_else(|| unauthorised("The token's user does not exist or is disabled."))?;
    let req: RegisterRequest = serde_json::from_slice(&body)
        .map_err(|e| invalid(format!("The registration is not valid JSON: {e}")))?;
    let now = state.now();
    let id = Uuid::now_v7();
    let authority = ca::load(&state).await?;
    let issued = authority.issue(&req.csr_pem, id, now)?;
    let mut device = Device {
        id,
        owner_id: user.id,
        display_name: device_text("display_name", &req.display_name, 64)?,
        platform: platform(&req.platform)?,
        os_version: optional_text("os_version", req.os_version.as_deref())?,
        hostname: optional_text("hostname", req.hostname.as_deref())?,
        manufacturer: optional_text("manufacturer", req.manufacturer.as_deref())?,
        model: optional_text("model", req.model.as_deref())?,
        trust_type: TrustType::Registered,
        state: DeviceState::Enabled,
        cert_serial: issued.serial_hex.clone(),
        cert_fingerprint: issued.fingerprint.clone(),
        cert_not_after: issued.not_after,
        certificate_pem: issued.pem.clone(),
        first_seen: now,
        last_seen: now,
        last_report_at: None,
        compliance: ComplianceState::Compliant,
        machine_risk: MachineRisk::None,
    };
    let cfg = compliance::load(&state).await?;
    device.compliance = compliance::judge(&cfg, &device, None, now).state;
    let actor = Actor::user(user.id, &user.username, ctx_ip(&state, &headers));
    let audit = AuditDraft::new(&actor, "device.register", "device", Some(id.to_string())).after(
        &serde_json::json!({
            "display_name": device.display_name,
            "platform": device.platform.as_str(),
            "owner": user.username,
            "cert_serial": issued.serial_hex,
            "cert_fingerprint": issued.fingerprint,
        }),
    );
    state.store.create_device(&device, audit).await?;
    tracing::info!(device = %id, user = %user.id, "device registered");
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "device_id": id,
            "certificate_pem": issued.pem,
            "ca_pem": authority.certificate_pem,
            "not_after": issued.not_after.unix_timestamp(),
            "compliance": device.compliance.name(),
        })),
    )
        .into_response())
}

fn ctx_ip(state: &AppState, headers: &HeaderMap) -> Option<String> {
    state.client_ip(None, headers).map(|i| i.to_string())
}

/// The URL the agent signed: the public base URL and the path.
fn htu(state: &AppState, headers: &HeaderMap, path: &str) -> String {
    format!("{}{path}", crate::enforce::oidc::issuer(state, headers))
}

/// The device a proof proves, which must be the one the path names.
async fn proven(
    state: &AppState,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    id: Uuid,
    body: &[u8],
) -> Result<Device, AppError> {
    let device = proof::verify(state, headers, method, &htu(state, headers, path), body).await?;
    if device.id != id {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "wrong_device",
            "A device may only act on itself.",
        ));
    }
    Ok(device)
}

/// `POST /api/v1/devices/{id}/reports`: a posture report; answers the compliance verdict.
pub async fn report(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let path = format!("/api/v1/devices/{id}/reports");
    let device = proven(&state, &headers, "POST", &path, id, &body).await?;
    let report: PostureReport = serde_json::from_slice(&body)
        .map_err(|e| invalid(format!("The posture report is not valid: {e}")))?;
    report.validate().map_err(invalid)?;
    let now = state.now();
    let (posture, settings) =
        crate::signals::device_trust::profiles::judged_posture(&state, &device, &report, now)
            .await?;
    let cfg = compliance::load(&state).await?;
    let outcome = compliance::judge(&cfg, &device, Some(&posture), now);
    let stored = serde_json::to_string(&report).map_err(|_| AppError::internal())?;
    state
        .store
        .set_device_compliance(
            id,
            &outcome.state,
            device.machine_risk,
            Some((now, &stored)),
        )
        .await?;
    state.store.touch_device(id, now).await?;
    compliance::notify_owner(&state, &cfg, &device, &outcome).await;
    if outcome.access_changed_from(&device.compliance) {
        tracing::info!(device = %id, compliance = outcome.state.name(),
            "device compliance changed");
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({
            "compliance": outcome.state.name(),
            "reasons": outcome.reasons.iter().map(|r| serde_json::json!({
                "code": r.code, "message": r.message,
            })).collect::<Vec<_>>(),
            "settings": settings,
        })),
    )
        .into_response())
}

/// `GET /api/v1/devices/{id}/profiles`: the configuration profiles assigned to the device.
pub async fn profiles(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let path = format!("/api/v1/devices/{id}/profiles");
    let device = proven(&state, &headers, "GET", &path, id, &[]).await?;
    let profiles = crate::signals::device_trust::profiles::assigned(&state, &device).await?;
    Ok(Json(serde_json::json!({ "profiles": profiles })).into_response())
}

/// `POST /api/v1/devices/{id}/enroll`: the device enters management.
pub async fn enroll(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let path = format!("/api/v1/devices/{id}/enroll");
    let device = proven(&state, &headers, "POST", &path, id, &[]).await?;
    let actor = owner_actor(&state, &device, &headers).await?;
    let audit = AuditDraft::new(&actor, "device.enroll", "device", Some(id.to_string()));
    state
        .store
        .set_device_trust(id, TrustType::Managed, audit)
        .await?;
    Ok(Json(serde_json::json!({ "trust_type": "managed" })).into_response())
}

async fn owner_actor(
    state: &AppState,
    device: &Device,
    headers: &HeaderMap,
) -> Result<Actor, AppError> {
    let owner = state
        .store
        .get_user(device.owner_id)
        .await?
        .ok_or_else(|| AppError::not_found("user"))?;
    Ok(Actor::user(
        owner.id,
        &owner.username,
        ctx_ip(state, headers),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenewRequest {
    csr_pem: String,
}

/// `POST /api/v1/devices/{id}/renew`: a new certificate for a new key, proven with the
/// current one.
pub async fn renew(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let path = format!("/api/v1/devices/{id}/renew");
    let device = proven(&state, &headers, "POST", &path, id, &body).await?;
    let req: RenewRequest = serde_json::from_slice(&body)
        .map_err(|e| invalid(format!("The renewal is not valid JSON: {e}")))?;
    let now = state.now();
    let issued = ca::load(&state).await?.issue(&req.csr_pem, id, now)?;
    let renewed = Device {
        cert_serial: issued.serial_hex.clone(),
        cert_fingerprint: issued.fingerprint.clone(),
        cert_not_after: issued.not_after,
        certificate_pem: issued.pem.clone(),
        ..device.clone()
    };
    let actor = owner_actor(&state, &device, &headers).await?;
    let audit = AuditDraft::new(
        &actor,
        "device.certificate.renew",
        "device",
        Some(id.to_string()),
    )
    .before(&serde_json::json!({ "cert_serial": device.cert_serial }))
    .after(&serde_json::json!({ "cert_serial": issued.serial_hex }));
    if !state
        .store
        .renew_device_certificate(id, &renewed, audit)
        .await?
    {
        return Err(AppError::not_found("device"));
    }
    Ok(Json(serde_json::json!({
        "certificate_pem": issued.pem,
        "not_after": issued.not_after.unix_timestamp(),
    }))
    .into_response())
}

/// `DELETE /api/v1/devices/{id}` with a device proof: the device unregisters itself.
pub async fn unregister(
    state: &AppState,
    id: Uuid,
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    let path = format!("/api/v1/devices/{id}");
    let device = proven(state, headers, "DELETE", &path, id, &[]).await?;
    let actor = owner_actor(state, &device, headers).await?;
    let audit = AuditDraft::new(&actor, "device.unregister", "device", Some(id.to_string()));
    state.store.delete_device(id, audit).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
