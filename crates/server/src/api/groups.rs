//! `/api/v1/groups`: list, create, read, delete, members.

use crate::api::JsonBody;
use crate::api::shared::ops;
use crate::api::types::*;
use crate::edge::api_input::Path;
use crate::edge::auth::ApiCaller;
use crate::edge::error::{AppError, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use trustplane_core::identity::Permission;
use uuid::Uuid;

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

/// This resource's routes.
pub(super) fn routes() -> axum::Router<crate::state::AppState> {
    use axum::routing::{get, put};
    axum::Router::new()
        .route("/groups", get(list_groups).post(create_group))
        .route("/groups/{id}", get(get_group).delete(delete_group))
        .route("/groups/{id}/members", get(group_members))
        .route(
            "/groups/{id}/members/{user_id}",
            put(add_member).delete(remove_member),
        )
}
