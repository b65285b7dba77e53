//! WebAuthn assertions: a security key or passkey as the second factor, passwordless
//! (username-less) sign-in, and verification for a password reset; counters and their
//! regressions.

use crate::edge::auth::RequestCtx;
use crate::edge::error::AppError;
use crate::signin::flow::{LoginOutcome, PendingLogin};
use crate::signin::steps::StepResult;
use crate::signin::webauthn::Options;
use crate::signin::webauthn::PASSWORDLESS;
use crate::signin::webauthn::RESET;
use crate::signin::webauthn::SECOND_FACTOR;
use crate::signin::webauthn::expired;
use crate::signin::webauthn::parse_passkey;
use crate::signin::webauthn::rp;
use crate::signin::webauthn::save_ceremony;
use crate::signin::webauthn::take_ceremony;
use crate::state::AppState;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_core::authn::{
    AuthMethod, DenyReason, FirstFactorOutcome, LoginFlow, PasswordChangeReason, Step, StepOutcome,
};
use trustplane_core::credential::secret_digest;
use trustplane_core::mfa::webauthn::WebauthnCredential;
use uuid::Uuid;
use webauthn_rs::prelude::*;

// --- authentication -------------------------------------------------------------------------

/// The outcome of checking one assertion against a stored credential.
pub(super) enum Checked {
    Ok {
        record: WebauthnCredential,
        user_verified: bool,
    },
    /// The signature counter did not move forward: a possible cloned authenticator.
    CounterRegression(WebauthnCredential),
    Failed,
}

/// Records a successful use (new counter, flags, last used), atomically against the counter
/// read; a lost race is treated as a failure.
pub(super) async fn record_use(
    state: &AppState,
    record: &WebauthnCredential,
    mut passkey: Passkey,
    res: &AuthenticationResult,
) -> Result<bool, AppError> {
    passkey.update_credential(res);
    let key = serde_json::to_string(&passkey).map_err(|_| AppError::internal())?;
    Ok(state
        .store
        .record_webauthn_use(
            record.id,
            record.sign_count,
            res.counter().max(record.sign_count),
            res.backup_state(),
            &key,
            state.now(),
        )
        .await?)
}

pub(super) async fn audit_counter_regression(
    state: &AppState,
    record: &WebauthnCredential,
    ip: Option<std::net::IpAddr>,
) -> Result<(), AppError> {
    tracing::warn!(user_id = %record.user_id, method = %record.id,
        "WebAuthn signature counter went backwards: possible cloned authenticator; refused");
    metrics::counter!("trustplane_mfa_failures_total", "method" => "webauthn_counter").increment(1);
    let mut actor = Actor::system();
    actor.ip = ip.map(|i| i.to_string());
    let audit = AuditDraft::new(
        &actor,
        "mfa.webauthn.counter_regression",
        "user",
        Some(record.user_id.to_string()),
    )
    .after(&serde_json::json!({
        "method": record.id, "label": record.label, "stored_counter": record.sign_count,
    }));
    state.store.append_audit(audit).await?;
    Ok(())
}

/// Starts the second-factor step of the sign-in in `flow_secret` with the user's keys.
pub async fn second_factor_options(
    state: &AppState,
    flow_secret: &str,
) -> Result<Options<serde_json::Value>, AppError> {
    let wa = rp(state)?;
    let Some(pending) = PendingLogin::load(state, flow_secret).await? else {
        return Err(expired());
    };
    let (Some(Step::SecondFactor { .. }), Some(user_id)) =
        (pending.flow.current_step(), pending.flow.user_id())
    else {
        return Err(expired());
    };
    let policy = state.ops().methods_policy().await?;
    if !policy.webauthn_allowed(&state.store.group_ids_of(user_id).await?) {
        return Err(AppError::forbidden(
            "Your organisation does not allow security keys or passkeys for your account.",
        ));
    }
    let keys: Vec<Passkey> = state
        .store
        .webauthn_keys(user_id)
        .await?
        .iter()
        .map(|(_, k)| parse_passkey(k))
        .collect::<Result<_, _>>()?;
    if keys.is_empty() {
        return Err(AppError::bad_request(
            "no_security_key",
            "You have no security key or passkey registered.",
        ));
    }
    let (rcr, auth) = wa.start_passkey_authentication(&keys).map_err(|e| {
        tracing::error!(error = %e, "cannot start a WebAuthn authentication");
        AppError::internal()
    })?;
    let ceremony = save_ceremony(
        state,
        SECOND_FACTOR,
        &secret_digest(flow_secret),
        Some(user_id),
        &auth,
    )
    .await?;
    Ok(Options {
        ceremony,
        public_key: serde_json::to_value(&rcr.public_key).map_err(|_| AppError::internal())?,
    })
}

