//! Test bodies shared by both backends.

use crate::backend::Db;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use trustplane_core::audit::{Actor, AuditDraft, ChainError};
use trustplane_core::authn::{AuthMethod, MethodUse};
use trustplane_core::identity::{Group, Role, User, UserStatus};
use trustplane_core::session::{ApiToken, Session, SessionPolicy};
use trustplane_core::signin::{SignInEvent, SignInResult};
use trustplane_store::{AuditQuery, SignInQuery, SqlStore, Store, StoreError, UserQuery};
use uuid::Uuid;

fn now() -> OffsetDateTime {
    // Millisecond precision, as stored.
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .unwrap()
}

fn actor() -> Actor {
    Actor::cli("tester")
}

fn draft(action: &str) -> AuditDraft {
    AuditDraft::new(&actor(), action, "test", None)
}

fn user(name: &str) -> User {
    let t = now();
    User {
        id: Uuid::now_v7(),
        username: name.to_string(),
        display_name: format!("{name} Example"),
        email: Some(format!("{name}@example.com")),
        status: UserStatus::Enabled,
        created_at: t,
        updated_at: t,
    }
}

async fn add_user(s: &SqlStore, name: &str) -> User {
    let u = user(name);
    s.create_user(&u, Some("$argon2id$fake"), &[], draft("user.create"))
        .await
        .unwrap();
    u
}

fn group(name: &str) -> Group {
    Group {
        id: Uuid::now_v7(),
        name: name.into(),
        description: "d".into(),
        created_at: now(),
    }
}

fn session(user_id: Uuid, at: OffsetDateTime) -> Session {
    Session::new(
        Uuid::now_v7(),
        user_id,
        at,
        &SessionPolicy::default(),
        vec![MethodUse {
            method: AuthMethod::Password,
            at,
        }],
    )
}

async fn audit_count(s: &SqlStore) -> u64 {
    s.verify_audit().await.unwrap().unwrap()
}

pub async fn users_round_trip_and_unique_login(db: &Db) {
    let s = &db.store;
    let alice = add_user(s, "Alice").await;
    assert_eq!(s.get_user(alice.id).await.unwrap(), Some(alice.clone()));
    assert_eq!(s.find_user("ALICE").await.unwrap(), Some(alice.clone()));
    assert_eq!(s.find_user("bob").await.unwrap(), None);
    let dup = s
        .create_user(&user("alice"), None, &[], draft("user.create"))
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let rec = s.login_record("alice").await.unwrap().unwrap();
    assert_eq!(rec.password_hash.as_deref(), Some("$argon2id$fake"));
    assert!(!rec.password_must_change);
    assert_eq!(s.count_users().await.unwrap(), 1);

    let mut changed = alice.clone();
    changed.display_name = "Alice L.".into();
    changed.status = UserStatus::Disabled;
    changed.email = None;
    changed.updated_at = now();
    s.update_user(&changed, draft("user.update")).await.unwrap();
    assert_eq!(s.get_user(alice.id).await.unwrap(), Some(changed));
    let missing = s.update_user(&user("ghost"), draft("user.update")).await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))));
    assert_eq!(audit_count(s).await, 2, "failed changes append nothing");
}

pub async fn user_search_treats_like_metacharacters_literally(db: &Db) {
    let s = &db.store;
    for n in ["ann", "a_n", "a%n", "bob"] {
        add_user(s, n).await;
    }
    let search = |q: &str| UserQuery {
        search: Some(q.into()),
        limit: 100,
        offset: 0,
    };
    let names = |v: Vec<User>| v.into_iter().map(|u| u.username).collect::<Vec<_>>();
    assert_eq!(
        names(s.list_users(&search("a_n")).await.unwrap()),
        vec!["a_n"]
    );
    assert_eq!(
        names(s.list_users(&search("%")).await.unwrap()),
        vec!["a%n"]
    );
    assert_eq!(s.list_users(&search("AN")).await.unwrap().len(), 1);
    // display name and email are searched too
    assert_eq!(s.list_users(&search("bob@example")).await.unwrap().len(), 1);
    let page = s
        .list_users(&UserQuery {
            search: None,
            limit: 2,
            offset: 2,
        })
        .await
        .unwrap();
    assert_eq!(names(page), vec!["ann", "bob"]);
}

