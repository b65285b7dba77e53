//! Sign-in limits: the one place that decides whether a code may be checked, counts what
//! failed, picks the lockout counter of a browser, and admits unauthenticated requests that
//! write rows. Every step of every sign-in and reset flow calls in here.
//!
//! - Second-factor failures (authenticator codes, emailed codes, recovery codes, passkeys as
//!   a second factor, and the codes of `/reset/verify`) are counted per account in the store
//!   (`mfa:<folded login name>`), by one conditional upsert: several instances share the count.
//! - Each flow has a budget of code checks (`rate_limit.attempts_per_flow`), claimed in the
//!   store with one conditional `UPDATE … RETURNING` BEFORE the code is looked at: concurrent
//!   requests cannot check more codes than the budget.
//! - The account lock (password failures, and second-factor failures) is honoured by every
//!   step: a flow opened before the lock accepts nothing while it lasts.
//! - Smart lockout: a browser that signed in successfully as the account before (the
//!   `tp_device` cookie; only its SHA-256 is stored) has counters of its own, so failures
//!   from elsewhere do not lock the user out of their usual browser. Passkey sign-ins
//!   (phishing-resistant) are not refused by a password lock at all.

pub mod device_cookie;
pub mod unauthenticated;

use crate::edge::error::AppError;
use crate::state::AppState;
use std::sync::atomic::{AtomicU64, Ordering};
use time::OffsetDateTime;
use trustplane_core::identity::fold_name;

pub use device_cookie::DEVICE;

/// Counters of work done by the limits (for tests and metrics): how many codes were actually
/// checked (real or dummy), so that a test can assert the budget held and that unknown
/// accounts go through the same path as known ones.
#[derive(Default)]
pub struct Probe {
    codes_checked: AtomicU64,
    dummy_checks: AtomicU64,
}

impl Probe {
    /// Codes checked against a real account or flow.
    pub fn codes_checked(&self) -> u64 {
        self.codes_checked.load(Ordering::SeqCst)
    }
    /// Checks performed for an unknown account (the same work, against nothing).
    pub fn dummy_checks(&self) -> u64 {
        self.dummy_checks.load(Ordering::SeqCst)
    }
    pub(crate) fn checked(&self) {
        self.codes_checked.fetch_add(1, Ordering::SeqCst);
        metrics::counter!("trustplane_codes_checked_total").increment(1);
    }
    pub(crate) fn dummy(&self) {
        self.dummy_checks.fetch_add(1, Ordering::SeqCst);
    }
}

/// The counters a flow is judged by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// The password counter (the in-memory `FailureCounter` key); `None`: a flow the
    /// password lock does not apply to (a password reset: the user may have forgotten it).
    pub password: Option<String>,
    /// The second-factor counter (store key).
    pub second_factor: String,
    /// The browser's device hash when it signed in as this account before.
    pub known_device: Option<String>,
}

/// The counters of `username` from the browser `device` (the SHA-256 of its `tp_device`
/// cookie): the browser's own when it signed in as this account before, else the account's.
pub async fn keys_for(
    state: &AppState,
    username: &str,
    device: Option<&str>,
) -> Result<Keys, AppError> {
    let folded = fold_name(username);
    let known = match device {
        Some(d) => state.store.limits().is_known_device(d, &folded).await?,
        None => false,
    };
    Ok(keys_of(username, device.filter(|_| known)))
}

/// The counter keys of a login name, from a known browser or not.
pub fn keys_of(username: &str, known_device: Option<&str>) -> Keys {
    let folded = fold_name(username);
    match known_device {
        Some(d) => Keys {
            password: Some(format!("{folded}\u{1f}device:{d}")),
            second_factor: format!("mfa:{folded}\u{1f}device:{d}"),
            known_device: Some(d.to_string()),
        },
        None => Keys {
            password: Some(folded.clone()),
            second_factor: format!("mfa:{folded}"),
            known_device: None,
        },
    }
}

/// The counters of a password reset for `username`: the account's second-factor counter
/// (shared with sign-in), and no password lock.
pub fn reset_keys(username: &str) -> Keys {
    Keys {
        password: None,
        ..keys_of(username, None)
    }
}

fn window(state: &AppState) -> time::Duration {
    time::Duration::minutes(i64::from(state.cfg.rate_limit.lockout_minutes.max(1)))
}

