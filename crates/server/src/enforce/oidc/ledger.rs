//! Write-behind for access tokens. An access token is a self-contained JWT: a relying party
//! that verifies it locally never asks us. What introspection and revocation need (its row)
//! is recorded in memory when the token is issued and written to the database in batches
//! (one transaction, one commit per batch, by a background task), instead of one insert and
//! one fsync per token on the request path.
//!
//! Consistency: a lookup sees the pending rows first; every revocation writes the pending
//! rows before it updates the database ([`TokenLedger::flush`]), so a revocation never
//! misses a token issued before it.
//!
//! Crash semantics: a token issued less than [`FLUSH_EVERY`] before a crash (or a failed
//! write) has no row afterwards: introspection answers `active: false` for it and the
//! userinfo endpoint refuses it (fail closed); a relying party that verifies the JWT
//! locally accepts it until it expires (at most `ACCESS_SECONDS`), exactly as it would any
//! access token it holds. Refresh tokens, codes and device codes are written synchronously.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use trustplane_store::{OidcToken, Store, StoreError};

/// The longest a recorded token waits before it is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// A batch is written as soon as this many tokens are waiting.
pub const BATCH: usize = 512;
/// Past this many unwritten tokens (the database is slow or down), tokens are written on the
/// request path again: memory stays bounded.
pub const MAX_PENDING: usize = 50_000;

#[derive(Default)]
struct Maps {
    /// Recorded, not yet handed to a write.
    pending: HashMap<String, OidcToken>,
    /// Being written now.
    inflight: HashMap<String, OidcToken>,
}

#[derive(Default)]
pub struct TokenLedger {
    maps: Mutex<Maps>,
    /// One write at a time (the flusher, a revocation or shutdown).
    writing: tokio::sync::Mutex<()>,
    wake: Arc<tokio::sync::Notify>,
    started: AtomicBool,
}

impl TokenLedger {
    /// Records an issued access token: in memory now, in the database within
    /// [`FLUSH_EVERY`] (or now, when too many are waiting).
    pub async fn record(
        self: &Arc<Self>,
        store: &Arc<dyn Store>,
        t: OidcToken,
    ) -> Result<(), StoreError> {
        let recorded = match self.maps.lock() {
            Ok(mut m) if m.pending.len() + m.inflight.len() < MAX_PENDING => {
                m.pending.insert(t.hash.clone(), t);
                Ok(m.pending.len())
            }
            // Full (or a poisoned lock): written on the request path.
            _ => Err(t),
        };
        let waiting = match recorded {
            Ok(n) => n,
            Err(t) => return store.create_oidc_token(&t).await,
        };
        self.start(store);
        if waiting >= BATCH {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// The token with this digest: a recorded one not yet written, else the stored one.
    pub async fn lookup(
        &self,
        store: &dyn Store,
        hash: &str,
    ) -> Result<Option<OidcToken>, StoreError> {
        let recorded = match self.maps.lock() {
            Ok(m) => m
                .pending
                .get(hash)
                .or_else(|| m.inflight.get(hash))
                .cloned(),
            Err(_) => None,
        };
        if recorded.is_some() {
            return Ok(recorded);
        }
        store.oidc_token(hash).await
    }

    /// How many tokens wait to be written.
    pub fn waiting(&self) -> usize {
        self.maps
            .lock()
            .map_or(0, |m| m.pending.len() + m.inflight.len())
    }

    /// Writes every recorded token now (before a revocation, and at shutdown). A failed
    /// write keeps the tokens for the next attempt.
    pub async fn flush(&self, store: &dyn Store) -> Result<(), StoreError> {
        let _one = self.writing.lock().await;
        let batch: Vec<OidcToken> = match self.maps.lock() {
            Ok(mut m) => {
                let taken = std::mem::take(&mut m.pending);
                m.inflight.extend(taken);
                m.inflight.values().cloned().collect()
            }
            Err(_) => return Ok(()),
        };
        if batch.is_empty() {
            return Ok(());
        }
        let r = store.create_oidc_tokens(&batch).await;
        if r.is_ok()
            && let Ok(mut m) = self.maps.lock()
        {
            m.inflight.clear();
        }
        r
    }

    /// Starts the background writer once (it ends when the ledger is dropped).
    fn start(self: &Arc<Self>, store: &Arc<dyn Store>) {
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak: Weak<Self> = Arc::downgrade(self);
        let wake = self.wake.clone();
        let store = store.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(FLUSH_EVERY) => {}
                }
                let Some(ledger) = weak.upgrade() else {
                    return;
                };
                if let Err(e) = ledger.flush(store.as_ref()).await {
                    tracing::warn!(code = e.code(), error = %e, waiting = ledger.waiting(),
                        "cannot write issued access tokens; retrying");
                }
            }
        });
    }
}
