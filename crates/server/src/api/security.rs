//! Admin API, security: the breached-password filter and risk detections.

use crate::edge::api_input::{Path, Query};
use crate::edge::auth::ApiCaller;
use crate::edge::error::{AppError, ErrorBody};
use crate::signals::breach::{BreachStatus, Reload};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trustplane_core::identity::Permission;
use trustplane_core::mfa::policy::MethodsPolicy;
use trustplane_core::risk::{DetectionState, RiskDetection};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[utoipa::path(get, path = "/api/v1/password/breach-filter", tag = "admin",
    responses((status = 200, body = BreachStatus)))]
pub async fn breach_status(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<BreachStatus>, AppError> {
    caller.require(Permission::PolicyRead)?;
    Ok(Json(state.breach.status()))
}

/// Reloads the filter file now (the server also notices a new file by itself).
#[utoipa::path(post, path = "/api/v1/password/breach-filter/reload", tag = "admin",
    responses((status = 200, body = BreachStatus), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn reload_breach(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<BreachStatus>, AppError> {
    caller.require(Permission::PolicyWrite)?;
    match crate::console::protection::reload_breach(&state).await? {
        Reload::Loaded { .. } | Reload::Unchanged => Ok(Json(state.breach.status())),
        Reload::Missing => Err(AppError::new(
            StatusCode::NOT_FOUND,
            "no_filter_file",
            "There is no filter file to load; import one with `trustplane password import-breached`.",
        )),
        Reload::Failed(m) => Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "filter_unusable",
            format!("The filter file cannot be used ({m}); the previous filter stays in use."),
        )),
    }
}

#[derive(Serialize, ToSchema)]
pub struct RiskDetectionView {
    pub id: Uuid,
    pub user_id: Uuid,
    /// `leaked_credentials`, …
    pub kind: String,
    /// `low`, `medium` or `high`.
    pub level: String,
    /// `at_risk`, `remediated` or `dismissed`.
    pub state: String,
    pub source: String,
    pub correlation_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub detected_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: time::OffsetDateTime,
}

impl From<RiskDetection> for RiskDetectionView {
    fn from(d: RiskDetection) -> Self {
        RiskDetectionView {
            id: d.id,
            user_id: d.user_id,
            kind: d.kind.as_str().into(),
            level: d.level.as_str().into(),
            state: d.state.as_str().into(),
            source: d.source,
            correlation_id: d.correlation_id,
            detected_at: d.detected_at,
            updated_at: d.updated_at,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RiskQuery {
    /// Only this user's detections.
    pub user_id: Option<Uuid>,
    /// `at_risk`, `remediated` or `dismissed`.
    pub state: Option<String>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/risk-detections", tag = "admin", params(RiskQuery),
    responses((status = 200, body = [RiskDetectionView]), (status = 400, body = ErrorBody)))]
pub async fn list_risk_detections(
    State(state): State<AppState>,
    caller: ApiCaller,
    Query(q): Query<RiskQuery>,
) -> Result<Json<Vec<RiskDetectionView>>, AppError> {
    caller.require(Permission::PolicyRead)?;
    let filter = match q.state.as_deref() {
        None => None,
        Some(s) => Some(DetectionState::parse(s).ok_or_else(|| {
            AppError::bad_request(
                "invalid_state",
                "`state` is one of at_risk, remediated, dismissed.",
            )
        })?),
    };
    let list = state
        .store
        .list_risk_detections(q.user_id, filter, q.limit.unwrap_or(100).clamp(1, 1000))
        .await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/api/v1/risk-detections/{id}/dismiss", tag = "admin",
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn dismiss_risk_detection(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, AppError> {
    caller.require(Permission::PolicyWrite)?;
    crate::console::protection::dismiss_detection_op(&state, &caller.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The authentication methods policy in force.
#[utoipa::path(get, path = "/api/v1/policies/authentication-methods", tag = "admin",
    responses((status = 200, description = "the policy", body = Object)))]
pub async fn get_methods_policy(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<MethodsPolicy>, AppError> {
    caller.require(Permission::PolicyRead)?;
    Ok(Json(state.ops().methods_policy().await?))
}

/// Replaces the authentication methods policy (validated; audited with before and after).
#[utoipa::path(put, path = "/api/v1/policies/authentication-methods", tag = "admin",
    request_body(content = Object, description = "the whole policy: totp, recovery_codes, require_mfa, registration"),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_methods_policy(
    State(state): State<AppState>,
    caller: ApiCaller,
    crate::api::JsonBody(policy): crate::api::JsonBody<MethodsPolicy>,
) -> Result<Json<MethodsPolicy>, AppError> {
    caller.require(Permission::PolicyWrite)?;
    state
        .ops()
        .set_methods_policy(&caller.actor(), &policy)
        .await?;
    Ok(Json(policy))
}

/// This resource's routes.
pub(super) fn routes() -> axum::Router<crate::state::AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route(
            "/policies/authentication-methods",
            get(get_methods_policy).put(put_methods_policy),
        )
        .route("/password/breach-filter", get(breach_status))
        .route("/password/breach-filter/reload", post(reload_breach))
        .route("/risk-detections", get(list_risk_detections))
        .route(
            "/risk-detections/{id}/dismiss",
            post(dismiss_risk_detection),
        )
}
