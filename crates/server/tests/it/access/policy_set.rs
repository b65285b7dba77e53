//! The policy set over the API: validation that names the field and changes nothing,
//! versions with optimistic concurrency, YAML, restore, audit, templates; and policies,
//! named locations and strengths as objects of their own.

use super::*;
use reqwest::Method;

#[tokio::test]
async fn invalid_policy_sets_name_the_field_and_change_nothing() {
    let s = TestServer::start().await;
    let token = security_admin(&s).await;
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
    s.stop().await;
}

#[tokio::test]
async fn the_policy_set_is_validated_versioned_and_audited() {
    let s = TestServer::start().await;
    let token = security_admin(&s).await;
    let reader = admin_token(&s, Role::SecurityReader).await;
    let g = s.group("contractors", &[]).await;

    // A reader cannot change it.
    let doc = json!({ "policies": [ block_group("block-contractors", g.id, "report_only") ] })
        .to_string();
    let r = put_set(&s, &reader, 0, "application/json", doc.clone()).await;
    assert_eq!(r.status(), 403);

    let r = put_set(&s, &token, 0, "application/json", doc.clone()).await;
    assert_eq!(r.status(), 200);
    let v1 = json(r).await;
    assert_eq!(v1["version"], 1);
    // Lint: includes everyone of a group but has no exclusion for emergency access.
    assert!(v1["warnings"].is_array());

    // A change based on a stale version is refused (no lost update).
    let r = put_set(&s, &token, 0, "application/json", doc).await;
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
    let api = Api::new(&s, &token);
    let versions = api.value("/api/v1/conditional-access/versions").await;
    assert_eq!(versions.as_array().unwrap().len(), 2);
    let restore = "/api/v1/conditional-access/versions/1/restore?based_on=2";
    assert_eq!(api.send(Method::POST, restore).await.status(), 200);
    let cur = get_set(&s, &token).await;
    assert_eq!(cur["version"], 3);
    assert_eq!(cur["document"]["policies"][0]["state"], "report_only");

    // Every saved version is audited with the document before and after.
    let saved = audit(&s, "conditional_access.policy_set.save").await;
    assert_eq!(saved.len(), 3);
    assert!(
        saved[0]
            .before
            .as_deref()
            .unwrap()
            .contains("\"version\":2")
    );
    s.stop().await;
}

#[tokio::test]
async fn templates_are_valid_and_disabled() {
    let s = TestServer::start().await;
    let token = security_admin(&s).await;
    // Templates are valid and disabled.
    let t = Api::new(&s, &token)
        .value("/api/v1/conditional-access/templates")
        .await;
    assert_eq!(t.as_array().unwrap().len(), 5);
    assert!(
        t.as_array()
            .unwrap()
            .iter()
            .all(|p| p["state"] == "disabled")
    );
    let doc = json!({ "policies": t }).to_string();
    let r = put_set(&s, &token, 0, "application/json", doc).await;
    assert_eq!(r.status(), 200, "templates pass validation");
    s.stop().await;
}

#[tokio::test]
async fn policies_locations_and_strengths_are_objects_of_their_own() {
    let s = TestServer::start().await;
    let token = security_admin(&s).await;
    let api = Api::new(&s, &token);
    let path = |p: &str| format!("/api/v1/conditional-access/{p}");
    let office = json!({ "id": "office", "name": "Office", "trusted": true, "ip_ranges": ["198.51.100.0/24"] });
    let r = api.put(&path("named-locations/office"), &office).await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["version"], 1);
    let strength = json!({ "id": "key-or-app", "name": "Key or app", "combinations": [["passkey_device_bound"], ["password", "totp"]] });
    let r = api
        .put(&path("authentication-strengths/key-or-app"), &strength)
        .await;
    assert_eq!(r.status(), 200);
    let policy = json!({ "id": "outside", "name": "Strong outside the office", "state": "enabled",
        "assignments": { "users": { "include": { "all": true } }, "applications": { "include": "all" } },
        "conditions": { "locations": { "include": "all", "exclude": ["office"] } },
        "grant": { "operator": "all", "controls": [ { "authentication_strength": "key-or-app" } ] } });
    let r = api.put(&path("policies/outside"), &policy).await;
    assert_eq!(r.status(), 200);
    let got = api.value(&path("named-locations/office")).await;
    assert_eq!(got["ip_ranges"], json!(["198.51.100.0/24"]));
    // The id in the body must be the path's.
    let r = api.put(&path("named-locations/hq"), &office).await;
    assert_eq!(r.status(), 400);
    // A location a policy still uses cannot be removed; nothing changes.
    let r = api.delete(&path("named-locations/office")).await;
    assert_eq!(r.status(), 400);
    let message = json(r).await["message"].as_str().unwrap().to_string();
    assert!(message.contains("office"));
    assert_eq!(get_set(&s, &token).await["version"], 3);
    let r = api.delete(&path("policies/outside")).await;
    assert_eq!(r.status(), 200);
    let r = api.delete(&path("named-locations/office")).await;
    assert_eq!(r.status(), 200);
    let r = api.get(&path("named-locations/office")).await;
    assert_eq!(r.status(), 404);
    assert_eq!(api.get(&path("gadgets/x")).await.status(), 404);
    // The versions listing still works next to the object routes.
    let v = api.value(&path("versions")).await;
    assert_eq!(v.as_array().unwrap().len(), 5);
    s.stop().await;
}
