//! Retention: a background job that deletes sign-in log rows older than
//! `retention.sign_in_log_days` and sessions, tokens, codes and flows soon after they expired,
//! in small batches (one short statement each, yielding between them, so requests are never
//! held up); it also writes the aggregated rows of refused sign-ins ([`crate::signin::refusals`]).
//! The audit log is kept forever.

use crate::state::AppState;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use time::{Duration, OffsetDateTime};
use trustplane_store::Expired;

/// `[retention]` configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Days sign-in log rows are kept; 0 keeps them forever.
    pub sign_in_log_days: u32,
    /// Hours an expired (or revoked) session, token, code or flow is kept before deletion.
    pub expired_grace_hours: u32,
    /// Seconds between runs of the job; 0 turns it off.
    pub interval_seconds: u64,
    /// Rows deleted per statement.
    pub batch_size: u32,
    /// Statements per kind of row and run at most (the rest waits for the next run).
    pub max_batches: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            sign_in_log_days: 90,
            expired_grace_hours: 24,
            interval_seconds: 30,
            batch_size: 500,
            max_batches: 20,
        }
    }
}

impl RetentionConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.batch_size == 0 || self.max_batches == 0 {
            return Err("retention: batch_size and max_batches must be at least 1".into());
        }
        if self.sign_in_log_days > 36_500 || self.expired_grace_hours > 24 * 3_650 {
            return Err("retention: at most 100 years of sign-in log and 10 years of grace".into());
        }
        Ok(())
    }
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    pub at: Option<OffsetDateTime>,
    /// Rows deleted, by kind (only kinds with deletions).
    pub deleted: Vec<(&'static str, u64)>,
    /// Aggregated rows of refused sign-ins written.
    pub refusal_rows: usize,
    /// A kind could not be purged (the error is logged).
    pub failed: bool,
}

/// The last run and the totals since start, for the console.
#[derive(Default)]
pub struct Status {
    last: Mutex<RunReport>,
    total: Mutex<u64>,
}

impl Status {
    pub fn last(&self) -> RunReport {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn total_deleted(&self) -> u64 {
        *self.total.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn purge(
    state: &AppState,
    what: Expired,
    before: OffsetDateTime,
    cfg: &RetentionConfig,
) -> Result<u64, trustplane_store::StoreError> {
    let mut total = 0;
    for _ in 0..cfg.max_batches {
        let n = state
            .store
            .purge_expired(what, before, cfg.batch_size)
            .await?;
        total += n;
        if n < u64::from(cfg.batch_size) {
            break;
        }
        // Let waiting requests have the database between batches.
        tokio::task::yield_now().await;
    }
    Ok(total)
}

/// One run at `now`: refusal rows first, then expired rows, then old sign-in log rows.
pub async fn run_once(state: &AppState, now: OffsetDateTime) -> RunReport {
    let cfg = &state.cfg.retention;
    let mut report = RunReport {
        at: Some(now),
        refusal_rows: crate::signin::refusals::flush_due(state, now).await,
        ..RunReport::default()
    };
    let grace = Duration::hours(i64::from(cfg.expired_grace_hours));
    let mut jobs: Vec<(Expired, OffsetDateTime)> = Expired::EXPIRING
        .iter()
        .map(|k| (*k, now - grace))
        .collect();
    if cfg.sign_in_log_days > 0 {
        jobs.push((
            Expired::SignIns,
            now - Duration::days(i64::from(cfg.sign_in_log_days)),
        ));
    }
    for (what, before) in jobs {
        match purge(state, what, before, cfg).await {
            Ok(0) => {}
            Ok(n) => {
                metrics::counter!("trustplane_retention_deleted_total", "kind" => what.name())
                    .increment(n);
                report.deleted.push((what.name(), n));
            }
            Err(e) => {
                report.failed = true;
                tracing::warn!(kind = what.name(), error = %e, "retention: delete failed");
            }
        }
    }
    let deleted: u64 = report.deleted.iter().map(|(_, n)| n).sum();
    if deleted > 0 {
        tracing::info!(deleted, kinds = ?report.deleted, "retention: deleted expired rows");
    }
    *state
        .retention
        .total
        .lock()
        .unwrap_or_else(|p| p.into_inner()) += deleted;
    *state
        .retention
        .last
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = report.clone();
    report
}

/// Starts the job (every `interval_seconds`; the first run soon after start). It holds only
/// a weak reference: it stops when the state is dropped.
pub fn start(state: &AppState) {
    let every = state.cfg.retention.interval_seconds;
    if every == 0 {
        return;
    }
    let weak = std::sync::Arc::downgrade(&state.0);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(every));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(inner) = weak.upgrade() else {
                return;
            };
            let state = AppState(inner);
            let now = state.now();
            run_once(&state, now).await;
        }
    });
}

/// The console's read-only view.
pub struct View {
    pub sign_in_log: String,
    pub expired: String,
    pub last_run: String,
    pub total_deleted: u64,
    pub refusals_pending: u64,
}

pub fn view(state: &AppState) -> View {
    let cfg = &state.cfg.retention;
    let last = state.retention.last();
    let last_run = match last.at {
        None if cfg.interval_seconds == 0 => "never (the job is off: interval_seconds = 0)".into(),
        None => "not yet".into(),
        Some(at) => {
            let what = if last.deleted.is_empty() {
                "nothing to delete".to_string()
            } else {
                last.deleted
                    .iter()
                    .map(|(k, n)| format!("{n} {k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let fail = if last.failed {
                " (a delete failed: see the log)"
            } else {
                ""
            };
            format!(
                "{} UTC: {what}{fail}",
                at.replace_nanosecond(0).unwrap_or(at)
            )
        }
    };
    View {
        sign_in_log: if cfg.sign_in_log_days == 0 {
            "kept forever".into()
        } else {
            format!("{} days", cfg.sign_in_log_days)
        },
        expired: format!(
            "deleted {} hours after they expire or are revoked, every {} s",
            cfg.expired_grace_hours, cfg.interval_seconds
        ),
        last_run,
        total_deleted: state.retention.total_deleted(),
        refusals_pending: state.refusals.pending(),
    }
}
