//! Self-service password reset (`/reset`).
//!
//! No user enumeration: every account name starts a reset flow, the pages and messages are the
//! same whether the account exists, is disabled or may not reset, and every verification of a
//! flow without a real account fails like a wrong code. The user proves who they are with 1 or
//! 2 different registered methods (the methods policy says how many): an emailed code, an
//! authenticator app code, a recovery code or a passkey (username-less challenge, user
//! verification required, so it shows nothing about the account). The new password must pass password protection;
//! then every session of the user is revoked and the user is told by email.
//!
//! Limits: reset starts share the per-IP sign-in limit; wrong codes count against the account
//! (the same counter as failed sign-ins, under its own key) and against the flow (5, then it
//! starts again); every refusal is audited (`user.password.reset.refused`); emailed codes are single-use, live 10 minutes, and at most 5 are sent per
//! user per 15 minutes.

use crate::edge::auth::RequestCtx;
use crate::edge::error::AppError;
use crate::edge::pages::{CsrfForm, PageResult, render_status};
use crate::platform::secrets::random_token;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use trustplane_core::credential::secret_digest;
use trustplane_core::mfa::email::CodePurpose;
use uuid::Uuid;

pub(super) const COOKIE: &str = crate::edge::cookies::RESET;

pub(super) const LIFETIME: Duration = Duration::minutes(15);

/// Wrong codes in one flow before it must start again.
pub(super) const MAX_ATTEMPTS: u32 = 5;

pub(super) const GENERIC_WRONG: &str =
    "That code is not correct, or it is not one of this account's methods.";

/// A reset in progress, kept server-side (in the login-flow table) under the cookie's digest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct PendingReset {
    pub(super) kind: String,
    pub(super) username: String,
    /// `None` when the account does not exist, is disabled or may not reset its password:
    /// the flow then looks the same but can never succeed.
    pub(super) user_id: Option<Uuid>,
    pub(super) required: u8,
    /// Method kinds verified so far (distinct).
    pub(super) verified: Vec<String>,
    pub(super) attempts: u32,
    pub(super) email_sent: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub(super) started_at: OffsetDateTime,
}

impl PendingReset {
    pub(super) async fn load(state: &AppState, secret: &str) -> Result<Option<Self>, AppError> {
        let now = state.now();
        let Some(data) = state.store.load_login_flow(&digest(secret), now).await? else {
            return Ok(None);
        };
        Ok(serde_json::from_str::<PendingReset>(&data)
            .ok()
            .filter(|p| p.kind == "reset"))
    }

    pub(super) async fn save(&self, state: &AppState, secret: &str) -> Result<(), AppError> {
        let data = serde_json::to_string(self).map_err(|_| AppError::internal())?;
        state
            .store
            .save_login_flow(
                &digest(secret),
                self.user_id,
                &data,
                state.now(),
                self.started_at + LIFETIME,
            )
            .await?;
        Ok(())
    }

    pub(super) fn done(&self) -> bool {
        self.user_id.is_some() && self.verified.len() >= usize::from(self.required)
    }
}

/// The stored id of a reset flow (distinct from sign-in flow ids by construction).
pub(super) fn digest(secret: &str) -> String {
    secret_digest(&format!("reset:{secret}"))
}

pub(super) fn cookie(state: &AppState, secret: String) -> Cookie<'static> {
    let mut c = state.cookie(COOKIE, secret);
    c.set_max_age(LIFETIME);
    c
}

pub(super) fn restart(state: &AppState, jar: CookieJar) -> Response {
    let jar = state.remove_cookie(jar, COOKIE);
    (jar, Redirect::to("/reset?expired=1")).into_response()
}

#[derive(Template)]
#[template(path = "reset_start.html")]
pub(super) struct StartPage<'a> {
    pub(super) organisation: &'a str,
    pub(super) csrf: String,
    pub(super) error: Option<&'a str>,
    pub(super) username: &'a str,
}

#[derive(Template)]
#[template(path = "reset_verify.html")]
pub(super) struct VerifyPage<'a> {
    pub(super) organisation: &'a str,
    pub(super) csrf: String,
    pub(super) username: &'a str,
    pub(super) error: Option<&'a str>,
    pub(super) notice: Option<&'a str>,
    pub(super) step: usize,
    pub(super) required: u8,
    /// Offered whenever the server can check passkeys and the policy allows them to anyone:
    /// never depending on the account, which would reveal it.
    pub(super) passkeys: bool,
}

#[derive(Template)]
#[template(path = "reset_password.html")]
pub(super) struct PasswordPage<'a> {
    pub(super) organisation: &'a str,
    pub(super) csrf: String,
    pub(super) username: &'a str,
    pub(super) min_length: usize,
    pub(super) error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "reset_done.html")]
pub(super) struct DonePage<'a> {
    pub(super) organisation: &'a str,
}

#[derive(Deserialize)]
pub struct Expired {
    pub(super) expired: Option<String>,
}

/// `GET /reset`.
pub async fn start_page(
    State(state): State<AppState>,
    jar: CookieJar,
    axum::extract::Query(q): axum::extract::Query<Expired>,
) -> Response {
    let (jar, csrf) = state.csrf_issue(jar);
    let page = StartPage {
        organisation: &state.cfg.organisation,
        csrf,
        error: q
            .expired
            .is_some()
            .then_some("The reset took too long or had too many wrong codes. Please start again."),
        username: "",
    };
    (jar, render_status(StatusCode::OK, &page)).into_response()
}

