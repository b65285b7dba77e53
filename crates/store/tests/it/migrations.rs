//! Migrations: idempotent on re-open, and a database migrated by a newer build is refused.

use crate::support::*;
use trustplane_store::prelude::*;
use trustplane_store::{SqlStore, Store, StoreError};

async fn applied_versions(db: &TestDb) -> Vec<i64> {
    let rows: Vec<(i64,)> =
        sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(db.store.pool())
            .await
            .unwrap();
    rows.into_iter().map(|(v,)| v).collect()
}

pub async fn reopening_is_idempotent(db: &TestDb) {
    let versions = applied_versions(db).await;
    assert!(!versions.is_empty(), "migrations ran");
    let ivan = add_user(&db.store, "ivan").await;
    db.store.append_audit(draft("x")).await.unwrap();

    // Open the same database again, twice, while the first store is still open.
    let (a, b) = tokio::join!(SqlStore::connect(&db.url), SqlStore::connect(&db.url));
    let (a, b) = (a.unwrap(), b.unwrap());
    a.ping().await.unwrap();
    assert_eq!(a.backend(), db.backend);
    assert_eq!(a.find_user("ivan").await.unwrap(), Some(ivan.clone()));
    assert_eq!(b.count_users().await.unwrap(), 1);
    assert_eq!(applied_versions(db).await, versions, "nothing re-applied");
    assert_eq!(b.verify_audit().await.unwrap(), Ok(2));
    // All instances share one chain.
    a.append_audit(draft("y")).await.unwrap();
    assert_eq!(db.store.verify_audit().await.unwrap(), Ok(3));
    a.pool().close().await;
    b.pool().close().await;
    let c = SqlStore::connect(&db.url).await.unwrap();
    assert_eq!(c.get_user(ivan.id).await.unwrap(), Some(ivan));
    c.pool().close().await;
}

pub async fn newer_schema_is_refused(db: &TestDb) {
    add_user(&db.store, "ivan").await;
    // What a newer build would leave behind: an applied migration this build does not know.
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(99999_i64)
    .bind("from the future")
    .bind(true)
    .bind(vec![0xde_u8, 0xad, 0xbe, 0xef])
    .bind(1_i64)
    .execute(db.store.pool())
    .await
    .unwrap();

    let err = SqlStore::connect(&db.url).await.unwrap_err();
    assert!(matches!(err, StoreError::NewerSchema(99999)), "{err:?}");
    assert_eq!(err.code(), "newer_schema");
    assert!(err.to_string().contains("99999"), "{err}");
    // Refusing changed nothing: the running store still works and the data is intact.
    assert_eq!(db.store.count_users().await.unwrap(), 1);
    assert!(applied_versions(db).await.contains(&99999));
}
