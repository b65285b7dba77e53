//! Forward-auth with a real nginx (`auth_request`): an upstream behind nginx is reachable
//! only with a trustplane session, receives the identity headers and a signed assertion
//! that verifies against the JWKS, stops being reachable the moment the session is revoked,
//! and is refused when a conditional access policy blocks the user on that application.

use crate::harness::*;
use crate::proxies::*;
use serde_json::{Value, json};
use time::OffsetDateTime;
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

/// The application `wiki` on `127.0.0.1:port` (`/`).
async fn wiki_on_port(api: &Api, port: u16) {
    let wiki = json!({ "id": "wiki", "name": "Wiki" });
    assert_eq!(api.post("/api/v1/applications", &wiki).await.status(), 201);
    let route = json!({ "host": format!("127.0.0.1:{port}"), "path_prefix": "/" });
    let r = api.post("/api/v1/applications/wiki/routes", &route).await;
    assert_eq!(r.status(), 201);
}

/// An anonymous browser `c` that asks the proxy for `page` is sent to sign in at trustplane,
/// with the way back.
async fn sent_to_sign_in(c: &reqwest::Client, s: &TestServer, page: &str, proxy: &Proxy) {
    let r = c.get(page).send().await.unwrap();
    assert_eq!(r.status(), 302, "{}", proxy.log());
    let login = location(&r);
    let next = percent_encoding::utf8_percent_encode(page, percent_encoding::NON_ALPHANUMERIC);
    assert_eq!(login, format!("{}/login?next={next}&app=wiki", s.base));
}

/// Checks what the upstream saw of a request the proxy let through for `user` (the identity
/// headers and the assertion); returns the assertion's claims.
async fn seen_by_upstream(
    r: reqwest::Response,
    s: &TestServer,
    user: &trustplane_core::identity::User,
    groups: &str,
) -> Value {
    let seen = json(r).await;
    assert_eq!(seen["x-trustplane-user"], user.username.as_str());
    let email = format!("{}@example.com", user.username);
    assert_eq!(seen["x-trustplane-email"], email.as_str());
    assert_eq!(seen["x-trustplane-groups"], groups);
    let claims = verify(s, seen["x-trustplane-assertion"].as_str().unwrap()).await;
    assert_eq!(claims["sub"], user.id.to_string());
    claims
}

