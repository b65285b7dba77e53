//! `trustplane admin audit verify|checkpoint|archive`: the audit log's hash chain detects an
//! edited row, signed checkpoints a cut-off tail, and archives leave the database verifiable.

use crate::support::*;
use std::path::Path;

fn create_groups(d: &Path, names: &[&str]) {
    for name in names {
        ok(&run(d, &["admin", "group", "create", name], None));
    }
}

#[tokio::test]
async fn editing_an_audit_row_by_hand_breaks_verification() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create_groups(d, &["g1", "g2", "g3"]);
    assert!(ok(&audit(d, &["verify"])).contains("3 entries"));
    // The table is append-only for the application; an attacker with database access drops
    // the trigger and rewrites history.
    let mut conn = tamper(d).await;
    let blocked = sqlx::query("UPDATE audit_log SET actor_name = 'x' WHERE seq = 2")
        .execute(&mut conn)
        .await;
    assert!(blocked.is_err(), "append-only trigger blocks updates");
    for sql in [
        "DROP TRIGGER audit_log_no_update",
        "UPDATE audit_log SET after_json = '{\"name\":\"innocent\"}' WHERE seq = 2",
    ] {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
    sqlx::Connection::close(conn).await.unwrap();
    let out = audit(d, &["verify"]);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("BROKEN at entry 2"), "{text}");
}

#[tokio::test]
async fn a_cut_off_audit_tail_is_detected_with_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create_groups(d, &["g1", "g2", "g3", "g4"]);
    let cps = d.join("checkpoints.jsonl");
    let cps = cps.to_str().unwrap();
    ok(&audit(d, &["checkpoint", "--file", cps]));
    let verify = || audit(d, &["verify", "--checkpoints", cps]);
    assert!(ok(&verify()).contains("consistent with 1 checkpoint"));

    // Someone with database access removes the last two entries and moves the head back.
    let mut conn = tamper(d).await;
    for sql in [
        "DROP TRIGGER audit_log_no_delete",
        "DELETE FROM audit_log WHERE seq > 2",
        "UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit_log WHERE seq = 2)",
    ] {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
    sqlx::Connection::close(conn).await.unwrap();
    // The chain alone cannot tell: it is a valid, shorter chain.
    assert!(ok(&audit(d, &["verify"])).contains("intact: 2 entries"));
    // The checkpoint can.
    let out = verify();
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("truncated") && text.contains("entry 4"),
        "{text}"
    );

    // A forged checkpoint (edited to claim less) is refused as not signed.
    let forged = std::fs::read_to_string(cps)
        .unwrap()
        .replace("\"seq\":4", "\"seq\":2");
    std::fs::write(cps, forged).unwrap();
    let out = verify();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("not signed"));
}

/// Archiving (issue 13 item 4): the oldest entries move to a signed file and leave the
/// database; the database and the archives verify together; an edited or missing archive, or
/// an archive out of order, is reported; a second archive continues the first.
#[test]
fn the_oldest_audit_entries_are_archived_to_a_signed_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create_groups(d, &["g1", "g2", "g3", "g4", "g5"]);
    let a1 = d.join("audit-1.jsonl");
    let a1s = a1.to_str().unwrap();
    // A dry run changes nothing.
    let text = ok(&audit(
        d,
        &["archive", "--through", "3", "--out", a1s, "--dry-run"],
    ));
    assert!(
        text.contains("would archive entries 1..=3 (3 entries)"),
        "{text}"
    );
    assert!(!a1.exists());
    let text = ok(&audit(d, &["archive", "--through", "3", "--out", a1s]));
    assert!(text.contains("removed 3 from the database"), "{text}");
    // Entries 4, 5 and the archive entry 6 remain; they verify from the archive point, and
    // together with the archive.
    assert!(ok(&audit(d, &["verify"])).contains("intact: 3 entries"));
    let text = ok(&audit(d, &["verify", "--archive", a1s]));
    assert!(
        text.contains("audit-1.jsonl intact: entries 1..=3"),
        "{text}"
    );
    // The same file name again is refused; nothing more is removed.
    let out = audit(d, &["archive", "--through", "5", "--out", a1s]);
    let err = refused(&out);
    assert!(err.contains("exists"), "{err}");

    // A second archive continues the first (everything before now).
    let a2 = d.join("audit-2.jsonl");
    let a2s = a2.to_str().unwrap();
    let text = ok(&audit(
        d,
        &["archive", "--before", "2999-01-01T00:00:00Z", "--out", a2s],
    ));
    assert!(text.contains("archived entries 4..=6"), "{text}");
    let text = ok(&audit(d, &["verify", "--archive", a1s, "--archive", a2s]));
    assert!(text.contains("intact: entries 4..=6"), "{text}");
    // Only the second: entries 1..=3 are missing in front of it.
    let out = audit(d, &["verify", "--archive", a2s]);
    assert_eq!(out.status.code(), Some(3));
    // An edited archive (an entry's action changed) is BROKEN.
    let edited = std::fs::read_to_string(&a1)
        .unwrap()
        .replacen("group.create", "group.delete", 1);
    std::fs::write(&a1, edited).unwrap();
    let out = audit(d, &["verify", "--archive", a1s, "--archive", a2s]);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("audit-1.jsonl BROKEN"), "{text}");
}
