//! The steps of a sign-in after the first factor (`/login/continue`), and the live password
//! check behind the strength meter.

use crate::edge::auth::{PageUser, RequestCtx};
use crate::edge::cookies::FLOW;
use crate::edge::error::AppError;
use crate::edge::pages::{CsrfForm, PageResult, render_status};
use crate::signin::flow::{CONTINUE_PATH, PendingLogin};
use crate::signin::steps::{StepResult, complete_password_change};
use crate::state::{AppState, CSRF_HEADER};
use askama::Template;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar};
use serde::{Deserialize, Serialize};
use trustplane_core::authn::{PasswordChangeReason, Step};
use trustplane_core::mfa::MfaKind;

/// Where a sign-in that can no longer continue starts again.
const RESTART: &str = "/login?expired=1";

#[derive(Template)]
#[template(path = "change_password.html")]
struct ChangePasswordPage<'a> {
    organisation: &'a str,
    csrf: String,
    username: &'a str,
    leaked: bool,
    min_length: usize,
    error: Option<&'a str>,
}

/// The flow cookie: the random id of a sign-in in progress (only its SHA-256 is stored).
pub(super) fn flow_cookie(state: &AppState, secret: String) -> Cookie<'static> {
    let mut c = state.cookie(FLOW, secret);
    c.set_max_age(time::Duration::minutes(15));
    c
}

/// Sets the flow cookie and sends the browser to the current step.
pub fn continue_response(state: &AppState, jar: CookieJar, flow_secret: String) -> Response {
    let jar = jar.add(flow_cookie(state, flow_secret));
    (jar, Redirect::to(CONTINUE_PATH)).into_response()
}

fn restart(state: &AppState, jar: CookieJar) -> Response {
    let jar = state.remove_cookie(jar, FLOW);
    (jar, Redirect::to(RESTART)).into_response()
}

async fn render_step(
    state: &AppState,
    jar: CookieJar,
    pending: &PendingLogin,
    error: Option<&str>,
) -> Response {
    let (jar, csrf) = state.csrf_issue(jar);
    match pending.flow.current_step() {
        Some(Step::ChangePassword { reason }) => {
            let page = ChangePasswordPage {
                organisation: &state.cfg.organisation,
                csrf,
                username: &pending.username,
                leaked: *reason == PasswordChangeReason::LeakedCredentials,
                min_length: state.cfg.password.effective_min_length(),
                error,
            };
            let status = if error.is_some() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            (jar, render_status(status, &page)).into_response()
        }
        Some(Step::RegisterSecondFactor { can_skip }) => {
            render_register(state, jar, pending, *can_skip, None, error)
        }
        Some(Step::SecondFactor { methods }) => {
            let page = MfaPage {
                organisation: &state.cfg.organisation,
                csrf,
                username: &pending.username,
                error,
                has_totp: methods.contains(&MfaKind::Totp),
                has_email: methods.contains(&MfaKind::Email),
                email_sent_to: pending.email_sent_to.as_deref(),
                webauthn: methods.iter().any(|k| k.is_webauthn()),
            };
            let status = if error.is_some() {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::OK
            };
            (jar, render_status(status, &page)).into_response()
        }
        Some(Step::AcceptTerms { id }) => match state.store.get_terms(id).await {
            Ok(Some(t)) => {
                let page = TermsPage {
                    organisation: &state.cfg.organisation,
                    csrf,
                    username: &pending.username,
                    name: &t.name,
                    body: &t.body,
                    error,
                };
                (jar, render_status(StatusCode::OK, &page)).into_response()
            }
            // Removed since the policy asked for them: the sign-in starts again and is
            // evaluated afresh.
            Ok(None) => restart(state, jar),
            Err(e) => crate::edge::pages::error_page(&e.into()),
        },
        None => restart(state, jar),
    }
}

#[derive(Template)]
#[template(path = "accept_terms.html")]
struct TermsPage<'a> {
    organisation: &'a str,
    csrf: String,
    username: &'a str,
    name: &'a str,
    body: &'a str,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct TermsForm {
    #[serde(default)]
    accept: String,
}

/// `POST /login/accept-terms`: the user accepts the terms of use a policy requires.
pub async fn accept_terms_submit(
    State(state): State<AppState>,
    ctx: RequestCtx,
    jar: CookieJar,
    CsrfForm(f): CsrfForm<TermsForm>,
) -> PageResult {
    let Some(secret) = state.cookie_value(&jar, FLOW).map(str::to_string) else {
        return Ok(restart(&state, jar));
    };
    let result =
        crate::signin::steps::complete_terms(&state, &ctx, &secret, f.accept == "yes").await?;
    Ok(step_response(&state, jar, result).await)
}

