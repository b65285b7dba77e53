//! Client authentication at the token, introspection, revocation and device authorization
//! endpoints: `client_secret_basic`, `client_secret_post`, or `none` (a public client sends
//! its `client_id` only). The method must be the one the client registered.
//!
//! Every refusal is `invalid_client` (401) with an `error_description` that says what is
//! wrong (which method is registered and which one the request used, an unknown client, a
//! wrong secret), and a log line with the client id and both methods for the operator. A
//! secret, presented or stored, is never logged or echoed.

use crate::enforce::oidc::OAuthError;
use crate::state::AppState;
use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::collections::HashMap;
use trustplane_core::credential::{constant_time_eq, secret_digest};
use trustplane_store::OidcClient;

/// How a method is used, in words for `error_description`.
fn how(method: &str) -> &'static str {
    match method {
        "client_secret_basic" => "client_id and secret in an HTTP Basic Authorization header",
        "client_secret_post" => "client_id and client_secret in the form body",
        "none" => "a public client: client_id only, no secret",
        _ => "an unsupported method",
    }
}

/// A client id as it may appear in a log line: at most 100 characters (quoted and escaped by
/// the `?` formatter, so that it cannot forge log lines).
fn short(id: &str) -> String {
    id.chars().take(100).collect()
}

/// Refuses, logging why (never a secret).
fn refuse(client_id: Option<&str>, reason: &'static str, description: String) -> OAuthError {
    tracing::warn!(
        client_id = ?client_id.map(short),
        reason,
        detail = %description,
        "OIDC client authentication failed"
    );
    OAuthError::invalid_client_because(description)
}

/// The credentials a request presents: `(client_id, secret, method used)`.
type Presented = (String, Option<String>, &'static str);

fn presented(headers: &HeaderMap, p: &HashMap<String, String>) -> Result<Presented, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then(|| rest.trim())
        });
    let Some(b64) = basic else {
        return match p.get("client_id") {
            Some(id) => match p.get("client_secret") {
                Some(s) => Ok((id.clone(), Some(s.clone()), "client_secret_post")),
                None => Ok((id.clone(), None, "none")),
            },
            None => Err(refuse(
                None,
                "no_credentials",
                "Client authentication is required: send the client_id (and the secret the way the client is registered to).".into(),
            )),
        };
    };
    let malformed = || {
        refuse(
            None,
            "malformed_basic",
            "The Authorization header is not HTTP Basic client authentication (base64 of client_id:client_secret).".into(),
        )
    };
    let decoded = STANDARD
        .decode(b64)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(malformed)?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    // RFC 6749 2.3.1: both parts are form-urlencoded.
    let dec = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.to_string())
            .unwrap_or_default()
    };
    let id = dec(id);
    if p.contains_key("client_secret") {
        return Err(OAuthError::invalid_request(
            "Use one client authentication method, not two.",
        ));
    }
    if let Some(body_id) = p.get("client_id")
        && *body_id != id
    {
        return Err(refuse(
            Some(&id),
            "client_id_mismatch",
            "The client_id in the body is not the one in the Authorization header.".into(),
        ));
    }
    Ok((id, Some(dec(secret)), "client_secret_basic"))
}

/// Authenticates the client of a token, introspection, revocation or device request.
pub async fn authenticate_client(
    state: &AppState,
    headers: &HeaderMap,
    p: &HashMap<String, String>,
) -> Result<OidcClient, OAuthError> {
    let (client_id, secret, used) = presented(headers, p)?;
    let Some(client) = state
        .oidc_clients
        .get(state.store.as_ref(), &client_id)
        .await?
    else {
        return Err(refuse(
            Some(&client_id),
            "unknown_client",
            "Unknown client.".into(),
        ));
    };
    let registered = client.token_endpoint_auth_method.as_str();
    if registered != used {
        tracing::warn!(
            client_id = ?short(&client_id),
            registered_method = registered,
            used_method = used,
            "OIDC client authentication failed: the client used another method than the one it registered"
        );
        return Err(OAuthError::invalid_client_because(format!(
            "This client is registered for {registered} ({}); the request used {used} ({}).",
            how(registered),
            how(used)
        )));
    }
    match (&client.secret_hash, secret) {
        (None, None) => Ok(client),
        (Some(hash), Some(secret)) => {
            if constant_time_eq(secret_digest(&secret).as_bytes(), hash.as_bytes()) {
                Ok(client)
            } else {
                Err(refuse(
                    Some(&client_id),
                    "wrong_secret",
                    "The client secret is wrong.".into(),
                ))
            }
        }
        _ => Err(refuse(
            Some(&client_id),
            "no_usable_secret",
            "The client's registration has no usable secret for its method; an administrator must rotate its secret.".into(),
        )),
    }
}
