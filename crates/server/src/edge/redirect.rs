//! The one validator for redirect targets that come from input: the sign-in `next`, the
//! `/login/return` `to`, the passkey sign-in's `next`, the URL a forward-auth check sends to
//! the sign-in page (it arrives as `next`), and the OIDC `redirect_uri` and
//! `post_logout_redirect_uri` values a client registers (requests must then match one of them
//! exactly).
//!
//! Browsers do not read a `Location` the way a naive check does: they strip tabs and newlines
//! anywhere in a URL and leading/trailing control characters and spaces, and treat `\` as `/`
//! in http(s) URLs. So `/\t/evil.example` becomes `//evil.example`, another site. Whatever a
//! browser could reinterpret is refused rather than repaired:
//!
//! - any control character, any Unicode whitespace, any backslash, in the text as given;
//! - after percent-decoding (repeatedly, so `%2509` counts as a tab): any control character,
//!   any backslash, any whitespace other than the ordinary space (`%20` is how a space is
//!   written in a URL and no browser turns it back into a separator), and a path that starts
//!   with `//`;
//! - a same-site target must be a path (`/…`, not `//…`), at most 2 KiB;
//! - an absolute target must be `http(s)://host[:port]/…` without user info, and the URL
//!   parser must agree with the host this check reads.
//!
//! Whether an absolute URL may be used at all (its host belongs to an application) is decided
//! by `applications::safe_return`; this module only decides whether it is well-formed.

use percent_encoding::percent_decode_str;

/// Longest accepted redirect target.
pub const MAX_LEN: usize = 2048;

/// How many rounds of percent-decoding are examined; a value still encoded after that many
/// rounds is refused (no legitimate return URL is encoded five times over).
const DECODE_ROUNDS: usize = 4;

/// Invisible formatting characters (zero-width, bidirectional controls, byte-order mark):
/// not whitespace to Unicode, but no visible URL holds them and they disguise what a link says.
fn invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}' | '\u{061c}' | '\u{180e}' | '\u{feff}')
}

fn bad_raw(c: char) -> bool {
    c.is_control() || c.is_whitespace() || invisible(c) || c == '\\'
}

fn bad_decoded(c: char) -> bool {
    c.is_control() || (c.is_whitespace() && c != ' ') || invisible(c) || c == '\\'
}

/// Whether `s` is free of everything a browser could reinterpret in a redirect target (see
/// the module documentation): checked as given and after each round of percent-decoding.
pub fn is_clean(s: &str) -> bool {
    if s.is_empty() || s.len() > MAX_LEN || s.chars().any(bad_raw) {
        return false;
    }
    let mut current = s.to_string();
    for _ in 0..DECODE_ROUNDS {
        let decoded = percent_decode_str(&current)
            .decode_utf8_lossy()
            .into_owned();
        if decoded == current {
            return true;
        }
        if decoded.chars().any(bad_decoded) || is_protocol_relative(&decoded) {
            return false;
        }
        current = decoded;
    }
    false
}

fn is_protocol_relative(s: &str) -> bool {
    s.starts_with("//") || s.starts_with("/\\")
}

/// `next` when it is a same-site path that is safe to redirect to, else `None`.
pub fn local_path(next: &str) -> Option<&str> {
    let ok = next.starts_with('/') && !is_protocol_relative(next) && is_clean(next);
    ok.then_some(next)
}

