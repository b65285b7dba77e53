//! `POST /oauth2/token`: authorization_code (with PKCE), refresh_token (rotation with reuse
//! detection), client_credentials and the device code grant.

use crate::enforce::oidc::token_issuer::{AuthInfo, Issue, grant_holder_ok, issue};
use crate::enforce::oidc::{
    GRANT_CLIENT_CREDENTIALS, GRANT_CODE, GRANT_DEVICE, GRANT_REFRESH, OAuthError,
    authenticate_client, issuer, json_no_store, params,
};
use crate::enforce::policy::{self, Signals};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use time::OffsetDateTime;
use trustplane_core::access::{ClientAppType, Outcome, TargetRequest};
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_core::credential::{constant_time_eq, secret_digest};
use trustplane_core::identity::User;
use trustplane_core::session::Session;
use trustplane_store::{CodeTake, OidcClient, OidcToken, Store};
use uuid::Uuid;

pub async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&state, &headers, &body).await {
        Ok(v) => json_no_store(v),
        Err(e) => e.into_response(),
    }
}

fn allowed(client: &OidcClient, grant: &str) -> Result<(), OAuthError> {
    if client.grant_types.iter().any(|g| g == grant) {
        Ok(())
    } else {
        Err(OAuthError::new(
            "unauthorized_client",
            "The client may not use this grant type.",
        ))
    }
}

async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<serde_json::Value, OAuthError> {
    let p = params(body)?;
    let grant = p
        .get("grant_type")
        .cloned()
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required."))?;
    if !crate::enforce::oidc::GRANTS.contains(&grant.as_str()) {
        return Err(OAuthError::new(
            "unsupported_grant_type",
            "This grant type is not supported.",
        ));
    }
    let client = authenticate_client(state, headers, &p).await?;
    allowed(&client, &grant)?;
    let iss = issuer(state, headers);
    match grant.as_str() {
        GRANT_CODE => code_grant(state, &iss, &client, &p).await,
        GRANT_REFRESH => refresh_grant(state, &iss, &client, &p).await,
        GRANT_CLIENT_CREDENTIALS => client_credentials(state, &iss, &client, &p).await,
        GRANT_DEVICE => device_grant(state, &iss, &client, &p).await,
        _ => Err(OAuthError::new(
            "unsupported_grant_type",
            "Unsupported grant type.",
        )),
    }
}

fn pkce_ok(challenge: &str, verifier: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    well_formed && constant_time_eq(computed.as_bytes(), challenge.as_bytes())
}

async fn audit(
    store: &dyn Store,
    action: &str,
    client: &OidcClient,
    grant: Uuid,
    user: Option<Uuid>,
) {
    let draft = AuditDraft::new(
        &Actor::system(),
        action,
        "oidc_client",
        Some(client.id.clone()),
    )
    .after(&serde_json::json!({ "grant_id": grant, "user_id": user }));
    if let Err(e) = store.append_audit(draft).await {
        tracing::error!(error = %e, action, "cannot audit a token security event");
    }
}

/// The user, enabled, or `invalid_grant`.
async fn enabled_user(state: &AppState, id: Option<Uuid>) -> Result<User, OAuthError> {
    let id = id.ok_or_else(|| OAuthError::invalid_grant("The grant has no user."))?;
    match state.store.get_user(id).await? {
        Some(u) if u.is_enabled() => Ok(u),
        _ => Err(OAuthError::invalid_grant(
            "The user is disabled or deleted.",
        )),
    }
}

