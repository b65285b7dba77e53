//! Registration: the device grant, a certificate `openssl` verifies against the published
//! CA, posture reports with signed proofs, and what is refused on the way.

use super::*;

/// A posture report of a Linux laptop with an encrypted disk.
fn posture() -> serde_json::Value {
    json!({
        "platform": "linux", "os_version": "12.4",
        "observations": [{ "setting": "disk_encryption", "value": { "bool": true } }]
    })
}

#[tokio::test]
async fn a_device_registers_gets_a_certificate_the_ca_verifies_and_reports_with_proofs() {
    let s = TestServer::start().await;
    s.user("ada", &[]).await;
    let a = register_device(&s, "ada").await;

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
    assert_eq!(page(&client(), &s, "/devices/ca.pem").await, a.ca_pem);

    // A signed report is judged (no compliance policy yet: the secure default).
    let posture = posture();
    let r = report(&s, &a, &posture).await;
    assert_eq!(r.status(), 202);
    let v = json(r).await;
    assert_eq!(v["compliance"], "non_compliant");
    assert_eq!(v["reasons"][0]["code"], "no_policy");
    s.stop().await;
}

#[tokio::test]
async fn unsigned_replayed_misdirected_and_forged_reports_are_refused() {
    let s = TestServer::start().await;
    s.user("ada", &[]).await;
    let a = register_device(&s, "ada").await;
    let posture = posture();
    // Hostile reports: unsigned, replayed, for another body, by a foreign key.
    let path = format!("/api/v1/devices/{}/reports", a.id);
    let bytes = serde_json::to_vec(&posture).unwrap();
    let send = |proof: Option<String>, body: Vec<u8>| {
        let mut r = client().post(s.url(&path));
        if let Some(p) = proof {
            r = r.header("device-proof", p);
        }
        async move { r.body(body).send().await.unwrap() }
    };
    assert_eq!(send(None, bytes.clone()).await.status(), 401);
    let p = proof(&a.key, &a.id, "POST", &s.url(&path), &bytes);
    let first = send(Some(p.clone()), bytes.clone()).await;
    assert_eq!(first.status(), 202);
    let replay = send(Some(p), bytes.clone()).await;
    assert_eq!(replay.status(), 401);
    assert!(
        json(replay).await["message"]
            .as_str()
            .unwrap()
            .contains("already used")
    );
    let p = proof(&a.key, &a.id, "POST", &s.url(&path), &bytes);
    let other_body = send(Some(p), b"{\"platform\":\"linux\"}".to_vec()).await;
    assert_eq!(other_body.status(), 401);
    let stranger = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let p = proof(&stranger, &a.id, "POST", &s.url(&path), &bytes);
    assert_eq!(send(Some(p), bytes.clone()).await.status(), 401);
    s.stop().await;
}

#[tokio::test]
async fn a_malformed_csr_or_another_token_registers_nothing() {
    let s = TestServer::start().await;
    s.user("ada", &[]).await;
    let a = register_device(&s, "ada").await;
    // A malformed CSR is refused and registers nothing.
    let token = registration_token(&s, "ada").await;
    let body = json!({ "csr_pem": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "display_name": "x", "platform": "linux" });
    let r = Api::new(&s, &token)
        .post("/api/v1/devices/register", &body)
        .await;
    assert_eq!(r.status(), 400);
    let admin = admin_api(&s, Role::SecurityAdministrator).await;
    let list = admin.value("/api/v1/devices").await;
    assert_eq!(list["devices"].as_array().unwrap().len(), 1, "{list}");
    // Any other token (not the agent's registration scope) cannot register.
    let body = json!({ "csr_pem": csr(&a.key), "display_name": "x", "platform": "linux" });
    let r = admin.post("/api/v1/devices/register", &body).await;
    assert_eq!(r.status(), 401);
    s.stop().await;
}
