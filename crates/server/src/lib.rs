//! trustplane HTTP server: self-service pages, admin console, admin API, health and metrics.

pub mod access;
pub mod access_tools;
pub mod api;
pub mod applications;
pub mod audit_chain;
pub mod auth;
pub mod breach;
pub mod cae;
pub mod clock;
pub mod codes;
pub mod config;
pub mod devices;
pub mod durations;
pub mod edge;
pub mod error;
pub mod files;
pub mod forward_auth;
pub mod hashpool;
pub mod jose;
pub mod keyring;
pub mod keys;
pub mod known_browser;
pub mod limits;
pub mod login;
pub mod login_access;
pub mod mail;
pub mod oidc;
pub mod ops;
pub mod pages;
pub mod readiness;
pub mod refusals;
pub mod retention;
pub mod secrets;
pub mod signin;
pub mod signin_export;
pub mod state;
pub mod stepup;
pub mod webauthn;

use crate::auth::RequestCtx;
use crate::config::Config;
use crate::error::AppError;
use crate::pages::access as access_pages;
use crate::pages::{account, admin, flow, reset, security, security_info, webauthn as passkeys};
use crate::secrets::{MasterKey, ensure_private_dir, random_token};
use crate::state::AppState;
use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use trustplane_core::credential::secret_digest;
use trustplane_core::identity::Role;
use trustplane_store::Store;
use uuid::Uuid;

/// How long a first-run bootstrap link stays valid.
pub const BOOTSTRAP_LIFETIME: time::Duration = time::Duration::hours(24);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Secret(#[from] secrets::SecretError),
    #[error(transparent)]
    Store(#[from] trustplane_store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Other(String),
}

/// The process-wide Prometheus recorder (installed once, shared by every server instance in
/// the process, e.g. in tests).
pub fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ])
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .clone()
}

