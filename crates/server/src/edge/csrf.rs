//! CSRF tokens, bound to who the browser is.
//!
//! - Signed in (the browser sends a session cookie): the token is
//!   `HMAC(csrf_key, "session:" ‖ SHA-256(session secret))`. It is valid for that session
//!   only: an attacker's own token (from their own session or from an anonymous page) is
//!   worthless with the victim's session cookie, even if the attacker manages to plant their
//!   CSRF seed cookie in the victim's browser.
//! - Before sign-in: the token is `HMAC(csrf_key, "pre-session:" ‖ seed)`, where the seed is
//!   the random `tp_csrf` cookie (`SameSite=Strict`). On https deployments that cookie is
//!   `__Host-tp_csrf`, which no other host can plant, so an attacker cannot pair the victim's
//!   browser with a seed and token of their own (login CSRF).
//!
//! Which binding applies is decided by the same cookie value that session lookup reads
//! ([`AppState::session_secret`]), so a request authenticated by a session is always checked
//! against that session's token. Tokens are compared in constant time.

use crate::edge::cookies::CSRF;
use crate::edge::error::AppError;
use crate::platform::secrets::{hmac_b64, random_token};
use crate::state::AppState;
use axum_extra::extract::cookie::{CookieJar, SameSite};
use trustplane_core::credential::{constant_time_eq, secret_digest};

/// The header JSON calls authenticated by cookie send the token in.
pub const HEADER: &str = "x-csrf-token";

fn session_token(key: &[u8; 32], session_secret: &str) -> String {
    let bound = format!("session:{}", secret_digest(session_secret));
    hmac_b64(key, bound.as_bytes())
}

fn seed_token(key: &[u8; 32], seed: &str) -> String {
    hmac_b64(key, format!("pre-session:{seed}").as_bytes())
}

impl AppState {
    /// The token for this browser's forms and JSON calls, and the jar (with a new CSRF seed
    /// cookie when the browser is not signed in and has none).
    pub fn csrf_issue(&self, jar: CookieJar) -> (CookieJar, String) {
        if let Some(secret) = self.session_secret(&jar) {
            let token = session_token(&self.csrf_key, secret);
            return (jar, token);
        }
        if let Some(seed) = self.cookie_value(&jar, CSRF).filter(|v| v.len() == 43) {
            let token = seed_token(&self.csrf_key, seed);
            return (jar, token);
        }
        let seed = random_token();
        let token = seed_token(&self.csrf_key, &seed);
        let mut c = self.cookie(CSRF, seed);
        c.set_same_site(SameSite::Strict);
        (jar.add(c), token)
    }

    /// Checks a submitted token against the binding that applies to this request (see the
    /// module documentation).
    pub fn csrf_verify(&self, jar: &CookieJar, submitted: &str) -> Result<(), AppError> {
        let expected = match self.session_secret(jar) {
            Some(secret) => session_token(&self.csrf_key, secret),
            None => match self.cookie_value(jar, CSRF).filter(|v| v.len() == 43) {
                Some(seed) => seed_token(&self.csrf_key, seed),
                None => return Err(AppError::csrf()),
            },
        };
        if constant_time_eq(expected.as_bytes(), submitted.as_bytes()) {
            Ok(())
        } else {
            Err(AppError::csrf())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_are_separate() {
        let key = [7u8; 32];
        let v = "A".repeat(43);
        assert_ne!(session_token(&key, &v), seed_token(&key, &v));
        assert_ne!(
            session_token(&key, &v),
            session_token(&key, &"B".repeat(43))
        );
        assert_ne!(session_token(&key, &v), session_token(&[8u8; 32], &v));
    }
}
