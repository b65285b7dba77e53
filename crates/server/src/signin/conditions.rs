//! Conditional access inside the login flow: after the first factor the flow evaluates the
//! policy set and turns what it requires into login steps (a second factor of the right
//! strength, registration, a password change); when the last step is done it evaluates again,
//! and only an `Allow` issues a session. What cannot be satisfied in a browser sign-in (a
//! compliant or registered device until devices exist, an authentication strength the user
//! has no method for) refuses the sign-in with a reason the user sees without the policy.

use crate::edge::auth::RequestCtx;
use crate::edge::error::AppError;
use crate::enforce::policy::{self, Signals};
use crate::state::AppState;
use time::OffsetDateTime;
use trustplane_core::access::{
    ClientAppType, Outcome, PersistentBrowser, PolicySet, Requirement, SignInFrequency,
};
use trustplane_core::authn::{
    AuthMethod, DenyReason, LoginFlow, LoginState, MethodUse, PasswordChangeReason, Step,
};
use trustplane_core::mfa::MfaKind;
use uuid::Uuid;

/// The application a flow signs in to (the portal unless a target says otherwise).
pub fn app_of(flow: &LoginFlow) -> &str {
    flow.target
        .as_ref()
        .map_or(policy::PORTAL_APP, |t| t.app.as_str())
}

/// The conditional access target of a flow.
fn target_of(flow: &LoginFlow) -> trustplane_core::access::TargetRequest {
    match &flow.target {
        None => policy::portal(),
        Some(t) => trustplane_core::access::TargetRequest::Application {
            id: t.app.clone(),
            sensitivity_label: t.sensitivity_label.clone(),
            authentication_contexts: t.authentication_contexts.clone(),
        },
    }
}

/// Adds the strength the application demands (OIDC `acr_values`) to what policies require,
/// unless the methods performed already meet it. A block stays a block.
fn with_demanded_strength(outcome: Outcome, flow: &LoginFlow, set: &PolicySet) -> Outcome {
    let Some(strength) = flow.target.as_ref().and_then(|t| t.strength.as_deref()) else {
        return outcome;
    };
    if set.strength_met(strength, &flow.methods) == Some(true) {
        return outcome;
    }
    let demanded = Requirement::AuthenticationStrength {
        strength: std::sync::Arc::from(strength),
    };
    match outcome {
        Outcome::Allow => Outcome::Requires(vec![demanded]),
        Outcome::Requires(mut v) => {
            if !v.contains(&demanded) {
                v.push(demanded);
            }
            Outcome::Requires(v)
        }
        block @ Outcome::Block { .. } => block,
    }
}

/// When conditional access is evaluated in a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Right after the first factor, and after each step while steps remain: requirements
    /// become (further) steps.
    FirstFactor,
    /// Every step is done: anything still required refuses the sign-in (the user chose a
    /// method weaker than the policy demands, or the policy changed meanwhile).
    Final,
    /// A Temporary Access Pass sign-in, which exists to register methods: only a block
    /// refuses it (requirements are met by registering, as the pass holder is about to).
    BlockOnly,
}

/// The method a registered second factor of this kind performs.
fn method_of(kind: MfaKind) -> AuthMethod {
    match kind {
        MfaKind::Totp => AuthMethod::Totp,
        MfaKind::Email => AuthMethod::EmailCode,
        MfaKind::SecurityKey => AuthMethod::Webauthn {
            synced: false,
            user_verified: true,
        },
        MfaKind::Passkey => AuthMethod::Webauthn {
            synced: true,
            user_verified: true,
        },
    }
}

/// The user's registered second factors that the methods policy allows them.
async fn usable_kinds(state: &AppState, user_id: Uuid) -> Result<(Vec<MfaKind>, bool), AppError> {
    let policy = state.ops().methods_policy().await?;
    let groups: Vec<Uuid> = state.store.group_ids_of(user_id).await?;
    let mut kinds = Vec::new();
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
    Ok((kinds, policy.totp_allowed(&groups)))
}

