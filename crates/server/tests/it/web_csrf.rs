//! Hostile tests of the browser edge: CSRF tokens bound to the session (and to the pre-session
//! cookie before sign-in), `__Host-` cookie names on https deployments, and redirect targets
//! that must never leave the site (control characters, whitespace, backslashes, `//`).

use crate::harness::*;
use reqwest::Client;
use serde_json::{Value, json};
use trustplane_core::identity::Role;

/// A client without a cookie store: every cookie is sent by hand, the way an attacker who
/// planted one would have the browser send it.
fn raw() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `(name, value, attributes)` of every cookie a response sets.
fn set_cookies(r: &reqwest::Response) -> Vec<(String, String, String)> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| {
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (name.to_string(), value.to_string(), attrs.to_string())
        })
        .collect()
}

/// The cookie whose name ends with `base` (`tp_csrf`, `__Host-tp_csrf`, …).
fn cookie_named(r: &reqwest::Response, base: &str) -> (String, String, String) {
    set_cookies(r)
        .into_iter()
        .find(|(n, _, _)| n.ends_with(base))
        .unwrap_or_else(|| panic!("no {base} cookie set"))
}

/// An anonymous visit to the sign-in page: the CSRF cookie it sets and the form's token.
async fn anonymous_pair(s: &TestServer) -> ((String, String, String), String) {
    let r = raw().get(s.url("/login")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cookie = cookie_named(&r, "tp_csrf");
    (cookie, csrf_of(&r.text().await.unwrap()))
}

/// Signs in with a fresh client; returns the session cookie `(name, value)`.
async fn session_of(s: &TestServer, user: &str) -> (String, String) {
    let ((csrf_name, seed, _), token) = anonymous_pair(s).await;
    let r = raw()
        .post(s.url("/login"))
        .header("cookie", format!("{csrf_name}={seed}"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", user),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "sign-in of {user}");
    let (name, value, _) = cookie_named(&r, "tp_session");
    (name, value)
}

#[tokio::test]
async fn a_victims_session_with_an_attackers_csrf_seed_and_token_is_refused() {
    let s = TestServer::start().await;
    s.user("root", &[Role::GlobalAdministrator]).await;
    s.user("mallory", &[]).await;
    let (session_name, victim) = session_of(&s, "root").await;
    // The attacker's own, perfectly valid, seed and token: anonymously from the sign-in page,
    // and from a page of their own signed-in session.
    let ((csrf_name, seed, _), token) = anonymous_pair(&s).await;
    let mallory = signed_in(&s, "mallory").await;
    let page = mallory.get(s.url("/my")).send().await.unwrap();
    let mallory_token = csrf_of(&page.text().await.unwrap());
    for (label, token) in [("anonymous", &token), ("signed-in", &mallory_token)] {
        // The attacker planted their seed in the victim's browser (a sibling host, plain
        // http): the victim's session rides along with the attacker's token.
        let planted = format!("{session_name}={victim}; {csrf_name}={seed}");
        let r = raw()
            .post(s.url("/api/v1/tokens"))
            .header("cookie", &planted)
            .header("x-csrf-token", token.as_str())
            .json(&json!({"name": "pwned", "role": "global_administrator"}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            403,
            "{label}: API token created with a foreign CSRF pair"
        );
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "csrf_failed");
        // The same through a console form.
        let r = raw()
            .post(s.url("/admin/tokens"))
            .header("cookie", &planted)
            .form(&[
                ("csrf_token", token.as_str()),
                ("name", "pwned"),
                ("role", "global_administrator"),
                ("expires", "1d"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            403,
            "{label}: console form accepted a foreign CSRF pair"
        );
    }
    assert!(s.state.store.list_api_tokens().await.unwrap().is_empty());
    // The victim's own token (from a page of their session) works, with or without a seed.
    let page = raw()
        .get(s.url("/my"))
        .header("cookie", format!("{session_name}={victim}"))
        .send()
        .await
        .unwrap();
    let own = csrf_of(&page.text().await.unwrap());
    let r = raw()
        .post(s.url("/api/v1/groups"))
        .header("cookie", format!("{session_name}={victim}"))
        .header("x-csrf-token", &own)
        .json(&json!({"name": "ok"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // A token of one session does not carry over to another session of the same user.
    let (_, second) = session_of(&s, "root").await;
    let r = raw()
        .post(s.url("/api/v1/groups"))
        .header("cookie", format!("{session_name}={second}"))
        .header("x-csrf-token", &own)
        .json(&json!({"name": "other"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    s.stop().await;
}

fn https(c: &mut trustplane_server::platform::config::Config) {
    c.public_url = Some("https://id.example.test".into());
}

fn https_with_domain(c: &mut trustplane_server::platform::config::Config) {
    c.public_url = Some("https://id.example.test".into());
    c.cookie_domain = Some("example.test".into());
}

#[tokio::test]
async fn https_deployments_use_host_prefixed_cookies_and_ignore_planted_plain_ones() {
    let s = TestServer::with(Options {
        configure: Some(https),
        ..Options::default()
    })
    .await;
    s.user("mallory", &[]).await;
    let ((name, seed, attrs), token) = anonymous_pair(&s).await;
    assert_eq!(name, "__Host-tp_csrf");
    assert!(
        attrs.contains("Secure") && attrs.contains("Path=/"),
        "{attrs}"
    );
    assert!(!attrs.to_ascii_lowercase().contains("domain"), "{attrs}");
    // Login CSRF: a sibling host plants a plain `tp_csrf` (it cannot set a `__Host-` cookie)
    // and posts the sign-in form with the matching token, to sign the victim in as mallory.
    let login = |cookie: String| {
        let token = token.clone();
        let s = &s;
        async move {
            raw()
                .post(s.url("/login"))
                .header("cookie", cookie)
                .form(&[
                    ("csrf_token", token.as_str()),
                    ("username", "mallory"),
                    ("password", PASSWORD),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let r = login(format!("tp_csrf={seed}")).await;
    assert_eq!(r.status(), 403, "a planted plain-named seed was honoured");
    // The real cookie works, and the session cookie is `__Host-` too.
    let r = login(format!("__Host-tp_csrf={seed}")).await;
    assert_eq!(r.status(), 303);
    let (name, secret, attrs) = cookie_named(&r, "tp_session");
    assert_eq!(name, "__Host-tp_session");
    assert!(
        attrs.contains("Secure") && attrs.contains("HttpOnly"),
        "{attrs}"
    );
    assert!(!attrs.to_ascii_lowercase().contains("domain"), "{attrs}");
    // Session fixation by planting: a plain `tp_session` is not a session here.
    let me = |cookie: String| {
        let s = &s;
        async move {
            raw()
                .get(s.url("/api/v1/me"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(me(format!("tp_session={secret}")).await, 401);
    assert_eq!(me(format!("__Host-tp_session={secret}")).await, 200);
    s.stop().await;
}

#[tokio::test]
async fn a_shared_cookie_domain_uses_a_secure_prefixed_session_cookie() {
    let s = TestServer::with(Options {
        configure: Some(https_with_domain),
        ..Options::default()
    })
    .await;
    s.user("alice", &[]).await;
    let ((csrf_name, _, _), _) = anonymous_pair(&s).await;
    assert_eq!(csrf_name, "__Host-tp_csrf", "the CSRF seed stays host-only");
    let (name, _) = session_of(&s, "alice").await;
    assert_eq!(name, "__Secure-tp_session");
    s.stop().await;
}

#[tokio::test]
async fn plain_http_keeps_plain_cookie_names() {
    let s = TestServer::start().await;
    s.user("alice", &[]).await;
    let ((name, _, attrs), _) = anonymous_pair(&s).await;
    assert_eq!(name, "tp_csrf");
    assert!(!attrs.contains("Secure"), "{attrs}");
    let (name, _) = session_of(&s, "alice").await;
    assert_eq!(name, "tp_session");
    s.stop().await;
}

/// Redirect targets an attacker might put in `next` or `to`. Browsers strip tabs and newlines
/// from URLs and treat `\` as `/`, so each of these could end on another site.
const HOSTILE: &[&str] = &[
    "/\t/evil.example/phish",
    "/\u{b}/evil.example/phish",
    "/\n/evil.example/phish",
    "/\r/evil.example/phish",
    "/ /evil.example/phish",
    "/\u{a0}/evil.example/phish",
    "/\u{2028}/evil.example/phish",
    "/\\evil.example/phish",
    "/%09/evil.example/phish",
    "/%5C/evil.example/phish",
    "/%2F/evil.example/phish",
    "//evil.example/phish",
    "\\\\evil.example/phish",
    "https://evil.example/phish",
    "http://\tevil.example/",
];

#[tokio::test]
async fn login_return_refuses_every_hostile_target() {
    let s = TestServer::start().await;
    for to in HOSTILE {
        let q = serde_urlencoded::to_string([("to", to)]).unwrap();
        let r = raw()
            .get(s.url(&format!("/login/return?{q}")))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_redirection(), "{to:?}: {}", r.status());
        assert_eq!(r.headers()["location"], "/my", "{to:?}");
    }
    s.stop().await;
}

#[tokio::test]
async fn the_sign_in_form_refuses_every_hostile_next() {
    let s = TestServer::start().await;
    s.user("alice", &[]).await;
    for next in HOSTILE {
        let c = client();
        let q = serde_urlencoded::to_string([("next", next)]).unwrap();
        let page = c.get(s.url(&format!("/login?{q}"))).send().await.unwrap();
        assert_eq!(page.status(), 200, "{next:?}");
        let html = page.text().await.unwrap();
        assert!(!html.contains("evil.example"), "{next:?} kept in the form");
        let r = c
            .post(s.url("/login"))
            .form(&[
                ("csrf_token", csrf_of(&html).as_str()),
                ("username", "alice"),
                ("password", PASSWORD),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{next:?}");
        assert_eq!(r.headers()["location"], "/my", "{next:?}");
    }
    s.stop().await;
}

#[tokio::test]
async fn redirect_uris_with_control_characters_cannot_be_registered() {
    let s = TestServer::start().await;
    s.user("root", &[Role::GlobalAdministrator]).await;
    let (_, secret) = s
        .ops()
        .create_token(
            &trustplane_core::audit::Actor::system(),
            "t",
            Role::GlobalAdministrator,
            time::Duration::days(1),
        )
        .await
        .unwrap();
    let r = raw()
        .post(s.url("/api/v1/applications"))
        .bearer_auth(&secret)
        .json(&json!({"id": "crm", "name": "CRM"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let api = |uri: &'static str, field: &'static str| {
        let (s, secret) = (&s, secret.clone());
        async move {
            let mut body = json!({
                "name": "RP", "app_id": "crm",
                "redirect_uris": ["https://rp.example.com/cb"],
            });
            body[field] = json!([uri]);
            raw()
                .post(s.url("/api/v1/oidc/clients"))
                .bearer_auth(secret)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    for uri in [
        "https://rp.example.com/\tcb",
        "https://rp.example.com/c\u{b}b",
        "https://rp.example.com/c b",
        "https://rp.example.com\\@evil.example/",
    ] {
        for field in ["redirect_uris", "post_logout_redirect_uris"] {
            let r = api(uri, field).await;
            assert_eq!(r.status(), 400, "{uri:?} in {field}");
            assert_eq!(
                r.json::<Value>().await.unwrap()["error"],
                "invalid_redirect_uri"
            );
        }
    }
    s.stop().await;
}
