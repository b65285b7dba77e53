//! The `trustplane` binary as an operator uses it.

// Tests fail by panicking; helpers outside #[test] fns unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sqlx::Connection;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use trustplane_store::prelude::*;

const BIN: &str = env!("CARGO_BIN_EXE_trustplane");

mod storage;

fn run(data: &std::path::Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .arg("--data")
        .arg(data)
        .args(args)
        // Fast hashes for tests; also proves environment overrides reach nested keys.
        .env("TRUSTPLANE_PASSWORD_HASH__MEMORY_KIB", "8192")
        .env("TRUSTPLANE_PASSWORD_HASH__ITERATIONS", "5")
        // Variables that are not configuration keys must not trip the strict config loader.
        .env("TRUSTPLANE_LOG", "warn")
        .env("TRUSTPLANE_TEST_DATABASE_URL", "postgres://ignored")
        .env("TRUSTPLANE_BIN", "/ignored/by/the/config/loader")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn admin_commands_manage_users_groups_roles_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
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
    // Duplicate (case-insensitive) is refused with a clear message and non-zero exit.
    let dup = run(
        d,
        &["admin", "user", "create", "ALICE", "--password-stdin"],
        Some("another long passphrase\n"),
    );
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
    // A weak password is refused.
    let weak = run(
        d,
        &["admin", "user", "create", "bob", "--password-stdin"],
        Some("short\n"),
    );
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("Too short"));

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
    let bad_role = run(d, &["admin", "role", "assign", "alice", "wizard"], None);
    assert!(!bad_role.status.success());

    let list = ok(&run(d, &["admin", "user", "list", "--json"], None));
    let users: serde_json::Value = serde_json::from_str(&list).unwrap();
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

    let tok = run(
        d,
        &[
            "admin",
            "token",
            "create",
            "--role",
            "security_reader",
            "--expires",
            "7d",
        ],
        None,
    );
    let secret = ok(&tok);
    assert!(secret.trim().starts_with("tpat_"), "{secret}");
    assert_eq!(secret.trim().len(), 5 + 43);
    let bad = run(
        d,
        &[
            "admin",
            "token",
            "create",
            "--role",
            "security_reader",
            "--expires",
            "forever",
        ],
        None,
    );
    assert!(!bad.status.success());

    let verify = ok(&run(d, &["admin", "audit", "verify"], None));
    assert!(verify.contains("intact"), "{verify}");
    ok(&run(d, &["admin", "user", "delete", "alice"], None));
    let missing = run(d, &["admin", "user", "delete", "alice"], None);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("not found"));
}