/// The login step that satisfies `r`, `Ok(None)` when nothing needs doing now, `Err(())`
/// when this sign-in cannot satisfy it.
fn step_for(
    r: &Requirement,
    set: &PolicySet,
    performed: &[MethodUse],
    kinds: &[MfaKind],
    can_register_totp: bool,
    now: OffsetDateTime,
) -> Result<Option<Step>, ()> {
    let with = |m: AuthMethod| {
        let mut v = performed.to_vec();
        v.push(MethodUse { method: m, at: now });
        v
    };
    match r {
        // The first factor was just performed.
        Requirement::Reauthenticate => Ok(None),
        Requirement::RegisterSecurityInfo if can_register_totp => {
            Ok(Some(Step::RegisterSecondFactor { can_skip: false }))
        }
        Requirement::AuthenticationStrength { strength } => {
            let usable: Vec<MfaKind> = kinds
                .iter()
                .copied()
                .filter(|k| set.strength_met(strength, &with(method_of(*k))) == Some(true))
                .collect();
            if !usable.is_empty() {
                Ok(Some(Step::SecondFactor { methods: usable }))
            } else if kinds.is_empty()
                && can_register_totp
                && set.strength_met(strength, &with(AuthMethod::Totp)) == Some(true)
            {
                Ok(Some(Step::RegisterSecondFactor { can_skip: false }))
            } else {
                Err(())
            }
        }
        Requirement::PasswordChange => Ok(Some(Step::ChangePassword {
            reason: PasswordChangeReason::PolicyRequired,
        })),
        Requirement::TermsOfUse { id } => Ok(Some(Step::AcceptTerms { id: id.to_string() })),
        Requirement::OneOf { any } => any
            .iter()
            .find_map(|a| step_for(a, set, performed, kinds, can_register_totp, now).ok())
            .ok_or(()),
        Requirement::RegisterSecurityInfo
        | Requirement::CompliantDevice
        | Requirement::RegisteredDevice => Err(()),
    }
}

/// Merges the steps conditional access asks for into those already pending: a policy's
/// second factor (possibly narrowed to strong methods) replaces a plain one, a forced
/// registration replaces a postponable one, one password change is enough. Second factor or
/// registration first, password change next, terms of use last.
fn merge(pending: Vec<Step>, wanted: Vec<Step>) -> Vec<Step> {
    let mut mfa: Option<Step> = None;
    let mut change: Option<Step> = None;
    let mut terms: Vec<Step> = Vec::new();
    for s in pending.into_iter().chain(wanted) {
        match s {
            Step::AcceptTerms { .. } => {
                if !terms.contains(&s) {
                    terms.push(s);
                }
            }
            Step::ChangePassword { .. } => {
                change.get_or_insert(s);
            }
            Step::SecondFactor { methods } => {
                mfa = Some(match mfa {
                    Some(Step::SecondFactor { methods: old }) => Step::SecondFactor {
                        methods: old.into_iter().filter(|k| methods.contains(k)).collect(),
                    },
                    Some(reg @ Step::RegisterSecondFactor { .. }) => reg,
                    _ => Step::SecondFactor { methods },
                });
            }
            Step::RegisterSecondFactor { can_skip } => {
                mfa = Some(match mfa {
                    Some(Step::RegisterSecondFactor { can_skip: old }) => {
                        Step::RegisterSecondFactor {
                            can_skip: old && can_skip,
                        }
                    }
                    _ => Step::RegisterSecondFactor { can_skip },
                });
            }
        }
    }
    mfa.into_iter().chain(change).chain(terms).collect()
}

/// Whether policies demand a fresh sign-in (sign-in frequency) for this flow's target: a
/// step-up cannot give one, so the login page asks for the password again instead.
pub async fn requires_reauthentication(
    state: &AppState,
    ctx: &RequestCtx,
    user_id: Uuid,
    methods: &[MethodUse],
    target: Option<&trustplane_core::authn::FlowTarget>,
    now: OffsetDateTime,
) -> Result<bool, AppError> {
    let probe = LoginFlow::step_up(user_id, methods.to_vec(), now).with_target(target.cloned());
    let actx = policy::context(
        state.store.as_ref(),
        Signals {
            user_id,
            methods,
            primary_at: methods.first().map(|m| m.at),
            ip: ctx.ip,
            country: state.country_of(ctx.ip),
            user_agent: ctx.user_agent.as_deref(),
            client_app: ClientAppType::Browser,
            target: target_of(&probe),
            password_changed: false,
            now,
        },
    )
    .await?;
    let loaded = state.policies.get(state.store.as_ref()).await?;
    Ok(matches!(
        trustplane_core::access::evaluate(&loaded.set, &actx).outcome,
        Outcome::Requires(ref r) if r.contains(&Requirement::Reauthenticate)
    ))
}

