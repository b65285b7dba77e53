//! The sign-in log.

use crate::support::*;
use time::{Duration, OffsetDateTime};
use trustplane_core::signin::{SignInEvent, SignInResult};
use trustplane_store::prelude::*;
use trustplane_store::{SignInQuery, SqlStore};
use uuid::Uuid;

fn event(
    at: OffsetDateTime,
    user: Option<Uuid>,
    name: &str,
    result: SignInResult,
    reason: Option<&str>,
) -> SignInEvent {
    SignInEvent {
        id: Uuid::now_v7(),
        at,
        user_id: user,
        username: name.into(),
        result,
        failure_reason: reason.map(str::to_string),
        ip: Some("192.0.2.1".into()),
        user_agent: Some("test agent".into()),
        correlation_id: Uuid::now_v7().to_string(),
        methods: if result == SignInResult::Success {
            vec!["pwd".into()]
        } else {
            vec![]
        },
        details: serde_json::json!({ "flow": "password" }),
    }
}

fn query(f: impl FnOnce(&mut SignInQuery)) -> SignInQuery {
    let mut q = SignInQuery {
        limit: 1000,
        ..Default::default()
    };
    f(&mut q);
    q
}

fn ids(v: &[SignInEvent]) -> Vec<Uuid> {
    v.iter().map(|e| e.id).collect()
}

pub async fn record_and_round_trip(db: &TestDb) {
    let s = &db.store;
    let u = add_user(s, "fred").await;
    let t = now();
    let mut ev = event(t, Some(u.id), "Fred", SignInResult::Success, None);
    ev.methods = vec!["pwd".into(), "otp".into(), "hwk".into()];
    ev.ip = Some("2001:db8::42".into());
    ev.details = serde_json::json!({
        "flow": "password",
        "risk": { "level": "low", "score": 0.25, "detections": [] },
        "policies": [
            { "id": "p1", "applied": true, "controls": ["mfa"], "report_only": false },
            { "id": "p2", "applied": false, "excluded_by": "location" }
        ],
        "device": null,
        "big": 9_007_199_254_740_993_u64,
        "negative": -12,
        "text": "ünïcødé \"quoted\" \\ \u{1F600}",
        "empty": {}
    });
    let mut minimal = event(
        t + Duration::seconds(1),
        None,
        "",
        SignInResult::Interrupted,
        None,
    );
    minimal.ip = None;
    minimal.user_agent = None;
    minimal.details = serde_json::Value::Null;
    let mut scalar = event(
        t + Duration::seconds(2),
        None,
        "x",
        SignInResult::Failure,
        Some("r"),
    );
    scalar.details = serde_json::json!([1, "two", 3.5, false]);

    let mut audit = AuditWatch::start(s).await;
    for e in [&ev, &minimal, &scalar] {
        s.record_sign_in(e).await.unwrap();
    }
    audit.none(s, "sign-ins are not audit entries").await;
    let all = s.list_sign_ins(&query(|_| {})).await.unwrap();
    assert_eq!(
        all,
        [scalar, minimal, ev],
        "everything round-trips, details included"
    );

    // The log outlives the user.
    s.delete_user(u.id, draft("user.delete")).await.unwrap();
    let after = s
        .list_sign_ins(&query(|q| q.user_id = Some(u.id)))
        .await
        .unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].user_id, Some(u.id));
}

/// The ids of the sign-ins a query finds (`f` adjusts it), newest first.
async fn found(s: &SqlStore, f: impl FnOnce(&mut SignInQuery)) -> Vec<Uuid> {
    ids(&s.list_sign_ins(&query(f)).await.unwrap())
}

/// What the filter tests search: eight sign-ins of fred, gina and unknown names, one second
/// apart.
struct Recorded {
    fred: Uuid,
    gina: Uuid,
    t: OffsetDateTime,
    ids: Vec<Uuid>,
}

