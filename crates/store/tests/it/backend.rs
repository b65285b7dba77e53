//! A fresh database per test: a temp SQLite file, or a new PostgreSQL database dropped after.

use sqlx::Connection;
use tempfile::TempDir;
use trustplane_store::SqlStore;

pub struct Db {
    pub store: SqlStore,
    pub url: String,
    pg: Option<(String, String)>,
    _dir: Option<TempDir>,
}

impl Db {
    pub async fn sqlite() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqlStore::connect(&url).await.unwrap();
        Db {
            store,
            url,
            pg: None,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> Option<Db> {
        let admin = match std::env::var("TRUSTPLANE_TEST_DATABASE_URL") {
            Ok(u) if !u.is_empty() => u,
            _ => {
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!("TRUSTPLANE_TEST_DATABASE_URL must be set when CI=true");
                }
                eprintln!("skipping: TRUSTPLANE_TEST_DATABASE_URL is not set");
                return None;
            }
        };
        let name = format!("tp_store_{}", uuid::Uuid::now_v7().simple());
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .expect("TRUSTPLANE_TEST_DATABASE_URL is unreachable");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let (base, _) = admin.rsplit_once('/').unwrap();
        let url = format!("{base}/{name}");
        let store = SqlStore::connect(&url).await.unwrap();
        Some(Db {
            store,
            url,
            pg: Some((admin, name)),
            _dir: None,
        })
    }

    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }

    /// Runs raw SQL as someone with direct database access would.
    pub async fn raw(&self, sql: &str) -> Result<(), sqlx::Error> {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(self.store.pool())
            .await
            .map(|_| ())
    }

    pub async fn finish(self) {
        self.store.pool().close().await;
        if let Some((admin, name)) = self.pg {
            let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await;
        }
    }
}
