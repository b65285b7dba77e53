use crate::harness::*;
use reqwest::Method;
use serde_json::{Value, json};
use trustplane_core::audit::Actor;
use trustplane_core::identity::Role;

#[tokio::test]
async fn admin_api_crud_with_a_token() {
    let s = TestServer::start().await;
    let api = admin_api(&s, Role::GlobalAdministrator).await;
    let nina = json!({"username": "nina", "display_name": "Nina", "email": "nina@example.com", "password": PASSWORD});
    let r = api.post("/api/v1/users", &nina).await;
    assert_eq!(r.status(), 201);
    let nina = json(r).await;
    let id = nina["id"].as_str().unwrap().to_string();
    assert_eq!(nina["status"], "enabled");
    let user = format!("/api/v1/users/{id}");

    let dup = json!({"username": "NINA", "password": PASSWORD});
    let dup = api.post("/api/v1/users", &dup).await;
    assert_eq!(dup.status(), 409);
    assert_eq!(json(dup).await["error"], "conflict");

    let ops = json!({"name": "ops", "description": "Operations"});
    let g = json(api.post("/api/v1/groups", &ops).await).await;
    let gid = g["id"].as_str().unwrap();
    let member = format!("/api/v1/groups/{gid}/members/{id}");
    let added = json(api.send(Method::PUT, &member).await).await;
    assert_eq!(added["changed"], true);
    let again = json(api.send(Method::PUT, &member).await).await;
    assert_eq!(again["changed"], false);
    let detail = api.value(&user).await;
    assert_eq!(detail["groups"][0]["name"], "ops");

    let change = json!({"display_name": "Nina N.", "status": "disabled"});
    let patched = json(api.patch(&user, &change).await).await;
    assert_eq!(patched["status"], "disabled");
    assert_eq!(login(&client(), &s, "nina", PASSWORD).await.status(), 401);

    let r = api
        .send(Method::PUT, &format!("{user}/roles/security_reader"))
        .await;
    assert_eq!(r.status(), 200);
    let r = api
        .send(Method::PUT, &format!("{user}/roles/superuser"))
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["error"], "unknown_role");

    assert_eq!(api.delete(&user).await.status(), 204);
    let gone = api.get(&user).await;
    assert_eq!(gone.status(), 404);
    assert_eq!(json(gone).await["error"], "not_found");

    // Every change is in the audit log, attributed to the token, and the chain holds.
    let audit: Vec<Value> = api
        .get("/api/v1/audit?limit=50")
        .await
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
    assert_eq!(api.value("/api/v1/audit/verify").await["intact"], true);
    s.stop().await;
}

#[tokio::test]
async fn roles_limit_what_a_caller_may_do() {
    let s = TestServer::start().await;
    let admin = s.user("root", &[Role::GlobalAdministrator]).await;
    let plain = s.user("olga", &[]).await;
    let reader = admin_api(&s, Role::SecurityReader).await;
    let helpdesk = admin_api(&s, Role::HelpdeskAdministrator).await;
    assert_eq!(reader.get("/api/v1/users").await.status(), 200);
    assert_eq!(reader.get("/api/v1/audit").await.status(), 200);
    let r = reader
        .post("/api/v1/users", &json!({"username": "x"}))
        .await;
    assert_eq!(r.status(), 403);
    let body = json(r).await;
    assert_eq!(body["error"], "forbidden");
    assert!(body["message"].as_str().unwrap().contains("users_write"));
    assert_eq!(s.state.store.count_users().await.unwrap(), 2);
    // Helpdesk resets a normal user's password, but not an administrator's.
    let new = json!({"password": "helpdesk picked walnut lantern"});
    let r = helpdesk
        .post(&format!("/api/v1/users/{}/password", plain.id), &new)
        .await;
    assert_eq!(r.status(), 204);
    let r = helpdesk
        .post(&format!("/api/v1/users/{}/password", admin.id), &new)
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(login(&client(), &s, "root", PASSWORD).await.status(), 303);
    assert_eq!(helpdesk.get("/api/v1/audit").await.status(), 403);
    s.stop().await;
}

#[tokio::test]
async fn bad_expired_and_revoked_tokens_are_refused() {
    let s = TestServer::start().await;
    let c = client();
    let r = get(&c, &s, "/api/v1/users").await;
    assert_eq!(r.status(), 401);
    assert_eq!(json(r).await["error"], "unauthenticated");
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
    let api = Api::new(&s, &secret);
    assert_eq!(api.get("/api/v1/users").await.status(), 200);
    s.ops().revoke_token(&Actor::system(), t.id).await.unwrap();
    assert_eq!(api.get("/api/v1/users").await.status(), 401);
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
    assert_eq!(json(r).await["error"], "csrf_failed");
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
    let api = admin_api(&s, Role::SecurityAdministrator).await;
    let c = signed_in(&s, "pat").await;
    assert_eq!(get(&c, &s, "/api/v1/me").await.status(), 200);
    let list = api
        .value(&format!("/api/v1/sessions?user_id={}", pat.id))
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let sid = list[0]["id"].as_str().unwrap();
    let r = json(api.delete(&format!("/api/v1/sessions/{sid}")).await).await;
    assert_eq!(r["changed"], true);
    assert_eq!(get(&c, &s, "/api/v1/me").await.status(), 401);
    s.stop().await;
}

