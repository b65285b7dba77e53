//! The one place a sign-in attempt ends (issue 14 item 3).
//!
//! - [`first_factor`]: after the first factor (password, Temporary Access Pass, passkey) and
//!   the conditional access decision on it: the lock rule
//!   ([`DenyReason::counts_against_lock`], the same for every method), metrics, the sign-in
//!   log row, the log line, and the session or the saved flow.
//! - [`step_failed`]: a refused step (a wrong code or security-key answer): the account's
//!   second-factor counter, metrics, the sign-in log row, and the flow's attempts.
//! - Successful steps end in [`finish_step`] (conditional access again, the
//!   session or step-up, the row).
//!
//! The risk engine hooks in here.

use crate::edge::auth::RequestCtx;
use crate::edge::error::AppError;
use crate::platform::secrets::random_token;
use crate::signin::flow::{LoginOutcome, MAX_STEP_ATTEMPTS, PendingLogin, issue_session};
use crate::signin::steps::StepResult;
use crate::state::AppState;
use time::OffsetDateTime;
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_core::authn::{AuthMethod, DenyReason, LoginFlow, LoginState};
use trustplane_core::credential::secret_digest;
use trustplane_core::signin::{SignInEvent, SignInResult};
use uuid::Uuid;

/// What a first factor produced, ready to be finished.
pub struct FirstFactor {
    /// The first factor used (decides the lock rule and the metrics label).
    pub method: AuthMethod,
    /// The login name as typed (or the passkey's account), logged as received.
    pub username: String,
    /// The lock counters of this attempt (`None`: a method no lock applies to).
    pub keys: Option<crate::signin::limits::Keys>,
    /// The flow after the first factor and the conditional access decision on it.
    pub flow: LoginFlow,
    /// The conditional access record of that decision, for the sign-in log.
    pub conditional_access: Option<serde_json::Value>,
    /// The account the attempt was about, when the flow does not name one (a wrong password).
    pub record_user: Option<Uuid>,
    /// Method-specific details for the sign-in log (`flow`, `next`, `risk`, …).
    pub details: serde_json::Value,
    /// The logged failure reason of a denial, when the method words it its own way
    /// (`wrong_temporary_access_pass`, `webauthn_failed`, …); default: the reason's code.
    pub failure_code: Option<String>,
    /// Where the browser goes once signed in.
    pub next: String,
}

fn metrics_label(m: AuthMethod) -> &'static str {
    match m {
        AuthMethod::Password => "password",
        AuthMethod::TemporaryAccessPass => "temporary_access_pass",
        AuthMethod::Webauthn { .. } => "passkey",
        AuthMethod::Totp => "totp",
        AuthMethod::RecoveryCode => "recovery_code",
        AuthMethod::EmailCode => "email_code",
    }
}

/// Result and reason of a flow as the sign-in log records them.
pub fn result_of(flow: &LoginFlow) -> (SignInResult, Option<DenyReason>) {
    match &flow.state {
        LoginState::Success { .. } => (SignInResult::Success, None),
        LoginState::InProgress { .. } => (SignInResult::Interrupted, None),
        LoginState::Denied { reason } => (SignInResult::Failure, Some(*reason)),
        LoginState::AwaitingFirstFactor => (SignInResult::Failure, None),
    }
}

/// Finishes a first factor: see the module documentation.
pub async fn first_factor(
    state: &AppState,
    ctx: &RequestCtx,
    ff: FirstFactor,
    now: OffsetDateTime,
) -> Result<LoginOutcome, AppError> {
    let FirstFactor {
        method,
        username,
        keys,
        flow,
        conditional_access,
        record_user,
        mut details,
        failure_code,
        next,
    } = ff;
    let (result, reason) = result_of(&flow);
    if let (Some(keys), Some(r)) = (&keys, reason)
        && r.counts_against_lock(method)
    {
        crate::signin::limits::password_failed(state, keys, now).await?;
    }
    metrics::counter!("trustplane_sign_ins_total",
        "result" => result.as_str(),
        "reason" => reason.map_or("none", DenyReason::code),
        "method" => metrics_label(method))
    .increment(1);
    if let Some(ca) = conditional_access {
        details["app"] = crate::signin::conditions::app_of(&flow).into();
        details["conditional_access"] = ca;
    }
    if let Some(step) = flow.current_step() {
        details["interrupt"] = serde_json::to_value(step).unwrap_or_default();
    }
    let event = SignInEvent {
        id: Uuid::now_v7(),
        at: now,
        user_id: flow.user_id().or(record_user),
        username: username.clone(),
        result,
        failure_reason: reason.map(|r| failure_code.unwrap_or_else(|| r.code().to_string())),
        ip: ctx.ip.map(|i| i.to_string()),
        user_agent: ctx.user_agent.clone(),
        correlation_id: ctx.correlation_id.clone(),
        methods: flow.amr().iter().map(|s| s.to_string()).collect(),
        details,
    };
    let outcome = match &flow.state {
        LoginState::Success { user_id } => {
            if let Some(keys) = &keys {
                crate::signin::limits::password_passed(state, keys).await?;
            }
            let user_id = *user_id;
            let persistent = flow.persistent_browser;
            let (secret, session, user) = issue_session(state, ctx, user_id, flow, now).await?;
            LoginOutcome::Success {
                secret,
                persist_until: persistent.then_some(session.absolute_expires_at),
                session: Box::new(session),
                user: Box::new(user),
            }
        }
        LoginState::InProgress { .. } => {
            if let Some(keys) = &keys {
                crate::signin::limits::password_passed(state, keys).await?;
            }
            let flow_secret = random_token();
            PendingLogin {
                flow,
                next,
                username: username.clone(),
                attempts: 0,
                email_sent_to: None,
                step_up_session: None,
                known_device: keys.and_then(|k| k.known_device),
            }
            .save(state, &flow_secret)
            .await?;
            LoginOutcome::Continue { flow_secret }
        }
        LoginState::Denied { reason } => LoginOutcome::Denied(*reason),
        LoginState::AwaitingFirstFactor => LoginOutcome::Denied(DenyReason::WrongPassword),
    };
    state.store.record_sign_in(&event).await?;
    tracing::info!(
        user = %username,
        method = metrics_label(method),
        result = result.as_str(),
        reason = reason.map_or("", DenyReason::code),
        correlation_id = %ctx.correlation_id,
        "sign-in"
    );
    Ok(outcome)
}

