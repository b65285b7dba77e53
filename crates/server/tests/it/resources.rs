//! Resources under attack: refused sign-ins cost no hash and write one log row per source
//! and window; the hashing queue is bounded (503 + Retry-After); a browser that signed in
//! before is served first; retention deletes expired rows (injected clock).

use crate::harness::*;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};
use time::Duration;
use trustplane_server::platform::clock::ManualClock;
use trustplane_server::platform::config::Config;
use trustplane_store::SignInQuery;

async fn sign_in_rows(s: &TestServer) -> Vec<trustplane_core::signin::SignInEvent> {
    s.state
        .store
        .list_sign_ins(&SignInQuery {
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap()
}

/// Waits (with a deadline) until the hashing queue holds (known, normal) jobs.
async fn queued(s: &TestServer, want: (usize, usize)) {
    let deadline = Instant::now() + StdDuration::from_secs(20);
    while s.state.hash_pool.queued() != want {
        assert!(
            Instant::now() < deadline,
            "queue is {:?}, want {want:?}",
            s.state.hash_pool.queued()
        );
        tokio::time::sleep(StdDuration::from_millis(5)).await;
    }
}

async fn post_login(
    c: &reqwest::Client,
    s: &TestServer,
    token: &str,
    user: &str,
    pw: &str,
) -> reqwest::Response {
    c.post(s.url("/login"))
        .form(&[("csrf_token", token), ("username", user), ("password", pw)])
        .send()
        .await
        .unwrap()
}

fn no_background_job(cfg: &mut Config) {
    cfg.retention.interval_seconds = 0;
}

#[tokio::test]
async fn refused_sign_ins_cost_no_hash_and_write_one_row_per_source_and_window() {
    let clock = Arc::new(ManualClock::starting_now());
    let s = TestServer::with(Options {
        per_ip: 3,
        clock: Some(clock.clone()),
        configure: Some(no_background_job),
        ..Options::default()
    })
    .await;
    s.user("alice", &[]).await;
    let c = client();
    let token = csrf(&c, &s, "/login").await;
    for _ in 0..3 {
        let r = post_login(&c, &s, &token, "alice", "wrong password").await;
        assert_eq!(r.status(), 401);
    }
    assert_eq!(sign_in_rows(&s).await.len(), 3);
    let hashes = s.state.hash_pool.started();

    // The attacker keeps going at full speed: refused, no hash, no row.
    for i in 0..40 {
        let r = post_login(&c, &s, &token, &format!("victim{}", i % 4), "guess").await;
        assert_eq!(r.status(), 429);
    }
    assert_eq!(
        s.state.hash_pool.started(),
        hashes,
        "a refused attempt ran a hash"
    );
    assert_eq!(
        sign_in_rows(&s).await.len(),
        3,
        "refused attempts wrote sign-in log rows"
    );

    // When the window ends the attack shows as one aggregated row.
    clock.advance(Duration::seconds(61));
    let report = trustplane_server::ops::retention::run_once(&s.state, s.state.now()).await;
    assert_eq!(report.refusal_rows, 1);
    let rows = sign_in_rows(&s).await;
    assert_eq!(rows.len(), 4);
    let agg = rows
        .iter()
        .find(|e| e.details.get("aggregated").is_some())
        .unwrap();
    assert_eq!(agg.failure_reason.as_deref(), Some("rate_limited"));
    assert_eq!(agg.ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(agg.details["aggregated"]["attempts"], 40);
    assert_eq!(agg.username, "(4 accounts)");
    s.stop().await;
}

fn one_worker_queue_of_two(cfg: &mut Config) {
    cfg.hashing.workers = 1;
    cfg.hashing.queue = 2;
    cfg.hashing.queue_deadline_ms = 60_000;
}

#[tokio::test]
async fn a_full_hashing_queue_answers_503_with_retry_after() {
    let s = TestServer::with(Options {
        configure: Some(one_worker_queue_of_two),
        ..Options::default()
    })
    .await;
    s.user("alice", &[]).await;
    let c = client();
    let token = csrf(&c, &s, "/login").await;
    s.state.hash_pool.pause();
    let mut waiting = Vec::new();
    for i in 0..2 {
        let (c, token, url) = (c.clone(), token.clone(), s.url("/login"));
        waiting.push(tokio::spawn(async move {
            c.post(url)
                .form(&[
                    ("csrf_token", token.as_str()),
                    ("username", &format!("nobody{i}")),
                    ("password", "x"),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }));
        queued(&s, (0, i + 1)).await;
    }
    let r = post_login(&c, &s, &token, "alice", PASSWORD).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "2");
    assert!(r.text().await.unwrap().contains("Try again in a moment"));
    s.state.hash_pool.resume();
    for w in waiting {
        assert_eq!(w.await.unwrap(), 401);
    }
    // With room again, alice signs in.
    assert_eq!(
        post_login(&c, &s, &token, "alice", PASSWORD).await.status(),
        303
    );
    s.stop().await;
}

/// A browser holding the device cookie `device`.
fn browser(s: &TestServer, device: &str) -> reqwest::Client {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    // Device cookies are 43 characters of base64url (anything else is ignored).
    jar.add_cookie_str(
        &format!("tp_device={device:-<43}"),
        &s.base.parse().unwrap(),
    );
    reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn one_worker(cfg: &mut Config) {
    cfg.hashing.workers = 1;
    cfg.hashing.queue = 64;
    cfg.hashing.queue_deadline_ms = 60_000;
}

#[tokio::test]
async fn a_browser_that_signed_in_before_is_served_before_a_flood() {
    let s = TestServer::with(Options {
        configure: Some(one_worker),
        ..Options::default()
    })
    .await;
    s.user("alice", &[]).await;
    // Alice's usual browser carries its device cookie and signs in once.
    let alice = browser(&s, "alice-laptop-device-cookie");
    let alice_token = csrf(&alice, &s, "/login").await;
    assert_eq!(
        post_login(&alice, &s, &alice_token, "alice", PASSWORD)
            .await
            .status(),
        303
    );

    // The pool is blocked; a flood of sign-ins for unknown accounts queues first, then an
    // attacker with a device cookie of its own tries alice, then alice's browser.
    s.state.hash_pool.pause();
    let attacker = browser(&s, "attacker-device-cookie");
    let token = csrf(&attacker, &s, "/login").await;
    let mut flood = Vec::new();
    for i in 0..6 {
        let (c, token, url) = (attacker.clone(), token.clone(), s.url("/login"));
        flood.push(tokio::spawn(async move {
            c.post(url)
                .form(&[
                    ("csrf_token", token.as_str()),
                    ("username", if i == 5 { "alice" } else { "nobody" }),
                    ("password", "guess"),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }));
        queued(&s, (0, i + 1)).await;
    }
    let alice_token = csrf(&alice, &s, "/login").await;
    let (a, t, url) = (alice.clone(), alice_token.clone(), s.url("/login"));
    let mine = tokio::spawn(async move {
        a.post(url)
            .form(&[
                ("csrf_token", t.as_str()),
                ("username", "alice"),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap()
            .status()
    });
    queued(&s, (1, 6)).await;
    // Exactly one hash may run: it is alice's, and she is signed in while all six wait.
    s.state.hash_pool.resume_for(1);
    assert_eq!(mine.await.unwrap(), 303);
    assert_eq!(s.state.hash_pool.queued(), (0, 6));
    s.state.hash_pool.resume();
    for f in flood {
        assert_eq!(f.await.unwrap(), 401);
    }
    s.stop().await;
}

#[tokio::test]
async fn retention_deletes_expired_sessions_flows_and_old_sign_ins_but_keeps_audit() {
    let clock = Arc::new(ManualClock::starting_now());
    let s = TestServer::with(Options {
        clock: Some(clock.clone()),
        configure: Some(no_background_job),
        ..Options::default()
    })
    .await;
    let alice = s.user("alice", &[]).await;
    let c = client();
    assert_eq!(login(&c, &s, "alice", PASSWORD).await.status(), 303);
    assert_eq!(login(&c, &s, "alice", "wrong").await.status(), 401);
    let audit_before = s
        .state
        .store
        .list_audit(&trustplane_store::AuditQuery {
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .len();
    assert!(audit_before > 0);

    // A day later nothing has expired long enough.
    clock.advance(Duration::days(1));
    let r = trustplane_server::ops::retention::run_once(&s.state, s.state.now()).await;
    assert!(r.deleted.is_empty(), "{r:?}");
    assert_eq!(
        s.state
            .store
            .list_sessions(Some(alice.id), None, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    // Three days later the session (24 h) is past its expiry plus the 24 h grace.
    clock.advance(Duration::days(2));
    let r = trustplane_server::ops::retention::run_once(&s.state, s.state.now()).await;
    assert!(r.deleted.contains(&("sessions", 1)), "{r:?}");
    assert!(
        s.state
            .store
            .list_sessions(Some(alice.id), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        sign_in_rows(&s).await.len(),
        2,
        "the sign-in log is kept 90 days"
    );

    // After 90 days the sign-in log rows go; the audit log stays.
    clock.advance(Duration::days(88));
    let r = trustplane_server::ops::retention::run_once(&s.state, s.state.now()).await;
    assert!(r.deleted.contains(&("sign_ins", 2)), "{r:?}");
    assert!(sign_in_rows(&s).await.is_empty());
    let audit_after = s
        .state
        .store
        .list_audit(&trustplane_store::AuditQuery {
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .len();
    assert_eq!(audit_after, audit_before);
    assert!(s.state.retention.total_deleted() >= 3);
    s.stop().await;
}
