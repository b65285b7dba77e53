//! Persistence behind the [`Store`] trait.
//!
//! One implementation, [`SqlStore`], runs on sqlx's runtime-selected `Any` driver, so SQLite
//! (the embedded default) and PostgreSQL share every query: the schema keeps both dialects in
//! step (text UUIDs, integer unix-millisecond times, `$n` placeholders, `ON CONFLICT`,
//! `RETURNING`), and there are no `if sqlite { … }` branches. Each backend has its own migration
//! folder. Every multi-row change runs in one transaction together with its audit entry.

mod access;
mod apps;
mod audit_archive;
mod chain;
pub mod changes;
mod codes;
mod devices;
mod health;
mod labels;
mod limits;
mod mfa;
mod oidc;
mod retention;
mod risk;
mod rows;
mod sql;
mod tap;
mod terms;
pub mod testing;
mod traits;
mod webauthn;

pub use access::PolicyVersion;
pub use apps::{Application, Route, SigningKey, longest_match, prefix_covers};
pub use audit_archive::ArchivePoint;
pub use changes::{Change, ChangeFeed, ChangeListener, EVENTS_CHANNEL};
pub use codes::{LiveCode, NewCode};
pub use devices::{DeviceAuthority, DeviceQuery};
pub use labels::{AuthenticationContext, SensitivityLabel};
pub use limits::{LimitStore, PendingKind};
pub use oidc::{
    CodeTake, DeviceCode, DeviceDecision, OidcClient, OidcCode, OidcRequest, OidcToken,
};
pub use retention::Expired;
pub use sql::SqlStore;
pub use traits::{
    AccessPolicyStore, ApplicationStore, AuditQuery, AuditStore, BannedTerm, BannedTermStore,
    CodeStore, DeviceStore, FlowStore, IdentityStore, LabelStore, LoginRecord, MfaStore, OidcStore,
    RetentionStore, RiskStore, SessionStore, SessionWithUser, SettingsStore, SignInLogStore,
    SignInQuery, Store, TapStore, TermsStore, UserQuery, WebauthnStore,
};

/// Every store trait, for `use trustplane_store::prelude::*;` where store methods are called.
pub mod prelude {
    pub use crate::{
        AccessPolicyStore, ApplicationStore, AuditStore, BannedTermStore, CodeStore, DeviceStore,
        FlowStore, IdentityStore, LabelStore, MfaStore, OidcStore, RetentionStore, RiskStore,
        SessionStore, SettingsStore, SignInLogStore, Store, TapStore, TermsStore, WebauthnStore,
    };
}
pub use terms::TermsOfUse;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    InUse(&'static str),
    #[error(
        "the database was migrated by a newer trustplane (schema version {0} is unknown to this build); refusing to start"
    )]
    NewerSchema(i64),
    #[error("unsupported database URL `{0}`: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(String),
}

impl StoreError {
    /// Stable machine code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Conflict(_) => "conflict",
            StoreError::NotFound(_) => "not_found",
            StoreError::InUse(_) => "in_use",
            StoreError::NewerSchema(_) => "newer_schema",
            StoreError::UnsupportedUrl(_) => "unsupported_database_url",
            StoreError::Unavailable(_) => "database_unavailable",
            StoreError::Corrupt(_) => "corrupt_data",
            StoreError::Database(_) => "database_error",
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Opens a store for `url` (`sqlite://PATH` or `postgres://…`), creating the SQLite file if
/// needed, and applies pending migrations.
pub async fn open(url: &str) -> Result<SqlStore> {
    SqlStore::connect(url).await
}
