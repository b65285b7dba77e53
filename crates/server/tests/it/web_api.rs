//! Hostile tests of the API and console edge: who may act on whose credentials (Entra's rule),
//! permission before existence, the JSON error shape for every rejection, HSTS and a
//! token-protected `/metrics`.

use crate::harness::*;
use reqwest::Client;
use serde_json::{Value, json};
use trustplane_core::audit::Actor;
use trustplane_core::identity::Role;
use trustplane_server::platform::config::Config;
use uuid::Uuid;

fn raw() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn api_token(s: &TestServer, role: Role) -> String {
    let (_, secret) = s
        .ops()
        .create_token(&Actor::system(), "test", role, time::Duration::days(1))
        .await
        .unwrap();
    secret
}

/// Asserts the API's error shape: a JSON body `{ "error": code, "message": text }`.
async fn assert_json_error(r: reqwest::Response, status: u16, what: &str) -> Value {
    assert_eq!(r.status(), status, "{what}");
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(
        ct.starts_with("application/json"),
        "{what}: content type {ct:?}"
    );
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].is_string(), "{what}: {body}");
    assert!(body["message"].is_string(), "{what}: {body}");
    body
}

#[tokio::test]
async fn every_api_rejection_answers_the_json_error_shape() {
    let s = TestServer::start().await;
    let t = api_token(&s, Role::GlobalAdministrator).await;
    let c = raw();
    let r = c
        .put(s.url("/api/v1/conditional-access"))
        .bearer_auth(&t)
        .json(&json!({"policies": []}))
        .send()
        .await
        .unwrap();
    let body = assert_json_error(r, 400, "PUT conditional-access without based_on").await;
    assert!(
        body["message"].as_str().unwrap().contains("based_on"),
        "{body}"
    );
    let r = c
        .get(s.url("/api/v1/users/not-a-uuid"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_json_error(r, 400, "a malformed id in the path").await;
    let r = c
        .get(s.url("/api/v1/sign-ins?limit=many"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_json_error(r, 400, "a query value of the wrong type").await;
    let post = |body: &'static str, ct: &'static str| {
        c.post(s.url("/api/v1/groups"))
            .bearer_auth(&t)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let r = post("{", "application/json").await.unwrap();
    assert_json_error(r, 400, "malformed JSON").await;
    let r = post("{\"name\": 5}", "application/json").await.unwrap();
    assert_json_error(r, 422, "a field of the wrong type").await;
    let r = post("{}", "application/json").await.unwrap();
    assert_json_error(r, 422, "a missing field").await;
    let r = post("{\"name\": \"x\"}", "text/plain").await.unwrap();
    assert_json_error(r, 415, "a wrong content type").await;
    let r = c
        .post(s.url("/api/v1/groups"))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body(format!("{{\"name\": \"{}\"}}", "x".repeat(200_000)))
        .send()
        .await
        .unwrap();
    assert_json_error(r, 413, "an oversized body").await;
    let r = c
        .patch(s.url("/api/v1/groups"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_json_error(r, 405, "a method the endpoint does not have").await;
    let r = c
        .get(s.url("/api/v1/users/not-a-uuid"))
        .send()
        .await
        .unwrap();
    assert_json_error(r, 401, "anonymous").await;
    s.stop().await;
}

#[tokio::test]
async fn permission_is_checked_before_existence() {
    let s = TestServer::start().await;
    s.user("pat", &[]).await;
    s.user("reader", &[Role::SecurityReader]).await;
    let _pat = signed_in(&s, "pat").await;
    let pat_session = s.state.store.list_sessions(None, None, 10).await.unwrap()[0].id;
    let t = api_token(&s, Role::SecurityReader).await;
    for id in [Uuid::now_v7(), pat_session] {
        let r = raw()
            .delete(s.url(&format!("/api/v1/sessions/{id}")))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        assert_json_error(r, 403, "revoke a session without sessions_revoke").await;
    }
    // The console: a security reader posting the revoke form.
    let c = signed_in(&s, "reader").await;
    let token = csrf(&c, &s, "/admin/sessions").await;
    for id in [Uuid::now_v7(), pat_session] {
        let r = c
            .post(s.url(&format!("/admin/sessions/{id}/revoke")))
            .form(&[("csrf_token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "console revoke of {id}");
    }
    assert!(
        s.state
            .store
            .get_session(pat_session)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    s.stop().await;
}

/// The credential operations of the API, on user `id`: `(what, method, path, body)`.
fn credential_ops(id: Uuid) -> Vec<(&'static str, reqwest::Method, String, Option<Value>)> {
    use reqwest::Method;
    vec![
        (
            "reset password",
            Method::POST,
            format!("/api/v1/users/{id}/password"),
            Some(json!({"password": "purple monkey dishwasher lagoon", "must_change": false})),
        ),
        (
            "temporary password",
            Method::POST,
            format!("/api/v1/users/{id}/password/temporary"),
            None,
        ),
        (
            "temporary access pass",
            Method::POST,
            format!("/api/v1/users/{id}/temporary-access-pass"),
            Some(json!({})),
        ),
        (
            "remove a method",
            Method::DELETE,
            format!("/api/v1/users/{id}/methods/{}", Uuid::now_v7()),
            None,
        ),
        (
            "require re-registration",
            Method::POST,
            format!("/api/v1/users/{id}/methods/require-reregistration"),
            None,
        ),
    ]
}

async fn call(s: &TestServer, t: &str, op: &(&str, reqwest::Method, String, Option<Value>)) -> u16 {
    let mut req = raw().request(op.1.clone(), s.url(&op.2)).bearer_auth(t);
    if let Some(b) = &op.3 {
        req = req.json(b);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn helpdesk_administrators_act_only_on_non_administrators_and_each_other() {
    let s = TestServer::start().await;
    let reader = s.user("reader", &[Role::SecurityReader]).await;
    let secadmin = s.user("secadmin", &[Role::SecurityAdministrator]).await;
    let global = s.user("global", &[Role::GlobalAdministrator]).await;
    let helpdesk2 = s.user("helpdesk2", &[Role::HelpdeskAdministrator]).await;
    let plain = s.user("plain", &[]).await;
    let helpdesk = api_token(&s, Role::HelpdeskAdministrator).await;
    for target in [&reader, &secadmin, &global] {
        for op in credential_ops(target.id) {
            assert_eq!(
                call(&s, &helpdesk, &op).await,
                403,
                "helpdesk may not {} of {}",
                op.0,
                target.username
            );
        }
    }
    // The security reader's password still works: the helpdesk cannot become them.
    assert_eq!(login(&client(), &s, "reader", PASSWORD).await.status(), 303);
    for target in [&plain, &helpdesk2] {
        let op = &credential_ops(target.id)[0];
        assert_eq!(
            call(&s, &helpdesk, op).await,
            204,
            "helpdesk may reset {}",
            target.username
        );
    }
    // A global administrator may act on anyone.
    let root = api_token(&s, Role::GlobalAdministrator).await;
    for target in [&reader, &secadmin] {
        assert_eq!(call(&s, &root, &credential_ops(target.id)[1]).await, 200);
    }
    s.stop().await;
}

#[tokio::test]
async fn the_console_hides_and_refuses_what_the_viewer_may_not_do() {
    let s = TestServer::start().await;
    let reader = s.user("reader", &[Role::SecurityReader]).await;
    let plain = s.user("plain", &[]).await;
    let global = s.user("global", &[Role::GlobalAdministrator]).await;
    s.user("helpdesk", &[Role::HelpdeskAdministrator]).await;
    s.user("secadmin", &[Role::SecurityAdministrator]).await;
    let c = signed_in(&s, "helpdesk").await;
    let page = |id: Uuid| {
        let (c, s) = (&c, &s);
        async move {
            c.get(s.url(&format!("/admin/users/{id}")))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let html = page(reader.id).await;
    assert!(
        !html.contains("/password/temporary"),
        "reset offered on a reader"
    );
    assert!(!html.contains("/tap\""), "a pass offered on a reader");
    let html = page(plain.id).await;
    assert!(html.contains("/password/temporary"));
    let token = csrf_of(&html);
    let r = c
        .post(s.url(&format!("/admin/users/{}/password/temporary", reader.id)))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // The sessions list offers "Revoke" only on the sessions the viewer may revoke.
    let _g = signed_in(&s, "global").await;
    let _p = signed_in(&s, "plain").await;
    let sec = signed_in(&s, "secadmin").await;
    let html = sec
        .get(s.url("/admin/sessions"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sessions = s.state.store.list_sessions(None, None, 50).await.unwrap();
    for sess in sessions {
        let form = format!("/admin/sessions/{}/revoke", sess.id);
        if sess.user_id == global.id {
            assert!(
                !html.contains(&form),
                "revoke offered on a global admin's session"
            );
        }
        if sess.user_id == plain.id {
            assert!(html.contains(&form), "revoke missing on a user's session");
        }
    }
    s.stop().await;
}

fn https(c: &mut Config) {
    c.public_url = Some("https://id.example.test".into());
}

#[tokio::test]
async fn hsts_is_sent_when_the_public_url_is_https() {
    let s = TestServer::with(Options {
        configure: Some(https),
        ..Options::default()
    })
    .await;
    for path in ["/login", "/healthz", "/api/v1/me"] {
        let r = raw().get(s.url(path)).send().await.unwrap();
        assert_eq!(
            r.headers()
                .get("strict-transport-security")
                .map(|v| v.to_str().unwrap()),
            Some("max-age=31536000; includeSubDomains"),
            "{path}"
        );
    }
    s.stop().await;
    let s = TestServer::start().await;
    let r = raw().get(s.url("/login")).send().await.unwrap();
    assert!(r.headers().get("strict-transport-security").is_none());
    s.stop().await;
}

/// Sets `metrics.token` through the configuration's serialised form (a key the file and the
/// environment use alike).
fn metrics_token(c: &mut Config) {
    let mut v = serde_json::to_value(&*c).unwrap();
    v["metrics"] = json!({ "token": "a-long-random-metrics-token" });
    *c = serde_json::from_value(v).unwrap();
}

#[tokio::test]
async fn metrics_can_require_a_bearer_token() {
    let s = TestServer::with(Options {
        configure: Some(metrics_token),
        ..Options::default()
    })
    .await;
    let get = |auth: Option<&'static str>| {
        let s = &s;
        async move {
            let mut req = raw().get(s.url("/metrics"));
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            req.send().await.unwrap()
        }
    };
    let r = get(None).await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    assert!(
        !r.text()
            .await
            .unwrap()
            .contains("trustplane_http_requests_total")
    );
    for wrong in [
        "Bearer a-long-random-metrics-tokeX",
        "Bearer a-long-random-metrics-token-and-more",
        "Bearer ",
        "Basic a-long-random-metrics-token",
    ] {
        assert_eq!(get(Some(wrong)).await.status(), 401, "{wrong}");
    }
    let r = get(Some("Bearer a-long-random-metrics-token")).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("trustplane_http_requests_total")
    );
    s.stop().await;
    // Without the option, /metrics stays open (scraped on a private network).
    let s = TestServer::start().await;
    assert_eq!(
        raw().get(s.url("/metrics")).send().await.unwrap().status(),
        200
    );
    s.stop().await;
}
