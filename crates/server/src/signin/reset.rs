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
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_core::credential::secret_digest;
use trustplane_core::mfa::email::{CodePurpose, normalize_email_code};
use trustplane_core::mfa::{TotpCheck, normalize_recovery_code};
use uuid::Uuid;

const COOKIE: &str = crate::edge::cookies::RESET;
const LIFETIME: Duration = Duration::minutes(15);
/// Wrong codes in one flow before it must start again.
const MAX_ATTEMPTS: u32 = 5;
const GENERIC_WRONG: &str = "That code is not correct, or it is not one of this account's methods.";

/// A reset in progress, kept server-side (in the login-flow table) under the cookie's digest.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingReset {
    kind: String,
    username: String,
    /// `None` when the account does not exist, is disabled or may not reset its password:
    /// the flow then looks the same but can never succeed.
    user_id: Option<Uuid>,
    required: u8,
    /// Method kinds verified so far (distinct).
    verified: Vec<String>,
    attempts: u32,
    email_sent: bool,
    #[serde(with = "time::serde::rfc3339")]
    started_at: OffsetDateTime,
}

impl PendingReset {
    async fn load(state: &AppState, secret: &str) -> Result<Option<Self>, AppError> {
        let now = state.now();
        let Some(data) = state.store.load_login_flow(&digest(secret), now).await? else {
            return Ok(None);
        };
        Ok(serde_json::from_str::<PendingReset>(&data)
            .ok()
            .filter(|p| p.kind == "reset"))
    }

    async fn save(&self, state: &AppState, secret: &str) -> Result<(), AppError> {
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

    fn done(&self) -> bool {
        self.user_id.is_some() && self.verified.len() >= usize::from(self.required)
    }
}

/// The stored id of a reset flow (distinct from sign-in flow ids by construction).
fn digest(secret: &str) -> String {
    secret_digest(&format!("reset:{secret}"))
}

fn cookie(state: &AppState, secret: String) -> Cookie<'static> {
    let mut c = state.cookie(COOKIE, secret);
    c.set_max_age(LIFETIME);
    c
}

fn restart(state: &AppState, jar: CookieJar) -> Response {
    let jar = state.remove_cookie(jar, COOKIE);
    (jar, Redirect::to("/reset?expired=1")).into_response()
}

#[derive(Template)]
#[template(path = "reset_start.html")]
struct StartPage<'a> {
    organisation: &'a str,
    csrf: String,
    error: Option<&'a str>,
    username: &'a str,
}

#[derive(Template)]
#[template(path = "reset_verify.html")]
struct VerifyPage<'a> {
    organisation: &'a str,
    csrf: String,
    username: &'a str,
    error: Option<&'a str>,
    notice: Option<&'a str>,
    step: usize,
    required: u8,
    /// Offered whenever the server can check passkeys and the policy allows them to anyone:
    /// never depending on the account, which would reveal it.
    passkeys: bool,
}

#[derive(Template)]
#[template(path = "reset_password.html")]
struct PasswordPage<'a> {
    organisation: &'a str,
    csrf: String,
    username: &'a str,
    min_length: usize,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "reset_done.html")]
struct DonePage<'a> {
    organisation: &'a str,
}

