//! Passwordless sign-in with a passkey.

use super::*;

#[tokio::test]
async fn passwordless_sign_in_with_a_passkey() {
    let s = TestServer::start().await;
    let (carol, _, mut key, cred, _) = with_a_key(&s, "carol", "Laptop").await;

    let (b, r) = passkey_sign_in(&s, &mut key, &cred, carol.id).await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["redirect"], "/my");
    assert_eq!(me(&b, &s).await["amr"], json!(["hwk", "user", "mfa"]));
    let log = sign_ins_of(&s, carol.id).await;
    assert_eq!(log[0].methods, ["hwk", "user", "mfa"]);
    assert_eq!(log[0].details["flow"], "passkey");

    // A user handle that does not own the credential: the same generic failure.
    let (_, r) = passkey_sign_in(&s, &mut key, &cred, uuid::Uuid::now_v7()).await;
    assert_eq!(r.status(), 401);
    let unknown = json(r).await;
    // A disabled user: the same failure, no session.
    let mut u = s.ops().user(carol.id).await.unwrap();
    u.status = trustplane_core::identity::UserStatus::Disabled;
    s.state
        .store
        .update_user(
            &u,
            trustplane_core::audit::AuditDraft::new(&Actor::system(), "user.update", "user", None),
        )
        .await
        .unwrap();
    let (b, r) = passkey_sign_in(&s, &mut key, &cred, carol.id).await;
    assert_eq!(r.status(), 401);
    assert_eq!(json(r).await, unknown);
    assert_eq!(get(&b, &s, "/api/v1/me").await.status(), 401);
    // A ceremony id that was never issued.
    let c2 = client();
    let token = csrf(&c2, &s, "/login").await;
    let never = json!({ "ceremony": "nope", "credential": {} });
    let r = post_json(&c2, &s, "/login/passkey", &token, never).await;
    assert_eq!(r.status(), 401);
    // Without the CSRF header nothing happens.
    let r = c2
        .post(s.url("/login/passkey/options"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

/// A password lock does not refuse a passkey sign-in (phishing-resistant; the lock is
/// something anyone who knows the login name can trigger). Before: the passkey sign-in of a
/// locked account answered 429.
#[tokio::test]
async fn a_passkey_signs_in_while_the_password_is_locked() {
    let s = TestServer::with(Options {
        failures_per_account: 3,
        ..Options::default()
    })
    .await;
    let (lena, _, mut key, cred, _) = with_a_key(&s, "lena", "Laptop").await;
    for _ in 0..3 {
        let r = login(&client(), &s, "lena", "certainly not it").await;
        assert_eq!(r.status(), 401);
    }
    assert_eq!(login(&client(), &s, "lena", PASSWORD).await.status(), 429);
    let (b, r) = passkey_sign_in(&s, &mut key, &cred, lena.id).await;
    assert_eq!(
        r.status(),
        200,
        "the passkey is not refused by the password lock"
    );
    assert_eq!(get(&b, &s, "/api/v1/me").await.status(), 200);
    s.stop().await;
}
