//! Administrative operations shared by the admin API, the admin console and the CLI: input
//! validation, safety rules (never remove the last global administrator) and audit entries.
//! Each operation is one store transaction together with its audit entry.

use crate::edge::error::AppError;
use crate::platform::secrets::random_salt;
use std::sync::Arc;
use trustplane_core::credential::HashParams;
use trustplane_core::identity::Permission;
use trustplane_core::password::PasswordPolicy;
use trustplane_store::Store;

pub mod audit_chain;
pub mod health;
pub mod readiness;
pub mod retention;
pub mod signin_export;
pub mod what_if;

pub mod api_tokens;
pub mod groups;
pub mod passwords;
pub mod sign_in_methods;
pub mod users;

pub use api_tokens::parse_lifetime;
pub use passwords::{BannedCache, global_banned, hash, password_error};
pub use users::NewUser;

/// Health, readiness and metrics.
pub fn router() -> axum::Router<crate::state::AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics_endpoint))
}

/// The API name of a permission (`users_reset_password`).
pub fn permission_name(p: Permission) -> String {
    serde_json::to_value(p)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Settings name of the authentication methods policy.
pub const METHODS_POLICY: &str = "auth_methods";

pub struct Ops {
    pub store: Arc<dyn Store>,
    pub params: HashParams,
    pub password_policy: PasswordPolicy,
    pub organisation: String,
    pub breach: Option<Arc<trustplane_breach::BreachFilter>>,
    pub banned_cache: Option<Arc<BannedCache>>,
    /// The server's hashing workers (none in the CLI: a blocking thread per hash).
    pub hash_pool: Option<Arc<crate::platform::hashpool::HashPool>>,
    /// The one clock (the server's; the system clock in the CLI).
    pub clock: Arc<dyn crate::platform::clock::Clock>,
}

impl Ops {
    pub fn new(store: Arc<dyn Store>, params: HashParams) -> Self {
        Ops {
            store,
            params,
            password_policy: PasswordPolicy::default(),
            organisation: String::new(),
            breach: None,
            banned_cache: None,
            hash_pool: None,
            clock: Arc::new(crate::platform::clock::SystemClock),
        }
    }

    pub fn with_clock(mut self, clock: Arc<dyn crate::platform::clock::Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    pub fn with_hash_pool(mut self, pool: Arc<crate::platform::hashpool::HashPool>) -> Self {
        self.hash_pool = Some(pool);
        self
    }

    /// Hashes a new password: on the server's hashing workers when there are some.
    async fn hash(&self, password: &str) -> Result<String, AppError> {
        let Some(pool) = &self.hash_pool else {
            return hash(password, self.params).await;
        };
        let (pw, params, salt) = (password.to_string(), self.params, random_salt());
        pool.run(crate::platform::hashpool::Lane::Normal, move |mem| {
            trustplane_core::hashing::hash_password_in(mem, &pw, &params, &salt)
        })
        .await
        .map_err(|_| AppError::busy())?
        .map_err(|e| {
            tracing::error!(error = %e, "password hashing failed");
            AppError::internal()
        })
    }

    pub fn with_banned_cache(mut self, cache: Arc<BannedCache>) -> Self {
        self.banned_cache = Some(cache);
        self
    }

    pub fn with_breach_filter(mut self, f: Option<Arc<trustplane_breach::BreachFilter>>) -> Self {
        self.breach = f;
        self
    }

    pub fn with_password_policy(mut self, policy: PasswordPolicy, organisation: &str) -> Self {
        self.password_policy = policy;
        self.organisation = organisation.to_string();
        self
    }
}
