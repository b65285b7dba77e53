//! The admin console (`/admin`): server-rendered pages per resource.

pub mod applications;
pub mod chrome;
pub mod devices;
pub mod groups;
pub mod home;
pub mod logs;
pub mod oidc_clients;
pub mod policies;
pub mod protection;
pub mod sessions;
pub mod tokens;
pub mod user_methods;
pub mod users;

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
        .route("/admin", get(home::home))
        .route("/admin/users", get(users::users).post(users::create_user))
        .route("/admin/users/{id}", get(users::user))
        .route("/admin/users/{id}/status", post(users::user_status))
        .route("/admin/users/{id}/delete", post(users::user_delete))
        .route(
            "/admin/users/{id}/password",
            post(user_methods::user_password),
        )
        .route(
            "/admin/users/{id}/password/temporary",
            post(user_methods::temporary_password),
        )
        .route("/admin/users/{id}/roles", post(users::user_roles))
        .route(
            "/admin/users/{id}/methods/{method}/remove",
            post(user_methods::remove_method),
        )
        .route("/admin/users/{id}/tap", post(user_methods::issue_tap))
        .route(
            "/admin/users/{id}/reregister",
            post(user_methods::require_reregistration),
        )
        .route(
            "/admin/users/{id}/tap/revoke",
            post(user_methods::revoke_tap),
        )
        .route(
            "/admin/groups",
            get(groups::groups).post(groups::create_group),
        )
        .route("/admin/groups/{id}", get(groups::group))
        .route("/admin/groups/{id}/members", post(groups::add_member))
        .route(
            "/admin/groups/{id}/members/remove",
            post(groups::remove_member),
        )
        .route("/admin/groups/{id}/delete", post(groups::delete_group))
        .route("/admin/sessions", get(sessions::sessions))
        .route("/admin/devices", get(devices::list))
        .route("/admin/devices/{id}", get(devices::detail))
        .route("/admin/devices/{id}/disable", post(devices::disable))
        .route("/admin/devices/{id}/enable", post(devices::enable))
        .route("/admin/devices/{id}/delete", post(devices::delete))
        .route(
            "/admin/sessions/{id}/revoke",
            post(sessions::revoke_session),
        )
        .route("/admin/sign-ins", get(logs::sign_ins))
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
        .route("/admin/audit", get(logs::audit))
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
            get(logs::registration_activity),
        )
        .route(
            "/admin/tokens",
            get(tokens::tokens).post(tokens::create_token),
        )
        .route("/admin/tokens/{id}/revoke", post(tokens::revoke_token))
}
