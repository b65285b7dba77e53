//! Sign-in, the first stage a person meets: the flow and its steps (`flow.rs`, `step_pages.rs`),
//! conditional access inside the flow (`conditions.rs`), WebAuthn (`webauthn.rs`,
//! `passkey_pages.rs`), email codes, self-service password reset (`reset.rs`), the sign-in
//! limits and cheap refusals, and the one completion path every method ends in
//! ([`complete`]).

pub mod complete;
pub mod conditions;
pub mod email_codes;
pub mod factors;
pub mod flow;
pub mod limits;
pub mod login_pages;
pub mod passkey_pages;
pub mod refusals;
pub mod reset;
pub mod reset_checks;
pub mod reset_password;
pub mod step_pages;
pub mod steps;
pub mod webauthn;
pub mod webauthn_sign_in;

/// The routes of sign-in, its steps, passkeys and self-service password reset.
pub fn router() -> axum::Router<crate::state::AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route(
            "/login",
            get(login_pages::login_form).post(login_pages::login_submit),
        )
        .route("/logout", post(login_pages::logout))
        .route("/login/continue", get(step_pages::continue_page))
        .route(
            "/login/change-password",
            post(step_pages::change_password_submit),
        )
        .route("/login/accept-terms", post(step_pages::accept_terms_submit))
        .route("/login/mfa", post(step_pages::mfa_submit))
        .route("/login/mfa/email", post(step_pages::mfa_send_email))
        .route("/reset", get(reset::start_page).post(reset::start_submit))
        .route(
            "/reset/verify",
            get(reset::verify_page).post(reset_checks::verify_submit),
        )
        .route("/reset/email", post(reset::send_email))
        .route(
            "/reset/passkey/options",
            post(reset_checks::passkey_options),
        )
        .route("/reset/passkey", post(reset_checks::passkey_submit))
        .route("/reset/password", post(reset_password::password_submit))
        .route(
            "/reset/check-password",
            post(reset_password::check_password),
        )
        .route(
            "/login/tap",
            get(step_pages::tap_form).post(step_pages::tap_submit),
        )
        .route("/login/register-totp", post(step_pages::register_submit))
        .route(
            "/login/skip-registration",
            post(step_pages::skip_registration),
        )
        .route("/login/check-password", post(step_pages::check_in_flow))
        .route("/my/check-password", post(step_pages::check_for_session))
        .route("/static/password-meter.js", get(step_pages::meter_script))
        .route("/static/webauthn.js", get(passkey_pages::script))
        .route(
            "/login/passkey/options",
            post(passkey_pages::passwordless_options),
        )
        .route("/login/passkey", post(passkey_pages::passwordless_submit))
        .route(
            "/login/webauthn/options",
            post(passkey_pages::second_factor_options),
        )
        .route("/login/webauthn", post(passkey_pages::second_factor_submit))
        .route(
            "/my/security-info/webauthn/options",
            post(passkey_pages::registration_options),
        )
        .route("/my/security-info/webauthn", post(passkey_pages::register))
        .route(
            "/my/security-info/webauthn/{id}/rename",
            post(passkey_pages::rename),
        )
        .route(
            "/bootstrap",
            get(login_pages::bootstrap_form).post(login_pages::bootstrap_submit),
        )
}
