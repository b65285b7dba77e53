//! Revocation, introspection and RP-initiated logout.

use super::*;
use serde_json::json;

/// The browser `c` asks to sign out at `/oauth2/logout` with `query`.
async fn logout(c: &Client, s: &TestServer, query: &[(&str, &str)]) -> reqwest::Response {
    let q = serde_urlencoded::to_string(query).unwrap();
    get(c, s, &format!("/oauth2/logout?{q}")).await
}

#[tokio::test]
async fn revocation_introspection_and_logout() {
    let (s, _, rp, c) = alice_and_the_crm(false).await;
    let t = tokens_for(&s, &c, &rp).await;
    let at = t["access_token"].as_str().unwrap();
    let rt = t["refresh_token"].as_str().unwrap();
    assert_eq!(introspect(&s, &rp, rt).await["active"], true);
    // Introspection needs client authentication; another client sees nothing.
    let r = client()
        .post(s.url("/oauth2/introspect"))
        .form(&[("token", at)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let other = register(&s, false, &CODE_GRANTS).await;
    assert_eq!(introspect(&s, &other, at).await, json!({ "active": false }));
    let garbage = introspect(&s, &rp, "garbage").await;
    assert_eq!(garbage, json!({ "active": false }));
    // Revoking an unknown token: 200. Revoking the refresh token kills the family.
    assert_eq!(revoke(&s, &rp, "unknown").await.status(), 200);
    assert_eq!(revoke(&s, &rp, rt).await.status(), 200);
    assert_eq!(introspect(&s, &rp, rt).await["active"], false);
    assert_eq!(introspect(&s, &rp, at).await["active"], false);

    // RP-initiated logout: unregistered post-logout URI shown on a page; registered one
    // redirected with state; the session is revoked.
    let t = tokens_for(&s, &c, &rp).await;
    let id_token = t["id_token"].as_str().unwrap();
    let evil = "https://evil.example/bye";
    let r = logout(
        &c,
        &s,
        &[
            ("id_token_hint", id_token),
            ("post_logout_redirect_uri", evil),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    // Without an ID token hint, a cross-site GET cannot sign anyone out: a confirmation page
    // (a POST with the CSRF token) comes first, and a POST without the token is refused.
    let bye = "https://rp.example.com/bye";
    let without_hint = [
        ("client_id", rp.id.as_str()),
        ("post_logout_redirect_uri", bye),
    ];
    let r = logout(&c, &s, &without_hint).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Sign out?"), "{html}");
    assert!(html.contains("name=\"csrf_token\""), "{html}");
    assert_eq!(get(&c, &s, "/my").await.status(), 200, "still signed in");
    let forged = [("client_id", rp.id.as_str())];
    let r = post_csrf(&c, &s, "/oauth2/logout", "forged", &forged).await;
    assert_eq!(r.status(), 200, "the confirmation again, nothing ended");
    assert_eq!(get(&c, &s, "/my").await.status(), 200, "still signed in");
    // Confirmed by the user: signed out, back to the registered URI.
    let other = signed_in(&s, "alice").await;
    let html = logout(&other, &s, &without_hint)
        .await
        .text()
        .await
        .unwrap();
    let confirmed = [
        ("client_id", rp.id.as_str()),
        ("post_logout_redirect_uri", bye),
    ];
    let r = post_csrf(&other, &s, "/oauth2/logout", &csrf_of(&html), &confirmed).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), bye);
    let r = get(&other, &s, "/my").await;
    assert!(location(&r).starts_with("/login"), "signed out");
    let r = get(&c, &s, "/my").await;
    assert_eq!(
        r.status(),
        200,
        "the other browser's session is not touched"
    );
    let with_hint = [
        ("id_token_hint", id_token),
        ("post_logout_redirect_uri", bye),
        ("state", "s2"),
    ];
    let r = logout(&c, &s, &with_hint).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "https://rp.example.com/bye?state=s2");
    assert_eq!(userinfo_status(&s, &t).await, 401);
    let r = get(&c, &s, "/my").await;
    assert!(location(&r).starts_with("/login"));
    s.stop().await;
}
