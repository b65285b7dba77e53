//! The edge of the login state machine: performs the I/O the core machine asks for (user
//! lookup, password verification, rate limits), issues the session, writes the sign-in log.

use crate::edge::auth::RequestCtx;
use crate::edge::error::AppError;
use crate::platform::secrets::random_token;
use crate::state::AppState;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_core::authn::{AuthMethod, FlowTarget};
use trustplane_core::authn::{
    DenyReason, FLOW_LIFETIME, FirstFactorOutcome, LoginFlow, LoginState, PasswordChangeReason,
    Step, StepOutcome,
};
use trustplane_core::credential::{VerifyOutcome, secret_digest};
use trustplane_core::identity::User;
use trustplane_core::mfa::email::{CodePurpose, mask_address, normalize_email_code};
use trustplane_core::mfa::policy::Requirement;
use trustplane_core::mfa::tap;
use trustplane_core::mfa::{MfaKind, MfaMethod, TotpCheck, normalize_recovery_code, verify_totp};
use trustplane_core::risk::{DetectionKind, DetectionState, RiskDetection};
use trustplane_core::session::Session;
use trustplane_core::signin::{SignInEvent, SignInResult};
use uuid::Uuid;

/// Longest login name / password we even look at; longer input is refused before hashing.
const MAX_TYPED_USERNAME: usize = 256;
const MAX_TYPED_PASSWORD: usize = 1024;

pub enum LoginOutcome {
    /// A session was issued; `secret` goes into the cookie and nowhere else.
    Success {
        secret: String,
        session: Box<Session>,
        user: Box<User>,
        /// A persistent cookie until then (conditional access "persistent browser: always");
        /// `None`: a browser-session cookie.
        persist_until: Option<OffsetDateTime>,
    },
    /// The first factor passed but steps remain: `flow_secret` goes into the flow cookie and
    /// the browser continues at [`CONTINUE_PATH`].
    Continue {
        flow_secret: String,
    },
    Denied(DenyReason),
}

/// Where a sign-in with pending steps continues.
pub const CONTINUE_PATH: &str = "/login/continue";
/// Refused submissions of a step before the whole sign-in has to start again.
pub const MAX_STEP_ATTEMPTS: u32 = 10;

/// A sign-in in progress, kept server-side between requests (any instance can continue it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    pub flow: LoginFlow,
    /// Where to go once signed in (already checked by `safe_next`).
    pub next: String,
    pub username: String,
    /// Refused submissions of the current step.
    pub attempts: u32,
    /// Where the last sign-in code went (masked), to say so on the page.
    #[serde(default)]
    pub email_sent_to: Option<String>,
    /// A step-up of this (live) session: when the steps are done, the methods are added to
    /// it instead of a new session being issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_up_session: Option<Uuid>,
    /// The browser's device hash when it had signed in as this account before the flow
    /// started (smart lockout: its own counters; `crate::signin::limits`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_device: Option<String>,
}

impl PendingLogin {
    /// The lockout counters this flow is judged by.
    pub fn keys(&self) -> crate::signin::limits::Keys {
        crate::signin::limits::keys_of(&self.username, self.known_device.as_deref())
    }

    pub async fn load(state: &AppState, flow_secret: &str) -> Result<Option<Self>, AppError> {
        let now = state.now();
        let Some(data) = state
            .store
            .load_login_flow(&secret_digest(flow_secret), now)
            .await?
        else {
            return Ok(None);
        };
        match serde_json::from_str::<PendingLogin>(&data) {
            Ok(p) => Ok(Some(p)),
            Err(e) => {
                // A flow from an incompatible version: start again rather than fail.
                tracing::warn!(error = %e, "unreadable login flow discarded");
                state
                    .store
                    .delete_login_flow(&secret_digest(flow_secret))
                    .await?;
                Ok(None)
            }
        }
    }

    pub async fn save(&self, state: &AppState, flow_secret: &str) -> Result<(), AppError> {
        let data = serde_json::to_string(self).map_err(|_| AppError::internal())?;
        state
            .store
            .save_login_flow(
                &secret_digest(flow_secret),
                self.flow.user_id(),
                &data,
                state.now(),
                self.flow.started_at + FLOW_LIFETIME,
            )
            .await?;
        Ok(())
    }
}

