//! A user's sign-in methods, managed by an administrator: password reset, temporary
//! password, removal of a method, re-registration, Temporary Access Pass.

use crate::console::chrome::back_to;
use crate::console::chrome::back_with_error;
use crate::console::chrome::chrome;
use crate::console::chrome::ops;
use crate::edge::auth::{AdminPage, RequestCtx};
use crate::edge::error::AppError;
use crate::edge::pages::{Chrome, CsrfForm, PageError, PageResult, fmt_time, render};
use crate::edge::pages::{CsrfOnlyForm, Flash};
use crate::ops::parse_lifetime;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use trustplane_core::identity::{Permission, User};
use uuid::Uuid;

#[derive(Deserialize)]
pub struct SetPasswordForm {
    password: String,
    /// Checkbox: present ("on") when checked.
    #[serde(default)]
    must_change: Option<String>,
}

pub async fn user_password(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    Path(id): Path<Uuid>,
    CsrfForm(f): CsrfForm<SetPasswordForm>,
) -> PageResult {
    may_change_sign_in(
        &state,
        &ctx,
        id,
        "Your role does not allow resetting this user's password.",
    )
    .await?;
    let here = format!("/admin/users/{id}");
    back_to(
        &state,
        &here,
        "password",
        ops(&state)
            .set_password(&ctx.actor(req.ip), id, &f.password, f.must_change.is_some())
            .await,
    )
}

/// Whether the administrator's roles allow changing this user's password or sign-in methods
/// ([`crate::ops::Ops::ensure_may_act`]); `denied` is the refusal shown.
pub(super) async fn may_change_sign_in(
    state: &AppState,
    ctx: &crate::edge::auth::SessionCtx,
    id: Uuid,
    denied: &'static str,
) -> Result<(), PageError> {
    match ops(state)
        .ensure_may_act(&ctx.roles, Permission::UsersResetPassword, id)
        .await
    {
        Err(e) if e.status == axum::http::StatusCode::FORBIDDEN => {
            Err(PageError(AppError::forbidden(denied)))
        }
        other => Ok(other?),
    }
}

/// `POST /admin/users/{id}/methods/{method}/remove`: e.g. for a user who lost their phone.
pub async fn remove_method(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    Path((id, method)): Path<(Uuid, Uuid)>,
    CsrfForm(_): CsrfForm<CsrfOnlyForm>,
) -> PageResult {
    may_change_sign_in(
        &state,
        &ctx,
        id,
        "Your role does not allow changing this user's sign-in methods.",
    )
    .await?;
    let here = format!("/admin/users/{id}");
    back_to(
        &state,
        &here,
        "method",
        ops(&state)
            .remove_mfa_method(&ctx.actor(req.ip), id, method)
            .await,
    )
}

/// `POST /admin/users/{id}/reregister`: require re-registration of MFA.
pub async fn require_reregistration(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<CsrfOnlyForm>,
) -> PageResult {
    may_change_sign_in(
        &state,
        &ctx,
        id,
        "Your role does not allow changing this user's sign-in methods.",
    )
    .await?;
    let here = format!("/admin/users/{id}");
    back_to(
        &state,
        &here,
        "reregister",
        ops(&state)
            .require_reregistration(&ctx.actor(req.ip), id)
            .await,
    )
}

#[derive(Template)]
#[template(path = "admin/tap_issued.html")]
pub(super) struct TapIssuedPage {
    pub(super) c: Chrome,
    pub(super) user: User,
    pub(super) pass: String,
    pub(super) expires: String,
    pub(super) one_time: bool,
}

#[derive(Deserialize)]
pub struct TapForm {
    lifetime: String,
    #[serde(default)]
    one_time: Option<String>,
}

/// `POST /admin/users/{id}/tap`: issues a Temporary Access Pass and shows it once.
pub async fn issue_tap(
    State(state): State<AppState>,
    req: RequestCtx,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
    Path(id): Path<Uuid>,
    CsrfForm(f): CsrfForm<TapForm>,
) -> PageResult {
    may_change_sign_in(
        &state,
        &ctx,
        id,
        "Your role does not allow issuing a pass for this user.",
    )
    .await?;
    let here = format!("/admin/users/{id}");
    let issued = async {
        let lifetime = parse_lifetime(&f.lifetime)?;
        ops(&state)
            .issue_tap(&ctx.actor(req.ip), id, lifetime, f.one_time.is_some())
            .await
    }
    .await;
    match issued {
        Ok((t, pass)) => {
            let user = ops(&state).user(id).await?;
            let (jar, c) = chrome(&state, jar, &ctx, "users", &Flash::default());
            let page = TapIssuedPage {
                c,
                user,
                pass,
                expires: fmt_time(t.expires_at),
                one_time: t.one_time,
            };
            Ok((
                jar,
                [(axum::http::header::CACHE_CONTROL, "no-store")],
                render(&page),
            )
                .into_response())
        }
        Err(e) => Ok(back_with_error(&state, &here, &e)),
    }
}

#[derive(Template)]
#[template(path = "admin/temporary_password.html")]
pub(super) struct TemporaryPasswordPage {
    pub(super) c: Chrome,
    pub(super) user: User,
    pub(super) password: String,
}

/// `POST /admin/users/{id}/password/temporary`: sets a generated password the user must change
/// at the next sign-in, and shows it once.
pub async fn temporary_password(
    State(state): State<AppState>,
    req: RequestCtx,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<CsrfOnlyForm>,
) -> PageResult {
    may_change_sign_in(
        &state,
        &ctx,
        id,
        "Your role does not allow resetting this user's password.",
    )
    .await?;
    let here = format!("/admin/users/{id}");
    match ops(&state).temporary_password(&ctx.actor(req.ip), id).await {
        Ok(password) => {
            let user = ops(&state).user(id).await?;
            let (jar, c) = chrome(&state, jar, &ctx, "users", &Flash::default());
            let page = TemporaryPasswordPage { c, user, password };
            Ok((
                jar,
                [(axum::http::header::CACHE_CONTROL, "no-store")],
                render(&page),
            )
                .into_response())
        }
        Err(e) => Ok(back_with_error(&state, &here, &e)),
    }
}

/// `POST /admin/users/{id}/tap/revoke`.
pub async fn revoke_tap(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<CsrfOnlyForm>,
) -> PageResult {
    may_change_sign_in(
        &state,
        &ctx,
        id,
        "Your role does not allow revoking this user's pass.",
    )
    .await?;
    ops(&state).revoke_tap(&ctx.actor(req.ip), id).await?;
    Ok(Redirect::to(&format!("/admin/users/{id}?ok=tap")).into_response())
}

/// This resource's routes.
pub(super) fn routes() -> axum::Router<crate::state::AppState> {
    use axum::routing::post;
    axum::Router::new()
        .route("/admin/users/{id}/password", post(user_password))
        .route(
            "/admin/users/{id}/password/temporary",
            post(temporary_password),
        )
        .route(
            "/admin/users/{id}/methods/{method}/remove",
            post(remove_method),
        )
        .route("/admin/users/{id}/tap", post(issue_tap))
        .route("/admin/users/{id}/reregister", post(require_reregistration))
        .route("/admin/users/{id}/tap/revoke", post(revoke_tap))
}
