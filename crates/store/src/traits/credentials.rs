//! Credentials: banned password terms, second factors (TOTP, email, WebAuthn), Temporary
//! Access Passes, one-time codes and required re-registration.

use crate::{LiveCode, NewCode, Result};
use async_trait::async_trait;
use time::OffsetDateTime;
use trustplane_core::audit::AuditDraft;
use trustplane_core::mfa::MfaMethod;
use trustplane_core::mfa::tap::TemporaryAccessPass;
use trustplane_core::mfa::webauthn::WebauthnCredential;
use uuid::Uuid;

/// An organisation-specific banned password term.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BannedTerm {
    /// Normalised matching form (unique).
    pub term: String,
    /// As the administrator typed it.
    pub display: String,
    #[serde(with = "time::serde::rfc3339")]
    pub added_at: OffsetDateTime,
    pub added_by: String,
}

/// Organisation-specific banned password terms.
#[async_trait]
pub trait BannedTermStore: Send + Sync {
    // --- password protection ---------------------------------------------------------------
    async fn list_banned_terms(&self) -> Result<Vec<BannedTerm>>;
    /// Adds terms (normalised form, display form); existing ones are left alone. Returns how
    /// many were new. One audit entry for the whole batch, in the same transaction.
    async fn add_banned_terms(
        &self,
        terms: &[(String, String)],
        added_by: &str,
        audit: AuditDraft,
    ) -> Result<u64>;
    async fn remove_banned_term(&self, term: &str, audit: AuditDraft) -> Result<bool>;
    /// A number that changes whenever the organisation banned terms change (for caches).
    async fn banned_terms_revision(&self) -> Result<i64>;
}

/// MFA methods (TOTP, email), recovery codes and the registration prompt.
#[async_trait]
pub trait MfaStore: Send + Sync {
    // --- second factors ---------------------------------------------------------------------
    /// Registers a method with its sealed secret, with its audit entry.
    async fn add_mfa_method(
        &self,
        m: &MfaMethod,
        secret_sealed: &str,
        audit: AuditDraft,
    ) -> Result<()>;
    /// The user's methods, oldest first (never their secrets).
    async fn list_mfa_methods(&self, user_id: Uuid) -> Result<Vec<MfaMethod>>;
    /// A method with its sealed secret.
    async fn mfa_secret(&self, id: Uuid) -> Result<Option<(MfaMethod, String)>>;
    /// Records a TOTP step as used, only if it is newer than the last one (atomic across
    /// instances): false means the code was already used.
    async fn use_totp_step(&self, id: Uuid, step: u64, at: OffsetDateTime) -> Result<bool>;
    async fn remove_mfa_method(&self, id: Uuid, audit: AuditDraft) -> Result<bool>;
    /// Renames one of the user's methods (audited); false when it is not theirs.
    async fn rename_mfa_method(
        &self,
        id: Uuid,
        user_id: Uuid,
        label: &str,
        audit: AuditDraft,
    ) -> Result<bool>;
    /// Replaces the user's recovery codes (SHA-256 hashes) with a new set (an empty set
    /// deletes them), with its audit entry.
    async fn replace_recovery_codes(
        &self,
        user_id: Uuid,
        hashes: &[String],
        at: OffsetDateTime,
        audit: AuditDraft,
    ) -> Result<()>;
    async fn unused_recovery_codes(&self, user_id: Uuid) -> Result<i64>;
    /// Marks a code used; false when it is unknown or already used (atomic).
    async fn use_recovery_code(
        &self,
        user_id: Uuid,
        code_hash: &str,
        at: OffsetDateTime,
    ) -> Result<bool>;
    /// Records the first time the user was asked to register a second factor (later calls
    /// keep the first time) and returns it.
    async fn registration_prompted(
        &self,
        user_id: Uuid,
        at: OffsetDateTime,
    ) -> Result<OffsetDateTime>;
}