pub async fn password_login(
    state: &AppState,
    ctx: &RequestCtx,
    username: &str,
    password: &str,
    next: &str,
    target: Option<FlowTarget>,
) -> Result<LoginOutcome, AppError> {
    let now = state.now();
    let typed: String = username.trim().chars().take(MAX_TYPED_USERNAME).collect();
    let flow = LoginFlow::new(now).with_target(target);

    let limited_ip = ctx
        .ip
        .is_some_and(|ip| state.ip_limiter.check_key(&ip).is_err());
    // Smart lockout: a browser that signed in as this account before has its own counter.
    let keys = crate::signin::limits::keys_for(state, &typed, ctx.device.as_deref()).await?;
    let locked = crate::signin::limits::password_locked(state, &keys, now).await?;
    if limited_ip || locked {
        // No hash, no database write: counted, logged once per source and window.
        crate::signin::refusals::refuse(state, ctx, &typed, "password");
        return Ok(LoginOutcome::Denied(DenyReason::RateLimited));
    }

    let checked = if password.len() > MAX_TYPED_PASSWORD {
        Checked {
            outcome: FirstFactorOutcome::RateLimited { user_id: None },
            record_user: None,
            must_change: false,
        }
    } else {
        check_password(state, &typed, password).await?
    };

    // Steps after the first factor. Leaked credentials: the valid password is in the
    // breach corpus, so whoever holds the corpus can sign in as this user.
    let mut steps = Vec::new();
    let mut leaked = false;
    let mut blocked = false;
    if let FirstFactorOutcome::Verified { user_id } = &checked.outcome {
        // The second factor comes before anything else (a leaked password alone must not be
        // enough to choose a new one). The authentication methods policy decides whether to
        // ask for one, to have one registered now, or to refuse.
        let policy = state.ops().methods_policy().await?;
        let groups: Vec<Uuid> = state
            .store
            .groups_of(*user_id)
            .await?
            .into_iter()
            .map(|g| g.id)
            .collect();
        let mut kinds: Vec<MfaKind> = Vec::new();
        for m in state.store.list_mfa_methods(*user_id).await? {
            let allowed = match m.kind {
                MfaKind::Totp => policy.totp_allowed(&groups),
                MfaKind::Email => policy.email_allowed(&groups),
                MfaKind::SecurityKey | MfaKind::Passkey => policy.webauthn_allowed(&groups),
            };
            if allowed && !kinds.contains(&m.kind) {
                kinds.push(m.kind);
            }
        }
        let mut req = policy.sign_in_requirement(&groups, kinds.len(), None, now);
        if matches!(req, Requirement::Register { .. }) {
            let first = state.store.registration_prompted(*user_id, now).await?;
            req = policy.sign_in_requirement(&groups, kinds.len(), Some(first), now);
        }
        // An administrator required this user to register again: no postponing.
        if kinds.is_empty() && state.store.reregistration_required(*user_id).await? {
            req = if policy.totp_allowed(&groups) {
                Requirement::Register { can_skip: false }
            } else {
                Requirement::Blocked
            };
        }
        match req {
            Requirement::None => {}
            Requirement::SecondFactor => steps.push(Step::SecondFactor { methods: kinds }),
            Requirement::Register { can_skip } => {
                steps.push(Step::RegisterSecondFactor { can_skip })
            }
            Requirement::Blocked => blocked = true,
        }
        if state
            .breach
            .get()
            .is_some_and(|f| f.contains_password(password))
        {
            leaked = true;
            record_leaked_credentials(state, *user_id, ctx, now).await?;
            steps.push(Step::ChangePassword {
                reason: PasswordChangeReason::LeakedCredentials,
            });
        } else if checked.must_change {
            steps.push(Step::ChangePassword {
                reason: PasswordChangeReason::AdminRequired,
            });
        }
    }
    let record_user = checked.record_user;
    let flow = flow.first_factor(checked.outcome, now, |_| steps);
    let flow = if blocked {
        flow.refuse(DenyReason::SecondFactorUnavailable)
    } else {
        flow
    };
    let (flow, ca) = crate::signin::conditions::apply(
        state,
        ctx,
        flow,
        crate::signin::conditions::Stage::FirstFactor,
        now,
    )
    .await?;

    let mut details = serde_json::json!({ "flow": "password" });
    if leaked {
        details["risk"] = serde_json::json!(["leaked_credentials"]);
    }
    crate::signin::complete::first_factor(
        state,
        ctx,
        crate::signin::complete::FirstFactor {
            method: AuthMethod::Password,
            username: typed,
            keys: Some(keys),
            flow,
            conditional_access: ca,
            record_user,
            details,
            failure_code: None,
            next: next.to_string(),
        },
        now,
    )
    .await
}

