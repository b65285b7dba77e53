//! Second factor with an authenticator app. Codes come from `oathtool` (Debian's oath-toolkit),
//! an implementation independent of ours.

use crate::harness::*;
use serde_json::Value;
use trustplane_core::signin::SignInResult;
use trustplane_store::{AuditQuery, SignInQuery};

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
    let html = c
        .get(s.url("/login/continue"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf_of(&html);
    c.post(s.url("/login/mfa"))
        .form(&[("csrf_token", token.as_str()), ("code", code)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn enrol_an_authenticator_app_and_sign_in_with_it() {
    let s = TestServer::start().await;
    let alice = s.user("alice", &[]).await;
    let c = signed_in(&s, "alice").await;
    let html = c
        .get(s.url("/my/security-info"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("No methods yet"));
    let token = csrf_of(&html);

    // Start: a secret to scan, as a QR code and as text.
    let r = c
        .post(s.url("/my/security-info/totp"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("<svg"), "QR code rendered server-side");
    let secret = between(&html, "id=\"totp-secret\">", "<").to_string();
    assert_eq!(secret.len(), 32, "160-bit secret in base32");
    let uri = between(&html, "id=\"totp-uri\">", "<").replace("&amp;", "&");
    assert!(
        uri.starts_with("otpauth://totp/trustplane:alice%40example.com?secret="),
        "{uri}"
    );
    let pending = between(&html, "name=\"pending\" value=\"", "\"").to_string();

    let confirm = |code: String, pending: String| {
        let c = c.clone();
        let url = s.url("/my/security-info/totp/confirm");
        let token = token.clone();
        async move {
            c.post(url)
                .form(&[
                    ("csrf_token", token.as_str()),
                    ("pending", pending.as_str()),
                    ("code", code.as_str()),
                    ("label", "Phone"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    // A wrong code keeps the enrolment open; a tampered one is refused; nothing is stored.
    let now = oathtool(&secret, "now");
    let r = confirm(wrong(&now), pending.clone()).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("not correct"));
    let mut bad = pending.clone().into_bytes();
    bad[10] = if bad[10] == b'A' { b'B' } else { b'A' };
    let r = confirm(now.clone(), String::from_utf8(bad).unwrap()).await;
    assert!(r.headers()["location"].to_str().unwrap().contains("err="));
    assert!(
        s.state
            .store
            .list_mfa_methods(alice.id)
            .await
            .unwrap()
            .is_empty()
    );

    // The right code registers the app.
    let r = confirm(now.clone(), pending.clone()).await;
    assert_eq!(r.headers()["location"], "/my/security-info?ok=added");
    let methods = s.state.store.list_mfa_methods(alice.id).await.unwrap();
    assert_eq!(methods.len(), 1);
    assert_eq!(methods[0].label, "Phone");
    let audit = s
        .state
        .store
        .list_audit(&AuditQuery {
            action: Some("mfa.method.add".into()),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    // The secret is sealed at rest, not stored in the clear.
    let (_, sealed) = s
        .state
        .store
        .mfa_secret(methods[0].id)
        .await
        .unwrap()
        .unwrap();
    assert!(!sealed.contains(&secret));

    // Signing in now asks for a code.
    let b = client();
    let r = login(&b, &s, "alice", PASSWORD).await;
    assert_eq!(r.headers()["location"], "/login/continue");
    let page = b
        .get(s.url("/login/continue"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Verify your identity"));
    // The enrolment code cannot be replayed, a wrong code is refused, both are logged.
    let r = submit_code(&b, &s, &now).await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("already used"));
    let r = submit_code(&b, &s, &wrong(&now)).await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("not correct"));
    let failures = s
        .state
        .store
        .list_sign_ins(&SignInQuery {
            user_id: Some(alice.id),
            result: Some(SignInResult::Failure),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let reasons: Vec<_> = failures
        .iter()
        .filter_map(|e| e.failure_reason.clone())
        .collect();
    assert!(
        reasons.contains(&"totp_replayed".to_string()),
        "{reasons:?}"
    );
    assert!(reasons.contains(&"totp_invalid".to_string()), "{reasons:?}");

    // The next step's code (within the one-step skew) signs in, with amr pwd + otp + mfa.
    let next = oathtool(&secret, "now + 30 seconds");
    let r = submit_code(&b, &s, &next).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/my");
    let me: Value = json(b.get(s.url("/api/v1/me")).send().await.unwrap()).await;
    assert_eq!(me["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    // That code is now used up for every other sign-in too.
    let other = client();
    login(&other, &s, "alice", PASSWORD).await;
    let r = submit_code(&other, &s, &next).await;
    assert!(r.text().await.unwrap().contains("already used"));

    // A leaked password with MFA registered: the second factor comes first.
    write_breach_filter(&s.state.cfg.breached_filter_path(), &[PASSWORD]);
    s.state.breach.reload(true);
    let d = client();
    login(&d, &s, "alice", PASSWORD).await;
    let page = d
        .get(s.url("/login/continue"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Verify your identity") && !page.contains("data breach"));

    // Removing the method: audited; sign-in no longer asks for a code.
    let html = c
        .get(s.url("/my/security-info"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Phone"));
    let r = c
        .post(s.url(&format!("/my/security-info/{}/remove", methods[0].id)))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/my/security-info?ok=removed");
    assert!(
        s.state
            .store
            .list_mfa_methods(alice.id)
            .await
            .unwrap()
            .is_empty()
    );
    s.state.breach.reload(true);
    std::fs::remove_file(s.state.cfg.breached_filter_path()).unwrap();
    s.stop().await;
}

#[tokio::test]
async fn someone_elses_method_cannot_be_removed_and_codes_are_rate_limited() {
    let s = TestServer::start().await;
    let a = s.user("ann", &[]).await;
    s.user("ben", &[]).await;
    // ann enrols.
    let c = signed_in(&s, "ann").await;
    let token = csrf(&c, &s, "/my/security-info").await;
    let html = c
        .post(s.url("/my/security-info/totp"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let secret = between(&html, "id=\"totp-secret\">", "<").to_string();
    let pending = between(&html, "name=\"pending\" value=\"", "\"").to_string();
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
    assert_eq!(r.status(), 303);
    let id = s.state.store.list_mfa_methods(a.id).await.unwrap()[0].id;
    // ben cannot remove it, nor use ann's pending enrolment.
    let b = signed_in(&s, "ben").await;
    let bt = csrf(&b, &s, "/my/security-info").await;
    let r = b
        .post(s.url(&format!("/my/security-info/{id}/remove")))
        .form(&[("csrf_token", bt.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = b
        .post(s.url("/my/security-info/totp/confirm"))
        .form(&[
            ("csrf_token", bt.as_str()),
            ("pending", pending.as_str()),
            ("code", oathtool(&secret, "now").as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.headers()["location"].to_str().unwrap().contains("err="));
    assert_eq!(s.state.store.list_mfa_methods(a.id).await.unwrap().len(), 1);

    // Guessing codes ends the flow after 10 tries.
    let g = client();
    login(&g, &s, "ann", PASSWORD).await;
    let mut last = None;
    for _ in 0..10 {
        last = Some(submit_code(&g, &s, "123456").await);
    }
    let last = last.unwrap();
    assert_eq!(last.headers()["location"], "/login?expired=1");
    s.stop().await;
}

/// Enrols an authenticator app for a signed-in client; returns the base32 secret.
pub(crate) async fn enrol(c: &reqwest::Client, s: &TestServer) -> String {
    let token = csrf(c, s, "/my/security-info").await;
    let html = c
        .post(s.url("/my/security-info/totp"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let secret = between(&html, "id=\"totp-secret\">", "<").to_string();
    let pending = between(&html, "name=\"pending\" value=\"", "\"").to_string();
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
    assert_eq!(r.status(), 303);
    secret
}

#[tokio::test]
async fn recovery_codes_sign_in_once_each() {
    let s = TestServer::start().await;
    let u = s.user("dora", &[]).await;
    let c = signed_in(&s, "dora").await;
    // Not before a method exists.
    let token = csrf(&c, &s, "/my/security-info").await;
    let r = c
        .post(s.url("/my/security-info/recovery-codes"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert!(r.headers()["location"].to_str().unwrap().contains("err="));
    assert_eq!(s.state.store.unused_recovery_codes(u.id).await.unwrap(), 0);

    enrol(&c, &s).await;
    let r = c
        .post(s.url("/my/security-info/recovery-codes"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    let list = between(&html, "id=\"recovery-codes\">", "</ul>");
    let codes: Vec<String> = list
        .split("<li>")
        .skip(1)
        .map(|x| x.split("</li>").next().unwrap().trim().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    assert!(
        codes
            .iter()
            .all(|c| c.len() == 11 && c.as_bytes()[5] == b'-')
    );
    assert_eq!(s.state.store.unused_recovery_codes(u.id).await.unwrap(), 10);

    // A recovery code (typed in upper case, without the dash) signs in once.
    let typed = codes[0].replace('-', "").to_uppercase();
    let b = client();
    login(&b, &s, "dora", PASSWORD).await;
    let r = submit_code(&b, &s, &typed).await;
    assert_eq!(r.headers()["location"], "/my");
    let me: Value = json(b.get(s.url("/api/v1/me")).send().await.unwrap()).await;
    assert_eq!(me["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(s.state.store.unused_recovery_codes(u.id).await.unwrap(), 9);
    let again = client();
    login(&again, &s, "dora", PASSWORD).await;
    let r = submit_code(&again, &s, &codes[0]).await;
    assert_eq!(r.status(), 401);

    // New codes replace the old ones.
    let r = c
        .post(s.url("/my/security-info/recovery-codes"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = submit_code(&again, &s, &codes[1]).await;
    assert_eq!(r.status(), 401, "an old code no longer works");

    // Removing the last method removes the recovery codes too.
    let id = s.state.store.list_mfa_methods(u.id).await.unwrap()[0].id;
    c.post(s.url(&format!("/my/security-info/{id}/remove")))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(s.state.store.unused_recovery_codes(u.id).await.unwrap(), 0);
    let audit = s
        .state
        .store
        .list_audit(&AuditQuery {
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"mfa.recovery_codes.issue"));
    assert!(actions.contains(&"mfa.recovery_codes.delete"));
    s.stop().await;
}

#[tokio::test]
async fn admins_see_and_remove_a_users_methods_within_their_role() {
    use trustplane_core::audit::Actor;
    use trustplane_core::identity::Role;
    let s = TestServer::start().await;
    let eve = s.user("eve", &[]).await;
    let boss = s.user("boss", &[Role::GlobalAdministrator]).await;
    enrol(&signed_in(&s, "eve").await, &s).await;
    enrol(&signed_in(&s, "boss").await, &s).await;
    let token = |role| {
        let ops = s.ops();
        async move {
            ops.create_token(&Actor::system(), "t", role, time::Duration::days(1))
                .await
                .unwrap()
                .1
        }
    };
    let helpdesk = token(Role::HelpdeskAdministrator).await;
    let reader = token(Role::SecurityReader).await;
    let c = client();

    let list: Value = json(
        c.get(s.url(&format!("/api/v1/users/{}/methods", eve.id)))
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list["methods"][0]["kind"], "totp");
    assert_eq!(list["recovery_codes_left"], 0);
    assert!(
        !list.to_string().contains("secret"),
        "no secrets in the listing"
    );
    let mid = list["methods"][0]["id"].as_str().unwrap().to_string();

    // A reader cannot remove; helpdesk cannot touch a global administrator's methods.
    let url = s.url(&format!("/api/v1/users/{}/methods/{mid}", eve.id));
    assert_eq!(
        c.delete(&url)
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let boss_mid = s.state.store.list_mfa_methods(boss.id).await.unwrap()[0].id;
    let r = c
        .delete(s.url(&format!("/api/v1/users/{}/methods/{boss_mid}", boss.id)))
        .bearer_auth(&helpdesk)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Someone else's method id under this user: not found.
    let r = c
        .delete(s.url(&format!("/api/v1/users/{}/methods/{boss_mid}", eve.id)))
        .bearer_auth(&helpdesk)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Helpdesk removes eve's lost phone; her next sign-in needs no code.
    assert_eq!(
        c.delete(&url)
            .bearer_auth(&helpdesk)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert!(
        s.state
            .store
            .list_mfa_methods(eve.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        login(&client(), &s, "eve", PASSWORD).await.headers()["location"],
        "/my"
    );
    // The console shows the remaining methods of the administrator.
    let admin = signed_in_mfa(&s, "boss").await;
    let html = admin
        .get(s.url(&format!("/admin/users/{}", boss.id)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Sign-in methods") && html.contains("Authenticator app"));
    s.stop().await;
}

/// Signs in a user who has an authenticator app, using a recovery code issued directly.
async fn signed_in_mfa(s: &TestServer, user: &str) -> reqwest::Client {
    use trustplane_core::audit::Actor;
    let u = s.state.store.find_user(user).await.unwrap().unwrap();
    let code = "abcde-fghij";
    let digest = trustplane_core::credential::secret_digest("abcdefghij");
    s.state
        .store
        .replace_recovery_codes(
            u.id,
            &[digest],
            time::OffsetDateTime::now_utc(),
            trustplane_core::audit::AuditDraft::new(
                &Actor::system(),
                "mfa.recovery_codes.issue",
                "user",
                None,
            ),
        )
        .await
        .unwrap();
    let c = client();
    login(&c, s, user, PASSWORD).await;
    let r = submit_code(&c, s, code).await;
    assert_eq!(r.status(), 303);
    c
}

pub(crate) async fn put_policy(s: &TestServer, token: &str, policy: Value) -> reqwest::Response {
    client()
        .put(s.url("/api/v1/policies/authentication-methods"))
        .bearer_auth(token)
        .json(&policy)
        .send()
        .await
        .unwrap()
}

fn policy(require: Value, registration: Value, postpone: u32) -> Value {
    serde_json::json!({
        "totp": {"users": {"mode": "all"}},
        "recovery_codes": {"users": {"mode": "all"}},
        "require_mfa": require,
        "registration": {"users": registration, "postpone_days": postpone},
    })
}

pub(crate) async fn admin_token(s: &TestServer, role: trustplane_core::identity::Role) -> String {
    s.ops()
        .create_token(
            &trustplane_core::audit::Actor::system(),
            "t",
            role,
            time::Duration::days(1),
        )
        .await
        .unwrap()
        .1
}

#[tokio::test]
async fn required_mfa_makes_users_register_during_sign_in() {
    use trustplane_core::identity::Role;
    let s = TestServer::start().await;
    let fay = s.user("fay", &[]).await;
    let t = admin_token(&s, Role::SecurityAdministrator).await;
    let r = put_policy(
        &s,
        &t,
        policy(
            serde_json::json!({"mode": "all"}),
            serde_json::json!({"mode": "none"}),
            0,
        ),
    )
    .await;
    assert_eq!(r.status(), 200);

    let c = client();
    assert_eq!(
        login(&c, &s, "fay", PASSWORD).await.headers()["location"],
        "/login/continue"
    );
    let html = c
        .get(s.url("/login/continue"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Keep your account secure") && html.contains("<svg"));
    assert!(
        !html.contains("Not now"),
        "no postponing when MFA is required"
    );
    let secret = between(&html, "id=\"totp-secret\">", "<").to_string();
    let pending = between(&html, "name=\"pending\" value=\"", "\"").to_string();
    let token = csrf_of(&html);
    let submit = |code: String, pending: String| {
        let c = c.clone();
        let url = s.url("/login/register-totp");
        let token = token.clone();
        async move {
            c.post(url)
                .form(&[
                    ("csrf_token", token.as_str()),
                    ("pending", pending.as_str()),
                    ("code", code.as_str()),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    // Skipping is refused; a wrong code keeps the same secret on the page.
    let r = c
        .post(s.url("/login/skip-registration"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let now = oathtool(&secret, "now");
    let r = submit(wrong(&now), pending.clone()).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("not correct"));
    assert_eq!(between(&html, "id=\"totp-secret\">", "<"), secret);
    // A pending value from another flow does not open.
    let other = client();
    login(&other, &s, "fay", PASSWORD).await;
    let other_html = other
        .get(s.url("/login/continue"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let foreign = between(&other_html, "name=\"pending\" value=\"", "\"").to_string();
    let r = submit(now.clone(), foreign).await;
    assert_eq!(r.headers()["location"], "/login?expired=1");
    // (That ended the first flow.) Start again and register properly.
    let c2 = client();
    login(&c2, &s, "fay", PASSWORD).await;
    let html = c2
        .get(s.url("/login/continue"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let secret = between(&html, "id=\"totp-secret\">", "<").to_string();
    let pending = between(&html, "name=\"pending\" value=\"", "\"").to_string();
    let r = c2
        .post(s.url("/login/register-totp"))
        .form(&[
            ("csrf_token", csrf_of(&html).as_str()),
            ("pending", pending.as_str()),
            ("code", oathtool(&secret, "now").as_str()),
        ])
        .send()
        .await
        .unwrap();
    // The registration interrupt continues in the combined registration wizard.
    assert_eq!(r.headers()["location"], "/my/security-info/setup");
    let me: Value = json(c2.get(s.url("/api/v1/me")).send().await.unwrap()).await;
    assert_eq!(me["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    let methods = s.state.store.list_mfa_methods(fay.id).await.unwrap();
    assert_eq!(methods.len(), 1);

    // The user cannot remove their only method while MFA is required.
    let tok = csrf(&c2, &s, "/my/security-info").await;
    let r = c2
        .post(s.url(&format!("/my/security-info/{}/remove", methods[0].id)))
        .form(&[("csrf_token", tok.as_str())])
        .send()
        .await
        .unwrap();
    assert!(r.headers()["location"].to_str().unwrap().contains("err="));
    assert_eq!(
        s.state.store.list_mfa_methods(fay.id).await.unwrap().len(),
        1
    );
    // Next sign-in asks for a code from the app.
    let d = client();
    login(&d, &s, "fay", PASSWORD).await;
    let html = d
        .get(s.url("/login/continue"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Verify your identity"));
    s.stop().await;
}

#[tokio::test]
async fn a_registration_campaign_can_be_postponed_while_allowed() {
    use trustplane_core::identity::Role;
    let s = TestServer::start().await;
    s.user("gus", &[]).await;
    let t = admin_token(&s, Role::SecurityAdministrator).await;
    let none = serde_json::json!({"mode": "none"});
    let all = serde_json::json!({"mode": "all"});
    assert_eq!(
        put_policy(&s, &t, policy(none.clone(), all.clone(), 3))
            .await
            .status(),
        200
    );
    let c = client();
    login(&c, &s, "gus", PASSWORD).await;
    let html = c
        .get(s.url("/login/continue"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Not now"));
    let r = c
        .post(s.url("/login/skip-registration"))
        .form(&[("csrf_token", csrf_of(&html).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/my");
    let me: Value = json(c.get(s.url("/api/v1/me")).send().await.unwrap()).await;
    assert_eq!(me["amr"], serde_json::json!(["pwd"]));
    // With no days left (counted from the first prompt), it cannot be postponed any more.
    assert_eq!(put_policy(&s, &t, policy(none, all, 0)).await.status(), 200);
    let d = client();
    login(&d, &s, "gus", PASSWORD).await;
    let html = d
        .get(s.url("/login/continue"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Keep your account secure") && !html.contains("Not now"));
    s.stop().await;
}

#[tokio::test]
async fn the_methods_policy_is_validated_audited_and_role_limited() {
    use trustplane_core::identity::Role;
    let s = TestServer::start().await;
    s.user("root", &[Role::GlobalAdministrator]).await;
    let t = admin_token(&s, Role::SecurityAdministrator).await;
    let reader = admin_token(&s, Role::SecurityReader).await;
    let none = serde_json::json!({"mode": "none"});
    let all = serde_json::json!({"mode": "all"});
    // Invalid documents change nothing.
    let r = put_policy(&s, &t, policy(none.clone(), all.clone(), 20)).await;
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["error"], "invalid_policy");
    let ghost = serde_json::json!({"mode": "groups", "groups": [uuid::Uuid::now_v7()]});
    let r = put_policy(&s, &t, policy(ghost, none.clone(), 0)).await;
    assert_eq!(json(r).await["error"], "unknown_group");
    let mut extra = policy(none.clone(), none.clone(), 0);
    extra["surprise"] = serde_json::json!(true);
    assert_eq!(put_policy(&s, &t, extra).await.status(), 422);
    assert_eq!(
        put_policy(&s, &reader, policy(all.clone(), none.clone(), 0))
            .await
            .status(),
        403
    );
    let got: Value = json(
        client()
            .get(s.url("/api/v1/policies/authentication-methods"))
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(got["require_mfa"]["mode"], "none", "still the default");

    // The console: group names resolve; unknown names are a clear error.
    s.ops()
        .create_group(&trustplane_core::audit::Actor::system(), "finance", "")
        .await
        .unwrap();
    let admin = signed_in(&s, "root").await;
    let html = admin
        .get(s.url("/admin/authentication-methods"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf_of(&html);
    let form = |require_groups: &'static str| {
        vec![
            ("csrf_token", token.clone()),
            ("totp_mode", "all".to_string()),
            ("recovery_mode", "all".to_string()),
            ("tap_mode", "all".to_string()),
            ("email_mode", "all".to_string()),
            ("sspr_mode", "all".to_string()),
            ("sspr_methods", "1".to_string()),
            ("require_mode", "groups".to_string()),
            ("require_groups", require_groups.to_string()),
            ("registration_mode", "none".to_string()),
            ("postpone_days", "0".to_string()),
        ]
    };
    let r = admin
        .post(s.url("/admin/authentication-methods"))
        .form(&form("Finance, nonexistent"))
        .send()
        .await
        .unwrap();
    assert!(r.headers()["location"].to_str().unwrap().contains("err="));
    let r = admin
        .post(s.url("/admin/authentication-methods"))
        .form(&form("Finance"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["location"],
        "/admin/authentication-methods?ok=saved"
    );
    let html = admin
        .get(s.url("/admin/authentication-methods"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("value=\"finance\""), "group names shown");
    let audit = s
        .state
        .store
        .list_audit(&AuditQuery {
            action: Some("policy.auth_methods.update".into()),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert!(
        audit[0]
            .before
            .as_ref()
            .unwrap()
            .to_string()
            .contains("none")
    );
    assert!(
        audit[0]
            .after
            .as_ref()
            .unwrap()
            .to_string()
            .contains("groups")
    );
    s.stop().await;
}

async fn tap_sign_in(
    c: &reqwest::Client,
    s: &TestServer,
    user: &str,
    pass: &str,
) -> reqwest::Response {
    let token = csrf(c, s, "/login/tap").await;
    c.post(s.url("/login/tap"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", user),
            ("pass", pass),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_temporary_access_pass_lets_a_new_user_in_to_register_methods() {
    use trustplane_core::audit::Actor;
    use trustplane_core::identity::Role;
    use trustplane_server::ops::NewUser;
    let s = TestServer::start().await;
    let hana = s
        .ops()
        .create_user(
            &Actor::system(),
            NewUser {
                username: "hana".into(),
                display_name: Some("Hana".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let boss = s.user("boss", &[Role::GlobalAdministrator]).await;
    let helpdesk = admin_token(&s, Role::HelpdeskAdministrator).await;
    let issue = |who: uuid::Uuid, body: Value| {
        let url = s.url(&format!("/api/v1/users/{who}/temporary-access-pass"));
        let t = helpdesk.clone();
        async move {
            client()
                .post(url)
                .bearer_auth(t)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    // Limits: lifetime bounds, not for a global administrator (helpdesk), unknown fields.
    assert_eq!(
        json(issue(hana.id, serde_json::json!({"lifetime_minutes": 5})).await).await["error"],
        "invalid_lifetime"
    );
    assert_eq!(issue(boss.id, serde_json::json!({})).await.status(), 403);
    assert_eq!(
        issue(hana.id, serde_json::json!({"forever": true}))
            .await
            .status(),
        422
    );
    let r = issue(hana.id, serde_json::json!({"lifetime_minutes": 30})).await;
    assert_eq!(r.status(), 201);
    let issued = json(r).await;
    let pass = issued["pass"].as_str().unwrap().to_string();
    assert_eq!(issued["one_time"], true);
    assert_eq!(pass.len(), 19);
    // Stored hashed: the audit entry and the status never contain it.
    let audit = s
        .state
        .store
        .list_audit(&AuditQuery {
            action: Some("tap.issue".into()),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert!(!audit[0].after.as_deref().unwrap_or("").contains(&pass));

    // Wrong pass and unknown user look the same.
    let c = client();
    let wrong = tap_sign_in(&c, &s, "hana", "aaaa-bbbb-cccc-dddd").await;
    assert_eq!(wrong.status(), 401);
    let w = wrong.text().await.unwrap();
    let unknown = tap_sign_in(&c, &s, "nobody", &pass).await;
    assert_eq!(unknown.status(), 401);
    let u = unknown.text().await.unwrap();
    assert!(w.contains("Incorrect username or pass") && u.contains("Incorrect username or pass"));
    // The pass (typed in capitals with spaces) signs in, satisfying MFA.
    let typed = pass.to_uppercase().replace('-', " ");
    let r = tap_sign_in(&c, &s, "hana", &typed).await;
    assert_eq!(r.headers()["location"], "/my/security-info");
    let me: Value = json(c.get(s.url("/api/v1/me")).send().await.unwrap()).await;
    assert_eq!(me["amr"], serde_json::json!(["otp", "mfa"]));
    // The fresh session can register an authenticator app right away.
    enrol(&c, &s).await;
    assert_eq!(
        s.state.store.list_mfa_methods(hana.id).await.unwrap().len(),
        1
    );
    // One-time: a second use fails and is logged as a wrong pass.
    assert_eq!(
        tap_sign_in(&client(), &s, "hana", &pass).await.status(),
        401
    );
    let log = s
        .state
        .store
        .list_sign_ins(&SignInQuery {
            user_id: Some(hana.id),
            result: Some(SignInResult::Failure),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        log.iter()
            .any(|e| e.failure_reason.as_deref() == Some("wrong_temporary_access_pass"))
    );
    let status: Value = json(
        client()
            .get(s.url(&format!("/api/v1/users/{}/temporary-access-pass", hana.id)))
            .bearer_auth(&helpdesk)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status["usable"], false);
    assert!(status["used_at"].is_string());

    // Revoking; a second revoke finds nothing.
    let url = s.url(&format!("/api/v1/users/{}/temporary-access-pass", hana.id));
    assert_eq!(
        client()
            .delete(&url)
            .bearer_auth(&helpdesk)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        client()
            .delete(&url)
            .bearer_auth(&helpdesk)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // A policy that does not allow passes refuses to issue them.
    let sec = admin_token(&s, Role::SecurityAdministrator).await;
    let mut p = policy(
        serde_json::json!({"mode": "none"}),
        serde_json::json!({"mode": "none"}),
        0,
    );
    p["temporary_access_pass"] = serde_json::json!({"users": {"mode": "none"}});
    assert_eq!(put_policy(&s, &sec, p).await.status(), 200);
    assert_eq!(
        json(issue(hana.id, serde_json::json!({})).await).await["error"],
        "method_not_allowed"
    );
    s.stop().await;
}

#[tokio::test]
async fn the_console_issues_a_pass_once_and_revokes_it() {
    use trustplane_core::identity::Role;
    let s = TestServer::start().await;
    s.user("root", &[Role::GlobalAdministrator]).await;
    let ivy = s.user("ivy", &[]).await;
    let admin = signed_in(&s, "root").await;
    let page = admin
        .get(s.url(&format!("/admin/users/{}", ivy.id)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("None issued"));
    let token = csrf_of(&page);
    let r = admin
        .post(s.url(&format!("/admin/users/{}/tap", ivy.id)))
        .form(&[
            ("csrf_token", token.as_str()),
            ("lifetime", "2h"),
            ("one_time", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    let pass = between(&html, "id=\"tap-pass\">", "<").to_string();
    assert_eq!(pass.len(), 19);
    let page = admin
        .get(s.url(&format!("/admin/users/{}", ivy.id)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("active") && !page.contains(&pass),
        "the pass is shown once only"
    );
    // A bad lifetime is a clear error.
    let r = admin
        .post(s.url(&format!("/admin/users/{}/tap", ivy.id)))
        .form(&[("csrf_token", token.as_str()), ("lifetime", "45d")])
        .send()
        .await
        .unwrap();
    assert!(r.headers()["location"].to_str().unwrap().contains("err="));
    let r = admin
        .post(s.url(&format!("/admin/users/{}/tap/revoke", ivy.id)))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["location"],
        format!("/admin/users/{}?ok=tap", ivy.id).as_str()
    );
    assert_eq!(tap_sign_in(&client(), &s, "ivy", &pass).await.status(), 401);
    s.stop().await;
}

#[tokio::test]
async fn users_rename_their_own_methods_only() {
    let s = TestServer::start().await;
    s.user("rena", &[]).await;
    s.user("other", &[]).await;
    let c = signed_in(&s, "rena").await;
    enrol(&c, &s).await;
    let o = signed_in(&s, "other").await;
    enrol(&o, &s).await;
    let mine = s.state.store.find_user("rena").await.unwrap().unwrap().id;
    let theirs = s.state.store.find_user("other").await.unwrap().unwrap().id;
    let m = s.state.store.list_mfa_methods(mine).await.unwrap()[0].id;
    let t = s.state.store.list_mfa_methods(theirs).await.unwrap()[0].id;
    let token = csrf(&c, &s, "/my/security-info").await;
    let rename = |id: uuid::Uuid, label: &'static str| {
        c.post(s.url(&format!("/my/security-info/{id}/rename")))
            .form(&[("csrf_token", token.clone()), ("label", label.to_string())])
            .send()
    };
    let r = rename(m, "  Work phone ").await.unwrap();
    assert_eq!(r.headers()["location"], "/my/security-info?ok=renamed");
    assert_eq!(
        s.state.store.list_mfa_methods(mine).await.unwrap()[0].label,
        "Work phone"
    );
    let r = rename(m, "   ").await.unwrap();
    assert!(r.headers()["location"].to_str().unwrap().contains("err="));
    let r = rename(t, "Stolen").await.unwrap();
    assert_eq!(r.status(), 404, "someone else's method");
    assert_ne!(
        s.state.store.list_mfa_methods(theirs).await.unwrap()[0].label,
        "Stolen"
    );
    s.stop().await;
}