/// The host (lowercase, with its port when one is given) of an absolute `http(s)://` URL that
/// is safe to redirect to, else `None`. Whether the host is one a sign-in may return to is for
/// the caller to decide.
pub fn absolute_host(next: &str) -> Option<String> {
    if !is_clean(next) {
        return None;
    }
    let rest = next
        .strip_prefix("https://")
        .or_else(|| next.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.contains('@') {
        return None;
    }
    let host = crate::enforce::app_routes::normalise_host(authority)?;
    // The URL parser (what builds the final redirect, and what browsers follow) must read the
    // same host and port as the check above.
    let parsed = url::Url::parse(next).ok()?;
    let parsed_host = parsed.host_str()?.to_ascii_lowercase();
    let same = match (host.rsplit_once(':'), parsed.port()) {
        (Some((name, port)), Some(p)) => name == parsed_host && port == p.to_string(),
        // `https://host:443` parses without a port (the scheme's default).
        (Some((name, port)), None) => {
            name == parsed_host
                && parsed.port_or_known_default().map(|p| p.to_string()) == Some(port.to_string())
        }
        (None, None) => host == parsed_host,
        (None, Some(_)) => false,
    };
    same.then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Targets that a browser could take to another site, or that break a `Location` header.
    const HOSTILE: &[&str] = &[
        "",
        "//evil.example/x",
        "/\\evil.example/x",
        "\\\\evil.example/x",
        "/\t/evil.example/x",
        "/\n/evil.example/x",
        "/\r/evil.example/x",
        "/\u{b}/evil.example/x",
        "/\u{c}/evil.example/x",
        "/\0/evil.example/x",
        "/\u{7f}/evil.example/x",
        "/\u{85}/evil.example/x",
        "/ /evil.example/x",
        "/\u{a0}/evil.example/x",
        "/\u{2028}/evil.example/x",
        "/\u{3000}/evil.example/x",
        "/\u{feff}/evil.example/x",
        "/\u{202e}/evil.example/x",
        "/%E2%80%8B/evil.example/x",
        "/%09/evil.example/x",
        "/%0a/evil.example/x",
        "/%0D%0ASet-Cookie:%20x=y",
        "/%0b/evil.example/x",
        "/%00",
        "/%5C/evil.example/x",
        "/%5c%5cevil.example/x",
        "/%2F/evil.example/x",
        "/%2f%2fevil.example",
        "/%2509/evil.example/x",
        "/%25252525252509",
        "/%C2%A0/evil.example/x",
        "/%E2%80%A8/evil.example/x",
        "/a\r\nSet-Cookie: x=y",
        "evil.example/x",
        "javascript:alert(1)",
        "https://evil.example\\@wiki.example.com/",
        "https://wiki.example.com\\@evil.example/",
        "https://evil.example@wiki.example.com/",
        "https://wiki.example.com@evil.example/",
        "https://\twiki.example.com/",
        "https://wiki.example.com/\t/x",
        "https://wiki.example.com%09.evil.example/",
        "https:wiki.example.com/",
        "https:/wiki.example.com/",
        "ftp://wiki.example.com/",
    ];

    #[test]
    fn hostile_targets_are_refused_as_paths_and_as_urls() {
        for t in HOSTILE {
            assert_eq!(local_path(t), None, "{t:?} accepted as a path");
            let host = absolute_host(t);
            assert!(
                host.is_none()
                    || host.as_deref() == Some("wiki.example.com") && !t.contains("evil"),
                "{t:?} accepted as a URL of {host:?}"
            );
        }
        let long = format!("/{}", "a".repeat(MAX_LEN));
        assert_eq!(local_path(&long), None);
    }

    #[test]
    fn ordinary_targets_pass() {
        for t in [
            "/my",
            "/admin/users?q=alice",
            "/oauth2/authorize/resume?request=0190",
            "/wiki/Hello%20World",
            "/files/a%2Bb",
            "/caf%C3%A9",
            "/search?q=caf%C3%A9&x=1#top",
        ] {
            assert_eq!(local_path(t), Some(t), "{t:?}");
        }
        for (t, host) in [
            ("https://wiki.example.com/x?y", "wiki.example.com"),
            ("https://Wiki.Example.com", "wiki.example.com"),
            ("http://127.0.0.1:81/a%20b", "127.0.0.1:81"),
            ("https://wiki.example.com:8443/", "wiki.example.com:8443"),
            ("https://wiki.example.com:443/", "wiki.example.com:443"),
        ] {
            assert_eq!(absolute_host(t).as_deref(), Some(host), "{t:?}");
        }
    }
}
