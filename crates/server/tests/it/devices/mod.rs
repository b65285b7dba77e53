//! Device trust through the real server: a device registers with the device authorization
//! grant (approved by its user), gets a certificate from the device CA (checked with
//! `openssl verify`), reports posture with signed proofs (replays, foreign keys and other
//! bodies refused), and forward-auth knows it from the certificate fingerprint the proxy
//! passes: a policy that requires a registered device lets it in, and disabling it shuts it
//! out at once. This module holds the helpers (the nginx test uses some); the tests are in
//! the submodules.

mod compliance;
mod forward_auth;
mod pages;
mod registration;

use crate::harness::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use sha2::Digest;
use trustplane_core::identity::Role;

const FP_HEADER: &str = "x-client-cert-fingerprint";
/// The header `docs/proxy/nginx-devices.conf` passes the certificate in.
pub const FP_HEADER_NGINX: &str = "x-client-cert";

pub struct Agent {
    pub key: rcgen::KeyPair,
    pub id: String,
    pub certificate_pem: String,
    pub ca_pem: String,
}

fn csr(key: &rcgen::KeyPair) -> String {
    rcgen::CertificateParams::new(vec!["laptop.corp".to_string()])
        .unwrap()
        .serialize_request(key)
        .unwrap()
        .pem()
        .unwrap()
}

fn fingerprint(cert_pem: &str) -> String {
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).unwrap();
    hex::encode(sha2::Sha256::digest(&pem.contents))
}

/// A Device-Proof for `method url body`, signed with `key` for device `kid`.
fn proof(key: &rcgen::KeyPair, kid: &str, method: &str, url: &str, body: &[u8]) -> String {
    trustplane_server::platform::jose::install();
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    h.typ = Some("trustplane-device-proof+jwt".into());
    h.kid = Some(kid.into());
    let mut claims = json!({
        "htm": method, "htu": url,
        "iat": time::OffsetDateTime::now_utc().unix_timestamp(),
        "jti": URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>()),
    });
    if !body.is_empty() {
        claims["bh"] = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(body)).into();
    }
    let k = jsonwebtoken::EncodingKey::from_ec_der(&key.serialize_der());
    jsonwebtoken::encode(&h, &claims, &k).unwrap()
}

/// `user` signs in and approves the agent's registration code, as in a browser.
pub async fn approve_registration(s: &TestServer, user: &str, user_code: &str) {
    let c = signed_in(s, user).await;
    let html = page(&c, s, &format!("/device?user_code={user_code}")).await;
    assert!(html.contains("trustplane agent"), "{html}");
    let form = [("user_code", user_code), ("action", "approve")];
    let r = post_csrf(&c, s, "/device", &csrf_of(&html), &form).await;
    assert!(r.text().await.unwrap().contains("Approved"));
}

/// A POST of `form` to `path` as the agent's public client.
async fn as_agent(s: &TestServer, path: &str, form: &[(&str, &str)]) -> serde_json::Value {
    let r = client().post(s.url(path)).form(form).send().await.unwrap();
    json(r).await
}

async fn registration_token(s: &TestServer, user: &str) -> String {
    let d = as_agent(
        s,
        "/oauth2/device_authorization",
        &[
            ("client_id", "trustplane-agent"),
            ("scope", "device.register"),
        ],
    )
    .await;
    approve_registration(s, user, d["user_code"].as_str().unwrap()).await;
    let t = as_agent(
        s,
        "/oauth2/token",
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", d["device_code"].as_str().unwrap()),
            ("client_id", "trustplane-agent"),
        ],
    )
    .await;
    t["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{t}"))
        .to_string()
}

/// A device of `user`, registered through the device grant.
pub async fn register_device(s: &TestServer, user: &str) -> Agent {
    let token = registration_token(s, user).await;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let body = json!({
        "csr_pem": csr(&key), "display_name": "Ada's laptop", "platform": "linux",
        "os_version": "12.4", "hostname": "laptop.corp",
    });
    let r = Api::new(s, &token)
        .post("/api/v1/devices/register", &body)
        .await;
    assert_eq!(r.status(), 201);
    let v = json(r).await;
    Agent {
        key,
        id: v["device_id"].as_str().unwrap().into(),
        certificate_pem: v["certificate_pem"].as_str().unwrap().into(),
        ca_pem: v["ca_pem"].as_str().unwrap().into(),
    }
}

/// A posture report of device `a`, signed with its key.
async fn report(s: &TestServer, a: &Agent, body: &serde_json::Value) -> reqwest::Response {
    let path = format!("/api/v1/devices/{}/reports", a.id);
    let bytes = serde_json::to_vec(body).unwrap();
    client()
        .post(s.url(&path))
        .header(
            "device-proof",
            proof(&a.key, &a.id, "POST", &s.url(&path), &bytes),
        )
        .header("content-type", "application/json")
        .body(bytes)
        .send()
        .await
        .unwrap()
}

/// The compliance verdict of a report of device `a`.
async fn judged(s: &TestServer, a: &Agent, body: &serde_json::Value) -> serde_json::Value {
    json(report(s, a, body).await).await["compliance"].clone()
}

/// The browser `c` asks forward-auth for `/page` of `wiki.test`, the proxy passing the
/// certificate fingerprint `fp` (empty: none).
async fn wiki_check(c: &reqwest::Client, s: &TestServer, fp: &str) -> reqwest::Response {
    c.get(s.url("/forward-auth"))
        .header("x-forwarded-host", "wiki.test")
        .header("x-forwarded-uri", "/page")
        .header("x-forwarded-method", "GET")
        .header(FP_HEADER, fp)
        .send()
        .await
        .unwrap()
}

/// A test server whose proxies pass the client certificate fingerprint in `FP_HEADER`, and a
/// security administrator of it.
async fn server_with_certificates(
    database_url: Option<String>,
    clock: Option<std::sync::Arc<trustplane_server::platform::clock::ManualClock>>,
) -> (TestServer, Api) {
    let s = TestServer::with(Options {
        database_url,
        configure: Some(|c| c.client_cert_header = Some(FP_HEADER.into())),
        clock,
        ..Default::default()
    })
    .await;
    let api = admin_api(&s, Role::SecurityAdministrator).await;
    (s, api)
}

/// Puts the device compliance policies `doc`, which must succeed.
async fn set_compliance(api: &Api, doc: &serde_json::Value) {
    let r = api.put("/api/v1/devices/compliance", doc).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// The application `wiki` on `host` (`/`), and one policy that requires `control`
/// (`registered_device` or `compliant_device`) for it.
pub async fn wiki_requiring(api: &Api, host: &str, control: &str) {
    for (path, body) in [
        (
            "/api/v1/applications",
            json!({ "id": "wiki", "name": "Wiki" }),
        ),
        (
            "/api/v1/applications/wiki/routes",
            json!({ "host": host, "path_prefix": "/" }),
        ),
    ] {
        assert_eq!(api.post(path, &body).await.status(), 201);
    }
    let doc = json!({ "policies": [ {
        "id": "wiki-needs-a-device", "name": "The wiki needs a device",
        "state": "enabled",
        "assignments": { "users": { "include": { "all": true } }, "applications": { "include": ["wiki"] } },
        "grant": { "operator": "all", "controls": [control] }
    } ] });
    let r = api
        .put(
            "/api/v1/conditional-access?based_on=0&comment=devices",
            &doc,
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}
