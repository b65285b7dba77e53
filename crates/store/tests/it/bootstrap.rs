//! The one-time bootstrap token that creates the first administrator.

use crate::support::*;
use time::Duration;
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_core::identity::Role;
use trustplane_store::StoreError;
use trustplane_store::prelude::*;

pub async fn bootstrap_token_lifecycle(db: &TestDb) {
    let s = &db.store;
    let t = now();
    let exp = t + Duration::hours(1);
    let actor = Actor {
        id: "bootstrap".into(),
        name: "bootstrap".into(),
        ip: Some("127.0.0.1".into()),
    };
    let d = || AuditDraft::new(&actor, "user.bootstrap", "user", None);
    assert!(
        !s.bootstrap_token_valid("boot", t).await.unwrap(),
        "none set yet"
    );

    // Setting a token replaces any earlier one.
    s.set_bootstrap_token("old", exp).await.unwrap();
    s.set_bootstrap_token("boot", exp).await.unwrap();
    assert!(
        !s.bootstrap_token_valid("old", t).await.unwrap(),
        "replaced"
    );
    assert!(s.bootstrap_token_valid("boot", t).await.unwrap());
    assert!(!s.bootstrap_token_valid("BOOT", t).await.unwrap());
    assert!(!s.bootstrap_token_valid("boo", t).await.unwrap());
    // Valid strictly before its expiry.
    assert!(
        s.bootstrap_token_valid("boot", exp - Duration::milliseconds(1))
            .await
            .unwrap()
    );
    assert!(!s.bootstrap_token_valid("boot", exp).await.unwrap());
    assert!(
        !s.bootstrap_token_valid("boot", exp + Duration::hours(1))
            .await
            .unwrap()
    );

    let mut audit = AuditWatch::start(s).await;
    // A wrong, a replaced, or an expired token creates nobody.
    for (hash, at) in [
        ("wrong", t),
        ("old", t),
        ("boot", exp),
        ("boot", exp + Duration::days(1)),
    ] {
        let r = s.bootstrap_admin(hash, at, &user("late"), "h", d()).await;
        assert!(
            matches!(r, Err(StoreError::NotFound(_))),
            "{hash} at {at}: {r:?}"
        );
    }
    audit.none(s, "refused bootstrap").await;
    assert_eq!(s.count_users().await.unwrap(), 0);
    assert!(
        s.bootstrap_token_valid("boot", t).await.unwrap(),
        "refusals do not consume it"
    );

    // The right token creates a global administrator with the given password, once.
    let root = user("root");
    s.bootstrap_admin("boot", t, &root, "$argon2id$root", d())
        .await
        .unwrap();
    audit.one(s, "user.bootstrap", &actor).await;
    assert_eq!(s.get_user(root.id).await.unwrap(), Some(root.clone()));
    assert_eq!(
        s.roles_of(root.id).await.unwrap(),
        [Role::GlobalAdministrator]
    );
    assert_eq!(
        s.role_holders(Role::GlobalAdministrator).await.unwrap(),
        [root.clone()]
    );
    let rec = s.login_record("root").await.unwrap().unwrap();
    assert_eq!(rec.password_hash.as_deref(), Some("$argon2id$root"));
    assert!(!rec.password_must_change);

    assert!(
        !s.bootstrap_token_valid("boot", t).await.unwrap(),
        "consumed"
    );
    let again = s.bootstrap_admin("boot", t, &user("root2"), "h", d()).await;
    assert!(matches!(again, Err(StoreError::NotFound(_))), "{again:?}");
    assert_eq!(again.unwrap_err().code(), "not_found");
    audit.none(s, "second use").await;
    assert_eq!(s.count_users().await.unwrap(), 1);

    // Racing uses of one fresh token: exactly one wins.
    s.set_bootstrap_token("race", exp).await.unwrap();
    let store = std::sync::Arc::new(s.clone());
    let mut tasks = Vec::new();
    for i in 0..6 {
        let store = store.clone();
        let d = d();
        tasks.push(tokio::spawn(async move {
            store
                .bootstrap_admin("race", t, &user(&format!("racer{i}")), "h", d)
                .await
        }));
    }
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => won += 1,
            Err(StoreError::NotFound(_)) => {}
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(
        s.role_holders(Role::GlobalAdministrator)
            .await
            .unwrap()
            .len(),
        2
    );
    audit.one(s, "user.bootstrap", &actor).await;
}