async fn code_grant(
    state: &AppState,
    iss: &str,
    client: &OidcClient,
    p: &HashMap<String, String>,
) -> Result<serde_json::Value, OAuthError> {
    let code = p
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is required."))?;
    let now = state.now();
    let c = match state
        .store
        .take_oidc_code(&secret_digest(code), now)
        .await?
    {
        CodeTake::Unknown => return Err(OAuthError::invalid_grant("Unknown authorization code.")),
        CodeTake::Reused(c) => {
            // A replayed code: whoever holds it may be an attacker; revoke what it gave.
            let n =
                crate::enforce::oidc::token_issuer::revoke_grant(state, c.grant_id, now).await?;
            tracing::warn!(client = %c.client_id, revoked = n, "authorization code reused; its tokens were revoked");
            audit(
                state.store.as_ref(),
                "oidc.code.reuse",
                client,
                c.grant_id,
                Some(c.user_id),
            )
            .await;
            return Err(OAuthError::invalid_grant(
                "The authorization code was already used; the tokens issued from it are revoked.",
            ));
        }
        CodeTake::Fresh(c) => c,
    };
    if c.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "The code was issued to another client.",
        ));
    }
    if now >= c.expires_at {
        return Err(OAuthError::invalid_grant("The authorization code expired."));
    }
    let data: serde_json::Value = serde_json::from_str(&c.data)
        .map_err(|_| OAuthError::server(crate::edge::error::AppError::internal()))?;
    if p.get("redirect_uri").map(String::as_str) != data["redirect_uri"].as_str() {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request.",
        ));
    }
    match (data["code_challenge"].as_str(), p.get("code_verifier")) {
        (Some(ch), Some(v)) if pkce_ok(ch, v) => {}
        (Some(_), _) => return Err(OAuthError::invalid_grant("PKCE verification failed.")),
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier without a code_challenge.",
            ));
        }
        (None, None) => {}
    }
    let user = enabled_user(state, Some(c.user_id)).await?;
    let session = match c.session_id {
        Some(sid) => state.store.get_session(sid).await?,
        None => None,
    };
    let Some(session) = session.filter(|s| s.check(now).is_ok()) else {
        return Err(OAuthError::invalid_grant("The sign-in session ended."));
    };
    let auth: Option<AuthInfo> = serde_json::from_value(data["auth"].clone()).ok();
    let scope = data["scope"].as_str().unwrap_or("openid").to_string();
    issue(
        state,
        Issue {
            issuer: iss,
            client,
            user: Some(&user),
            session_id: Some(session.id),
            session_expires: Some(session.absolute_expires_at),
            grant_id: c.grant_id,
            scope: &scope,
            auth: auth.as_ref(),
            nonce: data["nonce"].as_str(),
            id_token: true,
            refresh_token: client.grant_types.iter().any(|g| g == GRANT_REFRESH),
        },
    )
    .await
}

async fn refresh_grant(
    state: &AppState,
    iss: &str,
    client: &OidcClient,
    p: &HashMap<String, String>,
) -> Result<serde_json::Value, OAuthError> {
    let token = p
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required."))?;
    let hash = secret_digest(token);
    let now = state.now();
    let t = client_refresh_token(state, client, &hash).await?;
    // Validate the request before the token is spent: a refused request (a wider scope)
    // leaves the refresh token usable instead of rotating it away and later reading its
    // next use as reuse.
    let scope = refresh_scope(&t, p)?;
    spend_refresh_token(state, client, &t, &hash, now).await?;
    let (user, session) = refresh_holder(state, &t, now).await?;
    refresh_access(state, client, &t, &user, &session, now).await?;
    issue_refreshed(state, iss, client, &t, &user, &session, &scope).await
}

/// The refresh token with this hash, issued to this client (else `invalid_grant`).
async fn client_refresh_token(
    state: &AppState,
    client: &OidcClient,
    hash: &str,
) -> Result<OidcToken, OAuthError> {
    let Some(t) = state.store.oidc_token(hash).await? else {
        return Err(OAuthError::invalid_grant("Unknown refresh token."));
    };
    if t.kind != "refresh" || t.client_id != client.id {
        return Err(OAuthError::invalid_grant("Unknown refresh token."));
    }
    Ok(t)
}

/// The scope asked for, which may narrow the token's scope but never widen it; the
/// token's own scope when none is asked.
fn refresh_scope(t: &OidcToken, p: &HashMap<String, String>) -> Result<String, OAuthError> {
    let mut scope = t.scope.clone();
    if let Some(asked) = p.get("scope") {
        let orig: Vec<&str> = t.scope.split(' ').collect();
        if asked.split(' ').any(|s| !orig.contains(&s)) {
            return Err(OAuthError::new(
                "invalid_scope",
                "A refresh cannot widen the scope.",
            ));
        }
        scope = asked.clone();
    }
    Ok(scope)
}

