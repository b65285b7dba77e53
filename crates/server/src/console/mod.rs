//! The admin console (`/admin`): server-rendered pages per resource.

pub mod admin;
pub mod applications;
pub mod devices;
pub mod oidc_clients;
pub mod policies;
pub mod protection;

/// The routes of the admin console.
pub fn router() -> axum::Router<crate::state::AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route(
            "/admin/oidc/clients",
            get(oidc_clients::clients).post(oidc_clients::create),
        )
        .route(
            "/admin/oidc/clients/{id}/delete",
            post(oidc_clients::delete),
        )
        .route(
            "/admin/oidc/clients/{id}/secret",
            post(oidc_clients::rotate_secret),
        )
        .route("/admin", get(admin::home))
        .route("/admin/users", get(admin::users).post(admin::create_user))
        .route("/admin/users/{id}", get(admin::user))
        .route("/admin/users/{id}/status", post(admin::user_status))
        .route("/admin/users/{id}/delete", post(admin::user_delete))
        .route("/admin/users/{id}/password", post(admin::user_password))
        .route(
            "/admin/users/{id}/password/temporary",
            post(admin::temporary_password),
        )
        .route("/admin/users/{id}/roles", post(admin::user_roles))
        .route(
            "/admin/users/{id}/methods/{method}/remove",
            post(admin::remove_method),
        )
        .route("/admin/users/{id}/tap", post(admin::issue_tap))
        .route(
            "/admin/users/{id}/reregister",
            post(admin::require_reregistration),
        )
        .route("/admin/users/{id}/tap/revoke", post(admin::revoke_tap))
        .route(
            "/admin/groups",
            get(admin::groups).post(admin::create_group),
        )
        .route("/admin/groups/{id}", get(admin::group))
        .route("/admin/groups/{id}/members", post(admin::add_member))
        .route(
            "/admin/groups/{id}/members/remove",
            post(admin::remove_member),
        )
        .route("/admin/groups/{id}/delete", post(admin::delete_group))
        .route("/admin/sessions", get(admin::sessions))
        .route("/admin/devices", get(devices::list))
        .route("/admin/devices/{id}", get(devices::detail))
        .route("/admin/devices/{id}/disable", post(devices::disable))
        .route("/admin/devices/{id}/enable", post(devices::enable))
        .route("/admin/devices/{id}/delete", post(devices::delete))
        .route("/admin/sessions/{id}/revoke", post(admin::revoke_session))
        .route("/admin/sign-ins", get(admin::sign_ins))
        .route("/admin/sign-ins/{id}", get(policies::sign_in_detail))
        .route(
            "/admin/conditional-access",
            get(policies::policies).post(policies::save),
        )
        .route(
            "/admin/conditional-access/versions/{version}/restore",
            post(policies::restore),
        )
        .route("/admin/conditional-access/what-if", get(policies::what_if))
        .route(
            "/admin/conditional-access/replay",
            get(policies::replay_form).post(policies::replay),
        )
        .route(
            "/admin/password-protection",
            get(protection::password_protection),
        )
        .route(
            "/admin/password-protection/terms",
            post(protection::add_terms),
        )
        .route(
            "/admin/password-protection/terms/remove",
            post(protection::remove_term),
        )
        .route(
            "/admin/password-protection/reload",
            post(protection::reload_breach_page),
        )
        .route("/admin/risk", get(protection::risk_detections))
        .route(
            "/admin/authentication-methods",
            get(protection::auth_methods).post(protection::save_auth_methods),
        )
        .route(
            "/admin/risk/{id}/dismiss",
            post(protection::dismiss_detection),
        )
        .route("/admin/audit", get(admin::audit))
        .route(
            "/admin/applications",
            get(applications::page).post(applications::create),
        )
        .route(
            "/admin/applications/{id}/delete",
            post(applications::delete),
        )
        .route(
            "/admin/applications/{id}/routes",
            post(applications::add_route),
        )
        .route(
            "/admin/applications/{id}/routes/{route_id}/delete",
            post(applications::remove_route),
        )
        .route("/admin/labels", post(applications::put_label))
        .route(
            "/admin/labels/{id}/delete",
            post(applications::delete_label),
        )
        .route("/admin/contexts", post(applications::put_context))
        .route(
            "/admin/contexts/{id}/delete",
            post(applications::delete_context),
        )
        .route("/admin/keys/rotate", post(applications::rotate_keys))
        .route(
            "/admin/registration-activity",
            get(admin::registration_activity),
        )
        .route(
            "/admin/tokens",
            get(admin::tokens).post(admin::create_token),
        )
        .route("/admin/tokens/{id}/revoke", post(admin::revoke_token))
}
