//! `/api/v1/sessions`: every session, and revoking one.

use crate::api::shared::ops;
use crate::api::types::*;
use crate::api::users::ensure_may_act;
use crate::edge::api_input::{Path, Query};
use crate::edge::auth::ApiCaller;
use crate::edge::error::{AppError, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use time::OffsetDateTime;
use trustplane_core::identity::Permission;
use utoipa::IntoParams;
use uuid::Uuid;

#[derive(Deserialize, IntoParams)]
pub struct ListSessionsQuery {
    /// Only this user's sessions.
    pub(super) user_id: Option<Uuid>,
    /// Include revoked and expired sessions (default false).
    pub(super) all: Option<bool>,
    pub(super) limit: Option<i64>,
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

/// This resource's routes.
pub(super) fn routes() -> axum::Router<crate::state::AppState> {
    use axum::routing::{delete, get};
    axum::Router::new()
        .route("/sessions", get(list_sessions))
        .route("/sessions/{id}", delete(revoke_session))
}
