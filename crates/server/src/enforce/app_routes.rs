//! Applications behind forward-auth: validation of their ids, hosts and route prefixes, the
//! route a proxied request belongs to, and the return URLs a sign-in may redirect to.

use crate::edge::error::AppError;
use trustplane_store::{Route, Store};

/// Application ids are lowercase slugs (`a-z`, `0-9`, `-`, 1–63 characters, starting with a
/// letter or digit). `trustplane` is reserved for the portal itself.
/// A display name (applications, clients, labels, contexts): trimmed, 1-200 characters, no
/// control characters.
pub fn check_name(name: &str) -> Result<String, AppError> {
    let n = name.trim();
    if n.is_empty() || n.len() > 200 || n.chars().any(char::is_control) {
        return Err(AppError::bad_request(
            "invalid_name",
            "The name must be 1-200 characters without control characters.",
        ));
    }
    Ok(n.to_string())
}

pub fn check_slug(id: &str) -> Result<(), AppError> {
    let ok = !id.is_empty()
        && id.len() <= 63
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-');
    if !ok {
        return Err(AppError::bad_request(
            "invalid_application_id",
            "An application id is a lowercase slug: letters a-z, digits and `-` (not first or last), at most 63 characters.",
        ));
    }
    if id == crate::enforce::policy::PORTAL_APP {
        return Err(AppError::bad_request(
            "invalid_application_id",
            "`trustplane` is the portal's own application id.",
        ));
    }
    Ok(())
}

/// A host name (DNS name or IPv4 address, lowercase) with an optional port, as it appears
/// in a `Host` header. Returns the normalised (lowercase) form, or `None`.
pub fn normalise_host(host: &str) -> Option<String> {
    let host = host.trim().to_ascii_lowercase();
    if host.is_empty() || host.len() > 260 {
        return None;
    }
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host.as_str(), None),
    };
    if let Some(p) = port
        && (p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    if let Some(p) = port
        && !matches!(p.parse::<u32>(), Ok(v) if (1..=65535).contains(&v))
    {
        return None;
    }
    let labels_ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    labels_ok.then_some(host)
}

pub fn check_host(host: &str) -> Result<String, AppError> {
    normalise_host(host).ok_or_else(|| {
        AppError::bad_request(
            "invalid_host",
            format!(
                "`{}` is not a host name: use a DNS name or IPv4 address, optionally with `:port` (no scheme, path or userinfo).",
                host.chars().take(100).collect::<String>()
            ),
        )
    })
}

pub fn check_prefix(prefix: &str) -> Result<(), AppError> {
    let ok = prefix.starts_with('/')
        && prefix.len() <= 1024
        && !prefix.contains(['?', '#', '\\'])
        && !prefix.chars().any(char::is_control)
        && !prefix.contains(' ');
    if ok {
        Ok(())
    } else {
        Err(AppError::bad_request(
            "invalid_path_prefix",
            "A path prefix starts with `/` and has no query, fragment, backslash, space or control character.",
        ))
    }
}

/// The route for a request to `host` (as sent, possibly with a port) and `path` (raw), matched
/// on the canonical path like forward-auth does (`forward_auth::path`): exact host first, then
/// the host without its port. A path that cannot be canonicalised has no route.
pub async fn route_for(
    store: &dyn Store,
    host: &str,
    path: &str,
) -> Result<Option<Route>, AppError> {
    let Some(host) = normalise_host(host) else {
        return Ok(None);
    };
    let Ok(path) = crate::enforce::forward_auth::path::canonical(path) else {
        return Ok(None);
    };
    let mut map: std::collections::HashMap<String, Vec<Route>> = Default::default();
    for r in store.list_routes(None).await? {
        map.entry(r.host.clone()).or_default().push(r);
    }
    Ok(crate::enforce::forward_auth::route_in(&map, &host, &path))
}

/// The host (with port, lowercase) of an absolute `http(s)://` URL without userinfo that is
/// safe to redirect to ([`crate::edge::redirect::absolute_host`]), or `None`.
pub fn absolute_host(next: &str) -> Option<String> {
    crate::edge::redirect::absolute_host(next)
}

