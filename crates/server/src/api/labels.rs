//! Admin API, information protection: authentication contexts, ordered sensitivity labels
//! mapped to them, and labels on applications and routes.

use crate::api::JsonBody;
use crate::edge::api_input::Path;
use crate::edge::auth::ApiCaller;
use crate::edge::error::{AppError, ErrorBody};
use crate::enforce::app_routes::check_name;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use trustplane_core::audit::AuditDraft;
use trustplane_core::identity::Permission;
use trustplane_store::{AuthenticationContext, SensitivityLabel, StoreError};
use utoipa::ToSchema;
use uuid::Uuid;

/// Ids of labels and contexts: lowercase slugs (`confidential`, `c1`).
fn check_id(id: &str, what: &str) -> Result<(), AppError> {
    let ok = !id.is_empty()
        && id.len() <= 63
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && id.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(AppError::bad_request(
            "invalid_id",
            format!(
                "A {what} id is a lowercase slug: letters a-z, digits, `-` and `_`, starting with a letter or digit, at most 63 characters."
            ),
        ))
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutContext {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutLabel {
    pub name: String,
    /// Order: a higher rank is more sensitive (unique).
    pub rank: i32,
    /// The authentication context requests for resources with this label ask for.
    #[serde(default)]
    pub authentication_context: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignLabel {
    /// The label, or `null` to clear.
    pub label: Option<String>,
}

/// Authentication contexts.
#[utoipa::path(get, path = "/api/v1/authentication-contexts", tag = "admin",
    responses((status = 200, body = [Object])))]
pub async fn list_contexts(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<Vec<AuthenticationContext>>, AppError> {
    caller.require(Permission::PolicyRead)?;
    Ok(Json(state.store.list_authentication_contexts().await?))
}

/// Creates or replaces an authentication context.
#[utoipa::path(put, path = "/api/v1/authentication-contexts/{id}", tag = "admin",
    params(("id" = String, Path)), request_body = PutContext,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody)))]
pub async fn put_context(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PutContext>,
) -> Result<Json<AuthenticationContext>, AppError> {
    caller.require(Permission::PolicyWrite)?;
    check_id(&id, "authentication context")?;
    let description = body.description.trim().to_string();
    if description.len() > 1000 || description.chars().any(|c| c.is_control() && c != '\n') {
        return Err(AppError::bad_request(
            "invalid_description",
            "The description must be at most 1000 characters without control characters.",
        ));
    }
    let c = AuthenticationContext {
        id: id.clone(),
        name: check_name(&body.name)?,
        description,
        created_at: state.now(),
    };
    let audit = AuditDraft::new(
        &caller.actor(),
        "authentication_context.put",
        "authentication_context",
        Some(id),
    )
    .after(&c);
    state.store.put_authentication_context(&c, audit).await?;
    Ok(Json(c))
}

/// Deletes an authentication context (refused while a label maps to it or a policy names it).
#[utoipa::path(delete, path = "/api/v1/authentication-contexts/{id}", tag = "admin",
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_context(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    caller.require(Permission::PolicyWrite)?;
    crate::enforce::policy::refuse_if_policies_use(&state, None, Some(&id)).await?;
    let audit = AuditDraft::new(
        &caller.actor(),
        "authentication_context.delete",
        "authentication_context",
        Some(id.clone()),
    );
    if state
        .store
        .delete_authentication_context(&id, audit)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found("authentication context"))
    }
}

/// Sensitivity labels, least sensitive first.
#[utoipa::path(get, path = "/api/v1/sensitivity-labels", tag = "admin",
    responses((status = 200, body = [Object])))]