/// Sign-in with a Temporary Access Pass instead of a password. The same rate limits and the
/// same refusal for every failure (unknown user, wrong or expired pass, disabled account,
/// method not allowed) as the password sign-in.
pub async fn tap_login(
    state: &AppState,
    ctx: &RequestCtx,
    username: &str,
    pass: &str,
    next: &str,
    target: Option<FlowTarget>,
) -> Result<LoginOutcome, AppError> {
    let now = state.now();
    let typed: String = username.trim().chars().take(MAX_TYPED_USERNAME).collect();
    let limited_ip = ctx
        .ip
        .is_some_and(|ip| state.ip_limiter.check_key(&ip).is_err());
    let keys = crate::signin::limits::keys_for(state, &typed, ctx.device.as_deref()).await?;
    let locked = crate::signin::limits::password_locked(state, &keys, now).await?;
    if limited_ip || locked {
        crate::signin::refusals::refuse(state, ctx, &typed, "temporary_access_pass");
        return Ok(LoginOutcome::Denied(DenyReason::RateLimited));
    }
    let mut user_id = None;
    let outcome = {
        let digest = tap::normalize_pass(pass).map(|p| secret_digest(&p));
        let record = state.store.login_record(&typed).await?;
        // An unknown account goes through the same steps (groups, policy, one conditional
        // update of the passes table) against an id no account has, so the answer takes as
        // long as for a known one and reveals nothing.
        let id = record.as_ref().map_or(Uuid::nil(), |r| r.user.id);
        let groups: Vec<Uuid> = state
            .store
            .groups_of(id)
            .await?
            .into_iter()
            .map(|g| g.id)
            .collect();
        let allowed = state.ops().methods_policy().await?.tap_allowed(&groups);
        // (A pass of an account the policy does not allow it for is never spent: the same
        // update runs against no account.)
        let spend_for = if allowed { id } else { Uuid::nil() };
        let used = match &digest {
            Some(d) => state.store.use_tap(spend_for, d, now).await?,
            None => false,
        };
        match record {
            None => {
                state.limits_probe.dummy();
                FirstFactorOutcome::UnknownUser
            }
            Some(r) => {
                state.limits_probe.checked();
                user_id = Some(id);
                if !used {
                    FirstFactorOutcome::WrongPassword { user_id: id }
                } else if !r.user.is_enabled() {
                    FirstFactorOutcome::Disabled { user_id: id }
                } else {
                    FirstFactorOutcome::Verified { user_id: id }
                }
            }
        }
    };
    let flow = LoginFlow::new(now).with_target(target).first_factor_with(
        AuthMethod::TemporaryAccessPass,
        outcome,
        now,
        |_| Vec::new(),
    );
    let (flow, ca) = crate::signin::conditions::apply(
        state,
        ctx,
        flow,
        crate::signin::conditions::Stage::BlockOnly,
        now,
    )
    .await?;
    // A wrong pass is logged as such, not as a wrong password.
    let failure_code = match crate::signin::complete::result_of(&flow).1 {
        Some(DenyReason::WrongPassword) => Some("wrong_temporary_access_pass".to_string()),
        _ => None,
    };
    crate::signin::complete::first_factor(
        state,
        ctx,
        crate::signin::complete::FirstFactor {
            method: AuthMethod::TemporaryAccessPass,
            username: typed,
            keys: Some(keys),
            flow,
            conditional_access: ca,
            record_user: user_id,
            details: serde_json::json!({ "flow": "temporary_access_pass", "next": next }),
            failure_code,
            next: next.to_string(),
        },
        now,
    )
    .await
}