/// WebAuthn credentials (security keys, passkeys) and ceremonies.
#[async_trait]
pub trait WebauthnStore: Send + Sync {
    // --- WebAuthn (security keys and passkeys) --------------------------------------------
    // They are listed among the user's methods by `list_mfa_methods` (kind `security_key` or
    // `passkey`) and removed by `remove_mfa_method`.
    /// Registers a credential (`passkey`: the webauthn-rs serialisation), with its audit
    /// entry. `Conflict` when the credential id is already registered (to anyone).
    async fn add_webauthn_credential(
        &self,
        c: &WebauthnCredential,
        passkey: &str,
        audit: AuditDraft,
    ) -> Result<()>;
    async fn list_webauthn_credentials(&self, user_id: Uuid) -> Result<Vec<WebauthnCredential>>;
    /// The user's credentials with their serialised keys, oldest first.
    async fn webauthn_keys(&self, user_id: Uuid) -> Result<Vec<(WebauthnCredential, String)>>;
    /// A credential by its authenticator-chosen id (base64url), with its serialised key.
    async fn webauthn_by_credential_id(
        &self,
        credential_id: &str,
    ) -> Result<Option<(WebauthnCredential, String)>>;
    /// Records a use: new counter, backup state and key, last used time, only if the stored
    /// counter is still `expected_count` (atomic); false otherwise.
    async fn record_webauthn_use(
        &self,
        id: Uuid,
        expected_count: u32,
        new_count: u32,
        backup_state: bool,
        passkey: &str,
        at: OffsetDateTime,
    ) -> Result<bool>;
    /// Renames one of the user's credentials, with its audit entry; false when not theirs.
    async fn rename_webauthn_credential(
        &self,
        id: Uuid,
        user_id: Uuid,
        label: &str,
        audit: AuditDraft,
    ) -> Result<bool>;
    /// Stores a ceremony in progress under `id_hash` (and sweeps expired ones).
    #[allow(clippy::too_many_arguments)]
    async fn save_webauthn_ceremony(
        &self,
        id_hash: &str,
        purpose: &str,
        binding: &str,
        user_id: Option<Uuid>,
        state: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<()>;
    /// Consumes a ceremony (single use): its user and state, when it exists with this purpose
    /// and binding and is unexpired.
    async fn take_webauthn_ceremony(
        &self,
        id_hash: &str,
        purpose: &str,
        binding: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(Option<Uuid>, String)>>;
}

/// Temporary Access Passes.
#[async_trait]
pub trait TapStore: Send + Sync {
    // --- Temporary Access Passes ----------------------------------------------------------
    /// Issues a pass (SHA-256 of it given), replacing the user's earlier one; audited.
    async fn issue_tap(
        &self,
        tap: &TemporaryAccessPass,
        pass_hash: &str,
        audit: AuditDraft,
    ) -> Result<()>;
    /// The user's pass (usable or not), without its hash.
    async fn tap_of(&self, user_id: Uuid) -> Result<Option<TemporaryAccessPass>>;
    /// Signs in with a pass: true when it matched, is unexpired and (one-time) unused (atomic).
    async fn use_tap(&self, user_id: Uuid, pass_hash: &str, now: OffsetDateTime) -> Result<bool>;
    /// Deletes the user's pass; false when there was none.
    async fn revoke_tap(&self, user_id: Uuid, audit: AuditDraft) -> Result<bool>;
}

/// One-time codes (email) and required re-registration.
#[async_trait]
pub trait CodeStore: Send + Sync {
    // --- one-time codes by email ----------------------------------------------------------
    /// Stores a code (its hash); earlier unused codes of the same ceremony stop working.
    async fn create_code(&self, code: &NewCode) -> Result<()>;
    /// Codes sent to a user since a time (sending rate limit).
    async fn codes_sent_since(&self, user_id: Uuid, since: OffsetDateTime) -> Result<u32>;
    /// The live code of a ceremony and purpose.
    async fn live_code(
        &self,
        bound_to: &str,
        purpose: trustplane_core::mfa::email::CodePurpose,
        now: OffsetDateTime,
    ) -> Result<Option<LiveCode>>;
    /// Marks a code used; true exactly once.
    async fn use_code(&self, id: Uuid, now: OffsetDateTime) -> Result<bool>;
    /// Counts a wrong guess (the code is void at `max_attempts`); returns the attempts so far.
    async fn fail_code(&self, id: Uuid, max_attempts: u32, now: OffsetDateTime) -> Result<u32>;
    // --- re-registration ------------------------------------------------------------------
    /// Removes every second factor and recovery code of the user, revokes their sessions and
    /// requires registration at the next sign-in; audited; returns the methods removed.
    async fn require_reregistration(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
        audit: AuditDraft,
    ) -> Result<u64>;
    /// Whether an administrator required the user to register again (cleared when they add a
    /// second factor).
    async fn reregistration_required(&self, user_id: Uuid) -> Result<bool>;
}
