//! Admin API, applications behind forward-auth and their routes.

use crate::api::JsonBody;
use crate::edge::api_input::Path;
use crate::edge::auth::ApiCaller;
use crate::edge::error::{AppError, ErrorBody};
use crate::enforce::app_routes::{check_host, check_name, check_prefix, check_slug};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use trustplane_core::audit::AuditDraft;
use trustplane_core::identity::Permission;
use trustplane_store::{Application, Route, StoreError};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
pub struct RouteView {
    pub id: Uuid,
    pub host: String,
    pub path_prefix: String,
    pub sensitivity_label: Option<String>,
    /// The prefix also covers other cases of the path.
    pub case_insensitive: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Route> for RouteView {
    fn from(r: Route) -> Self {
        RouteView {
            id: r.id,
            host: r.host,
            path_prefix: r.path_prefix,
            sensitivity_label: r.sensitivity_label,
            case_insensitive: r.case_insensitive,
            created_at: r.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ApplicationView {
    pub id: String,
    pub name: String,
    pub allowed_hosts: Vec<String>,
    pub sensitivity_label: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub routes: Vec<RouteView>,
}

fn view(a: Application, routes: Vec<Route>) -> ApplicationView {
    ApplicationView {
        id: a.id,
        name: a.name,
        allowed_hosts: a.allowed_hosts,
        sensitivity_label: a.sensitivity_label,
        created_at: a.created_at,
        routes: routes.into_iter().map(RouteView::from).collect(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApplication {
    /// Lowercase slug; conditional access policies name the application by it.
    pub id: String,
    pub name: String,
    /// Host names a sign-in may return to (the hosts of its routes are always allowed).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// A sensitivity label (see `/api/v1/sensitivity-labels`).
    #[serde(default)]
    pub sensitivity_label: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoute {
    /// The host as the proxy sees it (`Host` header), with `:port` when not the default.
    pub host: String,
    /// Starts with `/`; the longest prefix covering a request's path wins.
    pub path_prefix: String,
    /// A sensitivity label for what lives under this prefix.
    #[serde(default)]
    pub sensitivity_label: Option<String>,
    /// The prefix also covers other (ASCII) cases of the path: set it when the upstream serves
    /// paths case-insensitively, so `/PAYROLL/x` is under `/payroll`. Default false.
    #[serde(default)]
    pub case_insensitive: bool,
}

/// Every application with its routes.
#[utoipa::path(get, path = "/api/v1/applications", tag = "admin",
    responses((status = 200, body = [ApplicationView])))]
pub async fn list_applications(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<Vec<ApplicationView>>, AppError> {
    caller.require(Permission::PolicyRead)?;
    let mut routes = state.store.list_routes(None).await?;
    let mut out = Vec::new();
    for a in state.store.list_applications().await? {
        let (mine, rest): (Vec<Route>, Vec<Route>) =
            routes.into_iter().partition(|r| r.app_id == a.id);
        routes = rest;
        out.push(view(a, mine));
    }
    Ok(Json(out))
}

/// Registers an application.
#[utoipa::path(post, path = "/api/v1/applications", tag = "admin",
    request_body = CreateApplication,
    responses((status = 201, body = ApplicationView), (status = 400, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn create_application(
    State(state): State<AppState>,
    caller: ApiCaller,
    JsonBody(body): JsonBody<CreateApplication>,
) -> Result<(StatusCode, Json<ApplicationView>), AppError> {
    caller.require(Permission::PolicyWrite)?;
    check_slug(&body.id)?;
    let name = check_name(&body.name)?;
    let mut hosts = Vec::new();
    for h in &body.allowed_hosts {
        let h = check_host(h)?;
        if !hosts.contains(&h) {
            hosts.push(h);
        }
    }
    let app = Application {
        id: body.id,
        name,
        allowed_hosts: hosts,
        sensitivity_label: body.sensitivity_label,
        created_at: state.now(),
    };
    let audit = AuditDraft::new(
        &caller.actor(),
        "application.create",
        "application",
        Some(app.id.clone()),
    )
    .after(
        &serde_json::json!({ "name": app.name, "allowed_hosts": app.allowed_hosts,
        "sensitivity_label": app.sensitivity_label }),
    );
    state
        .store
        .create_application(&app, audit)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => AppError::new(
                StatusCode::CONFLICT,
                "application_exists",
                format!("An application with the id `{}` already exists.", app.id),
            ),
            StoreError::NotFound("sensitivity label or authentication context") => {
                AppError::bad_request(
                    "unknown_sensitivity_label",
                    "The sensitivity label does not exist.",
                )
            }
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, Json(view(app, Vec::new()))))
}

/// One application with its routes.
#[utoipa::path(get, path = "/api/v1/applications/{id}", tag = "admin",
    params(("id" = String, Path)),
    responses((status = 200, body = ApplicationView), (status = 404, body = ErrorBody)))]
pub async fn get_application(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<ApplicationView>, AppError> {
    caller.require(Permission::PolicyRead)?;
    let app = state
        .store
        .get_application(&id)
        .await?
        .ok_or_else(|| AppError::not_found("application"))?;
    let routes = state.store.list_routes(Some(&id)).await?;
    Ok(Json(view(app, routes)))
}

/// Deletes an application and its routes (requests to them are refused from then on).
#[utoipa::path(delete, path = "/api/v1/applications/{id}", tag = "admin",
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_application(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    caller.require(Permission::PolicyWrite)?;
    let before = state
        .store
        .get_application(&id)
        .await?
        .ok_or_else(|| AppError::not_found("application"))?;
    let routes = state.store.list_routes(Some(&id)).await?;
    let audit = AuditDraft::new(
        &caller.actor(),
        "application.delete",
        "application",
        Some(id.clone()),
    )
    .before(&serde_json::json!({
        "name": before.name,
        "allowed_hosts": before.allowed_hosts,
        "routes": routes.iter().map(|r| format!("{}{}", r.host, r.path_prefix)).collect::<Vec<_>>(),
    }));
    if state.store.delete_application(&id, audit).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found("application"))
    }
}

/// Adds a route (host and path prefix) to an application.
#[utoipa::path(post, path = "/api/v1/applications/{id}/routes", tag = "admin",
    params(("id" = String, Path)), request_body = CreateRoute,
    responses((status = 201, body = RouteView), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_route(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CreateRoute>,
) -> Result<(StatusCode, Json<RouteView>), AppError> {
    caller.require(Permission::PolicyWrite)?;
    let host = check_host(&body.host)?;
    check_prefix(&body.path_prefix)?;
    let route = Route {
        id: Uuid::now_v7(),
        app_id: id.clone(),
        host,
        path_prefix: body.path_prefix,
        sensitivity_label: body.sensitivity_label,
        case_insensitive: body.case_insensitive,
        created_at: state.now(),
    };
    let audit = AuditDraft::new(
        &caller.actor(),
        "application.route.add",
        "application",
        Some(id),
    )
    .after(&serde_json::json!({
        "route_id": route.id, "host": route.host, "path_prefix": route.path_prefix,
        "sensitivity_label": route.sensitivity_label,
        "case_insensitive": route.case_insensitive,
    }));
    state
        .store
        .add_route(&route, audit)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => AppError::new(
                StatusCode::CONFLICT,
                "route_exists",
                format!(
                    "The route {}{} already belongs to an application.",
                    route.host, route.path_prefix
                ),
            ),
            StoreError::NotFound("sensitivity label or authentication context") => {
                AppError::bad_request(
                    "unknown_sensitivity_label",
                    "The sensitivity label does not exist.",
                )
            }
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, Json(route.into())))
}

/// Removes a route from an application.
#[utoipa::path(delete, path = "/api/v1/applications/{id}/routes/{route_id}", tag = "admin",
    params(("id" = String, Path), ("route_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn remove_route(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path((id, route_id)): Path<(String, Uuid)>,
) -> Result<StatusCode, AppError> {
    caller.require(Permission::PolicyWrite)?;
    let audit = AuditDraft::new(
        &caller.actor(),
        "application.route.remove",
        "application",
        Some(id.clone()),
    )
    .before(&serde_json::json!({ "route_id": route_id }));
    if state.store.remove_route(&id, route_id, audit).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found("route"))
    }
}

/// This resource's routes.
pub(super) fn routes() -> axum::Router<crate::state::AppState> {
    use axum::routing::{delete, get, post};
    axum::Router::new()
        .route(
            "/applications",
            get(list_applications).post(create_application),
        )
        .route(
            "/applications/{id}",
            get(get_application).delete(delete_application),
        )
        .route("/applications/{id}/routes", post(add_route))
        .route("/applications/{id}/routes/{route_id}", delete(remove_route))
}
