//! OIDC client registration rules, shared by the admin API, the console and the CLI. Every
//! change is audited in the same transaction; a client secret is returned once and stored
//! only as its SHA-256 (it carries 256 random bits, like API tokens).

use crate::edge::error::AppError;
use crate::platform::secrets::random_token;
use axum::http::StatusCode;
use serde::Deserialize;
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_core::credential::secret_digest;
use trustplane_store::{OidcClient, Store, StoreError};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::enforce::oidc::{GRANT_CLIENT_CREDENTIALS, GRANT_CODE, GRANT_REFRESH, GRANTS};

/// A new client (API body, console form and CLI flags all end up here).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    /// Optional `client_id` (letters, digits, `.`, `_`, `-`; 1-100); generated when absent.
    #[serde(default)]
    pub client_id: Option<String>,
    pub name: String,
    /// The application the client belongs to (conditional access targets it).
    pub app_id: String,
    /// `true`: a public client (no secret, `token_endpoint_auth_method` `none`, PKCE).
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Default: openid profile email offline_access.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Default: authorization_code, refresh_token.
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    /// `client_secret_basic` (default for confidential clients) or `client_secret_post`.
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    /// `ES256` (default) or `RS256`.
    #[serde(default)]
    pub id_token_signed_response_alg: Option<String>,
    /// Put the user's group names in ID tokens and userinfo.
    #[serde(default)]
    pub groups_claim: bool,
}

/// A partial update (absent fields are kept).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientPatch {
    pub name: Option<String>,
    pub app_id: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub id_token_signed_response_alg: Option<String>,
    pub groups_claim: Option<bool>,
}

fn bad(code: &'static str, msg: impl Into<String>) -> AppError {
    AppError::bad_request(code, msg)
}

fn short(s: &str) -> String {
    s.chars().take(100).collect()
}

/// Redirect URIs are compared byte for byte, so they must be absolute, without fragment or
/// user info; `https`, or `http` on a loopback host (RFC 8252 native apps).
pub fn check_redirect_uri(uri: &str) -> Result<(), AppError> {
    let refuse = |why: &str| {
        bad(
            "invalid_redirect_uri",
            format!("`{}` is not an acceptable redirect URI: {why}.", short(uri)),
        )
    };
    if uri.len() > 2000 || !crate::edge::redirect::is_clean(uri) {
        return Err(refuse(
            "too long, or contains spaces, control characters or backslashes (also percent-encoded)",
        ));
    }
    let u = url::Url::parse(uri).map_err(|_| refuse("not an absolute URL"))?;
    if u.fragment().is_some() || uri.contains('#') {
        return Err(refuse("it must not contain a fragment"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(refuse("it must not contain user info"));
    }
    let loopback = matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match u.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(refuse(
            "use https (http only on 127.0.0.1, [::1] or localhost)",
        )),
    }
}

fn check_scope_token(s: &str) -> Result<(), AppError> {
    let ok = !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(bad(
            "invalid_scope",
            format!("`{}` is not a scope token.", short(s)),
        ))
    }
}

fn check_client_id(id: &str) -> Result<(), AppError> {
    let ok = !id.is_empty()
        && id.len() <= 100
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(bad(
            "invalid_client_id",
            "A client id has 1-100 letters, digits, `.`, `_` or `-`.",
        ))
    }
}

fn check_alg(alg: &str) -> Result<String, AppError> {
    match alg {
        "ES256" | "RS256" => Ok(alg.into()),
        other => Err(bad(
            "unsupported_alg",
            format!(
                "`{}` is not a supported id_token_signed_response_alg (ES256 or RS256).",
                short(other)
            ),
        )),
    }
}

