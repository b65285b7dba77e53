//! Sign-in limits under attack (issue 12 items 3, 5 and 10): second-factor guessing across
//! flows and addresses, concurrent bursts on one flow, flows opened before a lock, smart
//! lockout of a known browser, equal work for unknown accounts, and caps on what
//! unauthenticated requests may write.

use crate::harness::*;
use crate::mfa::{enrol, oathtool};
use std::sync::Arc;
use trustplane_core::signin::SignInResult;
use trustplane_server::platform::config::Config;
use trustplane_store::SignInQuery;

/// Requests from 127.0.0.1 carry their client address in `X-Forwarded-For`.
fn behind_proxy(c: &mut Config) {
    c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
}

fn behind_proxy_one_flow_budget(c: &mut Config) {
    behind_proxy(c);
    // Only the flow's budget applies (the account limit is out of reach).
    c.rate_limit.second_factor_failures_per_account = 100_000;
}

fn behind_proxy_account_limit(c: &mut Config) {
    behind_proxy(c);
    // Only the account limit applies (the flows' budgets are out of reach).
    c.rate_limit.attempts_per_flow = 100_000;
}

/// A password sign-in from `ip` up to the second-factor step.
async fn password_from(
    s: &TestServer,
    c: &reqwest::Client,
    user: &str,
    pw: &str,
    ip: &str,
) -> reqwest::Response {
    let req = login_request(c, s, user, pw).await;
    req.header("x-forwarded-for", ip).send().await.unwrap()
}

/// The CSRF token of the current step.
async fn step_token(s: &TestServer, c: &reqwest::Client) -> String {
    csrf(c, s, "/login/continue").await
}

async fn code_from(
    s: &TestServer,
    c: &reqwest::Client,
    token: &str,
    code: &str,
    ip: &str,
) -> reqwest::Response {
    c.post(s.url("/login/mfa"))
        .header("x-forwarded-for", ip)
        .form(&[("csrf_token", token), ("code", code)])
        .send()
        .await
        .unwrap()
}

/// A refused code: the step again (401), or the sign-in starts over (303 to the form).
fn refused(r: reqwest::Response) {
    let status = r.status();
    if status == 303 {
        assert_eq!(r.headers()["location"], "/login?expired=1");
    } else {
        assert_eq!(status, 401);
    }
}

/// A code that is not the current one (nor, with ±1 step of tolerance, a neighbour).
fn wrong_code(secret: &str) -> String {
    let near = [
        oathtool(secret, "now"),
        oathtool(secret, "now - 30 seconds"),
        oathtool(secret, "now + 30 seconds"),
    ];
    (0..)
        .map(|i: u32| format!("{:06}", 100_000 + i * 7919))
        .find(|c| !near.contains(c))
        .unwrap()
}

