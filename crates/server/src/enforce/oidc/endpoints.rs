//! `/oauth2/userinfo`, `/oauth2/introspect` (RFC 7662), `/oauth2/revoke` (RFC 7009) and
//! RP-initiated logout `/oauth2/logout`.

use crate::edge::auth::resolve_session;
use crate::edge::error::AppError;
use crate::enforce::oidc::token_issuer::{
    live_access_token, live_refresh_token, user_claims, verify_jwt,
};
use crate::enforce::oidc::{OAuthError, authenticate_client, issuer, json_no_store, params};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use std::collections::HashMap;
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_core::credential::secret_digest;
use uuid::Uuid;

/// The token of an `Authorization: Bearer` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim())
        .filter(|t| !t.is_empty())
}

/// `GET`/`POST /oauth2/userinfo` with `Authorization: Bearer <access token>`.
pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match userinfo_inner(&state, &headers).await {
        Ok(v) => json_no_store(v),
        Err(e) => e.into_response(),
    }
}

async fn userinfo_inner(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<serde_json::Value, OAuthError> {
    let Some(token) = bearer(headers) else {
        let mut e = OAuthError::invalid_token("An access token is required.");
        e.error = "invalid_request";
        e.challenge = Some("Bearer");
        return Err(e);
    };
    let iss = issuer(state, headers);
    let Some((t, _)) = live_access_token(state, &iss, token).await? else {
        return Err(OAuthError::invalid_token(
            "The access token is invalid, expired or revoked.",
        ));
    };
    let Some(uid) = t.user_id else {
        return Err(OAuthError::invalid_token(
            "This access token does not belong to a user.",
        ));
    };
    if !crate::enforce::oidc::token_issuer::has_scope(&t.scope, "openid") {
        let mut e = OAuthError::invalid_token("The token lacks the openid scope.");
        e.status = axum::http::StatusCode::FORBIDDEN;
        e.error = "insufficient_scope";
        e.challenge = Some("Bearer error=\"insufficient_scope\"");
        return Err(e);
    }
    let user = state
        .store
        .get_user(uid)
        .await?
        .ok_or_else(|| OAuthError::invalid_token("The user no longer exists."))?;
    let client = state.store.get_oidc_client(&t.client_id).await?;
    let mut out = serde_json::Map::new();
    out.insert("sub".into(), user.id.to_string().into());
    user_claims(state, client.as_ref(), &user, &t.scope, &mut out).await?;
    Ok(serde_json::Value::Object(out))
}

fn inactive() -> serde_json::Value {
    serde_json::json!({ "active": false })
}

/// `POST /oauth2/introspect`: client authentication required; only tokens issued to the
/// calling client are reported active.
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match introspect_inner(&state, &headers, &body).await {
        Ok(v) => json_no_store(v),
        Err(e) => e.into_response(),
    }
}

async fn introspect_inner(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<serde_json::Value, OAuthError> {
    let p = params(body)?;
    let client = authenticate_client(state, headers, &p).await?;
    let token = p
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required."))?;
    let iss = issuer(state, headers);
    let hint = p.get("token_type_hint").map(String::as_str);
    let found = if hint == Some("refresh_token") {
        None
    } else {
        live_access_token(state, &iss, token).await?
    };
    if let Some((t, claims)) = found {
        if t.client_id != client.id {
            return Ok(inactive());
        }
        let mut v = serde_json::json!({
            "active": true,
            "token_type": "Bearer",
            "scope": t.scope,
            "client_id": t.client_id,
            "sub": claims["sub"],
            "aud": claims["aud"],
            "iss": iss,
            "exp": claims["exp"],
            "iat": claims["iat"],
            "jti": claims["jti"],
        });
        if let Some(sid) = t.session_id {
            v["sid"] = sid.to_string().into();
        }
        if let Some(uid) = t.user_id
            && let Some(u) = state.store.get_user(uid).await?
        {
            v["username"] = u.username.into();
        }
        return Ok(v);
    }
    if let Some(t) = live_refresh_token(state, token).await? {
        if t.client_id != client.id {
            return Ok(inactive());
        }
        return Ok(serde_json::json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": t.scope,
            "client_id": t.client_id,
            "sub": t.user_id.map(|u| u.to_string()),
            "iss": iss,
            "exp": t.expires_at.unix_timestamp(),
            "iat": t.created_at.unix_timestamp(),
        }));
    }
    Ok(inactive())
}

/// `POST /oauth2/revoke`: always 200 for an authenticated client; revoking a refresh token
/// revokes its whole family (and the access tokens issued with it).
pub async fn revoke(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match revoke_inner(&state, &headers, &body).await {
        Ok(()) => json_no_store(serde_json::json!({})),
        Err(e) => e.into_response(),
    }
}

async fn revoke_inner(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), OAuthError> {
    let p = params(body)?;
    let client = authenticate_client(state, headers, &p).await?;
    let token = p
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required."))?;
    let now = state.now();
    let hash = secret_digest(token);
    // Access tokens issued just before are written first (ledger.rs).
    state.token_ledger.flush(state.store.as_ref()).await?;
    if let Some(t) = state.store.oidc_token(&hash).await?
        && t.client_id == client.id
    {
        if t.kind == "refresh" {
            state.store.revoke_oidc_grant(t.grant_id, now).await?;
        } else {
            state.store.revoke_oidc_token(&hash, now).await?;
        }
    }
    Ok(())
}

/// The confirmation page of a logout that did not come with an ID token hint.
#[derive(askama::Template)]
#[template(path = "oidc_logout.html")]
struct ConfirmLogout<'a> {
    csrf: String,
    client_id: &'a str,
    post_logout_redirect_uri: &'a str,
    state: &'a str,
}

