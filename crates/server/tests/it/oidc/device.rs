//! The device authorization grant: the device polls while its user approves or denies the
//! code in a browser; guessing codes is rate limited.

use super::*;

async fn poll(s: &TestServer, rp: &Rp, device_code: &str) -> Value {
    let r = token(
        s,
        rp,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code),
        ],
    )
    .await;
    json(r).await
}

/// A device's request for a code: `form` after the client id.
async fn device_authorization(s: &TestServer, rp: &Rp, form: &[(&str, &str)]) -> reqwest::Response {
    let mut f = vec![("client_id", rp.id.as_str())];
    f.extend_from_slice(form);
    client()
        .post(s.url("/oauth2/device_authorization"))
        .form(&f)
        .send()
        .await
        .unwrap()
}

/// The signed-in user of `c` decides on `user_code` (`approve` or `deny`) with the CSRF token
/// `token`.
async fn decide(
    c: &Client,
    s: &TestServer,
    token: &str,
    user_code: &str,
    action: &str,
) -> reqwest::Response {
    let form = [("user_code", user_code), ("action", action)];
    post_csrf(c, s, "/device", token, &form).await
}

#[tokio::test]
async fn device_grant_polls_until_the_user_approves() {
    let s = TestServer::start().await;
    let alice = s.user("alice", &[]).await;
    let grants = [
        "urn:ietf:params:oauth:grant-type:device_code",
        "refresh_token",
    ];
    let rp = register(&s, true, &grants).await;
    let r = device_authorization(&s, &rp, &[("scope", "openid profile")]).await;
    assert_eq!(r.status(), 200);
    let d = json(r).await;
    let device_code = d["device_code"].as_str().unwrap().to_string();
    let user_code = d["user_code"].as_str().unwrap().to_string();
    assert_eq!(d["verification_uri"], format!("{}/device", s.base));
    assert_eq!(
        poll(&s, &rp, &device_code).await["error"],
        "authorization_pending"
    );
    assert_eq!(poll(&s, &rp, &device_code).await["error"], "slow_down");

    // The user enters the code (lowercase, without dash) and approves.
    let c = signed_in(&s, "alice").await;
    let typed = user_code.replace('-', "").to_lowercase();
    let html = page(&c, &s, &format!("/device?user_code={typed}")).await;
    assert!(html.contains("CRM"), "{html}");
    let r = decide(&c, &s, &csrf_of(&html), &user_code, "approve").await;
    assert!(r.text().await.unwrap().contains("Approved"));
    let t = poll(&s, &rp, &device_code).await;
    assert!(t["access_token"].is_string(), "{t}");
    let claims = verify_id_token(&s, t["id_token"].as_str().unwrap(), &rp.id).await;
    assert_eq!(claims["sub"], alice.id.to_string());
    // Used once only.
    assert_eq!(poll(&s, &rp, &device_code).await["error"], "invalid_grant");

    // A denied code: access_denied.
    let d = json(device_authorization(&s, &rp, &[]).await).await;
    let user_code = d["user_code"].as_str().unwrap();
    let token = csrf(&c, &s, &format!("/device?user_code={user_code}")).await;
    decide(&c, &s, &token, user_code, "deny").await;
    let device_code = d["device_code"].as_str().unwrap();
    assert_eq!(poll(&s, &rp, device_code).await["error"], "access_denied");
    // The device page needs a sign-in.
    let r = get(&client(), &s, "/device").await;
    assert!(location(&r).starts_with("/login?next="));
    s.stop().await;
}

#[tokio::test]
async fn guessing_device_codes_is_rate_limited_per_user() {
    let s = TestServer::start().await;
    s.user("gus", &[]).await;
    let c = signed_in(&s, "gus").await;
    for i in 0..10 {
        let r = get(&c, &s, "/device?user_code=BCDF-GHJK").await;
        assert_eq!(r.status(), 200, "try {i}");
        assert!(r.text().await.unwrap().contains("unknown or expired"));
    }
    let r = get(&c, &s, "/device?user_code=BCDF-GHJK").await;
    assert_eq!(r.status(), 429);
    assert!(r.text().await.unwrap().contains("Too many codes tried"));
    // Another user is not affected.
    s.user("hal", &[]).await;
    let other = signed_in(&s, "hal").await;
    let r = get(&other, &s, "/device?user_code=BCDF-GHJK").await;
    assert_eq!(r.status(), 200);
    s.stop().await;
}
