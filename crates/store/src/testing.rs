//! Fresh PostgreSQL databases for tests and tools: each is a copy of a migrated template
//! (`CREATE DATABASE … TEMPLATE`), so a test pays for a file copy instead of every migration.
//! The template's name carries a digest of the migrations, so a schema change makes a new one.

use crate::sql::db;
use crate::{Result, StoreError};
use sha2::{Digest, Sha256};
use sqlx::Connection;

/// Serialises template creation and copies across test processes.
const LOCK_KEY: i64 = 0x7472_7573_7470_6c61; // "trustpla"

/// Creates an empty, migrated database named `{prefix}_{random}` next to `admin_url`'s and
/// returns its URL. `prefix` must be a plain identifier (letters, digits, `_`).
pub async fn fresh_postgres_database(admin_url: &str, prefix: &str) -> Result<String> {
    if prefix.is_empty()
        || !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(StoreError::Database(format!(
            "database name prefix `{prefix}` must be letters, digits and `_`"
        )));
    }
    let template = format!("tp_template_{}", migrations_digest());
    let name = format!("{prefix}_{}", uuid::Uuid::now_v7().simple());
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(LOCK_KEY)
        .execute(&mut admin)
        .await
        .map_err(db)?;
    let r = create_from_template(&mut admin, admin_url, &template, &name).await;
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LOCK_KEY)
        .execute(&mut admin)
        .await;
    let _ = admin.close().await;
    r?;
    Ok(with_database(admin_url, &name))
}

async fn create_from_template(
    admin: &mut sqlx::PgConnection,
    admin_url: &str,
    template: &str,
    name: &str,
) -> Result<()> {
    let exists: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(template)
        .fetch_optional(&mut *admin)
        .await
        .map_err(db)?;
    if exists.is_none() {
        let building = format!("{template}_building");
        run(admin, format!("DROP DATABASE IF EXISTS \"{building}\"")).await?;
        run(admin, format!("CREATE DATABASE \"{building}\"")).await?;
        let store = crate::SqlStore::connect(&with_database(admin_url, &building)).await?;
        store.pool().close().await;
        run(
            admin,
            format!("ALTER DATABASE \"{building}\" RENAME TO \"{template}\""),
        )
        .await?;
    }
    run(
        admin,
        format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""),
    )
    .await?;
    Ok(())
}

/// Runs one statement built from identifiers checked by the caller.
async fn run(admin: &mut sqlx::PgConnection, sql: String) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut *admin)
        .await
        .map_err(db)?;
    Ok(())
}

/// `admin_url` with its database replaced by `name` (query parameters kept).
pub fn with_database(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin_url, None),
    };
    let prefix = match base.rsplit_once('/') {
        Some((p, _)) if p.contains("://") && p.len() > p.find("://").unwrap_or(0) + 3 => p,
        _ => base,
    };
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

fn migrations_digest() -> String {
    let mut h = Sha256::new();
    for m in crate::sql::POSTGRES_MIGRATIONS.iter() {
        h.update(m.version.to_le_bytes());
        h.update(&m.checksum);
    }
    hex_prefix(&h.finalize())
}

fn hex_prefix(d: &[u8]) -> String {
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_part_of_a_url_is_replaced() {
        assert_eq!(
            with_database("postgres://u@h:5432/test", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/test?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }

    #[test]
    fn the_template_name_follows_the_migrations() {
        let d = migrations_digest();
        assert_eq!(d.len(), 16);
        assert_eq!(d, migrations_digest());
    }
}
