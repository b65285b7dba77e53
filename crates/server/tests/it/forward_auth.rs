//! Forward-auth with a real nginx (`auth_request`): an upstream behind nginx is reachable
//! only with a trustplane session, receives the identity headers and a signed assertion
//! that verifies against the JWKS, stops being reachable the moment the session is revoked,
//! and is refused when a conditional access policy blocks the user on that application.

use crate::harness::*;
use crate::mfa::admin_token;
use crate::proxies::*;
use serde_json::{Value, json};
use time::OffsetDateTime;
use trustplane_core::audit::Actor;
use trustplane_core::identity::Role;

async fn verify(s: &TestServer, jwt: &str) -> Value {
    let jwks = json(
        client()
            .get(s.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    let kid = header.kid.expect("kid");
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("the signing key is published");
    assert_eq!(jwk["kty"], "EC");
    assert_eq!(jwk["crv"], "P-256");
    assert_eq!(jwk["use"], "sig");
    let key = jsonwebtoken::DecodingKey::from_ec_components(
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap(),
    )
    .unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.set_audience(&["wiki"]);
    v.set_issuer(&[s.base.as_str()]);
    jsonwebtoken::decode::<Value>(jwt, &key, &v).unwrap().claims
}

#[tokio::test]
async fn nginx_auth_request_enforces_sessions_and_policies() {
    let s = TestServer::start().await;
    let token = admin_token(&s, Role::SecurityAdministrator).await;
    let upstream = echo_upstream().await;
    let port = free_port();
    let site = format!("http://127.0.0.1:{port}");
    let api = |m: reqwest::Method, path: &str| client().request(m, s.url(path)).bearer_auth(&token);
    let r = api(reqwest::Method::POST, "/api/v1/applications")
        .json(&json!({ "id": "wiki", "name": "Wiki" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = api(reqwest::Method::POST, "/api/v1/applications/wiki/routes")
        .json(&json!({ "host": format!("127.0.0.1:{port}"), "path_prefix": "/" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let Some(nginx) = start_nginx(port, &s.base, &upstream, &format!("127.0.0.1:{port}")).await
    else {
        return;
    };

    let alice = s.user("alice", &[]).await;
    let g = s
        .ops()
        .create_group(&Actor::system(), "contractors", "")
        .await
        .unwrap();
    s.ops()
        .add_member(&Actor::system(), g.id, alice.id)
        .await
        .unwrap();

    // Anonymous: sent to sign in, with the way back.
    let c = client();
    let page = format!("{site}/docs/page?x=1");
    let r = c.get(&page).send().await.unwrap();
    assert_eq!(r.status(), 302, "{}", nginx.log());
    let login = r.headers()["location"].to_str().unwrap().to_string();
    let next = percent_encoding::utf8_percent_encode(&page, percent_encoding::NON_ALPHANUMERIC);
    assert_eq!(login, format!("{}/login?next={next}&app=wiki", s.base));

    // Signing in with that return URL goes back to the application (its route's host).
    let csrf_token = csrf(&c, &s, &format!("/login?next={}", urlencode(&page))).await;
    let r = c
        .post(s.url("/login"))
        .form(&[
            ("csrf_token", csrf_token.as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
            ("next", page.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(return_target(&c, &s, &r).await, page);

    // Signed in: the request reaches the upstream with the identity and an assertion.
    let r = c.get(&page).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", nginx.log());
    let seen = json(r).await;
    assert_eq!(seen["x-trustplane-user"], "alice");
    assert_eq!(seen["x-trustplane-email"], "alice@example.com");
    assert_eq!(seen["x-trustplane-groups"], "contractors");
    let claims = verify(&s, seen["x-trustplane-assertion"].as_str().unwrap()).await;
    assert_eq!(claims["sub"], alice.id.to_string());
    assert_eq!(claims["aud"], "wiki");
    assert_eq!(claims["preferred_username"], "alice");
    assert_eq!(claims["amr"], json!(["pwd"]));
    let exp = claims["exp"].as_i64().unwrap();
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(exp - iat, 60);
    let sid: uuid::Uuid = claims["sid"].as_str().unwrap().parse().unwrap();

    // An address without a route is refused even when signed in (deny by default).
    let r = client()
        .get(s.url("/forward-auth"))
        .header("x-original-url", "http://unknown.example/")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // The session is revoked: the very next request is sent to sign in.
    assert!(
        s.state
            .store
            .revoke_session(sid, OffsetDateTime::now_utc(), None)
            .await
            .unwrap()
    );
    let r = c.get(&page).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .contains("/login?next=")
    );

    // A policy blocking the user's group on this application: 403, with no policy named.
    let doc = json!({ "policies": [ {
        "id": "block-contractors-wiki", "name": "Block contractors on the wiki",
        "state": "enabled",
        "assignments": {
            "users": { "include": { "groups": [g.id] } },
            "applications": { "include": ["wiki"] }
        },
        "grant": "block"
    } ] });
    let r = api(
        reqwest::Method::PUT,
        "/api/v1/conditional-access?based_on=0&comment=test",
    )
    .json(&doc)
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let c = signed_in(&s, "alice").await;
    let r = c.get(&page).send().await.unwrap();
    assert_eq!(r.status(), 403);
    // nginx turns the refusal into its own 403 page; trustplane's answer names no policy.
    let r = c
        .get(s.url("/forward-auth"))
        .header("x-original-url", &page)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // An empty answer (the proxy keeps its connection); the correlation id is in a header.
    assert!(r.headers().contains_key("x-correlation-id"));
    let body = r.text().await.unwrap();
    assert!(body.is_empty(), "{body}");
    drop(nginx);
    s.stop().await;
}

#[tokio::test]
async fn applications_api_validates_and_return_urls_stay_safe() {
    let s = TestServer::start().await;
    let token = admin_token(&s, Role::SecurityAdministrator).await;
    let reader = admin_token(&s, Role::SecurityReader).await;
    let post = |path: &str, body: Value| {
        client()
            .post(s.url(path))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let r = post(
        "/api/v1/applications",
        json!({ "id": "crm", "name": "CRM", "allowed_hosts": ["crm.example.com"] }),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    for (body, code) in [
        (
            json!({ "id": "Bad Slug", "name": "x" }),
            "invalid_application_id",
        ),
        (
            json!({ "id": "trustplane", "name": "x" }),
            "invalid_application_id",
        ),
        (
            json!({ "id": "ok", "name": "x", "allowed_hosts": ["https://x"] }),
            "invalid_host",
        ),
    ] {
        let r = post("/api/v1/applications", body).await.unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(json(r).await["error"], code);
    }
    let r = post(
        "/api/v1/applications",
        json!({ "id": "crm", "name": "again" }),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 409);
    let r = post(
        "/api/v1/applications/crm/routes",
        json!({ "host": "app.example.com", "path_prefix": "crm" }),
    )
    .await
    .unwrap();
    assert_eq!(json(r).await["error"], "invalid_path_prefix");
    let route = json!({ "host": "App.Example.com", "path_prefix": "/crm" });
    let r = post("/api/v1/applications/crm/routes", route.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let route_id = json(r).await["id"].as_str().unwrap().to_string();
    let r = post("/api/v1/applications/crm/routes", route)
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(json(r).await["error"], "route_exists");
    let r = post(
        "/api/v1/applications/nope/routes",
        json!({ "host": "a.example.com", "path_prefix": "/" }),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 404);
    // Readers can read, not write.
    let got = json(
        client()
            .get(s.url("/api/v1/applications/crm"))
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(got["routes"][0]["host"], "app.example.com");
    let r = client()
        .post(s.url("/api/v1/applications"))
        .bearer_auth(&reader)
        .json(&json!({ "id": "x", "name": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Conditional access now knows the application.
    let doc = json!({ "policies": [ {
        "id": "p", "name": "p", "state": "report_only",
        "assignments": { "users": { "include": { "all": true } }, "applications": { "include": ["crm"] } },
        "grant": "block" } ] });
    let r = client()
        .post(s.url("/api/v1/conditional-access/validate"))
        .bearer_auth(&token)
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // Return URLs after sign-in: application hosts only.
    s.user("bob", &[]).await;
    for (next, expected) in [
        (
            "https://crm.example.com/x?y=1",
            "https://crm.example.com/x?y=1",
        ),
        ("http://app.example.com/crm", "http://app.example.com/crm"),
        ("/admin", "/admin"),
        ("https://unknown.example/", "/my"),
        ("//crm.example.com/", "/my"),
        ("https://evil.example@crm.example.com/", "/my"),
        ("https://crm.example.com@evil.example/", "/my"),
        ("https://user:pw@crm.example.com/", "/my"),
        ("https:\\\\evil.example", "/my"),
        ("https://crm.example.com\\@evil.example/", "/my"),
    ] {
        let c = client();
        let t = csrf(&c, &s, "/login").await;
        let r = c
            .post(s.url("/login"))
            .form(&[
                ("csrf_token", t.as_str()),
                ("username", "bob"),
                ("password", PASSWORD),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{next}");
        assert_eq!(return_target(&c, &s, &r).await, expected, "{next}");
    }

    // Deleting the application removes its routes.
    let r = client()
        .delete(s.url(&format!("/api/v1/applications/crm/routes/{route_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = client()
        .delete(s.url("/api/v1/applications/crm"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = client()
        .get(s.url("/api/v1/applications/crm"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    s.stop().await;
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("v", s)]).unwrap()[2..].to_string()
}

#[tokio::test]
async fn caddy_forward_auth_enforces_sessions() {
    let s = TestServer::start().await;
    let token = admin_token(&s, Role::SecurityAdministrator).await;
    let upstream = echo_upstream().await;
    let port = free_port();
    let site = format!("http://127.0.0.1:{port}");
    let api = |m: reqwest::Method, path: &str| client().request(m, s.url(path)).bearer_auth(&token);
    let r = api(reqwest::Method::POST, "/api/v1/applications")
        .json(&json!({ "id": "wiki", "name": "Wiki" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = api(reqwest::Method::POST, "/api/v1/applications/wiki/routes")
        .json(&json!({ "host": format!("127.0.0.1:{port}"), "path_prefix": "/" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let Some(caddy) = start_caddy(port, &s.base, &upstream, "127.0.0.1").await else {
        return;
    };
    let alice = s.user("alice", &[]).await;

    // Anonymous: sent to sign in, with the way back.
    let c = client();
    let page = format!("{site}/docs/page?x=1");
    let r = c.get(&page).send().await.unwrap();
    assert_eq!(r.status(), 302, "{}", caddy.log());
    let login = r.headers()["location"].to_str().unwrap().to_string();
    let next = percent_encoding::utf8_percent_encode(&page, percent_encoding::NON_ALPHANUMERIC);
    assert_eq!(login, format!("{}/login?next={next}&app=wiki", s.base));

    // Signed in: the upstream sees the identity and an assertion; a client cannot forge them.
    let csrf_token = csrf(&c, &s, "/login").await;
    let r = c
        .post(s.url("/login"))
        .form(&[
            ("csrf_token", csrf_token.as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = c
        .get(&page)
        .header("x-trustplane-user", "mallory")
        .header("x-trustplane-groups", "admins")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", caddy.log());
    let seen = json(r).await;
    assert_eq!(seen["x-trustplane-user"], "alice");
    assert_eq!(seen["x-trustplane-email"], "alice@example.com");
    assert_eq!(seen["x-trustplane-groups"], "");
    let claims = verify(&s, seen["x-trustplane-assertion"].as_str().unwrap()).await;
    assert_eq!(claims["sub"], alice.id.to_string());
    let sid: uuid::Uuid = claims["sid"].as_str().unwrap().parse().unwrap();

    // Revoked: the very next request is sent to sign in.
    assert!(
        s.state
            .store
            .revoke_session(sid, OffsetDateTime::now_utc(), None)
            .await
            .unwrap()
    );
    let r = c.get(&page).send().await.unwrap();
    assert_eq!(r.status(), 302);
    drop(caddy);
    s.stop().await;
}
