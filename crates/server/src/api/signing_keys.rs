//! Admin API, signing keys: list (public halves and lifecycle) and rotate.

use crate::api::JsonBody;
use crate::edge::auth::ApiCaller;
use crate::edge::error::{AppError, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use trustplane_core::identity::Permission;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct KeyView {
    pub kid: String,
    pub alg: String,
    /// `next` (published, not signing yet), `signing`, `published` (superseded, still
    /// verifying what it signed) or `retired`.
    pub status: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub published_until: Option<OffsetDateTime>,
    #[schema(value_type = Object)]
    pub public_jwk: serde_json::Value,
}

/// Published signing keys, newest first (private halves never leave the server).
#[utoipa::path(get, path = "/api/v1/signing-keys", tag = "admin",
    responses((status = 200, body = [KeyView])))]
pub async fn list_keys(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<Vec<KeyView>>, AppError> {
    caller.require(Permission::PolicyRead)?;
    let now = state.now();
    let keys = state.store.published_signing_keys(now).await?;
    let signing: Vec<String> = [crate::platform::keys::ES256, crate::platform::keys::RS256]
        .iter()
        .filter_map(|alg| crate::platform::keys::signing_choice(&keys, alg, now).map(|k| k.kid))
        .collect();
    Ok(Json(
        keys.into_iter()
            .map(|k| KeyView {
                status: if signing.contains(&k.kid) {
                    "signing"
                } else if k.retired_at.is_some() {
                    "published"
                } else {
                    "next"
                },
                public_jwk: serde_json::from_str(&k.public_jwk).unwrap_or_default(),
                kid: k.kid,
                alg: k.alg,
                created_at: k.created_at,
                published_until: k.retired_at,
            })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKeys {
    /// `ES256` (default) or `RS256`.
    #[serde(default)]
    pub alg: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Rotated {
    pub kid: String,
    /// When the new key starts signing (it is published at once).
    #[serde(with = "time::serde::rfc3339")]
    pub signs_from: OffsetDateTime,
}

/// Creates a new key for the algorithm; the current one keeps signing until the new one has
/// been published for 10 minutes, and stays published until what it signed has expired.
#[utoipa::path(post, path = "/api/v1/signing-keys/rotate", tag = "admin",
    request_body = RotateKeys,
    responses((status = 200, body = Rotated), (status = 400, body = ErrorBody)))]
pub async fn rotate(
    State(state): State<AppState>,
    caller: ApiCaller,
    JsonBody(body): JsonBody<RotateKeys>,
) -> Result<Json<Rotated>, AppError> {
    caller.require(Permission::PolicyWrite)?;
    let alg = body.alg.as_deref().unwrap_or(crate::platform::keys::ES256);
    if alg != crate::platform::keys::ES256 && alg != crate::platform::keys::RS256 {
        return Err(AppError::bad_request(
            "unsupported_alg",
            "Signing keys are ES256 or RS256.",
        ));
    }
    let kid = crate::platform::keys::rotate(
        state.store.as_ref(),
        &state.signing_key,
        alg,
        &caller.actor(),
        "manual",
        state.now(),
    )
    .await?;
    Ok(Json(Rotated {
        kid,
        signs_from: state.now() + crate::platform::keys::PUBLISH_AHEAD,
    }))
}

/// This resource's routes.
pub(super) fn routes() -> axum::Router<crate::state::AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/signing-keys", get(list_keys))
        .route("/signing-keys/rotate", post(rotate))
}