/// Creates the session for a finished flow.
pub(crate) async fn issue_session(
    state: &AppState,
    ctx: &RequestCtx,
    user_id: Uuid,
    flow: LoginFlow,
    now: OffsetDateTime,
) -> Result<(String, Session, User), AppError> {
    let Some(user) = state.store.get_user(user_id).await? else {
        return Err(AppError::internal());
    };
    let secret = random_token();
    let cap = flow.max_session_minutes;
    let mut session = Session::new(
        Uuid::now_v7(),
        user_id,
        now,
        &state.session_policy,
        flow.methods,
    );
    if let Some(m) = cap {
        // A cap past the representable range caps nothing.
        if let Some(until) = crate::platform::durations::minutes(i64::from(m))
            .and_then(|d| crate::platform::durations::after(now, d))
        {
            session.absolute_expires_at = session.absolute_expires_at.min(until);
            session.idle_expires_at = session.idle_expires_at.min(until);
        }
    }
    session.ip = ctx.ip.map(|i| i.to_string());
    session.user_agent = ctx.user_agent.clone();
    state
        .store
        .create_session(&session, &secret_digest(&secret))
        .await?;
    crate::signin::limits::device::remember(state, ctx.device.as_deref(), user_id, now).await;
    Ok((secret, session, user))
}

