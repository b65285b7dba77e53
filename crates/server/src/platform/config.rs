//! Configuration: built-in defaults, then a TOML file, then `TRUSTPLANE_*` environment
//! variables (nested keys with `__`, e.g. `TRUSTPLANE_SESSION__IDLE_MINUTES`), then command-line
//! flags. Unknown keys are errors, so a typo never silently falls back to a default.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use trustplane_core::credential::HashParams;
use trustplane_core::password::PasswordPolicy;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Data directory: SQLite database, generated secrets, outbox.
    pub data: PathBuf,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// `sqlite://PATH` or `postgres://…`; default: SQLite in the data directory.
    pub database_url: Option<String>,
    /// The URL users reach trustplane at (for links and cookie security), e.g.
    /// `https://id.example.com`. Default: `http://<listen>`.
    pub public_url: Option<String>,
    /// Mark cookies `Secure`. Default: true when `public_url` is https.
    pub cookie_secure: Option<bool>,
    /// Parent domain for the session cookie (e.g. `example.com`), so that applications on
    /// sibling hosts behind forward-auth receive it. Must contain `public_url`'s host.
    /// Default: host-only cookie.
    pub cookie_domain: Option<String>,
    /// Header in which the reverse proxy passes the SHA-256 fingerprint of the client's TLS
    /// certificate to `/forward-auth` (e.g. `X-Client-Cert-Fingerprint` set from nginx's
    /// `$ssl_client_fingerprint`). The proxy must always set it (empty without a
    /// certificate) so a client cannot supply its own. Assertions are then bound to the
    /// certificate (`cnf.x5t#S256`, RFC 8705). Default: not read.
    pub client_cert_header: Option<String>,
    /// Path of the 32-byte master key; default `<data>/secret.key` (generated, mode 0600).
    /// Several instances on one PostgreSQL must share the same key.
    pub secret_key_file: Option<PathBuf>,
    /// Name shown on pages.
    pub organisation: String,
    pub session: SessionConfig,
    pub password_hash: HashParams,
    /// Password protection: length, score threshold, character substitutions.
    pub password: PasswordPolicy,
    /// Breached-password filter built by `trustplane password import-breached`; default
    /// `<data>/breached.filter` (used when present).
    pub breached_filter: Option<PathBuf>,
    /// A MaxMind database (GeoLite2/GeoIP2 Country or City, `.mmdb`) that gives each sign-in a
    /// country for conditional access locations; without one the country is unknown.
    pub geoip_database: Option<PathBuf>,
    /// How often (seconds) to look for a newly imported breached-password filter and load it
    /// without a restart; 0 turns the watcher off.
    pub breached_filter_reload_seconds: u64,
    /// Signing keys (assertions, ID tokens) are replaced after this many days; the old key
    /// stays published until what it signed has expired. 0 turns scheduled rotation off
    /// (`trustplane keys rotate` still works).
    pub signing_key_rotation_days: u32,
    pub rate_limit: RateLimitConfig,
    /// Outgoing email (notifications, one-time codes).
    pub email: EmailConfig,
    /// Reverse proxies whose `X-Forwarded-For` is trusted (CIDRs). Empty: the peer address
    /// of the TCP connection is the client address.
    pub trusted_proxies: Vec<IpNet>,
    /// `json`, `pretty`, or unset (pretty on a terminal, JSON otherwise).
    pub log_format: Option<String>,
    /// Largest accepted request body in bytes.
    pub max_body_bytes: usize,
    /// `Strict-Transport-Security`, sent when `public_url` is https.
    pub hsts: HstsConfig,
    /// Access to `GET /metrics`.
    pub metrics: MetricsConfig,
    /// Password-hashing workers and their queue.
    pub hashing: crate::platform::hashpool::HashingConfig,
    /// How long sign-in log rows and expired sessions, tokens, codes and flows are kept.
    pub retention: crate::ops::retention::RetentionConfig,
    /// Audit chain checkpoints (see docs/security.md, "Audit chain").
    pub audit: AuditConfig,
    /// Who may ask `GET /forward-auth` and which headers carry the original request.
    pub forward_auth: ForwardAuthConfig,
}

/// Signed checkpoints of the audit chain head, written outside the database so that a cut-off
/// tail can be detected (`trustplane admin audit verify --checkpoints FILE`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Append-only JSON-lines file that receives a checkpoint whenever the head moved. Put it
    /// somewhere the database's writers cannot reach (another disk, a log shipper's spool).
    /// Checkpoints always go to the log as well (field `audit_checkpoint`). Default: none.
    pub checkpoint_file: Option<PathBuf>,
    /// How often (seconds) to write a checkpoint if the chain moved; 0 turns checkpoints off.
    pub checkpoint_seconds: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            checkpoint_file: None,
            checkpoint_seconds: 300,
        }
    }
}

