//! Request and response bodies of the JSON API.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use trustplane_core::audit::AuditEntry;
use trustplane_core::identity::{Group, User};
use trustplane_core::session::{ApiToken, Session};
use trustplane_core::signin::SignInEvent;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
pub struct MeView {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    /// Names of the groups the user belongs to.
    pub groups: Vec<String>,
    pub roles: Vec<String>,
    pub session_id: Uuid,
    /// RFC 8176 authentication method references of this session.
    pub amr: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    /// `enabled` or `disabled`.
    pub status: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        UserView {
            id: u.id,
            username: u.username,
            display_name: u.display_name,
            email: u.email,
            status: u.status.as_str().into(),
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct UserDetail {
    #[serde(flatten)]
    pub user: UserView,
    pub groups: Vec<GroupView>,
    pub roles: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub username: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    /// Initial password; omit to create a user who cannot sign in with a password yet.
    pub password: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub display_name: Option<String>,
    /// Empty string removes the email.
    pub email: Option<String>,
    /// `enabled` or `disabled`. Disabling revokes every session.
    pub status: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    pub password: String,
    /// Require the user to choose a new password at their next sign-in.
    #[serde(default)]
    pub must_change: bool,
}

#[derive(Serialize, ToSchema)]
pub struct GroupView {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<Group> for GroupView {
    fn from(g: Group) -> Self {
        GroupView {
            id: g.id,
            name: g.name,
            description: g.description,
            created_at: g.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    pub id: Uuid,
    pub user_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub last_seen_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<OffsetDateTime>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub amr: Vec<String>,
}

impl From<Session> for SessionView {
    fn from(s: Session) -> Self {
        SessionView {
            id: s.id,
            user_id: s.user_id,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.idle_expires_at.min(s.absolute_expires_at),
            revoked_at: s.revoked_at,
            ip: s.ip,
            user_agent: s.user_agent,
            amr: trustplane_core::authn::amr(&s.methods)
                .into_iter()
                .map(str::to_string)
                .collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SignInView {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    pub user_id: Option<Uuid>,
    pub username: String,
    /// `success`, `failure` or `interrupted`.
    pub result: String,
    pub failure_reason: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub correlation_id: String,
    pub methods: Vec<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<SignInEvent> for SignInView {
    fn from(e: SignInEvent) -> Self {
        SignInView {
            id: e.id,
            at: e.at,
            user_id: e.user_id,
            username: e.username,
            result: e.result.as_str().into(),
            failure_reason: e.failure_reason,
            ip: e.ip,
            user_agent: e.user_agent,
            correlation_id: e.correlation_id,
            methods: e.methods,
            details: e.details,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditView {
    pub seq: i64,
    /// Unix time in milliseconds.
    pub at_ms: i64,
    pub actor_id: String,
    pub actor_name: String,
    pub ip: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    pub prev_hash: String,
    pub hash: String,
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> Self {
        let parse = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
        AuditView {
            seq: e.seq,
            at_ms: e.at_ms,
            actor_id: e.actor_id,
            actor_name: e.actor_name,
            ip: e.ip,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            before: parse(e.before),
            after: parse(e.after),
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditVerifyView {
    pub intact: bool,
    pub entries_checked: u64,
    /// The first broken entry, when the chain is broken.
    pub first_broken_seq: Option<i64>,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenView {
    pub id: Uuid,
    pub name: String,
    pub role: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<OffsetDateTime>,
}

impl From<ApiToken> for TokenView {
    fn from(t: ApiToken) -> Self {
        TokenView {
            id: t.id,
            name: t.name,
            role: t.role.as_str().into(),
            created_at: t.created_at,
            expires_at: t.expires_at,
            created_by: t.created_by,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    pub role: String,
    /// Lifetime like `90d`, `12h`, `30m` (default 90d, at most 366d).
    pub expires_in: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub token: TokenView,
    /// The secret, shown this once. Send it as `Authorization: Bearer <token>`.
    pub secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct Changed {
    /// False when nothing needed to change (already a member, already revoked, …).
    pub changed: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Revoked {
    pub revoked: u64,
}
