//! Security keys and passkeys. The client is webauthn-rs's own software authenticator
//! (`webauthn-authenticator-rs`: a CTAP2 soft token with a vendor attestation certificate,
//! and a soft passkey with self attestation), an implementation independent of our server
//! code; it signs real challenges from the running server. This module holds the helpers;
//! the tests are in the submodules.

mod keys;
mod passkeys;
mod reset;

use crate::harness::*;
use serde_json::{Value, json};
use trustplane_core::audit::Actor;
use trustplane_core::mfa::policy::MethodsPolicy;
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softtoken::SoftToken;
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

/// Asks `path` for a ceremony's options (status 200); returns them.
async fn options(c: &reqwest::Client, s: &TestServer, path: &str, csrf: &str) -> Value {
    let r = post_json(c, s, path, csrf, json!({})).await;
    assert_eq!(r.status(), 200);
    json(r).await
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
    let o = options(c, s, "/my/security-info/webauthn/options", &token).await;
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

/// Signs the username-less challenge `pk` with `key`, naming its credential `cred` (the soft
/// token keeps no resident keys) and returning `user_handle` as a passkey would.
fn sign_as_passkey(
    s: &TestServer,
    key: &mut SoftToken,
    cred: &RegisterPublicKeyCredential,
    pk: &Value,
    user_handle: uuid::Uuid,
) -> PublicKeyCredential {
    let mut pk = pk.clone();
    pk["allowCredentials"] = json!([{ "type": "public-key", "id": cred.id }]);
    let mut answer = sign(s, key, &pk);
    answer.response.user_handle = Some(user_handle.as_bytes().to_vec());
    answer
}

fn soft_token() -> SoftToken {
    // `true`: the token reports user verification (as a key with a PIN would).
    SoftToken::new(true).unwrap().0
}

/// A user who registered a soft token as a security key: the user, the browser the key was
/// registered in (signed in), the token, its credential and the server's answer to the
/// registration.
type WithKey = (
    trustplane_core::identity::User,
    reqwest::Client,
    SoftToken,
    RegisterPublicKeyCredential,
    Value,
);

/// Creates `name`, who signs in and registers a soft token labelled `label`.
async fn with_a_key(s: &TestServer, name: &str, label: &str) -> WithKey {
    let user = s.user(name, &[]).await;
    let browser = signed_in(s, name).await;
    let mut key = soft_token();
    let (r, cred) = register(&browser, s, &mut key, label).await;
    assert_eq!(r.status(), 200);
    let answer = json(r).await;
    (user, browser, key, cred, answer)
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
    let o = options(&c, s, "/login/passkey/options", &token).await;
    let pk = &o["publicKey"];
    assert_eq!(pk["userVerification"], "required");
    assert!(
        pk["allowCredentials"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "username-less: no credentials named"
    );
    let answer = sign_as_passkey(s, key, cred, pk, user_handle);
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

async fn set_policy(s: &TestServer, f: impl FnOnce(&mut MethodsPolicy)) {
    let mut p = MethodsPolicy::default();
    f(&mut p);
    s.ops()
        .set_methods_policy(&Actor::system(), &p)
        .await
        .unwrap();
}
