//! Device trust through the real server: a device registers with the device authorization
//! grant (approved by its user), gets a certificate from the device CA (checked with
//! `openssl verify`), reports posture with signed proofs (replays, foreign keys and other
//! bodies refused), and forward-auth knows it from the certificate fingerprint the proxy
//! passes: a policy that requires a registered device lets it in, and disabling it shuts it
//! out at once.

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
    trustplane_server::jose::install();
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
    let page = c
        .get(s.url(&format!("/device?user_code={user_code}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("trustplane agent"), "{page}");
    let r = c
        .post(s.url("/device"))
        .form(&[
            ("csrf_token", csrf_of(&page).as_str()),
            ("user_code", user_code),
            ("action", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("Approved"));
}

async fn registration_token(s: &TestServer, user: &str) -> String {
    let d = json(
        client()
            .post(s.url("/oauth2/device_authorization"))
            .form(&[
                ("client_id", "trustplane-agent"),
                ("scope", "device.register"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    approve_registration(s, user, d["user_code"].as_str().unwrap()).await;
    let t = json(
        client()
            .post(s.url("/oauth2/token"))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", d["device_code"].as_str().unwrap()),
                ("client_id", "trustplane-agent"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    t["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{t}"))
        .to_string()
}

/// A device of `user`, registered through the device grant.
pub async fn register_device(s: &TestServer, user: &str) -> Agent {
    register(s, user).await
}

async fn register(s: &TestServer, user: &str) -> Agent {
    let token = registration_token(s, user).await;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let r = client()
        .post(s.url("/api/v1/devices/register"))
        .bearer_auth(&token)
        .json(&json!({
            "csr_pem": csr(&key), "display_name": "Ada's laptop", "platform": "linux",
            "os_version": "12.4", "hostname": "laptop.corp",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v = json(r).await;
    Agent {
        key,
        id: v["device_id"].as_str().unwrap().into(),
        certificate_pem: v["certificate_pem"].as_str().unwrap().into(),
        ca_pem: v["ca_pem"].as_str().unwrap().into(),
    }
}

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

#[tokio::test]
async fn a_device_registers_gets_a_certificate_the_ca_verifies_and_reports_with_proofs() {
    let s = TestServer::start().await;
    s.user("ada", &[]).await;
    let a = register(&s, "ada").await;

    // openssl, an independent X.509 implementation, verifies the chain.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &a.ca_pem).unwrap();
    std::fs::write(dir.path().join("device.pem"), &a.certificate_pem).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["verify", "-purpose", "sslclient", "-CAfile"])
        .arg(dir.path().join("ca.pem"))
        .arg(dir.path().join("device.pem"))
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The published CA is the one that signed it.
    let published = client().get(s.url("/devices/ca.pem")).send().await.unwrap();
    assert_eq!(published.text().await.unwrap(), a.ca_pem);

    // A signed report is judged (no compliance policy yet: the secure default).
    let posture = json!({
        "platform": "linux", "os_version": "12.4",
        "observations": [{ "setting": "disk_encryption", "value": { "bool": true } }]
    });
    let r = report(&s, &a, &posture).await;
    assert_eq!(r.status(), 202);
    let v = json(r).await;
    assert_eq!(v["compliance"], "non_compliant");
    assert_eq!(v["reasons"][0]["code"], "no_policy");

    // Hostile reports: unsigned, replayed, for another body, by a foreign key.
    let path = format!("/api/v1/devices/{}/reports", a.id);
    let bytes = serde_json::to_vec(&posture).unwrap();
    let unsigned = client()
        .post(s.url(&path))
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let p = proof(&a.key, &a.id, "POST", &s.url(&path), &bytes);
    let first = client()
        .post(s.url(&path))
        .header("device-proof", &p)
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 202);
    let replay = client()
        .post(s.url(&path))
        .header("device-proof", &p)
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 401);
    assert!(
        json(replay).await["message"]
            .as_str()
            .unwrap()
            .contains("already used")
    );
    let other_body = client()
        .post(s.url(&path))
        .header(
            "device-proof",
            proof(&a.key, &a.id, "POST", &s.url(&path), &bytes),
        )
        .body(b"{\"platform\":\"linux\"}".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(other_body.status(), 401);
    let stranger = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let forged = client()
        .post(s.url(&path))
        .header(
            "device-proof",
            proof(&stranger, &a.id, "POST", &s.url(&path), &bytes),
        )
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    // A malformed CSR is refused and registers nothing.
    let token = registration_token(&s, "ada").await;
    let r = client()
        .post(s.url("/api/v1/devices/register"))
        .bearer_auth(&token)
        .json(&json!({ "csr_pem": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "display_name": "x", "platform": "linux" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let t = admin_token(&s, Role::SecurityAdministrator).await;
    let list = json(
        client()
            .get(s.url("/api/v1/devices"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list["devices"].as_array().unwrap().len(), 1, "{list}");
    // Any other token (not the agent's registration scope) cannot register.
    let r = client()
        .post(s.url("/api/v1/devices/register"))
        .bearer_auth(&t)
        .json(&json!({ "csr_pem": csr(&a.key), "display_name": "x", "platform": "linux" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    s.stop().await;
}

#[tokio::test]
async fn forward_auth_knows_the_device_from_its_certificate_and_drops_it_when_disabled() {
    device_at_forward_auth(None).await;
}

#[tokio::test]
async fn forward_auth_knows_the_device_on_postgres() {
    let Some(admin) = crate::postgres::admin_url() else {
        return;
    };
    device_at_forward_auth(Some(crate::postgres::fresh_database(&admin).await)).await;
}

async fn device_at_forward_auth(database_url: Option<String>) {
    let s = TestServer::with(Options {
        database_url,
        configure: Some(|c| c.client_cert_header = Some(FP_HEADER.into())),
        ..Default::default()
    })
    .await;
    let t = admin_token(&s, Role::SecurityAdministrator).await;
    let api = |m: reqwest::Method, p: &str| client().request(m, s.url(p)).bearer_auth(&t);
    wiki_requiring(&s, &t, "wiki.test", "registered_device").await;
    s.user("ada", &[]).await;
    let a = register(&s, "ada").await;
    let fp = fingerprint(&a.certificate_pem);
    let c = signed_in(&s, "ada").await;
    let check = |fp: Option<String>| {
        let mut r = c
            .get(s.url("/forward-auth"))
            .header("x-forwarded-host", "wiki.test")
            .header("x-forwarded-uri", "/page")
            .header(FP_HEADER, fp.unwrap_or_default());
        r = r.header("x-forwarded-method", "GET");
        r.send()
    };
    // No certificate, or one trustplane did not issue: the policy's control is not met.
    assert_ne!(check(None).await.unwrap().status(), 200);
    assert_ne!(check(Some("ab".repeat(32))).await.unwrap().status(), 200);
    // The registered device's certificate (as nginx passes $ssl_client_fingerprint).
    let upper_colons = fp
        .to_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let r = check(Some(upper_colons.clone())).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-trustplane-device"], a.id.as_str());
    // What-if with the device answers as forward-auth did; without it, the control is unmet.
    let what_if = |device: Option<&str>| {
        api(reqwest::Method::POST, "/api/v1/conditional-access/what-if")
            .json(&json!({ "user": "ada", "app": "wiki", "device": device }))
            .send()
    };
    let v = json(what_if(Some(a.id.as_str())).await.unwrap()).await;
    assert_eq!(v["outcome"], "allow", "{v}");
    let v = json(what_if(None).await.unwrap()).await;
    assert_ne!(v["outcome"], "allow", "{v}");
    // Twice (the decision cache may answer), then the administrator disables the device:
    // refused at once, cache or not.
    assert_eq!(check(Some(fp.clone())).await.unwrap().status(), 200);
    let r = api(
        reqwest::Method::POST,
        &format!("/api/v1/devices/{}/disable", a.id),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_ne!(check(Some(fp.clone())).await.unwrap().status(), 200);
    // A disabled device cannot report either.
    let r = report(&s, &a, &json!({ "platform": "linux" })).await;
    assert_eq!(r.status(), 401);
    // Deleted: its fingerprint is nobody's.
    let r = api(
        reqwest::Method::DELETE,
        &format!("/api/v1/devices/{}", a.id),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 204);
    assert_ne!(check(Some(fp)).await.unwrap().status(), 200);
    s.stop().await;
}

fn edr_signed(secret: &str, ts: i64, body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(ts.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A scripted Wazuh integration raises the machine risk of a compliant device: it becomes
/// non-compliant at once and forward-auth, which required a compliant device, refuses it.
/// Bad signatures and replays change nothing.
#[tokio::test]
async fn an_edr_alert_makes_a_device_non_compliant_and_shuts_it_out() {
    let s = TestServer::with(Options {
        configure: Some(|c| c.client_cert_header = Some(FP_HEADER.into())),
        ..Default::default()
    })
    .await;
    let t = admin_token(&s, Role::SecurityAdministrator).await;
    let api = |m: reqwest::Method, p: &str| client().request(m, s.url(p)).bearer_auth(&t);
    wiki_requiring(&s, &t, "wiki.test", "compliant_device").await;
    let r = api(reqwest::Method::PUT, "/api/v1/devices/compliance")
        .json(&json!({ "policies": [{
            "id": "linux", "name": "Linux", "platform": "linux", "max_machine_risk": "low",
            "grace_period_days": 0, "validity_period_days": 30 }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    s.user("ada", &[]).await;
    let a = register(&s, "ada").await;
    let r = report(
        &s,
        &a,
        &json!({ "platform": "linux", "hostname": "laptop.corp" }),
    )
    .await;
    assert_eq!(json(r).await["compliance"], "compliant");
    let fp = fingerprint(&a.certificate_pem);
    let c = signed_in(&s, "ada").await;
    let check = || {
        c.get(s.url("/forward-auth"))
            .header("x-forwarded-host", "wiki.test")
            .header("x-forwarded-uri", "/page")
            .header("x-forwarded-method", "GET")
            .header(FP_HEADER, fp.as_str())
            .send()
    };
    assert_eq!(check().await.unwrap().status(), 200);

    let conn = json(
        api(reqwest::Method::POST, "/api/v1/edr/connectors")
            .json(&json!({ "name": "Wazuh", "format": "wazuh" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let (cid, secret) = (
        conn["id"].as_str().unwrap().to_string(),
        conn["secret"].as_str().unwrap().to_string(),
    );
    let alert = serde_json::to_vec(&json!({
        "timestamp": "2026-12-03T05:00:00.000+0000",
        "rule": { "level": 12, "description": "Host-based anomaly detection event (rootcheck).", "id": "510" },
        "agent": { "id": "003", "name": "laptop.corp" }
    }))
    .unwrap();
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let post = |sig: String, body: Vec<u8>| {
        client()
            .post(s.url("/api/v1/edr/events"))
            .header("x-trustplane-connector", cid.as_str())
            .header("x-trustplane-timestamp", ts.to_string())
            .header("x-trustplane-signature", sig)
            .body(body)
            .send()
    };
    // A forged signature (another secret) is refused and changes nothing.
    let r = post(edr_signed("not-the-secret", ts, &alert), alert.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(check().await.unwrap().status(), 200);
    // The real one: high risk, non-compliant at once, refused at the next request.
    let sig = edr_signed(&secret, ts, &alert);
    let r = post(sig.clone(), alert.clone()).await.unwrap();
    assert_eq!(r.status(), 202);
    let v = json(r).await;
    assert_eq!(v["machine_risk"], "high");
    assert_eq!(v["compliance"], "non_compliant");
    assert_ne!(check().await.unwrap().status(), 200);
    // The same signed event again: refused.
    let r = post(sig, alert.clone()).await.unwrap();
    assert_eq!(r.status(), 401);
    let d = json(
        api(reqwest::Method::GET, &format!("/api/v1/devices/{}", a.id))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(d["machine_risk"], "high");
    assert_eq!(d["compliance"]["state"], "non_compliant");
    s.stop().await;
}

/// The console lists and shows devices to administrators only; a user removes their own
/// device from "My devices" but never someone else's (it is "not found" to them).
#[tokio::test]
async fn device_pages_are_for_admins_and_users_remove_only_their_own() {
    let s = TestServer::start().await;
    s.user("ada", &[]).await;
    s.user("eve", &[]).await;
    s.user("root", &[Role::GlobalAdministrator]).await;
    let a = register(&s, "ada").await;
    let admin = signed_in(&s, "root").await;
    let list = admin.get(s.url("/admin/devices")).send().await.unwrap();
    assert_eq!(list.status(), 200);
    assert!(list.text().await.unwrap().contains("Ada&#39;s laptop"));
    let page = admin
        .get(s.url(&format!("/admin/devices/{}", a.id)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("No compliance policy applies"), "{page}");
    let eve = signed_in(&s, "eve").await;
    assert_eq!(
        eve.get(s.url("/admin/devices"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    // Eve tries to remove Ada's device with a valid form of her own.
    let my = eve
        .get(s.url("/my"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = eve
        .post(s.url(&format!("/my/devices/{}/remove", a.id)))
        .form(&[("csrf_token", csrf_of(&my).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let ada = signed_in(&s, "ada").await;
    let my = ada
        .get(s.url("/my"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(my.contains("Ada&#39;s laptop"), "{my}");
    let r = ada
        .post(s.url(&format!("/my/devices/{}/remove", a.id)))
        .form(&[("csrf_token", csrf_of(&my).as_str())])
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_redirection() || r.status() == 200,
        "{}",
        r.status()
    );
    let list = admin
        .get(s.url("/admin/devices"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!list.contains("Ada&#39;s laptop"), "{list}");
    s.stop().await;
}

/// Grace and validity periods with an injected clock: a fixable failure is tolerated for the
/// policy's grace period, then the device is non-compliant and forward-auth (requiring a
/// compliant device) refuses it; a device that stops reporting becomes non-compliant after
/// the validity period.
#[tokio::test]
async fn grace_and_validity_periods_run_out_on_the_clock() {
    let clock = std::sync::Arc::new(trustplane_server::clock::ManualClock::starting_now());
    let s = TestServer::with(Options {
        configure: Some(|c| c.client_cert_header = Some(FP_HEADER.into())),
        clock: Some(clock.clone()),
        ..Default::default()
    })
    .await;
    let t = admin_token(&s, Role::SecurityAdministrator).await;
    let api = |m: reqwest::Method, p: &str| client().request(m, s.url(p)).bearer_auth(&t);
    wiki_requiring(&s, &t, "wiki.test", "compliant_device").await;
    let r = api(reqwest::Method::PUT, "/api/v1/devices/compliance")
        .json(&json!({ "policies": [{
            "id": "linux", "name": "Linux", "platform": "linux", "require_firewall": true,
            "grace_period_days": 3, "validity_period_days": 30, "notify_user": true }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    s.user("ada", &[]).await;
    let a = register(&s, "ada").await;
    s.user("bo", &[]).await;
    let b = register(&s, "bo").await;
    let fine = json!({ "platform": "linux", "observations": [
        { "setting": "firewall_active", "value": { "bool": true } } ] });
    assert_eq!(
        json(report(&s, &b, &fine).await).await["compliance"],
        "compliant"
    );
    let failing = json!({ "platform": "linux", "observations": [
        { "setting": "firewall_active", "value": { "bool": false } } ] });
    let v = json(report(&s, &a, &failing).await).await;
    assert_eq!(v["compliance"], "in_grace");
    // Ada is told by email what to fix and until when.
    let mail = s.outbox("ada@example.com", 1).await;
    assert!(
        mail[0].contains("Your device Ada's laptop needs attention")
            && mail[0].contains("Turn on the firewall."),
        "{}",
        mail[0]
    );
    let fp = fingerprint(&a.certificate_pem);
    // A fresh session each time (days pass on the clock; sessions expire).
    let check = || async {
        signed_in(&s, "ada")
            .await
            .get(s.url("/forward-auth"))
            .header("x-forwarded-host", "wiki.test")
            .header("x-forwarded-uri", "/page")
            .header("x-forwarded-method", "GET")
            .header(FP_HEADER, fp.as_str())
            .send()
            .await
    };
    assert_eq!(
        check().await.unwrap().status(),
        200,
        "in grace: still compliant"
    );
    // One minute before the grace period ends nothing changes …
    clock.advance(time::Duration::days(3) - time::Duration::minutes(1));
    assert_eq!(
        trustplane_server::devices::compliance::rejudge_all(&s.state)
            .await
            .unwrap(),
        0
    );
    assert_eq!(check().await.unwrap().status(), 200);
    // … at its end the device is non-compliant, and refused at once (cached decision or not).
    clock.advance(time::Duration::minutes(1));
    assert_eq!(
        trustplane_server::devices::compliance::rejudge_all(&s.state)
            .await
            .unwrap(),
        1
    );
    assert_ne!(check().await.unwrap().status(), 200);

    // The second device reported fine at the start, then went silent: past the validity
    // period (30 days after its report) it is non-compliant.
    clock.advance(time::Duration::days(27) - time::Duration::minutes(1));
    trustplane_server::devices::compliance::rejudge_all(&s.state)
        .await
        .unwrap();
    let d = device_json(&s, &b.id).await;
    assert_eq!(d["compliance"]["state"], "compliant");
    clock.advance(time::Duration::minutes(1));
    trustplane_server::devices::compliance::rejudge_all(&s.state)
        .await
        .unwrap();
    let d = device_json(&s, &b.id).await;
    assert_eq!(d["compliance"]["state"], "non_compliant", "{d}");
    s.stop().await;
}

/// The device as the admin API shows it, read from the store (API tokens expire when days
/// pass on the test clock).
async fn device_json(s: &TestServer, id: &str) -> serde_json::Value {
    let id = uuid::Uuid::parse_str(id).unwrap();
    let d = s.state.store.get_device(id).await.unwrap().unwrap();
    trustplane_server::devices::admin::view(&d)
}

/// Configuration profiles: assigned by platform and group, served to the device (signed
/// request), and judged from its report; drift makes a device non-compliant when the policy
/// requires the profile settings.
#[tokio::test]
async fn configuration_profiles_are_assigned_served_and_judged() {
    let s = TestServer::start().await;
    let t = admin_token(&s, Role::SecurityAdministrator).await;
    let api = |m: reqwest::Method, p: &str| client().request(m, s.url(p)).bearer_auth(&t);
    s.user("ada", &[]).await;
    let finance = s
        .ops()
        .create_group(&trustplane_core::audit::Actor::system(), "finance", "")
        .await
        .unwrap();
    let profiles = json!([
        { "id": "linux-baseline", "name": "Linux baseline", "platforms": ["linux"], "settings": [
            { "setting": "required_packages", "names": ["auditd"] },
            { "setting": "forbidden_processes", "names": ["telnetd"] },
            { "setting": "ssh_root_login_disabled" },
            { "setting": "disk_encryption" } ] },
        { "id": "finance", "name": "Finance laptops", "platforms": ["linux"],
          "groups": [finance.id], "settings": [ { "setting": "secure_boot" } ] }
    ]);
    let r = api(reqwest::Method::PUT, "/api/v1/devices/profiles")
        .json(&profiles)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // Two profiles with one id: refused, nothing changed.
    let dup = json!([profiles[0], profiles[0]]);
    let r = api(reqwest::Method::PUT, "/api/v1/devices/profiles")
        .json(&dup)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = api(reqwest::Method::PUT, "/api/v1/devices/compliance")
        .json(&json!({ "policies": [{
            "id": "linux", "name": "Linux", "platform": "linux", "require_profile_settings": true,
            "grace_period_days": 0 }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let a = register(&s, "ada").await;
    // The device is served the profile of its platform, not the finance group's.
    let path = format!("/api/v1/devices/{}/profiles", a.id);
    let r = client()
        .get(s.url(&path))
        .header(
            "device-proof",
            proof(&a.key, &a.id, "GET", &s.url(&path), b""),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let served = json(r).await;
    let ids: Vec<&str> = served["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["linux-baseline"]);
    let drifting = json!({ "platform": "linux", "observations": [
        { "setting": "installed_packages", "value": { "names": ["vim", "openssh-server"] } },
        { "setting": "running_processes", "value": { "names": ["sshd", "telnetd"] } },
        { "setting": "ssh_root_login", "value": { "bool": true } },
        { "setting": "disk_encryption", "value": { "bool": true } } ] });
    let v = json(report(&s, &a, &drifting).await).await;
    let status = |name: &str| {
        v["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["setting"] == name)
            .map(|x| x["status"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(status("required packages"), "drift");
    assert_eq!(status("forbidden processes"), "drift");
    assert_eq!(status("SSH root login"), "drift");
    assert_eq!(status("disk encryption"), "compliant");
    assert_eq!(v["compliance"], "non_compliant", "{v}");
    assert_eq!(v["reasons"][0]["code"], "profile_drift");
    assert!(
        v["reasons"][0]["message"]
            .as_str()
            .unwrap()
            .contains("required packages")
    );
    // Fixed: compliant, and a re-judgement from the stored report keeps it so.
    let fixed = json!({ "platform": "linux", "observations": [
        { "setting": "installed_packages", "value": { "names": ["auditd"] } },
        { "setting": "running_processes", "value": { "names": ["sshd"] } },
        { "setting": "ssh_root_login", "value": { "bool": false } },
        { "setting": "disk_encryption", "value": { "bool": true } } ] });
    assert_eq!(
        json(report(&s, &a, &fixed).await).await["compliance"],
        "compliant"
    );
    assert_eq!(
        trustplane_server::devices::compliance::rejudge_all(&s.state)
            .await
            .unwrap(),
        0
    );
    s.stop().await;
}

/// The application `wiki` on `host` (`/`), and one policy that requires `control`
/// (`registered_device` or `compliant_device`) for it.
pub async fn wiki_requiring(s: &TestServer, token: &str, host: &str, control: &str) {
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
        let r = client()
            .post(s.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let doc = json!({ "policies": [ {
        "id": "wiki-needs-a-device", "name": "The wiki needs a device",
        "state": "enabled",
        "assignments": { "users": { "include": { "all": true } }, "applications": { "include": ["wiki"] } },
        "grant": { "operator": "all", "controls": [control] }
    } ] });
    let r = client()
        .put(s.url("/api/v1/conditional-access?based_on=0&comment=devices"))
        .bearer_auth(token)
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}