/// Whether `entry` (a route host or allowed host: `name` or `name:port`) names exactly the
/// origin of `url` (already checked by [`absolute_host`]): same host name and same port, where
/// an entry without a port stands for the scheme's default port (80 for http, 443 for https).
/// `wiki.example.com` therefore does not admit `https://wiki.example.com:8443/`.
pub fn same_origin_host(entry: &str, url: &url::Url) -> bool {
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return false;
    };
    let default = match url.scheme() {
        "https" => 443,
        "http" => 80,
        _ => return false,
    };
    let (name, entry_port) = match entry.rsplit_once(':') {
        Some((n, p)) => match p.parse::<u16>() {
            Ok(p) => (n, p),
            Err(_) => return false,
        },
        None => (entry, default),
    };
    name.eq_ignore_ascii_case(host) && entry_port == port
}

/// Where to go after signing in: a same-site path (see `pages::safe_next`), or an absolute
/// URL whose origin belongs to an application (an allowed host, or the host of a route, with
/// exactly that port: [`same_origin_host`]). Anything else is `/my`: trustplane is never an
/// open redirect.
pub async fn safe_return(store: &dyn Store, n: &str) -> String {
    let local = crate::edge::pages::safe_next(n).to_string();
    if absolute_host(n).is_none() {
        return local;
    }
    let Ok(url) = url::Url::parse(n) else {
        return local;
    };
    let Ok(apps) = store.list_applications().await else {
        return local;
    };
    let allowed_host = apps
        .iter()
        .flat_map(|a| a.allowed_hosts.iter())
        .any(|h| same_origin_host(h, &url));
    let route_host = match store.list_routes(None).await {
        Ok(routes) => routes.iter().any(|r| same_origin_host(&r.host, &url)),
        Err(_) => false,
    };
    if allowed_host || route_host {
        n.to_string()
    } else {
        local
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_slugs() {
        assert_eq!(
            normalise_host("Wiki.Example.com").as_deref(),
            Some("wiki.example.com")
        );
        assert_eq!(
            normalise_host("127.0.0.1:8080").as_deref(),
            Some("127.0.0.1:8080")
        );
        for bad in [
            "", "a b", "evil@x", "x/y", "x:", "x:99999", "-a.com", "a..b", "http://x",
        ] {
            assert_eq!(normalise_host(bad), None, "{bad}");
        }
        assert!(check_slug("wiki-2").is_ok());
        for bad in ["", "Wiki", "a_b", "-a", "trustplane", "a.b"] {
            assert!(check_slug(bad).is_err(), "{bad}");
        }
        assert!(check_prefix("/app").is_ok());
        assert!(check_prefix("app").is_err());
        assert!(check_prefix("/a?b").is_err());
    }

    #[test]
    fn return_hosts_compare_the_port_exactly() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert!(same_origin_host(
            "wiki.example.com",
            &u("https://wiki.example.com/x")
        ));
        assert!(same_origin_host(
            "wiki.example.com",
            &u("https://wiki.example.com:443/")
        ));
        assert!(same_origin_host(
            "wiki.example.com",
            &u("http://wiki.example.com/")
        ));
        assert!(!same_origin_host(
            "wiki.example.com",
            &u("https://wiki.example.com:8443/")
        ));
        assert!(!same_origin_host(
            "wiki.example.com",
            &u("http://wiki.example.com:8080/")
        ));
        assert!(same_origin_host(
            "wiki.example.com:8443",
            &u("https://wiki.example.com:8443/")
        ));
        assert!(!same_origin_host(
            "wiki.example.com:8443",
            &u("https://wiki.example.com/")
        ));
        assert!(!same_origin_host(
            "wiki.example.com:8443",
            &u("https://wiki.example.com:9443/")
        ));
        assert!(!same_origin_host(
            "wiki.example.com",
            &u("https://wiki.example.com.evil/")
        ));
        assert!(same_origin_host(
            "127.0.0.1:81",
            &u("http://127.0.0.1:81/a")
        ));
    }

    #[test]
    fn absolute_hosts_refuse_tricks() {
        assert_eq!(
            absolute_host("https://wiki.example.com/x?y").as_deref(),
            Some("wiki.example.com")
        );
        assert_eq!(
            absolute_host("http://127.0.0.1:81").as_deref(),
            Some("127.0.0.1:81")
        );
        for bad in [
            "//evil.com/x",
            "https://evil.com@wiki.example.com/",
            "https://wiki.example.com@evil.com/",
            "https://user:pw@wiki.example.com/",
            "https:\\\\evil.com",
            "https://wiki.example.com\\@evil.com/",
            "javascript:alert(1)",
            "ftp://wiki.example.com/",
            "/local",
        ] {
            assert_eq!(absolute_host(bad), None, "{bad}");
        }
    }
}
