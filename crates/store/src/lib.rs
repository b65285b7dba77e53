//! Persistence behind the [`Store`] trait.
//!
//! One implementation, [`SqlStore`], runs on sqlx's runtime-selected `Any` driver, so SQLite
//! (the embedded default) and PostgreSQL share every query: the schema keeps both dialects in
//! step (text UUIDs, integer unix-millisecond times, `$n` placeholders, `ON CONFLICT`,
//! `RETURNING`), and there are no `if sqlite { … }` branches. Each backend has its own migration
//! folder. Every multi-row change runs in one transaction together with its audit entry.

mod access;
mod apps;
mod audit_archive;
mod chain;
pub mod changes;
mod codes;
mod devices;
mod health;
mod labels;
mod limits;
mod mfa;
mod oidc;
mod retention;
mod risk;
mod rows;
mod sql;
mod tap;
mod terms;
pub mod testing;
mod webauthn;

pub use access::PolicyVersion;
pub use apps::{Application, Route, SigningKey, longest_match, prefix_covers};
pub use audit_archive::ArchivePoint;
pub use changes::{Change, ChangeFeed, ChangeListener, EVENTS_CHANNEL};
pub use codes::{LiveCode, NewCode};
pub use devices::{DeviceAuthority, DeviceQuery};
pub use labels::{AuthenticationContext, SensitivityLabel};
pub use limits::{LimitStore, PendingKind};
pub use oidc::{
    CodeTake, DeviceCode, DeviceDecision, OidcClient, OidcCode, OidcRequest, OidcToken,
};
pub use retention::Expired;
pub use sql::SqlStore;

/// Every store trait, for `use trustplane_store::prelude::*;` where store methods are called.
pub mod prelude {
    pub use crate::{
        AccessPolicyStore, ApplicationStore, AuditStore, BannedTermStore, CodeStore, DeviceStore,
        FlowStore, IdentityStore, LabelStore, MfaStore, OidcStore, RetentionStore, RiskStore,
        SessionStore, SettingsStore, SignInLogStore, Store, TapStore, TermsStore, WebauthnStore,
    };
}
pub use terms::TermsOfUse;

use async_trait::async_trait;
use time::OffsetDateTime;
use trustplane_core::audit::{AuditDraft, AuditEntry, ChainError};
use trustplane_core::identity::{Group, Role, User};
use trustplane_core::mfa::MfaMethod;
use trustplane_core::mfa::tap::TemporaryAccessPass;
use trustplane_core::mfa::webauthn::WebauthnCredential;
use trustplane_core::risk::{DetectionState, RiskDetection};
use trustplane_core::session::{ApiToken, Session};
use trustplane_core::signin::{SignInEvent, SignInResult};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    InUse(&'static str),
    #[error(
        "the database was migrated by a newer trustplane (schema version {0} is unknown to this build); refusing to start"
    )]
    NewerSchema(i64),
    #[error("unsupported database URL `{0}`: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(String),
}

impl StoreError {
    /// Stable machine code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Conflict(_) => "conflict",
            StoreError::NotFound(_) => "not_found",
            StoreError::InUse(_) => "in_use",
            StoreError::NewerSchema(_) => "newer_schema",
            StoreError::UnsupportedUrl(_) => "unsupported_database_url",
            StoreError::Unavailable(_) => "database_unavailable",
            StoreError::Corrupt(_) => "corrupt_data",
            StoreError::Database(_) => "database_error",
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Credentials and status needed to check a sign-in.
#[derive(Debug, Clone)]
pub struct LoginRecord {
    pub user: User,
    pub password_hash: Option<String>,
    pub password_must_change: bool,
}

#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// Case-insensitive substring of login name, display name or email.
    pub search: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone, Default)]
pub struct SignInQuery {
    pub user_id: Option<Uuid>,
    /// Exact (case-insensitive) login name as typed.
    pub username: Option<String>,
    pub result: Option<SignInResult>,
    pub failure_reason: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    /// The application signed in to (`details.app`).
    pub app_id: Option<String>,
    /// Sign-in risk level (`details.sign_in_risk`): low, medium, high.
    pub sign_in_risk: Option<String>,
    /// Conditional access outcome (`details.conditional_access.outcome`): allow, block,
    /// requires.
    pub ca_outcome: Option<String>,
    /// A policy that applied (enabled or report-only).
    pub policy: Option<String>,
    pub limit: i64,
}

