//! Applications and their routes and signing keys, sensitivity labels, and the OpenID
//! Connect provider.

use crate::{
    Application, AuthenticationContext, CodeTake, DeviceCode, DeviceDecision, OidcClient, OidcCode,
    OidcRequest, OidcToken, Result, Route, SensitivityLabel, SigningKey,
};
use async_trait::async_trait;
use time::OffsetDateTime;
use trustplane_core::audit::AuditDraft;
use uuid::Uuid;

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
