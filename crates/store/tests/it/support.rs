//! One fresh database per test (a temp SQLite file, or a new PostgreSQL database that a guard
//! drops again, also when the test panics) and the fixtures the test bodies share.

use sqlx::Connection;
use tempfile::TempDir;
use time::OffsetDateTime;
use trustplane_core::audit::{Actor, AuditDraft, AuditEntry};
use trustplane_core::authn::{AuthMethod, MethodUse};
use trustplane_core::identity::{Group, Role, User, UserStatus};
use trustplane_core::session::{ApiToken, Session, SessionPolicy};
use trustplane_store::prelude::*;
use trustplane_store::{AuditQuery, Backend, SqlStore};
use uuid::Uuid;

pub const PG_URL_VAR: &str = "TRUSTPLANE_TEST_DATABASE_URL";

/// A store on a database of its own. Dropping it deletes the database.
pub struct TestDb {
    pub store: SqlStore,
    /// The URL the store was opened with (to open a second store on the same database).
    pub url: String,
    pub backend: Backend,
    _cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    /// `None` when PostgreSQL is not configured outside CI (the test then passes vacuously,
    /// after a note on stderr). With `CI=true` a missing configuration fails the test.
    pub async fn open(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite().await),
            Backend::Postgres => Self::postgres().await,
        }
    }

    async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqlStore::connect(&url).await.expect("open SQLite store");
        TestDb {
            store,
            url,
            backend: Backend::Sqlite,
            _cleanup: Cleanup::Sqlite(dir),
        }
    }

    async fn postgres() -> Option<TestDb> {
        let admin_url = match std::env::var(PG_URL_VAR) {
            Ok(u) if !u.trim().is_empty() => u,
            _ => {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!(
                        "{PG_URL_VAR} is not set, but CI=true: the PostgreSQL half of the store \
                         suite must run in CI (e.g. {PG_URL_VAR}=postgres://postgres@127.0.0.1:5432/test)"
                    );
                }
                eprintln!(
                    "note: {PG_URL_VAR} is not set; skipping the PostgreSQL run of this test \
                     (e.g. {PG_URL_VAR}=postgres://postgres@127.0.0.1:5432/test)"
                );
                return None;
            }
        };
        // A copy of the migrated template: one file copy instead of every migration.
        let url = trustplane_store::testing::fresh_postgres_database(&admin_url, "tp")
            .await
            .unwrap_or_else(|e| panic!("cannot create a database from {PG_URL_VAR}: {e}"));
        let name = url
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string();
        // From here on the guard owns the database, so a failing connect still drops it.
        let cleanup = Cleanup::Postgres {
            admin_url: admin_url.clone(),
            name: name.clone(),
        };
        let store = SqlStore::connect(&url)
            .await
            .expect("open PostgreSQL store");
        Some(TestDb {
            store,
            url,
            backend: Backend::Postgres,
            _cleanup: cleanup,
        })
    }

    pub fn is_postgres(&self) -> bool {
        self.backend == Backend::Postgres
    }

    /// Runs raw SQL on the store's pool, as someone with direct database access would.
    pub async fn raw(&self, sql: &str) -> Result<u64, sqlx::Error> {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(self.store.pool())
            .await
            .map(|r| r.rows_affected())
    }

    /// One integer from raw SQL.
    pub async fn raw_i64(&self, sql: &str) -> i64 {
        let (v,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(self.store.pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        v
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Cleanup::Postgres { admin_url, name } = self else {
            return; // TempDir removes itself
        };
        let (admin_url, name, label) = (admin_url.clone(), name.clone(), name.clone());
        // Drop cannot await, and may run inside the test's runtime: use a thread with its own.
        // Never panic here (this also runs while a failed test unwinds).
        let done = std::thread::spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return Err(e.to_string()),
            };
            rt.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await
                .map_err(|e| e.to_string())?;
                let _ = admin.close().await;
                Ok(())
            })
        })
        .join();
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: could not drop test database {label}: {e}"),
            Err(_) => eprintln!("warning: dropping test database {label} panicked"),
        }
    }
}

/// `postgres://u@h:5432/test?sslmode=disable` with database `name` instead of `test`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let host_and_path = &base[authority_start..];
    let base = match host_and_path.find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

