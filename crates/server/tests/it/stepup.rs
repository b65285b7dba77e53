//! Information protection and step-up: sensitivity labels on applications and routes map to
//! authentication contexts, policies on a context demand more of the session, and a request
//! for a higher-labelled resource sends the user to a step-up of the same session (a second
//! factor), not to a dead end. Signing keys rotate with the old key published meanwhile.

use crate::harness::*;
use crate::mfa::{admin_token, enrol, oathtool, submit_code};
use serde_json::{Value, json};
use trustplane_core::identity::Role;
use trustplane_store::AuditQuery;

async fn api(
    s: &TestServer,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> reqwest::Response {
    client()
        .request(method, s.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn forward_auth(c: &reqwest::Client, s: &TestServer, path: &str) -> reqwest::Response {
    c.get(s.url("/forward-auth"))
        .header("x-forwarded-host", "hr.test")
        .header("x-forwarded-uri", path)
        .header("x-forwarded-proto", "http")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn labels_and_contexts_are_managed_and_refused_while_in_use() {
    let s = TestServer::start().await;
    let t = admin_token(&s, Role::SecurityAdministrator).await;
    use reqwest::Method as M;
    // A label cannot map to a context that does not exist yet; bad ids and ranks are refused.
    let r = api(
        &s,
        &t,
        M::PUT,
        "/api/v1/sensitivity-labels/confidential",
        json!({ "name": "Confidential", "rank": 30, "authentication_context": "c1" }),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["error"], "unknown_authentication_context");
    let r = api(
        &s,
        &t,
        M::PUT,
        "/api/v1/sensitivity-labels/Bad Id",
        json!({ "name": "x", "rank": 1 }),
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = api(
        &s,
        &t,
        M::PUT,
        "/api/v1/sensitivity-labels/x",
        json!({ "name": "x", "rank": -1 }),
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = api(
        &s,
        &t,
        M::PUT,
        "/api/v1/authentication-contexts/c1",
        json!({ "name": "Sensitive data", "description": "MFA" }),
    )
    .await;
    assert_eq!(r.status(), 200);
    for (id, name, rank, ctx) in [
        ("public", "Public", 10, None),
        ("general", "General", 20, None),
        ("confidential", "Confidential", 30, Some("c1")),
    ] {
        let r = api(
            &s,
            &t,
            M::PUT,
            &format!("/api/v1/sensitivity-labels/{id}"),
            json!({ "name": name, "rank": rank, "authentication_context": ctx }),
        )
        .await;
        assert_eq!(r.status(), 200, "{id}");
    }
    // Ranks order labels and are unique.
    let r = api(
        &s,
        &t,
        M::PUT,
        "/api/v1/sensitivity-labels/secret",
        json!({ "name": "Secret", "rank": 30 }),
    )
    .await;
    assert_eq!(r.status(), 409);
    let labels = json(api(&s, &t, M::GET, "/api/v1/sensitivity-labels", json!({})).await).await;
    let ids: Vec<&str> = labels
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["public", "general", "confidential"]);

    // A policy can now name the context and the label; an unknown one is refused.
    let doc = json!({ "policies": [{
        "id": "c1-mfa", "name": "MFA for sensitive data", "state": "enabled",
        "assignments": { "users": { "include": { "all": true } },
            "authentication_contexts": ["c1"] },
        "grant": { "operator": "all", "controls": ["mfa"] } }] });
    let r = client()
        .put(s.url("/api/v1/conditional-access?based_on=0"))
        .bearer_auth(&t)
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let bad = json!({ "policies": [{
        "id": "c9", "name": "x", "state": "enabled",
        "assignments": { "users": { "include": { "all": true } },
            "authentication_contexts": ["c9"] },
        "grant": { "operator": "all", "controls": ["mfa"] } }] });
    let r = client()
        .put(s.url("/api/v1/conditional-access?based_on=1"))
        .bearer_auth(&t)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // In use: the context by a policy (and by a label), a label by an application.
    let r = api(
        &s,
        &t,
        M::DELETE,
        "/api/v1/authentication-contexts/c1",
        json!({}),
    )
    .await;
    assert_eq!(r.status(), 409);
    let r = api(
        &s,
        &t,
        M::POST,
        "/api/v1/applications",
        json!({ "id": "hr", "name": "HR", "sensitivity_label": "general" }),
    )
    .await;
    assert_eq!(r.status(), 201);
    let r = api(
        &s,
        &t,
        M::POST,
        "/api/v1/applications",
        json!({ "id": "crm", "name": "CRM", "sensitivity_label": "nope" }),
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = api(
        &s,
        &t,
        M::DELETE,
        "/api/v1/sensitivity-labels/general",
        json!({}),
    )
    .await;
    assert_eq!(r.status(), 409);
    let r = api(
        &s,
        &t,
        M::PUT,
        "/api/v1/applications/hr/sensitivity-label",
        json!({ "label": null }),
    )
    .await;
    assert_eq!(r.status(), 204);
    let r = api(
        &s,
        &t,
        M::DELETE,
        "/api/v1/sensitivity-labels/general",
        json!({}),
    )
    .await;
    assert_eq!(r.status(), 204);
    let r = api(
        &s,
        &t,
        M::DELETE,
        "/api/v1/sensitivity-labels/general",
        json!({}),
    )
    .await;
    assert_eq!(r.status(), 404);
    // Every change is audited.
    let audit = s
        .state
        .store
        .list_audit(&AuditQuery {
            limit: 200,
            ..Default::default()
        })
        .await
        .unwrap();
    for action in [
        "authentication_context.put",
        "sensitivity_label.put",
        "sensitivity_label.delete",
        "application.sensitivity_label.set",
    ] {
        assert!(audit.iter().any(|e| e.action == action), "{action}");
    }
    s.stop().await;
}

#[tokio::test]
async fn a_higher_labelled_route_steps_the_session_up_not_out() {
    let s = TestServer::start().await;
    let t = admin_token(&s, Role::SecurityAdministrator).await;
    use reqwest::Method as M;
    api(
        &s,
        &t,
        M::PUT,
        "/api/v1/authentication-contexts/c1",
        json!({ "name": "Sensitive data" }),
    )
    .await;
    api(
        &s,
        &t,
        M::PUT,
        "/api/v1/sensitivity-labels/general",
        json!({ "name": "General", "rank": 20 }),
    )
    .await;
    api(
        &s,
        &t,
        M::PUT,
        "/api/v1/sensitivity-labels/confidential",
        json!({ "name": "Confidential", "rank": 30, "authentication_context": "c1" }),
    )
    .await;
    let r = api(
        &s,
        &t,
        M::POST,
        "/api/v1/applications",
        json!({ "id": "hr", "name": "HR", "sensitivity_label": "general" }),
    )
    .await;
    assert_eq!(r.status(), 201);
    let r = api(
        &s,
        &t,
        M::POST,
        "/api/v1/applications/hr/routes",
        json!({ "host": "hr.test", "path_prefix": "/" }),
    )
    .await;
    assert_eq!(r.status(), 201);
    let r = api(&s, &t, M::POST, "/api/v1/applications/hr/routes",
        json!({ "host": "hr.test", "path_prefix": "/salaries", "sensitivity_label": "confidential" })).await;
    assert_eq!(r.status(), 201);
    let doc = json!({ "policies": [{
        "id": "c1-mfa", "name": "MFA for sensitive data", "state": "enabled",
        "assignments": { "users": { "include": { "all": true } },
            "authentication_contexts": ["c1"] },
        "grant": { "operator": "all", "controls": ["mfa"] } }] });
    let r = client()
        .put(s.url("/api/v1/conditional-access?based_on=0"))
        .bearer_auth(&t)
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let u = s.user("hana", &[]).await;
    let c = signed_in(&s, "hana").await;
    let secret = enrol(&c, &s).await;
    let sessions = s
        .state
        .store
        .list_sessions(Some(u.id), None, 10)
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1);
    let sid = sessions[0].id;

    // General pages: the password session is enough (and, once the decision cache is live,
    // that decision is cached: it must not be reused for the confidential route).
    for _ in 0..100 {
        if s.state.cae.is_live() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(s.state.cae.is_live());
    assert_eq!(forward_auth(&c, &s, "/handbook").await.status(), 200);
    assert_eq!(forward_auth(&c, &s, "/handbook").await.status(), 200);
    // Confidential ones: step-up, with the application named in the sign-in URL.
    let r = forward_auth(&c, &s, "/salaries/2026").await;
    assert_eq!(r.status(), 401);
    let login = r.headers()["x-trustplane-login"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(login.contains("&app=hr"), "{login}");
    assert!(
        login.contains("next=http%3A%2F%2Fhr%2Etest%2Fsalaries%2F2026"),
        "{login}"
    );
    // The sign-in page, with the session, asks only for the second factor.
    let r = c.get(&login).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login/continue");
    let r = submit_code(&c, &s, &oathtool(&secret, "now + 30 seconds")).await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/login/return?to=http%3A%2F%2Fhr%2Etest%2Fsalaries%2F2026",
        "through our own page: form-action 'self' would block a cross-site redirect"
    );
    assert_eq!(
        return_target(&c, &s, &r).await,
        "http://hr.test/salaries/2026"
    );
    assert!(
        r.headers()
            .get("set-cookie")
            .is_none_or(|v| !v.to_str().unwrap().starts_with("tp_session=")),
        "the same session cookie stays"
    );
    // The same session now carries both methods and reaches the confidential pages.
    let sessions = s
        .state
        .store
        .list_sessions(Some(u.id), None, 10)
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].id, sid);
    assert_eq!(sessions[0].methods.len(), 2);
    assert_eq!(forward_auth(&c, &s, "/salaries/2026").await.status(), 200);
    let audit = s
        .state
        .store
        .list_audit(&AuditQuery {
            limit: 200,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(audit.iter().any(|e| e.action == "session.step_up"));
    // Satisfied already: the sign-in URL goes straight back.
    let r = c.get(&login).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "http://hr.test/salaries/2026");
    // prompt=login asks for the password again, with the application named on the page.
    let html = c
        .get(format!("{login}&prompt=login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("name=\"password\""), "{html}");
    assert!(html.contains("name=\"app\" value=\"hr\""), "{html}");
    s.stop().await;
}

#[tokio::test]
async fn an_application_demanding_a_strength_the_user_lacks_is_refused_with_a_reason() {
    let s = TestServer::start().await;
    let t = admin_token(&s, Role::SecurityAdministrator).await;
    let r = api(
        &s,
        &t,
        reqwest::Method::POST,
        "/api/v1/applications",
        json!({ "id": "vault", "name": "Vault" }),
    )
    .await;
    assert_eq!(r.status(), 201);
    s.user("ivan", &[]).await;
    let c = signed_in(&s, "ivan").await;
    enrol(&c, &s).await;
    // acr=phishing_resistant_mfa with only an authenticator app: no way to satisfy it.
    let r = c
        .get(s.url("/login?next=%2Fmy&app=vault&acr=phishing_resistant_mfa"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let html = r.text().await.unwrap();
    assert!(html.contains("Correlation"), "{html}");
    // acr=mfa is satisfiable: a second-factor step.
    let r = c
        .get(s.url("/login?next=%2Fmy&app=vault&acr=mfa"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login/continue");
    s.stop().await;
}

#[tokio::test]
async fn signing_keys_rotate_with_the_old_key_still_published() {
    let s = TestServer::start().await;
    let t = admin_token(&s, Role::SecurityAdministrator).await;
    let reader = admin_token(&s, Role::SecurityReader).await;
    let jwks = || async {
        json(
            client()
                .get(s.url("/.well-known/jwks.json"))
                .send()
                .await
                .unwrap(),
        )
        .await
    };
    let before = jwks().await;
    assert_eq!(before["keys"].as_array().unwrap().len(), 1);
    let old = before["keys"][0]["kid"].as_str().unwrap().to_string();
    let r = api(
        &s,
        &reader,
        reqwest::Method::POST,
        "/api/v1/signing-keys/rotate",
        json!({}),
    )
    .await;
    assert_eq!(r.status(), 403);
    let r = api(
        &s,
        &t,
        reqwest::Method::POST,
        "/api/v1/signing-keys/rotate",
        json!({ "alg": "HS256" }),
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = api(
        &s,
        &t,
        reqwest::Method::POST,
        "/api/v1/signing-keys/rotate",
        json!({}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let new = json(r).await["kid"].as_str().unwrap().to_string();
    // Both published; the old one signs until the new one has been published long enough.
    let after = jwks().await;
    let kids: Vec<&str> = after["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [new.as_str(), old.as_str()]);
    let keys = json(
        api(
            &s,
            &t,
            reqwest::Method::GET,
            "/api/v1/signing-keys",
            json!({}),
        )
        .await,
    )
    .await;
    let status = |kid: &str| {
        keys.as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status(&new), "next");
    assert_eq!(status(&old), "signing");
    assert!(
        keys.as_array()
            .unwrap()
            .iter()
            .all(|k| k.get("sealed_private").is_none())
    );
    // RS256 on request: an RSA key appears in the JWKS.
    let r = api(
        &s,
        &t,
        reqwest::Method::POST,
        "/api/v1/signing-keys/rotate",
        json!({ "alg": "RS256" }),
    )
    .await;
    assert_eq!(r.status(), 200);
    let after = jwks().await;
    assert!(
        after["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kty"] == "RSA" && k["alg"] == "RS256")
    );
    s.stop().await;
}

#[tokio::test]
async fn a_sign_in_frequency_on_the_application_asks_for_the_password_not_a_step_up() {
    let s = TestServer::start().await;
    let t = admin_token(&s, Role::SecurityAdministrator).await;
    let r = api(
        &s,
        &t,
        reqwest::Method::POST,
        "/api/v1/applications",
        json!({ "id": "payroll", "name": "Payroll" }),
    )
    .await;
    assert_eq!(r.status(), 201);
    let doc = json!({ "policies": [{
        "id": "payroll-hourly", "name": "Sign in to payroll every hour", "state": "enabled",
        "assignments": { "users": { "include": { "all": true } },
            "applications": { "include": ["payroll"] } },
        "session": { "sign_in_frequency": { "every_hours": 1 } } }] });
    let r = client()
        .put(s.url("/api/v1/conditional-access?based_on=0"))
        .bearer_auth(&t)
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let u = s.user("pat", &[]).await;
    let c = signed_in(&s, "pat").await;
    let url = s.url("/login?next=%2Fmy&app=payroll");
    // A fresh password sign-in satisfies the frequency: straight back.
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/my");
    // Two hours later (the session's password time moved back), only a new sign-in will do:
    // the password form, not a step-up that could never satisfy it.
    let session = s
        .state
        .store
        .list_sessions(Some(u.id), None, 1)
        .await
        .unwrap()
        .remove(0);
    let mut methods = session.methods.clone();
    for m in &mut methods {
        m.at -= time::Duration::hours(2);
    }
    assert!(
        s.state
            .store
            .step_up_session(
                session.id,
                &methods,
                trustplane_core::audit::AuditDraft::new(
                    &trustplane_core::audit::Actor::system(),
                    "session.step_up",
                    "session",
                    Some(session.id.to_string())
                )
            )
            .await
            .unwrap()
    );
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("name=\"password\""), "{html}");
    assert!(
        html.contains("Payroll</strong> asks you to sign in"),
        "{html}"
    );
    s.stop().await;
}