/// Builds the application router.
pub fn app(state: AppState) -> Router {
    let max_body = state.cfg.max_body_bytes;
    Router::new()
        .route("/", get(account::root))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_endpoint))
        .route("/.well-known/jwks.json", get(keys::jwks))
        .route("/forward-auth", get(forward_auth::check))
        .route("/.well-known/openid-configuration", get(oidc::discovery))
        .route("/oauth2/authorize", get(oidc::authorize::authorize))
        .route("/oauth2/authorize/resume", get(oidc::authorize::resume))
        .route("/oauth2/token", post(oidc::token::token))
        .route(
            "/oauth2/userinfo",
            get(oidc::endpoints::userinfo).post(oidc::endpoints::userinfo),
        )
        .route("/oauth2/introspect", post(oidc::endpoints::introspect))
        .route("/oauth2/revoke", post(oidc::endpoints::revoke))
        .route(
            "/oauth2/logout",
            get(oidc::endpoints::logout).post(oidc::endpoints::logout),
        )
        .route(
            "/oauth2/device_authorization",
            post(oidc::device::authorization),
        )
        .route(
            "/device",
            get(oidc::device::page).post(oidc::device::decide),
        )
        .route(
            "/admin/oidc/clients",
            get(pages::oidc::clients).post(pages::oidc::create),
        )
        .route("/admin/oidc/clients/{id}/delete", post(pages::oidc::delete))
        .route(
            "/admin/oidc/clients/{id}/secret",
            post(pages::oidc::rotate_secret),
        )
        .route("/static/app.css", get(pages::stylesheet))
        .route("/static/favicon.svg", get(pages::favicon))
        .route("/favicon.ico", get(pages::favicon))
        .route(
            "/login",
            get(account::login_form).post(account::login_submit),
        )
        .route("/logout", post(account::logout))
        .route("/login/continue", get(flow::continue_page))
        .route("/login/return", get(pages::return_page))
        .route("/login/change-password", post(flow::change_password_submit))
        .route("/login/accept-terms", post(flow::accept_terms_submit))
        .route("/login/mfa", post(flow::mfa_submit))
        .route("/login/mfa/email", post(flow::mfa_send_email))
        .route("/reset", get(reset::start_page).post(reset::start_submit))
        .route(
            "/reset/verify",
            get(reset::verify_page).post(reset::verify_submit),
        )
        .route("/reset/email", post(reset::send_email))
        .route("/reset/passkey/options", post(reset::passkey_options))
        .route("/reset/passkey", post(reset::passkey_submit))
        .route("/reset/password", post(reset::password_submit))
        .route("/reset/check-password", post(reset::check_password))
        .route("/login/tap", get(flow::tap_form).post(flow::tap_submit))
        .route("/login/register-totp", post(flow::register_submit))
        .route("/login/skip-registration", post(flow::skip_registration))
        .route("/login/check-password", post(flow::check_in_flow))
        .route("/my/check-password", post(flow::check_for_session))
        .route("/static/password-meter.js", get(flow::meter_script))
        // Security keys and passkeys (pages/webauthn.rs).
        .route("/static/webauthn.js", get(passkeys::script))
        .route(
            "/login/passkey/options",
            post(passkeys::passwordless_options),
        )
        .route("/login/passkey", post(passkeys::passwordless_submit))
        .route(
            "/login/webauthn/options",
            post(passkeys::second_factor_options),
        )
        .route("/login/webauthn", post(passkeys::second_factor_submit))
        .route(
            "/my/security-info/webauthn/options",
            post(passkeys::registration_options),
        )
        .route("/my/security-info/webauthn", post(passkeys::register))
        .route(
            "/my/security-info/webauthn/{id}/rename",
            post(passkeys::rename),
        )
        .route(
            "/bootstrap",
            get(account::bootstrap_form).post(account::bootstrap_submit),
        )
        .route("/my", get(account::my))
        .route("/my/password", post(account::my_password))
        .route("/my/security-info", get(security_info::page))
        .route("/my/security-info/totp", post(security_info::start_totp))
        .route("/my/security-info/setup", get(security_info::setup))
        .route("/my/security-info/email", post(security_info::start_email))
        .route(
            "/my/security-info/email/confirm",
            post(security_info::confirm_email),
        )
        .route(
            "/my/security-info/totp/confirm",
            post(security_info::confirm_totp),
        )
        .route("/my/security-info/{id}/remove", post(security_info::remove))
        .route("/my/security-info/{id}/rename", post(security_info::rename))
        .route(
            "/my/security-info/recovery-codes",
            post(security_info::new_recovery_codes),
        )
        .route("/my/sessions/{id}/revoke", post(account::my_revoke_session))
        .route("/my/devices/{id}/remove", post(account::my_remove_device))
        .route("/admin", get(admin::home))
        .route("/admin/users", get(admin::users).post(admin::create_user))
        .route("/admin/users/{id}", get(admin::user))
        .route("/admin/users/{id}/status", post(admin::user_status))
        .route("/admin/users/{id}/delete", post(admin::user_delete))
        .route("/admin/users/{id}/password", post(admin::user_password))
        .route(
            "/admin/users/{id}/password/temporary",
            post(admin::temporary_password),
        )
        .route("/admin/users/{id}/roles", post(admin::user_roles))
        .route(
            "/admin/users/{id}/methods/{method}/remove",
            post(admin::remove_method),
        )
        .route("/admin/users/{id}/tap", post(admin::issue_tap))
        .route(
            "/admin/users/{id}/reregister",
            post(admin::require_reregistration),
        )
        .route("/admin/users/{id}/tap/revoke", post(admin::revoke_tap))
        .route(
            "/admin/groups",
            get(admin::groups).post(admin::create_group),
        )
        .route("/admin/groups/{id}", get(admin::group))
        .route("/admin/groups/{id}/members", post(admin::add_member))
        .route(
            "/admin/groups/{id}/members/remove",
            post(admin::remove_member),
        )
        .route("/admin/groups/{id}/delete", post(admin::delete_group))
        .route("/admin/sessions", get(admin::sessions))
        .route("/admin/devices", get(pages::devices::list))
        .route("/admin/devices/{id}", get(pages::devices::detail))
        .route("/admin/devices/{id}/disable", post(pages::devices::disable))
        .route("/admin/devices/{id}/enable", post(pages::devices::enable))
        .route("/admin/devices/{id}/delete", post(pages::devices::delete))
        .route("/admin/sessions/{id}/revoke", post(admin::revoke_session))
        .route("/admin/sign-ins", get(admin::sign_ins))
        .route("/admin/sign-ins/{id}", get(access_pages::sign_in_detail))
        .route(
            "/admin/conditional-access",
            get(access_pages::policies).post(access_pages::save),
        )
        .route(
            "/admin/conditional-access/versions/{version}/restore",
            post(access_pages::restore),
        )
        .route(
            "/admin/conditional-access/what-if",
            get(access_pages::what_if),
        )
        .route(
            "/admin/conditional-access/replay",
            get(access_pages::replay_form).post(access_pages::replay),
        )
        .route(
            "/admin/password-protection",
            get(security::password_protection),
        )
        .route(
            "/admin/password-protection/terms",
            post(security::add_terms),
        )
        .route(
            "/admin/password-protection/terms/remove",
            post(security::remove_term),
        )
        .route(
            "/admin/password-protection/reload",
            post(security::reload_breach_page),
        )
        .route("/admin/risk", get(security::risk_detections))
        .route(
            "/admin/authentication-methods",
            get(security::auth_methods).post(security::save_auth_methods),
        )
        .route(
            "/admin/risk/{id}/dismiss",
            post(security::dismiss_detection),
        )
        .route("/admin/audit", get(admin::audit))
        .route(
            "/admin/applications",
            get(pages::apps::page).post(pages::apps::create),
        )
        .route("/admin/applications/{id}/delete", post(pages::apps::delete))
        .route(
            "/admin/applications/{id}/routes",
            post(pages::apps::add_route),
        )
        .route(
            "/admin/applications/{id}/routes/{route_id}/delete",
            post(pages::apps::remove_route),
        )
        .route("/admin/labels", post(pages::apps::put_label))
        .route("/admin/labels/{id}/delete", post(pages::apps::delete_label))
        .route("/admin/contexts", post(pages::apps::put_context))
        .route(
            "/admin/contexts/{id}/delete",
            post(pages::apps::delete_context),
        )
        .route("/admin/keys/rotate", post(pages::apps::rotate_keys))
        .route(
            "/admin/registration-activity",
            get(admin::registration_activity),
        )
        .route(
            "/admin/tokens",
            get(admin::tokens).post(admin::create_token),
        )
        .route("/admin/tokens/{id}/revoke", post(admin::revoke_token))
        .route("/devices/ca.pem", get(devices::ca::ca_pem))
        .nest("/api/v1", api::router().merge(devices::api_router()))
        .fallback(|| async { pages::error_page(&AppError::not_found("page")) })
        .layer(middleware::from_fn_with_state(state.clone(), edge))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(middleware::from_fn(edge::api_input::json_errors))
        .with_state(state)
}