#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only entries with `seq < before_seq` (paging backwards from the newest).
    pub before_seq: Option<i64>,
    pub action: Option<String>,
    pub target_id: Option<String>,
    pub limit: i64,
}

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

/// A session together with the user it belongs to, as the request path needs both.
#[derive(Debug, Clone)]
pub struct SessionWithUser {
    pub session: Session,
    pub user: User,
}

/// The persistence interface of trustplane: one trait per aggregate, and [`Store`], which
/// is all of them. Every method that changes administrative state takes the audit entry to
/// append in the same transaction, and every committed change reaches the change feed
/// (see `changes.rs`).
#[async_trait]
pub trait Store:
    IdentityStore
    + SessionStore
    + FlowStore
    + RetentionStore
    + SignInLogStore
    + AuditStore
    + BannedTermStore
    + MfaStore
    + WebauthnStore
    + TapStore
    + CodeStore
    + SettingsStore
    + AccessPolicyStore
    + TermsStore
    + RiskStore
    + ApplicationStore
    + LabelStore
    + OidcStore
    + DeviceStore
    + Send
    + Sync
    + 'static
{
    fn backend(&self) -> Backend;
    /// Sign-in limits (failure counters, flow attempts, known browsers, pending rows).
    fn limits(&self) -> &dyn LimitStore;
    /// A trivial round-trip, for readiness checks.
    async fn ping(&self) -> Result<()>;
    /// A small committed write (a heartbeat row), for readiness: fails when the database
    /// cannot commit (full disk, read-only file system). Defaults to [`Store::ping`].
    async fn probe_write(&self) -> Result<()> {
        self.ping().await
    }
    /// Subscribes to committed changes (this process's own, other instances' and processes').
    fn subscribe_changes(&self, l: std::sync::Arc<dyn ChangeListener>);
    /// Starts delivering changes made elsewhere (once; inside the runtime).
    fn start_change_feed(&self);
}

/// Users, groups, roles and the first administrator.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    // --- users -----------------------------------------------------------------------------
    async fn create_user(
        &self,
        user: &User,
        password_hash: Option<&str>,
        roles: &[Role],
        audit: AuditDraft,
    ) -> Result<()>;
    async fn get_user(&self, id: Uuid) -> Result<Option<User>>;
    async fn find_user(&self, username: &str) -> Result<Option<User>>;
    async fn login_record(&self, username: &str) -> Result<Option<LoginRecord>>;
    async fn list_users(&self, q: &UserQuery) -> Result<Vec<User>>;
    async fn count_users(&self) -> Result<i64>;
    /// Writes display name, email, status and updated time.
    async fn update_user(&self, user: &User, audit: AuditDraft) -> Result<()>;
    async fn delete_user(&self, id: Uuid, audit: AuditDraft) -> Result<()>;
    /// Sets a new password hash. With an audit entry this is an administrative or self-service
    /// change (and `revoke_sessions_at` revokes every session of the user in the same
    /// transaction); without one it is the silent re-hash after a sign-in.
    async fn set_password_hash(
        &self,
        user_id: Uuid,
        hash: &str,
        must_change: bool,
        revoke_sessions_at: Option<OffsetDateTime>,
        audit: Option<AuditDraft>,
    ) -> Result<()>;
    // --- groups ----------------------------------------------------------------------------
    async fn create_group(&self, group: &Group, audit: AuditDraft) -> Result<()>;
    async fn get_group(&self, id: Uuid) -> Result<Option<Group>>;
    async fn find_group(&self, name: &str) -> Result<Option<Group>>;
    async fn list_groups(&self) -> Result<Vec<Group>>;
    async fn delete_group(&self, id: Uuid, audit: AuditDraft) -> Result<()>;
    /// Adds a member; `Ok(false)` if already a member (no audit entry then).
    async fn add_member(&self, group_id: Uuid, user_id: Uuid, audit: AuditDraft) -> Result<bool>;
    async fn remove_member(&self, group_id: Uuid, user_id: Uuid, audit: AuditDraft)
    -> Result<bool>;
    async fn group_members(&self, group_id: Uuid) -> Result<Vec<User>>;
    async fn groups_of(&self, user_id: Uuid) -> Result<Vec<Group>>;
    // --- roles -----------------------------------------------------------------------------
    async fn assign_role(&self, user_id: Uuid, role: Role, audit: AuditDraft) -> Result<bool>;
    async fn unassign_role(&self, user_id: Uuid, role: Role, audit: AuditDraft) -> Result<bool>;
    async fn roles_of(&self, user_id: Uuid) -> Result<Vec<Role>>;
    async fn role_holders(&self, role: Role) -> Result<Vec<User>>;
    // --- bootstrap -------------------------------------------------------------------------
    /// Replaces any earlier bootstrap token with this one.
    async fn set_bootstrap_token(
        &self,
        secret_hash: &str,
        expires_at: OffsetDateTime,
    ) -> Result<()>;
    /// Whether a bootstrap token with this hash exists and is unexpired.
    async fn bootstrap_token_valid(&self, secret_hash: &str, now: OffsetDateTime) -> Result<bool>;
    /// Creates the first administrator with the bootstrap token, atomically consuming the
    /// token. Fails with `NotFound("bootstrap token")` when it is invalid, expired or used.
    async fn bootstrap_admin(
        &self,
        secret_hash: &str,
        now: OffsetDateTime,
        user: &User,
        password_hash: &str,
        audit: AuditDraft,
    ) -> Result<()>;
}

