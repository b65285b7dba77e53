//! `/healthz` (the process answers), `/readyz` (the database reads and writes), `/metrics`
//! (Prometheus, behind its token).

use crate::edge::error::AppError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

pub async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    let ping = tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await;
    let unavailable = |error: &str, message: &str| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({
                "status": "unavailable",
                "error": error,
                "message": message,
            })),
        )
            .into_response()
    };
    if !matches!(ping, Ok(Ok(()))) {
        return unavailable("database_unavailable", "The database is not reachable.");
    }
    if !state.write_probe.writable(state.store.as_ref()).await {
        return unavailable(
            "database_unwritable",
            "The database cannot write (disk full or read-only?).",
        );
    }
    axum::Json(serde_json::json!({
        "status": "ready",
        "database": state.store.backend().name(),
    }))
    .into_response()
}

pub async fn metrics_endpoint(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Response {
    if !crate::edge::headers::metrics_allowed(state.metrics_token.as_ref(), &headers) {
        let mut res = AppError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Send the metrics token: Authorization: Bearer <token>.",
        )
        .into_response();
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"metrics\""),
        );
        return res;
    }
    match &state.metrics {
        Some(h) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            h.render(),
        )
            .into_response(),
        None => AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics_unavailable",
            "Metrics recorder is not installed.",
        )
        .into_response(),
    }
}
