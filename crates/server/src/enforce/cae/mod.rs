//! Continuous access evaluation (CAE) for forward-auth: a bounded cache of evaluated
//! decisions, invalidated by change events (session revoked, user disabled, policy changed,
//! …). See `docs/continuous-access.md`.
//!
//! Correctness rests on one rule: a cached entry remembers the event sequence number read
//! *before* its signals were loaded from the store, and every event records the sequence
//! number it was applied at for what it touches (a session, a user, everything). An entry is
//! served only if no event touching it was applied after its signals were read. Events are
//! applied after the change committed (the store's change feed, see [`feed`]: this
//! process's changes right after `COMMIT`, other instances' through PostgreSQL
//! `LISTEN`/`NOTIFY`, other processes' on SQLite by polling the audit log), so an entry can
//! never outlive a change it did not see.

pub mod feed;

use crate::enforce::policy::{Loaded, PolicyCache};
use axum::http::HeaderValue;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use trustplane_core::access::AccessContext;
use trustplane_core::session::Session;
use trustplane_store::Route;
use uuid::Uuid;

/// Safety net: an entry is re-evaluated from the store at least this often.
pub const ENTRY_TTL: Duration = Duration::from_secs(60);
/// Entries kept at most (about 1 KiB each).
pub const MAX_ENTRIES: usize = 100_000;
/// An assertion is re-signed when it has less than this left.
pub const ASSERTION_MIN_LEFT: i64 = 30;
const SHARDS: usize = 16;

/// What a change invalidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// One session (revoked, signed out).
    Session(Uuid),
    /// Everything about one user: disabled, deleted, password changed or reset, MFA method
    /// removed or added, risk raised or dismissed, roles or groups changed, sessions revoked.
    User(Uuid),
    /// The conditional access policy set changed (new version, restore).
    Policy,
    /// Applications or routes changed.
    Routes,
    /// A device became non-compliant. Entries do not carry device ids yet (devices do not
    /// exist yet), so this invalidates every entry.
    Device(String),
    /// Anything else, or events may have been missed (listener reconnect): everything.
    All,
}

/// Audit actions that change nothing forward-auth depends on.
const NO_EFFECT: &[&str] = &[
    "token.create",
    "token.revoke",
    "password.banned_terms.add",
    "password.banned_terms.remove",
    "tap.issue",
    "tap.revoke",
    "mfa.recovery_codes.issue",
    "mfa.method.rename",
    "system.start",
    "user.create",
    "user.bootstrap",
    "group.create",
    "user.password.reset.refused",
    "signing_key.create",
    "terms_of_use.create",
];

/// The event an audited change implies (`None`: nothing forward-auth depends on). Unknown
/// actions invalidate everything: a new kind of change must never be silently ignored.
pub fn from_audit(action: &str, target_type: &str, target_id: Option<&str>) -> Option<Event> {
    if NO_EFFECT.contains(&action) {
        return None;
    }
    let id = target_id.and_then(|t| Uuid::parse_str(t).ok());
    if action.starts_with("conditional_access.") {
        return Some(Event::Policy);
    }
    if action.starts_with("application.") {
        return Some(Event::Routes);
    }
    if action.starts_with("device.") {
        return Some(Event::Device(target_id.unwrap_or_default().to_string()));
    }
    match (target_type, id) {
        ("session", Some(id)) => Some(Event::Session(id)),
        ("user", Some(id)) => Some(Event::User(id)),
        _ => Some(Event::All),
    }
}

/// The resource part of a cache key: the application id, and the route's sensitivity label
/// when it has one (a label changes the conditional access target).
pub fn resource_key(app_id: &str, route_label: Option<&str>) -> String {
    match route_label {
        Some(l) => format!("{app_id}\u{1f}{l}"),
        None => app_id.to_string(),
    }
}

/// A decision cache entry: an allowed request's identity and assertion, and the signals it
/// was decided on (re-evaluated against the policy set in force and the current time on
/// every hit, in memory).
pub struct Entry {
    pub seq: u64,
    pub created: Instant,
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub app_id: String,
    /// The cache key's resource: the application, plus the route's sensitivity label when it
    /// has one (two routes of one application may be decided differently).
    pub resource: String,
    pub policy: Arc<Loaded>,
    pub ip: Option<std::net::IpAddr>,
    pub ua_hash: u64,
    /// The client certificate thumbprint the assertion is bound to (base64url SHA-256).
    pub cert: Option<String>,
    /// The assertion issuer (public base URL) it was decided for.
    pub iss: String,
    pub username: String,
    pub amr: Vec<&'static str>,
    pub ctx: AccessContext,
    pub session: Mutex<Session>,
    pub headers: IdentityHeaders,
    pub assertion: Mutex<(HeaderValue, i64)>,
}

