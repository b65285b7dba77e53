//! What policies ask of a sign-in: MFA (registering it if need be) or a strength the user
//! cannot meet, a sign-in frequency and a persistent browser session, countries from the
//! GeoIP database, a secure password change at high user risk, terms of use.

use super::*;
use crate::mfa::{enrol, oathtool, submit_code};

#[tokio::test]
async fn policies_step_users_through_mfa_and_refuse_what_they_cannot_meet() {
    let s = TestServer::start().await;
    let token = security_admin(&s).await;
    let erin = s.user("erin", &[]).await;
    s.user("fred", &[]).await;
    let mfa_for_all = json!({ "policies": [ {
        "id": "mfa-all", "name": "MFA for everyone", "state": "enabled",
        "assignments": { "users": { "include": { "all": true }, "exclude": { "users": [erin.id] } },
                         "applications": { "include": "all" } },
        "grant": { "operator": "all", "controls": [ { "authentication_strength": "mfa" } ] } } ] });
    save_set(&s, &token, 0, &mfa_for_all).await;
    // Fred has no second factor: he must register one now (no postponing).
    let c = client();
    assert_eq!(
        location(&login(&c, &s, "fred", PASSWORD).await),
        "/login/continue"
    );
    let html = page(&c, &s, "/login/continue").await;
    assert!(html.contains("Keep your account secure"), "{html}");
    assert!(!html.contains("Not now"));
    // Erin is excluded: straight in.
    assert_eq!(
        location(&login(&client(), &s, "erin", PASSWORD).await),
        "/my"
    );
    // Erin registers an authenticator app (she is signed in now), so MFA is asked of her as
    // before; then a phishing-resistant policy she cannot meet (no passkey) refuses her.
    let ec = signed_in(&s, "erin").await;
    enrol(&ec, &s).await;
    let doc = json!({ "policies": [ {
        "id": "strong", "name": "Phishing-resistant", "state": "enabled",
        "assignments": { "users": { "include": { "users": [erin.id] } }, "applications": { "include": "all" } },
        "grant": { "operator": "all", "controls": [ { "authentication_strength": "phishing_resistant_mfa" } ] } } ] });
    save_set(&s, &token, 1, &doc).await;
    let r = login(&client(), &s, "erin", PASSWORD).await;
    assert_eq!(r.status(), 403);
    let html = r.text().await.unwrap();
    assert!(html.contains("passkey you have not registered"));
    let log = sign_ins_of(&s, erin.id).await;
    assert_eq!(
        log[0].failure_reason.as_deref(),
        Some("policy_requirement_unavailable")
    );
    s.stop().await;
}

#[tokio::test]
async fn sign_in_frequency_caps_the_session() {
    let s = TestServer::start().await;
    let token = security_admin(&s).await;
    let ivy = s.user("ivy", &[]).await;
    let doc = json!({ "policies": [ {
        "id": "short-sessions", "name": "Sign in every 2 hours", "state": "enabled",
        "assignments": { "users": { "include": { "all": true } }, "applications": { "include": "all" } },
        "session": { "sign_in_frequency": { "every_hours": 2 } } } ] });
    save_set(&s, &token, 0, &doc).await;
    let before = time::OffsetDateTime::now_utc();
    signed_in(&s, "ivy").await;
    let sessions = s
        .state
        .store
        .list_sessions(Some(ivy.id), Some(before), 10)
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1);
    let lifetime = sessions[0].absolute_expires_at - sessions[0].created_at;
    assert_eq!(lifetime, time::Duration::hours(2), "{lifetime}");
    assert!(sessions[0].idle_expires_at <= sessions[0].absolute_expires_at);
    s.stop().await;
}

/// MaxMind's GeoIP2 country test database (from the `maxminddb` PyPI source distribution;
/// `.ci/run` extracts it and sets `TRUSTPLANE_TEST_GEOIP`).
fn geoip_test_db() -> Option<std::path::PathBuf> {
    match std::env::var("TRUSTPLANE_TEST_GEOIP") {
        Ok(p) if !p.is_empty() => Some(p.into()),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("TRUSTPLANE_TEST_GEOIP must name GeoIP2-Country-Test.mmdb in CI")
        }
        _ => {
            eprintln!("skipping: set TRUSTPLANE_TEST_GEOIP to MaxMind's GeoIP2-Country-Test.mmdb");
            None
        }
    }
}

