//! [`SqlStore`]: the [`Store`] implementation shared by SQLite and PostgreSQL.

use crate::chain::AuditKeying;
use crate::changes::{Change, ChangeFeed, ChangeListener, WriteTx};
use crate::rows::*;
use crate::*;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyConnection, AnyPool, FromRow};
use std::sync::Arc;
use std::time::Duration;
use trustplane_core::audit::{ChainVerifier, seal_with};
use trustplane_core::identity::fold_name;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
pub(crate) static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator =
    sqlx::migrate!("./migrations/postgres");

/// How many audit entries `verify_audit` reads per page.
const AUDIT_PAGE: i64 = 1000;

#[derive(Clone, Debug)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    /// The audit chain key (see `chain.rs`).
    pub(crate) audit: AuditKeying,
    /// Subscribers to committed changes (see `changes.rs`).
    feed: Arc<ChangeFeed>,
    /// Where the PostgreSQL listener connects (it may hold a password: never printed).
    listen_url: Option<Secret>,
}

/// A string that never appears in `Debug` output.
#[derive(Clone)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("…")
    }
}

pub(crate) fn db(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(e.to_string())
        }
        sqlx::Error::Database(ref d) if d.message().contains("append-only") => {
            StoreError::Database("the audit log is append-only".into())
        }
        sqlx::Error::Database(ref d) if crate::health::cannot_write(d.code().as_deref()) => {
            StoreError::Unavailable(format!("the database cannot write: {}", d.message()))
        }
        other => StoreError::Database(other.to_string()),
    }
}

/// Maps a unique-constraint violation to `Conflict(what)`.
pub(crate) fn conflict(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(what),
        _ => db(e),
    }
}

/// PostgreSQL text cannot hold NUL, SQLite's can. Stored names never contain one (validation
/// refuses control characters), so a lookup key with NUL finds nothing on either backend
/// rather than failing on one.
pub(crate) fn has_nul(s: &str) -> bool {
    s.contains('\0')
}

/// Untrusted text that is logged as received (the sign-in log): NUL becomes U+FFFD on every
/// backend, so that recording an attempt never fails on PostgreSQL.
fn loggable(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}

fn now_ms() -> i64 {
    ms(OffsetDateTime::now_utc())
}

/// `%s%` with LIKE's metacharacters escaped (escape character `\`). Case is kept: callers
/// lower-case it in Rust to match a column folded in Rust, or apply SQL `lower()` to both
/// sides. (Mixing the two fails for non-ASCII text on SQLite, whose `lower()` folds ASCII only.)
pub(crate) fn like_pattern(s: &str) -> String {
    let mut out = String::from("%");
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Appends an audit entry inside the caller's transaction. The `UPDATE` of the chain head
/// locks it, so concurrent appends (from several instances too) serialise.
pub(crate) async fn append_in(
    keying: &AuditKeying,
    conn: &mut WriteTx,
    draft: &AuditDraft,
) -> Result<AuditEntry> {
    keying.may_append()?;
    let (seq, prev): (i64, String) =
        sqlx::query_as("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
            .fetch_one(&mut **conn)
            .await
            .map_err(db)?;
    let e = seal_with(keying.key(), draft, seq, now_ms(), &prev);
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor_id, actor_name, ip, action, target_type, target_id, \
         before_json, after_json, prev_hash, hash) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
    )
    .bind(e.seq)
    .bind(e.at_ms)
    .bind(&e.actor_id)
    .bind(&e.actor_name)
    .bind(&e.ip)
    .bind(&e.action)
    .bind(&e.target_type)
    .bind(&e.target_id)
    .bind(&e.before)
    .bind(&e.after)
    .bind(&e.prev_hash)
    .bind(&e.hash)
    .execute(&mut **conn)
    .await
    .map_err(db)?;
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&e.hash)
        .execute(&mut **conn)
        .await
        .map_err(db)?;
    // Continuous access evaluation: subscribers (here, and on other instances through
    // PostgreSQL's NOTIFY in this transaction) learn of the change once it committed. The
    // change names what changed, never its content.
    conn.announce(Change::Audited {
        action: e.action.clone(),
        target_type: e.target_type.clone(),
        target_id: e.target_id.clone(),
    })
    .await?;
    Ok(e)
}

