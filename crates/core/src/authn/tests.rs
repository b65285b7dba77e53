use super::*;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const T0: OffsetDateTime = datetime!(2026-11-25 10:00 UTC);

fn uid() -> Uuid {
    Uuid::from_u128(42)
}

#[test]
fn password_success_without_steps() {
    let f = LoginFlow::new(T0).first_factor(
        FirstFactorOutcome::Verified { user_id: uid() },
        T0,
        |_| vec![],
    );
    assert_eq!(f.state, LoginState::Success { user_id: uid() });
    assert_eq!(f.amr(), vec!["pwd"]);
    assert_eq!(f.methods[0].at, T0);
}

#[test]
fn credential_failures_look_the_same_to_the_user() {
    let outcomes = [
        FirstFactorOutcome::UnknownUser,
        FirstFactorOutcome::WrongPassword { user_id: uid() },
        FirstFactorOutcome::Disabled { user_id: uid() },
    ];
    let mut messages = vec![];
    let mut codes = vec![];
    for o in outcomes {
        let f = LoginFlow::new(T0).first_factor(o, T0, |_| vec![]);
        let LoginState::Denied { reason } = f.state else {
            panic!("not denied")
        };
        messages.push(reason.public_message());
        codes.push(reason.code());
        assert!(f.methods.is_empty());
    }
    assert!(messages.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(
        codes,
        vec!["unknown_user", "wrong_password", "account_disabled"]
    );
}

#[test]
fn steps_must_be_completed_in_order() {
    let step = Step::ChangePassword {
        reason: PasswordChangeReason::LeakedCredentials,
    };
    let f = LoginFlow::new(T0).first_factor(
        FirstFactorOutcome::Verified { user_id: uid() },
        T0,
        |_| vec![step.clone()],
    );
    assert_eq!(f.current_step(), Some(&step));
    assert_eq!(f.user_id(), Some(uid()));
    let f = f.complete_step(StepOutcome::PasswordChanged, T0 + Duration::minutes(1));
    assert_eq!(f.state, LoginState::Success { user_id: uid() });
}

#[test]
fn second_factor_then_password_change_gives_mfa() {
    let steps = vec![
        Step::SecondFactor {
            methods: vec![crate::mfa::MfaKind::Totp],
        },
        Step::ChangePassword {
            reason: PasswordChangeReason::LeakedCredentials,
        },
    ];
    let f = LoginFlow::new(T0).first_factor(
        FirstFactorOutcome::Verified { user_id: uid() },
        T0,
        |_| steps.clone(),
    );
    // The password change cannot jump the queue.
    let same = f
        .clone()
        .complete_step(StepOutcome::PasswordChanged, T0 + Duration::seconds(5));
    assert_eq!(same.current_step(), Some(&steps[0]));
    // A knowledge factor does not count as a second factor.
    let same = f.clone().complete_step(
        StepOutcome::SecondFactor(AuthMethod::Password),
        T0 + Duration::seconds(5),
    );
    assert_eq!(same.current_step(), Some(&steps[0]));
    let f = f.complete_step(
        StepOutcome::SecondFactor(AuthMethod::Totp),
        T0 + Duration::seconds(10),
    );
    assert_eq!(f.current_step(), Some(&steps[1]));
    assert_eq!(f.methods[1].at, T0 + Duration::seconds(10));
    let f = f.complete_step(StepOutcome::PasswordChanged, T0 + Duration::seconds(20));
    assert_eq!(f.state, LoginState::Success { user_id: uid() });
    assert_eq!(f.amr(), vec!["pwd", "otp", "mfa"]);
}

#[test]
fn registration_step_counts_as_mfa_and_can_be_postponed_only_when_allowed() {
    let verified = |can_skip| {
        LoginFlow::new(T0).first_factor(FirstFactorOutcome::Verified { user_id: uid() }, T0, |_| {
            vec![Step::RegisterSecondFactor { can_skip }]
        })
    };
    let f = verified(false).complete_step(StepOutcome::RegistrationPostponed, T0);
    assert!(
        matches!(f.state, LoginState::InProgress { .. }),
        "no skipping"
    );
    let f = verified(true).complete_step(StepOutcome::RegistrationPostponed, T0);
    assert_eq!(f.state, LoginState::Success { user_id: uid() });
    assert_eq!(f.amr(), vec!["pwd"]);
    let f = verified(false).complete_step(StepOutcome::Registered(AuthMethod::Totp), T0);
    assert_eq!(f.state, LoginState::Success { user_id: uid() });
    assert_eq!(f.amr(), vec!["pwd", "otp", "mfa"]);
    // Refusing after the first factor.
    let f = verified(false).refuse(DenyReason::SecondFactorUnavailable);
    assert_eq!(
        f.state,
        LoginState::Denied {
            reason: DenyReason::SecondFactorUnavailable
        }
    );
}

#[test]
fn a_temporary_access_pass_alone_is_mfa() {
    let f = LoginFlow::new(T0).first_factor_with(
        AuthMethod::TemporaryAccessPass,
        FirstFactorOutcome::Verified { user_id: uid() },
        T0,
        |_| vec![],
    );
    assert_eq!(f.state, LoginState::Success { user_id: uid() });
    assert_eq!(f.amr(), vec!["otp", "mfa"]);
}

#[test]
fn a_passkey_with_user_verification_alone_is_mfa() {
    for (synced, first) in [(false, "hwk"), (true, "swk")] {
        let f = LoginFlow::new(T0).first_factor_with(
            AuthMethod::Webauthn {
                synced,
                user_verified: true,
            },
            FirstFactorOutcome::Verified { user_id: uid() },
            T0,
            |_| vec![],
        );
        assert_eq!(f.state, LoginState::Success { user_id: uid() });
        assert_eq!(f.amr(), vec![first, "user", "mfa"]);
    }
    // Without user verification a key is one possession factor, not MFA.
    let m = |method| MethodUse { method, at: T0 };
    let key = AuthMethod::Webauthn {
        synced: false,
        user_verified: false,
    };
    assert_eq!(amr(&[m(key)]), vec!["hwk"]);
    // As a second factor after a password.
    assert_eq!(
        amr(&[m(AuthMethod::Password), m(key)]),
        vec!["pwd", "hwk", "mfa"]
    );
    let f = LoginFlow::new(T0)
        .first_factor(FirstFactorOutcome::Verified { user_id: uid() }, T0, |_| {
            vec![Step::SecondFactor {
                methods: vec![crate::mfa::MfaKind::Passkey],
            }]
        })
        .complete_step(
            StepOutcome::SecondFactor(AuthMethod::Webauthn {
                synced: true,
                user_verified: true,
            }),
            T0,
        );
    assert_eq!(f.amr(), vec!["pwd", "swk", "user", "mfa"]);
    // The method round-trips through JSON (sessions store it).
    let json = serde_json::to_string(&f.methods).unwrap();
    let back: Vec<MethodUse> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, f.methods);
}

