//! Email codes as a second factor, registered on the security info page or in the setup
//! wizard.

use super::*;
use crate::mfa::{offer_totp, secret_and_pending};

fn mfa_page_sends(html: &str) -> bool {
    html.contains("action=\"/login/mfa/email\"")
}

#[tokio::test]
async fn an_emailed_code_is_a_second_factor_once() {
    let s = TestServer::start().await;
    let ella = s.user("ella", &[]).await;
    let c = signed_in(&s, "ella").await;
    // A wrong confirmation code registers nothing.
    let r = add_email(&c, &s, "/my/security-info", "ella.private@example.org").await;
    assert_eq!(r.status(), 303);
    let r = confirm_email(&c, &s, "/my/security-info", "00000000").await;
    assert!(location(&r).contains("err="));
    assert!(
        s.state
            .store
            .list_mfa_methods(ella.id)
            .await
            .unwrap()
            .is_empty()
    );
    // An address that is not one is refused before anything is sent.
    let r = add_email(&c, &s, "/my/security-info", "not-an-address").await;
    assert!(location(&r).contains("err="));
    register_email(&c, &s, "ella.private@example.org", 1).await;
    // The change was notified to the profile address.
    let notices = s.outbox("ella@example.com", 1).await;
    assert!(notices[0].contains("An email address for sign-in codes was added"));

    // Sign in again: the second-factor step offers the email code.
    let c = client();
    assert_eq!(login(&c, &s, "ella", PASSWORD).await.status(), 303);
    let html = page(&c, &s, "/login/continue").await;
    assert!(mfa_page_sends(&html), "{html}");
    let r = post_csrf(&c, &s, "/login/mfa/email", &csrf_of(&html), &[]).await;
    assert_eq!(r.status(), 303);
    let html = page(&c, &s, "/login/continue").await;
    assert!(
        html.contains("e•••@example.org"),
        "the page says where the code went"
    );
    assert!(
        !html.contains("ella.private@example.org"),
        "without disclosing the address"
    );
    let code = code_in_mail(&s, "ella.private@example.org", 2).await;
    // A wrong code is refused (and counted), the right one signs in.
    let wrong = if code == "12345678" {
        "87654321"
    } else {
        "12345678"
    };
    assert_eq!(submit_code(&c, &s, wrong).await.status(), 401);
    let r = submit_code(&c, &s, &code).await;
    assert_eq!(r.status(), 303);
    assert_eq!(me(&c, &s).await["amr"], json!(["pwd", "otp", "mfa"]));
    // The same code cannot sign in twice.
    let c2 = client();
    login(&c2, &s, "ella", PASSWORD).await;
    assert_eq!(submit_code(&c2, &s, &code).await.status(), 401);
    s.stop().await;
}

const SETUP: &str = "/my/security-info/setup";

#[tokio::test]
async fn the_setup_wizard_registers_sign_in_and_reset_methods_in_one_pass() {
    let s = TestServer::start().await;
    s.user("wiz", &[]).await;
    let c = signed_in(&s, "wiz").await;
    let html = page(&c, &s, SETUP).await;
    assert!(html.contains("Step 1 of 3: Authenticator app"), "{html}");
    // The authenticator app, confirmed through the usual handlers, returns to the wizard.
    let token = csrf_of(&html);
    let (secret, pending) = secret_and_pending(&offer_totp(&c, &s, &token).await);
    let code = oathtool(&secret, "now");
    let form = [("pending", pending.as_str()), ("code", code.as_str())];
    let r = post_csrf(&c, &s, "/my/security-info/totp/confirm", &token, &form).await;
    assert_eq!(location(&r), SETUP);
    let html = page(&c, &s, SETUP).await;
    assert!(html.contains("Step 2 of 3: Email address"), "{html}");
    // The email step, then recovery codes whose page leads back to the wizard.
    let r = add_email(&c, &s, SETUP, "wiz@home.example").await;
    assert_eq!(location(&r), SETUP);
    let code = code_in_mail(&s, "wiz@home.example", 1).await;
    let r = confirm_email(&c, &s, SETUP, &code).await;
    assert_eq!(location(&r), SETUP);
    let html = page(&c, &s, SETUP).await;
    assert!(html.contains("Step 3 of 3: Recovery codes"), "{html}");
    let r = post_form(&c, &s, SETUP, "/my/security-info/recovery-codes", &[]).await;
    let codes = r.text().await.unwrap();
    assert!(
        codes.contains("href=\"/my/security-info/setup\""),
        "back to the wizard"
    );
    let html = page(&c, &s, SETUP).await;
    assert!(html.contains("All set"), "{html}");
    let r = get(&c, &s, "/my/security-info/setup?finish=1").await;
    assert_eq!(location(&r), "/my/security-info?ok=setup");
    // Out of the wizard, changes return to the overview again.
    let r = add_email(&c, &s, "/my/security-info", "wiz2@home.example").await;
    assert_eq!(location(&r), "/my/security-info?ok=email-sent");
    // A step can be skipped.
    s.user("skipper", &[]).await;
    let c = signed_in(&s, "skipper").await;
    let html = page(&c, &s, "/my/security-info/setup?skip=1").await;
    assert!(html.contains("Step 2 of 3: Email address"), "{html}");
    s.stop().await;
}