#[tokio::test]
async fn editing_an_audit_row_by_hand_breaks_verification() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for name in ["g1", "g2", "g3"] {
        ok(&run(d, &["admin", "group", "create", name], None));
    }
    assert!(ok(&run(d, &["admin", "audit", "verify"], None)).contains("3 entries"));
    // The table is append-only for the application; an attacker with database access drops
    // the trigger and rewrites history.
    let url = format!("sqlite://{}?mode=rw", d.join("trustplane.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let blocked = sqlx::query("UPDATE audit_log SET actor_name = 'x' WHERE seq = 2")
        .execute(&mut conn)
        .await;
    assert!(blocked.is_err(), "append-only trigger blocks updates");
    sqlx::query("DROP TRIGGER audit_log_no_update")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_log SET after_json = '{\"name\":\"innocent\"}' WHERE seq = 2")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let out = run(d, &["admin", "audit", "verify"], None);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("BROKEN at entry 2"), "{text}");
}

#[test]
fn configuration_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(BIN)
        .args(["--data"])
        .arg(dir.path())
        .args(["admin", "user", "list"])
        .env("TRUSTPLANE_LISTN", "typo")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("listn"));
    let o = Command::new(BIN)
        .args(["--data"])
        .arg(dir.path())
        .args([
            "--database-url",
            "mysql://root:hunter2@db/x",
            "admin",
            "user",
            "list",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("unsupported database URL"), "{err}");
    assert!(
        !err.contains("hunter2"),
        "credentials must not be echoed: {err}"
    );
    let o = Command::new(BIN)
        .args([
            "--config",
            "/nonexistent/trustplane.toml",
            "admin",
            "user",
            "list",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[cfg(unix)]
#[test]
fn serve_starts_with_no_config_prints_a_bootstrap_link_and_stops_gracefully() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .current_dir(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut link = None;
    for _ in 0..20 {
        let Some(Ok(line)) = lines.next() else { break };
        if line.contains("/bootstrap?token=") {
            link = Some(line.trim().to_string());
            break;
        }
    }
    let link = link.expect("bootstrap link printed");
    assert!(link.starts_with("http://127.0.0.1:"));
    let data = dir.path().join("trustplane-data");
    assert!(data.join("trustplane.db").exists());
    let mode = std::fs::metadata(data.join("secret.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // The bootstrap secret is printed for the operator but never logged.
    let token = link.split("token=").nth(1).unwrap().to_string();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("trustplane listening"));
    assert!(!err.contains(&token), "bootstrap token leaked into the log");
}

#[test]
fn password_check_explains_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = run(
        d,
        &["password", "check"],
        Some("correct horse battery staple\n"),
    );
    assert_eq!(good.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&good.stdout).starts_with("accepted"));
    let bad = run(d, &["password", "check", "--json"], Some("P@ssw0rd2024!\n"));
    assert_eq!(bad.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(v["accepted"], false);
    let codes: Vec<&str> = v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"common_password"), "{codes:?}");
    assert!(v["score"].as_u64().unwrap() < 5);
    // Organisation terms and personal information.
    ok(&run(
        d,
        &["admin", "banned-term", "add", "Contoso", "Fabrikam"],
        None,
    ));
    let org = run(d, &["password", "check"], Some("C0ntoso-2025!!\n"));
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
    let personal = run(
        d,
        &["password", "check", "--user", "mhatter"],
        Some("Hatter#2025#!\n"),
    );
    assert_eq!(personal.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&personal.stdout).contains("your name"));
    // Too short, with numbers; invalid UTF-8; every setter refuses weak passwords.
    let short = run(d, &["password", "check"], Some("zebra quilt\n"));
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
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("commonly used password"));
    let term = run(d, &["admin", "banned-term", "add", "abc"], None);
    assert!(!term.status.success());
    assert!(String::from_utf8_lossy(&term.stderr).contains("shorter than 4"));
}

#[test]
fn breached_passwords_are_imported_and_refused() {
    use sha1::Digest as _;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hex = |p: &str| -> String {
        sha1::Sha1::digest(p.as_bytes())
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect()
    };
    let mut lines = vec![
        format!("{}:52", hex("Tr0ub4dor&3 horse")),
        format!("{}:1", hex("seldom seen phrase 77")),
    ];
    for i in 0..2000 {
        lines.push(format!("{}:{}", hex(&format!("x{i}")), i % 7 + 1));
    }
    lines.sort();
    let file = d.join("pwned.txt");
    std::fs::write(&file, lines.join("\r\n")).unwrap();
    let out = ok(&run(
        d,
        &[
            "password",
            "import-breached",
            file.to_str().unwrap(),
            "--threshold",
            "2",
        ],
        None,
    ));
    assert!(out.contains("Imported"), "{out}");
    // A strong-looking password that appeared in a breach is refused; a rare one is not.
    let bad = run(
        d,
        &["password", "check", "--json"],
        Some("Tr0ub4dor&3 horse\n"),
    );
    assert_eq!(bad.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert!(
        v["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["code"] == "breached"),
        "{v}"
    );
    assert_eq!(
        run(d, &["password", "check"], Some("seldom seen phrase 77\n"))
            .status
            .code(),
        Some(0)
    );
    let weak = run(
        d,
        &["admin", "user", "create", "z", "--password-stdin"],
        Some("Tr0ub4dor&3 horse\n"),
    );
    assert!(String::from_utf8_lossy(&weak.stderr).contains("data breach"));
    // A broken import keeps the previous filter.
    std::fs::write(&file, "not a hash\n").unwrap();
    let failed = run(
        d,
        &["password", "import-breached", file.to_str().unwrap()],
        None,
    );
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("previous filter is unchanged"));
    assert_eq!(
        run(d, &["password", "check"], Some("Tr0ub4dor&3 horse\n"))
            .status
            .code(),
        Some(1)
    );
    // A corrupt filter file is a clear error, not a silently skipped check.
    std::fs::write(d.join("breached.filter"), b"garbage").unwrap();
    let broken = run(d, &["password", "check"], Some("anything at all here\n"));
    assert_eq!(broken.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&broken.stderr).contains("corrupt"));
}