// --- fixtures ------------------------------------------------------------------------------

/// Now, truncated to the millisecond precision the store keeps.
pub fn now() -> OffsetDateTime {
    ms(OffsetDateTime::now_utc())
}

pub fn ms(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .expect("valid nanosecond")
}

pub fn admin() -> Actor {
    Actor::cli("tester")
}

pub fn draft(action: &str) -> AuditDraft {
    AuditDraft::new(&admin(), action, "test", None)
}

pub fn user(name: &str) -> User {
    let t = now();
    User {
        id: Uuid::now_v7(),
        username: name.to_string(),
        display_name: format!("{name} Example"),
        email: Some(format!("{name}@example.com")),
        status: UserStatus::Enabled,
        created_at: t,
        updated_at: t,
    }
}

pub async fn add_user(s: &SqlStore, name: &str) -> User {
    let u = user(name);
    s.create_user(&u, Some("$argon2id$fake"), &[], draft("user.create"))
        .await
        .expect("create user");
    u
}

pub fn group(name: &str) -> Group {
    Group {
        id: Uuid::now_v7(),
        name: name.into(),
        description: format!("the {name} group"),
        created_at: now(),
    }
}

pub async fn add_group(s: &SqlStore, name: &str) -> Group {
    let g = group(name);
    s.create_group(&g, draft("group.create"))
        .await
        .expect("create group");
    g
}

pub fn session(user_id: Uuid, at: OffsetDateTime) -> Session {
    Session::new(
        Uuid::now_v7(),
        user_id,
        at,
        &SessionPolicy::default(),
        vec![MethodUse {
            method: AuthMethod::Password,
            at,
        }],
    )
}

pub fn token(name: &str, role: Role, at: OffsetDateTime) -> ApiToken {
    ApiToken {
        id: Uuid::now_v7(),
        name: name.into(),
        role,
        created_at: at,
        expires_at: at + time::Duration::days(1),
        created_by: "cli:tester".into(),
        last_used_at: None,
        revoked_at: None,
    }
}

pub fn names(users: Vec<User>) -> Vec<String> {
    users.into_iter().map(|u| u.username).collect()
}

// --- audit helpers -------------------------------------------------------------------------

/// The whole audit log, oldest first.
pub async fn audit_log(s: &SqlStore) -> Vec<AuditEntry> {
    let mut v = s
        .list_audit(&AuditQuery {
            limit: 10_000,
            ..Default::default()
        })
        .await
        .expect("list audit");
    v.reverse();
    v
}

/// The number of entries, after checking the chain is intact.
pub async fn verified_len(s: &SqlStore) -> u64 {
    s.verify_audit()
        .await
        .expect("verify audit")
        .unwrap_or_else(|e| panic!("audit chain broken: {e}"))
}

/// Watches the audit log across operations: each check asserts how many entries were appended
/// since the previous check and that the chain still verifies.
pub struct AuditWatch {
    seen: u64,
}

impl AuditWatch {
    pub async fn start(s: &SqlStore) -> AuditWatch {
        AuditWatch {
            seen: verified_len(s).await,
        }
    }

    /// Asserts nothing was appended.
    pub async fn none(&mut self, s: &SqlStore, what: &str) {
        let n = verified_len(s).await;
        assert_eq!(n, self.seen, "{what}: must not append an audit entry");
    }

    /// Asserts exactly one entry was appended, with this action and actor, and returns it.
    pub async fn one(&mut self, s: &SqlStore, action: &str, actor: &Actor) -> AuditEntry {
        let n = verified_len(s).await;
        assert_eq!(
            n,
            self.seen + 1,
            "{action}: must append exactly one audit entry"
        );
        self.seen = n;
        let e = audit_log(s).await.pop().expect("an entry");
        assert_eq!(e.seq, n as i64, "{action}: seq");
        assert_eq!(e.action, action);
        assert_eq!(e.actor_id, actor.id, "{action}: actor id");
        assert_eq!(e.actor_name, actor.name, "{action}: actor name");
        assert_eq!(e.ip, actor.ip, "{action}: actor ip");
        e
    }
}
