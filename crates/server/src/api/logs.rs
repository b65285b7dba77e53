//! `/api/v1/sign-ins` (with export) and `/api/v1/audit` (with chain verification).

use crate::api::types::*;
use crate::edge::api_input::Query;
use crate::edge::auth::ApiCaller;
use crate::edge::error::{AppError, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use trustplane_core::identity::Permission;
use trustplane_core::signin::SignInResult;
use trustplane_store::{AuditQuery, SignInQuery};
use utoipa::IntoParams;
use uuid::Uuid;

#[derive(Deserialize, IntoParams)]
pub struct SignInLogQuery {
    pub(super) user_id: Option<Uuid>,
    pub(super) username: Option<String>,
    /// `success`, `failure` or `interrupted`.
    pub(super) result: Option<String>,
    pub(super) failure_reason: Option<String>,
    /// RFC 3339 time.
    pub(super) since: Option<String>,
    /// RFC 3339 time (exclusive).
    pub(super) until: Option<String>,
    /// Application id signed in to.
    pub(super) app: Option<String>,
    /// Sign-in risk level: `low`, `medium` or `high`.
    pub(super) risk: Option<String>,
    /// Conditional access outcome: `allow`, `block` or `requires`.
    pub(super) outcome: Option<String>,
    /// A conditional access policy id that applied (enabled or report-only).
    pub(super) policy: Option<String>,
    /// 1..=10000, default 100.
    pub(super) limit: Option<i64>,
}

impl SignInLogQuery {
    /// The store query, with every filter checked.
    pub fn to_store(self) -> Result<SignInQuery, AppError> {
        let result = match self.result.as_deref() {
            None | Some("") => None,
            Some(r) => Some(SignInResult::parse(r).ok_or_else(|| {
                AppError::bad_request(
                    "invalid_result",
                    "result must be success, failure or interrupted",
                )
            })?),
        };
        let empty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let risk = empty(self.risk);
        if let Some(r) = &risk
            && trustplane_core::risk::RiskLevel::parse(r).is_none()
        {
            return Err(AppError::bad_request(
                "invalid_risk",
                "risk must be low, medium or high",
            ));
        }
        let outcome = empty(self.outcome);
        if let Some(o) = &outcome
            && !["allow", "block", "requires"].contains(&o.as_str())
        {
            return Err(AppError::bad_request(
                "invalid_outcome",
                "outcome must be allow, block or requires",
            ));
        }
        Ok(SignInQuery {
            user_id: self.user_id,
            username: empty(self.username),
            result,
            failure_reason: empty(self.failure_reason),
            since: parse_time("since", empty(self.since))?,
            until: parse_time("until", empty(self.until))?,
            app_id: empty(self.app),
            sign_in_risk: risk,
            ca_outcome: outcome,
            policy: empty(self.policy),
            limit: self.limit.unwrap_or(100),
        })
    }
}

pub(super) fn parse_time(
    field: &'static str,
    s: Option<String>,
) -> Result<Option<OffsetDateTime>, AppError> {
    s.map(|s| {
        OffsetDateTime::parse(&s, &Rfc3339).map_err(|_| {
            AppError::bad_request(
                "invalid_time",
                format!("{field} must be an RFC 3339 time like 2026-11-25T10:00:00Z"),
            )
        })
    })
    .transpose()
}

#[utoipa::path(get, path = "/api/v1/sign-ins", tag = "admin", params(SignInLogQuery),
    responses((status = 200, body = [SignInView]), (status = 400, body = ErrorBody)))]
pub async fn list_sign_ins(
    State(state): State<AppState>,
    caller: ApiCaller,
    Query(q): Query<SignInLogQuery>,
) -> Result<Json<Vec<SignInView>>, AppError> {
    caller.require(Permission::SignInLogRead)?;
    let events = state.store.list_sign_ins(&q.to_store()?).await?;
    Ok(Json(events.into_iter().map(SignInView::from).collect()))
}

#[derive(Deserialize, IntoParams)]
pub struct ExportFormat {
    /// `csv` or `jsonl` (JSON lines).
    pub(super) format: String,
}

#[utoipa::path(get, path = "/api/v1/sign-ins/export", tag = "admin",
    params(SignInLogQuery, ExportFormat),
    responses((status = 200, description = "CSV or JSON lines"), (status = 400, body = ErrorBody)))]
pub async fn export_sign_ins(
    State(state): State<AppState>,
    caller: ApiCaller,
    Query(format): Query<ExportFormat>,
    Query(q): Query<SignInLogQuery>,
) -> Result<axum::response::Response, AppError> {
    caller.require(Permission::SignInLogRead)?;
    let limit = q.limit;
    let mut query = q.to_store()?;
    query.limit = limit.unwrap_or(10_000);
    let events = state.store.list_sign_ins(&query).await?;
    crate::ops::signin_export::render(&format.format, events)
}

#[derive(Deserialize, IntoParams)]
pub struct AuditLogQuery {
    /// Page backwards: only entries with a smaller sequence number.
    pub(super) before_seq: Option<i64>,
    pub(super) action: Option<String>,
    pub(super) target_id: Option<String>,
    pub(super) limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "admin", params(AuditLogQuery),
    responses((status = 200, body = [AuditView])))]
pub async fn list_audit(
    State(state): State<AppState>,
    caller: ApiCaller,
    Query(q): Query<AuditLogQuery>,
) -> Result<Json<Vec<AuditView>>, AppError> {
    caller.require(Permission::AuditLogRead)?;
    let entries = state
        .store
        .list_audit(&AuditQuery {
            before_seq: q.before_seq,
            action: q.action,
            target_id: q.target_id,
            limit: q.limit.unwrap_or(100),
        })
        .await?;
    Ok(Json(entries.into_iter().map(AuditView::from).collect()))
}

#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "admin",
    responses((status = 200, body = AuditVerifyView)))]
pub async fn verify_audit(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<AuditVerifyView>, AppError> {
    caller.require(Permission::AuditLogRead)?;
    Ok(Json(match state.store.verify_audit().await? {
        Ok(n) => AuditVerifyView {
            intact: true,
            entries_checked: n,
            first_broken_seq: None,
            message: format!("{n} entries verified"),
        },
        Err(e) => AuditVerifyView {
            intact: false,
            entries_checked: 0,
            first_broken_seq: Some(e.seq()),
            message: e.to_string(),
        },
    }))
}

/// This resource's routes.
pub(super) fn routes() -> axum::Router<crate::state::AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/sign-ins", get(list_sign_ins))
        .route("/sign-ins/export", get(export_sign_ins))
        .route("/audit", get(list_audit))
        .route("/audit/verify", get(verify_audit))
}
