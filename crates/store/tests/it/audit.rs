//! The audit log: one entry per administrative change, a hash chain that verifies, that stays
//! gap-free under concurrency, and that names the entry someone tampered with.

use crate::support::*;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use trustplane_core::audit::{Actor, AuditDraft, AuditEntry, ChainError, GENESIS_HASH, entry_hash};
use trustplane_core::identity::{Group, Role, User, UserStatus};
use trustplane_core::signin::{SignInEvent, SignInResult};
use trustplane_store::prelude::*;
use trustplane_store::{AuditQuery, SqlStore, StoreError};
use uuid::Uuid;

fn unix_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// A draft with every optional field set, so the test sees each one stored.
fn full(actor: &Actor, action: &str, target_type: &str, target: impl ToString) -> AuditDraft {
    AuditDraft::new(actor, action, target_type, Some(target.to_string()))
        .before(&serde_json::json!({ "action": action, "state": "before" }))
        .after(&serde_json::json!({ "action": action, "state": "after" }))
}

/// Checks the entry carries the draft's fields and a plausible time.
fn assert_matches(e: &AuditEntry, d: &AuditDraft, from: i64) {
    assert_eq!(e.target_type, d.target_type, "{}", d.action);
    assert_eq!(e.target_id, d.target_id, "{}", d.action);
    assert_eq!(e.before, d.before, "{}", d.action);
    assert_eq!(e.after, d.after, "{}", d.action);
    let to = unix_ms(OffsetDateTime::now_utc());
    assert!(
        (from..=to).contains(&e.at_ms),
        "{}: at {} not within {from}..={to}",
        d.action,
        e.at_ms
    );
    assert_eq!(e.hash, entry_hash(e), "{}", d.action);
}

/// Runs audited operations one after another, each as the next of a few actors in turn, and
/// checks that each appended exactly one entry carrying its draft.
struct Audited<'a> {
    s: &'a SqlStore,
    audit: AuditWatch,
    actors: [Actor; 4],
    n: usize,
    t: OffsetDateTime,
    from: i64,
}

impl<'a> Audited<'a> {
    async fn start(s: &'a SqlStore) -> Audited<'a> {
        let actors = [
            Actor::user(Uuid::now_v7(), "root", Some("192.0.2.10".into())),
            Actor::token(Uuid::now_v7(), "automation", Some("2001:db8::10".into())),
            Actor::cli("operator"),
            Actor::system(),
        ];
        let audit = AuditWatch::start(s).await;
        let t = now();
        Audited {
            s,
            audit,
            actors,
            n: 0,
            t,
            from: unix_ms(t),
        }
    }

    fn next_actor(&mut self) -> Actor {
        self.n += 1;
        self.actors[self.n % self.actors.len()].clone()
    }

    /// Runs `call` with the draft `d` and checks it appended one entry, by `actor`, that
    /// carries the draft's fields.
    async fn check<T, F, Fut>(&mut self, actor: Actor, d: AuditDraft, call: F)
    where
        F: FnOnce(AuditDraft) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let _ = call(d.clone()).await.unwrap();
        let e = self.audit.one(self.s, &d.action, &actor).await;
        assert_matches(&e, &d, self.from);
    }

    /// [`Audited::check`] as the next actor, with a [`full`] draft.
    async fn check_next<T, F, Fut>(
        &mut self,
        action: &str,
        target_type: &str,
        target: impl ToString,
        call: F,
    ) where
        F: FnOnce(AuditDraft) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let a = self.next_actor();
        let d = full(&a, action, target_type, target);
        self.check(a, d, call).await;
    }
}

pub async fn every_audited_operation_appends_one_entry(db: &TestDb) {
    let s = &db.store;
    assert_eq!(
        s.verify_audit().await.unwrap(),
        Ok(0),
        "an empty log verifies"
    );
    let mut c = Audited::start(s).await;
    let (u, g) = audited_identity_changes(&mut c).await;
    audited_session_and_token_changes(&mut c, &u).await;
    audited_banned_terms_and_appends(&mut c).await;
    let (root, boot) = audited_deletions_and_bootstrap(&mut c, &u, &g).await;
    unaudited_changes_append_nothing(&mut c, &root, &boot).await;

    // The whole log, in order, links up from the genesis hash.
    let log = audit_log(s).await;
    assert_eq!(log.len(), 20);
    assert_eq!(log[0].prev_hash, GENESIS_HASH);
    for w in log.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1);
        assert_eq!(w[1].prev_hash, w[0].hash);
        assert!(w[1].at_ms >= w[0].at_ms, "time never runs backwards");
    }
    assert_eq!(s.verify_audit().await.unwrap(), Ok(20));
}

