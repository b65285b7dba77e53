//! Server-rendered pages (askama templates, auto-escaped), with CSRF on every form.

use crate::edge::auth::SessionCtx;
use crate::edge::error::AppError;
use crate::state::AppState;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use time::macros::format_description;

/// The page chrome: who is signed in, the CSRF token, flash messages, current nav item.
pub struct Chrome {
    pub who_name: String,
    pub who_admin: bool,
    pub csrf: String,
    pub nav: &'static str,
    pub notice: Option<String>,
    pub error: Option<String>,
}

impl Chrome {
    /// The chrome of a page a redirect may have sent back to with a flash message: a fresh
    /// CSRF token, the notice the page found for `flash.ok`, the signed error of `flash.err`.
    pub fn with_flash(
        state: &crate::state::AppState,
        jar: CookieJar,
        ctx: &SessionCtx,
        nav: &'static str,
        flash: &Flash,
        notice: Option<String>,
    ) -> (CookieJar, Chrome) {
        let (jar, csrf) = state.csrf_issue(jar);
        let mut c = Chrome::new(ctx, csrf, nav);
        c.notice = notice;
        c.error = verified_error(state, flash.err.as_deref(), flash.sig.as_deref());
        (jar, c)
    }

    pub fn new(ctx: &SessionCtx, csrf: String, nav: &'static str) -> Self {
        Chrome {
            who_name: ctx.user.display_name.clone(),
            who_admin: ctx.roles.is_admin(),
            csrf,
            nav,
            notice: None,
            error: None,
        }
    }
}

/// A form that carries only its CSRF token.
#[derive(serde::Deserialize)]
pub struct CsrfOnlyForm {}

/// The flash message a redirect carries (`ok`, or a signed `err`).
#[derive(serde::Deserialize, Default)]
pub struct Flash {
    #[serde(default)]
    pub(crate) ok: Option<String>,
    #[serde(default)]
    pub(crate) err: Option<String>,
    #[serde(default)]
    pub(crate) sig: Option<String>,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorTemplate<'a> {
    title: &'a str,
    message: &'a str,
    code: &'a str,
    correlation_id: &'a str,
}

/// Renders an error as a friendly page with the right status code.
pub fn error_page(e: &AppError) -> Response {
    let title = match e.status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Access denied",
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => "That did not work",
        StatusCode::PAYLOAD_TOO_LARGE => "Too much data",
        StatusCode::SERVICE_UNAVAILABLE => "Temporarily unavailable",
        StatusCode::TOO_MANY_REQUESTS => "Slow down",
        _ => "Something went wrong",
    };
    crate::edge::error::with_retry_after(render_status(
        e.status,
        &ErrorTemplate {
            title,
            message: &e.message,
            code: e.code,
            correlation_id: "",
        },
    ))
}

pub fn render<T: Template>(t: &T) -> Response {
    render_status(StatusCode::OK, t)
}

pub fn render_status<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// An error on a page: rendered as HTML, not JSON.
pub struct PageError(pub AppError);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        error_page(&self.0)
    }
}

impl<E: Into<AppError>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError(e.into())
    }
}

pub type PageResult = Result<Response, PageError>;

/// A url-encoded form whose `csrf_token` field has been verified. Malformed bodies (invalid
/// UTF-8, wrong encoding, missing fields) are refused with a clear 400 page; a missing or
/// wrong token with 403. Nothing is changed in either case.
pub struct CsrfForm<T>(pub T);

#[derive(serde::Deserialize)]
struct CsrfOnly {
    csrf_token: String,
}

impl<T: DeserializeOwned> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = PageError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        let jar = CookieJar::from_headers(req.headers());
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(PageError(AppError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Forms must be sent as application/x-www-form-urlencoded.",
            )));
        }
        let body = Bytes::from_request(req, state).await.map_err(|e| {
            PageError(AppError::new(
                e.status(),
                "invalid_body",
                "The request body could not be read (too large?).",
            ))
        })?;
        if !form_is_utf8(&body) {
            return Err(PageError(AppError::bad_request(
                "invalid_utf8",
                "The form is not valid UTF-8.",
            )));
        }
        let token: CsrfOnly =
            serde_urlencoded::from_bytes(&body).map_err(|_| PageError(AppError::csrf()))?;
        state.csrf_verify(&jar, &token.csrf_token)?;
        let value: T = serde_urlencoded::from_bytes(&body).map_err(|e| {
            PageError(AppError::bad_request(
                "invalid_form",
                format!("The form is incomplete or malformed: {e}."),
            ))
        })?;
        Ok(CsrfForm(value))
    }
}

