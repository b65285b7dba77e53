//! A passkey verifies a self-service password reset; refusals look alike to the user and are
//! audited with their reason.

use super::*;

/// Starts a self-service reset for `username` in a fresh browser; returns the client and the
/// CSRF token of the verification page (which offers a passkey either way).
async fn start_reset(s: &TestServer, username: &str) -> (reqwest::Client, String) {
    let c = client();
    let r = post_form(&c, s, "/reset", "/reset", &[("username", username)]).await;
    assert_eq!(location(&r), "/reset/verify");
    let html = page(&c, s, "/reset/verify").await;
    assert!(html.contains("Use a passkey"), "{html}");
    (c, csrf_of(&html))
}

/// Answers the reset's passkey challenge with `key`'s credential `cred` for `user_handle`.
async fn reset_with_passkey(
    s: &TestServer,
    c: &reqwest::Client,
    token: &str,
    key: &mut SoftToken,
    cred: &RegisterPublicKeyCredential,
    user_handle: uuid::Uuid,
) -> (Value, reqwest::Response) {
    let o = options(c, s, "/reset/passkey/options", token).await;
    let pk = o["publicKey"].clone();
    assert_eq!(pk["userVerification"], "required");
    let answer = sign_as_passkey(s, key, cred, &pk, user_handle);
    let r = post_json(
        c,
        s,
        "/reset/passkey",
        token,
        json!({ "ceremony": o["ceremony"], "credential": answer }),
    )
    .await;
    (pk, r)
}

/// The refused resets in the audit log, newest first.
async fn refusals(s: &TestServer) -> Vec<trustplane_core::audit::AuditEntry> {
    audit(s, "user.password.reset.refused").await
}

/// The `after` document of an audit entry.
fn after(e: &trustplane_core::audit::AuditEntry) -> Value {
    serde_json::from_str(e.after.as_deref().unwrap()).unwrap()
}

#[tokio::test]
async fn refused_passkey_resets_look_alike_and_are_audited() {
    let s = TestServer::start().await;
    let (erin, _, mut key, cred, _) = with_a_key(&s, "erin", "Phone").await;
    let frank = s.user("frank", &[]).await;

    // An unknown account gets the same username-less challenge, and the passkey fails like
    // any wrong answer; the audit log (admins only) says why.
    let (nc, nt) = start_reset(&s, "nobody").await;
    let (unknown_options, r) = reset_with_passkey(&s, &nc, &nt, &mut key, &cred, erin.id).await;
    assert_eq!(r.status(), 401);
    let unknown_refusal = json(r).await;
    assert_eq!(unknown_refusal["error"], "reset_refused");
    assert!(
        unknown_options["allowCredentials"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "the challenge names no credential: {unknown_options}"
    );
    let audit = refusals(&s).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].target_id, None);
    assert_eq!(audit[0].actor_id, "anonymous");
    assert_eq!(after(&audit[0])["username"], "nobody");
    assert_eq!(after(&audit[0])["reason"], "account_unknown_or_not_allowed");

    // Erin's passkey does not verify Frank's reset: the same answer as for an unknown account.
    let (fc, ft) = start_reset(&s, "frank").await;
    let (frank_options, r) = reset_with_passkey(&s, &fc, &ft, &mut key, &cred, erin.id).await;
    assert_eq!(r.status(), 401);
    assert_eq!(json(r).await, unknown_refusal);
    assert_eq!(
        frank_options["allowCredentials"],
        unknown_options["allowCredentials"]
    );
    let audit = refusals(&s).await;
    assert_eq!(audit.len(), 2);
    assert_eq!(
        audit[0].target_id.as_deref(),
        Some(frank.id.to_string().as_str())
    );
    assert_eq!(after(&audit[0])["reason"], "passkey_not_of_account");

    // A wrong code in Erin's own flow is refused and audited too.
    let (ec, et) = start_reset(&s, "erin").await;
    let r = post_csrf(&ec, &s, "/reset/verify", &et, &[("code", "123456")]).await;
    assert_eq!(r.status(), 401);
    let audit = refusals(&s).await;
    assert_eq!(audit.len(), 3);
    assert_eq!(after(&audit[0])["reason"], "totp_wrong");
    assert_eq!(
        audit[0].target_id.as_deref(),
        Some(erin.id.to_string().as_str())
    );
    s.stop().await;
}

#[tokio::test]
async fn a_passkey_verifies_a_self_service_reset_and_refusals_are_audited() {
    let s = TestServer::start().await;
    let (erin, c, mut key, cred, _) = with_a_key(&s, "erin", "Phone").await;
    // A wrong code in Erin's own flow is refused; her passkey then verifies.
    let (ec, et) = start_reset(&s, "erin").await;
    let r = post_csrf(&ec, &s, "/reset/verify", &et, &[("code", "123456")]).await;
    assert_eq!(r.status(), 401);
    assert_eq!(refusals(&s).await.len(), 1);
    let (_, r) = reset_with_passkey(&s, &ec, &et, &mut key, &cred, erin.id).await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["redirect"], "/reset/verify");
    let html = page(&ec, &s, "/reset/verify").await;
    assert!(html.contains("Choose a new password"), "{html}");
    let new = "quartz-Meadow-bicycle-47";
    let form = [("new_password", new), ("confirm_password", new)];
    let r = post_csrf(&ec, &s, "/reset/password", &csrf_of(&html), &form).await;
    assert_eq!(r.status(), 200);
    let done = audit(&s, "user.password.reset").await;
    assert_eq!(after(&done[0])["verified_with"], json!(["passkey"]));
    // The old session is gone; the new password works.
    assert_eq!(get(&c, &s, "/api/v1/me").await.status(), 401);
    let r = login(&client(), &s, "erin", new).await;
    assert_eq!(
        location(&r),
        "/login/continue",
        "the password is accepted; her passkey is asked for next"
    );
    s.stop().await;
}
