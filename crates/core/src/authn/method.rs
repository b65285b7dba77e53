//! Authentication methods and what they prove: RFC 8176 `amr` values, the `acr` levels
//! trustplane issues, and when the user last authenticated.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// An authentication method, with its RFC 8176 `amr` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    Password,
    /// A time-based one-time password from an authenticator app.
    Totp,
    /// A single-use recovery code.
    RecoveryCode,
    /// A Temporary Access Pass issued by an administrator: strong on its own (it satisfies
    /// MFA, as in Entra ID), reported as `otp` + `mfa`.
    TemporaryAccessPass,
    /// A one-time code sent to a verified email address.
    EmailCode,
    /// A WebAuthn credential (security key or passkey): `hwk` when device-bound, `swk` when
    /// synced (backup eligible), plus `user` when the authenticator verified the user (PIN or
    /// biometric), which makes it phishing-resistant MFA on its own (`mfa`).
    Webauthn {
        synced: bool,
        user_verified: bool,
    },
}

impl AuthMethod {
    /// RFC 8176 Authentication Method Reference value.
    pub fn amr(self) -> &'static str {
        match self {
            AuthMethod::Password => "pwd",
            AuthMethod::Totp
            | AuthMethod::RecoveryCode
            | AuthMethod::TemporaryAccessPass
            | AuthMethod::EmailCode => "otp",
            AuthMethod::Webauthn { synced: false, .. } => "hwk",
            AuthMethod::Webauthn { synced: true, .. } => "swk",
        }
    }

    /// Whether the method itself verified the user (RFC 8176 `user`): a WebAuthn assertion
    /// with the UV flag.
    pub fn user_verified(self) -> bool {
        matches!(
            self,
            AuthMethod::Webauthn {
                user_verified: true,
                ..
            }
        )
    }

    /// Strong enough alone to count as MFA.
    fn is_mfa_alone(self) -> bool {
        self == AuthMethod::TemporaryAccessPass || self.user_verified()
    }

    /// The factor category (RFC 8176 `mfa` means two different categories were used).
    pub(super) fn factor(self) -> Factor {
        match self {
            AuthMethod::Password => Factor::Knowledge,
            AuthMethod::Totp
            | AuthMethod::RecoveryCode
            | AuthMethod::TemporaryAccessPass
            | AuthMethod::EmailCode
            | AuthMethod::Webauthn { .. } => Factor::Possession,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Factor {
    Knowledge,
    Possession,
}

/// One method the user performed, and when: sign-in frequency checks read these times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodUse {
    pub method: AuthMethod,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// The RFC 8176 `amr` values of these methods, de-duplicated, in order, plus `mfa` when two
/// different factor categories were used.
pub fn amr(methods: &[MethodUse]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for m in methods {
        let v = m.method.amr();
        if !out.contains(&v) {
            out.push(v);
        }
        if m.method.user_verified() && !out.contains(&"user") {
            out.push("user");
        }
    }
    let first = methods.first().map(|m| m.method.factor());
    if methods.iter().any(|m| Some(m.method.factor()) != first)
        || methods.iter().any(|m| m.method.is_mfa_alone())
    {
        out.push("mfa");
    }
    out
}

/// The `acr` values trustplane issues and accepts, weakest first: what a session's methods
/// prove, named after the built-in authentication strengths.
pub const ACR_VALUES: [&str; 4] = [
    "single_factor",
    "mfa",
    "passwordless_mfa",
    "phishing_resistant_mfa",
];

/// The strongest [`ACR_VALUES`] entry these methods meet. `phishing_resistant_mfa` and
/// `passwordless_mfa` need a WebAuthn assertion with user verification (a passkey, bound to
/// its origin), `mfa` two factor categories or a method strong alone.
pub fn acr_of(methods: &[MethodUse]) -> &'static str {
    if methods.iter().any(|m| m.method.user_verified()) {
        "phishing_resistant_mfa"
    } else if amr(methods).contains(&"mfa") {
        "mfa"
    } else {
        "single_factor"
    }
}

/// Whether methods meeting `have` also meet the `acr` value `want` (unknown values: no).
pub fn acr_satisfies(have: &str, want: &str) -> bool {
    let rank = |v: &str| ACR_VALUES.iter().position(|x| *x == v);
    match (rank(have), rank(want)) {
        (Some(h), Some(w)) => h >= w,
        _ => false,
    }
}

/// When the user last actively authenticated (OIDC `auth_time`, `max_age`): the time of the
/// latest method performed.
pub fn last_authenticated(methods: &[MethodUse]) -> Option<OffsetDateTime> {
    methods.iter().map(|m| m.at).max()
}
