//! Users in the console: the list, creation, a user's page, status, deletion and roles.

use crate::console::chrome::back_to;
use crate::console::chrome::back_with_error;
use crate::console::chrome::chrome;
use crate::console::chrome::ops;
use crate::edge::auth::{AdminPage, RequestCtx};
use crate::edge::error::AppError;
use crate::edge::pages::{Chrome, CsrfForm, PageError, PageResult, fmt_time, need, render};
use crate::edge::pages::{CsrfOnlyForm, Flash};
use crate::ops::NewUser;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use trustplane_core::identity::{Group, Permission, Role, RoleSet, User, UserStatus};
use trustplane_store::UserQuery;
use uuid::Uuid;

// --- users -------------------------------------------------------------------------------

pub struct UserRow {
    pub(super) id: Uuid,
    pub(super) username: String,
    pub(super) display_name: String,
    pub(super) email: String,
    pub(super) enabled: bool,
    pub(super) created: String,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
pub(super) struct UsersPage {
    pub(super) c: Chrome,
    pub(super) q: String,
    pub(super) users: Vec<UserRow>,
    pub(super) can_write: bool,
}

#[derive(Deserialize, Default)]
pub struct UsersQuery {
    #[serde(default)]
    pub(super) q: String,
    #[serde(flatten)]
    pub(super) flash: Flash,
}

pub async fn users(
    State(state): State<AppState>,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
    Query(q): Query<UsersQuery>,
) -> PageResult {
    need(&ctx, Permission::UsersRead)?;
    let list = state
        .store
        .list_users(&UserQuery {
            search: Some(q.q.clone()),
            limit: 500,
            offset: 0,
        })
        .await?;
    let (jar, c) = chrome(&state, jar, &ctx, "users", &q.flash);
    let page = UsersPage {
        c,
        q: q.q,
        can_write: ctx.roles.allows(Permission::UsersWrite),
        users: list
            .into_iter()
            .map(|u| UserRow {
                id: u.id,
                enabled: u.is_enabled(),
                username: u.username,
                display_name: u.display_name,
                email: u.email.unwrap_or_default(),
                created: fmt_time(u.created_at),
            })
            .collect(),
    };
    Ok((jar, render(&page)).into_response())
}

#[derive(Deserialize)]
pub struct CreateUserForm {
    pub(super) username: String,
    #[serde(default)]
    pub(super) display_name: String,
    #[serde(default)]
    pub(super) email: String,
    pub(super) password: String,
}

pub async fn create_user(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    CsrfForm(f): CsrfForm<CreateUserForm>,
) -> PageResult {
    need(&ctx, Permission::UsersWrite)?;
    let input = NewUser {
        username: f.username,
        display_name: Some(f.display_name),
        email: Some(f.email),
        password: Some(f.password),
        roles: vec![],
    };
    match ops(&state).create_user(&ctx.actor(req.ip), input).await {
        Ok(u) => Ok(Redirect::to(&format!("/admin/users/{}?ok=created", u.id)).into_response()),
        Err(e) => Ok(back_with_error(&state, "/admin/users", &e)),
    }
}

pub struct SessionView {
    pub(super) id: Uuid,
    pub(super) username: String,
    pub(super) created: String,
    pub(super) last_seen: String,
    pub(super) expires: String,
    pub(super) ip: String,
    pub(super) methods: String,
    /// Whether the viewer may revoke it (the one rule, `RoleSet::may_act_on`).
    pub(super) revocable: bool,
}

#[derive(Template)]
#[template(path = "admin/user.html")]
pub(super) struct UserPage {
    pub(super) c: Chrome,
    pub(super) user: User,
    pub(super) groups: Vec<Group>,
    pub(super) roles: Vec<Role>,
    pub(super) all_roles: [Role; 4],
    pub(super) sessions: Vec<SessionView>,
    pub(super) can_write: bool,
    pub(super) can_reset: bool,
    pub(super) can_roles: bool,
    pub(super) rows: Vec<crate::console::protection::RiskRow>,
    pub(super) can_see_risk: bool,
    pub(super) can_dismiss: bool,
    pub(super) methods: Vec<MethodView>,
    /// Security keys and passkeys, with model and binding (pages/webauthn.rs).
    pub(super) keys: Vec<crate::signin::passkey_pages::KeyRow>,
    pub(super) recovery_left: i64,
    /// The user's Temporary Access Pass: (usable, expires, one-time, used).
    pub(super) tap: Option<(bool, String, bool, bool)>,
}

pub struct MethodView {
    pub(super) id: Uuid,
    pub(super) kind: &'static str,
    pub(super) label: String,
    pub(super) added: String,
    pub(super) last_used: String,
}

pub(super) async fn session_views(
    state: &AppState,
    viewer: &RoleSet,
    user: Option<&User>,
) -> Result<Vec<SessionView>, PageError> {
    let mut revocable: std::collections::HashMap<Uuid, bool> = std::collections::HashMap::new();
    let now = state.now();
    let sessions = state
        .store
        .list_sessions(user.map(|u| u.id), Some(now), 500)
        .await?;
    let mut out = Vec::with_capacity(sessions.len());
    for s in sessions {
        let username = match user {
            Some(u) => u.username.clone(),
            None => state
                .store
                .get_user(s.user_id)
                .await?
                .map(|u| u.username)
                .unwrap_or_default(),
        };
        out.push(SessionView {
            id: s.id,
            username,
            created: fmt_time(s.created_at),
            last_seen: fmt_time(s.last_seen_at),
            expires: fmt_time(s.idle_expires_at.min(s.absolute_expires_at)),
            ip: s.ip.unwrap_or_default(),
            methods: trustplane_core::authn::amr(&s.methods).join(", "),
            revocable: match revocable.get(&s.user_id) {
                Some(r) => *r,
                None => {
                    let target = RoleSet(state.store.roles_of(s.user_id).await?);
                    let r = viewer.may_act_on(Permission::SessionsRevoke, &target);
                    revocable.insert(s.user_id, r);
                    r
                }
            },
        });
    }
    Ok(out)
}

pub async fn user(
    State(state): State<AppState>,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
    Path(id): Path<Uuid>,
    Query(flash): Query<Flash>,
) -> PageResult {
    need(&ctx, Permission::UsersRead)?;
    let user = ops(&state).user(id).await?;
    let roles = state.store.roles_of(id).await?;
    let target = RoleSet(roles.clone());
    let groups = state.store.groups_of(id).await?;
    let sessions = if ctx.roles.allows(Permission::SessionsRead) {
        session_views(&state, &ctx.roles, Some(&user)).await?
    } else {
        vec![]
    };
    let rows = if ctx.roles.allows(Permission::PolicyRead) {
        let list = state.store.list_risk_detections(Some(id), None, 50).await?;
        crate::console::protection::risk_rows(&state, list).await?
    } else {
        vec![]
    };
    let (jar, c) = chrome(&state, jar, &ctx, "users", &flash);
    let methods = state
        .store
        .list_mfa_methods(id)
        .await?
        .into_iter()
        .map(|m| MethodView {
            id: m.id,
            kind: m.kind.label(),
            label: m.label,
            added: fmt_time(m.created_at),
            last_used: m
                .last_used_at
                .map(fmt_time)
                .unwrap_or_else(|| "never".into()),
        })
        .collect();
    let recovery_left = state.store.unused_recovery_codes(id).await?;
    let now = state.now();
    let tap = state.store.tap_of(id).await?.map(|t| {
        (
            t.usable(now),
            fmt_time(t.expires_at),
            t.one_time,
            t.used_at.is_some(),
        )
    });
    let page = UserPage {
        tap,
        methods,
        keys: crate::signin::passkey_pages::rows(&state, id).await?,
        recovery_left,
        rows,
        can_see_risk: ctx.roles.allows(Permission::PolicyRead),
        can_dismiss: ctx.roles.allows(Permission::PolicyWrite),
        c,
        can_write: ctx.roles.allows(Permission::UsersWrite),
        can_reset: ctx
            .roles
            .may_act_on(Permission::UsersResetPassword, &target),
        can_roles: ctx.roles.allows(Permission::RolesAssign),
        user,
        groups,
        roles,
        all_roles: Role::ALL,
        sessions,
    };
    Ok((jar, render(&page)).into_response())
}

#[derive(Deserialize)]
pub struct StatusForm {
    pub(super) status: String,
}

pub async fn user_status(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    Path(id): Path<Uuid>,
    CsrfForm(f): CsrfForm<StatusForm>,
) -> PageResult {
    need(&ctx, Permission::UsersWrite)?;
    let here = format!("/admin/users/{id}");
    let Some(status) = UserStatus::parse(&f.status) else {
        return Ok(back_with_error(
            &state,
            &here,
            &AppError::bad_request("invalid_status", "Unknown status."),
        ));
    };
    back_to(
        &state,
        &here,
        "saved",
        ops(&state)
            .update_user(&ctx.actor(req.ip), id, None, None, Some(status))
            .await,
    )
}

pub async fn user_delete(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<CsrfOnlyForm>,
) -> PageResult {
    need(&ctx, Permission::UsersWrite)?;
    match ops(&state).delete_user(&ctx.actor(req.ip), id).await {
        Ok(()) => Ok(Redirect::to("/admin/users?ok=deleted").into_response()),
        Err(e) => Ok(back_with_error(&state, &format!("/admin/users/{id}"), &e)),
    }
}

#[derive(Deserialize)]
pub struct RoleForm {
    pub(super) role: String,
    pub(super) op: String,
}

pub async fn user_roles(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    Path(id): Path<Uuid>,
    CsrfForm(f): CsrfForm<RoleForm>,
) -> PageResult {
    need(&ctx, Permission::RolesAssign)?;
    let here = format!("/admin/users/{id}");
    let role: Role = match f.role.parse() {
        Ok(r) => r,
        Err(e) => return Ok(back_with_error(&state, &here, &AppError::from(e))),
    };
    let o = ops(&state);
    let actor = ctx.actor(req.ip);
    let r = match f.op.as_str() {
        "assign" => o.assign_role(&actor, id, role).await,
        "unassign" => o.unassign_role(&actor, id, role).await,
        _ => Err(AppError::bad_request("invalid_op", "Unknown action.")),
    };
    back_to(&state, &here, "role", r)
}

/// This resource's routes.
pub(super) fn routes() -> axum::Router<crate::state::AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/admin/users", get(users).post(create_user))
        .route("/admin/users/{id}", get(user))
        .route("/admin/users/{id}/status", post(user_status))
        .route("/admin/users/{id}/delete", post(user_delete))
        .route("/admin/users/{id}/roles", post(user_roles))
}
