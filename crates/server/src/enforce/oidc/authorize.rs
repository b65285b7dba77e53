//! `GET /oauth2/authorize` and `GET /oauth2/authorize/resume?request=…`.
//!
//! The client and redirect URI are checked first: while either is wrong the error is shown
//! on a page, never redirected (no open redirect). Every later error goes to the redirect
//! URI with `error`, `error_description`, `state` and `iss`. A valid request is stored on
//! the server; when a sign-in (or a stronger or fresher one) is needed the browser is sent
//! to `/login?next=/oauth2/authorize/resume?request=ID&app=…&prompt=login&max_age=…&acr=…`
//! and the request resumes from the store afterwards. A request that still falls short
//! after a sign-in that happened after it was created ends with an error, never a loop.

use crate::edge::auth::{RequestCtx, SessionCtx, resolve_session};
use crate::edge::error::AppError;
use crate::enforce::oidc::token_issuer::AuthInfo;
use crate::enforce::oidc::{CODE_SECONDS, GRANT_CODE, REQUEST_SECONDS, acr_of, acr_rank, issuer};
use crate::enforce::policy::{self, Signals};
use crate::platform::secrets::random_token;
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use time::OffsetDateTime;
use trustplane_core::access::{ClientAppType, Outcome, TargetRequest};
use trustplane_core::credential::secret_digest;
use trustplane_store::{OidcClient, OidcCode, OidcRequest};
use uuid::Uuid;

/// A validated authorization request, kept on the server while the user signs in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt_none: bool,
    pub prompt_login: bool,
    pub max_age: Option<i64>,
    /// Requested `acr` values (voluntary, `acr_values`).
    pub acr_values: Vec<String>,
    /// Essential `acr` values (`claims` parameter).
    pub acr_essential: Vec<String>,
    pub issuer: String,
}

/// The page shown when the client or redirect URI cannot be trusted.
fn error_page(message: &str) -> Response {
    crate::edge::pages::error_page(&AppError::bad_request(
        "invalid_authorization_request",
        message,
    ))
}

/// Sends an error back to the client's redirect URI.
pub fn redirect_error(r: &AuthRequest, error: &str, description: &str) -> Response {
    let mut pairs = vec![("error", error), ("error_description", description)];
    if let Some(s) = &r.state {
        pairs.push(("state", s));
    }
    pairs.push(("iss", &r.issuer));
    redirect_with(&r.redirect_uri, &pairs)
}

fn redirect_with(uri: &str, pairs: &[(&str, &str)]) -> Response {
    match url::Url::parse(uri) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in pairs {
                    q.append_pair(k, v);
                }
            }
            Redirect::to(u.as_str()).into_response()
        }
        Err(_) => error_page("The redirect URI is not a valid URL."),
    }
}

fn valid_challenge(c: &str) -> bool {
    (43..=128).contains(&c.len())
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Essential `acr` values from a `claims` parameter (`{"id_token":{"acr":{...}}}`).
fn essential_acr(claims: &str) -> Result<Vec<String>, &'static str> {
    let v: serde_json::Value =
        serde_json::from_str(claims).map_err(|_| "The claims parameter is not valid JSON.")?;
    if !v.is_object() {
        return Err("The claims parameter must be a JSON object.");
    }
    let acr = &v["id_token"]["acr"];
    if acr["essential"].as_bool() != Some(true) {
        return Ok(Vec::new());
    }
    let mut out: Vec<String> = Vec::new();
    if let Some(s) = acr["value"].as_str() {
        out.push(s.to_string());
    }
    for s in acr["values"].as_array().into_iter().flatten() {
        if let Some(s) = s.as_str() {
            out.push(s.to_string());
        }
    }
    Ok(out)
}

