//! Running the binary on a data directory, and reading what it did.

use sqlx::Connection;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_trustplane");

pub fn run(data: &Path, args: &[&str], stdin: Option<&str>) -> Output {
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

/// Standard output of a command that must have succeeded.
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard error of a command that must have failed.
pub fn refused(o: &Output) -> String {
    assert!(
        !o.status.success(),
        "expected a failure, got success\nstdout: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    stderr(o)
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

/// `trustplane admin audit ARGS…`.
pub fn audit(d: &Path, args: &[&str]) -> Output {
    let mut all = vec!["admin", "audit"];
    all.extend_from_slice(args);
    run(d, &all, None)
}

/// `trustplane admin audit verify` finds the chain intact.
pub fn assert_audit_intact(d: &Path) {
    let verify = ok(&audit(d, &["verify"]));
    assert!(verify.contains("intact"), "{verify}");
}

/// `trustplane admin user create LOGIN --password-stdin` with a strong password.
pub fn create_user(d: &Path, login: &str) {
    ok(&run(
        d,
        &["admin", "user", "create", login, "--password-stdin"],
        Some("quartz-Meadow-bicycle-47\n"),
    ));
}

pub fn hex_sha1(p: &str) -> String {
    use sha1::Digest as _;
    sha1::Sha1::digest(p.as_bytes())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// The SQLite database in the data directory, as `sqlx` and the store name it.
pub fn sqlite_url(d: &Path) -> String {
    format!("sqlite://{}", d.join("trustplane.db").display())
}

/// The audit log's actions, oldest first, read straight from the database.
pub async fn actions(d: &Path) -> Vec<String> {
    let url = format!("{}?mode=ro", sqlite_url(d));
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let rows: Vec<(String,)> = sqlx::query_as("SELECT action FROM audit_log ORDER BY seq")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    rows.into_iter().map(|r| r.0).collect()
}

/// A read-write connection to the database, for tests that play an attacker.
pub async fn tamper(d: &Path) -> sqlx::SqliteConnection {
    let url = format!("{}?mode=rw", sqlite_url(d));
    sqlx::SqliteConnection::connect(&url).await.unwrap()
}
