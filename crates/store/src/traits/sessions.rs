//! Sessions, API tokens and sign-in flows in progress.

use crate::Result;
use async_trait::async_trait;
use time::OffsetDateTime;
use trustplane_core::audit::AuditDraft;
use trustplane_core::identity::User;
use trustplane_core::session::{ApiToken, Session};
use uuid::Uuid;

/// A session together with the user it belongs to, as the request path needs both.
#[derive(Debug, Clone)]
pub struct SessionWithUser {
    pub session: Session,
    pub user: User,
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