/// Completes the second-factor step with a security key or passkey.
pub async fn complete_second_factor(
    state: &AppState,
    ctx: &RequestCtx,
    flow_secret: &str,
    ceremony: &str,
    answer: &serde_json::Value,
) -> Result<StepResult, AppError> {
    let wa = rp(state)?;
    let now = state.now();
    let Some(mut pending) = PendingLogin::load(state, flow_secret).await? else {
        return Ok(StepResult::Restart);
    };
    let (Some(Step::SecondFactor { .. }), Some(user_id)) =
        (pending.flow.current_step().cloned(), pending.flow.user_id())
    else {
        return Ok(StepResult::Restart);
    };
    let ticket = match crate::signin::limits::step_gate(state, flow_secret, &pending, now).await? {
        Ok(t) => t,
        Err(r) => return crate::signin::limits::refused_step(state, flow_secret, pending, r).await,
    };
    let checked =
        check_second_factor_answer(state, wa, flow_secret, user_id, ceremony, answer).await?;
    let (record, user_verified) = match checked {
        Checked::Ok {
            record,
            user_verified,
        } => (record, user_verified),
        other => {
            let reason = if let Checked::CounterRegression(record) = &other {
                audit_counter_regression(state, record, ctx.ip).await?;
                "webauthn_counter_regression"
            } else {
                "webauthn_failed"
            };
            let message = if reason == "webauthn_counter_regression" {
                "This security key was refused: it may have been copied. Contact your administrator."
            } else {
                "Your security key or passkey was not accepted. Try again, or enter a code."
            };
            return crate::signin::complete::step_failed(
                state,
                ctx,
                flow_secret,
                pending,
                ticket,
                "webauthn",
                reason,
                message.into(),
                now,
            )
            .await;
        }
    };
    crate::signin::limits::passed(state, ticket).await?;
    pending.flow = pending.flow.complete_step(
        StepOutcome::SecondFactor(record.auth_method(user_verified)),
        now,
    );
    crate::signin::complete::finish_step(
        state,
        ctx,
        flow_secret,
        pending,
        serde_json::json!({ "step": "second_factor", "method": record.kind().as_str(),
            "credential": record.id }),
        now,
    )
    .await
}

/// Checks a security key or passkey answer at the second-factor step: the ceremony of this
/// flow, a credential of this user, the signature and its counter.
async fn check_second_factor_answer(
    state: &AppState,
    wa: &Webauthn,
    flow_secret: &str,
    user_id: Uuid,
    ceremony: &str,
    answer: &serde_json::Value,
) -> Result<Checked, AppError> {
    let taken = take_ceremony::<PasskeyAuthentication>(
        state,
        ceremony,
        SECOND_FACTOR,
        &secret_digest(flow_secret),
    )
    .await?;
    Ok(
        match (
            taken,
            serde_json::from_value::<PublicKeyCredential>(answer.clone()),
        ) {
            (Some((Some(u), auth)), Ok(cred)) if u == user_id => {
                let id = URL_SAFE_NO_PAD.encode(cred.get_credential_id());
                match state.store.webauthn_by_credential_id(&id).await? {
                    Some((record, key)) if record.user_id == user_id => {
                        let passkey = parse_passkey(&key)?;
                        match wa.finish_passkey_authentication(&cred, &auth) {
                            Ok(res) if record_use(state, &record, passkey, &res).await? => {
                                Checked::Ok {
                                    user_verified: res.user_verified(),
                                    record,
                                }
                            }
                            Err(WebauthnError::CredentialPossibleCompromise) => {
                                Checked::CounterRegression(record)
                            }
                            _ => Checked::Failed,
                        }
                    }
                    _ => Checked::Failed,
                }
            }
            _ => Checked::Failed,
        },
    )
}

/// Starts a passwordless sign-in: a challenge for any discoverable credential of this site,
/// user verification required.
pub async fn passwordless_options(
    state: &AppState,
) -> Result<Options<serde_json::Value>, AppError> {
    let wa = rp(state)?;
    let (rcr, auth) = wa.start_discoverable_authentication().map_err(|e| {
        tracing::error!(error = %e, "cannot start a WebAuthn authentication");
        AppError::internal()
    })?;
    let ceremony = save_ceremony(state, PASSWORDLESS, "", None, &auth).await?;
    Ok(Options {
        ceremony,
        public_key: serde_json::to_value(&rcr.public_key).map_err(|_| AppError::internal())?,
    })
}

