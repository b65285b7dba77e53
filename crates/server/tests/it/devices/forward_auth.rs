//! Forward-auth knows a device from the certificate fingerprint the proxy passes, and drops
//! it the moment an administrator disables it.

use super::*;

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

/// `fp` as nginx passes `$ssl_client_fingerprint`: upper case, bytes separated by colons.
fn upper_with_colons(fp: &str) -> String {
    fp.to_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

async fn device_at_forward_auth(database_url: Option<String>) {
    let (s, api) = server_with_certificates(database_url, None).await;
    wiki_requiring(&api, "wiki.test", "registered_device").await;
    s.user("ada", &[]).await;
    let a = register_device(&s, "ada").await;
    let fp = fingerprint(&a.certificate_pem);
    let c = signed_in(&s, "ada").await;
    let check = async |fp: &str| wiki_check(&c, &s, fp).await;
    // No certificate, or one trustplane did not issue: the policy's control is not met.
    assert_ne!(check("").await.status(), 200);
    assert_ne!(check(&"ab".repeat(32)).await.status(), 200);
    // The registered device's certificate (as nginx passes $ssl_client_fingerprint).
    let r = check(&upper_with_colons(&fp)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-trustplane-device"], a.id.as_str());
    // What-if with the device answers as forward-auth did; without it, the control is unmet.
    let what_if = async |device: Option<&str>| {
        let body = json!({ "user": "ada", "app": "wiki", "device": device });
        json(api.post("/api/v1/conditional-access/what-if", &body).await).await
    };
    let v = what_if(Some(a.id.as_str())).await;
    assert_eq!(v["outcome"], "allow", "{v}");
    let v = what_if(None).await;
    assert_ne!(v["outcome"], "allow", "{v}");
    // Twice (the decision cache may answer), then the administrator disables the device:
    // refused at once, cache or not.
    assert_eq!(check(&fp).await.status(), 200);
    let disable = format!("/api/v1/devices/{}/disable", a.id);
    let r = api.send(reqwest::Method::POST, &disable).await;
    assert_eq!(r.status(), 200);
    assert_ne!(check(&fp).await.status(), 200);
    // A disabled device cannot report either.
    let r = report(&s, &a, &json!({ "platform": "linux" })).await;
    assert_eq!(r.status(), 401);
    // Deleted: its fingerprint is nobody's.
    let r = api.delete(&format!("/api/v1/devices/{}", a.id)).await;
    assert_eq!(r.status(), 204);
    assert_ne!(check(&fp).await.status(), 200);
    s.stop().await;
}
