//! Browsers that signed in successfully as a user before: their sign-ins take the hashing
//! pool's known lane ([`crate::hashpool::Lane::Known`]), so a returning user is not queued
//! behind a flood of sign-ins for unknown accounts.
//!
//! A browser is recognised by its device cookie (`tp_device`, a random value set after a
//! successful sign-in) together with the account it signed in to: the pair's SHA-256 is
//! remembered in memory when a sign-in with that cookie succeeds. An attacker's own cookie
//! therefore only speeds up sign-ins to the attacker's own account. The memory is per
//! instance and bounded; a restart forgets it (returning users then take the normal lane once).
//! This module is the one place that decides; it can move to the store's device records
//! without changing its callers.

use crate::state::AppState;
use axum_extra::extract::cookie::CookieJar;
use std::collections::HashMap;
use std::sync::Mutex;
use time::{Duration, OffsetDateTime};
use trustplane_core::credential::secret_digest;

/// The device cookie's base name (named per deployment by [`AppState::cookie_name`]).
pub const DEVICE_COOKIE: &str = "tp_device";

/// How long a browser stays known after its last successful sign-in.
const REMEMBER: Duration = Duration::days(90);
/// Pairs remembered at most (oldest dropped beyond).
const MAX_KNOWN: usize = 200_000;

#[derive(Default)]
pub struct KnownBrowsers {
    map: Mutex<HashMap<String, OffsetDateTime>>,
}

fn pair(cookie: &str, user_key: &str) -> String {
    secret_digest(&format!("{cookie}\u{0}{user_key}"))
}

impl KnownBrowsers {
    /// Remembers that the browser holding `cookie` signed in as `user_key` (folded login).
    pub fn remember(&self, cookie: &str, user_key: &str, now: OffsetDateTime) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_KNOWN {
            map.retain(|_, at| now - *at < REMEMBER);
            if map.len() >= MAX_KNOWN
                && let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(pair(cookie, user_key), now);
    }

    /// Whether the browser holding `cookie` signed in as `user_key` within the last 90 days.
    pub fn is_known(&self, cookie: &str, user_key: &str, now: OffsetDateTime) -> bool {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&pair(cookie, user_key))
            .is_some_and(|at| now - *at < REMEMBER)
    }
}

/// The device cookie the request carries, if any (bounded length).
pub fn device_cookie(state: &AppState, jar: &CookieJar) -> Option<String> {
    jar.get(&state.cookie_name(DEVICE_COOKIE))
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// The hashing lane of a sign-in to `user_key` from this browser.
pub fn lane(
    state: &AppState,
    jar: &CookieJar,
    user_key: &str,
    now: OffsetDateTime,
) -> crate::hashpool::Lane {
    match device_cookie(state, jar) {
        Some(c) if state.known_browsers.is_known(&c, user_key, now) => crate::hashpool::Lane::Known,
        _ => crate::hashpool::Lane::Normal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_known_only_for_the_account_it_signed_in_to() {
        let k = KnownBrowsers::default();
        let t = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        k.remember("c1", "alice", t);
        assert!(k.is_known("c1", "alice", t));
        assert!(!k.is_known("c1", "bob", t));
        assert!(!k.is_known("c2", "alice", t));
        assert!(!k.is_known("c1", "alice", t + Duration::days(91)));
    }
}
