//! Unauthenticated requests that write a row (a passkey challenge, an authorization request,
//! a device authorization): a per-IP rate and a cap on the unexpired rows of each kind, so
//! that nobody can fill the database. Also the pruning of every per-IP limiter.

use crate::edge::error::AppError;
use crate::state::AppState;
use axum::http::StatusCode;
use governor::DefaultKeyedRateLimiter;
use std::hash::Hash;
use std::net::IpAddr;
use time::OffsetDateTime;
use trustplane_store::PendingKind;

/// Past this many tracked keys, a limiter is pruned on the spot (idle keys dropped).
pub const MAX_TRACKED_KEYS: usize = 100_000;

/// Admits one unauthenticated request from `ip` that will write a row of `kind`: 429 past the
/// per-IP rate, 503 when `rate_limit.max_pending` unexpired rows of that kind exist.
pub async fn admit(
    state: &AppState,
    ip: Option<IpAddr>,
    kind: PendingKind,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    if let Some(ip) = ip {
        bound(&state.unauthenticated_limiter);
        if state.unauthenticated_limiter.check_key(&ip).is_err() {
            metrics::counter!("trustplane_unauthenticated_refused_total", "reason" => "rate")
                .increment(1);
            return Err(AppError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests from your network. Wait a minute and try again.",
            ));
        }
    }
    let pending = state.store.limits().pending_rows(kind, now).await?;
    if pending >= u64::from(state.cfg.rate_limit.max_pending) {
        metrics::counter!("trustplane_unauthenticated_refused_total", "reason" => "cap")
            .increment(1);
        tracing::warn!(kind = ?kind, pending, "pending-row cap reached; refusing new ones");
        return Err(AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_pending",
            "Too many sign-ins are in progress right now. Try again in a few minutes.",
        ));
    }
    Ok(())
}

/// Drops idle keys of a limiter when it tracks too many (memory stays bounded even under a
/// flood of distinct addresses between two periodic prunes).
pub fn bound<K: Hash + Eq + Clone>(limiter: &DefaultKeyedRateLimiter<K>) {
    if limiter.len() >= MAX_TRACKED_KEYS {
        limiter.retain_recent();
        limiter.shrink_to_fit();
    }
}

/// Drops the keys of every per-IP (and per-user) limiter that are back to a full quota:
/// forgetting them changes no decision. Run periodically.
pub fn prune(state: &AppState) {
    state.ip_limiter.retain_recent();
    state.ip_limiter.shrink_to_fit();
    state.unauthenticated_limiter.retain_recent();
    state.unauthenticated_limiter.shrink_to_fit();
    state.check_limiter.retain_recent();
    state.check_limiter.shrink_to_fit();
    state.device_code_limiter.retain_recent();
    state.device_code_limiter.shrink_to_fit();
}

/// Prunes the limiters every minute for as long as the state lives.
pub fn spawn_pruner(state: &AppState) {
    let weak = std::sync::Arc::downgrade(&state.0);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            let Some(inner) = weak.upgrade() else {
                return;
            };
            prune(&AppState(inner));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::{Quota, RateLimiter};
    use std::num::NonZeroU32;

    #[test]
    fn idle_keys_are_pruned_and_the_map_stays_bounded() {
        // 1,000 per second: a key is back to a full quota 1 ms after its last use.
        let per = NonZeroU32::new(1000).unwrap_or(NonZeroU32::MIN);
        let l: DefaultKeyedRateLimiter<u32> = RateLimiter::keyed(Quota::per_second(per));
        for k in 0..500u32 {
            assert!(l.check_key(&k).is_ok());
        }
        assert_eq!(l.len(), 500);
        // Poll with a deadline until every key is idle and pruned.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            l.retain_recent();
            if l.is_empty() {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "keys never pruned");
            std::thread::yield_now();
        }
        // A busy key is kept.
        let slow: DefaultKeyedRateLimiter<u32> =
            RateLimiter::keyed(Quota::per_hour(NonZeroU32::MIN));
        assert!(slow.check_key(&1).is_ok());
        slow.retain_recent();
        assert_eq!(slow.len(), 1, "a key still limited is not forgotten");
    }

    #[test]
    fn bound_prunes_past_the_cap() {
        let per = NonZeroU32::new(1000).unwrap_or(NonZeroU32::MIN);
        let l: DefaultKeyedRateLimiter<u32> = RateLimiter::keyed(Quota::per_second(per));
        for k in 0..(MAX_TRACKED_KEYS as u32) {
            let _ = l.check_key(&k);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            bound(&l);
            if l.len() < MAX_TRACKED_KEYS {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "never bounded");
            std::thread::yield_now();
        }
    }
}