pub async fn list_labels(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<Vec<SensitivityLabel>>, AppError> {
    caller.require(Permission::PolicyRead)?;
    Ok(Json(state.store.list_sensitivity_labels().await?))
}

/// Creates or replaces a sensitivity label.
#[utoipa::path(put, path = "/api/v1/sensitivity-labels/{id}", tag = "admin",
    params(("id" = String, Path)), request_body = PutLabel,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn put_label(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PutLabel>,
) -> Result<Json<SensitivityLabel>, AppError> {
    caller.require(Permission::PolicyWrite)?;
    check_id(&id, "sensitivity label")?;
    if !(0..=10_000).contains(&body.rank) {
        return Err(AppError::bad_request(
            "invalid_rank",
            "The rank is a number from 0 to 10000; higher is more sensitive.",
        ));
    }
    let l = SensitivityLabel {
        id: id.clone(),
        name: check_name(&body.name)?,
        rank: body.rank,
        authentication_context: body.authentication_context,
        created_at: state.now(),
    };
    let audit = AuditDraft::new(
        &caller.actor(),
        "sensitivity_label.put",
        "sensitivity_label",
        Some(id),
    )
    .after(&l);
    state
        .store
        .put_sensitivity_label(&l, audit)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => AppError::new(
                StatusCode::CONFLICT,
                "rank_taken",
                format!(
                    "Another label has rank {}; ranks order labels and are unique.",
                    l.rank
                ),
            ),
            StoreError::NotFound(_) => AppError::new(
                StatusCode::BAD_REQUEST,
                "unknown_authentication_context",
                "The authentication context does not exist; create it first.",
            ),
            other => other.into(),
        })?;
    Ok(Json(l))
}

/// Deletes a label (refused while an application or route carries it or a policy names it).
#[utoipa::path(delete, path = "/api/v1/sensitivity-labels/{id}", tag = "admin",
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_label(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    caller.require(Permission::PolicyWrite)?;
    crate::enforce::policy::refuse_if_policies_use(&state, Some(&id), None).await?;
    let audit = AuditDraft::new(
        &caller.actor(),
        "sensitivity_label.delete",
        "sensitivity_label",
        Some(id.clone()),
    );
    if state.store.delete_sensitivity_label(&id, audit).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found("sensitivity label"))
    }
}

async fn assign(
    state: &AppState,
    caller: &ApiCaller,
    app_id: &str,
    route: Option<Uuid>,
    label: Option<String>,
) -> Result<StatusCode, AppError> {
    caller.require(Permission::PolicyWrite)?;
    let audit = AuditDraft::new(
        &caller.actor(),
        "application.sensitivity_label.set",
        "application",
        Some(app_id.to_string()),
    )
    .after(&serde_json::json!({ "route_id": route, "label": label }));
    match state
        .store
        .set_sensitivity_label(app_id, route, label.as_deref(), audit)
        .await
    {
        Ok(true) => Ok(StatusCode::NO_CONTENT),
        Ok(false) => Err(AppError::not_found(if route.is_some() {
            "route"
        } else {
            "application"
        })),
        Err(StoreError::NotFound(_)) => Err(AppError::bad_request(
            "unknown_sensitivity_label",
            "The sensitivity label does not exist.",
        )),
        Err(e) => Err(e.into()),
    }
}

/// Sets or clears the label of an application.
#[utoipa::path(put, path = "/api/v1/applications/{id}/sensitivity-label", tag = "admin",
    params(("id" = String, Path)), request_body = AssignLabel,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn label_application(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AssignLabel>,
) -> Result<StatusCode, AppError> {
    assign(&state, &caller, &id, None, body.label).await
}

/// Sets or clears the label of a route (a path prefix of an application).
#[utoipa::path(put, path = "/api/v1/applications/{id}/routes/{route_id}/sensitivity-label",
    tag = "admin", params(("id" = String, Path), ("route_id" = Uuid, Path)),
    request_body = AssignLabel,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn label_route(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path((id, route_id)): Path<(String, Uuid)>,
    JsonBody(body): JsonBody<AssignLabel>,
) -> Result<StatusCode, AppError> {
    assign(&state, &caller, &id, Some(route_id), body.label).await
}

/// This resource's routes.
pub(super) fn routes() -> axum::Router<crate::state::AppState> {
    use axum::routing::{get, put};
    axum::Router::new()
        .route(
            "/applications/{id}/sensitivity-label",
            put(label_application),
        )
        .route(
            "/applications/{id}/routes/{route_id}/sensitivity-label",
            put(label_route),
        )
        .route("/authentication-contexts", get(list_contexts))
        .route(
            "/authentication-contexts/{id}",
            put(put_context).delete(delete_context),
        )
        .route("/sensitivity-labels", get(list_labels))
        .route(
            "/sensitivity-labels/{id}",
            put(put_label).delete(delete_label),
        )
}
