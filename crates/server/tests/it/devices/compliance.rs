//! Compliance: EDR alerts, grace and validity periods on the clock, and configuration
//! profiles assigned, served and judged; a non-compliant device is refused where a policy
//! requires a compliant one.

use super::*;

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
    let (s, api) = server_with_certificates(None, None).await;
    wiki_requiring(&api, "wiki.test", "compliant_device").await;
    let linux = json!({ "policies": [{
        "id": "linux", "name": "Linux", "platform": "linux", "max_machine_risk": "low",
        "grace_period_days": 0, "validity_period_days": 30 }] });
    set_compliance(&api, &linux).await;
    s.user("ada", &[]).await;
    let a = register_device(&s, "ada").await;
    let posture = json!({ "platform": "linux", "hostname": "laptop.corp" });
    assert_eq!(judged(&s, &a, &posture).await, "compliant");
    let fp = fingerprint(&a.certificate_pem);
    let c = signed_in(&s, "ada").await;
    assert_eq!(wiki_check(&c, &s, &fp).await.status(), 200);

    let wazuh = json!({ "name": "Wazuh", "format": "wazuh" });
    let conn = json(api.post("/api/v1/edr/connectors", &wazuh).await).await;
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
    assert_eq!(wiki_check(&c, &s, &fp).await.status(), 200);
    // The real one: high risk, non-compliant at once, refused at the next request.
    let sig = edr_signed(&secret, ts, &alert);
    let r = post(sig.clone(), alert.clone()).await.unwrap();
    assert_eq!(r.status(), 202);
    let v = json(r).await;
    assert_eq!(v["machine_risk"], "high");
    assert_eq!(v["compliance"], "non_compliant");
    assert_ne!(wiki_check(&c, &s, &fp).await.status(), 200);
    // The same signed event again: refused.
    let r = post(sig, alert.clone()).await.unwrap();
    assert_eq!(r.status(), 401);
    let d = api.value(&format!("/api/v1/devices/{}", a.id)).await;
    assert_eq!(d["machine_risk"], "high");
    assert_eq!(d["compliance"]["state"], "non_compliant");
    s.stop().await;
}

/// Judges every device again (as the background job does); returns how many changed.
async fn rejudge(s: &TestServer) -> u64 {
    trustplane_server::signals::device_trust::compliance::rejudge_all(&s.state)
        .await
        .unwrap()
}

/// Grace and validity periods with an injected clock: a fixable failure is tolerated for the
/// policy's grace period, then the device is non-compliant and forward-auth (requiring a
/// compliant device) refuses it; a device that stops reporting becomes non-compliant after
/// the validity period.
#[tokio::test]
async fn grace_and_validity_periods_run_out_on_the_clock() {
    let clock =
        std::sync::Arc::new(trustplane_server::platform::clock::ManualClock::starting_now());
    let (s, api) = server_with_certificates(None, Some(clock.clone())).await;
    wiki_requiring(&api, "wiki.test", "compliant_device").await;
    let linux = json!({ "policies": [{
        "id": "linux", "name": "Linux", "platform": "linux", "require_firewall": true,
        "grace_period_days": 3, "validity_period_days": 30, "notify_user": true }] });
    set_compliance(&api, &linux).await;
    s.user("ada", &[]).await;
    let a = register_device(&s, "ada").await;
    s.user("bo", &[]).await;
    let b = register_device(&s, "bo").await;
    let fine = json!({ "platform": "linux", "observations": [
        { "setting": "firewall_active", "value": { "bool": true } } ] });
    assert_eq!(judged(&s, &b, &fine).await, "compliant");
    let failing = json!({ "platform": "linux", "observations": [
        { "setting": "firewall_active", "value": { "bool": false } } ] });
    assert_eq!(judged(&s, &a, &failing).await, "in_grace");
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
    let check = async || wiki_check(&signed_in(&s, "ada").await, &s, &fp).await;
    assert_eq!(check().await.status(), 200, "in grace: still compliant");
    // One minute before the grace period ends nothing changes …
    clock.advance(time::Duration::days(3) - time::Duration::minutes(1));
    assert_eq!(rejudge(&s).await, 0);
    assert_eq!(check().await.status(), 200);
    // … at its end the device is non-compliant, and refused at once (cached decision or not).
    clock.advance(time::Duration::minutes(1));
    assert_eq!(rejudge(&s).await, 1);
    assert_ne!(check().await.status(), 200);

    // The second device reported fine at the start, then went silent: past the validity
    // period (30 days after its report) it is non-compliant.
    clock.advance(time::Duration::days(27) - time::Duration::minutes(1));
    rejudge(&s).await;
    let d = device_json(&s, &b.id).await;
    assert_eq!(d["compliance"]["state"], "compliant");
    clock.advance(time::Duration::minutes(1));
    rejudge(&s).await;
    let d = device_json(&s, &b.id).await;
    assert_eq!(d["compliance"]["state"], "non_compliant", "{d}");
    s.stop().await;
}

/// The device as the admin API shows it, read from the store (API tokens expire when days
/// pass on the test clock).
async fn device_json(s: &TestServer, id: &str) -> serde_json::Value {
    let id = uuid::Uuid::parse_str(id).unwrap();
    let d = s.state.store.get_device(id).await.unwrap().unwrap();
    trustplane_server::signals::device_trust::admin::view(&d)
}

/// Configuration profiles: assigned by platform and group, served to the device (signed
/// request), and judged from its report; drift makes a device non-compliant when the policy
/// requires the profile settings.
#[tokio::test]
async fn configuration_profiles_are_assigned_served_and_judged() {
    let s = TestServer::start().await;
    let api = admin_api(&s, Role::SecurityAdministrator).await;
    s.user("ada", &[]).await;
    let finance = s.group("finance", &[]).await;
    let profiles = json!([
        { "id": "linux-baseline", "name": "Linux baseline", "platforms": ["linux"], "settings": [
            { "setting": "required_packages", "names": ["auditd"] },
            { "setting": "forbidden_processes", "names": ["telnetd"] },
            { "setting": "ssh_root_login_disabled" },
            { "setting": "disk_encryption" } ] },
        { "id": "finance", "name": "Finance laptops", "platforms": ["linux"],
          "groups": [finance.id], "settings": [ { "setting": "secure_boot" } ] }
    ]);
    let r = api.put("/api/v1/devices/profiles", &profiles).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // Two profiles with one id: refused, nothing changed.
    let dup = json!([profiles[0], profiles[0]]);
    let r = api.put("/api/v1/devices/profiles", &dup).await;
    assert_eq!(r.status(), 422);
    let linux = json!({ "policies": [{
        "id": "linux", "name": "Linux", "platform": "linux", "require_profile_settings": true,
        "grace_period_days": 0 }] });
    set_compliance(&api, &linux).await;
    let a = register_device(&s, "ada").await;
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
    let message = v["reasons"][0]["message"].as_str().unwrap();
    assert!(message.contains("required packages"));
    // Fixed: compliant, and a re-judgement from the stored report keeps it so.
    let fixed = json!({ "platform": "linux", "observations": [
        { "setting": "installed_packages", "value": { "names": ["auditd"] } },
        { "setting": "running_processes", "value": { "names": ["sshd"] } },
        { "setting": "ssh_root_login", "value": { "bool": false } },
        { "setting": "disk_encryption", "value": { "bool": true } } ] });
    assert_eq!(judged(&s, &a, &fixed).await, "compliant");
    assert_eq!(rejudge(&s).await, 0);
    s.stop().await;
}
