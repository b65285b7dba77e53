//! Self-service password reset: verified with emailed codes (over the outbox or a real SMTP
//! server) and the authenticator app, never revealing whether an account exists.

use super::*;

#[tokio::test]
async fn self_service_reset_with_an_emailed_code_revokes_sessions() {
    let s = TestServer::start().await;
    s.user("rick", &[]).await;
    let old = signed_in(&s, "rick").await;
    register_email(&old, &s, "rick@home.example", 0).await;

    let c = client();
    let r = start_reset(&c, &s, "rick").await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/reset/verify");
    // The new-password form is not reachable before verification.
    let r = choose_password(&c, &s, "x").await;
    assert_eq!(location(&r), "/reset/verify");
    let r = reset_step(&c, &s, "/reset/email", &[]).await;
    assert_eq!(r.status(), 303);
    let code = code_in_mail(&s, "rick@home.example", 2).await;
    let r = verify_reset(&c, &s, &code).await;
    assert_eq!(r.status(), 303);
    let html = page(&c, &s, "/reset/verify").await;
    assert!(html.contains("Choose a new password"), "{html}");
    // Password protection applies.
    let r = choose_password(&c, &s, "password123456").await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("commonly used"));
    let new_pw = "quartz lantern orbit meadow";
    let r = choose_password(&c, &s, new_pw).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Your password was reset"));
    // The old session is gone, the old password too; the new one works.
    let my = get(&old, &s, "/my").await;
    assert_eq!(my.status(), 303, "revoked session sent to sign in");
    assert_eq!(login(&client(), &s, "rick", PASSWORD).await.status(), 401);
    // (rick has an email method, so the new sign-in stops at the second factor.)
    let r = login(&client(), &s, "rick", new_pw).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login/continue");
    // Notified, and audited.
    let notices = s.outbox("rick@example.com", 2).await;
    assert!(notices.last().unwrap().contains("Your password was reset"));
    assert_eq!(audit(&s, "user.password.reset").await.len(), 1);
    // The flow is finished: the code and the flow cannot be used again.
    let r = post_form(&c, &s, "/reset", "/reset/verify", &[("code", &code)]).await;
    assert_eq!(location(&r), "/reset?expired=1");
    s.stop().await;
}

/// The visible text of a page without its per-request CSRF token.
fn text_without_token(html: &str) -> String {
    let t = csrf_of(html);
    html.replace(&t, "")
}

#[tokio::test]
async fn reset_never_reveals_whether_an_account_exists() {
    let s = TestServer::start().await;
    s.user("real", &[]).await;
    let c = signed_in(&s, "real").await;
    register_email(&c, &s, "real@home.example", 0).await;
    let disabled = s.user("gone", &[]).await;
    s.ops()
        .update_user(
            &trustplane_core::audit::Actor::system(),
            disabled.id,
            None,
            None,
            Some(trustplane_core::identity::UserStatus::Disabled),
        )
        .await
        .unwrap();

    let mut pages = Vec::new();
    for name in ["real", "ghost", "gone"] {
        let c = client();
        let r = start_reset(&c, &s, name).await;
        assert_eq!(r.status(), 303);
        let r = reset_step(&c, &s, "/reset/email", &[]).await;
        assert_eq!(r.status(), 303);
        let html = page(&c, &s, "/reset/verify").await;
        let r = verify_reset(&c, &s, "00000001").await;
        let status = r.status();
        let wrong = r.text().await.unwrap();
        pages.push((
            status,
            text_without_token(&html).replace(name, "NAME"),
            text_without_token(&wrong).replace(name, "NAME"),
        ));
    }
    assert_eq!(
        pages[0], pages[1],
        "real and unknown accounts look the same"
    );
    assert_eq!(
        pages[0], pages[2],
        "real and disabled accounts look the same"
    );
    assert_eq!(pages[0].0, 401);
    // Only the real account was sent a code.
    assert_eq!(s.outbox("real@home.example", 2).await.len(), 2);
    s.stop().await;
}

