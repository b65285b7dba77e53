//! The OpenID Connect provider: discovery, authorization (code + PKCE), token, userinfo,
//! introspection, revocation, RP-initiated logout and the device authorization grant.
//!
//! - `clients`: registration rules shared by the API, the console and the CLI;
//! - `authorize`: `/oauth2/authorize` and its resumption after sign-in;
//! - `token`: `/oauth2/token` (every grant);
//! - `tokens`: issuing and verifying ID, access and refresh tokens;
//! - `endpoints`: userinfo, introspection, revocation, logout;
//! - `device`: RFC 8628 device authorization and the `/device` page.
//!
//! Access tokens are ES256 JWTs (`iss`, `sub`, `aud` = client id, `client_id`, `scope`,
//! `sid`, `jti`, `iat`, `exp`) that are also recorded (hashed) on the server, so that they
//! can be revoked and introspected; refresh tokens, codes and device codes are opaque
//! 256-bit random strings stored only as SHA-256 digests.

pub mod authorize;
pub mod client_auth;
pub mod client_cache;
pub mod clients;
pub mod device_grant;
pub mod endpoints;
pub mod ledger;
pub mod token;
pub mod token_issuer;

use crate::edge::error::AppError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

/// Authorization codes live 60 seconds.
pub const CODE_SECONDS: i64 = 60;
/// Access and ID tokens live 10 minutes.
pub const ACCESS_SECONDS: i64 = 600;
/// Refresh tokens live at most 30 days (and never longer than the session they belong to).
pub const REFRESH_SECONDS: i64 = 30 * 24 * 3600;
/// A pending authorization request waits 15 minutes for the sign-in.
pub const REQUEST_SECONDS: i64 = 900;
/// Device codes live 10 minutes; clients poll at most every 5 seconds.
pub const DEVICE_SECONDS: i64 = 600;
pub const DEVICE_INTERVAL: i64 = 5;

pub const GRANT_CODE: &str = "authorization_code";
pub const GRANT_REFRESH: &str = "refresh_token";
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
pub const GRANT_DEVICE: &str = "urn:ietf:params:oauth:grant-type:device_code";
pub const GRANTS: [&str; 4] = [
    GRANT_CODE,
    GRANT_REFRESH,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_DEVICE,
];

/// Scopes with a meaning here (clients may also be allowed other, API-specific scopes).
pub const STANDARD_SCOPES: [&str; 5] = ["openid", "profile", "email", "groups", "offline_access"];

pub use client_auth::authenticate_client;

/// The `acr` values, weakest first (the built-in authentication strengths).
pub use trustplane_core::authn::{ACR_VALUES, acr_of};

/// Position of an `acr` value in [`ACR_VALUES`] (stronger is higher).
pub fn acr_rank(v: &str) -> Option<usize> {
    ACR_VALUES.iter().position(|a| *a == v)
}

/// The issuer: `public_url` when configured, else the address the client reached us on
/// (development only: configure `public_url` in production).
pub fn issuer(state: &AppState, headers: &HeaderMap) -> String {
    if state.cfg.public_url.is_some() {
        return state.cfg.public_url();
    }
    match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(h) if crate::enforce::app_routes::normalise_host(h).is_some() => format!("http://{h}"),
        _ => state.cfg.public_url(),
    }
}

/// An OAuth error answered as JSON (`{"error", "error_description"}`) with no-store.
#[derive(Debug)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    /// Adds `WWW-Authenticate` (401 invalid_client / invalid_token).
    pub challenge: Option<&'static str>,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            challenge: None,
        }
    }
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new("invalid_request", d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new("invalid_grant", d)
    }
    pub fn invalid_client() -> Self {
        Self::invalid_client_because("Client authentication failed.")
    }
    /// `invalid_client` (401, with a Basic challenge) saying why.
    pub fn invalid_client_because(d: impl Into<String>) -> Self {
        OAuthError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: d.into(),
            challenge: Some("Basic realm=\"trustplane\""),
        }
    }
    pub fn invalid_token(d: impl Into<String>) -> Self {
        OAuthError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_token",
            description: d.into(),
            challenge: Some("Bearer error=\"invalid_token\""),
        }
    }
    pub fn server(e: AppError) -> Self {
        OAuthError {
            status: e.status,
            error: "server_error",
            description: e.message,
            challenge: None,
        }
    }
}

impl From<AppError> for OAuthError {
    fn from(e: AppError) -> Self {
        OAuthError::server(e)
    }
}

impl From<trustplane_store::StoreError> for OAuthError {
    fn from(e: trustplane_store::StoreError) -> Self {
        OAuthError::server(e.into())
    }
}

impl From<crate::platform::keys::KeyError> for OAuthError {
    fn from(e: crate::platform::keys::KeyError) -> Self {
        OAuthError::server(e.into())
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut res = (
            self.status,
            Json(serde_json::json!({
                "error": self.error,
                "error_description": self.description,
            })),
        )
            .into_response();
        no_store(&mut res);
        if let Some(c) = self.challenge {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(c));
        }
        res
    }
}

pub fn no_store(res: &mut Response) {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// A JSON answer with `Cache-Control: no-store`.
pub fn json_no_store(v: serde_json::Value) -> Response {
    let mut res = Json(v).into_response();
    no_store(&mut res);
    res
}

/// Parses `application/x-www-form-urlencoded` parameters, refusing repeated ones
/// (RFC 6749 3.1, 3.2) and empty values counting as absent.
pub fn params(raw: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw) {
        if v.is_empty() {
            continue;
        }
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(OAuthError::invalid_request(format!(
                "The parameter `{k}` is repeated."
            )));
        }
    }
    Ok(out)
}

/// `GET /.well-known/openid-configuration`.
pub async fn discovery(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let iss = issuer(&state, &headers);
    let mut res = Json(serde_json::json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/oauth2/authorize"),
        "token_endpoint": format!("{iss}/oauth2/token"),
        "userinfo_endpoint": format!("{iss}/oauth2/userinfo"),
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "introspection_endpoint": format!("{iss}/oauth2/introspect"),
        "revocation_endpoint": format!("{iss}/oauth2/revoke"),
        "end_session_endpoint": format!("{iss}/oauth2/logout"),
        "device_authorization_endpoint": format!("{iss}/oauth2/device_authorization"),
        "scopes_supported": STANDARD_SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": GRANTS,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr",
            "sid", "azp", "at_hash", "name", "preferred_username", "email", "groups"],
        "claims_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "acr_values_supported": ACR_VALUES,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "authorization_response_iss_parameter_supported": true,
        "frontchannel_logout_supported": false,
        "backchannel_logout_supported": false,
    }))
    .into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused() {
        assert!(params(b"a=1&b=2").is_ok());
        assert_eq!(params(b"a=1&a=2").unwrap_err().error, "invalid_request");
        assert!(!params(b"a=&b=2").unwrap().contains_key("a"));
    }

    #[test]
    fn acr_ranks_are_ordered() {
        assert!(acr_rank("mfa") < acr_rank("phishing_resistant_mfa"));
        assert_eq!(acr_rank("gold"), None);
        assert_eq!(acr_of(&[]), "single_factor");
    }
}
