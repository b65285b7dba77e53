//! The one place that decides what the original request of a forward-auth check was (method,
//! scheme, host, URI) and whether the asker may tell us at all.
//!
//! Whoever can reach `/forward-auth` names the request it asks about in headers, so those
//! headers are only believed from a proxy: a peer in `trusted_proxies` (top level or
//! `forward_auth.trusted_proxies`), or one presenting `forward_auth.shared_secret` in
//! `X-Trustplane-Proxy-Secret`. With neither configured every check is refused (secure by
//! default). Then:
//!
//! - only the configured header family is read (`forward_auth.headers`);
//! - every other source of the same facts that is present (`X-Forwarded-*`, `X-Original-URL`,
//!   `X-Original-URI`, `X-Original-Method`, `Forwarded`) must agree with it, else `400`: a
//!   client that adds its own header to a proxy that passes it through causes a refusal, never
//!   a decision about another request;
//! - a header given twice, or a comma list in a single-valued header (host, proto, method) is
//!   ambiguous: `400`;
//! - an `X-Trustplane-*` header other than `X-Trustplane-Proxy-Secret` on the check is not
//!   something a proxy sends (it is a client's forgery passed through): `400`.

use crate::platform::config::{ForwardAuthConfig, ForwardAuthHeaders};
use axum::http::{HeaderMap, StatusCode};
use ipnet::IpNet;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use trustplane_core::credential::constant_time_eq;

/// The header a proxy presents the shared secret in.
pub const SECRET_HEADER: &str = "x-trustplane-proxy-secret";

/// The longest original URI accepted (the sign-in URL carries it, and proxies limit the
/// size of the headers an authorization answer may have).
pub const MAX_URI: usize = 8192;

/// The request the proxy is asking about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original {
    pub scheme: String,
    /// As sent (lowercase), with a port when there is one.
    pub host: String,
    /// Path and query as sent, starting with `/`.
    pub uri: String,
    /// The method, when the proxy reports it.
    pub method: Option<String>,
}

impl Original {
    pub fn url(&self) -> String {
        format!("{}://{}{}", self.scheme, self.host, self.uri)
    }
    /// The raw path (before `?` or `#`).
    pub fn path(&self) -> &str {
        self.uri.split(['?', '#']).next().unwrap_or("/")
    }
}

/// Why a check is refused before anything else is looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    /// For the log and the metrics label.
    pub result: &'static str,
    /// Safe to show (names headers, never values).
    pub message: String,
}

fn refuse(status: StatusCode, result: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        result,
        message: message.into(),
    }
}

fn bad(message: impl Into<String>) -> Refusal {
    refuse(StatusCode::BAD_REQUEST, "bad_request", message)
}

/// Who may ask: the configured trust.
pub struct Trust<'a> {
    pub cfg: &'a ForwardAuthConfig,
    pub trusted_proxies: &'a [IpNet],
    /// SHA-256 of the shared secret, when one is configured.
    pub secret_digest: Option<[u8; 32]>,
}

impl Trust<'_> {
    /// Whether the asker is a proxy we believe: `Ok(())`, or the refusal.
    pub fn admit(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Result<(), Refusal> {
        let presented: Vec<_> = headers.get_all(SECRET_HEADER).iter().collect();
        if let Some(expected) = &self.secret_digest
            && !presented.is_empty()
        {
            let ok = presented.len() == 1
                && constant_time_eq(&Sha256::digest(presented[0].as_bytes()), expected);
            return if ok {
                Ok(())
            } else {
                Err(refuse(
                    StatusCode::FORBIDDEN,
                    "untrusted_proxy",
                    "The proxy secret is wrong.",
                ))
            };
        }
        let listed = |ip: &IpAddr| {
            self.trusted_proxies
                .iter()
                .chain(&self.cfg.trusted_proxies)
                .any(|n| n.contains(ip))
        };
        if peer.as_ref().is_some_and(listed) {
            return Ok(());
        }
        let nothing_configured = self.secret_digest.is_none()
            && self.trusted_proxies.is_empty()
            && self.cfg.trusted_proxies.is_empty();
        if nothing_configured {
            return Err(refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "not_configured",
                "Forward-auth is not configured: set trusted_proxies (or forward_auth.trusted_proxies) to the proxy's address, or forward_auth.shared_secret.",
            ));
        }
        Err(refuse(
            StatusCode::FORBIDDEN,
            "untrusted_proxy",
            "This address is not a trusted proxy.",
        ))
    }
}

