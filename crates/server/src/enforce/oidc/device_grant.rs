//! The device authorization grant (RFC 8628): `POST /oauth2/device_authorization` gives a
//! device code (polled at the token endpoint) and a user code, which a signed-in user
//! enters at `/device` and approves or denies. Conditional access for the client's
//! application is evaluated at approval.

use crate::edge::auth::{PageUser, RequestCtx};
use crate::edge::pages::{CsrfForm, PageResult, render};
use crate::enforce::oidc::token_issuer::AuthInfo;
use crate::enforce::oidc::{
    DEVICE_INTERVAL, DEVICE_SECONDS, GRANT_DEVICE, OAuthError, acr_of, authenticate_client, issuer,
    json_no_store, params,
};
use crate::platform::secrets::random_token;
use crate::state::AppState;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use rand::Rng;
use rand::rngs::OsRng;
use serde::Deserialize;
use trustplane_core::access::Outcome;
use trustplane_core::credential::secret_digest;
use trustplane_store::{DeviceCode, DeviceDecision};
use uuid::Uuid;

/// Consonants only: no vowels (no words), no easily confused letters.
const ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

fn user_code() -> String {
    let mut rng = OsRng;
    (0..8)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// `abcd-efgh`, `ABCDEFGH` and `abcd efgh` are the same code.
pub fn normalise(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphabetic())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn display(code: &str) -> String {
    if code.len() == 8 {
        format!("{}-{}", &code[..4], &code[4..])
    } else {
        code.to_string()
    }
}

/// `POST /oauth2/device_authorization`.
pub async fn authorization(
    State(state): State<AppState>,
    ctx: crate::edge::auth::RequestCtx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match authorization_inner(&state, &ctx, &headers, &body).await {
        Ok(v) => json_no_store(v),
        Err(e) => e.into_response(),
    }
}

async fn authorization_inner(
    state: &AppState,
    ctx: &crate::edge::auth::RequestCtx,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<serde_json::Value, OAuthError> {
    let p = params(body)?;
    let client = authenticate_client(state, headers, &p).await?;
    if !client.grant_types.iter().any(|g| g == GRANT_DEVICE) {
        return Err(OAuthError::new(
            "unauthorized_client",
            "The client may not use the device authorization grant.",
        ));
    }
    let asked = p.get("scope").cloned().unwrap_or_else(|| "openid".into());
    let mut scopes: Vec<&str> = Vec::new();
    for s in asked.split(' ').filter(|s| !s.is_empty()) {
        if !client.scopes.iter().any(|c| c == s) {
            return Err(OAuthError::new(
                "invalid_scope",
                format!("The client may not request the scope `{s}`."),
            ));
        }
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    let now = state.now();
    // A public client authenticates nothing, and this writes a row: a per-IP rate and a cap
    // on pending device authorizations.
    if let Err(e) = crate::signin::limits::unauthenticated::admit(
        state,
        ctx.ip,
        trustplane_store::PendingKind::DeviceAuthorization,
        now,
    )
    .await
    {
        return Err(OAuthError {
            status: e.status,
            error: if e.status == axum::http::StatusCode::TOO_MANY_REQUESTS {
                "slow_down"
            } else {
                "temporarily_unavailable"
            },
            description: e.message,
            challenge: None,
        });
    }
    let device_code = random_token();
    // A collision of user codes is refused by the unique index; try again a few times.
    let mut code = user_code();
    for attempt in 0..5 {
        let d = DeviceCode {
            hash: secret_digest(&device_code),
            grant_id: Uuid::now_v7(),
            user_code: code.clone(),
            client_id: client.id.clone(),
            scope: scopes.join(" "),
            status: "pending".into(),
            user_id: None,
            session_id: None,
            data: "null".into(),
            created_at: now,
            expires_at: now + time::Duration::seconds(DEVICE_SECONDS),
            last_poll_at: None,
        };
        match state.store.create_device_code(&d).await {
            Ok(()) => break,
            Err(trustplane_store::StoreError::Conflict(_)) if attempt < 4 => code = user_code(),
            Err(e) => return Err(e.into()),
        }
    }
    let iss = issuer(state, headers);
    let shown = display(&code);
    Ok(serde_json::json!({
        "device_code": device_code,
        "user_code": shown,
        "verification_uri": format!("{iss}/device"),
        "verification_uri_complete": format!("{iss}/device?user_code={shown}"),
        "expires_in": DEVICE_SECONDS,
        "interval": DEVICE_INTERVAL,
    }))
}

#[derive(Template)]
#[template(path = "device.html")]
struct DevicePage {
    csrf: String,
    username: String,
    user_code: String,
    client: Option<String>,
    scope: String,
    error: Option<String>,
    done: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct DeviceQuery {
    #[serde(default)]
    user_code: String,
}

/// The pending device code for what the user typed.
async fn pending(state: &AppState, typed: &str) -> Result<Option<DeviceCode>, OAuthError> {
    let code = normalise(typed);
    if code.len() != 8 {
        return Ok(None);
    }
    let now = state.now();
    Ok(state
        .store
        .device_by_user_code(&code)
        .await?
        .filter(|d| d.status == "pending" && now < d.expires_at))
}

/// `GET /device[?user_code=…]`.
pub async fn page(
    State(state): State<AppState>,
    jar: CookieJar,
    PageUser(ctx): PageUser,
    Query(q): Query<DeviceQuery>,
) -> PageResult {
    let (jar, csrf) = state.csrf_issue(jar);
    let mut page = DevicePage {
        csrf,
        username: ctx.user.username.clone(),
        user_code: q.user_code.chars().take(20).collect(),
        client: None,
        scope: String::new(),
        error: None,
        done: None,
    };
    if !q.user_code.is_empty() {
        if state.device_code_limiter.check_key(&ctx.user.id).is_err() {
            page.error = Some("Too many codes tried. Wait a minute and try again.".into());
            return Ok((
                jar,
                crate::edge::pages::render_status(axum::http::StatusCode::TOO_MANY_REQUESTS, &page),
            )
                .into_response());
        }
        match pending(&state, &q.user_code).await.map_err(to_page)? {
            Some(d) => {
                let client = state.store.get_oidc_client(&d.client_id).await?;
                page.client = Some(client.map(|c| c.name).unwrap_or(d.client_id));
                page.scope = d.scope;
                page.user_code = display(&d.user_code);
            }
            None => page.error = Some("This code is unknown or expired.".into()),
        }
    }
    Ok((jar, render(&page)).into_response())
}

fn to_page(e: OAuthError) -> crate::edge::pages::PageError {
    crate::edge::pages::PageError(crate::edge::error::AppError::new(
        e.status,
        "server_error",
        e.description,
    ))
}

#[derive(Deserialize)]
pub struct DeviceForm {
    user_code: String,
    action: String,
}

/// `POST /device`: approve or deny.
pub async fn decide(
    State(state): State<AppState>,
    req: RequestCtx,
    jar: CookieJar,
    PageUser(ctx): PageUser,
    CsrfForm(f): CsrfForm<DeviceForm>,
) -> PageResult {
    let (jar, csrf) = state.csrf_issue(jar);
    let mut page = DevicePage {
        csrf,
        username: ctx.user.username.clone(),
        user_code: String::new(),
        client: None,
        scope: String::new(),
        error: None,
        done: None,
    };
    if state.device_code_limiter.check_key(&ctx.user.id).is_err() {
        page.error = Some("Too many codes tried. Wait a minute and try again.".into());
        return Ok((
            jar,
            crate::edge::pages::render_status(axum::http::StatusCode::TOO_MANY_REQUESTS, &page),
        )
            .into_response());
    }
    let Some(d) = pending(&state, &f.user_code).await.map_err(to_page)? else {
        page.error = Some("This code is unknown or expired.".into());
        return Ok((jar, render(&page)).into_response());
    };
    let now = state.now();
    let decision = if f.action == "approve" {
        let Some(client) = state.store.get_oidc_client(&d.client_id).await? else {
            page.error = Some("The application is no longer registered.".into());
            return Ok((jar, render(&page)).into_response());
        };
        match crate::enforce::oidc::authorize::evaluate(&state, &req, &ctx, &client.app_id, now)
            .await?
        {
            Outcome::Allow => {}
            Outcome::Block { .. } => {
                state
                    .store
                    .decide_device_code(&d.hash, DeviceDecision::Deny, now)
                    .await?;
                page.error = Some("Your organisation's policy blocks this application.".into());
                return Ok((jar, render(&page)).into_response());
            }
            Outcome::Requires(_) => {
                page.error = Some(
                    "Your organisation's policy requires a stronger or more recent sign-in for this application: sign out, sign in again, and enter the code again."
                        .into(),
                );
                return Ok((jar, render(&page)).into_response());
            }
        }
        let methods = &ctx.session.methods;
        let info = AuthInfo {
            auth_time: methods
                .iter()
                .map(|m| m.at)
                .max()
                .unwrap_or(ctx.session.created_at)
                .unix_timestamp(),
            acr: acr_of(methods).to_string(),
            amr: trustplane_core::authn::amr(methods)
                .into_iter()
                .map(String::from)
                .collect(),
        };
        DeviceDecision::Approve {
            user_id: ctx.user.id,
            session_id: ctx.session.id,
            data: serde_json::to_string(&info).unwrap_or_else(|_| "null".into()),
        }
    } else {
        DeviceDecision::Deny
    };
    let approved = matches!(decision, DeviceDecision::Approve { .. });
    if state
        .store
        .decide_device_code(&d.hash, decision, now)
        .await?
    {
        page.done = Some(if approved {
            "Approved: return to your device.".into()
        } else {
            "Denied: the device will not be signed in.".into()
        });
    } else {
        page.error = Some("This code is unknown or expired.".into());
    }
    Ok((jar, render(&page)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_normalise() {
        let c = user_code();
        assert_eq!(c.len(), 8);
        assert_eq!(normalise(&display(&c)), c);
        assert_eq!(normalise("bcdf-ghjk"), "BCDFGHJK");
    }
}