/// Sessions and API tokens.
#[async_trait]
pub trait SessionStore: Send + Sync {
    // --- sessions --------------------------------------------------------------------------
    async fn create_session(&self, session: &Session, secret_hash: &str) -> Result<()>;
    async fn session_by_secret(&self, secret_hash: &str) -> Result<Option<SessionWithUser>>;
    async fn get_session(&self, id: Uuid) -> Result<Option<Session>>;
    async fn touch_session(
        &self,
        id: Uuid,
        last_seen: OffsetDateTime,
        idle_expires: OffsetDateTime,
    ) -> Result<()>;
    /// Replaces the methods of a live session after a step-up (audited): `Ok(false)` when
    /// it is revoked or does not exist.
    async fn step_up_session(
        &self,
        id: Uuid,
        methods: &[trustplane_core::authn::MethodUse],
        audit: AuditDraft,
    ) -> Result<bool>;
    /// Revokes one session; `Ok(false)` if it was already revoked or does not exist.
    async fn revoke_session(
        &self,
        id: Uuid,
        at: OffsetDateTime,
        audit: Option<AuditDraft>,
    ) -> Result<bool>;
    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        at: OffsetDateTime,
        audit: Option<AuditDraft>,
    ) -> Result<u64>;
    /// Sessions of one user, or of everyone, newest first; `active_at` keeps only those still
    /// valid at that time.
    async fn list_sessions(
        &self,
        user_id: Option<Uuid>,
        active_at: Option<OffsetDateTime>,
        limit: i64,
    ) -> Result<Vec<Session>>;
    // --- API tokens ------------------------------------------------------------------------
    async fn create_api_token(
        &self,
        token: &ApiToken,
        secret_hash: &str,
        audit: AuditDraft,
    ) -> Result<()>;
    async fn api_token_by_secret(&self, secret_hash: &str) -> Result<Option<ApiToken>>;
    async fn list_api_tokens(&self) -> Result<Vec<ApiToken>>;
    async fn revoke_api_token(
        &self,
        id: Uuid,
        at: OffsetDateTime,
        audit: AuditDraft,
    ) -> Result<bool>;
    async fn touch_api_token(&self, id: Uuid, at: OffsetDateTime) -> Result<()>;
}

/// Saved sign-in flows (sealed by the server).
#[async_trait]
pub trait FlowStore: Send + Sync {
    // --- login flows in progress ----------------------------------------------------------
    /// Creates or replaces the flow stored under `id_hash` (the SHA-256 of its cookie), and
    /// sweeps expired flows.
    async fn save_login_flow(
        &self,
        id_hash: &str,
        user_id: Option<Uuid>,
        data: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<()>;
    /// The flow's data, unless it is missing or expired.
    async fn load_login_flow(&self, id_hash: &str, now: OffsetDateTime) -> Result<Option<String>>;
    /// Deletes the flow; true when it existed (so that only one request can finish it).
    async fn delete_login_flow(&self, id_hash: &str) -> Result<bool>;
}

/// Removal of expired rows in small batches.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Deletes at most `limit` rows of `what` that expired (were revoked, were written, for
    /// the sign-in log) before `before`; the number deleted. Retention calls it in small
    /// batches.
    async fn purge_expired(&self, what: Expired, before: OffsetDateTime, limit: u32)
    -> Result<u64>;
}