async fn insert_user(
    conn: &mut AnyConnection,
    user: &User,
    password_hash: Option<&str>,
    roles: &[Role],
) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, username, username_folded, display_name, email, status, \
         password_hash, password_must_change, created_at, updated_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,0,$8,$9)",
    )
    .bind(user.id.to_string())
    .bind(&user.username)
    .bind(fold_name(&user.username))
    .bind(&user.display_name)
    .bind(&user.email)
    .bind(user.status.as_str())
    .bind(password_hash)
    .bind(ms(user.created_at))
    .bind(ms(user.updated_at))
    .execute(&mut *conn)
    .await
    .map_err(conflict("a user with this login name"))?;
    for role in roles {
        sqlx::query("INSERT INTO role_assignments (user_id, role, assigned_at) VALUES ($1,$2,$3)")
            .bind(user.id.to_string())
            .bind(role.as_str())
            .bind(ms(user.created_at))
            .execute(&mut *conn)
            .await
            .map_err(db)?;
    }
    Ok(())
}

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

    pub(crate) fn audit_keying(&self) -> &AuditKeying {
        &self.audit
    }

    /// The underlying pool (for tests and maintenance tools).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`, waiting up to the busy timeout): a deferred transaction that reads
    /// first and writes later fails at once with SQLITE_BUSY when another connection committed
    /// in between (the busy timeout does not apply to that upgrade), which made writes fail
    /// under concurrent background work. PostgreSQL needs nothing of the kind.
    ///
    /// The transaction announces its changes to the change feed once it committed.
    pub(crate) async fn begin_write(&self) -> Result<WriteTx> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?,
            Backend::Postgres => self.pool.begin().await.map_err(db)?,
        };
        Ok(WriteTx::new(
            tx,
            self.feed.clone(),
            self.backend == Backend::Postgres,
        ))
    }

    async fn fetch_users(&self, sql: String, bind: &str) -> Result<Vec<User>> {
        let rows: Vec<UserRow> = sqlx::query_as(safe(sql))
            .bind(bind)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        convert(rows)
    }
}

/// Ends a transaction whose change touched `changed` rows: nothing changed, it is rolled back
/// (`Ok(false)`, no audit entry); otherwise the audit entry is appended and it commits.
pub(crate) async fn commit_if_changed(
    keying: &AuditKeying,
    mut tx: WriteTx,
    changed: u64,
    audit: &AuditDraft,
) -> Result<bool> {
    if changed == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    append_in(keying, &mut tx, audit).await?;
    tx.commit().await?;
    Ok(true)
}

/// Runs a single audited statement: `Ok(true)` and an audit entry if it changed a row.
macro_rules! audited_change {
    ($self:ident, $audit:ident, $change:expr, $query:expr) => {{
        let mut tx = $self.begin_write().await?;
        let n = $query.execute(&mut *tx).await.map_err(db)?.rows_affected();
        if n > 0 {
            tx.announce($change).await?;
        }
        Ok(commit_if_changed(&$self.audit, tx, n, &$audit).await?)
    }};
    ($self:ident, $audit:ident, $query:expr) => {{
        let mut tx = $self.begin_write().await?;
        let n = $query.execute(&mut *tx).await.map_err(db)?.rows_affected();
        Ok(commit_if_changed(&$self.audit, tx, n, &$audit).await?)
    }};
}
pub(crate) use audited_change;

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }

    fn limits(&self) -> &dyn LimitStore {
        self
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    async fn probe_write(&self) -> Result<()> {
        crate::health::probe_write(&self.pool, now_ms()).await
    }

    fn subscribe_changes(&self, l: Arc<dyn ChangeListener>) {
        self.feed.subscribe(l);
    }

    fn start_change_feed(&self) {
        crate::changes::start(
            self,
            self.feed.clone(),
            self.listen_url.as_ref().map(|s| s.0.clone()),
        );
    }
}

#[async_trait]
impl IdentityStore for SqlStore {
    async fn create_user(
        &self,
        user: &User,
        password_hash: Option<&str>,
        roles: &[Role],
        audit: AuditDraft,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        insert_user(&mut tx, user, password_hash, roles).await?;
        append_in(&self.audit, &mut tx, &audit).await?;
        tx.commit().await
    }

    async fn get_user(&self, id: Uuid) -> Result<Option<User>> {
        let row: Option<UserRow> =
            sqlx::query_as(safe(format!("SELECT {USER_COLS} FROM users WHERE id = $1")))
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
        row.map(User::try_from).transpose()
    }

