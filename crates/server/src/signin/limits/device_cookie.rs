//! The device cookie `tp_device`: a random 256-bit value a browser keeps for a year. Only its
//! SHA-256 is stored, and only once the browser signed in successfully with it (then it is a
//! "known browser" for that account, with lockout counters of its own). The value alone
//! grants nothing: it never replaces a credential.

use crate::state::AppState;
use axum::http::HeaderMap;
use axum_extra::extract::cookie::CookieJar;
use time::OffsetDateTime;
use trustplane_core::credential::secret_digest;
use uuid::Uuid;

/// The cookie's base name (`__Host-tp_device` on https deployments).
pub const DEVICE: &str = "tp_device";

/// How long a browser keeps its device cookie.
const LIFETIME_DAYS: i64 = 365;

/// The SHA-256 of the well-formed device cookie in these request headers.
pub fn hash_from_headers(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let jar = CookieJar::from_headers(headers);
    state
        .cookie_value(&jar, DEVICE)
        .filter(|v| well_formed(v))
        .map(secret_digest)
}

/// A value we could have issued (43 characters of base64url): anything else is ignored.
fn well_formed(v: &str) -> bool {
    v.len() == 43
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Gives the browser a device cookie when it has none (on the sign-in page, so that the
/// sign-in that follows can be remembered).
pub fn ensure(state: &AppState, jar: CookieJar) -> CookieJar {
    if state.cookie_value(&jar, DEVICE).is_some_and(well_formed) {
        return jar;
    }
    let mut c = state.cookie(DEVICE, crate::platform::secrets::random_token());
    c.set_max_age(time::Duration::days(LIFETIME_DAYS));
    jar.add(c)
}

/// After a successful sign-in: the browser that sent `device` is now known for `user_id`.
/// A failure here never fails the sign-in.
pub async fn remember(state: &AppState, device: Option<&str>, user_id: Uuid, now: OffsetDateTime) {
    let Some(d) = device else {
        return;
    };
    if let Err(e) = state.store.limits().remember_device(d, user_id, now).await {
        tracing::warn!(error = %e, "could not remember a known browser");
    }
}
