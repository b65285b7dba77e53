//! Security keys and passkeys in the browser (the ceremonies are in `crate::signin::webauthn`).
//!
//! JSON endpoints called by `/static/webauthn.js` (the CSRF token travels in the
//! `X-CSRF-Token` header, the answer of `navigator.credentials` in the body):
//!
//! - `POST /my/security-info/webauthn/options` → `{ceremony, publicKey}` to register one;
//!   `POST /my/security-info/webauthn` `{ceremony, label, credential}` registers it.
//! - `POST /login/webauthn/options`, `POST /login/webauthn` `{ceremony, credential}`: the
//!   second-factor step of a sign-in in progress (flow cookie).
//! - `POST /login/passkey/options`, `POST /login/passkey` `{ceremony, credential, next}`:
//!   passwordless, username-less sign-in with a discoverable credential.
//!
//! Success answers `{ "redirect": URL }`; failures the usual `{error, message}` shape.
//! `POST /my/security-info/webauthn/{id}/rename` is an ordinary form.

use crate::edge::auth::{PageUser, RequestCtx};
use crate::edge::cookies::FLOW;
use crate::edge::error::AppError;
use crate::edge::pages::{CsrfForm, PageResult};
use crate::signin::flow::LoginOutcome;
use crate::signin::steps::StepResult;
use crate::state::{AppState, CSRF_HEADER};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use trustplane_core::audit::AuditDraft;
use trustplane_core::mfa::webauthn::{MAX_LABEL_CHARS, WebauthnCredential, clean_label};
use uuid::Uuid;

const HERE: &str = "/my/security-info";
/// A WebAuthn answer is a few KiB; anything much larger is not one.
const MAX_JSON: usize = 64 * 1024;

/// One security key or passkey on the security info page.
pub struct KeyRow {
    pub id: Uuid,
    pub label: String,
    pub binding: &'static str,
    pub aaguid: String,
    pub attested: bool,
}

impl From<WebauthnCredential> for KeyRow {
    fn from(c: WebauthnCredential) -> Self {
        KeyRow {
            id: c.id,
            binding: c.binding(),
            aaguid: c
                .aaguid
                .map(|a| a.to_string())
                .unwrap_or_else(|| "—".into()),
            attested: c.attested,
            label: c.label,
        }
    }
}

/// The user's keys for the security info page.
pub async fn rows(state: &AppState, user_id: Uuid) -> Result<Vec<KeyRow>, AppError> {
    Ok(state
        .store
        .list_webauthn_credentials(user_id)
        .await?
        .into_iter()
        .map(KeyRow::from)
        .collect())
}

/// Checks the CSRF header and parses a JSON body of at most [`MAX_JSON`] bytes.
pub(super) fn json_body<T: serde::de::DeserializeOwned>(
    state: &AppState,
    jar: &CookieJar,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, AppError> {
    let token = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    state.csrf_verify(jar, token)?;
    if body.len() > MAX_JSON {
        return Err(AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "The request is too large.",
        ));
    }
    if body.is_empty() {
        // The options endpoints take no body.
        return serde_json::from_slice(b"{}")
            .map_err(|_| AppError::bad_request("invalid_body", "Send a JSON object."));
    }
    serde_json::from_slice(body)
        .map_err(|_| AppError::bad_request("invalid_body", "Send a JSON object."))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct Empty {}

#[derive(Deserialize)]
pub(super) struct Answer {
    pub(super) ceremony: String,
    pub(super) credential: serde_json::Value,
    #[serde(default)]
    label: String,
    #[serde(default)]
    next: String,
    /// The application asking (passwordless sign-in from a step-up page).
    #[serde(default)]
    app: String,
    #[serde(default)]
    acr: String,
}

pub(super) fn redirect_json(to: &str) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "redirect": to }))
}

/// Refuses a change of security info without a recent sign-in (as for TOTP).
fn recent(ctx: &crate::edge::auth::SessionCtx, now: time::OffsetDateTime) -> Result<(), AppError> {
    crate::portal::security_info::require_recent_for(ctx, now)
        .map_err(|m| AppError::new(StatusCode::FORBIDDEN, "reauthentication_required", m))
}

