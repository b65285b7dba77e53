//! The middleware every request passes through.

use crate::edge::auth::RequestCtx;
use crate::state::AppState;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use std::net::SocketAddr;
use std::time::Instant;
use uuid::Uuid;

/// Per-request edge: correlation id, client address, security headers, metrics.
pub async fn request_edge(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let ctx = RequestCtx {
        now: state.now(),
        correlation_id: Uuid::now_v7().to_string(),
        ip: state.client_ip(peer, req.headers()),
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect()),
        device: crate::signin::limits::device_cookie::hash_from_headers(&state, req.headers()),
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().to_string();
    let correlation = HeaderValue::from_str(&ctx.correlation_id).ok();
    req.extensions_mut().insert(ctx);
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    if let Some(c) = correlation {
        h.insert("x-correlation-id", c);
    }
    // An allowed forward-auth answer goes to the proxy only (never to a browser): only the
    // headers that matter.
    if !(route == "/forward-auth" && res.status() == StatusCode::OK) {
        crate::edge::headers::secure(res.headers_mut(), state.hsts.as_ref());
    }
    let status = res.status().as_u16().to_string();
    metrics::counter!("trustplane_http_requests_total",
        "method" => method.clone(), "route" => route.clone(), "status" => status)
    .increment(1);
    metrics::histogram!("trustplane_http_request_duration_seconds",
        "method" => method, "route" => route)
    .record(started.elapsed().as_secs_f64());
    res
}
