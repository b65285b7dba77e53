//! WebAuthn credentials (FIDO2 security keys and passkeys): what is known about a registered
//! credential, the policy that decides who may register which authenticators, and how a use
//! of one is reported (RFC 8176 `hwk` / `swk` / `user`). The ceremonies themselves (challenge,
//! signature, attestation, CBOR) are done by the `webauthn-rs` crate at the edge; this module
//! only holds the pure decisions.

use super::MfaKind;
use super::policy::Targets;
use crate::authn::AuthMethod;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Most AAGUIDs an allow-list may hold.
pub const MAX_ALLOWED_AAGUIDS: usize = 200;
/// Longest user-chosen name of a credential, in characters.
pub const MAX_LABEL_CHARS: usize = 64;

/// The `webauthn` part of the authentication methods policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebauthnSetting {
    /// Who may register and use security keys and passkeys.
    pub users: Targets,
    /// Refuse authenticators that present no vendor attestation (a certificate chain).
    pub require_attestation: bool,
    /// Only these authenticator models (AAGUIDs) may be registered; empty means any.
    pub allowed_aaguids: Vec<Uuid>,
}

impl Default for WebauthnSetting {
    /// Everyone, any authenticator, attestation not required (policies saved before WebAuthn
    /// existed read as this).
    fn default() -> Self {
        WebauthnSetting {
            users: Targets::All,
            require_attestation: false,
            allowed_aaguids: Vec::new(),
        }
    }
}

/// Why a registration is refused by the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationRefusal {
    #[error("Your organisation does not allow security keys or passkeys for your account.")]
    NotAllowed,
    #[error(
        "Your organisation only accepts security keys that prove their make and model (attestation). This authenticator did not; use an approved security key."
    )]
    AttestationRequired,
    #[error(
        "Your organisation does not allow this model of security key or passkey. Use one of the approved models."
    )]
    ModelNotAllowed,
}

impl RegistrationRefusal {
    pub fn code(self) -> &'static str {
        match self {
            RegistrationRefusal::NotAllowed => "webauthn_not_allowed",
            RegistrationRefusal::AttestationRequired => "attestation_required",
            RegistrationRefusal::ModelNotAllowed => "aaguid_not_allowed",
        }
    }
}

impl WebauthnSetting {
    /// Whether an authenticator of model `aaguid` (`None` or nil when it did not say), with
    /// (`attested`) or without a vendor attestation, may be registered by a user in
    /// `member_of`.
    pub fn check_registration(
        &self,
        member_of: &[Uuid],
        attested: bool,
        aaguid: Option<Uuid>,
    ) -> Result<(), RegistrationRefusal> {
        if !self.users.applies(member_of) {
            return Err(RegistrationRefusal::NotAllowed);
        }
        if self.require_attestation && !attested {
            return Err(RegistrationRefusal::AttestationRequired);
        }
        if !self.allowed_aaguids.is_empty() {
            // An unattested AAGUID is only the authenticator's claim; an allow-list is still
            // honoured as a filter (combine with require_attestation to make it binding).
            match aaguid {
                Some(a) if !a.is_nil() && self.allowed_aaguids.contains(&a) => {}
                _ => return Err(RegistrationRefusal::ModelNotAllowed),
            }
        }
        Ok(())
    }
}

/// A registered WebAuthn credential (its public key material stays in the store as the
/// `webauthn-rs` serialisation; this is what the rest of the system reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebauthnCredential {
    pub id: Uuid,
    pub user_id: Uuid,
    /// The credential id chosen by the authenticator, base64url without padding.
    pub credential_id: String,
    pub label: String,
    /// The authenticator model, when it said (nil AAGUIDs are stored as `None`).
    pub aaguid: Option<Uuid>,
    /// Backup eligible: a synced passkey. Otherwise device-bound.
    pub backup_eligible: bool,
    /// Backed up at the last use.
    pub backup_state: bool,
    /// The authenticator verified the user (PIN, biometric) at registration.
    pub user_verified: bool,
    /// Attestation statement format (`packed`, `tpm`, `none`, …).
    pub attestation_format: String,
    /// A vendor attestation certificate was presented (not just self attestation).
    pub attested: bool,
    pub sign_count: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

impl WebauthnCredential {
    pub fn kind(&self) -> MfaKind {
        if self.backup_eligible {
            MfaKind::Passkey
        } else {
            MfaKind::SecurityKey
        }
    }

