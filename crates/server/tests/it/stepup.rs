//! Information protection and step-up: sensitivity labels on applications and routes map to
//! authentication contexts, policies on a context demand more of the session, and a request
//! for a higher-labelled resource sends the user to a step-up of the same session (a second
//! factor), not to a dead end. Signing keys rotate with the old key published meanwhile.

use crate::harness::*;
use crate::mfa::{enrol, oathtool, submit_code};
use serde_json::{Value, json};
use trustplane_core::identity::Role;

async fn forward_auth(c: &reqwest::Client, s: &TestServer, path: &str) -> reqwest::Response {
    c.get(s.url("/forward-auth"))
        .header("x-forwarded-host", "hr.test")
        .header("x-forwarded-uri", path)
        .header("x-forwarded-proto", "http")
        .send()
        .await
        .unwrap()
}

fn label(id: &str) -> String {
    format!("/api/v1/sensitivity-labels/{id}")
}

/// A policy set with one policy requiring MFA for the authentication context `context`.
fn mfa_for_context(id: &str, name: &str, context: &str) -> Value {
    json!({ "policies": [{
        "id": id, "name": name, "state": "enabled",
        "assignments": { "users": { "include": { "all": true } },
            "authentication_contexts": [context] },
        "grant": { "operator": "all", "controls": ["mfa"] } }] })
}

#[tokio::test]
async fn labels_and_contexts_are_managed_and_refused_while_in_use() {
    let s = TestServer::start().await;
    let api = admin_api(&s, Role::SecurityAdministrator).await;
    // A label cannot map to a context that does not exist yet; bad ids and ranks are refused.
    let confidential =
        json!({ "name": "Confidential", "rank": 30, "authentication_context": "c1" });
    let r = api.put(&label("confidential"), &confidential).await;
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["error"], "unknown_authentication_context");
    let bad_id = json!({ "name": "x", "rank": 1 });
    assert_eq!(api.put(&label("Bad Id"), &bad_id).await.status(), 400);
    let bad_rank = json!({ "name": "x", "rank": -1 });
    assert_eq!(api.put(&label("x"), &bad_rank).await.status(), 400);
    let c1 = json!({ "name": "Sensitive data", "description": "MFA" });
    let r = api.put("/api/v1/authentication-contexts/c1", &c1).await;
    assert_eq!(r.status(), 200);
    for (id, name, rank, ctx) in [
        ("public", "Public", 10, None),
        ("general", "General", 20, None),
        ("confidential", "Confidential", 30, Some("c1")),
    ] {
        let body = json!({ "name": name, "rank": rank, "authentication_context": ctx });
        assert_eq!(api.put(&label(id), &body).await.status(), 200, "{id}");
    }
    // Ranks order labels and are unique.
    let secret = json!({ "name": "Secret", "rank": 30 });
    assert_eq!(api.put(&label("secret"), &secret).await.status(), 409);
    let labels = api.value("/api/v1/sensitivity-labels").await;
    let ids: Vec<&str> = labels
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["public", "general", "confidential"]);

    // A policy can now name the context and the label; an unknown one is refused.
    let doc = mfa_for_context("c1-mfa", "MFA for sensitive data", "c1");
    let r = api.put("/api/v1/conditional-access?based_on=0", &doc).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let bad = mfa_for_context("c9", "x", "c9");
    let r = api.put("/api/v1/conditional-access?based_on=1", &bad).await;
    assert_eq!(r.status(), 400);

    // In use: the context by a policy (and by a label), a label by an application.
    let r = api.delete("/api/v1/authentication-contexts/c1").await;
    assert_eq!(r.status(), 409);
    let hr = json!({ "id": "hr", "name": "HR", "sensitivity_label": "general" });
    assert_eq!(api.post("/api/v1/applications", &hr).await.status(), 201);
    let crm = json!({ "id": "crm", "name": "CRM", "sensitivity_label": "nope" });
    assert_eq!(api.post("/api/v1/applications", &crm).await.status(), 400);
    assert_eq!(api.delete(&label("general")).await.status(), 409);
    let unlabelled = json!({ "label": null });
    let r = api
        .put("/api/v1/applications/hr/sensitivity-label", &unlabelled)
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(api.delete(&label("general")).await.status(), 204);
    assert_eq!(api.delete(&label("general")).await.status(), 404);
    // Every change is audited.
    let actions = audit_actions(&s).await;
    for action in [
        "authentication_context.put",
        "sensitivity_label.put",
        "sensitivity_label.delete",
        "application.sensitivity_label.set",
    ] {
        assert!(actions.iter().any(|a| a == action), "{action}");
    }
    s.stop().await;
}