/// `GET /oauth2/authorize`.
pub async fn authorize(
    State(state): State<AppState>,
    ctx: RequestCtx,
    headers: HeaderMap,
    jar: CookieJar,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let iss = issuer(&state, &headers);
    let p = match crate::enforce::oidc::params(raw.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return Ok(error_page(&e.description)),
    };
    let Some(client_id) = p.get("client_id") else {
        return Ok(error_page("The request has no client_id."));
    };
    let Some(client) = state.store.get_oidc_client(client_id).await? else {
        return Ok(error_page("The client is not registered."));
    };
    let Some(redirect_uri) = p.get("redirect_uri") else {
        return Ok(error_page("The request has no redirect_uri."));
    };
    // Exact, byte-for-byte match: no prefix, case, fragment or path tricks.
    if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
        return Ok(error_page(
            "The redirect URI is not registered for this client.",
        ));
    }
    let mut r = AuthRequest {
        client_id: client.id.clone(),
        redirect_uri: redirect_uri.clone(),
        scope: String::new(),
        state: p.get("state").cloned(),
        nonce: p.get("nonce").cloned(),
        code_challenge: None,
        prompt_none: false,
        prompt_login: false,
        max_age: None,
        acr_values: Vec::new(),
        acr_essential: Vec::new(),
        issuer: iss,
    };
    if let Err((error, description)) = validate(&client, &p, &mut r) {
        return Ok(redirect_error(&r, error, &description));
    }
    let now = state.now();
    // Unauthenticated, and it writes a row: a per-IP rate and a cap on pending requests.
    if let Err(e) = crate::signin::limits::unauthenticated::admit(
        &state,
        ctx.ip,
        trustplane_store::PendingKind::AuthorizationRequest,
        now,
    )
    .await
    {
        return Ok(crate::edge::pages::error_page(&e));
    }
    let stored = OidcRequest {
        id: random_token(),
        client_id: client.id.clone(),
        data: serde_json::to_string(&r).map_err(|_| AppError::internal())?,
        created_at: now,
        expires_at: now + time::Duration::seconds(REQUEST_SECONDS),
    };
    state.store.save_oidc_request(&stored).await?;
    proceed(&state, &ctx, &jar, &client, &r, &stored).await
}