#[derive(Template)]
#[template(path = "register_mfa.html")]
struct RegisterPage<'a> {
    organisation: &'a str,
    csrf: String,
    username: &'a str,
    can_skip: bool,
    qr_svg: String,
    secret_b32: String,
    pending: String,
    error: Option<&'a str>,
}

/// The registration step: a new secret sealed to this flow (or the one being retried).
fn render_register(
    state: &AppState,
    jar: CookieJar,
    pending: &PendingLogin,
    can_skip: bool,
    keep: Option<&str>,
    error: Option<&str>,
) -> Response {
    let Some(flow_secret) = state.cookie_value(&jar, FLOW).map(str::to_string) else {
        return restart(state, jar);
    };
    let context = crate::signin::steps::flow_enrol_context(&flow_secret);
    let secret = match keep.map(|k| crate::platform::secrets::open(&state.mfa_key, &context, k)) {
        Some(Ok(s)) => s,
        _ => {
            let mut s = vec![0u8; trustplane_core::mfa::TOTP_SECRET_LEN];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut s);
            s
        }
    };
    let Ok(sealed) = crate::platform::secrets::seal(&state.mfa_key, &context, &secret) else {
        return crate::edge::pages::error_page(&AppError::internal());
    };
    let uri =
        trustplane_core::mfa::otpauth_uri(&secret, &state.cfg.organisation, &pending.username);
    let Ok(qr) = qrcode::QrCode::new(uri.as_bytes()) else {
        return crate::edge::pages::error_page(&AppError::internal());
    };
    let qr_svg = qr
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(false)
        .build();
    let (jar, csrf) = state.csrf_issue(jar);
    let page = RegisterPage {
        organisation: &state.cfg.organisation,
        csrf,
        username: &pending.username,
        can_skip,
        qr_svg,
        secret_b32: trustplane_core::mfa::base32(&secret),
        pending: sealed,
        error,
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    (jar, render_status(status, &page)).into_response()
}

#[derive(Deserialize)]
pub struct RegisterForm {
    pending: String,
    code: String,
}

/// `POST /login/register-totp`: the registration step.
pub async fn register_submit(
    State(state): State<AppState>,
    ctx: RequestCtx,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<RegisterForm>,
) -> PageResult {
    let Some(secret) = state.cookie_value(&jar, FLOW).map(str::to_string) else {
        return Ok(restart(&state, jar));
    };
    let code: String = form.code.chars().take(32).collect();
    let result =
        crate::signin::steps::complete_registration(&state, &ctx, &secret, &form.pending, &code)
            .await?;
    Ok(match result {
        StepResult::Retry { pending, message } if !message.is_empty() => {
            let can_skip = matches!(
                pending.flow.current_step(),
                Some(Step::RegisterSecondFactor { can_skip: true })
            );
            render_register(
                &state,
                jar,
                &pending,
                can_skip,
                Some(&form.pending),
                Some(&message),
            )
        }
        other => step_response(&state, jar, other).await,
    })
}

/// `POST /login/skip-registration`: postpones the registration step while allowed.
pub async fn skip_registration(
    State(state): State<AppState>,
    ctx: RequestCtx,
    jar: CookieJar,
    CsrfForm(_): CsrfForm<crate::edge::pages::CsrfOnlyForm>,
) -> PageResult {
    let Some(secret) = state.cookie_value(&jar, FLOW).map(str::to_string) else {
        return Ok(restart(&state, jar));
    };
    let result = crate::signin::steps::postpone_registration(&state, &ctx, &secret).await?;
    Ok(step_response(&state, jar, result).await)
}

#[derive(Template)]
#[template(path = "mfa.html")]
struct MfaPage<'a> {
    organisation: &'a str,
    csrf: String,
    username: &'a str,
    error: Option<&'a str>,
    has_totp: bool,
    has_email: bool,
    /// Where the latest emailed code went (masked).
    email_sent_to: Option<&'a str>,
    /// Offer "Use your security key or passkey".
    webauthn: bool,
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

