//! Enforcement points after sign-in: forward-auth for reverse proxies, the OIDC provider,
//! step-up, continuous access evaluation; the policy set in force and the decision every
//! enforcement point asks for (`policy.rs`); applications and their routes (`app_routes.rs`).

pub mod app_routes;
pub mod cae;
pub mod forward_auth;
pub mod oidc;
pub mod policy;
pub mod stepup;

/// The routes of the enforcement points: forward-auth, the OIDC provider, the device grant page.
pub fn router() -> axum::Router<crate::state::AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/.well-known/jwks.json", get(crate::platform::keys::jwks))
        .route("/forward-auth", get(forward_auth::check))
        .route("/.well-known/openid-configuration", get(oidc::discovery))
        .route("/oauth2/authorize", get(oidc::authorize::authorize))
        .route("/oauth2/authorize/resume", get(oidc::authorize::resume))
        .route("/oauth2/token", post(oidc::token::token))
        .route(
            "/oauth2/userinfo",
            get(oidc::endpoints::userinfo).post(oidc::endpoints::userinfo),
        )
        .route("/oauth2/introspect", post(oidc::endpoints::introspect))
        .route("/oauth2/revoke", post(oidc::endpoints::revoke))
        .route(
            "/oauth2/logout",
            get(oidc::endpoints::logout).post(oidc::endpoints::logout),
        )
        .route(
            "/oauth2/device_authorization",
            post(oidc::device_grant::authorization),
        )
        .route(
            "/device",
            get(oidc::device_grant::page).post(oidc::device_grant::decide),
        )
}