type Refusal = (&'static str, String);

fn invalid_request(description: &str) -> Refusal {
    ("invalid_request", description.to_string())
}

/// Checks what a request asks for, once its client and redirect URI are trusted, and
/// fills `r` with it. The checks run in a fixed order (the first failure is the error
/// returned): unsupported request objects and response type or mode, the client's grant,
/// the scopes, PKCE, the length of `state` and `nonce`, `prompt` and `max_age`, and
/// the requested `acr` values.
fn validate(
    client: &OidcClient,
    p: &HashMap<String, String>,
    r: &mut AuthRequest,
) -> Result<(), Refusal> {
    check_response_type(p)?;
    if !client.grant_types.iter().any(|g| g == GRANT_CODE) {
        return Err((
            "unauthorized_client",
            "The client may not use the authorization code grant.".into(),
        ));
    }
    r.scope = checked_scope(client, p)?;
    r.code_challenge = checked_challenge(client, p)?;
    for v in [&r.state, &r.nonce].into_iter().flatten() {
        if v.len() > 1000 {
            return Err(invalid_request(
                "state and nonce are limited to 1000 characters.",
            ));
        }
    }
    apply_prompt(p, r)?;
    apply_acr(p, r)
}

/// No request objects, and only `response_type=code` with `response_mode=query`.
fn check_response_type(p: &HashMap<String, String>) -> Result<(), Refusal> {
    if p.contains_key("request") {
        return Err((
            "request_not_supported",
            "Request objects are not supported.".into(),
        ));
    }
    if p.contains_key("request_uri") {
        return Err((
            "request_uri_not_supported",
            "request_uri is not supported.".into(),
        ));
    }
    match p.get("response_type").map(String::as_str) {
        None => return Err(invalid_request("response_type is required.")),
        Some("code") => {}
        Some(_) => {
            return Err((
                "unsupported_response_type",
                "Only response_type=code is supported.".into(),
            ));
        }
    }
    if let Some(m) = p.get("response_mode")
        && m != "query"
    {
        return Err(invalid_request("Only response_mode=query is supported."));
    }
    Ok(())
}

/// The requested scopes, `openid` among them and each allowed to the client, without
/// repeats and in the order asked.
fn checked_scope(client: &OidcClient, p: &HashMap<String, String>) -> Result<String, Refusal> {
    let scope = p.get("scope").cloned().unwrap_or_default();
    let scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    if !scopes.contains(&"openid") {
        return Err(("invalid_scope", "The scope must include openid.".into()));
    }
    if let Some(s) = scopes
        .iter()
        .find(|s| !client.scopes.iter().any(|c| c == *s))
    {
        return Err((
            "invalid_scope",
            format!("The client may not request the scope `{s}`."),
        ));
    }
    let mut uniq: Vec<&str> = Vec::new();
    for s in scopes {
        if !uniq.contains(&s) {
            uniq.push(s);
        }
    }
    Ok(uniq.join(" "))
}

/// The PKCE `code_challenge`: S256 only, well formed, required from public clients.
fn checked_challenge(
    client: &OidcClient,
    p: &HashMap<String, String>,
) -> Result<Option<String>, Refusal> {
    match (
        p.get("code_challenge"),
        p.get("code_challenge_method").map(String::as_str),
    ) {
        (None, Some(_)) => Err(invalid_request(
            "code_challenge_method without code_challenge.",
        )),
        (None, None) if client.is_public() => Err(invalid_request(
            "PKCE (code_challenge with S256) is required for public clients.",
        )),
        (None, None) => Ok(None),
        (Some(_), None | Some("plain")) => Err(invalid_request(
            "Only the S256 code_challenge_method is accepted (plain is refused).",
        )),
        (Some(c), Some("S256")) => {
            if !valid_challenge(c) {
                return Err(invalid_request("The code_challenge is malformed."));
            }
            Ok(Some(c.clone()))
        }
        (Some(_), Some(_)) => Err(invalid_request("Unsupported code_challenge_method.")),
    }
}

/// `prompt` (`none` alone, `login`; `consent` and `select_account` are accepted and
/// ignored) and `max_age`.
fn apply_prompt(p: &HashMap<String, String>, r: &mut AuthRequest) -> Result<(), Refusal> {
    if let Some(prompt) = p.get("prompt") {
        let values: Vec<&str> = prompt.split(' ').filter(|s| !s.is_empty()).collect();
        for v in &values {
            match *v {
                "none" => r.prompt_none = true,
                "login" => r.prompt_login = true,
                "consent" | "select_account" => {}
                _ => return Err(invalid_request("Unsupported prompt value.")),
            }
        }
        if r.prompt_none && values.len() > 1 {
            return Err(invalid_request(
                "prompt=none cannot be combined with other values.",
            ));
        }
    }
    if let Some(m) = p.get("max_age") {
        match m.parse::<i64>() {
            Ok(v) if v >= 0 => r.max_age = Some(v),
            _ => return Err(invalid_request("max_age must be a non-negative integer.")),
        }
    }
    Ok(())
}

/// `acr_values` (unknown values are dropped) and the essential `acr` values of `claims`
/// (an unknown one is refused).
fn apply_acr(p: &HashMap<String, String>, r: &mut AuthRequest) -> Result<(), Refusal> {
    if let Some(a) = p.get("acr_values") {
        r.acr_values = a
            .split(' ')
            .filter(|s| acr_rank(s).is_some())
            .map(String::from)
            .collect();
    }
    if let Some(c) = p.get("claims") {
        r.acr_essential = essential_acr(c).map_err(invalid_request)?;
        if r.acr_essential.iter().any(|v| acr_rank(v).is_none()) {
            return Err((
                "unmet_authentication_requirements",
                "An essential acr value is not one trustplane offers.".into(),
            ));
        }
    }
    Ok(())
}

/// `GET /oauth2/authorize/resume?request=ID`: continues a stored request after sign-in.
///
/// A browser usually arrives here through the redirect that ends the sign-in form's POST;
/// browsers apply the sign-in page's CSP `form-action 'self'` to that whole redirect chain,
/// so a redirect from here to the client would be blocked. For browser navigations
/// (`Sec-Fetch-Mode: navigate`) the redirect to the client is therefore a small page that
/// moves on by itself (meta refresh, plus a link); other clients get the plain `303`.
pub async fn resume(
    State(state): State<AppState>,
    ctx: RequestCtx,
    headers: HeaderMap,
    jar: CookieJar,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let res = resume_inner(state, ctx, jar, raw).await?;
    let navigate = headers
        .get("sec-fetch-mode")
        .is_some_and(|v| v.as_bytes() == b"navigate");
    let to_client = res
        .headers()
        .get(axum::http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .filter(|l| l.starts_with("http://") || l.starts_with("https://"))
        .map(String::from);
    match to_client {
        Some(url) if navigate => Ok(crate::edge::pages::moving_on(&url)),
        _ => Ok(res),
    }
}

async fn resume_inner(
    state: AppState,
    ctx: RequestCtx,
    jar: CookieJar,
    raw: Option<String>,
) -> Result<Response, AppError> {
    let p = match crate::enforce::oidc::params(raw.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return Ok(error_page(&e.description)),
    };
    let now = state.now();
    let Some(id) = p.get("request") else {
        return Ok(error_page("The request parameter is missing."));
    };
    let Some(stored) = state.store.load_oidc_request(id, now).await? else {
        return Ok(error_page(
            "This sign-in request expired or was already completed. Return to the application and start again.",
        ));
    };
    let Ok(r) = serde_json::from_str::<AuthRequest>(&stored.data) else {
        return Err(AppError::internal());
    };
    let Some(client) = state.store.get_oidc_client(&stored.client_id).await? else {
        return Ok(error_page("The client is no longer registered."));
    };
    if !client.redirect_uris.contains(&r.redirect_uri) {
        return Ok(error_page("The redirect URI is no longer registered."));
    }
    proceed(&state, &ctx, &jar, &client, &r, &stored).await
}

/// The strongest requirement: (rank, essential).
fn wanted_acr(r: &AuthRequest) -> Option<(usize, bool)> {
    let min = |v: &[String]| v.iter().filter_map(|a| acr_rank(a)).min();
    if let Some(e) = min(&r.acr_essential) {
        return Some((e, true));
    }
    min(&r.acr_values).map(|v| (v, false))
}

fn login_url(r: &AuthRequest, stored: &OidcRequest, app: &str, reauth: bool) -> String {
    let next = format!("/oauth2/authorize/resume?request={}", stored.id);
    let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    let mut url = format!("/login?next={}&app={}", enc(&next), enc(app));
    if reauth {
        url.push_str("&prompt=login");
    }
    if let Some(m) = r.max_age {
        url.push_str(&format!("&max_age={m}"));
    }
    if let Some((rank, _)) = wanted_acr(r)
        && let Some(v) = crate::enforce::oidc::ACR_VALUES.get(rank)
    {
        url.push_str(&format!("&acr={v}"));
    }
    url
}

/// A stored request being carried on: its client, what it asks for and its stored row.
#[derive(Clone, Copy)]
struct Pending<'a> {
    client: &'a OidcClient,
    r: &'a AuthRequest,
    stored: &'a OidcRequest,
}

impl Pending<'_> {
    /// To the sign-in page, coming back to this request afterwards.
    fn login_redirect(&self, reauth: bool) -> Response {
        Redirect::to(&login_url(self.r, self.stored, &self.client.app_id, reauth)).into_response()
    }
}

