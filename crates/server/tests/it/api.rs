use crate::harness::*;
use serde_json::{Value, json};
use trustplane_core::audit::Actor;
use trustplane_core::identity::Role;

async fn token(s: &TestServer, role: Role) -> String {
    let (_, secret) = s
        .ops()
        .create_token(&Actor::system(), "test", role, time::Duration::days(1))
        .await
        .unwrap();
    secret
}

#[tokio::test]
async fn admin_api_crud_with_a_token() {
    let s = TestServer::start().await;
    let t = token(&s, Role::GlobalAdministrator).await;
    let c = client();
    let r = c
        .post(s.url("/api/v1/users"))
        .bearer_auth(&t)
        .json(&json!({"username": "nina", "display_name": "Nina", "email": "nina@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let nina: Value = r.json().await.unwrap();
    let id = nina["id"].as_str().unwrap().to_string();
    assert_eq!(nina["status"], "enabled");

    let dup = c
        .post(s.url("/api/v1/users"))
        .bearer_auth(&t)
        .json(&json!({"username": "NINA", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(dup.status(), 409);
    assert_eq!(dup.json::<Value>().await.unwrap()["error"], "conflict");

    let g: Value = c
        .post(s.url("/api/v1/groups"))
        .bearer_auth(&t)
        .json(&json!({"name": "ops", "description": "Operations"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let gid = g["id"].as_str().unwrap();
    let added: Value = c
        .put(s.url(&format!("/api/v1/groups/{gid}/members/{id}")))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(added["changed"], true);
    let again: Value = c
        .put(s.url(&format!("/api/v1/groups/{gid}/members/{id}")))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["changed"], false);
    let detail: Value = c
        .get(s.url(&format!("/api/v1/users/{id}")))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["groups"][0]["name"], "ops");

    let patched: Value = c
        .patch(s.url(&format!("/api/v1/users/{id}")))
        .bearer_auth(&t)
        .json(&json!({"display_name": "Nina N.", "status": "disabled"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(patched["status"], "disabled");
    assert_eq!(login(&client(), &s, "nina", PASSWORD).await.status(), 401);

    let r = c
        .put(s.url(&format!("/api/v1/users/{id}/roles/security_reader")))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .put(s.url(&format!("/api/v1/users/{id}/roles/superuser")))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "unknown_role");

    let del = c
        .delete(s.url(&format!("/api/v1/users/{id}")))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    let gone = c
        .get(s.url(&format!("/api/v1/users/{id}")))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    assert_eq!(gone.json::<Value>().await.unwrap()["error"], "not_found");

    // Every change is in the audit log, attributed to the token, and the chain holds.
    let audit: Vec<Value> = c
        .get(s.url("/api/v1/audit?limit=50"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "user.create",
        "group.create",
        "group.member.add",
        "user.disable",
        "role.assign",
        "user.delete",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    assert!(
        audit
            .iter()
            .filter(|e| e["action"] == "user.delete")
            .all(|e| e["actor_id"].as_str().unwrap().starts_with("token:"))
    );
    let v: Value = c
        .get(s.url("/api/v1/audit/verify"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["intact"], true);
    s.stop().await;
}

#[tokio::test]
async fn roles_limit_what_a_caller_may_do() {
    let s = TestServer::start().await;
    let admin = s.user("root", &[Role::GlobalAdministrator]).await;
    let plain = s.user("olga", &[]).await;
    let reader = token(&s, Role::SecurityReader).await;
    let helpdesk = token(&s, Role::HelpdeskAdministrator).await;
    let c = client();
    assert_eq!(
        c.get(s.url("/api/v1/users"))
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.get(s.url("/api/v1/audit"))
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = c
        .post(s.url("/api/v1/users"))
        .bearer_auth(&reader)
        .json(&json!({"username": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "forbidden");
    assert!(body["message"].as_str().unwrap().contains("users_write"));
    assert_eq!(s.state.store.count_users().await.unwrap(), 2);
    // Helpdesk resets a normal user's password, but not an administrator's.
    let r = c
        .post(s.url(&format!("/api/v1/users/{}/password", plain.id)))
        .bearer_auth(&helpdesk)
        .json(&json!({"password": "helpdesk picked walnut lantern"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = c
        .post(s.url(&format!("/api/v1/users/{}/password", admin.id)))
        .bearer_auth(&helpdesk)
        .json(&json!({"password": "helpdesk picked walnut lantern"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(login(&client(), &s, "root", PASSWORD).await.status(), 303);
    assert_eq!(
        c.get(s.url("/api/v1/audit"))
            .bearer_auth(&helpdesk)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    s.stop().await;
}

#[tokio::test]
async fn bad_expired_and_revoked_tokens_are_refused() {
    let s = TestServer::start().await;
    let c = client();
    let r = c.get(s.url("/api/v1/users")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "unauthenticated");
    for bad in ["tpat_nope", "", "Basic abc"] {
        let r = c
            .get(s.url("/api/v1/users"))
            .header("authorization", format!("Bearer {bad}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{bad}");
    }
    let (t, secret) = s
        .ops()
        .create_token(
            &Actor::system(),
            "short",
            Role::GlobalAdministrator,
            time::Duration::days(1),
        )
        .await
        .unwrap();
    assert_eq!(
        c.get(s.url("/api/v1/users"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    s.ops().revoke_token(&Actor::system(), t.id).await.unwrap();
    assert_eq!(
        c.get(s.url("/api/v1/users"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    s.stop().await;
}

#[tokio::test]
async fn cookie_api_changes_need_the_csrf_header() {
    let s = TestServer::start().await;
    s.user("root", &[Role::GlobalAdministrator]).await;
    let c = signed_in(&s, "root").await;
    let r = c
        .post(s.url("/api/v1/groups"))
        .json(&json!({"name": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "csrf_failed");
    let token = csrf(&c, &s, "/my").await;
    let r = c
        .post(s.url("/api/v1/groups"))
        .header("x-csrf-token", token)
        .json(&json!({"name": "yes"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    s.stop().await;
}

#[tokio::test]
async fn admin_revokes_a_users_session_and_it_stops_working() {
    let s = TestServer::start().await;
    let pat = s.user("pat", &[]).await;
    let t = token(&s, Role::SecurityAdministrator).await;
    let c = signed_in(&s, "pat").await;
    assert_eq!(
        c.get(s.url("/api/v1/me")).send().await.unwrap().status(),
        200
    );
    let admin = client();
    let list: Vec<Value> = admin
        .get(s.url(&format!("/api/v1/sessions?user_id={}", pat.id)))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    let sid = list[0]["id"].as_str().unwrap();
    let r: Value = admin
        .delete(s.url(&format!("/api/v1/sessions/{sid}")))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["changed"], true);
    assert_eq!(
        c.get(s.url("/api/v1/me")).send().await.unwrap().status(),
        401
    );
    s.stop().await;
}

#[tokio::test]
async fn the_last_global_admin_cannot_be_removed() {
    let s = TestServer::start().await;
    let root = s.user("root", &[Role::GlobalAdministrator]).await;
    let t = token(&s, Role::GlobalAdministrator).await;
    let c = client();
    for req in [
        c.delete(s.url(&format!("/api/v1/users/{}", root.id))),
        c.delete(s.url(&format!(
            "/api/v1/users/{}/roles/global_administrator",
            root.id
        ))),
        c.patch(s.url(&format!("/api/v1/users/{}", root.id)))
            .json(&json!({"status": "disabled"})),
    ] {
        let r = req.bearer_auth(&t).send().await.unwrap();
        assert_eq!(r.status(), 409);
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"],
            "last_global_administrator"
        );
    }
    assert!(
        s.state
            .store
            .get_user(root.id)
            .await
            .unwrap()
            .unwrap()
            .is_enabled()
    );
    s.stop().await;
}

#[tokio::test]
async fn sign_in_log_filters() {
    let s = TestServer::start().await;
    let quinn = s.user("quinn", &[]).await;
    let t = token(&s, Role::SecurityReader).await;
    signed_in(&s, "quinn").await;
    login(&client(), &s, "quinn", "wrong wrong wrong").await;
    login(&client(), &s, "nobody", "x").await;
    let c = client();
    let get = |q: &str| {
        let url = s.url(&format!("/api/v1/sign-ins{q}"));
        let c = c.clone();
        let t = t.clone();
        async move {
            let r = c.get(url).bearer_auth(t).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Vec<Value>>().await.unwrap()
        }
    };
    assert_eq!(get("").await.len(), 3);
    assert_eq!(get(&format!("?user_id={}", quinn.id)).await.len(), 2);
    assert_eq!(get("?result=failure").await.len(), 2);
    assert_eq!(get("?failure_reason=unknown_user").await.len(), 1);
    assert_eq!(get("?username=QUINN&result=success").await.len(), 1);
    assert_eq!(get("?since=2999-01-01T00:00:00Z").await.len(), 0);
    let bad = c
        .get(s.url("/api/v1/sign-ins?since=yesterday"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<Value>().await.unwrap()["error"], "invalid_time");
    s.stop().await;
}

#[tokio::test]
async fn openapi_metrics_and_health() {
    let s = TestServer::start().await;
    s.user("rae", &[]).await;
    signed_in(&s, "rae").await;
    let c = client();
    let doc: Value = c
        .get(s.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/api/v1/me",
        "/api/v1/users",
        "/api/v1/users/{id}",
        "/api/v1/groups",
        "/api/v1/sign-ins",
        "/api/v1/audit",
        "/api/v1/tokens",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} missing");
    }
    let h: Value = c
        .get(s.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["status"], "ok");
    let r: Value = c
        .get(s.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "ready");
    let m = c
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("trustplane_sign_ins_total"), "{m}");
    assert!(m.contains("result=\"success\""));
    assert!(m.contains("trustplane_http_requests_total"));
    assert!(m.contains("trustplane_http_request_duration_seconds"));
    s.stop().await;
}

#[tokio::test]
async fn password_protection_applies_to_every_setter_and_organisation_terms() {
    let s = TestServer::start().await;
    let t = token(&s, Role::GlobalAdministrator).await;
    let reader = token(&s, Role::SecurityReader).await;
    let c = client();
    let create = |name: &str, pw: &str| {
        c.post(s.url("/api/v1/users"))
            .bearer_auth(&t)
            .json(&json!({"username": name, "display_name": "Wendy Darling", "password": pw}))
    };
    let r = create("wendy", "P@ssw0rd2024!").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "password_rejected");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("commonly used password"),
        "{body}"
    );
    let r = create("wendy", "Darling#2025!").send().await.unwrap();
    assert!(
        r.json::<Value>().await.unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("your name")
    );
    // Organisation terms: readers cannot add, admins can; variants are then refused.
    let add = |tok: &str| {
        c.post(s.url("/api/v1/password/banned-terms"))
            .bearer_auth(tok)
            .json(&json!({"terms": ["Quillmoor", "Tinkerbell"]}))
    };
    assert_eq!(add(&reader).send().await.unwrap().status(), 403);
    let added: Value = add(&t).send().await.unwrap().json().await.unwrap();
    assert_eq!(added["added"], 2);
    let again: Value = add(&t).send().await.unwrap().json().await.unwrap();
    assert_eq!(again["added"], 0);
    let r = create("wendy", "Zqu1llm00r!8x").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.json::<Value>().await.unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("organisation")
    );
    let list: Vec<Value> = c
        .get(s.url("/api/v1/password/banned-terms"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 2);
    let r: Value = c
        .delete(s.url("/api/v1/password/banned-terms/QUILLMOOR"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["changed"], true);
    assert_eq!(
        create("wendy", "Zqu1llm00r!8x")
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(s.state.store.count_users().await.unwrap(), 1);
    // Admin reset and self-service change go through the same check.
    let u = s.state.store.find_user("wendy").await.unwrap().unwrap();
    let r = c
        .post(s.url(&format!("/api/v1/users/{}/password", u.id)))
        .bearer_auth(&t)
        .json(&json!({"password": "Tinkerbell!!99"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let w = signed_in_as(&s, "wendy", "Zqu1llm00r!8x").await;
    let token = csrf(&w, &s, "/my").await;
    let r = w
        .post(s.url("/my/password"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("current_password", "Zqu1llm00r!8x"),
            ("new_password", "qwertyuiop12"),
        ])
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with("/my?err="), "{loc}");
    let page = w
        .get(s.url(&loc))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("commonly used password"),
        "the signed message is shown"
    );
    // A forged message is not shown.
    let forged = w
        .get(s.url("/my?err=Call+this+number&sig=AAAA"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!forged.contains("Call this number"));
    s.stop().await;
}
