//! The authentication methods policy: required MFA makes users register during sign-in, a
//! registration campaign may be postponed while allowed, and the policy itself is
//! validated, audited and limited to the roles that may change it.

use super::*;
use serde_json::json;
use trustplane_core::identity::Role;

/// Registers the authenticator app the sign-in flow of `c` offers: its enrolment `pending`,
/// confirmed with `code`.
async fn register_in_flow(
    c: &reqwest::Client,
    s: &TestServer,
    token: &str,
    pending: &str,
    code: &str,
) -> reqwest::Response {
    let form = [("pending", pending), ("code", code)];
    post_csrf(c, s, "/login/register-totp", token, &form).await
}

#[tokio::test]
async fn required_mfa_makes_users_register_during_sign_in() {
    let s = TestServer::start().await;
    let fay = s.user("fay", &[]).await;
    let t = admin_token(&s, Role::SecurityAdministrator).await;
    let required = policy(json!({"mode": "all"}), json!({"mode": "none"}), 0);
    assert_eq!(put_policy(&s, &t, required).await.status(), 200);

    let c = client();
    let r = login(&c, &s, "fay", PASSWORD).await;
    assert_eq!(location(&r), "/login/continue");
    let html = page(&c, &s, "/login/continue").await;
    assert!(html.contains("Keep your account secure") && html.contains("<svg"));
    assert!(
        !html.contains("Not now"),
        "no postponing when MFA is required"
    );
    let (secret, pending) = secret_and_pending(&html);
    let token = csrf_of(&html);
    // Skipping is refused; a wrong code keeps the same secret on the page.
    let r = post_csrf(&c, &s, "/login/skip-registration", &token, &[]).await;
    assert_eq!(r.status(), 422);
    let now = oathtool(&secret, "now");
    let r = register_in_flow(&c, &s, &token, &pending, &wrong(&now)).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("not correct"));
    assert_eq!(between(&html, "id=\"totp-secret\">", "<"), secret);
    // A pending value from another flow does not open.
    let other = client();
    login(&other, &s, "fay", PASSWORD).await;
    let (_, foreign) = secret_and_pending(&page(&other, &s, "/login/continue").await);
    let r = register_in_flow(&c, &s, &token, &foreign, &now).await;
    assert_eq!(location(&r), "/login?expired=1");
    // (That ended the first flow.) Start again and register properly.
    let c2 = client();
    login(&c2, &s, "fay", PASSWORD).await;
    let html = page(&c2, &s, "/login/continue").await;
    let (secret, pending) = secret_and_pending(&html);
    let code = oathtool(&secret, "now");
    let r = register_in_flow(&c2, &s, &csrf_of(&html), &pending, &code).await;
    // The registration interrupt continues in the combined registration wizard.
    assert_eq!(location(&r), "/my/security-info/setup");
    assert_eq!(me(&c2, &s).await["amr"], json!(["pwd", "otp", "mfa"]));
    let methods = s.state.store.list_mfa_methods(fay.id).await.unwrap();
    assert_eq!(methods.len(), 1);

    // The user cannot remove their only method while MFA is required.
    let path = format!("/my/security-info/{}/remove", methods[0].id);
    let r = post_form(&c2, &s, "/my/security-info", &path, &[]).await;
    assert!(location(&r).contains("err="));
    assert_eq!(
        s.state.store.list_mfa_methods(fay.id).await.unwrap().len(),
        1
    );
    // Next sign-in asks for a code from the app.
    let d = client();
    login(&d, &s, "fay", PASSWORD).await;
    assert!(
        page(&d, &s, "/login/continue")
            .await
            .contains("Verify your identity")
    );
    s.stop().await;
}

#[tokio::test]
async fn a_registration_campaign_can_be_postponed_while_allowed() {
    let s = TestServer::start().await;
    s.user("gus", &[]).await;
    let t = admin_token(&s, Role::SecurityAdministrator).await;
    let none = json!({"mode": "none"});
    let all = json!({"mode": "all"});
    let campaign = policy(none.clone(), all.clone(), 3);
    assert_eq!(put_policy(&s, &t, campaign).await.status(), 200);
    let c = client();
    login(&c, &s, "gus", PASSWORD).await;
    let html = page(&c, &s, "/login/continue").await;
    assert!(html.contains("Not now"));
    let r = post_csrf(&c, &s, "/login/skip-registration", &csrf_of(&html), &[]).await;
    assert_eq!(location(&r), "/my");
    assert_eq!(me(&c, &s).await["amr"], json!(["pwd"]));
    // With no days left (counted from the first prompt), it cannot be postponed any more.
    assert_eq!(put_policy(&s, &t, policy(none, all, 0)).await.status(), 200);
    let d = client();
    login(&d, &s, "gus", PASSWORD).await;
    let html = page(&d, &s, "/login/continue").await;
    assert!(html.contains("Keep your account secure") && !html.contains("Not now"));
    s.stop().await;
}

#[tokio::test]
async fn the_methods_policy_is_validated_audited_and_role_limited() {
    let s = TestServer::start().await;
    s.user("root", &[Role::GlobalAdministrator]).await;
    let t = admin_token(&s, Role::SecurityAdministrator).await;
    let reader = admin_token(&s, Role::SecurityReader).await;
    let none = json!({"mode": "none"});
    let all = json!({"mode": "all"});
    // Invalid documents change nothing.
    let r = put_policy(&s, &t, policy(none.clone(), all.clone(), 20)).await;
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["error"], "invalid_policy");
    let ghost = json!({"mode": "groups", "groups": [uuid::Uuid::now_v7()]});
    let r = put_policy(&s, &t, policy(ghost, none.clone(), 0)).await;
    assert_eq!(json(r).await["error"], "unknown_group");
    let mut extra = policy(none.clone(), none.clone(), 0);
    extra["surprise"] = json!(true);
    assert_eq!(put_policy(&s, &t, extra).await.status(), 422);
    let by_reader = put_policy(&s, &reader, policy(all.clone(), none.clone(), 0)).await;
    assert_eq!(by_reader.status(), 403);
    let got = Api::new(&s, &reader)
        .value("/api/v1/policies/authentication-methods")
        .await;
    assert_eq!(got["require_mfa"]["mode"], "none", "still the default");

    // The console: group names resolve; unknown names are a clear error.
    s.group("finance", &[]).await;
    let admin = signed_in(&s, "root").await;
    let token = csrf(&admin, &s, "/admin/authentication-methods").await;
    let save = async |require_groups: &str| {
        let form = [
            ("totp_mode", "all"),
            ("recovery_mode", "all"),
            ("tap_mode", "all"),
            ("email_mode", "all"),
            ("sspr_mode", "all"),
            ("sspr_methods", "1"),
            ("require_mode", "groups"),
            ("require_groups", require_groups),
            ("registration_mode", "none"),
            ("postpone_days", "0"),
        ];
        post_csrf(&admin, &s, "/admin/authentication-methods", &token, &form).await
    };
    let r = save("Finance, nonexistent").await;
    assert!(location(&r).contains("err="));
    let r = save("Finance").await;
    assert_eq!(location(&r), "/admin/authentication-methods?ok=saved");
    let html = page(&admin, &s, "/admin/authentication-methods").await;
    assert!(html.contains("value=\"finance\""), "group names shown");
    let entries = audit(&s, "policy.auth_methods.update").await;
    assert_eq!(entries.len(), 1);
    let before = entries[0].before.as_ref().unwrap().to_string();
    assert!(before.contains("none"));
    let after = entries[0].after.as_ref().unwrap().to_string();
    assert!(after.contains("groups"));
    s.stop().await;
}
