//! An authenticator app: enrolment, sign-in with its codes (replays and wrong codes
//! refused and logged), removal and renaming of one's own methods only.

use super::*;
use serde_json::json;

#[tokio::test]
async fn enrol_an_authenticator_app_and_sign_in_with_it() {
    let s = TestServer::start().await;
    let alice = s.user("alice", &[]).await;
    let c = signed_in(&s, "alice").await;
    let html = page(&c, &s, "/my/security-info").await;
    assert!(html.contains("No methods yet"));
    let token = csrf_of(&html);

    // Start: a secret to scan, as a QR code and as text.
    let r = post_csrf(&c, &s, "/my/security-info/totp", &token, &[]).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("<svg"), "QR code rendered server-side");
    let (secret, pending) = secret_and_pending(&html);
    assert_eq!(secret.len(), 32, "160-bit secret in base32");
    let uri = between(&html, "id=\"totp-uri\">", "<").replace("&amp;", "&");
    assert!(
        uri.starts_with("otpauth://totp/trustplane:alice%40example.com?secret="),
        "{uri}"
    );

    let label = [("label", "Phone")];
    // A wrong code keeps the enrolment open; a tampered one is refused; nothing is stored.
    let now = oathtool(&secret, "now");
    let r = confirm_totp(&c, &s, &token, &pending, &wrong(&now), &label).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("not correct"));
    let mut bad = pending.clone().into_bytes();
    bad[10] = if bad[10] == b'A' { b'B' } else { b'A' };
    let bad = String::from_utf8(bad).unwrap();
    let r = confirm_totp(&c, &s, &token, &bad, &now, &label).await;
    assert!(location(&r).contains("err="));
    let methods = || async { s.state.store.list_mfa_methods(alice.id).await.unwrap() };
    assert!(methods().await.is_empty());

    // The right code registers the app.
    let r = confirm_totp(&c, &s, &token, &pending, &now, &label).await;
    assert_eq!(location(&r), "/my/security-info?ok=added");
    let added = methods().await;
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].label, "Phone");
    assert_eq!(audit(&s, "mfa.method.add").await.len(), 1);
    // The secret is sealed at rest, not stored in the clear.
    let (_, sealed) = s
        .state
        .store
        .mfa_secret(added[0].id)
        .await
        .unwrap()
        .unwrap();
    assert!(!sealed.contains(&secret));

    // Signing in now asks for a code.
    let b = client();
    let r = login(&b, &s, "alice", PASSWORD).await;
    assert_eq!(location(&r), "/login/continue");
    assert!(
        page(&b, &s, "/login/continue")
            .await
            .contains("Verify your identity")
    );
    // The enrolment code cannot be replayed, a wrong code is refused, both are logged.
    let r = submit_code(&b, &s, &now).await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("already used"));
    let r = submit_code(&b, &s, &wrong(&now)).await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("not correct"));
    let reasons = failure_reasons(&s, alice.id).await;
    assert!(
        reasons.contains(&"totp_replayed".to_string()),
        "{reasons:?}"
    );
    assert!(reasons.contains(&"totp_invalid".to_string()), "{reasons:?}");

    // The next step's code (within the one-step skew) signs in, with amr pwd + otp + mfa.
    let next = oathtool(&secret, "now + 30 seconds");
    let r = submit_code(&b, &s, &next).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/my");
    assert_eq!(me(&b, &s).await["amr"], json!(["pwd", "otp", "mfa"]));
    // That code is now used up for every other sign-in too.
    let other = client();
    login(&other, &s, "alice", PASSWORD).await;
    let r = submit_code(&other, &s, &next).await;
    assert!(r.text().await.unwrap().contains("already used"));

    // Removing the method: audited; sign-in no longer asks for a code.
    assert!(page(&c, &s, "/my/security-info").await.contains("Phone"));
    let path = format!("/my/security-info/{}/remove", added[0].id);
    let r = post_csrf(&c, &s, &path, &token, &[]).await;
    assert_eq!(location(&r), "/my/security-info?ok=removed");
    assert!(methods().await.is_empty());
    s.stop().await;
}

