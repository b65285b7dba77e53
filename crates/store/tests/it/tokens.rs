//! API tokens for the admin API.

use crate::support::*;
use time::{Duration, OffsetDateTime};
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_core::identity::Role;
use trustplane_core::session::ApiToken;
use trustplane_store::prelude::*;
use trustplane_store::{SqlStore, StoreError};
use uuid::Uuid;

pub async fn api_token_lifecycle(db: &TestDb) {
    let s = &db.store;
    let t = now();
    let creator = Actor::user(Uuid::now_v7(), "root", Some("198.51.100.4".into()));
    let d = |action: &str, id: Uuid| {
        AuditDraft::new(&creator, action, "api_token", Some(id.to_string()))
    };
    assert!(s.list_api_tokens().await.unwrap().is_empty());
    let mut audit = AuditWatch::start(s).await;

    let ci = token("ci", Role::SecurityReader, t);
    s.create_api_token(&ci, "tok-hash-ci", d("api_token.create", ci.id))
        .await
        .unwrap();
    let e = audit.one(s, "api_token.create", &creator).await;
    assert_eq!(e.target_id, Some(ci.id.to_string()));
    let mut ops = token("ops", Role::GlobalAdministrator, t + Duration::seconds(1));
    ops.expires_at = t + Duration::days(90);
    s.create_api_token(&ops, "tok-hash-ops", d("api_token.create", ops.id))
        .await
        .unwrap();
    audit.one(s, "api_token.create", &creator).await;

    // By secret: exact match only, everything round-trips.
    assert_eq!(
        s.api_token_by_secret("tok-hash-ci").await.unwrap(),
        Some(ci.clone())
    );
    assert_eq!(
        s.api_token_by_secret("tok-hash-ops").await.unwrap(),
        Some(ops.clone())
    );
    assert_eq!(s.api_token_by_secret("tok-hash").await.unwrap(), None);
    assert_eq!(s.api_token_by_secret("TOK-HASH-CI").await.unwrap(), None);
    // Listed newest first.
    assert_eq!(
        s.list_api_tokens().await.unwrap(),
        [ops.clone(), ci.clone()]
    );

    // The secret hash is unique; a duplicate is refused and not audited.
    let dup = token("dup", Role::SecurityReader, t);
    let r = s
        .create_api_token(&dup, "tok-hash-ci", d("api_token.create", dup.id))
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    audit.none(s, "duplicate token").await;
    assert_eq!(s.list_api_tokens().await.unwrap().len(), 2);

    let used = t + Duration::minutes(1);
    touch_records_the_last_use(s, &ci, &ops, used).await;
    audit.none(s, "touching tokens").await;

    // Revoke: once, audited once; it stays listed but is no longer usable.
    let at = t + Duration::minutes(3);
    assert!(
        s.revoke_api_token(ci.id, at, d("api_token.revoke", ci.id))
            .await
            .unwrap()
    );
    audit.one(s, "api_token.revoke", &creator).await;
    assert!(
        !s.revoke_api_token(ci.id, at + Duration::hours(1), d("api_token.revoke", ci.id))
            .await
            .unwrap()
    );
    assert!(
        !s.revoke_api_token(Uuid::now_v7(), at, d("api_token.revoke", ci.id))
            .await
            .unwrap()
    );
    audit.none(s, "revoking a revoked or missing token").await;
    let revoked = s.api_token_by_secret("tok-hash-ci").await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(at));
    assert!(!revoked.is_usable(at));
    let listed = s.list_api_tokens().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1].revoked_at, Some(at));
    assert!(listed[0].is_usable(at), "the other token is unaffected");
    assert_eq!(listed[0], ops);
}

/// Touch records the last use, of that token only, and a later touch moves it on; touching
/// an unknown token is no error.
async fn touch_records_the_last_use(
    s: &SqlStore,
    ci: &ApiToken,
    ops: &ApiToken,
    used: OffsetDateTime,
) {
    s.touch_api_token(ci.id, used).await.unwrap();
    assert_eq!(
        s.api_token_by_secret("tok-hash-ci")
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(used)
    );
    s.touch_api_token(ci.id, used + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(
        s.api_token_by_secret("tok-hash-ci")
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(used + Duration::minutes(1))
    );
    assert_eq!(
        s.api_token_by_secret("tok-hash-ops").await.unwrap(),
        Some(ops.clone())
    );
    s.touch_api_token(Uuid::now_v7(), used).await.unwrap();
}
