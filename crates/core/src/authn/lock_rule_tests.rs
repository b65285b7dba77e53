use super::*;

const ALL: [DenyReason; 8] = [
    DenyReason::UnknownUser,
    DenyReason::WrongPassword,
    DenyReason::AccountDisabled,
    DenyReason::RateLimited,
    DenyReason::FlowExpired,
    DenyReason::SecondFactorUnavailable,
    DenyReason::BlockedByPolicy,
    DenyReason::PolicyRequirementUnavailable,
];

fn counted(method: AuthMethod) -> Vec<DenyReason> {
    ALL.into_iter()
        .filter(|r| r.counts_against_lock(method))
        .collect()
}

#[test]
fn a_wrong_password_counts_whoever_the_account_is() {
    assert_eq!(
        counted(AuthMethod::Password),
        [
            DenyReason::UnknownUser,
            DenyReason::WrongPassword,
            DenyReason::AccountDisabled
        ]
    );
}

#[test]
fn a_wrong_temporary_access_pass_counts_like_a_password() {
    assert_eq!(
        counted(AuthMethod::TemporaryAccessPass),
        counted(AuthMethod::Password)
    );
}

#[test]
fn a_refused_passkey_answer_never_counts() {
    for synced in [false, true] {
        for user_verified in [false, true] {
            assert!(
                counted(AuthMethod::Webauthn {
                    synced,
                    user_verified
                })
                .is_empty()
            );
        }
    }
}

#[test]
fn limits_and_policy_never_count() {
    for r in [
        DenyReason::RateLimited,
        DenyReason::FlowExpired,
        DenyReason::SecondFactorUnavailable,
        DenyReason::BlockedByPolicy,
        DenyReason::PolicyRequirementUnavailable,
    ] {
        assert!(!r.counts_against_lock(AuthMethod::Password), "{r:?}");
    }
}