/// A refused step of a flow in progress (a wrong code, a refused security-key answer):
/// counts it against the account's second-factor limit (the reservation `ticket` stays
/// counted), logs it, and counts the flow's attempts (past [`MAX_STEP_ATTEMPTS`] the sign-in
/// starts again).
#[allow(clippy::too_many_arguments)]
pub async fn step_failed(
    state: &AppState,
    ctx: &RequestCtx,
    flow_secret: &str,
    pending: PendingLogin,
    ticket: crate::signin::limits::Ticket,
    method: &'static str,
    failure_reason: &str,
    message: String,
    now: OffsetDateTime,
) -> Result<StepResult, AppError> {
    metrics::counter!("trustplane_mfa_failures_total", "method" => method).increment(1);
    crate::signin::limits::failed(state, ticket, now).await?;
    state
        .store
        .record_sign_in(&SignInEvent {
            id: Uuid::now_v7(),
            at: now,
            user_id: pending.flow.user_id(),
            username: pending.username.clone(),
            result: SignInResult::Failure,
            failure_reason: Some(failure_reason.to_string()),
            ip: ctx.ip.map(|i| i.to_string()),
            user_agent: ctx.user_agent.clone(),
            correlation_id: ctx.correlation_id.clone(),
            methods: pending.flow.amr().iter().map(|s| s.to_string()).collect(),
            details: serde_json::json!({ "flow": "password", "step": "second_factor" }),
        })
        .await?;
    retry_or_restart(state, flow_secret, pending, message).await
}

/// One more refused submission of the current step: the flow is kept for another try with
/// `message`, or, past [`MAX_STEP_ATTEMPTS`], deleted (the sign-in starts again).
pub async fn retry_or_restart(
    state: &AppState,
    flow_secret: &str,
    mut pending: PendingLogin,
    message: String,
) -> Result<StepResult, AppError> {
    pending.attempts += 1;
    if pending.attempts >= MAX_STEP_ATTEMPTS {
        state
            .store
            .delete_login_flow(&secret_digest(flow_secret))
            .await?;
        return Ok(StepResult::Restart);
    }
    pending.save(state, flow_secret).await?;
    Ok(StepResult::Retry {
        pending: Box::new(pending),
        message,
    })
}

/// After a step succeeded: issues the session when no step remains (and logs the sign-in),
/// or saves the flow for the next step.
pub(crate) async fn finish_step(
    state: &AppState,
    ctx: &RequestCtx,
    flow_secret: &str,
    mut pending: PendingLogin,
    completed: serde_json::Value,
    now: OffsetDateTime,
) -> Result<StepResult, AppError> {
    let ca =
        match recheck_conditions(state, ctx, flow_secret, &mut pending, &completed, now).await? {
            Ok(ca) => ca,
            Err(denied) => return Ok(denied),
        };
    match &pending.flow.state {
        LoginState::Success { user_id } => {
            let user_id = *user_id;
            finish_success(
                state,
                ctx,
                flow_secret,
                pending,
                user_id,
                completed,
                ca,
                now,
            )
            .await
        }
        LoginState::InProgress { .. } => {
            pending.attempts = 0;
            pending.save(state, flow_secret).await?;
            Ok(StepResult::Retry {
                pending: Box::new(pending),
                message: String::new(),
            })
        }
        _ => {
            state
                .store
                .delete_login_flow(&secret_digest(flow_secret))
                .await?;
            Ok(StepResult::Restart)
        }
    }
}

