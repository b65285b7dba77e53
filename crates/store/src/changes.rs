//! The store's change feed: every committed change that can affect an access decision is
//! announced to subscribers (the continuous-access layer), once the transaction committed.
//!
//! - **This process**: a write transaction ([`WriteTx`]) collects the changes it makes (one
//!   per audit entry, plus the unaudited ones it declares: a session revoked, a risk
//!   detection) and hands them to the subscribers right after `COMMIT`, before the store call
//!   returns. A caller that changed something and then asks for a decision always sees it.
//! - **Other instances on PostgreSQL**: the same changes are sent with `pg_notify` inside the
//!   transaction (delivered only if it commits); the feed `LISTEN`s and forwards them.
//! - **Other processes on SQLite** (`trustplane admin …` while the server runs): the feed polls
//!   the audit log.
//!
//! When the feed cannot guarantee delivery (listener lost, poll failing) subscribers are told
//! it is down and must stop relying on it; when it is back they are told it is live and that
//! anything may have changed in between.

use crate::sql::db;
use crate::{AuditQuery, Result};
use sqlx::AnyConnection;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use uuid::Uuid;

/// The PostgreSQL `LISTEN`/`NOTIFY` channel of change events (see `docs/continuous-access.md`).
pub const EVENTS_CHANNEL: &str = "trustplane_events";

/// How often SQLite's audit log is polled for changes made by other processes.
pub const POLL_EVERY: Duration = Duration::from_secs(1);
const POLL_PAGE: i64 = 200;

/// A committed change. It names what changed, never its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// An audited change: the action, target type and target id of its audit entry.
    Audited {
        action: String,
        target_type: String,
        target_id: Option<String>,
    },
    /// One session ended without an audit entry (sign-out, expiry by a newer sign-in).
    Session(Uuid),
    /// Something about one user changed without an audit entry of its own (sessions revoked
    /// with a password change, a risk detection recorded during sign-in, group membership).
    User(Uuid),
    /// A device's compliance or machine risk changed (judged by the server, unaudited).
    Device(Uuid),
    /// Anything may have changed (a malformed notification, a poll that fell behind).
    All,
}

impl Change {
    /// The `pg_notify` payload.
    pub fn payload(&self) -> String {
        match self {
            Change::Audited {
                action,
                target_type,
                target_id,
            } => serde_json::json!({
                "action": action,
                "target_type": target_type,
                "target_id": target_id,
            }),
            Change::Session(id) => serde_json::json!({"event": "session", "id": id}),
            Change::User(id) => serde_json::json!({"event": "user", "id": id}),
            Change::Device(id) => serde_json::json!({"event": "device", "id": id}),
            Change::All => serde_json::json!({"event": "all"}),
        }
        .to_string()
    }

    /// The change a notification payload names. Anything malformed is [`Change::All`]: an
    /// extra invalidation is harmless, a missed one is not.
    pub fn from_payload(payload: &str) -> Change {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(payload) else {
            return Change::All;
        };
        if let Some(action) = v["action"].as_str() {
            return Change::Audited {
                action: action.to_string(),
                target_type: v["target_type"].as_str().unwrap_or_default().to_string(),
                target_id: v["target_id"].as_str().map(str::to_string),
            };
        }
        let id = v["id"].as_str().and_then(|s| Uuid::parse_str(s).ok());
        match (v["event"].as_str(), id) {
            (Some("session"), Some(id)) => Change::Session(id),
            (Some("user"), Some(id)) => Change::User(id),
            (Some("device"), Some(id)) => Change::Device(id),
            _ => Change::All,
        }
    }
}

/// Someone who must hear about changes (the continuous-access caches).
pub trait ChangeListener: Send + Sync {
    /// A change committed. Called on the committing task (local changes) or on the feed's
    /// task (other instances and processes); must not block.
    fn changed(&self, change: &Change);
    /// `true`: changes are delivered from now on (anything may have changed before);
    /// `false`: changes may be missed from now on.
    fn feed_live(&self, live: bool);
}

/// Subscribers and the feed's state. One per store.
#[derive(Default)]
pub struct ChangeFeed {
    listeners: RwLock<Vec<Arc<dyn ChangeListener>>>,
    started: AtomicBool,
}

impl std::fmt::Debug for ChangeFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeFeed").finish_non_exhaustive()
    }
}

impl ChangeFeed {
    pub fn subscribe(&self, l: Arc<dyn ChangeListener>) {
        // A poisoned lock only means a subscriber panicked while subscribing; the list is
        // still a list.
        self.listeners
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(l);
    }

    fn each(&self, f: impl Fn(&dyn ChangeListener)) {
        for l in self
            .listeners
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            f(l.as_ref());
        }
    }

    pub(crate) fn emit(&self, change: &Change) {
        self.each(|l| l.changed(change));
    }

    fn set_live(&self, live: bool) {
        self.each(|l| l.feed_live(live));
    }

    /// Whether the remote source was started (it is started once).
    fn start_once(&self) -> bool {
        !self.started.swap(true, Ordering::SeqCst)
    }
}

