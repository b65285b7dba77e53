//! The authentication methods policy: which second factors users may register, whether MFA
//! is required (for everyone or some groups), and whether users without a second factor are
//! interrupted at sign-in to register one (with a number of days they may postpone it).
//!
//! Until conditional access lands, this policy alone decides the second-factor steps of a
//! sign-in ([`MethodsPolicy::sign_in_requirement`]).

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// Whom a setting applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Targets {
    #[default]
    None,
    All,
    /// Members of any of these groups.
    Groups {
        groups: Vec<Uuid>,
    },
}

impl Targets {
    pub fn applies(&self, member_of: &[Uuid]) -> bool {
        match self {
            Targets::None => false,
            Targets::All => true,
            Targets::Groups { groups } => groups.iter().any(|g| member_of.contains(g)),
        }
    }
}

/// One method's setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodSetting {
    /// Who may register and use it.
    pub users: Targets,
}

/// The registration interrupt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationSetting {
    /// Users sent to register a second factor right after sign-in when they have none.
    pub users: Targets,
    /// Days a user may postpone it, counted from the first time they were asked (0–14).
    pub postpone_days: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodsPolicy {
    pub totp: MethodSetting,
    pub recovery_codes: MethodSetting,
    /// Who may be issued a Temporary Access Pass (by an administrator).
    #[serde(default = "everyone")]
    pub temporary_access_pass: MethodSetting,
    /// Who may register an email address for one-time codes.
    #[serde(default = "everyone")]
    pub email: MethodSetting,
    /// Self-service password reset.
    #[serde(default)]
    pub sspr: SsprSetting,
    /// Security keys and passkeys (WebAuthn): who, and which authenticators.
    #[serde(default)]
    pub webauthn: super::webauthn::WebauthnSetting,
    /// Users who must pass a second factor at every sign-in (and so must register one).
    pub require_mfa: Targets,
    pub registration: RegistrationSetting,
}

/// Self-service password reset: who may use it and how many different registered methods
/// (1 or 2) they must verify first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsprSetting {
    pub users: Targets,
    pub methods_required: u8,
}

impl Default for SsprSetting {
    fn default() -> Self {
        SsprSetting {
            users: Targets::All,
            methods_required: 1,
        }
    }
}

fn everyone() -> MethodSetting {
    MethodSetting {
        users: Targets::All,
    }
}

impl Default for MethodsPolicy {
    /// Authenticator apps and recovery codes available to everyone; MFA required of those who
    /// registered a method; nobody forced to register.
    fn default() -> Self {
        MethodsPolicy {
            totp: MethodSetting {
                users: Targets::All,
            },
            recovery_codes: MethodSetting {
                users: Targets::All,
            },
            temporary_access_pass: everyone(),
            email: everyone(),
            sspr: SsprSetting::default(),
            webauthn: super::webauthn::WebauthnSetting::default(),
            require_mfa: Targets::None,
            registration: RegistrationSetting {
                users: Targets::None,
                postpone_days: 0,
            },
        }
    }
}

/// Longest postponement an administrator may allow (as Entra ID).
pub const MAX_POSTPONE_DAYS: u32 = 14;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("postpone_days must be between 0 and {MAX_POSTPONE_DAYS}")]
    PostponeTooLong,
    #[error("a group list must name at least one group (or use mode \"all\" / \"none\")")]
    EmptyGroups,
    #[error(
        "MFA is required of users who cannot register any method: enable authenticator apps for them"
    )]
    RequiredWithoutMethod,
    #[error("sspr.methods_required must be 1 or 2")]
    ResetMethods,
    #[error(
        "webauthn.allowed_aaguids: at most {} distinct, non-nil AAGUIDs",
        super::webauthn::MAX_ALLOWED_AAGUIDS
    )]
    BadAaguidList,
}

/// What the policy asks of one sign-in, after the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Nothing more.
    None,
    /// Prove a registered second factor.
    SecondFactor,
    /// Register a second factor now; `can_skip` while the postponement lasts.
    Register { can_skip: bool },
    /// MFA is required but the user has no method and may register none.
    Blocked,
}

