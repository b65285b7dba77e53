//! `GET /forward-auth`: the check a reverse proxy (nginx `auth_request`, Traefik
//! ForwardAuth, Caddy `forward_auth`, Envoy `ext_authz`) makes before every proxied request.
//! The original request is mapped to an application route (none: refused), the session
//! cookie is resolved like the pages do, and conditional access decides with the same
//! `access::evaluate` as the login flow. Allowed requests get identity headers and a
//! short-lived signed assertion (ES256 JWT, keys at `/.well-known/jwks.json`).

use crate::edge::auth::{RequestCtx, SessionCtx, resolve_session};
use crate::edge::error::AppError;
use crate::enforce::cae::{Entry, IdentityHeaders};
use crate::enforce::forward_auth::assertion::Subject;
use crate::enforce::forward_auth::assertion::allowed;
use crate::enforce::forward_auth::assertion::assertion_claims;
use crate::enforce::forward_auth::assertion::groups_header;
use crate::enforce::forward_auth::assertion::header_value;
use crate::enforce::forward_auth::assertion::sign;
use crate::enforce::policy::{self, Signals};
use crate::state::AppState;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
pub use original::{MAX_URI, Original};
use std::ops::ControlFlow::{self, Break, Continue};
use std::sync::Arc;
use time::OffsetDateTime;
use trustplane_core::access::{AccessContext, ClientAppType, Outcome};
use trustplane_core::credential::secret_digest;
use trustplane_core::device::Device;
use trustplane_store::Route;
use uuid::Uuid;

pub mod assertion;
pub mod original;

pub mod path;

/// How long an assertion is valid.
pub const ASSERTION_SECONDS: i64 = 60;

/// The client certificate thumbprint from the proxy's header: hex SHA-256 (colons allowed,
/// any case) as base64url (`x5t#S256`). `Ok(None)` without a certificate (header empty or,
/// when not configured, ignored); `Err(())` for anything else.
fn cert_thumbprint(value: Option<&str>) -> Result<Option<String>, ()> {
    use base64::Engine;
    let Some(hex) = client_cert_fingerprint(value)? else {
        return Ok(None);
    };
    let bytes = hex::decode(hex).map_err(|_| ())?;
    Ok(Some(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
    ))
}

/// The SHA-256 fingerprint (lowercase hex) of the client certificate the proxy reports:
/// either the fingerprint itself (hex, colons allowed: Caddy, Envoy, Traefik plugins) or the
/// certificate (PEM, URL-escaped as nginx's `$ssl_client_escaped_cert` gives it), whose DER
/// is hashed here. Empty: no certificate. Anything else is refused.
fn client_cert_fingerprint(value: Option<&str>) -> Result<Option<String>, ()> {
    use sha2::Digest;
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.starts_with("-----BEGIN") || v.starts_with("%2D%2D") || v.starts_with("%2d%2d") {
        let pem = percent_encoding::percent_decode_str(v)
            .decode_utf8()
            .map_err(|_| ())?;
        let (_, parsed) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|_| ())?;
        if parsed.label != "CERTIFICATE" || parsed.parse_x509().is_err() {
            return Err(());
        }
        return Ok(Some(hex::encode(sha2::Sha256::digest(&parsed.contents))));
    }
    trustplane_core::device::normalise_fingerprint(v)
        .map(Some)
        .ok_or(())
}

fn count(result: &'static str) {
    metrics::counter!("trustplane_forward_auth_total", "result" => result).increment(1);
}

/// An answer to the proxy: no body (so that nginx can keep the connection: it does not read
/// the body of an `auth_request` answer), the reason in the log only.
fn empty(status: StatusCode) -> Response {
    let mut res = Response::new(axum::body::Body::empty());
    *res.status_mut() = status;
    res
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
        Some(h) if crate::enforce::app_routes::normalise_host(h).is_some() => format!("http://{h}"),
        _ => state.cfg.public_url(),
    }
}

fn login_required(base: &str, orig: &Original, app: &str, result: &'static str) -> Response {
    count(result);
    // The application rides along so that the sign-in (or the step-up of a live session)
    // evaluates conditional access for it, and asks for what it requires.
    let req = crate::enforce::stepup::SignInRequest {
        app: Some(app.to_string()),
        ..Default::default()
    };
    let login = crate::enforce::stepup::login_url(base, &orig.url(), &req);
    let mut res = empty(StatusCode::UNAUTHORIZED);
    if let Ok(v) = HeaderValue::from_str(&login) {
        res.headers_mut().insert("x-trustplane-login", v);
    }
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
        Ok(a) if a.1 - now.unix_timestamp() >= crate::enforce::cae::ASSERTION_MIN_LEFT => {
            Some(a.0.clone())
        }
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

/// The TCP peer of the request (the proxy asking), when known.
pub struct Peer(pub Option<std::net::SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(crate::edge::auth::peer(parts)))
    }
}