/// A write transaction that announces its changes once it committed.
pub(crate) struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    changes: Vec<Change>,
    feed: Arc<ChangeFeed>,
    postgres: bool,
}

impl std::ops::Deref for WriteTx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

impl WriteTx {
    pub(crate) fn new(
        tx: sqlx::Transaction<'static, sqlx::Any>,
        feed: Arc<ChangeFeed>,
        postgres: bool,
    ) -> WriteTx {
        WriteTx {
            tx,
            changes: Vec::new(),
            feed,
            postgres,
        }
    }

    /// Declares a change this transaction makes. On PostgreSQL the notification is sent inside
    /// the transaction, so other instances hear of it when (and only if) it commits.
    pub(crate) async fn announce(&mut self, change: Change) -> Result<()> {
        if self.postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(EVENTS_CHANNEL)
                .bind(change.payload())
                .execute(&mut *self.tx)
                .await
                .map_err(db)?;
        }
        self.changes.push(change);
        Ok(())
    }

    /// Commits, then tells this process's subscribers. They are told also when the commit
    /// failed: its outcome is then unknown, and an extra invalidation is harmless.
    pub(crate) async fn commit(self) -> Result<()> {
        let r = self.tx.commit().await.map_err(db);
        for c in &self.changes {
            self.feed.emit(c);
        }
        r
    }

    pub(crate) async fn rollback(self) -> Result<()> {
        self.tx.rollback().await.map_err(db)
    }
}

/// Starts delivering changes made elsewhere (call once, inside the runtime): PostgreSQL
/// `LISTEN` (every instance sharing the database) or, on SQLite, a poll of the audit log.
pub(crate) fn start(store: &crate::SqlStore, feed: Arc<ChangeFeed>, postgres_url: Option<String>) {
    if !feed.start_once() {
        return;
    }
    match postgres_url {
        Some(url) => {
            tokio::spawn(listen(feed, url));
        }
        None => {
            tokio::spawn(poll(feed, store.clone()));
        }
    }
}

async fn listen(feed: Arc<ChangeFeed>, url: String) {
    loop {
        match sqlx::postgres::PgListener::connect(&url).await {
            Ok(mut l) => match l.listen(EVENTS_CHANNEL).await {
                Ok(()) => {
                    feed.set_live(true);
                    tracing::info!("change feed: listening for change events");
                    // `None` or an error: connection lost, notifications may be missed.
                    while let Ok(Some(n)) = l.try_recv().await {
                        feed.emit(&Change::from_payload(n.payload()));
                    }
                    tracing::warn!("change feed: listener lost; subscribers told to clear");
                }
                Err(e) => tracing::warn!(error = %e, "change feed: LISTEN failed"),
            },
            Err(e) => tracing::warn!(error = %e, "change feed: cannot connect the listener"),
        }
        feed.set_live(false);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn poll(feed: Arc<ChangeFeed>, store: crate::SqlStore) {
    use crate::AuditStore;
    let mut last: Option<i64> = None;
    let mut live = false;
    loop {
        let q = AuditQuery {
            limit: POLL_PAGE,
            ..Default::default()
        };
        match store.list_audit(&q).await {
            Ok(entries) => {
                let newest = entries.first().map_or(0, |e| e.seq);
                if !live {
                    feed.set_live(true);
                    live = true;
                }
                if let Some(seen) = last {
                    let fresh: Vec<_> = entries.iter().filter(|e| e.seq > seen).collect();
                    if fresh.len() as i64 >= POLL_PAGE {
                        feed.emit(&Change::All);
                    } else {
                        for e in fresh.into_iter().rev() {
                            feed.emit(&Change::Audited {
                                action: e.action.clone(),
                                target_type: e.target_type.clone(),
                                target_id: e.target_id.clone(),
                            });
                        }
                    }
                }
                last = Some(newest.max(last.unwrap_or(0)));
            }
            Err(e) => {
                tracing::warn!(error = %e, "change feed: cannot read the audit log");
                if live {
                    feed.set_live(false);
                    live = false;
                }
            }
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_malformed_ones_mean_everything() {
        let u = Uuid::now_v7();
        for c in [
            Change::Session(u),
            Change::User(u),
            Change::Device(u),
            Change::All,
            Change::Audited {
                action: "user.disable".into(),
                target_type: "user".into(),
                target_id: Some(u.to_string()),
            },
            Change::Audited {
                action: "conditional_access.publish".into(),
                target_type: "policy".into(),
                target_id: None,
            },
        ] {
            assert_eq!(Change::from_payload(&c.payload()), c);
        }
        assert_eq!(Change::from_payload("not json"), Change::All);
        assert_eq!(
            Change::from_payload(r#"{"event":"user","id":"bad"}"#),
            Change::All
        );
        assert_eq!(Change::from_payload(r#"{"event":"device"}"#), Change::All);
    }
}
