//! What every console page shares: the page chrome, flash messages, the operations handle.

use crate::edge::auth::SessionCtx;
use crate::edge::error::AppError;
use crate::edge::pages::Chrome;
use crate::edge::pages::Flash;
use crate::ops::Ops;
use crate::state::AppState;
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::cookie::CookieJar;

pub(super) fn ops(state: &AppState) -> Ops {
    state.ops()
}

pub(super) fn chrome(
    state: &AppState,
    jar: CookieJar,
    ctx: &SessionCtx,
    nav: &'static str,
    flash: &Flash,
) -> (CookieJar, Chrome) {
    let notice = flash.ok.clone().and_then(flash_text);
    Chrome::with_flash(state, jar, ctx, nav, flash, notice)
}

pub(super) fn flash_text(code: String) -> Option<String> {
    let t = match code.as_str() {
        "created" => "Created.",
        "saved" => "Saved.",
        "deleted" => "Deleted.",
        "revoked" => "Revoked.",
        "password" => "Password set; the user was signed out everywhere.",
        "member" => "Membership updated.",
        "role" => "Roles updated.",
        "method" => "The sign-in method was removed.",
        "reregister" => {
            "Every method was removed and the user was signed out; they will register a method at their next sign-in."
        }
        "tap" => "The Temporary Access Pass was revoked.",
        _ => return None,
    };
    Some(t.to_string())
}

/// Redirect back with an error message shown on the page.
pub(super) fn back_with_error(
    state: &AppState,
    path: &str,
    e: &AppError,
) -> axum::response::Response {
    Redirect::to(&crate::edge::pages::with_error(state, path, &e.message)).into_response()
}

/// The answer to a console form: back to `here` with the `ok` flash when the operation
/// succeeded, or with its error shown.
pub(super) fn back_to<T>(
    state: &AppState,
    here: &str,
    ok: &str,
    result: Result<T, AppError>,
) -> crate::edge::pages::PageResult {
    Ok(match result {
        Ok(_) => Redirect::to(&format!("{here}?ok={ok}")).into_response(),
        Err(e) => back_with_error(state, here, &e),
    })
}