/// Why a code is not even looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The account (as seen from this browser) is locked: wait.
    Locked,
    /// The flow used up its attempts (or ended): start again.
    FlowExhausted,
}

/// The message for a locked account.
pub const LOCKED_MESSAGE: &str =
    "Too many failed attempts for this account. Wait 15 minutes and try again.";

/// The store key of a password counter (beside the second-factor counters' `mfa:` keys).
fn password_store_key(k: &str) -> String {
    format!("pw:{k}")
}

/// Whether the password lock holds for these keys. This instance's in-memory counter answers
/// first (a refusal it already knows costs no database access); otherwise the store's counter,
/// which every instance adds to, decides.
pub async fn password_locked(
    state: &AppState,
    keys: &Keys,
    now: OffsetDateTime,
) -> Result<bool, AppError> {
    let Some(k) = keys.password.as_deref() else {
        return Ok(false);
    };
    if state
        .account_failures
        .is_locked(k, std::time::Instant::now())
    {
        return Ok(true);
    }
    let n = state
        .store
        .limits()
        .failures(&password_store_key(k), now, window(state))
        .await?;
    Ok(n >= state.cfg.rate_limit.failures_per_account)
}

/// Whether the account is locked for this flow: its password counter, or its second-factor
/// counter (the store: every instance). Every step of a flow asks this first.
pub async fn is_locked(
    state: &AppState,
    keys: &Keys,
    now: OffsetDateTime,
) -> Result<bool, AppError> {
    if password_locked(state, keys, now).await? {
        return Ok(true);
    }
    let n = state
        .store
        .limits()
        .failures(&keys.second_factor, now, window(state))
        .await?;
    Ok(n >= state.cfg.rate_limit.second_factor_failures_per_account)
}

/// A reserved check: counted as a failure of the account until [`passed`] takes it back.
#[must_use]
pub struct Ticket {
    key: String,
}

/// Call before checking any code (or passkey answer) in a flow. Refuses when the account is
/// locked; otherwise reserves one failure of the account (one atomic upsert: concurrent
/// requests from any number of flows and instances cannot exceed the account's limit) and
/// claims one attempt of the flow's budget (one atomic conditional update). `flow_digest`
/// is the stored id of the flow (the SHA-256 of its cookie).
pub async fn before_check(
    state: &AppState,
    keys: &Keys,
    flow_digest: &str,
    budget: u32,
    now: OffsetDateTime,
) -> Result<Result<Ticket, Refusal>, AppError> {
    let limits = state.store.limits();
    if password_locked(state, keys, now).await? {
        metrics::counter!("trustplane_sign_in_limits_total", "refusal" => "locked").increment(1);
        return Ok(Err(Refusal::Locked));
    }
    let n = limits
        .add_failure(&keys.second_factor, now, window(state))
        .await?;
    if n > state.cfg.rate_limit.second_factor_failures_per_account {
        metrics::counter!("trustplane_sign_in_limits_total", "refusal" => "locked").increment(1);
        return Ok(Err(Refusal::Locked));
    }
    let ticket = Ticket {
        key: keys.second_factor.clone(),
    };
    if !limits.claim_flow_attempt(flow_digest, budget, now).await? {
        limits.release_failure(&ticket.key).await?;
        metrics::counter!("trustplane_sign_in_limits_total", "refusal" => "flow_exhausted")
            .increment(1);
        return Ok(Err(Refusal::FlowExhausted));
    }
    state.limits_probe.checked();
    Ok(Ok(ticket))
}

/// The checked code was right: its reservation is taken back.
pub async fn passed(state: &AppState, ticket: Ticket) -> Result<(), AppError> {
    state.store.limits().release_failure(&ticket.key).await?;
    Ok(())
}

/// The checked code was wrong: the reservation stays counted. Returns whether the account
/// is now locked.
pub async fn failed(
    state: &AppState,
    ticket: Ticket,
    now: OffsetDateTime,
) -> Result<bool, AppError> {
    let n = state
        .store
        .limits()
        .failures(&ticket.key, now, window(state))
        .await?;
    let locked = n >= state.cfg.rate_limit.second_factor_failures_per_account;
    if locked {
        metrics::counter!("trustplane_second_factor_locks_total").increment(1);
        tracing::warn!(
            failures = n,
            "second-factor lock: too many wrong codes for an account"
        );
    }
    Ok(locked)
}