/// The sign-in log.
#[async_trait]
pub trait SignInLogStore: Send + Sync {
    // --- sign-in log -----------------------------------------------------------------------
    async fn record_sign_in(&self, event: &SignInEvent) -> Result<()>;
    async fn list_sign_ins(&self, q: &SignInQuery) -> Result<Vec<SignInEvent>>;
    async fn get_sign_in(&self, id: Uuid) -> Result<Option<SignInEvent>>;
}

/// The keyed, hash-chained audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    // --- audit log -------------------------------------------------------------------------
    async fn append_audit(&self, draft: AuditDraft) -> Result<AuditEntry>;
    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>>;
    /// Walks the whole chain in order; `Ok(Err(_))` names the first broken entry.
    async fn verify_audit(&self) -> Result<std::result::Result<u64, ChainError>>;
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

/// Named settings (values changed with an audit entry).
#[async_trait]
pub trait SettingsStore: Send + Sync {
    // --- settings documents ---------------------------------------------------------------
    async fn get_setting(&self, name: &str) -> Result<Option<String>>;
    /// Creates or replaces a setting, with its audit entry, in one transaction.
    async fn put_setting(&self, name: &str, value: &str, audit: AuditDraft) -> Result<()>;
}

/// Conditional access policy versions.
#[async_trait]
pub trait AccessPolicyStore: Send + Sync {
    // --- conditional access -----------------------------------------------------------------
    /// The policy set in force (the newest version).
    async fn current_policy_version(&self) -> Result<Option<PolicyVersion>>;
    async fn policy_version(&self, version: i64) -> Result<Option<PolicyVersion>>;
    /// Newest first.
    async fn list_policy_versions(&self, limit: i64) -> Result<Vec<PolicyVersion>>;
    /// Saves a new version on top of `based_on` (0: none yet) with its audit entry, in one
    /// transaction; `Conflict` when `based_on` is not the newest version (optimistic
    /// concurrency: nobody overwrites a change they have not seen).
    async fn save_policy_version(
        &self,
        based_on: i64,
        document: &str,
        created_by: &str,
        comment: &str,
        now: OffsetDateTime,
        audit: AuditDraft,
    ) -> Result<PolicyVersion>;
}

/// Terms of use and their acceptance.
#[async_trait]
pub trait TermsStore: Send + Sync {
    // --- terms of use ---------------------------------------------------------------------
    /// `Conflict` when the id is taken.
    async fn create_terms(&self, t: &TermsOfUse, audit: AuditDraft) -> Result<()>;
    async fn list_terms(&self) -> Result<Vec<TermsOfUse>>;
    async fn get_terms(&self, id: &str) -> Result<Option<TermsOfUse>>;
    /// Removes the terms and every acceptance of them; false when there were none.
    async fn delete_terms(&self, id: &str, audit: AuditDraft) -> Result<bool>;
    /// Records that the user accepted (idempotent); `NotFound` for unknown terms.
    async fn accept_terms(&self, user_id: Uuid, terms_id: &str, at: OffsetDateTime) -> Result<()>;
    async fn accepted_terms(&self, user_id: Uuid) -> Result<Vec<String>>;
}

/// Risk detections.
#[async_trait]
pub trait RiskStore: Send + Sync {
    // --- risk detections ------------------------------------------------------------------
    async fn record_risk_detection(&self, d: &RiskDetection) -> Result<()>;
    /// Newest first; filtered by user and state when given.
    async fn list_risk_detections(
        &self,
        user_id: Option<Uuid>,
        state: Option<DetectionState>,
        limit: i64,
    ) -> Result<Vec<RiskDetection>>;
    async fn get_risk_detection(&self, id: Uuid) -> Result<Option<RiskDetection>>;
    /// Closes an active detection (dismissed by an admin, or remediated), with its audit entry.
    /// False when it does not exist or is no longer active.
    async fn close_risk_detection(
        &self,
        id: Uuid,
        to: DetectionState,
        at: OffsetDateTime,
        audit: AuditDraft,
    ) -> Result<bool>;
}

