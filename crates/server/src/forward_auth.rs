//! `GET /forward-auth`: the check a reverse proxy (nginx `auth_request`, Traefik
//! ForwardAuth, Caddy `forward_auth`, Envoy `ext_authz`) makes before every proxied request.
//! The original request is mapped to an application route (none: refused), the session
//! cookie is resolved like the pages do, and conditional access decides with the same
//! `access::evaluate` as the login flow. Allowed requests get identity headers and a
//! short-lived signed assertion (ES256 JWT, keys at `/.well-known/jwks.json`).

use crate::access::{self, Signals};
use crate::auth::{RequestCtx, resolve_session};
use crate::cae::{Entry, IdentityHeaders};
use crate::error::AppError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use std::sync::Arc;
use time::OffsetDateTime;
use trustplane_core::access::{ClientAppType, Outcome};
use trustplane_core::credential::secret_digest;
use uuid::Uuid;

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

/// The longest original URI accepted (the sign-in URL carries it, and proxies limit the
/// size of the headers an authorization answer may have).
pub const MAX_URI: usize = 8192;

fn build(scheme: &str, host: &str, uri: &str) -> Option<Original> {
    if uri.len() > MAX_URI || host.len() > 300 {
        return None;
    }
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

/// The client certificate thumbprint from the proxy's header: hex SHA-256 (colons allowed,
/// any case) as base64url (`x5t#S256`). `Ok(None)` without a certificate (header empty or,
/// when not configured, ignored); `Err(())` for anything else.
fn cert_thumbprint(value: Option<&str>) -> Result<Option<String>, ()> {
    use base64::Engine;
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let hex: String = v.chars().filter(|c| *c != ':').collect();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(());
    }
    let bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16))
        .collect::<Result<_, _>>()
        .map_err(|_| ())?;
    Ok(Some(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
    ))
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

/// How long an unsealed signing key is used before the store is asked again (key rotation).
const SIGNER_REFRESH: std::time::Duration = std::time::Duration::from_secs(300);

/// Signs an assertion with the cached signing key.
async fn sign(state: &AppState, claims: &serde_json::Value) -> Result<String, AppError> {
    let cached = state.cae.signer.lock().ok().and_then(|g| {
        g.as_ref()
            .filter(|(at, _)| at.elapsed() < SIGNER_REFRESH)
            .map(|(_, k)| k.clone())
    });
    let key = match cached {
        Some(k) => k,
        None => {
            let k = Arc::new(crate::keys::signer(state).await?);
            if let Ok(mut g) = state.cae.signer.lock() {
                *g = Some((std::time::Instant::now(), k.clone()));
            }
            k
        }
    };
    Ok(crate::keys::encode(&key.0, &key.1, claims)?)
}

/// Who an assertion is about.
struct Subject<'a> {
    sub: Uuid,
    username: &'a str,
    amr: &'a [&'a str],
    sid: Uuid,
    /// The client certificate thumbprint the assertion is bound to.
    cert: Option<&'a str>,
}

fn assertion_claims(iss: &str, aud: &str, now: i64, who: &Subject<'_>) -> serde_json::Value {
    let Subject {
        sub,
        username,
        amr,
        sid,
        cert,
    } = *who;
    let mut claims = serde_json::json!({
        "iss": iss,
        "sub": sub,
        "aud": aud,
        "iat": now,
        "exp": now + ASSERTION_SECONDS,
        "preferred_username": username,
        "amr": amr,
        "sid": sid,
    });
    if let Some(c) = cert {
        claims["cnf"] = serde_json::json!({ "x5t#S256": c });
    }
    claims
}