/// Marks the refresh token used (rotation). A token already used or revoked, or used by
/// a concurrent request in the meantime, is reuse: the whole grant is revoked and audited.
async fn spend_refresh_token(
    state: &AppState,
    client: &OidcClient,
    t: &OidcToken,
    hash: &str,
    now: OffsetDateTime,
) -> Result<(), OAuthError> {
    if !state.store.use_refresh_token(hash, now).await? {
        if t.used_at.is_some() || t.revoked_at.is_some() || {
            // Lost a race to a concurrent use: that is reuse too.
            state
                .store
                .oidc_token(hash)
                .await?
                .is_some_and(|x| x.used_at.is_some())
        } {
            let n =
                crate::enforce::oidc::token_issuer::revoke_grant(state, t.grant_id, now).await?;
            tracing::warn!(client = %client.id, revoked = n, "refresh token reused; its family was revoked");
            audit(
                state.store.as_ref(),
                "oidc.refresh_token.reuse",
                client,
                t.grant_id,
                t.user_id,
            )
            .await;
            return Err(OAuthError::invalid_grant(
                "The refresh token was already used; every token of its family is revoked.",
            ));
        }
        return Err(OAuthError::invalid_grant("The refresh token expired."));
    }
    Ok(())
}

/// The token's user (enabled) and session (still active); otherwise the grant is revoked
/// and the refresh refused.
async fn refresh_holder(
    state: &AppState,
    t: &OidcToken,
    now: OffsetDateTime,
) -> Result<(User, Session), OAuthError> {
    let refuse = |msg: &str| OAuthError::invalid_grant(msg.to_string());
    if !grant_holder_ok(state, t, now).await? {
        crate::enforce::oidc::token_issuer::revoke_grant(state, t.grant_id, now).await?;
        return Err(refuse("The session ended or the user is disabled."));
    }
    let user = enabled_user(state, t.user_id).await?;
    let session = match t.session_id {
        Some(sid) => state.store.get_session(sid).await?,
        None => None,
    }
    .ok_or_else(|| refuse("The session ended."))?;
    Ok((user, session))
}

/// Conditional access again, with the session's own signals: anything but `Allow` revokes
/// the grant (audited) and refuses the refresh.
async fn refresh_access(
    state: &AppState,
    client: &OidcClient,
    t: &OidcToken,
    user: &User,
    session: &Session,
    now: OffsetDateTime,
) -> Result<(), OAuthError> {
    let ip = session.ip.as_deref().and_then(|i| i.parse().ok());
    let actx = policy::context(
        state.store.as_ref(),
        Signals {
            user_id: user.id,
            methods: &session.methods,
            primary_at: session.methods.first().map(|m| m.at),
            ip,
            country: state.country_of(ip),
            user_agent: session.user_agent.as_deref(),
            client_app: ClientAppType::Browser,
            target: TargetRequest::Application {
                id: client.app_id.clone(),
                sensitivity_label: None,
                authentication_contexts: Vec::new(),
            },
            password_changed: false,
            now,
        },
    )
    .await?;
    let loaded = state.policies.get(state.store.as_ref()).await?;
    if !matches!(
        trustplane_core::access::evaluate(&loaded.set, &actx).outcome,
        Outcome::Allow
    ) {
        crate::enforce::oidc::token_issuer::revoke_grant(state, t.grant_id, now).await?;
        audit(
            state.store.as_ref(),
            "oidc.refresh.denied",
            client,
            t.grant_id,
            t.user_id,
        )
        .await;
        return Err(OAuthError::invalid_grant(
            "Conditional access no longer allows this session for the application.",
        ));
    }
    Ok(())
}

/// The token response of a refresh: a new refresh token (rotation), and an ID token when
/// the scope still has `openid`.
async fn issue_refreshed(
    state: &AppState,
    iss: &str,
    client: &OidcClient,
    t: &OidcToken,
    user: &User,
    session: &Session,
    scope: &str,
) -> Result<serde_json::Value, OAuthError> {
    let auth: Option<AuthInfo> = serde_json::from_str(&t.data).ok().flatten();
    issue(
        state,
        Issue {
            issuer: iss,
            client,
            user: Some(user),
            session_id: Some(session.id),
            session_expires: Some(session.absolute_expires_at),
            grant_id: t.grant_id,
            scope,
            auth: auth.as_ref(),
            nonce: None,
            id_token: crate::enforce::oidc::token_issuer::has_scope(scope, "openid"),
            refresh_token: true,
        },
    )
    .await
}