    async fn find_user(&self, username: &str) -> Result<Option<User>> {
        if has_nul(username) {
            return Ok(None);
        }
        let row: Option<UserRow> = sqlx::query_as(safe(format!(
            "SELECT {USER_COLS} FROM users WHERE username_folded = $1"
        )))
        .bind(fold_name(username))
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(User::try_from).transpose()
    }

    async fn login_record(&self, username: &str) -> Result<Option<LoginRecord>> {
        if has_nul(username) {
            return Ok(None);
        }
        let row: Option<LoginRow> = sqlx::query_as(safe(format!(
            "SELECT {USER_COLS}, password_hash, password_must_change FROM users \
             WHERE username_folded = $1"
        )))
        .bind(fold_name(username))
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| {
            Ok(LoginRecord {
                user: User::try_from(r.user)?,
                password_hash: r.password_hash,
                password_must_change: r.password_must_change != 0,
            })
        })
        .transpose()
    }

    async fn list_users(&self, q: &UserQuery) -> Result<Vec<User>> {
        let limit = q.limit.clamp(1, 1000);
        let rows: Vec<UserRow> = match &q.search {
            Some(s) if !s.trim().is_empty() => sqlx::query_as(safe(format!(
                "SELECT {USER_COLS} FROM users WHERE username_folded LIKE $1 ESCAPE '\\' \
                 OR lower(display_name) LIKE lower($2) ESCAPE '\\' \
                 OR lower(email) LIKE lower($2) ESCAPE '\\' \
                 ORDER BY username_folded LIMIT $3 OFFSET $4"
            )))
            .bind(like_pattern(&fold_name(s)))
            .bind(like_pattern(s.trim()))
            .bind(limit)
            .bind(q.offset.max(0))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?,
            _ => sqlx::query_as(safe(format!(
                "SELECT {USER_COLS} FROM users ORDER BY username_folded LIMIT $1 OFFSET $2"
            )))
            .bind(limit)
            .bind(q.offset.max(0))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?,
        };
        convert(rows)
    }

    async fn count_users(&self) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        Ok(n)
    }

    async fn update_user(&self, user: &User, audit: AuditDraft) -> Result<()> {
        let changed: Result<bool> = audited_change!(
            self,
            audit,
            sqlx::query(
                "UPDATE users SET display_name = $1, email = $2, status = $3, updated_at = $4 \
                 WHERE id = $5"
            )
            .bind(&user.display_name)
            .bind(&user.email)
            .bind(user.status.as_str())
            .bind(ms(user.updated_at))
            .bind(user.id.to_string())
        );
        if changed? {
            Ok(())
        } else {
            Err(StoreError::NotFound("user"))
        }
    }

    async fn delete_user(&self, id: Uuid, audit: AuditDraft) -> Result<()> {
        let changed: Result<bool> = audited_change!(
            self,
            audit,
            sqlx::query("DELETE FROM users WHERE id = $1").bind(id.to_string())
        );
        if changed? {
            Ok(())
        } else {
            Err(StoreError::NotFound("user"))
        }
    }

    async fn set_password_hash(
        &self,
        user_id: Uuid,
        hash: &str,
        must_change: bool,
        revoke_sessions_at: Option<OffsetDateTime>,
        audit: Option<AuditDraft>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE users SET password_hash = $1, password_must_change = $2, updated_at = $3 \
             WHERE id = $4",
        )
        .bind(hash)
        .bind(i64::from(must_change))
        .bind(now_ms())
        .bind(user_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("user"));
        }
        if let Some(at) = revoke_sessions_at {
            sqlx::query(
                "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
            )
            .bind(ms(at))
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        if let Some(a) = audit {
            // A real change (not the silent re-hash) replaces a leaked password: the
            // leaked-credentials detections it raised are remediated in the same transaction.
            crate::risk::remediate_leaked_in(&mut tx, user_id, OffsetDateTime::now_utc()).await?;
            append_in(&self.audit, &mut tx, &a).await?;
            tx.announce(Change::User(user_id)).await?;
        } else if revoke_sessions_at.is_some() {
            tx.announce(Change::User(user_id)).await?;
        }
        tx.commit().await
    }

    async fn create_group(&self, group: &Group, audit: AuditDraft) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO user_groups (id, name, name_folded, description, created_at) \
             VALUES ($1,$2,$3,$4,$5)",
        )
        .bind(group.id.to_string())
        .bind(&group.name)
        .bind(fold_name(&group.name))
        .bind(&group.description)
        .bind(ms(group.created_at))
        .execute(&mut *tx)
        .await
        .map_err(conflict("a group with this name"))?;
        append_in(&self.audit, &mut tx, &audit).await?;
        tx.commit().await
    }

    async fn get_group(&self, id: Uuid) -> Result<Option<Group>> {
        let row: Option<GroupRow> = sqlx::query_as(safe(format!(
            "SELECT {GROUP_COLS} FROM user_groups WHERE id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(Group::try_from).transpose()
    }

    async fn find_group(&self, name: &str) -> Result<Option<Group>> {
        if has_nul(name) {
            return Ok(None);
        }
        let row: Option<GroupRow> = sqlx::query_as(safe(format!(
            "SELECT {GROUP_COLS} FROM user_groups WHERE name_folded = $1"
        )))
        .bind(fold_name(name))
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(Group::try_from).transpose()
    }

    async fn list_groups(&self) -> Result<Vec<Group>> {
        let rows: Vec<GroupRow> = sqlx::query_as(safe(format!(
            "SELECT {GROUP_COLS} FROM user_groups ORDER BY name_folded"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        convert(rows)
    }

    async fn delete_group(&self, id: Uuid, audit: AuditDraft) -> Result<()> {
        let changed: Result<bool> = audited_change!(
            self,
            audit,
            sqlx::query("DELETE FROM user_groups WHERE id = $1").bind(id.to_string())
        );
        if changed? {
            Ok(())
        } else {
            Err(StoreError::NotFound("group"))
        }
    }

    async fn add_member(&self, group_id: Uuid, user_id: Uuid, audit: AuditDraft) -> Result<bool> {
        audited_change!(
            self,
            audit,
            Change::User(user_id),
            sqlx::query(
                "INSERT INTO group_members (group_id, user_id, added_at) VALUES ($1,$2,$3) \
                 ON CONFLICT (group_id, user_id) DO NOTHING"
            )
            .bind(group_id.to_string())
            .bind(user_id.to_string())
            .bind(now_ms())
        )
    }

    async fn remove_member(
        &self,
        group_id: Uuid,
        user_id: Uuid,
        audit: AuditDraft,
    ) -> Result<bool> {
        audited_change!(
            self,
            audit,
            Change::User(user_id),
            sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                .bind(group_id.to_string())
                .bind(user_id.to_string())
        )
    }

    async fn group_members(&self, group_id: Uuid) -> Result<Vec<User>> {
        self.fetch_users(
            format!(
                "SELECT {} FROM users u JOIN group_members m ON m.user_id = u.id \
                 WHERE m.group_id = $1 ORDER BY u.username_folded",
                prefixed(USER_COLS, "u")
            ),
            &group_id.to_string(),
        )
        .await
    }

    async fn groups_of(&self, user_id: Uuid) -> Result<Vec<Group>> {
        let rows: Vec<GroupRow> = sqlx::query_as(safe(format!(
            "SELECT {} FROM user_groups g JOIN group_members m ON m.group_id = g.id \
             WHERE m.user_id = $1 ORDER BY g.name_folded",
            prefixed(GROUP_COLS, "g")
        )))
        .bind(user_id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        convert(rows)
    }

    async fn assign_role(&self, user_id: Uuid, role: Role, audit: AuditDraft) -> Result<bool> {
        audited_change!(
            self,
            audit,
            sqlx::query(
                "INSERT INTO role_assignments (user_id, role, assigned_at) VALUES ($1,$2,$3) \
                 ON CONFLICT (user_id, role) DO NOTHING"
            )
            .bind(user_id.to_string())
            .bind(role.as_str())
            .bind(now_ms())
        )
    }

    async fn unassign_role(&self, user_id: Uuid, role: Role, audit: AuditDraft) -> Result<bool> {
        audited_change!(
            self,
            audit,
            sqlx::query("DELETE FROM role_assignments WHERE user_id = $1 AND role = $2")
                .bind(user_id.to_string())
                .bind(role.as_str())
        )
    }

    async fn roles_of(&self, user_id: Uuid) -> Result<Vec<Role>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT role FROM role_assignments WHERE user_id = $1 ORDER BY role")
                .bind(user_id.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
        rows.iter().map(|(r,)| role(r)).collect()
    }

    async fn role_holders(&self, r: Role) -> Result<Vec<User>> {
        self.fetch_users(
            format!(
                "SELECT {} FROM users u JOIN role_assignments a ON a.user_id = u.id \
                 WHERE a.role = $1 ORDER BY u.username_folded",
                prefixed(USER_COLS, "u")
            ),
            r.as_str(),
        )
        .await
    }

    async fn set_bootstrap_token(
        &self,
        secret_hash: &str,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM bootstrap_tokens")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("INSERT INTO bootstrap_tokens (secret_hash, expires_at) VALUES ($1, $2)")
            .bind(secret_hash)
            .bind(ms(expires_at))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await
    }

    async fn bootstrap_token_valid(&self, secret_hash: &str, now: OffsetDateTime) -> Result<bool> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT expires_at FROM bootstrap_tokens WHERE secret_hash = $1 AND expires_at > $2",
        )
        .bind(secret_hash)
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        Ok(row.is_some())
    }

    async fn bootstrap_admin(
        &self,
        secret_hash: &str,
        now: OffsetDateTime,
        user: &User,
        password_hash: &str,
        audit: AuditDraft,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let n =
            sqlx::query("DELETE FROM bootstrap_tokens WHERE secret_hash = $1 AND expires_at > $2")
                .bind(secret_hash)
                .bind(ms(now))
                .execute(&mut *tx)
                .await
                .map_err(db)?
                .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("bootstrap token"));
        }
        insert_user(
            &mut tx,
            user,
            Some(password_hash),
            &[Role::GlobalAdministrator],
        )
        .await?;
        append_in(&self.audit, &mut tx, &audit).await?;
        tx.commit().await
    }
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn create_session(&self, s: &Session, secret_hash: &str) -> Result<()> {
        let methods =
            serde_json::to_string(&s.methods).map_err(|e| StoreError::Database(e.to_string()))?;
        sqlx::query(
            "INSERT INTO sessions (id, secret_hash, user_id, created_at, last_seen_at, \
             idle_expires_at, absolute_expires_at, revoked_at, ip, user_agent, methods) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,NULL,$8,$9,$10)",
        )
        .bind(s.id.to_string())
        .bind(secret_hash)
        .bind(s.user_id.to_string())
        .bind(ms(s.created_at))
        .bind(ms(s.last_seen_at))
        .bind(ms(s.idle_expires_at))
        .bind(ms(s.absolute_expires_at))
        .bind(&s.ip)
        .bind(&s.user_agent)
        .bind(methods)
        .execute(&self.pool)
        .await
        .map_err(conflict("session"))?;
        Ok(())
    }

    async fn session_by_secret(&self, secret_hash: &str) -> Result<Option<SessionWithUser>> {
        let row: Option<SessionUserRow> = sqlx::query_as(safe(format!(
            "SELECT {SESSION_COLS}, {} FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.secret_hash = $1",
            prefixed(USER_COLS, "u")
        )))
        .bind(secret_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| {
            Ok(SessionWithUser {
                session: Session::try_from(r.session)?,
                user: User::try_from(r.user)?,
            })
        })
        .transpose()
    }

    async fn get_session(&self, id: Uuid) -> Result<Option<Session>> {
        let row: Option<SessionRow> = sqlx::query_as(safe(format!(
            "SELECT {SESSION_COLS} FROM sessions s WHERE s.id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(Session::try_from).transpose()
    }

    async fn touch_session(
        &self,
        id: Uuid,
        last_seen: OffsetDateTime,
        idle_expires: OffsetDateTime,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE sessions SET last_seen_at = $1, idle_expires_at = $2 \
             WHERE id = $3 AND revoked_at IS NULL",
        )
        .bind(ms(last_seen))
        .bind(ms(idle_expires))
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn step_up_session(
        &self,
        id: Uuid,
        methods: &[trustplane_core::authn::MethodUse],
        audit: AuditDraft,
    ) -> Result<bool> {
        let methods =
            serde_json::to_string(methods).map_err(|e| StoreError::Database(e.to_string()))?;
        audited_change!(
            self,
            audit,
            sqlx::query("UPDATE sessions SET methods = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(methods)
                .bind(id.to_string())
        )
    }

    async fn revoke_session(
        &self,
        id: Uuid,
        at: OffsetDateTime,
        audit: Option<AuditDraft>,
    ) -> Result<bool> {
        let q =
            sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(ms(at))
                .bind(id.to_string());
        // Announced also when nothing changed: the caller may hold a stale view of it.
        let mut tx = self.begin_write().await?;
        let n = q.execute(&mut *tx).await.map_err(db)?.rows_affected();
        if n > 0
            && let Some(a) = audit
        {
            append_in(&self.audit, &mut tx, &a).await?;
        }
        tx.announce(Change::Session(id)).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        at: OffsetDateTime,
        audit: Option<AuditDraft>,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(ms(at))
        .bind(user_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if let Some(a) = audit {
            append_in(&self.audit, &mut tx, &a).await?;
        }
        tx.announce(Change::User(user_id)).await?;
        tx.commit().await?;
        Ok(n)
    }

    async fn list_sessions(
        &self,
        user_id: Option<Uuid>,
        active_at: Option<OffsetDateTime>,
        limit: i64,
    ) -> Result<Vec<Session>> {
        let mut w = Where::default();
        if let Some(u) = user_id {
            w.push("s.user_id = ?", u.to_string());
        }
        if let Some(t) = active_at {
            w.clause("s.revoked_at IS NULL");
            w.push_i("s.idle_expires_at > ?", ms(t));
            w.push_i("s.absolute_expires_at > ?", ms(t));
        }
        let sql = format!(
            "SELECT {SESSION_COLS} FROM sessions s{} ORDER BY s.created_at DESC LIMIT {}",
            w.sql(),
            limit.clamp(1, 1000)
        );
        let rows: Vec<SessionRow> = w.fetch_all(sql, &self.pool).await?;
        convert(rows)
    }

    async fn create_api_token(
        &self,
        t: &ApiToken,
        secret_hash: &str,
        audit: AuditDraft,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, name, role, secret_hash, created_at, expires_at, \
             created_by, last_used_at, revoked_at) VALUES ($1,$2,$3,$4,$5,$6,$7,NULL,NULL)",
        )
        .bind(t.id.to_string())
        .bind(&t.name)
        .bind(t.role.as_str())
        .bind(secret_hash)
        .bind(ms(t.created_at))
        .bind(ms(t.expires_at))
        .bind(&t.created_by)
        .execute(&mut *tx)
        .await
        .map_err(conflict("API token"))?;
        append_in(&self.audit, &mut tx, &audit).await?;
        tx.commit().await
    }

    async fn api_token_by_secret(&self, secret_hash: &str) -> Result<Option<ApiToken>> {
        let row: Option<TokenRow> = sqlx::query_as(safe(format!(
            "SELECT {TOKEN_COLS} FROM api_tokens WHERE secret_hash = $1"
        )))
        .bind(secret_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(ApiToken::try_from).transpose()
    }

    async fn list_api_tokens(&self) -> Result<Vec<ApiToken>> {
        let rows: Vec<TokenRow> = sqlx::query_as(safe(format!(
            "SELECT {TOKEN_COLS} FROM api_tokens ORDER BY created_at DESC"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        convert(rows)
    }

    async fn revoke_api_token(
        &self,
        id: Uuid,
        at: OffsetDateTime,
        audit: AuditDraft,
    ) -> Result<bool> {
        audited_change!(
            self,
            audit,
            sqlx::query(
                "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL"
            )
            .bind(ms(at))
            .bind(id.to_string())
        )
    }

    async fn touch_api_token(&self, id: Uuid, at: OffsetDateTime) -> Result<()> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(ms(at))
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }
}

#[async_trait]
impl SignInLogStore for SqlStore {
    async fn record_sign_in(&self, e: &SignInEvent) -> Result<()> {
        let methods =
            serde_json::to_string(&e.methods).map_err(|x| StoreError::Database(x.to_string()))?;
        let d = &e.details;
        let text = |v: &serde_json::Value| v.as_str().map(loggable);
        let applied: Vec<&str> = d["conditional_access"]["applied"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        let ca_policies = (!applied.is_empty()).then(|| format!(",{},", applied.join(",")));
        sqlx::query(safe(format!(
            "INSERT INTO sign_ins ({SIGN_IN_COLS}, app_id, sign_in_risk, ca_outcome, ca_policies) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)"
        )))
        .bind(e.id.to_string())
        .bind(ms(e.at))
        .bind(e.user_id.map(|u| u.to_string()))
        .bind(loggable(&e.username))
        .bind(e.result.as_str())
        .bind(e.failure_reason.as_deref().map(loggable))
        .bind(e.ip.as_deref().map(loggable))
        .bind(e.user_agent.as_deref().map(loggable))
        .bind(loggable(&e.correlation_id))
        .bind(methods)
        .bind(e.details.to_string())
        .bind(text(&d["app"]))
        .bind(text(&d["sign_in_risk"]))
        .bind(text(&d["conditional_access"]["outcome"]))
        .bind(ca_policies.map(|p| loggable(&p)))
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn list_sign_ins(&self, q: &SignInQuery) -> Result<Vec<SignInEvent>> {
        let mut w = Where::default();
        if let Some(u) = q.user_id {
            w.push("user_id = ?", u.to_string());
        }
        if let Some(u) = &q.username {
            // `lower()` on both sides: Rust's folding differs from SQLite's ASCII-only one.
            w.push("lower(username) = lower(?)", loggable(u.trim()));
        }
        if let Some(r) = q.result {
            w.push("result = ?", r.as_str().to_string());
        }
        if let Some(r) = &q.failure_reason {
            w.push("failure_reason = ?", loggable(r));
        }
        if let Some(t) = q.since {
            w.push_i("at >= ?", ms(t));
        }
        if let Some(t) = q.until {
            w.push_i("at < ?", ms(t));
        }
        if let Some(a) = &q.app_id {
            w.push("app_id = ?", loggable(a));
        }
        if let Some(r) = &q.sign_in_risk {
            w.push("sign_in_risk = ?", loggable(r));
        }
        if let Some(o) = &q.ca_outcome {
            w.push("ca_outcome = ?", loggable(o));
        }
        if let Some(p) = &q.policy {
            // Policy ids are slugs (no commas, no LIKE wildcards survive validation); escape
            // anyway so a stray `%` or `_` matches itself.
            let escaped = p
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            w.push("ca_policies LIKE ? ESCAPE '\\'", format!("%,{escaped},%"));
        }
        let sql = format!(
            "SELECT {SIGN_IN_COLS} FROM sign_ins{} ORDER BY at DESC, id DESC LIMIT {}",
            w.sql(),
            q.limit.clamp(1, 10_000)
        );
        let rows: Vec<SignInRow> = w.fetch_all(sql, &self.pool).await?;
        convert(rows)
    }

    async fn get_sign_in(&self, id: Uuid) -> Result<Option<SignInEvent>> {
        let rows: Vec<SignInRow> = sqlx::query_as(safe(format!(
            "SELECT {SIGN_IN_COLS} FROM sign_ins WHERE id = $1"
        )))
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(convert(rows)?.into_iter().next())
    }
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn append_audit(&self, draft: AuditDraft) -> Result<AuditEntry> {
        let mut tx = self.begin_write().await?;
        let e = append_in(&self.audit, &mut tx, &draft).await?;
        tx.commit().await?;
        Ok(e)
    }

    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let mut w = Where::default();
        if let Some(s) = q.before_seq {
            w.push_i("seq < ?", s);
        }
        if let Some(a) = &q.action {
            w.push("action = ?", a.clone());
        }
        if let Some(t) = &q.target_id {
            w.push("target_id = ?", t.clone());
        }
        let sql = format!(
            "SELECT {AUDIT_COLS} FROM audit_log{} ORDER BY seq DESC LIMIT {}",
            w.sql(),
            q.limit.clamp(1, 10_000)
        );
        let rows: Vec<AuditRow> = w.fetch_all(sql, &self.pool).await?;
        Ok(rows.into_iter().map(AuditEntry::from).collect())
    }

    async fn verify_audit(&self) -> Result<std::result::Result<u64, ChainError>> {
        // The chain head is read first: every entry up to its seq was committed together with
        // it, so the walk must reach that entry and find the head's hash there. Without this
        // check, deleting the newest entries (after dropping the append-only triggers) would
        // leave a shorter chain that still verifies.
        let (head_seq, head_hash): (i64, String) =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&self.pool)
                .await
                .map_err(db)?;
        let mut hash_at_head = None;
        let key = self.audit.verifying_key()?;
        // After an archive (`audit_archive.rs`) the chain continues from the MACed archive
        // point; the archived entries are verified from the archive file.
        let (mut v, mut after) = match self.archive_point().await? {
            Some(p) => {
                if p.seq == head_seq {
                    hash_at_head = Some(p.hash.clone());
                }
                (ChainVerifier::resume(key, p.seq, &p.hash), p.seq)
            }
            None => (ChainVerifier::keyed(key), 0i64),
        };
        loop {
            let rows: Vec<AuditRow> = sqlx::query_as(safe(format!(
                "SELECT {AUDIT_COLS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
            )))
            .bind(after)
            .bind(AUDIT_PAGE)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
            let Some(last) = rows.last() else { break };
            after = last.seq;
            for r in rows {
                let e = AuditEntry::from(r);
                if let Err(err) = v.push(&e) {
                    return Ok(Err(err));
                }
                if e.seq == head_seq {
                    hash_at_head = Some(e.hash);
                }
            }
        }
        let checked = v.last_seq();
        if checked < head_seq {
            return Ok(Err(ChainError::Gap {
                seq: head_seq,
                expected: checked + 1,
            }));
        }
        if head_seq > 0 && hash_at_head.as_deref() != Some(head_hash.as_str()) {
            return Ok(Err(ChainError::HashMismatch { seq: head_seq }));
        }
        Ok(Ok(v.checked))
    }
}

#[async_trait]
impl BannedTermStore for SqlStore {
    async fn list_banned_terms(&self) -> Result<Vec<BannedTerm>> {
        let rows: Vec<(String, String, i64, String)> = sqlx::query_as(
            "SELECT term, display, added_at, added_by FROM banned_terms ORDER BY term",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.into_iter()
            .map(|(term, display, at, added_by)| {
                Ok(BannedTerm {
                    term,
                    display,
                    added_at: from_ms(at)?,
                    added_by,
                })
            })
            .collect()
    }

    async fn add_banned_terms(
        &self,
        terms: &[(String, String)],
        added_by: &str,
        audit: AuditDraft,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let at = now_ms();
        let mut added = 0;
        for (term, display) in terms {
            added += sqlx::query(
                "INSERT INTO banned_terms (term, display, added_at, added_by) VALUES ($1,$2,$3,$4) \
                 ON CONFLICT (term) DO NOTHING",
            )
            .bind(term)
            .bind(display)
            .bind(at)
            .bind(added_by)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        }
        if added == 0 {
            tx.rollback().await?;
            return Ok(0);
        }
        append_in(&self.audit, &mut tx, &audit).await?;
        tx.commit().await?;
        Ok(added)
    }

    async fn remove_banned_term(&self, term: &str, audit: AuditDraft) -> Result<bool> {
        audited_change!(
            self,
            audit,
            sqlx::query("DELETE FROM banned_terms WHERE term = $1").bind(term)
        )
    }

    async fn banned_terms_revision(&self) -> Result<i64> {
        let row: (i64,) = sqlx::query_as("SELECT rev FROM revisions WHERE name = 'banned_terms'")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        Ok(row.0)
    }
}

/// Marks SQL assembled here as audited: every dynamic part is a constant column list or a
/// generated `$n` placeholder; values are always bound, never interpolated.
pub(crate) fn safe(sql: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql)
}

/// `a, b` -> `u.a, u.b`.
fn prefixed(cols: &str, alias: &str) -> String {
    cols.split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

enum Arg {
    Text(String),
    Int(i64),
}

/// A small WHERE-clause builder: `?` in each condition becomes the next `$n`.
#[derive(Default)]
struct Where {
    clauses: Vec<String>,
    args: Vec<Arg>,
}

impl Where {
    fn clause(&mut self, c: &str) {
        self.clauses.push(c.to_string());
    }
    fn push(&mut self, cond: &str, v: String) {
        self.args.push(Arg::Text(v));
        self.clauses
            .push(cond.replace('?', &format!("${}", self.args.len())));
    }
    fn push_i(&mut self, cond: &str, v: i64) {
        self.args.push(Arg::Int(v));
        self.clauses
            .push(cond.replace('?', &format!("${}", self.args.len())));
    }
    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
    async fn fetch_all<T>(self, sql: String, pool: &AnyPool) -> Result<Vec<T>>
    where
        T: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        let mut q = sqlx::query_as::<_, T>(safe(sql));
        for a in self.args {
            q = match a {
                Arg::Text(s) => q.bind(s),
                Arg::Int(i) => q.bind(i),
            };
        }
        q.fetch_all(pool).await.map_err(db)
    }
}