#[tokio::test]
async fn countries_come_from_the_geoip_database() {
    let Some(db) = geoip_test_db() else {
        return;
    };
    assert!(db.exists(), "{}", db.display());
    let s = TestServer::with(Options {
        configure: Some(|c| {
            c.geoip_database = std::env::var("TRUSTPLANE_TEST_GEOIP").ok().map(Into::into);
            c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        }),
        ..Options::default()
    })
    .await;
    let token = security_admin(&s).await;
    let jo = s.user("jo", &[]).await;
    let doc = json!({
        "policies": [ {
            "id": "block-us", "name": "Block sign-ins from the US", "state": "enabled",
            "assignments": { "users": { "include": { "all": true } }, "applications": { "include": "all" } },
            "conditions": { "locations": { "include": ["us"] } },
            "grant": "block" } ],
        "named_locations": [ { "id": "us", "name": "United States", "trusted": false,
            "countries": ["US"], "include_unknown_countries": false } ] });
    save_set(&s, &token, 0, &doc).await;
    let from = |ip: &'static str| {
        let s = &s;
        async move {
            let mut req = login_request(&client(), s, "jo", PASSWORD).await;
            if !ip.is_empty() {
                req = req.header("x-forwarded-for", ip);
            }
            req.send().await.unwrap().status()
        }
    };
    let country = || async {
        let log = sign_ins_of(&s, jo.id).await;
        log[0].details["conditional_access"]["signals"]["network"]["country"].clone()
    };
    // 214.78.120.0/22 is US in MaxMind's test data, 2001:218::/32 is JP.
    assert_eq!(from("214.78.120.5").await, 403);
    assert_eq!(country().await, "US");
    assert_eq!(from("2001:218::1").await, 303);
    assert_eq!(country().await, "JP");
    // Loopback has no country: unknown never matches an include.
    assert_eq!(from("").await, 303);
    s.stop().await;
}

#[tokio::test]
async fn high_user_risk_requires_mfa_then_a_secure_password_change() {
    use trustplane_core::risk::{DetectionKind, RiskDetection};
    let s = TestServer::start().await;
    let token = security_admin(&s).await;
    let api = Api::new(&s, &token);
    let kim = s.user("kim", &[]).await;
    let c = signed_in(&s, "kim").await;
    let secret = enrol(&c, &s).await;
    // The shipped template, enabled.
    let templates = api.value("/api/v1/conditional-access/templates").await;
    let mut t: Vec<Value> = serde_json::from_value(templates).unwrap();
    let mut risky = t
        .drain(..)
        .find(|p| p["name"].as_str().unwrap().contains("User risk high"))
        .unwrap();
    risky["state"] = json!("enabled");
    save_set(&s, &token, 0, &json!({ "policies": [risky] })).await;
    // No risk: the policy does not apply (what-if, with her second factor done).
    let body = json!({ "user": "kim", "mfa_done": true });
    let w = json(api.post("/api/v1/conditional-access/what-if", &body).await).await;
    assert_eq!(w["outcome"], "allow");
    assert_eq!(w["records"][0]["excluded_by"], "user_risk");

    // High user risk (an active leaked-credentials detection): MFA first, then a new password.
    s.state
        .store
        .record_risk_detection(&RiskDetection::new(
            uuid::Uuid::now_v7(),
            kim.id,
            DetectionKind::LeakedCredentials,
            "admin",
            None,
            time::OffsetDateTime::now_utc(),
        ))
        .await
        .unwrap();
    let c = client();
    login(&c, &s, "kim", PASSWORD).await;
    let html = page(&c, &s, "/login/continue").await;
    assert!(
        !html.contains("new_password"),
        "the second factor comes first"
    );
    let r = submit_code(&c, &s, &oathtool(&secret, "now + 30 seconds")).await;
    assert_eq!(location(&r), "/login/continue");
    let html = page(&c, &s, "/login/continue").await;
    assert!(html.contains("new_password"), "{html}");
    let new = "lantern quibble orchard vessel";
    let form = [("new_password", new), ("confirm_password", new)];
    let r = post_csrf(&c, &s, "/login/change-password", &csrf_of(&html), &form).await;
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    assert_eq!(location(&r), "/my");
    assert_eq!(me(&c, &s).await["username"], "kim");
    let log = sign_ins_of(&s, kim.id).await;
    assert_eq!(log[0].details["conditional_access"]["outcome"], "allow");
    s.stop().await;
}

