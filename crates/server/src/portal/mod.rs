//! The user's own pages (`/my`): account, sessions, devices, password, and security info
//! (registering and removing sign-in methods).

pub mod account;
pub mod enrolment;
pub mod security_info;
pub mod setup_wizard;

/// The routes of the user's own pages.
pub fn router() -> axum::Router<crate::state::AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/", get(account::root))
        .route("/my", get(account::my))
        .route("/my/password", post(account::my_password))
        .route("/my/security-info", get(security_info::page))
        .route("/my/security-info/totp", post(enrolment::start_totp))
        .route("/my/security-info/setup", get(setup_wizard::setup))
        .route("/my/security-info/email", post(enrolment::start_email))
        .route(
            "/my/security-info/email/confirm",
            post(enrolment::confirm_email),
        )
        .route(
            "/my/security-info/totp/confirm",
            post(enrolment::confirm_totp),
        )
        .route("/my/security-info/{id}/remove", post(security_info::remove))
        .route("/my/security-info/{id}/rename", post(security_info::rename))
        .route(
            "/my/security-info/recovery-codes",
            post(security_info::new_recovery_codes),
        )
        .route("/my/sessions/{id}/revoke", post(account::my_revoke_session))
        .route("/my/devices/{id}/remove", post(account::my_remove_device))
}