/// Per-request edge: correlation id, client address, security headers, metrics.
async fn edge(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
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
        device: limits::device::hash_from_headers(&state, req.headers()),
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
        edge::headers::secure(res.headers_mut(), state.hsts.as_ref());
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

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> Response {
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

async fn metrics_endpoint(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Response {
    if !edge::headers::metrics_allowed(state.metrics_token.as_ref(), &headers) {
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

/// A bound, not yet serving, trustplane server.
pub struct Server {
    pub state: AppState,
    pub listener: TcpListener,
    pub local_addr: SocketAddr,
    /// The one-time link to create the first administrator, when none exists yet.
    pub bootstrap_url: Option<String>,
}

/// Prepares the data directory, secrets and database, and binds the listener.
pub async fn prepare(cfg: Config) -> Result<Server, ServeError> {
    prepare_with_clock(cfg, Arc::new(clock::SystemClock)).await
}

/// [`prepare`] with a given clock (tests drive a [`clock::ManualClock`]).
pub async fn prepare_with_clock(
    cfg: Config,
    clock: Arc<dyn clock::Clock>,
) -> Result<Server, ServeError> {
    ensure_private_dir(cfg.data_dir())?;
    let key = MasterKey::load_or_create(&cfg.secret_key_path())?;
    let store: Arc<dyn Store> = Arc::new(audit_chain::open_store(&cfg, &key).await?);
    let listener = TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: cfg.listen,
            source,
        })?;
    let local_addr = listener.local_addr()?;
    let public = match &cfg.public_url {
        Some(_) => cfg.public_url(),
        None => format!("http://{local_addr}"),
    };
    let breach = cfg.load_breach_filter().map_err(|e| {
        ServeError::Other(format!(
            "breached-password filter {}: {e}",
            cfg.breached_filter_path().display()
        ))
    })?;
    if let Some(f) = &breach {
        tracing::info!(
            hashes = f.hashes,
            threshold = f.threshold,
            "breached-password filter loaded"
        );
    }
    let rp = webauthn::relying_party(&cfg, local_addr).map_err(ServeError::Other)?;
    let geoip = match &cfg.geoip_database {
        None => None,
        Some(path) => {
            let r = maxminddb::Reader::open_readfile(path).map_err(|e| {
                ServeError::Other(format!("geoip_database {}: {e}", path.display()))
            })?;
            tracing::info!(database = %r.metadata().database_type, "GeoIP database loaded");
            Some(r)
        }
    };
    let mailer = mail::Mailer::new(&cfg.email, cfg.data_dir())
        .map_err(|e| ServeError::Other(e.to_string()))?;
    let slot = Arc::new(breach::BreachSlot::new(cfg.breached_filter_path(), breach));
    let reload_every = std::time::Duration::from_secs(cfg.breached_filter_reload_seconds);
    let state = AppState::new(store.clone(), cfg, &key, metrics_handle(), slot.clone())
        .map_err(|e| ServeError::Other(e.message))?
        .with_mailer(mailer)
        .with_webauthn(rp)
        .with_geoip(geoip)
        .with_clock(clock);
    slot.watch(reload_every);
    audit_chain::start_writer(
        state.store.clone(),
        key.derive(audit_chain::CHECKPOINT_PURPOSE),
        &state.cfg.audit,
        state.clock.clone(),
    );
    state.store.start_change_feed();
    limits::unauthenticated::spawn_pruner(&state);
    retention::start(&state);
    devices::compliance::start(&state, std::time::Duration::from_secs(300));
    keys::ensure_active(store.as_ref(), &state.signing_key)
        .await
        .map_err(|e| ServeError::Other(e.to_string()))?;
    devices::ensure_agent_client(store.as_ref())
        .await
        .map_err(|e| ServeError::Other(e.to_string()))?;
    if state.cfg.signing_key_rotation_days > 0 {
        let every = time::Duration::days(i64::from(state.cfg.signing_key_rotation_days));
        let (store, seal) = (store.clone(), state.signing_key);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                tick.tick().await;
                match keys::rotate_due(store.as_ref(), &seal, every).await {
                    Ok(kids) if !kids.is_empty() => {
                        tracing::info!(?kids, "rotated signing keys on schedule")
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(code = e.code(), error = %e, "scheduled key rotation failed")
                    }
                }
            }
        });
    }
    let bootstrap_url = bootstrap_if_needed(store.as_ref(), &public).await?;
    Ok(Server {
        state,
        listener,
        local_addr,
        bootstrap_url,
    })
}

