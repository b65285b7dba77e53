//! What administrators do about a user's methods and password: require re-registration, see
//! registration and reset activity, reset to a temporary password.

use super::*;

/// A POST to `path` (no body): refused to a security reader, answered to a helpdesk
/// administrator; that answer.
async fn helpdesk_only(s: &TestServer, path: &str) -> reqwest::Response {
    let reader = admin_api(s, Role::SecurityReader).await;
    let r = reader.send(reqwest::Method::POST, path).await;
    assert_eq!(r.status(), 403);
    let helpdesk = admin_api(s, Role::HelpdeskAdministrator).await;
    helpdesk.send(reqwest::Method::POST, path).await
}

#[tokio::test]
async fn an_administrator_requires_re_registration() {
    let s = TestServer::start().await;
    s.user("lost", &[]).await;
    let c = signed_in(&s, "lost").await;
    enrol(&c, &s).await;
    let id = s.state.store.find_user("lost").await.unwrap().unwrap().id;
    let path = format!("/api/v1/users/{id}/methods/require-reregistration");
    let r = helpdesk_only(&s, &path).await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["methods_removed"], 1);
    // Signed out everywhere; the next sign-in must register (no "Not now").
    assert_eq!(get(&c, &s, "/my").await.status(), 303);
    let c = client();
    let r = login(&c, &s, "lost", PASSWORD).await;
    assert_eq!(location(&r), "/login/continue");
    let html = page(&c, &s, "/login/continue").await;
    assert!(html.contains("register-totp"), "{html}");
    assert!(!html.contains("skip-registration"), "cannot be postponed");
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
    let r = get(&admin, &s, "/admin/registration-activity").await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("<strong>1</strong> of 3 users"), "{html}");
    assert!(html.contains("mfa.method.add"));
    assert!(
        !html.contains("user.create"),
        "only registration and reset actions"
    );
    // Not for users without audit-log access.
    let ned = signed_in(&s, "ned").await;
    let r = get(&ned, &s, "/admin/registration-activity").await;
    assert_eq!(r.status(), 403);
    s.stop().await;
}

#[tokio::test]
async fn an_administrator_resets_a_password_to_a_temporary_one() {
    let s = TestServer::start().await;
    s.user("tim", &[]).await;
    let old = signed_in(&s, "tim").await;
    let id = s.state.store.find_user("tim").await.unwrap().unwrap().id;
    let path = format!("/api/v1/users/{id}/password/temporary");
    let r = helpdesk_only(&s, &path).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let temp = json(r).await["password"].as_str().unwrap().to_string();
    assert_eq!(temp.len(), 24);
    // Old sessions and the old password are gone; the temporary one leads to a forced change.
    assert_eq!(get(&old, &s, "/my").await.status(), 303);
    assert_eq!(login(&client(), &s, "tim", PASSWORD).await.status(), 401);
    let c = client();
    let r = login(&c, &s, "tim", &temp).await;
    assert_eq!(location(&r), "/login/continue");
    let html = page(&c, &s, "/login/continue").await;
    assert!(html.contains("Choose a new password"), "{html}");
    s.stop().await;
}