/// Conditional access again after every step, with every method performed so far: with steps
/// left it may add some (or block); with none left, anything still required refuses. Returns
/// the conditional-access entry for the sign-in log, or the denial (flow deleted, logged).
async fn recheck_conditions(
    state: &AppState,
    ctx: &RequestCtx,
    flow_secret: &str,
    pending: &mut PendingLogin,
    completed: &serde_json::Value,
    now: OffsetDateTime,
) -> Result<Result<Option<serde_json::Value>, StepResult>, AppError> {
    use crate::signin::conditions::{Stage, app_of};
    let stage = if matches!(pending.flow.state, LoginState::Success { .. }) {
        Stage::Final
    } else {
        Stage::FirstFactor
    };
    if !matches!(
        pending.flow.state,
        LoginState::Success { .. } | LoginState::InProgress { .. }
    ) {
        return Ok(Ok(None));
    }
    let (flow, ca) =
        crate::signin::conditions::apply(state, ctx, pending.flow.clone(), stage, now).await?;
    if let LoginState::Denied { reason } = flow.state {
        state
            .store
            .delete_login_flow(&secret_digest(flow_secret))
            .await?;
        let details = serde_json::json!({ "flow": "password", "completed": completed,
            "app": app_of(&pending.flow), "conditional_access": ca,
            "step_up": pending.step_up_session.is_some() });
        let methods = pending.flow.amr().iter().map(|s| s.to_string()).collect();
        let mut event = step_event(ctx, pending, now, methods, details);
        event.user_id = pending.flow.user_id();
        event.result = SignInResult::Failure;
        event.failure_reason = Some(reason.code().to_string());
        state.store.record_sign_in(&event).await?;
        return Ok(Err(StepResult::Denied {
            reason,
            correlation_id: ctx.correlation_id.clone(),
        }));
    }
    if stage == Stage::FirstFactor {
        pending.flow = flow;
    }
    Ok(Ok(ca))
}

/// The sign-in log row of a flow that ended after a step (a success unless the caller says
/// otherwise).
fn step_event(
    ctx: &RequestCtx,
    pending: &PendingLogin,
    now: OffsetDateTime,
    methods: Vec<String>,
    details: serde_json::Value,
) -> SignInEvent {
    SignInEvent {
        id: Uuid::now_v7(),
        at: now,
        user_id: None,
        username: pending.username.clone(),
        result: SignInResult::Success,
        failure_reason: None,
        ip: ctx.ip.map(|i| i.to_string()),
        user_agent: ctx.user_agent.clone(),
        correlation_id: ctx.correlation_id.clone(),
        methods,
        details,
    }
}

/// No step remains: the flow ends, the session is issued (or the stepped-up session carries
/// the new methods), and the sign-in is logged.
#[allow(clippy::too_many_arguments)]
async fn finish_success(
    state: &AppState,
    ctx: &RequestCtx,
    flow_secret: &str,
    pending: PendingLogin,
    user_id: Uuid,
    completed: serde_json::Value,
    ca: Option<serde_json::Value>,
    now: OffsetDateTime,
) -> Result<StepResult, AppError> {
    // (The password-change path has already deleted it, atomically; a TOTP code is accepted
    // once by the store, so the second-factor path cannot finish twice.)
    state
        .store
        .delete_login_flow(&secret_digest(flow_secret))
        .await?;
    let methods: Vec<String> = pending.flow.amr().iter().map(|s| s.to_string()).collect();
    let app = crate::signin::conditions::app_of(&pending.flow);
    let (secret, persist_until) = match pending.step_up_session {
        Some(sid) => {
            // The session keeps its id, cookie and lifetime; it now carries the methods
            // performed in the step-up too.
            let audit = AuditDraft::new(
                &Actor::user(user_id, &pending.username, ctx.ip.map(|i| i.to_string())),
                "session.step_up",
                "session",
                Some(sid.to_string()),
            )
            .after(&serde_json::json!({ "amr": methods, "app": app }));
            if !state
                .store
                .step_up_session(sid, &pending.flow.methods, audit)
                .await?
            {
                // Revoked meanwhile: the step-up cannot revive it.
                return Ok(StepResult::Restart);
            }
            (None, None)
        }
        None => {
            let (secret, session, _) =
                issue_session(state, ctx, user_id, pending.flow.clone(), now).await?;
            let persist_until = pending
                .flow
                .persistent_browser
                .then_some(session.absolute_expires_at);
            (Some(secret), persist_until)
        }
    };
    let details = serde_json::json!({ "flow": "password", "completed": completed,
        "app": app, "conditional_access": ca,
        "step_up": pending.step_up_session.is_some() });
    let mut event = step_event(ctx, &pending, now, methods, details);
    event.user_id = Some(user_id);
    state.store.record_sign_in(&event).await?;
    Ok(StepResult::Success {
        secret,
        next: pending.next,
        persist_until,
    })
}
