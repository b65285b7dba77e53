//! `GET /forward-auth`: the check a reverse proxy (nginx `auth_request`, Traefik
//! ForwardAuth, Caddy `forward_auth`, Envoy `ext_authz`) makes before every proxied request.
//! The original request is mapped to an application route (none: refused), the session
//! cookie is resolved like the pages do, and conditional access decides with the same
//! `access::evaluate` as the login flow. Allowed requests get identity headers and a
//! short-lived signed assertion (ES256 JWT, keys at `/.well-known/jwks.json`).

use crate::access::{self, Signals};
use crate::auth::{RequestCtx, resolve_session};
use crate::error::AppError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use time::OffsetDateTime;
use trustplane_core::access::{ClientAppType, Outcome};

/// How long an assertion is valid.
pub const ASSERTION_SECONDS: i64 = 60;

/// The request the proxy is asking about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original {
    pub scheme: String,
    /// As sent (lowercase), with a port when there is one.
    pub host: String,
    /// Path and query, starting with `/`.
    pub uri: String,
}

impl Original {
    pub fn url(&self) -> String {
        format!("{}://{}{}", self.scheme, self.host, self.uri)
    }
    pub fn path(&self) -> &str {
        self.uri.split(['?', '#']).next().unwrap_or("/")
    }
}

fn first(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Reads the original request from `X-Forwarded-Host`/`-Uri`/`-Proto` (Traefik, Caddy) or
/// `X-Original-URL` (nginx).
pub fn original(headers: &HeaderMap) -> Option<Original> {
    if let Some(host) = first(headers, "x-forwarded-host") {
        let scheme = first(headers, "x-forwarded-proto").unwrap_or_else(|| "http".into());
        let uri = first(headers, "x-forwarded-uri").unwrap_or_else(|| "/".into());
        return build(&scheme, &host, &uri);
    }
    let raw = headers.get("x-original-url")?.to_str().ok()?;
    let (scheme, rest) = raw.split_once("://")?;
    let split = rest.find('/').unwrap_or(rest.len());
    let (host, uri) = rest.split_at(split);
    build(scheme, host, if uri.is_empty() { "/" } else { uri })
}

fn build(scheme: &str, host: &str, uri: &str) -> Option<Original> {
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let host = crate::applications::normalise_host(host)?;
    if !uri.starts_with('/') || uri.chars().any(char::is_control) {
        return None;
    }
    Some(Original {
        scheme,
        host,
        uri: uri.to_string(),
    })
}

/// A path a backend might resolve differently from how it reads (dot segments, encoded
/// slashes or dots, backslashes): refused rather than matched against the wrong route.
pub fn ambiguous(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.contains("%2f")
        || lower.contains("%2e")
        || lower.contains("%5c")
        || path.contains('\\')
        || path.split('/').any(|s| s == "." || s == "..")
}

fn count(result: &'static str) {
    metrics::counter!("trustplane_forward_auth_total", "result" => result).increment(1);
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The public base URL: configured, or the address the proxy reached trustplane on.
fn base(state: &AppState, headers: &HeaderMap) -> String {
    if state.cfg.public_url.is_some() {
        return state.cfg.public_url();
    }
    match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(h) if crate::applications::normalise_host(h).is_some() => format!("http://{h}"),
        _ => state.cfg.public_url(),
    }
}

fn login_required(base: &str, orig: &Original, app: &str, result: &'static str) -> Response {
    count(result);
    // The application rides along so that the sign-in (or the step-up of a live session)
    // evaluates conditional access for it, and asks for what it requires.
    let req = crate::stepup::SignInRequest {
        app: Some(app.to_string()),
        ..Default::default()
    };
    let login = crate::stepup::login_url(base, &orig.url(), &req);
    let mut res = text(StatusCode::UNAUTHORIZED, "Sign-in required.\n".to_string());
    if let Ok(v) = HeaderValue::from_str(&login) {
        res.headers_mut().insert("x-trustplane-login", v);
    }
    res
}

fn set(res: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
        res.headers_mut().insert(HeaderName::from_static(name), v);
    }
}