impl Recorded {
    async fn new(s: &SqlStore) -> Recorded {
        let fred = add_user(s, "fred").await.id;
        let gina = add_user(s, "gina").await.id;
        let t = now();
        let at = |i: i64| t + Duration::seconds(i);
        use SignInResult::*;
        let evs = [
            event(at(0), Some(fred), "fred", Success, None),
            event(at(1), Some(fred), "FRED", Failure, Some("wrong_password")),
            event(at(2), None, "ghost", Failure, Some("unknown_user")),
            event(at(3), Some(gina), "gina", Interrupted, None),
            event(at(4), Some(gina), "Gina", Failure, Some("wrong_password")),
            event(at(5), None, "fred2", Failure, Some("unknown_user")),
            event(at(6), Some(fred), "Fred", Failure, Some("locked_out")),
            event(at(7), None, "ÖZIL", Failure, Some("unknown_user")),
        ];
        for e in &evs {
            s.record_sign_in(e).await.unwrap();
        }
        Recorded {
            fred,
            gina,
            t,
            ids: ids(&evs),
        }
    }

    /// The id of the `i`th sign-in.
    fn e(&self, i: usize) -> Uuid {
        self.ids[i]
    }

    /// The time of the `i`th sign-in.
    fn at(&self, i: i64) -> OffsetDateTime {
        self.t + Duration::seconds(i)
    }
}

pub async fn filters_by_user_and_name(db: &TestDb) {
    let s = &db.store;
    let r = Recorded::new(s).await;
    let e = |i| r.e(i);
    // No filter: every sign-in, newest first.
    assert_eq!(
        found(s, |_| {}).await,
        [e(7), e(6), e(5), e(4), e(3), e(2), e(1), e(0)]
    );
    assert_eq!(
        found(s, |q| q.user_id = Some(r.fred)).await,
        [e(6), e(1), e(0)]
    );
    assert!(
        found(s, |q| q.user_id = Some(Uuid::now_v7()))
            .await
            .is_empty()
    );
    // Username: exact, case-insensitive; not a substring match ("fred2" is someone else).
    for typed in ["fred", "FRED", "Fred", " fred "] {
        assert_eq!(
            found(s, |q| q.username = Some(typed.into())).await,
            [e(6), e(1), e(0)],
            "{typed:?}"
        );
    }
    assert_eq!(
        found(s, |q| q.username = Some("GHOST".into())).await,
        [e(2)]
    );
    // Non-ASCII names are found as typed on both backends.
    assert_eq!(found(s, |q| q.username = Some("ÖZIL".into())).await, [e(7)]);
    assert!(
        found(s, |q| q.username = Some("fre".into()))
            .await
            .is_empty()
    );
    assert!(
        found(s, |q| q.username = Some("fre%".into()))
            .await
            .is_empty()
    );
}

pub async fn filters_by_result_and_reason(db: &TestDb) {
    let s = &db.store;
    let r = Recorded::new(s).await;
    let e = |i| r.e(i);
    use SignInResult::*;
    assert_eq!(found(s, |q| q.result = Some(Success)).await, [e(0)]);
    assert_eq!(found(s, |q| q.result = Some(Interrupted)).await, [e(3)]);
    assert_eq!(
        found(s, |q| q.result = Some(Failure)).await,
        [e(7), e(6), e(5), e(4), e(2), e(1)]
    );
    // Failure reason: exact.
    assert_eq!(
        found(s, |q| q.failure_reason = Some("wrong_password".into())).await,
        [e(4), e(1)]
    );
    assert_eq!(
        found(s, |q| q.failure_reason = Some("unknown_user".into())).await,
        [e(7), e(5), e(2)]
    );
    assert!(
        found(s, |q| q.failure_reason = Some("wrong".into()))
            .await
            .is_empty()
    );
}

pub async fn filters_by_time_window(db: &TestDb) {
    let s = &db.store;
    let r = Recorded::new(s).await;
    let (e, at) = (|i| r.e(i), |i| r.at(i));
    // Since is inclusive, until exclusive.
    assert_eq!(
        found(s, |q| q.since = Some(at(4))).await,
        [e(7), e(6), e(5), e(4)]
    );
    assert_eq!(found(s, |q| q.until = Some(at(2))).await, [e(1), e(0)]);
    assert_eq!(
        found(s, |q| {
            q.since = Some(at(1));
            q.until = Some(at(4));
        })
        .await,
        [e(3), e(2), e(1)]
    );
    assert!(found(s, |q| q.since = Some(at(8))).await.is_empty());
    // Millisecond resolution at the edges.
    assert_eq!(
        found(s, |q| q.until = Some(at(0) + Duration::milliseconds(1))).await,
        [e(0)]
    );
    assert!(
        found(s, |q| q.since = Some(at(7) + Duration::milliseconds(1)))
            .await
            .is_empty()
    );
}

