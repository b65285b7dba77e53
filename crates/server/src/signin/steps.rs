//! The steps after the first factor: a second factor, registering a method, a password
//! change, terms of use; each passed step goes through [`finish_step`], which issues the
//! session when the flow is done.

use crate::edge::auth::RequestCtx;
use crate::edge::error::AppError;
use crate::signin::complete::finish_step;
use crate::signin::factors::check_totp;
use crate::signin::flow::PendingLogin;
use crate::state::AppState;
use time::OffsetDateTime;
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_core::authn::AuthMethod;
use trustplane_core::authn::{DenyReason, LoginState, Step, StepOutcome};
use trustplane_core::credential::secret_digest;
use trustplane_core::mfa::email::{CodePurpose, normalize_email_code};
use trustplane_core::mfa::{MfaKind, MfaMethod, TotpCheck, normalize_recovery_code, verify_totp};
use uuid::Uuid;

/// What happened to a submitted password-change step.
pub enum StepResult {
    /// Signed in (`persist_until`: see [`LoginOutcome::Success`]). `secret` is the new
    /// session's cookie value; `None` after a step-up, which keeps the session (and cookie).
    Success {
        secret: Option<String>,
        next: String,
        persist_until: Option<OffsetDateTime>,
    },
    /// Refused; the step stays current. `message` is for the page.
    Retry {
        pending: Box<PendingLogin>,
        message: String,
    },
    /// No such flow, expired, or too many refused attempts: start again.
    Restart,
    /// Conditional access refused the sign-in once every step was done.
    Denied {
        reason: DenyReason,
        correlation_id: String,
    },
}

/// Completes the "choose a new password" step of a sign-in in progress.
pub async fn complete_password_change(
    state: &AppState,
    ctx: &RequestCtx,
    flow_secret: &str,
    new_password: &str,
    confirm: &str,
) -> Result<StepResult, AppError> {
    let now = state.now();
    let Some(mut pending) = PendingLogin::load(state, flow_secret).await? else {
        return Ok(StepResult::Restart);
    };
    let (Some(Step::ChangePassword { reason }), Some(user_id)) =
        (pending.flow.current_step().cloned(), pending.flow.user_id())
    else {
        return Ok(StepResult::Restart);
    };
    if let Some(r) = crate::signin::limits::step_locked(state, &pending, now).await? {
        return crate::signin::limits::refused_step(state, flow_secret, pending, r).await;
    }
    let Some(record) = state.store.login_record(&pending.username).await? else {
        return Ok(StepResult::Restart);
    };
    if record.user.id != user_id || !record.user.is_enabled() {
        state
            .store
            .delete_login_flow(&secret_digest(flow_secret))
            .await?;
        return Ok(StepResult::Restart);
    }
    let refusal = refuse_new_password(state, &record, new_password, confirm).await?;
    if let Some(message) = refusal {
        return crate::signin::complete::retry_or_restart(state, flow_secret, pending, message)
            .await;
    }
    // Only one request can finish the flow.
    if !state
        .store
        .delete_login_flow(&secret_digest(flow_secret))
        .await?
    {
        return Ok(StepResult::Restart);
    }
    let hash = crate::ops::hash(new_password, state.hash_params).await?;
    let audit = AuditDraft::new(
        &Actor::user(
            user_id,
            &record.user.username,
            ctx.ip.map(|i| i.to_string()),
        ),
        "user.password.change",
        "user",
        Some(user_id.to_string()),
    )
    .after(&serde_json::json!({ "reason": reason, "during": "sign_in" }));
    // Every earlier session is revoked: with leaked credentials, someone else may hold one.
    state
        .store
        .set_password_hash(user_id, &hash, false, Some(now), Some(audit))
        .await?;
    let (subject, body) = crate::platform::mail::security_notice(
        &state.cfg.organisation,
        &record.user.display_name,
        "Your password was changed",
        ctx.ip,
        state.now(),
    );
    state
        .notify(record.user.email.as_deref(), &subject, &body)
        .await;
    let flow = pending
        .flow
        .complete_step(StepOutcome::PasswordChanged, now);
    pending.flow = flow;
    finish_step(
        state,
        ctx,
        flow_secret,
        pending,
        serde_json::json!({ "step": "change_password", "reason": reason }),
        now,
    )
    .await
}