pub async fn metacharacters_round_trip(db: &Db) {
    let s = &db.store;
    let evil = "Robert'); DROP TABLE users;-- \" \\ ü 名前 \u{1F600}";
    let mut u = user("bobby");
    u.display_name = evil.into();
    u.email = Some("o'reilly@example.com".into());
    s.create_user(&u, Some(evil), &[], draft("user.create").after(&evil))
        .await
        .unwrap();
    assert_eq!(s.get_user(u.id).await.unwrap().unwrap().display_name, evil);
    assert_eq!(
        s.login_record("bobby")
            .await
            .unwrap()
            .unwrap()
            .password_hash
            .as_deref(),
        Some(evil)
    );
    let g = Group {
        name: evil.into(),
        description: evil.into(),
        ..group("x")
    };
    s.create_group(&g, draft("group.create")).await.unwrap();
    assert_eq!(s.find_group(evil).await.unwrap(), Some(g));
    let entries = s
        .list_audit(&AuditQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.after.as_deref() == Some(&*serde_json::to_string(&evil).unwrap()))
    );
    assert_eq!(audit_count(s).await, 2);
}

pub async fn delete_user_cascades(db: &Db) {
    let s = &db.store;
    let u = add_user(s, "carl").await;
    let g = group("team");
    s.create_group(&g, draft("group.create")).await.unwrap();
    assert!(s.add_member(g.id, u.id, draft("m")).await.unwrap());
    assert!(
        s.assign_role(u.id, Role::SecurityReader, draft("r"))
            .await
            .unwrap()
    );
    let sess = session(u.id, now());
    s.create_session(&sess, "hash-carl").await.unwrap();
    s.delete_user(u.id, draft("user.delete")).await.unwrap();
    assert!(s.get_user(u.id).await.unwrap().is_none());
    assert!(s.group_members(g.id).await.unwrap().is_empty());
    assert!(s.roles_of(u.id).await.unwrap().is_empty());
    assert!(s.get_session(sess.id).await.unwrap().is_none());
    assert!(matches!(
        s.delete_user(u.id, draft("user.delete")).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn password_change_revokes_sessions_atomically(db: &Db) {
    let s = &db.store;
    let u = add_user(s, "dora").await;
    let t = now();
    for i in 0..3 {
        s.create_session(&session(u.id, t), &format!("h{i}"))
            .await
            .unwrap();
    }
    let before = audit_count(s).await;
    s.set_password_hash(
        u.id,
        "new-hash",
        true,
        Some(t),
        Some(draft("user.password.set")),
    )
    .await
    .unwrap();
    let rec = s.login_record("dora").await.unwrap().unwrap();
    assert_eq!(rec.password_hash.as_deref(), Some("new-hash"));
    assert!(rec.password_must_change);
    assert!(
        s.list_sessions(Some(u.id), Some(t), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(audit_count(s).await, before + 1);
    // The silent re-hash after sign-in writes no audit entry and revokes nothing.
    s.create_session(&session(u.id, t), "h9").await.unwrap();
    s.set_password_hash(u.id, "rehash", false, None, None)
        .await
        .unwrap();
    assert_eq!(audit_count(s).await, before + 1);
    assert_eq!(
        s.list_sessions(Some(u.id), Some(t), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(matches!(
        s.set_password_hash(Uuid::now_v7(), "x", false, None, None)
            .await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn groups_and_membership(db: &Db) {
    let s = &db.store;
    let a = add_user(s, "ann").await;
    let b = add_user(s, "ben").await;
    let g = group("Finance");
    s.create_group(&g, draft("group.create")).await.unwrap();
    let dup = s
        .create_group(&group("FINANCE"), draft("group.create"))
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))));
    assert_eq!(s.get_group(g.id).await.unwrap(), Some(g.clone()));
    let before = audit_count(s).await;
    assert!(
        s.add_member(g.id, a.id, draft("group.member.add"))
            .await
            .unwrap()
    );
    assert!(
        !s.add_member(g.id, a.id, draft("group.member.add"))
            .await
            .unwrap()
    );
    assert!(
        s.add_member(g.id, b.id, draft("group.member.add"))
            .await
            .unwrap()
    );
    assert_eq!(
        audit_count(s).await,
        before + 2,
        "a no-op add is not audited"
    );
    let members: Vec<String> = s
        .group_members(g.id)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(members, vec!["ann", "ben"]);
    assert_eq!(s.groups_of(a.id).await.unwrap(), vec![g.clone()]);
    assert!(
        s.remove_member(g.id, a.id, draft("group.member.remove"))
            .await
            .unwrap()
    );
    assert!(
        !s.remove_member(g.id, a.id, draft("group.member.remove"))
            .await
            .unwrap()
    );
    assert!(s.groups_of(a.id).await.unwrap().is_empty());
    assert_eq!(s.list_groups().await.unwrap().len(), 1);
    s.delete_group(g.id, draft("group.delete")).await.unwrap();
    assert!(s.groups_of(b.id).await.unwrap().is_empty());
    assert!(s.list_groups().await.unwrap().is_empty());
}

pub async fn roles(db: &Db) {
    let s = &db.store;
    let a = add_user(s, "amy").await;
    let b = add_user(s, "bea").await;
    assert!(
        s.assign_role(a.id, Role::GlobalAdministrator, draft("r"))
            .await
            .unwrap()
    );
    assert!(
        !s.assign_role(a.id, Role::GlobalAdministrator, draft("r"))
            .await
            .unwrap()
    );
    assert!(
        s.assign_role(a.id, Role::SecurityReader, draft("r"))
            .await
            .unwrap()
    );
    assert!(
        s.assign_role(b.id, Role::SecurityReader, draft("r"))
            .await
            .unwrap()
    );
    let mut roles = s.roles_of(a.id).await.unwrap();
    roles.sort();
    assert_eq!(roles, vec![Role::GlobalAdministrator, Role::SecurityReader]);
    let holders: Vec<String> = s
        .role_holders(Role::SecurityReader)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(holders, vec!["amy", "bea"]);
    assert!(
        s.unassign_role(a.id, Role::SecurityReader, draft("r"))
            .await
            .unwrap()
    );
    assert!(
        !s.unassign_role(a.id, Role::SecurityReader, draft("r"))
            .await
            .unwrap()
    );
    assert_eq!(
        s.roles_of(a.id).await.unwrap(),
        vec![Role::GlobalAdministrator]
    );
}

pub async fn sessions_lifecycle(db: &Db) {
    let s = &db.store;
    let u = add_user(s, "eve").await;
    let t = now();
    let live = session(u.id, t);
    s.create_session(&live, "secret-hash-1").await.unwrap();
    let dup = s.create_session(&session(u.id, t), "secret-hash-1").await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))));
    let found = s.session_by_secret("secret-hash-1").await.unwrap().unwrap();
    assert_eq!(found.session, live);
    assert_eq!(found.user.id, u.id);
    assert!(s.session_by_secret("nope").await.unwrap().is_none());

    let later = t + Duration::minutes(5);
    s.touch_session(live.id, later, later + Duration::hours(8))
        .await
        .unwrap();
    let touched = s.get_session(live.id).await.unwrap().unwrap();
    assert_eq!(touched.last_seen_at, later);

    // An idle-expired and a revoked session are not active.
    let mut old = session(u.id, t - Duration::hours(10));
    old.idle_expires_at = t - Duration::hours(1);
    s.create_session(&old, "secret-hash-2").await.unwrap();
    let revoked = session(u.id, t);
    s.create_session(&revoked, "secret-hash-3").await.unwrap();
    assert!(s.revoke_session(revoked.id, t, None).await.unwrap());
    assert!(!s.revoke_session(revoked.id, t, None).await.unwrap());
    let active = s.list_sessions(Some(u.id), Some(t), 10).await.unwrap();
    assert_eq!(
        active.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![live.id]
    );
    assert_eq!(s.list_sessions(None, None, 10).await.unwrap().len(), 3);
    let n = s
        .revoke_user_sessions(u.id, t, Some(draft("session.revoke_all")))
        .await
        .unwrap();
    assert_eq!(
        n, 2,
        "the live and the idle-expired one; the revoked one stays as it was"
    );
    assert!(
        s.list_sessions(Some(u.id), Some(t), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn api_tokens(db: &Db) {
    let s = &db.store;
    let t = now();
    let tok = ApiToken {
        id: Uuid::now_v7(),
        name: "ci".into(),
        role: Role::SecurityReader,
        created_at: t,
        expires_at: t + Duration::days(1),
        created_by: "cli:tester".into(),
        last_used_at: None,
        revoked_at: None,
    };
    s.create_api_token(&tok, "tok-hash", draft("token.create"))
        .await
        .unwrap();
    assert_eq!(
        s.api_token_by_secret("tok-hash").await.unwrap(),
        Some(tok.clone())
    );
    s.touch_api_token(tok.id, t).await.unwrap();
    assert_eq!(
        s.api_token_by_secret("tok-hash")
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(t)
    );
    assert!(
        s.revoke_api_token(tok.id, t, draft("token.revoke"))
            .await
            .unwrap()
    );
    assert!(
        !s.revoke_api_token(tok.id, t, draft("token.revoke"))
            .await
            .unwrap()
    );
    let listed = s.list_api_tokens().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!listed[0].is_usable(t));
}

pub async fn sign_in_log_filters(db: &Db) {
    let s = &db.store;
    let u = add_user(s, "fred").await;
    let t = now();
    let ev = |i: i64, user: Option<Uuid>, name: &str, ok: bool, reason: Option<&str>| SignInEvent {
        id: Uuid::now_v7(),
        at: t + Duration::seconds(i),
        user_id: user,
        username: name.into(),
        result: if ok {
            SignInResult::Success
        } else {
            SignInResult::Failure
        },
        failure_reason: reason.map(str::to_string),
        ip: Some("192.0.2.1".into()),
        user_agent: Some("test".into()),
        correlation_id: format!("c{i}"),
        methods: if ok { vec!["pwd".into()] } else { vec![] },
        details: serde_json::json!({"flow": "password", "n": i}),
    };
    let events = vec![
        ev(0, Some(u.id), "fred", true, None),
        ev(1, Some(u.id), "Fred", false, Some("wrong_password")),
        ev(2, None, "ghost", false, Some("unknown_user")),
    ];
    for e in &events {
        s.record_sign_in(e).await.unwrap();
    }
    let q = |f: &dyn Fn(&mut SignInQuery)| {
        let mut q = SignInQuery {
            limit: 100,
            ..Default::default()
        };
        f(&mut q);
        q
    };
    let all = s.list_sign_ins(&q(&|_| {})).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|e| e.correlation_id.as_str())
            .collect::<Vec<_>>(),
        vec!["c2", "c1", "c0"]
    );
    assert_eq!(all[2], events[0], "round-trips exactly, details included");
    assert_eq!(
        s.list_sign_ins(&q(&|q| q.user_id = Some(u.id)))
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        s.list_sign_ins(&q(&|q| q.username = Some("FRED".into())))
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        s.list_sign_ins(&q(&|q| q.result = Some(SignInResult::Failure)))
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        s.list_sign_ins(&q(&|q| q.failure_reason = Some("unknown_user".into())))
            .await
            .unwrap()[0]
            .username,
        "ghost"
    );
    assert_eq!(
        s.list_sign_ins(&q(&|q| q.since = Some(t + Duration::seconds(1))))
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        s.list_sign_ins(&q(&|q| q.until = Some(t + Duration::seconds(1))))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.list_sign_ins(&q(&|q| q.limit = 1)).await.unwrap().len(),
        1
    );
}

pub async fn audit_chain_and_concurrent_appends(db: &Db) {
    let s = Arc::new(db.store.clone());
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.append_audit(
                AuditDraft::new(&actor(), "test.append", "n", Some(i.to_string()))
                    .after(&serde_json::json!({ "i": i })),
            )
            .await
            .unwrap()
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap().seq);
    }
    seqs.sort();
    assert_eq!(seqs, (1..=20).collect::<Vec<i64>>());
    assert_eq!(s.verify_audit().await.unwrap(), Ok(20));
    let page = s
        .list_audit(&AuditQuery {
            before_seq: Some(11),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![10, 9, 8, 7, 6]
    );
    let by_target = s
        .list_audit(&AuditQuery {
            target_id: Some("7".into()),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_target.len(), 1);
    assert_eq!(by_target[0].actor_id, "cli:tester");
}

pub async fn audit_tampering_is_detected_and_updates_are_blocked(db: &Db) {
    let s = &db.store;
    for i in 0..4 {
        s.append_audit(draft("x").after(&i)).await.unwrap();
    }
    assert!(
        db.raw("UPDATE audit_log SET after_json = '9' WHERE seq = 3")
            .await
            .is_err()
    );
    assert!(db.raw("DELETE FROM audit_log WHERE seq = 2").await.is_err());
    assert_eq!(s.verify_audit().await.unwrap(), Ok(4));
    let drop = if db.is_postgres() {
        "DROP TRIGGER audit_log_no_update ON audit_log"
    } else {
        "DROP TRIGGER audit_log_no_update"
    };
    db.raw(drop).await.unwrap();
    db.raw("UPDATE audit_log SET after_json = '9' WHERE seq = 3")
        .await
        .unwrap();
    assert_eq!(
        s.verify_audit().await.unwrap(),
        Err(ChainError::HashMismatch { seq: 3 })
    );
}

pub async fn failed_change_leaves_nothing_behind(db: &Db) {
    let s = &db.store;
    add_user(s, "gina").await;
    let before = audit_count(s).await;
    // Duplicate login name with roles: neither the user, its roles nor an audit entry remain.
    let dup = user("GINA");
    let r = s
        .create_user(
            &dup,
            None,
            &[Role::GlobalAdministrator],
            draft("user.create"),
        )
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))));
    assert_eq!(audit_count(s).await, before);
    assert!(
        s.role_holders(Role::GlobalAdministrator)
            .await
            .unwrap()
            .is_empty()
    );
    // A role that fails to insert rolls back the user (same role twice violates the key).
    let twice = user("hank");
    let r = s
        .create_user(
            &twice,
            None,
            &[Role::SecurityReader, Role::SecurityReader],
            draft("user.create"),
        )
        .await;
    assert!(r.is_err());
    assert!(s.find_user("hank").await.unwrap().is_none());
    assert_eq!(audit_count(s).await, before);
    // The next append continues the chain without a gap.
    s.append_audit(draft("after")).await.unwrap();
    assert_eq!(audit_count(s).await, before + 1);
}