/// Applications, routes and signing keys.
#[async_trait]
pub trait ApplicationStore: Send + Sync {
    // --- applications (forward-auth) -------------------------------------------------------
    /// `Conflict` when the id is taken. Audited in the same transaction.
    async fn create_application(&self, app: &Application, audit: AuditDraft) -> Result<()>;
    async fn get_application(&self, id: &str) -> Result<Option<Application>>;
    /// Ordered by id.
    async fn list_applications(&self) -> Result<Vec<Application>>;
    /// Deletes the application and its routes; false when it did not exist.
    async fn delete_application(&self, id: &str, audit: AuditDraft) -> Result<bool>;
    /// `NotFound` without the application, `Conflict` when host and prefix are taken.
    async fn add_route(&self, route: &Route, audit: AuditDraft) -> Result<()>;
    /// False when the application has no such route.
    async fn remove_route(&self, app_id: &str, route_id: Uuid, audit: AuditDraft) -> Result<bool>;
    /// Every route (`None`) or one application's, ordered by host and prefix.
    async fn list_routes(&self, app_id: Option<&str>) -> Result<Vec<Route>>;
    /// The route of `host` (exact, lowercase) with the longest prefix covering `path`.
    async fn find_route(&self, host: &str, path: &str) -> Result<Option<Route>>;
    // --- signing keys -----------------------------------------------------------------------
    async fn add_signing_key(&self, key: &SigningKey, audit: AuditDraft) -> Result<()>;
    /// Keys not retired, newest first.
    async fn active_signing_keys(&self) -> Result<Vec<SigningKey>>;
    /// Keys still published at `now` (not retired, or retired later than `now`), newest first.
    async fn published_signing_keys(&self, now: OffsetDateTime) -> Result<Vec<SigningKey>>;
    /// Sets when a superseded key stops being published (audited); false when unknown or
    /// already retired.
    async fn retire_signing_key(
        &self,
        kid: &str,
        at: OffsetDateTime,
        audit: AuditDraft,
    ) -> Result<bool>;
}

/// Authentication contexts and sensitivity labels.
#[async_trait]
pub trait LabelStore: Send + Sync {
    // --- information protection -----------------------------------------------------------
    async fn put_authentication_context(
        &self,
        c: &AuthenticationContext,
        audit: AuditDraft,
    ) -> Result<()>;
    async fn list_authentication_contexts(&self) -> Result<Vec<AuthenticationContext>>;
    /// False when it did not exist; `InUse` while a label maps to it.
    async fn delete_authentication_context(&self, id: &str, audit: AuditDraft) -> Result<bool>;
    /// `Conflict` when another label has the rank; `NotFound` for an unknown context.
    async fn put_sensitivity_label(&self, l: &SensitivityLabel, audit: AuditDraft) -> Result<()>;
    /// Least sensitive first.
    async fn list_sensitivity_labels(&self) -> Result<Vec<SensitivityLabel>>;
    /// False when it did not exist; `InUse` while an application or route carries it.
    async fn delete_sensitivity_label(&self, id: &str, audit: AuditDraft) -> Result<bool>;
    /// Labels an application (`route: None`) or one of its routes; `None` clears. False when
    /// the application or route does not exist; `NotFound` for an unknown label.
    async fn set_sensitivity_label(
        &self,
        app_id: &str,
        route: Option<Uuid>,
        label: Option<&str>,
        audit: AuditDraft,
    ) -> Result<bool>;
}