#[tokio::test]
async fn persistent_browser_session_controls_the_cookie() {
    let s = TestServer::start().await;
    let token = security_admin(&s).await;
    s.user("lee", &[]).await;
    let session_cookie = |r: &reqwest::Response| set_cookie(r, "tp_session").unwrap();
    // Default: a browser-session cookie (no expiry).
    let r = login(&client(), &s, "lee", PASSWORD).await;
    let c = session_cookie(&r);
    assert!(!c.contains("Expires") && !c.contains("Max-Age"), "{c}");
    let doc = json!({ "policies": [ {
        "id": "stay", "name": "Stay signed in", "state": "enabled",
        "assignments": { "users": { "include": { "all": true } }, "applications": { "include": "all" } },
        "session": { "persistent_browser": "always", "sign_in_frequency": { "every_hours": 8 } } } ] });
    save_set(&s, &token, 0, &doc).await;
    let r = login(&client(), &s, "lee", PASSWORD).await;
    let c = session_cookie(&r);
    assert!(c.contains("Expires="), "{c}");
    s.stop().await;
}

#[tokio::test]
async fn terms_of_use_are_accepted_once_during_sign_in() {
    let s = TestServer::start().await;
    let token = security_admin(&s).await;
    let api = Api::new(&s, &token);
    let mo = s.user("mo", &[]).await;
    // A policy naming terms that do not exist is refused.
    let doc = json!({ "policies": [ {
        "id": "terms", "name": "Accept the acceptable use policy", "state": "enabled",
        "assignments": { "users": { "include": { "all": true } }, "applications": { "include": "all" } },
        "grant": { "operator": "all", "controls": [ { "terms_of_use": "aup" } ] } } ] });
    let r = put_set(&s, &token, 0, "application/json", doc.to_string()).await;
    assert_eq!(r.status(), 400);
    let bad = json!({ "id": "Bad Id", "name": "x", "body": "y" });
    assert_eq!(api.post("/api/v1/terms-of-use", &bad).await.status(), 400);
    let aup = json!({ "id": "aup", "name": "Acceptable use", "body": "Use company systems for work.\nReport incidents." });
    assert_eq!(api.post("/api/v1/terms-of-use", &aup).await.status(), 201);
    save_set(&s, &token, 0, &doc).await;
    // In use: cannot be deleted.
    assert_eq!(api.delete("/api/v1/terms-of-use/aup").await.status(), 409);

    // Declining ends the sign-in; accepting completes it, once.
    let c = client();
    let r = login(&c, &s, "mo", PASSWORD).await;
    assert_eq!(location(&r), "/login/continue");
    let html = page(&c, &s, "/login/continue").await;
    assert!(
        html.contains("Acceptable use") && html.contains("Report incidents."),
        "{html}"
    );
    let no = [("accept", "no")];
    let r = post_csrf(&c, &s, "/login/accept-terms", &csrf_of(&html), &no).await;
    assert_eq!(location(&r), "/login?expired=1");
    assert_eq!(get(&c, &s, "/api/v1/me").await.status(), 401);

    let c = client();
    login(&c, &s, "mo", PASSWORD).await;
    let yes = [("accept", "yes")];
    let r = post_form(&c, &s, "/login/continue", "/login/accept-terms", &yes).await;
    assert_eq!(location(&r), "/my");
    assert_eq!(me(&c, &s).await["username"], "mo");
    assert_eq!(
        s.state.store.accepted_terms(mo.id).await.unwrap(),
        vec!["aup".to_string()]
    );
    // Next time: no terms step.
    let r = login(&client(), &s, "mo", PASSWORD).await;
    assert_eq!(location(&r), "/my");
    s.stop().await;
}