pub async fn bootstrap_token_is_single_use(db: &Db) {
    let s = &db.store;
    let t = now();
    s.set_bootstrap_token("old", t + Duration::hours(1))
        .await
        .unwrap();
    s.set_bootstrap_token("boot", t + Duration::hours(1))
        .await
        .unwrap();
    assert!(
        !s.bootstrap_token_valid("old", t).await.unwrap(),
        "replaced"
    );
    assert!(s.bootstrap_token_valid("boot", t).await.unwrap());
    assert!(
        !s.bootstrap_token_valid("boot", t + Duration::hours(2))
            .await
            .unwrap()
    );
    let expired = s
        .bootstrap_admin(
            "boot",
            t + Duration::hours(2),
            &user("late"),
            "h",
            draft("user.create"),
        )
        .await;
    assert!(matches!(expired, Err(StoreError::NotFound(_))));
    let admin = user("root");
    s.bootstrap_admin("boot", t, &admin, "h", draft("user.create"))
        .await
        .unwrap();
    assert_eq!(
        s.roles_of(admin.id).await.unwrap(),
        vec![Role::GlobalAdministrator]
    );
    let again = s
        .bootstrap_admin("boot", t, &user("root2"), "h", draft("user.create"))
        .await;
    assert!(matches!(again, Err(StoreError::NotFound(_))));
    assert_eq!(s.count_users().await.unwrap(), 1);
}

