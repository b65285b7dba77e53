//! Admin API, OpenID Connect clients. The secret of a confidential client is returned once,
//! by create and by rotate; it is stored only as a hash.

use crate::api::JsonBody;
use crate::edge::api_input::Path;
use crate::edge::auth::ApiCaller;
use crate::edge::error::{AppError, ErrorBody};
use crate::enforce::oidc::clients::{self, ClientPatch, NewClient};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use time::OffsetDateTime;
use trustplane_core::identity::Permission;
use trustplane_store::OidcClient;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub app_id: String,
    pub public: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub token_endpoint_auth_method: String,
    pub id_token_signed_response_alg: String,
    pub groups_claim: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Only in the answers to create and rotate: copy it now, it is not shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

pub fn view(c: OidcClient, secret: Option<String>) -> ClientView {
    ClientView {
        public: c.is_public(),
        client_id: c.id,
        name: c.name,
        app_id: c.app_id,
        redirect_uris: c.redirect_uris,
        post_logout_redirect_uris: c.post_logout_redirect_uris,
        scopes: c.scopes,
        grant_types: c.grant_types,
        token_endpoint_auth_method: c.token_endpoint_auth_method,
        id_token_signed_response_alg: c.id_token_alg,
        groups_claim: c.groups_claim,
        created_at: c.created_at,
        updated_at: c.updated_at,
        client_secret: secret,
    }
}

/// Every OIDC client.
#[utoipa::path(get, path = "/api/v1/oidc/clients", tag = "admin",
    responses((status = 200, body = [ClientView])))]
pub async fn list_clients(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<Vec<ClientView>>, AppError> {
    caller.require(Permission::PolicyRead)?;
    let list = state.store.list_oidc_clients().await?;
    Ok(Json(list.into_iter().map(|c| view(c, None)).collect()))
}

/// Registers a client (answers its secret once, for confidential clients).
#[utoipa::path(post, path = "/api/v1/oidc/clients", tag = "admin", request_body = NewClient,
    responses((status = 201, body = ClientView), (status = 400, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn create_client(
    State(state): State<AppState>,
    caller: ApiCaller,
    JsonBody(body): JsonBody<NewClient>,
) -> Result<(StatusCode, Json<ClientView>), AppError> {
    caller.require(Permission::PolicyWrite)?;
    let (c, secret) =
        clients::create(state.store.as_ref(), &caller.actor(), body, state.now()).await?;
    Ok((StatusCode::CREATED, Json(view(c, secret))))
}

/// One client.
#[utoipa::path(get, path = "/api/v1/oidc/clients/{id}", tag = "admin",
    params(("id" = String, Path)),
    responses((status = 200, body = ClientView), (status = 404, body = ErrorBody)))]
pub async fn get_client(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<ClientView>, AppError> {
    caller.require(Permission::PolicyRead)?;
    Ok(Json(view(
        clients::get(state.store.as_ref(), &id).await?,
        None,
    )))
}

/// Changes a client (absent fields are kept).
#[utoipa::path(patch, path = "/api/v1/oidc/clients/{id}", tag = "admin",
    params(("id" = String, Path)), request_body = ClientPatch,
    responses((status = 200, body = ClientView), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn update_client(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ClientPatch>,
) -> Result<Json<ClientView>, AppError> {
    caller.require(Permission::PolicyWrite)?;
    let c = clients::update(
        state.store.as_ref(),
        &caller.actor(),
        &id,
        body,
        state.now(),
    )
    .await?;
    Ok(Json(view(c, None)))
}

/// Deletes a client and every code and token issued to it.
#[utoipa::path(delete, path = "/api/v1/oidc/clients/{id}", tag = "admin",
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_client(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    caller.require(Permission::PolicyWrite)?;
    clients::delete(state.store.as_ref(), &caller.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces a confidential client's secret (answers the new one once).
#[utoipa::path(post, path = "/api/v1/oidc/clients/{id}/secret", tag = "admin",
    params(("id" = String, Path)),
    responses((status = 200, body = ClientView), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<ClientView>, AppError> {
    caller.require(Permission::PolicyWrite)?;
    let (c, secret) =
        clients::rotate_secret(state.store.as_ref(), &caller.actor(), &id, state.now()).await?;
    Ok(Json(view(c, Some(secret))))
}

/// This resource's routes.
pub(super) fn routes() -> axum::Router<crate::state::AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/oidc/clients", get(list_clients).post(create_client))
        .route(
            "/oidc/clients/{id}",
            get(get_client).patch(update_client).delete(delete_client),
        )
        .route("/oidc/clients/{id}/secret", post(rotate_secret))
}
