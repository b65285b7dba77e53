//! Registered clients, read from the database at most once per [`TTL`] per client at the
//! token, introspection and revocation endpoints (one database round trip less per request).
//!
//! Every change to a client (or an application) drops the cache at once: the cache listens to
//! the store's change feed ([`Invalidator`]), which delivers this process's changes right
//! after they committed, other instances' through PostgreSQL `NOTIFY`, and other processes'
//! on SQLite within the feed's poll interval; [`TTL`] bounds the rest (a feed that is down).
//! Unknown client ids are never cached (a spray of made-up ids grows nothing).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use trustplane_store::{OidcClient, Store, StoreError};

/// How long a read client is used.
pub const TTL: Duration = Duration::from_secs(1);
/// At most this many clients are cached (then the cache starts over).
const MAX: usize = 10_000;

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Drops every cached client (a client or an application changed here).
pub fn invalidate() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// Listens to the store's change feed and drops the cache when a client or an application
/// changed (or anything may have).
pub struct Invalidator;

impl trustplane_store::ChangeListener for Invalidator {
    fn changed(&self, change: &trustplane_store::Change) {
        use trustplane_store::Change;
        let touches_clients = match change {
            Change::Audited {
                action,
                target_type,
                ..
            } => {
                matches!(target_type.as_str(), "oidc_client" | "application")
                    || action.starts_with("oidc_client.")
                    || action.starts_with("application.")
            }
            Change::All => true,
            Change::Session(_) | Change::User(_) | Change::Device(_) => false,
        };
        if touches_clients {
            invalidate();
        }
    }

    fn feed_live(&self, _live: bool) {
        invalidate();
    }
}

#[derive(Default)]
pub struct ClientCache {
    map: Mutex<HashMap<String, (OidcClient, Instant, u64)>>,
}

impl ClientCache {
    /// The client `id`, from the cache when read less than [`TTL`] ago.
    pub async fn get(&self, store: &dyn Store, id: &str) -> Result<Option<OidcClient>, StoreError> {
        let generation = GENERATION.load(Ordering::Acquire);
        let hit = match self.map.lock() {
            Ok(m) => m
                .get(id)
                .filter(|(_, at, g)| *g == generation && at.elapsed() < TTL)
                .map(|(c, _, _)| c.clone()),
            Err(_) => None,
        };
        if hit.is_some() {
            return Ok(hit);
        }
        let read = store.get_oidc_client(id).await?;
        if let Some(c) = &read
            && let Ok(mut m) = self.map.lock()
        {
            if m.len() >= MAX {
                m.clear();
            }
            m.insert(id.to_string(), (c.clone(), Instant::now(), generation));
        }
        Ok(read)
    }
}
