//! Every active session, and revoking one.

use super::users::SessionView;
use crate::console::chrome::chrome;
use crate::console::chrome::ops;
use crate::console::users::session_views;
use crate::edge::auth::{AdminPage, RequestCtx};
use crate::edge::error::AppError;
use crate::edge::pages::{Chrome, CsrfForm, PageResult, need, render};
use crate::edge::pages::{CsrfOnlyForm, Flash};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::cookie::CookieJar;
use trustplane_core::identity::Permission;
use uuid::Uuid;

// --- sessions ----------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin/sessions.html")]
pub(super) struct SessionsPage {
    pub(super) c: Chrome,
    pub(super) sessions: Vec<SessionView>,
}

pub async fn sessions(
    State(state): State<AppState>,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
    Query(flash): Query<Flash>,
) -> PageResult {
    need(&ctx, Permission::SessionsRead)?;
    let sessions = session_views(&state, &ctx.roles, None).await?;
    let (jar, c) = chrome(&state, jar, &ctx, "sessions", &flash);
    let page = SessionsPage { c, sessions };
    Ok((jar, render(&page)).into_response())
}

pub async fn revoke_session(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<CsrfOnlyForm>,
) -> PageResult {
    // Permission first: a viewer without it learns nothing about which sessions exist.
    need(&ctx, Permission::SessionsRevoke)?;
    let s = state
        .store
        .get_session(id)
        .await?
        .ok_or_else(|| AppError::not_found("session"))?;
    ops(&state)
        .ensure_may_act(&ctx.roles, Permission::SessionsRevoke, s.user_id)
        .await?;
    ops(&state).revoke_session(&ctx.actor(req.ip), id).await?;
    Ok(Redirect::to("/admin/sessions?ok=revoked").into_response())
}

/// This resource's routes.
pub(super) fn routes() -> axum::Router<crate::state::AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/admin/sessions", get(sessions))
        .route("/admin/sessions/{id}/revoke", post(revoke_session))
}
