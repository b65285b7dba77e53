//! A user's sign-in methods through the API: list, remove, temporary password,
//! re-registration, Temporary Access Pass.

use crate::api::JsonBody;
use crate::api::shared::ops;
use crate::api::users::ensure_may_act;
use crate::edge::api_input::Path;
use crate::edge::auth::ApiCaller;
use crate::edge::error::{AppError, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use time::OffsetDateTime;
use trustplane_core::identity::Permission;
use uuid::Uuid;

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct MethodList {
    pub methods: Vec<MethodItem>,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct MethodItem {
    pub id: Uuid,
    /// `totp`
    pub kind: String,
    pub label: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<OffsetDateTime>,
    /// Security keys and passkeys only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webauthn: Option<WebauthnDetail>,
}

/// What is known about a security key or passkey.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct WebauthnDetail {
    /// Authenticator model; absent when it did not say.
    pub aaguid: Option<Uuid>,
    /// `device-bound` or `synced`.
    pub binding: &'static str,
    pub backup_state: bool,
    /// A vendor attestation certificate was presented at registration.
    pub attested: bool,
    pub attestation_format: String,
    /// User verification (PIN, biometric) at registration.
    pub user_verified: bool,
    pub sign_count: u32,
}

/// A user's registered second factors (never their secrets).
#[utoipa::path(get, path = "/api/v1/users/{id}/methods", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = MethodList), (status = 404, body = ErrorBody)))]
pub async fn list_methods(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<MethodList>, AppError> {
    caller.require(Permission::UsersRead)?;
    ops(&state).user(id).await?;
    let methods = state.store.list_mfa_methods(id).await?;
    let keys = state.store.list_webauthn_credentials(id).await?;
    Ok(Json(MethodList {
        methods: methods
            .into_iter()
            .map(|m| MethodItem {
                webauthn: keys.iter().find(|k| k.id == m.id).map(|k| WebauthnDetail {
                    aaguid: k.aaguid,
                    binding: k.binding(),
                    backup_state: k.backup_state,
                    attested: k.attested,
                    attestation_format: k.attestation_format.clone(),
                    user_verified: k.user_verified,
                    sign_count: k.sign_count,
                }),
                id: m.id,
                kind: m.kind.as_str().into(),
                label: m.label,
                created_at: m.created_at,
                last_used_at: m.last_used_at,
            })
            .collect(),
        recovery_codes_left: state.store.unused_recovery_codes(id).await?,
    }))
}

/// Removes one of a user's second factors (e.g. a lost phone).
#[utoipa::path(delete, path = "/api/v1/users/{id}/methods/{method}", tag = "admin",
    params(("id" = Uuid, Path), ("method" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_method(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path((id, method)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, AppError> {
    ensure_may_act(&state, &caller, Permission::UsersResetPassword, id).await?;
    ops(&state)
        .remove_mfa_method(&caller.actor(), id, method)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets a generated temporary password the user must change at the next sign-in (every
/// session revoked) and returns it, once.
#[utoipa::path(post, path = "/api/v1/users/{id}/password/temporary", tag = "admin",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "the temporary password, shown once"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn temporary_password(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<impl axum::response::IntoResponse, AppError> {
    ensure_may_act(&state, &caller, Permission::UsersResetPassword, id).await?;
    let password = ops(&state).temporary_password(&caller.actor(), id).await?;
    Ok((
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({ "password": password, "must_change": true })),
    ))
}

/// Requires the user to register their second factors again: every method and recovery code
/// is removed, every session revoked, and the next sign-in registers a method.
#[utoipa::path(post, path = "/api/v1/users/{id}/methods/require-reregistration", tag = "admin",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "methods removed"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn require_reregistration(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<serde_json::Value>, AppError> {
    ensure_may_act(&state, &caller, Permission::UsersResetPassword, id).await?;
    let removed = ops(&state)
        .require_reregistration(&caller.actor(), id)
        .await?;
    Ok(Json(
        serde_json::json!({ "methods_removed": removed, "reregistration_required": true }),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueTap {
    /// 10 to 43200 (30 days); default 60.
    pub lifetime_minutes: Option<i64>,
    /// One sign-in only (default true).
    pub one_time: Option<bool>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct IssuedTap {
    /// The pass: shown once, stored only as its SHA-256.
    pub pass: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
    pub one_time: bool,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct TapStatus {
    pub usable: bool,
    pub one_time: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub used_at: Option<OffsetDateTime>,
}

/// Issues a Temporary Access Pass (replacing the user's earlier one).
#[utoipa::path(post, path = "/api/v1/users/{id}/temporary-access-pass", tag = "admin",
    params(("id" = Uuid, Path)), request_body = IssueTap,
    responses((status = 201, body = IssuedTap), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn issue_tap(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
    JsonBody(body): JsonBody<IssueTap>,
) -> Result<(StatusCode, Json<IssuedTap>), AppError> {
    ensure_may_act(&state, &caller, Permission::UsersResetPassword, id).await?;
    let lifetime = crate::platform::durations::minutes(body.lifetime_minutes.unwrap_or(60))
        .ok_or_else(|| {
            AppError::bad_request("invalid_lifetime", "lifetime_minutes is out of range")
        })?;
    let one_time = body.one_time.unwrap_or(true);
    let (t, pass) = ops(&state)
        .issue_tap(&caller.actor(), id, lifetime, one_time)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedTap {
            pass,
            expires_at: t.expires_at,
            one_time: t.one_time,
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/users/{id}/temporary-access-pass", tag = "admin",
    params(("id" = Uuid, Path)), responses((status = 200, body = TapStatus), (status = 404, body = ErrorBody)))]
pub async fn get_tap(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<TapStatus>, AppError> {
    caller.require(Permission::UsersRead)?;
    let Some(t) = state.store.tap_of(id).await? else {
        return Err(AppError::not_found("temporary access pass"));
    };
    Ok(Json(TapStatus {
        usable: t.usable(state.now()),
        one_time: t.one_time,
        created_at: t.created_at,
        expires_at: t.expires_at,
        used_at: t.used_at,
    }))
}

#[utoipa::path(delete, path = "/api/v1/users/{id}/temporary-access-pass", tag = "admin",
    params(("id" = Uuid, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn revoke_tap(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, AppError> {
    ensure_may_act(&state, &caller, Permission::UsersResetPassword, id).await?;
    if ops(&state).revoke_tap(&caller.actor(), id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found("temporary access pass"))
    }
}

/// This resource's routes.
pub(super) fn routes() -> axum::Router<crate::state::AppState> {
    use axum::routing::{delete, get, post};
    axum::Router::new()
        .route(
            "/users/{id}/temporary-access-pass",
            get(get_tap).post(issue_tap).delete(revoke_tap),
        )
        .route("/users/{id}/methods", get(list_methods))
        .route("/users/{id}/methods/{method}", delete(remove_method))
        .route("/users/{id}/password/temporary", post(temporary_password))
        .route(
            "/users/{id}/methods/require-reregistration",
            post(require_reregistration),
        )
}
