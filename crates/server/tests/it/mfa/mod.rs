//! Second factor with an authenticator app, recovery codes, the methods policy and
//! temporary access passes. Codes come from `oathtool` (Debian's oath-toolkit), an
//! implementation independent of ours. This module holds the helpers other tests use too.

mod recovery;
mod registration;
mod tap;
mod totp;

use crate::harness::*;
use serde_json::Value;

/// The TOTP code for `secret` (base32) at `when` (oathtool's `--now` syntax, e.g. "now").
pub(crate) fn oathtool(secret: &str, when: &str) -> String {
    let out = std::process::Command::new("oathtool")
        .args(["--totp", "-b", secret, "-N", when])
        .output()
        .expect("oathtool must be installed (Debian package oathtool; .ci/run installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

pub(crate) fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let i = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} in page"))
        + start.len();
    let j = html[i..].find(end).unwrap() + i;
    &html[i..j]
}

/// The secret and the signed pending enrolment of a page that offers an authenticator app.
pub(crate) fn secret_and_pending(html: &str) -> (String, String) {
    (
        between(html, "id=\"totp-secret\">", "<").to_string(),
        between(html, "name=\"pending\" value=\"", "\"").to_string(),
    )
}

/// A code that is certainly not the current one.
fn wrong(code: &str) -> String {
    if code == "000000" {
        "111111".into()
    } else {
        "000000".into()
    }
}

pub(crate) async fn submit_code(
    c: &reqwest::Client,
    s: &TestServer,
    code: &str,
) -> reqwest::Response {
    post_form(c, s, "/login/continue", "/login/mfa", &[("code", code)]).await
}

/// Starts enrolling an authenticator app on the security info page with the CSRF token
/// `token`; returns the page with the secret.
pub(crate) async fn offer_totp(c: &reqwest::Client, s: &TestServer, token: &str) -> String {
    let r = post_csrf(c, s, "/my/security-info/totp", token, &[]).await;
    r.text().await.unwrap()
}

/// Confirms the enrolment `pending` with `code` (and any further fields).
async fn confirm_totp(
    c: &reqwest::Client,
    s: &TestServer,
    token: &str,
    pending: &str,
    code: &str,
    more: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![("pending", pending), ("code", code)];
    form.extend_from_slice(more);
    post_csrf(c, s, "/my/security-info/totp/confirm", token, &form).await
}

/// Enrols an authenticator app for a signed-in client; returns the base32 secret.
pub(crate) async fn enrol(c: &reqwest::Client, s: &TestServer) -> String {
    let token = csrf(c, s, "/my/security-info").await;
    let (secret, pending) = secret_and_pending(&offer_totp(c, s, &token).await);
    let code = oathtool(&secret, "now");
    let r = confirm_totp(c, s, &token, &pending, &code, &[]).await;
    assert_eq!(r.status(), 303);
    secret
}

pub(crate) async fn put_policy(s: &TestServer, token: &str, policy: Value) -> reqwest::Response {
    Api::new(s, token)
        .put("/api/v1/policies/authentication-methods", &policy)
        .await
}

fn policy(require: Value, registration: Value, postpone: u32) -> Value {
    serde_json::json!({
        "totp": {"users": {"mode": "all"}},
        "recovery_codes": {"users": {"mode": "all"}},
        "require_mfa": require,
        "registration": {"users": registration, "postpone_days": postpone},
    })
}
