//! Groups in the console: list, creation, members, deletion.

use crate::console::chrome::back_with_error;
use crate::console::chrome::chrome;
use crate::console::chrome::ops;
use crate::edge::auth::{AdminPage, RequestCtx, SessionCtx};
use crate::edge::pages::{Chrome, CsrfForm, PageResult, fmt_time, need, render};
use crate::edge::pages::{CsrfOnlyForm, Flash};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use trustplane_core::identity::{Group, Permission, User};
use uuid::Uuid;

// --- groups ------------------------------------------------------------------------------

pub struct GroupRow {
    id: Uuid,
    name: String,
    description: String,
    created: String,
}

#[derive(Template)]
#[template(path = "admin/groups.html")]
pub(super) struct GroupsPage {
    pub(super) c: Chrome,
    pub(super) groups: Vec<GroupRow>,
    pub(super) can_write: bool,
}

pub async fn groups(
    State(state): State<AppState>,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
    Query(flash): Query<Flash>,
) -> PageResult {
    need(&ctx, Permission::GroupsRead)?;
    let list = state.store.list_groups().await?;
    let (jar, c) = chrome(&state, jar, &ctx, "groups", &flash);
    let page = GroupsPage {
        c,
        can_write: ctx.roles.allows(Permission::GroupsWrite),
        groups: list
            .into_iter()
            .map(|g| GroupRow {
                id: g.id,
                name: g.name,
                description: g.description,
                created: fmt_time(g.created_at),
            })
            .collect(),
    };
    Ok((jar, render(&page)).into_response())
}

#[derive(Deserialize)]
pub struct CreateGroupForm {
    name: String,
    #[serde(default)]
    description: String,
}

pub async fn create_group(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    CsrfForm(f): CsrfForm<CreateGroupForm>,
) -> PageResult {
    need(&ctx, Permission::GroupsWrite)?;
    match ops(&state)
        .create_group(&ctx.actor(req.ip), &f.name, &f.description)
        .await
    {
        Ok(g) => Ok(Redirect::to(&format!("/admin/groups/{}?ok=created", g.id)).into_response()),
        Err(e) => Ok(back_with_error(&state, "/admin/groups", &e)),
    }
}

#[derive(Template)]
#[template(path = "admin/group.html")]
pub(super) struct GroupPage {
    pub(super) c: Chrome,
    pub(super) group: Group,
    pub(super) members: Vec<User>,
    pub(super) can_write: bool,
}

pub async fn group(
    State(state): State<AppState>,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
    Path(id): Path<Uuid>,
    Query(flash): Query<Flash>,
) -> PageResult {
    need(&ctx, Permission::GroupsRead)?;
    let group = ops(&state).group(id).await?;
    let members = state.store.group_members(id).await?;
    let (jar, c) = chrome(&state, jar, &ctx, "groups", &flash);
    let page = GroupPage {
        c,
        group,
        members,
        can_write: ctx.roles.allows(Permission::GroupsWrite),
    };
    Ok((jar, render(&page)).into_response())
}

#[derive(Deserialize)]
pub struct MemberForm {
    username: String,
}

pub(super) async fn change_member(
    state: &AppState,
    req: &RequestCtx,
    ctx: &SessionCtx,
    id: Uuid,
    username: &str,
    add: bool,
) -> PageResult {
    need(ctx, Permission::GroupsWrite)?;
    let here = format!("/admin/groups/{id}");
    let o = ops(state);
    let r = async {
        let user = o.user_by_name(username).await?;
        if add {
            o.add_member(&ctx.actor(req.ip), id, user.id).await
        } else {
            o.remove_member(&ctx.actor(req.ip), id, user.id).await
        }
    }
    .await;
    match r {
        Ok(_) => Ok(Redirect::to(&format!("{here}?ok=member")).into_response()),
        Err(e) => Ok(back_with_error(state, &here, &e)),
    }
}

pub async fn add_member(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    Path(id): Path<Uuid>,
    CsrfForm(f): CsrfForm<MemberForm>,
) -> PageResult {
    change_member(&state, &req, &ctx, id, &f.username, true).await
}

pub async fn remove_member(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    Path(id): Path<Uuid>,
    CsrfForm(f): CsrfForm<MemberForm>,
) -> PageResult {
    change_member(&state, &req, &ctx, id, &f.username, false).await
}

pub async fn delete_group(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<CsrfOnlyForm>,
) -> PageResult {
    need(&ctx, Permission::GroupsWrite)?;
    ops(&state).delete_group(&ctx.actor(req.ip), id).await?;
    Ok(Redirect::to("/admin/groups?ok=deleted").into_response())
}

/// This resource's routes.
pub(super) fn routes() -> axum::Router<crate::state::AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/admin/groups", get(groups).post(create_group))
        .route("/admin/groups/{id}", get(group))
        .route("/admin/groups/{id}/members", post(add_member))
        .route("/admin/groups/{id}/members/remove", post(remove_member))
        .route("/admin/groups/{id}/delete", post(delete_group))
}
