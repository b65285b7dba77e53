//! Admin API: users, groups, roles, sessions, logs and API tokens. Each handler names the one
//! permission it needs; the work itself is done by [`Ops`], shared with the console and CLI.

use crate::api::JsonBody;
use crate::api::types::*;
use crate::edge::api_input::{Path, Query};
use crate::edge::auth::ApiCaller;
use crate::edge::error::{AppError, ErrorBody};
use crate::ops::{NewUser, Ops, parse_lifetime};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use trustplane_core::identity::{Permission, Role, UserStatus};
use trustplane_core::signin::SignInResult;
use trustplane_store::{AuditQuery, SignInQuery, UserQuery};
use utoipa::IntoParams;
use uuid::Uuid;

fn ops(state: &AppState) -> Ops {
    state.ops()
}

fn parse_role(s: &str) -> Result<Role, AppError> {
    s.parse::<Role>().map_err(AppError::from)
}

#[derive(Deserialize, IntoParams)]
pub struct ListUsersQuery {
    /// Case-insensitive substring of login name, display name or email.
    search: Option<String>,
    /// 1..=1000, default 100.
    limit: Option<i64>,
    offset: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/users", tag = "admin", params(ListUsersQuery),
    responses((status = 200, body = [UserView]), (status = 403, body = ErrorBody)))]
