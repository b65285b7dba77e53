//! The one-time bootstrap token that creates the first administrator.

use crate::support::*;
use time::{Duration, OffsetDateTime};
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_core::identity::Role;
use trustplane_store::prelude::*;
use trustplane_store::{SqlStore, StoreError};

/// Who uses the bootstrap token.
fn bootstrap_actor() -> Actor {
    Actor {
        id: "bootstrap".into(),
        name: "bootstrap".into(),
        ip: Some("127.0.0.1".into()),
    }
}

/// The audit entry a use of the token appends.
fn bootstrap_draft() -> AuditDraft {
    AuditDraft::new(&bootstrap_actor(), "user.bootstrap", "user", None)
}

pub async fn bootstrap_token_lifecycle(db: &TestDb) {
    let s = &db.store;
    let t = now();
    let exp = t + Duration::hours(1);
    let actor = bootstrap_actor();
    token_is_valid_until_replaced_or_expired(s, t, exp).await;

    let mut audit = AuditWatch::start(s).await;
    // A wrong, a replaced, or an expired token creates nobody.
    for (hash, at) in [
        ("wrong", t),
        ("old", t),
        ("boot", exp),
        ("boot", exp + Duration::days(1)),
    ] {
        let r = s
            .bootstrap_admin(hash, at, &user("late"), "h", bootstrap_draft())
            .await;
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
    s.bootstrap_admin("boot", t, &root, "$argon2id$root", bootstrap_draft())
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
    let again = s
        .bootstrap_admin("boot", t, &user("root2"), "h", bootstrap_draft())
        .await;
    assert!(matches!(again, Err(StoreError::NotFound(_))), "{again:?}");
    assert_eq!(again.unwrap_err().code(), "not_found");
    audit.none(s, "second use").await;
    assert_eq!(s.count_users().await.unwrap(), 1);

    racing_uses_of_one_token_make_one_admin(s, t, exp).await;
    audit.one(s, "user.bootstrap", &actor).await;
}

/// Sets "old", then "boot" (expiring at `exp`), which replaces it.
async fn token_is_valid_until_replaced_or_expired(
    s: &SqlStore,
    t: OffsetDateTime,
    exp: OffsetDateTime,
) {
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
}

/// Racing uses of one fresh token: exactly one wins (a second global administrator, beside
/// the one that exists).
async fn racing_uses_of_one_token_make_one_admin(
    s: &SqlStore,
    t: OffsetDateTime,
    exp: OffsetDateTime,
) {
    s.set_bootstrap_token("race", exp).await.unwrap();
    let store = std::sync::Arc::new(s.clone());
    let mut tasks = Vec::new();
    for i in 0..6 {
        let store = store.clone();
        let d = bootstrap_draft();
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
}
