//! Endpoint protection (EDR) connectors: a registered connector posts machine-risk events
//! for devices (`POST /api/v1/edr/events`), signed with its own secret; risk above the device
//! policy's limit makes the device non-compliant at once, which reaches forward-auth through
//! continuous access evaluation.
//!
//! Signature: `X-Trustplane-Connector: <id>`, `X-Trustplane-Timestamp: <unix seconds>` (within
//! 5 minutes) and `X-Trustplane-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`
//! (the GitHub/Stripe webhook scheme). A signature is accepted once.
//!
//! Formats: `generic` (`{"device_id" | "cert_fingerprint" | "hostname", "risk", "threat"}`)
//! and `wazuh` (a Wazuh alert as its integrator posts it: `rule.level` 0–6 → none, 7–9 → low,
//! 10–11 → medium, 12–15 → high; the device is the one whose host name is `agent.name`).

use crate::edge::auth::ApiCaller;
use crate::edge::error::AppError;
use crate::signals::device_trust::compliance;
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Mutex;
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_core::device::{Device, DeviceState, MachineRisk, normalise_fingerprint};
use trustplane_core::identity::Permission;
use trustplane_store::DeviceQuery;
use uuid::Uuid;

pub const SETTING: &str = "edr.connectors";
/// How far the signed timestamp may be from the server's clock (seconds).
const SKEW: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Generic,
    Wazuh,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Connector {
    pub id: Uuid,
    pub name: String,
    pub format: Format,
    /// The signing secret, sealed with a key derived from the master key.
    pub sealed_secret: String,
    pub created_at: i64,
}

/// Signatures seen in the last [`SKEW`] × 2 seconds (per instance).
#[derive(Default)]
pub struct SeenSignatures(Mutex<HashMap<String, i64>>);

impl SeenSignatures {
    fn first_use(&self, sig: &str, now: i64) -> bool {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() > 100_000 {
            m.retain(|_, at| now - *at <= 2 * SKEW);
        }
        m.insert(sig.to_string(), now).is_none()
    }
}

fn seal_context(id: Uuid) -> Vec<u8> {
    format!("edr-connector:{id}").into_bytes()
}

async fn connectors(state: &AppState) -> Result<Vec<Connector>, AppError> {
    match state.store.get_setting(SETTING).await? {
        None => Ok(Vec::new()),
        Some(j) => serde_json::from_str(&j).map_err(|_| AppError::internal()),
    }
}

async fn save(state: &AppState, list: &[Connector], audit: AuditDraft) -> Result<(), AppError> {
    let j = serde_json::to_string(list).map_err(|_| AppError::internal())?;
    state.store.put_setting(SETTING, &j, audit).await?;
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewConnector {
    pub name: String,
    pub format: Format,
}

/// `POST /api/v1/edr/connectors`: registers a connector; its secret is shown once.
pub async fn create(
    State(state): State<AppState>,
    caller: ApiCaller,
    Json(n): Json<NewConnector>,
) -> Result<Response, AppError> {
    caller.require(Permission::DevicesWrite)?;
    let name = crate::signals::device_trust::agent::device_text("name", &n.name, 64)?;
    let id = Uuid::now_v7();
    let secret = crate::platform::secrets::random_token();
    let sealed_secret =
        crate::platform::secrets::seal(&state.device_ca_seal, &seal_context(id), secret.as_bytes())
            .map_err(|_| AppError::internal())?;
    let mut list = connectors(&state).await?;
    list.push(Connector {
        id,
        name: name.clone(),
        format: n.format,
        sealed_secret,
        created_at: state.now().unix_timestamp(),
    });
    let audit = AuditDraft::new(
        &caller.actor(),
        "edr.connector.create",
        "edr_connector",
        Some(id.to_string()),
    )
    .after(&serde_json::json!({ "name": name, "format": n.format }));
    save(&state, &list, audit).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "id": id, "name": name, "format": n.format, "secret": secret })),
    )
        .into_response())
}