/// Codes the server actually checked for `user_id`, counted independently of the limits
/// (each refused code writes one sign-in log row).
async fn wrong_codes_logged(s: &TestServer, user_id: uuid::Uuid) -> usize {
    s.state
        .store
        .list_sign_ins(&SignInQuery {
            user_id: Some(user_id),
            result: Some(SignInResult::Failure),
            failure_reason: Some("totp_invalid".into()),
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .len()
}

/// A user with an authenticator app; returns (user id, base32 secret).
async fn user_with_totp(s: &TestServer, name: &str) -> (uuid::Uuid, String) {
    let u = s.user(name, &[]).await;
    let c = signed_in(s, name).await;
    let secret = enrol(&c, s).await;
    (u.id, secret)
}

/// Before: every flow had its own 10 tries and nothing counted per account, so 5 flows from
/// 5 addresses checked 25 codes and the right code was still accepted after them.
#[tokio::test]
async fn second_factor_guesses_are_limited_per_account_across_flows_and_addresses() {
    let s = TestServer::with(Options {
        configure: Some(behind_proxy),
        ..Options::default()
    })
    .await;
    let (id, secret) = user_with_totp(&s, "gwen").await;
    let wrong = wrong_code(&secret);
    for i in 0..5 {
        let ip = format!("198.51.100.{}", i + 1);
        let c = client();
        let r = password_from(&s, &c, "gwen", PASSWORD, &ip).await;
        assert_eq!(r.headers()["location"], "/login/continue");
        let token = step_token(&s, &c).await;
        for _ in 0..5 {
            refused(code_from(&s, &c, &token, &wrong, &ip).await);
        }
    }
    assert_eq!(
        wrong_codes_logged(&s, id).await,
        10,
        "the account's limit (10) across 5 flows and 5 addresses"
    );
    // Even the right code is refused while the lock lasts, on a brand-new flow.
    let c = client();
    password_from(&s, &c, "gwen", PASSWORD, "203.0.113.9").await;
    let token = step_token(&s, &c).await;
    let r = code_from(&s, &c, &token, &oathtool(&secret, "now"), "203.0.113.9").await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("Too many failed attempts"));
    assert_eq!(get(&c, &s, "/api/v1/me").await.status(), 401);
    s.stop().await;
}

/// Concurrent wrong codes on ONE flow: at most the flow's budget is checked. Before: each
/// request read the attempt count from the flow, checked, and wrote it back, so concurrent
/// requests all passed (123 codes on one flow with a limit of 10).
async fn burst_on_one_flow(database_url: Option<String>) {
    let s = TestServer::with(Options {
        database_url,
        configure: Some(behind_proxy_one_flow_budget),
        ..Options::default()
    })
    .await;
    let (id, secret) = user_with_totp(&s, "bert").await;
    let wrong = wrong_code(&secret);
    let c = client();
    password_from(&s, &c, "bert", PASSWORD, "198.51.100.7").await;
    let token = step_token(&s, &c).await;
    let checked_before = s.state.limits_probe.codes_checked();
    let s = Arc::new(s);
    let mut tasks = Vec::new();
    for _ in 0..60 {
        let (s, c, token, wrong) = (s.clone(), c.clone(), token.clone(), wrong.clone());
        tasks.push(tokio::spawn(async move {
            refused(code_from(&s, &c, &token, &wrong, "198.51.100.7").await)
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let logged = wrong_codes_logged(&s, id).await;
    assert!(
        logged <= 10,
        "{logged} codes checked on one flow (budget 10)"
    );
    assert!(s.state.limits_probe.codes_checked() - checked_before <= 10);
    // The flow is over: even the right code starts the sign-in again.
    let r = code_from(&s, &c, &token, &oathtool(&secret, "now"), "198.51.100.7").await;
    assert_eq!(r.headers()["location"], "/login?expired=1");
}

/// Concurrent wrong codes from many flows: at most the account's limit is checked.
async fn burst_across_flows(database_url: Option<String>) {
    let s = TestServer::with(Options {
        database_url,
        configure: Some(behind_proxy_account_limit),
        ..Options::default()
    })
    .await;
    let (id, secret) = user_with_totp(&s, "cleo").await;
    let wrong = wrong_code(&secret);
    let s = Arc::new(s);
    let mut flows = Vec::new();
    for i in 0..8 {
        let c = client();
        let ip = format!("192.0.2.{}", i + 1);
        password_from(&s, &c, "cleo", PASSWORD, &ip).await;
        let token = step_token(&s, &c).await;
        flows.push((c, token, ip));
    }
    let mut tasks = Vec::new();
    for (c, token, ip) in &flows {
        for _ in 0..6 {
            let (s, c, token, ip, wrong) = (
                s.clone(),
                c.clone(),
                token.clone(),
                ip.clone(),
                wrong.clone(),
            );
            tasks.push(tokio::spawn(async move {
                refused(code_from(&s, &c, &token, &wrong, &ip).await)
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let logged = wrong_codes_logged(&s, id).await;
    assert!(
        logged <= 10,
        "{logged} codes checked for one account (limit 10)"
    );
}

#[tokio::test]
async fn a_concurrent_burst_on_one_flow_checks_at_most_its_budget() {
    burst_on_one_flow(None).await;
}

#[tokio::test]
async fn a_concurrent_burst_across_flows_checks_at_most_the_account_limit() {
    burst_across_flows(None).await;
}

#[tokio::test]
async fn a_concurrent_burst_on_one_flow_checks_at_most_its_budget_on_postgres() {
    let Some(admin) = crate::postgres::admin_url() else {
        return;
    };
    burst_on_one_flow(Some(crate::postgres::fresh_database(&admin).await)).await;
}

#[tokio::test]
async fn a_concurrent_burst_across_flows_checks_at_most_the_account_limit_on_postgres() {
    let Some(admin) = crate::postgres::admin_url() else {
        return;
    };
    burst_across_flows(Some(crate::postgres::fresh_database(&admin).await)).await;
}

/// Before: the lock was only looked at when the password was typed; a flow opened before
/// it still accepted a code.
#[tokio::test]
async fn a_flow_opened_before_the_lock_accepts_no_code() {
    let s = TestServer::with(Options {
        failures_per_account: 3,
        configure: Some(behind_proxy),
        ..Options::default()
    })
    .await;
    let (_, secret) = user_with_totp(&s, "hana").await;
    let early = client();
    let r = password_from(&s, &early, "hana", PASSWORD, "198.51.100.20").await;
    assert_eq!(r.headers()["location"], "/login/continue");
    let token = step_token(&s, &early).await;
    // Now the account locks (wrong passwords from elsewhere).
    for i in 0..3 {
        let r = password_from(
            &s,
            &client(),
            "hana",
            "wrong wrong wrong",
            &format!("192.0.2.{i}"),
        )
        .await;
        assert_eq!(r.status(), 401);
    }
    let r = password_from(&s, &client(), "hana", PASSWORD, "192.0.2.50").await;
    assert_eq!(r.status(), 429, "locked");
    // The early flow refuses even the right code.
    let r = code_from(
        &s,
        &early,
        &token,
        &oathtool(&secret, "now"),
        "198.51.100.20",
    )
    .await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("Too many failed attempts"));
    assert_eq!(get(&early, &s, "/api/v1/me").await.status(), 401);
    s.stop().await;
}

/// Smart lockout. Before: ten wrong passwords from ten addresses locked the user out of
/// every browser, their own included.
#[tokio::test]
async fn the_users_known_browser_still_signs_in_while_strangers_are_locked_out() {
    let s = TestServer::with(Options {
        failures_per_account: 10,
        configure: Some(behind_proxy),
        ..Options::default()
    })
    .await;
    s.user("ivy", &[]).await;
    // Ivy's usual browser signed in before (and got a device cookie).
    let usual = client();
    let r = password_from(&s, &usual, "ivy", PASSWORD, "198.51.100.30").await;
    assert_eq!(r.status(), 303);
    // The attack: ten wrong passwords from ten addresses.
    for i in 0..10 {
        let r = password_from(
            &s,
            &client(),
            "ivy",
            "not her password",
            &format!("203.0.113.{i}"),
        )
        .await;
        assert_eq!(r.status(), 401);
    }
    // Strangers (even with the right password) are locked out...
    let r = password_from(&s, &client(), "ivy", PASSWORD, "203.0.113.99").await;
    assert_eq!(r.status(), 429);
    // ...but Ivy's usual browser signs in.
    let r = password_from(&s, &usual, "ivy", PASSWORD, "198.51.100.30").await;
    assert_eq!(r.status(), 303, "the known browser has its own counter");
    // (Every stranger above had a device cookie of its own: one that never signed in as
    // ivy counts as a stranger.)
    s.stop().await;
}

#[tokio::test]
async fn the_device_cookie_is_random_http_only_and_only_its_hash_is_stored() {
    let s = TestServer::start().await;
    let r = get(&client(), &s, "/login").await;
    let cookie = set_cookie(&r, "tp_device").expect("a device cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("Max-Age="), "{cookie}");
    let value = cookie["tp_device=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(value.len(), 43);
    let r2 = get(&client(), &s, "/login").await;
    let other = set_cookie(&r2, "tp_device").unwrap();
    assert!(!other.contains(&value), "random per browser");
    s.stop().await;
}

/// `/reset/verify` and `/login/tap` do the same work for unknown accounts as for real ones.
/// Before: an unknown account skipped the code check (and the pass lookup) entirely.
#[tokio::test]
async fn unknown_accounts_go_through_the_same_code_check() {
    let s = TestServer::start().await;
    s.user("known", &[]).await;
    for name in ["known", "nobody-here"] {
        let c = client();
        let r = post_form(&c, &s, "/reset", "/reset", &[("username", name)]).await;
        assert_eq!(r.status(), 303);
        let (real, dummy) = (
            s.state.limits_probe.codes_checked(),
            s.state.limits_probe.dummy_checks(),
        );
        let code = [("code", "123456")];
        let r = post_form(&c, &s, "/reset/verify", "/reset/verify", &code).await;
        assert_eq!(r.status(), 401);
        // Every attempt is claimed against the flow and the account...
        assert_eq!(s.state.limits_probe.codes_checked(), real + 1, "{name}");
        // ...and an unknown account gets the dummy check in place of the real one.
        let expected = if name == "known" { dummy } else { dummy + 1 };
        assert_eq!(s.state.limits_probe.dummy_checks(), expected, "{name}");
    }
    // The temporary access pass sign-in: the pass lookup runs for unknown names too.
    for (name, real_delta, dummy_delta) in [("known", 1, 0), ("nobody-here", 0, 1)] {
        let (real, dummy) = (
            s.state.limits_probe.codes_checked(),
            s.state.limits_probe.dummy_checks(),
        );
        let c = client();
        let form = [("username", name), ("pass", "ABCD-EFGH-JKLM")];
        let r = post_form(&c, &s, "/login/tap", "/login/tap", &form).await;
        assert_eq!(r.status(), 401, "{name}");
        assert_eq!(s.state.limits_probe.codes_checked(), real + real_delta);
        assert_eq!(s.state.limits_probe.dummy_checks(), dummy + dummy_delta);
    }
    s.stop().await;
}

fn small_pending_cap(c: &mut Config) {
    c.rate_limit.max_pending = 3;
}

fn small_unauthenticated_rate(c: &mut Config) {
    c.rate_limit.unauthenticated_per_ip_per_minute = 2;
}

async fn passkey_options(s: &TestServer, c: &reqwest::Client, token: &str) -> reqwest::Response {
    c.post(s.url("/login/passkey/options"))
        .header("x-csrf-token", token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
}

/// Before: every request wrote a challenge row, without limit.
#[tokio::test]
async fn unauthenticated_challenges_are_capped_and_rate_limited_per_address() {
    let s = TestServer::with(Options {
        configure: Some(small_pending_cap),
        ..Options::default()
    })
    .await;
    let c = client();
    let token = csrf(&c, &s, "/login").await;
    for _ in 0..3 {
        assert_eq!(passkey_options(&s, &c, &token).await.status(), 200);
    }
    let r = passkey_options(&s, &c, &token).await;
    assert_eq!(r.status(), 503);
    let body = json(r).await;
    assert_eq!(body["error"], "too_many_pending");
    assert!(body["message"].as_str().unwrap().contains("Try again"));
    s.stop().await;

    let s = TestServer::with(Options {
        configure: Some(small_unauthenticated_rate),
        ..Options::default()
    })
    .await;
    let c = client();
    let token = csrf(&c, &s, "/login").await;
    for _ in 0..2 {
        assert_eq!(passkey_options(&s, &c, &token).await.status(), 200);
    }
    let r = passkey_options(&s, &c, &token).await;
    assert_eq!(r.status(), 429);
    assert_eq!(json(r).await["error"], "rate_limited");
    s.stop().await;
}

fn authorize_url(s: &TestServer, client_id: &str) -> String {
    let q = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", "http://127.0.0.1:9/cb"),
        ("scope", "openid"),
        ("state", "st"),
        (
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        ),
        ("code_challenge_method", "S256"),
    ])
    .unwrap();
    s.url(&format!("/oauth2/authorize?{q}"))
}

/// Before: every unauthenticated `/oauth2/authorize` stored a pending request, without limit.
#[tokio::test]
async fn unauthenticated_authorization_requests_are_capped_and_rate_limited() {
    for (configure, refused, code) in [
        (
            small_pending_cap as fn(&mut Config),
            503,
            "too_many_pending",
        ),
        (
            small_unauthenticated_rate as fn(&mut Config),
            429,
            "rate_limited",
        ),
    ] {
        let s = TestServer::with(Options {
            configure: Some(configure),
            ..Options::default()
        })
        .await;
        let rp = crate::oidc::register(&s, false, &crate::oidc::CODE_GRANTS).await;
        let c = client();
        let allowed = if refused == 503 { 3 } else { 2 };
        for i in 0..allowed {
            let r = c.get(authorize_url(&s, &rp.id)).send().await.unwrap();
            assert!(
                r.status().is_redirection(),
                "request {i} goes on to sign-in: {}",
                r.status()
            );
        }
        let r = c.get(authorize_url(&s, &rp.id)).send().await.unwrap();
        assert_eq!(r.status(), refused);
        let page = r.text().await.unwrap();
        assert!(page.contains(code), "{page}");
        s.stop().await;
    }
}

async fn device_authorization(s: &TestServer, client_id: &str) -> reqwest::Response {
    client()
        .post(s.url("/oauth2/device_authorization"))
        .form(&[("client_id", client_id), ("scope", "openid")])
        .send()
        .await
        .unwrap()
}

/// Before: a public client could open device authorizations without limit.
#[tokio::test]
async fn device_authorizations_are_capped_and_rate_limited() {
    for (configure, refused, error) in [
        (
            small_pending_cap as fn(&mut Config),
            503,
            "temporarily_unavailable",
        ),
        (
            small_unauthenticated_rate as fn(&mut Config),
            429,
            "slow_down",
        ),
    ] {
        let s = TestServer::with(Options {
            configure: Some(configure),
            ..Options::default()
        })
        .await;
        let rp = crate::oidc::register(&s, true, &["urn:ietf:params:oauth:grant-type:device_code"])
            .await;
        let allowed = if refused == 503 { 3 } else { 2 };
        for _ in 0..allowed {
            assert_eq!(device_authorization(&s, &rp.id).await.status(), 200);
        }
        let r = device_authorization(&s, &rp.id).await;
        assert_eq!(r.status(), refused);
        assert_eq!(json(r).await["error"], error);
        // Nothing more was written.
        let pending = s
            .state
            .store
            .limits()
            .pending_rows(
                trustplane_store::PendingKind::DeviceAuthorization,
                time::OffsetDateTime::now_utc(),
            )
            .await
            .unwrap();
        assert_eq!(pending, allowed);
        s.stop().await;
    }
}

static SHARED_KEY: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Before: the password lock was counted in each instance's memory, so an attacker spreading
/// guesses over several instances behind a load balancer was never locked out.
#[tokio::test]
async fn the_password_lock_holds_across_instances_on_postgres() {
    let Some(admin) = crate::postgres::admin_url() else {
        return;
    };
    let url = crate::postgres::fresh_database(&admin).await;
    let opts = || Options {
        database_url: Some(url.clone()),
        failures_per_account: 3,
        configure: Some(|cfg| cfg.secret_key_file = SHARED_KEY.get().cloned()),
        ..Options::default()
    };
    let a = TestServer::with(opts()).await;
    // Instances sharing a database share the master key: B uses A's.
    let _ = SHARED_KEY.set(a.data_dir().join("secret.key"));
    let b = TestServer::with(opts()).await;
    a.user("spread", &[]).await;
    // Two wrong passwords on one instance, one on the other.
    for s in [&a, &a, &b] {
        let r = login(&client(), s, "spread", "not the password at all").await;
        assert_eq!(r.status(), 401);
    }
    // The right password is now refused on both instances, although neither saw 3 failures.
    for s in [&a, &b] {
        let r = login(&client(), s, "spread", PASSWORD).await;
        assert_eq!(
            r.status(),
            429,
            "the account must be locked on every instance"
        );
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("Too many sign-in attempts")
        );
    }
    a.stop().await;
    b.stop().await;
}

/// A lock written by another instance (straight into the store) is honoured here, and a
/// successful sign-in elsewhere clears it for everyone.
#[tokio::test]
async fn a_password_lock_recorded_in_the_store_is_honoured() {
    let s = TestServer::with(Options {
        failures_per_account: 3,
        ..Options::default()
    })
    .await;
    s.user("shared", &[]).await;
    let now = time::OffsetDateTime::now_utc();
    for _ in 0..3 {
        s.state
            .store
            .limits()
            .add_failure("pw:shared", now, time::Duration::minutes(15))
            .await
            .unwrap();
    }
    let r = login(&client(), &s, "shared", PASSWORD).await;
    assert_eq!(r.status(), 429);
    s.state
        .store
        .limits()
        .clear_failures("pw:shared")
        .await
        .unwrap();
    let r = login(&client(), &s, "shared", PASSWORD).await;
    assert_eq!(r.status(), 303);
    s.stop().await;
}