/// `GET /forward-auth` (docs/forward-auth.md, "Trusted proxies"). Secure by default: with
/// neither `trusted_proxies` (here or the top-level list) nor a shared secret, every check is
/// refused, because anyone could otherwise name any original request in the headers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForwardAuthConfig {
    /// Which header family carries the original method, host and URI: `x-forwarded`
    /// (`X-Forwarded-Method/-Proto/-Host/-Uri`: Caddy, Traefik, the documented nginx and Envoy
    /// configurations), `x-original` (`X-Original-URL` or `X-Original-URI` + `X-Original-Host`,
    /// `X-Original-Method`), or `auto` (either, refused when both are present and disagree).
    pub headers: ForwardAuthHeaders,
    /// Peers (CIDRs) allowed to ask besides the top-level `trusted_proxies`.
    pub trusted_proxies: Vec<IpNet>,
    /// A secret the proxy sends in `X-Trustplane-Proxy-Secret` (compared in constant time); a
    /// peer that presents it may ask from any address.
    pub shared_secret: Option<Secret>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardAuthHeaders {
    XForwarded,
    XOriginal,
    #[default]
    Auto,
}

/// `Strict-Transport-Security` (sent only when `public_url` is https: browsers ignore it over
/// http). Default: `max-age=31536000; includeSubDomains`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HstsConfig {
    /// Seconds browsers keep to https for this host; 0 sends no header.
    pub max_age_seconds: u64,
    /// Also for every subdomain of the host (`includeSubDomains`).
    pub include_subdomains: bool,
    /// Ask to be put on the browsers' preload list (`preload`; needs a max age of at least
    /// a year and subdomains included).
    pub preload: bool,
}

impl Default for HstsConfig {
    fn default() -> Self {
        HstsConfig {
            max_age_seconds: 31_536_000,
            include_subdomains: true,
            preload: false,
        }
    }
}

impl HstsConfig {
    /// The header value, or `None` when HSTS is off.
    pub fn header(&self) -> Option<String> {
        if self.max_age_seconds == 0 {
            return None;
        }
        let mut v = format!("max-age={}", self.max_age_seconds);
        if self.include_subdomains {
            v.push_str("; includeSubDomains");
        }
        if self.preload {
            v.push_str("; preload");
        }
        Some(v)
    }
}

/// Who may read `GET /metrics`. Default: anyone who can reach it (scrape it on a private
/// network, or set a token).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// A bearer token scrapers must send (`Authorization: Bearer <token>`); at least 16
    /// characters.
    pub token: Option<Secret>,
    /// A file holding the token (surrounding whitespace ignored), instead of `token`.
    pub token_file: Option<PathBuf>,
}

/// The shortest accepted metrics token.
pub const MIN_METRICS_TOKEN: usize = 16;

impl MetricsConfig {
    /// The token scrapers must present (read from `token_file` when that is set), or `None`.
    pub fn resolve(&self) -> Result<Option<Secret>, ConfigError> {
        let token = match (&self.token, &self.token_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid(
                    "metrics: set token or token_file, not both".into(),
                ));
            }
            (Some(t), None) => t.expose().trim().to_string(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| {
                    ConfigError::Invalid(format!("metrics.token_file {}: {e}", path.display()))
                })?
                .trim()
                .to_string(),
            (None, None) => return Ok(None),
        };
        if token.chars().count() < MIN_METRICS_TOKEN || token.chars().any(char::is_control) {
            return Err(ConfigError::Invalid(format!(
                "metrics: the token must be at least {MIN_METRICS_TOKEN} characters without control characters"
            )));
        }
        Ok(Some(Secret(token)))
    }
}

/// Outgoing email. The default writes messages to `<data>/outbox` instead of sending them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// `outbox` (files, the default) or `smtp`.
    pub transport: String,
    /// Sender, e.g. `trustplane <no-reply@example.com>`.
    pub from: String,
    /// Outbox folder; default `<data>/outbox`.
    pub outbox_dir: Option<PathBuf>,
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    /// `starttls` (default), `tls` (implicit TLS, usually port 465) or `none` (local relays only).
    pub smtp_tls: SmtpTls,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<Secret>,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            transport: "outbox".into(),
            from: "trustplane <no-reply@localhost>".into(),
            outbox_dir: None,
            smtp_host: None,
            smtp_port: 587,
            smtp_tls: SmtpTls::Starttls,
            smtp_username: None,
            smtp_password: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    Starttls,
    Tls,
    None,
}