    /// "Device-bound" or "Synced".
    pub fn binding(&self) -> &'static str {
        if self.backup_eligible {
            "synced"
        } else {
            "device-bound"
        }
    }

    /// The method a use of this credential counts as.
    pub fn auth_method(&self, user_verified: bool) -> AuthMethod {
        AuthMethod::Webauthn {
            synced: self.backup_eligible,
            user_verified,
        }
    }
}

/// A user-typed label, cleaned: trimmed, control characters dropped, at most
/// [`MAX_LABEL_CHARS`]; `default` when nothing is left.
pub fn clean_label(typed: &str, default: &str) -> String {
    let l: String = typed
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_LABEL_CHARS)
        .collect();
    let l = l.trim();
    if l.is_empty() {
        default.to_string()
    } else {
        l.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const YUBI: Uuid = Uuid::from_u128(0xcb69481e_8ff7_4039_93ec_0a2729a154a8);

    fn cred(backup_eligible: bool) -> WebauthnCredential {
        WebauthnCredential {
            id: Uuid::from_u128(1),
            user_id: Uuid::from_u128(2),
            credential_id: "abc".into(),
            label: "Key".into(),
            aaguid: Some(YUBI),
            backup_eligible,
            backup_state: backup_eligible,
            user_verified: true,
            attestation_format: "packed".into(),
            attested: true,
            sign_count: 0,
            created_at: datetime!(2026-11-25 10:00 UTC),
            last_used_at: None,
        }
    }

    #[test]
    fn default_allows_everyone_and_any_authenticator() {
        let s = WebauthnSetting::default();
        assert_eq!(s.check_registration(&[], false, None), Ok(()));
        assert_eq!(s.check_registration(&[], true, Some(YUBI)), Ok(()));
    }

    #[test]
    fn attestation_and_model_rules() {
        let s = WebauthnSetting {
            require_attestation: true,
            ..WebauthnSetting::default()
        };
        assert_eq!(
            s.check_registration(&[], false, Some(YUBI)),
            Err(RegistrationRefusal::AttestationRequired)
        );
        assert_eq!(s.check_registration(&[], true, Some(YUBI)), Ok(()));
        let s = WebauthnSetting {
            allowed_aaguids: vec![YUBI],
            ..WebauthnSetting::default()
        };
        assert_eq!(s.check_registration(&[], true, Some(YUBI)), Ok(()));
        for other in [None, Some(Uuid::nil()), Some(Uuid::from_u128(7))] {
            assert_eq!(
                s.check_registration(&[], true, other),
                Err(RegistrationRefusal::ModelNotAllowed),
                "{other:?}"
            );
        }
        let g = Uuid::from_u128(9);
        let s = WebauthnSetting {
            users: Targets::Groups { groups: vec![g] },
            ..WebauthnSetting::default()
        };
        assert_eq!(
            s.check_registration(&[], true, None),
            Err(RegistrationRefusal::NotAllowed)
        );
        assert_eq!(s.check_registration(&[g], true, None), Ok(()));
    }

    #[test]
    fn kind_and_amr_follow_backup_eligibility() {
        let c = cred(false);
        assert_eq!(c.kind(), MfaKind::SecurityKey);
        assert_eq!(c.auth_method(true).amr(), "hwk");
        let c = cred(true);
        assert_eq!(c.kind(), MfaKind::Passkey);
        assert_eq!(c.binding(), "synced");
        assert_eq!(c.auth_method(false).amr(), "swk");
        assert!(c.auth_method(true).user_verified());
    }

    #[test]
    fn labels_are_cleaned() {
        assert_eq!(clean_label("  My key\u{7}  ", "Security key"), "My key");
        assert_eq!(clean_label("   ", "Security key"), "Security key");
        assert_eq!(clean_label(&"x".repeat(100), "d").chars().count(), 64);
    }

    #[test]
    fn setting_json_defaults() {
        let s: WebauthnSetting = serde_json::from_str("{}").unwrap();
        assert_eq!(s, WebauthnSetting::default());
        let s: WebauthnSetting = serde_json::from_value(serde_json::json!({
            "users": {"mode": "none"}, "require_attestation": true,
            "allowed_aaguids": [YUBI]
        }))
        .unwrap();
        assert!(s.require_attestation);
        assert_eq!(s.allowed_aaguids, vec![YUBI]);
        assert!(serde_json::from_str::<WebauthnSetting>(r#"{"bogus": 1}"#).is_err());
    }
}
