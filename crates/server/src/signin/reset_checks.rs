//! Self-service password reset, the verification step: codes by email, authenticator app or
//! recovery code, or a passkey; attempts counted per account across flows, the account lock
//! honoured.

use crate::edge::auth::RequestCtx;
use crate::edge::error::AppError;
use crate::edge::pages::{CsrfForm, PageResult};
use crate::signin::reset::COOKIE;
use crate::signin::reset::GENERIC_WRONG;
use crate::signin::reset::MAX_ATTEMPTS;
use crate::signin::reset::PendingReset;
use crate::signin::reset::digest;
use crate::signin::reset::render_password;
use crate::signin::reset::render_verify;
use crate::signin::reset::restart;
use crate::signin::reset::secret_of;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_core::credential::secret_digest;
use trustplane_core::mfa::email::{CodePurpose, normalize_email_code};
use trustplane_core::mfa::{TotpCheck, normalize_recovery_code};
use uuid::Uuid;

#[derive(Deserialize)]
pub struct CodeForm {
    pub(super) code: String,
}

/// Which method a typed code belongs to, and whether it verified (for a real account):
/// `Ok(kind)`, or `Err(reason)` naming the refusal for the audit log.
pub(super) async fn verify_code(
    state: &AppState,
    secret: &str,
    user_id: Uuid,
    code: &str,
) -> Result<Result<&'static str, &'static str>, AppError> {
    let policy = state.ops().methods_policy().await?;
    let groups = state.store.group_ids_of(user_id).await?;
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
pub(super) enum Refused {
    /// Try again (the flow goes on).
    Again,
    /// Too many wrong answers: the flow is over.
    Restart,
}

/// Counts a refused code or passkey against the flow and the account, and audits it. The
/// answer to the browser never tells an unknown account from a known one; the audit log
/// (admins only) does.
pub(super) async fn refuse(
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
pub(super) async fn accept(
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

pub(super) const ALREADY_VERIFIED: &str = "That method was already verified: use a different one.";

/// Whether the account's second-factor lock holds (shared with sign-in, every instance).
pub(super) async fn locked(state: &AppState, p: &PendingReset) -> Result<bool, AppError> {
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
pub(super) async fn claim(
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
pub(super) async fn settle(
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

pub(super) const LOCKED: &str =
    "Too many wrong codes for this account. Wait 15 minutes and try again.";

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
        Json(crate::signin::webauthn_sign_in::reset_options(&state, &digest(&secret)).await?)
            .into_response(),
    )
}

pub(super) fn reset_expired() -> AppError {
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
    let refusal = crate::signin::webauthn_sign_in::verify_for_reset(
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
