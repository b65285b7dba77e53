//! The OpenID Connect provider over HTTP: code + PKCE, refresh rotation, client
//! credentials, device grant, introspection, revocation, logout, bad input; and a real
//! relying party written by others (npm `openid-client`). This module holds what the
//! relying party's side of the tests shares; the tests are in the submodules.

mod access_tokens;
mod code_flow;
mod device;
mod logout;
mod refresh;
mod registration;

use crate::harness::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Client;
use serde_json::Value;
use sha2::{Digest, Sha256};
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_server::enforce::oidc::clients::{self, NewClient};
use trustplane_store::Application;

const RP: &str = "http://127.0.0.1:9/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn challenge(v: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes()))
}

pub(crate) struct Rp {
    pub(crate) id: String,
    pub(crate) secret: Option<String>,
}

async fn app(s: &TestServer, id: &str) {
    s.state
        .store
        .create_application(
            &Application {
                id: id.into(),
                name: id.into(),
                allowed_hosts: vec![],
                sensitivity_label: None,
                created_at: time::OffsetDateTime::now_utc(),
            },
            AuditDraft::new(&Actor::system(), "application.create", "application", None),
        )
        .await
        .unwrap();
}

pub(crate) async fn register(s: &TestServer, public: bool, grants: &[&str]) -> Rp {
    if s.state
        .store
        .get_application("crm")
        .await
        .unwrap()
        .is_none()
    {
        app(s, "crm").await;
    }
    let (c, secret) = clients::create(
        s.state.store.as_ref(),
        &Actor::system(),
        NewClient {
            name: "CRM".into(),
            app_id: "crm".into(),
            public,
            redirect_uris: vec![RP.into(), "https://rp.example.com/cb?x=1".into()],
            post_logout_redirect_uris: vec!["https://rp.example.com/bye".into()],
            scopes: Some(
                ["openid", "profile", "email", "offline_access", "api.read"]
                    .map(String::from)
                    .to_vec(),
            ),
            grant_types: Some(grants.iter().map(|g| g.to_string()).collect()),
            groups_claim: true,
            ..NewClient::default()
        },
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    Rp { id: c.id, secret }
}

pub(crate) const CODE_GRANTS: [&str; 2] = ["authorization_code", "refresh_token"];

/// A server with alice signed in (the browser is returned) and the CRM registered for the
/// code flow as a `public` or confidential client.
pub(crate) async fn alice_and_the_crm(
    public: bool,
) -> (TestServer, trustplane_core::identity::User, Rp, Client) {
    let s = TestServer::start().await;
    let alice = s.user("alice", &[]).await;
    let rp = register(&s, public, &CODE_GRANTS).await;
    let c = signed_in(&s, "alice").await;
    (s, alice, rp, c)
}

fn auth_query(rp: &Rp, extra: &[(&str, &str)]) -> String {
    let ch = challenge(VERIFIER);
    let mut q = vec![
        ("response_type", "code"),
        ("client_id", rp.id.as_str()),
        ("redirect_uri", RP),
        ("scope", "openid profile email offline_access"),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge", ch.as_str()),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        q.retain(|(qk, _)| qk != k);
        if !v.is_empty() {
            q.push((k, v));
        }
    }
    serde_urlencoded::to_string(q).unwrap()
}

/// The browser `c` asks to authorize `rp` (the usual request, changed by `extra`).
async fn authorize(
    c: &Client,
    s: &TestServer,
    rp: &Rp,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    get(
        c,
        s,
        &format!("/oauth2/authorize?{}", auth_query(rp, extra)),
    )
    .await
}

fn query_of(loc: &str) -> std::collections::HashMap<String, String> {
    let u = url::Url::parse(loc).unwrap();
    u.query_pairs().into_owned().collect()
}

/// The query of a site-relative redirect such as `/login?next=…`.
fn path_query_of(loc: &str) -> std::collections::HashMap<String, String> {
    query_of(&format!("http://x{loc}"))
}

/// Authorizes with a signed-in client and returns the code.
pub(crate) async fn code_for(
    s: &TestServer,
    c: &Client,
    rp: &Rp,
    extra: &[(&str, &str)],
) -> String {
    let r = authorize(c, s, rp, extra).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let loc = location(&r);
    assert!(loc.starts_with(RP), "{loc}");
    let q = query_of(&loc);
    assert_eq!(q.get("state").map(String::as_str), Some("st-1"));
    q.get("code")
        .cloned()
        .unwrap_or_else(|| panic!("no code in {loc}"))
}

pub(crate) async fn token(s: &TestServer, rp: &Rp, form: &[(&str, &str)]) -> reqwest::Response {
    let mut req = client().post(s.url("/oauth2/token"));
    let mut form: Vec<(&str, &str)> = form.to_vec();
    match &rp.secret {
        Some(secret) => req = req.basic_auth(&rp.id, Some(secret)),
        None => form.push(("client_id", &rp.id)),
    }
    req.form(&form).send().await.unwrap()
}

/// Redeems `code` at the token endpoint with `redirect_uri` and, if given, the verifier.
async fn redeem(
    s: &TestServer,
    rp: &Rp,
    code: &str,
    redirect_uri: &str,
    verifier: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ];
    form.extend(verifier.map(|v| ("code_verifier", v)));
    token(s, rp, &form).await
}

