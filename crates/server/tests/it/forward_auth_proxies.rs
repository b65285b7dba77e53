//! Hostile requests through the documented proxy configurations (`docs/proxy/`), run in real
//! nginx and Caddy (Traefik and Envoy are not installable here: their files are parsed and
//! checked for the same properties). A signed-in user who may use the wiki but not the payroll
//! application, and not the secret application without MFA, tries every way of getting the
//! proxy to serve what policy refuses: forged forwarding headers, forged identity headers, and
//! paths the upstream reads differently from a naive match. The upstream reports the method,
//! path and identity headers it was given; a trick "works" when it serves a blocked path.

use crate::harness::*;
use crate::proxies::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use trustplane_core::audit::Actor;
use trustplane_core::identity::Role;

/// One raw HTTP/1.1 request (no client-side normalisation of the path): status and body.
async fn raw_get(port: u16, target: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut req = format!("GET {target} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {SITE_HOST}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The upstream's report in a body (chunked or not): the JSON object in it.
fn report(body: &str) -> Value {
    let start = body.find('{').unwrap_or(0);
    let end = body.rfind('}').map_or(body.len(), |e| e + 1);
    serde_json::from_str(&body[start..end]).unwrap_or(Value::Null)
}

struct World {
    s: TestServer,
    /// `tp_session=…` of alice (password only, member of "R&D, Europe").
    cookie: String,
    upstream: String,
}

/// wiki (`/`, allowed), payroll (`/payroll`, blocked for everyone), secret (`/secret`, MFA
/// required), all on `host`.
async fn world(host: &str) -> World {
    let s = TestServer::start().await;
    let token = admin_token(&s, Role::SecurityAdministrator).await;
    let post = |path: String, body: Value| {
        let r = client()
            .post(s.url(&path))
            .bearer_auth(&token)
            .json(&body)
            .send();
        async move {
            let r = r.await.unwrap();
            assert_eq!(r.status(), 201, "{path}: {}", r.text().await.unwrap());
        }
    };
    for (id, prefix) in [
        ("wiki", "/"),
        ("payroll", "/payroll"),
        ("secret", "/secret"),
    ] {
        post(
            "/api/v1/applications".into(),
            json!({ "id": id, "name": id }),
        )
        .await;
        post(
            format!("/api/v1/applications/{id}/routes"),
            json!({ "host": host, "path_prefix": prefix }),
        )
        .await;
    }
    let doc = json!({ "policies": [
        { "id": "no-payroll", "name": "Nobody on payroll", "state": "enabled",
          "assignments": { "users": { "include": { "all": true } },
                           "applications": { "include": ["payroll"] } },
          "grant": "block" },
        { "id": "secret-mfa", "name": "MFA for secret", "state": "enabled",
          "assignments": { "users": { "include": { "all": true } },
                           "applications": { "include": ["secret"] } },
          "grant": { "operator": "all", "controls": ["mfa"] } } ] });
    let r = client()
        .put(s.url("/api/v1/conditional-access?based_on=0&comment=test"))
        .bearer_auth(&token)
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let alice = s.user("alice", &[]).await;
    let g = s
        .ops()
        .create_group(&Actor::system(), "R&D, Europe", "")
        .await
        .unwrap();
    s.ops()
        .add_member(&Actor::system(), g.id, alice.id)
        .await
        .unwrap();
    let r = login(&client(), &s, "alice", PASSWORD).await;
    assert_eq!(r.status(), 303);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("tp_session="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_string();
    let upstream = echo_upstream().await;
    World {
        s,
        cookie,
        upstream,
    }
}

/// Requests that must never be served: the upstream must not answer, whatever the status.
fn never_served(label: &str, (status, body): &(u16, String)) {
    assert!(
        !(200..300).contains(status) && report(body).get("path").is_none(),
        "{label}: served ({status}): {body}"
    );
}

/// The attacks, against a proxy listening on `port` in front of `w`.
async fn attack(proxy: &str, port: u16, w: &World, log: impl Fn() -> String) {
    let ck = w.cookie.as_str();
    // The honest requests: the wiki is served with alice's identity; payroll is refused.
    let ok = raw_get(port, "/docs/page?x=1", &[("Cookie", ck)]).await;
    assert_eq!(ok.0, 200, "{proxy}: {}\n{}", ok.1, log());
    let seen = report(&ok.1);
    assert_eq!(seen["path"], "/docs/page?x=1");
    assert_eq!(seen["x-trustplane-user"], "alice");
    // Group names are percent-encoded: the comma inside the name is not a separator.
    assert_eq!(seen["x-trustplane-groups"], "R&D%2C%20Europe", "{proxy}");
    never_served(
        &format!("{proxy} payroll"),
        &raw_get(port, "/payroll/x", &[("Cookie", ck)]).await,
    );

    // 1. Forged forwarding headers on a request for the blocked application.
    let forged: &[(&str, &str)] = &[
        ("X-Forwarded-Host", "other.example.com"),
        ("X-Forwarded-Uri", "/"),
        ("X-Forwarded-Method", "OPTIONS"),
        ("X-Forwarded-Proto", "https"),
        ("X-Original-URL", "http://wiki.example.com/"),
        ("X-Original-URI", "/"),
        ("Forwarded", "host=other.example.com;proto=https"),
    ];
    for h in forged {
        let r = raw_get(port, "/payroll/x", &[("Cookie", ck), *h]).await;
        never_served(&format!("{proxy} /payroll/x with {h:?}"), &r);
    }
    let r = raw_get(port, "/payroll/x", &[&[("Cookie", ck)], forged].concat()).await;
    never_served(&format!("{proxy} /payroll/x with all forged headers"), &r);
    // On an allowed request the forged headers change nothing the upstream is told.
    let r = raw_get(
        port,
        "/docs/a",
        &[
            ("Cookie", ck),
            ("X-Forwarded-Method", "DELETE"),
            ("X-Forwarded-Uri", "/payroll/x"),
        ],
    )
    .await;
    assert_eq!(r.0, 200, "{proxy}: {}", r.1);
    assert_eq!(report(&r.1)["path"], "/docs/a");
    assert_eq!(report(&r.1)["method"], "GET");

    // 2. Forged identity headers never reach the upstream, with or without a session.
    let identity: &[(&str, &str)] = &[
        ("Cookie", ck),
        ("X-Trustplane-User", "mallory"),
        ("X-Trustplane-Email", "mallory@example.com"),
        ("X-Trustplane-Groups", "admins"),
        ("X-Trustplane-Device", "managed"),
        ("X-Trustplane-Assertion", "forged"),
        ("X-Trustplane-Login", "https://evil.example/"),
    ];
    let r = raw_get(port, "/docs/a", identity).await;
    assert_eq!(r.0, 200, "{proxy}: {}", r.1);
    let seen = report(&r.1);
    assert_eq!(seen["x-trustplane-user"], "alice", "{proxy}: {seen}");
    assert_eq!(seen["x-trustplane-email"], "alice@example.com", "{proxy}");
    assert_eq!(seen["x-trustplane-groups"], "R&D%2C%20Europe", "{proxy}");
    assert_ne!(seen["x-trustplane-assertion"], "forged", "{proxy}");
    for h in ["x-trustplane-device", "x-trustplane-login"] {
        assert!(
            seen.get(h).is_none_or(|v| v == ""),
            "{proxy}: {h} reached the upstream: {seen}"
        );
    }
    // Without a session: sent to sign in, never served.
    let r = raw_get(port, "/docs/a", &identity[1..]).await;
    assert_eq!(r.0, 302, "{proxy}: {}", r.1);
    assert!(report(&r.1).get("path").is_none(), "{proxy}");

    // 3. Path tricks: each reaches the payroll (or secret) application at the upstream, so
    // each must be refused (or sent to sign in for MFA), never served.
    for trick in [
        "/%70ayroll/x",
        "/%70%61%79%72%6f%6c%6c/x",
        "//payroll/x",
        "/payroll;x/y",
        "/payroll;/y",
        "/a/../payroll/x",
        "/a/%2e%2e/payroll/x",
        "/payroll%2fx",
        "/x%2f..%2fpayroll",
        "/%73ecret/x",
        "//secret/x",
        "/secret;x",
    ] {
        let r = raw_get(port, trick, &[("Cookie", ck)]).await;
        never_served(&format!("{proxy} {trick}"), &r);
    }
    // The secret application asks for MFA: a sign-in redirect, not a refusal.
    let r = raw_get(port, "/%73ecret/x", &[("Cookie", ck)]).await;
    assert_eq!(r.0, 302, "{proxy}: /%73ecret/x: {}", r.1);
}

#[tokio::test]
async fn nginx_documented_config_withstands_forged_headers_and_path_tricks() {
    let port = free_port();
    let w = world(SITE_HOST).await;
    let Some(nginx) = start_nginx(port, &w.s.base, &w.upstream, SITE_HOST).await else {
        return;
    };
    attack("nginx", port, &w, || nginx.log()).await;
    drop(nginx);
    w.s.stop().await;
}

#[tokio::test]
async fn caddy_documented_config_withstands_forged_headers_and_path_tricks() {
    let port = free_port();
    let w = world(SITE_HOST).await;
    let Some(caddy) = start_caddy(port, &w.s.base, &w.upstream, SITE_HOST).await else {
        return;
    };
    attack("caddy", port, &w, || caddy.log()).await;
    drop(caddy);
    w.s.stop().await;
}

/// A route declared case-insensitive covers `/PAYROLL/x` (for upstreams that serve paths in
/// any case); a case-sensitive one does not claim other cases.
#[tokio::test]
async fn case_insensitive_routes_through_nginx() {
    let port = free_port();
    let w = world(SITE_HOST).await;
    let token = admin_token(&w.s, Role::SecurityAdministrator).await;
    let r = client()
        .post(w.s.url("/api/v1/applications/payroll/routes"))
        .bearer_auth(&token)
        .json(&json!({ "host": SITE_HOST, "path_prefix": "/hr", "case_insensitive": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let got = json(
        client()
            .get(w.s.url("/api/v1/applications/payroll"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let hr = got["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path_prefix"] == "/hr")
        .unwrap();
    assert_eq!(hr["case_insensitive"], true);
    let Some(nginx) = start_nginx(port, &w.s.base, &w.upstream, SITE_HOST).await else {
        return;
    };
    for trick in ["/hr/x", "/HR/x", "/Hr", "/%48R/x", "//hR;a/x"] {
        never_served(
            &format!("nginx {trick}"),
            &raw_get(port, trick, &[("Cookie", &w.cookie)]).await,
        );
    }
    // The payroll route itself is case-sensitive: /PAYROLL is the wiki's (served as such).
    let r = raw_get(port, "/PAYROLL/x", &[("Cookie", &w.cookie)]).await;
    assert_eq!(r.0, 200, "{}", r.1);
    drop(nginx);
    w.s.stop().await;
}

/// Forward-auth refuses every check when no proxy is trusted and no shared secret is set,
/// refuses peers that are not trusted proxies, and accepts a proxy that presents the secret.
#[tokio::test]
async fn only_trusted_proxies_may_ask() {
    let check = |s: &TestServer, extra: Option<(&'static str, &'static str)>| {
        let mut r = client()
            .get(s.url("/forward-auth"))
            .header("x-forwarded-host", "wiki.test")
            .header("x-forwarded-uri", "/");
        if let Some((k, v)) = extra {
            r = r.header(k, v);
        }
        r.send()
    };
    let s = TestServer::with(Options {
        configure: Some(|c| c.forward_auth.trusted_proxies.clear()),
        ..Default::default()
    })
    .await;
    let r = check(&s, None).await.unwrap();
    assert_eq!(r.status(), 500, "nothing configured: refused");
    s.stop().await;

    let s = TestServer::with(Options {
        configure: Some(|c| {
            c.forward_auth.trusted_proxies = vec!["192.0.2.0/24".parse().unwrap()];
            c.forward_auth.shared_secret =
                Some(serde_json::from_value(json!("0123456789abcdef-proxy")).unwrap());
        }),
        ..Default::default()
    })
    .await;
    let token = admin_token(&s, Role::SecurityAdministrator).await;
    for (path, body) in [
        (
            "/api/v1/applications",
            json!({ "id": "wiki", "name": "Wiki" }),
        ),
        (
            "/api/v1/applications/wiki/routes",
            json!({ "host": "wiki.test", "path_prefix": "/" }),
        ),
    ] {
        let r = client()
            .post(s.url(path))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let r = check(&s, None).await.unwrap();
    assert_eq!(r.status(), 403, "an untrusted peer without the secret");
    assert!(r.headers().get("x-trustplane-login").is_none());
    let r = check(
        &s,
        Some(("x-trustplane-proxy-secret", "0123456789abcdef-proxX")),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403, "a wrong secret");
    assert!(r.headers().get("x-trustplane-login").is_none());
    // The right secret: the check is answered (no session: sign in).
    let r = check(
        &s,
        Some(("x-trustplane-proxy-secret", "0123456789abcdef-proxy")),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("x-trustplane-login").is_some());
    s.stop().await;
}

fn yaml(name: &str) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(&std::fs::read_to_string(docs_file(name)).unwrap()).unwrap()
}

fn strings(v: &serde_yaml_ng::Value) -> Vec<String> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("not a list: {v:?}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_ascii_lowercase())
        .collect()
}

const ANSWER: [&str; 5] = [
    "x-trustplane-user",
    "x-trustplane-email",
    "x-trustplane-groups",
    "x-trustplane-device",
    "x-trustplane-assertion",
];

/// Traefik is not installable here: the documented file is checked for the same properties
/// (client X-Trustplane-* and other forwarding headers removed first, forwarding headers not
/// trusted from the client, only cookie and user agent passed to the check, every header of
/// the answer copied).
#[test]
fn traefik_documented_config_sets_and_strips_the_right_headers() {
    let doc = yaml("traefik.yml");
    let http = &doc["http"];
    let router = &http["routers"]["wiki"];
    assert_eq!(
        strings(&router["middlewares"]),
        ["trustplane-strip", "trustplane"],
        "the strip middleware runs before forward-auth"
    );
    let strip = &http["middlewares"]["trustplane-strip"]["headers"]["customRequestHeaders"];
    let stripped: Vec<String> = strip
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            assert_eq!(v.as_str(), Some(""), "{k:?} is removed (empty value)");
            k.as_str().unwrap().to_ascii_lowercase()
        })
        .collect();
    for h in ANSWER.iter().chain(&[
        "x-trustplane-login",
        "x-trustplane-proxy-secret",
        "forwarded",
        "x-original-url",
        "x-original-uri",
        "x-original-method",
    ]) {
        assert!(stripped.contains(&h.to_string()), "{h} is not removed");
    }
    let fa = &http["middlewares"]["trustplane"]["forwardAuth"];
    assert_eq!(fa["trustForwardHeader"].as_bool(), Some(false));
    assert!(fa["address"].as_str().unwrap().ends_with("/forward-auth"));
    assert_eq!(strings(&fa["authRequestHeaders"]), ["cookie", "user-agent"]);
    assert_eq!(strings(&fa["authResponseHeaders"]), ANSWER);
}

/// Envoy is not installable here: the documented file is checked structurally (header
/// mutation before ext_authz removes client X-Trustplane-* and other forwarding headers and
/// sets the X-Forwarded-* headers trustplane reads; only those, the cookie and the user agent
/// go to the check; the answer's headers are the ones copied upstream).
#[test]
fn envoy_documented_config_sets_and_strips_the_right_headers() {
    let doc = yaml("envoy.yaml");
    let hcm =
        &doc["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"];
    let filters = hcm["http_filters"].as_sequence().unwrap();
    let names: Vec<&str> = filters
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "envoy.filters.http.header_mutation",
            "envoy.filters.http.ext_authz",
            "envoy.filters.http.router"
        ]
    );
    let mutations = filters[0]["typed_config"]["mutations"]["request_mutations"]
        .as_sequence()
        .unwrap();
    let removed: Vec<&str> = mutations
        .iter()
        .filter_map(|m| m["remove"].as_str())
        .collect();
    for h in ANSWER.iter().chain(&[
        "x-trustplane-login",
        "x-trustplane-proxy-secret",
        "forwarded",
        "x-original-url",
        "x-original-uri",
        "x-original-method",
    ]) {
        assert!(removed.contains(h), "{h} is not removed");
    }
    let set: Vec<(&str, &str)> = mutations
        .iter()
        .filter(|m| m["append"]["append_action"].as_str() == Some("OVERWRITE_IF_EXISTS_OR_ADD"))
        .map(|m| {
            (
                m["append"]["header"]["key"].as_str().unwrap(),
                m["append"]["header"]["value"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        set,
        [
            ("x-forwarded-method", "%REQ(:METHOD)%"),
            ("x-forwarded-proto", "%REQ(:SCHEME)%"),
            ("x-forwarded-host", "wiki.example.com"),
            ("x-forwarded-uri", "%REQ(:PATH)%"),
        ]
    );
    let authz = &filters[1]["typed_config"]["http_service"];
    assert_eq!(authz["path_prefix"].as_str(), Some("/forward-auth?"));
    let exact = |v: &serde_yaml_ng::Value| -> Vec<String> {
        v["patterns"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|p| {
                p["exact"]
                    .as_str()
                    .unwrap_or_else(|| panic!("only exact patterns: {p:?}"))
                    .to_string()
            })
            .collect()
    };
    assert_eq!(
        exact(&authz["authorization_request"]["allowed_headers"]),
        [
            "cookie",
            "user-agent",
            "x-forwarded-method",
            "x-forwarded-proto",
            "x-forwarded-host",
            "x-forwarded-uri"
        ]
    );
    assert_eq!(
        exact(&authz["authorization_response"]["allowed_upstream_headers"]),
        ANSWER
    );
    assert_eq!(
        exact(&authz["authorization_response"]["allowed_client_headers"]),
        ["x-trustplane-login"]
    );
}

/// Return URLs after sign-in: an application host admits exactly its own port.
#[tokio::test]
async fn return_urls_compare_the_port_exactly() {
    let s = TestServer::start().await;
    let token = admin_token(&s, Role::SecurityAdministrator).await;
    let r = client()
        .post(s.url("/api/v1/applications"))
        .bearer_auth(&token)
        .json(&json!({ "id": "crm", "name": "CRM", "allowed_hosts": ["crm.example.com"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = client()
        .post(s.url("/api/v1/applications/crm/routes"))
        .bearer_auth(&token)
        .json(&json!({ "host": "app.example.com:8443", "path_prefix": "/" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    for (to, allowed) in [
        ("https://crm.example.com/x", true),
        ("https://crm.example.com:443/x", true),
        ("https://crm.example.com:8443/x", false),
        ("http://crm.example.com:8080/x", false),
        ("https://app.example.com:8443/x", true),
        ("https://app.example.com/x", false),
        ("https://app.example.com:9443/x", false),
    ] {
        let r = client()
            .get(s.url(&format!(
                "/login/return?to={}",
                percent_encoding::utf8_percent_encode(to, percent_encoding::NON_ALPHANUMERIC)
            )))
            .send()
            .await
            .unwrap();
        if allowed {
            assert_eq!(r.status(), 200, "{to}");
            assert!(
                r.text().await.unwrap().contains(&format!("url={to}")),
                "{to}"
            );
        } else {
            assert_eq!(r.status(), 303, "{to}");
            assert_eq!(r.headers()["location"], "/my", "{to}");
        }
    }
    s.stop().await;
}
