//! `/api/v1/tokens`: API tokens (the secret is returned once).

use crate::api::JsonBody;
use crate::api::shared::ops;
use crate::api::shared::parse_role;
use crate::api::types::*;
use crate::edge::api_input::Path;
use crate::edge::auth::ApiCaller;
use crate::edge::error::{AppError, ErrorBody};
use crate::ops::parse_lifetime;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use trustplane_core::identity::Permission;
use uuid::Uuid;

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

/// This resource's routes.
pub(super) fn routes() -> axum::Router<crate::state::AppState> {
    use axum::routing::{delete, get};
    axum::Router::new()
        .route("/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{id}", delete(revoke_token))
}