/// The application `hr` on `hr.test`, labelled general, with `/salaries` labelled
/// confidential, which maps to the context `c1` that a policy requires MFA for.
async fn hr_with_confidential_salaries(api: &Api) {
    let c1 = json!({ "name": "Sensitive data" });
    api.put("/api/v1/authentication-contexts/c1", &c1).await;
    let general = json!({ "name": "General", "rank": 20 });
    api.put(&label("general"), &general).await;
    let confidential =
        json!({ "name": "Confidential", "rank": 30, "authentication_context": "c1" });
    api.put(&label("confidential"), &confidential).await;
    let hr = json!({ "id": "hr", "name": "HR", "sensitivity_label": "general" });
    assert_eq!(api.post("/api/v1/applications", &hr).await.status(), 201);
    let routes = "/api/v1/applications/hr/routes";
    let all = json!({ "host": "hr.test", "path_prefix": "/" });
    assert_eq!(api.post(routes, &all).await.status(), 201);
    let salaries = json!({ "host": "hr.test", "path_prefix": "/salaries", "sensitivity_label": "confidential" });
    assert_eq!(api.post(routes, &salaries).await.status(), 201);
    let doc = mfa_for_context("c1-mfa", "MFA for sensitive data", "c1");
    let r = api.put("/api/v1/conditional-access?based_on=0", &doc).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_higher_labelled_route_steps_the_session_up_not_out() {
    let s = TestServer::start().await;
    hr_with_confidential_salaries(&admin_api(&s, Role::SecurityAdministrator).await).await;

    let u = s.user("hana", &[]).await;
    let c = signed_in(&s, "hana").await;
    let secret = enrol(&c, &s).await;
    let sessions = || async {
        s.state
            .store
            .list_sessions(Some(u.id), None, 10)
            .await
            .unwrap()
    };
    let before = sessions().await;
    assert_eq!(before.len(), 1);
    let sid = before[0].id;

    // General pages: the password session is enough (and, once the decision cache is live,
    // that decision is cached: it must not be reused for the confidential route).
    wait_until_cae_is_live(&s).await;
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
    assert_eq!(location(&r), "/login/continue");
    let r = submit_code(&c, &s, &oathtool(&secret, "now + 30 seconds")).await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        location(&r),
        "/login/return?to=http%3A%2F%2Fhr%2Etest%2Fsalaries%2F2026",
        "through our own page: form-action 'self' would block a cross-site redirect"
    );
    assert_eq!(
        return_target(&c, &s, &r).await,
        "http://hr.test/salaries/2026"
    );
    assert!(
        set_cookie(&r, "tp_session").is_none(),
        "the same session cookie stays"
    );
    // The same session now carries both methods and reaches the confidential pages.
    let after = sessions().await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].id, sid);
    assert_eq!(after[0].methods.len(), 2);
    assert_eq!(forward_auth(&c, &s, "/salaries/2026").await.status(), 200);
    let actions = audit_actions(&s).await;
    assert!(actions.iter().any(|a| a == "session.step_up"));
    // Satisfied already: the sign-in URL goes straight back.
    let r = c.get(&login).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "http://hr.test/salaries/2026");
    // prompt=login asks for the password again, with the application named on the page.
    let r = c.get(format!("{login}&prompt=login")).send().await.unwrap();
    let html = r.text().await.unwrap();
    assert!(html.contains("name=\"password\""), "{html}");
    assert!(html.contains("name=\"app\" value=\"hr\""), "{html}");
    s.stop().await;
}