#[test]
fn expired_flow_is_denied() {
    let f = LoginFlow::new(T0).first_factor(
        FirstFactorOutcome::Verified { user_id: uid() },
        T0 + Duration::minutes(16),
        |_| vec![],
    );
    assert_eq!(
        f.state,
        LoginState::Denied {
            reason: DenyReason::FlowExpired
        }
    );
}

#[test]
fn first_factor_cannot_be_replayed_on_a_finished_flow() {
    let f = LoginFlow::new(T0).first_factor(FirstFactorOutcome::UnknownUser, T0, |_| vec![]);
    let again = f.clone().first_factor(
        FirstFactorOutcome::Verified { user_id: uid() },
        T0,
        |_| vec![],
    );
    assert_eq!(f, again);
}

#[test]
fn flow_round_trips_through_json() {
    let f = LoginFlow::new(T0).first_factor(
        FirstFactorOutcome::Verified { user_id: uid() },
        T0,
        |_| {
            vec![Step::ChangePassword {
                reason: PasswordChangeReason::AdminRequired,
            }]
        },
    );
    let json = serde_json::to_string(&f).unwrap();
    let back: LoginFlow = serde_json::from_str(&json).unwrap();
    assert_eq!(f, back);
}

#[test]
fn acr_reflects_the_strongest_proof() {
    let at = |method| MethodUse { method, at: T0 };
    assert_eq!(acr_of(&[at(AuthMethod::Password)]), "single_factor");
    assert_eq!(
        acr_of(&[at(AuthMethod::Password), at(AuthMethod::Totp)]),
        "mfa"
    );
    let uv = AuthMethod::Webauthn {
        synced: true,
        user_verified: true,
    };
    assert_eq!(acr_of(&[at(uv)]), "phishing_resistant_mfa");
    // A security key without user verification is a second factor, not a passkey.
    let no_uv = AuthMethod::Webauthn {
        synced: false,
        user_verified: false,
    };
    assert_eq!(acr_of(&[at(AuthMethod::Password), at(no_uv)]), "mfa");
    assert!(acr_satisfies("phishing_resistant_mfa", "mfa"));
    assert!(acr_satisfies("mfa", "mfa"));
    assert!(!acr_satisfies("mfa", "phishing_resistant_mfa"));
    assert!(!acr_satisfies("single_factor", "mfa"));
    assert!(!acr_satisfies("mfa", "gold"));
    assert_eq!(last_authenticated(&[]), None);
    let later = T0 + Duration::minutes(3);
    assert_eq!(
        last_authenticated(&[
            at(AuthMethod::Password),
            MethodUse {
                method: AuthMethod::Totp,
                at: later
            }
        ]),
        Some(later)
    );
}

#[test]
fn a_step_up_keeps_the_session_methods_and_waits_for_steps() {
    let methods = vec![MethodUse {
        method: AuthMethod::Password,
        at: T0,
    }];
    let f = LoginFlow::step_up(uid(), methods.clone(), T0 + Duration::minutes(10));
    assert_eq!(f.methods, methods);
    assert_eq!(f.user_id(), Some(uid()));
    assert_eq!(f.current_step(), None);
}
