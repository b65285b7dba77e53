//! Users: identity, lookup, listing, changes, deletion and passwords.

use crate::support::*;
use time::Duration;
use trustplane_core::identity::{Role, UserStatus};
use trustplane_store::prelude::*;
use trustplane_store::{StoreError, UserQuery};
use uuid::Uuid;

pub async fn create_get_find(db: &TestDb) {
    let s = &db.store;
    assert_eq!(s.count_users().await.unwrap(), 0);
    assert!(s.list_users(&all()).await.unwrap().is_empty());

    let alice = add_user(s, "Alice").await;
    let mut no_email = user("noemail");
    no_email.email = None;
    no_email.status = UserStatus::Disabled;
    s.create_user(&no_email, None, &[], draft("user.create"))
        .await
        .unwrap();

    assert_eq!(s.get_user(alice.id).await.unwrap(), Some(alice.clone()));
    assert_eq!(
        s.get_user(no_email.id).await.unwrap(),
        Some(no_email.clone())
    );
    assert_eq!(s.get_user(Uuid::now_v7()).await.unwrap(), None);
    // Lookup by login name ignores case and surrounding blanks, as sign-in does.
    for typed in ["Alice", "alice", "ALICE", "  aLiCe "] {
        assert_eq!(
            s.find_user(typed).await.unwrap(),
            Some(alice.clone()),
            "{typed:?}"
        );
    }
    assert_eq!(s.find_user("alic").await.unwrap(), None);
    assert_eq!(s.find_user("alice2").await.unwrap(), None);
    assert_eq!(s.find_user("").await.unwrap(), None);
    assert_eq!(s.count_users().await.unwrap(), 2);
    // The login name keeps the case it was typed with.
    assert_eq!(
        s.find_user("ALICE").await.unwrap().unwrap().username,
        "Alice"
    );
}

pub async fn login_names_are_unique_case_insensitively(db: &TestDb) {
    let s = &db.store;
    let alice = add_user(s, "alice").await;
    for dup in ["Alice", "ALICE", "alice", " alice "] {
        let r = s
            .create_user(&user(dup), None, &[], draft("user.create"))
            .await;
        assert!(matches!(r, Err(StoreError::Conflict(_))), "{dup:?}: {r:?}");
    }
    // Non-ASCII letters fold too (the folding happens before the database sees the name).
    let jurgen = add_user(s, "Jürgen").await;
    let r = s
        .create_user(&user("JÜRGEN"), None, &[], draft("user.create"))
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    assert_eq!(s.find_user("jÜrgen").await.unwrap(), Some(jurgen));
    // A duplicate changes nothing.
    assert_eq!(s.count_users().await.unwrap(), 2);
    assert_eq!(s.find_user("ALICE").await.unwrap(), Some(alice));
    let err = s
        .create_user(&user("Alice"), None, &[], draft("user.create"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "conflict");
}

fn all() -> UserQuery {
    UserQuery {
        search: None,
        limit: 1000,
        offset: 0,
    }
}

fn search(q: &str) -> UserQuery {
    UserQuery {
        search: Some(q.into()),
        limit: 1000,
        offset: 0,
    }
}

pub async fn list_search_and_count(db: &TestDb) {
    let s = &db.store;
    for n in ["dave", "Carol", "bob", "alice", "Eve"] {
        add_user(s, n).await;
    }
    let mut erin = user("erin");
    erin.display_name = "Erin Zebra-Smith".into();
    erin.email = Some("e.z@corp.example".into());
    s.create_user(&erin, None, &[], draft("user.create"))
        .await
        .unwrap();
    assert_eq!(s.count_users().await.unwrap(), 6);

    // Ordered by login name, ignoring case; paged with limit and offset.
    assert_eq!(
        names(s.list_users(&all()).await.unwrap()),
        ["alice", "bob", "Carol", "dave", "erin", "Eve"]
    );
    let page = |limit, offset| UserQuery {
        search: None,
        limit,
        offset,
    };
    assert_eq!(
        names(s.list_users(&page(2, 0)).await.unwrap()),
        ["alice", "bob"]
    );
    assert_eq!(
        names(s.list_users(&page(2, 2)).await.unwrap()),
        ["Carol", "dave"]
    );
    assert_eq!(
        names(s.list_users(&page(2, 4)).await.unwrap()),
        ["erin", "Eve"]
    );
    assert!(s.list_users(&page(2, 6)).await.unwrap().is_empty());

    // Search: case-insensitive substring of login name, display name or email.
    assert_eq!(
        names(s.list_users(&search("CAR")).await.unwrap()),
        ["Carol"]
    );
    assert_eq!(
        names(s.list_users(&search("zebra")).await.unwrap()),
        ["erin"]
    );
    assert_eq!(
        names(s.list_users(&search("CORP.example")).await.unwrap()),
        ["erin"]
    );
    // Every fixture's display name is "<name> Example", every email "<name>@example.com".
    assert_eq!(s.list_users(&search("example")).await.unwrap().len(), 6);
    assert_eq!(
        names(s.list_users(&search("@example.com")).await.unwrap()),
        ["alice", "bob", "Carol", "dave", "Eve"]
    );
    assert!(s.list_users(&search("nobody")).await.unwrap().is_empty());
    // A blank search lists everyone.
    assert_eq!(s.list_users(&search("   ")).await.unwrap().len(), 6);
    // Search results page too.
    let q = UserQuery {
        search: Some("e".into()),
        limit: 2,
        offset: 1,
    };
    assert_eq!(names(s.list_users(&q).await.unwrap()), ["bob", "Carol"]);
}

pub async fn search_treats_like_metacharacters_literally(db: &TestDb) {
    let s = &db.store;
    for n in ["ann", "a_n", "a%n", "a\\n", "axn", "bob"] {
        let mut u = user(n);
        // Keep display names and emails out of the way: only login names match.
        u.display_name = "Zzz".into();
        u.email = None;
        s.create_user(&u, None, &[], draft("user.create"))
            .await
            .unwrap();
    }
    let found = |q: &'static str| async move {
        let mut v = names(s.list_users(&search(q)).await.unwrap());
        v.sort();
        v
    };
    assert_eq!(found("a_n").await, ["a_n"]);
    assert_eq!(found("_").await, ["a_n"]);
    assert_eq!(found("%").await, ["a%n"]);
    assert_eq!(found("a%n").await, ["a%n"]);
    assert_eq!(found("\\").await, ["a\\n"]);
    assert_eq!(found("a\\n").await, ["a\\n"]);
    assert_eq!(found("\\_").await, Vec::<String>::new());
    assert_eq!(found("%%").await, Vec::<String>::new());
    assert_eq!(found("'").await, Vec::<String>::new());
    assert_eq!(found("N").await, ["a%n", "a\\n", "a_n", "ann", "axn"]);
}