pub(crate) async fn exchange(s: &TestServer, rp: &Rp, code: &str) -> Value {
    let r = redeem(s, rp, code, RP, Some(VERIFIER)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    json(r).await
}

/// The tokens the browser `c` gets for `rp` through the code flow.
async fn tokens_for(s: &TestServer, c: &Client, rp: &Rp) -> Value {
    exchange(s, rp, &code_for(s, c, rp, &[]).await).await
}

/// The refresh grant with `refresh_token`.
async fn use_refresh(s: &TestServer, rp: &Rp, refresh_token: &str) -> reqwest::Response {
    token(
        s,
        rp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

/// The `error` of a refused token request.
async fn error_of(r: reqwest::Response) -> Value {
    json(r).await["error"].clone()
}

async fn jwks(s: &TestServer) -> Value {
    json(get(&client(), s, "/.well-known/jwks.json").await).await
}

async fn jwks_key(s: &TestServer, kid: &str) -> jsonwebtoken::DecodingKey {
    let jwks = jwks(s).await;
    let k = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap()
        .clone();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(k).unwrap();
    jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap()
}

async fn verify_id_token(s: &TestServer, id_token: &str, aud: &str) -> Value {
    let h = jsonwebtoken::decode_header(id_token).unwrap();
    assert!(matches!(
        h.alg,
        jsonwebtoken::Algorithm::ES256 | jsonwebtoken::Algorithm::RS256
    ));
    let key = jwks_key(s, h.kid.as_deref().unwrap()).await;
    let mut v = jsonwebtoken::Validation::new(h.alg);
    v.set_audience(&[aud]);
    v.set_issuer(&[s.base.as_str()]);
    jsonwebtoken::decode::<Value>(id_token, &key, &v)
        .unwrap()
        .claims
}

async fn userinfo(s: &TestServer, at: &str) -> reqwest::Response {
    client()
        .get(s.url("/oauth2/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
}

/// The status userinfo answers for the access token in `t`.
async fn userinfo_status(s: &TestServer, t: &Value) -> u16 {
    userinfo(s, t["access_token"].as_str().unwrap())
        .await
        .status()
        .as_u16()
}

pub(crate) async fn introspect(s: &TestServer, rp: &Rp, tok: &str) -> Value {
    let r = client()
        .post(s.url("/oauth2/introspect"))
        .basic_auth(&rp.id, rp.secret.as_deref())
        .form(&[("token", tok)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    json(r).await
}

pub(crate) async fn revoke(s: &TestServer, rp: &Rp, tok: &str) -> reqwest::Response {
    client()
        .post(s.url("/oauth2/revoke"))
        .basic_auth(&rp.id, rp.secret.as_deref())
        .form(&[("token", tok)])
        .send()
        .await
        .unwrap()
}

/// Puts a conditional access policy set (the first version) with an administrator's token.
async fn put_policies(s: &TestServer, doc: &Value) {
    let admin = admin_api(s, trustplane_core::identity::Role::SecurityAdministrator).await;
    let r = admin
        .put("/api/v1/conditional-access?based_on=0&comment=oidc", doc)
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}