/// A refusal before any session is looked at: logged with the reason, answered with the
/// status (and, for a broken proxy configuration, the reason as text).
fn refused(r: original::Refusal, ctx: &RequestCtx, peer: Option<std::net::IpAddr>) -> Response {
    count(r.result);
    if r.status.is_server_error() {
        tracing::error!(correlation_id = %ctx.correlation_id, reason = %r.message,
            "forward-auth check refused");
    } else {
        tracing::warn!(correlation_id = %ctx.correlation_id, peer = ?peer, reason = %r.message,
            "forward-auth check refused");
    }
    if r.status == StatusCode::FORBIDDEN {
        return empty(r.status);
    }
    text(r.status, format!("{}\n", r.message))
}

/// The route for a request to `host` (lowercase, maybe with a port) and the canonical `path`:
/// exact host first, then the host without its port.
pub fn route_in(
    map: &std::collections::HashMap<String, Vec<trustplane_store::Route>>,
    host: &str,
    path: &str,
) -> Option<trustplane_store::Route> {
    let find = |h: &str| map.get(h).and_then(|rs| path::best(rs, path).cloned());
    find(host).or_else(|| host.rsplit_once(':').and_then(|(bare, _)| find(bare)))
}

/// `GET /forward-auth`. The stages, in order (each before the last may end the check with its
/// own answer):
///
/// 1. the original request (`original_request`): asked by a trusted proxy, read from the
///    configured headers, its path canonicalised and the client certificate header read;
/// 2. the application route it maps to (`application_route`; none: `403`);
/// 3. the session cookie (none: sign in), then the continuous-access cache (`cached`): an
///    entry the request still matches answers it;
/// 4. the session (none: sign in), then the access context with the device, and the policy
///    decision on it (`decide`);
/// 5. step-up (sign in again) or block (`403`) (`step_up_or_block`);
/// 6. the answer (`answer`): identity headers and a signed assertion, the decision cached.
pub async fn check(
    State(state): State<AppState>,
    ctx: RequestCtx,
    Peer(peer): Peer,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    // Taken before anything is read from the store: an event applied after this point
    // invalidates what this request caches.
    let seq = state.cae.snapshot();
    let asked = match original_request(&state, &ctx, peer.map(|p| p.ip()), &headers) {
        Continue(asked) => asked,
        Break(res) => return Ok(res),
    };
    let route = match application_route(&state, &ctx, &asked).await? {
        Continue(route) => route,
        Break(res) => return Ok(res),
    };
    let base = base(&state, &headers);
    let jar = CookieJar::from_headers(&headers);
    let Some(digest) = state.session_secret(&jar).map(secret_digest) else {
        return Ok(login_required(
            &base,
            &asked.orig,
            &route.app_id,
            "unauthenticated",
        ));
    };
    let visit = Visit::new(
        &state,
        &ctx,
        &route,
        seq,
        digest,
        base,
        asked.cert.thumbprint,
    );
    if let Break(res) = cached(&state, &visit).await? {
        return Ok(res);
    }
    let Some(session) = resolve_session(&state, &jar).await? else {
        return Ok(login_required(
            &visit.base,
            &asked.orig,
            &route.app_id,
            "unauthenticated",
        ));
    };
    let fingerprint = asked.cert.fingerprint.as_deref();
    let decided = decide(&state, &ctx, &route, &session, fingerprint, visit.now).await?;
    if let Break(res) = step_up_or_block(
        &decided.outcome,
        &visit.base,
        &asked.orig,
        &route,
        session.user.id,
        &ctx,
    ) {
        return Ok(res);
    }
    answer(&state, visit, &route, session, decided).await
}

/// The original request as a trusted proxy reports it.
struct Asked {
    orig: Original,
    /// The canonical path (`path::canonical`): what the route is chosen on.
    path: String,
    cert: ClientCert,
}

/// The client certificate the proxy verified (none without `client_cert_header`).
#[derive(Default)]
struct ClientCert {
    /// Its `x5t#S256` thumbprint: what an assertion is bound to.
    thumbprint: Option<String>,
    /// Its SHA-256 fingerprint (lowercase hex): what the device is identified by.
    fingerprint: Option<String>,
}