/// The single value of a header: `Ok(None)` when absent, `Err` when given twice or not text.
fn single(headers: &HeaderMap, name: &str) -> Result<Option<String>, Refusal> {
    let mut all = headers.get_all(name).iter();
    let Some(v) = all.next() else {
        return Ok(None);
    };
    if all.next().is_some() {
        return Err(bad(format!("{name} is given more than once.")));
    }
    let v = v
        .to_str()
        .map_err(|_| bad(format!("{name} is not text.")))?
        .trim();
    Ok(Some(v.to_string()))
}

/// A single-valued header that must not be a comma list either.
fn atom(headers: &HeaderMap, name: &str) -> Result<Option<String>, Refusal> {
    let v = single(headers, name)?;
    if v.as_deref().is_some_and(|v| v.contains(',')) {
        return Err(bad(format!("{name} holds a list.")));
    }
    Ok(v)
}

fn method(v: Option<String>, name: &str) -> Result<Option<String>, Refusal> {
    match v {
        None => Ok(None),
        Some(m) => {
            let ok = !m.is_empty()
                && m.len() <= 32
                && m.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if ok {
                Ok(Some(m))
            } else {
                Err(bad(format!("{name} is not a method.")))
            }
        }
    }
}

fn build(scheme: &str, host: &str, uri: &str) -> Result<(String, String), Refusal> {
    if uri.len() > MAX_URI || host.len() > 300 {
        return Err(bad("The original URI or host is too long."));
    }
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(bad("The original scheme must be http or https."));
    }
    let host = crate::enforce::app_routes::normalise_host(host)
        .ok_or_else(|| bad("The original host is not a host name."))?;
    if !uri.starts_with('/') || uri.chars().any(char::is_control) {
        return Err(bad("The original URI must be a path."));
    }
    Ok((scheme, host))
}

/// One source's view of the original request (absent parts: `None`).
#[derive(Debug, Default)]
struct View {
    scheme: Option<String>,
    host: Option<String>,
    uri: Option<String>,
    method: Option<String>,
}

fn x_forwarded(h: &HeaderMap) -> Result<Option<View>, Refusal> {
    let host = atom(h, "x-forwarded-host")?;
    let uri = single(h, "x-forwarded-uri")?;
    let proto = atom(h, "x-forwarded-proto")?;
    let m = method(atom(h, "x-forwarded-method")?, "X-Forwarded-Method")?;
    if host.is_none() && uri.is_none() && proto.is_none() && m.is_none() {
        return Ok(None);
    }
    Ok(Some(View {
        scheme: proto,
        host,
        uri,
        method: m,
    }))
}

fn x_original(h: &HeaderMap) -> Result<Option<View>, Refusal> {
    let url = single(h, "x-original-url")?;
    let uri = single(h, "x-original-uri")?;
    let m = method(atom(h, "x-original-method")?, "X-Original-Method")?;
    let mut view = View {
        method: m,
        ..View::default()
    };
    if let Some(raw) = url {
        let (scheme, rest) = raw
            .split_once("://")
            .ok_or_else(|| bad("X-Original-URL must be an absolute URL."))?;
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (host, path) = rest.split_at(split);
        let path = if path.is_empty() {
            "/".to_string()
        } else if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_string()
        };
        view.scheme = Some(scheme.to_string());
        view.host = Some(host.to_string());
        view.uri = Some(path);
    }
    if let Some(u) = uri {
        if view.uri.as_deref().is_some_and(|v| v != u) {
            return Err(bad("X-Original-URL and X-Original-URI disagree."));
        }
        view.uri = Some(u);
    }
    if view.host.is_none() && view.uri.is_none() && view.method.is_none() {
        return Ok(None);
    }
    Ok(Some(view))
}