#[derive(Deserialize)]
pub struct StartForm {
    pub(super) username: String,
}

/// `POST /reset`: starts a reset for any account name (no enumeration).
pub async fn start_submit(
    State(state): State<AppState>,
    ctx: RequestCtx,
    jar: CookieJar,
    CsrfForm(f): CsrfForm<StartForm>,
) -> PageResult {
    let username: String = f.username.trim().chars().take(256).collect();
    if username.is_empty() {
        let (jar, csrf) = state.csrf_issue(jar);
        let page = StartPage {
            organisation: &state.cfg.organisation,
            csrf,
            error: Some("Enter your username."),
            username: "",
        };
        return Ok((jar, render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)).into_response());
    }
    if ctx
        .ip
        .is_some_and(|ip| state.ip_limiter.check_key(&ip).is_err())
    {
        metrics::counter!("trustplane_password_resets_total", "result" => "rate_limited")
            .increment(1);
        let (jar, csrf) = state.csrf_issue(jar);
        let page = StartPage {
            organisation: &state.cfg.organisation,
            csrf,
            error: Some("Too many attempts from your network. Wait a minute and try again."),
            username: &username,
        };
        return Ok((jar, render_status(StatusCode::TOO_MANY_REQUESTS, &page)).into_response());
    }
    let policy = state.ops().methods_policy().await?;
    let mut user_id = None;
    if let Some(u) = state.store.find_user(&username).await?
        && u.is_enabled()
    {
        let groups: Vec<Uuid> = state.store.group_ids_of(u.id).await?;
        if policy.sspr_allowed(&groups) {
            user_id = Some(u.id);
        }
    }
    let pending = PendingReset {
        kind: "reset".into(),
        username,
        user_id,
        required: policy.sspr.methods_required,
        verified: Vec::new(),
        attempts: 0,
        email_sent: false,
        started_at: state.now(),
    };
    let secret = random_token();
    pending.save(&state, &secret).await?;
    let jar = jar.add(cookie(&state, secret));
    Ok((jar, Redirect::to("/reset/verify")).into_response())
}

pub(super) fn secret_of(state: &AppState, jar: &CookieJar) -> Option<String> {
    state.cookie_value(jar, COOKIE).map(str::to_string)
}

pub(super) async fn render_verify(
    state: &AppState,
    jar: CookieJar,
    p: &PendingReset,
    status: StatusCode,
    error: Option<&str>,
    notice: Option<&str>,
) -> PageResult {
    let passkeys = state.webauthn.is_some()
        && !matches!(
            state.ops().methods_policy().await?.webauthn.users,
            trustplane_core::mfa::policy::Targets::None
        );
    let (jar, csrf) = state.csrf_issue(jar);
    let page = VerifyPage {
        organisation: &state.cfg.organisation,
        csrf,
        username: &p.username,
        error,
        notice,
        step: p.verified.len() + 1,
        required: p.required,
        passkeys,
    };
    Ok((jar, render_status(status, &page)).into_response())
}

pub(super) fn render_password(
    state: &AppState,
    jar: CookieJar,
    p: &PendingReset,
    error: Option<&str>,
) -> Response {
    let (jar, csrf) = state.csrf_issue(jar);
    let page = PasswordPage {
        organisation: &state.cfg.organisation,
        csrf,
        username: &p.username,
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

/// `GET /reset/verify`: the current verification step, or the new-password form.
pub async fn verify_page(State(state): State<AppState>, jar: CookieJar) -> PageResult {
    let Some(secret) = secret_of(&state, &jar) else {
        return Ok(restart(&state, jar));
    };
    let Some(p) = PendingReset::load(&state, &secret).await? else {
        return Ok(restart(&state, jar));
    };
    if p.done() {
        return Ok(render_password(&state, jar, &p, None));
    }
    let notice = p.email_sent.then_some(
        "If this account has a registered email address, we sent an 8-digit code to it. It expires in 10 minutes.",
    );
    render_verify(&state, jar, &p, StatusCode::OK, None, notice).await
}

/// `POST /reset/email`: emails a reset code to the account's registered address, if any. The
/// answer is the same either way.
pub async fn send_email(
    State(state): State<AppState>,
    jar: CookieJar,
    CsrfForm(_): CsrfForm<crate::signin::step_pages::Empty>,
) -> PageResult {
    let Some(secret) = secret_of(&state, &jar) else {
        return Ok(restart(&state, jar));
    };
    let Some(mut p) = PendingReset::load(&state, &secret).await? else {
        return Ok(restart(&state, jar));
    };
    if let Some(user_id) = p.user_id
        && !p.verified.iter().any(|v| v == "email")
        && state
            .ops()
            .methods_policy()
            .await?
            .email_allowed(&state.store.group_ids_of(user_id).await?)
        && let Some(address) = crate::signin::factors::email_address_of(&state, user_id).await?
    {
        // A refusal (too many codes, delivery failure) is logged and otherwise silent here:
        // telling it apart would reveal that the account exists.
        let _ = crate::signin::email_codes::send(
            &state,
            user_id,
            CodePurpose::PasswordReset,
            &digest(&secret),
            &address,
        )
        .await?;
    }
    p.email_sent = true;
    p.save(&state, &secret).await?;
    Ok(Redirect::to("/reset/verify").into_response())
}