/// Pre-computed identity header values.
#[derive(Clone)]
pub struct IdentityHeaders {
    pub user: HeaderValue,
    pub email: HeaderValue,
    pub groups: HeaderValue,
    pub device: HeaderValue,
}

#[derive(Default)]
struct Marks {
    all: u64,
    users: HashMap<Uuid, (u64, Instant)>,
    sessions: HashMap<Uuid, (u64, Instant)>,
    last_prune: Option<Instant>,
}

type Key = (String, String);

/// Routes by host.
pub type RouteTable = HashMap<String, Vec<Route>>;

/// An unsealed signing key: (kid, key).
pub type Signer = (String, jsonwebtoken::EncodingKey);

/// The caches and the event state of one instance.
pub struct Cae {
    seq: AtomicU64,
    marks: Mutex<Marks>,
    /// Whether events are being received (PostgreSQL listener connected, or the SQLite poller
    /// working). While not live nothing is served from or added to the caches.
    live: AtomicBool,
    shards: Vec<Mutex<HashMap<Key, Arc<Entry>>>>,
    routes: Mutex<Option<(u64, Arc<RouteTable>)>>,
    pub policies: Arc<PolicyCache>,
    /// The unsealed assertion signing key, re-read from the store every few minutes.
    pub signer: Mutex<Option<(Instant, Arc<Signer>)>>,
}

fn shard_of(k: &Key) -> usize {
    use std::hash::{Hash, Hasher};
    let mut f = std::hash::DefaultHasher::new();
    k.0.hash(&mut f);
    (f.finish() as usize) % SHARDS
}

pub fn ua_hash(ua: Option<&str>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut f = std::hash::DefaultHasher::new();
    ua.hash(&mut f);
    f.finish()
}

impl Cae {
    pub fn new(policies: Arc<PolicyCache>, live: bool) -> Cae {
        Cae {
            seq: AtomicU64::new(1),
            marks: Mutex::default(),
            live: AtomicBool::new(live),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            routes: Mutex::new(None),
            policies,
            signer: Mutex::new(None),
        }
    }

