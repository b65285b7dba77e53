//! Access tokens at userinfo and introspection: forged, expired and foreign ones are
//! refused; client credentials issue tokens for confidential clients only.

use super::*;
use serde_json::json;

/// Tokens trustplane must refuse as access tokens, each with a name, made from the genuine
/// token response `t` of a user.
async fn bad_tokens(s: &TestServer, t: &Value) -> Vec<(&'static str, String)> {
    let at = t["access_token"].as_str().unwrap().to_string();
    let parts: Vec<&str> = at.split('.').collect();
    let payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();

    // alg: none with the real claims.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    // HS256 keyed with the public JWK (algorithm confusion).
    let jwks = jwks(s).await;
    let public = jwks["keys"][0].to_string();
    let kid = jwks["keys"][0]["kid"].as_str().unwrap().to_string();
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = Some(kid);
    let hs = jsonwebtoken::encode(
        &h,
        &payload,
        &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()),
    )
    .unwrap();
    // Validly signed by trustplane, but not an access token it issued: an ID token, a
    // forward-auth style assertion for another audience, an expired one.
    let id_token = t["id_token"].as_str().unwrap().to_string();
    let mut other = payload.clone();
    other["aud"] = "wiki".into();
    let wrong_aud = trustplane_server::platform::keys::sign(&s.state, &other)
        .await
        .unwrap();
    let mut old = payload.clone();
    old["exp"] = (time::OffsetDateTime::now_utc().unix_timestamp() - 60).into();
    old["iat"] = (time::OffsetDateTime::now_utc().unix_timestamp() - 700).into();
    let expired = trustplane_server::platform::keys::sign(&s.state, &old)
        .await
        .unwrap();
    // The real token with a flipped signature byte.
    let mut tampered = at.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    vec![
        ("none", none),
        ("hs256", hs),
        ("id_token", id_token),
        ("wrong_aud", wrong_aud),
        ("expired", expired),
        ("tampered", tampered),
    ]
}

#[tokio::test]
async fn forged_expired_and_foreign_tokens_are_refused() {
    let (s, alice, rp, c) = alice_and_the_crm(false).await;
    let t = tokens_for(&s, &c, &rp).await;
    for (name, bad) in bad_tokens(&s, &t).await {
        let r = userinfo(&s, &bad).await;
        assert_eq!(r.status(), 401, "{name}");
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token"),
            "{name}"
        );
        assert_eq!(
            introspect(&s, &rp, &bad).await,
            json!({ "active": false }),
            "{name}"
        );
    }
    // The genuine token still works, and introspects as alice's.
    let i = introspect(&s, &rp, t["access_token"].as_str().unwrap()).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["sub"], alice.id.to_string());
    assert_eq!(i["client_id"], rp.id);
    assert_eq!(i["username"], "alice");
    s.stop().await;
}

#[tokio::test]
async fn client_credentials_are_for_confidential_clients() {
    let s = TestServer::start().await;
    let rp = register(&s, false, &["client_credentials"]).await;
    let r = token(
        &s,
        &rp,
        &[("grant_type", "client_credentials"), ("scope", "api.read")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let t = json(r).await;
    assert!(t.get("id_token").is_none());
    assert!(t.get("refresh_token").is_none());
    assert_eq!(t["scope"], "api.read");
    let i = introspect(&s, &rp, t["access_token"].as_str().unwrap()).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["sub"], rp.id);
    // No user: userinfo refuses the token.
    assert_eq!(userinfo_status(&s, &t).await, 401);
    // openid is not a client-credentials scope; a wrong secret is invalid_client (401).
    let r = token(
        &s,
        &rp,
        &[("grant_type", "client_credentials"), ("scope", "openid")],
    )
    .await;
    assert_eq!(error_of(r).await, "invalid_scope");
    let bad = Rp {
        id: rp.id.clone(),
        secret: Some("nope".into()),
    };
    let r = token(&s, &bad, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    assert_eq!(error_of(r).await, "invalid_client");
    // A grant the client was not given; an unknown grant type.
    assert_eq!(
        error_of(use_refresh(&s, &rp, "x").await).await,
        "unauthorized_client"
    );
    let r = token(&s, &rp, &[("grant_type", "password")]).await;
    assert_eq!(error_of(r).await, "unsupported_grant_type");
    // client_secret_post is refused for a client registered with basic.
    let r = client()
        .post(s.url("/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &rp.id),
            ("client_secret", rp.secret.as_deref().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A public client cannot even be registered with client credentials.
    let e = clients::create(
        s.state.store.as_ref(),
        &Actor::system(),
        NewClient {
            name: "x".into(),
            app_id: "crm".into(),
            public: true,
            grant_types: Some(vec!["client_credentials".into()]),
            ..NewClient::default()
        },
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, "invalid_grant_types");
    s.stop().await;
}