#[test]
fn the_authentication_methods_policy_is_shown_and_set() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&run(d, &["admin", "auth-methods", "show"], None))).unwrap();
    assert_eq!(shown["require_mfa"]["mode"], "none");
    let mut p = shown.clone();
    p["require_mfa"] = serde_json::json!({"mode": "all"});
    p["registration"]["postpone_days"] = serde_json::json!(5);
    let out = ok(&run(
        d,
        &["admin", "auth-methods", "set", "-"],
        Some(&p.to_string()),
    ));
    assert!(out.contains("saved"));
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&run(d, &["admin", "auth-methods", "show"], None))).unwrap();
    assert_eq!(shown["require_mfa"]["mode"], "all");
    assert_eq!(shown["registration"]["postpone_days"], 5);
    // Invalid: a clear error, exit code non-zero, nothing changed.
    p["registration"]["postpone_days"] = serde_json::json!(99);
    let o = run(
        d,
        &["admin", "auth-methods", "set", "-"],
        Some(&p.to_string()),
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("postpone_days"));
    let o = run(d, &["admin", "auth-methods", "set", "-"], Some("{not json"));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a valid policy"));
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&run(d, &["admin", "auth-methods", "show"], None))).unwrap();
    assert_eq!(shown["registration"]["postpone_days"], 5);
}

#[test]
fn conditional_access_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&run(
        d,
        &["admin", "user", "create", "gina", "--password-stdin"],
        Some("quartz-Meadow-bicycle-47\n"),
    ));
    ok(&run(d, &["admin", "group", "create", "contractors"], None));
    ok(&run(
        d,
        &["admin", "group", "add-member", "contractors", "gina"],
        None,
    ));
    let groups = ok(&run(d, &["admin", "group", "list"], None));
    let gid = groups
        .split_whitespace()
        .find(|w| w.len() == 36 && w.matches('-').count() == 4)
        .unwrap_or_else(|| panic!("no group id in {groups}"))
        .to_string();

    // An invalid document is refused with the field named; nothing is saved.
    let bad = d.join("bad.yaml");
    std::fs::write(
        &bad,
        "named_locations:\n  - id: office\n    name: Office\n    trusted: true\n    ip_ranges: [\"10.0.0.0/33\"]\n",
    )
    .unwrap();
    let o = run(d, &["policy", "set", bad.to_str().unwrap()], None);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("named_locations[0].ip_ranges[0]"), "{err}");
    assert!(ok(&run(d, &["policy", "versions"], None)).trim().is_empty());

    let good = d.join("policies.yaml");
    std::fs::write(
        &good,
        format!(
            "policies:\n  - id: block-contractors-abroad\n    name: Block contractors outside the office\n    state: enabled\n    assignments:\n      users:\n        include:\n          groups: [\"{gid}\"]\n      applications:\n        include: all\n    conditions:\n      locations:\n        include: all\n        exclude: all_trusted\n    grant: block\nnamed_locations:\n  - id: office\n    name: Office\n    trusted: true\n    ip_ranges: [\"198.51.100.0/24\"]\n"
        ),
    )
    .unwrap();
    let out = ok(&run(
        d,
        &[
            "policy",
            "set",
            good.to_str().unwrap(),
            "--comment",
            "first",
        ],
        None,
    ));
    assert!(out.contains("version 1"), "{out}");
    let versions = ok(&run(d, &["policy", "versions"], None));
    assert!(versions.contains("first"), "{versions}");

    // What-if: from the office the policy is excluded; from elsewhere, blocked; with no
    // address at all, blocked too (a missing signal never excludes).
    let office = ok(&run(
        d,
        &[
            "policy",
            "what-if",
            "--user",
            "gina",
            "--ip",
            "198.51.100.7",
        ],
        None,
    ));
    assert!(office.starts_with("decision: allow"), "{office}");
    assert!(
        office.contains("not applied: location_excluded"),
        "{office}"
    );
    let away = ok(&run(
        d,
        &[
            "policy",
            "what-if",
            "--user",
            "gina",
            "--ip",
            "203.0.113.9",
            "--json",
        ],
        None,
    ));
    let v: serde_json::Value = serde_json::from_str(&away).unwrap();
    assert_eq!(v["outcome"], "block");
    assert_eq!(v["decision"]["block"]["by"], "block-contractors-abroad");
    let unknown = ok(&run(d, &["policy", "what-if", "--user", "gina"], None));
    assert!(unknown.starts_with("decision: block"), "{unknown}");
    let o = run(
        d,
        &["policy", "what-if", "--user", "gina", "--client", "fax"],
        None,
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--client"));

    // Replay: no sign-ins yet, so nothing to replay (and it says so).
    let out = ok(&run(
        d,
        &[
            "policy",
            "replay",
            "--draft",
            good.to_str().unwrap(),
            "--days",
            "7",
        ],
        None,
    ));
    assert!(out.starts_with("0 sign-ins replayed"), "{out}");
    let o = run(
        d,
        &[
            "policy",
            "replay",
            "--draft",
            good.to_str().unwrap(),
            "--days",
            "400",
        ],
        None,
    );
    assert!(!o.status.success());

    // Restore makes a new version.
    let out = ok(&run(d, &["policy", "restore", "1"], None));
    assert!(out.contains("as version 2"), "{out}");
    let shown = ok(&run(d, &["policy", "show"], None));
    assert!(shown.contains("block-contractors-abroad"));
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
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--format"));
    let o = run(d, &["admin", "sign-ins", "--result", "maybe"], None);
    assert!(!o.status.success());
}