fn dedup(v: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in v {
        let s = s.trim().to_string();
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// Checks a whole client for consistency (after creation defaults or a patch).
fn validate(c: &OidcClient) -> Result<(), AppError> {
    crate::enforce::app_routes::check_name(&c.name)?;
    for u in c.redirect_uris.iter().chain(&c.post_logout_redirect_uris) {
        check_redirect_uri(u)?;
    }
    if c.redirect_uris.len() > 20 || c.post_logout_redirect_uris.len() > 20 || c.scopes.len() > 50 {
        return Err(bad("too_many", "At most 20 redirect URIs and 50 scopes."));
    }
    for s in &c.scopes {
        check_scope_token(s)?;
    }
    if c.grant_types.is_empty() {
        return Err(bad("invalid_grant_types", "Allow at least one grant type."));
    }
    for g in &c.grant_types {
        if !GRANTS.contains(&g.as_str()) {
            return Err(bad(
                "invalid_grant_types",
                format!(
                    "`{}` is not a supported grant type ({}).",
                    short(g),
                    GRANTS.join(", ")
                ),
            ));
        }
    }
    if c.grant_types.iter().any(|g| g == GRANT_CODE) && c.redirect_uris.is_empty() {
        return Err(bad(
            "invalid_redirect_uri",
            "The authorization code grant needs at least one redirect URI.",
        ));
    }
    let public = c.secret_hash.is_none();
    match (public, c.token_endpoint_auth_method.as_str()) {
        (true, "none") | (false, "client_secret_basic" | "client_secret_post") => {}
        (true, _) => {
            return Err(bad(
                "invalid_auth_method",
                "A public client authenticates with `none`.",
            ));
        }
        (false, _) => {
            return Err(bad(
                "invalid_auth_method",
                "A confidential client authenticates with client_secret_basic or client_secret_post.",
            ));
        }
    }
    if public && c.grant_types.iter().any(|g| g == GRANT_CLIENT_CREDENTIALS) {
        return Err(bad(
            "invalid_grant_types",
            "The client credentials grant is for confidential clients only.",
        ));
    }
    check_alg(&c.id_token_alg)?;
    Ok(())
}

fn map_store(e: StoreError, id: &str, app: &str) -> AppError {
    match e {
        StoreError::Conflict(_) => AppError::new(
            StatusCode::CONFLICT,
            "client_exists",
            format!("A client with the id `{id}` already exists."),
        ),
        StoreError::NotFound("application") => bad(
            "unknown_application",
            format!("No application `{}` exists: create it first.", short(app)),
        ),
        other => other.into(),
    }
}

/// The audit view of a client (never a secret).
pub fn audit_view(c: &OidcClient) -> serde_json::Value {
    serde_json::json!({
        "name": c.name, "app_id": c.app_id, "public": c.is_public(),
        "redirect_uris": c.redirect_uris, "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "scopes": c.scopes, "grant_types": c.grant_types,
        "token_endpoint_auth_method": c.token_endpoint_auth_method,
        "id_token_signed_response_alg": c.id_token_alg, "groups_claim": c.groups_claim,
    })
}

/// Registers a client; returns it with its secret (confidential clients), shown once.
pub async fn create(
    store: &dyn Store,
    actor: &Actor,
    n: NewClient,
    now: time::OffsetDateTime,
) -> Result<(OidcClient, Option<String>), AppError> {
    let id = match n.client_id {
        Some(id) => {
            check_client_id(&id)?;
            id
        }
        None => Uuid::now_v7().simple().to_string(),
    };
    let secret = (!n.public).then(random_token);
    let method = match (&n.token_endpoint_auth_method, n.public) {
        (Some(m), _) => m.clone(),
        (None, true) => "none".into(),
        (None, false) => "client_secret_basic".into(),
    };
    let client = OidcClient {
        id,
        name: n.name.trim().to_string(),
        app_id: n.app_id,
        secret_hash: secret.as_deref().map(secret_digest),
        redirect_uris: dedup(&n.redirect_uris),
        post_logout_redirect_uris: dedup(&n.post_logout_redirect_uris),
        scopes: dedup(&n.scopes.unwrap_or_else(|| {
            ["openid", "profile", "email", "offline_access"]
                .map(String::from)
                .to_vec()
        })),
        grant_types: dedup(
            &n.grant_types
                .unwrap_or_else(|| vec![GRANT_CODE.into(), GRANT_REFRESH.into()]),
        ),
        token_endpoint_auth_method: method,
        id_token_alg: n
            .id_token_signed_response_alg
            .unwrap_or_else(|| crate::platform::keys::ALG.into()),
        groups_claim: n.groups_claim,
        created_at: now,
        updated_at: now,
    };
    validate(&client)?;
    let audit = AuditDraft::new(
        actor,
        "oidc_client.create",
        "oidc_client",
        Some(client.id.clone()),
    )
    .after(&audit_view(&client));
    store
        .create_oidc_client(&client, audit)
        .await
        .map_err(|e| map_store(e, &client.id, &client.app_id))?;
    Ok((client, secret))
}

pub async fn get(store: &dyn Store, id: &str) -> Result<OidcClient, AppError> {
    store
        .get_oidc_client(id)
        .await?
        .ok_or_else(|| AppError::not_found("OIDC client"))
}

/// Applies a patch (validated as a whole).
pub async fn update(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    p: ClientPatch,
    now: time::OffsetDateTime,
) -> Result<OidcClient, AppError> {
    let before = get(store, id).await?;
    let mut c = before.clone();
    if let Some(v) = p.name {
        c.name = v.trim().to_string();
    }
    if let Some(v) = p.app_id {
        if store.get_application(&v).await?.is_none() {
            return Err(map_store(StoreError::NotFound("application"), id, &v));
        }
        c.app_id = v;
    }
    if let Some(v) = p.redirect_uris {
        c.redirect_uris = dedup(&v);
    }
    if let Some(v) = p.post_logout_redirect_uris {
        c.post_logout_redirect_uris = dedup(&v);
    }
    if let Some(v) = p.scopes {
        c.scopes = dedup(&v);
    }
    if let Some(v) = p.grant_types {
        c.grant_types = dedup(&v);
    }
    if let Some(v) = p.token_endpoint_auth_method {
        c.token_endpoint_auth_method = v;
    }
    if let Some(v) = p.id_token_signed_response_alg {
        c.id_token_alg = v;
    }
    if let Some(v) = p.groups_claim {
        c.groups_claim = v;
    }
    c.updated_at = now;
    validate(&c)?;
    let audit = AuditDraft::new(
        actor,
        "oidc_client.update",
        "oidc_client",
        Some(c.id.clone()),
    )
    .before(&audit_view(&before))
    .after(&audit_view(&c));
    store.update_oidc_client(&c, audit).await?;
    Ok(c)
}

/// Replaces the secret of a confidential client; returns the new one (shown once).
pub async fn rotate_secret(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    now: time::OffsetDateTime,
) -> Result<(OidcClient, String), AppError> {
    let mut c = get(store, id).await?;
    if c.is_public() {
        return Err(bad(
            "public_client",
            "A public client has no secret to rotate.",
        ));
    }
    let secret = random_token();
    c.secret_hash = Some(secret_digest(&secret));
    c.updated_at = now;
    let audit = AuditDraft::new(
        actor,
        "oidc_client.secret.rotate",
        "oidc_client",
        Some(c.id.clone()),
    );
    store.update_oidc_client(&c, audit).await?;
    Ok((c, secret))
}

/// Deletes a client and everything issued to it.
pub async fn delete(store: &dyn Store, actor: &Actor, id: &str) -> Result<(), AppError> {
    let before = get(store, id).await?;
    let audit = AuditDraft::new(
        actor,
        "oidc_client.delete",
        "oidc_client",
        Some(id.to_string()),
    )
    .before(&audit_view(&before));
    if store.delete_oidc_client(id, audit).await? {
        Ok(())
    } else {
        Err(AppError::not_found("OIDC client"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_must_be_exact_and_safe() {
        assert!(check_redirect_uri("https://rp.example.com/cb").is_ok());
        assert!(check_redirect_uri("http://127.0.0.1:8080/cb").is_ok());
        assert!(check_redirect_uri("http://rp.example.com/cb").is_err());
        assert!(check_redirect_uri("https://rp.example.com/cb#x").is_err());
        assert!(check_redirect_uri("https://u:p@rp.example.com/cb").is_err());
        assert!(check_redirect_uri("/cb").is_err());
        assert!(check_redirect_uri("javascript:alert(1)").is_err());
    }

    #[test]
    fn only_es256_and_rs256_are_accepted() {
        assert!(check_alg("RS256").is_ok());
        assert!(check_alg("ES256").is_ok());
        for alg in ["none", "HS256", "es256", "PS256"] {
            assert!(
                check_alg(alg)
                    .unwrap_err()
                    .message
                    .contains("ES256 or RS256")
            );
        }
    }
}