#[tokio::test]
async fn a_leaked_password_with_mfa_registered_asks_for_the_second_factor_first() {
    let s = TestServer::start().await;
    s.user("alice", &[]).await;
    enrol(&signed_in(&s, "alice").await, &s).await;
    // A leaked password with MFA registered: the second factor comes first.
    write_breach_filter(&s.state.cfg.breached_filter_path(), &[PASSWORD]);
    s.state.breach.reload(true);
    let d = client();
    login(&d, &s, "alice", PASSWORD).await;
    let html = page(&d, &s, "/login/continue").await;
    assert!(html.contains("Verify your identity") && !html.contains("data breach"));
    s.state.breach.reload(true);
    std::fs::remove_file(s.state.cfg.breached_filter_path()).unwrap();
    s.stop().await;
}

#[tokio::test]
async fn someone_elses_method_cannot_be_removed_and_codes_are_rate_limited() {
    let s = TestServer::start().await;
    let a = s.user("ann", &[]).await;
    s.user("ben", &[]).await;
    // ann enrols.
    let c = signed_in(&s, "ann").await;
    let token = csrf(&c, &s, "/my/security-info").await;
    let (secret, pending) = secret_and_pending(&offer_totp(&c, &s, &token).await);
    let r = confirm_totp(&c, &s, &token, &pending, &oathtool(&secret, "now"), &[]).await;
    assert_eq!(r.status(), 303);
    let id = s.state.store.list_mfa_methods(a.id).await.unwrap()[0].id;
    // ben cannot remove it, nor use ann's pending enrolment.
    let b = signed_in(&s, "ben").await;
    let bt = csrf(&b, &s, "/my/security-info").await;
    let r = post_csrf(&b, &s, &format!("/my/security-info/{id}/remove"), &bt, &[]).await;
    assert_eq!(r.status(), 404);
    let r = confirm_totp(&b, &s, &bt, &pending, &oathtool(&secret, "now"), &[]).await;
    assert!(location(&r).contains("err="));
    assert_eq!(s.state.store.list_mfa_methods(a.id).await.unwrap().len(), 1);

    // Guessing codes ends the flow after 10 tries.
    let g = client();
    login(&g, &s, "ann", PASSWORD).await;
    let mut last = None;
    for _ in 0..10 {
        last = Some(submit_code(&g, &s, "123456").await);
    }
    let last = last.unwrap();
    assert_eq!(location(&last), "/login?expired=1");
    s.stop().await;
}

#[tokio::test]
async fn users_rename_their_own_methods_only() {
    let s = TestServer::start().await;
    s.user("rena", &[]).await;
    s.user("other", &[]).await;
    let c = signed_in(&s, "rena").await;
    enrol(&c, &s).await;
    let o = signed_in(&s, "other").await;
    enrol(&o, &s).await;
    let mine = s.state.store.find_user("rena").await.unwrap().unwrap().id;
    let theirs = s.state.store.find_user("other").await.unwrap().unwrap().id;
    let m = s.state.store.list_mfa_methods(mine).await.unwrap()[0].id;
    let t = s.state.store.list_mfa_methods(theirs).await.unwrap()[0].id;
    let token = csrf(&c, &s, "/my/security-info").await;
    let rename = |id: uuid::Uuid, label: &'static str| {
        c.post(s.url(&format!("/my/security-info/{id}/rename")))
            .form(&[("csrf_token", token.clone()), ("label", label.to_string())])
            .send()
    };
    let r = rename(m, "  Work phone ").await.unwrap();
    assert_eq!(location(&r), "/my/security-info?ok=renamed");
    assert_eq!(
        s.state.store.list_mfa_methods(mine).await.unwrap()[0].label,
        "Work phone"
    );
    let r = rename(m, "   ").await.unwrap();
    assert!(location(&r).contains("err="));
    let r = rename(t, "Stolen").await.unwrap();
    assert_eq!(r.status(), 404, "someone else's method");
    assert_ne!(
        s.state.store.list_mfa_methods(theirs).await.unwrap()[0].label,
        "Stolen"
    );
    s.stop().await;
}
