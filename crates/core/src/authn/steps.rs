//! The steps a sign-in may have to complete after the first factor, and their outcomes as
//! checked by the edge.

use serde::{Deserialize, Serialize};

use super::AuthMethod;

/// A step that must be completed after the first factor before a session is issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "step")]
pub enum Step {
    /// The user must prove a second factor with one of their registered methods.
    SecondFactor { methods: Vec<crate::mfa::MfaKind> },
    /// The user has no second factor and must register one now (the registration proves
    /// possession, so it satisfies MFA for this sign-in); `can_skip` while a postponement
    /// allowed by the methods policy lasts.
    RegisterSecondFactor { can_skip: bool },
    /// The user must choose a new password (admin-forced, or leaked credentials detected).
    /// Always after `SecondFactor`: a leaked password alone must not let anyone set a new one.
    ChangePassword { reason: PasswordChangeReason },
    /// Conditional access requires the user to accept these terms of use (once).
    AcceptTerms { id: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordChangeReason {
    AdminRequired,
    LeakedCredentials,
    /// A conditional access policy requires a secure password change (e.g. high user risk).
    PolicyRequired,
}

/// Outcome of one pending step, as checked by the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    PasswordChanged,
    /// A second factor was verified with this method.
    SecondFactor(AuthMethod),
    /// A second factor was registered (and its first code verified) with this method.
    Registered(AuthMethod),
    /// The user postponed registration (only while allowed).
    RegistrationPostponed,
    /// The user accepted these terms of use.
    TermsAccepted(String),
}