/// How the session's user signed in, as a request measures it.
struct SignIn {
    /// The user signed in (again) after this request was made: requirements that still
    /// fail now end the request instead of looping back to the sign-in page.
    fresh: bool,
    /// `auth_time`: the most recent authentication (a step-up or re-authentication in
    /// place moves it), which is what `max_age` is measured against.
    auth_time: OffsetDateTime,
    acr: &'static str,
    /// The session reaches the requested `acr` (or none was requested).
    acr_ok: bool,
}

impl SignIn {
    fn of(session: &SessionCtx, r: &AuthRequest, stored: &OidcRequest) -> Self {
        let methods = &session.session.methods;
        let last_auth = methods
            .iter()
            .map(|m| m.at)
            .max()
            .unwrap_or(session.session.created_at)
            .max(session.session.created_at);
        let acr = acr_of(methods);
        SignIn {
            fresh: last_auth >= stored.created_at,
            auth_time: last_auth,
            acr,
            acr_ok: wanted_acr(r).is_none_or(|(rank, _)| acr_rank(acr).is_some_and(|a| a >= rank)),
        }
    }
}

/// Carries on a validated request: to the sign-in page when the user is not signed in, or
/// not recently or strongly enough; then conditional access; then the code to the client.
async fn proceed(
    state: &AppState,
    ctx: &RequestCtx,
    jar: &CookieJar,
    client: &OidcClient,
    r: &AuthRequest,
    stored: &OidcRequest,
) -> Result<Response, AppError> {
    let now = state.now();
    let session = resolve_session(state, jar).await?;
    let req = Pending { client, r, stored };
    let Some(session) = session else {
        if r.prompt_none {
            return Ok(redirect_error(
                r,
                "login_required",
                "The user is not signed in.",
            ));
        }
        return Ok(req.login_redirect(r.prompt_login));
    };
    let sign_in = SignIn::of(&session, r, stored);
    if let Some(res) = sign_in_shortfall(state, req, &sign_in, now).await? {
        return Ok(res);
    }
    if let Some(res) = access_shortfall(state, ctx, req, &session, sign_in.fresh, now).await? {
        return Ok(res);
    }
    issue_code(state, req, &session, &sign_in, now).await
}