/// `POST /login/mfa`: the second-factor step (authenticator app code).
pub async fn mfa_submit(
    State(state): State<AppState>,
    ctx: RequestCtx,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> PageResult {
    let Some(secret) = state.cookie_value(&jar, FLOW).map(str::to_string) else {
        return Ok(restart(&state, jar));
    };
    let code: String = form.code.chars().take(32).collect();
    let result = crate::signin::steps::complete_second_factor(&state, &ctx, &secret, &code).await?;
    Ok(step_response(&state, jar, result).await)
}

/// `POST /login/mfa/email`: emails a sign-in code to the user's registered address.
pub async fn mfa_send_email(
    State(state): State<AppState>,
    jar: CookieJar,
    CsrfForm(_): CsrfForm<Empty>,
) -> PageResult {
    let Some(secret) = state.cookie_value(&jar, FLOW).map(str::to_string) else {
        return Ok(restart(&state, jar));
    };
    let result = crate::signin::factors::send_sign_in_code(&state, &secret).await?;
    Ok(step_response(&state, jar, result).await)
}

#[derive(Deserialize)]
pub struct Empty {}

async fn step_response(state: &AppState, jar: CookieJar, result: StepResult) -> Response {
    match result {
        StepResult::Success {
            secret,
            next,
            persist_until,
        } => {
            let mut jar = state.remove_cookie(jar, FLOW);
            if let Some(secret) = secret {
                jar = jar.add(state.session_cookie(secret, persist_until));
            }
            (jar, crate::edge::pages::redirect_after_form(&next)).into_response()
        }
        StepResult::Retry { pending, message } if !message.is_empty() => {
            render_step(state, jar, &pending, Some(&message)).await
        }
        StepResult::Retry { .. } => Redirect::to(CONTINUE_PATH).into_response(),
        StepResult::Restart => restart(state, jar),
        StepResult::Denied {
            reason,
            correlation_id,
        } => blocked_page(state, jar, reason, &correlation_id),
    }
}

/// `GET /login/continue`: shows the current step of the sign-in in progress.
pub async fn continue_page(State(state): State<AppState>, jar: CookieJar) -> PageResult {
    let Some(secret) = state.cookie_value(&jar, FLOW).map(str::to_string) else {
        return Ok(restart(&state, jar));
    };
    match PendingLogin::load(&state, &secret).await? {
        Some(p) => Ok(render_step(&state, jar, &p, None).await),
        None => Ok(restart(&state, jar)),
    }
}

#[derive(Deserialize)]
pub struct NewPasswordForm {
    new_password: String,
    confirm_password: String,
}

/// `POST /login/change-password`: the "choose a new password" step.
pub async fn change_password_submit(
    State(state): State<AppState>,
    ctx: RequestCtx,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<NewPasswordForm>,
) -> PageResult {
    let Some(secret) = state.cookie_value(&jar, FLOW).map(str::to_string) else {
        return Ok(restart(&state, jar));
    };
    let result = complete_password_change(
        &state,
        &ctx,
        &secret,
        &form.new_password,
        &form.confirm_password,
    )
    .await?;
    Ok(step_response(&state, jar, result).await)
}

// --- live password check (strength meter) ----------------------------------------------------

#[derive(Deserialize)]
struct CheckBody {
    password: String,
}

#[derive(Serialize)]
struct CheckReason {
    code: &'static str,
    message: String,
}

/// What the strength meter shows. The same evaluation as a real change, breach filter included.
#[derive(Serialize)]
struct CheckResponse {
    accepted: bool,
    score: u32,
    required_score: u32,
    reasons: Vec<CheckReason>,
}

/// Checks CSRF (header), the rate limit, and parses the body; then evaluates.
pub(crate) async fn live_check(
    state: &AppState,
    jar: &CookieJar,
    headers: &HeaderMap,
    limit_key: String,
    who: (&str, &str, Option<&str>),
    body: &[u8],
) -> Result<Response, AppError> {
    let token = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    state.csrf_verify(jar, token)?;
    if state.check_limiter.check_key(&limit_key).is_err() {
        return Err(AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many password checks. Wait a moment.",
        ));
    }
    let body: CheckBody = serde_json::from_slice(body).map_err(|_| {
        AppError::bad_request(
            "invalid_body",
            "Send a JSON object {\"password\": \"…\"} (at most 4 KiB).",
        )
    })?;
    let verdict = state
        .ops()
        .evaluate_password(who.0, who.1, who.2, &body.password)
        .await?;
    Ok(Json(CheckResponse {
        accepted: verdict.accepted,
        score: verdict.score,
        required_score: verdict.required_score,
        reasons: verdict
            .reasons
            .iter()
            .map(|r| CheckReason {
                code: r.code(),
                message: r.message(),
            })
            .collect(),
    })
    .into_response())
}

pub(crate) const MAX_CHECK_BODY: usize = 4096;

pub(crate) fn too_large() -> AppError {
    AppError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        "A password check is at most 4 KiB.",
    )
}

