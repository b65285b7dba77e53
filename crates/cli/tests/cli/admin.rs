//! `trustplane admin …`: users, groups, roles, API tokens, the authentication methods policy
//! and the sign-in log.

use crate::support::*;
use std::path::Path;

fn create_alice(d: &Path) {
    let out = ok(&run(
        d,
        &[
            "admin",
            "user",
            "create",
            "alice",
            "--display-name",
            "Alice A",
            "--email",
            "alice@example.com",
            "--password-stdin",
        ],
        Some("correct horse battery staple\n"),
    ));
    assert!(out.contains("Created user alice"));
}

fn create_token(d: &Path, expires: &str) -> std::process::Output {
    run(
        d,
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
    )
}

#[test]
fn users_are_created_listed_disabled_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create_alice(d);
    // Duplicate (case-insensitive) is refused with a clear message and non-zero exit.
    let dup = run(
        d,
        &["admin", "user", "create", "ALICE", "--password-stdin"],
        Some("another long passphrase\n"),
    );
    assert!(refused(&dup).contains("already exists"));
    // A weak password is refused.
    let weak = run(
        d,
        &["admin", "user", "create", "bob", "--password-stdin"],
        Some("short\n"),
    );
    assert!(refused(&weak).contains("Too short"));

    let users = json(&ok(&run(d, &["admin", "user", "list", "--json"], None)));
    assert_eq!(users[0]["username"], "alice");
    assert_eq!(users[0]["status"], "enabled");

    ok(&run(d, &["admin", "user", "disable", "alice"], None));
    let list = ok(&run(d, &["admin", "user", "list"], None));
    assert!(list.contains("disabled"));
    ok(&run(d, &["admin", "user", "enable", "alice"], None));
    ok(&run(
        d,
        &["admin", "user", "set-password", "alice", "--password-stdin"],
        Some("a brand new passphrase\n"),
    ));

    assert_audit_intact(d);
    ok(&run(d, &["admin", "user", "delete", "alice"], None));
    let missing = run(d, &["admin", "user", "delete", "alice"], None);
    assert!(refused(&missing).contains("not found"));
}

#[test]
fn groups_and_admin_roles_are_managed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create_alice(d);
    ok(&run(d, &["admin", "group", "create", "engineering"], None));
    ok(&run(
        d,
        &["admin", "group", "add-member", "engineering", "alice"],
        None,
    ));
    let again = ok(&run(
        d,
        &["admin", "group", "add-member", "engineering", "alice"],
        None,
    ));
    assert!(again.contains("already in"));
    ok(&run(
        d,
        &["admin", "role", "assign", "alice", "security_reader"],
        None,
    ));
    refused(&run(
        d,
        &["admin", "role", "assign", "alice", "wizard"],
        None,
    ));
    assert_audit_intact(d);
}

#[test]
fn an_api_token_is_printed_once_with_a_valid_lifetime() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let secret = ok(&create_token(d, "7d"));
    assert!(secret.trim().starts_with("tpat_"), "{secret}");
    assert_eq!(secret.trim().len(), 5 + 43);
    refused(&create_token(d, "forever"));
    assert_audit_intact(d);
}

#[test]
fn an_absurd_token_lifetime_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    for expires in [
        "9999999999999999d",
        "9223372036854775807m",
        "999999999999999h",
    ] {
        let out = create_token(dir.path(), expires);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{expires}: {err}");
        assert!(!err.contains("panicked"), "{expires}: {err}");
        assert!(err.contains("invalid_expiry"), "{expires}: {err}");
    }
}

#[test]
fn the_authentication_methods_policy_is_shown_and_set() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let show = || json(&ok(&run(d, &["admin", "auth-methods", "show"], None)));
    let set = |doc: &str| run(d, &["admin", "auth-methods", "set", "-"], Some(doc));
    let shown = show();
    assert_eq!(shown["require_mfa"]["mode"], "none");
    let mut p = shown.clone();
    p["require_mfa"] = serde_json::json!({"mode": "all"});
    p["registration"]["postpone_days"] = serde_json::json!(5);
    assert!(ok(&set(&p.to_string())).contains("saved"));
    let shown = show();
    assert_eq!(shown["require_mfa"]["mode"], "all");
    assert_eq!(shown["registration"]["postpone_days"], 5);
    // Invalid: a clear error, exit code non-zero, nothing changed.
    p["registration"]["postpone_days"] = serde_json::json!(99);
    assert!(refused(&set(&p.to_string())).contains("postpone_days"));
    assert!(refused(&set("{not json")).contains("not a valid policy"));
    assert_eq!(show()["registration"]["postpone_days"], 5);
}

#[test]
fn the_sign_in_log_is_listed_and_exported() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Nothing yet: an empty table, a CSV with only its header.
    assert!(ok(&run(d, &["admin", "sign-ins"], None)).trim().is_empty());
    let csv = ok(&run(d, &["admin", "sign-ins", "--format", "csv"], None));
    assert_eq!(csv.lines().count(), 1);
    assert!(csv.starts_with("id,at,username,"));
    let o = run(d, &["admin", "sign-ins", "--format", "xml"], None);
    assert!(refused(&o).contains("--format"));
    refused(&run(d, &["admin", "sign-ins", "--result", "maybe"], None));
}