/// A failed first factor (password, temporary access pass) from this browser: counted in
/// this instance's memory and in the store (one atomic upsert), so that every instance sees it.
pub async fn password_failed(
    state: &AppState,
    keys: &Keys,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    if let Some(k) = &keys.password {
        state
            .account_failures
            .record_failure(k, std::time::Instant::now());
        state
            .store
            .limits()
            .add_failure(&password_store_key(k), now, window(state))
            .await?;
    }
    Ok(())
}

/// A successful first factor from this browser: its own password counter starts again.
pub async fn password_passed(state: &AppState, keys: &Keys) -> Result<(), AppError> {
    if let Some(k) = &keys.password {
        state.account_failures.clear(k);
        state
            .store
            .limits()
            .clear_failures(&password_store_key(k))
            .await?;
    }
    Ok(())
}

/// A password reset: the account's own password counter (not a known browser's) starts again.
pub async fn reset_password_lock(state: &AppState, username: &str) -> Result<(), AppError> {
    let folded = fold_name(username);
    state.account_failures.clear(&folded);
    state
        .store
        .limits()
        .clear_failures(&password_store_key(&folded))
        .await?;
    Ok(())
}

/// The same work as checking a code of a real account (one store round trip, one sealed
/// secret opened, one TOTP verification), for an account that does not exist or may not use
/// the method: the answer takes as long and goes through the same steps.
pub async fn dummy_code_check(
    state: &AppState,
    code: &str,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    let _ = state.store.list_mfa_methods(uuid::Uuid::nil()).await?;
    let sealed = state.limits_dummy_sealed.as_str();
    let secret = crate::platform::secrets::open(&state.mfa_key, b"limits-dummy", sealed)
        .unwrap_or_else(|_| vec![0u8; trustplane_core::mfa::TOTP_SECRET_LEN]);
    let unix = now.unix_timestamp().max(0) as u64;
    let _ = trustplane_core::mfa::verify_totp(&secret, code, unix, None);
    state.limits_probe.dummy();
    Ok(())
}

/// A sealed random secret, opened by [`dummy_code_check`].
pub fn dummy_sealed(mfa_key: &[u8; 32]) -> String {
    let mut s = vec![0u8; trustplane_core::mfa::TOTP_SECRET_LEN];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut s);
    crate::platform::secrets::seal(mfa_key, b"limits-dummy", &s).unwrap_or_default()
}

// --- the steps of a sign-in flow (`crate::signin::flow`) ----------------------------------------

/// Before a code (or passkey answer) of a sign-in step is checked: see [`before_check`].
pub async fn step_gate(
    state: &AppState,
    flow_secret: &str,
    pending: &crate::signin::flow::PendingLogin,
    now: OffsetDateTime,
) -> Result<Result<Ticket, Refusal>, AppError> {
    before_check(
        state,
        &pending.keys(),
        &trustplane_core::credential::secret_digest(flow_secret),
        state.cfg.rate_limit.attempts_per_flow,
        now,
    )
    .await
}

/// Before any other step (password change, terms, postponing registration): the account
/// lock holds here too. `Some(refusal)` when locked.
pub async fn step_locked(
    state: &AppState,
    pending: &crate::signin::flow::PendingLogin,
    now: OffsetDateTime,
) -> Result<Option<Refusal>, AppError> {
    Ok(is_locked(state, &pending.keys(), now)
        .await?
        .then_some(Refusal::Locked))
}

/// What a refused step answers: locked, the step stays (with a message); out of attempts,
/// the flow ends and the sign-in starts again.
pub async fn refused_step(
    state: &AppState,
    flow_secret: &str,
    pending: crate::signin::flow::PendingLogin,
    refusal: Refusal,
) -> Result<crate::signin::steps::StepResult, AppError> {
    match refusal {
        Refusal::Locked => Ok(crate::signin::steps::StepResult::Retry {
            pending: Box::new(pending),
            message: LOCKED_MESSAGE.to_string(),
        }),
        Refusal::FlowExhausted => {
            state
                .store
                .delete_login_flow(&trustplane_core::credential::secret_digest(flow_secret))
                .await?;
            Ok(crate::signin::steps::StepResult::Restart)
        }
    }
}