/// `POST /login/check-password`: the meter on the sign-in's change-password step.
pub async fn check_in_flow(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    if body.len() > MAX_CHECK_BODY {
        return Err(too_large());
    }
    let Some(secret) = state.cookie_value(&jar, FLOW).map(str::to_string) else {
        return Err(AppError::unauthenticated());
    };
    let Some(pending) = PendingLogin::load(&state, &secret).await? else {
        return Err(AppError::unauthenticated());
    };
    let Some(record) = state.store.login_record(&pending.username).await? else {
        return Err(AppError::unauthenticated());
    };
    let u = record.user;
    live_check(
        &state,
        &jar,
        &headers,
        format!("user:{}", u.id),
        (&u.username, &u.display_name, u.email.as_deref()),
        &body,
    )
    .await
}

/// `POST /my/check-password`: the meter on the account page.
pub async fn check_for_session(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    PageUser(ctx): PageUser,
    body: Bytes,
) -> Result<Response, AppError> {
    if body.len() > MAX_CHECK_BODY {
        return Err(too_large());
    }
    let u = &ctx.user;
    live_check(
        &state,
        &jar,
        &headers,
        format!("user:{}", u.id),
        (&u.username, &u.display_name, u.email.as_deref()),
        &body,
    )
    .await
}

pub async fn meter_script() -> Response {
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/javascript; charset=utf-8",
            ),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/password-meter.js"),
    )
        .into_response()
}

// --- sign-in with a Temporary Access Pass ----------------------------------------------------

#[derive(Template)]
#[template(path = "tap_login.html")]
struct TapLoginPage<'a> {
    organisation: &'a str,
    csrf: String,
    username: &'a str,
    error: Option<&'a str>,
}

/// `GET /login/tap`.
pub async fn tap_form(State(state): State<AppState>, jar: CookieJar) -> Response {
    let jar = crate::signin::limits::device_cookie::ensure(&state, jar);
    let (jar, csrf) = state.csrf_issue(jar);
    let page = TapLoginPage {
        organisation: &state.cfg.organisation,
        csrf,
        username: "",
        error: None,
    };
    (jar, render_status(StatusCode::OK, &page)).into_response()
}

#[derive(Deserialize)]
pub struct TapForm {
    username: String,
    pass: String,
}

/// `POST /login/tap`: signs in and goes to the security info page to register methods.
pub async fn tap_submit(
    State(state): State<AppState>,
    ctx: RequestCtx,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<TapForm>,
) -> PageResult {
    let pass: String = form.pass.chars().take(64).collect();
    let next = "/my/security-info";
    match crate::signin::flow::tap_login(&state, &ctx, &form.username, &pass, next, None).await? {
        crate::signin::flow::LoginOutcome::Success {
            secret,
            persist_until,
            ..
        } => {
            let jar = jar.add(state.session_cookie(secret, persist_until));
            Ok((jar, Redirect::to(next)).into_response())
        }
        crate::signin::flow::LoginOutcome::Denied(reason) => {
            let (jar, csrf) = state.csrf_issue(jar);
            let (status, message) = match reason {
                trustplane_core::authn::DenyReason::RateLimited => {
                    (StatusCode::TOO_MANY_REQUESTS, reason.public_message())
                }
                _ => (
                    StatusCode::UNAUTHORIZED,
                    "Incorrect username or pass, or the pass has expired.",
                ),
            };
            let page = TapLoginPage {
                organisation: &state.cfg.organisation,
                csrf,
                username: &form.username,
                error: Some(message),
            };
            Ok((jar, render_status(status, &page)).into_response())
        }
        crate::signin::flow::LoginOutcome::Continue { flow_secret } => {
            Ok(continue_response(&state, jar, flow_secret))
        }
    }
}

#[derive(Template)]
#[template(path = "blocked.html")]
struct BlockedPage<'a> {
    organisation: &'a str,
    message: &'a str,
    correlation_id: &'a str,
    time: String,
}

/// The page for a sign-in that conditional access refused: the reason in plain words, the
/// correlation id and the time for the administrator, never the policy itself.
pub fn blocked_page(
    state: &AppState,
    jar: CookieJar,
    reason: trustplane_core::authn::DenyReason,
    correlation_id: &str,
) -> Response {
    let jar = state.remove_cookie(jar, FLOW);
    let time = state
        .now()
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]"
        ))
        .unwrap_or_default();
    let page = BlockedPage {
        organisation: &state.cfg.organisation,
        message: reason.public_message(),
        correlation_id,
        time,
    };
    (jar, render_status(StatusCode::FORBIDDEN, &page)).into_response()
}

/// Whether a refusal comes from conditional access (shown on the blocked page).
pub fn is_policy_refusal(reason: trustplane_core::authn::DenyReason) -> bool {
    matches!(
        reason,
        trustplane_core::authn::DenyReason::BlockedByPolicy
            | trustplane_core::authn::DenyReason::PolicyRequirementUnavailable
    )
}
