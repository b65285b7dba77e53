//! Leaked-credential detection, the change-password step of the sign-in, the live strength
//! check, the breached-password filter's hot reload, and the console's security pages.

use crate::harness::*;
use serde_json::json;
use std::time::Duration;
use trustplane_core::audit::Actor;
use trustplane_core::identity::Role;
use trustplane_core::risk::{DetectionKind, DetectionState};
use trustplane_core::signin::SignInResult;
use trustplane_server::signals::breach::Reload;
use trustplane_store::SignInQuery;

const NEW_PASSWORD: &str = "lantern quibble orchard vessel";

fn cookie_names(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split('=').next().unwrap_or("").to_string())
        .collect()
}

async fn change_password(
    c: &reqwest::Client,
    s: &TestServer,
    new: &str,
    confirm: &str,
) -> reqwest::Response {
    let page = c.get(s.url("/login/continue")).send().await.unwrap();
    let html = page.text().await.unwrap();
    let token = csrf_of(&html);
    c.post(s.url("/login/change-password"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("new_password", new),
            ("confirm_password", confirm),
        ])
        .send()
        .await
        .unwrap()
}

async fn leak(s: &TestServer, passwords: &[&str]) {
    write_breach_filter(&s.state.cfg.breached_filter_path(), passwords);
    assert!(matches!(s.state.breach.reload(true), Reload::Loaded { .. }));
}

/// The risk detections of `user` (in `state`, or all).
async fn detections(
    s: &TestServer,
    user: uuid::Uuid,
    state: Option<DetectionState>,
) -> Vec<trustplane_core::risk::RiskDetection> {
    s.state
        .store
        .list_risk_detections(Some(user), state, 10)
        .await
        .unwrap()
}

#[tokio::test]
async fn leaked_password_sign_in_requires_a_change_and_raises_a_detection() {
    let s = TestServer::start().await;
    let alice = s.user("alice", &[]).await;
    // A session from before the leak was known.
    let earlier = signed_in(&s, "alice").await;
    leak(&s, &[PASSWORD]).await;

    let c = client();
    let r = login(&c, &s, "alice", PASSWORD).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login/continue");
    let names = cookie_names(&r);
    assert!(names.contains(&"tp_flow".to_string()), "{names:?}");
    assert!(
        !names.contains(&"tp_session".to_string()),
        "no session before the step"
    );
    let flow_cookie = set_cookie(&r, "tp_flow").unwrap();
    // Path=/ like every trustplane cookie (a `__Host-` cookie on https must have it).
    assert!(flow_cookie.contains("HttpOnly") && flow_cookie.split("; ").any(|a| a == "Path=/"));
    // Not signed in yet.
    assert_eq!(get(&c, &s, "/my").await.status(), 303);

    // The detection and the sign-in log.
    let active = detections(&s, alice.id, Some(DetectionState::AtRisk)).await;
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].kind, DetectionKind::LeakedCredentials);
    assert_eq!(active[0].source, "sign_in");
    let log = s
        .state
        .store
        .list_sign_ins(&SignInQuery {
            user_id: Some(alice.id),
            result: Some(SignInResult::Interrupted),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].details["risk"], json!(["leaked_credentials"]));
    assert_eq!(log[0].details["interrupt"]["reason"], "leaked_credentials");

    // A second sign-in with the leaked password does not raise a second detection.
    let other = client();
    assert_eq!(login(&other, &s, "alice", PASSWORD).await.status(), 303);
    assert_eq!(detections(&s, alice.id, None).await.len(), 1);

    // The step page explains why.
    let r = get(&c, &s, "/login/continue").await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("data breach"));

    // Refusals keep the step and say why.
    for (new, confirm, why) in [
        (PASSWORD, PASSWORD, "appeared in a data breach"),
        (NEW_PASSWORD, "something else entirely", "do not match"),
        ("Password12345!", "Password12345!", "commonly used password"),
    ] {
        let r = change_password(&c, &s, new, confirm).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains(why));
    }

    // A good password signs the user in.
    let r = change_password(&c, &s, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/my");
    assert!(cookie_names(&r).contains(&"tp_session".to_string()));
    assert_eq!(get(&c, &s, "/my").await.status(), 200);

    // The earlier session was revoked; the detection is remediated; the change is audited.
    assert_eq!(get(&earlier, &s, "/my").await.status(), 303);
    let all = detections(&s, alice.id, None).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].state, DetectionState::Remediated);
    assert_eq!(audit(&s, "user.password.change").await.len(), 1);
    assert!(s.state.store.verify_audit().await.unwrap().is_ok());

    // The finished flow cannot be replayed.
    let r = get(&c, &s, "/login/continue").await;
    assert_eq!(location(&r), "/login?expired=1");
    // The other flow of the same user is still usable only with a password that passes.
    let r = change_password(&other, &s, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(
        r.status(),
        422,
        "the current password cannot be chosen again"
    );

    // The old password no longer works; the new one signs in without a step.
    assert_eq!(login(&client(), &s, "alice", PASSWORD).await.status(), 401);
    let r = login(&client(), &s, "alice", NEW_PASSWORD).await;
    assert_eq!(location(&r), "/my");
    s.stop().await;
}

