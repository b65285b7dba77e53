//! Authentication strengths: the built-in `mfa`, `passwordless_mfa`, `phishing_resistant_mfa`
//! (with their Entra ID meaning) and custom ones (lists of allowed method combinations).

use std::sync::Arc;

use super::model::MethodKind;
use crate::authn::{AuthMethod, MethodUse, amr};

/// Ids of the built-in strengths, weakest first. They exist in every policy set, in this order
/// at the start of the strength table.
pub const BUILTIN: [&str; 3] = ["mfa", "passwordless_mfa", "phishing_resistant_mfa"];

/// How a strength is satisfied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrengthRule {
    /// The session's `amr` contains `mfa`: two different factor categories, or one method
    /// strong alone (Temporary Access Pass, WebAuthn with user verification).
    Mfa,
    /// A WebAuthn assertion with user verification (device-bound or synced passkey).
    Passkey,
    /// The methods performed cover one of these combinations (bit sets of [`MethodKind`]).
    Combinations(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Strength {
    pub id: Arc<str>,
    pub name: String,
    pub rule: StrengthRule,
}

pub(crate) fn kind_bit(k: MethodKind) -> u8 {
    match k {
        MethodKind::Password => 1,
        MethodKind::Totp => 1 << 1,
        MethodKind::EmailCode => 1 << 2,
        MethodKind::RecoveryCode => 1 << 3,
        MethodKind::TemporaryAccessPass => 1 << 4,
        MethodKind::PasskeyDeviceBound => 1 << 5,
        MethodKind::PasskeySynced => 1 << 6,
    }
}

/// The method kind of a method use; a WebAuthn assertion without user verification is no
/// passkey and has no kind (it still counts towards the built-in `mfa` through `amr`).
pub fn method_kind(m: AuthMethod) -> Option<MethodKind> {
    Some(match m {
        AuthMethod::Password => MethodKind::Password,
        AuthMethod::Totp => MethodKind::Totp,
        AuthMethod::RecoveryCode => MethodKind::RecoveryCode,
        AuthMethod::TemporaryAccessPass => MethodKind::TemporaryAccessPass,
        AuthMethod::EmailCode => MethodKind::EmailCode,
        AuthMethod::Webauthn {
            user_verified: false,
            ..
        } => return None,
        AuthMethod::Webauthn { synced: false, .. } => MethodKind::PasskeyDeviceBound,
        AuthMethod::Webauthn { synced: true, .. } => MethodKind::PasskeySynced,
    })
}

/// What the session's methods prove, computed once per evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthFacts {
    kinds: u8,
    mfa: bool,
}

impl AuthFacts {
    pub fn of(methods: &[MethodUse]) -> AuthFacts {
        let kinds = methods
            .iter()
            .filter_map(|m| method_kind(m.method))
            .fold(0u8, |acc, k| acc | kind_bit(k));
        AuthFacts {
            kinds,
            mfa: amr(methods).contains(&"mfa"),
        }
    }
}

const PASSKEYS: u8 = (1 << 5) | (1 << 6);
const TAP: u8 = 1 << 4;
const PASSWORD: u8 = 1;
const OTHER_POSSESSION: u8 = (1 << 1) | (1 << 2) | (1 << 3);

impl Strength {
    pub fn builtins() -> Vec<Strength> {
        vec![
            Strength {
                id: Arc::from(BUILTIN[0]),
                name: "Multifactor authentication".into(),
                rule: StrengthRule::Mfa,
            },
            Strength {
                id: Arc::from(BUILTIN[1]),
                name: "Passwordless MFA".into(),
                rule: StrengthRule::Passkey,
            },
            Strength {
                id: Arc::from(BUILTIN[2]),
                name: "Phishing-resistant MFA".into(),
                rule: StrengthRule::Passkey,
            },
        ]
    }

    pub fn satisfied(&self, facts: &AuthFacts) -> bool {
        match &self.rule {
            StrengthRule::Mfa => facts.mfa,
            _ => self.satisfied_by_kinds(facts.kinds),
        }
    }

    /// Satisfaction by a set of method kinds (monotone in the set).
    fn satisfied_by_kinds(&self, kinds: u8) -> bool {
        match &self.rule {
            StrengthRule::Mfa => {
                kinds & (PASSKEYS | TAP) != 0
                    || (kinds & PASSWORD != 0 && kinds & OTHER_POSSESSION != 0)
            }
            StrengthRule::Passkey => kinds & PASSKEYS != 0,
            StrengthRule::Combinations(c) => c.iter().any(|c| kinds & c == *c),
        }
    }