fn header_value(v: &str) -> HeaderValue {
    HeaderValue::from_bytes(v.as_bytes()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn allowed(identity: &IdentityHeaders, assertion: HeaderValue) -> Response {
    count("allow");
    let mut res = Response::new(axum::body::Body::from("OK\n"));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        HeaderName::from_static("x-trustplane-user"),
        identity.user.clone(),
    );
    h.insert(
        HeaderName::from_static("x-trustplane-email"),
        identity.email.clone(),
    );
    h.insert(
        HeaderName::from_static("x-trustplane-groups"),
        identity.groups.clone(),
    );
    h.insert(
        HeaderName::from_static("x-trustplane-device"),
        identity.device.clone(),
    );
    h.insert(HeaderName::from_static("x-trustplane-assertion"), assertion);
    res
}

/// Serves a request from a cached entry, or `None` when it must be evaluated from the
/// store: different client address or user agent, policy set not known current, session
/// expired, or the decision on the cached signals is no longer allow at this time.
async fn from_cache(
    state: &AppState,
    hit: &Entry,
    base: &str,
    ip: Option<std::net::IpAddr>,
    ua: u64,
    cert: Option<&str>,
    now: OffsetDateTime,
) -> Result<Option<Response>, AppError> {
    if hit.ip != ip || hit.ua_hash != ua || hit.iss != base || hit.cert.as_deref() != cert {
        return Ok(None);
    }
    let Some(policy) = state.policies.peek() else {
        return Ok(None);
    };
    if policy.version != hit.policy.version || policy.epoch != hit.policy.epoch {
        return Ok(None);
    }
    let touch = {
        let Ok(mut s) = hit.session.lock() else {
            return Ok(None);
        };
        if s.check(now).is_err() {
            return Ok(None);
        }
        let idle = s.touch(now, &state.session_policy);
        if let Some(idle) = idle {
            s.last_seen_at = now;
            s.idle_expires_at = idle;
        }
        idle.map(|idle| (s.id, idle))
    };
    if let Some((id, idle)) = touch {
        state.store.touch_session(id, now, idle).await?;
    }
    let mut ctx = hit.ctx.clone();
    ctx.now = now;
    if !matches!(
        trustplane_core::access::evaluate(&policy.set, &ctx).outcome,
        Outcome::Allow
    ) {
        return Ok(None);
    }
    let current = match hit.assertion.lock() {
        Ok(a) if a.1 - now.unix_timestamp() >= crate::cae::ASSERTION_MIN_LEFT => Some(a.0.clone()),
        Ok(_) => None,
        Err(_) => return Ok(None),
    };
    let assertion = match current {
        Some(a) => a,
        None => {
            let t = now.unix_timestamp();
            let claims = assertion_claims(
                &hit.iss,
                &hit.app_id,
                t,
                &Subject {
                    sub: hit.user_id,
                    username: &hit.username,
                    amr: &hit.amr,
                    sid: hit.session_id,
                    cert: hit.cert.as_deref(),
                },
            );
            let v = header_value(&sign(state, &claims).await?);
            if let Ok(mut a) = hit.assertion.lock() {
                *a = (v.clone(), t + ASSERTION_SECONDS);
            }
            v
        }
    };
    metrics::counter!("trustplane_forward_auth_cache_total", "result" => "hit").increment(1);
    Ok(Some(allowed(&hit.headers, assertion)))
}

pub async fn check(
    State(state): State<AppState>,
    ctx: RequestCtx,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    // Taken before anything is read from the store: an event applied after this point
    // invalidates what this request caches.
    let seq = state.cae.snapshot();
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
    let cert = match &state.cfg.client_cert_header {
        Some(name) => {
            let value = headers
                .get(name.as_str())
                .map(|v| v.to_str().map_err(|_| ()));
            match value.transpose().and_then(cert_thumbprint) {
                Ok(c) => c,
                Err(()) => {
                    count("bad_request");
                    return Ok(text(
                        StatusCode::BAD_REQUEST,
                        format!("The {name} header must be a hex SHA-256 fingerprint or empty.\n"),
                    ));
                }
            }
        }
        None => None,
    };
    let store = state.store.as_ref();
    let routes = state.cae.routes(store).await?;
    let Some(route) = crate::cae::route_in(&routes, &orig.host, orig.path()) else {
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
    let digest = state.session_secret(&jar).map(secret_digest);
    let Some(digest) = digest else {
        return Ok(login_required(
            &base,
            &orig,
            &route.app_id,
            "unauthenticated",
        ));
    };
    let now = OffsetDateTime::now_utc();
    let ua = crate::cae::ua_hash(ctx.user_agent.as_deref());
    let resource = crate::cae::resource_key(&route.app_id, route.sensitivity_label.as_deref());
    if let Some(hit) = state.cae.get(&digest, &resource) {
        if let Some(res) = from_cache(&state, &hit, &base, ctx.ip, ua, cert.as_deref(), now).await?
        {
            return Ok(res);
        }
        state.cae.remove(&digest, &resource);
    }
    metrics::counter!("trustplane_forward_auth_cache_total", "result" => "miss").increment(1);
    let Some(session) = resolve_session(&state, &jar).await? else {
        return Ok(login_required(
            &base,
            &orig,
            &route.app_id,
            "unauthenticated",
        ));
    };
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
    let amr = trustplane_core::authn::amr(methods);
    let t = now.unix_timestamp();
    let claims = assertion_claims(
        &base,
        &route.app_id,
        t,
        &Subject {
            sub: session.user.id,
            username: &session.user.username,
            amr: &amr,
            sid: session.session.id,
            cert: cert.as_deref(),
        },
    );
    let assertion = header_value(&sign(&state, &claims).await?);
    let identity = IdentityHeaders {
        user: header_value(&session.user.username),
        email: header_value(session.user.email.as_deref().unwrap_or_default()),
        groups: header_value(&groups.join(",")),
        device: HeaderValue::from_static(""),
    };
    let res = allowed(&identity, assertion.clone());
    state.cae.insert(
        &digest,
        Entry {
            seq,
            created: std::time::Instant::now(),
            user_id: session.user.id,
            session_id: session.session.id,
            app_id: route.app_id.clone(),
            resource,
            policy: loaded,
            ip: ctx.ip,
            ua_hash: ua,
            cert,
            iss: base,
            username: session.user.username.clone(),
            amr,
            ctx: actx,
            session: std::sync::Mutex::new(session.session),
            headers: identity,
            assertion: std::sync::Mutex::new((assertion, t + ASSERTION_SECONDS)),
        },
    );
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
    fn certificate_fingerprints_become_thumbprints() {
        let hex = "AB:CD:".to_string() + &"01".repeat(30);
        let t = cert_thumbprint(Some(&hex)).unwrap().unwrap();
        assert_eq!(t.len(), 43);
        assert_eq!(
            cert_thumbprint(Some(&hex.to_lowercase())).unwrap().unwrap(),
            t
        );
        assert_eq!(cert_thumbprint(Some("")), Ok(None));
        assert_eq!(cert_thumbprint(None), Ok(None));
        assert!(cert_thumbprint(Some("abc")).is_err());
        assert!(cert_thumbprint(Some(&"zz".repeat(32))).is_err());
        // Oversized or control characters in the original URI: refused.
        let long = format!("/{}", "a".repeat(MAX_URI));
        assert_eq!(
            original(&h(&[("x-forwarded-host", "w"), ("x-forwarded-uri", &long)])),
            None
        );
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for p in ["/a/../admin", "/a/%2e%2e/admin", "/a%2Fb", "/a\\b", "/./x"] {
            assert!(ambiguous(p), "{p}");
        }
        assert!(!ambiguous("/a/b.c/..d"));
    }
}
