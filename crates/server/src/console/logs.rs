//! The sign-in log, the audit log and registration activity.

use crate::console::chrome::chrome;
use crate::edge::auth::AdminPage;
use crate::edge::pages::Flash;
use crate::edge::pages::{Chrome, PageResult, fmt_time, need, render};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use time::{Duration, OffsetDateTime};
use trustplane_core::identity::Permission;
use trustplane_core::signin::{SignInEvent, SignInResult};
use trustplane_store::{AuditQuery, SignInQuery};
use uuid::Uuid;

pub struct SignInRow {
    pub(super) id: Uuid,
    pub(super) at: String,
    pub(super) username: String,
    pub(super) result: &'static str,
    pub(super) ok: bool,
    pub(super) reason: String,
    pub(super) ip: String,
    pub(super) correlation_id: String,
}

pub(super) fn signin_rows(events: Vec<SignInEvent>) -> Vec<SignInRow> {
    events
        .into_iter()
        .map(|e| SignInRow {
            id: e.id,
            at: fmt_time(e.at),
            username: e.username,
            result: e.result.as_str(),
            ok: e.result == SignInResult::Success,
            reason: e.failure_reason.unwrap_or_default(),
            ip: e.ip.unwrap_or_default(),
            correlation_id: e.correlation_id,
        })
        .collect()
}

// --- logs --------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin/signins.html")]
pub(super) struct SignInsPage {
    pub(super) c: Chrome,
    pub(super) signins: Vec<SignInRow>,
    pub(super) f_username: String,
    pub(super) f_result: String,
    pub(super) f_app: String,
    pub(super) f_risk: String,
    pub(super) f_outcome: String,
    pub(super) f_policy: String,
    pub(super) f_reason: String,
    pub(super) f_days: i64,
    pub(super) export_query: String,
    pub(super) retention: crate::ops::retention::View,
}

#[derive(Deserialize, Default)]
pub struct SignInFilter {
    #[serde(default)]
    pub(super) username: String,
    #[serde(default)]
    pub(super) result: String,
    #[serde(default)]
    pub(super) app: String,
    #[serde(default)]
    pub(super) risk: String,
    #[serde(default)]
    pub(super) outcome: String,
    #[serde(default)]
    pub(super) policy: String,
    #[serde(default)]
    pub(super) reason: String,
    /// Last N days (default 7).
    #[serde(default)]
    pub(super) days: String,
}

pub async fn sign_ins(
    State(state): State<AppState>,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
    Query(f): Query<SignInFilter>,
) -> PageResult {
    need(&ctx, Permission::SignInLogRead)?;
    let text = |v: &str| Some(v.trim().to_string()).filter(|s| !s.is_empty());
    let days: i64 = f.days.trim().parse().unwrap_or(7).clamp(1, 365);
    let q = SignInQuery {
        username: text(&f.username),
        result: SignInResult::parse(&f.result),
        failure_reason: text(&f.reason),
        app_id: text(&f.app),
        sign_in_risk: text(&f.risk),
        ca_outcome: text(&f.outcome),
        policy: text(&f.policy),
        since: Some(state.now() - Duration::days(days)),
        limit: 200,
        ..Default::default()
    };
    let events = state.store.list_sign_ins(&q).await?;
    let (jar, c) = chrome(&state, jar, &ctx, "sign-ins", &Flash::default());
    let export_query = serde_urlencoded::to_string([
        ("username", f.username.trim()),
        ("result", f.result.trim()),
        ("failure_reason", f.reason.trim()),
        ("app", f.app.trim()),
        ("risk", f.risk.trim()),
        ("outcome", f.outcome.trim()),
        ("policy", f.policy.trim()),
    ])
    .unwrap_or_default();
    let page = SignInsPage {
        c,
        signins: signin_rows(events),
        f_username: f.username,
        f_result: f.result,
        f_app: f.app,
        f_risk: f.risk,
        f_outcome: f.outcome,
        f_policy: f.policy,
        f_reason: f.reason,
        f_days: days,
        export_query,
        retention: crate::ops::retention::view(&state),
    };
    Ok((jar, render(&page)).into_response())
}