    /// The smallest kind sets that satisfy this strength.
    fn minimal_combinations(&self) -> Vec<u8> {
        match &self.rule {
            StrengthRule::Mfa => vec![
                TAP,
                1 << 5,
                1 << 6,
                PASSWORD | (1 << 1),
                PASSWORD | (1 << 2),
                PASSWORD | (1 << 3),
            ],
            StrengthRule::Passkey => vec![1 << 5, 1 << 6],
            StrengthRule::Combinations(c) => c.clone(),
        }
    }

    /// Whether every way of satisfying `self` also satisfies `other`.
    pub fn implies(&self, other: &Strength) -> bool {
        self.minimal_combinations()
            .into_iter()
            .all(|c| other.satisfied_by_kinds(c))
    }
}

/// `m[a][b]`: satisfying strength `a` satisfies strength `b`.
pub fn implication_matrix(strengths: &[Strength]) -> Vec<Vec<bool>> {
    strengths
        .iter()
        .map(|a| strengths.iter().map(|b| a.implies(b)).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn uses(methods: &[AuthMethod]) -> AuthFacts {
        let at = datetime!(2026-11-25 10:00 UTC);
        AuthFacts::of(
            &methods
                .iter()
                .map(|m| MethodUse { method: *m, at })
                .collect::<Vec<_>>(),
        )
    }

    const UV_KEY: AuthMethod = AuthMethod::Webauthn {
        synced: false,
        user_verified: true,
    };
    const UV_SYNCED: AuthMethod = AuthMethod::Webauthn {
        synced: true,
        user_verified: true,
    };
    const NO_UV_KEY: AuthMethod = AuthMethod::Webauthn {
        synced: false,
        user_verified: false,
    };

    #[test]
    fn builtin_meanings() {
        let [mfa, pwless, phish] = [0, 1, 2].map(|i| Strength::builtins()[i].clone());
        let pwd = uses(&[AuthMethod::Password]);
        let pwd_totp = uses(&[AuthMethod::Password, AuthMethod::Totp]);
        let totp_email = uses(&[AuthMethod::Totp, AuthMethod::EmailCode]);
        let tap = uses(&[AuthMethod::TemporaryAccessPass]);
        let key = uses(&[UV_KEY]);
        let synced = uses(&[UV_SYNCED]);
        let pwd_key_no_uv = uses(&[AuthMethod::Password, NO_UV_KEY]);
        assert!(!mfa.satisfied(&pwd));
        assert!(mfa.satisfied(&pwd_totp));
        assert!(
            !mfa.satisfied(&totp_email),
            "two possession factors are one category"
        );
        assert!(mfa.satisfied(&tap));
        assert!(mfa.satisfied(&key));
        assert!(mfa.satisfied(&pwd_key_no_uv));
        for s in [&pwless, &phish] {
            assert!(!s.satisfied(&pwd_totp));
            assert!(!s.satisfied(&tap));
            assert!(!s.satisfied(&pwd_key_no_uv));
            assert!(s.satisfied(&key));
            assert!(s.satisfied(&synced));
        }
    }

    #[test]
    fn custom_combinations_and_implication() {
        let custom = Strength {
            id: Arc::from("pwd_totp_or_key"),
            name: "x".into(),
            rule: StrengthRule::Combinations(vec![
                kind_bit(MethodKind::Password) | kind_bit(MethodKind::Totp),
                kind_bit(MethodKind::PasskeyDeviceBound),
            ]),
        };
        assert!(custom.satisfied(&uses(&[AuthMethod::Totp, AuthMethod::Password])));
        assert!(custom.satisfied(&uses(&[UV_KEY])));
        assert!(!custom.satisfied(&uses(&[UV_SYNCED])));
        assert!(!custom.satisfied(&uses(&[AuthMethod::Password, AuthMethod::EmailCode])));
        let b = Strength::builtins();
        assert!(custom.implies(&b[0]), "every combination is MFA");
        assert!(!b[0].implies(&custom));
        assert!(b[2].implies(&b[0]) && b[1].implies(&b[2]) && b[2].implies(&b[1]));
        assert!(!b[0].implies(&b[2]));
        let m = implication_matrix(&b);
        assert_eq!(
            m,
            vec![
                vec![true, false, false],
                vec![true, true, true],
                vec![true, true, true]
            ]
        );
    }
}