pub async fn list_users(
    State(state): State<AppState>,
    caller: ApiCaller,
    Query(q): Query<ListUsersQuery>,
) -> Result<Json<Vec<UserView>>, AppError> {
    caller.require(Permission::UsersRead)?;
    let users = state
        .store
        .list_users(&UserQuery {
            search: q.search,
            limit: q.limit.unwrap_or(100),
            offset: q.offset.unwrap_or(0),
        })
        .await?;
    Ok(Json(users.into_iter().map(UserView::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "admin", request_body = CreateUser,
    responses((status = 201, body = UserView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_user(
    State(state): State<AppState>,
    caller: ApiCaller,
    JsonBody(body): JsonBody<CreateUser>,
) -> Result<(StatusCode, Json<UserView>), AppError> {
    caller.require(Permission::UsersWrite)?;
    let roles = body
        .roles
        .iter()
        .map(|r| parse_role(r))
        .collect::<Result<Vec<_>, _>>()?;
    if !roles.is_empty() {
        caller.require(Permission::RolesAssign)?;
    }
    let user = ops(&state)
        .create_user(
            &caller.actor(),
            NewUser {
                username: body.username,
                display_name: body.display_name,
                email: body.email,
                password: body.password,
                roles,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = UserDetail), (status = 404, body = ErrorBody)))]
pub async fn get_user(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<UserDetail>, AppError> {
    caller.require(Permission::UsersRead)?;
    let user = ops(&state).user(id).await?;
    let groups = state.store.groups_of(id).await?;
    let roles = state.store.roles_of(id).await?;
    Ok(Json(UserDetail {
        user: user.into(),
        groups: groups.into_iter().map(GroupView::from).collect(),
        roles: roles.iter().map(|r| r.as_str().to_string()).collect(),
    }))
}

#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "admin", params(("id" = Uuid, Path)),
    request_body = UpdateUser,
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_user(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
    JsonBody(body): JsonBody<UpdateUser>,
) -> Result<Json<UserView>, AppError> {
    caller.require(Permission::UsersWrite)?;
    let status = match body.status.as_deref() {
        None => None,
        Some(s) => Some(UserStatus::parse(s).ok_or_else(|| {
            AppError::bad_request("invalid_status", "status must be `enabled` or `disabled`")
        })?),
    };
    let user = ops(&state)
        .update_user(
            &caller.actor(),
            id,
            body.display_name,
            body.email.map(Some),
            status,
        )
        .await?;
    Ok(Json(user.into()))
}

#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_user(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, AppError> {
    caller.require(Permission::UsersWrite)?;
    ops(&state).delete_user(&caller.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn ensure_may_act(
    state: &AppState,
    caller: &ApiCaller,
    p: Permission,
    user_id: Uuid,
) -> Result<(), AppError> {
    ops(state).ensure_may_act(&caller.roles, p, user_id).await
}

#[utoipa::path(post, path = "/api/v1/users/{id}/password", tag = "admin", params(("id" = Uuid, Path)),
    request_body = SetPassword,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn set_password(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
    JsonBody(body): JsonBody<SetPassword>,
) -> Result<StatusCode, AppError> {
    ensure_may_act(&state, &caller, Permission::UsersResetPassword, id).await?;
    ops(&state)
        .set_password(&caller.actor(), id, &body.password, body.must_change)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/users/{id}/sessions", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = [SessionView])))]
pub async fn user_sessions(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<Vec<SessionView>>, AppError> {
    caller.require(Permission::SessionsRead)?;
    let list = state
        .store
        .list_sessions(Some(id), Some(state.now()), 1000)
        .await?;
    Ok(Json(list.into_iter().map(SessionView::from).collect()))
}

#[utoipa::path(delete, path = "/api/v1/users/{id}/sessions", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = Revoked)))]
pub async fn revoke_user_sessions(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<Revoked>, AppError> {
    ensure_may_act(&state, &caller, Permission::SessionsRevoke, id).await?;
    let audit = trustplane_core::audit::AuditDraft::new(
        &caller.actor(),
        "session.revoke_all",
        "user",
        Some(id.to_string()),
    );
    let n = state
        .store
        .revoke_user_sessions(id, state.now(), Some(audit))
        .await?;
    Ok(Json(Revoked { revoked: n }))
}

#[utoipa::path(put, path = "/api/v1/users/{id}/roles/{role}", tag = "admin",
    params(("id" = Uuid, Path), ("role" = String, Path, description = "global_administrator, security_administrator, helpdesk_administrator or security_reader")),
    responses((status = 200, body = Changed)))]
pub async fn assign_role(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path((id, role)): Path<(Uuid, String)>,
) -> Result<Json<Changed>, AppError> {
    caller.require(Permission::RolesAssign)?;
    let changed = ops(&state)
        .assign_role(&caller.actor(), id, parse_role(&role)?)
        .await?;
    Ok(Json(Changed { changed }))
}

#[utoipa::path(delete, path = "/api/v1/users/{id}/roles/{role}", tag = "admin",
    params(("id" = Uuid, Path), ("role" = String, Path)),
    responses((status = 200, body = Changed), (status = 409, body = ErrorBody)))]
pub async fn unassign_role(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path((id, role)): Path<(Uuid, String)>,
) -> Result<Json<Changed>, AppError> {
    caller.require(Permission::RolesAssign)?;
    let changed = ops(&state)
        .unassign_role(&caller.actor(), id, parse_role(&role)?)
        .await?;
    Ok(Json(Changed { changed }))
}

#[utoipa::path(get, path = "/api/v1/groups", tag = "admin", responses((status = 200, body = [GroupView])))]
pub async fn list_groups(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<Vec<GroupView>>, AppError> {
    caller.require(Permission::GroupsRead)?;
    let groups = state.store.list_groups().await?;
    Ok(Json(groups.into_iter().map(GroupView::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/groups", tag = "admin", request_body = CreateGroup,
    responses((status = 201, body = GroupView), (status = 409, body = ErrorBody)))]
pub async fn create_group(
    State(state): State<AppState>,
    caller: ApiCaller,
    JsonBody(body): JsonBody<CreateGroup>,
) -> Result<(StatusCode, Json<GroupView>), AppError> {
    caller.require(Permission::GroupsWrite)?;
    let g = ops(&state)
        .create_group(&caller.actor(), &body.name, &body.description)
        .await?;
    Ok((StatusCode::CREATED, Json(g.into())))
}

#[utoipa::path(get, path = "/api/v1/groups/{id}", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = GroupView), (status = 404, body = ErrorBody)))]
pub async fn get_group(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<GroupView>, AppError> {
    caller.require(Permission::GroupsRead)?;
    Ok(Json(ops(&state).group(id).await?.into()))
}

#[utoipa::path(delete, path = "/api/v1/groups/{id}", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_group(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, AppError> {
    caller.require(Permission::GroupsWrite)?;
    ops(&state).delete_group(&caller.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/groups/{id}/members", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = [UserView])))]
pub async fn group_members(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<Vec<UserView>>, AppError> {
    caller.require(Permission::GroupsRead)?;
    ops(&state).group(id).await?;
    let users = state.store.group_members(id).await?;
    Ok(Json(users.into_iter().map(UserView::from).collect()))
}

#[utoipa::path(put, path = "/api/v1/groups/{id}/members/{user_id}", tag = "admin",
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)), responses((status = 200, body = Changed)))]
pub async fn add_member(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path((id, user_id)): Path<(Uuid, Uuid)>,
) -> Result<Json<Changed>, AppError> {
    caller.require(Permission::GroupsWrite)?;
    let changed = ops(&state).add_member(&caller.actor(), id, user_id).await?;
    Ok(Json(Changed { changed }))
}

#[utoipa::path(delete, path = "/api/v1/groups/{id}/members/{user_id}", tag = "admin",
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)), responses((status = 200, body = Changed)))]
pub async fn remove_member(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path((id, user_id)): Path<(Uuid, Uuid)>,
) -> Result<Json<Changed>, AppError> {
    caller.require(Permission::GroupsWrite)?;
    let changed = ops(&state)
        .remove_member(&caller.actor(), id, user_id)
        .await?;
    Ok(Json(Changed { changed }))
}

#[derive(Deserialize, IntoParams)]
pub struct ListSessionsQuery {
    /// Only this user's sessions.
    user_id: Option<Uuid>,
    /// Include revoked and expired sessions (default false).
    all: Option<bool>,
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/sessions", tag = "admin", params(ListSessionsQuery),
    responses((status = 200, body = [SessionView])))]
pub async fn list_sessions(
    State(state): State<AppState>,
    caller: ApiCaller,
    Query(q): Query<ListSessionsQuery>,
) -> Result<Json<Vec<SessionView>>, AppError> {
    caller.require(Permission::SessionsRead)?;
    let active = (!q.all.unwrap_or(false)).then(OffsetDateTime::now_utc);
    let list = state
        .store
        .list_sessions(q.user_id, active, q.limit.unwrap_or(200))
        .await?;
    Ok(Json(list.into_iter().map(SessionView::from).collect()))
}

#[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = Changed), (status = 404, body = ErrorBody)))]
pub async fn revoke_session(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<Changed>, AppError> {
    // Permission first: a caller without it learns nothing about which sessions exist.
    caller.require(Permission::SessionsRevoke)?;
    let s = state
        .store
        .get_session(id)
        .await?
        .ok_or_else(|| AppError::not_found("session"))?;
    ensure_may_act(&state, &caller, Permission::SessionsRevoke, s.user_id).await?;
    let changed = ops(&state).revoke_session(&caller.actor(), id).await?;
    Ok(Json(Changed { changed }))
}

#[derive(Deserialize, IntoParams)]
pub struct SignInLogQuery {
    user_id: Option<Uuid>,
    username: Option<String>,
    /// `success`, `failure` or `interrupted`.
    result: Option<String>,
    failure_reason: Option<String>,
    /// RFC 3339 time.
    since: Option<String>,
    /// RFC 3339 time (exclusive).
    until: Option<String>,
    /// Application id signed in to.
    app: Option<String>,
    /// Sign-in risk level: `low`, `medium` or `high`.
    risk: Option<String>,
    /// Conditional access outcome: `allow`, `block` or `requires`.
    outcome: Option<String>,
    /// A conditional access policy id that applied (enabled or report-only).
    policy: Option<String>,
    /// 1..=10000, default 100.
    limit: Option<i64>,
}

impl SignInLogQuery {
    /// The store query, with every filter checked.
    pub fn to_store(self) -> Result<SignInQuery, AppError> {
        let result = match self.result.as_deref() {
            None | Some("") => None,
            Some(r) => Some(SignInResult::parse(r).ok_or_else(|| {
                AppError::bad_request(
                    "invalid_result",
                    "result must be success, failure or interrupted",
                )
            })?),
        };
        let empty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let risk = empty(self.risk);
        if let Some(r) = &risk
            && trustplane_core::risk::RiskLevel::parse(r).is_none()
        {
            return Err(AppError::bad_request(
                "invalid_risk",
                "risk must be low, medium or high",
            ));
        }
        let outcome = empty(self.outcome);
        if let Some(o) = &outcome
            && !["allow", "block", "requires"].contains(&o.as_str())
        {
            return Err(AppError::bad_request(
                "invalid_outcome",
                "outcome must be allow, block or requires",
            ));
        }
        Ok(SignInQuery {
            user_id: self.user_id,
            username: empty(self.username),
            result,
            failure_reason: empty(self.failure_reason),
            since: parse_time("since", empty(self.since))?,
            until: parse_time("until", empty(self.until))?,
            app_id: empty(self.app),
            sign_in_risk: risk,
            ca_outcome: outcome,
            policy: empty(self.policy),
            limit: self.limit.unwrap_or(100),
        })
    }
}

fn parse_time(field: &'static str, s: Option<String>) -> Result<Option<OffsetDateTime>, AppError> {
    s.map(|s| {
        OffsetDateTime::parse(&s, &Rfc3339).map_err(|_| {
            AppError::bad_request(
                "invalid_time",
                format!("{field} must be an RFC 3339 time like 2026-11-25T10:00:00Z"),
            )
        })
    })
    .transpose()
}

#[utoipa::path(get, path = "/api/v1/sign-ins", tag = "admin", params(SignInLogQuery),
    responses((status = 200, body = [SignInView]), (status = 400, body = ErrorBody)))]
pub async fn list_sign_ins(
    State(state): State<AppState>,
    caller: ApiCaller,
    Query(q): Query<SignInLogQuery>,
) -> Result<Json<Vec<SignInView>>, AppError> {
    caller.require(Permission::SignInLogRead)?;
    let events = state.store.list_sign_ins(&q.to_store()?).await?;
    Ok(Json(events.into_iter().map(SignInView::from).collect()))
}

#[derive(Deserialize, IntoParams)]
pub struct ExportFormat {
    /// `csv` or `jsonl` (JSON lines).
    format: String,
}

#[utoipa::path(get, path = "/api/v1/sign-ins/export", tag = "admin",
    params(SignInLogQuery, ExportFormat),
    responses((status = 200, description = "CSV or JSON lines"), (status = 400, body = ErrorBody)))]