#[tokio::test]
async fn oidc_clients_are_managed_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let url = format!("sqlite://{}", d.join("trustplane.db").display());
    let store = trustplane_store::open(&url).await.unwrap();
    store
        .create_application(
            &trustplane_store::Application {
                id: "crm".into(),
                name: "CRM".into(),
                allowed_hosts: vec![],
                sensitivity_label: None,
                created_at: time::OffsetDateTime::now_utc(),
            },
            trustplane_core::audit::AuditDraft::new(
                &trustplane_core::audit::Actor::cli("t"),
                "application.create",
                "application",
                None,
            ),
        )
        .await
        .unwrap();
    let out = ok(&run(
        d,
        &[
            "oidc",
            "clients",
            "create",
            "--name",
            "CRM",
            "--app",
            "crm",
            "--client-id",
            "crm-web",
            "--redirect-uri",
            "https://crm.example.com/cb",
            "--groups-claim",
        ],
        None,
    ));
    assert!(out.contains("client_id: crm-web"), "{out}");
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .unwrap()
        .to_string();
    assert_eq!(secret.len(), 43);
    let stored = store.get_oidc_client("crm-web").await.unwrap().unwrap();
    assert_ne!(stored.secret_hash.as_deref(), Some(secret.as_str()));
    // Refused input: a clear message and a non-zero exit.
    let bad = run(
        d,
        &[
            "oidc",
            "clients",
            "create",
            "--name",
            "X",
            "--app",
            "crm",
            "--redirect-uri",
            "http://evil.example/cb",
        ],
        None,
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("redirect URI"));
    let list = ok(&run(d, &["oidc", "clients", "list"], None));
    assert!(list.contains("crm-web\tCRM\tcrm\tconfidential"), "{list}");
    let show: serde_json::Value =
        serde_json::from_str(&ok(&run(d, &["oidc", "clients", "show", "crm-web"], None))).unwrap();
    assert_eq!(show["groups_claim"], true);
    assert!(show.get("client_secret").is_none());
    let rotated = ok(&run(
        d,
        &["oidc", "clients", "rotate-secret", "crm-web"],
        None,
    ));
    assert!(!rotated.contains(&secret));
    ok(&run(d, &["oidc", "clients", "delete", "crm-web"], None));
    assert!(store.get_oidc_client("crm-web").await.unwrap().is_none());
    let actions: Vec<String> = store
        .list_audit(&trustplane_store::AuditQuery {
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    for a in [
        "oidc_client.create",
        "oidc_client.secret.rotate",
        "oidc_client.delete",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a}: {actions:?}");
    }
}