/// `POST /my/security-info/webauthn/options`.
pub async fn registration_options(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    PageUser(ctx): PageUser,
    body: Bytes,
) -> Result<Response, AppError> {
    let _: Empty = json_body(&state, &jar, &headers, &body)?;
    recent(&ctx, state.now())?;
    let options = crate::signin::webauthn::registration_options(&state, &ctx).await?;
    Ok(Json(options).into_response())
}

/// `POST /my/security-info/webauthn`: registers the key (policy permitting) and tells the
/// user by email.
pub async fn register(
    State(state): State<AppState>,
    req: RequestCtx,
    jar: CookieJar,
    headers: HeaderMap,
    PageUser(ctx): PageUser,
    body: Bytes,
) -> Result<Response, AppError> {
    let a: Answer = json_body(&state, &jar, &headers, &body)?;
    recent(&ctx, state.now())?;
    let cred = crate::signin::webauthn::finish_registration(
        &state,
        &ctx,
        req.ip,
        &a.ceremony,
        &a.label,
        &a.credential,
    )
    .await?;
    let what = if cred.backup_eligible {
        "A passkey was added to your account"
    } else {
        "A security key was added to your account"
    };
    crate::portal::security_info::notify_change(&state, &ctx, what, req.ip).await;
    Ok(redirect_json(&format!("{HERE}?ok=webauthn_added")).into_response())
}

#[derive(Deserialize)]
pub struct RenameForm {
    label: String,
}

/// `POST /my/security-info/webauthn/{id}/rename`.
pub async fn rename(
    State(state): State<AppState>,
    req: RequestCtx,
    PageUser(ctx): PageUser,
    Path(id): Path<Uuid>,
    CsrfForm(f): CsrfForm<RenameForm>,
) -> PageResult {
    let label = clean_label(&f.label, "");
    if label.is_empty() {
        return Ok(Redirect::to(&crate::edge::pages::with_error(
            &state,
            HERE,
            &format!("Give the key a name (1 to {MAX_LABEL_CHARS} characters)."),
        ))
        .into_response());
    }
    let audit = AuditDraft::new(
        &ctx.actor(req.ip),
        "mfa.method.rename",
        "user",
        Some(ctx.user.id.to_string()),
    )
    .after(&serde_json::json!({ "method": id, "label": label }));
    if !state
        .store
        .rename_webauthn_credential(id, ctx.user.id, &label, audit)
        .await?
    {
        return Err(AppError::not_found("security key").into());
    }
    Ok(Redirect::to(&format!("{HERE}?ok=webauthn_renamed")).into_response())
}

fn flow_secret(state: &AppState, jar: &CookieJar) -> Result<String, AppError> {
    state
        .cookie_value(jar, FLOW)
        .map(str::to_string)
        .ok_or_else(|| {
            AppError::new(
                StatusCode::UNAUTHORIZED,
                "flow_expired",
                "Your sign-in took too long. Please start again.",
            )
        })
}

/// `POST /login/webauthn/options`: the second-factor step.
pub async fn second_factor_options(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let _: Empty = json_body(&state, &jar, &headers, &body)?;
    let secret = flow_secret(&state, &jar)?;
    Ok(
        Json(crate::signin::webauthn_sign_in::second_factor_options(&state, &secret).await?)
            .into_response(),
    )
}

