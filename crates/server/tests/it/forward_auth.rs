//! Forward-auth with a real nginx (`auth_request`): an upstream behind nginx is reachable
//! only with a trustplane session, receives the identity headers and a signed assertion
//! that verifies against the JWKS, stops being reachable the moment the session is revoked,
//! and is refused when a conditional access policy blocks the user on that application.

use crate::harness::*;
use crate::mfa::admin_token;
use axum::http::HeaderMap;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use time::OffsetDateTime;
use trustplane_core::audit::Actor;
use trustplane_core::identity::Role;

const NGINX: &str = "/usr/sbin/nginx";

/// nginx, stopped (by its id) when the test ends, also on failure.
struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nginx {
    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The nginx configuration of docs/forward-auth.md, with test ports and paths (and one process:
/// a master killed by the test would leave its worker running).
fn config(dir: &std::path::Path, port: u16, tp: &str, upstream: &str) -> String {
    let d = dir.display();
    format!(
        r#"daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log info;
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            auth_request /_trustplane;
            auth_request_set $tp_user $upstream_http_x_trustplane_user;
            auth_request_set $tp_email $upstream_http_x_trustplane_email;
            auth_request_set $tp_groups $upstream_http_x_trustplane_groups;
            auth_request_set $tp_assertion $upstream_http_x_trustplane_assertion;
            proxy_set_header X-Trustplane-User $tp_user;
            proxy_set_header X-Trustplane-Email $tp_email;
            proxy_set_header X-Trustplane-Groups $tp_groups;
            proxy_set_header X-Trustplane-Assertion $tp_assertion;
            error_page 401 = @login;
            proxy_pass {upstream};
        }}
        location = /_trustplane {{
            internal;
            proxy_pass {tp}/forward-auth;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
            proxy_set_header X-Original-Method $request_method;
        }}
        location @login {{
            return 302 {tp}/login?next=$scheme://$http_host$request_uri;
        }}
    }}
}}
"#
    )
}

async fn start_nginx(port: u16, tp: &str, upstream: &str) -> Option<Nginx> {
    if !std::path::Path::new(NGINX).exists() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{NGINX} is missing, but CI=true: the forward-auth test must run in CI");
        }
        eprintln!("note: {NGINX} is not installed; skipping the nginx forward-auth test");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, config(dir.path(), port, tp, upstream)).unwrap();
    let child = Command::new(NGINX)
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let n = Nginx { child, dir };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some(n);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("nginx did not start: {}", n.error_log());
}

/// An upstream that answers with the X-Trustplane-* headers it received, as JSON.
async fn echo_upstream() -> String {
    let app = axum::Router::new().fallback(|headers: HeaderMap| async move {
        let mut m = serde_json::Map::new();
        for (k, v) in &headers {
            if k.as_str().starts_with("x-trustplane-") {
                m.insert(
                    k.as_str().to_string(),
                    Value::String(v.to_str().unwrap_or_default().to_string()),
                );
            }
        }
        axum::Json(Value::Object(m))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

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
    let Some(nginx) = start_nginx(port, &s.base, &upstream).await else {
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
    assert_eq!(r.status(), 302, "{}", nginx.error_log());
    let login = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(login, format!("{}/login?next={page}", s.base));

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
    assert_eq!(r.status(), 200, "{}", nginx.error_log());
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
    let body = r.text().await.unwrap();
    assert!(body.contains("Correlation id"), "{body}");
    assert!(!body.contains("block-contractors"), "{body}");
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

const CADDY: &str = "/usr/bin/caddy";

/// The Caddyfile of docs/forward-auth.md, with test addresses.
fn caddyfile(port: u16, tp: &str, upstream: &str) -> String {
    let tp = tp.trim_start_matches("http://");
    let upstream = upstream.trim_start_matches("http://");
    format!(
        r#"{{
	admin off
	auto_https off
}}
http://127.0.0.1:{port} {{
	forward_auth {tp} {{
		uri /forward-auth
		header_up Host {{upstream_hostport}}
		copy_headers X-Trustplane-User X-Trustplane-Email X-Trustplane-Groups X-Trustplane-Assertion
		@login status 401
		handle_response @login {{
			redir {{rp.header.X-Trustplane-Login}} 302
		}}
	}}
	reverse_proxy {upstream}
}}
"#
    )
}

/// Caddy, stopped (by its id) when the test ends, also on failure.
struct Caddy {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Caddy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Caddy {
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("caddy.log")).unwrap_or_default()
    }
}

async fn start_caddy(port: u16, tp: &str, upstream: &str) -> Option<Caddy> {
    if !std::path::Path::new(CADDY).exists() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{CADDY} is missing, but CI=true: the Caddy forward-auth test must run in CI");
        }
        eprintln!("note: {CADDY} is not installed; skipping the Caddy forward-auth test");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("Caddyfile");
    std::fs::write(&conf, caddyfile(port, tp, upstream)).unwrap();
    let log = std::fs::File::create(dir.path().join("caddy.log")).unwrap();
    let child = Command::new(CADDY)
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&conf)
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .env("HOME", dir.path())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let c = Caddy { child, dir };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some(c);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("caddy did not start: {}", c.log());
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
    let Some(caddy) = start_caddy(port, &s.base, &upstream).await else {
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
