//! Cheap refusals: a sign-in attempt refused by a rate limit or an account lock costs no
//! password hash and no database write. It is counted in memory per source (client address
//! and sign-in flow); when the source's window ends, one aggregated row goes to the sign-in
//! log (attempts, first and last time, the accounts tried), so the log still shows the attack
//! while an attacker at full speed writes one row per minute instead of thousands.

use crate::edge::auth::RequestCtx;
use crate::state::AppState;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use time::{Duration, OffsetDateTime};
use trustplane_core::authn::DenyReason;
use trustplane_core::signin::{SignInEvent, SignInResult};
use uuid::Uuid;

/// One aggregated sign-in log row per source and window of this length.
pub const WINDOW: Duration = Duration::minutes(1);
/// Sources counted separately at most; beyond, refusals share one bucket per flow.
const MAX_SOURCES: usize = 10_000;
/// Distinct account names kept per bucket (attempts naming other accounts are counted).
const MAX_NAMES: usize = 10;

#[derive(Clone, PartialEq, Eq, Hash)]
struct Source {
    ip: Option<IpAddr>,
    flow: &'static str,
    /// The bucket of every source beyond [`MAX_SOURCES`].
    overflow: bool,
}

struct Bucket {
    first: OffsetDateTime,
    last: OffsetDateTime,
    attempts: u64,
    names: Vec<String>,
    /// Attempts naming an account beyond the first [`MAX_NAMES`].
    other_attempts: u64,
    user_agent: Option<String>,
    correlation_id: String,
}

#[derive(Default)]
pub struct Refusals {
    open: Mutex<HashMap<Source, Bucket>>,
}

impl Refusals {
    /// Counts one refused attempt (no I/O).
    pub fn count(&self, ctx: &RequestCtx, username: &str, flow: &'static str) {
        let now = ctx.now;
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let mut src = Source {
            ip: ctx.ip,
            flow,
            overflow: false,
        };
        if !open.contains_key(&src) && open.len() >= MAX_SOURCES {
            src = Source {
                ip: None,
                flow,
                overflow: true,
            };
        }
        let b = open.entry(src).or_insert_with(|| Bucket {
            first: now,
            last: now,
            attempts: 0,
            names: Vec::new(),
            other_attempts: 0,
            user_agent: None,
            correlation_id: String::new(),
        });
        b.attempts += 1;
        b.last = b.last.max(now);
        if !b.names.iter().any(|n| n == username) {
            if b.names.len() < MAX_NAMES {
                b.names.push(username.to_string());
            } else {
                b.other_attempts += 1;
            }
        }
        b.user_agent.clone_from(&ctx.user_agent);
        b.correlation_id.clone_from(&ctx.correlation_id);
    }

    /// Takes the buckets whose window has ended by `now` as sign-in log rows.
    pub fn take_due(&self, now: OffsetDateTime) -> Vec<SignInEvent> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let due: Vec<Source> = open
            .iter()
            .filter(|(_, b)| now - b.first >= WINDOW)
            .map(|(s, _)| s.clone())
            .collect();
        due.into_iter()
            .filter_map(|s| open.remove(&s).map(|b| event(&s, b)))
            .collect()
    }

    /// Refused attempts counted and not yet logged.
    pub fn pending(&self) -> u64 {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.values().map(|b| b.attempts).sum()
    }
}

fn event(s: &Source, b: Bucket) -> SignInEvent {
    let username = match (b.names.as_slice(), b.other_attempts) {
        ([one], 0) => one.clone(),
        (names, 0) => format!("({} accounts)", names.len()),
        (names, _) => format!("({}+ accounts)", names.len()),
    };
    SignInEvent {
        id: Uuid::now_v7(),
        at: b.first,
        user_id: None,
        username,
        result: SignInResult::Failure,
        failure_reason: Some(DenyReason::RateLimited.code().to_string()),
        ip: s.ip.map(|i| i.to_string()),
        user_agent: b.user_agent,
        correlation_id: b.correlation_id,
        methods: Vec::new(),
        details: serde_json::json!({
            "flow": s.flow,
            "aggregated": {
                "attempts": b.attempts,
                "first": b.first.unix_timestamp(),
                "last": b.last.unix_timestamp(),
                "accounts": b.names,
                "attempts_for_other_accounts": b.other_attempts,
                "many_sources": s.overflow,
            },
        }),
    }
}

/// A refused attempt: counted, answered "rate limited", nothing hashed or written.
pub fn refuse(state: &AppState, ctx: &RequestCtx, username: &str, flow: &'static str) {
    state.refusals.count(ctx, username, flow);
    metrics::counter!("trustplane_sign_ins_total",
        "result" => SignInResult::Failure.as_str(),
        "reason" => DenyReason::RateLimited.code())
    .increment(1);
}

/// Writes the aggregated rows of the windows that have ended; the number written. Called by
/// the background job ([`crate::ops::retention`]); a failed write is logged and its row dropped.
pub async fn flush_due(state: &AppState, now: OffsetDateTime) -> usize {
    let mut written = 0;
    for e in state.refusals.take_due(now) {
        match state.store.record_sign_in(&e).await {
            Ok(()) => written += 1,
            Err(err) => tracing::warn!(error = %err, "could not log refused sign-ins"),
        }
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(ip: &str, now: OffsetDateTime) -> RequestCtx {
        RequestCtx {
            now,
            correlation_id: "c".into(),
            ip: ip.parse().ok(),
            user_agent: None,
            device: None,
        }
    }

    #[test]
    fn one_row_per_source_and_window() {
        let r = Refusals::default();
        let t = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        for i in 0..500 {
            r.count(&ctx("192.0.2.1", t), &format!("user{}", i % 20), "password");
        }
        r.count(&ctx("192.0.2.2", t), "bob", "password");
        assert!(r.take_due(t + Duration::seconds(59)).is_empty());
        let mut rows = r.take_due(t + WINDOW);
        rows.sort_by_key(|e| e.ip.clone());
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].details["aggregated"]["attempts"], 500);
        assert_eq!(
            rows[0].details["aggregated"]["attempts_for_other_accounts"],
            250
        );
        assert_eq!(rows[0].username, "(10+ accounts)");
        assert_eq!(rows[1].username, "bob");
        assert_eq!(r.pending(), 0);
        assert!(r.take_due(t + WINDOW * 2).is_empty());
    }
}