/// Why a new password typed during sign-in is refused (`None`: accepted).
async fn refuse_new_password(
    state: &AppState,
    record: &trustplane_store::LoginRecord,
    new_password: &str,
    confirm: &str,
) -> Result<Option<String>, AppError> {
    if new_password != confirm {
        return Ok(Some("The two passwords do not match.".to_string()));
    }
    let verdict = state
        .ops()
        .evaluate_password(
            &record.user.username,
            &record.user.display_name,
            record.user.email.as_deref(),
            new_password,
        )
        .await?;
    Ok(if !verdict.accepted {
        Some(verdict.messages().join(" "))
    } else if same_as_current(state, record, new_password).await? {
        Some("Choose a password different from your current one.".to_string())
    } else {
        None
    })
}

/// Completes the "accept the terms of use" step. Declining ends the sign-in (it cannot
/// complete without them).
pub async fn complete_terms(
    state: &AppState,
    ctx: &RequestCtx,
    flow_secret: &str,
    accepted: bool,
) -> Result<StepResult, AppError> {
    let now = state.now();
    let Some(mut pending) = PendingLogin::load(state, flow_secret).await? else {
        return Ok(StepResult::Restart);
    };
    let (Some(Step::AcceptTerms { id }), Some(user_id)) =
        (pending.flow.current_step().cloned(), pending.flow.user_id())
    else {
        return Ok(StepResult::Restart);
    };
    if let Some(r) = crate::signin::limits::step_locked(state, &pending, now).await? {
        return crate::signin::limits::refused_step(state, flow_secret, pending, r).await;
    }
    if !accepted {
        state
            .store
            .delete_login_flow(&secret_digest(flow_secret))
            .await?;
        return Ok(StepResult::Restart);
    }
    match state.store.accept_terms(user_id, &id, now).await {
        Ok(()) => {}
        Err(trustplane_store::StoreError::NotFound(_)) => return Ok(StepResult::Restart),
        Err(e) => return Err(e.into()),
    }
    pending.flow = pending
        .flow
        .complete_step(StepOutcome::TermsAccepted(id.clone()), now);
    finish_step(
        state,
        ctx,
        flow_secret,
        pending,
        serde_json::json!({ "step": "accept_terms", "terms": id }),
        now,
    )
    .await
}

/// Completes the second-factor step with a TOTP code.
pub async fn complete_second_factor(
    state: &AppState,
    ctx: &RequestCtx,
    flow_secret: &str,
    code: &str,
) -> Result<StepResult, AppError> {
    let now = state.now();
    let Some(mut pending) = PendingLogin::load(state, flow_secret).await? else {
        return Ok(StepResult::Restart);
    };
    let (Some(Step::SecondFactor { .. }), Some(user_id)) =
        (pending.flow.current_step().cloned(), pending.flow.user_id())
    else {
        return Ok(StepResult::Restart);
    };
    // The account lock, the account's second-factor limit and the flow's budget, before any
    // code is looked at (emailed, recovery or authenticator).
    let ticket = match crate::signin::limits::step_gate(state, flow_secret, &pending, now).await? {
        Ok(t) => t,
        Err(r) => return crate::signin::limits::refused_step(state, flow_secret, pending, r).await,
    };
    let method = match check_code(state, flow_secret, user_id, code, now).await? {
        CodeCheck::Passed(method) => method,
        CodeCheck::Failed { reason, message } => {
            return crate::signin::complete::step_failed(
                state,
                ctx,
                flow_secret,
                pending,
                ticket,
                "totp",
                reason,
                message.to_string(),
                now,
            )
            .await;
        }
    };
    crate::signin::limits::passed(state, ticket).await?;
    pending.flow = pending
        .flow
        .complete_step(StepOutcome::SecondFactor(method), now);
    let method_name = match method {
        AuthMethod::RecoveryCode => "recovery_code",
        AuthMethod::EmailCode => "email_code",
        _ => "totp",
    };
    if method == AuthMethod::RecoveryCode {
        let left = state.store.unused_recovery_codes(user_id).await?;
        tracing::info!(user_id = %user_id, left, "recovery code used");
    }
    finish_step(
        state,
        ctx,
        flow_secret,
        pending,
        serde_json::json!({ "step": "second_factor", "method": method_name }),
        now,
    )
    .await
}