pub async fn check(
    State(state): State<AppState>,
    ctx: RequestCtx,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Some(orig) = original(&headers) else {
        count("bad_request");
        return Ok(text(
            StatusCode::BAD_REQUEST,
            "The proxy must send X-Forwarded-Host and X-Forwarded-Uri, or X-Original-URL.\n".into(),
        ));
    };
    if ambiguous(orig.path()) {
        count("denied");
        return Ok(text(
            StatusCode::FORBIDDEN,
            format!(
                "Access denied: ambiguous path. Correlation id: {}\n",
                ctx.correlation_id
            ),
        ));
    }
    let store = state.store.as_ref();
    let Some(route) = crate::applications::route_for(store, &orig.host, orig.path()).await? else {
        count("no_route");
        return Ok(text(
            StatusCode::FORBIDDEN,
            format!(
                "Access denied: no application is configured for this address. Correlation id: {}\n",
                ctx.correlation_id
            ),
        ));
    };
    let base = base(&state, &headers);
    let jar = CookieJar::from_headers(&headers);
    let Some(session) = resolve_session(&state, &jar).await? else {
        return Ok(login_required(
            &base,
            &orig,
            &route.app_id,
            "unauthenticated",
        ));
    };
    let now = OffsetDateTime::now_utc();
    let methods = &session.session.methods;
    let target =
        crate::stepup::resource_target(store, &route.app_id, route.sensitivity_label.as_deref())
            .await?;
    let actx = access::context(
        store,
        Signals {
            user_id: session.user.id,
            methods,
            primary_at: methods.first().map(|m| m.at),
            ip: ctx.ip,
            country: state.country_of(ctx.ip),
            user_agent: ctx.user_agent.as_deref(),
            client_app: ClientAppType::Browser,
            target,
            password_changed: false,
            now,
        },
    )
    .await?;
    let loaded = state.policies.get(store).await?;
    let decision = trustplane_core::access::evaluate(&loaded.set, &actx);
    match decision.outcome {
        Outcome::Allow => {}
        Outcome::Requires(_) => {
            return Ok(login_required(&base, &orig, &route.app_id, "step_up"));
        }
        Outcome::Block { .. } => {
            count("blocked");
            tracing::info!(app = %route.app_id, user = %session.user.id,
                correlation_id = %ctx.correlation_id, "forward-auth request blocked by policy");
            return Ok(text(
                StatusCode::FORBIDDEN,
                format!(
                    "Access denied by your organisation's policy. Correlation id: {}\n",
                    ctx.correlation_id
                ),
            ));
        }
    }
    let groups: Vec<String> = store
        .groups_of(session.user.id)
        .await?
        .into_iter()
        .map(|g| g.name)
        .collect();
    let claims = serde_json::json!({
        "iss": base,
        "sub": session.user.id,
        "aud": route.app_id,
        "iat": now.unix_timestamp(),
        "exp": now.unix_timestamp() + ASSERTION_SECONDS,
        "preferred_username": session.user.username,
        "amr": trustplane_core::authn::amr(methods),
        "sid": session.session.id,
    });
    let assertion = crate::keys::sign(&state, &claims).await?;
    count("allow");
    let mut res = text(StatusCode::OK, "OK\n".into());
    set(&mut res, "x-trustplane-user", &session.user.username);
    set(
        &mut res,
        "x-trustplane-email",
        session.user.email.as_deref().unwrap_or_default(),
    );
    set(&mut res, "x-trustplane-groups", &groups.join(","));
    set(&mut res, "x-trustplane-device", "");
    set(&mut res, "x-trustplane-assertion", &assertion);
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        m
    }

    #[test]
    fn reads_both_header_styles() {
        let o = original(&h(&[
            ("x-forwarded-host", "Wiki.Example.com"),
            ("x-forwarded-uri", "/a/b?c=d"),
            ("x-forwarded-proto", "https"),
        ]))
        .unwrap();
        assert_eq!(o.url(), "https://wiki.example.com/a/b?c=d");
        assert_eq!(o.path(), "/a/b");
        let o = original(&h(&[("x-original-url", "http://127.0.0.1:8080/x?y")])).unwrap();
        assert_eq!(o.host, "127.0.0.1:8080");
        assert_eq!(o.uri, "/x?y");
        let o = original(&h(&[("x-original-url", "http://h.example")])).unwrap();
        assert_eq!(o.uri, "/");
        assert_eq!(original(&h(&[("x-original-url", "ftp://h/x")])), None);
        assert_eq!(original(&h(&[("x-original-url", "http://a@b/x")])), None);
        assert_eq!(original(&HeaderMap::new()), None);
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for p in ["/a/../admin", "/a/%2e%2e/admin", "/a%2Fb", "/a\\b", "/./x"] {
            assert!(ambiguous(p), "{p}");
        }
        assert!(!ambiguous("/a/b.c/..d"));
    }
}
