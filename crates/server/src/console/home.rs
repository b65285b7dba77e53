//! The console's home page: counts and what needs attention.

use crate::console::chrome::chrome;
use crate::console::logs::SignInRow;
use crate::console::logs::signin_rows;
use crate::edge::auth::AdminPage;
use crate::edge::pages::Flash;
use crate::edge::pages::{Chrome, PageResult, render};
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::response::IntoResponse;
use axum_extra::extract::cookie::CookieJar;
use time::Duration;
use trustplane_core::identity::Permission;
use trustplane_core::signin::SignInResult;
use trustplane_store::SignInQuery;

// --- dashboard ---------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin/home.html")]
pub(super) struct HomePage {
    pub(super) c: Chrome,
    pub(super) users: i64,
    pub(super) groups: usize,
    pub(super) active_sessions: usize,
    pub(super) failures_24h: usize,
    pub(super) signins: Vec<SignInRow>,
}

pub async fn home(
    State(state): State<AppState>,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
) -> PageResult {
    let now = state.now();
    let users = state.store.count_users().await?;
    let groups = state.store.list_groups().await?.len();
    let active_sessions = state
        .store
        .list_sessions(None, Some(now), 1000)
        .await?
        .len();
    let failures_24h = state
        .store
        .list_sign_ins(&SignInQuery {
            result: Some(SignInResult::Failure),
            since: Some(now - Duration::hours(24)),
            limit: 10_000,
            ..Default::default()
        })
        .await?
        .len();
    let recent = if ctx.roles.allows(Permission::SignInLogRead) {
        state
            .store
            .list_sign_ins(&SignInQuery {
                limit: 10,
                ..Default::default()
            })
            .await?
    } else {
        vec![]
    };
    let (jar, c) = chrome(&state, jar, &ctx, "home", &Flash::default());
    let page = HomePage {
        c,
        users,
        groups,
        active_sessions,
        failures_24h,
        signins: signin_rows(recent),
    };
    Ok((jar, render(&page)).into_response())
}

/// This resource's routes.
pub(super) fn routes() -> axum::Router<crate::state::AppState> {
    use axum::routing::get;
    axum::Router::new().route("/admin", get(home))
}