/// What a code typed at the second-factor step turned out to be.
enum CodeCheck {
    Passed(AuthMethod),
    Failed {
        reason: &'static str,
        message: &'static str,
    },
}

/// Checks a code typed at the second-factor step: an emailed code (when the methods policy
/// allows email for the user), else a recovery code (they cannot be confused: 10 letters and
/// digits 2-7 against 6 digits), else a TOTP code.
async fn check_code(
    state: &AppState,
    flow_secret: &str,
    user_id: Uuid,
    code: &str,
    now: OffsetDateTime,
) -> Result<CodeCheck, AppError> {
    let mut outcome = TotpCheck::Invalid;
    let mut used = None;
    let mut method = AuthMethod::Totp;
    let policy = state.ops().methods_policy().await?;
    let groups: Vec<Uuid> = state.store.group_ids_of(user_id).await?;
    let mut email_message = None;
    if normalize_email_code(code).is_some() && policy.email_allowed(&groups) {
        match crate::signin::email_codes::check(
            state,
            &secret_digest(flow_secret),
            CodePurpose::SignIn,
            code,
        )
        .await?
        {
            crate::signin::email_codes::Check::Valid { user_id: u, .. } if u == user_id => {
                used = Some(user_id);
                method = AuthMethod::EmailCode;
            }
            crate::signin::email_codes::Check::NoCode => {
                email_message = Some(
                    "No emailed code is waiting for this sign-in (they expire after 10 minutes). Send a new one.",
                )
            }
            _ => {
                email_message =
                    Some("That emailed code is not correct. Check the latest message we sent.")
            }
        }
    }
    if used.is_none()
        && let Some(rc) = normalize_recovery_code(code)
        && policy.recovery_codes_allowed(&groups)
        && state
            .store
            .use_recovery_code(user_id, &secret_digest(&rc), now)
            .await?
    {
        used = Some(user_id);
        method = AuthMethod::RecoveryCode;
    }
    if used.is_none() {
        let (checked, method_id) = check_totp(state, user_id, code, now).await?;
        outcome = checked;
        used = method_id;
    }
    if used.is_some() {
        return Ok(CodeCheck::Passed(method));
    }
    let message = match outcome {
        _ if email_message.is_some() => email_message.unwrap_or_default(),
        TotpCheck::Replayed => "That code was already used. Wait for the next one.",
        _ => {
            "That code is not correct. Check the code in your authenticator app, or enter an unused recovery code."
        }
    };
    let reason = if outcome == TotpCheck::Replayed {
        "totp_replayed"
    } else {
        "totp_invalid"
    };
    Ok(CodeCheck::Failed { reason, message })
}

/// The sealing context of a second-factor enrolment inside a sign-in flow.
pub fn flow_enrol_context(flow_secret: &str) -> Vec<u8> {
    format!("totp-enrol-flow:{}", secret_digest(flow_secret)).into_bytes()
}

