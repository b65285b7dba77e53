//! Signals about a request that the decision reads: the breached-password filter, browsers
//! known from earlier sign-ins, and device trust (the device CA, registration, posture,
//! compliance, EDR events, and the device a client certificate belongs to).

pub mod breach;
pub mod device_trust;
pub mod known_browser;

/// The device CA certificate (devices verify the server's client-certificate chain with it).
pub fn router() -> axum::Router<crate::state::AppState> {
    use axum::routing::get;
    axum::Router::new().route("/devices/ca.pem", get(device_trust::ca::ca_pem))
}
