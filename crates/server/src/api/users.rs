//! `/api/v1/users`: list, create, read, update, delete, password, sessions, roles.

use crate::api::JsonBody;
use crate::api::shared::ops;
use crate::api::shared::parse_role;
use crate::api::types::*;
use crate::edge::api_input::{Path, Query};
use crate::edge::auth::ApiCaller;
use crate::edge::error::{AppError, ErrorBody};
use crate::ops::NewUser;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use trustplane_core::identity::{Permission, UserStatus};
use trustplane_store::UserQuery;
use utoipa::IntoParams;
use uuid::Uuid;

#[derive(Deserialize, IntoParams)]
pub struct ListUsersQuery {
    /// Case-insensitive substring of login name, display name or email.
    pub(super) search: Option<String>,
    /// 1..=1000, default 100.
    pub(super) limit: Option<i64>,
    pub(super) offset: Option<i64>,
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

pub(super) async fn ensure_may_act(
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

/// This resource's routes.
pub(super) fn routes() -> axum::Router<crate::state::AppState> {
    use axum::routing::{get, post, put};
    axum::Router::new()
        .route("/users", get(list_users).post(create_user))
        .route(
            "/users/{id}",
            get(get_user).patch(update_user).delete(delete_user),
        )
        .route("/users/{id}/password", post(set_password))
        .route(
            "/users/{id}/sessions",
            get(user_sessions).delete(revoke_user_sessions),
        )
        .route(
            "/users/{id}/roles/{role}",
            put(assign_role).delete(unassign_role),
        )
}
