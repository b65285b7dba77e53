//! Issuing ID, access and refresh tokens, and verifying access tokens presented back.

use crate::enforce::oidc::{ACCESS_SECONDS, OAuthError, REFRESH_SECONDS};
use crate::platform::secrets::random_token;
use crate::state::AppState;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use trustplane_core::credential::secret_digest;
use trustplane_core::identity::User;
use trustplane_store::{OidcClient, OidcToken};
use uuid::Uuid;

/// How the user authenticated, carried from the authorization to every token of the grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthInfo {
    pub auth_time: i64,
    pub acr: String,
    pub amr: Vec<String>,
}

/// What one token response is made of.
pub struct Issue<'a> {
    pub issuer: &'a str,
    pub client: &'a OidcClient,
    /// `None` for client credentials.
    pub user: Option<&'a User>,
    pub session_id: Option<Uuid>,
    /// Session expiry: refresh tokens never outlive it.
    pub session_expires: Option<OffsetDateTime>,
    pub grant_id: Uuid,
    pub scope: &'a str,
    pub auth: Option<&'a AuthInfo>,
    pub nonce: Option<&'a str>,
    pub id_token: bool,
    pub refresh_token: bool,
}

pub fn has_scope(scope: &str, s: &str) -> bool {
    scope.split(' ').any(|x| x == s)
}

/// `at_hash`: the left half of SHA-256 of the access token, base64url.
pub fn at_hash(access_token: &str) -> String {
    let d = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&d[..16])
}

/// The user claims a scope releases (ID token and userinfo).
pub async fn user_claims(
    state: &AppState,
    client: Option<&OidcClient>,
    user: &User,
    scope: &str,
    out: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<(), OAuthError> {
    if has_scope(scope, "profile") {
        out.insert("name".into(), user.display_name.clone().into());
        out.insert("preferred_username".into(), user.username.clone().into());
    }
    if has_scope(scope, "email")
        && let Some(e) = &user.email
    {
        out.insert("email".into(), e.clone().into());
    }
    let groups_wanted = client.is_some_and(|c| c.groups_claim) || has_scope(scope, "groups");
    if groups_wanted {
        let groups: Vec<String> = state
            .store
            .groups_of(user.id)
            .await?
            .into_iter()
            .map(|g| g.name)
            .collect();
        out.insert("groups".into(), groups.into());
    }
    Ok(())
}

/// Issues the tokens of one grant and returns the token response.
pub async fn issue(state: &AppState, i: Issue<'_>) -> Result<serde_json::Value, OAuthError> {
    let now = state.now();
    let iat = now.unix_timestamp();
    let exp = iat + ACCESS_SECONDS;
    let jti = Uuid::now_v7();
    let access = sign_access_token(state, &i, iat, exp, jti).await?;
    let data = serde_json::to_string(&i.auth)
        .map_err(|_| OAuthError::server(crate::edge::error::AppError::internal()))?;
    // Recorded for introspection and revocation, written behind in batches (ledger.rs).
    let expires = now + time::Duration::seconds(ACCESS_SECONDS);
    let row = token_row(&i, &access, jti, "access", data.clone(), now, expires);
    state.token_ledger.record(&state.store, row).await?;
    let mut out = serde_json::json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ACCESS_SECONDS,
        "scope": i.scope,
    });
    if i.refresh_token && i.user.is_some() {
        out["refresh_token"] = create_refresh_token(state, &i, data, now).await?.into();
    }
    if i.id_token
        && let Some(user) = i.user
    {
        out["id_token"] = sign_id_token(state, &i, user, &access, iat, exp)
            .await?
            .into();
    }
    Ok(out)
}