pub async fn export_sign_ins(
    State(state): State<AppState>,
    caller: ApiCaller,
    Query(format): Query<ExportFormat>,
    Query(q): Query<SignInLogQuery>,
) -> Result<axum::response::Response, AppError> {
    caller.require(Permission::SignInLogRead)?;
    let limit = q.limit;
    let mut query = q.to_store()?;
    query.limit = limit.unwrap_or(10_000);
    let events = state.store.list_sign_ins(&query).await?;
    crate::ops::signin_export::render(&format.format, events)
}

#[derive(Deserialize, IntoParams)]
pub struct AuditLogQuery {
    /// Page backwards: only entries with a smaller sequence number.
    before_seq: Option<i64>,
    action: Option<String>,
    target_id: Option<String>,
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "admin", params(AuditLogQuery),
    responses((status = 200, body = [AuditView])))]
pub async fn list_audit(
    State(state): State<AppState>,
    caller: ApiCaller,
    Query(q): Query<AuditLogQuery>,
) -> Result<Json<Vec<AuditView>>, AppError> {
    caller.require(Permission::AuditLogRead)?;
    let entries = state
        .store
        .list_audit(&AuditQuery {
            before_seq: q.before_seq,
            action: q.action,
            target_id: q.target_id,
            limit: q.limit.unwrap_or(100),
        })
        .await?;
    Ok(Json(entries.into_iter().map(AuditView::from).collect()))
}