    /// The sequence number to remember before reading signals from the store.
    pub fn snapshot(&self) -> u64 {
        self.seq.load(Ordering::SeqCst)
    }

    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::SeqCst)
    }

    /// Events may be missed from now on (listener lost): clear everything, stop caching.
    pub fn set_down(&self) {
        self.live.store(false, Ordering::SeqCst);
        self.apply(&Event::All);
    }

    /// Events flow again: clear everything (some may have been missed) and cache again.
    pub fn set_live(&self) {
        self.apply(&Event::All);
        self.live.store(true, Ordering::SeqCst);
    }

    /// Applies an event to this instance's caches.
    pub fn apply(&self, e: &Event) {
        let s = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let now = Instant::now();
        metrics::counter!("trustplane_cae_events_total").increment(1);
        {
            // A poisoned lock only means another thread panicked while holding it; the
            // marks stay meaningful (monotonic numbers), so keep using them.
            let mut m = self.marks.lock().unwrap_or_else(|p| p.into_inner());
            match e {
                Event::Session(id) => {
                    m.sessions.insert(*id, (s, now));
                }
                Event::User(id) => {
                    m.users.insert(*id, (s, now));
                }
                Event::Policy | Event::Routes | Event::Device(_) | Event::All => m.all = s,
            }
            let prune = m
                .last_prune
                .is_none_or(|t| now.duration_since(t) > Duration::from_secs(10));
            if prune {
                let keep = ENTRY_TTL + Duration::from_secs(10);
                m.users.retain(|_, (_, t)| now.duration_since(*t) < keep);
                m.sessions.retain(|_, (_, t)| now.duration_since(*t) < keep);
                m.last_prune = Some(now);
            }
        }
        match e {
            Event::Policy | Event::All => self.policies.invalidate(),
            _ => {}
        }
        if matches!(e, Event::Routes | Event::All)
            && let Ok(mut r) = self.routes.lock()
        {
            *r = None;
        }
        if matches!(
            e,
            Event::Policy | Event::Routes | Event::Device(_) | Event::All
        ) {
            for sh in &self.shards {
                if let Ok(mut m) = sh.lock() {
                    m.clear();
                }
            }
        }
    }

    /// Whether an entry taken at `seq` for this user and session is still current.
    fn current(&self, seq: u64, user: Uuid, session: Uuid) -> bool {
        let Ok(m) = self.marks.lock() else {
            return false;
        };
        seq >= m.all
            && m.users.get(&user).is_none_or(|(s, _)| seq >= *s)
            && m.sessions.get(&session).is_none_or(|(s, _)| seq >= *s)
    }

    /// A live entry for this session cookie digest and resource (see [`resource_key`]), or
    /// `None`.
    pub fn get(&self, digest: &str, resource: &str) -> Option<Arc<Entry>> {
        if !self.is_live() {
            return None;
        }
        let key = (digest.to_string(), resource.to_string());
        let sh = self.shards.get(shard_of(&key))?;
        let e = sh.lock().ok()?.get(&key).cloned()?;
        if e.created.elapsed() >= ENTRY_TTL || !self.current(e.seq, e.user_id, e.session_id) {
            if let Ok(mut m) = sh.lock() {
                m.remove(&key);
            }
            return None;
        }
        Some(e)
    }

    /// Adds an entry whose signals were read after `entry.seq` was taken.
    pub fn insert(&self, digest: &str, entry: Entry) {
        if !self.is_live() || !self.current(entry.seq, entry.user_id, entry.session_id) {
            return;
        }
        let key = (digest.to_string(), entry.resource.clone());
        let Some(sh) = self.shards.get(shard_of(&key)) else {
            return;
        };
        let Ok(mut m) = sh.lock() else {
            return;
        };
        if m.len() >= MAX_ENTRIES / SHARDS {
            m.retain(|_, e| e.created.elapsed() < ENTRY_TTL);
            if m.len() >= MAX_ENTRIES / SHARDS {
                // Still full of live entries: drop an eighth (arbitrary ones).
                let drop: Vec<Key> = m.keys().take(m.len() / 8 + 1).cloned().collect();
                for k in drop {
                    m.remove(&k);
                }
            }
        }
        m.insert(key, Arc::new(entry));
    }

    /// Drops one entry (its decision is no longer allow).
    pub fn remove(&self, digest: &str, resource: &str) {
        let key = (digest.to_string(), resource.to_string());
        if let Some(sh) = self.shards.get(shard_of(&key))
            && let Ok(mut m) = sh.lock()
        {
            m.remove(&key);
        }
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|m| m.len()).unwrap_or(0))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The routes of every host, loaded once per routes event.
    pub async fn routes(
        &self,
        store: &dyn trustplane_store::Store,
    ) -> Result<Arc<RouteTable>, crate::edge::error::AppError> {
        let seq = self.snapshot();
        if self.is_live()
            && let Ok(r) = self.routes.lock()
            && let Some((_, map)) = r.as_ref()
        {
            return Ok(map.clone());
        }
        let mut map: RouteTable = HashMap::new();
        for r in store.list_routes(None).await? {
            map.entry(r.host.clone()).or_default().push(r);
        }
        let map = Arc::new(map);
        let all = self.marks.lock().map(|m| m.all).unwrap_or(u64::MAX);
        if self.is_live()
            && seq >= all
            && let Ok(mut r) = self.routes.lock()
        {
            *r = Some((seq, map.clone()));
        }
        Ok(map)
    }
}

/// The route for `host` and `path` from the cached route table: exact host first, then the
/// host without its port (as `applications::route_for`).
pub fn route_in(map: &HashMap<String, Vec<Route>>, host: &str, path: &str) -> Option<Route> {
    let find = |h: &str| {
        map.get(h).and_then(|rs| {
            rs.iter()
                .filter(|r| trustplane_store::prefix_covers(&r.path_prefix, path))
                .max_by_key(|r| r.path_prefix.len())
                .cloned()
        })
    };
    find(host).or_else(|| host.rsplit_once(':').and_then(|(bare, _)| find(bare)))
}

/// Seconds since the epoch.
pub fn unix(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

#[cfg(test)]
mod tests;
