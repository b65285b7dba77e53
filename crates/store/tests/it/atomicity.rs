//! Every change runs in one transaction with its audit entry: when any part fails, nothing of
//! it remains (no row, no audit entry, no advanced chain head).

use crate::support::*;
use time::{Duration, OffsetDateTime};
use trustplane_core::identity::{Group, Role, User, UserStatus};
use trustplane_core::session::{ApiToken, Session};
use trustplane_store::prelude::*;
use trustplane_store::{SqlStore, StoreError};

pub async fn failed_create_user_leaves_nothing(db: &TestDb) {
    let s = &db.store;
    let gina = add_user(s, "gina").await;
    let head = db.raw_i64("SELECT seq FROM audit_head WHERE id = 1").await;
    let mut audit = AuditWatch::start(s).await;

    // A duplicate login name: neither the user, its roles nor an audit entry remain.
    let dup = user("GINA");
    let r = s
        .create_user(
            &dup,
            Some("h"),
            &[Role::GlobalAdministrator],
            draft("user.create"),
        )
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    audit.none(s, "duplicate login name").await;
    assert_eq!(s.get_user(dup.id).await.unwrap(), None);
    assert!(s.roles_of(dup.id).await.unwrap().is_empty());
    assert!(
        s.role_holders(Role::GlobalAdministrator)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.find_user("gina").await.unwrap(), Some(gina.clone()));

    // A role that fails to insert (the same role twice) takes the user with it.
    let hank = user("hank");
    let r = s
        .create_user(
            &hank,
            None,
            &[Role::SecurityReader, Role::SecurityReader],
            draft("user.create"),
        )
        .await;
    assert!(r.is_err());
    audit.none(s, "failed role insert").await;
    assert_eq!(s.find_user("hank").await.unwrap(), None);
    assert!(
        s.role_holders(Role::SecurityReader)
            .await
            .unwrap()
            .is_empty()
    );

    // A reused id is refused too.
    let mut same_id = user("other");
    same_id.id = gina.id;
    assert!(
        s.create_user(&same_id, None, &[], draft("user.create"))
            .await
            .is_err()
    );
    audit.none(s, "reused id").await;
    assert_eq!(s.count_users().await.unwrap(), 1);

    // The chain head did not move; the next change continues the chain without a gap.
    assert_eq!(
        db.raw_i64("SELECT seq FROM audit_head WHERE id = 1").await,
        head
    );
    add_user(s, "hank").await;
    audit.one(s, "user.create", &admin()).await;
    assert_eq!(audit_log(s).await.last().unwrap().seq, head + 1);
}

/// What [`failed_audit_append_rolls_back_the_change`] tries to change: a user in a group
/// with a session, an API token, a banned term and a bootstrap token.
struct Existing {
    t: OffsetDateTime,
    alice: User,
    g: Group,
    session: Session,
    tok: ApiToken,
}

impl Existing {
    async fn create(s: &SqlStore) -> Existing {
        let t = now();
        let alice = add_user(s, "alice").await;
        let g = add_group(s, "staff").await;
        let x = session(alice.id, t);
        s.create_session(&x, "x").await.unwrap();
        let tok = token("ci", Role::SecurityReader, t);
        s.create_api_token(&tok, "tok", draft("api_token.create"))
            .await
            .unwrap();
        s.add_banned_terms(&[("kept".into(), "Kept".into())], "t", draft("t"))
            .await
            .unwrap();
        s.set_bootstrap_token("boot", t + Duration::hours(1))
            .await
            .unwrap();
        Existing {
            t,
            alice,
            g,
            session: x,
            tok,
        }
    }
}

/// Asserts the change `what` failed.
fn fails(what: &str, r: Result<(), StoreError>) {
    assert!(
        r.is_err(),
        "{what} must fail when its audit entry cannot be written"
    );
}

/// The audit append is the last step of every change; making it fail (by occupying the next
/// sequence number with a forged row, which the append-only triggers do not prevent) must roll
/// back the change it belongs to.
pub async fn failed_audit_append_rolls_back_the_change(db: &TestDb) {
    let s = &db.store;
    let ex = Existing::create(s).await;
    let head = db.raw_i64("SELECT seq FROM audit_head WHERE id = 1").await;
    let entries = audit_log(s).await;
    db.raw(&format!(
        "INSERT INTO audit_log (seq, at, actor_id, actor_name, ip, action, target_type, \
         target_id, before_json, after_json, prev_hash, hash) \
         VALUES ({}, 0, 'x', 'x', NULL, 'forged', 'x', NULL, NULL, NULL, 'x', 'x')",
        head + 1
    ))
    .await
    .unwrap();

    every_audited_change_fails(s, &ex).await;

    // Nothing of any of it remains.
    nothing_of_it_remains(s, &ex).await;
    assert_eq!(
        db.raw_i64("SELECT seq FROM audit_head WHERE id = 1").await,
        head
    );
    let now_entries = audit_log(s).await;
    assert_eq!(now_entries.len(), entries.len() + 1, "only the forged row");
    assert_eq!(&now_entries[..entries.len()], &entries[..]);
    // The chain names the forged row.
    assert_eq!(s.verify_audit().await.unwrap().unwrap_err().seq(), head + 1);
}