/// Non-ASCII text is found as typed on both backends; login names also ignore case (they are
/// folded before they reach the database). Display names and emails ignore the case of
/// non-ASCII letters only where the database's `lower()` does (PostgreSQL, not SQLite), so
/// that is not asserted here.
pub async fn search_non_ascii(db: &TestDb) {
    let s = &db.store;
    let mut u = user("Özil");
    u.display_name = "Mesut ÖZIL Ångström".into();
    u.email = Some("ÖZIL@bücher.example".into());
    s.create_user(&u, None, &[], draft("user.create"))
        .await
        .unwrap();
    add_user(s, "other").await;
    for q in [
        "Özil",
        "özil",
        "ÖZIL",
        "ÖZ",
        "Ångström",
        "ngstr",
        "MESUT",
        "bücher",
    ] {
        let found = names(s.list_users(&search(q)).await.unwrap());
        assert!(found.contains(&"Özil".to_string()), "{q:?}: {found:?}");
    }
    assert_eq!(
        names(s.list_users(&search("Ångström")).await.unwrap()),
        ["Özil"]
    );
    assert_eq!(
        names(s.list_users(&search("@bücher")).await.unwrap()),
        ["Özil"]
    );
    assert!(s.list_users(&search("Ø")).await.unwrap().is_empty());
}