/// A redirect target carrying an error message, signed so that a crafted link cannot make
/// our pages display text of someone else's choosing.
pub fn with_error(state: &AppState, path: &str, message: &str) -> String {
    let msg: String = message.chars().take(400).collect();
    let sig =
        crate::platform::secrets::hmac_b64(&state.csrf_key, format!("flash:{msg}").as_bytes());
    let q = serde_urlencoded::to_string([("err", msg.as_str()), ("sig", sig.as_str())])
        .unwrap_or_default();
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{q}")
}

/// The error message of a flash, if its signature verifies.
pub fn verified_error(state: &AppState, err: Option<&str>, sig: Option<&str>) -> Option<String> {
    let (err, sig) = (err?, sig?);
    let expected =
        crate::platform::secrets::hmac_b64(&state.csrf_key, format!("flash:{err}").as_bytes());
    trustplane_core::credential::constant_time_eq(expected.as_bytes(), sig.as_bytes())
        .then(|| err.to_string())
}

/// Whether the raw body and every percent-decoded key and value are valid UTF-8 (the
/// standard parser would silently replace invalid sequences).
fn form_is_utf8(body: &[u8]) -> bool {
    if std::str::from_utf8(body).is_err() {
        return false;
    }
    body.split(|b| *b == b'&')
        .flat_map(|pair| pair.split(|b| *b == b'='))
        .all(|part| percent_encoding::percent_decode(part).decode_utf8().is_ok())
}

/// `2026-11-25 10:04`.
pub fn fmt_time(t: OffsetDateTime) -> String {
    t.format(format_description!("[year]-[month]-[day] [hour]:[minute]"))
        .unwrap_or_default()
}

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/app.css"),
    )
        .into_response()
}

pub async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        include_str!("../../static/favicon.svg"),
    )
        .into_response()
}

/// Only same-site paths that no browser could read as another site are accepted as
/// post-login destinations (see [`crate::edge::redirect`]); anything else is `/my`.
pub fn safe_next(next: &str) -> &str {
    crate::edge::redirect::local_path(next).unwrap_or("/my")
}

/// A return URL kept in a sign-in flow: it was checked with
/// [`crate::enforce::app_routes::safe_return`] when the flow started (and the flow lives on the
/// server), so an absolute application URL stays; anything else goes through `safe_next`.
pub fn stored_next(next: &str) -> &str {
    if crate::enforce::app_routes::absolute_host(next).is_some() {
        next
    } else {
        safe_next(next)
    }
}

/// The redirect that ends a sign-in form's POST. Browsers apply the sign-in page's CSP
/// `form-action 'self'` to the whole redirect chain of a form submission, so a redirect
/// straight to an application on another host would be blocked: an absolute `next` goes
/// through `/login/return`, a page of our own that moves on by itself.
pub fn redirect_after_form(next: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    let next = stored_next(next);
    if crate::enforce::app_routes::absolute_host(next).is_some() {
        let to = percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC);
        axum::response::Redirect::to(&format!("/login/return?to={to}")).into_response()
    } else {
        axum::response::Redirect::to(next).into_response()
    }
}

#[derive(askama::Template)]
#[template(path = "oidc_continue.html")]
struct ReturnPage<'a> {
    url: &'a str,
}

/// A page that moves the browser on to `url` (another origin) by itself: what ends a
/// redirect chain that started with a form POST (see [`redirect_after_form`]).
pub fn moving_on(url: &str) -> Response {
    render(&ReturnPage { url })
}

#[derive(serde::Deserialize)]
pub struct ReturnQuery {
    #[serde(default)]
    to: String,
}

/// `GET /login/return?to=URL`: a page that sends the browser on to a registered application
/// (meta refresh, and a link). Anything else goes to the portal.
pub async fn return_page(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::Query(q): axum::extract::Query<ReturnQuery>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let to = crate::enforce::app_routes::safe_return(state.store.as_ref(), &q.to).await;
    if crate::enforce::app_routes::absolute_host(&to).is_some() {
        moving_on(&to)
    } else {
        axum::response::Redirect::to(&to).into_response()
    }
}

/// Refuses a console page to an administrator whose roles lack `p` (one check for every page).
pub(crate) fn need(
    ctx: &crate::edge::auth::SessionCtx,
    p: trustplane_core::identity::Permission,
) -> Result<(), PageError> {
    if ctx.roles.allows(p) {
        Ok(())
    } else {
        Err(PageError(AppError::forbidden(
            "Your administrator role does not allow this.",
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_parameter_cannot_leave_the_site() {
        assert_eq!(safe_next("/admin/users?q=a"), "/admin/users?q=a");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "javascript:alert(1)",
            "",
            "/a\r\nSet-Cookie: x=y",
        ] {
            assert_eq!(safe_next(bad), "/my", "{bad}");
        }
    }
}
