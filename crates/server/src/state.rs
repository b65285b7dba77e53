//! Shared application state and the small request-edge services: client address, CSRF,
//! rate limits.

use crate::edge::error::AppError;
use crate::platform::config::Config;
use crate::platform::secrets::{MasterKey, random_token};
use axum::http::{HeaderMap, HeaderValue};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use metrics_exporter_prometheus::PrometheusHandle;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use trustplane_core::credential::{HashParams, hash_password};
use trustplane_core::session::SessionPolicy;
use trustplane_store::Store;

pub use crate::edge::csrf::HEADER as CSRF_HEADER;

/// User codes one user may try on `/device` per minute (codes are 8 letters of 20, valid 10
/// minutes: guessing someone else's is out of reach at this rate).
const DEVICE_CODES_PER_MINUTE: NonZeroU32 = NonZeroU32::MIN.saturating_add(9);

#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

pub struct Inner {
    pub store: Arc<dyn Store>,
    pub cfg: Config,
    pub csrf_key: [u8; 32],
    /// How cookies are named and scoped here (`__Host-` on https deployments).
    pub cookies: crate::edge::cookies::CookiePolicy,
    /// The `Strict-Transport-Security` value (https deployments).
    pub hsts: Option<HeaderValue>,
    /// The SHA-256 of the token `/metrics` requires, when one is configured.
    pub metrics_token: Option<[u8; 32]>,
    /// The SHA-256 of `forward_auth.shared_secret`, when one is configured.
    pub forward_auth_secret: Option<[u8; 32]>,
    /// Seals second-factor secrets at rest.
    pub mfa_key: [u8; 32],
    /// Seals assertion signing keys at rest.
    pub signing_key: [u8; 32],
    /// Keys the hashes of one-time codes sent by email.
    pub code_key: [u8; 32],
    /// Seals the device CA's private key at rest.
    pub device_ca_seal: [u8; 32],
    /// Device proofs (`jti`) seen within their validity window: replays are refused.
    pub device_proofs: crate::signals::device_trust::proof::ReplayCache,
    /// EDR event signatures seen within their validity window: replays are refused.
    pub edr_signatures: crate::signals::device_trust::edr::SeenSignatures,
    pub session_policy: SessionPolicy,
    pub hash_params: HashParams,
    /// A hash of a random password with current parameters: verified for unknown users so
    /// that their sign-in takes as long as a real one.
    pub dummy_hash: String,
    /// The password-hashing workers (fixed number, reused Argon2 memory, bounded queue).
    pub hash_pool: Arc<crate::platform::hashpool::HashPool>,
    /// Refused sign-in attempts counted in memory, logged as one row per source and window.
    pub refusals: crate::signin::refusals::Refusals,
    /// The retention job's last run.
    pub retention: crate::ops::retention::Status,
    pub ip_limiter: DefaultKeyedRateLimiter<IpAddr>,
    pub account_failures: FailureCounter,
    /// Unauthenticated requests that write a row, per IP (`crate::signin::limits::unauthenticated`).
    pub unauthenticated_limiter: DefaultKeyedRateLimiter<IpAddr>,
    /// What the sign-in limits did (codes checked; dummy checks for unknown accounts).
    pub limits_probe: crate::signin::limits::Probe,
    /// A sealed random secret for the dummy code check of unknown accounts.
    pub limits_dummy_sealed: String,
    pub metrics: Option<PrometheusHandle>,
    /// The breached-password filter in use (hot-reloaded after an import).
    pub breach: Arc<crate::signals::breach::BreachSlot>,
    /// Live password checks (strength meter) per user or flow, per minute.
    pub check_limiter: DefaultKeyedRateLimiter<String>,
    /// Device-grant user codes a signed-in user may try on `/device`, per minute.
    pub device_code_limiter: DefaultKeyedRateLimiter<uuid::Uuid>,
    /// Outgoing email (outbox or SMTP).
    pub mailer: Option<Arc<crate::platform::mail::Mailer>>,
    /// The compiled organisation banned list.
    pub banned_cache: Arc<crate::ops::BannedCache>,
    /// The WebAuthn relying party (none when the state was built without one).
    pub webauthn: Option<Arc<webauthn_rs::Webauthn>>,
    /// The conditional access policy set in force (compiled once per stored version).
    pub policies: Arc<crate::enforce::policy::PolicyCache>,
    /// Continuous access evaluation: the forward-auth decision cache and its events.
    pub cae: Arc<crate::enforce::cae::Cae>,
    /// IP geolocation for country conditions (none: countries are unknown).
    pub geoip: Option<Arc<maxminddb::Reader<Vec<u8>>>>,
    /// The one clock (system time in production; tests drive a manual clock).
    pub clock: Arc<dyn crate::platform::clock::Clock>,
    /// `/readyz`'s rate-limited database write probe.
    pub write_probe: crate::ops::readiness::WriteProbe,
    /// The published signing keys, read every few seconds rather than per signature.
    pub keyring: crate::platform::keyring::KeyRing,
    /// Issued access tokens waiting to be written (write-behind, in batches).
    pub token_ledger: Arc<crate::enforce::oidc::ledger::TokenLedger>,
    /// Registered OIDC clients, re-read at most every second (client authentication).
    pub oidc_clients: crate::enforce::oidc::client_cache::ClientCache,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        cfg: Config,
        key: &MasterKey,
        metrics: Option<PrometheusHandle>,
        breach: Arc<crate::signals::breach::BreachSlot>,
    ) -> Result<AppState, AppError> {
        crate::platform::jose::install();
        let hash_params = cfg.password_hash;
        let dummy_hash = hash_password(
            &random_token(),
            &hash_params,
            &crate::platform::secrets::random_salt(),
        )
        .map_err(|e| {
            tracing::error!(error = %e, "cannot compute the dummy hash");
            AppError::internal()
        })?;
        let per_ip =
            NonZeroU32::new(cfg.rate_limit.sign_in_per_ip_per_minute).unwrap_or(NonZeroU32::MIN);
        let policies = Arc::new(crate::enforce::policy::PolicyCache::default());
        // Not live (nothing cached) until the store's change feed runs
        // (`Store::start_change_feed`).
        let cae = Arc::new(crate::enforce::cae::Cae::new(policies.clone(), false));
        store.subscribe_changes(cae.clone());
        store.subscribe_changes(std::sync::Arc::new(
            crate::enforce::oidc::client_cache::Invalidator,
        ));
        let metrics_token = cfg
            .metrics
            .resolve()
            .map_err(|e| {
                AppError::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "config",
                    e.to_string(),
                )
            })?
            .map(|t| crate::edge::headers::metrics_digest(t.expose()));
        Ok(AppState(Arc::new(Inner {
            store,
            cae,
            cookies: crate::edge::cookies::CookiePolicy::new(&cfg),
            hsts: crate::edge::headers::hsts(&cfg),
            metrics_token,
            forward_auth_secret: cfg
                .forward_auth
                .shared_secret
                .as_ref()
                .map(|t| crate::edge::headers::metrics_digest(t.expose())),
            csrf_key: key.derive("csrf"),
            mfa_key: key.derive("mfa-secrets"),
            signing_key: key.derive("signing-keys"),
            code_key: key.derive("one-time-codes"),
            device_ca_seal: key.derive(crate::signals::device_trust::ca::SEAL_PURPOSE),
            device_proofs: crate::signals::device_trust::proof::ReplayCache::default(),
            edr_signatures: crate::signals::device_trust::edr::SeenSignatures::default(),
            session_policy: SessionPolicy {
                idle: time::Duration::minutes(cfg.session.idle_minutes),
                absolute: time::Duration::hours(cfg.session.absolute_hours),
            },
            hash_params,
            dummy_hash,
            hash_pool: Arc::new(crate::platform::hashpool::HashPool::start(&cfg.hashing)),
            refusals: crate::signin::refusals::Refusals::default(),
            retention: crate::ops::retention::Status::default(),
            ip_limiter: RateLimiter::keyed(Quota::per_minute(per_ip)),
            unauthenticated_limiter: RateLimiter::keyed(Quota::per_minute(
                NonZeroU32::new(cfg.rate_limit.unauthenticated_per_ip_per_minute)
                    .unwrap_or(NonZeroU32::MIN),
            )),
            limits_probe: crate::signin::limits::Probe::default(),
            limits_dummy_sealed: crate::signin::limits::dummy_sealed(&key.derive("mfa-secrets")),
            device_code_limiter: RateLimiter::keyed(Quota::per_minute(DEVICE_CODES_PER_MINUTE)),
            account_failures: FailureCounter::new(
                cfg.rate_limit.failures_per_account,
                Duration::from_secs(u64::from(cfg.rate_limit.lockout_minutes.max(1)) * 60),
            ),
            metrics,
            breach,
            banned_cache: Arc::default(),
            mailer: None,
            webauthn: None,
            policies,
            geoip: None,
            clock: Arc::new(crate::platform::clock::SystemClock),
            write_probe: Default::default(),
            keyring: Default::default(),
            token_ledger: Default::default(),
            oidc_clients: Default::default(),
            check_limiter: RateLimiter::keyed(Quota::per_minute(
                NonZeroU32::new(cfg.rate_limit.password_checks_per_minute)
                    .unwrap_or(NonZeroU32::MIN),
            )),
            cfg,
        })))
    }

    /// The current time from the state's clock. Read it once per request (the edge puts it in
    /// `RequestCtx::now`) or once per background tick, and pass it down.
    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    /// Sets the clock (before the state is shared).
    pub fn with_clock(self, clock: Arc<dyn crate::platform::clock::Clock>) -> AppState {
        match Arc::try_unwrap(self.0) {
            Ok(mut inner) => {
                inner.clock = clock;
                AppState(Arc::new(inner))
            }
            Err(shared) => {
                tracing::error!("the clock was set after the state was shared");
                AppState(shared)
            }
        }
    }

    /// Sets the GeoIP database (before the state is shared).
    pub fn with_geoip(self, reader: Option<maxminddb::Reader<Vec<u8>>>) -> AppState {
        match Arc::try_unwrap(self.0) {
            Ok(mut inner) => {
                inner.geoip = reader.map(Arc::new);
                AppState(Arc::new(inner))
            }
            Err(shared) => {
                tracing::error!("the GeoIP database was set after the state was shared");
                AppState(shared)
            }
        }
    }

    /// The ISO country code of `ip`, when a GeoIP database is configured and knows it.
    pub fn country_of(&self, ip: Option<std::net::IpAddr>) -> Option<String> {
        let (reader, ip) = (self.geoip.as_deref()?, ip?);
        let found = reader.lookup(ip).ok()?;
        let code: Option<String> = found
            .decode_path(&[
                maxminddb::PathElement::Key("country"),
                maxminddb::PathElement::Key("iso_code"),
            ])
            .ok()
            .flatten();
        code.filter(|c| c.len() == 2 && c.chars().all(|ch| ch.is_ascii_uppercase()))
    }

    pub fn with_webauthn(self, rp: webauthn_rs::Webauthn) -> AppState {
        match Arc::try_unwrap(self.0) {
            Ok(mut inner) => {
                inner.webauthn = Some(Arc::new(rp));
                AppState(Arc::new(inner))
            }
            Err(shared) => {
                tracing::error!("the WebAuthn relying party was set after the state was shared");
                AppState(shared)
            }
        }
    }

    /// Sets the mailer (before the state is shared).
    pub fn with_mailer(self, mailer: crate::platform::mail::Mailer) -> AppState {
        match Arc::try_unwrap(self.0) {
            Ok(mut inner) => {
                inner.mailer = Some(Arc::new(mailer));
                AppState(Arc::new(inner))
            }
            Err(shared) => {
                tracing::error!("the mailer was set after the state was shared; email is off");
                AppState(shared)
            }
        }
    }

    /// Sends a best-effort notification to a user's email address, if they have one.
    /// Sent in the background so that a slow mail server never holds up the request.
    pub async fn notify(&self, to: Option<&str>, subject: &str, body: &str) {
        let (Some(m), Some(to)) = (self.mailer.clone(), to.filter(|t| !t.is_empty())) else {
            return;
        };
        let (to, subject, body) = (to.to_string(), subject.to_string(), body.to_string());
        tokio::spawn(async move { m.notify(Some(&to), &subject, &body).await });
    }

    /// The mailer, for messages that must be delivered before the request answers (codes).
    pub fn mailer(&self) -> Option<&crate::platform::mail::Mailer> {
        self.mailer.as_deref()
    }

    /// The shared administrative operations, with this instance's password policy.
    pub fn ops(&self) -> crate::ops::Ops {
        crate::ops::Ops::new(self.store.clone(), self.hash_params)
            .with_password_policy(self.cfg.password.clone(), &self.cfg.organisation)
            .with_breach_filter(self.breach.get())
            .with_banned_cache(self.banned_cache.clone())
            .with_hash_pool(self.hash_pool.clone())
            .with_clock(self.clock.clone())
    }

    /// Runs a CPU-heavy password hash on the hashing workers (in the current task's lane);
    /// 503 `busy` when the queue is full or the wait too long. Prefer
    /// [`AppState::verify_password`] and [`AppState::hash_password`], which reuse the
    /// worker's Argon2 memory.
    pub async fn blocking_hash<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        self.hash_pool
            .run(crate::platform::hashpool::current_lane(), move |_| f())
            .await
            .map_err(|_| AppError::busy())
    }

    /// A new password's hash (a failure is an internal error).
    pub async fn hash_new_password(&self, password: &str) -> Result<String, AppError> {
        self.hash_password(password).await?.map_err(|e| {
            tracing::error!(error = %e, "password hashing failed");
            AppError::internal()
        })
    }

    /// Verifies `password` against the stored PHC string on a hashing worker's memory.
    pub async fn verify_password(
        &self,
        password: &str,
        phc: String,
    ) -> Result<trustplane_core::credential::VerifyOutcome, AppError> {
        let (pw, params) = (password.to_string(), self.hash_params);
        self.hash_pool
            .run(crate::platform::hashpool::current_lane(), move |mem| {
                trustplane_core::hashing::verify_password_in(mem, &pw, &phc, &params)
            })
            .await
            .map_err(|_| AppError::busy())
    }

    /// Hashes `password` with the current parameters on a hashing worker's memory.
    pub async fn hash_password(
        &self,
        password: &str,
    ) -> Result<Result<String, trustplane_core::credential::CredentialError>, AppError> {
        let (pw, params) = (password.to_string(), self.hash_params);
        let salt = crate::platform::secrets::random_salt();
        self.hash_pool
            .run(crate::platform::hashpool::current_lane(), move |mem| {
                trustplane_core::hashing::hash_password_in(mem, &pw, &params, &salt)
            })
            .await
            .map_err(|_| AppError::busy())
    }

    /// The client address: the TCP peer, or — only when the peer is a configured trusted
    /// proxy — the right-most address in `X-Forwarded-For` that is not itself a trusted proxy.
    pub fn client_ip(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?.ip();
        let trusted = |ip: &IpAddr| self.cfg.trusted_proxies.iter().any(|n| n.contains(ip));
        if !trusted(&peer) {
            return Some(peer);
        }
        let chain: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        Some(
            chain
                .into_iter()
                .rev()
                .find(|ip| !trusted(ip))
                .unwrap_or(peer),
        )
    }
}