pub async fn update_user(db: &TestDb) {
    let s = &db.store;
    let alice = add_user(s, "alice").await;
    let bob = add_user(s, "bob").await;

    let mut changed = alice.clone();
    changed.display_name = "Alice Liddell".into();
    changed.email = None;
    changed.status = UserStatus::Disabled;
    changed.updated_at = alice.updated_at + Duration::minutes(5);
    s.update_user(&changed, draft("user.update")).await.unwrap();
    assert_eq!(s.get_user(alice.id).await.unwrap(), Some(changed.clone()));
    assert!(!s.find_user("alice").await.unwrap().unwrap().is_enabled());

    // Only display name, email, status and the update time change: never the login name or
    // the creation time.
    let mut sneaky = changed.clone();
    sneaky.username = "mallory".into();
    sneaky.created_at = alice.created_at - Duration::days(1);
    sneaky.status = UserStatus::Enabled;
    sneaky.email = Some("alice@wonderland.example".into());
    s.update_user(&sneaky, draft("user.update")).await.unwrap();
    let stored = s.get_user(alice.id).await.unwrap().unwrap();
    assert_eq!(stored.username, "alice");
    assert_eq!(stored.created_at, alice.created_at);
    assert_eq!(stored.status, UserStatus::Enabled);
    assert_eq!(stored.email.as_deref(), Some("alice@wonderland.example"));
    assert!(s.find_user("mallory").await.unwrap().is_none());

    // Other users are untouched.
    assert_eq!(s.get_user(bob.id).await.unwrap(), Some(bob));

    let ghost = s.update_user(&user("ghost"), draft("user.update")).await;
    assert!(matches!(ghost, Err(StoreError::NotFound(_))), "{ghost:?}");
    assert_eq!(s.count_users().await.unwrap(), 2, "update never inserts");
}