#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "admin",
    responses((status = 200, body = AuditVerifyView)))]
pub async fn verify_audit(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<AuditVerifyView>, AppError> {
    caller.require(Permission::AuditLogRead)?;
    Ok(Json(match state.store.verify_audit().await? {
        Ok(n) => AuditVerifyView {
            intact: true,
            entries_checked: n,
            first_broken_seq: None,
            message: format!("{n} entries verified"),
        },
        Err(e) => AuditVerifyView {
            intact: false,
            entries_checked: 0,
            first_broken_seq: Some(e.seq()),
            message: e.to_string(),
        },
    }))
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "admin", responses((status = 200, body = [TokenView])))]
pub async fn list_tokens(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<Vec<TokenView>>, AppError> {
    caller.require(Permission::TokensManage)?;
    let list = state.store.list_api_tokens().await?;
    Ok(Json(list.into_iter().map(TokenView::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "admin", request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: ApiCaller,
    JsonBody(body): JsonBody<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), AppError> {
    caller.require(Permission::TokensManage)?;
    let lifetime = parse_lifetime(body.expires_in.as_deref().unwrap_or("90d"))?;
    let (token, secret) = ops(&state)
        .create_token(
            &caller.actor(),
            &body.name,
            parse_role(&body.role)?,
            lifetime,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: token.into(),
            secret,
        }),
    ))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = Changed)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<Changed>, AppError> {
    caller.require(Permission::TokensManage)?;
    let changed = ops(&state).revoke_token(&caller.actor(), id).await?;
    Ok(Json(Changed { changed }))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct BannedTermView {
    /// Normalised matching form.
    pub term: String,
    /// As the administrator typed it.
    pub display: String,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "time::serde::rfc3339")]
    pub added_at: OffsetDateTime,
    pub added_by: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddBannedTerms {
    /// Organisation-specific terms (brands, products, places, internal words), at least 4
    /// characters each. Variants are caught by the algorithm; list base terms only.
    pub terms: Vec<String>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Added {
    pub added: u64,
}

#[utoipa::path(get, path = "/api/v1/password/banned-terms", tag = "admin",
    responses((status = 200, body = [BannedTermView])))]
