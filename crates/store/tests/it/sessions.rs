//! Browser sessions: creation, lookup by secret, touch, revocation, listing.

use crate::support::*;
use time::Duration;
use trustplane_core::authn::{AuthMethod, MethodUse};
use trustplane_core::session::Session;
use trustplane_store::StoreError;
use trustplane_store::prelude::*;
use uuid::Uuid;

pub async fn create_and_find_by_secret(db: &TestDb) {
    let s = &db.store;
    let eve = add_user(s, "eve").await;
    let t = now();
    let mut x = session(eve.id, t);
    x.ip = Some("2001:db8::1".into());
    x.user_agent = Some("Mozilla/5.0 (X11; Linux x86_64)".into());
    x.methods = vec![
        MethodUse {
            method: AuthMethod::Password,
            at: t - Duration::minutes(3),
        },
        MethodUse {
            method: AuthMethod::Password,
            // Method times keep full precision (they are JSON, not columns).
            at: t + Duration::nanoseconds(123_456_789),
        },
    ];
    let mut audit = AuditWatch::start(s).await;
    s.create_session(&x, "secret-hash-1").await.unwrap();
    audit.none(s, "creating a session").await;

    let found = s.session_by_secret("secret-hash-1").await.unwrap().unwrap();
    assert_eq!(found.session, x);
    assert_eq!(found.user, eve);
    assert_eq!(s.get_session(x.id).await.unwrap(), Some(x.clone()));
    assert!(
        s.session_by_secret("secret-hash-2")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.session_by_secret("SECRET-HASH-1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(s.session_by_secret("").await.unwrap().is_none());
    assert!(s.get_session(Uuid::now_v7()).await.unwrap().is_none());

    // The secret hash is unique, and so is the id.
    let dup = s.create_session(&session(eve.id, t), "secret-hash-1").await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let dup_id = s.create_session(&x, "secret-hash-3").await;
    assert!(dup_id.is_err(), "{dup_id:?}");
    assert_eq!(s.list_sessions(None, None, 100).await.unwrap(), [x.clone()]);

    // The user in the result is the current one, e.g. after being disabled.
    let mut disabled = eve.clone();
    disabled.status = trustplane_core::identity::UserStatus::Disabled;
    s.update_user(&disabled, draft("user.update"))
        .await
        .unwrap();
    let found = s.session_by_secret("secret-hash-1").await.unwrap().unwrap();
    assert!(!found.user.is_enabled());
}

pub async fn touch(db: &TestDb) {
    let s = &db.store;
    let u = add_user(s, "tom").await;
    let t = now();
    let x = session(u.id, t);
    let other = session(u.id, t);
    s.create_session(&x, "a").await.unwrap();
    s.create_session(&other, "b").await.unwrap();

    let later = t + Duration::minutes(5);
    let idle = later + Duration::hours(8);
    s.touch_session(x.id, later, idle).await.unwrap();
    let touched = s.get_session(x.id).await.unwrap().unwrap();
    assert_eq!(touched.last_seen_at, later);
    assert_eq!(touched.idle_expires_at, idle);
    assert_eq!(touched.created_at, t);
    assert_eq!(touched.absolute_expires_at, x.absolute_expires_at);
    assert_eq!(
        s.get_session(other.id).await.unwrap(),
        Some(other.clone()),
        "only that session"
    );
    // Touching keeps an idle session alive past its first idle deadline.
    let after_first_idle = x.idle_expires_at + Duration::minutes(1);
    assert!(touched.is_active(after_first_idle));
    let active: Vec<Uuid> = s
        .list_sessions(Some(u.id), Some(after_first_idle), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.id)
        .collect();
    assert_eq!(active, [x.id]);

    // A revoked session is not revived by a touch.
    assert!(s.revoke_session(x.id, later, None).await.unwrap());
    s.touch_session(x.id, later + Duration::hours(1), idle + Duration::hours(1))
        .await
        .unwrap();
    let revoked = s.get_session(x.id).await.unwrap().unwrap();
    assert_eq!(revoked.last_seen_at, later);
    assert_eq!(revoked.revoked_at, Some(later));

    // Touching a missing session is harmless.
    s.touch_session(Uuid::now_v7(), later, idle).await.unwrap();
}

pub async fn revoke(db: &TestDb) {
    let s = &db.store;
    let u = add_user(s, "rita").await;
    let t = now();
    let a = session(u.id, t);
    let b = session(u.id, t);
    s.create_session(&a, "a").await.unwrap();
    s.create_session(&b, "b").await.unwrap();
    let mut audit = AuditWatch::start(s).await;

    // Revocation by the user herself (sign-out): not audited.
    let at = t + Duration::seconds(1);
    assert!(s.revoke_session(a.id, at, None).await.unwrap());
    audit.none(s, "sign-out").await;
    assert!(
        !s.revoke_session(a.id, at + Duration::hours(1), None)
            .await
            .unwrap()
    );
    let stored = s.get_session(a.id).await.unwrap().unwrap();
    assert_eq!(
        stored.revoked_at,
        Some(at),
        "the first revocation time stays"
    );
    assert!(!stored.is_active(at));
    // Still found by its secret (the caller sees it is revoked).
    let found = s.session_by_secret("a").await.unwrap().unwrap();
    assert_eq!(found.session.revoked_at, Some(at));

    // Revocation by an administrator: audited once, and not again for a no-op.
    let actor =
        trustplane_core::audit::Actor::user(Uuid::now_v7(), "boss", Some("192.0.2.7".into()));
    let d = |a: &str| {
        trustplane_core::audit::AuditDraft::new(&actor, a, "session", Some(b.id.to_string()))
    };
    assert!(
        s.revoke_session(b.id, at, Some(d("session.revoke")))
            .await
            .unwrap()
    );
    let e = audit.one(s, "session.revoke", &actor).await;
    assert_eq!(e.target_id, Some(b.id.to_string()));
    assert!(
        !s.revoke_session(b.id, at, Some(d("session.revoke")))
            .await
            .unwrap()
    );
    assert!(
        !s.revoke_session(Uuid::now_v7(), at, Some(d("session.revoke")))
            .await
            .unwrap()
    );
    audit.none(s, "revoking a revoked or missing session").await;
    assert_eq!(
        s.get_session(b.id).await.unwrap().unwrap().revoked_at,
        Some(at)
    );
}

pub async fn revoke_user_sessions(db: &TestDb) {
    let s = &db.store;
    let u = add_user(s, "uma").await;
    let v = add_user(s, "vic").await;
    let t = now();
    let mut mine = Vec::new();
    for i in 0..4 {
        let x = session(u.id, t + Duration::milliseconds(i));
        s.create_session(&x, &format!("u{i}")).await.unwrap();
        mine.push(x);
    }
    let theirs = session(v.id, t);
    s.create_session(&theirs, "v").await.unwrap();
    let early = t - Duration::minutes(1);
    assert!(s.revoke_session(mine[0].id, early, None).await.unwrap());
    let mut audit = AuditWatch::start(s).await;

    let at = t + Duration::seconds(5);
    let n = s
        .revoke_user_sessions(u.id, at, Some(draft("session.revoke_all")))
        .await
        .unwrap();
    assert_eq!(n, 3, "the three not yet revoked");
    audit.one(s, "session.revoke_all", &admin()).await;
    assert_eq!(
        s.get_session(mine[0].id).await.unwrap().unwrap().revoked_at,
        Some(early),
        "an earlier revocation keeps its time"
    );
    for x in &mine[1..] {
        assert_eq!(
            s.get_session(x.id).await.unwrap().unwrap().revoked_at,
            Some(at)
        );
    }
    assert_eq!(
        s.get_session(theirs.id).await.unwrap(),
        Some(theirs.clone())
    );
    assert!(
        s.list_sessions(Some(u.id), Some(t), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.list_sessions(Some(v.id), Some(t), 10)
            .await
            .unwrap()
            .len(),
        1
    );

    // Nothing left to revoke; without an audit entry (e.g. on deletion paths) nothing is logged.
    assert_eq!(s.revoke_user_sessions(u.id, at, None).await.unwrap(), 0);
    assert_eq!(
        s.revoke_user_sessions(Uuid::now_v7(), at, None)
            .await
            .unwrap(),
        0
    );
    audit.none(s, "unaudited revoke-all").await;
    assert_eq!(s.revoke_user_sessions(v.id, at, None).await.unwrap(), 1);
    audit.none(s, "unaudited revoke-all").await;
}

pub async fn active_filter_and_order(db: &TestDb) {
    let s = &db.store;
    let u = add_user(s, "ada").await;
    let w = add_user(s, "wes").await;
    let t = now();

    // Created a millisecond apart, so "newest first" is well defined.
    let mk = |user, i: i64| session(user, t - Duration::hours(30) + Duration::milliseconds(i));
    let mut expired = mk(u.id, 0); // past its absolute lifetime
    expired.absolute_expires_at = t - Duration::seconds(1);
    expired.idle_expires_at = t - Duration::seconds(1);
    let mut idle = mk(u.id, 1); // idle deadline passed, absolute one not
    idle.absolute_expires_at = t + Duration::hours(1);
    idle.idle_expires_at = t - Duration::minutes(1);
    let mut live = mk(u.id, 2);
    live.absolute_expires_at = t + Duration::hours(2);
    live.idle_expires_at = t + Duration::hours(1);
    let mut revoked = mk(u.id, 3);
    revoked.absolute_expires_at = t + Duration::hours(2);
    revoked.idle_expires_at = t + Duration::hours(1);
    let mut boundary = mk(u.id, 4); // idle deadline exactly now: no longer valid
    boundary.absolute_expires_at = t + Duration::hours(2);
    boundary.idle_expires_at = t;
    let mut live2 = mk(u.id, 5);
    live2.absolute_expires_at = t + Duration::hours(2);
    live2.idle_expires_at = t + Duration::hours(1);
    let mut other = mk(w.id, 6);
    other.absolute_expires_at = t + Duration::hours(2);
    other.idle_expires_at = t + Duration::hours(1);

    let all = [&expired, &idle, &live, &revoked, &boundary, &live2, &other];
    for (i, x) in all.iter().enumerate() {
        s.create_session(x, &format!("h{i}")).await.unwrap();
    }
    assert!(
        s.revoke_session(revoked.id, t - Duration::hours(1), None)
            .await
            .unwrap()
    );
    let ids = |v: Vec<Session>| v.into_iter().map(|x| x.id).collect::<Vec<_>>();

    assert_eq!(
        ids(s.list_sessions(Some(u.id), Some(t), 100).await.unwrap()),
        [live2.id, live.id],
        "active only, newest first"
    );
    assert_eq!(
        ids(s.list_sessions(None, Some(t), 100).await.unwrap()),
        [other.id, live2.id, live.id]
    );
    assert_eq!(
        ids(s.list_sessions(Some(u.id), None, 100).await.unwrap()),
        [
            live2.id,
            boundary.id,
            revoked.id,
            live.id,
            idle.id,
            expired.id
        ],
        "without a time: every session of the user"
    );
    assert_eq!(s.list_sessions(None, None, 100).await.unwrap().len(), 7);
    assert_eq!(
        ids(s.list_sessions(None, None, 2).await.unwrap()),
        [other.id, live2.id],
        "limit"
    );
    // The store's filter and the core's rule agree.
    let everything = s.list_sessions(None, None, 100).await.unwrap();
    for at in [
        t - Duration::hours(2),
        t,
        t + Duration::minutes(90),
        t + Duration::hours(3),
    ] {
        let mut expected: Vec<Uuid> = everything
            .iter()
            .filter(|x| x.is_active(at))
            .map(|x| x.id)
            .collect();
        let mut got = ids(s.list_sessions(None, Some(at), 100).await.unwrap());
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "active at {at}");
    }
    // Earlier, the idle one was still active.
    let earlier = t - Duration::minutes(2);
    assert!(
        ids(s
            .list_sessions(Some(u.id), Some(earlier), 100)
            .await
            .unwrap())
        .contains(&idle.id)
    );
}

pub async fn step_up_replaces_methods_of_live_sessions(db: &TestDb) {
    let s = &db.store;
    let u = add_user(s, "steve").await;
    let t = now();
    let a = session(u.id, t);
    s.create_session(&a, "su").await.unwrap();
    let mut audit = AuditWatch::start(s).await;
    let mut methods = a.methods.clone();
    methods.push(MethodUse {
        method: AuthMethod::Totp,
        at: t + Duration::minutes(5),
    });
    assert!(
        s.step_up_session(a.id, &methods, draft("session.step_up"))
            .await
            .unwrap()
    );
    audit.one(s, "session.step_up", &admin()).await;
    assert_eq!(s.get_session(a.id).await.unwrap().unwrap().methods, methods);
    // A revoked session cannot be stepped up.
    s.revoke_session(a.id, t + Duration::minutes(6), None)
        .await
        .unwrap();
    assert!(
        !s.step_up_session(a.id, &[], draft("session.step_up"))
            .await
            .unwrap()
    );
    audit.none(s, "step-up of a revoked session").await;
    assert_eq!(s.get_session(a.id).await.unwrap().unwrap().methods, methods);
}