/// The answer when the sign-in falls short of the request (`prompt=login`, `max_age`,
/// `acr`): a new sign-in, or an error when `prompt=none` forbids one or when an essential
/// `acr` is still not reached after a fresh sign-in.
async fn sign_in_shortfall(
    state: &AppState,
    req: Pending<'_>,
    s: &SignIn,
    now: OffsetDateTime,
) -> Result<Option<Response>, AppError> {
    let r = req.r;
    let too_old = !s.fresh
        && r.max_age
            .is_some_and(|m| (now - s.auth_time).whole_seconds() >= m.max(1));
    let needs_login = (r.prompt_login && !s.fresh) || too_old || (!s.acr_ok && !s.fresh);
    if needs_login {
        if r.prompt_none {
            return Ok(Some(redirect_error(
                r,
                "login_required",
                "A new sign-in is needed and prompt=none forbids it.",
            )));
        }
        return Ok(Some(req.login_redirect(true)));
    }
    if !s.acr_ok && wanted_acr(r).is_some_and(|(_, essential)| essential) {
        state.store.delete_oidc_request(&req.stored.id, now).await?;
        return Ok(Some(redirect_error(
            r,
            "unmet_authentication_requirements",
            "The sign-in did not reach the requested authentication strength.",
        )));
    }
    Ok(None)
}

