//! Row types as both backends return them (text, i64) and their conversion to domain types.

use crate::{Result, StoreError};
use time::OffsetDateTime;
use trustplane_core::audit::AuditEntry;
use trustplane_core::identity::{Group, Role, User, UserStatus};
use trustplane_core::session::{ApiToken, Session};
use trustplane_core::signin::{SignInEvent, SignInResult};
use uuid::Uuid;

pub fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub fn from_ms(v: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(v) * 1_000_000)
        .map_err(|e| StoreError::Corrupt(format!("timestamp {v}: {e}")))
}

fn opt_ms(v: Option<i64>) -> Result<Option<OffsetDateTime>> {
    v.map(from_ms).transpose()
}

pub fn uuid(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|e| StoreError::Corrupt(format!("id {s:?}: {e}")))
}

fn json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub fn role(s: &str) -> Result<Role> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("role {s:?}")))
}

pub const USER_COLS: &str = "id, username, display_name, email, status, created_at, updated_at";

#[derive(sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self> {
        Ok(User {
            id: uuid(&r.id)?,
            username: r.username,
            display_name: r.display_name,
            email: r.email,
            status: UserStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("user status {:?}", r.status)))?,
            created_at: from_ms(r.created_at)?,
            updated_at: from_ms(r.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct LoginRow {
    #[sqlx(flatten)]
    pub user: UserRow,
    pub password_hash: Option<String>,
    pub password_must_change: i64,
}

pub const GROUP_COLS: &str = "id, name, description, created_at";

#[derive(sqlx::FromRow)]
pub struct GroupRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created_at: i64,
}

impl TryFrom<GroupRow> for Group {
    type Error = StoreError;
    fn try_from(r: GroupRow) -> Result<Self> {
        Ok(Group {
            id: uuid(&r.id)?,
            name: r.name,
            description: r.description,
            created_at: from_ms(r.created_at)?,
        })
    }
}

pub const SESSION_COLS: &str = "s.id AS s_id, s.user_id AS s_user_id, s.created_at AS s_created_at, \
     s.last_seen_at AS s_last_seen_at, s.idle_expires_at AS s_idle_expires_at, \
     s.absolute_expires_at AS s_absolute_expires_at, s.revoked_at AS s_revoked_at, \
     s.ip AS s_ip, s.user_agent AS s_user_agent, s.methods AS s_methods";

#[derive(sqlx::FromRow)]
pub struct SessionRow {
    pub s_id: String,
    pub s_user_id: String,
    pub s_created_at: i64,
    pub s_last_seen_at: i64,
    pub s_idle_expires_at: i64,
    pub s_absolute_expires_at: i64,
    pub s_revoked_at: Option<i64>,
    pub s_ip: Option<String>,
    pub s_user_agent: Option<String>,
    pub s_methods: String,
}

impl TryFrom<SessionRow> for Session {
    type Error = StoreError;
    fn try_from(r: SessionRow) -> Result<Self> {
        Ok(Session {
            id: uuid(&r.s_id)?,
            user_id: uuid(&r.s_user_id)?,
            created_at: from_ms(r.s_created_at)?,
            last_seen_at: from_ms(r.s_last_seen_at)?,
            idle_expires_at: from_ms(r.s_idle_expires_at)?,
            absolute_expires_at: from_ms(r.s_absolute_expires_at)?,
            revoked_at: opt_ms(r.s_revoked_at)?,
            ip: r.s_ip,
            user_agent: r.s_user_agent,
            methods: json("session methods", &r.s_methods)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct SessionUserRow {
    #[sqlx(flatten)]
    pub session: SessionRow,
    #[sqlx(flatten)]
    pub user: UserRow,
}

pub const TOKEN_COLS: &str =
    "id, name, role, created_at, expires_at, created_by, last_used_at, revoked_at";

#[derive(sqlx::FromRow)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub created_by: String,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl TryFrom<TokenRow> for ApiToken {
    type Error = StoreError;
    fn try_from(r: TokenRow) -> Result<Self> {
        Ok(ApiToken {
            id: uuid(&r.id)?,
            name: r.name,
            role: role(&r.role)?,
            created_at: from_ms(r.created_at)?,
            expires_at: from_ms(r.expires_at)?,
            created_by: r.created_by,
            last_used_at: opt_ms(r.last_used_at)?,
            revoked_at: opt_ms(r.revoked_at)?,
        })
    }
}

pub const SIGN_IN_COLS: &str = "id, at, user_id, username, result, failure_reason, ip, user_agent, correlation_id, methods, details";

#[derive(sqlx::FromRow)]
pub struct SignInRow {
    pub id: String,
    pub at: i64,
    pub user_id: Option<String>,
    pub username: String,
    pub result: String,
    pub failure_reason: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub correlation_id: String,
    pub methods: String,
    pub details: String,
}

impl TryFrom<SignInRow> for SignInEvent {
    type Error = StoreError;
    fn try_from(r: SignInRow) -> Result<Self> {
        Ok(SignInEvent {
            id: uuid(&r.id)?,
            at: from_ms(r.at)?,
            user_id: r.user_id.as_deref().map(uuid).transpose()?,
            username: r.username,
            result: SignInResult::parse(&r.result)
                .ok_or_else(|| StoreError::Corrupt(format!("sign-in result {:?}", r.result)))?,
            failure_reason: r.failure_reason,
            ip: r.ip,
            user_agent: r.user_agent,
            correlation_id: r.correlation_id,
            methods: json("sign-in methods", &r.methods)?,
            details: json("sign-in details", &r.details)?,
        })
    }
}

pub const AUDIT_COLS: &str = "seq, at, actor_id, actor_name, ip, action, target_type, target_id, before_json, after_json, prev_hash, hash";

#[derive(sqlx::FromRow)]
pub struct AuditRow {
    pub seq: i64,
    pub at: i64,
    pub actor_id: String,
    pub actor_name: String,
    pub ip: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            seq: r.seq,
            at_ms: r.at,
            actor_id: r.actor_id,
            actor_name: r.actor_name,
            ip: r.ip,
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            before: r.before_json,
            after: r.after_json,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

pub fn convert<R, T: TryFrom<R, Error = StoreError>>(rows: Vec<R>) -> Result<Vec<T>> {
    rows.into_iter().map(T::try_from).collect()
}