/// A configured secret: never shown by `Debug` (so never in a log line).
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    pub idle_minutes: i64,
    pub absolute_hours: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Sign-in attempts per minute from one IP address (burst: the same number).
    pub sign_in_per_ip_per_minute: u32,
    /// Failed sign-ins per account within a 15-minute window before the account is
    /// temporarily refused (whatever the password).
    pub failures_per_account: u32,
    /// Live password-strength checks per minute for one user or sign-in flow.
    pub password_checks_per_minute: u32,
    /// Wrong second-factor codes (authenticator, emailed, recovery, and the codes of a
    /// password reset) per account within the lockout window, across all flows and instances,
    /// before codes are refused for the account.
    pub second_factor_failures_per_account: u32,
    /// Codes one sign-in or reset flow may have checked in total (all steps); then it ends.
    pub attempts_per_flow: u32,
    /// The lockout window in minutes (password and second-factor counters).
    pub lockout_minutes: u32,
    /// Unauthenticated requests that create a pending row (passkey challenges, authorization
    /// requests, device authorizations) per minute from one IP address.
    pub unauthenticated_per_ip_per_minute: u32,
    /// Unexpired pending rows of each of those kinds; past it new ones are refused (503).
    pub max_pending: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data: PathBuf::from("trustplane-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8420)),
            database_url: None,
            public_url: None,
            cookie_secure: None,
            cookie_domain: None,
            client_cert_header: None,
            secret_key_file: None,
            organisation: "trustplane".into(),
            session: SessionConfig::default(),
            password_hash: HashParams::default(),
            password: PasswordPolicy::default(),
            breached_filter: None,
            geoip_database: None,
            breached_filter_reload_seconds: 10,
            signing_key_rotation_days: 90,
            rate_limit: RateLimitConfig::default(),
            email: EmailConfig::default(),
            trusted_proxies: Vec::new(),
            log_format: None,
            max_body_bytes: 64 * 1024,
            hsts: HstsConfig::default(),
            metrics: MetricsConfig::default(),
            audit: AuditConfig::default(),
            hashing: crate::platform::hashpool::HashingConfig::default(),
            retention: crate::ops::retention::RetentionConfig::default(),
            forward_auth: ForwardAuthConfig::default(),
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            idle_minutes: 8 * 60,
            absolute_hours: 24,
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            sign_in_per_ip_per_minute: 30,
            failures_per_account: 10,
            password_checks_per_minute: 60,
            second_factor_failures_per_account: 10,
            attempts_per_flow: 10,
            lockout_minutes: 15,
            unauthenticated_per_ip_per_minute: 30,
            max_pending: 10_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration error: {0}")]
    Invalid(String),
}

/// Command-line overrides (highest precedence).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub data: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub database_url: Option<String>,
}