/// Conditional access for the client's application: `None` when allowed, else the answer
/// (an error, or a step-up sign-in unless the user just signed in).
async fn access_shortfall(
    state: &AppState,
    ctx: &RequestCtx,
    req: Pending<'_>,
    session: &SessionCtx,
    fresh: bool,
    now: OffsetDateTime,
) -> Result<Option<Response>, AppError> {
    let (client, r, stored) = (req.client, req.r, req.stored);
    match evaluate(state, ctx, session, &client.app_id, now).await? {
        Outcome::Allow => Ok(None),
        Outcome::Block { .. } => {
            state.store.delete_oidc_request(&stored.id, now).await?;
            tracing::info!(client = %client.id, app = %client.app_id, user = %session.user.id,
                correlation_id = %ctx.correlation_id, "authorization blocked by conditional access");
            Ok(Some(redirect_error(
                r,
                "access_denied",
                "Access is blocked by your organisation's policy.",
            )))
        }
        Outcome::Requires(_) => {
            if r.prompt_none {
                return Ok(Some(redirect_error(
                    r,
                    "interaction_required",
                    "Your organisation's policy requires a step-up sign-in.",
                )));
            }
            if fresh {
                state.store.delete_oidc_request(&stored.id, now).await?;
                return Ok(Some(redirect_error(
                    r,
                    "access_denied",
                    "The sign-in did not satisfy your organisation's policy for this application.",
                )));
            }
            Ok(Some(req.login_redirect(true)))
        }
    }
}

/// Stores an authorization code for the session's user, ends the stored request and sends
/// the code (with `state` and `iss`) to the redirect URI.
async fn issue_code(
    state: &AppState,
    req: Pending<'_>,
    session: &SessionCtx,
    s: &SignIn,
    now: OffsetDateTime,
) -> Result<Response, AppError> {
    let (client, r) = (req.client, req.r);
    let code = random_token();
    let info = AuthInfo {
        auth_time: s.auth_time.unix_timestamp(),
        acr: s.acr.to_string(),
        amr: trustplane_core::authn::amr(&session.session.methods)
            .into_iter()
            .map(String::from)
            .collect(),
    };
    let data = serde_json::json!({
        "redirect_uri": r.redirect_uri,
        "code_challenge": r.code_challenge,
        "nonce": r.nonce,
        "scope": r.scope,
        "auth": info,
    });
    state
        .store
        .create_oidc_code(&OidcCode {
            hash: secret_digest(&code),
            grant_id: Uuid::now_v7(),
            client_id: client.id.clone(),
            user_id: session.user.id,
            session_id: Some(session.session.id),
            data: data.to_string(),
            created_at: now,
            expires_at: now + time::Duration::seconds(CODE_SECONDS),
            used_at: None,
        })
        .await?;
    state.store.delete_oidc_request(&req.stored.id, now).await?;
    let mut pairs = vec![("code", code.as_str())];
    if let Some(s) = &r.state {
        pairs.push(("state", s));
    }
    pairs.push(("iss", &r.issuer));
    Ok(redirect_with(&r.redirect_uri, &pairs))
}

/// Conditional access for a session asking for an application (the forward-auth pattern).
pub async fn evaluate(
    state: &AppState,
    ctx: &RequestCtx,
    session: &SessionCtx,
    app_id: &str,
    now: OffsetDateTime,
) -> Result<Outcome, AppError> {
    let store = state.store.as_ref();
    let methods = &session.session.methods;
    let actx = policy::context(
        store,
        Signals {
            user_id: session.user.id,
            methods,
            primary_at: methods.first().map(|m| m.at),
            ip: ctx.ip,
            country: state.country_of(ctx.ip),
            user_agent: ctx.user_agent.as_deref(),
            client_app: ClientAppType::Browser,
            target: TargetRequest::Application {
                id: app_id.to_string(),
                sensitivity_label: None,
                authentication_contexts: Vec::new(),
            },
            password_changed: false,
            now,
        },
    )
    .await?;
    let loaded = state.policies.get(store).await?;
    Ok(trustplane_core::access::evaluate(&loaded.set, &actx).outcome)
}

#[cfg(test)]
#[path = "authorize_tests.rs"]
mod tests;
