//! API input extractors whose rejections answer the API's error shape
//! (`{ "error": code, "message": text }`), and a last line of defence that gives every other
//! API rejection (an unknown method, a body over the size limit) the same shape.
//!
//! Every API handler takes its query, path and JSON body through [`Query`], [`Path`] and
//! [`JsonBody`] (the axum extractors would answer plain text).

use crate::edge::error::{AppError, ErrorBody};
use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

/// Longest rejection text carried into a message.
const MAX_DETAIL: usize = 300;

fn detail(text: &str) -> String {
    text.chars().take(MAX_DETAIL).collect()
}

/// A query string, or a 400 `invalid_query` naming what is wrong.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(rej) => Err(AppError::bad_request(
                "invalid_query",
                detail(&rej.body_text()),
            )),
        }
    }
}

/// Path parameters, or a 400 `invalid_path` (e.g. an id that is not a UUID).
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(rej) if rej.status().is_server_error() => {
                tracing::error!(rejection = %rej.body_text(), "path extraction failed");
                Err(AppError::internal())
            }
            Err(rej) => Err(AppError::bad_request(
                "invalid_path",
                detail(&rej.body_text()),
            )),
        }
    }
}

/// A JSON body: 400 for malformed JSON, 422 for a missing field or a wrong type, 415 for a
/// missing or wrong content type, 413 for an oversized body (code `invalid_body`).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = AppError;
    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(JsonBody(v)),
            Err(rej) => Err(AppError::new(
                rej.status(),
                "invalid_body",
                detail(&rej.body_text()),
            )),
        }
    }
}

/// The code of a rejection that did not come from our extractors, by its status.
fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        s if s.is_server_error() => "internal_error",
        _ => "bad_request",
    }
}

fn is_json(res: &Response) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The outermost middleware: an error answer under `/api/` that is not JSON yet (axum's own
/// 405, the body-limit layer's 413, …) is rewritten into the API's error shape. Its text is
/// kept as the message; server errors never show theirs.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let res = next.run(req).await;
    if !api {
        return res;
    }
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&res) {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let text = match axum::body::to_bytes(body, 16 * 1024).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = if status.is_server_error() || text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("The request was refused.")
            .to_string()
    } else {
        detail(&text)
    };
    let body = ErrorBody {
        error: code_for(status).to_string(),
        message,
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    (parts, Body::from(bytes)).into_response()
}
