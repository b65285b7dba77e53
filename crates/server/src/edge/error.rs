//! One error shape for the API (`{ "error": code, "message": text }`) and friendly pages for
//! browsers. Internal details (database messages) are logged, never shown.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use trustplane_core::identity::IdentityError;
use trustplane_store::StoreError;

#[derive(Debug, Clone)]
pub struct AppError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AppError {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Sign in, or send a valid API token in the Authorization header.",
        )
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "The form expired or did not come from this site. Reload the page and try again.",
        )
    }
    /// Too much work waiting (password hashing): 503 with `Retry-After`.
    pub fn busy() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "Too many sign-ins are in progress right now. Try again in a moment.",
        )
    }
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong on our side. Try again later.",
        )
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::Conflict(what) => AppError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{what} already exists"),
            ),
            StoreError::NotFound(what) => AppError::not_found(what),
            StoreError::InUse(what) => AppError::new(StatusCode::CONFLICT, "in_use", *what),
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %e, "database unavailable");
                AppError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "The database is unavailable. Try again shortly.",
                )
            }
            _ => {
                tracing::error!(error = %e, "store error");
                AppError::internal()
            }
        }
    }
}

impl From<IdentityError> for AppError {
    fn from(e: IdentityError) -> Self {
        AppError::bad_request(e.code(), e.to_string())
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code.
    pub error: String,
    /// Human-readable explanation.
    pub message: String,
}

/// JSON error response (API).
impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.to_string(),
            message: self.message,
        };
        with_retry_after((self.status, axum::Json(body)).into_response())
    }
}

/// Seconds a client is asked to wait after a 503.
pub const RETRY_AFTER_SECONDS: u32 = 2;

/// Adds `Retry-After` to a 503 (overload, database unavailable) that has none.
pub fn with_retry_after(mut r: Response) -> Response {
    if r.status() == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut()
            .entry(axum::http::header::RETRY_AFTER)
            .or_insert(axum::http::HeaderValue::from(RETRY_AFTER_SECONDS));
    }
    r
}

pub type ApiResult<T> = Result<T, AppError>;
