//! Applications protected through forward-auth, their routes, and the signing keys of the
//! assertions trustplane issues (the trait methods delegate here).

use crate::rows::{from_ms, ms, uuid};
use crate::sql::{SqlStore, append_in, commit_if_changed, conflict, db};
use crate::{Result, StoreError};
use time::OffsetDateTime;
use trustplane_core::audit::AuditDraft;
use uuid::Uuid;

/// An application behind a reverse proxy that asks trustplane (forward-auth).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Application {
    /// Lowercase slug, also the id conditional access policies name.
    pub id: String,
    pub name: String,
    /// Host names a sign-in may return to (besides the hosts of its routes).
    pub allowed_hosts: Vec<String>,
    /// The sensitivity label of the whole application (a route may carry a higher one).
    #[serde(default)]
    pub sensitivity_label: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A host and path prefix that belong to an application.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Route {
    pub id: Uuid,
    pub app_id: String,
    /// Lowercase host name, with the port when it is not the scheme's default.
    pub host: String,
    /// Starts with `/`.
    pub path_prefix: String,
    /// The sensitivity label of what lives under this prefix.
    #[serde(default)]
    pub sensitivity_label: Option<String>,
    /// The prefix also covers other (ASCII) cases of the path, for upstreams that serve
    /// paths case-insensitively.
    #[serde(default)]
    pub case_insensitive: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// An assertion signing key. The private key is sealed by the server; the store never sees
/// it in the clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub kid: String,
    pub alg: String,
    /// The sealed PKCS#8 DER private key.
    pub sealed_private: String,
    /// The public key as a JWK (JSON).
    pub public_jwk: String,
    pub created_at: OffsetDateTime,
    pub retired_at: Option<OffsetDateTime>,
}

/// Whether `prefix` covers `path`: equal, or `path` continues it at a segment boundary
/// (`/app` covers `/app` and `/app/x` but not `/apple`; `/` covers everything).
pub fn prefix_covers(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || prefix.ends_with('/') || rest.starts_with('/'),
        None => false,
    }
}

/// The route with the longest path prefix that covers `path`, among one host's routes.
pub fn longest_match(routes: Vec<Route>, path: &str) -> Option<Route> {
    routes
        .into_iter()
        .filter(|r| prefix_covers(&r.path_prefix, path))
        .max_by_key(|r| r.path_prefix.len())
}

#[derive(sqlx::FromRow)]
struct AppRow {
    id: String,
    name: String,
    allowed_hosts: String,
    sensitivity_label: Option<String>,
    created_at: i64,
}

