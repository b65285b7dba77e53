//! Storage hardening from the command line: private files, checked lifetimes, broken pipes,
//! breach-filter imports that would turn the filter off, audit checkpoints.

use super::*;

fn hex_sha1(p: &str) -> String {
    use sha1::Digest as _;
    sha1::Sha1::digest(p.as_bytes())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn actions(d: &std::path::Path) -> Vec<String> {
    let url = format!("sqlite://{}?mode=ro", d.join("trustplane.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let rows: Vec<(String,)> = sqlx::query_as("SELECT action FROM audit_log ORDER BY seq")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    rows.into_iter().map(|r| r.0).collect()
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    // Initialise the data directory first, so the command below prints at once.
    ok(&run(dir.path(), &["policy", "templates"], None));
    let mut child = Command::new(BIN)
        .arg("--data")
        .arg(dir.path())
        .args(["policy", "templates"])
        .env("TRUSTPLANE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the command writes (`… | head -0`).
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert!(
            out.status.success() || out.status.signal() == Some(13),
            "{:?}: {err}",
            out.status
        );
    }
}

#[test]
fn an_absurd_token_lifetime_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    for expires in [
        "9999999999999999d",
        "9223372036854775807m",
        "999999999999999h",
    ] {
        let out = run(
            dir.path(),
            &[
                "admin",
                "token",
                "create",
                "--role",
                "security_reader",
                "--expires",
                expires,
            ],
            None,
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{expires}: {err}");
        assert!(!err.contains("panicked"), "{expires}: {err}");
        assert!(err.contains("invalid_expiry"), "{expires}: {err}");
    }
}

#[cfg(unix)]
#[test]
fn data_directory_and_database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    ok(&run(&data, &["admin", "group", "create", "g"], None));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("trustplane.db")), 0o600);
    assert_eq!(mode(&data.join("secret.key")), 0o600);
    // A custom database path in an open directory.
    let elsewhere = dir.path().join("db");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o755)).unwrap();
    let db = elsewhere.join("custom.db");
    ok(&run(
        &data,
        &[
            "--database-url",
            &format!("sqlite://{}", db.display()),
            "admin",
            "group",
            "create",
            "h",
        ],
        None,
    ));
    assert_eq!(mode(&db) & 0o077, 0);
    // A key file others could replace is refused; one they can read is used, with a warning.
    std::fs::set_permissions(
        data.join("secret.key"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    let out = run(&data, &["admin", "group", "list"], None);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("writable by other users"),
        "{}",
        stderr(&out)
    );
    std::fs::set_permissions(
        data.join("secret.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = run(&data, &["admin", "group", "list"], None);
    assert!(ok(&out).contains('g'));
}

#[tokio::test]
async fn an_import_that_empties_the_breach_filter_is_refused_unless_replace() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut lines: Vec<String> = (0..2000)
        .map(|i| format!("{}:3", hex_sha1(&format!("x{i}"))))
        .collect();
    lines.push(format!("{}:52", hex_sha1("Tr0ub4dor&3 horse")));
    lines.sort();
    let full = d.join("pwned.txt");
    std::fs::write(&full, lines.join("\n")).unwrap();
    let out = ok(&run(
        d,
        &["password", "import-breached", full.to_str().unwrap()],
        None,
    ));
    assert!(out.contains("Hashes before: none; after: 2001"), "{out}");
    let breached = || {
        run(d, &["password", "check"], Some("Tr0ub4dor&3 horse\n"))
            .status
            .code()
    };
    assert_eq!(breached(), Some(1));

    // An empty download: refused, the filter in use unchanged.
    let empty = d.join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let out = run(
        d,
        &["password", "import-breached", empty.to_str().unwrap()],
        None,
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("refused") && err.contains("2001") && err.contains("--replace"),
        "{err}"
    );
    assert_eq!(
        breached(),
        Some(1),
        "the filter still refuses breached passwords"
    );
    // A small file (less than half): refused too.
    let small = d.join("small.txt");
    std::fs::write(&small, lines[..900].join("\n")).unwrap();
    assert!(
        !run(
            d,
            &["password", "import-breached", small.to_str().unwrap()],
            None
        )
        .status
        .success()
    );

    // Deliberately, with --replace: accepted, and the counts are shown and audited.
    let out = ok(&run(
        d,
        &[
            "password",
            "import-breached",
            small.to_str().unwrap(),
            "--replace",
        ],
        None,
    ));
    assert!(out.contains("Hashes before: 2001; after: 900"), "{out}");
    assert!(!out.contains("restart"), "{out}");
    let acts = actions(d).await;
    assert_eq!(
        acts.iter().filter(|a| *a == "breach_filter.import").count(),
        2,
        "{acts:?}"
    );
    assert!(ok(&run(d, &["admin", "audit", "verify"], None)).contains("intact"));
    let help = ok(&run(d, &["password", "import-breached", "--help"], None));
    assert!(help.contains("no restart is needed"), "{help}");
}

#[tokio::test]
async fn a_cut_off_audit_tail_is_detected_with_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for g in ["g1", "g2", "g3", "g4"] {
        ok(&run(d, &["admin", "group", "create", g], None));
    }
    let cps = d.join("checkpoints.jsonl");
    ok(&run(
        d,
        &[
            "admin",
            "audit",
            "checkpoint",
            "--file",
            cps.to_str().unwrap(),
        ],
        None,
    ));
    assert!(
        ok(&run(
            d,
            &[
                "admin",
                "audit",
                "verify",
                "--checkpoints",
                cps.to_str().unwrap()
            ],
            None
        ))
        .contains("consistent with 1 checkpoint")
    );

    // Someone with database access removes the last two entries and moves the head back.
    let url = format!("sqlite://{}?mode=rw", d.join("trustplane.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    for sql in [
        "DROP TRIGGER audit_log_no_delete",
        "DELETE FROM audit_log WHERE seq > 2",
        "UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit_log WHERE seq = 2)",
    ] {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
    // The chain alone cannot tell: it is a valid, shorter chain.
    assert!(ok(&run(d, &["admin", "audit", "verify"], None)).contains("intact: 2 entries"));
    // The checkpoint can.
    let out = run(
        d,
        &[
            "admin",
            "audit",
            "verify",
            "--checkpoints",
            cps.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("truncated") && text.contains("entry 4"),
        "{text}"
    );

    // A forged checkpoint (edited to claim less) is refused as not signed.
    let forged = std::fs::read_to_string(&cps)
        .unwrap()
        .replace("\"seq\":4", "\"seq\":2");
    std::fs::write(&cps, forged).unwrap();
    let out = run(
        d,
        &[
            "admin",
            "audit",
            "verify",
            "--checkpoints",
            cps.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("not signed"));
}

fn audit(d: &std::path::Path, args: &[&str]) -> Output {
    let mut all = vec!["admin", "audit"];
    all.extend_from_slice(args);
    run(d, &all, None)
}

/// Archiving (issue 13 item 4): the oldest entries move to a signed file and leave the
/// database; the database and the archives verify together; an edited or missing archive, or
/// an archive out of order, is reported; a second archive continues the first.
#[test]
fn the_oldest_audit_entries_are_archived_to_a_signed_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for g in ["g1", "g2", "g3", "g4", "g5"] {
        ok(&run(d, &["admin", "group", "create", g], None));
    }
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
    assert!(!out.status.success());
    assert!(stderr(&out).contains("exists"), "{}", stderr(&out));

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
