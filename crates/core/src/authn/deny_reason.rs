//! Why a login was refused: the code for the sign-in log, the message the user sees, and
//! which refusals count against the sign-in lock.

use serde::{Deserialize, Serialize};

use super::AuthMethod;

/// Why a login was refused. The code is stored in the sign-in log; the user only ever sees
/// [`DenyReason::public_message`], which is the same for every credential failure so that the
/// response does not reveal whether an account exists or is disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenyReason {
    UnknownUser,
    WrongPassword,
    AccountDisabled,
    RateLimited,
    FlowExpired,
    /// MFA is required but the user has no second factor and may register none.
    SecondFactorUnavailable,
    /// A conditional access policy blocks this sign-in.
    BlockedByPolicy,
    /// Conditional access requires something this sign-in cannot provide (a compliant or
    /// registered device, an authentication strength the user has no method for).
    PolicyRequirementUnavailable,
}

impl DenyReason {
    /// Whether a first factor `method` refused for this reason counts against the sign-in
    /// lock. One rule for every way in: only a wrong guess of a secret counts (a password or a
    /// Temporary Access Pass), for an unknown or disabled account too, so that the lock reveals
    /// nothing about which accounts exist. Refusals by a limit or by policy are no guess, and a
    /// passkey answer guesses no secret (counting refused answers would let anyone lock an
    /// account with garbage).
    pub fn counts_against_lock(self, method: AuthMethod) -> bool {
        let guessable = matches!(
            method,
            AuthMethod::Password | AuthMethod::TemporaryAccessPass
        );
        guessable
            && matches!(
                self,
                DenyReason::UnknownUser | DenyReason::WrongPassword | DenyReason::AccountDisabled
            )
    }

    pub fn code(self) -> &'static str {
        match self {
            DenyReason::UnknownUser => "unknown_user",
            DenyReason::WrongPassword => "wrong_password",
            DenyReason::AccountDisabled => "account_disabled",
            DenyReason::RateLimited => "rate_limited",
            DenyReason::FlowExpired => "flow_expired",
            DenyReason::SecondFactorUnavailable => "second_factor_unavailable",
            DenyReason::BlockedByPolicy => "blocked_by_policy",
            DenyReason::PolicyRequirementUnavailable => "policy_requirement_unavailable",
        }
    }

    pub fn public_message(self) -> &'static str {
        match self {
            DenyReason::UnknownUser | DenyReason::WrongPassword | DenyReason::AccountDisabled => {
                "Incorrect username or password."
            }
            DenyReason::RateLimited => "Too many sign-in attempts. Wait a minute and try again.",
            DenyReason::FlowExpired => "Your sign-in took too long. Please start again.",
            // Only reached after a correct password, so it reveals nothing to a guesser.
            DenyReason::SecondFactorUnavailable => {
                "Your organisation requires a second factor, but none is available to your account. Contact your administrator."
            }
            // Also only after a correct first factor; the policy itself is never named.
            DenyReason::BlockedByPolicy => {
                "Your organisation's access policy does not allow this sign-in."
            }
            DenyReason::PolicyRequirementUnavailable => {
                "Your organisation's access policy requires something this sign-in cannot provide, such as a managed device or a passkey you have not registered."
            }
        }
    }
}