impl TryFrom<AppRow> for Application {
    type Error = StoreError;
    fn try_from(r: AppRow) -> Result<Self> {
        Ok(Application {
            allowed_hosts: serde_json::from_str(&r.allowed_hosts)
                .map_err(|e| StoreError::Corrupt(format!("application allowed_hosts: {e}")))?,
            id: r.id,
            name: r.name,
            sensitivity_label: r.sensitivity_label,
            created_at: from_ms(r.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct RouteRow {
    id: String,
    app_id: String,
    host: String,
    path_prefix: String,
    sensitivity_label: Option<String>,
    case_insensitive: i64,
    created_at: i64,
}

impl TryFrom<RouteRow> for Route {
    type Error = StoreError;
    fn try_from(r: RouteRow) -> Result<Self> {
        Ok(Route {
            id: uuid(&r.id)?,
            app_id: r.app_id,
            host: r.host,
            path_prefix: r.path_prefix,
            sensitivity_label: r.sensitivity_label,
            case_insensitive: r.case_insensitive != 0,
            created_at: from_ms(r.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    kid: String,
    alg: String,
    private_key: String,
    public_jwk: String,
    created_at: i64,
    retired_at: Option<i64>,
}

impl TryFrom<KeyRow> for SigningKey {
    type Error = StoreError;
    fn try_from(r: KeyRow) -> Result<Self> {
        Ok(SigningKey {
            kid: r.kid,
            alg: r.alg,
            sealed_private: r.private_key,
            public_jwk: r.public_jwk,
            created_at: from_ms(r.created_at)?,
            retired_at: r.retired_at.map(from_ms).transpose()?,
        })
    }
}

const APP_COLS: &str = "id, name, allowed_hosts, sensitivity_label, created_at";
const ROUTE_COLS: &str =
    "id, app_id, host, path_prefix, sensitivity_label, case_insensitive, created_at";

fn collect<R, T: TryFrom<R, Error = StoreError>>(rows: Vec<R>) -> Result<Vec<T>> {
    rows.into_iter().map(T::try_from).collect()
}

#[async_trait::async_trait]
impl crate::ApplicationStore for SqlStore {
    async fn create_application(&self, app: &Application, audit: AuditDraft) -> Result<()> {
        let hosts = serde_json::to_string(&app.allowed_hosts)
            .map_err(|e| StoreError::Database(e.to_string()))?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO applications (id, name, allowed_hosts, sensitivity_label, created_at) \
             VALUES ($1,$2,$3,$4,$5)",
        )
        .bind(&app.id)
        .bind(&app.name)
        .bind(hosts)
        .bind(&app.sensitivity_label)
        .bind(ms(app.created_at))
        .execute(&mut *tx)
        .await
        .map_err(crate::labels::label_or_conflict("application"))?;
        append_in(self.audit_keying(), &mut tx, &audit).await?;
        tx.commit().await
    }

    async fn get_application(&self, id: &str) -> Result<Option<Application>> {
        let row: Option<AppRow> = sqlx::query_as(crate::sql::safe(format!(
            "SELECT {APP_COLS} FROM applications WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        row.map(Application::try_from).transpose()
    }

    async fn list_applications(&self) -> Result<Vec<Application>> {
        let rows: Vec<AppRow> = sqlx::query_as(crate::sql::safe(format!(
            "SELECT {APP_COLS} FROM applications ORDER BY id"
        )))
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        collect(rows)
    }

    /// Deletes the application and (cascade) its routes; false when it did not exist.
    async fn delete_application(&self, id: &str, audit: AuditDraft) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        // Explicit, so that it does not depend on SQLite's foreign_keys pragma.
        sqlx::query("DELETE FROM routes WHERE app_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let n = sqlx::query("DELETE FROM applications WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        commit_if_changed(self.audit_keying(), tx, n, &audit).await
    }

    /// Adds a route; `NotFound` when the application does not exist, `Conflict` when the
    /// host and prefix are taken (by any application).
    async fn add_route(&self, route: &Route, audit: AuditDraft) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let found: Option<(String,)> = sqlx::query_as("SELECT id FROM applications WHERE id = $1")
            .bind(&route.app_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if found.is_none() {
            return Err(StoreError::NotFound("application"));
        }
        sqlx::query(
            "INSERT INTO routes (id, app_id, host, path_prefix, sensitivity_label, \
             case_insensitive, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7)",
        )
        .bind(route.id.to_string())
        .bind(&route.app_id)
        .bind(&route.host)
        .bind(&route.path_prefix)
        .bind(&route.sensitivity_label)
        .bind(i64::from(route.case_insensitive))
        .bind(ms(route.created_at))
        .execute(&mut *tx)
        .await
        .map_err(crate::labels::label_or_conflict("route"))?;
        append_in(self.audit_keying(), &mut tx, &audit).await?;
        tx.commit().await
    }

    async fn remove_route(&self, app_id: &str, route_id: Uuid, audit: AuditDraft) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM routes WHERE id = $1 AND app_id = $2")
            .bind(route_id.to_string())
            .bind(app_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        commit_if_changed(self.audit_keying(), tx, n, &audit).await
    }

    /// Every route, or one application's, ordered by host and prefix.
    async fn list_routes(&self, app_id: Option<&str>) -> Result<Vec<Route>> {
        let rows: Vec<RouteRow> = match app_id {
            Some(a) => sqlx::query_as(crate::sql::safe(format!(
                "SELECT {ROUTE_COLS} FROM routes WHERE app_id = $1 ORDER BY host, path_prefix"
            )))
            .bind(a)
            .fetch_all(self.pool())
            .await
            .map_err(db)?,
            None => sqlx::query_as(crate::sql::safe(format!(
                "SELECT {ROUTE_COLS} FROM routes ORDER BY host, path_prefix"
            )))
            .fetch_all(self.pool())
            .await
            .map_err(db)?,
        };
        collect(rows)
    }

    async fn find_route(&self, host: &str, path: &str) -> Result<Option<Route>> {
        let rows: Vec<RouteRow> = sqlx::query_as(crate::sql::safe(format!(
            "SELECT {ROUTE_COLS} FROM routes WHERE host = $1"
        )))
        .bind(host)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        Ok(longest_match(collect(rows)?, path))
    }

    async fn add_signing_key(&self, key: &SigningKey, audit: AuditDraft) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_key, public_jwk, created_at, retired_at) \
             VALUES ($1,$2,$3,$4,$5,$6)",
        )
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(&key.sealed_private)
        .bind(&key.public_jwk)
        .bind(ms(key.created_at))
        .bind(key.retired_at.map(ms))
        .execute(&mut *tx)
        .await
        .map_err(conflict("signing key"))?;
        append_in(self.audit_keying(), &mut tx, &audit).await?;
        tx.commit().await
    }

    /// Keys not retired, newest first.
    async fn active_signing_keys(&self) -> Result<Vec<SigningKey>> {
        let rows: Vec<KeyRow> = sqlx::query_as(
            "SELECT kid, alg, private_key, public_jwk, created_at, retired_at FROM signing_keys \
             WHERE retired_at IS NULL ORDER BY created_at DESC, kid",
        )
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        collect(rows)
    }

    async fn published_signing_keys(&self, now: OffsetDateTime) -> Result<Vec<SigningKey>> {
        let rows: Vec<KeyRow> = sqlx::query_as(
            "SELECT kid, alg, private_key, public_jwk, created_at, retired_at FROM signing_keys \
             WHERE retired_at IS NULL OR retired_at > $1 ORDER BY created_at DESC, kid",
        )
        .bind(ms(now))
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        collect(rows)
    }

    async fn retire_signing_key(
        &self,
        kid: &str,
        at: OffsetDateTime,
        audit: AuditDraft,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE signing_keys SET retired_at = $1 WHERE kid = $2 AND retired_at IS NULL",
        )
        .bind(ms(at))
        .bind(kid)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        commit_if_changed(self.audit_keying(), tx, n, &audit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_cover_at_segment_boundaries() {
        assert!(prefix_covers("/", "/anything"));
        assert!(prefix_covers("/app", "/app"));
        assert!(prefix_covers("/app", "/app/x"));
        assert!(!prefix_covers("/app", "/apple"));
        assert!(prefix_covers("/app/", "/app/x"));
        assert!(!prefix_covers("/app/", "/app"));
    }
}