/// The original request: asked by a trusted proxy and read from the configured headers (else
/// refused, [`refused`]), its path canonicalised (cannot be safely: `403`), and the client
/// certificate header read ([`client_cert`]).
fn original_request(
    state: &AppState,
    ctx: &RequestCtx,
    peer: Option<std::net::IpAddr>,
    headers: &HeaderMap,
) -> ControlFlow<Response, Asked> {
    let trust = original::Trust {
        cfg: &state.cfg.forward_auth,
        trusted_proxies: &state.cfg.trusted_proxies,
        secret_digest: state.forward_auth_secret,
    };
    let orig = match trust
        .admit(peer, headers)
        .and_then(|()| original::read(state.cfg.forward_auth.headers, headers))
    {
        Ok(o) => o,
        Err(r) => return Break(refused(r, ctx, peer)),
    };
    let path = match path::canonical(orig.path()) {
        Ok(p) => p,
        Err(e) => {
            count("denied");
            tracing::info!(correlation_id = %ctx.correlation_id, reason = e.reason(),
                "forward-auth refused a path that cannot be canonicalised safely");
            return Break(empty(StatusCode::FORBIDDEN));
        }
    };
    let cert = client_cert(state, headers)?;
    Continue(Asked { orig, path, cert })
}

/// The client certificate from the `client_cert_header` header, when one is configured: a
/// value that is not a hex SHA-256 fingerprint, a URL-escaped PEM certificate or empty is
/// answered `400`.
fn client_cert(state: &AppState, headers: &HeaderMap) -> ControlFlow<Response, ClientCert> {
    let Some(name) = &state.cfg.client_cert_header else {
        return Continue(ClientCert::default());
    };
    let value = headers
        .get(name.as_str())
        .map(|v| v.to_str().map_err(|_| ()));
    let fingerprint = value
        .transpose()
        .ok()
        .flatten()
        .and_then(|v| client_cert_fingerprint(Some(v)).ok().flatten());
    match value.transpose().and_then(cert_thumbprint) {
        Ok(thumbprint) => Continue(ClientCert {
            thumbprint,
            fingerprint,
        }),
        Err(()) => {
            count("bad_request");
            Break(text(
                StatusCode::BAD_REQUEST,
                format!(
                    "The {name} header must be a hex SHA-256 fingerprint, a URL-escaped PEM certificate, or empty.\n"
                ),
            ))
        }
    }
}

/// The application route for the request's host and canonical path (none: `403`).
async fn application_route(
    state: &AppState,
    ctx: &RequestCtx,
    asked: &Asked,
) -> Result<ControlFlow<Response, Route>, AppError> {
    let routes = state.cae.routes(state.store.as_ref()).await?;
    let Some(route) = route_in(&routes, &asked.orig.host, &asked.path) else {
        count("no_route");
        tracing::info!(correlation_id = %ctx.correlation_id, host = %asked.orig.host,
            "forward-auth: no application is configured for this address");
        return Ok(Break(empty(StatusCode::FORBIDDEN)));
    };
    Ok(Continue(route))
}

/// The request once it carries a session cookie: what the continuous-access cache files an
/// answer under (the cookie's digest and the resource) and matches a cached one against, and
/// what an assertion is issued with.
struct Visit {
    /// The cache sequence taken when the check began (`Cae::snapshot`).
    seq: u64,
    now: OffsetDateTime,
    /// The digest of the session cookie's secret.
    digest: String,
    /// The application, plus the route's sensitivity label (`cae::resource_key`).
    resource: String,
    /// The public base URL: the assertion issuer.
    base: String,
    ip: Option<std::net::IpAddr>,
    /// The user agent (`cae::ua_hash`).
    ua: u64,
    /// The client certificate thumbprint an assertion is bound to.
    cert: Option<String>,
}

impl Visit {
    fn new(
        state: &AppState,
        ctx: &RequestCtx,
        route: &Route,
        seq: u64,
        digest: String,
        base: String,
        cert: Option<String>,
    ) -> Visit {
        Visit {
            seq,
            now: state.now(),
            digest,
            ua: crate::enforce::cae::ua_hash(ctx.user_agent.as_deref()),
            resource: crate::enforce::cae::resource_key(
                &route.app_id,
                route.sensitivity_label.as_deref(),
            ),
            base,
            ip: ctx.ip,
            cert,
        }
    }
}