pub async fn list_banned_terms(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<Vec<BannedTermView>>, AppError> {
    caller.require(Permission::PolicyRead)?;
    let terms = state.store.list_banned_terms().await?;
    Ok(Json(
        terms
            .into_iter()
            .map(|t| BannedTermView {
                term: t.term,
                display: t.display,
                added_at: t.added_at,
                added_by: t.added_by,
            })
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/password/banned-terms", tag = "admin", request_body = AddBannedTerms,
    responses((status = 200, body = Added), (status = 400, body = ErrorBody)))]
pub async fn add_banned_terms(
    State(state): State<AppState>,
    caller: ApiCaller,
    JsonBody(body): JsonBody<AddBannedTerms>,
) -> Result<Json<Added>, AppError> {
    caller.require(Permission::PolicyWrite)?;
    let added = ops(&state)
        .add_banned_terms(&caller.actor(), &body.terms)
        .await?;
    Ok(Json(Added { added }))
}

#[utoipa::path(delete, path = "/api/v1/password/banned-terms/{term}", tag = "admin",
    params(("term" = String, Path)), responses((status = 200, body = Changed)))]
pub async fn remove_banned_term(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(term): Path<String>,
) -> Result<Json<Changed>, AppError> {
    caller.require(Permission::PolicyWrite)?;
    let changed = ops(&state)
        .remove_banned_term(&caller.actor(), &term)
        .await?;
    Ok(Json(Changed { changed }))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct MethodList {
    pub methods: Vec<MethodItem>,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct MethodItem {
    pub id: Uuid,
    /// `totp`
    pub kind: String,
    pub label: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<OffsetDateTime>,
    /// Security keys and passkeys only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webauthn: Option<WebauthnDetail>,
}

/// What is known about a security key or passkey.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct WebauthnDetail {
    /// Authenticator model; absent when it did not say.
    pub aaguid: Option<Uuid>,
    /// `device-bound` or `synced`.
    pub binding: &'static str,
    pub backup_state: bool,
    /// A vendor attestation certificate was presented at registration.
    pub attested: bool,
    pub attestation_format: String,
    /// User verification (PIN, biometric) at registration.
    pub user_verified: bool,
    pub sign_count: u32,
}

/// A user's registered second factors (never their secrets).
#[utoipa::path(get, path = "/api/v1/users/{id}/methods", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = MethodList), (status = 404, body = ErrorBody)))]
pub async fn list_methods(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<MethodList>, AppError> {
    caller.require(Permission::UsersRead)?;
    ops(&state).user(id).await?;
    let methods = state.store.list_mfa_methods(id).await?;
    let keys = state.store.list_webauthn_credentials(id).await?;
    Ok(Json(MethodList {
        methods: methods
            .into_iter()
            .map(|m| MethodItem {
                webauthn: keys.iter().find(|k| k.id == m.id).map(|k| WebauthnDetail {
                    aaguid: k.aaguid,
                    binding: k.binding(),
                    backup_state: k.backup_state,
                    attested: k.attested,
                    attestation_format: k.attestation_format.clone(),
                    user_verified: k.user_verified,
                    sign_count: k.sign_count,
                }),
                id: m.id,
                kind: m.kind.as_str().into(),
                label: m.label,
                created_at: m.created_at,
                last_used_at: m.last_used_at,
            })
            .collect(),
        recovery_codes_left: state.store.unused_recovery_codes(id).await?,
    }))
}

/// Removes one of a user's second factors (e.g. a lost phone).
#[utoipa::path(delete, path = "/api/v1/users/{id}/methods/{method}", tag = "admin",
    params(("id" = Uuid, Path), ("method" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_method(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path((id, method)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, AppError> {
    ensure_may_act(&state, &caller, Permission::UsersResetPassword, id).await?;
    ops(&state)
        .remove_mfa_method(&caller.actor(), id, method)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets a generated temporary password the user must change at the next sign-in (every
/// session revoked) and returns it, once.
#[utoipa::path(post, path = "/api/v1/users/{id}/password/temporary", tag = "admin",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "the temporary password, shown once"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn temporary_password(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<impl axum::response::IntoResponse, AppError> {
    ensure_may_act(&state, &caller, Permission::UsersResetPassword, id).await?;
    let password = ops(&state).temporary_password(&caller.actor(), id).await?;
    Ok((
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({ "password": password, "must_change": true })),
    ))
}

/// Requires the user to register their second factors again: every method and recovery code
/// is removed, every session revoked, and the next sign-in registers a method.
#[utoipa::path(post, path = "/api/v1/users/{id}/methods/require-reregistration", tag = "admin",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "methods removed"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn require_reregistration(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<serde_json::Value>, AppError> {
    ensure_may_act(&state, &caller, Permission::UsersResetPassword, id).await?;
    let removed = ops(&state)
        .require_reregistration(&caller.actor(), id)
        .await?;
    Ok(Json(
        serde_json::json!({ "methods_removed": removed, "reregistration_required": true }),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueTap {
    /// 10 to 43200 (30 days); default 60.
    pub lifetime_minutes: Option<i64>,
    /// One sign-in only (default true).
    pub one_time: Option<bool>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct IssuedTap {
    /// The pass: shown once, stored only as its SHA-256.
    pub pass: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
    pub one_time: bool,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct TapStatus {
    pub usable: bool,
    pub one_time: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub used_at: Option<OffsetDateTime>,
}

/// Issues a Temporary Access Pass (replacing the user's earlier one).
#[utoipa::path(post, path = "/api/v1/users/{id}/temporary-access-pass", tag = "admin",
    params(("id" = Uuid, Path)), request_body = IssueTap,
    responses((status = 201, body = IssuedTap), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn issue_tap(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
    JsonBody(body): JsonBody<IssueTap>,
) -> Result<(StatusCode, Json<IssuedTap>), AppError> {
    ensure_may_act(&state, &caller, Permission::UsersResetPassword, id).await?;
    let lifetime = crate::platform::durations::minutes(body.lifetime_minutes.unwrap_or(60))
        .ok_or_else(|| {
            AppError::bad_request("invalid_lifetime", "lifetime_minutes is out of range")
        })?;
    let one_time = body.one_time.unwrap_or(true);
    let (t, pass) = ops(&state)
        .issue_tap(&caller.actor(), id, lifetime, one_time)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedTap {
            pass,
            expires_at: t.expires_at,
            one_time: t.one_time,
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/users/{id}/temporary-access-pass", tag = "admin",
    params(("id" = Uuid, Path)), responses((status = 200, body = TapStatus), (status = 404, body = ErrorBody)))]
pub async fn get_tap(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<TapStatus>, AppError> {
    caller.require(Permission::UsersRead)?;
    let Some(t) = state.store.tap_of(id).await? else {
        return Err(AppError::not_found("temporary access pass"));
    };
    Ok(Json(TapStatus {
        usable: t.usable(state.now()),
        one_time: t.one_time,
        created_at: t.created_at,
        expires_at: t.expires_at,
        used_at: t.used_at,
    }))
}

#[utoipa::path(delete, path = "/api/v1/users/{id}/temporary-access-pass", tag = "admin",
    params(("id" = Uuid, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn revoke_tap(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, AppError> {
    ensure_may_act(&state, &caller, Permission::UsersResetPassword, id).await?;
    if ops(&state).revoke_tap(&caller.actor(), id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found("temporary access pass"))
    }
}
