//! Registering OIDC clients over the admin API and in the console: validation, audit,
//! secrets shown once and rotated, RS256 ID tokens for clients that ask for them.

use super::*;
use serde_json::json;
use trustplane_core::identity::Role;

/// The status of an introspection request authenticated as client `id` with `secret`.
async fn authenticates(s: &TestServer, id: &str, secret: Option<&str>) -> u16 {
    client()
        .post(s.url("/oauth2/introspect"))
        .basic_auth(id, secret)
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn clients_api_is_audited_and_secrets_are_shown_once() {
    let s = TestServer::start().await;
    app(&s, "crm").await;
    let api = admin_api(&s, Role::SecurityAdministrator).await;
    let body =
        json!({ "name": "CRM", "app_id": "crm", "redirect_uris": ["https://crm.example.com/cb"] });
    let r = api.post("/api/v1/oidc/clients", &body).await;
    assert_eq!(r.status(), 201);
    let c = json(r).await;
    let id = c["client_id"].as_str().unwrap().to_string();
    let secret = c["client_secret"].as_str().unwrap().to_string();
    assert_eq!(c["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(c["id_token_signed_response_alg"], "ES256");
    let path = format!("/api/v1/oidc/clients/{id}");
    let got = api.value(&path).await;
    assert!(got.get("client_secret").is_none());
    let stored = s.state.store.get_oidc_client(&id).await.unwrap().unwrap();
    assert_ne!(stored.secret_hash.as_deref(), Some(secret.as_str()));
    for (body, code) in [
        (
            json!({ "name": "x", "app_id": "crm", "redirect_uris": ["http://evil.example/cb"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "name": "x", "app_id": "crm", "redirect_uris": ["https://a.example/cb#f"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "name": "x", "app_id": "nope", "redirect_uris": ["https://a.example/cb"] }),
            "unknown_application",
        ),
        (
            json!({ "name": "x", "app_id": "crm", "redirect_uris": ["https://a.example/cb"], "id_token_signed_response_alg": "HS256" }),
            "unsupported_alg",
        ),
        (
            json!({ "name": "x", "app_id": "crm", "redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"] }),
            "invalid_grant_types",
        ),
    ] {
        let r = api.post("/api/v1/oidc/clients", &body).await;
        assert_eq!(r.status(), 400, "{body}");
        assert_eq!(json(r).await["error"], code, "{body}");
    }
    let change = json!({ "redirect_uris": ["https://crm.example.com/cb2"], "groups_claim": true });
    let r = api.patch(&path, &change).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        json(r).await["redirect_uris"],
        json!(["https://crm.example.com/cb2"])
    );
    let r = api
        .send(reqwest::Method::POST, &format!("{path}/secret"))
        .await;
    let new_secret = json(r).await["client_secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret);
    // The old secret no longer authenticates; the new one does.
    assert_eq!(authenticates(&s, &id, Some(&secret)).await, 401);
    assert_eq!(authenticates(&s, &id, Some(&new_secret)).await, 200);
    let list = api.value("/api/v1/oidc/clients").await;
    // This client, and the built-in public client devices register through.
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{list}");
    assert!(ids.contains(&id.as_str()) && ids.contains(&"trustplane-agent"));
    assert_eq!(api.delete(&path).await.status(), 204);
    assert_eq!(api.get(&path).await.status(), 404);
    let actions = audit_actions(&s).await;
    for a in [
        "oidc_client.create",
        "oidc_client.update",
        "oidc_client.secret.rotate",
        "oidc_client.delete",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
    s.stop().await;
}

#[tokio::test]
async fn a_client_that_asks_for_rs256_gets_rs256_id_tokens() {
    let s = TestServer::start().await;
    app(&s, "crm").await;
    let api = admin_api(&s, Role::SecurityAdministrator).await;
    // RS256 ID tokens for a client that asks for them (keys.rs creates the key on first use).
    let body = json!({ "name": "Legacy", "app_id": "crm", "redirect_uris": [RP],
        "id_token_signed_response_alg": "RS256" });
    let legacy = json(api.post("/api/v1/oidc/clients", &body).await).await;
    assert!(legacy["client_id"].is_string(), "{legacy}");
    let rp = Rp {
        id: legacy["client_id"].as_str().unwrap().into(),
        secret: legacy["client_secret"].as_str().map(String::from),
    };
    s.user("carol", &[]).await;
    let c = signed_in(&s, "carol").await;
    let code = code_for(&s, &c, &rp, &[("scope", "openid")]).await;
    let t = exchange(&s, &rp, &code).await;
    let id_token = t["id_token"].as_str().unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(id_token).unwrap().alg,
        jsonwebtoken::Algorithm::RS256
    );
    verify_id_token(&s, id_token, &rp.id).await;
    // Access tokens stay ES256.
    assert_eq!(
        jsonwebtoken::decode_header(t["access_token"].as_str().unwrap())
            .unwrap()
            .alg,
        jsonwebtoken::Algorithm::ES256
    );
    s.stop().await;
}

#[tokio::test]
async fn the_console_lists_clients_and_shows_a_new_secret_once() {
    let s = TestServer::start().await;
    // The console page lists clients.
    s.user("root", &[Role::GlobalAdministrator]).await;
    let c = signed_in(&s, "root").await;
    let html = page(&c, &s, "/admin/oidc/clients").await;
    assert!(html.contains("Register a client"), "{html}");
    // A new secret from the console: shown once, and the old one stops working.
    let confidential = register(&s, false, &CODE_GRANTS).await;
    let path = format!("/admin/oidc/clients/{}/secret", confidential.id);
    let r = post_csrf(&c, &s, &path, &csrf_of(&html), &[]).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("has a new secret"), "{html}");
    let old = authenticates(&s, &confidential.id, confidential.secret.as_deref()).await;
    assert_eq!(old, 401, "the old secret no longer authenticates");
    s.stop().await;
}