/// Counts failed sign-ins per account name in a fixed window; past the limit the account is
/// refused until the window ends. Keys are folded login names, counted whether or not the
/// account exists, so the lockout reveals nothing about which accounts exist.
pub struct FailureCounter {
    limit: u32,
    window: Duration,
    map: Mutex<HashMap<String, (Instant, u32)>>,
}

const MAX_TRACKED_ACCOUNTS: usize = 100_000;

impl FailureCounter {
    pub fn new(limit: u32, window: Duration) -> Self {
        FailureCounter {
            limit,
            window,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The map, also after a thread panicked while holding it: the counts are plain numbers
    /// that stay meaningful, and refusing to read them would fail open (no lockout at all).
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, u32)>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn is_locked(&self, key: &str, now: Instant) -> bool {
        let map = self.map();
        matches!(map.get(key), Some((start, n)) if now.duration_since(*start) < self.window && *n >= self.limit)
    }

    pub fn record_failure(&self, key: &str, now: Instant) {
        let mut map = self.map();
        if map.len() >= MAX_TRACKED_ACCOUNTS {
            let window = self.window;
            map.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let e = map.entry(key.to_string()).or_insert((now, 0));
        if now.duration_since(e.0) >= self.window {
            *e = (now, 0);
        }
        e.1 += 1;
    }

    pub fn clear(&self, key: &str) {
        self.map().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_counter_locks_and_resets() {
        let c = FailureCounter::new(3, Duration::from_secs(60));
        let t = Instant::now();
        for _ in 0..2 {
            c.record_failure("alice", t);
        }
        assert!(!c.is_locked("alice", t));
        c.record_failure("alice", t);
        assert!(c.is_locked("alice", t));
        assert!(!c.is_locked("bob", t));
        assert!(!c.is_locked("alice", t + Duration::from_secs(61)));
        c.record_failure("alice", t + Duration::from_secs(61));
        assert!(!c.is_locked("alice", t + Duration::from_secs(61)));
        c.clear("alice");
        assert!(!c.is_locked("alice", t));
    }

    /// A thread that panics while holding the counter's lock poisons it. Before the fix every
    /// later call saw `Err` and answered "not locked" (and recorded nothing): the lockout
    /// failed open for the life of the process.
    #[test]
    fn a_poisoned_counter_still_locks() {
        let c = std::sync::Arc::new(FailureCounter::new(3, Duration::from_secs(60)));
        let t = Instant::now();
        for _ in 0..3 {
            c.record_failure("alice", t);
        }
        let c2 = c.clone();
        let r = std::thread::spawn(move || {
            let _guard = c2.map.lock();
            panic!("poison the lock");
        })
        .join();
        assert!(r.is_err());
        assert!(c.map.is_poisoned());
        assert!(c.is_locked("alice", t), "locked before, locked after");
        for _ in 0..3 {
            c.record_failure("bob", t);
        }
        assert!(c.is_locked("bob", t), "failures still counted");
        c.clear("alice");
        assert!(!c.is_locked("alice", t));
    }
}