/// `POST /login/webauthn`: completes the second-factor step.
pub async fn second_factor_submit(
    State(state): State<AppState>,
    ctx: RequestCtx,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let a: Answer = json_body(&state, &jar, &headers, &body)?;
    let secret = flow_secret(&state, &jar)?;
    let result = crate::signin::webauthn_sign_in::complete_second_factor(
        &state,
        &ctx,
        &secret,
        &a.ceremony,
        &a.credential,
    )
    .await?;
    Ok(match result {
        StepResult::Success {
            secret,
            next,
            persist_until,
        } => {
            let mut jar = state.remove_cookie(jar, FLOW);
            if let Some(secret) = secret {
                jar = jar.add(state.session_cookie(secret, persist_until));
            }
            (jar, redirect_json(crate::edge::pages::stored_next(&next))).into_response()
        }
        StepResult::Retry { message, .. } if !message.is_empty() => {
            AppError::new(StatusCode::UNAUTHORIZED, "webauthn_failed", message).into_response()
        }
        StepResult::Retry { .. } => {
            redirect_json(crate::signin::flow::CONTINUE_PATH).into_response()
        }
        StepResult::Restart => {
            let jar = state.remove_cookie(jar, FLOW);
            (jar, redirect_json("/login?expired=1")).into_response()
        }
        StepResult::Denied {
            reason,
            correlation_id,
        } => {
            let jar = state.remove_cookie(jar, FLOW);
            let msg = format!(
                "{} (correlation id {correlation_id})",
                reason.public_message()
            );
            (
                jar,
                AppError::new(StatusCode::FORBIDDEN, "access_blocked", msg),
            )
                .into_response()
        }
    })
}

/// `POST /login/passkey/options`: a username-less challenge.
pub async fn passwordless_options(
    State(state): State<AppState>,
    ctx: RequestCtx,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let _: Empty = json_body(&state, &jar, &headers, &body)?;
    // Unauthenticated, and it writes a row: a per-IP rate and a cap on pending challenges.
    crate::signin::limits::unauthenticated::admit(
        &state,
        ctx.ip,
        trustplane_store::PendingKind::PasskeyChallenge,
        ctx.now,
    )
    .await?;
    Ok(Json(crate::signin::webauthn_sign_in::passwordless_options(&state).await?).into_response())
}

/// `POST /login/passkey`: signs in with the passkey.
pub async fn passwordless_submit(
    State(state): State<AppState>,
    ctx: RequestCtx,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let a: Answer = json_body(&state, &jar, &headers, &body)?;
    let next = crate::enforce::app_routes::safe_return(state.store.as_ref(), &a.next).await;
    let req = crate::enforce::stepup::SignInRequest::from_form(&a.app, &a.acr);
    let target = crate::enforce::stepup::flow_target(&state, &req, &next).await?;
    match crate::signin::webauthn_sign_in::passwordless_login(
        &state,
        &ctx,
        &a.ceremony,
        &a.credential,
        &next,
        target,
    )
    .await?
    {
        LoginOutcome::Success {
            secret,
            persist_until,
            ..
        } => {
            let jar = jar.add(state.session_cookie(secret, persist_until));
            Ok((jar, redirect_json(&next)).into_response())
        }
        LoginOutcome::Continue { flow_secret } => {
            let c = crate::signin::step_pages::flow_cookie(&state, flow_secret);
            Ok((
                jar.add(c),
                redirect_json(crate::signin::flow::CONTINUE_PATH),
            )
                .into_response())
        }
        LoginOutcome::Denied(reason) => Err(match reason {
            trustplane_core::authn::DenyReason::RateLimited => AppError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                reason.public_message(),
            ),
            r if crate::signin::step_pages::is_policy_refusal(r) => AppError::new(
                StatusCode::FORBIDDEN,
                "access_blocked",
                format!(
                    "{} (correlation id {})",
                    r.public_message(),
                    ctx.correlation_id
                ),
            ),
            _ => AppError::new(
                StatusCode::UNAUTHORIZED,
                "sign_in_failed",
                "Sign-in with this passkey did not work. Use your username and password, or another passkey.",
            ),
        }),
    }
}

/// `GET /static/webauthn.js`.
pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/webauthn.js"),
    )
        .into_response()
}

/// Flash texts of this module on the security info page.
pub fn flash_text(code: &str) -> Option<&'static str> {
    match code {
        "webauthn_added" => Some(
            "Security key or passkey added. You can use it to sign in, or as your second factor.",
        ),
        "webauthn_renamed" => Some("The security key or passkey was renamed."),
        _ => None,
    }
}
