//! The published signing keys, read from the database at most every [`TTL`] instead of on
//! every signature and every verification; parsed verification keys kept by kid.
//!
//! The cache is dropped at once when this process creates or retires a key
//! ([`invalidate`]), and is never used past the next instant at which the key choice changes
//! on its own (a new key becoming old enough to sign, a retired key leaving the JWKS). A
//! change made by another process (the CLI, another instance) is seen within [`TTL`]; a new
//! key only signs after `PUBLISH_AHEAD` anyway, and an unknown kid presented for
//! verification re-reads the keys (at most once per [`MISS_REREAD`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};
use trustplane_store::{SigningKey, Store, StoreError};

/// How long a read of the published keys is used.
pub const TTL: Duration = Duration::seconds(5);
/// An unknown kid re-reads the keys at most this often.
pub const MISS_REREAD: Duration = Duration::seconds(1);

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Drops every cached key list (a key was created or retired here).
pub fn invalidate() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// One read of the published keys.
pub struct Snapshot {
    pub keys: Vec<SigningKey>,
    /// Parsed public keys by kid: (alg, key).
    decoding: HashMap<String, (String, Arc<jsonwebtoken::DecodingKey>)>,
    read_at: OffsetDateTime,
    valid_until: OffsetDateTime,
    generation: u64,
}

impl Snapshot {
    fn new(keys: Vec<SigningKey>, now: OffsetDateTime, generation: u64) -> Snapshot {
        // The choice of the signing key changes by itself when a key becomes old enough to
        // sign or when a retired one leaves: never use the read past the next such instant.
        let mut valid_until = now + TTL;
        for k in &keys {
            let ready = k.created_at + crate::platform::keys::PUBLISH_AHEAD;
            if ready > now {
                valid_until = valid_until.min(ready);
            }
            if let Some(r) = k.retired_at
                && r > now
            {
                valid_until = valid_until.min(r);
            }
        }
        let decoding = keys
            .iter()
            .filter_map(|k| {
                let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_str(&k.public_jwk).ok()?;
                let dk = jsonwebtoken::DecodingKey::from_jwk(&jwk).ok()?;
                Some((k.kid.clone(), (k.alg.clone(), Arc::new(dk))))
            })
            .collect();
        Snapshot {
            keys,
            decoding,
            read_at: now,
            valid_until,
            generation,
        }
    }

    /// The public key `kid` of `alg`, if published at `now`.
    pub fn decoding_key(
        &self,
        kid: &str,
        alg: &str,
        now: OffsetDateTime,
    ) -> Option<Arc<jsonwebtoken::DecodingKey>> {
        let key = self.keys.iter().find(|k| k.kid == kid && k.alg == alg)?;
        if key.retired_at.is_some_and(|r| r <= now) {
            return None;
        }
        self.decoding
            .get(kid)
            .filter(|(a, _)| a == alg)
            .map(|(_, k)| k.clone())
    }
}

#[derive(Default)]
pub struct KeyRing {
    current: Mutex<Option<Arc<Snapshot>>>,
}

impl KeyRing {
    /// The published keys at `now` (cached).
    pub async fn published(
        &self,
        store: &dyn Store,
        now: OffsetDateTime,
    ) -> Result<Arc<Snapshot>, StoreError> {
        let generation = GENERATION.load(Ordering::Acquire);
        let cached = match self.current.lock() {
            Ok(c) => c.clone(),
            Err(_) => None,
        };
        if let Some(s) = cached
            && s.generation == generation
            && now >= s.read_at
            && now < s.valid_until
        {
            return Ok(s);
        }
        self.reread(store, now, generation).await
    }

    /// The published keys, re-read when `kid` is unknown to the cached read and that read
    /// is older than [`MISS_REREAD`].
    pub async fn published_with(
        &self,
        store: &dyn Store,
        now: OffsetDateTime,
        kid: &str,
    ) -> Result<Arc<Snapshot>, StoreError> {
        let s = self.published(store, now).await?;
        if s.keys.iter().any(|k| k.kid == kid) || now - s.read_at < MISS_REREAD {
            return Ok(s);
        }
        self.reread(store, now, GENERATION.load(Ordering::Acquire))
            .await
    }

    async fn reread(
        &self,
        store: &dyn Store,
        now: OffsetDateTime,
        generation: u64,
    ) -> Result<Arc<Snapshot>, StoreError> {
        let keys = store.published_signing_keys(now).await?;
        let s = Arc::new(Snapshot::new(keys, now, generation));
        if let Ok(mut c) = self.current.lock() {
            *c = Some(s.clone());
        }
        Ok(s)
    }
}