/// Users, groups, membership and roles; returns the user and the group.
async fn audited_identity_changes(c: &mut Audited<'_>) -> (User, Group) {
    let (s, t) = (c.s, c.t);
    let u = user("alice");
    c.check_next("user.create", "user", u.id, |d| {
        s.create_user(&u, Some("h"), &[Role::SecurityReader], d)
    })
    .await;
    let mut changed = u.clone();
    changed.status = UserStatus::Disabled;
    c.check_next("user.update", "user", u.id, |d| s.update_user(&changed, d))
        .await;
    c.check_next("user.password.reset", "user", u.id, |d| {
        s.set_password_hash(u.id, "h2", true, Some(t), Some(d))
    })
    .await;

    let g = group("staff");
    c.check_next("group.create", "group", g.id, |d| s.create_group(&g, d))
        .await;
    c.check_next("group.member.add", "group", g.id, |d| {
        s.add_member(g.id, u.id, d)
    })
    .await;
    c.check_next("group.member.remove", "group", g.id, |d| {
        s.remove_member(g.id, u.id, d)
    })
    .await;

    c.check_next("role.assign", "user", u.id, |d| {
        s.assign_role(u.id, Role::HelpdeskAdministrator, d)
    })
    .await;
    c.check_next("role.unassign", "user", u.id, |d| {
        s.unassign_role(u.id, Role::HelpdeskAdministrator, d)
    })
    .await;
    (u, g)
}

/// Revoking sessions, creating and revoking an API token.
async fn audited_session_and_token_changes(c: &mut Audited<'_>, u: &User) {
    let (s, t) = (c.s, c.t);
    let x = session(u.id, t);
    let y = session(u.id, t);
    s.create_session(&x, "x").await.unwrap();
    s.create_session(&y, "y").await.unwrap();
    c.check_next("session.revoke", "session", x.id, |d| {
        s.revoke_session(x.id, t, Some(d))
    })
    .await;
    c.check_next("session.revoke_all", "user", u.id, |d| {
        s.revoke_user_sessions(u.id, t, Some(d))
    })
    .await;

    let tok = token("ci", Role::SecurityReader, t);
    c.check_next("api_token.create", "api_token", tok.id, |d| {
        s.create_api_token(&tok, "tok", d)
    })
    .await;
    c.check_next("api_token.revoke", "api_token", tok.id, |d| {
        s.revoke_api_token(tok.id, t, d)
    })
    .await;
}

/// Banned terms, and entries appended directly.
async fn audited_banned_terms_and_appends(c: &mut Audited<'_>) {
    let s = c.s;
    let terms = vec![
        ("contoso".to_string(), "Contoso".to_string()),
        ("fabrikam".to_string(), "Fabrikam".to_string()),
    ];
    let a = c.next_actor();
    c.check(
        a.clone(),
        full(&a, "password.banned_terms.add", "banned_terms", 2),
        |d| s.add_banned_terms(&terms, &a.id, d),
    )
    .await;
    c.check_next(
        "password.banned_terms.remove",
        "banned_terms",
        "contoso",
        |d| s.remove_banned_term("contoso", d),
    )
    .await;

    c.check_next("settings.change", "settings", "x", |d| s.append_audit(d))
        .await;
    // A draft without target or before/after is stored with those fields empty.
    let a = c.next_actor();
    c.check(
        a.clone(),
        AuditDraft::new(&a, "system.start", "system", None),
        |d| s.append_audit(d),
    )
    .await;
}

/// Deleting the group and the user, then the first administrator by the bootstrap token;
/// returns that administrator and the bootstrap actor.
async fn audited_deletions_and_bootstrap(
    c: &mut Audited<'_>,
    u: &User,
    g: &Group,
) -> (User, Actor) {
    let (s, t) = (c.s, c.t);
    c.check_next("group.delete", "group", g.id, |d| s.delete_group(g.id, d))
        .await;
    c.check_next("user.delete", "user", u.id, |d| s.delete_user(u.id, d))
        .await;

    s.set_bootstrap_token("boot", t + Duration::hours(1))
        .await
        .unwrap();
    c.audit.none(s, "setting the bootstrap token").await;
    let root = user("root");
    let boot = Actor {
        id: "bootstrap".into(),
        name: "bootstrap token".into(),
        ip: Some("127.0.0.1".into()),
    };
    c.check(
        boot.clone(),
        full(&boot, "user.bootstrap", "user", root.id),
        |d| s.bootstrap_admin("boot", t, &root, "h", d),
    )
    .await;
    (root, boot)
}

