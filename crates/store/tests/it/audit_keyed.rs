//! The keyed audit chain: an edit recomputed with plain SHA-256 (what anyone with database
//! access can do) is detected once the chain is keyed; existing chains migrate at a keying
//! point; the keying point cannot be moved or used with another key.

use crate::support::*;
use trustplane_core::audit::{Actor, AuditDraft, AuditEntry, ChainError, entry_hash};
use trustplane_store::prelude::*;
use trustplane_store::{AuditQuery, SqlStore, StoreError};

const KEY: [u8; 32] = [0x42; 32];

async fn entries(s: &SqlStore) -> Vec<AuditEntry> {
    let mut v = s
        .list_audit(&AuditQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    v.reverse();
    v
}

async fn append(s: &SqlStore, n: usize) {
    for i in 0..n {
        s.append_audit(
            AuditDraft::new(
                &Actor::cli("t"),
                "group.create",
                "group",
                Some(i.to_string()),
            )
            .after(&serde_json::json!({ "name": format!("g{i}") })),
        )
        .await
        .unwrap();
    }
}

async fn drop_triggers(db: &TestDb) {
    if db.is_postgres() {
        db.raw("DROP TRIGGER audit_log_no_update ON audit_log")
            .await
            .unwrap();
    } else {
        db.raw("DROP TRIGGER audit_log_no_update").await.unwrap();
    }
}

/// The attack: edit entry `seq`, recompute its hash and every later one with SHA-256 (the
/// public scheme), and move `audit_head` to the new last hash.
async fn rewrite_from(db: &TestDb, s: &SqlStore, seq: i64) {
    let mut chain = entries(s).await;
    let mut prev = chain[(seq - 2) as usize].hash.clone();
    for e in chain.iter_mut().skip((seq - 1) as usize) {
        if e.seq == seq {
            e.after = Some(r#"{"name":"innocent"}"#.into());
        }
        e.prev_hash = prev.clone();
        e.hash = entry_hash(e);
        prev = e.hash.clone();
        sqlx::query(
            "UPDATE audit_log SET after_json = $1, prev_hash = $2, hash = $3 WHERE seq = $4",
        )
        .bind(e.after.clone())
        .bind(e.prev_hash.clone())
        .bind(e.hash.clone())
        .bind(e.seq)
        .execute(s.pool())
        .await
        .unwrap();
    }
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(prev)
        .execute(db.store.pool())
        .await
        .unwrap();
}

pub async fn recomputed_edit_verifies_unkeyed_but_not_keyed(db: &TestDb) {
    // Before keying (the old scheme): the forged chain verifies as intact. This is the attack.
    let unkeyed = db.store.clone();
    append(&unkeyed, 4).await;
    drop_triggers(db).await;
    rewrite_from(db, &unkeyed, 2).await;
    assert_eq!(unkeyed.verify_audit().await.unwrap(), Ok(4));

    // Keyed: entries from the keying point on cannot be forged without the key.
    let keyed = db.store.clone().keyed(KEY).await.unwrap();
    assert_eq!(keyed.audit_keyed_from(), Some(5));
    append(&keyed, 4).await;
    assert_eq!(keyed.verify_audit().await.unwrap(), Ok(9));
    rewrite_from(db, &keyed, 7).await;
    assert_eq!(
        keyed.verify_audit().await.unwrap(),
        Err(ChainError::HashMismatch { seq: 7 })
    );
}

pub async fn existing_chain_is_keyed_at_a_recorded_point(db: &TestDb) {
    append(&db.store, 3).await;
    let keyed = db.store.clone().keyed(KEY).await.unwrap();
    assert_eq!(keyed.audit_keyed_from(), Some(4));
    let log = entries(&keyed).await;
    assert_eq!(log.len(), 4);
    assert_eq!(log[3].action, "audit.chain.keyed");
    assert_eq!(
        log[0].hash,
        entry_hash(&log[0]),
        "old entries keep their hashes"
    );
    assert_ne!(log[3].hash, entry_hash(&log[3]), "new entries are keyed");
    append(&keyed, 2).await;
    assert_eq!(keyed.verify_audit().await.unwrap(), Ok(6));

    // Reopened with the key: the same keying point, no second keying entry.
    let again = SqlStore::connect(&db.url)
        .await
        .unwrap()
        .keyed(KEY)
        .await
        .unwrap();
    assert_eq!(again.audit_keyed_from(), Some(4));
    assert_eq!(again.verify_audit().await.unwrap(), Ok(6));
    again.pool().close().await;

    // Without the key: no append (it would break the chain), no verification.
    let bare = SqlStore::connect(&db.url).await.unwrap();
    let err = bare
        .append_audit(AuditDraft::new(&Actor::cli("t"), "x", "y", None))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    assert!(bare.verify_audit().await.is_err());
    // With another key: refused.
    let err = bare.clone().keyed([7u8; 32]).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    bare.pool().close().await;
    assert_eq!(entries(&keyed).await.len(), 6);
}

pub async fn moving_the_keying_point_is_refused(db: &TestDb) {
    let keyed = db.store.clone().keyed(KEY).await.unwrap();
    assert_eq!(keyed.audit_keyed_from(), Some(1));
    append(&keyed, 3).await;
    // Move the keying point past the end, so every entry would be checked the unkeyed way.
    let value: (String,) =
        sqlx::query_as("SELECT value FROM settings WHERE name = 'audit.chain_key'")
            .fetch_one(keyed.pool())
            .await
            .unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&value.0).unwrap();
    v["keyed_from"] = 100.into();
    sqlx::query("UPDATE settings SET value = $1 WHERE name = 'audit.chain_key'")
        .bind(v.to_string())
        .execute(keyed.pool())
        .await
        .unwrap();
    let err = SqlStore::connect(&db.url)
        .await
        .unwrap()
        .keyed(KEY)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("keying point"), "{err}");
}