async fn client_credentials(
    state: &AppState,
    iss: &str,
    client: &OidcClient,
    p: &HashMap<String, String>,
) -> Result<serde_json::Value, OAuthError> {
    if client.is_public() {
        return Err(OAuthError::new(
            "unauthorized_client",
            "Public clients cannot use client credentials.",
        ));
    }
    let asked = p.get("scope").cloned().unwrap_or_default();
    let mut scopes: Vec<&str> = Vec::new();
    for s in asked.split(' ').filter(|s| !s.is_empty()) {
        if matches!(s, "openid" | "offline_access") || !client.scopes.iter().any(|c| c == s) {
            return Err(OAuthError::new(
                "invalid_scope",
                format!("The scope `{s}` is not available to client credentials."),
            ));
        }
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    let scope = scopes.join(" ");
    issue(
        state,
        Issue {
            issuer: iss,
            client,
            user: None,
            session_id: None,
            session_expires: None,
            grant_id: Uuid::now_v7(),
            scope: &scope,
            auth: None,
            nonce: None,
            id_token: false,
            refresh_token: false,
        },
    )
    .await
}

async fn device_grant(
    state: &AppState,
    iss: &str,
    client: &OidcClient,
    p: &HashMap<String, String>,
) -> Result<serde_json::Value, OAuthError> {
    let code = p
        .get("device_code")
        .ok_or_else(|| OAuthError::invalid_request("device_code is required."))?;
    let hash = secret_digest(code);
    let now = state.now();
    let Some(d) = state.store.device_code(&hash).await? else {
        return Err(OAuthError::invalid_grant("Unknown device code."));
    };
    if d.client_id != client.id {
        return Err(OAuthError::invalid_grant("Unknown device code."));
    }
    if now >= d.expires_at {
        return Err(OAuthError::new("expired_token", "The device code expired."));
    }
    let previous = state.store.poll_device_code(&hash, now).await?;
    match d.status.as_str() {
        "pending" => {
            if previous
                .is_some_and(|t| (now - t).whole_seconds() < crate::enforce::oidc::DEVICE_INTERVAL)
            {
                return Err(OAuthError::new("slow_down", "Poll less often."));
            }
            return Err(OAuthError::new(
                "authorization_pending",
                "The user has not answered yet.",
            ));
        }
        "denied" => return Err(OAuthError::new("access_denied", "The user refused.")),
        "approved" => {}
        _ => {
            return Err(OAuthError::invalid_grant(
                "The device code was already used.",
            ));
        }
    }
    if !state.store.use_device_code(&hash).await? {
        return Err(OAuthError::invalid_grant(
            "The device code was already used.",
        ));
    }
    let user = enabled_user(state, d.user_id).await?;
    let session = match d.session_id {
        Some(sid) => state.store.get_session(sid).await?,
        None => None,
    }
    .filter(|s| s.check(now).is_ok())
    .ok_or_else(|| OAuthError::invalid_grant("The approving session ended."))?;
    let auth: Option<AuthInfo> = serde_json::from_str(&d.data).ok();
    issue(
        state,
        Issue {
            issuer: iss,
            client,
            user: Some(&user),
            session_id: Some(session.id),
            session_expires: Some(session.absolute_expires_at),
            grant_id: d.grant_id,
            scope: &d.scope,
            auth: auth.as_ref(),
            nonce: None,
            id_token: crate::enforce::oidc::token_issuer::has_scope(&d.scope, "openid"),
            refresh_token: client.grant_types.iter().any(|g| g == GRANT_REFRESH),
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_rfc7636_example() {
        // RFC 7636 appendix B.
        assert!(pkce_ok(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        ));
        assert!(!pkce_ok(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx"
        ));
    }
}