/// What is not an administrative change appends nothing.
async fn unaudited_changes_append_nothing(c: &mut Audited<'_>, root: &User, boot: &Actor) {
    let (s, t) = (c.s, c.t);
    let z = session(root.id, t);
    s.create_session(&z, "z").await.unwrap();
    s.touch_session(z.id, t + Duration::minutes(2), t + Duration::hours(8))
        .await
        .unwrap();
    s.set_password_hash(root.id, "rehash", false, None, None)
        .await
        .unwrap();
    assert!(s.revoke_session(z.id, t, None).await.unwrap());
    s.revoke_user_sessions(root.id, t, None).await.unwrap();
    let tok2 = token("t2", Role::SecurityReader, t);
    s.create_api_token(
        &tok2,
        "tok2",
        full(boot, "api_token.create", "api_token", tok2.id),
    )
    .await
    .unwrap();
    c.audit.one(s, "api_token.create", boot).await;
    s.touch_api_token(tok2.id, t).await.unwrap();
    s.record_sign_in(&SignInEvent {
        id: Uuid::now_v7(),
        at: t,
        user_id: Some(root.id),
        username: "root".into(),
        result: SignInResult::Success,
        failure_reason: None,
        ip: None,
        user_agent: None,
        correlation_id: "c".into(),
        methods: vec!["pwd".into()],
        details: serde_json::json!({}),
    })
    .await
    .unwrap();
    c.audit
        .none(s, "sessions, touches, re-hash, sign-ins")
        .await;
}

/// The sequence numbers of the entries a query finds (`f` adjusts it), newest first.
async fn listed(s: &SqlStore, f: fn(&mut AuditQuery)) -> Vec<i64> {
    let mut q = AuditQuery {
        limit: 1000,
        ..Default::default()
    };
    f(&mut q);
    let entries = s.list_audit(&q).await.unwrap();
    entries.into_iter().map(|e| e.seq).collect()
}

pub async fn entries_page_and_filter(db: &TestDb) {
    let s = &db.store;
    let actor = admin();
    for i in 1..=30 {
        let action = if i % 3 == 0 {
            "user.delete"
        } else {
            "user.create"
        };
        s.append_audit(AuditDraft::new(
            &actor,
            action,
            "user",
            Some(format!("u{}", i % 5)),
        ))
        .await
        .unwrap();
    }

    assert_eq!(
        listed(s, |_| {}).await,
        (1..=30).rev().collect::<Vec<_>>(),
        "newest first"
    );
    assert_eq!(listed(s, |q| q.limit = 3).await, [30, 29, 28]);
    // Paging backwards.
    assert_eq!(
        listed(s, |q| {
            q.before_seq = Some(28);
            q.limit = 3;
        })
        .await,
        [27, 26, 25]
    );
    assert_eq!(
        listed(s, |q| {
            q.before_seq = Some(3);
            q.limit = 5;
        })
        .await,
        [2, 1]
    );
    assert!(listed(s, |q| q.before_seq = Some(1)).await.is_empty());
    assert_eq!(
        listed(s, |q| q.action = Some("user.delete".into())).await,
        [30, 27, 24, 21, 18, 15, 12, 9, 6, 3]
    );
    assert_eq!(
        listed(s, |q| q.target_id = Some("u2".into())).await,
        [27, 22, 17, 12, 7, 2]
    );
    assert_eq!(
        listed(s, |q| {
            q.action = Some("user.delete".into());
            q.target_id = Some("u2".into());
            q.before_seq = Some(27);
        })
        .await,
        [12]
    );
    assert!(
        listed(s, |q| q.action = Some("user.%".into()))
            .await
            .is_empty(),
        "the action filter is exact"
    );
    assert_eq!(s.verify_audit().await.unwrap(), Ok(30));
}

