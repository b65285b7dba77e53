//! Device certificates through a real nginx running `docs/proxy/nginx-devices.conf`: nginx
//! verifies the client certificate against trustplane's device CA and passes it to
//! forward-auth; `curl --cert` with the certificate a registered device obtained reaches an
//! application whose policy requires a registered device, and the upstream learns the device;
//! without it, with a forged header, or with a certificate of another CA it does not.

use crate::devices::{FP_HEADER_NGINX, register_device, wiki_requiring};
use crate::harness::*;
use crate::proxies::{SITE_HOST, docs_file, echo_upstream, free_port, run_nginx};
use trustplane_core::identity::Role;

fn curl<S: AsRef<std::ffi::OsStr>>(
    port: u16,
    dir: &std::path::Path,
    cookie: &str,
    extra: &[S],
) -> (u16, String) {
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}", "--cacert"])
        .arg(dir.join("server.pem"))
        .arg("--resolve")
        .arg(format!("{SITE_HOST}:{port}:127.0.0.1"))
        .args(["-H", &format!("Cookie: {cookie}")])
        .args(extra)
        .arg(format!("https://{SITE_HOST}:{port}/page"))
        .output()
        .expect("curl is installed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

// Several worker threads: curl runs as a blocking child process while the server answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nginx_passes_the_device_certificate_and_trustplane_knows_the_device() {
    let s = TestServer::with(Options {
        configure: Some(|c| c.client_cert_header = Some(FP_HEADER_NGINX.into())),
        ..Default::default()
    })
    .await;
    let api = admin_api(&s, Role::SecurityAdministrator).await;
    wiki_requiring(&api, SITE_HOST, "registered_device").await;
    s.user("ada", &[]).await;
    let device = register_device(&s, "ada").await;
    let r = login(&client(), &s, "ada", PASSWORD).await;
    let cookie = set_cookie(&r, "tp_session").unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();

    // nginx's TLS certificate, the device CA as published, the device's key and certificate.
    let server_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let server_cert = rcgen::CertificateParams::new(vec![SITE_HOST.to_string()])
        .unwrap()
        .self_signed(&server_key)
        .unwrap();
    let ca = page(&client(), &s, "/devices/ca.pem").await;
    let files = tempfile::tempdir().unwrap();
    let f = files.path();
    std::fs::write(f.join("server.pem"), server_cert.pem()).unwrap();
    std::fs::write(f.join("device.pem"), &device.certificate_pem).unwrap();
    std::fs::write(f.join("device.key"), device.key.serialize_pem()).unwrap();
    // A certificate of another CA, for the same key.
    let stranger = rcgen::CertificateParams::new(vec!["laptop.corp".to_string()])
        .unwrap()
        .self_signed(&device.key)
        .unwrap();
    std::fs::write(f.join("stranger.pem"), stranger.pem()).unwrap();

    let port = free_port();
    let upstream = echo_upstream().await;
    let site = std::fs::read_to_string(docs_file("nginx-devices.conf"))
        .unwrap()
        .replace(
            "127.0.0.1:8420",
            s.url("")
                .trim_start_matches("http://")
                .trim_end_matches('/'),
        )
        .replace("127.0.0.1:9000", upstream.trim_start_matches("http://"))
        .replace("listen 443 ssl;", &format!("listen 127.0.0.1:{port} ssl;"))
        .replace("/etc/nginx/trustplane/", "{dir}/");
    let server_key_pem = server_key.serialize_pem();
    let server_pem = server_cert.pem();
    let Some(nginx) = run_nginx(
        port,
        site,
        &[
            ("wiki.example.com.pem", server_pem.as_str()),
            ("wiki.example.com.key", server_key_pem.as_str()),
            ("device-ca.pem", ca.as_str()),
        ],
    )
    .await
    else {
        return;
    };

    // Without a certificate: the policy's control is not met (sent to sign in).
    let (code, body) = curl::<&str>(port, f, &cookie, &[]);
    assert_ne!(code, 200, "{body}\n{}", nginx.log());
    // A forged X-Client-Cert header is not what nginx passes.
    let forged = format!("X-Client-Cert: {}", urlencode(&device.certificate_pem));
    let (code, _) = curl(port, f, &cookie, &["-H", &forged]);
    assert_ne!(code, 200);
    // A certificate of another CA: nginx refuses the handshake's certificate (400).
    let (code, _) = curl(port, f, &cookie, &with_cert(f, "stranger"));
    assert_eq!(code, 400);
    // The registered device's certificate: served, and the application learns the device.
    let (code, body) = curl(port, f, &cookie, &with_cert(f, "device"));
    assert_eq!(code, 200, "{body}\n{}", nginx.log());
    let seen: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(seen["x-trustplane-device"], device.id.as_str());
    assert_eq!(seen["path"], "/page");
    // Disabled by an administrator: the same certificate no longer counts.
    let disable = format!("/api/v1/devices/{}/disable", device.id);
    let r = api.send(reqwest::Method::POST, &disable).await;
    assert_eq!(r.status(), 200);
    let (code, _) = curl(port, f, &cookie, &with_cert(f, "device"));
    assert_ne!(code, 200);
    drop(nginx);
    s.stop().await;
}

/// curl's arguments to present `<name>.pem` with the device key.
fn with_cert(dir: &std::path::Path, name: &str) -> Vec<String> {
    vec![
        "--cert".into(),
        dir.join(format!("{name}.pem")).display().to_string(),
        "--key".into(),
        dir.join("device.key").display().to_string(),
    ]
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
