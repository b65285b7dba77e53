//! Console: protected applications and their routes, sensitivity labels and authentication
//! contexts, signing keys. Every form calls the admin API's handler with the signed-in
//! administrator as the caller: the same validation, permission checks and audit.

use crate::api::JsonBody;
use crate::api::{apps as api_apps, labels as api_labels, signing_keys as api_keys};
use crate::edge::api_input::Path as ApiPath;
use crate::edge::auth::{AdminPage, ApiCaller, Principal, RequestCtx, SessionCtx};
use crate::edge::error::AppError;
use crate::edge::pages::Flash;
use crate::edge::pages::{Chrome, CsrfForm, PageResult, need, render};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use trustplane_core::identity::Permission;
use uuid::Uuid;

const HERE: &str = "/admin/applications";

fn caller(ctx: &SessionCtx, req: &RequestCtx) -> ApiCaller {
    ApiCaller {
        principal: Principal::User(Box::new(ctx.clone())),
        roles: ctx.roles.clone(),
        ip: req.ip,
    }
}

/// Back to the page with a notice, or with the API's error message.
fn back<T>(state: &AppState, r: Result<T, AppError>, ok: &str) -> Response {
    match r {
        Ok(_) => Redirect::to(&format!("{HERE}?ok={ok}")).into_response(),
        Err(e) => {
            Redirect::to(&crate::edge::pages::with_error(state, HERE, &e.message)).into_response()
        }
    }
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

struct RouteRow {
    id: Uuid,
    host: String,
    path_prefix: String,
    label: String,
    case_insensitive: bool,
}

struct AppRow {
    id: String,
    name: String,
    label: String,
    allowed_hosts: String,
    routes: Vec<RouteRow>,
}

struct LabelRow {
    id: String,
    name: String,
    rank: i32,
    context: String,
}

struct KeyRow {
    kid: String,
    alg: String,
    status: &'static str,
    created: String,
    until: String,
}

#[derive(Template)]
#[template(path = "admin/applications.html")]
struct ApplicationsPage {
    c: Chrome,
    can_write: bool,
    apps: Vec<AppRow>,
    labels: Vec<LabelRow>,
    contexts: Vec<(String, String, String)>,
    keys: Vec<KeyRow>,
}

pub async fn page(
    State(state): State<AppState>,
    jar: CookieJar,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    Query(flash): Query<Flash>,
) -> PageResult {
    need(&ctx, Permission::PolicyRead)?;
    let who = caller(&ctx, &req);
    let axum::Json(list) = api_apps::list_applications(State(state.clone()), who.clone()).await?;
    let labels = state.store.list_sensitivity_labels().await?;
    let contexts = state.store.list_authentication_contexts().await?;
    let axum::Json(keys) = api_keys::list_keys(State(state.clone()), who).await?;
    let notice = match flash.ok.as_deref() {
        Some("saved") => Some("Saved.".to_string()),
        Some("deleted") => Some("Deleted.".to_string()),
        Some("rotated") => Some(
            "A new signing key was created; it signs in 10 minutes, and the current one stays published until what it signed has expired."
                .to_string(),
        ),
        _ => None,
    };
    let (jar, c) = Chrome::with_flash(&state, jar, &ctx, "applications", &flash, notice);
    let page = ApplicationsPage {
        c,
        can_write: ctx.roles.allows(Permission::PolicyWrite),
        apps: list
            .into_iter()
            .map(|a| AppRow {
                id: a.id,
                name: a.name,
                label: a.sensitivity_label.unwrap_or_default(),
                allowed_hosts: a.allowed_hosts.join(", "),
                routes: a
                    .routes
                    .into_iter()
                    .map(|r| RouteRow {
                        id: r.id,
                        host: r.host,
                        path_prefix: r.path_prefix,
                        label: r.sensitivity_label.unwrap_or_default(),
                        case_insensitive: r.case_insensitive,
                    })
                    .collect(),
            })
            .collect(),
        labels: labels
            .into_iter()
            .map(|l| LabelRow {
                id: l.id,
                name: l.name,
                rank: l.rank,
                context: l.authentication_context.unwrap_or_default(),
            })
            .collect(),
        contexts: contexts
            .into_iter()
            .map(|c| (c.id, c.name, c.description))
            .collect(),
        keys: keys
            .into_iter()
            .map(|k| KeyRow {
                kid: k.kid,
                alg: k.alg,
                status: k.status,
                created: crate::edge::pages::fmt_time(k.created_at),
                until: k
                    .published_until
                    .map(crate::edge::pages::fmt_time)
                    .unwrap_or_default(),
            })
            .collect(),
    };
    Ok((jar, render(&page)).into_response())
}

#[derive(Deserialize)]
pub struct CreateAppForm {
    id: String,
    name: String,
    #[serde(default)]
    allowed_hosts: String,
    #[serde(default)]
    label: String,
}

pub async fn create(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    CsrfForm(f): CsrfForm<CreateAppForm>,
) -> PageResult {
    let body = api_apps::CreateApplication {
        id: f.id.trim().to_string(),
        name: f.name,
        allowed_hosts: f
            .allowed_hosts
            .split([',', ' ', '\n'])
            .filter(|h| !h.trim().is_empty())
            .map(|h| h.trim().to_string())
            .collect(),
        sensitivity_label: opt(&f.label),
    };
    let r = api_apps::create_application(State(state.clone()), caller(&ctx, &req), JsonBody(body))
        .await;
    Ok(back(&state, r, "saved"))
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn delete(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<Empty>,
) -> PageResult {
    let r =
        api_apps::delete_application(State(state.clone()), caller(&ctx, &req), ApiPath(id)).await;
    Ok(back(&state, r, "deleted"))
}

#[derive(Deserialize)]
pub struct RouteForm {
    host: String,
    path_prefix: String,
    #[serde(default)]
    label: String,
    /// The checkbox: present (`on`) when ticked.
    #[serde(default)]
    case_insensitive: Option<String>,
}

pub async fn add_route(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    Path(id): Path<String>,
    CsrfForm(f): CsrfForm<RouteForm>,
) -> PageResult {
    let body = api_apps::CreateRoute {
        host: f.host.trim().to_string(),
        path_prefix: f.path_prefix.trim().to_string(),
        sensitivity_label: opt(&f.label),
        case_insensitive: f.case_insensitive.is_some(),
    };
    let r = api_apps::add_route(
        State(state.clone()),
        caller(&ctx, &req),
        ApiPath(id),
        JsonBody(body),
    )
    .await;
    Ok(back(&state, r, "saved"))
}

pub async fn remove_route(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    Path((id, route_id)): Path<(String, Uuid)>,
    CsrfForm(_): CsrfForm<Empty>,
) -> PageResult {
    let r = api_apps::remove_route(
        State(state.clone()),
        caller(&ctx, &req),
        ApiPath((id, route_id)),
    )
    .await;
    Ok(back(&state, r, "deleted"))
}

#[derive(Deserialize)]
pub struct LabelForm {
    id: String,
    name: String,
    rank: String,
    #[serde(default)]
    context: String,
}

pub async fn put_label(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    CsrfForm(f): CsrfForm<LabelForm>,
) -> PageResult {
    let Ok(rank) = f.rank.trim().parse::<i32>() else {
        return Ok(back::<()>(
            &state,
            Err(AppError::bad_request(
                "invalid_rank",
                "The rank is a whole number.",
            )),
            "",
        ));
    };
    let body = api_labels::PutLabel {
        name: f.name,
        rank,
        authentication_context: opt(&f.context),
    };
    let r = api_labels::put_label(
        State(state.clone()),
        caller(&ctx, &req),
        ApiPath(f.id.trim().to_string()),
        JsonBody(body),
    )
    .await;
    Ok(back(&state, r, "saved"))
}

pub async fn delete_label(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<Empty>,
) -> PageResult {
    let r = api_labels::delete_label(State(state.clone()), caller(&ctx, &req), ApiPath(id)).await;
    Ok(back(&state, r, "deleted"))
}

#[derive(Deserialize)]
pub struct ContextForm {
    id: String,
    name: String,
    #[serde(default)]
    description: String,
}

pub async fn put_context(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    CsrfForm(f): CsrfForm<ContextForm>,
) -> PageResult {
    let body = api_labels::PutContext {
        name: f.name,
        description: f.description,
    };
    let r = api_labels::put_context(
        State(state.clone()),
        caller(&ctx, &req),
        ApiPath(f.id.trim().to_string()),
        JsonBody(body),
    )
    .await;
    Ok(back(&state, r, "saved"))
}

pub async fn delete_context(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<Empty>,
) -> PageResult {
    let r = api_labels::delete_context(State(state.clone()), caller(&ctx, &req), ApiPath(id)).await;
    Ok(back(&state, r, "deleted"))
}

#[derive(Deserialize)]
pub struct RotateForm {
    #[serde(default)]
    alg: String,
}

pub async fn rotate_keys(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    CsrfForm(f): CsrfForm<RotateForm>,
) -> PageResult {
    let body = api_keys::RotateKeys { alg: opt(&f.alg) };
    let r = api_keys::rotate(State(state.clone()), caller(&ctx, &req), JsonBody(body)).await;
    Ok(back(&state, r, "rotated"))
}

/// This resource's routes.
pub(super) fn routes() -> axum::Router<crate::state::AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/admin/applications", get(page).post(create))
        .route("/admin/applications/{id}/delete", post(delete))
        .route("/admin/applications/{id}/routes", post(add_route))
        .route(
            "/admin/applications/{id}/routes/{route_id}/delete",
            post(remove_route),
        )
        .route("/admin/labels", post(put_label))
        .route("/admin/labels/{id}/delete", post(delete_label))
        .route("/admin/contexts", post(put_context))
        .route("/admin/contexts/{id}/delete", post(delete_context))
        .route("/admin/keys/rotate", post(rotate_keys))
}
