//! `/api/v1/password-protection/banned-terms`: the organisation's banned password terms.

use crate::api::JsonBody;
use crate::api::shared::ops;
use crate::api::types::*;
use crate::edge::api_input::Path;
use crate::edge::auth::ApiCaller;
use crate::edge::error::{AppError, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use time::OffsetDateTime;
use trustplane_core::identity::Permission;

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

/// This resource's routes.
pub(super) fn routes() -> axum::Router<crate::state::AppState> {
    use axum::routing::{delete, get};
    axum::Router::new()
        .route(
            "/password/banned-terms",
            get(list_banned_terms).post(add_banned_terms),
        )
        .route("/password/banned-terms/{term}", delete(remove_banned_term))
}