/// `GET /api/v1/edr/connectors` (secrets are never shown again).
pub async fn list(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<serde_json::Value>, AppError> {
    caller.require(Permission::DevicesRead)?;
    let v: Vec<_> = connectors(&state)
        .await?
        .into_iter()
        .map(|c| serde_json::json!({ "id": c.id, "name": c.name, "format": c.format, "created_at": c.created_at }))
        .collect();
    Ok(Json(serde_json::json!(v)))
}

/// `DELETE /api/v1/edr/connectors/{id}`.
pub async fn delete(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Response, AppError> {
    caller.require(Permission::DevicesWrite)?;
    let mut list = connectors(&state).await?;
    let before = list.len();
    list.retain(|c| c.id != id);
    if list.len() == before {
        return Err(AppError::not_found("EDR connector"));
    }
    let audit = AuditDraft::new(
        &caller.actor(),
        "edr.connector.delete",
        "edr_connector",
        Some(id.to_string()),
    );
    save(&state, &list, audit).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn unauthorised(m: &str) -> AppError {
    AppError::new(StatusCode::UNAUTHORIZED, "invalid_signature", m)
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// The connector that signed this request, after checking the signature, its age and that it
/// was not seen before.
async fn signed_by(state: &AppState, h: &HeaderMap, body: &[u8]) -> Result<Connector, AppError> {
    let id = header(h, "x-trustplane-connector")
        .and_then(|v| Uuid::parse_str(v).ok())
        .ok_or_else(|| unauthorised("X-Trustplane-Connector must name a registered connector."))?;
    let ts: i64 = header(h, "x-trustplane-timestamp")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| unauthorised("X-Trustplane-Timestamp (unix seconds) is required."))?;
    let sig = header(h, "x-trustplane-signature")
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(|v| hex::decode(v).ok())
        .ok_or_else(|| unauthorised("X-Trustplane-Signature: sha256=<hex> is required."))?;
    let now = state.now().unix_timestamp();
    if (now - ts).abs() > SKEW {
        return Err(unauthorised(
            "The signed timestamp is more than 5 minutes off.",
        ));
    }
    let c = connectors(state)
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| unauthorised("Unknown connector."))?;
    let secret =
        crate::platform::secrets::open(&state.device_ca_seal, &seal_context(id), &c.sealed_secret)
            .map_err(|_| AppError::internal())?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret).map_err(|_| AppError::internal())?;
    mac.update(ts.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&sig)
        .map_err(|_| unauthorised("The signature does not match the body."))?;
    if !state.edr_signatures.first_use(&hex::encode(&sig), now) {
        return Err(unauthorised("This signed event was already received."));
    }
    Ok(c)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GenericEvent {
    #[serde(default)]
    device_id: Option<Uuid>,
    #[serde(default)]
    cert_fingerprint: Option<String>,
    #[serde(default)]
    hostname: Option<String>,
    risk: MachineRisk,
    #[serde(default)]
    threat: Option<serde_json::Value>,
}

/// Which device, what risk, and the threat as received.
struct Event {
    device: Selector,
    risk: MachineRisk,
    threat: serde_json::Value,
}

enum Selector {
    Id(Uuid),
    Fingerprint(String),
    Hostname(String),
}

fn bad(m: impl Into<String>) -> AppError {
    AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_event", m)
}

/// Wazuh's alert level (0–15) as machine risk.
pub fn wazuh_risk(level: u64) -> MachineRisk {
    match level {
        0..=6 => MachineRisk::None,
        7..=9 => MachineRisk::Low,
        10..=11 => MachineRisk::Medium,
        _ => MachineRisk::High,
    }
}

fn parse(format: Format, body: &[u8]) -> Result<Event, AppError> {
    match format {
        Format::Generic => {
            let e: GenericEvent = serde_json::from_slice(body)
                .map_err(|e| bad(format!("The event is not valid: {e}")))?;
            let device = match (e.device_id, e.cert_fingerprint, e.hostname) {
                (Some(id), None, None) => Selector::Id(id),
                (None, Some(f), None) => Selector::Fingerprint(
                    normalise_fingerprint(&f)
                        .ok_or_else(|| bad("cert_fingerprint must be a hex SHA-256"))?,
                ),
                (None, None, Some(h)) => Selector::Hostname(h),
                _ => {
                    return Err(bad(
                        "Name the device by exactly one of device_id, cert_fingerprint or hostname.",
                    ));
                }
            };
            Ok(Event {
                device,
                risk: e.risk,
                threat: e.threat.unwrap_or(serde_json::Value::Null),
            })
        }
        Format::Wazuh => {
            let v: serde_json::Value = serde_json::from_slice(body)
                .map_err(|e| bad(format!("The alert is not JSON: {e}")))?;
            let level = v["rule"]["level"]
                .as_u64()
                .filter(|l| *l <= 15)
                .ok_or_else(|| bad("A Wazuh alert needs rule.level (0 to 15)."))?;
            let host = v["agent"]["name"]
                .as_str()
                .filter(|h| !h.is_empty())
                .ok_or_else(|| bad("A Wazuh alert needs agent.name (the device's host name)."))?;
            Ok(Event {
                device: Selector::Hostname(host.to_string()),
                risk: wazuh_risk(level),
                threat: serde_json::json!({
                    "name": v["rule"]["description"], "rule": v["rule"]["id"],
                    "level": level, "detected_at": v["timestamp"],
                }),
            })
        }
    }
}

async fn find(state: &AppState, s: &Selector) -> Result<Device, AppError> {
    let not_found = || {
        AppError::new(
            StatusCode::NOT_FOUND,
            "unknown_device",
            "No enabled device matches the event.",
        )
    };
    match s {
        Selector::Id(id) => state.store.get_device(*id).await?,
        Selector::Fingerprint(f) => state.store.device_by_fingerprint(f).await?,
        Selector::Hostname(h) => {
            let candidates = state
                .store
                .list_devices(&DeviceQuery {
                    search: Some(h.clone()),
                    state: Some(DeviceState::Enabled),
                    limit: 1000,
                    ..Default::default()
                })
                .await?;
            let exact: Vec<Device> = candidates
                .into_iter()
                .filter(|d| d.hostname.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(h)))
                .collect();
            if exact.len() > 1 {
                return Err(AppError::new(
                    StatusCode::CONFLICT,
                    "ambiguous_device",
                    "Several enabled devices have this host name; send device_id or cert_fingerprint.",
                ));
            }
            exact.into_iter().next()
        }
    }
    .filter(|d| d.state == DeviceState::Enabled)
    .ok_or_else(not_found)
}

/// `POST /api/v1/edr/events`.
pub async fn event(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let connector = signed_by(&state, &headers, &body).await?;
    let e = parse(connector.format, &body)?;
    let mut device = find(&state, &e.device).await?;
    let now = state.now();
    let before = device.machine_risk;
    device.machine_risk = e.risk;
    let posture = crate::signals::device_trust::profiles::stored_posture(&state, &device)
        .await?
        .map(|(p, _)| p);
    let cfg = compliance::load(&state).await?;
    let outcome = compliance::judge(&cfg, &device, posture.as_ref(), now);
    let actor = Actor::system();
    let audit = AuditDraft::new(
        &actor,
        "device.machine_risk",
        "device",
        Some(device.id.to_string()),
    )
    .before(&serde_json::json!({ "machine_risk": before.as_str() }))
    .after(&serde_json::json!({
        "machine_risk": e.risk.as_str(), "connector": connector.name,
        "threat": e.threat, "compliance": outcome.state.name(),
    }));
    state.store.append_audit(audit).await?;
    state
        .store
        .set_device_compliance(device.id, &outcome.state, e.risk, None)
        .await?;
    compliance::notify_owner(&state, &cfg, &device, &outcome).await;
    if outcome.access_changed_from(&device.compliance) {
        tracing::warn!(device = %device.id, risk = e.risk.as_str(), connector = %connector.name,
            "endpoint protection changed the device's compliance");
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({
            "device_id": device.id,
            "machine_risk": e.risk.as_str(),
            "compliance": outcome.state.name(),
        })),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wazuh_levels_map_to_machine_risk() {
        assert_eq!(wazuh_risk(0), MachineRisk::None);
        assert_eq!(wazuh_risk(6), MachineRisk::None);
        assert_eq!(wazuh_risk(7), MachineRisk::Low);
        assert_eq!(wazuh_risk(10), MachineRisk::Medium);
        assert_eq!(wazuh_risk(12), MachineRisk::High);
        assert_eq!(wazuh_risk(15), MachineRisk::High);
    }

    #[test]
    fn events_name_one_device_and_malformed_alerts_are_refused() {
        let ok = parse(Format::Wazuh, br#"{"timestamp":"2026-12-03T05:00:00Z","rule":{"level":12,"description":"Rootkit","id":"510"},"agent":{"name":"dana-laptop"}}"#).unwrap();
        assert_eq!(ok.risk, MachineRisk::High);
        assert!(matches!(ok.device, Selector::Hostname(ref h) if h == "dana-laptop"));
        assert!(
            parse(
                Format::Wazuh,
                br#"{"rule":{"level":99},"agent":{"name":"x"}}"#
            )
            .is_err()
        );
        assert!(parse(Format::Wazuh, br#"{"rule":{"level":3}}"#).is_err());
        assert!(parse(Format::Generic, br#"{"risk":"high"}"#).is_err());
        assert!(parse(Format::Generic, br#"{"risk":"high","hostname":"a","device_id":"0192f0c1-0000-7000-8000-00000000b1a5"}"#).is_err());
        assert!(parse(Format::Generic, br#"{"risk":"extreme","hostname":"a"}"#).is_err());
        let g = parse(
            Format::Generic,
            br#"{"risk":"medium","cert_fingerprint":"AB:CD"}"#,
        );
        assert!(g.is_err(), "a short fingerprint is refused");
    }
}