impl Config {
    pub fn load(o: &Overrides) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        let file = o
            .config_file
            .clone()
            .or_else(|| std::env::var_os("TRUSTPLANE_CONFIG").map(PathBuf::from));
        if let Some(path) = &file {
            if !path.exists() {
                return Err(ConfigError::Invalid(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            fig = fig.merge(Toml::file_exact(path));
        }
        fig = fig.merge(
            Env::prefixed("TRUSTPLANE_")
                .split("__")
                // The config file location, the log filter, the binary path used by the browser
                // tests and test settings are not config keys.
                .filter(|k| {
                    let k = k.as_str().to_ascii_lowercase();
                    !k.starts_with("test_") && !matches!(k.as_str(), "config" | "log" | "bin")
                }),
        );
        let mut cfg: Config = fig
            .extract()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if let Some(d) = &o.data {
            cfg.data = d.clone();
        }
        if let Some(l) = o.listen {
            cfg.listen = l;
        }
        if let Some(u) = &o.database_url {
            cfg.database_url = Some(u.clone());
        }
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.password_hash
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("password_hash: {e}")))?;
        self.password
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("password: {e}")))?;
        if self.session.idle_minutes < 1 || self.session.absolute_hours < 1 {
            return Err(ConfigError::Invalid(
                "session lifetimes must be positive".into(),
            ));
        }
        // Checked bounds: larger values would overflow time arithmetic (a panic, not an error).
        if self.session.idle_minutes > 366 * 24 * 60 || self.session.absolute_hours > 366 * 24 {
            return Err(ConfigError::Invalid(
                "session lifetimes must be at most 366 days".into(),
            ));
        }
        if self.signing_key_rotation_days > 3660 {
            return Err(ConfigError::Invalid(
                "signing_key_rotation_days must be at most 3660 (0 turns rotation off)".into(),
            ));
        }
        if self.rate_limit.sign_in_per_ip_per_minute == 0
            || self.rate_limit.failures_per_account == 0
            || self.rate_limit.second_factor_failures_per_account == 0
            || self.rate_limit.attempts_per_flow == 0
            || self.rate_limit.lockout_minutes == 0
            || self.rate_limit.unauthenticated_per_ip_per_minute == 0
            || self.rate_limit.max_pending == 0
        {
            return Err(ConfigError::Invalid(
                "rate limits must be at least 1".into(),
            ));
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "max_body_bytes must be at least 1024".into(),
            ));
        }
        if let Some(u) = &self.public_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(ConfigError::Invalid(
                "public_url must start with http:// or https://".into(),
            ));
        }
        self.metrics.resolve()?;
        self.hashing.validate().map_err(ConfigError::Invalid)?;
        self.retention.validate().map_err(ConfigError::Invalid)?;
        if let Some(secret) = &self.forward_auth.shared_secret {
            let v = secret.expose();
            if v.len() < 16 || !v.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ConfigError::Invalid(
                    "forward_auth.shared_secret must be at least 16 printable ASCII characters (no spaces)"
                        .into(),
                ));
            }
        }
        if self.hsts.preload
            && (self.hsts.max_age_seconds < 31_536_000 || !self.hsts.include_subdomains)
        {
            return Err(ConfigError::Invalid(
                "hsts.preload needs max_age_seconds of at least 31536000 and include_subdomains"
                    .into(),
            ));
        }
        if let Some(d) = &self.cookie_domain {
            let d = d.trim_start_matches('.').to_ascii_lowercase();
            let host = url::Url::parse(&self.public_url())
                .ok()
                .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
                .unwrap_or_default();
            let valid = !d.is_empty()
                && d.contains('.')
                && d.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if !valid || !(host == d || host.ends_with(&format!(".{d}"))) {
                return Err(ConfigError::Invalid(format!(
                    "cookie_domain {d:?} must be a domain name that contains public_url's host {host:?} (set public_url too)"
                )));
            }
        }
        Ok(())
    }

    /// The session cookie's `Domain`, when configured (without a leading dot).
    pub fn cookie_domain(&self) -> Option<String> {
        self.cookie_domain
            .as_ref()
            .map(|d| d.trim_start_matches('.').to_ascii_lowercase())
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(u) => u.clone(),
            None => format!("sqlite://{}", self.data.join("trustplane.db").display()),
        }
    }

    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        }
    }

    pub fn cookie_secure(&self) -> bool {
        self.cookie_secure
            .unwrap_or_else(|| self.public_url().starts_with("https://"))
    }

    pub fn secret_key_path(&self) -> PathBuf {
        self.secret_key_file
            .clone()
            .unwrap_or_else(|| self.data.join("secret.key"))
    }

    pub fn breached_filter_path(&self) -> PathBuf {
        self.breached_filter
            .clone()
            .unwrap_or_else(|| self.data.join("breached.filter"))
    }

    /// Loads the breached-password filter if the file exists. A corrupt file is an error
    /// the caller reports; it never silently disables the check it was asked for.
    pub fn load_breach_filter(
        &self,
    ) -> Result<Option<trustplane_breach::BreachFilter>, trustplane_breach::BreachError> {
        let path = self.breached_filter_path();
        if !path.exists() {
            return Ok(None);
        }
        trustplane_breach::BreachFilter::load(&path).map(Some)
    }

    pub fn data_dir(&self) -> &Path {
        &self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_domain_must_contain_the_public_host() {
        let mut c = Config {
            public_url: Some("https://id.example.com".into()),
            cookie_domain: Some(".Example.com".into()),
            ..Config::default()
        };
        assert!(c.validate().is_ok());
        assert_eq!(c.cookie_domain().as_deref(), Some("example.com"));
        for bad in ["other.com", "com", "ample.com", "exa mple.com", ""] {
            c.cookie_domain = Some(bad.into());
            assert!(c.validate().is_err(), "{bad}");
        }
        c.cookie_domain = Some("id.example.com".into());
        assert!(c.validate().is_ok());
        c.cookie_domain = None;
        assert!(c.validate().is_ok());
    }

    #[test]
    fn lifetimes_that_would_overflow_time_arithmetic_are_refused() {
        let mut c = Config::default();
        c.session.absolute_hours = i64::MAX;
        assert!(c.validate().is_err());
        let mut c = Config::default();
        c.session.idle_minutes = 9_999_999_999_999_999;
        assert!(c.validate().is_err());
        let c = Config {
            signing_key_rotation_days: u32::MAX,
            ..Config::default()
        };
        assert!(c.validate().is_err());
        assert!(Config::default().validate().is_ok());
    }
}
