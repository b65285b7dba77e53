//! Forward-auth with hostile input: whatever a client smuggles into the headers the proxy
//! forwards, the answer is a refusal (never an allow for another route, never a redirect to a
//! foreign host, never a reflected header).

use crate::harness::*;
use serde_json::json;
use trustplane_core::identity::Role;

async fn setup() -> (TestServer, reqwest::Client) {
    let s = TestServer::start().await;
    wiki_on(&s, "/public").await;
    s.user("wendy", &[]).await;
    let c = signed_in(&s, "wendy").await;
    (s, c)
}

/// The application `wiki` with one route: `wiki.test` under `prefix`.
async fn wiki_on(s: &TestServer, prefix: &str) {
    let api = admin_api(s, Role::SecurityAdministrator).await;
    let wiki = json!({ "id": "wiki", "name": "Wiki" });
    assert_eq!(api.post("/api/v1/applications", &wiki).await.status(), 201);
    let route = json!({ "host": "wiki.test", "path_prefix": prefix });
    let r = api.post("/api/v1/applications/wiki/routes", &route).await;
    assert_eq!(r.status(), 201);
}

async fn check(c: &reqwest::Client, s: &TestServer, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut r = c.get(s.url("/forward-auth"));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.send().await.unwrap()
}

/// The headers of a proxy that forwards a request for `uri` on `host`, and `more`.
fn forwarded<'a>(
    host: &'a str,
    uri: &'a str,
    more: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut h = vec![("x-forwarded-host", host), ("x-forwarded-uri", uri)];
    h.extend_from_slice(more);
    h
}

