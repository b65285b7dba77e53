//! Temporary access passes: issued by an administrator (API or console), shown once, used
//! to sign in and register methods, one-time, revocable, and only where the policy allows.

use super::*;
use serde_json::json;
use trustplane_core::audit::Actor;
use trustplane_core::identity::Role;
use trustplane_server::ops::NewUser;

async fn tap_sign_in(
    c: &reqwest::Client,
    s: &TestServer,
    user: &str,
    pass: &str,
) -> reqwest::Response {
    let form = [("username", user), ("pass", pass)];
    post_form(c, s, "/login/tap", "/login/tap", &form).await
}

#[tokio::test]
async fn a_temporary_access_pass_lets_a_new_user_in_to_register_methods() {
    let s = TestServer::start().await;
    let new_user = NewUser {
        username: "hana".into(),
        display_name: Some("Hana".into()),
        ..Default::default()
    };
    let hana = s
        .ops()
        .create_user(&Actor::system(), new_user)
        .await
        .unwrap();
    let boss = s.user("boss", &[Role::GlobalAdministrator]).await;
    let helpdesk = admin_api(&s, Role::HelpdeskAdministrator).await;
    let path = |who: uuid::Uuid| format!("/api/v1/users/{who}/temporary-access-pass");
    let issue = async |who: uuid::Uuid, body: Value| helpdesk.post(&path(who), &body).await;
    // Limits: lifetime bounds, not for a global administrator (helpdesk), unknown fields.
    let r = issue(hana.id, json!({"lifetime_minutes": 5})).await;
    assert_eq!(json(r).await["error"], "invalid_lifetime");
    assert_eq!(issue(boss.id, json!({})).await.status(), 403);
    let r = issue(hana.id, json!({"forever": true})).await;
    assert_eq!(r.status(), 422);
    let r = issue(hana.id, json!({"lifetime_minutes": 30})).await;
    assert_eq!(r.status(), 201);
    let issued = json(r).await;
    let pass = issued["pass"].as_str().unwrap().to_string();
    assert_eq!(issued["one_time"], true);
    assert_eq!(pass.len(), 19);
    // Stored hashed: the audit entry and the status never contain it.
    let entries = audit(&s, "tap.issue").await;
    assert_eq!(entries.len(), 1);
    assert!(!entries[0].after.as_deref().unwrap_or("").contains(&pass));

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
    assert_eq!(location(&r), "/my/security-info");
    assert_eq!(me(&c, &s).await["amr"], json!(["otp", "mfa"]));
    // The fresh session can register an authenticator app right away.
    enrol(&c, &s).await;
    assert_eq!(
        s.state.store.list_mfa_methods(hana.id).await.unwrap().len(),
        1
    );
    // One-time: a second use fails and is logged as a wrong pass.
    let again = tap_sign_in(&client(), &s, "hana", &pass).await;
    assert_eq!(again.status(), 401);
    let reasons = failure_reasons(&s, hana.id).await;
    assert!(reasons.iter().any(|r| r == "wrong_temporary_access_pass"));
    let status = helpdesk.value(&path(hana.id)).await;
    assert_eq!(status["usable"], false);
    assert!(status["used_at"].is_string());

    // Revoking; a second revoke finds nothing.
    assert_eq!(helpdesk.delete(&path(hana.id)).await.status(), 204);
    assert_eq!(helpdesk.delete(&path(hana.id)).await.status(), 404);

    // A policy that does not allow passes refuses to issue them.
    let sec = admin_token(&s, Role::SecurityAdministrator).await;
    let mut p = policy(json!({"mode": "none"}), json!({"mode": "none"}), 0);
    p["temporary_access_pass"] = json!({"users": {"mode": "none"}});
    assert_eq!(put_policy(&s, &sec, p).await.status(), 200);
    let r = issue(hana.id, json!({})).await;
    assert_eq!(json(r).await["error"], "method_not_allowed");
    s.stop().await;
}

#[tokio::test]
async fn the_console_issues_a_pass_once_and_revokes_it() {
    let s = TestServer::start().await;
    s.user("root", &[Role::GlobalAdministrator]).await;
    let ivy = s.user("ivy", &[]).await;
    let admin = signed_in(&s, "root").await;
    let user_page = format!("/admin/users/{}", ivy.id);
    let html = page(&admin, &s, &user_page).await;
    assert!(html.contains("None issued"));
    let token = csrf_of(&html);
    let tap = format!("/admin/users/{}/tap", ivy.id);
    let form = [("lifetime", "2h"), ("one_time", "on")];
    let r = post_csrf(&admin, &s, &tap, &token, &form).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    let pass = between(&html, "id=\"tap-pass\">", "<").to_string();
    assert_eq!(pass.len(), 19);
    let html = page(&admin, &s, &user_page).await;
    assert!(
        html.contains("active") && !html.contains(&pass),
        "the pass is shown once only"
    );
    // A bad lifetime is a clear error.
    let r = post_csrf(&admin, &s, &tap, &token, &[("lifetime", "45d")]).await;
    assert!(location(&r).contains("err="));
    let r = post_csrf(&admin, &s, &format!("{tap}/revoke"), &token, &[]).await;
    assert_eq!(location(&r), format!("/admin/users/{}?ok=tap", ivy.id));
    assert_eq!(tap_sign_in(&client(), &s, "ivy", &pass).await.status(), 401);
    s.stop().await;
}
