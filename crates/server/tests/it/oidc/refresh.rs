//! Refresh tokens: rotation, reuse detection that revokes the family, and refusal once the
//! session, the user or the policies no longer allow what the token stood for.

use super::*;
use serde_json::json;

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let (s, _, rp, c) = alice_and_the_crm(false).await;
    let t1 = tokens_for(&s, &c, &rp).await;
    let rt1 = t1["refresh_token"].as_str().unwrap();
    let r = use_refresh(&s, &rp, rt1).await;
    assert_eq!(r.status(), 200);
    let t2 = json(r).await;
    let rt2 = t2["refresh_token"].as_str().unwrap();
    assert_ne!(rt1, rt2);
    let claims = verify_id_token(&s, t2["id_token"].as_str().unwrap(), &rp.id).await;
    assert_eq!(
        claims["auth_time"],
        verify_id_token(&s, t1["id_token"].as_str().unwrap(), &rp.id).await["auth_time"]
    );
    assert_eq!(userinfo_status(&s, &t2).await, 200);
    // A refresh cannot widen the scope.
    let r = token(
        &s,
        &rp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt2),
            ("scope", "openid api.read"),
        ],
    )
    .await;
    assert_eq!(error_of(r).await, "invalid_scope");
    // The old refresh token again: reuse; the whole family dies.
    let r = use_refresh(&s, &rp, rt1).await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_of(r).await, "invalid_grant");
    assert_eq!(userinfo_status(&s, &t2).await, 401);
    assert_eq!(
        error_of(use_refresh(&s, &rp, rt2).await).await,
        "invalid_grant"
    );
    assert!(!audit(&s, "oidc.refresh_token.reuse").await.is_empty());
    // Another client cannot use it.
    let other = register(&s, false, &CODE_GRANTS).await;
    let t3 = tokens_for(&s, &c, &rp).await;
    let r = use_refresh(&s, &other, t3["refresh_token"].as_str().unwrap()).await;
    assert_eq!(error_of(r).await, "invalid_grant");
    s.stop().await;
}

/// The refresh grant with the refresh token of `t`: its `error`.
async fn refresh_error(s: &TestServer, rp: &Rp, t: &Value) -> Value {
    error_of(use_refresh(s, rp, t["refresh_token"].as_str().unwrap()).await).await
}

#[tokio::test]
async fn refresh_is_refused_after_session_revocation_user_disable_and_policy_change() {
    let s = TestServer::start().await;
    let alice = s.user("alice", &[]).await;
    s.user("bob", &[]).await;
    let rp = register(&s, false, &CODE_GRANTS).await;

    // Session revoked (sign-out): refresh and userinfo stop at once.
    let c = signed_in(&s, "alice").await;
    let t = tokens_for(&s, &c, &rp).await;
    let r = post_form(&c, &s, "/my", "/logout", &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(refresh_error(&s, &rp, &t).await, "invalid_grant");
    assert_eq!(userinfo_status(&s, &t).await, 401);

    // User disabled.
    let c = signed_in(&s, "alice").await;
    let t = tokens_for(&s, &c, &rp).await;
    let mut u = alice.clone();
    u.status = trustplane_core::identity::UserStatus::Disabled;
    s.state
        .store
        .update_user(
            &u,
            AuditDraft::new(&Actor::system(), "user.update", "user", None),
        )
        .await
        .unwrap();
    assert_eq!(refresh_error(&s, &rp, &t).await, "invalid_grant");

    // A policy now requiring MFA for the application: refresh refused.
    let c = signed_in(&s, "bob").await;
    let t = tokens_for(&s, &c, &rp).await;
    put_policies(
        &s,
        &json!({ "policies": [ {
            "id": "crm-mfa", "name": "MFA for the CRM", "state": "enabled",
            "assignments": { "users": { "include": { "all": true } }, "applications": { "include": ["crm"] } },
            "grant": { "operator": "all", "controls": ["mfa"] }
        } ] }),
    )
    .await;
    let e = json(use_refresh(&s, &rp, t["refresh_token"].as_str().unwrap()).await).await;
    assert_eq!(e["error"], "invalid_grant");
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .contains("Conditional access")
    );
    // And at authorize: the signed-in single-factor session is sent to step up; after a
    // fresh sign-in that still lacks MFA the request ends with access_denied (no loop).
    let r = authorize(&c, &s, &rp, &[]).await;
    assert_eq!(r.status(), 303);
    let loc = location(&r);
    assert!(
        loc.contains("app=crm") && loc.contains("prompt=login"),
        "{loc}"
    );
    let next = path_query_of(&loc)["next"].clone();
    assert_eq!(login_next(&c, &s, "bob", &next).await.status(), 303);
    let r = get(&c, &s, &next).await;
    assert_eq!(r.status(), 303);
    assert_eq!(query_of(&location(&r))["error"], "access_denied");
    // prompt=none with the same need: interaction_required.
    let r = authorize(&c, &s, &rp, &[("prompt", "none")]).await;
    assert_eq!(query_of(&location(&r))["error"], "interaction_required");
    s.stop().await;
}
