//! Email one-time codes (a second factor, and the proof of a registered address), self-service
//! password reset at `/reset`, and the administrator's "require re-registration". Codes are
//! read from the outbox the server writes, as a user would read their mail.

use crate::harness::*;
use crate::mfa::{enrol, oathtool, put_policy, submit_code};
use serde_json::json;
use trustplane_core::identity::Role;

/// The code in the newest message to `to` (the "    1234 5678" line).
async fn code_in_mail(s: &TestServer, to: &str, at_least: usize) -> String {
    let mail = s.outbox(to, at_least).await;
    let last = mail.last().unwrap();
    let line = last
        .lines()
        .map(str::trim)
        .find(|l| {
            l.len() == 9
                && l.as_bytes()[4] == b' '
                && l.replace(' ', "").bytes().all(|b| b.is_ascii_digit())
        })
        .unwrap_or_else(|| panic!("no code in {last}"));
    line.replace(' ', "")
}

async fn post_form(
    c: &reqwest::Client,
    s: &TestServer,
    page: &str,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let token = csrf(c, s, page).await;
    let mut f: Vec<(&str, &str)> = vec![("csrf_token", token.as_str())];
    f.extend_from_slice(form);
    c.post(s.url(path)).form(&f).send().await.unwrap()
}

/// Registers `address` as the user's email method through the security-info page.
async fn register_email(c: &reqwest::Client, s: &TestServer, address: &str, mails_before: usize) {
    let r = post_form(
        c,
        s,
        "/my/security-info",
        "/my/security-info/email",
        &[("address", address)],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/my/security-info?ok=email-sent");
    let page = c
        .get(s.url("/my/security-info"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Code sent to"), "the page asks for the code");
    let code = code_in_mail(s, address, mails_before + 1).await;
    let r = post_form(
        c,
        s,
        "/my/security-info",
        "/my/security-info/email/confirm",
        &[("code", &code)],
    )
    .await;
    assert_eq!(r.headers()["location"], "/my/security-info?ok=email-added");
}

fn mfa_page_sends(html: &str) -> bool {
    html.contains("action=\"/login/mfa/email\"")
}

#[tokio::test]
async fn an_emailed_code_is_a_second_factor_once() {
    let s = TestServer::start().await;
    s.user("ella", &[]).await;
    let c = signed_in(&s, "ella").await;
    // A wrong confirmation code registers nothing.
    let r = post_form(
        &c,
        &s,
        "/my/security-info",
        "/my/security-info/email",
        &[("address", "ella.private@example.org")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let r = post_form(
        &c,
        &s,
        "/my/security-info",
        "/my/security-info/email/confirm",
        &[("code", "00000000")],
    )
    .await;
    assert!(r.headers()["location"].to_str().unwrap().contains("err="));
    assert!(
        s.state
            .store
            .list_mfa_methods(s.state.store.find_user("ella").await.unwrap().unwrap().id)
            .await
            .unwrap()
            .is_empty()
    );
    // An address that is not one is refused before anything is sent.
    let r = post_form(
        &c,
        &s,
        "/my/security-info",
        "/my/security-info/email",
        &[("address", "not-an-address")],
    )
    .await;
    assert!(r.headers()["location"].to_str().unwrap().contains("err="));
    register_email(&c, &s, "ella.private@example.org", 1).await;
    // The change was notified to the profile address.
    let notices = s.outbox("ella@example.com", 1).await;
    assert!(notices[0].contains("An email address for sign-in codes was added"));

    // Sign in again: the second-factor step offers the email code.
    let c = client();
    assert_eq!(login(&c, &s, "ella", PASSWORD).await.status(), 303);
    let page = c
        .get(s.url("/login/continue"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(mfa_page_sends(&page), "{page}");
    let token = csrf_of(&page);
    let r = c
        .post(s.url("/login/mfa/email"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = c
        .get(s.url("/login/continue"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("e•••@example.org"),
        "the page says where the code went"
    );
    assert!(
        !page.contains("ella.private@example.org"),
        "without disclosing the address"
    );
    let code = code_in_mail(&s, "ella.private@example.org", 2).await;
    // A wrong code is refused (and counted), the right one signs in.
    let wrong = if code == "12345678" {
        "87654321"
    } else {
        "12345678"
    };
    assert_eq!(submit_code(&c, &s, wrong).await.status(), 401);
    let r = submit_code(&c, &s, &code).await;
    assert_eq!(r.status(), 303);
    let me: serde_json::Value = c
        .get(s.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["amr"], json!(["pwd", "otp", "mfa"]));
    // The same code cannot sign in twice.
    let c2 = client();
    login(&c2, &s, "ella", PASSWORD).await;
    assert_eq!(submit_code(&c2, &s, &code).await.status(), 401);
    s.stop().await;
}

#[tokio::test]
async fn self_service_reset_with_an_emailed_code_revokes_sessions() {
    let s = TestServer::start().await;
    s.user("rick", &[]).await;
    let old = signed_in(&s, "rick").await;
    register_email(&old, &s, "rick@home.example", 0).await;

    let c = client();
    let r = post_form(&c, &s, "/reset", "/reset", &[("username", "rick")]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/reset/verify");
    // The new-password form is not reachable before verification.
    let r = post_form(
        &c,
        &s,
        "/reset/verify",
        "/reset/password",
        &[("new_password", "x"), ("confirm_password", "x")],
    )
    .await;
    assert_eq!(r.headers()["location"], "/reset/verify");
    let r = post_form(&c, &s, "/reset/verify", "/reset/email", &[]).await;
    assert_eq!(r.status(), 303);
    let code = code_in_mail(&s, "rick@home.example", 2).await;
    let r = post_form(&c, &s, "/reset/verify", "/reset/verify", &[("code", &code)]).await;
    assert_eq!(r.status(), 303);
    let page = c
        .get(s.url("/reset/verify"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Choose a new password"), "{page}");
    // Password protection applies.
    let r = post_form(
        &c,
        &s,
        "/reset/verify",
        "/reset/password",
        &[
            ("new_password", "password123456"),
            ("confirm_password", "password123456"),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("commonly used"));
    let new_pw = "quartz lantern orbit meadow";
    let r = post_form(
        &c,
        &s,
        "/reset/verify",
        "/reset/password",
        &[("new_password", new_pw), ("confirm_password", new_pw)],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Your password was reset"));
    // The old session is gone, the old password too; the new one works.
    let my = old.get(s.url("/my")).send().await.unwrap();
    assert_eq!(my.status(), 303, "revoked session sent to sign in");
    assert_eq!(login(&client(), &s, "rick", PASSWORD).await.status(), 401);
    // (rick has an email method, so the new sign-in stops at the second factor.)
    let r = login(&client(), &s, "rick", new_pw).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login/continue");
    // Notified, and audited.
    let notices = s.outbox("rick@example.com", 2).await;
    assert!(notices.last().unwrap().contains("Your password was reset"));
    let audit = s
        .state
        .store
        .list_audit(&trustplane_store::AuditQuery {
            action: Some("user.password.reset".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    // The flow is finished: the code and the flow cannot be used again.
    let r = post_form(&c, &s, "/reset", "/reset/verify", &[("code", &code)]).await;
    assert_eq!(r.headers()["location"], "/reset?expired=1");
    s.stop().await;
}

/// The visible text of a page without its per-request CSRF token.
fn text_without_token(html: &str) -> String {
    let t = csrf_of(html);
    html.replace(&t, "")
}

#[tokio::test]
async fn reset_never_reveals_whether_an_account_exists() {
    let s = TestServer::start().await;
    s.user("real", &[]).await;
    let c = signed_in(&s, "real").await;
    register_email(&c, &s, "real@home.example", 0).await;
    let disabled = s.user("gone", &[]).await;
    s.ops()
        .update_user(
            &trustplane_core::audit::Actor::system(),
            disabled.id,
            None,
            None,
            Some(trustplane_core::identity::UserStatus::Disabled),
        )
        .await
        .unwrap();

    let mut pages = Vec::new();
    for name in ["real", "ghost", "gone"] {
        let c = client();
        let r = post_form(&c, &s, "/reset", "/reset", &[("username", name)]).await;
        assert_eq!(r.status(), 303);
        let r = post_form(&c, &s, "/reset/verify", "/reset/email", &[]).await;
        assert_eq!(r.status(), 303);
        let page = c
            .get(s.url("/reset/verify"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let r = post_form(
            &c,
            &s,
            "/reset/verify",
            "/reset/verify",
            &[("code", "00000001")],
        )
        .await;
        let status = r.status();
        let wrong = r.text().await.unwrap();
        pages.push((
            status,
            text_without_token(&page).replace(name, "NAME"),
            text_without_token(&wrong).replace(name, "NAME"),
        ));
    }
    assert_eq!(
        pages[0], pages[1],
        "real and unknown accounts look the same"
    );
    assert_eq!(
        pages[0], pages[2],
        "real and disabled accounts look the same"
    );
    assert_eq!(pages[0].0, 401);
    // Only the real account was sent a code.
    assert_eq!(s.outbox("real@home.example", 2).await.len(), 2);
    s.stop().await;
}

#[tokio::test]
async fn two_methods_can_be_required_and_wrong_codes_end_the_flow() {
    let s = TestServer::start().await;
    let token = admin_token(&s, Role::GlobalAdministrator).await;
    let mut p: serde_json::Value = client()
        .get(s.url("/api/v1/policies/authentication-methods"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    p["sspr"]["methods_required"] = json!(3);
    assert_eq!(
        put_policy(&s, &token, p.clone()).await.status(),
        400,
        "1 or 2 only"
    );
    p["sspr"]["methods_required"] = json!(2);
    assert_eq!(put_policy(&s, &token, p).await.status(), 200);

    s.user("tina", &[]).await;
    let c = signed_in(&s, "tina").await;
    let secret = enrol(&c, &s).await;
    register_email(&c, &s, "tina@home.example", 0).await;

    let r2 = client();
    post_form(&r2, &s, "/reset", "/reset", &[("username", "tina")]).await;
    let page = r2
        .get(s.url("/reset/verify"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("method 1 of 2"));
    // TOTP first (the code from an independent implementation; the current step was used by
    // the enrolment, so the next one, within the allowed skew).
    let totp = oathtool(&secret, "now + 30 seconds");
    let r = post_form(
        &r2,
        &s,
        "/reset/verify",
        "/reset/verify",
        &[("code", &totp)],
    )
    .await;
    assert_eq!(r.status(), 303);
    let page = r2
        .get(s.url("/reset/verify"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("method 2 of 2"), "{page}");
    post_form(&r2, &s, "/reset/verify", "/reset/email", &[]).await;
    let code = code_in_mail(&s, "tina@home.example", 2).await;
    let r = post_form(
        &r2,
        &s,
        "/reset/verify",
        "/reset/verify",
        &[("code", &code)],
    )
    .await;
    assert_eq!(r.status(), 303);
    let page = r2
        .get(s.url("/reset/verify"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Choose a new password"));

    // Five wrong codes end a flow.
    let r3 = client();
    post_form(&r3, &s, "/reset", "/reset", &[("username", "tina")]).await;
    for i in 0..4 {
        let r = post_form(
            &r3,
            &s,
            "/reset/verify",
            "/reset/verify",
            &[("code", &format!("1111111{i}"))],
        )
        .await;
        assert_eq!(r.status(), 401);
    }
    let r = post_form(
        &r3,
        &s,
        "/reset/verify",
        "/reset/verify",
        &[("code", "22222222")],
    )
    .await;
    assert_eq!(r.headers()["location"], "/reset?expired=1");
    s.stop().await;
}

#[tokio::test]
async fn an_administrator_requires_re_registration() {
    let s = TestServer::start().await;
    s.user("lost", &[]).await;
    let c = signed_in(&s, "lost").await;
    enrol(&c, &s).await;
    let id = s.state.store.find_user("lost").await.unwrap().unwrap().id;
    let reader = admin_token(&s, Role::SecurityReader).await;
    let r = client()
        .post(s.url(&format!(
            "/api/v1/users/{id}/methods/require-reregistration"
        )))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let helpdesk = admin_token(&s, Role::HelpdeskAdministrator).await;
    let r = client()
        .post(s.url(&format!(
            "/api/v1/users/{id}/methods/require-reregistration"
        )))
        .bearer_auth(&helpdesk)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["methods_removed"], 1);
    // Signed out everywhere; the next sign-in must register (no "Not now").
    assert_eq!(c.get(s.url("/my")).send().await.unwrap().status(), 303);
    let c = client();
    let r = login(&c, &s, "lost", PASSWORD).await;
    assert_eq!(r.headers()["location"], "/login/continue");
    let page = c
        .get(s.url("/login/continue"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("register-totp"), "{page}");
    assert!(!page.contains("skip-registration"), "cannot be postponed");
    s.stop().await;
}

#[tokio::test]
async fn the_setup_wizard_registers_sign_in_and_reset_methods_in_one_pass() {
    let s = TestServer::start().await;
    s.user("wiz", &[]).await;
    let c = signed_in(&s, "wiz").await;
    let page = c
        .get(s.url("/my/security-info/setup"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Step 1 of 3: Authenticator app"), "{page}");
    // The authenticator app, confirmed through the usual handlers, returns to the wizard.
    let token = csrf_of(&page);
    let html = c
        .post(s.url("/my/security-info/totp"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let secret = crate::mfa::between(&html, "id=\"totp-secret\">", "<").to_string();
    let pending = crate::mfa::between(&html, "name=\"pending\" value=\"", "\"").to_string();
    let r = c
        .post(s.url("/my/security-info/totp/confirm"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("pending", pending.as_str()),
            ("code", oathtool(&secret, "now").as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/my/security-info/setup");
    let page = c
        .get(s.url("/my/security-info/setup"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Step 2 of 3: Email address"), "{page}");
    // The email step, then recovery codes whose page leads back to the wizard.
    let r = post_form(
        &c,
        &s,
        "/my/security-info/setup",
        "/my/security-info/email",
        &[("address", "wiz@home.example")],
    )
    .await;
    assert_eq!(r.headers()["location"], "/my/security-info/setup");
    let code = code_in_mail(&s, "wiz@home.example", 1).await;
    let r = post_form(
        &c,
        &s,
        "/my/security-info/setup",
        "/my/security-info/email/confirm",
        &[("code", &code)],
    )
    .await;
    assert_eq!(r.headers()["location"], "/my/security-info/setup");
    let page = c
        .get(s.url("/my/security-info/setup"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Step 3 of 3: Recovery codes"), "{page}");
    let codes = post_form(
        &c,
        &s,
        "/my/security-info/setup",
        "/my/security-info/recovery-codes",
        &[],
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(
        codes.contains("href=\"/my/security-info/setup\""),
        "back to the wizard"
    );
    let page = c
        .get(s.url("/my/security-info/setup"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("All set"), "{page}");
    let r = c
        .get(s.url("/my/security-info/setup?finish=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/my/security-info?ok=setup");
    // Out of the wizard, changes return to the overview again.
    let r = post_form(
        &c,
        &s,
        "/my/security-info",
        "/my/security-info/email",
        &[("address", "wiz2@home.example")],
    )
    .await;
    assert_eq!(r.headers()["location"], "/my/security-info?ok=email-sent");
    // A step can be skipped.
    s.user("skipper", &[]).await;
    let c = signed_in(&s, "skipper").await;
    let page = c
        .get(s.url("/my/security-info/setup?skip=1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Step 2 of 3: Email address"), "{page}");
    s.stop().await;
}

#[tokio::test]
async fn administrators_see_registration_and_reset_activity() {
    let s = TestServer::start().await;
    s.user("boss", &[Role::SecurityReader]).await;
    s.user("uma", &[]).await;
    s.user("ned", &[]).await;
    let c = signed_in(&s, "uma").await;
    enrol(&c, &s).await;
    let admin = signed_in(&s, "boss").await;
    let page = admin
        .get(s.url("/admin/registration-activity"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<strong>1</strong> of 3 users"), "{html}");
    assert!(html.contains("mfa.method.add"));
    assert!(
        !html.contains("user.create"),
        "only registration and reset actions"
    );
    // Not for users without audit-log access.
    let r = signed_in(&s, "ned")
        .await
        .get(s.url("/admin/registration-activity"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    s.stop().await;
}

#[tokio::test]
async fn an_administrator_resets_a_password_to_a_temporary_one() {
    let s = TestServer::start().await;
    s.user("tim", &[]).await;
    let old = signed_in(&s, "tim").await;
    let id = s.state.store.find_user("tim").await.unwrap().unwrap().id;
    let reader = admin_token(&s, Role::SecurityReader).await;
    let url = s.url(&format!("/api/v1/users/{id}/password/temporary"));
    assert_eq!(
        client()
            .post(&url)
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let helpdesk = admin_token(&s, Role::HelpdeskAdministrator).await;
    let r = client()
        .post(&url)
        .bearer_auth(&helpdesk)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: serde_json::Value = r.json().await.unwrap();
    let temp = body["password"].as_str().unwrap().to_string();
    assert_eq!(temp.len(), 24);
    // Old sessions and the old password are gone; the temporary one leads to a forced change.
    assert_eq!(old.get(s.url("/my")).send().await.unwrap().status(), 303);
    assert_eq!(login(&client(), &s, "tim", PASSWORD).await.status(), 401);
    let c = client();
    let r = login(&c, &s, "tim", &temp).await;
    assert_eq!(r.headers()["location"], "/login/continue");
    let page = c
        .get(s.url("/login/continue"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Choose a new password"), "{page}");
    s.stop().await;
}

/// The code in the newest message to `to` in a Maildir's `new/` folder.
async fn code_in_maildir(dir: &std::path::Path, to: &str, at_least: usize) -> String {
    let mail = read_mail_dir(&dir.join("new"), to, at_least).await;
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

/// Self-service reset end to end with the codes delivered over SMTP to a real server
/// (Python's aiosmtpd) and read out of the received messages.
#[tokio::test]
async fn reset_over_a_real_smtp_server() {
    let maildir = tempfile::tempdir().unwrap();
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir(maildir.path().join(sub)).unwrap();
    }
    let (_smtpd, port) = crate::mail::smtp_server(maildir.path());
    let s = TestServer::with(Options {
        email: trustplane_server::config::EmailConfig {
            transport: "smtp".into(),
            from: "Identity <identity@corp.example>".into(),
            smtp_host: Some("127.0.0.1".into()),
            smtp_port: port,
            smtp_tls: trustplane_server::config::SmtpTls::None,
            ..Default::default()
        },
        ..Options::default()
    })
    .await;
    s.user("sara", &[]).await;
    let old = signed_in(&s, "sara").await;
    // Register the address: the confirmation code arrives over SMTP.
    let r = post_form(
        &old,
        &s,
        "/my/security-info",
        "/my/security-info/email",
        &[("address", "sara@home.example")],
    )
    .await;
    assert_eq!(r.headers()["location"], "/my/security-info?ok=email-sent");
    let code = code_in_maildir(maildir.path(), "sara@home.example", 1).await;
    let r = post_form(
        &old,
        &s,
        "/my/security-info",
        "/my/security-info/email/confirm",
        &[("code", &code)],
    )
    .await;
    assert_eq!(r.headers()["location"], "/my/security-info?ok=email-added");
    // Reset.
    let c = client();
    post_form(&c, &s, "/reset", "/reset", &[("username", "sara")]).await;
    post_form(&c, &s, "/reset/verify", "/reset/email", &[]).await;
    let code = code_in_maildir(maildir.path(), "sara@home.example", 2).await;
    // The reset code read out of the received message verifies the reset.
    let r = post_form(&c, &s, "/reset/verify", "/reset/verify", &[("code", &code)]).await;
    assert_eq!(r.status(), 303);
    let new_pw = "velvet canyon parsnip orbit";
    let r = post_form(
        &c,
        &s,
        "/reset/verify",
        "/reset/password",
        &[("new_password", new_pw), ("confirm_password", new_pw)],
    )
    .await;
    assert_eq!(r.status(), 200);
    // The code is single-use: the same code in a new reset flow fails.
    let c2 = client();
    post_form(&c2, &s, "/reset", "/reset", &[("username", "sara")]).await;
    let r = post_form(
        &c2,
        &s,
        "/reset/verify",
        "/reset/verify",
        &[("code", &code)],
    )
    .await;
    assert_eq!(r.status(), 401);
    // Sessions revoked; the notice went over SMTP to the profile address.
    assert_eq!(old.get(s.url("/my")).send().await.unwrap().status(), 303);
    let notices = read_mail_dir(&maildir.path().join("new"), "sara@example.com", 2).await;
    assert!(
        notices
            .iter()
            .any(|m| m.contains("Your password was reset"))
    );
    assert!(
        !s.data_dir().join("outbox").exists(),
        "nothing in the outbox with SMTP configured"
    );
    s.stop().await;
}
