//! Archiving a prefix of the audit log: the removed entries are exactly the archived ones,
//! the chain verifies from the MACed archive point on, the point cannot be moved without the
//! key, and nothing past the point can be deleted.

use crate::support::*;
use trustplane_core::audit::{Actor, AuditDraft, ChainError};
use trustplane_store::prelude::*;
use trustplane_store::{AuditQuery, SqlStore, StoreError};

const KEY: [u8; 32] = [0x24; 32];

async fn append(s: &SqlStore, n: usize) {
    for i in 0..n {
        s.append_audit(AuditDraft::new(
            &Actor::cli("t"),
            "group.create",
            "group",
            Some(i.to_string()),
        ))
        .await
        .unwrap();
    }
}

fn archive_draft() -> AuditDraft {
    AuditDraft::new(&Actor::cli("t"), "audit.archive", "audit_log", None)
}

async fn seqs(s: &SqlStore) -> Vec<i64> {
    let mut v: Vec<i64> = s
        .list_audit(&AuditQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.seq)
        .collect();
    v.sort();
    v
}

pub async fn a_prefix_is_removed_and_the_rest_verifies(db: &TestDb) {
    let s = db.store.clone().keyed(KEY).await.unwrap();
    append(&s, 6).await;
    let four = s.audit_range(3, 4, 10).await.unwrap();
    assert_eq!(four.len(), 1);
    let hash4 = four[0].hash.clone();

    // A hash the archive does not hold: refused, nothing removed.
    let err = s
        .remove_archived_audit(4, "bogus", now(), archive_draft())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    assert_eq!(seqs(&s).await, (1..=6).collect::<Vec<_>>());

    let removed = s
        .remove_archived_audit(4, &hash4, now(), archive_draft())
        .await
        .unwrap();
    assert_eq!(removed, 4);
    assert_eq!(
        seqs(&s).await,
        vec![5, 6, 7],
        "entry 7 is the archive entry"
    );
    let p = s.archive_point().await.unwrap().unwrap();
    assert_eq!((p.seq, p.hash.as_str()), (4, hash4.as_str()));
    assert_eq!(s.verify_audit().await.unwrap(), Ok(3));
    append(&s, 2).await;
    assert_eq!(s.verify_audit().await.unwrap(), Ok(5));

    // The same prefix again, or an older one: refused.
    let err = s
        .remove_archived_audit(4, &hash4, now(), archive_draft())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
}

pub async fn entries_past_the_archive_point_cannot_be_deleted(db: &TestDb) {
    let s = db.store.clone().keyed(KEY).await.unwrap();
    append(&s, 5).await;
    let e2 = s.audit_range(1, 2, 10).await.unwrap();
    s.remove_archived_audit(2, &e2[0].hash, now(), archive_draft())
        .await
        .unwrap();
    // The trigger still refuses deleting (and updating) anything the archive does not cover.
    assert!(db.raw("DELETE FROM audit_log WHERE seq = 3").await.is_err());
    assert!(
        db.raw("UPDATE audit_log SET action = 'x' WHERE seq = 4")
            .await
            .is_err()
    );
    assert_eq!(s.verify_audit().await.unwrap(), Ok(4));
}

pub async fn a_moved_archive_point_is_detected(db: &TestDb) {
    let s = db.store.clone().keyed(KEY).await.unwrap();
    append(&s, 6).await;
    let e2 = s.audit_range(1, 2, 10).await.unwrap();
    s.remove_archived_audit(2, &e2[0].hash, now(), archive_draft())
        .await
        .unwrap();
    // Whoever can write the database (not holding the key) moves the point to hide entries
    // 3 and 4: first the plain sequence number the trigger reads, then delete, then the point.
    let e4 = s.audit_range(3, 4, 10).await.unwrap();
    db.raw("UPDATE settings SET value = '4' WHERE name = 'audit.archived_seq'")
        .await
        .unwrap();
    db.raw("DELETE FROM audit_log WHERE seq <= 4")
        .await
        .unwrap();
    let forged = serde_json::json!({ "seq": 4, "hash": e4[0].hash, "at_ms": 0, "mac": "00" });
    db.raw(&format!(
        "UPDATE settings SET value = '{forged}' WHERE name = 'audit.archived_through'"
    ))
    .await
    .unwrap();
    let err = s.verify_audit().await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    // Leaving the old point in place instead: the cut shows as a gap.
    db.raw(&format!(
        "UPDATE settings SET value = '{}' WHERE name = 'audit.archived_through'",
        serde_json::to_string(&trustplane_store::ArchivePoint {
            seq: 2,
            hash: e2[0].hash.clone(),
            at_ms: 0,
            mac: trustplane_core::audit::ChainKey::archive_mac(&KEY, 2, &e2[0].hash),
        })
        .unwrap()
    ))
    .await
    .unwrap();
    let got = s.verify_audit().await.unwrap();
    assert!(
        matches!(
            got,
            Err(ChainError::Gap { .. }) | Err(ChainError::BrokenLink { .. })
        ),
        "{got:?}"
    );
}
