//! Browsers that signed in successfully as a user before: their sign-ins take the hashing
//! pool's known lane ([`crate::platform::hashpool::Lane::Known`]), so a returning user is not queued
//! behind a flood of sign-ins for unknown accounts.
//!
//! A browser is recognised by its device cookie (`tp_device`, see [`crate::signin::limits::device_cookie`])
//! together with the account it signed in to: the store remembers the cookie's SHA-256 for an
//! account after a successful sign-in (the same record smart lockout uses for the browser's
//! own counters), so every instance recognises it and a restart forgets nothing. An
//! attacker's own cookie only speeds up sign-ins to the attacker's own account.

use crate::edge::auth::RequestCtx;
use crate::platform::hashpool::Lane;
use crate::state::AppState;

/// The hashing lane of a sign-in to `user_key` (the folded login name) from this browser.
/// A store error takes the normal lane (the sign-in itself then reports it).
pub async fn lane(state: &AppState, ctx: &RequestCtx, user_key: &str) -> Lane {
    let Some(device) = ctx.device.as_deref() else {
        return Lane::Normal;
    };
    match state.store.limits().is_known_device(device, user_key).await {
        Ok(true) => Lane::Known,
        _ => Lane::Normal,
    }
}
