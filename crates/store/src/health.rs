//! Storage faults: private database files, connections left inside a failed transaction, and
//! the write probe behind `/readyz`.
//!
//! A full disk makes SQLite's `COMMIT` fail (`SQLITE_FULL`), and SQLite may roll the
//! transaction back by itself. The `ROLLBACK` sqlx then sends fails ("no transaction is
//! active") and sqlx's transaction depth stays at 1: the connection goes back to the pool
//! believing it is inside a transaction, so its next `begin` becomes a `SAVEPOINT` and its
//! `commit` a `RELEASE SAVEPOINT`, which commits nothing. The API answered success for writes
//! that were never committed, the connection held the write lock ("database is locked" for
//! every other connection) and showed its own uncommitted rows (reads alternated), and a
//! restart lost them. [`after_release`] closes any connection that comes back to the pool
//! still inside a transaction, so every transaction starts on a clean connection.

use crate::sql::db;
use crate::{Result, StoreError};
use sqlx::{AnyConnection, Connection};
use std::path::{Path, PathBuf};

/// The pool's `after_release` hook: `Ok(false)` closes the connection.
pub(crate) fn after_release(
    conn: &mut AnyConnection,
) -> std::pin::Pin<Box<dyn Future<Output = std::result::Result<bool, sqlx::Error>> + Send + '_>> {
    Box::pin(async move {
        if !conn.is_in_transaction() {
            return Ok(true);
        }
        // A dropped transaction queues its ROLLBACK; one round trip flushes it.
        sqlx::query("SELECT 1").execute(&mut *conn).await?;
        if conn.is_in_transaction() {
            tracing::warn!(
                "a database connection came back inside a transaction (a COMMIT or ROLLBACK \
                 failed, e.g. on a full disk); closing it"
            );
            return Ok(false);
        }
        Ok(true)
    })
}

/// Error codes that mean "the database cannot write" rather than a bad statement: SQLite
/// `SQLITE_FULL` (13), `SQLITE_IOERR` (10, and its extended codes), `SQLITE_READONLY` (8) and
/// PostgreSQL `disk_full` (53100), `insufficient_resources` (53000), `read_only_sql_transaction`
/// (25006).
pub(crate) fn cannot_write(code: Option<&str>) -> bool {
    let Some(code) = code else { return false };
    if matches!(code, "53100" | "53000" | "25006") {
        return true;
    }
    // SQLite codes are numbers; the primary code is the low byte of an extended one.
    match code.parse::<i64>() {
        Ok(n) if code.len() < 5 => matches!(n & 0xff, 13 | 10 | 8),
        _ => false,
    }
}

/// The file of a `sqlite:` URL, unless it is an in-memory database.
pub(crate) fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, q),
        None => (rest, ""),
    };
    if path.is_empty() || path == ":memory:" || query.split('&').any(|kv| kv == "mode=memory") {
        return None;
    }
    Some(PathBuf::from(path))
}

/// Creates the SQLite database file private (0600, its directory 0700 when created here) or
/// makes an existing one private, before SQLite opens it. SQLite gives its `-wal` and `-shm`
/// files the database file's mode.
pub(crate) fn private_sqlite_file(path: &Path) -> Result<()> {
    let fail = |what: &str, e: std::io::Error| {
        StoreError::Unavailable(format!("{what} {}: {e}", path.display()))
    };
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(dir)
            .map_err(|e| fail("cannot create the directory of", e))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(fail("cannot create the database file", e)),
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            let p = PathBuf::from(p);
            let Ok(meta) = std::fs::metadata(&p) else {
                continue;
            };
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                match std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)) {
                    Ok(()) => tracing::warn!(
                        file = %p.display(),
                        was = format!("{:o}", mode & 0o777),
                        "the database file was readable by other users; it is now 0600"
                    ),
                    Err(e) => tracing::warn!(
                        file = %p.display(),
                        error = %e,
                        "the database file is readable by other users and cannot be made private"
                    ),
                }
            }
        }
    }
    Ok(())
}

/// The write probe: updates one heartbeat row in its own transaction. Fails when the database
/// cannot commit (full disk, read-only file system, lost primary).
pub(crate) async fn probe_write(pool: &sqlx::AnyPool, now_ms: i64) -> Result<()> {
    let mut tx = pool.begin().await.map_err(db)?;
    sqlx::query(
        "INSERT INTO settings (name, value, updated_at) VALUES ('health.heartbeat', $1, $2) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(now_ms.to_string())
    .bind(now_ms)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite:///var/lib/tp/db.sqlite?mode=rwc"),
            Some(PathBuf::from("/var/lib/tp/db.sqlite"))
        );
        assert_eq!(sqlite_path("sqlite:rel.db"), Some(PathBuf::from("rel.db")));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("sqlite://x.db?mode=memory&cache=shared"), None);
        assert_eq!(sqlite_path("postgres://h/db"), None);
    }
}