/// OpenID Connect clients, requests, codes, tokens and device codes.
#[async_trait]
pub trait OidcStore: Send + Sync {
    // --- OpenID Connect provider ------------------------------------------------------------
    /// `NotFound` without the application, `Conflict` when the id is taken. Audited.
    async fn create_oidc_client(&self, client: &OidcClient, audit: AuditDraft) -> Result<()>;
    /// Replaces the client's fields (not its id or creation time); `NotFound`. Audited.
    async fn update_oidc_client(&self, client: &OidcClient, audit: AuditDraft) -> Result<()>;
    async fn get_oidc_client(&self, id: &str) -> Result<Option<OidcClient>>;
    /// Ordered by id.
    async fn list_oidc_clients(&self) -> Result<Vec<OidcClient>>;
    /// Deletes the client and everything issued to it; false when it did not exist.
    async fn delete_oidc_client(&self, id: &str, audit: AuditDraft) -> Result<bool>;
    async fn save_oidc_request(&self, request: &OidcRequest) -> Result<()>;
    /// The pending request unless expired.
    async fn load_oidc_request(&self, id: &str, now: OffsetDateTime)
    -> Result<Option<OidcRequest>>;
    async fn delete_oidc_request(&self, id: &str, now: OffsetDateTime) -> Result<bool>;
    async fn create_oidc_code(&self, code: &OidcCode) -> Result<()>;
    /// Spends a code: `Fresh` the first time, `Reused` after.
    async fn take_oidc_code(&self, hash: &str, now: OffsetDateTime) -> Result<CodeTake>;
    async fn create_oidc_token(&self, token: &OidcToken) -> Result<()>;
    /// Many tokens in one transaction (the access-token write-behind); tokens whose client
    /// or user is gone are skipped, tokens already stored are kept as they are.
    async fn create_oidc_tokens(&self, tokens: &[OidcToken]) -> Result<()>;
    async fn oidc_token(&self, hash: &str) -> Result<Option<OidcToken>>;
    /// Spends a live refresh token; false when used, revoked or expired.
    async fn use_refresh_token(&self, hash: &str, now: OffsetDateTime) -> Result<bool>;
    async fn revoke_oidc_token(&self, hash: &str, now: OffsetDateTime) -> Result<bool>;
    /// Revokes every token issued from one grant; the number revoked.
    async fn revoke_oidc_grant(&self, grant_id: Uuid, now: OffsetDateTime) -> Result<u64>;
    async fn create_device_code(&self, device: &DeviceCode) -> Result<()>;
    async fn device_code(&self, hash: &str) -> Result<Option<DeviceCode>>;
    async fn device_by_user_code(&self, user_code: &str) -> Result<Option<DeviceCode>>;
    /// Approves or denies a pending, unexpired device code; false otherwise.
    async fn decide_device_code(
        &self,
        hash: &str,
        decision: DeviceDecision,
        now: OffsetDateTime,
    ) -> Result<bool>;
    /// Records a poll and returns the previous poll time.
    async fn poll_device_code(
        &self,
        hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>>;
    /// Spends an approved device code; false when it was not approved (or already used).
    async fn use_device_code(&self, hash: &str) -> Result<bool>;
}

/// Opens a store for `url` (`sqlite://PATH` or `postgres://…`), creating the SQLite file if
/// needed, and applies pending migrations.
pub async fn open(url: &str) -> Result<SqlStore> {
    SqlStore::connect(url).await
}

/// Registered devices (see `devices.rs`).
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Registers a device; `Conflict` when its certificate fingerprint is known,
    /// `NotFound("user")` when the owner does not exist.
    async fn create_device(
        &self,
        device: &trustplane_core::device::Device,
        audit: AuditDraft,
    ) -> Result<()>;
    async fn get_device(&self, id: Uuid) -> Result<Option<trustplane_core::device::Device>>;
    /// The device whose current certificate has this fingerprint (lowercase hex SHA-256).
    async fn device_by_fingerprint(
        &self,
        fingerprint: &str,
    ) -> Result<Option<trustplane_core::device::Device>>;
    async fn list_devices(&self, q: &DeviceQuery) -> Result<Vec<trustplane_core::device::Device>>;
    /// Enables or disables; false when it was already in that state or does not exist.
    async fn set_device_state(
        &self,
        id: Uuid,
        state: trustplane_core::device::DeviceState,
        audit: AuditDraft,
    ) -> Result<bool>;
    async fn delete_device(&self, id: Uuid, audit: AuditDraft) -> Result<bool>;
    /// Records that the device was seen (never moves backwards).
    async fn touch_device(&self, id: Uuid, at: OffsetDateTime) -> Result<()>;
    /// Replaces an enabled device's certificate (renewal); false when disabled or unknown.
    async fn renew_device_certificate(
        &self,
        id: Uuid,
        renewed: &trustplane_core::device::Device,
        audit: AuditDraft,
    ) -> Result<bool>;
    /// Marks an enabled device registered or managed (enrollment); false when unchanged.
    async fn set_device_trust(
        &self,
        id: Uuid,
        trust: trustplane_core::access::TrustType,
        audit: AuditDraft,
    ) -> Result<bool>;
    /// The installation's device CA, if created.
    async fn device_authority(&self) -> Result<Option<DeviceAuthority>>;
    /// Stores `ca` unless one exists (several instances may start at once) and returns the
    /// one that is stored.
    async fn init_device_authority(
        &self,
        ca: &DeviceAuthority,
        audit: AuditDraft,
    ) -> Result<DeviceAuthority>;
    /// Records the server's judgement of the device (with the report it judged, when one
    /// came: its time and the posture as JSON); announces a device change.
    async fn set_device_compliance(
        &self,
        id: Uuid,
        compliance: &trustplane_core::device::ComplianceState,
        machine_risk: trustplane_core::device::MachineRisk,
        report: Option<(OffsetDateTime, &str)>,
    ) -> Result<bool>;
    /// The latest posture report of a device as the server stored it (JSON).
    async fn device_posture(&self, id: Uuid) -> Result<Option<String>>;
}
