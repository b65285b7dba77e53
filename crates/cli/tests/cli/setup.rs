//! Starting up: configuration errors, `serve` with no configuration, private files, and
//! output into a closed pipe.

use crate::support::*;
use std::process::{Command, Stdio};

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
    let err = refused(&o);
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
    let err = refused(&run(&data, &["admin", "group", "list"], None));
    assert!(err.contains("writable by other users"), "{err}");
    std::fs::set_permissions(
        data.join("secret.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = run(&data, &["admin", "group", "list"], None);
    assert!(ok(&out).contains('g'));
}