pub async fn delete_user_cascades(db: &TestDb) {
    let s = &db.store;
    let carl = add_user(s, "carl").await;
    let dina = add_user(s, "dina").await;
    let g = add_group(s, "team").await;
    let t = now();
    for u in [&carl, &dina] {
        assert!(s.add_member(g.id, u.id, draft("m")).await.unwrap());
        assert!(
            s.assign_role(u.id, Role::SecurityReader, draft("r"))
                .await
                .unwrap()
        );
    }
    let carl_session = session(carl.id, t);
    s.create_session(&carl_session, "hash-carl").await.unwrap();
    let dina_session = session(dina.id, t);
    s.create_session(&dina_session, "hash-dina").await.unwrap();

    s.delete_user(carl.id, draft("user.delete")).await.unwrap();

    assert_eq!(s.get_user(carl.id).await.unwrap(), None);
    assert_eq!(s.find_user("carl").await.unwrap(), None);
    assert!(s.login_record("carl").await.unwrap().is_none());
    assert_eq!(names(s.group_members(g.id).await.unwrap()), ["dina"]);
    assert!(s.groups_of(carl.id).await.unwrap().is_empty());
    assert!(s.roles_of(carl.id).await.unwrap().is_empty());
    assert_eq!(
        names(s.role_holders(Role::SecurityReader).await.unwrap()),
        ["dina"]
    );
    assert_eq!(s.get_session(carl_session.id).await.unwrap(), None);
    assert!(s.session_by_secret("hash-carl").await.unwrap().is_none());
    assert!(
        s.list_sessions(Some(carl.id), None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    // The group and the other user keep everything.
    assert!(s.get_group(g.id).await.unwrap().is_some());
    assert_eq!(
        s.get_session(dina_session.id).await.unwrap(),
        Some(dina_session)
    );
    assert_eq!(s.roles_of(dina.id).await.unwrap(), [Role::SecurityReader]);
    assert_eq!(s.count_users().await.unwrap(), 1);

    // The login name is free again.
    add_user(s, "Carl").await;

    let again = s.delete_user(carl.id, draft("user.delete")).await;
    assert!(matches!(again, Err(StoreError::NotFound(_))), "{again:?}");
}

pub async fn login_record_and_password_hash(db: &TestDb) {
    let s = &db.store;
    let alice = add_user(s, "Alice").await;
    let rec = s.login_record("ALICE").await.unwrap().unwrap();
    assert_eq!(rec.user, alice);
    assert_eq!(rec.password_hash.as_deref(), Some("$argon2id$fake"));
    assert!(!rec.password_must_change);

    let nopw = user("nopw");
    s.create_user(&nopw, None, &[], draft("user.create"))
        .await
        .unwrap();
    let rec = s.login_record("nopw").await.unwrap().unwrap();
    assert_eq!(rec.password_hash, None);
    assert!(!rec.password_must_change);
    assert!(s.login_record("nobody").await.unwrap().is_none());

    // An administrative reset: new hash, must change at next sign-in.
    s.set_password_hash(
        nopw.id,
        "$argon2id$v=19$reset",
        true,
        None,
        Some(draft("pw")),
    )
    .await
    .unwrap();
    let rec = s.login_record("nopw").await.unwrap().unwrap();
    assert_eq!(rec.password_hash.as_deref(), Some("$argon2id$v=19$reset"));
    assert!(rec.password_must_change);
    assert!(
        rec.user.updated_at >= nopw.updated_at,
        "a password change bumps the update time"
    );
    // The user changes it: the flag clears.
    s.set_password_hash(
        nopw.id,
        "$argon2id$v=19$own",
        false,
        None,
        Some(draft("pw")),
    )
    .await
    .unwrap();
    let rec = s.login_record("nopw").await.unwrap().unwrap();
    assert_eq!(rec.password_hash.as_deref(), Some("$argon2id$v=19$own"));
    assert!(!rec.password_must_change);
    // Alice is untouched.
    assert_eq!(
        s.login_record("alice")
            .await
            .unwrap()
            .unwrap()
            .password_hash
            .as_deref(),
        Some("$argon2id$fake")
    );

    let missing = s
        .set_password_hash(Uuid::now_v7(), "x", false, None, None)
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
}

pub async fn password_change_revokes_sessions(db: &TestDb) {
    let s = &db.store;
    let dora = add_user(s, "dora").await;
    let emil = add_user(s, "emil").await;
    let t = now();
    let mut dora_sessions = Vec::new();
    for i in 0..3 {
        let x = session(dora.id, t + Duration::milliseconds(i));
        s.create_session(&x, &format!("dora-{i}")).await.unwrap();
        dora_sessions.push(x);
    }
    let emil_session = session(emil.id, t);
    s.create_session(&emil_session, "emil").await.unwrap();
    let mut audit = AuditWatch::start(s).await;

    // The silent re-hash after a sign-in: no audit entry, no revocation.
    s.set_password_hash(dora.id, "rehash", false, None, None)
        .await
        .unwrap();
    audit.none(s, "re-hash").await;
    assert_eq!(
        s.list_sessions(Some(dora.id), Some(t), 10)
            .await
            .unwrap()
            .len(),
        3
    );

    // A reset that revokes: every session of the user, none of anyone else's, plus one entry.
    let at = t + Duration::seconds(1);
    let actor = trustplane_core::audit::Actor::cli("tester");
    s.set_password_hash(
        dora.id,
        "new-hash",
        true,
        Some(at),
        Some(draft("user.password.reset")),
    )
    .await
    .unwrap();
    audit.one(s, "user.password.reset", &actor).await;
    for x in &dora_sessions {
        let stored = s.get_session(x.id).await.unwrap().unwrap();
        assert_eq!(stored.revoked_at, Some(at));
    }
    assert!(
        s.list_sessions(Some(dora.id), Some(t), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.get_session(emil_session.id).await.unwrap(),
        Some(emil_session)
    );
    let rec = s.login_record("dora").await.unwrap().unwrap();
    assert_eq!(rec.password_hash.as_deref(), Some("new-hash"));
    assert!(rec.password_must_change);

    // Revoking again keeps the first revocation time.
    s.set_password_hash(
        dora.id,
        "newer",
        false,
        Some(at + Duration::hours(1)),
        Some(draft("user.password.change")),
    )
    .await
    .unwrap();
    audit.one(s, "user.password.change", &actor).await;
    assert_eq!(
        s.get_session(dora_sessions[0].id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(at)
    );

    // Unknown user: nothing changes, nothing is audited.
    let r = s
        .set_password_hash(Uuid::now_v7(), "x", false, Some(at), Some(draft("pw")))
        .await;
    assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
    audit.none(s, "password change of an unknown user").await;
}

/// Memberships, roles and sessions need an existing user (and group); a dangling reference is
/// refused and leaves no audit entry: both backends enforce the foreign keys.
pub async fn references_to_missing_users_fail(db: &TestDb) {
    let s = &db.store;
    let g = add_group(s, "g").await;
    let real = add_user(s, "real").await;
    let ghost = Uuid::now_v7();
    let mut audit = AuditWatch::start(s).await;
    let r = s.add_member(g.id, ghost, draft("m")).await;
    assert!(r.is_err(), "member of a missing user: {r:?}");
    let r = s.add_member(Uuid::now_v7(), real.id, draft("m")).await;
    assert!(r.is_err(), "member of a missing group: {r:?}");
    let r = s
        .assign_role(ghost, Role::GlobalAdministrator, draft("r"))
        .await;
    assert!(r.is_err(), "role of a missing user: {r:?}");
    let r = s.create_session(&session(ghost, now()), "h").await;
    assert!(r.is_err(), "session of a missing user: {r:?}");
    audit.none(s, "dangling references").await;
    assert!(s.group_members(g.id).await.unwrap().is_empty());
    assert!(s.groups_of(real.id).await.unwrap().is_empty());
    assert!(
        s.role_holders(Role::GlobalAdministrator)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(s.session_by_secret("h").await.unwrap().is_none());
}