#[tokio::test]
async fn admin_can_require_a_new_password_at_next_sign_in() {
    let s = TestServer::start().await;
    let bob = s.user("bob", &[]).await;
    let temporary = "temporary voucher pelican 7";
    s.ops()
        .set_password(&Actor::system(), bob.id, temporary, true)
        .await
        .unwrap();
    let c = client();
    let r = login(&c, &s, "bob", temporary).await;
    assert_eq!(r.headers()["location"], "/login/continue");
    let page = c.get(s.url("/login/continue")).send().await.unwrap();
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("administrator requires")
    );
    // Not the same password again.
    let r = change_password(&c, &s, temporary, temporary).await;
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("different from your current")
    );
    let r = change_password(&c, &s, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(r.status(), 303);
    // No detection for an admin-required change; next sign-in goes straight through.
    assert!(
        s.state
            .store
            .list_risk_detections(Some(bob.id), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let r = login(&client(), &s, "bob", NEW_PASSWORD).await;
    assert_eq!(r.headers()["location"], "/my");
    s.stop().await;
}

#[tokio::test]
async fn a_flow_needs_its_cookie_and_ends_after_too_many_refusals() {
    let s = TestServer::start().await;
    s.user("carol", &[]).await;
    // No cookie, or a made-up one: start again.
    let r = client().get(s.url("/login/continue")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/login?expired=1");
    let forged = client()
        .get(s.url("/login/continue"))
        .header(
            "cookie",
            "tp_flow=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(forged.headers()["location"], "/login?expired=1");
    let login_page = client()
        .get(s.url("/login?expired=1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(login_page.contains("took too long"));

    leak(&s, &[PASSWORD]).await;
    let c = client();
    assert_eq!(login(&c, &s, "carol", PASSWORD).await.status(), 303);
    for i in 0..10 {
        let r = change_password(&c, &s, "short", "short").await;
        if i < 9 {
            assert_eq!(r.status(), 422, "attempt {i}");
        } else {
            assert_eq!(r.headers()["location"], "/login?expired=1");
        }
    }
    let r = c.get(s.url("/login/continue")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/login?expired=1");
    s.stop().await;
}

async fn check(
    c: &reqwest::Client,
    s: &TestServer,
    path: &str,
    token: &str,
    pw: &str,
) -> reqwest::Response {
    c.post(s.url(path))
        .header("x-csrf-token", token)
        .json(&json!({ "password": pw }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn live_check_explains_the_verdict_and_is_rate_limited() {
    let s = TestServer::with(Options {
        password_checks_per_minute: 5,
        ..Options::default()
    })
    .await;
    s.user("dave", &[]).await;
    leak(&s, &["purple monkey dishwasher"]).await;
    let c = signed_in(&s, "dave").await;
    let token = csrf(&c, &s, "/my").await;

    let v = json(check(&c, &s, "/my/check-password", &token, "dave-Example-2024").await).await;
    assert_eq!(v["accepted"], false);
    let codes: Vec<&str> = v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"contains_personal_info"), "{codes:?}");
    assert!(v["reasons"][0]["message"].as_str().unwrap().len() > 5);

    let v = json(
        check(
            &c,
            &s,
            "/my/check-password",
            &token,
            "purple monkey dishwasher",
        )
        .await,
    )
    .await;
    assert_eq!(v["accepted"], false);
    assert!(v["reasons"].to_string().contains("breached"));

    let v = json(check(&c, &s, "/my/check-password", &token, NEW_PASSWORD).await).await;
    assert_eq!(v["accepted"], true);
    assert!(v["score"].as_u64().unwrap() >= v["required_score"].as_u64().unwrap());

    // CSRF header required; malformed bodies refused; nothing is counted for them.
    let r = check(&c, &s, "/my/check-password", "wrong", NEW_PASSWORD).await;
    assert_eq!(r.status(), 403);
    let r = c
        .post(s.url("/my/check-password"))
        .header("x-csrf-token", &token)
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["error"], "invalid_body");
    let r = check(&c, &s, "/my/check-password", &token, &"x".repeat(5000)).await;
    assert_eq!(r.status(), 413);

    // Rate limit: 5 per minute per user (4 used above, the bad body counts too).
    let mut statuses = vec![];
    for _ in 0..3 {
        statuses.push(
            check(&c, &s, "/my/check-password", &token, NEW_PASSWORD)
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");

    // Without a session or flow there is nothing to check against.
    let anon = client();
    let t = csrf(&anon, &s, "/login").await;
    assert_eq!(
        check(&anon, &s, "/login/check-password", &t, NEW_PASSWORD)
            .await
            .status(),
        401
    );
    s.stop().await;
}

#[tokio::test]
async fn live_check_works_inside_a_sign_in_flow() {
    let s = TestServer::start().await;
    s.user("erin", &[]).await;
    leak(&s, &[PASSWORD]).await;
    let c = client();
    assert_eq!(login(&c, &s, "erin", PASSWORD).await.status(), 303);
    let html = c
        .get(s.url("/login/continue"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("data-check-url=\"/login/check-password\""));
    let token = csrf_of(&html);
    let v = json(check(&c, &s, "/login/check-password", &token, "erin-Example-99").await).await;
    assert_eq!(v["accepted"], false);
    assert!(v["reasons"].to_string().contains("contains_personal_info"));
    s.stop().await;
}

#[tokio::test]
async fn a_new_filter_is_picked_up_and_a_corrupt_one_keeps_the_previous() {
    let s = TestServer::with(Options {
        breach_reload_seconds: 1,
        ..Options::default()
    })
    .await;
    let t = {
        let (_, secret) = s
            .ops()
            .create_token(
                &Actor::system(),
                "t",
                Role::GlobalAdministrator,
                time::Duration::days(1),
            )
            .await
            .unwrap();
        secret
    };
    let c = client();
    let status = |c: reqwest::Client, t: String, url: String| async move {
        json(c.get(url).bearer_auth(t).send().await.unwrap()).await
    };
    let url = s.url("/api/v1/password/breach-filter");
    let v = status(c.clone(), t.clone(), url.clone()).await;
    assert_eq!(v["loaded"], false);

    let leaked = "obscure granite harbour lamp";
    let ops = s.ops();
    assert!(
        ops.evaluate_password("x", "X", None, leaked)
            .await
            .unwrap()
            .accepted
    );
    let path = s.state.cfg.breached_filter_path();
    write_breach_filter(&path, &[leaked, "another leaked phrase here"]);
    // The watcher notices the new file without a restart.
    let mut seen = false;
    for _ in 0..100 {
        if status(c.clone(), t.clone(), url.clone()).await["hashes"] == 2 {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen, "the new filter was not loaded");
    assert!(
        !s.ops()
            .evaluate_password("x", "X", None, leaked)
            .await
            .unwrap()
            .accepted
    );

    // A truncated file is reported and the previous filter stays in use.
    let bytes = std::fs::read(&path).unwrap();
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let r = c
        .post(s.url("/api/v1/password/breach-filter/reload"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(json(r).await["error"], "filter_unusable");
    let v = status(c.clone(), t.clone(), url.clone()).await;
    assert_eq!(v["loaded"], true);
    assert_eq!(v["hashes"], 2);
    assert!(v["last_error"].as_str().is_some());
    assert!(
        !s.ops()
            .evaluate_password("x", "X", None, leaked)
            .await
            .unwrap()
            .accepted
    );
    s.stop().await;
}

/// Whether `password` passes the password checks (for a user `x`).
async fn accepted(s: &TestServer, password: &str) -> bool {
    s.ops()
        .evaluate_password("x", "X", None, password)
        .await
        .unwrap()
        .accepted
}

#[tokio::test]
async fn console_manages_terms_and_risk_detections() {
    let s = TestServer::start().await;
    s.user("root", &[Role::GlobalAdministrator]).await;
    s.user("reader", &[Role::SecurityReader]).await;
    let admin = signed_in(&s, "root").await;

    let r = get(&admin, &s, "/admin/password-protection").await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("No organisation terms yet"));
    assert!(html.contains("no filter loaded"));
    let token = csrf_of(&html);
    let terms = "/admin/password-protection/terms";

    let candidate = "Contoso-kayak7";
    assert!(accepted(&s, candidate).await);
    let form = [("terms", "Contoso\nFabrikam, Northwind")];
    let r = post_csrf(&admin, &s, terms, &token, &form).await;
    assert_eq!(r.status(), 303);
    assert_eq!(s.state.store.list_banned_terms().await.unwrap().len(), 3);
    // The cached compiled list follows the change at once.
    let v = s
        .ops()
        .evaluate_password("x", "X", None, candidate)
        .await
        .unwrap();
    assert!(!v.accepted);
    assert!(v.codes().contains(&"organisation_term"));
    let remove = "/admin/password-protection/terms/remove";
    let r = post_csrf(&admin, &s, remove, &token, &[("term", "contoso")]).await;
    assert_eq!(r.status(), 303);
    assert!(accepted(&s, candidate).await);
    // Too short a term: a clear error, nothing added.
    let r = post_csrf(&admin, &s, terms, &token, &[("terms", "abc")]).await;
    let back = location(&r);
    assert!(back.contains("err="), "{back}");
    assert_eq!(s.state.store.list_banned_terms().await.unwrap().len(), 2);

    // A security reader sees the page but cannot change it.
    let reader = signed_in(&s, "reader").await;
    let html = page(&reader, &s, "/admin/password-protection").await;
    assert!(html.contains("Fabrikam") && !html.contains("Add terms"));
    let r = post_csrf(
        &reader,
        &s,
        terms,
        &csrf_of(&html),
        &[("terms", "Tailspin")],
    )
    .await;
    assert_eq!(r.status(), 403);
    s.stop().await;
}

/// frank's leaked-credentials detection, raised by a sign-in with a leaked password.
async fn franks_detection(s: &TestServer) -> (trustplane_core::identity::User, uuid::Uuid) {
    let frank = s.user("frank", &[]).await;
    leak(s, &[PASSWORD]).await;
    assert_eq!(login(&client(), s, "frank", PASSWORD).await.status(), 303);
    let d = &detections(s, frank.id, None).await[0];
    (frank, d.id)
}

#[tokio::test]
async fn risk_detections_are_listed_and_dismissed_once_in_the_console() {
    let s = TestServer::start().await;
    s.user("root", &[Role::GlobalAdministrator]).await;
    let admin = signed_in(&s, "root").await;
    // Risk detections: listed, dismissed once, audited.
    let (frank, id) = franks_detection(&s).await;
    let html = page(&admin, &s, "/admin/risk").await;
    assert!(html.contains("leaked_credentials") && html.contains("frank"));
    let user_page = page(&admin, &s, &format!("/admin/users/{}", frank.id)).await;
    assert!(user_page.contains("at risk"));
    let dismiss = format!("/admin/risk/{id}/dismiss");
    let r = post_csrf(&admin, &s, &dismiss, &csrf_of(&html), &[]).await;
    assert_eq!(location(&r), "/admin/risk?ok=dismissed");
    let d = s.state.store.get_risk_detection(id).await.unwrap().unwrap();
    assert_eq!(d.state, DetectionState::Dismissed);
    let again = post_csrf(&admin, &s, &dismiss, &csrf_of(&html), &[]).await;
    assert!(location(&again).contains("err="));
    assert_eq!(audit(&s, "risk.detection.dismiss").await.len(), 1);
    s.stop().await;
}

#[tokio::test]
async fn risk_detections_are_listed_over_the_api_and_readers_cannot_dismiss() {
    let s = TestServer::start().await;
    let (frank, id) = franks_detection(&s).await;
    let dismiss = format!("/api/v1/risk-detections/{id}/dismiss");
    let security = admin_api(&s, Role::SecurityAdministrator).await;
    assert_eq!(
        security
            .send(reqwest::Method::POST, &dismiss)
            .await
            .status(),
        204
    );
    let api = admin_api(&s, Role::SecurityReader).await;
    let list = api
        .value(&format!("/api/v1/risk-detections?user_id={}", frank.id))
        .await;
    assert_eq!(list[0]["kind"], "leaked_credentials");
    assert_eq!(list[0]["state"], "dismissed");
    let r = api.get("/api/v1/risk-detections?state=bogus").await;
    assert_eq!(r.status(), 400);
    let r = api.send(reqwest::Method::POST, &dismiss).await;
    assert_eq!(r.status(), 403, "a reader cannot dismiss");
    s.stop().await;
}