async fn every_audited_change_fails(s: &SqlStore, ex: &Existing) {
    let (t, alice, g, x, tok) = (ex.t, &ex.alice, &ex.g, &ex.session, &ex.tok);
    fails(
        "create_user",
        s.create_user(&user("bob"), None, &[Role::SecurityReader], draft("a"))
            .await,
    );
    let mut changed = alice.clone();
    changed.status = UserStatus::Disabled;
    changed.display_name = "changed".into();
    fails("update_user", s.update_user(&changed, draft("a")).await);
    fails(
        "set_password_hash",
        s.set_password_hash(alice.id, "new", true, Some(t), Some(draft("a")))
            .await,
    );
    fails("delete_user", s.delete_user(alice.id, draft("a")).await);
    fails(
        "create_group",
        s.create_group(&group("new"), draft("a")).await,
    );
    fails(
        "add_member",
        s.add_member(g.id, alice.id, draft("a")).await.map(|_| ()),
    );
    fails(
        "assign_role",
        s.assign_role(alice.id, Role::GlobalAdministrator, draft("a"))
            .await
            .map(|_| ()),
    );
    fails(
        "revoke_session",
        s.revoke_session(x.id, t, Some(draft("a")))
            .await
            .map(|_| ()),
    );
    fails(
        "revoke_user_sessions",
        s.revoke_user_sessions(alice.id, t, Some(draft("a")))
            .await
            .map(|_| ()),
    );
    fails(
        "create_api_token",
        s.create_api_token(&token("t2", Role::SecurityReader, t), "tok2", draft("a"))
            .await,
    );
    fails(
        "revoke_api_token",
        s.revoke_api_token(tok.id, t, draft("a")).await.map(|_| ()),
    );
    fails(
        "add_banned_terms",
        s.add_banned_terms(&[("new".into(), "New".into())], "t", draft("a"))
            .await
            .map(|_| ()),
    );
    fails(
        "remove_banned_term",
        s.remove_banned_term("kept", draft("a")).await.map(|_| ()),
    );
    fails("delete_group", s.delete_group(g.id, draft("a")).await);
    fails(
        "bootstrap_admin",
        s.bootstrap_admin("boot", t, &user("root"), "h", draft("a"))
            .await,
    );
    fails("append_audit", s.append_audit(draft("a")).await.map(|_| ()));
}

async fn nothing_of_it_remains(s: &SqlStore, ex: &Existing) {
    let (t, alice, g, x, tok) = (ex.t, &ex.alice, &ex.g, &ex.session, &ex.tok);
    assert_eq!(s.get_user(alice.id).await.unwrap(), Some(alice.clone()));
    let rec = s.login_record("alice").await.unwrap().unwrap();
    assert_eq!(rec.password_hash.as_deref(), Some("$argon2id$fake"));
    assert!(!rec.password_must_change);
    assert_eq!(s.count_users().await.unwrap(), 1);
    assert!(s.roles_of(alice.id).await.unwrap().is_empty());
    assert_eq!(s.list_groups().await.unwrap(), [g.clone()]);
    assert!(s.group_members(g.id).await.unwrap().is_empty());
    assert_eq!(s.get_session(x.id).await.unwrap(), Some(x.clone()));
    assert_eq!(s.list_api_tokens().await.unwrap(), [tok.clone()]);
    assert_eq!(
        s.list_banned_terms()
            .await
            .unwrap()
            .into_iter()
            .map(|b| b.term)
            .collect::<Vec<_>>(),
        ["kept"]
    );
    assert!(
        s.bootstrap_token_valid("boot", t).await.unwrap(),
        "token not consumed"
    );
}

pub async fn failed_bootstrap_keeps_the_token(db: &TestDb) {
    let s = &db.store;
    let t = now();
    add_user(s, "root").await;
    s.set_bootstrap_token("boot", t + Duration::hours(1))
        .await
        .unwrap();
    let mut audit = AuditWatch::start(s).await;
    // The login name is taken: the admin is not created and the token stays usable.
    let r = s
        .bootstrap_admin("boot", t, &user("ROOT"), "h", draft("user.bootstrap"))
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    audit.none(s, "failed bootstrap").await;
    assert!(s.bootstrap_token_valid("boot", t).await.unwrap());
    assert!(
        s.role_holders(Role::GlobalAdministrator)
            .await
            .unwrap()
            .is_empty()
    );
    let admin_user = user("admin");
    s.bootstrap_admin("boot", t, &admin_user, "h", draft("user.bootstrap"))
        .await
        .unwrap();
    audit.one(s, "user.bootstrap", &admin()).await;
    assert_eq!(
        s.role_holders(Role::GlobalAdministrator).await.unwrap(),
        [admin_user]
    );
}
