//! A block policy: report-only first, then enforced with a reason page; the sign-in log's
//! per-policy record, its API filters and exports; what-if and impact replay.

use super::*;
use trustplane_core::identity::User;

/// Carl (in the contractors group) and Dana (not in it) after a block policy on the group
/// was report-only for one sign-in of Carl, then enforced for one sign-in of each.
struct Blocked {
    token: String,
    carl: User,
    dana: User,
    /// The browser whose sign-in the enforced policy refused, and the page it got.
    refused: reqwest::Client,
    refused_page: String,
}

async fn block_contractors(s: &TestServer) -> Blocked {
    let token = security_admin(s).await;
    let carl = s.user("carl", &[]).await;
    let dana = s.user("dana", &[]).await;
    let g = s.group("contractors", &[carl.id]).await;

    // Report-only first: the sign-in goes through.
    let doc = json!({ "policies": [ block_group("block-contractors", g.id, "report_only") ] });
    save_set(s, &token, 0, &doc).await;
    let r = login(&client(), s, "carl", PASSWORD).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/my");

    // Enabled: Carl is refused; Dana, not in the group, is not.
    let doc = json!({ "policies": [ block_group("block-contractors", g.id, "enabled") ] });
    save_set(s, &token, 1, &doc).await;
    let refused = client();
    let r = login(&refused, s, "carl", PASSWORD).await;
    assert_eq!(r.status(), 403);
    let refused_page = r.text().await.unwrap();
    let r = login(&client(), s, "dana", PASSWORD).await;
    assert_eq!(location(&r), "/my");
    Blocked {
        token,
        carl,
        dana,
        refused,
        refused_page,
    }
}

#[tokio::test]
async fn a_block_policy_refuses_sign_in_with_a_reason_page_and_a_logged_record() {
    let s = TestServer::start().await;
    let b = block_contractors(&s).await;
    let log = sign_ins_of(&s, b.carl.id).await;
    // While report-only, the log says what would have happened.
    let ca = &log[1].details["conditional_access"];
    assert_eq!(ca["outcome"], "allow");
    assert_eq!(ca["applied"], json!(["block-contractors"]));
    assert_eq!(ca["records"][0]["enforced"], false);
    assert_eq!(ca["records"][0]["result"]["result"], "block");

    // Enabled: Carl is refused with a page that gives a correlation id, not the policy.
    let html = &b.refused_page;
    assert!(
        html.contains("access policy does not allow this sign-in"),
        "{html}"
    );
    assert!(html.contains("Correlation id"));
    assert!(!html.contains("block-contractors") && !html.contains("Block contractors"));
    assert_eq!(get(&b.refused, &s, "/api/v1/me").await.status(), 401);
    assert_eq!(log[0].failure_reason.as_deref(), Some("blocked_by_policy"));
    assert!(html.contains(&log[0].correlation_id));
    assert_eq!(log[0].details["conditional_access"]["outcome"], "block");
    // Dana is not in the group: the record says why the policy did not apply.
    let log = sign_ins_of(&s, b.dana.id).await;
    let rec = &log[0].details["conditional_access"]["records"][0];
    assert_eq!(rec["applied"], false);
    assert_eq!(rec["excluded_by"], "user_not_included");
    s.stop().await;
}

#[tokio::test]
async fn the_sign_in_log_filters_by_policy_and_outcome_and_exports() {
    let s = TestServer::start().await;
    let b = block_contractors(&s).await;
    let api = Api::new(&s, &b.token);
    // The sign-in log API filters by policy and outcome, and exports.
    let list = api
        .value("/api/v1/sign-ins?policy=block-contractors&outcome=block")
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["username"], "carl");
    let r = api.get("/api/v1/sign-ins?outcome=maybe").await;
    assert_eq!(r.status(), 400);
    let csv = api
        .get("/api/v1/sign-ins/export?format=csv&app=trustplane")
        .await;
    let content_type = csv.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/csv"));
    let csv = csv.text().await.unwrap();
    let mut rows = csv.lines();
    assert!(rows.next().unwrap().starts_with("id,at,username"));
    assert_eq!(rows.count(), 3, "{csv}");
    assert!(csv.contains(",block,block-contractors,"));
    let jsonl = api
        .get("/api/v1/sign-ins/export?format=jsonl&username=dana")
        .await
        .text()
        .await
        .unwrap();
    let lines: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["username"], "dana");
    s.stop().await;
}

#[tokio::test]
async fn what_if_and_replay_explain_a_block_policy() {
    let s = TestServer::start().await;
    let b = block_contractors(&s).await;
    let api = Api::new(&s, &b.token);
    // What-if explains both users without signing anyone in.
    let what_if = "/api/v1/conditional-access/what-if";
    let w = async |user: &str| {
        let body = json!({ "user": user, "ip": "192.0.2.7" });
        api.post(what_if, &body).await
    };
    let carl_w = json(w("carl").await).await;
    assert_eq!(carl_w["outcome"], "block");
    assert_eq!(carl_w["decision"]["block"]["by"], "block-contractors");
    let dana_w = json(w("dana").await).await;
    assert_eq!(dana_w["outcome"], "allow");
    assert_eq!(dana_w["records"][0]["excluded_by"], "user_not_included");
    assert_eq!(w("nobody").await.status(), 400);

    // Impact replay: a draft that blocks everyone would have blocked Dana's sign-in too,
    // and no longer blocks nothing that was allowed... counted per sign-in.
    let draft = json!({ "policies": [ {
        "id": "block-all", "name": "Block all", "state": "enabled",
        "assignments": { "users": { "include": { "all": true } }, "applications": { "include": "all" } },
        "grant": "block" } ] });
    let body = json!({ "draft": draft, "days": 7 });
    let rep = json(api.post("/api/v1/conditional-access/replay", &body).await).await;
    // Carl (report-only: allowed) and Dana (allowed) would now be blocked; Carl's blocked
    // sign-in stays blocked.
    assert_eq!(rep["evaluated"], 3, "{rep}");
    assert_eq!(rep["newly_blocked"], 2, "{rep}");
    assert_eq!(rep["users_affected"], json!(["carl", "dana"]));
    s.stop().await;
}