pub async fn reopening_is_idempotent_and_newer_schema_is_refused(db: &Db) {
    add_user(&db.store, "ivan").await;
    let again = SqlStore::connect(&db.url).await.unwrap();
    assert!(again.find_user("ivan").await.unwrap().is_some());
    again.pool().close().await;
    db.raw(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99999, 'from the future', TRUE, X'00', 0)",
    )
    .await
    .or(db
        .raw(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99999, 'from the future', TRUE, '\\x00', 0)",
        )
        .await)
    .unwrap();
    let err = SqlStore::connect(&db.url).await.unwrap_err();
    assert!(matches!(err, StoreError::NewerSchema(99999)), "{err:?}");
    assert!(err.to_string().contains("newer trustplane"));
}

pub async fn banned_terms(db: &Db) {
    let s = &db.store;
    let pairs = vec![
        ("contoso".to_string(), "Contoso".to_string()),
        ("fabrikam".to_string(), "Fabrikam".to_string()),
    ];
    assert_eq!(
        s.add_banned_terms(&pairs, "cli:t", draft("add"))
            .await
            .unwrap(),
        2
    );
    let before = audit_count(s).await;
    assert_eq!(
        s.add_banned_terms(&pairs, "cli:t", draft("add"))
            .await
            .unwrap(),
        0
    );
    assert_eq!(audit_count(s).await, before, "a no-op add is not audited");
    let list = s.list_banned_terms().await.unwrap();
    assert_eq!(
        list.iter().map(|t| t.display.as_str()).collect::<Vec<_>>(),
        vec!["Contoso", "Fabrikam"]
    );
    assert!(
        s.remove_banned_term("contoso", draft("remove"))
            .await
            .unwrap()
    );
    assert!(
        !s.remove_banned_term("contoso", draft("remove"))
            .await
            .unwrap()
    );
    assert_eq!(s.list_banned_terms().await.unwrap().len(), 1);
}