/// Revokes the session of the assertion `claims`.
async fn revoke_session_of(s: &TestServer, claims: &Value) {
    let sid: uuid::Uuid = claims["sid"].as_str().unwrap().parse().unwrap();
    assert!(
        s.state
            .store
            .revoke_session(sid, OffsetDateTime::now_utc(), None)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn nginx_auth_request_enforces_sessions_and_policies() {
    let s = TestServer::start().await;
    let api = admin_api(&s, Role::SecurityAdministrator).await;
    let upstream = echo_upstream().await;
    let port = free_port();
    let site = format!("http://127.0.0.1:{port}");
    wiki_on_port(&api, port).await;
    let Some(nginx) = start_nginx(port, &s.base, &upstream, &format!("127.0.0.1:{port}")).await
    else {
        return;
    };

    let alice = s.user("alice", &[]).await;
    let g = s.group("contractors", &[alice.id]).await;

    // Anonymous: sent to sign in, with the way back.
    let c = client();
    let page = format!("{site}/docs/page?x=1");
    sent_to_sign_in(&c, &s, &page, &nginx).await;

    // Signing in with that return URL goes back to the application (its route's host).
    let from = format!("/login?next={}", urlencode(&page));
    let form = [
        ("username", "alice"),
        ("password", PASSWORD),
        ("next", &page),
    ];
    let r = post_form(&c, &s, &from, "/login", &form).await;
    assert_eq!(r.status(), 303);
    assert_eq!(return_target(&c, &s, &r).await, page);

    // Signed in: the request reaches the upstream with the identity and an assertion.
    let r = c.get(&page).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", nginx.log());
    let claims = seen_by_upstream(r, &s, &alice, "contractors").await;
    assert_eq!(claims["aud"], "wiki");
    assert_eq!(claims["preferred_username"], "alice");
    assert_eq!(claims["amr"], json!(["pwd"]));
    let exp = claims["exp"].as_i64().unwrap();
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(exp - iat, 60);

    // An address without a route is refused even when signed in (deny by default).
    let r = client()
        .get(s.url("/forward-auth"))
        .header("x-original-url", "http://unknown.example/")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // The session is revoked: the very next request is sent to sign in.
    revoke_session_of(&s, &claims).await;
    let r = c.get(&page).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert!(location(&r).contains("/login?next="));

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
    let r = api
        .put("/api/v1/conditional-access?based_on=0&comment=test", &doc)
        .await;
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
    let api = admin_api(&s, Role::SecurityAdministrator).await;
    let reader = admin_api(&s, Role::SecurityReader).await;
    let crm = json!({ "id": "crm", "name": "CRM", "allowed_hosts": ["crm.example.com"] });
    assert_eq!(api.post("/api/v1/applications", &crm).await.status(), 201);
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
        let r = api.post("/api/v1/applications", &body).await;
        assert_eq!(r.status(), 400);
        assert_eq!(json(r).await["error"], code);
    }
    let again = json!({ "id": "crm", "name": "again" });
    assert_eq!(api.post("/api/v1/applications", &again).await.status(), 409);
    let routes = "/api/v1/applications/crm/routes";
    let relative = json!({ "host": "app.example.com", "path_prefix": "crm" });
    let r = api.post(routes, &relative).await;
    assert_eq!(json(r).await["error"], "invalid_path_prefix");
    let route = json!({ "host": "App.Example.com", "path_prefix": "/crm" });
    let r = api.post(routes, &route).await;
    assert_eq!(r.status(), 201);
    let route_id = json(r).await["id"].as_str().unwrap().to_string();
    let r = api.post(routes, &route).await;
    assert_eq!(r.status(), 409);
    assert_eq!(json(r).await["error"], "route_exists");
    let elsewhere = json!({ "host": "a.example.com", "path_prefix": "/" });
    let r = api
        .post("/api/v1/applications/nope/routes", &elsewhere)
        .await;
    assert_eq!(r.status(), 404);
    // Readers can read, not write.
    let got = reader.value("/api/v1/applications/crm").await;
    assert_eq!(got["routes"][0]["host"], "app.example.com");
    let x = json!({ "id": "x", "name": "x" });
    assert_eq!(reader.post("/api/v1/applications", &x).await.status(), 403);
    // Conditional access now knows the application.
    let doc = json!({ "policies": [ {
        "id": "p", "name": "p", "state": "report_only",
        "assignments": { "users": { "include": { "all": true } }, "applications": { "include": ["crm"] } },
        "grant": "block" } ] });
    let r = api.post("/api/v1/conditional-access/validate", &doc).await;
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
        let r = login_next(&c, &s, "bob", next).await;
        assert_eq!(r.status(), 303, "{next}");
        assert_eq!(return_target(&c, &s, &r).await, expected, "{next}");
    }

    // Deleting the application removes its routes.
    let r = api.delete(&format!("{routes}/{route_id}")).await;
    assert_eq!(r.status(), 204);
    assert_eq!(api.delete("/api/v1/applications/crm").await.status(), 204);
    assert_eq!(api.get("/api/v1/applications/crm").await.status(), 404);
    s.stop().await;
}

#[tokio::test]
async fn caddy_forward_auth_enforces_sessions() {
    let s = TestServer::start().await;
    let api = admin_api(&s, Role::SecurityAdministrator).await;
    let upstream = echo_upstream().await;
    let port = free_port();
    let site = format!("http://127.0.0.1:{port}");
    wiki_on_port(&api, port).await;
    let Some(caddy) = start_caddy(port, &s.base, &upstream, "127.0.0.1").await else {
        return;
    };
    let alice = s.user("alice", &[]).await;

    // Anonymous: sent to sign in, with the way back.
    let c = client();
    let page = format!("{site}/docs/page?x=1");
    sent_to_sign_in(&c, &s, &page, &caddy).await;

    // Signed in: the upstream sees the identity and an assertion; a client cannot forge them.
    assert_eq!(login(&c, &s, "alice", PASSWORD).await.status(), 303);
    let r = c
        .get(&page)
        .header("x-trustplane-user", "mallory")
        .header("x-trustplane-groups", "admins")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", caddy.log());
    let claims = seen_by_upstream(r, &s, &alice, "").await;

    // Revoked: the very next request is sent to sign in.
    revoke_session_of(&s, &claims).await;
    let r = c.get(&page).send().await.unwrap();
    assert_eq!(r.status(), 302);
    drop(caddy);
    s.stop().await;
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("v", s)]).unwrap()[2..].to_string()
}
