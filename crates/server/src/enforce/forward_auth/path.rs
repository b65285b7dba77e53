//! The one canonical form of a request path, as an upstream will read it, on which routes are
//! matched (forward-auth and the sign-in page's step-up both use it). Computed exactly once
//! per check, from the raw path the proxy reports:
//!
//! - percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded (`/%70ayroll`
//!   is `/payroll`); every other escape is kept, with upper-case hex; raw non-ASCII bytes are
//!   percent-encoded, so `/café` and `/caf%C3%A9` are the same path;
//! - refused: an encoded `/` or `\` (`%2F`, `%5C`), a raw backslash, any control character
//!   raw or encoded (`%00`–`%1F`, `%7F`), a raw space, a malformed escape (`%zz`, `%4`);
//! - matrix parameters are stripped from every segment (`/payroll;x/y` is `/payroll/y`, as
//!   Tomcat and Spring read it), before dot segments are looked at (`/..;x/` is `..`);
//! - empty segments are merged (`//payroll//x` is `/payroll/x`);
//! - dot segments (`.`, `..`, also `%2e%2e` once decoded) are refused, never resolved: the
//!   proxy and the upstream do not agree on how to resolve them;
//! - a trailing `/` is kept.
//!
//! Routes may be case-insensitive (`case_insensitive`): the canonical path and the prefix are
//! then compared in ASCII lower case (`/PAYROLL/x` is under `/payroll`).

use trustplane_store::Route;

/// Why a path cannot be canonicalised safely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// Not starting with `/`.
    NotAbsolute,
    /// A malformed percent escape.
    BadEscape,
    /// An encoded `/` or `\`, or a raw backslash.
    EncodedSeparator,
    /// A control character or raw space (raw or encoded).
    Control,
    /// A `.` or `..` segment.
    DotSegment,
}

impl PathError {
    pub fn reason(self) -> &'static str {
        match self {
            PathError::NotAbsolute => "the path does not start with /",
            PathError::BadEscape => "malformed percent-encoding",
            PathError::EncodedSeparator => "an encoded slash or a backslash",
            PathError::Control => "a control character or space",
            PathError::DotSegment => "a dot segment",
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn push_escaped(out: &mut String, b: u8) {
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0xf)]));
}

/// The canonical form of `raw` (a path without query or fragment), or why there is none.
pub fn canonical(raw: &str) -> Result<String, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    // Pass 1: escapes and characters.
    let bytes = raw.as_bytes();
    let mut decoded = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'%' => {
                let (Some(h), Some(l)) = (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(PathError::BadEscape);
                };
                let v = (h << 4) | l;
                if v == b'/' || v == b'\\' {
                    return Err(PathError::EncodedSeparator);
                }
                if v < 0x20 || v == 0x7f {
                    return Err(PathError::Control);
                }
                if unreserved(v) {
                    decoded.push(char::from(v));
                } else {
                    push_escaped(&mut decoded, v);
                }
                i += 3;
                continue;
            }
            b'\\' => return Err(PathError::EncodedSeparator),
            0..=0x20 | 0x7f => return Err(PathError::Control),
            0x80..=0xff => push_escaped(&mut decoded, b),
            _ => decoded.push(char::from(b)),
        }
        i += 1;
    }
    // Pass 2: segments.
    let trailing = decoded.len() > 1 && decoded.ends_with('/');
    let mut out = String::with_capacity(decoded.len());
    for seg in decoded.split('/') {
        let seg = seg.split(';').next().unwrap_or_default();
        if seg.is_empty() {
            continue;
        }
        if seg == "." || seg == ".." {
            return Err(PathError::DotSegment);
        }
        out.push('/');
        out.push_str(seg);
    }
    if out.is_empty() || trailing {
        out.push('/');
    }
    Ok(out)
}

/// Whether `prefix` (canonical) covers `path` (canonical) at a segment boundary.
fn covers(prefix: &str, path: &str) -> bool {
    trustplane_store::prefix_covers(prefix, path)
}

