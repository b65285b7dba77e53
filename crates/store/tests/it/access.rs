//! Conditional access policy set versions.

use crate::support::*;
use time::Duration;
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_store::prelude::*;
use trustplane_store::{AuditQuery, StoreError};

fn audit(v: i64) -> AuditDraft {
    AuditDraft::new(
        &Actor::cli("root"),
        "conditional_access.policy_set.save",
        "policy_set",
        Some(v.to_string()),
    )
}

pub async fn versions_are_kept_and_concurrent_saves_conflict(db: &TestDb) {
    let s = &db.store;
    assert!(s.current_policy_version().await.unwrap().is_none());
    let t = now();
    let v1 = s
        .save_policy_version(0, r#"{"policies":[]}"#, "root", "first", t, audit(1))
        .await
        .unwrap();
    assert_eq!(v1.version, 1);
    // A save based on nothing when version 1 exists: conflict, nothing stored.
    let e = s
        .save_policy_version(0, "{}", "root", "stale", t, audit(1))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    let v2 = s
        .save_policy_version(
            1,
            r#"{"policies":[1]}"#,
            "alice",
            "second",
            t + Duration::seconds(1),
            audit(2),
        )
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    let e = s
        .save_policy_version(1, "{}", "bob", "lost update", t, audit(2))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)));
    assert_eq!(s.current_policy_version().await.unwrap(), Some(v2.clone()));
    assert_eq!(s.policy_version(1).await.unwrap(), Some(v1.clone()));
    assert_eq!(s.policy_version(3).await.unwrap(), None);
    assert_eq!(
        s.list_policy_versions(10).await.unwrap(),
        vec![v2.clone(), v1.clone()]
    );
    // One audit entry per stored version, none for refused saves.
    let entries = s
        .list_audit(&AuditQuery {
            action: Some("conditional_access.policy_set.save".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), 2);

    // Racing saves on the same base: exactly one wins.
    let (a, b) = tokio::join!(
        s.save_policy_version(2, "{\"a\":1}", "a", "", t, audit(3)),
        s.save_policy_version(2, "{\"b\":1}", "b", "", t, audit(3)),
    );
    assert_eq!(
        [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "{a:?} {b:?}"
    );
    assert_eq!(
        s.current_policy_version().await.unwrap().unwrap().version,
        3
    );
}

pub async fn terms_of_use_and_acceptances(db: &TestDb) {
    use trustplane_store::TermsOfUse;
    let s = &db.store;
    let u = add_user(s, "tess").await;
    let t = TermsOfUse {
        id: "acceptable-use".into(),
        name: "Acceptable use".into(),
        body: "Be nice.".into(),
        created_at: now(),
    };
    let audit = |a: &str| AuditDraft::new(&Actor::cli("root"), a, "terms_of_use", None);
    s.create_terms(&t, audit("terms_of_use.create"))
        .await
        .unwrap();
    assert!(matches!(
        s.create_terms(&t, audit("terms_of_use.create")).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.get_terms("acceptable-use").await.unwrap(),
        Some(t.clone())
    );
    assert!(s.accepted_terms(u.id).await.unwrap().is_empty());
    s.accept_terms(u.id, "acceptable-use", now()).await.unwrap();
    s.accept_terms(u.id, "acceptable-use", now()).await.unwrap();
    assert_eq!(
        s.accepted_terms(u.id).await.unwrap(),
        vec!["acceptable-use".to_string()]
    );
    assert!(matches!(
        s.accept_terms(u.id, "nope", now()).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        s.delete_terms("acceptable-use", audit("terms_of_use.delete"))
            .await
            .unwrap()
    );
    assert!(
        !s.delete_terms("acceptable-use", audit("terms_of_use.delete"))
            .await
            .unwrap()
    );
    assert!(
        s.accepted_terms(u.id).await.unwrap().is_empty(),
        "acceptances go with the terms"
    );
    assert!(s.list_terms().await.unwrap().is_empty());
}
