//! trustplane's cookies: one naming and scoping rule for all of them.
//!
//! When cookies are secure (an https `public_url`, or `cookie_secure = true`), every cookie is
//! host-only with the `__Host-` prefix (`__Host-tp_session`, `__Host-tp_csrf`, …): the browser
//! then accepts it only with `Secure`, `Path=/` and no `Domain`, so no sibling host (a
//! compromised `anything.example.com`) and no plain-http response can plant or overwrite it.
//! The one exception is the session cookie when `cookie_domain` is set (applications on
//! sibling hosts behind forward-auth must receive it): it is `__Secure-tp_session` with that
//! `Domain`. Over plain http (development) the names are plain, since browsers refuse prefixed
//! cookies without `Secure`.
//!
//! Every cookie is `HttpOnly`, `SameSite=Lax` (the CSRF seed `Strict`) and `Path=/`; read,
//! set and remove them only through the methods below so that the names always match.

use crate::platform::config::Config;
use crate::state::AppState;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

/// The signed-in session (opaque 256-bit secret; only its digest is stored).
pub const SESSION: &str = "tp_session";
/// The pre-session CSRF seed (see [`crate::edge::csrf`]).
pub const CSRF: &str = "tp_csrf";
/// A sign-in in progress (after the password, before the session).
pub const FLOW: &str = "tp_flow";
/// A self-service password reset in progress.
pub const RESET: &str = "tp_reset";
/// The security-info registration wizard is running.
pub const WIZARD: &str = "tp_wizard";

/// How this deployment names and scopes its cookies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookiePolicy {
    secure: bool,
    domain: Option<String>,
}

impl CookiePolicy {
    pub fn new(cfg: &Config) -> Self {
        CookiePolicy {
            secure: cfg.cookie_secure(),
            domain: cfg.cookie_domain(),
        }
    }

    /// Whether cookies carry `Secure` (and prefixed names).
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// The name the cookie `base` (one of the constants above, or another `tp_…` name)
    /// goes by on this deployment.
    pub fn name(&self, base: &str) -> String {
        match (self.secure, base == SESSION && self.domain.is_some()) {
            (false, _) => base.to_string(),
            (true, false) => format!("__Host-{base}"),
            (true, true) => format!("__Secure-{base}"),
        }
    }

    /// The `Domain` of the cookie `base`: only the session cookie ever has one.
    fn domain(&self, base: &str) -> Option<&str> {
        (base == SESSION)
            .then_some(self.domain.as_deref())
            .flatten()
    }
}

impl AppState {
    /// The name the cookie `base` goes by here (`__Host-tp_csrf`, `tp_csrf`, …).
    pub fn cookie_name(&self, base: &str) -> String {
        self.cookies.name(base)
    }

    /// A cookie named and scoped by the deployment's rule: `HttpOnly`, `SameSite=Lax`,
    /// `Path=/`, `Secure` when cookies are secure (do not change its path: a `__Host-` cookie
    /// with another path is refused by browsers).
    pub fn cookie(&self, base: &str, value: String) -> Cookie<'static> {
        let mut c = Cookie::new(self.cookies.name(base), value);
        c.set_http_only(true);
        c.set_same_site(SameSite::Lax);
        c.set_path("/");
        c.set_secure(self.cookies.secure());
        if let Some(d) = self.cookies.domain(base) {
            c.set_domain(d.to_string());
        }
        c
    }

    /// The value of the cookie `base` the browser sent (under this deployment's name only:
    /// a plain-named cookie planted next to a `__Host-` one is ignored).
    pub fn cookie_value<'j>(&self, jar: &'j CookieJar, base: &str) -> Option<&'j str> {
        jar.get(&self.cookies.name(base)).map(|c| c.value())
    }

    /// Removes the cookie `base` (with the path and domain it was set with).
    pub fn remove_cookie(&self, jar: CookieJar, base: &str) -> CookieJar {
        let mut c = Cookie::build(self.cookies.name(base)).path("/").build();
        c.set_secure(self.cookies.secure());
        if let Some(d) = self.cookies.domain(base) {
            c.set_domain(d.to_string());
        }
        jar.remove(c)
    }

    /// The session cookie: a browser-session cookie, or persistent until `persist_until`
    /// when conditional access asks for a persistent browser session.
    pub fn session_cookie(
        &self,
        secret: String,
        persist_until: Option<time::OffsetDateTime>,
    ) -> Cookie<'static> {
        let mut c = self.cookie(SESSION, secret);
        if let Some(until) = persist_until {
            c.set_expires(until);
        }
        c
    }

    /// Removes the session cookie.
    pub fn remove_session_cookie(&self, jar: CookieJar) -> CookieJar {
        self.remove_cookie(jar, SESSION)
    }

    /// The session secret the browser sent, when it is well-formed (43 characters); the one
    /// value both session lookup and CSRF binding read.
    pub fn session_secret<'j>(&self, jar: &'j CookieJar) -> Option<&'j str> {
        self.cookie_value(jar, SESSION).filter(|v| v.len() == 43)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(public_url: &str, domain: Option<&str>) -> CookiePolicy {
        CookiePolicy::new(&Config {
            public_url: Some(public_url.into()),
            cookie_domain: domain.map(String::from),
            ..Config::default()
        })
    }

    #[test]
    fn names_follow_the_deployment() {
        let http = policy("http://127.0.0.1:8420", None);
        assert_eq!(http.name(SESSION), "tp_session");
        assert_eq!(http.name(CSRF), "tp_csrf");
        let https = policy("https://id.example.com", None);
        assert_eq!(https.name(SESSION), "__Host-tp_session");
        assert_eq!(https.name(FLOW), "__Host-tp_flow");
        assert_eq!(https.domain(SESSION), None);
        let shared = policy("https://id.example.com", Some("example.com"));
        assert_eq!(shared.name(SESSION), "__Secure-tp_session");
        assert_eq!(shared.domain(SESSION), Some("example.com"));
        assert_eq!(shared.name(CSRF), "__Host-tp_csrf");
        assert_eq!(shared.domain(CSRF), None);
    }
}