#[test]
fn applications_labels_and_keys_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&run(
        d,
        &["labels", "set-context", "c1", "--name", "Sensitive"],
        None,
    ));
    ok(&run(
        d,
        &[
            "labels",
            "set",
            "confidential",
            "--name",
            "Confidential",
            "--rank",
            "30",
            "--context",
            "c1",
        ],
        None,
    ));
    // A label with the same rank, or an unknown context, is refused.
    let o = run(
        d,
        &["labels", "set", "secret", "--name", "S", "--rank", "30"],
        None,
    );
    assert!(!o.status.success());
    let o = run(
        d,
        &[
            "labels",
            "set",
            "x",
            "--name",
            "X",
            "--rank",
            "5",
            "--context",
            "c9",
        ],
        None,
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not found"));

    ok(&run(
        d,
        &[
            "apps",
            "create",
            "hr",
            "--name",
            "HR",
            "--allowed-host",
            "hr.example.com",
        ],
        None,
    ));
    let o = run(d, &["apps", "create", "Bad Id", "--name", "x"], None);
    assert!(!o.status.success());
    ok(&run(
        d,
        &[
            "apps",
            "add-route",
            "hr",
            "hr.example.com",
            "/salaries",
            "--label",
            "confidential",
        ],
        None,
    ));
    let list = ok(&run(d, &["apps", "list"], None));
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(v[0]["application"]["id"], "hr");
    assert_eq!(v[0]["routes"][0]["path_prefix"], "/salaries");
    assert_eq!(v[0]["routes"][0]["sensitivity_label"], "confidential");
    // In use: the label cannot be deleted, and the error says why.
    let o = run(d, &["labels", "delete", "confidential"], None);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("carries this sensitivity label"));
    let route = v[0]["routes"][0]["id"].as_str().unwrap().to_string();
    ok(&run(
        d,
        &["apps", "label", "hr", "--route", &route, "--clear"],
        None,
    ));
    ok(&run(d, &["labels", "delete", "confidential"], None));

    // Keys: the first key is created on use; rotation keeps the old one published.
    ok(&run(d, &["keys", "rotate"], None));
    ok(&run(d, &["keys", "rotate"], None));
    let keys = ok(&run(d, &["keys", "list"], None));
    assert_eq!(keys.lines().count(), 2, "{keys}");
    assert_eq!(
        keys.lines().filter(|l| l.ends_with(" -")).count(),
        1,
        "one not retired: {keys}"
    );
    let o = run(d, &["keys", "rotate", "--alg", "none"], None);
    assert!(!o.status.success());
}

