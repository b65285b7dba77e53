//! Bad input gets a clear error and changes nothing.

use crate::harness::*;
use serde_json::{Value, json};
use trustplane_core::audit::Actor;
use trustplane_core::identity::Role;

async fn audit_len(s: &TestServer) -> u64 {
    s.state.store.verify_audit().await.unwrap().unwrap()
}

async fn sign_in_count(s: &TestServer) -> usize {
    s.state
        .store
        .list_sign_ins(&trustplane_store::SignInQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn login_without_or_with_a_wrong_csrf_token_is_refused() {
    let s = TestServer::start().await;
    s.user("sam", &[]).await;
    // No CSRF cookie, no token.
    let r = client()
        .post(s.url("/login"))
        .form(&[("username", "sam"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("csrf_failed"));
    // Cookie present, token forged.
    let c = client();
    let real = csrf(&c, &s, "/login").await;
    // Change the last character (to one it is not: a fixed `A` would sometimes be the real one).
    let last = if real.ends_with('A') { 'B' } else { 'A' };
    let forged = format!("{}{last}", &real[..real.len() - 1]);
    let r = c
        .post(s.url("/login"))
        .form(&[
            ("csrf_token", forged.as_str()),
            ("username", "sam"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // A token from another browser (another cookie) does not work either.
    let other = csrf(&client(), &s, "/login").await;
    let r = c
        .post(s.url("/login"))
        .form(&[
            ("csrf_token", other.as_str()),
            ("username", "sam"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        sign_in_count(&s).await,
        0,
        "refused before any sign-in was attempted"
    );
    s.stop().await;
}

#[tokio::test]
async fn malformed_forms_are_refused_clearly() {
    let s = TestServer::start().await;
    let c = client();
    let token = csrf(&c, &s, "/login").await;
    // Invalid UTF-8 (percent-decoded bytes are not UTF-8 either).
    let mut body = format!("csrf_token={token}&username=").into_bytes();
    body.extend_from_slice(&[0xff, 0xfe]);
    body.extend_from_slice(b"&password=x");
    let r = c
        .post(s.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("invalid_utf8"));
    let r = c
        .post(s.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf_token={token}&username=%FF%FE&password=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Missing field.
    let r = c
        .post(s.url("/login"))
        .form(&[("csrf_token", token.as_str()), ("username", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("invalid_form"));
    // Wrong content type.
    let r = c
        .post(s.url("/login"))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(sign_in_count(&s).await, 0);
    s.stop().await;
}

#[tokio::test]
async fn oversized_bodies_are_capped() {
    let s = TestServer::start().await;
    let (_, t) = s
        .ops()
        .create_token(
            &Actor::system(),
            "t",
            Role::GlobalAdministrator,
            time::Duration::days(1),
        )
        .await
        .unwrap();
    let c = client();
    let token = csrf(&c, &s, "/login").await;
    let huge = "a".repeat(200 * 1024);
    let r = c
        .post(s.url("/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", "x"),
            ("password", huge.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = c
        .post(s.url("/api/v1/users"))
        .bearer_auth(&t)
        .json(&json!({"username": "big", "display_name": huge}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(s.state.store.count_users().await.unwrap(), 0);
    // A password longer than we look at (but under the body cap) is refused without hashing.
    let long = "p".repeat(5000);
    let r = c
        .post(s.url("/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", "x"),
            ("password", long.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    s.stop().await;
}

#[tokio::test]
async fn malformed_json_and_unknown_fields_change_nothing() {
    let s = TestServer::start().await;
    let (_, t) = s
        .ops()
        .create_token(
            &Actor::system(),
            "t",
            Role::GlobalAdministrator,
            time::Duration::days(1),
        )
        .await
        .unwrap();
    let before = audit_len(&s).await;
    let c = client();
    let cases: Vec<(reqwest::RequestBuilder, u16)> = vec![
        (
            c.post(s.url("/api/v1/users"))
                .bearer_auth(&t)
                .header("content-type", "application/json")
                .body("{\"username\": "),
            400,
        ),
        (
            c.post(s.url("/api/v1/users"))
                .bearer_auth(&t)
                .json(&json!({"username": "ok", "is_admin": true})),
            422,
        ),
        (
            c.post(s.url("/api/v1/users"))
                .bearer_auth(&t)
                .body("username=x"),
            415,
        ),
        (
            c.post(s.url("/api/v1/users"))
                .bearer_auth(&t)
                .json(&json!({"username": "weak", "password": "short"})),
            400,
        ),
        (
            c.post(s.url("/api/v1/users"))
                .bearer_auth(&t)
                .json(&json!({"username": "a b"})),
            400,
        ),
        (
            c.post(s.url("/api/v1/users"))
                .bearer_auth(&t)
                .json(&json!({"username": "e", "email": "not-an-email"})),
            400,
        ),
        (
            c.post(s.url("/api/v1/tokens"))
                .bearer_auth(&t)
                .json(&json!({"name": "x", "role": "global_administrator", "expires_in": "10y"})),
            400,
        ),
    ];
    for (req, status) in cases {
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status);
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"].is_string() && body["message"].is_string(),
            "{body}"
        );
    }
    assert_eq!(s.state.store.count_users().await.unwrap(), 0);
    assert_eq!(audit_len(&s).await, before);
    s.stop().await;
}

#[tokio::test]
async fn sql_metacharacters_are_data_not_code() {
    let s = TestServer::start().await;
    let (_, t) = s
        .ops()
        .create_token(
            &Actor::system(),
            "t",
            Role::GlobalAdministrator,
            time::Duration::days(1),
        )
        .await
        .unwrap();
    let c = client();
    let evil = "Robert'); DROP TABLE users;-- \" \\ % _";
    let r = c
        .post(s.url("/api/v1/users"))
        .bearer_auth(&t)
        .json(&json!({"username": "bobby", "display_name": evil, "email": "b'o@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = c
        .post(s.url("/api/v1/groups"))
        .bearer_auth(&t)
        .json(&json!({"name": evil, "description": evil}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let u = s.state.store.find_user("bobby").await.unwrap().unwrap();
    assert_eq!(u.display_name, evil);
    assert!(s.state.store.find_group(evil).await.unwrap().is_some());
    // Searching with LIKE metacharacters matches literally.
    let found: Vec<Value> = c
        .get(s.url("/api/v1/users?search=%25%20_"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let none: Vec<Value> = c
        .get(s.url("/api/v1/users?search=_zz_"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(none.is_empty());
    // Login with SQL in the username is just a failed login.
    let r = login(&client(), &s, "' OR '1'='1", "' OR '1'='1").await;
    assert_eq!(r.status(), 401);
    assert_eq!(s.state.store.count_users().await.unwrap(), 1);
    s.stop().await;
}

#[tokio::test]
async fn unknown_pages_and_endpoints() {
    let s = TestServer::start().await;
    let c = client();
    let r = c.get(s.url("/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let r = c.get(s.url("/api/v1/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "not_found");
    let r = c.get(s.url("/login")).send().await.unwrap();
    let h = r.headers();
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert!(h.contains_key("x-correlation-id"));
    s.stop().await;
}

#[tokio::test]
async fn bootstrap_link_is_refused_when_wrong() {
    let s = TestServer::start().await;
    let r = client()
        .get(s.url("/bootstrap?token=guess"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = client().get(s.url("/bootstrap")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    s.stop().await;
}
