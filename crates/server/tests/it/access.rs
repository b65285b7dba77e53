//! Conditional access through the server: the versioned policy set over the API (JSON and
//! YAML, validation that names the field and changes nothing, optimistic concurrency,
//! restore), the login flow stepping users through what policies require or showing a
//! block page, the sign-in log's per-policy record, what-if and impact replay.

use crate::harness::*;
use crate::mfa::enrol;
use serde_json::{Value, json};
use trustplane_core::audit::Actor;
use trustplane_core::identity::Role;
use trustplane_store::{AuditQuery, SignInQuery};

async fn put_set(
    s: &TestServer,
    token: &str,
    based_on: i64,
    content_type: &str,
    body: String,
) -> reqwest::Response {
    client()
        .put(s.url(&format!(
            "/api/v1/conditional-access?based_on={based_on}&comment=test"
        )))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn get_set(s: &TestServer, token: &str) -> Value {
    json(
        client()
            .get(s.url("/api/v1/conditional-access"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn block_group(id: &str, group: uuid::Uuid, state: &str) -> Value {
    json!({
        "id": id, "name": "Block contractors", "state": state,
        "assignments": {
            "users": { "include": { "groups": [group] } },
            "applications": { "include": "all" }
        },
        "grant": "block"
    })
}

#[tokio::test]
async fn the_policy_set_is_validated_versioned_and_audited() {
    let s = TestServer::start().await;
    let token = admin_token(&s, Role::SecurityAdministrator).await;
    let reader = admin_token(&s, Role::SecurityReader).await;
    let g = s
        .ops()
        .create_group(&Actor::system(), "contractors", "")
        .await
        .unwrap();
    assert_eq!(get_set(&s, &token).await["version"], 0);

    // Bad input: each refused with the field named, nothing stored.
    let cases = [
        (
            json!({ "policies": [ { "id": "x", "name": "x", "state": "enabled", "colour": "red",
                "assignments": { "users": { "include": { "all": true } }, "applications": { "include": "all" } },
                "grant": "block" } ] }),
            "colour",
        ),
        (
            json!({ "policies": [ block_group("x", uuid::Uuid::now_v7(), "enabled") ] }),
            "policies[0].assignments.users.include.groups[0]",
        ),
        (
            json!({ "named_locations": [ { "id": "office", "name": "Office", "trusted": true,
                "ip_ranges": ["10.0.0.0/33"] } ] }),
            "named_locations[0].ip_ranges[0]",
        ),
        (
            json!({ "policies": [ { "id": "x", "name": "x", "state": "enabled",
                "assignments": { "users": { "include": { "all": true } }, "applications": { "include": "all" } },
                "conditions": { "device_filter": { "mode": "include", "rule": "device.colour == \"red\"" } },
                "grant": "block" } ] }),
            "device_filter",
        ),
        (
            json!({ "policies": [ { "id": "x", "name": "x", "state": "enabled",
                "assignments": { "users": { "include": { "all": true } }, "applications": { "include": ["wiki"] } },
                "grant": "block" } ] }),
            "applications",
        ),
        (
            json!({ "policies": [ { "id": "x", "name": "x", "state": "enabled",
                "assignments": { "users": { "include": { "all": true } }, "applications": { "include": "all" } },
                "grant": { "operator": "all", "controls": ["mfa", { "authentication_strength": "phishing_resistant_mfa" }] } } ] }),
            "grant",
        ),
    ];
    for (doc, field) in cases {
        let r = put_set(&s, &token, 0, "application/json", doc.to_string()).await;
        assert_eq!(r.status(), 400, "{doc}");
        let e = json(r).await;
        assert_eq!(e["error"], "invalid_policy");
        assert!(
            e["message"].as_str().unwrap().contains(field),
            "{field} named in {e}"
        );
    }
    assert_eq!(get_set(&s, &token).await["version"], 0, "nothing stored");

    // A reader cannot change it.
    let doc = json!({ "policies": [ block_group("block-contractors", g.id, "report_only") ] });
    let r = put_set(&s, &reader, 0, "application/json", doc.to_string()).await;
    assert_eq!(r.status(), 403);

    let r = put_set(&s, &token, 0, "application/json", doc.to_string()).await;
    assert_eq!(r.status(), 200);
    let v1 = json(r).await;
    assert_eq!(v1["version"], 1);
    // Lint: includes everyone of a group but has no exclusion for emergency access.
    assert!(v1["warnings"].is_array());

    // A change based on a stale version is refused (no lost update).
    let r = put_set(&s, &token, 0, "application/json", doc.to_string()).await;
    assert_eq!(r.status(), 409);

    // YAML works the same.
    let yaml = format!(
        "policies:\n  - id: block-contractors\n    name: Block contractors\n    state: enabled\n    assignments:\n      users:\n        include:\n          groups: [\"{}\"]\n      applications:\n        include: all\n    grant: block\n",
        g.id
    );
    let r = put_set(&s, &token, 1, "application/yaml", yaml).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let cur = get_set(&s, &token).await;
    assert_eq!(cur["version"], 2);
    assert_eq!(cur["document"]["policies"][0]["state"], "enabled");

    // Versions are kept and one can be restored as a new version.
    let versions = json(
        client()
            .get(s.url("/api/v1/conditional-access/versions"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(versions.as_array().unwrap().len(), 2);
    let r = client()
        .post(s.url("/api/v1/conditional-access/versions/1/restore?based_on=2"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cur = get_set(&s, &token).await;
    assert_eq!(cur["version"], 3);
    assert_eq!(cur["document"]["policies"][0]["state"], "report_only");

    // Every saved version is audited with the document before and after.
    let audit = s
        .state
        .store
        .list_audit(&AuditQuery {
            action: Some("conditional_access.policy_set.save".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 3);
    assert!(
        audit[0]
            .before
            .as_deref()
            .unwrap()
            .contains("\"version\":2")
    );

    // Templates are valid and disabled.
    let t = json(
        client()
            .get(s.url("/api/v1/conditional-access/templates"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(t.as_array().unwrap().len(), 5);
    assert!(
        t.as_array()
            .unwrap()
            .iter()
            .all(|p| p["state"] == "disabled")
    );
    let r = put_set(
        &s,
        &token,
        3,
        "application/json",
        json!({ "policies": t }).to_string(),
    )
    .await;
    assert_eq!(r.status(), 200, "templates pass validation");
    s.stop().await;
}

async fn sign_ins_of(
    s: &TestServer,
    user: uuid::Uuid,
) -> Vec<trustplane_core::signin::SignInEvent> {
    s.state
        .store
        .list_sign_ins(&SignInQuery {
            user_id: Some(user),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_block_policy_refuses_sign_in_with_a_reason_page_and_a_logged_record() {
    let s = TestServer::start().await;
    let token = admin_token(&s, Role::SecurityAdministrator).await;
    let carl = s.user("carl", &[]).await;
    let dana = s.user("dana", &[]).await;
    let g = s
        .ops()
        .create_group(&Actor::system(), "contractors", "")
        .await
        .unwrap();
    s.ops()
        .add_member(&Actor::system(), g.id, carl.id)
        .await
        .unwrap();

    // Report-only first: the sign-in goes through; the log says what would have happened.
    let doc = json!({ "policies": [ block_group("block-contractors", g.id, "report_only") ] });
    assert_eq!(
        put_set(&s, &token, 0, "application/json", doc.to_string())
            .await
            .status(),
        200
    );
    let r = login(&client(), &s, "carl", PASSWORD).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/my");
    let log = sign_ins_of(&s, carl.id).await;
    let ca = &log[0].details["conditional_access"];
    assert_eq!(ca["outcome"], "allow");
    assert_eq!(ca["applied"], json!(["block-contractors"]));
    assert_eq!(ca["records"][0]["enforced"], false);
    assert_eq!(ca["records"][0]["result"]["result"], "block");

    // Enabled: Carl is refused with a page that gives a correlation id, not the policy.
    let doc = json!({ "policies": [ block_group("block-contractors", g.id, "enabled") ] });
    assert_eq!(
        put_set(&s, &token, 1, "application/json", doc.to_string())
            .await
            .status(),
        200
    );
    let c = client();
    let r = login(&c, &s, "carl", PASSWORD).await;
    assert_eq!(r.status(), 403);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("access policy does not allow this sign-in"),
        "{html}"
    );
    assert!(html.contains("Correlation id"));
    assert!(!html.contains("block-contractors") && !html.contains("Block contractors"));
    assert_eq!(
        c.get(s.url("/api/v1/me")).send().await.unwrap().status(),
        401
    );
    let log = sign_ins_of(&s, carl.id).await;
    assert_eq!(log[0].failure_reason.as_deref(), Some("blocked_by_policy"));
    assert!(html.contains(&log[0].correlation_id));
    assert_eq!(log[0].details["conditional_access"]["outcome"], "block");
    // Dana is not in the group: the record says why the policy did not apply.
    let r = login(&client(), &s, "dana", PASSWORD).await;
    assert_eq!(r.headers()["location"], "/my");
    let log = sign_ins_of(&s, dana.id).await;
    let rec = &log[0].details["conditional_access"]["records"][0];
    assert_eq!(rec["applied"], false);
    assert_eq!(rec["excluded_by"], "user_not_included");

    // The sign-in log API filters by policy and outcome, and exports.
    let list = json(
        client()
            .get(s.url("/api/v1/sign-ins?policy=block-contractors&outcome=block"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["username"], "carl");
    let r = client()
        .get(s.url("/api/v1/sign-ins?outcome=maybe"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let csv = client()
        .get(s.url("/api/v1/sign-ins/export?format=csv&app=trustplane"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = csv.text().await.unwrap();
    let mut rows = csv.lines();
    assert!(rows.next().unwrap().starts_with("id,at,username"));
    assert_eq!(rows.count(), 3, "{csv}");
    assert!(csv.contains(",block,block-contractors,"));
    let jsonl = client()
        .get(s.url("/api/v1/sign-ins/export?format=jsonl&username=dana"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["username"], "dana");

    // What-if explains both users without signing anyone in.
    let w = |user: &str| {
        client()
            .post(s.url("/api/v1/conditional-access/what-if"))
            .bearer_auth(&token)
            .json(&json!({ "user": user, "ip": "192.0.2.7" }))
            .send()
    };
    let carl_w = json(w("carl").await.unwrap()).await;
    assert_eq!(carl_w["outcome"], "block");
    assert_eq!(carl_w["decision"]["block"]["by"], "block-contractors");
    let dana_w = json(w("dana").await.unwrap()).await;
    assert_eq!(dana_w["outcome"], "allow");
    assert_eq!(dana_w["records"][0]["excluded_by"], "user_not_included");
    let r = w("nobody").await.unwrap();
    assert_eq!(r.status(), 400);

    // Impact replay: a draft that blocks everyone would have blocked Dana's sign-in too,
    // and no longer blocks nothing that was allowed... counted per sign-in.
    let draft = json!({ "policies": [ {
        "id": "block-all", "name": "Block all", "state": "enabled",
        "assignments": { "users": { "include": { "all": true } }, "applications": { "include": "all" } },
        "grant": "block" } ] });
    let rep = json(
        client()
            .post(s.url("/api/v1/conditional-access/replay"))
            .bearer_auth(&token)
            .json(&json!({ "draft": draft, "days": 7 }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    // Carl (report-only: allowed) and Dana (allowed) would now be blocked; Carl's blocked
    // sign-in stays blocked.
    assert_eq!(rep["evaluated"], 3, "{rep}");
    assert_eq!(rep["newly_blocked"], 2, "{rep}");
    assert_eq!(rep["users_affected"], json!(["carl", "dana"]));
    s.stop().await;
}

#[tokio::test]
async fn policies_step_users_through_mfa_and_refuse_what_they_cannot_meet() {
    let s = TestServer::start().await;
    let token = admin_token(&s, Role::SecurityAdministrator).await;
    let erin = s.user("erin", &[]).await;
    s.user("fred", &[]).await;
    let mfa_for_all = |strength: &str| {
        json!({ "policies": [ {
            "id": "mfa-all", "name": "MFA for everyone", "state": "enabled",
            "assignments": { "users": { "include": { "all": true }, "exclude": { "users": [erin.id] } },
                             "applications": { "include": "all" } },
            "grant": { "operator": "all", "controls": [ { "authentication_strength": strength } ] } } ] })
    };
    assert_eq!(
        put_set(
            &s,
            &token,
            0,
            "application/json",
            mfa_for_all("mfa").to_string()
        )
        .await
        .status(),
        200
    );
    // Fred has no second factor: he must register one now (no postponing).
    let c = client();
    assert_eq!(
        login(&c, &s, "fred", PASSWORD).await.headers()["location"],
        "/login/continue"
    );
    let html = c
        .get(s.url("/login/continue"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Keep your account secure"), "{html}");
    assert!(!html.contains("Not now"));
    // Erin is excluded: straight in.
    assert_eq!(
        login(&client(), &s, "erin", PASSWORD).await.headers()["location"],
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
    assert_eq!(
        put_set(&s, &token, 1, "application/json", doc.to_string())
            .await
            .status(),
        200
    );
    let r = login(&client(), &s, "erin", PASSWORD).await;
    assert_eq!(r.status(), 403);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("passkey you have not registered")
    );
    let log = sign_ins_of(&s, erin.id).await;
    assert_eq!(
        log[0].failure_reason.as_deref(),
        Some("policy_requirement_unavailable")
    );
    s.stop().await;
}

#[tokio::test]
async fn the_console_edits_policies_explains_decisions_and_shows_sign_in_detail() {
    let s = TestServer::start().await;
    s.user("root", &[Role::GlobalAdministrator]).await;
    s.user("hank", &[]).await;
    let c = signed_in(&s, "root").await;
    let page = |path: &'static str| {
        let c = c.clone();
        let url = s.url(path);
        async move { c.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let html = page("/admin/conditional-access").await;
    assert!(html.contains("No policies yet"), "{html}");
    let token = csrf_of(&html);

    // A refused document comes back in the editor with the problem, and nothing is saved.
    let bad = r#"{"policies": [], "named_locations": [{"id": "hq", "name": "HQ", "trusted": true, "ip_ranges": ["300.1.1.1/8"]}]}"#;
    let r = c
        .post(s.url("/admin/conditional-access"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("based_on", "0"),
            ("document", bad),
            ("format", "json"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(html.contains("Not saved") && html.contains("named_locations[0].ip_ranges[0]"));
    assert!(html.contains("300.1.1.1/8"), "the edited text is kept");

    let good = json!({ "policies": [ {
        "id": "mfa-hank", "name": "MFA for Hank", "state": "report_only",
        "assignments": { "users": { "include": { "all": true } }, "applications": { "include": "all" } },
        "grant": { "operator": "all", "controls": ["mfa"] } } ] })
    .to_string();
    let r = c
        .post(s.url("/admin/conditional-access"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("based_on", "0"),
            ("document", good.as_str()),
            ("format", "json"),
            ("comment", "try it"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let html = page("/admin/conditional-access").await;
    assert!(html.contains("mfa-hank") && html.contains("report-only") && html.contains("try it"));

    // What-if in the console.
    let html = page("/admin/conditional-access/what-if?user=hank&ip=192.0.2.1").await;
    assert!(html.contains("Decision:"), "{html}");
    assert!(html.contains("mfa-hank"));
    let html = page("/admin/conditional-access/what-if?user=hank&ip=not-an-ip").await;
    assert!(html.contains("is not an IP address"));

    // Hank signs in; the log links to a detail page with the per-policy record.
    login(&client(), &s, "hank", PASSWORD).await;
    let html = page("/admin/sign-ins?outcome=allow&policy=mfa-hank").await;
    let id = html
        .split("/admin/sign-ins/")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let detail = c
        .get(s.url(&format!("/admin/sign-ins/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(detail.contains("Sign-in of hank"), "{detail}");
    assert!(detail.contains("mfa-hank") && detail.contains("report_only"));
    assert!(detail.contains("Signals"));

    // Replay in the console.
    let html = page("/admin/conditional-access/replay").await;
    let t = csrf_of(&html);
    let enabled = good.replace("report_only", "enabled");
    let r = c
        .post(s.url("/admin/conditional-access/replay"))
        .form(&[
            ("csrf_token", t.as_str()),
            ("draft", enabled.as_str()),
            ("days", "7"),
            ("format", "json"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Decided differently"), "{html}");
    assert!(html.contains("hank"));

    // Hank sees his own sign-ins under /my.
    let h = signed_in(&s, "hank").await;
    let my = h
        .get(s.url("/my"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(my.contains("My recent sign-ins") && my.contains("Signed in"));
    s.stop().await;
}

#[tokio::test]
async fn sign_in_frequency_caps_the_session() {
    let s = TestServer::start().await;
    let token = admin_token(&s, Role::SecurityAdministrator).await;
    let ivy = s.user("ivy", &[]).await;
    let doc = json!({ "policies": [ {
        "id": "short-sessions", "name": "Sign in every 2 hours", "state": "enabled",
        "assignments": { "users": { "include": { "all": true } }, "applications": { "include": "all" } },
        "session": { "sign_in_frequency": { "every_hours": 2 } } } ] });
    assert_eq!(
        put_set(&s, &token, 0, "application/json", doc.to_string())
            .await
            .status(),
        200
    );
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
    let token = admin_token(&s, Role::SecurityAdministrator).await;
    let jo = s.user("jo", &[]).await;
    let doc = json!({
        "policies": [ {
            "id": "block-us", "name": "Block sign-ins from the US", "state": "enabled",
            "assignments": { "users": { "include": { "all": true } }, "applications": { "include": "all" } },
            "conditions": { "locations": { "include": ["us"] } },
            "grant": "block" } ],
        "named_locations": [ { "id": "us", "name": "United States", "trusted": false,
            "countries": ["US"], "include_unknown_countries": false } ] });
    assert_eq!(
        put_set(&s, &token, 0, "application/json", doc.to_string())
            .await
            .status(),
        200
    );
    let from = |ip: &'static str| {
        let s = &s;
        async move {
            let c = client();
            let t = csrf(&c, s, "/login").await;
            let mut req = c.post(s.url("/login")).form(&[
                ("csrf_token", t.as_str()),
                ("username", "jo"),
                ("password", PASSWORD),
            ]);
            if !ip.is_empty() {
                req = req.header("x-forwarded-for", ip);
            }
            req.send().await.unwrap().status()
        }
    };
    // 214.78.120.0/22 is US in MaxMind's test data, 2001:218::/32 is JP.
    assert_eq!(from("214.78.120.5").await, 403);
    let log = sign_ins_of(&s, jo.id).await;
    assert_eq!(
        log[0].details["conditional_access"]["signals"]["network"]["country"],
        "US"
    );
    assert_eq!(from("2001:218::1").await, 303);
    let log = sign_ins_of(&s, jo.id).await;
    assert_eq!(
        log[0].details["conditional_access"]["signals"]["network"]["country"],
        "JP"
    );
    // Loopback has no country: unknown never matches an include.
    assert_eq!(from("").await, 303);
    s.stop().await;
}

#[tokio::test]
async fn policies_locations_and_strengths_are_objects_of_their_own() {
    let s = TestServer::start().await;
    let token = admin_token(&s, Role::SecurityAdministrator).await;
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut r = client()
            .request(method, s.url(&format!("/api/v1/conditional-access/{path}")))
            .bearer_auth(&token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send()
    };
    use reqwest::Method;
    let office = json!({ "id": "office", "name": "Office", "trusted": true, "ip_ranges": ["198.51.100.0/24"] });
    let r = call(Method::PUT, "named-locations/office", Some(office.clone()))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["version"], 1);
    let strength = json!({ "id": "key-or-app", "name": "Key or app", "combinations": [["passkey_device_bound"], ["password", "totp"]] });
    assert_eq!(
        call(
            Method::PUT,
            "authentication-strengths/key-or-app",
            Some(strength)
        )
        .await
        .unwrap()
        .status(),
        200
    );
    let policy = json!({ "id": "outside", "name": "Strong outside the office", "state": "enabled",
        "assignments": { "users": { "include": { "all": true } }, "applications": { "include": "all" } },
        "conditions": { "locations": { "include": "all", "exclude": ["office"] } },
        "grant": { "operator": "all", "controls": [ { "authentication_strength": "key-or-app" } ] } });
    assert_eq!(
        call(Method::PUT, "policies/outside", Some(policy))
            .await
            .unwrap()
            .status(),
        200
    );
    let got = json(
        call(Method::GET, "named-locations/office", None)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(got["ip_ranges"], json!(["198.51.100.0/24"]));
    // The id in the body must be the path's.
    let r = call(Method::PUT, "named-locations/hq", Some(office))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // A location a policy still uses cannot be removed; nothing changes.
    let r = call(Method::DELETE, "named-locations/office", None)
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        json(r).await["message"]
            .as_str()
            .unwrap()
            .contains("office")
    );
    assert_eq!(get_set(&s, &token).await["version"], 3);
    assert_eq!(
        call(Method::DELETE, "policies/outside", None)
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        call(Method::DELETE, "named-locations/office", None)
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        call(Method::GET, "named-locations/office", None)
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        call(Method::GET, "gadgets/x", None).await.unwrap().status(),
        404
    );
    // The versions listing still works next to the object routes.
    let v = json(call(Method::GET, "versions", None).await.unwrap()).await;
    assert_eq!(v.as_array().unwrap().len(), 5);
    s.stop().await;
}

#[tokio::test]
async fn high_user_risk_requires_mfa_then_a_secure_password_change() {
    use trustplane_core::risk::{DetectionKind, RiskDetection};
    let s = TestServer::start().await;
    let token = admin_token(&s, Role::SecurityAdministrator).await;
    let kim = s.user("kim", &[]).await;
    let c = signed_in(&s, "kim").await;
    let secret = enrol(&c, &s).await;
    // The shipped template, enabled.
    let mut t: Vec<Value> = serde_json::from_value(
        json(
            client()
                .get(s.url("/api/v1/conditional-access/templates"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap(),
        )
        .await,
    )
    .unwrap();
    let mut risky = t
        .drain(..)
        .find(|p| p["name"].as_str().unwrap().contains("User risk high"))
        .unwrap();
    risky["state"] = json!("enabled");
    let r = put_set(
        &s,
        &token,
        0,
        "application/json",
        json!({ "policies": [risky] }).to_string(),
    )
    .await;
    assert_eq!(r.status(), 200);
    // No risk: the policy does not apply (what-if, with her second factor done).
    let w = json(
        client()
            .post(s.url("/api/v1/conditional-access/what-if"))
            .bearer_auth(&token)
            .json(&json!({ "user": "kim", "mfa_done": true }))
            .send()
            .await
            .unwrap(),
    )
    .await;
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
    let html = c
        .get(s.url("/login/continue"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !html.contains("new_password"),
        "the second factor comes first"
    );
    let r =
        crate::mfa::submit_code(&c, &s, &crate::mfa::oathtool(&secret, "now + 30 seconds")).await;
    assert_eq!(r.headers()["location"], "/login/continue");
    let html = c
        .get(s.url("/login/continue"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("new_password"), "{html}");
    let token2 = csrf_of(&html);
    let r = c
        .post(s.url("/login/change-password"))
        .form(&[
            ("csrf_token", token2.as_str()),
            ("new_password", "lantern quibble orchard vessel"),
            ("confirm_password", "lantern quibble orchard vessel"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    assert_eq!(r.headers()["location"], "/my");
    let me = json(c.get(s.url("/api/v1/me")).send().await.unwrap()).await;
    assert_eq!(me["username"], "kim");
    let log = sign_ins_of(&s, kim.id).await;
    assert_eq!(log[0].details["conditional_access"]["outcome"], "allow");
    s.stop().await;
}

#[tokio::test]
async fn persistent_browser_session_controls_the_cookie() {
    let s = TestServer::start().await;
    let token = admin_token(&s, Role::SecurityAdministrator).await;
    s.user("lee", &[]).await;
    let session_cookie = |r: &reqwest::Response| {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("tp_session="))
            .unwrap()
            .to_string()
    };
    // Default: a browser-session cookie (no expiry).
    let r = login(&client(), &s, "lee", PASSWORD).await;
    let c = session_cookie(&r);
    assert!(!c.contains("Expires") && !c.contains("Max-Age"), "{c}");
    let doc = json!({ "policies": [ {
        "id": "stay", "name": "Stay signed in", "state": "enabled",
        "assignments": { "users": { "include": { "all": true } }, "applications": { "include": "all" } },
        "session": { "persistent_browser": "always", "sign_in_frequency": { "every_hours": 8 } } } ] });
    assert_eq!(
        put_set(&s, &token, 0, "application/json", doc.to_string())
            .await
            .status(),
        200
    );
    let r = login(&client(), &s, "lee", PASSWORD).await;
    let c = session_cookie(&r);
    assert!(c.contains("Expires="), "{c}");
    s.stop().await;
}

#[tokio::test]
async fn terms_of_use_are_accepted_once_during_sign_in() {
    let s = TestServer::start().await;
    let token = admin_token(&s, Role::SecurityAdministrator).await;
    let mo = s.user("mo", &[]).await;
    let api = |m: reqwest::Method, path: &str| {
        client()
            .request(m, s.url(&format!("/api/v1/{path}")))
            .bearer_auth(&token)
    };
    use reqwest::Method;
    // A policy naming terms that do not exist is refused.
    let doc = json!({ "policies": [ {
        "id": "terms", "name": "Accept the acceptable use policy", "state": "enabled",
        "assignments": { "users": { "include": { "all": true } }, "applications": { "include": "all" } },
        "grant": { "operator": "all", "controls": [ { "terms_of_use": "aup" } ] } } ] });
    let r = put_set(&s, &token, 0, "application/json", doc.to_string()).await;
    assert_eq!(r.status(), 400);
    let r = api(Method::POST, "terms-of-use")
        .json(&json!({ "id": "Bad Id", "name": "x", "body": "y" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = api(Method::POST, "terms-of-use")
        .json(&json!({ "id": "aup", "name": "Acceptable use", "body": "Use company systems for work.\nReport incidents." }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        put_set(&s, &token, 0, "application/json", doc.to_string())
            .await
            .status(),
        200
    );
    // In use: cannot be deleted.
    assert_eq!(
        api(Method::DELETE, "terms-of-use/aup")
            .send()
            .await
            .unwrap()
            .status(),
        409
    );

    // Declining ends the sign-in; accepting completes it, once.
    let c = client();
    assert_eq!(
        login(&c, &s, "mo", PASSWORD).await.headers()["location"],
        "/login/continue"
    );
    let html = c
        .get(s.url("/login/continue"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Acceptable use") && html.contains("Report incidents."),
        "{html}"
    );
    let t = csrf_of(&html);
    let r = c
        .post(s.url("/login/accept-terms"))
        .form(&[("csrf_token", t.as_str()), ("accept", "no")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/login?expired=1");
    assert_eq!(
        c.get(s.url("/api/v1/me")).send().await.unwrap().status(),
        401
    );

    let c = client();
    login(&c, &s, "mo", PASSWORD).await;
    let html = c
        .get(s.url("/login/continue"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let t = csrf_of(&html);
    let r = c
        .post(s.url("/login/accept-terms"))
        .form(&[("csrf_token", t.as_str()), ("accept", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/my");
    assert_eq!(
        json(c.get(s.url("/api/v1/me")).send().await.unwrap()).await["username"],
        "mo"
    );
    assert_eq!(
        s.state.store.accepted_terms(mo.id).await.unwrap(),
        vec!["aup".to_string()]
    );
    // Next time: no terms step.
    assert_eq!(
        login(&client(), &s, "mo", PASSWORD).await.headers()["location"],
        "/my"
    );
    s.stop().await;
}