#[tokio::test]
async fn the_last_global_admin_cannot_be_removed() {
    let s = TestServer::start().await;
    let root = s.user("root", &[Role::GlobalAdministrator]).await;
    let api = admin_api(&s, Role::GlobalAdministrator).await;
    let user = format!("/api/v1/users/{}", root.id);
    for req in [
        api.request(Method::DELETE, &user),
        api.request(
            Method::DELETE,
            &format!("{user}/roles/global_administrator"),
        ),
        api.request(Method::PATCH, &user)
            .json(&json!({"status": "disabled"})),
    ] {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 409);
        assert_eq!(json(r).await["error"], "last_global_administrator");
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
    let api = admin_api(&s, Role::SecurityReader).await;
    signed_in(&s, "quinn").await;
    login(&client(), &s, "quinn", "wrong wrong wrong").await;
    login(&client(), &s, "nobody", "x").await;
    let list = async |q: &str| {
        let r = api.get(&format!("/api/v1/sign-ins{q}")).await;
        assert_eq!(r.status(), 200);
        r.json::<Vec<Value>>().await.unwrap()
    };
    assert_eq!(list("").await.len(), 3);
    assert_eq!(list(&format!("?user_id={}", quinn.id)).await.len(), 2);
    assert_eq!(list("?result=failure").await.len(), 2);
    assert_eq!(list("?failure_reason=unknown_user").await.len(), 1);
    assert_eq!(list("?username=QUINN&result=success").await.len(), 1);
    assert_eq!(list("?since=2999-01-01T00:00:00Z").await.len(), 0);
    let bad = api.get("/api/v1/sign-ins?since=yesterday").await;
    assert_eq!(bad.status(), 400);
    assert_eq!(json(bad).await["error"], "invalid_time");
    s.stop().await;
}

#[tokio::test]
async fn openapi_metrics_and_health() {
    let s = TestServer::start().await;
    s.user("rae", &[]).await;
    signed_in(&s, "rae").await;
    let c = client();
    let doc = json(get(&c, &s, "/api/v1/openapi.json").await).await;
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
    assert_eq!(json(get(&c, &s, "/healthz").await).await["status"], "ok");
    assert_eq!(json(get(&c, &s, "/readyz").await).await["status"], "ready");
    let m = page(&c, &s, "/metrics").await;
    assert!(m.contains("trustplane_sign_ins_total"), "{m}");
    assert!(m.contains("result=\"success\""));
    assert!(m.contains("trustplane_http_requests_total"));
    assert!(m.contains("trustplane_http_request_duration_seconds"));
    s.stop().await;
}

/// The `message` of a refused request.
async fn message_of(r: reqwest::Response) -> String {
    json(r).await["message"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn password_protection_applies_to_every_setter_and_organisation_terms() {
    let s = TestServer::start().await;
    let api = admin_api(&s, Role::GlobalAdministrator).await;
    let reader = admin_api(&s, Role::SecurityReader).await;
    let create = async |name: &str, pw: &str| {
        let body = json!({"username": name, "display_name": "Wendy Darling", "password": pw});
        api.post("/api/v1/users", &body).await
    };
    let r = create("wendy", "P@ssw0rd2024!").await;
    assert_eq!(r.status(), 400);
    let body = json(r).await;
    assert_eq!(body["error"], "password_rejected");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("commonly used password"),
        "{body}"
    );
    let r = create("wendy", "Darling#2025!").await;
    assert!(message_of(r).await.contains("your name"));
    // Organisation terms: readers cannot add, admins can; variants are then refused.
    let terms = "/api/v1/password/banned-terms";
    let two = json!({"terms": ["Quillmoor", "Tinkerbell"]});
    assert_eq!(reader.post(terms, &two).await.status(), 403);
    assert_eq!(json(api.post(terms, &two).await).await["added"], 2);
    assert_eq!(json(api.post(terms, &two).await).await["added"], 0);
    let r = create("wendy", "Zqu1llm00r!8x").await;
    assert_eq!(r.status(), 400);
    assert!(message_of(r).await.contains("organisation"));
    let list = reader.value(terms).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let r = json(api.delete(&format!("{terms}/QUILLMOOR")).await).await;
    assert_eq!(r["changed"], true);
    assert_eq!(create("wendy", "Zqu1llm00r!8x").await.status(), 201);
    assert_eq!(s.state.store.count_users().await.unwrap(), 1);
    // Admin reset and self-service change go through the same check.
    let u = s.state.store.find_user("wendy").await.unwrap().unwrap();
    let tinkerbell = json!({"password": "Tinkerbell!!99"});
    let r = api
        .post(&format!("/api/v1/users/{}/password", u.id), &tinkerbell)
        .await;
    assert_eq!(r.status(), 400);
    let w = signed_in_as(&s, "wendy", "Zqu1llm00r!8x").await;
    let form = [
        ("current_password", "Zqu1llm00r!8x"),
        ("new_password", "qwertyuiop12"),
    ];
    let r = post_form(&w, &s, "/my", "/my/password", &form).await;
    let loc = location(&r);
    assert!(loc.starts_with("/my?err="), "{loc}");
    assert!(
        page(&w, &s, &loc).await.contains("commonly used password"),
        "the signed message is shown"
    );
    // A forged message is not shown.
    let forged = page(&w, &s, "/my?err=Call+this+number&sig=AAAA").await;
    assert!(!forged.contains("Call this number"));
    s.stop().await;
}
