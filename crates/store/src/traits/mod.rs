//! The persistence interface: one trait per aggregate (grouped in the files beside this one)
//! and [`Store`], their union. [`SqlStore`](crate::SqlStore) implements each of them once,
//! in the file that holds its SQL.

mod apps;
mod credentials;
mod devices;
mod identity;
mod logs;
mod policy;
mod sessions;

pub use apps::{ApplicationStore, LabelStore, OidcStore};
pub use credentials::{BannedTerm, BannedTermStore, CodeStore, MfaStore, TapStore, WebauthnStore};
pub use devices::DeviceStore;
pub use identity::{IdentityStore, LoginRecord, UserQuery};
pub use logs::{AuditQuery, AuditStore, SignInLogStore, SignInQuery};
pub use policy::{AccessPolicyStore, RiskStore, SettingsStore, TermsStore};
pub use sessions::{FlowStore, SessionStore, SessionWithUser};

use crate::{Backend, ChangeListener, Expired, LimitStore, Result};
use async_trait::async_trait;
use time::OffsetDateTime;

/// The persistence interface of trustplane: one trait per aggregate, and [`Store`], which
/// is all of them. Every method that changes administrative state takes the audit entry to
/// append in the same transaction, and every committed change reaches the change feed
/// (see `changes.rs`).
#[async_trait]
pub trait Store:
    IdentityStore
    + SessionStore
    + FlowStore
    + RetentionStore
    + SignInLogStore
    + AuditStore
    + BannedTermStore
    + MfaStore
    + WebauthnStore
    + TapStore
    + CodeStore
    + SettingsStore
    + AccessPolicyStore
    + TermsStore
    + RiskStore
    + ApplicationStore
    + LabelStore
    + OidcStore
    + DeviceStore
    + Send
    + Sync
    + 'static
{
    fn backend(&self) -> Backend;
    /// Sign-in limits (failure counters, flow attempts, known browsers, pending rows).
    fn limits(&self) -> &dyn LimitStore;
    /// A trivial round-trip, for readiness checks.
    async fn ping(&self) -> Result<()>;
    /// A small committed write (a heartbeat row), for readiness: fails when the database
    /// cannot commit (full disk, read-only file system). Defaults to [`Store::ping`].
    async fn probe_write(&self) -> Result<()> {
        self.ping().await
    }
    /// Subscribes to committed changes (this process's own, other instances' and processes').
    fn subscribe_changes(&self, l: std::sync::Arc<dyn ChangeListener>);
    /// Starts delivering changes made elsewhere (once; inside the runtime).
    fn start_change_feed(&self);
}

/// Removal of expired rows in small batches.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Deletes at most `limit` rows of `what` that expired (were revoked, were written, for
    /// the sign-in log) before `before`; the number deleted. Retention calls it in small
    /// batches.
    async fn purge_expired(&self, what: Expired, before: OffsetDateTime, limit: u32)
    -> Result<u64>;
}