/// How well `route` covers the canonical `path`: the length of its canonical prefix, or `None`.
pub fn coverage(route: &Route, path: &str) -> Option<usize> {
    let prefix = canonical(&route.path_prefix).unwrap_or_else(|_| route.path_prefix.clone());
    let hit = if route.case_insensitive {
        covers(&prefix.to_ascii_lowercase(), &path.to_ascii_lowercase())
    } else {
        covers(&prefix, path)
    };
    hit.then_some(prefix.len())
}

/// The route among `routes` with the longest prefix covering the canonical `path`.
pub fn best<'a>(routes: impl IntoIterator<Item = &'a Route>, path: &str) -> Option<&'a Route> {
    routes
        .into_iter()
        .filter_map(|r| coverage(r, path).map(|n| (n, r)))
        .max_by_key(|(n, _)| *n)
        .map(|(_, r)| r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tricks_canonicalise_to_the_path_the_upstream_serves() {
        for (raw, want) in [
            ("/", "/"),
            ("/payroll/x", "/payroll/x"),
            ("/%70ayroll/x", "/payroll/x"),
            ("/%70%61%79roll/x", "/payroll/x"),
            ("//payroll/x", "/payroll/x"),
            ("/payroll//x//", "/payroll/x/"),
            ("/payroll;x/y", "/payroll/y"),
            ("/payroll;jsessionid=1", "/payroll"),
            ("/%73ecret/x", "/secret/x"),
            ("/a%20b", "/a%20b"),
            ("/a%2bb", "/a%2Bb"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/café", "/caf%C3%A9"),
            ("/a/b.c/..d", "/a/b.c/..d"),
            ("/%7Euser", "/~user"),
        ] {
            assert_eq!(canonical(raw), Ok(want.to_string()), "{raw}");
        }
    }

    #[test]
    fn what_cannot_be_canonicalised_safely_is_refused() {
        for (raw, err) in [
            ("payroll", PathError::NotAbsolute),
            ("/a/../payroll/x", PathError::DotSegment),
            ("/./payroll", PathError::DotSegment),
            ("/a/%2e%2e/payroll", PathError::DotSegment),
            ("/a/%2E/payroll", PathError::DotSegment),
            ("/a/..;x/payroll", PathError::DotSegment),
            ("/a/..", PathError::DotSegment),
            ("/a%2fpayroll", PathError::EncodedSeparator),
            ("/a%2Fpayroll", PathError::EncodedSeparator),
            ("/a%5cpayroll", PathError::EncodedSeparator),
            ("/a\\payroll", PathError::EncodedSeparator),
            ("/a%00", PathError::Control),
            ("/a%0d%0a", PathError::Control),
            ("/a%7f", PathError::Control),
            ("/a\tb", PathError::Control),
            ("/a b", PathError::Control),
            ("/a%zz", PathError::BadEscape),
            ("/a%4", PathError::BadEscape),
            ("/a%", PathError::BadEscape),
        ] {
            assert_eq!(canonical(raw), Err(err), "{raw}");
        }
    }

    fn route(prefix: &str, ci: bool) -> Route {
        Route {
            id: uuid::Uuid::nil(),
            app_id: prefix.trim_matches('/').to_string(),
            host: "h".into(),
            path_prefix: prefix.into(),
            sensitivity_label: None,
            case_insensitive: ci,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn routes_match_the_canonical_path() {
        let routes = [route("/", false), route("/payroll", false)];
        let pick = |p: &str| best(&routes, &canonical(p).unwrap()).map(|r| r.path_prefix.clone());
        assert_eq!(pick("/%70ayroll/x").as_deref(), Some("/payroll"));
        assert_eq!(pick("//payroll/x").as_deref(), Some("/payroll"));
        assert_eq!(pick("/payroll;x/y").as_deref(), Some("/payroll"));
        assert_eq!(pick("/payrollx").as_deref(), Some("/"));
        // Case-sensitive by default; a case-insensitive route also takes other cases.
        assert_eq!(pick("/PAYROLL/x").as_deref(), Some("/"));
        let routes = [route("/", false), route("/payroll", true)];
        assert_eq!(
            best(&routes, &canonical("/PAYROLL/x").unwrap()).map(|r| r.path_prefix.as_str()),
            Some("/payroll")
        );
        // A prefix stored with an escape matches its canonical form.
        let routes = [route("/%70riv", false)];
        assert!(best(&routes, "/priv/x").is_some());
    }
}
