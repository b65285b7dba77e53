//! Users, groups, roles and the first administrator.

use crate::Result;
use async_trait::async_trait;
use time::OffsetDateTime;
use trustplane_core::audit::AuditDraft;
use trustplane_core::identity::{Group, Role, User};
use uuid::Uuid;

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
    /// The ids of the groups a user belongs to (what policies and the methods policy match).
    async fn group_ids_of(&self, user_id: Uuid) -> Result<Vec<Uuid>> {
        Ok(self
            .groups_of(user_id)
            .await?
            .into_iter()
            .map(|g| g.id)
            .collect())
    }
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
