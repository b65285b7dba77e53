//! The answer to an allowed request: the identity headers and the signed assertion the
//! upstream can verify (ES256, short-lived, audience = the application).

use crate::edge::error::AppError;
use crate::enforce::cae::IdentityHeaders;
use crate::enforce::forward_auth::ASSERTION_SECONDS;
use crate::enforce::forward_auth::count;
use crate::enforce::forward_auth::empty;
use crate::state::AppState;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use std::sync::Arc;
use uuid::Uuid;

/// How long an unsealed signing key is used before the store is asked again (key rotation).
pub(super) const SIGNER_REFRESH: std::time::Duration = std::time::Duration::from_secs(300);

/// Signs an assertion with the cached signing key.
pub(super) async fn sign(state: &AppState, claims: &serde_json::Value) -> Result<String, AppError> {
    let cached = state.cae.signer.lock().ok().and_then(|g| {
        g.as_ref()
            .filter(|(at, _)| at.elapsed() < SIGNER_REFRESH)
            .map(|(_, k)| k.clone())
    });
    let key = match cached {
        Some(k) => k,
        None => {
            let k = Arc::new(crate::platform::keys::signer(state).await?);
            if let Ok(mut g) = state.cae.signer.lock() {
                *g = Some((std::time::Instant::now(), k.clone()));
            }
            k
        }
    };
    Ok(crate::platform::keys::encode(&key.0, &key.1, claims)?)
}

/// Who an assertion is about.
pub(super) struct Subject<'a> {
    pub(super) sub: Uuid,
    pub(super) username: &'a str,
    pub(super) amr: &'a [&'a str],
    pub(super) sid: Uuid,
    /// The client certificate thumbprint the assertion is bound to.
    pub(super) cert: Option<&'a str>,
}

pub(super) fn assertion_claims(
    iss: &str,
    aud: &str,
    now: i64,
    who: &Subject<'_>,
) -> serde_json::Value {
    let Subject {
        sub,
        username,
        amr,
        sid,
        cert,
    } = *who;
    let mut claims = serde_json::json!({
        "iss": iss,
        "sub": sub,
        "aud": aud,
        "iat": now,
        "exp": now + ASSERTION_SECONDS,
        "preferred_username": username,
        "amr": amr,
        "sid": sid,
    });
    if let Some(c) = cert {
        claims["cnf"] = serde_json::json!({ "x5t#S256": c });
    }
    claims
}

/// What `X-Trustplane-Groups` escapes in a group name: controls, space, `"`, `%`, `,`, `;`,
/// `\\` (and, as always with percent-encoding, every non-ASCII byte of the UTF-8 form).
pub(super) const GROUP_ESCAPES: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'%')
    .add(b',')
    .add(b';')
    .add(b'\\');

/// `X-Trustplane-Groups`: the group names, each percent-encoded (UTF-8), joined with `,`. A
/// comma inside a name is `%2C`, so splitting on `,` and percent-decoding each item gives the
/// names back exactly.
pub fn groups_header(names: &[String]) -> String {
    names
        .iter()
        .map(|n| percent_encoding::utf8_percent_encode(n, GROUP_ESCAPES).to_string())
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn header_value(v: &str) -> HeaderValue {
    HeaderValue::from_bytes(v.as_bytes()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub(super) fn allowed(identity: &IdentityHeaders, assertion: HeaderValue) -> Response {
    count("allow");
    let mut res = empty(StatusCode::OK);
    let h = res.headers_mut();
    h.insert(
        HeaderName::from_static("x-trustplane-user"),
        identity.user.clone(),
    );
    h.insert(
        HeaderName::from_static("x-trustplane-email"),
        identity.email.clone(),
    );
    h.insert(
        HeaderName::from_static("x-trustplane-groups"),
        identity.groups.clone(),
    );
    h.insert(
        HeaderName::from_static("x-trustplane-device"),
        identity.device.clone(),
    );
    h.insert(HeaderName::from_static("x-trustplane-assertion"), assertion);
    res
}
