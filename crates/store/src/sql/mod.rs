//! [`SqlStore`]: the [`Store`] implementation shared by SQLite and PostgreSQL.
//!
//! This file holds the store, its write transactions and the [`Store`] methods; the rest of
//! the foundation tables' SQL is split by responsibility:
//! - `connect.rs`: opening the pool and applying the migrations;
//! - `errors.rs`: mapping sqlx errors to [`StoreError`]s;
//! - `query.rs`: SQL assembly (`safe`, `Where`) and the text handling the queries share;
//! - `audit.rs`: the audit log, and the audited write every change goes through
//!   (`append_in`, `commit_if_changed`, `audited_change!`);
//! - `identity.rs`: users, groups, roles and the bootstrap token;
//! - `sessions.rs`: sessions and API tokens;
//! - `sign_ins.rs`: the sign-in log;
//! - `banned_terms.rs`: organisation-specific banned password terms.
//!
//! The other aggregates keep their SQL in their own files beside this module.

mod audit;
mod banned_terms;
mod connect;
mod errors;
mod identity;
mod query;
mod sessions;
mod sign_ins;

pub(crate) use audit::{append_in, audited_change, commit_if_changed};
pub(crate) use connect::POSTGRES_MIGRATIONS;
pub(crate) use errors::{conflict, db};
pub(crate) use query::{has_nul, like_pattern, safe};

use crate::chain::AuditKeying;
use crate::changes::{ChangeFeed, ChangeListener, WriteTx};
use crate::{Backend, LimitStore, Result, Store, StoreError};
use async_trait::async_trait;
use query::now_ms;
use sqlx::AnyPool;
use std::sync::Arc;

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

impl SqlStore {
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
}

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