/// Completes the registration step: registers an authenticator app whose first code is valid
/// (which also proves possession for this sign-in). `pending` is the secret sealed to this flow.
pub async fn complete_registration(
    state: &AppState,
    ctx: &RequestCtx,
    flow_secret: &str,
    pending_sealed: &str,
    code: &str,
) -> Result<StepResult, AppError> {
    let now = state.now();
    let Some(mut pending) = PendingLogin::load(state, flow_secret).await? else {
        return Ok(StepResult::Restart);
    };
    let (Some(Step::RegisterSecondFactor { .. }), Some(user_id)) =
        (pending.flow.current_step().cloned(), pending.flow.user_id())
    else {
        return Ok(StepResult::Restart);
    };
    let Ok(secret) = crate::platform::secrets::open(
        &state.mfa_key,
        &flow_enrol_context(flow_secret),
        pending_sealed,
    ) else {
        return Ok(StepResult::Restart);
    };
    let ticket = match crate::signin::limits::step_gate(state, flow_secret, &pending, now).await? {
        Ok(t) => t,
        Err(r) => return crate::signin::limits::refused_step(state, flow_secret, pending, r).await,
    };
    let unix = now.unix_timestamp().max(0) as u64;
    let step = match verify_totp(&secret, code, unix, None).map_err(|_| AppError::internal())? {
        TotpCheck::Valid { step } => {
            crate::signin::limits::passed(state, ticket).await?;
            step
        }
        _ => {
            crate::signin::limits::failed(state, ticket, now).await?;
            return crate::signin::complete::retry_or_restart(
                state,
                flow_secret,
                pending,
                "That code is not correct. Check that the app shows a code for this account and that the phone's clock is right.".into(),
            )
            .await;
        }
    };
    let method = MfaMethod {
        id: Uuid::now_v7(),
        user_id,
        kind: MfaKind::Totp,
        label: "Authenticator app".into(),
        last_step: Some(step),
        created_at: now,
        last_used_at: Some(now),
    };
    let sealed = crate::platform::secrets::seal(&state.mfa_key, method.id.as_bytes(), &secret)
        .map_err(|_| AppError::internal())?;
    let audit = AuditDraft::new(
        &Actor::user(user_id, &pending.username, ctx.ip.map(|i| i.to_string())),
        "mfa.method.add",
        "user",
        Some(user_id.to_string()),
    )
    .after(&serde_json::json!({ "method": method.id, "kind": "totp", "during": "sign_in" }));
    state.store.add_mfa_method(&method, &sealed, audit).await?;
    if let Some(u) = state.store.get_user(user_id).await? {
        let (subject, body) = crate::platform::mail::security_notice(
            &state.cfg.organisation,
            &u.display_name,
            "An authenticator app was added to your account",
            ctx.ip,
            state.now(),
        );
        state.notify(u.email.as_deref(), &subject, &body).await;
    }
    pending.flow = pending
        .flow
        .complete_step(StepOutcome::Registered(AuthMethod::Totp), now);
    // Registration interrupt: with the second factor in place, the combined registration
    // wizard offers the remaining methods (email for reset, recovery codes) right away, unless
    // the sign-in was on its way somewhere specific.
    if pending.next == "/my" || pending.next.is_empty() {
        pending.next = "/my/security-info/setup".into();
    }
    finish_step(
        state,
        ctx,
        flow_secret,
        pending,
        serde_json::json!({ "step": "register_second_factor", "method": "totp" }),
        now,
    )
    .await
}

/// Postpones the registration step, when the policy still allows it.
pub async fn postpone_registration(
    state: &AppState,
    ctx: &RequestCtx,
    flow_secret: &str,
) -> Result<StepResult, AppError> {
    let now = state.now();
    let Some(mut pending) = PendingLogin::load(state, flow_secret).await? else {
        return Ok(StepResult::Restart);
    };
    if let Some(r) = crate::signin::limits::step_locked(state, &pending, now).await? {
        return crate::signin::limits::refused_step(state, flow_secret, pending, r).await;
    }
    let before = pending.flow.current_step().cloned();
    pending.flow = pending
        .flow
        .complete_step(StepOutcome::RegistrationPostponed, now);
    if pending.flow.current_step() == before.as_ref()
        && matches!(pending.flow.state, LoginState::InProgress { .. })
    {
        // Not allowed (no postponement left): the step stays.
        return Ok(StepResult::Retry {
            pending: Box::new(pending),
            message: "Registration can no longer be postponed.".into(),
        });
    }
    finish_step(
        state,
        ctx,
        flow_secret,
        pending,
        serde_json::json!({ "step": "register_second_factor", "postponed": true }),
        now,
    )
    .await
}

/// Whether `candidate` is the user's current password (one Argon2 verification).
pub(super) async fn same_as_current(
    state: &AppState,
    record: &trustplane_store::LoginRecord,
    candidate: &str,
) -> Result<bool, AppError> {
    let Some(stored) = record.password_hash.clone() else {
        return Ok(false);
    };
    Ok(state.verify_password(candidate, stored).await?.is_match())
}