/// The continuous-access cache: an entry for the session and resource answers a request it
/// still matches ([`from_cache`]); one that does not is dropped. `Continue` (a miss): decide
/// from the store.
async fn cached(state: &AppState, visit: &Visit) -> Result<ControlFlow<Response>, AppError> {
    if let Some(hit) = state.cae.get(&visit.digest, &visit.resource) {
        if let Some(res) = from_cache(
            state,
            &hit,
            &visit.base,
            visit.ip,
            visit.ua,
            visit.cert.as_deref(),
            visit.now,
        )
        .await?
        {
            return Ok(Break(res));
        }
        state.cae.remove(&visit.digest, &visit.resource);
    }
    metrics::counter!("trustplane_forward_auth_cache_total", "result" => "miss").increment(1);
    Ok(Continue(()))
}

/// What the policy decided, and on what.
struct Decided {
    /// The policy set in force.
    loaded: Arc<policy::Loaded>,
    actx: AccessContext,
    /// The device of the client certificate.
    device: Option<Device>,
    outcome: Outcome,
}

/// The policy decision: the session's access context for the route's resource, with the
/// device the proxy-verified client certificate belongs to, evaluated against the policy set
/// in force (the same `access::evaluate` as the login flow).
async fn decide(
    state: &AppState,
    ctx: &RequestCtx,
    route: &Route,
    session: &SessionCtx,
    fingerprint: Option<&str>,
    now: OffsetDateTime,
) -> Result<Decided, AppError> {
    let store = state.store.as_ref();
    let methods = &session.session.methods;
    let target = crate::enforce::stepup::resource_target(
        store,
        &route.app_id,
        route.sensitivity_label.as_deref(),
    )
    .await?;
    let mut actx = policy::context(
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
    // The device the proxy-verified client certificate belongs to (none: unknown device).
    let device = crate::signals::device_trust::identify(state, fingerprint, now).await?;
    actx.device = device.as_ref().and_then(|d| d.signals(now));
    let loaded = state.policies.get(store).await?;
    let decision = trustplane_core::access::evaluate(&loaded.set, &actx);
    Ok(Decided {
        loaded,
        actx,
        device,
        outcome: decision.outcome,
    })
}

/// The answer to an outcome other than allow: step-up (sign in again for what the
/// application requires) or block (`403`). `Continue`: allowed.
fn step_up_or_block(
    outcome: &Outcome,
    base: &str,
    orig: &Original,
    route: &Route,
    user: Uuid,
    ctx: &RequestCtx,
) -> ControlFlow<Response> {
    match outcome {
        Outcome::Allow => Continue(()),
        Outcome::Requires(_) => Break(login_required(base, orig, &route.app_id, "step_up")),
        Outcome::Block { .. } => {
            count("blocked");
            tracing::info!(app = %route.app_id, user = %user,
                correlation_id = %ctx.correlation_id, "forward-auth request blocked by policy");
            Break(empty(StatusCode::FORBIDDEN))
        }
    }
}

/// The answer to an allowed request: the identity headers and a signed assertion. The
/// decision is cached for the session's next requests to the resource.
async fn answer(
    state: &AppState,
    visit: Visit,
    route: &Route,
    session: SessionCtx,
    decided: Decided,
) -> Result<Response, AppError> {
    let groups: Vec<String> = state
        .store
        .groups_of(session.user.id)
        .await?
        .into_iter()
        .map(|g| g.name)
        .collect();
    let amr = trustplane_core::authn::amr(&session.session.methods);
    let t = visit.now.unix_timestamp();
    let claims = assertion_claims(
        &visit.base,
        &route.app_id,
        t,
        &Subject {
            sub: session.user.id,
            username: &session.user.username,
            amr: &amr,
            sid: session.session.id,
            cert: visit.cert.as_deref(),
        },
    );
    let assertion = header_value(&sign(state, &claims).await?);
    let identity = IdentityHeaders {
        user: header_value(&session.user.username),
        email: header_value(session.user.email.as_deref().unwrap_or_default()),
        groups: header_value(&groups_header(&groups)),
        device: decided
            .device
            .as_ref()
            .map(|d| header_value(&d.id.to_string()))
            .unwrap_or_else(|| HeaderValue::from_static("")),
    };
    let res = allowed(&identity, assertion.clone());
    state.cae.insert(
        &visit.digest,
        Entry {
            seq: visit.seq,
            created: std::time::Instant::now(),
            user_id: session.user.id,
            session_id: session.session.id,
            app_id: route.app_id.clone(),
            resource: visit.resource,
            policy: decided.loaded,
            ip: visit.ip,
            ua_hash: visit.ua,
            cert: visit.cert,
            iss: visit.base,
            username: session.user.username.clone(),
            amr,
            ctx: decided.actx,
            session: std::sync::Mutex::new(session.session),
            headers: identity,
            assertion: std::sync::Mutex::new((assertion, t + ASSERTION_SECONDS)),
        },
    );
    Ok(res)
}

#[cfg(test)]
mod tests;