#[tokio::test]
async fn two_methods_can_be_required_and_wrong_codes_end_the_flow() {
    let s = TestServer::start().await;
    let token = admin_token(&s, Role::GlobalAdministrator).await;
    let mut p = Api::new(&s, &token)
        .value("/api/v1/policies/authentication-methods")
        .await;
    p["sspr"]["methods_required"] = json!(3);
    let r = crate::mfa::put_policy(&s, &token, p.clone()).await;
    assert_eq!(r.status(), 400, "1 or 2 only");
    p["sspr"]["methods_required"] = json!(2);
    assert_eq!(crate::mfa::put_policy(&s, &token, p).await.status(), 200);

    s.user("tina", &[]).await;
    let c = signed_in(&s, "tina").await;
    let secret = enrol(&c, &s).await;
    register_email(&c, &s, "tina@home.example", 0).await;

    let r2 = client();
    start_reset(&r2, &s, "tina").await;
    assert!(
        page(&r2, &s, "/reset/verify")
            .await
            .contains("method 1 of 2")
    );
    // TOTP first (the code from an independent implementation; the current step was used by
    // the enrolment, so the next one, within the allowed skew).
    let totp = oathtool(&secret, "now + 30 seconds");
    assert_eq!(verify_reset(&r2, &s, &totp).await.status(), 303);
    let html = page(&r2, &s, "/reset/verify").await;
    assert!(html.contains("method 2 of 2"), "{html}");
    reset_step(&r2, &s, "/reset/email", &[]).await;
    let code = code_in_mail(&s, "tina@home.example", 2).await;
    assert_eq!(verify_reset(&r2, &s, &code).await.status(), 303);
    let html = page(&r2, &s, "/reset/verify").await;
    assert!(html.contains("Choose a new password"));

    // Five wrong codes end a flow.
    let r3 = client();
    start_reset(&r3, &s, "tina").await;
    for i in 0..4 {
        let r = verify_reset(&r3, &s, &format!("1111111{i}")).await;
        assert_eq!(r.status(), 401);
    }
    let r = verify_reset(&r3, &s, "22222222").await;
    assert_eq!(location(&r), "/reset?expired=1");
    s.stop().await;
}

/// Self-service reset end to end with the codes delivered over SMTP to a real server
/// (Python's aiosmtpd) and read out of the received messages.
#[tokio::test]
async fn reset_over_a_real_smtp_server() {
    let maildir = tempfile::tempdir().unwrap();
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir(maildir.path().join(sub)).unwrap();
    }
    let received = maildir.path().join("new");
    let (_smtpd, port) = crate::mail::smtp_server(maildir.path());
    let s = TestServer::with(Options {
        email: trustplane_server::platform::config::EmailConfig {
            transport: "smtp".into(),
            from: "Identity <identity@corp.example>".into(),
            smtp_host: Some("127.0.0.1".into()),
            smtp_port: port,
            smtp_tls: trustplane_server::platform::config::SmtpTls::None,
            ..Default::default()
        },
        ..Options::default()
    })
    .await;
    s.user("sara", &[]).await;
    let old = signed_in(&s, "sara").await;
    // Register the address: the confirmation code arrives over SMTP.
    let r = add_email(&old, &s, "/my/security-info", "sara@home.example").await;
    assert_eq!(location(&r), "/my/security-info?ok=email-sent");
    let code = code_in(&read_mail_dir(&received, "sara@home.example", 1).await);
    let r = confirm_email(&old, &s, "/my/security-info", &code).await;
    assert_eq!(location(&r), "/my/security-info?ok=email-added");
    // Reset.
    let c = client();
    start_reset(&c, &s, "sara").await;
    reset_step(&c, &s, "/reset/email", &[]).await;
    let code = code_in(&read_mail_dir(&received, "sara@home.example", 2).await);
    // The reset code read out of the received message verifies the reset.
    assert_eq!(verify_reset(&c, &s, &code).await.status(), 303);
    let r = choose_password(&c, &s, "velvet canyon parsnip orbit").await;
    assert_eq!(r.status(), 200);
    // The code is single-use: the same code in a new reset flow fails.
    let c2 = client();
    start_reset(&c2, &s, "sara").await;
    assert_eq!(verify_reset(&c2, &s, &code).await.status(), 401);
    // Sessions revoked; the notice went over SMTP to the profile address.
    assert_eq!(get(&old, &s, "/my").await.status(), 303);
    let notices = read_mail_dir(&received, "sara@example.com", 2).await;
    assert!(
        notices
            .iter()
            .any(|m| m.contains("Your password was reset"))
    );
    assert!(
        !s.data_dir().join("outbox").exists(),
        "nothing in the outbox with SMTP configured"
    );
    s.stop().await;
}