/// Appends `n` entries from as many tasks at once and returns the sequence numbers they got.
async fn append_concurrently(store: Arc<SqlStore>, tag: &str, n: usize) -> Vec<i64> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let store = store.clone();
        let tag = tag.to_string();
        tasks.push(tokio::spawn(async move {
            let d = AuditDraft::new(&Actor::cli(&tag), "test.append", "n", Some(i.to_string()))
                .after(&serde_json::json!({ "i": i, "by": tag }));
            let e = store.append_audit(d).await.unwrap();
            assert_eq!(e.target_id, Some(i.to_string()));
            e.seq
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap());
    }
    seqs
}

pub async fn concurrent_appends_form_one_chain(db: &TestDb) {
    let store = Arc::new(db.store.clone());
    let mut seqs = append_concurrently(store.clone(), "a", 20).await;
    seqs.sort();
    assert_eq!(
        seqs,
        (1..=20).collect::<Vec<i64>>(),
        "no gaps, no duplicates"
    );
    assert_eq!(store.verify_audit().await.unwrap(), Ok(20));
    let log = audit_log(&store).await;
    assert_eq!(log.len(), 20);
    // Every task's entry is there exactly once.
    let mut targets: Vec<usize> = log
        .iter()
        .map(|e| e.target_id.as_deref().unwrap().parse().unwrap())
        .collect();
    targets.sort();
    assert_eq!(targets, (0..20).collect::<Vec<_>>());
}

/// Two store instances on one database (as two `trustplane serve` processes) append at once.
pub async fn concurrent_appends_from_two_instances(db: &TestDb) {
    let one = Arc::new(db.store.clone());
    let two = Arc::new(SqlStore::connect(&db.url).await.unwrap());
    let (a, b) = tokio::join!(
        append_concurrently(one.clone(), "one", 15),
        append_concurrently(two.clone(), "two", 15)
    );
    let mut seqs: Vec<i64> = a.into_iter().chain(b).collect();
    seqs.sort();
    assert_eq!(seqs, (1..=30).collect::<Vec<i64>>());
    assert_eq!(one.verify_audit().await.unwrap(), Ok(30));
    assert_eq!(two.verify_audit().await.unwrap(), Ok(30));
    two.pool().close().await;
}

/// Audited changes of different kinds racing each other still produce one gap-free chain with
/// one entry per change that happened.
pub async fn concurrent_mixed_changes(db: &TestDb) {
    let s = Arc::new(db.store.clone());
    let g = add_group(&s, "crowd").await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let u = user(&format!("user{i:02}"));
            s.create_user(&u, None, &[], draft("user.create"))
                .await
                .unwrap();
            assert!(
                s.add_member(g.id, u.id, draft("group.member.add"))
                    .await
                    .unwrap()
            );
            // Everyone races to add the same banned term: exactly one wins.
            s.add_banned_terms(
                &[("crowd".into(), "Crowd".into())],
                "t",
                draft("password.banned_terms.add"),
            )
            .await
            .unwrap()
        }));
    }
    // Duplicate logins racing: exactly one is created.
    for _ in 0..4 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            match s
                .create_user(&user("Twin"), None, &[], draft("user.create"))
                .await
            {
                Ok(()) => 1,
                Err(trustplane_store::StoreError::Conflict(_)) => 0,
                Err(e) => panic!("{e}"),
            }
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 2, "one banned term added, one twin created");
    assert_eq!(s.count_users().await.unwrap(), 13);
    assert_eq!(s.group_members(g.id).await.unwrap().len(), 12);
    // group.create + 12 x (user.create, member.add) + 1 term + 1 twin.
    assert_eq!(s.verify_audit().await.unwrap(), Ok(1 + 24 + 1 + 1));
}

/// Drops the append-only trigger(s), as someone with direct database access could.
async fn drop_append_only_triggers(db: &TestDb) {
    if db.is_postgres() {
        db.raw("DROP TRIGGER audit_log_no_update ON audit_log")
            .await
            .unwrap();
    } else {
        db.raw("DROP TRIGGER audit_log_no_update").await.unwrap();
        db.raw("DROP TRIGGER audit_log_no_delete").await.unwrap();
    }
}

async fn append_n(s: &SqlStore, n: usize) {
    for i in 0..n {
        s.append_audit(full(&admin(), "x", "n", i)).await.unwrap();
    }
}

