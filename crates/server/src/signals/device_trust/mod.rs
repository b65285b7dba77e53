//! Device trust (issue 15): the device CA (`ca.rs`), registration and the agent's signed
//! requests (`agent.rs`, `proof.rs`, `posture.rs`), compliance (`compliance.rs`), the admin
//! API (`admin.rs`), and the device a forward-auth request comes from (`identify`).

pub mod admin;
pub mod agent;
pub mod ca;
pub mod compliance;
pub mod edr;
pub mod posture;
pub mod profiles;
pub mod proof;

use crate::state::AppState;
use axum::Router;
use axum::routing::{get, post};
use time::OffsetDateTime;
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_core::device::{Device, normalise_fingerprint};
use trustplane_store::{Application, OidcClient, StoreError};

/// The device API, nested under `/api/v1`.
pub fn api_router() -> Router<AppState> {
    Router::new()
        .route("/devices", get(admin::list))
        .route("/devices/register", post(agent::register))
        .route(
            "/devices/compliance",
            get(admin::get_compliance).put(admin::put_compliance),
        )
        .route("/devices/profiles", get(profiles::get).put(profiles::put))
        .route("/devices/{id}", get(admin::get).delete(admin::delete))
        .route("/devices/{id}/disable", post(admin::disable))
        .route("/devices/{id}/enable", post(admin::enable))
        .route("/devices/{id}/reports", post(agent::report))
        .route("/devices/{id}/profiles", get(agent::profiles))
        .route("/devices/{id}/enroll", post(agent::enroll))
        .route("/devices/{id}/renew", post(agent::renew))
        .route("/edr/connectors", get(edr::list).post(edr::create))
        .route("/edr/connectors/{id}", axum::routing::delete(edr::delete))
        .route("/edr/events", post(edr::event))
}

/// The device a proxy-verified client certificate belongs to, when it is one trustplane
/// issued to an enabled device whose current certificate it is.
pub async fn identify(
    state: &AppState,
    fingerprint_hex: Option<&str>,
    now: OffsetDateTime,
) -> Result<Option<Device>, StoreError> {
    let Some(fp) = fingerprint_hex.and_then(normalise_fingerprint) else {
        return Ok(None);
    };
    let device = state.store.device_by_fingerprint(&fp).await?;
    let Some(d) = device.filter(|d| d.signals(now).is_some()) else {
        return Ok(None);
    };
    if now - d.last_seen > time::Duration::minutes(5) {
        state.store.touch_device(d.id, now).await?;
    }
    Ok(Some(d))
}

/// Creates the application and the public client the agent registers through, unless they
/// exist (called at start). Conditional access policies that target the application
/// `trustplane-devices` decide what registering a device requires (e.g. MFA).
pub async fn ensure_agent_client(
    store: &dyn trustplane_store::Store,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    if store
        .get_application(agent::DEVICES_APP_ID)
        .await?
        .is_none()
    {
        let app = Application {
            id: agent::DEVICES_APP_ID.into(),
            name: "Device registration".into(),
            allowed_hosts: Vec::new(),
            sensitivity_label: None,
            created_at: now,
        };
        let audit = AuditDraft::new(
            &Actor::system(),
            "application.create",
            "application",
            Some(app.id.clone()),
        );
        match store.create_application(&app, audit).await {
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    if store
        .get_oidc_client(agent::AGENT_CLIENT_ID)
        .await?
        .is_none()
    {
        let client = OidcClient {
            id: agent::AGENT_CLIENT_ID.into(),
            name: "trustplane agent".into(),
            app_id: agent::DEVICES_APP_ID.into(),
            secret_hash: None,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            scopes: vec![agent::REGISTER_SCOPE.into()],
            grant_types: vec!["urn:ietf:params:oauth:grant-type:device_code".into()],
            token_endpoint_auth_method: "none".into(),
            id_token_alg: "ES256".into(),
            groups_claim: false,
            created_at: now,
            updated_at: now,
        };
        let audit = AuditDraft::new(
            &Actor::system(),
            "oidc_client.create",
            "oidc_client",
            Some(client.id.clone()),
        );
        match store.create_oidc_client(&client, audit).await {
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