/// `Forwarded` (RFC 7239): its `host` and `proto` for the nearest proxy, when present.
fn forwarded(h: &HeaderMap) -> Result<Option<View>, Refusal> {
    let Some(v) = single(h, "forwarded")? else {
        return Ok(None);
    };
    if v.contains(',') {
        return Err(bad("Forwarded holds a list."));
    }
    let mut view = View::default();
    for pair in v.split(';') {
        let Some((k, val)) = pair.split_once('=') else {
            continue;
        };
        let val = val.trim().trim_matches('"').to_string();
        match k.trim().to_ascii_lowercase().as_str() {
            "host" => view.host = Some(val),
            "proto" => view.scheme = Some(val),
            _ => {}
        }
    }
    Ok(Some(view))
}

fn agree(a: Option<&String>, b: Option<&String>, norm: impl Fn(&str) -> Option<String>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => norm(a).is_some() && norm(a) == norm(b),
        _ => true,
    }
}

/// Reads the original request, refusing anything ambiguous (see the module documentation).
/// The asker must already be admitted ([`Trust::admit`]).
pub fn read(family: ForwardAuthHeaders, h: &HeaderMap) -> Result<Original, Refusal> {
    if let Some(name) = h.keys().find(|k| {
        let n = k.as_str();
        n.starts_with("x-trustplane-") && n != SECRET_HEADER
    }) {
        return Err(bad(format!(
            "{name} is not a header a proxy sends to forward-auth: clear it in the proxy configuration."
        )));
    }
    let xf = x_forwarded(h)?;
    let xo = x_original(h)?;
    let fwd = forwarded(h)?;
    let primary = match family {
        ForwardAuthHeaders::XForwarded => xf.as_ref(),
        ForwardAuthHeaders::XOriginal => xo.as_ref(),
        ForwardAuthHeaders::Auto => xf.as_ref().or(xo.as_ref()),
    };
    let Some(p) = primary else {
        return Err(bad(match family {
            ForwardAuthHeaders::XForwarded => {
                "The proxy must send X-Forwarded-Host and X-Forwarded-Uri."
            }
            ForwardAuthHeaders::XOriginal => "The proxy must send X-Original-URL.",
            ForwardAuthHeaders::Auto => {
                "The proxy must send X-Forwarded-Host and X-Forwarded-Uri, or X-Original-URL."
            }
        }));
    };
    let host = p
        .host
        .clone()
        .ok_or_else(|| bad("The proxy must send the original host."))?;
    let uri = p.uri.clone().unwrap_or_else(|| "/".into());
    let scheme = p.scheme.clone().unwrap_or_else(|| "http".into());
    let (scheme, host) = build(&scheme, &host, &uri)?;
    let chosen = View {
        scheme: Some(scheme.clone()),
        host: Some(host.clone()),
        uri: Some(uri.clone()),
        method: p.method.clone(),
    };
    let host_norm = |v: &str| crate::enforce::app_routes::normalise_host(v);
    let lower = |v: &str| Some(v.to_ascii_lowercase());
    let exact = |v: &str| Some(v.to_string());
    for (name, other) in [
        ("X-Forwarded-*", xf.as_ref()),
        ("X-Original-*", xo.as_ref()),
        ("Forwarded", fwd.as_ref()),
    ] {
        let Some(o) = other else { continue };
        let same = agree(chosen.host.as_ref(), o.host.as_ref(), host_norm)
            && agree(chosen.scheme.as_ref(), o.scheme.as_ref(), lower)
            && agree(chosen.uri.as_ref(), o.uri.as_ref(), exact)
            && agree(chosen.method.as_ref(), o.method.as_ref(), exact);
        if !same {
            return Err(bad(format!(
                "{name} disagrees with the headers forward-auth reads: clear client-sent forwarding headers in the proxy configuration."
            )));
        }
    }
    Ok(Original {
        scheme,
        host,
        uri,
        method: chosen.method,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, HeaderValue::from_str(v).unwrap());
        }
        m
    }

    const AUTO: ForwardAuthHeaders = ForwardAuthHeaders::Auto;

    #[test]
    fn reads_both_header_styles() {
        let o = read(
            AUTO,
            &h(&[
                ("x-forwarded-host", "Wiki.Example.com"),
                ("x-forwarded-uri", "/a/b?c=d"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-method", "POST"),
            ]),
        )
        .unwrap();
        assert_eq!(o.url(), "https://wiki.example.com/a/b?c=d");
        assert_eq!(o.path(), "/a/b");
        assert_eq!(o.method.as_deref(), Some("POST"));
        let o = read(AUTO, &h(&[("x-original-url", "http://127.0.0.1:8080/x?y")])).unwrap();
        assert_eq!(o.host, "127.0.0.1:8080");
        assert_eq!(o.uri, "/x?y");
        let o = read(AUTO, &h(&[("x-original-url", "http://h.example")])).unwrap();
        assert_eq!(o.uri, "/");
        for bad in ["ftp://h/x", "http://a@b/x", "//evil/x"] {
            assert!(read(AUTO, &h(&[("x-original-url", bad)])).is_err(), "{bad}");
        }
        assert!(read(AUTO, &HeaderMap::new()).is_err());
        let long = format!("/{}", "a".repeat(MAX_URI));
        assert!(
            read(
                AUTO,
                &h(&[("x-forwarded-host", "w"), ("x-forwarded-uri", &long)])
            )
            .is_err()
        );
    }

    #[test]
    fn disagreeing_or_repeated_sources_are_refused() {
        let base = [
            ("x-original-url", "http://wiki.test/public"),
            ("x-original-method", "GET"),
        ];
        for extra in [
            ("x-forwarded-host", "payroll.test"),
            ("x-forwarded-uri", "/"),
            ("x-forwarded-method", "POST"),
            ("forwarded", "host=payroll.test"),
            ("forwarded", "proto=https"),
            ("x-original-uri", "/admin"),
            ("x-original-url", "http://wiki.test/public"),
            ("x-trustplane-user", "mallory"),
            ("x-trustplane-device", "managed"),
        ] {
            let mut m = h(&base);
            m.append(extra.0, HeaderValue::from_str(extra.1).unwrap());
            let r = read(AUTO, &m);
            assert_eq!(
                r.map_err(|e| e.status),
                Err(StatusCode::BAD_REQUEST),
                "{extra:?}"
            );
        }
        // Sources that agree are fine.
        let mut m = h(&base);
        m.append(
            "forwarded",
            HeaderValue::from_static("host=wiki.test;proto=http"),
        );
        m.append("x-forwarded-host", HeaderValue::from_static("WIKI.test"));
        m.append("x-forwarded-uri", HeaderValue::from_static("/public"));
        assert!(read(AUTO, &m).is_ok());
        // Lists in single-valued headers.
        let m = h(&[
            ("x-forwarded-host", "payroll.test, wiki.test"),
            ("x-forwarded-uri", "/"),
        ]);
        assert!(read(AUTO, &m).is_err());
        // The configured family is required.
        assert!(read(ForwardAuthHeaders::XForwarded, &h(&base)).is_err());
        assert!(read(ForwardAuthHeaders::XOriginal, &h(&base)).is_ok());
    }

    #[test]
    fn only_trusted_peers_or_the_secret_may_ask() {
        let cfg = ForwardAuthConfig::default();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.9".parse().unwrap();
        let none = Trust {
            cfg: &cfg,
            trusted_proxies: &[],
            secret_digest: None,
        };
        let e = none.admit(Some(lo), &HeaderMap::new()).unwrap_err();
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        let nets = ["127.0.0.1/32".parse().unwrap()];
        let listed = Trust {
            cfg: &cfg,
            trusted_proxies: &nets,
            secret_digest: Some(Sha256::digest(b"s3cret-s3cret-s3cret").into()),
        };
        assert!(listed.admit(Some(lo), &HeaderMap::new()).is_ok());
        let e = listed.admit(Some(other), &HeaderMap::new()).unwrap_err();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        let good = h(&[(SECRET_HEADER, "s3cret-s3cret-s3cret")]);
        assert!(listed.admit(Some(other), &good).is_ok());
        // A wrong secret is refused even from a listed peer.
        let wrong = h(&[(SECRET_HEADER, "s3cret-s3cret-s3creT")]);
        assert!(listed.admit(Some(lo), &wrong).is_err());
        let twice = h(&[
            (SECRET_HEADER, "s3cret-s3cret-s3cret"),
            (SECRET_HEADER, "s3cret-s3cret-s3cret"),
        ]);
        assert!(listed.admit(Some(other), &twice).is_err());
    }
}
