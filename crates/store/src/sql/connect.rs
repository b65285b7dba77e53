//! Opening the store: the connection pool (SQLite: a private file, a busy timeout and the
//! WAL journal) and the migrations of each backend.

use super::{Secret, SqlStore, db};
use crate::chain::AuditKeying;
use crate::changes::ChangeFeed;
use crate::{Backend, Result, StoreError};
use sqlx::any::AnyPoolOptions;
use std::sync::Arc;
use std::time::Duration;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
pub(crate) static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator =
    sqlx::migrate!("./migrations/postgres");
impl SqlStore {
    /// Connects and migrates. `sqlite://PATH` creates the file if missing.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if let Some(rest) = url.strip_prefix("sqlite:") {
            let sep = if rest.contains('?') { '&' } else { '?' };
            let url = if rest.contains("mode=") {
                url.to_string()
            } else {
                format!("{url}{sep}mode=rwc")
            };
            (Backend::Sqlite, url)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else {
            // Never echo credentials that may sit in the URL.
            let scheme = url.split(':').next().unwrap_or_default().to_string();
            return Err(StoreError::UnsupportedUrl(format!("{scheme}:…")));
        };
        if backend == Backend::Sqlite
            && let Some(path) = crate::health::sqlite_path(&url)
        {
            crate::health::private_sqlite_file(&path)?;
        }
        let pool = AnyPoolOptions::new()
            .after_release(|conn, _| crate::health::after_release(conn))
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // A writer waits for the one write lock instead of failing with
                        // "database is locked" when several commit at once on a busy machine.
                        sqlx::query("PRAGMA busy_timeout = 30000")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        if backend == Backend::Sqlite {
            // WAL lets readers proceed while one writer commits; it persists in the file.
            sqlx::query("PRAGMA journal_mode=WAL")
                .execute(&pool)
                .await
                .map_err(db)?;
        }
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::VersionMissing(v) => StoreError::NewerSchema(v),
            other => StoreError::Database(format!("migration failed: {other}")),
        })?;
        let audit = AuditKeying::unkeyed(&pool).await?;
        let listen_url = (backend == Backend::Postgres).then(|| Secret(url.clone()));
        Ok(SqlStore {
            pool,
            backend,
            audit,
            feed: Arc::new(ChangeFeed::default()),
            listen_url,
        })
    }
}
