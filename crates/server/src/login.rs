//! The edge of the login state machine: performs the I/O the core machine asks for (user
//! lookup, password verification, rate limits), issues the session, writes the sign-in log.

use crate::auth::RequestCtx;
use crate::error::AppError;
use crate::secrets::{random_salt, random_token};
use crate::state::AppState;
use std::time::Instant;
use time::OffsetDateTime;
use trustplane_core::authn::{DenyReason, FirstFactorOutcome, LoginFlow, LoginState};
use trustplane_core::credential::{VerifyOutcome, hash_password, secret_digest, verify_password};
use trustplane_core::identity::{User, fold_name};
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
    },
    Denied(DenyReason),
}

pub async fn password_login(
    state: &AppState,
    ctx: &RequestCtx,
    username: &str,
    password: &str,
) -> Result<LoginOutcome, AppError> {
    let now = OffsetDateTime::now_utc();
    let typed: String = username.trim().chars().take(MAX_TYPED_USERNAME).collect();
    let key = fold_name(&typed);
    let flow = LoginFlow::new(now);

    let limited_ip = ctx
        .ip
        .is_some_and(|ip| state.ip_limiter.check_key(&ip).is_err());
    let locked = state.account_failures.is_locked(&key, Instant::now());

    let (outcome, record_user) = if limited_ip || locked || password.len() > MAX_TYPED_PASSWORD {
        (FirstFactorOutcome::RateLimited { user_id: None }, None)
    } else {
        check_password(state, &typed, password).await?
    };
    let flow = flow.first_factor(outcome, now, |_| Vec::new());

    let (result, reason) = match &flow.state {
        LoginState::Success { .. } => (SignInResult::Success, None),
        LoginState::InProgress { .. } => (SignInResult::Interrupted, None),
        LoginState::Denied { reason } => (SignInResult::Failure, Some(*reason)),
        LoginState::AwaitingFirstFactor => (SignInResult::Failure, None),
    };
    match reason {
        Some(DenyReason::RateLimited) | None => {}
        Some(_) => state.account_failures.record_failure(&key, Instant::now()),
    }
    metrics::counter!("trustplane_sign_ins_total",
        "result" => result.as_str(),
        "reason" => reason.map_or("none", DenyReason::code))
    .increment(1);

    let event = SignInEvent {
        id: Uuid::now_v7(),
        at: now,
        user_id: flow.user_id().or(record_user),
        username: typed.clone(),
        result,
        failure_reason: reason.map(|r| r.code().to_string()),
        ip: ctx.ip.map(|i| i.to_string()),
        user_agent: ctx.user_agent.clone(),
        correlation_id: ctx.correlation_id.clone(),
        methods: flow.amr().iter().map(|s| s.to_string()).collect(),
        details: serde_json::json!({ "flow": "password" }),
    };

    let outcome = match flow.state {
        LoginState::Success { user_id } => {
            state.account_failures.clear(&key);
            let Some(user) = state.store.get_user(user_id).await? else {
                return Err(AppError::internal());
            };
            let secret = random_token();
            let mut session = Session::new(
                Uuid::now_v7(),
                user_id,
                now,
                &state.session_policy,
                flow.methods,
            );
            session.ip = ctx.ip.map(|i| i.to_string());
            session.user_agent = ctx.user_agent.clone();
            state
                .store
                .create_session(&session, &secret_digest(&secret))
                .await?;
            LoginOutcome::Success {
                secret,
                session: Box::new(session),
                user: Box::new(user),
            }
        }
        LoginState::Denied { reason } => LoginOutcome::Denied(reason),
        // No steps exist yet after the first factor; treat anything else as a failure.
        _ => LoginOutcome::Denied(DenyReason::WrongPassword),
    };
    state.store.record_sign_in(&event).await?;
    tracing::info!(
        user = %typed,
        result = result.as_str(),
        reason = reason.map_or("", DenyReason::code),
        correlation_id = %ctx.correlation_id,
        "sign-in"
    );
    Ok(outcome)
}

/// Verifies the password against the stored hash, or against a dummy hash when there is no
/// usable one, so every path costs one Argon2 verification.
async fn check_password(
    state: &AppState,
    typed: &str,
    password: &str,
) -> Result<(FirstFactorOutcome, Option<Uuid>), AppError> {
    let record = state.store.login_record(typed).await?;
    let stored = record
        .as_ref()
        .and_then(|r| r.password_hash.clone())
        .unwrap_or_else(|| state.dummy_hash.clone());
    let pw = password.to_string();
    let params = state.hash_params;
    let verdict = state
        .blocking_hash(move || verify_password(&pw, &stored, &params))
        .await?;
    let Some(record) = record else {
        return Ok((FirstFactorOutcome::UnknownUser, None));
    };
    let user_id = record.user.id;
    if record.password_hash.is_none() || !verdict.is_match() {
        return Ok((FirstFactorOutcome::WrongPassword { user_id }, Some(user_id)));
    }
    if !record.user.is_enabled() {
        return Ok((FirstFactorOutcome::Disabled { user_id }, Some(user_id)));
    }
    if verdict == VerifyOutcome::MatchNeedsRehash {
        // Upgrade the hash to current parameters; a failure here must not fail the sign-in.
        let pw = password.to_string();
        let rehash = state
            .blocking_hash(move || hash_password(&pw, &params, &random_salt()))
            .await?;
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
    Ok((FirstFactorOutcome::Verified { user_id }, Some(user_id)))
}
