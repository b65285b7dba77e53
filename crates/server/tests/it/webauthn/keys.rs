//! Security keys as a second factor: registration, sign-in, cloned keys, the policy's
//! attestation and model rules, listing, renaming and removal.

use super::*;
use trustplane_core::mfa::policy::Targets;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::softtoken::AAGUID;

/// Password sign-in up to the second-factor step, then the security key.
async fn second_factor(
    s: &TestServer,
    user: &str,
    authenticator: &mut impl WebauthnAuthenticator,
) -> (reqwest::Client, reqwest::Response) {
    let c = client();
    let r = login(&c, s, user, PASSWORD).await;
    assert_eq!(location(&r), "/login/continue");
    let html = page(&c, s, "/login/continue").await;
    assert!(html.contains("Use your security key or passkey"), "{html}");
    let token = csrf_of(&html);
    let o = options(&c, s, "/login/webauthn/options", &token).await;
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

/// The security keys and passkeys of `user`.
async fn credentials(
    s: &TestServer,
    user: uuid::Uuid,
) -> Vec<trustplane_core::mfa::webauthn::WebauthnCredential> {
    s.state.store.list_webauthn_credentials(user).await.unwrap()
}

#[tokio::test]
async fn register_a_security_key_and_use_it_as_second_factor() {
    let s = TestServer::start().await;
    let (alice, c, mut key, _, answer) = with_a_key(&s, "alice", "Blue key").await;
    assert_eq!(answer["redirect"], "/my/security-info?ok=webauthn_added");
    let html = page(&c, &s, "/my/security-info?ok=webauthn_added").await;
    assert!(html.contains("Security key (device-bound)"));
    assert!(html.contains("Blue key"));
    assert!(html.contains(&AAGUID.to_string()));
    // Stored with what the authenticator proved.
    let keys = credentials(&s, alice.id).await;
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
    assert_eq!(
        me(&b, &s).await["amr"],
        json!(["pwd", "hwk", "user", "mfa"])
    );
    let used = credentials(&s, alice.id).await;
    assert!(used[0].sign_count > 0);
    assert!(used[0].last_used_at.is_some());
    // And again (the counter moves forward).
    let (_, r) = second_factor(&s, "alice", &mut key).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_cloned_key_whose_counter_goes_back_is_refused_and_audited() {
    let s = TestServer::start().await;
    let (bob, _, mut key, _, _) = with_a_key(&s, "bob", "").await;
    // A byte-for-byte copy of the authenticator (same private key, same counter).
    let mut clone = SoftToken::from_cbor(&key.to_cbor().unwrap()).unwrap();
    let (_, r) = second_factor(&s, "bob", &mut key).await;
    assert_eq!(r.status(), 200, "the original works");
    let (_, r) = second_factor(&s, "bob", &mut clone).await;
    assert_eq!(r.status(), 401, "the clone's counter did not move forward");
    let message = json(r).await["message"].as_str().unwrap().to_string();
    assert!(message.contains("copied"));
    let entries = audit(&s, "mfa.webauthn.counter_regression").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0].target_id.as_deref(),
        Some(bob.id.to_string().as_str())
    );
    let log = s
        .state
        .store
        .list_sign_ins(&trustplane_store::SignInQuery {
            failure_reason: Some("webauthn_counter_regression".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(log.len(), 1);
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
    assert!(credentials(&s, dan.id).await.is_empty(), "nothing stored");
    let (r, _) = register(&c, &s, &mut soft_token(), "").await;
    assert_eq!(r.status(), 200);
    // Not allowed at all for the user.
    set_policy(&s, |p| p.webauthn.users = Targets::None).await;
    let token = csrf(&c, &s, "/my/security-info").await;
    let path = "/my/security-info/webauthn/options";
    let r = post_json(&c, &s, path, &token, json!({})).await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn keys_are_listed_for_admins_renamed_and_removed_under_the_method_rules() {
    let s = TestServer::start().await;
    let (erin, c, _, _, _) = with_a_key(&s, "erin", "Old name").await;
    let key = &credentials(&s, erin.id).await[0];

    // The admin API shows model and binding.
    let api = admin_api(&s, trustplane_core::identity::Role::GlobalAdministrator).await;
    let list = api
        .value(&format!("/api/v1/users/{}/methods", erin.id))
        .await;
    assert_eq!(list["methods"][0]["kind"], "security_key");
    assert_eq!(list["methods"][0]["webauthn"]["aaguid"], AAGUID.to_string());
    assert_eq!(list["methods"][0]["webauthn"]["binding"], "device-bound");

    // Rename.
    let token = csrf(&c, &s, "/my/security-info").await;
    let rename = format!("/my/security-info/webauthn/{}/rename", key.id);
    let r = post_csrf(&c, &s, &rename, &token, &[("label", "  Yellow key ")]).await;
    assert_eq!(r.status(), 303);
    let html = page(&c, &s, "/my/security-info").await;
    assert!(html.contains("Yellow key") && !html.contains("Old name"));

    // The only method cannot be removed while MFA is required.
    set_policy(&s, |p| p.require_mfa = Targets::All).await;
    let remove = format!("/my/security-info/{}/remove", key.id);
    let r = post_csrf(&c, &s, &remove, &token, &[]).await;
    assert_eq!(r.status(), 303);
    let back = location(&r);
    assert!(back.contains("only%20second%20factor") || back.contains("only+second+factor"));
    assert_eq!(credentials(&s, erin.id).await.len(), 1);
    // An administrator can (lost key), through the method removal API.
    let r = api
        .delete(&format!("/api/v1/users/{}/methods/{}", erin.id, key.id))
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    assert!(credentials(&s, erin.id).await.is_empty());
}
