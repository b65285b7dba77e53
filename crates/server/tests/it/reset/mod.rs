//! Email one-time codes (a second factor, and the proof of a registered address), self-service
//! password reset at `/reset`, and the administrator's "require re-registration". Codes are
//! read from the outbox the server writes, as a user would read their mail. This module
//! holds the helpers; the tests are in the submodules.

mod admin;
mod email_codes;
mod self_service;

use crate::harness::*;
use crate::mfa::{enrol, oathtool, submit_code};
use serde_json::json;
use trustplane_core::identity::Role;

/// The code (the "    1234 5678" line) in the newest of `mail`.
fn code_in(mail: &[String]) -> String {
    let last = mail.last().unwrap();
    last.lines()
        .map(str::trim)
        .find(|l| {
            l.len() == 9
                && l.as_bytes()[4] == b' '
                && l.replace(' ', "").bytes().all(|b| b.is_ascii_digit())
        })
        .unwrap_or_else(|| panic!("no code in {last}"))
        .replace(' ', "")
}

/// The code in the newest message to `to` in the outbox.
async fn code_in_mail(s: &TestServer, to: &str, at_least: usize) -> String {
    code_in(&s.outbox(to, at_least).await)
}

/// Asks for an email code to `address` on the security info page (`from`: the page whose
/// form is used).
async fn add_email(
    c: &reqwest::Client,
    s: &TestServer,
    from: &str,
    address: &str,
) -> reqwest::Response {
    let form = [("address", address)];
    post_form(c, s, from, "/my/security-info/email", &form).await
}

/// Confirms the email address being added with `code`.
async fn confirm_email(
    c: &reqwest::Client,
    s: &TestServer,
    from: &str,
    code: &str,
) -> reqwest::Response {
    let form = [("code", code)];
    post_form(c, s, from, "/my/security-info/email/confirm", &form).await
}

/// Registers `address` as the user's email method through the security-info page.
async fn register_email(c: &reqwest::Client, s: &TestServer, address: &str, mails_before: usize) {
    let r = add_email(c, s, "/my/security-info", address).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/my/security-info?ok=email-sent");
    let html = page(c, s, "/my/security-info").await;
    assert!(html.contains("Code sent to"), "the page asks for the code");
    let code = code_in_mail(s, address, mails_before + 1).await;
    let r = confirm_email(c, s, "/my/security-info", &code).await;
    assert_eq!(location(&r), "/my/security-info?ok=email-added");
}

/// A step of the reset flow: a form posted to `path` with the token of `/reset/verify`.
async fn reset_step(
    c: &reqwest::Client,
    s: &TestServer,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    post_form(c, s, "/reset/verify", path, form).await
}

/// Starts a reset for `username` in the browser `c`.
async fn start_reset(c: &reqwest::Client, s: &TestServer, username: &str) -> reqwest::Response {
    post_form(c, s, "/reset", "/reset", &[("username", username)]).await
}

/// Answers the reset's verification step with `code`.
async fn verify_reset(c: &reqwest::Client, s: &TestServer, code: &str) -> reqwest::Response {
    reset_step(c, s, "/reset/verify", &[("code", code)]).await
}

/// Chooses `new` as the new password at the end of a reset.
async fn choose_password(c: &reqwest::Client, s: &TestServer, new: &str) -> reqwest::Response {
    let form = [("new_password", new), ("confirm_password", new)];
    reset_step(c, s, "/reset/password", &form).await
}