/// Signs in with a passkey alone (it is MFA by itself: possession plus user verification).
/// Goes through the same login flow as a password sign-in, so a required password change
/// still applies. Unknown credentials, disabled users and failed checks look the same.
pub async fn passwordless_login(
    state: &AppState,
    ctx: &RequestCtx,
    ceremony: &str,
    answer: &serde_json::Value,
    next: &str,
    target: Option<trustplane_core::authn::FlowTarget>,
) -> Result<LoginOutcome, AppError> {
    let wa = rp(state)?;
    let now = state.now();
    let limited = ctx
        .ip
        .is_some_and(|ip| state.ip_limiter.check_key(&ip).is_err());
    let PasskeyAnswer {
        outcome,
        username,
        user_for_log,
        method,
        must_change,
        regression,
    } = if limited {
        PasskeyAnswer::refused(FirstFactorOutcome::RateLimited { user_id: None })
    } else {
        check_passkey_answer(state, wa, ceremony, answer).await?
    };
    if let Some(record) = &regression {
        audit_counter_regression(state, record, ctx.ip).await?;
    }
    let steps = if must_change {
        vec![Step::ChangePassword {
            reason: PasswordChangeReason::AdminRequired,
        }]
    } else {
        Vec::new()
    };
    let flow =
        LoginFlow::new(now)
            .with_target(target)
            .first_factor_with(method, outcome, now, |_| steps);
    let (flow, ca) = crate::signin::conditions::apply(
        state,
        ctx,
        flow,
        crate::signin::conditions::Stage::FirstFactor,
        now,
    )
    .await?;
    // (A refused passkey answer is not counted against the password lock: it guesses no
    // secret; see `DenyReason::counts_against_lock`.)
    let failure_code = match crate::signin::complete::result_of(&flow).1 {
        Some(_) if regression.is_some() => Some("webauthn_counter_regression".to_string()),
        Some(DenyReason::WrongPassword | DenyReason::UnknownUser) => {
            Some("webauthn_failed".to_string())
        }
        _ => None,
    };
    crate::signin::complete::first_factor(
        state,
        ctx,
        crate::signin::complete::FirstFactor {
            method,
            username,
            keys: None,
            flow,
            conditional_access: ca,
            record_user: user_for_log,
            details: serde_json::json!({ "flow": "passkey", "next": next }),
            failure_code,
            next: next.to_string(),
        },
        now,
    )
    .await
}

/// What a passkey answer to a passwordless sign-in proved.
struct PasskeyAnswer {
    outcome: FirstFactorOutcome,
    username: String,
    user_for_log: Option<Uuid>,
    method: AuthMethod,
    must_change: bool,
    /// The credential whose signature counter went backwards (a possible clone).
    regression: Option<WebauthnCredential>,
}

impl PasskeyAnswer {
    fn refused(outcome: FirstFactorOutcome) -> Self {
        PasskeyAnswer {
            outcome,
            username: String::new(),
            user_for_log: None,
            method: AuthMethod::Webauthn {
                synced: false,
                user_verified: true,
            },
            must_change: false,
            regression: None,
        }
    }
}

/// Checks a passwordless answer: the ceremony this browser started, the discoverable
/// credential it names, the methods policy, the signature and user verification.
async fn check_passkey_answer(
    state: &AppState,
    wa: &Webauthn,
    ceremony: &str,
    answer: &serde_json::Value,
) -> Result<PasskeyAnswer, AppError> {
    let mut a = PasskeyAnswer::refused(FirstFactorOutcome::UnknownUser);
    let taken =
        take_ceremony::<DiscoverableAuthentication>(state, ceremony, PASSWORDLESS, "").await?;
    let cred = serde_json::from_value::<PublicKeyCredential>(answer.clone()).ok();
    let found = match (&cred, taken.is_some()) {
        (Some(c), true) => match wa.identify_discoverable_authentication(c) {
            Ok((handle, cred_id)) => state
                .store
                .webauthn_by_credential_id(&URL_SAFE_NO_PAD.encode(cred_id))
                .await?
                .filter(|(r, _)| r.user_id == handle),
            Err(_) => None,
        },
        _ => None,
    };
    a.outcome = match (found, cred, taken) {
        (Some((record, key)), Some(c), Some((_, auth))) => {
            let user = state.store.get_user(record.user_id).await?;
            a.username = user
                .as_ref()
                .map(|u| u.username.clone())
                .unwrap_or_default();
            a.user_for_log = Some(record.user_id);
            // A passkey sign-in is phishing-resistant and cannot be guessed: the password
            // lock (which anyone who knows the login name can trigger) does not refuse it.
            let allowed = state
                .ops()
                .methods_policy()
                .await?
                .webauthn_allowed(&state.store.group_ids_of(record.user_id).await?);
            let passkey = parse_passkey(&key)?;
            let verified = if !allowed {
                false
            } else {
                let key = Credential::from(passkey.clone());
                match wa.finish_discoverable_authentication_v2(&c, auth, &key) {
                    Ok(res) if res.user_verified() => {
                        a.method = record.auth_method(true);
                        record_use(state, &record, passkey, &res).await?
                    }
                    Err(WebauthnError::CredentialPossibleCompromise) => {
                        a.regression = Some(record.clone());
                        false
                    }
                    _ => false,
                }
            };
            match (verified, user) {
                (false, _) | (_, None) => FirstFactorOutcome::WrongPassword {
                    user_id: record.user_id,
                },
                (true, Some(u)) if !u.is_enabled() => {
                    FirstFactorOutcome::Disabled { user_id: u.id }
                }
                (true, Some(u)) => {
                    a.must_change = state
                        .store
                        .login_record(&u.username)
                        .await?
                        .is_some_and(|r| r.password_must_change);
                    FirstFactorOutcome::Verified { user_id: u.id }
                }
            }
        }
        _ => FirstFactorOutcome::UnknownUser,
    };
    Ok(a)
}

