//! Continuous access evaluation: forward-auth decisions are cached, and every change that
//! matters (session revoked, user disabled, password changed, MFA method removed, user risk
//! raised, policy changed) makes the very next request re-evaluated. With two instances on
//! one PostgreSQL database, a session revoked through one is refused by the other within a
//! second (LISTEN/NOTIFY).

use crate::harness::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use trustplane_core::audit::Actor;
use trustplane_core::identity::{Role, UserStatus};

const PAGE: &str = "http://wiki.example/docs/page";

/// Creates the `wiki` application with a route for `wiki.example`.
async fn wiki(s: &TestServer, token: &str) {
    let r = client()
        .post(s.url("/api/v1/applications"))
        .bearer_auth(token)
        .json(&json!({ "id": "wiki", "name": "Wiki" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = client()
        .post(s.url("/api/v1/applications/wiki/routes"))
        .bearer_auth(token)
        .json(&json!({ "host": "wiki.example", "path_prefix": "/" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

/// One forward-auth check, as a proxy makes it, with the browser's session cookie.
async fn check(c: &reqwest::Client, s: &TestServer) -> reqwest::Response {
    c.get(s.url("/forward-auth"))
        .header("x-original-url", PAGE)
        .send()
        .await
        .unwrap()
}

/// Two allowed checks: the second is served from the cache.
async fn warm(c: &reqwest::Client, s: &TestServer) -> String {
    let r = check(c, s).await;
    assert_eq!(r.status(), 200);
    let first = r.headers()["x-trustplane-assertion"]
        .to_str()
        .unwrap()
        .to_string();
    let r = check(c, s).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-trustplane-user"], "alice");
    // The cached assertion is reused while it has more than 30 s left.
    assert_eq!(r.headers()["x-trustplane-assertion"], first.as_str());
    assert!(!s.state.cae.is_empty(), "the decision is cached");
    first
}

fn sid_of(assertion: &str) -> uuid::Uuid {
    use base64::Engine;
    let payload = assertion.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["sid"].as_str().unwrap().parse().unwrap()
}

async fn put_policy(s: &TestServer, token: &str, based_on: i64, policy: Value) {
    let r = client()
        .put(s.url(&format!(
            "/api/v1/conditional-access?based_on={based_on}&comment=cae"
        )))
        .bearer_auth(token)
        .json(&json!({ "policies": [policy] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn revoking_the_session_refuses_the_next_request() {
    let s = TestServer::start().await;
    let token = admin_token(&s, Role::SecurityAdministrator).await;
    wiki(&s, &token).await;
    s.user("alice", &[]).await;
    let c = signed_in(&s, "alice").await;
    let sid = sid_of(&warm(&c, &s).await);
    let r = client()
        .delete(s.url(&format!("/api/v1/sessions/{sid}")))
        .bearer_auth(admin_token(&s, Role::GlobalAdministrator).await)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let r = check(&c, &s).await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("x-trustplane-login"));
    s.stop().await;
}

#[tokio::test]
async fn revoking_it_on_my_account_refuses_the_next_request() {
    let s = TestServer::start().await;
    let token = admin_token(&s, Role::SecurityAdministrator).await;
    wiki(&s, &token).await;
    s.user("alice", &[]).await;
    // Self-service: alice revokes her other session from /my (audited, so it is an event).
    let other = signed_in(&s, "alice").await;
    let sid = sid_of(&warm(&other, &s).await);
    let c = signed_in(&s, "alice").await;
    let csrf_token = csrf(&c, &s, "/my").await;
    let r = c
        .post(s.url(&format!("/my/sessions/{sid}/revoke")))
        .form(&[("csrf_token", csrf_token.as_str())])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection() || r.status().is_success());
    assert_eq!(check(&other, &s).await.status(), 401);
    let audit = s
        .state
        .store
        .list_audit(&trustplane_store::AuditQuery {
            action: Some("session.revoke".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1, "the self-service revocation is audited");
    s.stop().await;
}

#[tokio::test]
async fn disabling_the_user_refuses_the_next_request() {
    let s = TestServer::start().await;
    let token = admin_token(&s, Role::SecurityAdministrator).await;
    wiki(&s, &token).await;
    let alice = s.user("alice", &[]).await;
    let c = signed_in(&s, "alice").await;
    warm(&c, &s).await;
    s.ops()
        .update_user(
            &Actor::system(),
            alice.id,
            None,
            None,
            Some(UserStatus::Disabled),
        )
        .await
        .unwrap();
    assert_eq!(check(&c, &s).await.status(), 401);
    s.stop().await;
}

#[tokio::test]
async fn a_password_change_refuses_the_next_request() {
    let s = TestServer::start().await;
    let token = admin_token(&s, Role::SecurityAdministrator).await;
    wiki(&s, &token).await;
    let alice = s.user("alice", &[]).await;
    let c = signed_in(&s, "alice").await;
    warm(&c, &s).await;
    s.ops()
        .temporary_password(&Actor::system(), alice.id)
        .await
        .unwrap();
    assert_eq!(check(&c, &s).await.status(), 401);
    s.stop().await;
}

#[tokio::test]
async fn a_policy_that_blocks_applies_to_the_next_request() {
    let s = TestServer::start().await;
    let token = admin_token(&s, Role::SecurityAdministrator).await;
    wiki(&s, &token).await;
    let alice = s.user("alice", &[]).await;
    let c = signed_in(&s, "alice").await;
    warm(&c, &s).await;
    put_policy(
        &s,
        &token,
        0,
        json!({
            "id": "block-alice-wiki", "name": "Block alice on the wiki", "state": "enabled",
            "assignments": {
                "users": { "include": { "users": [alice.id] } },
                "applications": { "include": ["wiki"] }
            },
            "grant": "block"
        }),
    )
    .await;
    assert_eq!(check(&c, &s).await.status(), 403);
    // Blocked results are not cached: removing the block allows the next request.
    let r = client()
        .put(s.url("/api/v1/conditional-access?based_on=1&comment=cae"))
        .bearer_auth(&token)
        .json(&json!({ "policies": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(check(&c, &s).await.status(), 200);
    s.stop().await;
}

#[tokio::test]
async fn high_user_risk_steps_up_the_next_request() {
    use trustplane_core::risk::{DetectionKind, RiskDetection};
    let s = TestServer::start().await;
    let token = admin_token(&s, Role::SecurityAdministrator).await;
    wiki(&s, &token).await;
    let alice = s.user("alice", &[]).await;
    put_policy(
        &s,
        &token,
        0,
        json!({
            "id": "risky-mfa", "name": "High user risk requires MFA", "state": "enabled",
            "assignments": {
                "users": { "include": { "all": true } },
                "applications": { "include": ["wiki"] }
            },
            "conditions": { "user_risk_levels": ["high"] },
            "grant": { "operator": "all", "controls": ["mfa"] }
        }),
    )
    .await;
    let c = signed_in(&s, "alice").await;
    warm(&c, &s).await;
    s.state
        .store
        .record_risk_detection(&RiskDetection::new(
            uuid::Uuid::now_v7(),
            alice.id,
            DetectionKind::LeakedCredentials,
            "test",
            None,
            OffsetDateTime::now_utc(),
        ))
        .await
        .unwrap();
    let r = check(&c, &s).await;
    assert_eq!(r.status(), 401);
    let login = r.headers()["x-trustplane-login"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(login.contains("&app="), "step-up: {login}");
    // A step-up, not a new sign-in: the live session is asked for the second factor.
    let r = c.get(&login).send().await.unwrap();
    assert_eq!(r.status(), 303, "{login}");
    assert_eq!(r.headers()["location"], "/login/continue");
    s.stop().await;
}

#[tokio::test]
async fn requiring_mfa_reregistration_refuses_the_next_request() {
    let s = TestServer::start().await;
    let token = admin_token(&s, Role::SecurityAdministrator).await;
    wiki(&s, &token).await;
    s.user("alice", &[]).await;
    let c = signed_in(&s, "alice").await;
    warm(&c, &s).await;
    let before = s.state.cae.len();
    assert!(before > 0);
    // Any audited change about alice invalidates her entries; here an admin requires her to
    // register again (removes every method, signs her out).
    let alice = s.ops().user_by_name("alice").await.unwrap();
    s.ops()
        .require_reregistration(&Actor::system(), alice.id)
        .await
        .unwrap();
    assert_eq!(check(&c, &s).await.status(), 401);
    s.stop().await;
}

static SHARED_KEY: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Two instances on one PostgreSQL database: a session revoked through A is refused by B
/// within a second, with both caches warm.
#[tokio::test]
async fn two_instances_on_postgres_agree_within_a_second() {
    let Some(admin) = crate::postgres::admin_url() else {
        return;
    };
    let url = crate::postgres::fresh_database(&admin).await;
    let opts = || Options {
        database_url: Some(url.clone()),
        configure: Some(|cfg| cfg.secret_key_file = SHARED_KEY.get().cloned()),
        ..Options::default()
    };
    let a = TestServer::with(opts()).await;
    // Instances sharing a database share the master key: B uses A's.
    let _ = SHARED_KEY.set(a.data_dir().join("secret.key"));
    let b = TestServer::with(opts()).await;
    let token = admin_token(&a, Role::SecurityAdministrator).await;
    wiki(&a, &token).await;
    a.user("alice", &[]).await;
    let c = signed_in(&a, "alice").await;
    // Wait until both listeners are connected (caching starts then).
    for _ in 0..100 {
        if a.state.cae.is_live() && b.state.cae.is_live() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(a.state.cae.is_live() && b.state.cae.is_live());
    let sid = sid_of(&warm(&c, &a).await);
    warm(&c, &b).await;
    let global = admin_token(&a, Role::GlobalAdministrator).await;
    let r = client()
        .delete(a.url(&format!("/api/v1/sessions/{sid}")))
        .bearer_auth(&global)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let revoked = Instant::now();
    assert_eq!(check(&c, &a).await.status(), 401, "instance A at once");
    loop {
        let status = check(&c, &b).await.status();
        let elapsed = revoked.elapsed();
        if status == 401 {
            assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
            break;
        }
        assert_eq!(status, 200);
        assert!(
            elapsed < Duration::from_secs(1),
            "instance B still allows the revoked session after {elapsed:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A change without an audit entry (sign-out revokes the session silently) is published
    // by instance A on its own connection: B refuses the session within a second too.
    let c = signed_in(&a, "alice").await;
    let sid = sid_of(&warm(&c, &a).await);
    warm(&c, &b).await;
    assert!(
        a.state
            .store
            .revoke_session(sid, OffsetDateTime::now_utc(), None)
            .await
            .unwrap()
    );
    let revoked = Instant::now();
    loop {
        let status = check(&c, &b).await.status();
        let elapsed = revoked.elapsed();
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            elapsed < Duration::from_secs(1),
            "instance B still allows the signed-out session after {elapsed:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.stop().await;
    b.stop().await;
}
