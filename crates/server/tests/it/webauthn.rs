//! Security keys and passkeys. The client is webauthn-rs's own software authenticator
//! (`webauthn-authenticator-rs`: a CTAP2 soft token with a vendor attestation certificate,
//! and a soft passkey with self attestation), an implementation independent of our server
//! code; it signs real challenges from the running server.

use crate::harness::*;
use serde_json::{Value, json};
use trustplane_core::audit::Actor;
use trustplane_core::mfa::policy::{MethodsPolicy, Targets};
use trustplane_store::{AuditQuery, SignInQuery};
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::softtoken::{AAGUID, SoftToken};
use webauthn_rs::prelude::{
    CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse,
};

/// The relying party origin of a test server (no public_url: http://localhost:PORT).
fn origin(s: &TestServer) -> Url {
    let port = s.base.rsplit(':').next().unwrap();
    Url::parse(&format!("http://localhost:{port}")).unwrap()
}

async fn post_json(
    c: &reqwest::Client,
    s: &TestServer,
    path: &str,
    csrf: &str,
    body: Value,
) -> reqwest::Response {
    c.post(s.url(path))
        .header("x-csrf-token", csrf)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Registers `authenticator` on the security info page; returns the answer response and the
/// registered credential id (base64url).
async fn register(
    c: &reqwest::Client,
    s: &TestServer,
    authenticator: &mut impl WebauthnAuthenticator,
    label: &str,
) -> (reqwest::Response, RegisterPublicKeyCredential) {
    let token = csrf(c, s, "/my/security-info").await;
    let r = post_json(
        c,
        s,
        "/my/security-info/webauthn/options",
        &token,
        json!({}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let o = json(r).await;
    let pk = &o["publicKey"];
    assert_eq!(pk["authenticatorSelection"]["residentKey"], "preferred");
    assert_eq!(pk["attestation"], "direct");
    let ccr: CreationChallengeResponse =
        serde_json::from_value(json!({ "publicKey": pk })).unwrap();
    let reg = authenticator.do_registration(origin(s), ccr).unwrap();
    let r = post_json(
        c,
        s,
        "/my/security-info/webauthn",
        &token,
        json!({ "ceremony": o["ceremony"], "label": label, "credential": reg }),
    )
    .await;
    (r, reg)
}

/// Signs `options` (the server's `publicKey`) with `authenticator`.
fn sign(
    s: &TestServer,
    authenticator: &mut impl WebauthnAuthenticator,
    pk: &Value,
) -> PublicKeyCredential {
    let rcr: RequestChallengeResponse = serde_json::from_value(json!({ "publicKey": pk })).unwrap();
    authenticator.do_authentication(origin(s), rcr).unwrap()
}

/// Password sign-in up to the second-factor step, then the security key.
async fn second_factor(
    s: &TestServer,
    user: &str,
    authenticator: &mut impl WebauthnAuthenticator,
) -> (reqwest::Client, reqwest::Response) {
    let c = client();
    let r = login(&c, s, user, PASSWORD).await;
    assert_eq!(r.headers()["location"], "/login/continue");
    let html = c
        .get(s.url("/login/continue"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Use your security key or passkey"), "{html}");
    let token = csrf_of(&html);
    let r = post_json(&c, s, "/login/webauthn/options", &token, json!({})).await;
    assert_eq!(r.status(), 200);
    let o = json(r).await;
    let answer = sign(s, authenticator, &o["publicKey"]);
    let r = post_json(
        &c,
        s,
        "/login/webauthn",
        &token,
        json!({ "ceremony": o["ceremony"], "credential": answer }),
    )
    .await;
    (c, r)
}

fn soft_token() -> SoftToken {
    // `true`: the token reports user verification (as a key with a PIN would).
    SoftToken::new(true).unwrap().0
}

#[tokio::test]
async fn register_a_security_key_and_use_it_as_second_factor() {
    let s = TestServer::start().await;
    let alice = s.user("alice", &[]).await;
    let c = signed_in(&s, "alice").await;
    let mut key = soft_token();
    let (r, _) = register(&c, &s, &mut key, "Blue key").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        json(r).await["redirect"],
        "/my/security-info?ok=webauthn_added"
    );
    let html = c
        .get(s.url("/my/security-info?ok=webauthn_added"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Security key (device-bound)"));
    assert!(html.contains("Blue key"));
    assert!(html.contains(&AAGUID.to_string()));
    // Stored with what the authenticator proved.
    let keys = s
        .state
        .store
        .list_webauthn_credentials(alice.id)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].aaguid, Some(AAGUID));
    assert!(keys[0].attested && keys[0].user_verified && !keys[0].backup_eligible);
    assert_eq!(keys[0].attestation_format, "packed");
    // The user is told by email.
    let mail = s.outbox("alice@example.com", 1).await;
    assert!(mail.iter().any(|m| m.contains("A security key was added")));

    // The next sign-in asks for it; amr: password, hardware key, user verified, MFA.
    let (b, r) = second_factor(&s, "alice", &mut key).await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["redirect"], "/my");
    let me: Value = json(b.get(s.url("/api/v1/me")).send().await.unwrap()).await;
    assert_eq!(me["amr"], json!(["pwd", "hwk", "user", "mfa"]));
    let used = s
        .state
        .store
        .list_webauthn_credentials(alice.id)
        .await
        .unwrap();
    assert!(used[0].sign_count > 0);
    assert!(used[0].last_used_at.is_some());
    // And again (the counter moves forward).
    let (_, r) = second_factor(&s, "alice", &mut key).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_cloned_key_whose_counter_goes_back_is_refused_and_audited() {
    let s = TestServer::start().await;
    let bob = s.user("bob", &[]).await;
    let c = signed_in(&s, "bob").await;
    let mut key = soft_token();
    let (r, _) = register(&c, &s, &mut key, "").await;
    assert_eq!(r.status(), 200);
    // A byte-for-byte copy of the authenticator (same private key, same counter).
    let mut clone = SoftToken::from_cbor(&key.to_cbor().unwrap()).unwrap();
    let (_, r) = second_factor(&s, "bob", &mut key).await;
    assert_eq!(r.status(), 200, "the original works");
    let (_, r) = second_factor(&s, "bob", &mut clone).await;
    assert_eq!(r.status(), 401, "the clone's counter did not move forward");
    assert!(
        json(r).await["message"]
            .as_str()
            .unwrap()
            .contains("copied")
    );
    let audit = s
        .state
        .store
        .list_audit(&AuditQuery {
            action: Some("mfa.webauthn.counter_regression".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(
        audit[0].target_id.as_deref(),
        Some(bob.id.to_string().as_str())
    );
    let log = s
        .state
        .store
        .list_sign_ins(&SignInQuery {
            failure_reason: Some("webauthn_counter_regression".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(log.len(), 1);
}

/// A username-less assertion: the soft token keeps no resident keys, so the test client
/// names the credential in the request and returns the user handle, as a passkey would.
async fn passkey_sign_in(
    s: &TestServer,
    key: &mut SoftToken,
    cred: &RegisterPublicKeyCredential,
    user_handle: uuid::Uuid,
) -> (reqwest::Client, reqwest::Response) {
    let c = client();
    let token = csrf(&c, s, "/login").await;
    let r = post_json(&c, s, "/login/passkey/options", &token, json!({})).await;
    assert_eq!(r.status(), 200);
    let o = json(r).await;
    let mut pk = o["publicKey"].clone();
    assert_eq!(pk["userVerification"], "required");
    assert!(
        pk["allowCredentials"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "username-less: no credentials named"
    );
    pk["allowCredentials"] = json!([{ "type": "public-key", "id": cred.id }]);
    let mut answer = sign(s, key, &pk);
    answer.response.user_handle = Some(user_handle.as_bytes().to_vec());
    let r = post_json(
        &c,
        s,
        "/login/passkey",
        &token,
        json!({ "ceremony": o["ceremony"], "credential": answer, "next": "/my" }),
    )
    .await;
    (c, r)
}

#[tokio::test]
async fn passwordless_sign_in_with_a_passkey() {
    let s = TestServer::start().await;
    let carol = s.user("carol", &[]).await;
    let c = signed_in(&s, "carol").await;
    let mut key = soft_token();
    let (r, cred) = register(&c, &s, &mut key, "Laptop").await;
    assert_eq!(r.status(), 200);

    let (b, r) = passkey_sign_in(&s, &mut key, &cred, carol.id).await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["redirect"], "/my");
    let me: Value = json(b.get(s.url("/api/v1/me")).send().await.unwrap()).await;
    assert_eq!(me["amr"], json!(["hwk", "user", "mfa"]));
    let log = s
        .state
        .store
        .list_sign_ins(&SignInQuery {
            user_id: Some(carol.id),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
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
    assert_eq!(
        b.get(s.url("/api/v1/me")).send().await.unwrap().status(),
        401
    );
    // A ceremony id that was never issued.
    let c2 = client();
    let token = csrf(&c2, &s, "/login").await;
    let r = post_json(
        &c2,
        &s,
        "/login/passkey",
        &token,
        json!({ "ceremony": "nope", "credential": {} }),
    )
    .await;
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

async fn set_policy(s: &TestServer, f: impl FnOnce(&mut MethodsPolicy)) {
    let mut p = MethodsPolicy::default();
    f(&mut p);
    s.ops()
        .set_methods_policy(&Actor::system(), &p)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_policy_refuses_unattested_or_unlisted_authenticators() {
    let s = TestServer::start().await;
    let dan = s.user("dan", &[]).await;
    let c = signed_in(&s, "dan").await;
    // An allow-list without the soft token's model.
    set_policy(&s, |p| {
        p.webauthn.allowed_aaguids = vec![uuid::Uuid::from_u128(
            0xcb69481e_8ff7_4039_93ec_0a2729a154a8,
        )]
    })
    .await;
    let (r, _) = register(&c, &s, &mut soft_token(), "").await;
    assert_eq!(r.status(), 403);
    let body = json(r).await;
    assert_eq!(body["error"], "aaguid_not_allowed");
    assert!(body["message"].as_str().unwrap().contains("model"));
    // Attestation required: a self-attested passkey is refused, an attested key accepted.
    set_policy(&s, |p| p.webauthn.require_attestation = true).await;
    let (r, _) = register(&c, &s, &mut SoftPasskey::new(true), "").await;
    assert_eq!(r.status(), 403);
    assert_eq!(json(r).await["error"], "attestation_required");
    assert!(
        s.state
            .store
            .list_webauthn_credentials(dan.id)
            .await
            .unwrap()
            .is_empty(),
        "nothing stored"
    );
    let (r, _) = register(&c, &s, &mut soft_token(), "").await;
    assert_eq!(r.status(), 200);
    // Not allowed at all for the user.
    set_policy(&s, |p| p.webauthn.users = Targets::None).await;
    let token = csrf(&c, &s, "/my/security-info").await;
    let r = post_json(
        &c,
        &s,
        "/my/security-info/webauthn/options",
        &token,
        json!({}),
    )
    .await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn keys_are_listed_for_admins_renamed_and_removed_under_the_method_rules() {
    let s = TestServer::start().await;
    let erin = s.user("erin", &[]).await;
    let c = signed_in(&s, "erin").await;
    let (r, _) = register(&c, &s, &mut soft_token(), "Old name").await;
    assert_eq!(r.status(), 200);
    let key = &s
        .state
        .store
        .list_webauthn_credentials(erin.id)
        .await
        .unwrap()[0];

    // The admin API shows model and binding.
    let (_, api_token) = s
        .ops()
        .create_token(
            &Actor::system(),
            "t",
            trustplane_core::identity::Role::GlobalAdministrator,
            time::Duration::hours(1),
        )
        .await
        .unwrap();
    let list: Value = json(
        client()
            .get(s.url(&format!("/api/v1/users/{}/methods", erin.id)))
            .bearer_auth(&api_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list["methods"][0]["kind"], "security_key");
    assert_eq!(list["methods"][0]["webauthn"]["aaguid"], AAGUID.to_string());
    assert_eq!(list["methods"][0]["webauthn"]["binding"], "device-bound");

    // Rename.
    let token = csrf(&c, &s, "/my/security-info").await;
    let r = c
        .post(s.url(&format!("/my/security-info/webauthn/{}/rename", key.id)))
        .form(&[("csrf_token", token.as_str()), ("label", "  Yellow key ")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = c
        .get(s.url("/my/security-info"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Yellow key") && !page.contains("Old name"));

    // The only method cannot be removed while MFA is required.
    set_policy(&s, |p| p.require_mfa = Targets::All).await;
    let r = c
        .post(s.url(&format!("/my/security-info/{}/remove", key.id)))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .contains("only%20second%20factor")
            || r.headers()["location"]
                .to_str()
                .unwrap()
                .contains("only+second+factor")
    );
    assert_eq!(
        s.state
            .store
            .list_webauthn_credentials(erin.id)
            .await
            .unwrap()
            .len(),
        1
    );
    // An administrator can (lost key), through the method removal API.
    let r = client()
        .delete(s.url(&format!("/api/v1/users/{}/methods/{}", erin.id, key.id)))
        .bearer_auth(&api_token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert!(
        s.state
            .store
            .list_webauthn_credentials(erin.id)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Starts a self-service reset for `username` in a fresh browser; returns the client and the
/// CSRF token of the verification page (which offers a passkey either way).
async fn start_reset(s: &TestServer, username: &str) -> (reqwest::Client, String) {
    let c = client();
    let token = csrf(&c, s, "/reset").await;
    let r = c
        .post(s.url("/reset"))
        .form(&[("csrf_token", token.as_str()), ("username", username)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/reset/verify");
    let html = c
        .get(s.url("/reset/verify"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
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
    let r = post_json(c, s, "/reset/passkey/options", token, json!({})).await;
    assert_eq!(r.status(), 200);
    let o = json(r).await;
    let mut pk = o["publicKey"].clone();
    assert_eq!(pk["userVerification"], "required");
    let options = pk.clone();
    pk["allowCredentials"] = json!([{ "type": "public-key", "id": cred.id }]);
    let mut answer = sign(s, key, &pk);
    answer.response.user_handle = Some(user_handle.as_bytes().to_vec());
    let r = post_json(
        c,
        s,
        "/reset/passkey",
        token,
        json!({ "ceremony": o["ceremony"], "credential": answer }),
    )
    .await;
    (options, r)
}

async fn refusals(s: &TestServer) -> Vec<trustplane_core::audit::AuditEntry> {
    s.state
        .store
        .list_audit(&AuditQuery {
            action: Some("user.password.reset.refused".into()),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_passkey_verifies_a_self_service_reset_and_refusals_are_audited() {
    let s = TestServer::start().await;
    let erin = s.user("erin", &[]).await;
    let frank = s.user("frank", &[]).await;
    let c = signed_in(&s, "erin").await;
    let mut key = soft_token();
    let (r, cred) = register(&c, &s, &mut key, "Phone").await;
    assert_eq!(r.status(), 200);

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
    let after: Value = serde_json::from_str(audit[0].after.as_deref().unwrap()).unwrap();
    assert_eq!(after["username"], "nobody");
    assert_eq!(after["reason"], "account_unknown_or_not_allowed");

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
    let after: Value = serde_json::from_str(audit[0].after.as_deref().unwrap()).unwrap();
    assert_eq!(after["reason"], "passkey_not_of_account");

    // A wrong code in Erin's own flow is refused and audited too; her passkey then verifies.
    let (ec, et) = start_reset(&s, "erin").await;
    let r = ec
        .post(s.url("/reset/verify"))
        .form(&[("csrf_token", et.as_str()), ("code", "123456")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let audit = refusals(&s).await;
    assert_eq!(audit.len(), 3);
    let after: Value = serde_json::from_str(audit[0].after.as_deref().unwrap()).unwrap();
    assert_eq!(after["reason"], "totp_wrong");
    assert_eq!(
        audit[0].target_id.as_deref(),
        Some(erin.id.to_string().as_str())
    );
    let (_, r) = reset_with_passkey(&s, &ec, &et, &mut key, &cred, erin.id).await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["redirect"], "/reset/verify");
    let html = ec
        .get(s.url("/reset/verify"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Choose a new password"), "{html}");
    let t = csrf_of(&html);
    let r = ec
        .post(s.url("/reset/password"))
        .form(&[
            ("csrf_token", t.as_str()),
            ("new_password", "quartz-Meadow-bicycle-47"),
            ("confirm_password", "quartz-Meadow-bicycle-47"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let done = s
        .state
        .store
        .list_audit(&AuditQuery {
            action: Some("user.password.reset".into()),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    let after: Value = serde_json::from_str(done[0].after.as_deref().unwrap()).unwrap();
    assert_eq!(after["verified_with"], json!(["passkey"]));
    // The old session is gone; the new password works.
    assert_eq!(
        c.get(s.url("/api/v1/me")).send().await.unwrap().status(),
        401
    );
    let r = login(&client(), &s, "erin", "quartz-Meadow-bicycle-47").await;
    assert_eq!(
        r.headers()["location"],
        "/login/continue",
        "the password is accepted; her passkey is asked for next"
    );
    s.stop().await;
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
    let lena = s.user("lena", &[]).await;
    let c = signed_in(&s, "lena").await;
    let mut key = soft_token();
    let (r, cred) = register(&c, &s, &mut key, "Laptop").await;
    assert_eq!(r.status(), 200);
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
    assert_eq!(
        b.get(s.url("/api/v1/me")).send().await.unwrap().status(),
        200
    );
    s.stop().await;
}