/// Records a `leaked_credentials` risk detection, unless one is already active for the user.
async fn record_leaked_credentials(
    state: &AppState,
    user_id: Uuid,
    ctx: &RequestCtx,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    let active = state
        .store
        .list_risk_detections(Some(user_id), Some(DetectionState::AtRisk), 100)
        .await?;
    if active
        .iter()
        .any(|d| d.kind == DetectionKind::LeakedCredentials)
    {
        return Ok(());
    }
    let d = RiskDetection::new(
        Uuid::now_v7(),
        user_id,
        DetectionKind::LeakedCredentials,
        "sign_in",
        Some(ctx.correlation_id.clone()),
        now,
    );
    state.store.record_risk_detection(&d).await?;
    metrics::counter!("trustplane_risk_detections_total", "kind" => d.kind.as_str()).increment(1);
    tracing::warn!(user_id = %user_id, correlation_id = %ctx.correlation_id,
        "leaked credentials: the user signed in with a password found in the breach filter");
    Ok(())
}

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
    let refusal = if new_password != confirm {
        Some("The two passwords do not match.".to_string())
    } else {
        let verdict = state
            .ops()
            .evaluate_password(
                &record.user.username,
                &record.user.display_name,
                record.user.email.as_deref(),
                new_password,
            )
            .await?;
        if !verdict.accepted {
            Some(verdict.messages().join(" "))
        } else if same_as_current(state, &record, new_password).await? {
            Some("Choose a password different from your current one.".to_string())
        } else {
            None
        }
    };
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
    // Conditional access again after every step, with every method performed so far: with
    // steps left it may add some (or block); with none left, anything still required refuses.
    let mut ca = None;
    let stage = if matches!(pending.flow.state, LoginState::Success { .. }) {
        crate::signin::conditions::Stage::Final
    } else {
        crate::signin::conditions::Stage::FirstFactor
    };
    if matches!(
        pending.flow.state,
        LoginState::Success { .. } | LoginState::InProgress { .. }
    ) {
        let (flow, entry) =
            crate::signin::conditions::apply(state, ctx, pending.flow.clone(), stage, now).await?;
        ca = entry;
        if let LoginState::Denied { reason } = flow.state {
            state
                .store
                .delete_login_flow(&secret_digest(flow_secret))
                .await?;
            state
                .store
                .record_sign_in(&SignInEvent {
                    id: Uuid::now_v7(),
                    at: now,
                    user_id: pending.flow.user_id(),
                    username: pending.username.clone(),
                    result: SignInResult::Failure,
                    failure_reason: Some(reason.code().to_string()),
                    ip: ctx.ip.map(|i| i.to_string()),
                    user_agent: ctx.user_agent.clone(),
                    correlation_id: ctx.correlation_id.clone(),
                    methods: pending.flow.amr().iter().map(|s| s.to_string()).collect(),
                    details: serde_json::json!({ "flow": "password", "completed": completed,
                        "app": crate::signin::conditions::app_of(&pending.flow), "conditional_access": ca,
                        "step_up": pending.step_up_session.is_some() }),
                })
                .await?;
            return Ok(StepResult::Denied {
                reason,
                correlation_id: ctx.correlation_id.clone(),
            });
        }
        if stage == crate::signin::conditions::Stage::FirstFactor {
            pending.flow = flow;
        }
    }
    match &pending.flow.state {
        LoginState::Success { user_id } => {
            let user_id = *user_id;
            // (The password-change path has already deleted it, atomically; a TOTP code is
            // accepted once by the store, so the second-factor path cannot finish twice.)
            state
                .store
                .delete_login_flow(&secret_digest(flow_secret))
                .await?;
            let methods: Vec<String> = pending.flow.amr().iter().map(|s| s.to_string()).collect();
            let (secret, persist_until) = match pending.step_up_session {
                Some(sid) => {
                    // The session keeps its id, cookie and lifetime; it now carries the
                    // methods performed in the step-up too.
                    let audit = AuditDraft::new(
                        &Actor::user(user_id, &pending.username, ctx.ip.map(|i| i.to_string())),
                        "session.step_up",
                        "session",
                        Some(sid.to_string()),
                    )
                    .after(&serde_json::json!({
                        "amr": methods, "app": crate::signin::conditions::app_of(&pending.flow),
                    }));
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
            state
                .store
                .record_sign_in(&SignInEvent {
                    id: Uuid::now_v7(),
                    at: now,
                    user_id: Some(user_id),
                    username: pending.username.clone(),
                    result: SignInResult::Success,
                    failure_reason: None,
                    ip: ctx.ip.map(|i| i.to_string()),
                    user_agent: ctx.user_agent.clone(),
                    correlation_id: ctx.correlation_id.clone(),
                    methods,
                    details: serde_json::json!({ "flow": "password", "completed": completed,
                        "app": crate::signin::conditions::app_of(&pending.flow), "conditional_access": ca,
                        "step_up": pending.step_up_session.is_some() }),
                })
                .await?;
            Ok(StepResult::Success {
                secret,
                next: pending.next,
                persist_until,
            })
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
    let mut outcome = TotpCheck::Invalid;
    let mut used = None;
    let mut method = AuthMethod::Totp;
    // A recovery code instead of a TOTP code (they cannot be confused: 10 letters and digits
    // 2-7 against 6 digits).
    let policy = state.ops().methods_policy().await?;
    let groups: Vec<Uuid> = state
        .store
        .groups_of(user_id)
        .await?
        .into_iter()
        .map(|g| g.id)
        .collect();
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
    if used.is_none() {
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
async fn same_as_current(
    state: &AppState,
    record: &trustplane_store::LoginRecord,
    candidate: &str,
) -> Result<bool, AppError> {
    let Some(stored) = record.password_hash.clone() else {
        return Ok(false);
    };
    Ok(state.verify_password(candidate, stored).await?.is_match())
}

struct Checked {
    outcome: FirstFactorOutcome,
    record_user: Option<Uuid>,
    must_change: bool,
}

/// Verifies the password against the stored hash, or against a dummy hash when there is no
/// usable one, so every path costs one Argon2 verification.
async fn check_password(
    state: &AppState,
    typed: &str,
    password: &str,
) -> Result<Checked, AppError> {
    let record = state.store.login_record(typed).await?;
    let stored = record
        .as_ref()
        .and_then(|r| r.password_hash.clone())
        .unwrap_or_else(|| state.dummy_hash.clone());
    let verdict = state.verify_password(password, stored).await?;
    let Some(record) = record else {
        return Ok(Checked {
            outcome: FirstFactorOutcome::UnknownUser,
            record_user: None,
            must_change: false,
        });
    };
    let user_id = record.user.id;
    let fail = |outcome| Checked {
        outcome,
        record_user: Some(user_id),
        must_change: false,
    };
    if record.password_hash.is_none() || !verdict.is_match() {
        return Ok(fail(FirstFactorOutcome::WrongPassword { user_id }));
    }
    if !record.user.is_enabled() {
        return Ok(fail(FirstFactorOutcome::Disabled { user_id }));
    }
    if verdict == VerifyOutcome::MatchNeedsRehash {
        // Upgrade the hash to current parameters; a failure here must not fail the sign-in.
        let rehash = state.hash_password(password).await?;
        match rehash {
            Ok(h) => {
                if let Err(e) = state
                    .store
                    .set_password_hash(user_id, &h, record.password_must_change, None, None)
                    .await
                {
                    tracing::warn!(error = %e, "could not upgrade a password hash");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not re-hash a password"),
        }
    }
    Ok(Checked {
        outcome: FirstFactorOutcome::Verified { user_id },
        record_user: Some(user_id),
        must_change: record.password_must_change,
    })
}

/// Emails a sign-in code to the user's registered address (the second-factor step).
pub async fn send_sign_in_code(
    state: &AppState,
    flow_secret: &str,
) -> Result<StepResult, AppError> {
    let Some(mut pending) = PendingLogin::load(state, flow_secret).await? else {
        return Ok(StepResult::Restart);
    };
    let (Some(Step::SecondFactor { methods }), Some(user_id)) =
        (pending.flow.current_step().cloned(), pending.flow.user_id())
    else {
        return Ok(StepResult::Restart);
    };
    let retry = |pending: PendingLogin, message: &str| StepResult::Retry {
        pending: Box::new(pending),
        message: message.to_string(),
    };
    let address = if methods.contains(&MfaKind::Email) {
        email_address_of(state, user_id).await?
    } else {
        None
    };
    let Some(address) = address else {
        return Ok(retry(
            pending,
            "No email address is registered for sign-in codes. Use another method.",
        ));
    };
    match crate::signin::email_codes::send(
        state,
        user_id,
        CodePurpose::SignIn,
        &secret_digest(flow_secret),
        &address,
    )
    .await?
    {
        Ok(()) => {
            pending.email_sent_to = Some(mask_address(&address));
            pending.save(state, flow_secret).await?;
            Ok(retry(pending, ""))
        }
        Err(crate::signin::email_codes::SendRefusal::TooMany) => Ok(retry(
            pending,
            "Several codes were sent in the last few minutes. Use the latest one, wait a little, or use another method.",
        )),
        Err(crate::signin::email_codes::SendRefusal::Undeliverable) => Ok(retry(
            pending,
            "The code could not be sent just now. Try again in a moment or use another method.",
        )),
    }
}

/// The user's oldest registered email address for codes, opened from its sealed form.
pub async fn email_address_of(state: &AppState, user_id: Uuid) -> Result<Option<String>, AppError> {
    for m in state.store.list_mfa_methods(user_id).await? {
        if m.kind != MfaKind::Email {
            continue;
        }
        let Some((_, sealed)) = state.store.mfa_secret(m.id).await? else {
            continue;
        };
        let raw = crate::platform::secrets::open(&state.mfa_key, m.id.as_bytes(), &sealed).map_err(|_| {
            tracing::error!(method = %m.id, "a stored email address cannot be opened (wrong master key?)");
            AppError::internal()
        })?;
        return Ok(String::from_utf8(raw).ok());
    }
    Ok(None)
}

/// Checks a TOTP code against the user's authenticator apps; a valid code's step is recorded
/// atomically (so a code raced from two requests is accepted once). Returns the outcome and
/// the method that accepted it.
pub async fn check_totp(
    state: &AppState,
    user_id: Uuid,
    code: &str,
    now: OffsetDateTime,
) -> Result<(TotpCheck, Option<Uuid>), AppError> {
    let unix = now.unix_timestamp().max(0) as u64;
    let mut outcome = TotpCheck::Invalid;
    for m in state.store.list_mfa_methods(user_id).await? {
        if m.kind != MfaKind::Totp {
            continue;
        }
        let Some((_, sealed)) = state.store.mfa_secret(m.id).await? else {
            continue;
        };
        let secret = crate::platform::secrets::open(&state.mfa_key, m.id.as_bytes(), &sealed).map_err(|_| {
            tracing::error!(method = %m.id, "a stored TOTP secret cannot be opened (wrong master key?)");
            AppError::internal()
        })?;
        match verify_totp(&secret, code, unix, m.last_step).map_err(|_| AppError::internal())? {
            TotpCheck::Valid { step } => {
                if state.store.use_totp_step(m.id, step, now).await? {
                    return Ok((TotpCheck::Valid { step }, Some(m.id)));
                }
                outcome = TotpCheck::Replayed;
            }
            TotpCheck::Replayed => outcome = TotpCheck::Replayed,
            TotpCheck::Invalid => {}
        }
    }
    Ok((outcome, None))
}
