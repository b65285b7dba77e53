use crate::harness::*;
use trustplane_core::identity::{Role, UserStatus};
use trustplane_core::signin::SignInResult;
use trustplane_store::SignInQuery;

#[tokio::test]
async fn bootstrap_creates_the_first_admin_once() {
    let s = TestServer::start().await;
    let url = s
        .bootstrap_url
        .clone()
        .expect("bootstrap link on first start");
    let c = client();
    let page = c.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let token = url.split("token=").nth(1).unwrap();
    let form = [
        ("csrf_token", csrf_of(&html)),
        ("token", token.to_string()),
        ("username", "root".to_string()),
        ("display_name", "Root".to_string()),
        ("password", PASSWORD.to_string()),
    ];
    let r = c
        .post(s.url("/bootstrap"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let roles = {
        let u = s.state.store.find_user("root").await.unwrap().unwrap();
        s.state.store.roles_of(u.id).await.unwrap()
    };
    assert_eq!(roles, vec![Role::GlobalAdministrator]);
    // The link is single-use.
    let again = c
        .post(s.url("/bootstrap"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    assert_eq!(s.state.store.count_users().await.unwrap(), 1);
    // Audited (after what the server creates at start: the assertion signing key, and the
    // application and client devices register through).
    let audit = s.state.store.verify_audit().await.unwrap().unwrap();
    assert_eq!(audit, 4);
    s.stop().await;
}

#[tokio::test]
async fn password_sign_in_issues_a_secure_session_cookie() {
    let s = TestServer::start().await;
    s.user("alice", &[]).await;
    let c = client();
    let r = login(&c, &s, "alice", PASSWORD).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/my");
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("tp_session="))
        .expect("session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    // Only the hash of the secret is stored.
    let secret = cookie
        .trim_start_matches("tp_session=")
        .split(';')
        .next()
        .unwrap();
    assert_eq!(secret.len(), 43);
    let me: serde_json::Value = c
        .get(s.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "alice");
    assert_eq!(me["amr"], serde_json::json!(["pwd"]));
    let by_secret = s.state.store.session_by_secret(secret).await.unwrap();
    assert!(by_secret.is_none(), "raw secret must not be a lookup key");
    s.stop().await;
}

#[tokio::test]
async fn login_username_is_case_insensitive_and_next_is_honoured() {
    let s = TestServer::start().await;
    s.user("Bob", &[]).await;
    let c = client();
    let token = csrf(&c, &s, "/login?next=/my").await;
    let r = c
        .post(s.url("/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", "  BOB "),
            ("password", PASSWORD),
            ("next", "https://evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/my", "no open redirect");
    s.stop().await;
}

#[tokio::test]
async fn unknown_user_wrong_password_and_disabled_look_the_same() {
    let s = TestServer::start().await;
    let carol = s.user("carol", &[]).await;
    s.user("dave", &[]).await;
    s.ops()
        .update_user(
            &trustplane_core::audit::Actor::system(),
            carol.id,
            None,
            None,
            Some(UserStatus::Disabled),
        )
        .await
        .unwrap();
    let mut seen = vec![];
    for (user, pw) in [
        ("nobody", PASSWORD),
        ("dave", "wrong password here"),
        ("carol", PASSWORD),
    ] {
        let c = client();
        let r = login(&c, &s, user, pw).await;
        let status = r.status();
        let body = r.text().await.unwrap();
        assert!(body.contains("Incorrect username or password."));
        // Strip the parts that legitimately differ (CSRF token, echoed username).
        let normalised = body
            .replace(&csrf_of(&body), "TOKEN")
            .replace(&format!("value=\"{user}\""), "value=\"USER\"");
        seen.push((status, normalised));
    }
    assert!(seen.iter().all(|(st, _)| *st == 401));
    assert_eq!(seen[0].1, seen[1].1);
    assert_eq!(seen[1].1, seen[2].1);
    // The sign-in log tells them apart for administrators.
    let log = s
        .state
        .store
        .list_sign_ins(&SignInQuery {
            result: Some(SignInResult::Failure),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut reasons: Vec<_> = log
        .iter()
        .map(|e| e.failure_reason.clone().unwrap())
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        vec!["account_disabled", "unknown_user", "wrong_password"]
    );
    assert!(log.iter().all(|e| e.ip.as_deref() == Some("127.0.0.1")));
    assert!(log.iter().all(|e| !e.correlation_id.is_empty()));
    s.stop().await;
}

#[tokio::test]
async fn account_lockout_refuses_even_the_right_password() {
    let s = TestServer::with(Options {
        failures_per_account: 3,
        ..Options::default()
    })
    .await;
    s.user("erin", &[]).await;
    let c = client();
    for _ in 0..3 {
        assert_eq!(
            login(&c, &s, "erin", "not the password").await.status(),
            401
        );
    }
    let r = login(&c, &s, "erin", PASSWORD).await;
    assert_eq!(r.status(), 429);
    // Unknown names are counted the same way, so lockout reveals nothing.
    for _ in 0..3 {
        login(&c, &s, "ghost", "x").await;
    }
    assert_eq!(login(&c, &s, "ghost", "x").await.status(), 429);
    s.stop().await;
}

#[tokio::test]
async fn per_ip_rate_limit() {
    let s = TestServer::with(Options {
        per_ip: 2,
        ..Options::default()
    })
    .await;
    s.user("fay", &[]).await;
    let c = client();
    login(&c, &s, "fay", "bad").await;
    login(&c, &s, "fay", "bad").await;
    assert_eq!(login(&c, &s, "fay", PASSWORD).await.status(), 429);
    s.stop().await;
}

#[tokio::test]
async fn logout_revokes_the_session_server_side() {
    let s = TestServer::start().await;
    s.user("gus", &[]).await;
    let c = signed_in(&s, "gus").await;
    let sessions = s.state.store.list_sessions(None, None, 10).await.unwrap();
    assert_eq!(sessions.len(), 1);
    let token = csrf(&c, &s, "/my").await;
    let r = c
        .post(s.url("/logout"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let after = s
        .state
        .store
        .get_session(sessions[0].id)
        .await
        .unwrap()
        .unwrap();
    assert!(after.revoked_at.is_some());
    assert_eq!(
        c.get(s.url("/api/v1/me")).send().await.unwrap().status(),
        401
    );
    let my = c.get(s.url("/my")).send().await.unwrap();
    assert_eq!(my.status(), 303);
    assert!(
        my.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login?next=")
    );
    s.stop().await;
}

#[tokio::test]
async fn old_hash_parameters_are_upgraded_on_sign_in() {
    let s = TestServer::start().await;
    let u = s.user("hal", &[]).await;
    let old = trustplane_core::credential::HashParams {
        memory_kib: 4096,
        iterations: 10,
        parallelism: 1,
    };
    let h = trustplane_core::credential::hash_password(PASSWORD, &old, &[9u8; 16]).unwrap();
    s.state
        .store
        .set_password_hash(u.id, &h, false, None, None)
        .await
        .unwrap();
    signed_in(&s, "hal").await;
    let rec = s.state.store.login_record("hal").await.unwrap().unwrap();
    let stored = rec.password_hash.unwrap();
    assert!(stored.contains("m=8192,t=5,p=1"), "{stored}");
    s.stop().await;
}

#[tokio::test]
async fn users_can_list_and_revoke_their_own_sessions_only() {
    let s = TestServer::start().await;
    s.user("ivy", &[]).await;
    s.user("jon", &[]).await;
    let ivy1 = signed_in(&s, "ivy").await;
    let ivy2 = signed_in(&s, "ivy").await;
    let jon = signed_in(&s, "jon").await;
    let mine: Vec<serde_json::Value> = ivy1
        .get(s.url("/api/v1/me/sessions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine.len(), 2);
    let jon_me: serde_json::Value = jon
        .get(s.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jon_session = jon_me["session_id"].as_str().unwrap();
    let ivy2_me: serde_json::Value = ivy2
        .get(s.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ivy2_session = ivy2_me["session_id"].as_str().unwrap();
    let token = csrf(&ivy1, &s, "/my").await;
    // Someone else's session: not found, nothing changes.
    let r = ivy1
        .post(s.url(&format!("/my/sessions/{jon_session}/revoke")))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        jon.get(s.url("/api/v1/me")).send().await.unwrap().status(),
        200
    );
    // Own other session: revoked.
    let r = ivy1
        .post(s.url(&format!("/my/sessions/{ivy2_session}/revoke")))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        ivy2.get(s.url("/api/v1/me")).send().await.unwrap().status(),
        401
    );
    assert_eq!(
        ivy1.get(s.url("/api/v1/me")).send().await.unwrap().status(),
        200
    );
    s.stop().await;
}

#[tokio::test]
async fn changing_own_password_requires_the_current_one_and_signs_out_everywhere() {
    let s = TestServer::start().await;
    s.user("kim", &[]).await;
    let c = signed_in(&s, "kim").await;
    let other = signed_in(&s, "kim").await;
    let token = csrf(&c, &s, "/my").await;
    let r = c
        .post(s.url("/my/password"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("current_password", "not my password"),
            ("new_password", "a whole new passphrase"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/my?err=wrong_password");
    assert_eq!(
        other
            .get(s.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = c
        .post(s.url("/my/password"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("current_password", PASSWORD),
            ("new_password", "a whole new passphrase"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        other
            .get(s.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(login(&client(), &s, "kim", PASSWORD).await.status(), 401);
    assert_eq!(
        login(&client(), &s, "kim", "a whole new passphrase")
            .await
            .status(),
        303
    );
    s.stop().await;
}

#[tokio::test]
async fn admin_pages_need_an_admin_role() {
    let s = TestServer::start().await;
    s.user("lee", &[]).await;
    s.user("boss", &[Role::GlobalAdministrator]).await;
    let lee = signed_in(&s, "lee").await;
    let r = lee.get(s.url("/admin")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("Access denied"));
    let boss = signed_in(&s, "boss").await;
    for page in [
        "/admin",
        "/admin/users",
        "/admin/groups",
        "/admin/sessions",
        "/admin/sign-ins",
        "/admin/audit",
        "/admin/tokens",
    ] {
        let r = boss.get(s.url(page)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{page}");
        let html = r.text().await.unwrap();
        assert!(html.contains("class=\"nav\""), "{page}");
    }
    s.stop().await;
}

#[tokio::test]
async fn admin_console_creates_users_and_groups_with_csrf() {
    let s = TestServer::start().await;
    s.user("boss", &[Role::GlobalAdministrator]).await;
    let c = signed_in(&s, "boss").await;
    let token = csrf(&c, &s, "/admin/users").await;
    let r = c
        .post(s.url("/admin/users"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", "mia"),
            ("display_name", "Mia <script>alert(1)</script>"),
            ("email", "mia@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let html = c
        .get(s.url(&loc))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Mia &#60;script&#62;") || html.contains("Mia &lt;script&gt;"),
        "escaped"
    );
    assert!(!html.contains("<script>alert(1)"));
    // Without the CSRF token nothing is created.
    let r = c
        .post(s.url("/admin/groups"))
        .form(&[("name", "sneaky")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(s.state.store.find_group("sneaky").await.unwrap().is_none());
    let r = c
        .post(s.url("/admin/groups"))
        .form(&[("csrf_token", token.as_str()), ("name", "finance")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let g = s.state.store.find_group("finance").await.unwrap().unwrap();
    let r = c
        .post(s.url(&format!("/admin/groups/{}/members", g.id)))
        .form(&[("csrf_token", token.as_str()), ("username", "mia")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let mia = signed_in(&s, "mia").await;
    let me: serde_json::Value = mia
        .get(s.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["groups"], serde_json::json!(["finance"]));
    s.stop().await;
}
