//! The edge of the login state machine: performs the I/O the core machine asks for (user
//! lookup, password verification, rate limits), issues the session, writes the sign-in log.

use crate::edge::auth::RequestCtx;
use crate::edge::error::AppError;
use crate::platform::secrets::random_token;
use crate::signin::conditions::{self, Stage};
use crate::state::AppState;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use trustplane_core::authn::{AuthMethod, FlowTarget};
use trustplane_core::authn::{
    DenyReason, FLOW_LIFETIME, FirstFactorOutcome, LoginFlow, PasswordChangeReason, Step,
};
use trustplane_core::credential::{VerifyOutcome, secret_digest};
use trustplane_core::identity::User;
use trustplane_core::mfa::MfaKind;
use trustplane_core::mfa::policy::Requirement;
use trustplane_core::mfa::tap;
use trustplane_core::risk::{DetectionKind, DetectionState, RiskDetection};
use trustplane_core::session::Session;
use uuid::Uuid;

/// Longest login name / password we even look at; longer input is refused before hashing.
pub(super) const MAX_TYPED_USERNAME: usize = 256;

pub(super) const MAX_TYPED_PASSWORD: usize = 1024;

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
        let (req, kinds) = second_factor_requirement(state, *user_id, now).await?;
        match req {
            Requirement::None => {}
            Requirement::SecondFactor => steps.push(Step::SecondFactor { methods: kinds }),
            Requirement::Register { can_skip } => {
                steps.push(Step::RegisterSecondFactor { can_skip })
            }
            Requirement::Blocked => blocked = true,
        }
        if let Some(step) =
            password_change_step(state, ctx, *user_id, password, checked.must_change, now).await?
        {
            leaked = matches!(
                step,
                Step::ChangePassword {
                    reason: PasswordChangeReason::LeakedCredentials
                }
            );
            steps.push(step);
        }
    }
    let record_user = checked.record_user;
    let flow = flow.first_factor(checked.outcome, now, |_| steps);
    let flow = if blocked {
        flow.refuse(DenyReason::SecondFactorUnavailable)
    } else {
        flow
    };
    let (flow, ca) = conditions::apply(state, ctx, flow, Stage::FirstFactor, now).await?;

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

/// A password change the first factor calls for: the valid password is in the breach corpus
/// (leaked credentials: whoever holds the corpus can sign in as this user; the detection is
/// recorded), or an administrator requires one.
async fn password_change_step(
    state: &AppState,
    ctx: &RequestCtx,
    user_id: Uuid,
    password: &str,
    must_change: bool,
    now: OffsetDateTime,
) -> Result<Option<Step>, AppError> {
    if state
        .breach
        .get()
        .is_some_and(|f| f.contains_password(password))
    {
        record_leaked_credentials(state, user_id, ctx, now).await?;
        return Ok(Some(Step::ChangePassword {
            reason: PasswordChangeReason::LeakedCredentials,
        }));
    }
    Ok(must_change.then_some(Step::ChangePassword {
        reason: PasswordChangeReason::AdminRequired,
    }))
}

/// What the authentication methods policy asks of this user after a verified password: a
/// second factor (with the kinds the user has and may use), registration now (postponable
/// or not), nothing, or a refusal.
async fn second_factor_requirement(
    state: &AppState,
    user_id: Uuid,
    now: OffsetDateTime,
) -> Result<(Requirement, Vec<MfaKind>), AppError> {
    let policy = state.ops().methods_policy().await?;
    let groups: Vec<Uuid> = state.store.group_ids_of(user_id).await?;
    let mut kinds: Vec<MfaKind> = Vec::new();
    for m in state.store.list_mfa_methods(user_id).await? {
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
        let first = state.store.registration_prompted(user_id, now).await?;
        req = policy.sign_in_requirement(&groups, kinds.len(), Some(first), now);
    }
    // An administrator required this user to register again: no postponing.
    if kinds.is_empty() && state.store.reregistration_required(user_id).await? {
        req = if policy.totp_allowed(&groups) {
            Requirement::Register { can_skip: false }
        } else {
            Requirement::Blocked
        };
    }
    Ok((req, kinds))
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
        let groups: Vec<Uuid> = state.store.group_ids_of(id).await?;
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
    crate::signin::limits::device_cookie::remember(state, ctx.device.as_deref(), user_id, now)
        .await;
    Ok((secret, session, user))
}

/// Records a `leaked_credentials` risk detection, unless one is already active for the user.
pub(super) async fn record_leaked_credentials(
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

pub(super) struct Checked {
    pub(super) outcome: FirstFactorOutcome,
    pub(super) record_user: Option<Uuid>,
    pub(super) must_change: bool,
}

/// Verifies the password against the stored hash, or against a dummy hash when there is no
/// usable one, so every path costs one Argon2 verification.
pub(super) async fn check_password(
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
