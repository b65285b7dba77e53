//! Forward-auth with hostile input: whatever a client smuggles into the headers the proxy
//! forwards, the answer is a refusal (never an allow for another route, never a redirect to a
//! foreign host, never a reflected header).

use crate::harness::*;
use crate::mfa::admin_token;
use serde_json::json;
use trustplane_core::identity::Role;

async fn setup() -> (TestServer, reqwest::Client) {
    let s = TestServer::start().await;
    let t = admin_token(&s, Role::SecurityAdministrator).await;
    let r = client()
        .post(s.url("/api/v1/applications"))
        .bearer_auth(&t)
        .json(&json!({ "id": "wiki", "name": "Wiki" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = client()
        .post(s.url("/api/v1/applications/wiki/routes"))
        .bearer_auth(&t)
        .json(&json!({ "host": "wiki.test", "path_prefix": "/public" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    s.user("wendy", &[]).await;
    let c = signed_in(&s, "wendy").await;
    (s, c)
}

async fn check(c: &reqwest::Client, s: &TestServer, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut r = c.get(s.url("/forward-auth"));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.send().await.unwrap()
}

#[tokio::test]
async fn hostile_forwarded_headers_are_refused() {
    let (s, c) = setup().await;
    // The honest request is allowed, so the refusals below are about the input.
    let ok = check(
        &c,
        &s,
        &[
            ("x-forwarded-host", "wiki.test"),
            ("x-forwarded-uri", "/public/page"),
        ],
    )
    .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["x-trustplane-user"], "wendy");

    let refused: &[(&[(&str, &str)], u16)] = &[
        // Path tricks that a backend may resolve into another route.
        (
            &[
                ("x-forwarded-host", "wiki.test"),
                ("x-forwarded-uri", "/public/../admin"),
            ],
            403,
        ),
        (
            &[
                ("x-forwarded-host", "wiki.test"),
                ("x-forwarded-uri", "/public/%2e%2e/admin"),
            ],
            403,
        ),
        (
            &[
                ("x-forwarded-host", "wiki.test"),
                ("x-forwarded-uri", "/public%2F..%2Fadmin"),
            ],
            403,
        ),
        (
            &[
                ("x-forwarded-host", "wiki.test"),
                ("x-forwarded-uri", "/public\\..\\admin"),
            ],
            403,
        ),
        // A prefix that only looks like the route.
        (
            &[
                ("x-forwarded-host", "wiki.test"),
                ("x-forwarded-uri", "/publicity"),
            ],
            403,
        ),
        // Hosts with user info, ports that differ, or a different case of trick.
        (
            &[
                ("x-forwarded-host", "evil.test@wiki.test"),
                ("x-forwarded-uri", "/public"),
            ],
            400,
        ),
        (
            &[
                ("x-forwarded-host", "wiki.test.evil.test"),
                ("x-forwarded-uri", "/public"),
            ],
            403,
        ),
        (
            &[
                ("x-forwarded-host", "wiki.test/x"),
                ("x-forwarded-uri", "/public"),
            ],
            400,
        ),
        // A URI that is not a path, or a scheme that is not HTTP.
        (
            &[
                ("x-forwarded-host", "wiki.test"),
                ("x-forwarded-uri", "public"),
            ],
            400,
        ),
        (
            &[
                ("x-forwarded-host", "wiki.test"),
                ("x-forwarded-uri", "/public"),
                ("x-forwarded-proto", "javascript"),
            ],
            400,
        ),
        (&[("x-original-url", "//evil.test/public")], 400),
        (
            &[("x-original-url", "http://wiki.test@evil.test/public")],
            400,
        ),
        // Nothing to go by.
        (&[], 400),
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

    // The sign-in URL of an anonymous request names the original URL percent-encoded, so a
    // crafted URI cannot add parameters (or headers) to it.
    let r = client()
        .get(s.url("/forward-auth"))
        .header("x-forwarded-host", "wiki.test")
        .header(
            "x-forwarded-uri",
            "/public/x?a=1&next=https://evil.test&app=other",
        )
        .send()
        .await
        .unwrap();
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
    let r = client()
        .get(s.url("/login/return?to=https%3A%2F%2Fevil.test%2F"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/my");
    let r = client()
        .get(s.url("/login/return?to=http%3A%2F%2Fwiki.test%2Fpublic%2Fa"))
        .send()
        .await
        .unwrap();
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
    let t = admin_token(&s, Role::SecurityAdministrator).await;
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
            .bearer_auth(&t)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    s.user("wendy", &[]).await;
    let c = signed_in(&s, "wendy").await;
    for _ in 0..100 {
        if s.state.cae.is_live() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(s.state.cae.is_live(), "the decision cache is in play");
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