#[tokio::test]
async fn hostile_forwarded_headers_are_refused() {
    let (s, c) = setup().await;
    // The honest request is allowed, so the refusals below are about the input.
    let ok = check(&c, &s, &forwarded("wiki.test", "/public/page", &[])).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["x-trustplane-user"], "wendy");

    let refused: &[(Vec<(&str, &str)>, u16)] = &[
        // Path tricks that a backend may resolve into another route.
        (forwarded("wiki.test", "/public/../admin", &[]), 403),
        (forwarded("wiki.test", "/public/%2e%2e/admin", &[]), 403),
        (forwarded("wiki.test", "/public%2F..%2Fadmin", &[]), 403),
        (forwarded("wiki.test", "/public\\..\\admin", &[]), 403),
        // A prefix that only looks like the route.
        (forwarded("wiki.test", "/publicity", &[]), 403),
        // Hosts with user info, ports that differ, or a different case of trick.
        (forwarded("evil.test@wiki.test", "/public", &[]), 400),
        (forwarded("wiki.test.evil.test", "/public", &[]), 403),
        (forwarded("wiki.test/x", "/public", &[]), 400),
        // A URI that is not a path, or a scheme that is not HTTP.
        (forwarded("wiki.test", "public", &[]), 400),
        (
            forwarded(
                "wiki.test",
                "/public",
                &[("x-forwarded-proto", "javascript")],
            ),
            400,
        ),
        (vec![("x-original-url", "//evil.test/public")], 400),
        (
            vec![("x-original-url", "http://wiki.test@evil.test/public")],
            400,
        ),
        // Nothing to go by.
        (vec![], 400),
    ];
    for (headers, status) in refused {
        let r = check(&c, &s, headers).await;
        assert_eq!(r.status().as_u16(), *status, "{headers:?}");
        assert!(
            r.headers().get("x-trustplane-user").is_none(),
            "{headers:?}"
        );
        assert!(
            r.headers().get("x-trustplane-assertion").is_none(),
            "{headers:?}"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn the_sign_in_url_of_a_crafted_request_keeps_to_the_application() {
    let (s, _) = setup().await;
    // The sign-in URL of an anonymous request names the original URL percent-encoded, so a
    // crafted URI cannot add parameters (or headers) to it.
    let crafted = "/public/x?a=1&next=https://evil.test&app=other";
    let r = check(&client(), &s, &forwarded("wiki.test", crafted, &[])).await;
    assert_eq!(r.status(), 401);
    let login = r.headers()["x-trustplane-login"].to_str().unwrap();
    let query = login.split_once('?').unwrap().1;
    let params: Vec<&str> = query
        .split('&')
        .map(|p| p.split('=').next().unwrap())
        .collect();
    assert_eq!(params, ["next", "app"], "{login}");
    assert!(login.ends_with("&app=wiki"), "{login}");
    // Following it does not leave for the foreign host: `next` keeps the wiki URL.
    let html = client()
        .get(login)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(r#"name="next" value="http://wiki.test/public/x?a=1&#38;next=https://evil.test&#38;app=other""#),
        "{html}"
    );
    // The page that ends a sign-in towards an application only moves on to registered hosts.
    let r = get(&client(), &s, "/login/return?to=https%3A%2F%2Fevil.test%2F").await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/my");
    let r = get(
        &client(),
        &s,
        "/login/return?to=http%3A%2F%2Fwiki.test%2Fpublic%2Fa",
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("content=\"0;url=http://wiki.test/public/a\"")
    );
    s.stop().await;
}

#[tokio::test]
async fn assertions_are_bound_to_the_client_certificate_the_proxy_reports() {
    let s = TestServer::with(Options {
        configure: Some(|c| c.client_cert_header = Some("x-client-cert-fingerprint".into())),
        ..Default::default()
    })
    .await;
    wiki_on(&s, "/").await;
    s.user("wendy", &[]).await;
    let c = signed_in(&s, "wendy").await;
    wait_until_cae_is_live(&s).await;
    let base = [("x-forwarded-host", "wiki.test"), ("x-forwarded-uri", "/a")];
    let fp = "3A:".repeat(31) + "3A";
    let claims = |r: &reqwest::Response| -> serde_json::Value {
        use base64::Engine;
        let jwt = r.headers()["x-trustplane-assertion"].to_str().unwrap();
        let payload = jwt.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap()
    };
    // With a certificate: the assertion carries its thumbprint (base64url of the SHA-256).
    let mut with = base.to_vec();
    with.push(("x-client-cert-fingerprint", fp.as_str()));
    let r = check(&c, &s, &with).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        claims(&r)["cnf"]["x5t#S256"],
        "Ojo6Ojo6Ojo6Ojo6Ojo6Ojo6Ojo6Ojo6Ojo6Ojo6Ojo"
    );
    // Another certificate (or none) is never served the cached, bound assertion.
    let other = "4b".repeat(32);
    let mut with_other = base.to_vec();
    with_other.push(("x-client-cert-fingerprint", other.as_str()));
    let r = check(&c, &s, &with_other).await;
    assert_eq!(r.status(), 200);
    assert_ne!(
        claims(&r)["cnf"]["x5t#S256"],
        "Ojo6Ojo6Ojo6Ojo6Ojo6Ojo6Ojo6Ojo6Ojo6Ojo6Ojo"
    );
    let mut empty = base.to_vec();
    empty.push(("x-client-cert-fingerprint", ""));
    let r = check(&c, &s, &empty).await;
    assert_eq!(r.status(), 200);
    assert!(claims(&r).get("cnf").is_none());
    // Anything that is not a fingerprint is refused: a client cannot smuggle text in.
    let mut bad = base.to_vec();
    bad.push(("x-client-cert-fingerprint", "not-a-fingerprint"));
    let r = check(&c, &s, &bad).await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("x-trustplane-assertion").is_none());
    // An oversized original URI is refused too.
    let long = format!("/{}", "a".repeat(9000));
    let r = check(
        &c,
        &s,
        &[
            ("x-forwarded-host", "wiki.test"),
            ("x-forwarded-uri", &long),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    s.stop().await;
}

/// The attack of the security review, without a proxy in between: what nginx's old documented
/// configuration passed through (the client's own X-Forwarded-*, Forwarded and X-Trustplane-*
/// headers next to the X-Original-URL nginx set) must never decide about another request.
/// Before the fix, X-Forwarded-Host won over X-Original-URL and the check answered 200.
#[tokio::test]
async fn ambiguous_sources_and_client_identity_headers_are_refused() {
    let (s, c) = setup().await;
    let nginx = ("x-original-url", "http://wiki.test/admin");
    // The honest check of the blocked path: no route, refused.
    let r = check(&c, &s, &[nginx]).await;
    assert_eq!(r.status(), 403);
    for forged in [
        [
            ("x-forwarded-host", "wiki.test"),
            ("x-forwarded-uri", "/public"),
        ],
        [
            ("x-forwarded-uri", "/public"),
            ("x-forwarded-method", "GET"),
        ],
        [
            ("forwarded", "host=wiki.test"),
            ("x-original-uri", "/public"),
        ],
        [("x-original-uri", "/public"), ("x-forwarded-proto", "http")],
        [
            ("x-trustplane-device", "managed"),
            ("x-forwarded-proto", "http"),
        ],
        [
            ("x-trustplane-user", "mallory"),
            ("x-forwarded-proto", "http"),
        ],
    ] {
        let mut h = vec![nginx];
        h.extend_from_slice(&forged);
        let r = check(&c, &s, &h).await;
        assert_eq!(r.status(), 400, "{forged:?}");
        assert!(r.headers().get("x-trustplane-user").is_none());
    }
    // A header given twice, or a list where one value belongs: ambiguous.
    let r = c
        .get(s.url("/forward-auth"))
        .header("x-forwarded-host", "wiki.test")
        .header("x-forwarded-host", "other.test")
        .header("x-forwarded-uri", "/public")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = check(
        &c,
        &s,
        &[
            ("x-forwarded-host", "other.test, wiki.test"),
            ("x-forwarded-uri", "/public"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    // The allowed answer: 200 with no body and only the headers that matter, so a proxy can
    // keep its connection to trustplane.
    let r = check(
        &c,
        &s,
        &[
            ("x-forwarded-host", "wiki.test"),
            ("x-forwarded-uri", "/public/x"),
            ("x-forwarded-method", "GET"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], "0");
    assert!(r.headers().get("content-type").is_none());
    assert!(r.headers().get("content-security-policy").is_none());
    assert_eq!(r.headers()["x-trustplane-user"], "wendy");
    assert_eq!(r.text().await.unwrap(), "");
    // Refusals and sign-in answers are empty too.
    let r = check(&c, &s, &[nginx]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["content-length"], "0");
    let r = client()
        .get(s.url("/forward-auth"))
        .header("x-forwarded-host", "wiki.test")
        .header("x-forwarded-uri", "/public/x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["content-length"], "0");
    s.stop().await;
}