#[tokio::test]
async fn an_application_demanding_a_strength_the_user_lacks_is_refused_with_a_reason() {
    let s = TestServer::start().await;
    let api = admin_api(&s, Role::SecurityAdministrator).await;
    let vault = json!({ "id": "vault", "name": "Vault" });
    assert_eq!(api.post("/api/v1/applications", &vault).await.status(), 201);
    s.user("ivan", &[]).await;
    let c = signed_in(&s, "ivan").await;
    enrol(&c, &s).await;
    // acr=phishing_resistant_mfa with only an authenticator app: no way to satisfy it.
    let r = get(
        &c,
        &s,
        "/login?next=%2Fmy&app=vault&acr=phishing_resistant_mfa",
    )
    .await;
    assert_eq!(r.status(), 403);
    let html = r.text().await.unwrap();
    assert!(html.contains("Correlation"), "{html}");
    // acr=mfa is satisfiable: a second-factor step.
    let r = get(&c, &s, "/login?next=%2Fmy&app=vault&acr=mfa").await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login/continue");
    s.stop().await;
}

#[tokio::test]
async fn signing_keys_rotate_with_the_old_key_still_published() {
    let s = TestServer::start().await;
    let api = admin_api(&s, Role::SecurityAdministrator).await;
    let reader = admin_api(&s, Role::SecurityReader).await;
    let jwks = async || json(get(&client(), &s, "/.well-known/jwks.json").await).await;
    let before = jwks().await;
    assert_eq!(before["keys"].as_array().unwrap().len(), 1);
    let old = before["keys"][0]["kid"].as_str().unwrap().to_string();
    let rotate = "/api/v1/signing-keys/rotate";
    assert_eq!(reader.post(rotate, &json!({})).await.status(), 403);
    let hs256 = json!({ "alg": "HS256" });
    assert_eq!(api.post(rotate, &hs256).await.status(), 400);
    let r = api.post(rotate, &json!({})).await;
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
    let keys = api.value("/api/v1/signing-keys").await;
    let keys = keys.as_array().unwrap();
    let status = |kid: &str| keys.iter().find(|k| k["kid"] == kid).unwrap()["status"].clone();
    assert_eq!(status(&new), "next");
    assert_eq!(status(&old), "signing");
    assert!(keys.iter().all(|k| k.get("sealed_private").is_none()));
    // RS256 on request: an RSA key appears in the JWKS.
    let rs256 = json!({ "alg": "RS256" });
    assert_eq!(api.post(rotate, &rs256).await.status(), 200);
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
    let api = admin_api(&s, Role::SecurityAdministrator).await;
    let payroll = json!({ "id": "payroll", "name": "Payroll" });
    assert_eq!(
        api.post("/api/v1/applications", &payroll).await.status(),
        201
    );
    let doc = json!({ "policies": [{
        "id": "payroll-hourly", "name": "Sign in to payroll every hour", "state": "enabled",
        "assignments": { "users": { "include": { "all": true } },
            "applications": { "include": ["payroll"] } },
        "session": { "sign_in_frequency": { "every_hours": 1 } } }] });
    let r = api.put("/api/v1/conditional-access?based_on=0", &doc).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let u = s.user("pat", &[]).await;
    let c = signed_in(&s, "pat").await;
    let url = "/login?next=%2Fmy&app=payroll";
    // A fresh password sign-in satisfies the frequency: straight back.
    let r = get(&c, &s, url).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/my");
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
    let r = get(&c, &s, url).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("name=\"password\""), "{html}");
    assert!(
        html.contains("Payroll</strong> asks you to sign in"),
        "{html}"
    );
    s.stop().await;
}
