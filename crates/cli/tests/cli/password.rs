//! `trustplane password check|import-breached`: the verdict and its reasons, organisation
//! terms, personal information, and the breached-password filter.

use crate::support::*;
use std::path::Path;
use std::process::Output;

/// `trustplane password check ARGS…` with `candidate` (and a newline) on standard input.
fn check(d: &Path, args: &[&str], candidate: &str) -> Output {
    let mut all = vec!["password", "check"];
    all.extend_from_slice(args);
    run(d, &all, Some(&format!("{candidate}\n")))
}

/// `trustplane password import-breached FILE ARGS…`.
fn import(d: &Path, file: &Path, args: &[&str]) -> Output {
    let mut all = vec!["password", "import-breached", file.to_str().unwrap()];
    all.extend_from_slice(args);
    run(d, &all, None)
}

fn reason_codes(v: &serde_json::Value) -> Vec<&str> {
    v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect()
}

#[test]
fn password_check_explains_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = check(d, &[], "correct horse battery staple");
    assert_eq!(good.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&good.stdout).starts_with("accepted"));
    let bad = check(d, &["--json"], "P@ssw0rd2024!");
    assert_eq!(bad.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(v["accepted"], false);
    let codes = reason_codes(&v);
    assert!(codes.contains(&"common_password"), "{codes:?}");
    assert!(v["score"].as_u64().unwrap() < 5);
    // Organisation terms and personal information.
    ok(&run(
        d,
        &["admin", "banned-term", "add", "Contoso", "Fabrikam"],
        None,
    ));
    let org = check(d, &[], "C0ntoso-2025!!");
    assert_eq!(org.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&org.stdout).contains("associated with this organisation"));
    ok(&run(
        d,
        &[
            "admin",
            "user",
            "create",
            "mhatter",
            "--display-name",
            "Mad Hatter",
            "--password-stdin",
        ],
        Some("tea party in wonderland\n"),
    ));
    let personal = check(d, &["--user", "mhatter"], "Hatter#2025#!");
    assert_eq!(personal.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&personal.stdout).contains("your name"));
    // Too short, with numbers; invalid UTF-8; every setter refuses weak passwords.
    let short = check(d, &[], "zebra quilt");
    assert!(String::from_utf8_lossy(&short.stdout).contains("Too short: 11 of 12 characters."));
    let weak = run(
        d,
        &[
            "admin",
            "user",
            "set-password",
            "mhatter",
            "--password-stdin",
        ],
        Some("Password2024!\n"),
    );
    assert!(refused(&weak).contains("commonly used password"));
    let term = run(d, &["admin", "banned-term", "add", "abc"], None);
    assert!(refused(&term).contains("shorter than 4"));
}

#[test]
fn breached_passwords_are_imported_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut lines = vec![
        format!("{}:52", hex_sha1("Tr0ub4dor&3 horse")),
        format!("{}:1", hex_sha1("seldom seen phrase 77")),
    ];
    for i in 0..2000 {
        lines.push(format!("{}:{}", hex_sha1(&format!("x{i}")), i % 7 + 1));
    }
    lines.sort();
    let file = d.join("pwned.txt");
    std::fs::write(&file, lines.join("\r\n")).unwrap();
    let out = ok(&import(d, &file, &["--threshold", "2"]));
    assert!(out.contains("Imported"), "{out}");
    // A strong-looking password that appeared in a breach is refused; a rare one is not.
    let bad = check(d, &["--json"], "Tr0ub4dor&3 horse");
    assert_eq!(bad.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert!(reason_codes(&v).contains(&"breached"), "{v}");
    assert_eq!(
        check(d, &[], "seldom seen phrase 77").status.code(),
        Some(0)
    );
    let weak = run(
        d,
        &["admin", "user", "create", "z", "--password-stdin"],
        Some("Tr0ub4dor&3 horse\n"),
    );
    assert!(stderr(&weak).contains("data breach"));
    // A broken import keeps the previous filter.
    std::fs::write(&file, "not a hash\n").unwrap();
    let failed = import(d, &file, &[]);
    assert!(refused(&failed).contains("previous filter is unchanged"));
    assert_eq!(check(d, &[], "Tr0ub4dor&3 horse").status.code(), Some(1));
    // A corrupt filter file is a clear error, not a silently skipped check.
    std::fs::write(d.join("breached.filter"), b"garbage").unwrap();
    let broken = check(d, &[], "anything at all here");
    assert_eq!(broken.status.code(), Some(2));
    assert!(stderr(&broken).contains("corrupt"));
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
    let out = ok(&import(d, &full, &[]));
    assert!(out.contains("Hashes before: none; after: 2001"), "{out}");
    let breached = || check(d, &[], "Tr0ub4dor&3 horse").status.code();
    assert_eq!(breached(), Some(1));

    // An empty download: refused, the filter in use unchanged.
    let empty = d.join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let err = refused(&import(d, &empty, &[]));
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
    refused(&import(d, &small, &[]));

    // Deliberately, with --replace: accepted, and the counts are shown and audited.
    let out = ok(&import(d, &small, &["--replace"]));
    assert!(out.contains("Hashes before: 2001; after: 900"), "{out}");
    assert!(!out.contains("restart"), "{out}");
    let acts = actions(d).await;
    assert_eq!(
        acts.iter().filter(|a| *a == "breach_filter.import").count(),
        2,
        "{acts:?}"
    );
    assert_audit_intact(d);
    let help = ok(&run(d, &["password", "import-breached", "--help"], None));
    assert!(help.contains("no restart is needed"), "{help}");
}
