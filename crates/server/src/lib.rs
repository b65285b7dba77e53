//! trustplane HTTP server, laid out along the spine request -> signals -> decision ->
//! enforcement (docs/architecture.md): `edge/` (what every request passes through), `signin/`,
//! `signals/`, `enforce/`, `portal/` (the user's own pages), `console/` (admin pages), `api/`,
//! `ops/` (operations shared by API, console and CLI; background jobs), `platform/`.

pub mod api;
pub mod console;
pub mod edge;
pub mod enforce;
pub mod ops;
pub mod platform;
pub mod portal;
pub mod signals;
pub mod signin;
pub mod state;

use crate::edge::error::AppError;
use crate::platform::config::Config;
use crate::platform::secrets::{MasterKey, ensure_private_dir, random_token};
use crate::platform::{clock, config, keys, mail, secrets};
use crate::signals::{breach, device_trust};
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use trustplane_core::credential::secret_digest;
use trustplane_core::identity::Role;
use trustplane_store::Store;

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

pub use platform::metrics::metrics_handle;

/// Builds the application router: each stage brings its own routes.
pub fn app(state: AppState) -> Router {
    let max_body = state.cfg.max_body_bytes;
    Router::new()
        .merge(edge::router())
        .merge(signin::router())
        .merge(portal::router())
        .merge(signals::router())
        .merge(enforce::router())
        .merge(console::router())
        .merge(ops::router())
        .nest(
            "/api/v1",
            api::router().merge(signals::device_trust::api_router()),
        )
        .fallback(|| async { edge::pages::error_page(&AppError::not_found("page")) })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            edge::middleware::request_edge,
        ))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(middleware::from_fn(edge::api_input::json_errors))
        .with_state(state)
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
    let store: Arc<dyn Store> = Arc::new(ops::audit_chain::open_store(&cfg, &key).await?);
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
    let rp = signin::webauthn::relying_party(&cfg, local_addr).map_err(ServeError::Other)?;
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
    ops::audit_chain::start_writer(
        state.store.clone(),
        key.derive(ops::audit_chain::CHECKPOINT_PURPOSE),
        &state.cfg.audit,
        state.clock.clone(),
    );
    state.store.start_change_feed();
    signin::limits::unauthenticated::spawn_pruner(&state);
    ops::retention::start(&state);
    device_trust::compliance::start(&state, std::time::Duration::from_secs(300));
    keys::ensure_active(store.as_ref(), &state.signing_key, state.now())
        .await
        .map_err(|e| ServeError::Other(e.to_string()))?;
    device_trust::ensure_agent_client(store.as_ref(), state.now())
        .await
        .map_err(|e| ServeError::Other(e.to_string()))?;
    if state.cfg.signing_key_rotation_days > 0 {
        let every = time::Duration::days(i64::from(state.cfg.signing_key_rotation_days));
        let (store, seal, clock) = (store.clone(), state.signing_key, state.clock.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                tick.tick().await;
                match keys::rotate_due(store.as_ref(), &seal, every, clock.now()).await {
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
    let bootstrap_url = bootstrap_if_needed(store.as_ref(), &public, state.now()).await?;
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
    now: time::OffsetDateTime,
) -> Result<Option<String>, ServeError> {
    let admins = store.role_holders(Role::GlobalAdministrator).await?;
    if admins.iter().any(|u| u.is_enabled()) {
        return Ok(None);
    }
    let token = random_token();
    store
        .set_bootstrap_token(&secret_digest(&token), now + BOOTSTRAP_LIFETIME)
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
