//! The JSON API under `/api/v1`, described by an OpenAPI 3 document generated from the code.

pub mod api_tokens;
pub mod apps;
pub mod banned_terms;
pub mod conditional_access;
pub mod groups;
pub mod labels;
pub mod logs;
pub mod oidc_clients;
pub mod security;
pub mod sessions;
pub mod shared;
pub mod signing_keys;
pub mod types;
pub mod user_methods;
pub mod users;

pub use crate::edge::api_input::JsonBody;
use crate::edge::api_input::Path;
use crate::edge::auth::ApiCaller;
use crate::edge::error::{AppError, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use types::*;
use utoipa::OpenApi;
use uuid::Uuid;

#[derive(OpenApi)]
#[openapi(
    info(title = "trustplane API", version = "1", description = "Admin and self-service API of trustplane. Authenticate with a session cookie (plus the X-CSRF-Token header on changes) or `Authorization: Bearer <API token>`."),
    paths(
        me, my_sessions, revoke_my_session,
        users::list_users, users::create_user, users::get_user, users::update_user, users::delete_user,
        users::set_password, users::user_sessions, users::revoke_user_sessions, users::assign_role, users::unassign_role,
        groups::list_groups, groups::create_group, groups::get_group, groups::delete_group, groups::group_members,
        groups::add_member, groups::remove_member,
        sessions::list_sessions, sessions::revoke_session,
        logs::list_sign_ins, logs::export_sign_ins, logs::list_audit, logs::verify_audit,
        api_tokens::list_tokens, api_tokens::create_token, api_tokens::revoke_token,
        banned_terms::list_banned_terms, banned_terms::add_banned_terms, banned_terms::remove_banned_term,
        security::breach_status, security::reload_breach,
        user_methods::list_methods, user_methods::remove_method, user_methods::require_reregistration, user_methods::temporary_password,
        user_methods::issue_tap, user_methods::get_tap, user_methods::revoke_tap,
        security::get_methods_policy, security::put_methods_policy,
        security::list_risk_detections, security::dismiss_risk_detection,
        conditional_access::get_policy_set, conditional_access::put_policy_set, conditional_access::validate_policy_set,
        conditional_access::list_versions, conditional_access::get_version, conditional_access::restore_version, conditional_access::templates,
        conditional_access::what_if, conditional_access::replay,
        conditional_access::get_object, conditional_access::put_object, conditional_access::delete_object,
        conditional_access::list_terms, conditional_access::create_terms, conditional_access::delete_terms,
        apps::list_applications, apps::create_application, apps::get_application,
        apps::delete_application, apps::add_route, apps::remove_route,
        oidc_clients::list_clients, oidc_clients::create_client, oidc_clients::get_client, oidc_clients::update_client,
        oidc_clients::delete_client, oidc_clients::rotate_secret,
        labels::list_contexts, labels::put_context, labels::delete_context,
        labels::list_labels, labels::put_label, labels::delete_label,
        labels::label_application, labels::label_route,
        signing_keys::list_keys, signing_keys::rotate,
    ),
    components(schemas(ErrorBody)),
    modifiers(&SecurityAddon),
    tags((name = "self", description = "The signed-in user"), (name = "admin", description = "Administration"))
)]
pub struct ApiDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("tp_session"))),
        );
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/me", get(me))
        .route("/me/sessions", get(my_sessions))
        .route("/me/sessions/{id}", delete(revoke_my_session))
        .merge(users::routes())
        .merge(groups::routes())
        .merge(sessions::routes())
        .merge(logs::routes())
        .merge(conditional_access::routes())
        .merge(apps::routes())
        .merge(oidc_clients::routes())
        .merge(labels::routes())
        .merge(signing_keys::routes())
        .merge(api_tokens::routes())
        .merge(banned_terms::routes())
        .merge(security::routes())
        .merge(user_methods::routes())
        .fallback(|| async { AppError::not_found("API endpoint") })
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

fn require_user(caller: &ApiCaller) -> Result<&crate::edge::auth::SessionCtx, AppError> {
    caller.session().ok_or_else(|| {
        AppError::bad_request(
            "not_a_user",
            "This endpoint describes a signed-in user; API tokens do not represent one.",
        )
    })
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "self",
    responses((status = 200, body = MeView), (status = 401, body = ErrorBody)))]
async fn me(State(state): State<AppState>, caller: ApiCaller) -> Result<Json<MeView>, AppError> {
    let ctx = require_user(&caller)?;
    let groups = state.store.groups_of(ctx.user.id).await?;
    Ok(Json(MeView {
        id: ctx.user.id,
        username: ctx.user.username.clone(),
        display_name: ctx.user.display_name.clone(),
        email: ctx.user.email.clone(),
        groups: groups.into_iter().map(|g| g.name).collect(),
        roles: ctx.roles.0.iter().map(|r| r.as_str().to_string()).collect(),
        session_id: ctx.session.id,
        amr: trustplane_core::authn::amr(&ctx.session.methods)
            .into_iter()
            .map(str::to_string)
            .collect(),
    }))
}

/// The signed-in user's active sessions.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "self",
    responses((status = 200, body = [SessionView]), (status = 401, body = ErrorBody)))]
async fn my_sessions(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<Vec<SessionView>>, AppError> {
    let ctx = require_user(&caller)?;
    let list = state
        .store
        .list_sessions(Some(ctx.user.id), Some(state.now()), 500)
        .await?;
    Ok(Json(list.into_iter().map(SessionView::from).collect()))
}

/// Signs out one of the user's own sessions.
#[utoipa::path(delete, path = "/api/v1/me/sessions/{id}", tag = "self",
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn revoke_my_session(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, AppError> {
    let ctx = require_user(&caller)?;
    match state.store.get_session(id).await? {
        Some(s) if s.user_id == ctx.user.id => {
            state.store.revoke_session(id, state.now(), None).await?;
            Ok(StatusCode::NO_CONTENT)
        }
        _ => Err(AppError::not_found("session")),
    }
}
