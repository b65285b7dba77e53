//! Recovery codes, and administrators who see and remove a user's methods.

use super::*;
use serde_json::json;
use trustplane_core::audit::Actor;
use trustplane_core::identity::Role;

#[tokio::test]
async fn recovery_codes_sign_in_once_each() {
    let s = TestServer::start().await;
    let u = s.user("dora", &[]).await;
    let c = signed_in(&s, "dora").await;
    let unused = || async { s.state.store.unused_recovery_codes(u.id).await.unwrap() };
    // Not before a method exists.
    let token = csrf(&c, &s, "/my/security-info").await;
    let issue = || post_csrf(&c, &s, "/my/security-info/recovery-codes", &token, &[]);
    let r = issue().await;
    assert!(location(&r).contains("err="));
    assert_eq!(unused().await, 0);

    enrol(&c, &s).await;
    let r = issue().await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    let list = between(&html, "id=\"recovery-codes\">", "</ul>");
    let codes: Vec<String> = list
        .split("<li>")
        .skip(1)
        .map(|x| x.split("</li>").next().unwrap().trim().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    assert!(
        codes
            .iter()
            .all(|c| c.len() == 11 && c.as_bytes()[5] == b'-')
    );
    assert_eq!(unused().await, 10);

    // A recovery code (typed in upper case, without the dash) signs in once.
    let typed = codes[0].replace('-', "").to_uppercase();
    let b = client();
    login(&b, &s, "dora", PASSWORD).await;
    let r = submit_code(&b, &s, &typed).await;
    assert_eq!(location(&r), "/my");
    assert_eq!(me(&b, &s).await["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(unused().await, 9);
    let again = client();
    login(&again, &s, "dora", PASSWORD).await;
    let r = submit_code(&again, &s, &codes[0]).await;
    assert_eq!(r.status(), 401);

    // New codes replace the old ones.
    assert_eq!(issue().await.status(), 200);
    let r = submit_code(&again, &s, &codes[1]).await;
    assert_eq!(r.status(), 401, "an old code no longer works");

    // Removing the last method removes the recovery codes too.
    let id = s.state.store.list_mfa_methods(u.id).await.unwrap()[0].id;
    post_csrf(
        &c,
        &s,
        &format!("/my/security-info/{id}/remove"),
        &token,
        &[],
    )
    .await;
    assert_eq!(unused().await, 0);
    let actions = audit_actions(&s).await;
    assert!(actions.iter().any(|a| a == "mfa.recovery_codes.issue"));
    assert!(actions.iter().any(|a| a == "mfa.recovery_codes.delete"));
    s.stop().await;
}

#[tokio::test]
async fn admins_see_and_remove_a_users_methods_within_their_role() {
    let s = TestServer::start().await;
    let eve = s.user("eve", &[]).await;
    let boss = s.user("boss", &[Role::GlobalAdministrator]).await;
    enrol(&signed_in(&s, "eve").await, &s).await;
    enrol(&signed_in(&s, "boss").await, &s).await;
    let helpdesk = admin_api(&s, Role::HelpdeskAdministrator).await;
    let reader = admin_api(&s, Role::SecurityReader).await;

    let list = reader
        .value(&format!("/api/v1/users/{}/methods", eve.id))
        .await;
    assert_eq!(list["methods"][0]["kind"], "totp");
    assert_eq!(list["recovery_codes_left"], 0);
    assert!(
        !list.to_string().contains("secret"),
        "no secrets in the listing"
    );
    let mid = list["methods"][0]["id"].as_str().unwrap().to_string();

    // A reader cannot remove; helpdesk cannot touch a global administrator's methods.
    let path = format!("/api/v1/users/{}/methods/{mid}", eve.id);
    assert_eq!(reader.delete(&path).await.status(), 403);
    let boss_mid = s.state.store.list_mfa_methods(boss.id).await.unwrap()[0].id;
    let r = helpdesk
        .delete(&format!("/api/v1/users/{}/methods/{boss_mid}", boss.id))
        .await;
    assert_eq!(r.status(), 403);
    // Someone else's method id under this user: not found.
    let r = helpdesk
        .delete(&format!("/api/v1/users/{}/methods/{boss_mid}", eve.id))
        .await;
    assert_eq!(r.status(), 404);
    // Helpdesk removes eve's lost phone; her next sign-in needs no code.
    assert_eq!(helpdesk.delete(&path).await.status(), 204);
    assert!(
        s.state
            .store
            .list_mfa_methods(eve.id)
            .await
            .unwrap()
            .is_empty()
    );
    let r = login(&client(), &s, "eve", PASSWORD).await;
    assert_eq!(location(&r), "/my");
    // The console shows the remaining methods of the administrator.
    let admin = signed_in_mfa(&s, "boss").await;
    let html = page(&admin, &s, &format!("/admin/users/{}", boss.id)).await;
    assert!(html.contains("Sign-in methods") && html.contains("Authenticator app"));
    s.stop().await;
}

/// Signs in a user who has an authenticator app, using a recovery code issued directly.
async fn signed_in_mfa(s: &TestServer, user: &str) -> reqwest::Client {
    let u = s.state.store.find_user(user).await.unwrap().unwrap();
    let code = "abcde-fghij";
    let digest = trustplane_core::credential::secret_digest("abcdefghij");
    s.state
        .store
        .replace_recovery_codes(
            u.id,
            &[digest],
            time::OffsetDateTime::now_utc(),
            trustplane_core::audit::AuditDraft::new(
                &Actor::system(),
                "mfa.recovery_codes.issue",
                "user",
                None,
            ),
        )
        .await
        .unwrap();
    let c = client();
    login(&c, s, user, PASSWORD).await;
    let r = submit_code(&c, s, code).await;
    assert_eq!(r.status(), 303);
    c
}
