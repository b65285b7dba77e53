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