pub struct AuditRow {
    pub(super) seq: i64,
    pub(super) at: String,
    pub(super) actor: String,
    pub(super) ip: String,
    pub(super) action: String,
    pub(super) target: String,
    pub(super) change: String,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
pub(super) struct AuditPage {
    pub(super) c: Chrome,
    pub(super) entries: Vec<AuditRow>,
    pub(super) chain_ok: bool,
    pub(super) chain_msg: String,
}

pub(super) fn audit_row(e: trustplane_core::audit::AuditEntry) -> AuditRow {
    AuditRow {
        seq: e.seq,
        at: OffsetDateTime::from_unix_timestamp_nanos(i128::from(e.at_ms) * 1_000_000)
            .map(fmt_time)
            .unwrap_or_default(),
        actor: e.actor_name,
        ip: e.ip.unwrap_or_default(),
        action: e.action,
        target: format!("{} {}", e.target_type, e.target_id.unwrap_or_default()),
        change: e.after.or(e.before).unwrap_or_default(),
    }
}

/// The audit actions that make up registration and reset activity.
pub const REGISTRATION_ACTIONS: [&str; 9] = [
    "mfa.method.add",
    "mfa.method.remove",
    "mfa.method.rename",
    "mfa.recovery_codes.issue",
    "mfa.recovery_codes.delete",
    "mfa.reregistration.require",
    "tap.issue",
    "user.password.reset",
    "user.password.change",
];

#[derive(Template)]
#[template(path = "admin/registration_activity.html")]
pub(super) struct RegistrationActivityPage {
    pub(super) c: Chrome,
    pub(super) entries: Vec<AuditRow>,
    pub(super) registered: usize,
    pub(super) users: usize,
}

/// `GET /admin/registration-activity`: who registered, changed or removed security info and
/// who reset a password, newest first (from the audit log), and how many users have a second
/// factor.
pub async fn registration_activity(
    State(state): State<AppState>,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
) -> PageResult {
    need(&ctx, Permission::AuditLogRead)?;
    let mut entries = Vec::new();
    for action in REGISTRATION_ACTIONS {
        entries.extend(
            state
                .store
                .list_audit(&AuditQuery {
                    action: Some(action.to_string()),
                    limit: 200,
                    ..Default::default()
                })
                .await?,
        );
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.seq));
    entries.truncate(200);
    let all = state
        .store
        .list_users(&trustplane_store::UserQuery {
            limit: 10_000,
            ..Default::default()
        })
        .await?;
    let mut registered = 0;
    for u in &all {
        if !state.store.list_mfa_methods(u.id).await?.is_empty() {
            registered += 1;
        }
    }
    let (jar, c) = chrome(&state, jar, &ctx, "registration", &Flash::default());
    let page = RegistrationActivityPage {
        c,
        entries: entries.into_iter().map(audit_row).collect(),
        registered,
        users: all.len(),
    };
    Ok((jar, render(&page)).into_response())
}

pub async fn audit(
    State(state): State<AppState>,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
) -> PageResult {
    need(&ctx, Permission::AuditLogRead)?;
    let entries = state
        .store
        .list_audit(&AuditQuery {
            limit: 200,
            ..Default::default()
        })
        .await?;
    let (chain_ok, chain_msg) = match state.store.verify_audit().await? {
        Ok(n) => (true, format!("{n} entries verified.")),
        Err(e) => (false, e.to_string()),
    };
    let (jar, c) = chrome(&state, jar, &ctx, "audit", &Flash::default());
    let page = AuditPage {
        c,
        chain_ok,
        chain_msg,
        entries: entries.into_iter().map(audit_row).collect(),
    };
    Ok((jar, render(&page)).into_response())
}

/// This resource's routes.
pub(super) fn routes() -> axum::Router<crate::state::AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/admin/sign-ins", get(sign_ins))
        .route("/admin/audit", get(audit))
        .route("/admin/registration-activity", get(registration_activity))
}
