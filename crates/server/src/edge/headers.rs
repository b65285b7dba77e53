//! Headers every answer carries (content type sniffing, framing, referrer, CSP, caching,
//! HSTS on https deployments), and the bearer token that may guard `/metrics`.

use crate::platform::config::Config;
use axum::http::{HeaderMap, HeaderValue, header};
use sha2::{Digest, Sha256};
use trustplane_core::credential::constant_time_eq;

/// The `Strict-Transport-Security` value this deployment sends, if any: only when
/// `public_url` is https (browsers ignore it over http, and a development instance on
/// `http://127.0.0.1` must not pin anything).
pub fn hsts(cfg: &Config) -> Option<HeaderValue> {
    if !cfg.public_url().starts_with("https://") {
        return None;
    }
    cfg.hsts
        .header()
        .and_then(|v| HeaderValue::from_str(&v).ok())
}

/// Adds the security headers to an answer.
pub fn secure(h: &mut HeaderMap, hsts: Option<&HeaderValue>) {
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Some(v) = hsts {
        h.insert(header::STRICT_TRANSPORT_SECURITY, v.clone());
    }
}

/// The SHA-256 of the configured metrics token (what requests are compared against).
pub fn metrics_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether a request may read `/metrics`: always without a configured token; with one, only
/// with `Authorization: Bearer <token>` (compared in constant time, on digests so that the
/// length of the token is not revealed either).
pub fn metrics_allowed(expected: Option<&[u8; 32]>, headers: &HeaderMap) -> bool {
    let Some(expected) = expected else {
        return true;
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty());
    match presented {
        Some(t) => constant_time_eq(&metrics_digest(t), expected),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn metrics_token_is_checked_exactly() {
        let d = metrics_digest("0123456789abcdef");
        assert!(metrics_allowed(None, &HeaderMap::new()));
        assert!(!metrics_allowed(Some(&d), &HeaderMap::new()));
        assert!(metrics_allowed(Some(&d), &auth("Bearer 0123456789abcdef")));
        assert!(metrics_allowed(Some(&d), &auth("bearer 0123456789abcdef")));
        for bad in [
            "Bearer 0123456789abcdeF",
            "Bearer 0123456789abcde",
            "Bearer 0123456789abcdef0",
            "Basic 0123456789abcdef",
            "Bearer ",
            "0123456789abcdef",
        ] {
            assert!(!metrics_allowed(Some(&d), &auth(bad)), "{bad}");
        }
    }

    #[test]
    fn hsts_only_on_https() {
        let mut c = Config::default();
        assert!(hsts(&c).is_none());
        c.public_url = Some("https://id.example.com".into());
        assert_eq!(hsts(&c).unwrap(), "max-age=31536000; includeSubDomains");
        c.hsts.max_age_seconds = 0;
        assert!(hsts(&c).is_none());
        c.hsts.max_age_seconds = 63_072_000;
        c.hsts.preload = true;
        assert_eq!(
            hsts(&c).unwrap(),
            "max-age=63072000; includeSubDomains; preload"
        );
    }
}
