//! OpenID Connect client authentication that an operator can debug (the reason in
//! `error_description` and in the log, never the secret), and a refused refresh that leaves
//! the refresh token usable.

use crate::harness::*;
use crate::oidc::{alice_and_the_crm, code_for, exchange, register, token};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use trustplane_store::AuditQuery;

/// Log lines written while the guard lives (the test runtime runs the server on this thread).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
    let logs = Logs::default();
    let sub = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    (logs, tracing::subscriber::set_default(sub))
}

#[tokio::test]
async fn a_client_using_the_wrong_authentication_method_is_told_which_one_is_registered() {
    let (logs, _guard) = capture();
    let s = TestServer::start().await;
    let rp = register(&s, false, &["client_credentials"]).await;
    let secret = rp.secret.clone().unwrap();
    // `client_secret_post` (a widely used library's default) for a `client_secret_basic` client.
    for endpoint in ["/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"] {
        let r = client()
            .post(s.url(endpoint))
            .form(&[
                ("grant_type", "client_credentials"),
                ("token", "x"),
                ("client_id", rp.id.as_str()),
                ("client_secret", secret.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{endpoint}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client", "{endpoint}");
        let d = body["error_description"].as_str().unwrap();
        assert!(
            d.contains("client_secret_basic") && d.contains("client_secret_post"),
            "{endpoint}: {d}"
        );
    }
    // A wrong secret and an unknown client are explained too (and the secret never shown).
    let r = client()
        .post(s.url("/oauth2/token"))
        .basic_auth(&rp.id, Some("not-the-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("secret"),
        "{body}"
    );
    let r = client()
        .post(s.url("/oauth2/token"))
        .basic_auth("no-such-client", Some("x"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("Unknown client"),
        "{body}"
    );
    // The reason is logged for the operator: client id and both methods, never the secret.
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains(&rp.id) && l.contains("client_secret_post"))
        .unwrap_or_else(|| panic!("no log line about {}: {text}", rp.id));
    assert!(line.contains("client_secret_basic"), "{line}");
    assert!(!text.contains(&secret), "the secret was logged");
    assert!(
        !text.contains("not-the-secret"),
        "a presented secret was logged"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_refused_refresh_does_not_spend_the_refresh_token() {
    let (s, _, rp, c) = alice_and_the_crm(false).await;
    let t = exchange(&s, &rp, &code_for(&s, &c, &rp, &[]).await).await;
    let rt = t["refresh_token"].as_str().unwrap();
    // Wider than granted: refused, and the token is still the client's to use.
    for scope in [
        "openid api.read",
        "openid profile email offline_access admin",
    ] {
        let r = token(
            &s,
            &rp,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("scope", scope),
            ],
        )
        .await;
        assert_eq!(r.status(), 400);
        assert_eq!(json(r).await["error"], "invalid_scope");
    }
    let r = token(
        &s,
        &rp,
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
    .await;
    assert_eq!(r.status(), 200, "the refused refresh spent the token");
    let fresh = json(r).await;
    assert!(fresh["access_token"].is_string());
    let reuse = s
        .state
        .store
        .list_audit(&AuditQuery {
            action: Some("oidc.refresh_token.reuse".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        reuse.is_empty(),
        "a refused refresh triggered reuse detection"
    );
    // A narrower scope is still fine.
    let r = token(
        &s,
        &rp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", fresh["refresh_token"].as_str().unwrap()),
            ("scope", "openid"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    s.stop().await;
}