impl MethodsPolicy {
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.registration.postpone_days > MAX_POSTPONE_DAYS {
            return Err(PolicyError::PostponeTooLong);
        }
        for t in [
            &self.totp.users,
            &self.recovery_codes.users,
            &self.temporary_access_pass.users,
            &self.email.users,
            &self.sspr.users,
            &self.webauthn.users,
            &self.require_mfa,
            &self.registration.users,
        ] {
            if matches!(t, Targets::Groups { groups } if groups.is_empty()) {
                return Err(PolicyError::EmptyGroups);
            }
        }
        let aaguids = &self.webauthn.allowed_aaguids;
        if aaguids.len() > super::webauthn::MAX_ALLOWED_AAGUIDS
            || aaguids.iter().any(Uuid::is_nil)
            || aaguids
                .iter()
                .enumerate()
                .any(|(i, a)| aaguids[..i].contains(a))
        {
            return Err(PolicyError::BadAaguidList);
        }
        // Everyone MFA is required of must be able to register an authenticator app.
        let covered = match (&self.require_mfa, &self.totp.users) {
            (Targets::None, _) | (_, Targets::All) => true,
            (Targets::All, _) => false,
            (Targets::Groups { groups: need }, Targets::Groups { groups: can }) => {
                need.iter().all(|g| can.contains(g))
            }
            (Targets::Groups { .. }, Targets::None) => false,
        };
        if !covered {
            return Err(PolicyError::RequiredWithoutMethod);
        }
        if !(1..=2).contains(&self.sspr.methods_required) {
            return Err(PolicyError::ResetMethods);
        }
        Ok(())
    }

    pub fn totp_allowed(&self, member_of: &[Uuid]) -> bool {
        self.totp.users.applies(member_of)
    }

    pub fn tap_allowed(&self, member_of: &[Uuid]) -> bool {
        self.temporary_access_pass.users.applies(member_of)
    }

    pub fn email_allowed(&self, member_of: &[Uuid]) -> bool {
        self.email.users.applies(member_of)
    }

    pub fn sspr_allowed(&self, member_of: &[Uuid]) -> bool {
        self.sspr.users.applies(member_of)
    }

    pub fn webauthn_allowed(&self, member_of: &[Uuid]) -> bool {
        self.webauthn.users.applies(member_of)
    }

    pub fn recovery_codes_allowed(&self, member_of: &[Uuid]) -> bool {
        self.recovery_codes.users.applies(member_of)
    }

    /// The second-factor requirement of a sign-in by a user in `member_of` who has
    /// `usable_methods` registered methods the policy still allows, and was first asked to
    /// register at `first_prompted` (if ever).
    pub fn sign_in_requirement(
        &self,
        member_of: &[Uuid],
        usable_methods: usize,
        first_prompted: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Requirement {
        if usable_methods > 0 {
            // A registered second factor is always asked for.
            return Requirement::SecondFactor;
        }
        let can_register = self.totp_allowed(member_of);
        if self.require_mfa.applies(member_of) {
            return if can_register {
                Requirement::Register { can_skip: false }
            } else {
                Requirement::Blocked
            };
        }
        if self.registration.users.applies(member_of) && can_register {
            let start = first_prompted.unwrap_or(now);
            let deadline = start + Duration::days(i64::from(self.registration.postpone_days));
            return Requirement::Register {
                can_skip: now < deadline,
            };
        }
        Requirement::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-25 10:00 UTC);

    fn g(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn default_asks_only_users_who_registered() {
        let p = MethodsPolicy::default();
        p.validate().unwrap();
        assert_eq!(p.sign_in_requirement(&[], 0, None, T0), Requirement::None);
        assert_eq!(
            p.sign_in_requirement(&[], 1, None, T0),
            Requirement::SecondFactor
        );
    }

    #[test]
    fn required_mfa_without_a_method_means_register_now() {
        let p = MethodsPolicy {
            require_mfa: Targets::Groups { groups: vec![g(1)] },
            ..MethodsPolicy::default()
        };
        p.validate().unwrap();
        assert_eq!(
            p.sign_in_requirement(&[g(1)], 0, None, T0),
            Requirement::Register { can_skip: false }
        );
        assert_eq!(
            p.sign_in_requirement(&[g(2)], 0, None, T0),
            Requirement::None
        );
        assert_eq!(
            p.sign_in_requirement(&[g(1)], 2, None, T0),
            Requirement::SecondFactor
        );
    }

    #[test]
    fn registration_can_be_postponed_for_the_configured_days() {
        let p = MethodsPolicy {
            registration: RegistrationSetting {
                users: Targets::All,
                postpone_days: 3,
            },
            ..MethodsPolicy::default()
        };
        p.validate().unwrap();
        assert_eq!(
            p.sign_in_requirement(&[], 0, None, T0),
            Requirement::Register { can_skip: true }
        );
        assert_eq!(
            p.sign_in_requirement(&[], 0, Some(T0), T0 + Duration::days(2)),
            Requirement::Register { can_skip: true }
        );
        assert_eq!(
            p.sign_in_requirement(&[], 0, Some(T0), T0 + Duration::days(3)),
            Requirement::Register { can_skip: false }
        );
        let now_only = MethodsPolicy {
            registration: RegistrationSetting {
                users: Targets::All,
                postpone_days: 0,
            },
            ..MethodsPolicy::default()
        };
        assert_eq!(
            now_only.sign_in_requirement(&[], 0, None, T0),
            Requirement::Register { can_skip: false }
        );
    }

    #[test]
    fn no_way_to_register_blocks_when_mfa_is_required() {
        let mut p = MethodsPolicy {
            require_mfa: Targets::All,
            ..MethodsPolicy::default()
        };
        p.totp.users = Targets::Groups { groups: vec![g(1)] };
        assert_eq!(p.validate(), Err(PolicyError::RequiredWithoutMethod));
        // (Had it been saved, the outcome would be explicit, never a silent pass.)
        assert_eq!(
            p.sign_in_requirement(&[g(2)], 0, None, T0),
            Requirement::Blocked
        );
    }

    #[test]
    fn validation() {
        let mut p = MethodsPolicy::default();
        p.registration.postpone_days = 15;
        assert_eq!(p.validate(), Err(PolicyError::PostponeTooLong));
        let p = MethodsPolicy {
            require_mfa: Targets::Groups { groups: vec![] },
            ..MethodsPolicy::default()
        };
        assert_eq!(p.validate(), Err(PolicyError::EmptyGroups));
        let mut p = MethodsPolicy::default();
        for (n, ok) in [(0, false), (1, true), (2, true), (3, false)] {
            p.sspr.methods_required = n;
            assert_eq!(p.validate().is_ok(), ok, "{n}");
        }
    }

    #[test]
    fn policies_stored_before_email_and_sspr_still_parse() {
        let old = serde_json::json!({"totp": {"users": {"mode": "all"}},
            "recovery_codes": {"users": {"mode": "all"}}, "require_mfa": {"mode": "none"},
            "registration": {"users": {"mode": "none"}, "postpone_days": 0}});
        let p: MethodsPolicy = serde_json::from_value(old).unwrap();
        assert_eq!(p.email.users, Targets::All);
        assert_eq!(p.sspr, SsprSetting::default());
    }

    #[test]
    fn json_shape() {
        let p = MethodsPolicy::default();
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["totp"]["users"]["mode"], "all");
        assert_eq!(v["require_mfa"]["mode"], "none");
        let back: MethodsPolicy = serde_json::from_value(v).unwrap();
        assert_eq!(back, p);
        let bad = serde_json::json!({"totp": {"users": {"mode": "all"}, "extra": 1},
            "recovery_codes": {"users": {"mode": "all"}}, "require_mfa": {"mode": "none"},
            "registration": {"users": {"mode": "none"}, "postpone_days": 0}});
        assert!(serde_json::from_value::<MethodsPolicy>(bad).is_err());
    }

    #[test]
    fn webauthn_setting_defaults_for_old_policies_and_is_validated() {
        // A policy stored before WebAuthn existed still parses: everyone, any authenticator.
        let old = serde_json::json!({"totp": {"users": {"mode": "all"}},
            "recovery_codes": {"users": {"mode": "all"}}, "require_mfa": {"mode": "none"},
            "registration": {"users": {"mode": "none"}, "postpone_days": 0}});
        let p: MethodsPolicy = serde_json::from_value(old).unwrap();
        assert_eq!(p.webauthn.users, Targets::All);
        assert!(!p.webauthn.require_attestation);
        assert!(p.webauthn.allowed_aaguids.is_empty());
        assert!(p.webauthn_allowed(&[]));
        let mut p = MethodsPolicy::default();
        p.webauthn.allowed_aaguids = vec![g(1), g(1)];
        assert_eq!(p.validate(), Err(PolicyError::BadAaguidList));
        p.webauthn.allowed_aaguids = vec![Uuid::nil()];
        assert_eq!(p.validate(), Err(PolicyError::BadAaguidList));
        p.webauthn.allowed_aaguids = vec![g(1), g(2)];
        p.validate().unwrap();
        p.webauthn.users = Targets::Groups { groups: vec![] };
        assert_eq!(p.validate(), Err(PolicyError::EmptyGroups));
    }
}