#[derive(Deserialize)]
pub struct Expired {
    expired: Option<String>,
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
    username: String,
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
        let groups: Vec<Uuid> = state
            .store
            .groups_of(u.id)
            .await?
            .into_iter()
            .map(|g| g.id)
            .collect();
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

fn secret_of(state: &AppState, jar: &CookieJar) -> Option<String> {
    state.cookie_value(jar, COOKIE).map(str::to_string)
}

async fn render_verify(
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

fn render_password(
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
            .email_allowed(&group_ids(&state, user_id).await?)
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

async fn group_ids(state: &AppState, user_id: Uuid) -> Result<Vec<Uuid>, AppError> {
    Ok(state
        .store
        .groups_of(user_id)
        .await?
        .into_iter()
        .map(|g| g.id)
        .collect())
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

/// Which method a typed code belongs to, and whether it verified (for a real account):
/// `Ok(kind)`, or `Err(reason)` naming the refusal for the audit log.
async fn verify_code(
    state: &AppState,
    secret: &str,
    user_id: Uuid,
    code: &str,
) -> Result<Result<&'static str, &'static str>, AppError> {
    let policy = state.ops().methods_policy().await?;
    let groups = group_ids(state, user_id).await?;
    let now = state.now();
    if normalize_email_code(code).is_some() {
        if !policy.email_allowed(&groups) {
            return Ok(Err("email_code_not_allowed"));
        }
        return Ok(
            match crate::signin::email_codes::check(
                state,
                &digest(secret),
                CodePurpose::PasswordReset,
                code,
            )
            .await?
            {
                crate::signin::email_codes::Check::Valid { user_id: u, .. } if u == user_id => {
                    Ok("email")
                }
                crate::signin::email_codes::Check::Valid { .. }
                | crate::signin::email_codes::Check::Wrong => Err("email_code_wrong"),
                crate::signin::email_codes::Check::NoCode => Err("email_code_expired_or_used"),
            },
        );
    }
    if let Some(rc) = normalize_recovery_code(code) {
        let ok = policy.recovery_codes_allowed(&groups)
            && state
                .store
                .use_recovery_code(user_id, &secret_digest(&rc), now)
                .await?;
        return Ok(if ok {
            Ok("recovery_code")
        } else {
            Err("recovery_code_wrong_or_used")
        });
    }
    // (No authenticator app: `check_totp` answers `Invalid`.)
    if policy.totp_allowed(&groups) {
        let (outcome, _) = crate::signin::factors::check_totp(state, user_id, code, now).await?;
        return Ok(match outcome {
            TotpCheck::Valid { .. } => Ok("totp"),
            TotpCheck::Replayed => Err("totp_replayed"),
            TotpCheck::Invalid => Err("totp_wrong"),
        });
    }
    Ok(Err("code_not_recognised"))
}

/// What became of a refused verification.
enum Refused {
    /// Try again (the flow goes on).
    Again,
    /// Too many wrong answers: the flow is over.
    Restart,
}

/// Counts a refused code or passkey against the flow and the account, and audits it. The
/// answer to the browser never tells an unknown account from a known one; the audit log
/// (admins only) does.
async fn refuse(
    state: &AppState,
    ctx: &RequestCtx,
    p: &mut PendingReset,
    secret: &str,
    reason: &str,
) -> Result<Refused, AppError> {
    metrics::counter!("trustplane_password_resets_total", "result" => "wrong_code").increment(1);
    p.attempts += 1;
    let ended = p.attempts >= MAX_ATTEMPTS;
    let audit = AuditDraft::new(
        &Actor::anonymous(ctx.ip.map(|i| i.to_string())),
        "user.password.reset.refused",
        "user",
        p.user_id.map(|u| u.to_string()),
    )
    .after(&serde_json::json!({
        "username": p.username,
        "reason": if p.user_id.is_some() { reason } else { "account_unknown_or_not_allowed" },
        "attempt": p.attempts,
        "flow_ended": ended,
        "correlation_id": ctx.correlation_id,
    }));
    state.store.append_audit(audit).await?;
    tracing::info!(reason, attempt = p.attempts, correlation_id = %ctx.correlation_id,
        "password reset verification refused");
    if ended {
        state.store.delete_login_flow(&digest(secret)).await?;
        return Ok(Refused::Restart);
    }
    p.save(state, secret).await?;
    Ok(Refused::Again)
}

/// Records a verified method in the flow. `false` when it had been verified already.
async fn accept(
    state: &AppState,
    p: &mut PendingReset,
    secret: &str,
    kind: &str,
) -> Result<bool, AppError> {
    if p.verified.iter().any(|v| v == kind) {
        return Ok(false);
    }
    p.verified.push(kind.to_string());
    p.email_sent = false;
    p.save(state, secret).await?;
    Ok(true)
}

const ALREADY_VERIFIED: &str = "That method was already verified: use a different one.";

/// Whether the account's second-factor lock holds (shared with sign-in, every instance).
async fn locked(state: &AppState, p: &PendingReset) -> Result<bool, AppError> {
    crate::signin::limits::is_locked(
        state,
        &crate::signin::limits::reset_keys(&p.username),
        state.now(),
    )
    .await
}

/// Claims one check of this reset flow (see `crate::signin::limits::before_check`): the account's
/// second-factor limit and the flow's budget, atomically. `Err(true)`: locked, `Err(false)`:
/// the flow is used up (it was deleted).
async fn claim(
    state: &AppState,
    p: &PendingReset,
    secret: &str,
) -> Result<Result<crate::signin::limits::Ticket, bool>, AppError> {
    let budget = MAX_ATTEMPTS.min(state.cfg.rate_limit.attempts_per_flow);
    match crate::signin::limits::before_check(
        state,
        &crate::signin::limits::reset_keys(&p.username),
        &digest(secret),
        budget,
        state.now(),
    )
    .await?
    {
        Ok(t) => Ok(Ok(t)),
        Err(crate::signin::limits::Refusal::Locked) => Ok(Err(true)),
        Err(crate::signin::limits::Refusal::FlowExhausted) => {
            state.store.delete_login_flow(&digest(secret)).await?;
            Ok(Err(false))
        }
    }
}

/// Settles a claimed check.
async fn settle(
    state: &AppState,
    ticket: crate::signin::limits::Ticket,
    ok: bool,
) -> Result<(), AppError> {
    if ok {
        crate::signin::limits::passed(state, ticket).await
    } else {
        crate::signin::limits::failed(state, ticket, state.now())
            .await
            .map(|_| ())
    }
}

const LOCKED: &str = "Too many wrong codes for this account. Wait 15 minutes and try again.";

/// `POST /reset/verify`: checks one code (emailed, authenticator app or recovery code).
pub async fn verify_submit(
    State(state): State<AppState>,
    ctx: RequestCtx,
    jar: CookieJar,
    CsrfForm(f): CsrfForm<CodeForm>,
) -> PageResult {
    let Some(secret) = secret_of(&state, &jar) else {
        return Ok(restart(&state, jar));
    };
    let Some(mut p) = PendingReset::load(&state, &secret).await? else {
        return Ok(restart(&state, jar));
    };
    if p.done() {
        return Ok(render_password(&state, jar, &p, None));
    }
    let ticket = match claim(&state, &p, &secret).await? {
        Ok(t) => t,
        Err(true) => {
            return render_verify(
                &state,
                jar,
                &p,
                StatusCode::TOO_MANY_REQUESTS,
                Some(LOCKED),
                None,
            )
            .await;
        }
        Err(false) => return Ok(restart(&state, jar)),
    };
    let code: String = f.code.trim().chars().take(32).collect();
    let verified = match p.user_id {
        Some(user_id) => verify_code(&state, &secret, user_id, &code).await?,
        None => {
            // The same work as for a real account, so the answer takes as long.
            crate::signin::limits::dummy_code_check(&state, &code, state.now()).await?;
            Err("account_unknown_or_not_allowed")
        }
    };
    settle(&state, ticket, verified.is_ok()).await?;
    match verified {
        Ok(kind) => {
            if accept(&state, &mut p, &secret, kind).await? {
                return Ok(Redirect::to("/reset/verify").into_response());
            }
            render_verify(
                &state,
                jar,
                &p,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(ALREADY_VERIFIED),
                None,
            )
            .await
        }
        Err(reason) => match refuse(&state, &ctx, &mut p, &secret, reason).await? {
            Refused::Restart => Ok(restart(&state, jar)),
            Refused::Again => {
                render_verify(
                    &state,
                    jar,
                    &p,
                    StatusCode::UNAUTHORIZED,
                    Some(GENERIC_WRONG),
                    None,
                )
                .await
            }
        },
    }
}

/// `POST /reset/passkey/options`: a passkey challenge for this reset (JSON; CSRF header).
pub async fn passkey_options(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let _: crate::signin::passkey_pages::Empty =
        crate::signin::passkey_pages::json_body(&state, &jar, &headers, &body)?;
    let Some(secret) = secret_of(&state, &jar) else {
        return Err(reset_expired());
    };
    if PendingReset::load(&state, &secret).await?.is_none() {
        return Err(reset_expired());
    }
    Ok(
        Json(crate::signin::webauthn::reset_options(&state, &digest(&secret)).await?)
            .into_response(),
    )
}

fn reset_expired() -> AppError {
    AppError::new(
        StatusCode::UNAUTHORIZED,
        "reset_expired",
        "The reset took too long. Please start again.",
    )
}

/// `POST /reset/passkey`: verifies identity with a passkey (user verification required).
pub async fn passkey_submit(
    State(state): State<AppState>,
    ctx: RequestCtx,
    jar: CookieJar,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let a: crate::signin::passkey_pages::Answer =
        crate::signin::passkey_pages::json_body(&state, &jar, &headers, &body)?;
    let Some(secret) = secret_of(&state, &jar) else {
        return Err(reset_expired());
    };
    let Some(mut p) = PendingReset::load(&state, &secret).await? else {
        return Err(reset_expired());
    };
    let again = |m: &'static str| AppError::new(StatusCode::UNAUTHORIZED, "reset_refused", m);
    if p.done() {
        return Ok(crate::signin::passkey_pages::redirect_json("/reset/verify").into_response());
    }
    if locked(&state, &p).await? {
        return Err(AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            LOCKED,
        ));
    }
    let ticket = match claim(&state, &p, &secret).await? {
        Ok(t) => t,
        Err(true) => {
            return Err(AppError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                LOCKED,
            ));
        }
        Err(false) => return Err(reset_expired()),
    };
    let refusal = crate::signin::webauthn::verify_for_reset(
        &state,
        ctx.ip,
        &digest(&secret),
        &a.ceremony,
        &a.credential,
        p.user_id,
    )
    .await?;
    settle(&state, ticket, refusal.is_none()).await?;
    match refusal {
        None => {
            if accept(&state, &mut p, &secret, "passkey").await? {
                Ok(crate::signin::passkey_pages::redirect_json("/reset/verify").into_response())
            } else {
                Err(AppError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "already_verified",
                    ALREADY_VERIFIED,
                ))
            }
        }
        Some(reason) => match refuse(&state, &ctx, &mut p, &secret, reason).await? {
            Refused::Restart => {
                let jar = state.remove_cookie(jar, COOKIE);
                Ok((
                    jar,
                    crate::signin::passkey_pages::redirect_json("/reset?expired=1"),
                )
                    .into_response())
            }
            Refused::Again => Err(again(
                "That passkey was not accepted for this account. Try again, or use a code.",
            )),
        },
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    new_password: String,
    confirm_password: String,
}

/// `POST /reset/password`: sets the new password once identity is verified.
pub async fn password_submit(
    State(state): State<AppState>,
    ctx: RequestCtx,
    jar: CookieJar,
    CsrfForm(f): CsrfForm<PasswordForm>,
) -> PageResult {
    let Some(secret) = secret_of(&state, &jar) else {
        return Ok(restart(&state, jar));
    };
    let Some(p) = PendingReset::load(&state, &secret).await? else {
        return Ok(restart(&state, jar));
    };
    let Some(user_id) = p.user_id.filter(|_| p.done()) else {
        return Ok(Redirect::to("/reset/verify").into_response());
    };
    let Some(user) = state
        .store
        .get_user(user_id)
        .await?
        .filter(|u| u.is_enabled())
    else {
        state.store.delete_login_flow(&digest(&secret)).await?;
        return Ok(restart(&state, jar));
    };
    if f.new_password.len() > 1024 {
        return Ok(render_password(
            &state,
            jar,
            &p,
            Some("That password is too long."),
        ));
    }
    if f.new_password != f.confirm_password {
        return Ok(render_password(
            &state,
            jar,
            &p,
            Some("The two passwords do not match."),
        ));
    }
    let verdict = state
        .ops()
        .evaluate_password(
            &user.username,
            &user.display_name,
            user.email.as_deref(),
            &f.new_password,
        )
        .await?;
    if !verdict.accepted {
        return Ok(render_password(
            &state,
            jar,
            &p,
            Some(&verdict.messages().join(" ")),
        ));
    }
    // Only one request can finish the flow.
    if !state.store.delete_login_flow(&digest(&secret)).await? {
        return Ok(restart(&state, jar));
    }
    let now = state.now();
    let hash = state.hash_new_password(&f.new_password).await?;
    let audit = AuditDraft::new(
        &Actor::user(user_id, &user.username, ctx.ip.map(|i| i.to_string())),
        "user.password.reset",
        "user",
        Some(user_id.to_string()),
    )
    .after(&serde_json::json!({ "self_service": true, "verified_with": p.verified }));
    // Every session of the user is revoked in the same transaction.
    state
        .store
        .set_password_hash(user_id, &hash, false, Some(now), Some(audit))
        .await?;
    crate::signin::limits::reset_password_lock(&state, &user.username).await?;
    metrics::counter!("trustplane_password_resets_total", "result" => "success").increment(1);
    let (subject, body) = crate::platform::mail::security_notice(
        &state.cfg.organisation,
        &user.display_name,
        "Your password was reset and every session of yours was signed out",
        ctx.ip,
    );
    let registered = crate::signin::factors::email_address_of(&state, user_id).await?;
    state.notify(user.email.as_deref(), &subject, &body).await;
    if registered.is_some() && registered != user.email {
        state.notify(registered.as_deref(), &subject, &body).await;
    }
    let jar = state.remove_cookie(jar, COOKIE);
    let page = DonePage {
        organisation: &state.cfg.organisation,
    };
    Ok((jar, render_status(StatusCode::OK, &page)).into_response())
}

/// `POST /reset/check-password`: the strength meter once identity is verified.
pub async fn check_password(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    if body.len() > crate::signin::step_pages::MAX_CHECK_BODY {
        return Err(crate::signin::step_pages::too_large());
    }
    let Some(secret) = secret_of(&state, &jar) else {
        return Err(AppError::unauthenticated());
    };
    let Some(p) = PendingReset::load(&state, &secret).await? else {
        return Err(AppError::unauthenticated());
    };
    let Some(user_id) = p.user_id.filter(|_| p.done()) else {
        return Err(AppError::unauthenticated());
    };
    let Some(u) = state.store.get_user(user_id).await? else {
        return Err(AppError::unauthenticated());
    };
    crate::signin::step_pages::live_check(
        &state,
        &jar,
        &headers,
        format!("reset:{user_id}"),
        (&u.username, &u.display_name, u.email.as_deref()),
        &body,
    )
    .await
}