/// Evaluates conditional access for a flow whose first factor passed (others are returned
/// unchanged). Returns the flow to continue with and the decision for the sign-in log.
pub async fn apply(
    state: &AppState,
    ctx: &RequestCtx,
    flow: LoginFlow,
    stage: Stage,
    now: OffsetDateTime,
) -> Result<(LoginFlow, Option<serde_json::Value>), AppError> {
    let (user_id, pending) = match &flow.state {
        LoginState::Success { user_id } => (*user_id, Vec::new()),
        LoginState::InProgress { user_id, pending } => (*user_id, pending.clone()),
        _ => return Ok((flow, None)),
    };
    let actx = policy::context(
        state.store.as_ref(),
        Signals {
            user_id,
            methods: &flow.methods,
            primary_at: flow.methods.first().map(|m| m.at),
            ip: ctx.ip,
            country: state.country_of(ctx.ip),
            user_agent: ctx.user_agent.as_deref(),
            client_app: ClientAppType::Browser,
            target: target_of(&flow),
            password_changed: flow.password_changed,
            now,
        },
    )
    .await?;
    let loaded = state.policies.get(state.store.as_ref()).await?;
    let decision = trustplane_core::access::explain(&loaded.set, &actx);
    let entry = policy::log_entry(loaded.version, &decision, &actx);
    let mut flow = flow;
    // Sign-in frequency caps the session this sign-in creates ("every time": the 5-minute
    // tolerance; the enforcement points re-check it on every request).
    flow.max_session_minutes = decision.session.sign_in_frequency.map(|f| match f {
        SignInFrequency::EveryTime => 5,
        SignInFrequency::EveryHours(h) => h.saturating_mul(60),
    });
    flow.persistent_browser =
        decision.session.persistent_browser == Some(PersistentBrowser::Always);
    let outcome = with_demanded_strength(decision.outcome.clone(), &flow, &loaded.set);
    let flow = match (&outcome, stage) {
        (Outcome::Allow, _) => flow,
        (Outcome::Block { .. }, _) => flow.refuse(DenyReason::BlockedByPolicy),
        (Outcome::Requires(_), Stage::BlockOnly) => flow,
        (Outcome::Requires(_), Stage::Final) => {
            flow.refuse(DenyReason::PolicyRequirementUnavailable)
        }
        (Outcome::Requires(reqs), Stage::FirstFactor) => {
            let (kinds, can_register) = usable_kinds(state, user_id).await?;
            let mut wanted = Vec::new();
            let mut impossible = false;
            for r in reqs {
                match step_for(r, &loaded.set, &flow.methods, &kinds, can_register, now) {
                    Ok(Some(s)) => wanted.push(s),
                    Ok(None) => {}
                    Err(()) => impossible = true,
                }
            }
            if impossible {
                flow.refuse(DenyReason::PolicyRequirementUnavailable)
            } else {
                let steps = merge(pending, wanted);
                let mut flow = flow;
                flow.state = if steps.is_empty() {
                    LoginState::Success { user_id }
                } else {
                    LoginState::InProgress {
                        user_id,
                        pending: steps,
                    }
                };
                flow
            }
        }
    };
    Ok((flow, Some(entry)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_narrows_the_second_factor_and_keeps_one_password_change() {
        let pending = vec![
            Step::SecondFactor {
                methods: vec![MfaKind::Totp, MfaKind::SecurityKey],
            },
            Step::ChangePassword {
                reason: PasswordChangeReason::LeakedCredentials,
            },
        ];
        let wanted = vec![
            Step::ChangePassword {
                reason: PasswordChangeReason::PolicyRequired,
            },
            Step::SecondFactor {
                methods: vec![MfaKind::SecurityKey, MfaKind::Passkey],
            },
        ];
        assert_eq!(
            merge(pending, wanted),
            vec![
                Step::SecondFactor {
                    methods: vec![MfaKind::SecurityKey]
                },
                Step::ChangePassword {
                    reason: PasswordChangeReason::LeakedCredentials
                },
            ]
        );
    }

    #[test]
    fn a_forced_registration_beats_a_postponable_one() {
        let got = merge(
            vec![Step::RegisterSecondFactor { can_skip: true }],
            vec![Step::RegisterSecondFactor { can_skip: false }],
        );
        assert_eq!(got, vec![Step::RegisterSecondFactor { can_skip: false }]);
        // Policy steps alone, password change last.
        let got = merge(
            vec![],
            vec![
                Step::ChangePassword {
                    reason: PasswordChangeReason::PolicyRequired,
                },
                Step::RegisterSecondFactor { can_skip: false },
            ],
        );
        assert_eq!(got[0], Step::RegisterSecondFactor { can_skip: false });
    }
}
