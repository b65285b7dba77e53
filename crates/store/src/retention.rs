//! Retention: deleting what has expired, in small batches (each batch is one short
//! statement, so requests are never held up behind a long delete).

use crate::Result;
use crate::rows::ms;
use crate::sql::{SqlStore, db, safe};
use time::OffsetDateTime;

/// What [`crate::Store::purge_expired`] deletes: rows that expired (or were revoked, or, for
/// the sign-in log, were written) before the cutoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expired {
    /// Sessions past their idle or absolute expiry, or revoked.
    Sessions,
    /// API tokens past their expiry, or revoked.
    ApiTokens,
    /// Sign-ins in progress (between password and session).
    LoginFlows,
    /// One-time codes sent by email.
    OneTimeCodes,
    /// WebAuthn registration and sign-in ceremonies.
    WebauthnCeremonies,
    /// Temporary Access Passes.
    TemporaryAccessPasses,
    /// Bootstrap links.
    BootstrapTokens,
    /// Pending OpenID Connect authorization requests.
    OidcRequests,
    /// OpenID Connect authorization codes.
    OidcCodes,
    /// Device authorization grant codes.
    OidcDeviceCodes,
    /// OpenID Connect access and refresh tokens.
    OidcTokens,
    /// Sign-in log rows (cutoff: written before).
    SignIns,
}

impl Expired {
    /// Everything that expires (not the sign-in log, which has its own retention).
    pub const EXPIRING: [Expired; 11] = [
        Expired::Sessions,
        Expired::ApiTokens,
        Expired::LoginFlows,
        Expired::OneTimeCodes,
        Expired::WebauthnCeremonies,
        Expired::TemporaryAccessPasses,
        Expired::BootstrapTokens,
        Expired::OidcRequests,
        Expired::OidcCodes,
        Expired::OidcDeviceCodes,
        Expired::OidcTokens,
    ];

    /// A stable name (logs, metrics, console).
    pub fn name(self) -> &'static str {
        self.spec().0
    }

    /// (name, table, key column, condition on `$1` = cutoff in ms).
    fn spec(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Expired::Sessions => (
                "sessions",
                "sessions",
                "id",
                "absolute_expires_at < $1 OR idle_expires_at < $1 OR revoked_at < $1",
            ),
            Expired::ApiTokens => (
                "api_tokens",
                "api_tokens",
                "id",
                "expires_at < $1 OR revoked_at < $1",
            ),
            Expired::LoginFlows => ("login_flows", "login_flows", "id_hash", "expires_at < $1"),
            Expired::OneTimeCodes => ("one_time_codes", "one_time_codes", "id", "expires_at < $1"),
            Expired::WebauthnCeremonies => (
                "webauthn_ceremonies",
                "webauthn_ceremonies",
                "id_hash",
                "expires_at < $1",
            ),
            Expired::TemporaryAccessPasses => (
                "temporary_access_passes",
                "temporary_access_passes",
                "id",
                "expires_at < $1",
            ),
            Expired::BootstrapTokens => (
                "bootstrap_tokens",
                "bootstrap_tokens",
                "secret_hash",
                "expires_at < $1",
            ),
            Expired::OidcRequests => ("oidc_requests", "oidc_requests", "id", "expires_at < $1"),
            Expired::OidcCodes => ("oidc_codes", "oidc_codes", "hash", "expires_at < $1"),
            Expired::OidcDeviceCodes => (
                "oidc_device_codes",
                "oidc_device_codes",
                "hash",
                "expires_at < $1",
            ),
            Expired::OidcTokens => ("oidc_tokens", "oidc_tokens", "hash", "expires_at < $1"),
            Expired::SignIns => ("sign_ins", "sign_ins", "id", "at < $1"),
        }
    }
}

#[async_trait::async_trait]
impl crate::RetentionStore for SqlStore {
    async fn purge_expired(
        &self,
        what: Expired,
        before: OffsetDateTime,
        limit: u32,
    ) -> Result<u64> {
        let (_, table, key, cond) = what.spec();
        let r = sqlx::query(safe(format!(
            "DELETE FROM {table} WHERE {key} IN \
             (SELECT {key} FROM {table} WHERE {cond} LIMIT $2)"
        )))
        .bind(ms(before))
        .bind(i64::from(limit.max(1)))
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(r.rows_affected())
    }
}