/// Starts a passkey check for a self-service password reset bound to `binding` (the reset
/// flow). The challenge is username-less and the same for every account name: listing the
/// account's credentials would tell a stranger that the account exists.
pub async fn reset_options(
    state: &AppState,
    binding: &str,
) -> Result<Options<serde_json::Value>, AppError> {
    let wa = rp(state)?;
    let (rcr, auth) = wa.start_discoverable_authentication().map_err(|e| {
        tracing::error!(error = %e, "cannot start a WebAuthn authentication");
        AppError::internal()
    })?;
    let ceremony = save_ceremony(state, RESET, binding, None, &auth).await?;
    Ok(Options {
        ceremony,
        public_key: serde_json::to_value(&rcr.public_key).map_err(|_| AppError::internal())?,
    })
}

/// Checks a passkey answer for the reset flow `binding` of `user_id` (`None`: the account does
/// not exist or may not reset, and nothing can pass). `Ok(None)` means verified; `Ok(Some(why))`
/// names the refusal for the audit log. User verification is required: the passkey replaces
/// a code the user would otherwise type.
pub async fn verify_for_reset(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    binding: &str,
    ceremony: &str,
    answer: &serde_json::Value,
    user_id: Option<Uuid>,
) -> Result<Option<&'static str>, AppError> {
    let wa = rp(state)?;
    let taken =
        take_ceremony::<DiscoverableAuthentication>(state, ceremony, RESET, binding).await?;
    let Some((_, auth)) = taken else {
        return Ok(Some("passkey_ceremony_expired"));
    };
    let Ok(cred) = serde_json::from_value::<PublicKeyCredential>(answer.clone()) else {
        return Ok(Some("passkey_malformed"));
    };
    let Ok((handle, cred_id)) = wa.identify_discoverable_authentication(&cred) else {
        return Ok(Some("passkey_malformed"));
    };
    let Some(user_id) = user_id else {
        return Ok(Some("passkey_not_of_account"));
    };
    let Some((record, key)) = state
        .store
        .webauthn_by_credential_id(&URL_SAFE_NO_PAD.encode(cred_id))
        .await?
        .filter(|(r, _)| r.user_id == handle && r.user_id == user_id)
    else {
        return Ok(Some("passkey_not_of_account"));
    };
    if !state
        .ops()
        .methods_policy()
        .await?
        .webauthn_allowed(&state.store.group_ids_of(user_id).await?)
    {
        return Ok(Some("passkey_not_allowed"));
    }
    let passkey = parse_passkey(&key)?;
    let credential = Credential::from(passkey.clone());
    match wa.finish_discoverable_authentication_v2(&cred, auth, &credential) {
        Ok(res) if res.user_verified() => {
            if record_use(state, &record, passkey, &res).await? {
                Ok(None)
            } else {
                Ok(Some("passkey_failed"))
            }
        }
        Ok(_) => Ok(Some("passkey_no_user_verification")),
        Err(WebauthnError::CredentialPossibleCompromise) => {
            audit_counter_regression(state, &record, ip).await?;
            Ok(Some("webauthn_counter_regression"))
        }
        Err(_) => Ok(Some("passkey_failed")),
    }
}
