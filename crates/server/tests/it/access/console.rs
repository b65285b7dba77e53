//! Conditional access in the console: the editor, what-if, the sign-in log with its
//! per-policy detail, replay; and a user's own recent sign-ins.

use super::*;

#[tokio::test]
async fn the_console_edits_policies_explains_decisions_and_shows_sign_in_detail() {
    let s = TestServer::start().await;
    s.user("root", &[Role::GlobalAdministrator]).await;
    s.user("hank", &[]).await;
    let c = signed_in(&s, "root").await;
    let html = page(&c, &s, "/admin/conditional-access").await;
    assert!(html.contains("No policies yet"), "{html}");
    let token = csrf_of(&html);
    let save = async |document: &str, comment: Option<&str>| {
        let mut form = vec![
            ("based_on", "0"),
            ("document", document),
            ("format", "json"),
        ];
        form.extend(comment.map(|c| ("comment", c)));
        post_csrf(&c, &s, "/admin/conditional-access", &token, &form).await
    };

    // A refused document comes back in the editor with the problem, and nothing is saved.
    let bad = r#"{"policies": [], "named_locations": [{"id": "hq", "name": "HQ", "trusted": true, "ip_ranges": ["300.1.1.1/8"]}]}"#;
    let r = save(bad, None).await;
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(html.contains("Not saved") && html.contains("named_locations[0].ip_ranges[0]"));
    assert!(html.contains("300.1.1.1/8"), "the edited text is kept");

    let good = json!({ "policies": [ {
        "id": "mfa-hank", "name": "MFA for Hank", "state": "report_only",
        "assignments": { "users": { "include": { "all": true } }, "applications": { "include": "all" } },
        "grant": { "operator": "all", "controls": ["mfa"] } } ] })
    .to_string();
    let r = save(&good, Some("try it")).await;
    assert_eq!(r.status(), 303);
    let html = page(&c, &s, "/admin/conditional-access").await;
    assert!(html.contains("mfa-hank") && html.contains("report-only") && html.contains("try it"));

    // What-if in the console.
    let html = page(
        &c,
        &s,
        "/admin/conditional-access/what-if?user=hank&ip=192.0.2.1",
    )
    .await;
    assert!(html.contains("Decision:"), "{html}");
    assert!(html.contains("mfa-hank"));
    let html = page(
        &c,
        &s,
        "/admin/conditional-access/what-if?user=hank&ip=not-an-ip",
    )
    .await;
    assert!(html.contains("is not an IP address"));

    // Hank signs in; the log links to a detail page with the per-policy record.
    login(&client(), &s, "hank", PASSWORD).await;
    let html = page(&c, &s, "/admin/sign-ins?outcome=allow&policy=mfa-hank").await;
    let id = html
        .split("/admin/sign-ins/")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let detail = page(&c, &s, &format!("/admin/sign-ins/{id}")).await;
    assert!(detail.contains("Sign-in of hank"), "{detail}");
    assert!(detail.contains("mfa-hank") && detail.contains("report_only"));
    assert!(detail.contains("Signals"));

    // Replay in the console.
    let enabled = good.replace("report_only", "enabled");
    let form = [
        ("draft", enabled.as_str()),
        ("days", "7"),
        ("format", "json"),
    ];
    let replay = "/admin/conditional-access/replay";
    let r = post_form(&c, &s, replay, replay, &form).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Decided differently"), "{html}");
    assert!(html.contains("hank"));

    // Hank sees his own sign-ins under /my.
    let h = signed_in(&s, "hank").await;
    let my = page(&h, &s, "/my").await;
    assert!(my.contains("My recent sign-ins") && my.contains("Signed in"));
    s.stop().await;
}
