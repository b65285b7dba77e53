//! The JSON API under `/api/v1`, described by an OpenAPI 3 document generated from the code.

pub mod admin;
pub mod apps;
pub mod conditional_access;
pub mod keys;
pub mod labels;
pub mod oidc_clients;
pub mod security;
pub mod types;

pub use crate::edge::api_input::JsonBody;
use crate::edge::api_input::Path;
use crate::edge::auth::ApiCaller;
use crate::edge::error::{AppError, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use types::*;
use utoipa::OpenApi;
use uuid::Uuid;

#[derive(OpenApi)]
#[openapi(
    info(title = "trustplane API", version = "1", description = "Admin and self-service API of trustplane. Authenticate with a session cookie (plus the X-CSRF-Token header on changes) or `Authorization: Bearer <API token>`."),
    paths(
        me, my_sessions, revoke_my_session,
        admin::list_users, admin::create_user, admin::get_user, admin::update_user, admin::delete_user,
        admin::set_password, admin::user_sessions, admin::revoke_user_sessions, admin::assign_role, admin::unassign_role,
        admin::list_groups, admin::create_group, admin::get_group, admin::delete_group, admin::group_members,
        admin::add_member, admin::remove_member,
        admin::list_sessions, admin::revoke_session,
        admin::list_sign_ins, admin::export_sign_ins, admin::list_audit, admin::verify_audit,
        admin::list_tokens, admin::create_token, admin::revoke_token,
        admin::list_banned_terms, admin::add_banned_terms, admin::remove_banned_term,
        security::breach_status, security::reload_breach,
        admin::list_methods, admin::remove_method, admin::require_reregistration, admin::temporary_password,
        admin::issue_tap, admin::get_tap, admin::revoke_tap,
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
        keys::list_keys, keys::rotate,
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
        .route("/users", get(admin::list_users).post(admin::create_user))
        .route(
            "/users/{id}",
            get(admin::get_user)
                .patch(admin::update_user)
                .delete(admin::delete_user),
        )
        .route("/users/{id}/password", post(admin::set_password))
        .route(
            "/users/{id}/sessions",
            get(admin::user_sessions).delete(admin::revoke_user_sessions),
        )
        .route(
            "/users/{id}/roles/{role}",
            put(admin::assign_role).delete(admin::unassign_role),
        )
        .route("/groups", get(admin::list_groups).post(admin::create_group))
        .route(
            "/groups/{id}",
            get(admin::get_group).delete(admin::delete_group),
        )
        .route("/groups/{id}/members", get(admin::group_members))
        .route(
            "/groups/{id}/members/{user_id}",
            put(admin::add_member).delete(admin::remove_member),
        )
        .route("/sessions", get(admin::list_sessions))
        .route("/sessions/{id}", delete(admin::revoke_session))
        .route("/sign-ins", get(admin::list_sign_ins))
        .route("/sign-ins/export", get(admin::export_sign_ins))
        .route(
            "/conditional-access",
            get(conditional_access::get_policy_set).put(conditional_access::put_policy_set),
        )
        .route(
            "/conditional-access/validate",
            post(conditional_access::validate_policy_set),
        )
        .route(
            "/conditional-access/versions",
            get(conditional_access::list_versions),
        )
        .route(
            "/conditional-access/versions/{version}",
            get(conditional_access::get_version),
        )
        .route(
            "/conditional-access/versions/{version}/restore",
            post(conditional_access::restore_version),
        )
        .route(
            "/conditional-access/templates",
            get(conditional_access::templates),
        )
        .route(
            "/conditional-access/what-if",
            post(conditional_access::what_if),
        )
        .route(
            "/conditional-access/replay",
            post(conditional_access::replay),
        )
        .route(
            "/terms-of-use",
            get(conditional_access::list_terms).post(conditional_access::create_terms),
        )
        .route(
            "/terms-of-use/{id}",
            delete(conditional_access::delete_terms),
        )
        .route(
            "/conditional-access/{kind}/{id}",
            get(conditional_access::get_object)
                .put(conditional_access::put_object)
                .delete(conditional_access::delete_object),
        )
        .route(
            "/applications",
            get(apps::list_applications).post(apps::create_application),
        )
        .route(
            "/applications/{id}",
            get(apps::get_application).delete(apps::delete_application),
        )
        .route("/applications/{id}/routes", post(apps::add_route))
        .route(
            "/applications/{id}/routes/{route_id}",
            delete(apps::remove_route),
        )
        .route(
            "/oidc/clients",
            get(oidc_clients::list_clients).post(oidc_clients::create_client),
        )
        .route(
            "/oidc/clients/{id}",
            get(oidc_clients::get_client)
                .patch(oidc_clients::update_client)
                .delete(oidc_clients::delete_client),
        )
        .route(
            "/oidc/clients/{id}/secret",
            post(oidc_clients::rotate_secret),
        )
        .route(
            "/applications/{id}/sensitivity-label",
            put(labels::label_application),
        )
        .route(
            "/applications/{id}/routes/{route_id}/sensitivity-label",
            put(labels::label_route),
        )
        .route("/authentication-contexts", get(labels::list_contexts))
        .route(
            "/authentication-contexts/{id}",
            put(labels::put_context).delete(labels::delete_context),
        )
        .route("/signing-keys", get(keys::list_keys))
        .route("/signing-keys/rotate", post(keys::rotate))
        .route("/sensitivity-labels", get(labels::list_labels))
        .route(
            "/sensitivity-labels/{id}",
            put(labels::put_label).delete(labels::delete_label),
        )
        .route("/audit", get(admin::list_audit))
        .route("/audit/verify", get(admin::verify_audit))
        .route("/tokens", get(admin::list_tokens).post(admin::create_token))
        .route("/tokens/{id}", delete(admin::revoke_token))
        .route(
            "/password/banned-terms",
            get(admin::list_banned_terms).post(admin::add_banned_terms),
        )
        .route(
            "/password/banned-terms/{term}",
            delete(admin::remove_banned_term),
        )
        .route(
            "/policies/authentication-methods",
            get(security::get_methods_policy).put(security::put_methods_policy),
        )
        .route(
            "/users/{id}/temporary-access-pass",
            get(admin::get_tap)
                .post(admin::issue_tap)
                .delete(admin::revoke_tap),
        )
        .route("/users/{id}/methods", get(admin::list_methods))
        .route("/users/{id}/methods/{method}", delete(admin::remove_method))
        .route(
            "/users/{id}/password/temporary",
            post(admin::temporary_password),
        )
        .route(
            "/users/{id}/methods/require-reregistration",
            post(admin::require_reregistration),
        )
        .route("/password/breach-filter", get(security::breach_status))
        .route(
            "/password/breach-filter/reload",
            post(security::reload_breach),
        )
        .route("/risk-detections", get(security::list_risk_detections))
        .route(
            "/risk-detections/{id}/dismiss",
            post(security::dismiss_risk_detection),
        )
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