pub async fn filters_combine(db: &TestDb) {
    let s = &db.store;
    let r = Recorded::new(s).await;
    // Every filter at once.
    assert_eq!(
        found(s, |q| {
            q.user_id = Some(r.fred);
            q.username = Some("fred".into());
            q.result = Some(SignInResult::Failure);
            q.failure_reason = Some("wrong_password".into());
            q.since = Some(r.at(1));
            q.until = Some(r.at(2));
        })
        .await,
        [r.e(1)]
    );
    assert!(
        found(s, |q| {
            q.user_id = Some(r.gina);
            q.username = Some("fred".into());
        })
        .await
        .is_empty()
    );
}

pub async fn newest_first_and_limit(db: &TestDb) {
    let s = &db.store;
    let t = now();
    // Recorded out of order; two at the very same millisecond.
    let a = event(
        t + Duration::seconds(5),
        None,
        "a",
        SignInResult::Failure,
        Some("x"),
    );
    let b = event(t, None, "b", SignInResult::Failure, Some("x"));
    let c = event(
        t + Duration::seconds(9),
        None,
        "c",
        SignInResult::Failure,
        Some("x"),
    );
    let d = event(
        t + Duration::seconds(5),
        None,
        "d",
        SignInResult::Failure,
        Some("x"),
    );
    for e in [&a, &b, &c, &d] {
        s.record_sign_in(e).await.unwrap();
    }
    let all = s.list_sign_ins(&query(|_| {})).await.unwrap();
    // Ties are broken by id, newest (UUIDv7) first.
    assert_eq!(ids(&all), [c.id, d.id, a.id, b.id]);
    let two = s.list_sign_ins(&query(|q| q.limit = 2)).await.unwrap();
    assert_eq!(ids(&two), [c.id, d.id]);
    let one_failure = s
        .list_sign_ins(&query(|q| {
            q.limit = 1;
            q.until = Some(t + Duration::seconds(5));
        }))
        .await
        .unwrap();
    assert_eq!(ids(&one_failure), [b.id]);
}

pub async fn conditional_access_filters(db: &TestDb) {
    let s = &db.store;
    let t = now();
    let mut a = event(t, None, "ann", SignInResult::Success, None);
    a.details = serde_json::json!({
        "flow": "password", "app": "portal", "sign_in_risk": "medium",
        "conditional_access": { "outcome": "requires", "applied": ["require_mfa", "p_2"] },
    });
    let mut b = event(
        t + Duration::seconds(1),
        None,
        "bob",
        SignInResult::Failure,
        Some("blocked_by_policy"),
    );
    b.details = serde_json::json!({
        "flow": "password", "app": "wiki",
        "conditional_access": { "outcome": "block", "applied": ["block_legacy"] },
    });
    let c = event(
        t + Duration::seconds(2),
        None,
        "cat",
        SignInResult::Success,
        None,
    );
    for e in [&a, &b, &c] {
        s.record_sign_in(e).await.unwrap();
    }
    let by = |f: fn(&mut SignInQuery)| query(f);
    let got = s
        .list_sign_ins(&by(|q| q.app_id = Some("portal".into())))
        .await
        .unwrap();
    assert_eq!(ids(&got), vec![a.id]);
    let got = s
        .list_sign_ins(&by(|q| q.sign_in_risk = Some("medium".into())))
        .await
        .unwrap();
    assert_eq!(ids(&got), vec![a.id]);
    let got = s
        .list_sign_ins(&by(|q| q.ca_outcome = Some("block".into())))
        .await
        .unwrap();
    assert_eq!(ids(&got), vec![b.id]);
    let got = s
        .list_sign_ins(&by(|q| q.policy = Some("p_2".into())))
        .await
        .unwrap();
    assert_eq!(ids(&got), vec![a.id]);
    // `_` is not a wildcard and a prefix does not match a longer id.
    let got = s
        .list_sign_ins(&by(|q| q.policy = Some("p%".into())))
        .await
        .unwrap();
    assert!(got.is_empty());
    let got = s
        .list_sign_ins(&by(|q| q.policy = Some("require".into())))
        .await
        .unwrap();
    assert!(got.is_empty());
    let got = s
        .list_sign_ins(&by(|q| q.policy = Some("require_mfa".into())))
        .await
        .unwrap();
    assert_eq!(ids(&got), vec![a.id]);
    // The details round-trip unchanged.
    assert_eq!(got[0].details, a.details);
}