/// `GET`/`POST /oauth2/logout`: RP-initiated logout. `post_logout_redirect_uri` must be
/// registered exactly for the client named by `client_id` or by the `id_token_hint`'s
/// audience; the browser's session (and the hint's `sid`) is revoked.
pub async fn logout(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    jar: CookieJar,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, AppError> {
    let input = if method == Method::POST {
        body.to_vec()
    } else {
        raw.unwrap_or_default().into_bytes()
    };
    let p = match params(&input) {
        Ok(p) => p,
        Err(e) => return Ok(logout_refused(e.description)),
    };
    let iss = issuer(&state, &headers);
    let (client_id, hint_sid) = match logout_hint(&state, &iss, &p).await {
        Ok(v) => v,
        Err(refusal) => return Ok(logout_refused(refusal)),
    };
    let target = match logout_target(&state, client_id.as_deref(), &p).await? {
        Ok(t) => t,
        Err(refusal) => return Ok(logout_refused(refusal)),
    };
    // Without a valid ID token hint the request could come from any site (a cross-site GET
    // signing people out): the browser's session ends only after the user confirms on a
    // page of ours (a POST with the CSRF token).
    let confirmed = p.contains_key("id_token_hint")
        || (method == Method::POST
            && p.get("csrf_token")
                .is_some_and(|t| state.csrf_verify(&jar, t).is_ok()));
    if !confirmed && resolve_session(&state, &jar).await?.is_some() {
        let (jar, csrf) = state.csrf_issue(jar);
        let page = ConfirmLogout {
            csrf,
            client_id: client_id.as_deref().unwrap_or_default(),
            post_logout_redirect_uri: target.as_deref().unwrap_or_default(),
            state: p.get("state").map(String::as_str).unwrap_or_default(),
        };
        return Ok((jar, crate::edge::pages::render(&page)).into_response());
    }
    end_sessions(&state, &jar, hint_sid, client_id.as_deref()).await?;
    let jar = state.remove_session_cookie(jar);
    let to = after_logout(target, &p);
    Ok((jar, Redirect::to(&to)).into_response())
}

/// The error page of a refused logout request.
fn logout_refused(description: impl Into<String>) -> Response {
    crate::edge::pages::error_page(&AppError::bad_request("invalid_request", description))
}

/// The client (`client_id`, else the `id_token_hint`'s audience) and the session the hint
/// names (`sid`). `Err` when the hint is not an ID token of ours or names another client.
async fn logout_hint(
    state: &AppState,
    iss: &str,
    p: &HashMap<String, String>,
) -> Result<(Option<String>, Option<Uuid>), &'static str> {
    let client_id = p.get("client_id").cloned();
    let Some(hint) = p.get("id_token_hint") else {
        return Ok((client_id, None));
    };
    let Some(claims) = verify_jwt(
        state,
        iss,
        hint,
        &[
            jsonwebtoken::Algorithm::ES256,
            jsonwebtoken::Algorithm::RS256,
        ],
        true,
    )
    .await
    else {
        return Err("The id_token_hint is not an ID token issued here.");
    };
    let aud = claims["aud"].as_str().map(String::from);
    if client_id.is_some() && aud.is_some() && client_id != aud {
        return Err("client_id does not match the id_token_hint.");
    }
    let hint_sid = claims["sid"].as_str().and_then(|s| Uuid::parse_str(s).ok());
    Ok((client_id.or(aud), hint_sid))
}

/// The `post_logout_redirect_uri`, if one is given: `Ok(Err(_))` unless it is registered
/// exactly for the client.
async fn logout_target(
    state: &AppState,
    client_id: Option<&str>,
    p: &HashMap<String, String>,
) -> Result<Result<Option<String>, &'static str>, AppError> {
    let Some(uri) = p.get("post_logout_redirect_uri") else {
        return Ok(Ok(None));
    };
    let client = match client_id {
        Some(id) => state.store.get_oidc_client(id).await?,
        None => None,
    };
    match client {
        Some(c) if c.post_logout_redirect_uris.iter().any(|u| u == uri) => {
            Ok(Ok(Some(uri.clone())))
        }
        _ => Ok(Err(
            "The post_logout_redirect_uri is not registered for this client.",
        )),
    }
}

/// Revokes the browser's session and the session the ID token hint named, each with an
/// `oidc.logout` audit entry.
async fn end_sessions(
    state: &AppState,
    jar: &CookieJar,
    hint_sid: Option<Uuid>,
    client_id: Option<&str>,
) -> Result<(), AppError> {
    let now = state.now();
    let mut ended: Vec<Uuid> = Vec::new();
    if let Some(ctx) = resolve_session(state, jar).await? {
        ended.push(ctx.session.id);
    }
    if let Some(sid) = hint_sid
        && !ended.contains(&sid)
    {
        ended.push(sid);
    }
    for sid in ended {
        let audit = AuditDraft::new(
            &Actor::system(),
            "oidc.logout",
            "session",
            Some(sid.to_string()),
        )
        .after(&serde_json::json!({ "client_id": client_id }));
        state.store.revoke_session(sid, now, Some(audit)).await?;
    }
    Ok(())
}

/// Where the browser goes once signed out: the registered `post_logout_redirect_uri` (with
/// `state`), else the sign-in page.
fn after_logout(target: Option<String>, p: &HashMap<String, String>) -> String {
    match target {
        Some(uri) => match url::Url::parse(&uri) {
            Ok(mut u) => {
                if let Some(s) = p.get("state") {
                    u.query_pairs_mut().append_pair("state", s);
                }
                u.to_string()
            }
            Err(_) => "/login?signed_out=1".to_string(),
        },
        None => "/login?signed_out=1".to_string(),
    }
}