pub async fn append_only_triggers_block_update_and_delete(db: &TestDb) {
    let s = &db.store;
    append_n(s, 4).await;
    let before = audit_log(s).await;
    for sql in [
        "UPDATE audit_log SET after_json = '\"forged\"' WHERE seq = 3",
        "UPDATE audit_log SET actor_name = 'nobody'",
        "DELETE FROM audit_log WHERE seq = 2",
        "DELETE FROM audit_log",
    ] {
        let r = db.raw(sql).await;
        let err = r.expect_err(sql).to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(audit_log(s).await, before, "nothing changed");
    assert_eq!(s.verify_audit().await.unwrap(), Ok(4));
    // Appending still works.
    append_n(s, 1).await;
    assert_eq!(s.verify_audit().await.unwrap(), Ok(5));
}

pub async fn edited_entry_is_named(db: &TestDb) {
    let s = &db.store;
    append_n(s, 6).await;
    drop_append_only_triggers(db).await;
    let n = db
        .raw(
            "UPDATE audit_log SET after_json = '{\"role\":\"global_administrator\"}' WHERE seq = 4",
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        s.verify_audit().await.unwrap(),
        Err(ChainError::HashMismatch { seq: 4 })
    );
    // An edit earlier in the chain is the one reported.
    db.raw("UPDATE audit_log SET actor_name = 'someone else' WHERE seq = 2")
        .await
        .unwrap();
    assert_eq!(
        s.verify_audit().await.unwrap(),
        Err(ChainError::HashMismatch { seq: 2 })
    );
}

pub async fn other_tampering_is_detected(db: &TestDb) {
    let s = &db.store;
    append_n(s, 8).await;
    drop_append_only_triggers(db).await;

    // An edit that also recomputes the entry's own hash breaks the link to the next one.
    let mut e3 = audit_log(s).await[2].clone();
    e3.after = Some("\"harmless\"".into());
    e3.hash = entry_hash(&e3);
    sqlx::query("UPDATE audit_log SET after_json = $1, hash = $2 WHERE seq = 3")
        .bind(e3.after.clone())
        .bind(e3.hash.clone())
        .execute(s.pool())
        .await
        .unwrap();
    assert_eq!(
        s.verify_audit().await.unwrap(),
        Err(ChainError::BrokenLink { seq: 4 })
    );

    // A removed entry leaves a gap (reported before the later broken link).
    db.raw("DELETE FROM audit_log WHERE seq = 2").await.unwrap();
    assert_eq!(
        s.verify_audit().await.unwrap(),
        Err(ChainError::Gap {
            seq: 3,
            expected: 2
        })
    );
}

/// Removing the newest entries leaves a chain that links up; the chain head, written in the
/// same transaction as every entry, still reveals it.
pub async fn truncated_or_rewritten_tail_is_detected(db: &TestDb) {
    let s = &db.store;
    append_n(s, 8).await;
    drop_append_only_triggers(db).await;

    // The newest entry rewritten with a fresh hash: nothing follows it to break a link.
    let mut last = audit_log(s).await[7].clone();
    last.actor_name = "someone else".into();
    last.hash = entry_hash(&last);
    sqlx::query("UPDATE audit_log SET actor_name = $1, hash = $2 WHERE seq = 8")
        .bind(last.actor_name.clone())
        .bind(last.hash.clone())
        .execute(s.pool())
        .await
        .unwrap();
    assert_eq!(
        s.verify_audit().await.unwrap(),
        Err(ChainError::HashMismatch { seq: 8 })
    );

    // The newest entries removed.
    db.raw("DELETE FROM audit_log WHERE seq >= 7")
        .await
        .unwrap();
    assert_eq!(
        s.verify_audit().await.unwrap(),
        Err(ChainError::Gap {
            seq: 8,
            expected: 7
        })
    );
    // All of them removed.
    db.raw("DELETE FROM audit_log").await.unwrap();
    assert_eq!(
        s.verify_audit().await.unwrap(),
        Err(ChainError::Gap {
            seq: 8,
            expected: 1
        })
    );
}

/// Verifying while others append never reports a false break.
pub async fn verify_while_appending(db: &TestDb) {
    let store = Arc::new(db.store.clone());
    let writer = tokio::spawn(append_concurrently(store.clone(), "w", 40));
    let mut last = 0;
    loop {
        let n = store.verify_audit().await.unwrap().unwrap();
        assert!(n >= last, "verified {n} after {last}");
        last = n;
        if writer.is_finished() {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(writer.await.unwrap().len(), 40);
    assert_eq!(store.verify_audit().await.unwrap(), Ok(40));
}