/// While no enabled global administrator exists, issues a fresh one-time bootstrap link
/// (replacing any earlier one).
pub async fn bootstrap_if_needed(
    store: &dyn Store,
    public_url: &str,
) -> Result<Option<String>, ServeError> {
    let admins = store.role_holders(Role::GlobalAdministrator).await?;
    if admins.iter().any(|u| u.is_enabled()) {
        return Ok(None);
    }
    let token = random_token();
    store
        .set_bootstrap_token(
            &secret_digest(&token),
            time::OffsetDateTime::now_utc() + BOOTSTRAP_LIFETIME,
        )
        .await?;
    Ok(Some(format!("{public_url}/bootstrap?token={token}")))
}

impl Server {
    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let state = self.state.clone();
        let router = app(self.state);
        axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await?;
        // Access tokens issued last are written before the process ends (oidc/ledger.rs).
        if let Err(e) = state.token_ledger.flush(state.store.as_ref()).await {
            tracing::error!(code = e.code(), error = %e, "cannot write the last issued access tokens");
        }
        Ok(())
    }
}

/// Registers SIGINT and SIGTERM handlers *now* and returns a future that resolves on either.
/// Call it before announcing that the server is up, so that a signal arriving right after
/// start is handled gracefully instead of killing the process.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(term) => {},
                _ = wait(int) => {},
            }
            tracing::info!("shutting down");
        }
    }
    #[cfg(not(unix))]
    {
        async move {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        }
    }
}