/// The stored row of an issued token (`kind` "access" or "refresh").
fn token_row(
    i: &Issue<'_>,
    token: &str,
    id: Uuid,
    kind: &str,
    data: String,
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> OidcToken {
    OidcToken {
        hash: secret_digest(token),
        id,
        kind: kind.into(),
        grant_id: i.grant_id,
        client_id: i.client.id.clone(),
        user_id: i.user.map(|u| u.id),
        session_id: i.session_id,
        scope: i.scope.to_string(),
        data,
        created_at: now,
        expires_at,
        used_at: None,
        revoked_at: None,
    }
}

/// The signed access token (a JWT with the user, or the client, as `sub`).
async fn sign_access_token(
    state: &AppState,
    i: &Issue<'_>,
    iat: i64,
    exp: i64,
    jti: Uuid,
) -> Result<String, OAuthError> {
    let sub = match i.user {
        Some(u) => u.id.to_string(),
        None => i.client.id.clone(),
    };
    let mut at = serde_json::json!({
        "iss": i.issuer,
        "sub": sub,
        "aud": i.client.id,
        "client_id": i.client.id,
        "scope": i.scope,
        "iat": iat,
        "exp": exp,
        "jti": jti,
    });
    if let Some(sid) = i.session_id {
        at["sid"] = sid.to_string().into();
    }
    Ok(crate::platform::keys::sign_access_token(state, &at).await?)
}

/// A new refresh token, stored; it never outlives the session.
async fn create_refresh_token(
    state: &AppState,
    i: &Issue<'_>,
    data: String,
    now: OffsetDateTime,
) -> Result<String, OAuthError> {
    let refresh = random_token();
    let mut expires = now + time::Duration::seconds(REFRESH_SECONDS);
    if let Some(s) = i.session_expires {
        expires = expires.min(s);
    }
    let row = token_row(i, &refresh, Uuid::now_v7(), "refresh", data, now, expires);
    state.store.create_oidc_token(&row).await?;
    Ok(refresh)
}

/// The signed ID token: the user, how they authenticated, `nonce`, `sid`, `at_hash` and
/// the user claims the scope releases.
async fn sign_id_token(
    state: &AppState,
    i: &Issue<'_>,
    user: &User,
    access: &str,
    iat: i64,
    exp: i64,
) -> Result<String, OAuthError> {
    let mut claims = serde_json::Map::new();
    claims.insert("iss".into(), i.issuer.into());
    claims.insert("sub".into(), user.id.to_string().into());
    claims.insert("aud".into(), i.client.id.clone().into());
    claims.insert("azp".into(), i.client.id.clone().into());
    claims.insert("iat".into(), iat.into());
    claims.insert("exp".into(), exp.into());
    claims.insert("at_hash".into(), at_hash(access).into());
    if let Some(a) = i.auth {
        claims.insert("auth_time".into(), a.auth_time.into());
        claims.insert("acr".into(), a.acr.clone().into());
        claims.insert("amr".into(), a.amr.clone().into());
    }
    if let Some(n) = i.nonce {
        claims.insert("nonce".into(), n.into());
    }
    if let Some(sid) = i.session_id {
        claims.insert("sid".into(), sid.to_string().into());
    }
    user_claims(state, Some(i.client), user, i.scope, &mut claims).await?;
    Ok(crate::platform::keys::sign_with(
        state,
        &i.client.id_token_alg,
        &serde_json::Value::Object(claims),
    )
    .await?)
}

/// Verifies a JWT we signed: one of `algs` only (never `none` or HMAC), a `kid` among the
/// published keys whose own `alg` is the header's (no algorithm confusion), a valid
/// signature, our issuer; `exp` checked unless `allow_expired`.
pub async fn verify_jwt(
    state: &AppState,
    issuer: &str,
    token: &str,
    algs: &[jsonwebtoken::Algorithm],
    allow_expired: bool,
) -> Option<serde_json::Value> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    if !algs.contains(&header.alg) {
        return None;
    }
    let alg_name = match header.alg {
        jsonwebtoken::Algorithm::ES256 => "ES256",
        jsonwebtoken::Algorithm::RS256 => "RS256",
        _ => return None,
    };
    let kid = header.kid?;
    crate::platform::jose::install();
    let now = state.now();
    let dk = state
        .keyring
        .published_with(state.store.as_ref(), now, &kid)
        .await
        .ok()?
        .decoding_key(&kid, alg_name, now)?;
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_issuer(&[issuer]);
    v.validate_aud = false;
    v.leeway = 0;
    if allow_expired {
        v.validate_exp = false;
        v.required_spec_claims.remove("exp");
    }
    jsonwebtoken::decode::<serde_json::Value>(token, dk.as_ref(), &v)
        .ok()
        .map(|d| d.claims)
}

/// A live access token: a valid JWT of ours, recorded, unrevoked and unexpired, whose
/// session (if any) is still active and whose user is still enabled.
pub async fn live_access_token(
    state: &AppState,
    issuer: &str,
    token: &str,
) -> Result<Option<(OidcToken, serde_json::Value)>, OAuthError> {
    let es256 = [jsonwebtoken::Algorithm::ES256];
    let Some(claims) = verify_jwt(state, issuer, token, &es256, false).await else {
        return Ok(None);
    };
    let Some(t) = state
        .token_ledger
        .lookup(state.store.as_ref(), &secret_digest(token))
        .await?
    else {
        return Ok(None);
    };
    let now = state.now();
    if t.kind != "access"
        || !t.is_live(now)
        || claims["jti"].as_str() != Some(t.id.to_string().as_str())
        || claims["aud"].as_str() != Some(t.client_id.as_str())
    {
        return Ok(None);
    }
    if !grant_holder_ok(state, &t, now).await? {
        return Ok(None);
    }
    Ok(Some((t, claims)))
}

/// A live refresh token (unused, unrevoked, unexpired, session and user still fine).
pub async fn live_refresh_token(
    state: &AppState,
    token: &str,
) -> Result<Option<OidcToken>, OAuthError> {
    let Some(t) = state.store.oidc_token(&secret_digest(token)).await? else {
        return Ok(None);
    };
    let now = state.now();
    if t.kind != "refresh" || !t.is_live(now) || t.used_at.is_some() {
        return Ok(None);
    }
    if !grant_holder_ok(state, &t, now).await? {
        return Ok(None);
    }
    Ok(Some(t))
}

/// Revokes every token of a grant, after writing the access tokens still waiting in the
/// ledger (so that none issued before escapes the revocation).
pub async fn revoke_grant(
    state: &AppState,
    grant_id: Uuid,
    now: OffsetDateTime,
) -> Result<u64, OAuthError> {
    state.token_ledger.flush(state.store.as_ref()).await?;
    Ok(state.store.revoke_oidc_grant(grant_id, now).await?)
}

/// The session of a token is active and its user enabled (client tokens: true).
pub async fn grant_holder_ok(
    state: &AppState,
    t: &OidcToken,
    now: OffsetDateTime,
) -> Result<bool, OAuthError> {
    if let Some(sid) = t.session_id {
        match state.store.get_session(sid).await? {
            Some(s) if s.check(now).is_ok() => {}
            _ => return Ok(false),
        }
    }
    if let Some(uid) = t.user_id {
        match state.store.get_user(uid).await? {
            Some(u) if u.is_enabled() => {}
            _ => return Ok(false),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_the_spec_example_length() {
        // 16 bytes -> 22 base64url characters.
        assert_eq!(at_hash("abc").len(), 22);
        assert!(has_scope("openid profile", "profile"));
        assert!(!has_scope("openid profiles", "profile"));
    }
}