/// Stale device cleanup: a dry run changes nothing; then devices not seen for N days are
/// disabled (audited), and with --delete removed; recent devices are left alone.
#[tokio::test]
async fn stale_devices_are_cleaned_up() {
    use trustplane_core::access::{DevicePlatform, TrustType};
    use trustplane_core::audit::{Actor, AuditDraft};
    use trustplane_core::device::{ComplianceState, Device, DeviceState, MachineRisk};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&run(d, &["admin", "user", "create", "ada"], None));
    // The store as the server opens it: the audit chain keyed with the master key.
    let url = format!("sqlite://{}", d.join("trustplane.db").display());
    let key =
        trustplane_server::platform::secrets::MasterKey::load_or_create(&d.join("secret.key"))
            .unwrap();
    let store = trustplane_store::SqlStore::connect(&url)
        .await
        .unwrap()
        .keyed(key.derive(trustplane_server::ops::audit_chain::CHAIN_PURPOSE))
        .await
        .unwrap();
    let ada = store.find_user("ada").await.unwrap().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let mut ids = Vec::new();
    for (i, days) in [(1u8, 90i64), (2, 45), (3, 2)] {
        let seen = now - time::Duration::days(days);
        let dev = Device {
            id: uuid::Uuid::now_v7(),
            owner_id: ada.id,
            display_name: format!("device {i}"),
            platform: DevicePlatform::Linux,
            os_version: None,
            hostname: None,
            manufacturer: None,
            model: None,
            trust_type: TrustType::Registered,
            state: DeviceState::Enabled,
            cert_serial: format!("{i:02x}"),
            cert_fingerprint: format!("{i:02x}").repeat(32),
            cert_not_after: now + time::Duration::days(30),
            certificate_pem: String::new(),
            first_seen: seen,
            last_seen: seen,
            last_report_at: None,
            compliance: ComplianceState::Compliant,
            machine_risk: MachineRisk::None,
        };
        let audit = AuditDraft::new(&Actor::system(), "device.register", "device", None);
        store.create_device(&dev, audit).await.unwrap();
        ids.push(dev.id);
    }
    store.pool().close().await;
    let text = ok(&run(
        d,
        &["devices", "cleanup", "--inactive-days", "30", "--dry-run"],
        None,
    ));
    assert!(text.contains("2 device(s) would be disabled"), "{text}");
    let listed = ok(&run(d, &["devices", "list", "--state", "disabled"], None));
    assert!(listed.contains("no devices"), "{listed}");
    let text = ok(&run(
        d,
        &["devices", "cleanup", "--inactive-days", "30"],
        None,
    ));
    assert!(text.contains("2 device(s) disabled"), "{text}");
    let listed = ok(&run(
        d,
        &["devices", "list", "--state", "disabled", "--json"],
        None,
    ));
    let v: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let mut disabled: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect();
    disabled.sort();
    let mut expected = vec![ids[0].to_string(), ids[1].to_string()];
    expected.sort();
    assert_eq!(
        disabled, expected,
        "the two stale devices, not the recent one"
    );
    let text = ok(&run(
        d,
        &["devices", "cleanup", "--inactive-days", "60", "--delete"],
        None,
    ));
    assert!(text.contains("1 device(s) deleted"), "{text}");
    let all = ok(&run(d, &["devices", "list", "--json"], None));
    let v: serde_json::Value = serde_json::from_str(&all).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    let audit = ok(&run(d, &["admin", "audit", "verify"], None));
    assert!(audit.contains("intact"), "{audit}");
    let bad = run(d, &["devices", "cleanup", "--inactive-days", "0"], None);
    assert!(!bad.status.success());
}

/// `risk replay` reads the RBA schema, scores every row, reports the separation of takeovers,
/// writes scores for every row, and names the line of a malformed row (writing nothing).
#[test]
fn risk_replay_scores_labelled_traffic_and_names_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let generated = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/risk-traffic.py"
        ))
        .args(["--users", "150", "--days", "30", "--seed", "3"])
        .output()
        .unwrap();
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let csv = d.join("traffic.csv");
    std::fs::write(&csv, &generated.stdout).unwrap();
    let scores = d.join("scores.csv");
    let out = ok(&run(
        d,
        &[
            "risk",
            "replay",
            csv.to_str().unwrap(),
            "--json",
            "--warmup-days",
            "7",
            "--scores-out",
            scores.to_str().unwrap(),
        ],
        None,
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v["rows"].as_u64().unwrap();
    assert!(v["account_takeovers"].as_u64().unwrap() > 0, "{v}");
    assert!(v["roc_auc_takeover"].as_f64().unwrap() > 0.8, "{v}");
    let written = std::fs::read_to_string(&scores).unwrap();
    assert!(written.starts_with("index,score,level,detections\n"));
    assert_eq!(
        written.lines().count() as u64,
        rows + 1,
        "a score for every row"
    );
    // A malformed row: its line is named and no scores file is written.
    let mut text = String::from_utf8(generated.stdout).unwrap();
    text.push_str(
        "99999,not a time,u,,1.2.3.4,DE,-,Berlin,3320,x,Chrome 1,Linux,desktop,True,False,False\n",
    );
    std::fs::write(&csv, text).unwrap();
    let bad_scores = d.join("bad.csv");
    let out = run(
        d,
        &[
            "risk",
            "replay",
            csv.to_str().unwrap(),
            "--scores-out",
            bad_scores.to_str().unwrap(),
        ],
        None,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("line {}", rows + 2)), "{err}");
    assert!(!bad_scores.exists());
}
