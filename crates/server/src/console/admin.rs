//! The admin console: users, groups, sessions, sign-in log, audit log, API tokens. Every
//! action goes through [`Ops`], the same code as the admin API and the CLI.

use crate::edge::auth::{AdminPage, RequestCtx, SessionCtx};
use crate::edge::error::AppError;
use crate::edge::pages::{Chrome, CsrfForm, PageError, PageResult, fmt_time, need, render};
use crate::edge::pages::{CsrfOnlyForm, Flash};
use crate::ops::{NewUser, Ops, parse_lifetime};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use time::{Duration, OffsetDateTime};
use trustplane_core::identity::{Group, Permission, Role, RoleSet, User, UserStatus};
use trustplane_core::signin::{SignInEvent, SignInResult};
use trustplane_store::{AuditQuery, SignInQuery, UserQuery};
use uuid::Uuid;

fn ops(state: &AppState) -> Ops {
    state.ops()
}

fn chrome(
    state: &AppState,
    jar: CookieJar,
    ctx: &SessionCtx,
    nav: &'static str,
    flash: &Flash,
) -> (CookieJar, Chrome) {
    let (jar, csrf) = state.csrf_issue(jar);
    let mut c = Chrome::new(ctx, csrf, nav);
    c.notice = flash.ok.clone().and_then(flash_text);
    c.error = crate::edge::pages::verified_error(state, flash.err.as_deref(), flash.sig.as_deref());
    (jar, c)
}

fn flash_text(code: String) -> Option<String> {
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
fn back_with_error(state: &AppState, path: &str, e: &AppError) -> axum::response::Response {
    Redirect::to(&crate::edge::pages::with_error(state, path, &e.message)).into_response()
}

pub struct SignInRow {
    id: Uuid,
    at: String,
    username: String,
    result: &'static str,
    ok: bool,
    reason: String,
    ip: String,
    correlation_id: String,
}

fn signin_rows(events: Vec<SignInEvent>) -> Vec<SignInRow> {
    events
        .into_iter()
        .map(|e| SignInRow {
            id: e.id,
            at: fmt_time(e.at),
            username: e.username,
            result: e.result.as_str(),
            ok: e.result == SignInResult::Success,
            reason: e.failure_reason.unwrap_or_default(),
            ip: e.ip.unwrap_or_default(),
            correlation_id: e.correlation_id,
        })
        .collect()
}

// --- dashboard ---------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin/home.html")]
struct HomePage {
    c: Chrome,
    users: i64,
    groups: usize,
    active_sessions: usize,
    failures_24h: usize,
    signins: Vec<SignInRow>,
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

// --- users -------------------------------------------------------------------------------

pub struct UserRow {
    id: Uuid,
    username: String,
    display_name: String,
    email: String,
    enabled: bool,
    created: String,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    c: Chrome,
    q: String,
    users: Vec<UserRow>,
    can_write: bool,
}

#[derive(Deserialize, Default)]
pub struct UsersQuery {
    #[serde(default)]
    q: String,
    #[serde(flatten)]
    flash: Flash,
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
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: String,
    password: String,
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
    id: Uuid,
    username: String,
    created: String,
    last_seen: String,
    expires: String,
    ip: String,
    methods: String,
    /// Whether the viewer may revoke it (the one rule, `RoleSet::may_act_on`).
    revocable: bool,
}

#[derive(Template)]
#[template(path = "admin/user.html")]
struct UserPage {
    c: Chrome,
    user: User,
    groups: Vec<Group>,
    roles: Vec<Role>,
    all_roles: [Role; 4],
    sessions: Vec<SessionView>,
    can_write: bool,
    can_reset: bool,
    can_roles: bool,
    rows: Vec<crate::console::protection::RiskRow>,
    can_see_risk: bool,
    can_dismiss: bool,
    methods: Vec<MethodView>,
    /// Security keys and passkeys, with model and binding (pages/webauthn.rs).
    keys: Vec<crate::signin::passkey_pages::KeyRow>,
    recovery_left: i64,
    /// The user's Temporary Access Pass: (usable, expires, one-time, used).
    tap: Option<(bool, String, bool, bool)>,
}

pub struct MethodView {
    id: Uuid,
    kind: &'static str,
    label: String,
    added: String,
    last_used: String,
}

async fn session_views(
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
    status: String,
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
    match ops(&state)
        .update_user(&ctx.actor(req.ip), id, None, None, Some(status))
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("{here}?ok=saved")).into_response()),
        Err(e) => Ok(back_with_error(&state, &here, &e)),
    }
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
    match ops(&state)
        .set_password(&ctx.actor(req.ip), id, &f.password, f.must_change.is_some())
        .await
    {
        Ok(()) => Ok(Redirect::to(&format!("{here}?ok=password")).into_response()),
        Err(e) => Ok(back_with_error(&state, &here, &e)),
    }
}

#[derive(Deserialize)]
pub struct RoleForm {
    role: String,
    op: String,
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
    match r {
        Ok(_) => Ok(Redirect::to(&format!("{here}?ok=role")).into_response()),
        Err(e) => Ok(back_with_error(&state, &here, &e)),
    }
}

// --- groups ------------------------------------------------------------------------------

pub struct GroupRow {
    id: Uuid,
    name: String,
    description: String,
    created: String,
}

#[derive(Template)]
#[template(path = "admin/groups.html")]
struct GroupsPage {
    c: Chrome,
    groups: Vec<GroupRow>,
    can_write: bool,
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
struct GroupPage {
    c: Chrome,
    group: Group,
    members: Vec<User>,
    can_write: bool,
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

async fn change_member(
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

// --- sessions ----------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin/sessions.html")]
struct SessionsPage {
    c: Chrome,
    sessions: Vec<SessionView>,
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

// --- logs --------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin/signins.html")]
struct SignInsPage {
    c: Chrome,
    signins: Vec<SignInRow>,
    f_username: String,
    f_result: String,
    f_app: String,
    f_risk: String,
    f_outcome: String,
    f_policy: String,
    f_reason: String,
    f_days: i64,
    export_query: String,
    retention: crate::ops::retention::View,
}

#[derive(Deserialize, Default)]
pub struct SignInFilter {
    #[serde(default)]
    username: String,
    #[serde(default)]
    result: String,
    #[serde(default)]
    app: String,
    #[serde(default)]
    risk: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    policy: String,
    #[serde(default)]
    reason: String,
    /// Last N days (default 7).
    #[serde(default)]
    days: String,
}

pub async fn sign_ins(
    State(state): State<AppState>,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
    Query(f): Query<SignInFilter>,
) -> PageResult {
    need(&ctx, Permission::SignInLogRead)?;
    let text = |v: &str| Some(v.trim().to_string()).filter(|s| !s.is_empty());
    let days: i64 = f.days.trim().parse().unwrap_or(7).clamp(1, 365);
    let q = SignInQuery {
        username: text(&f.username),
        result: SignInResult::parse(&f.result),
        failure_reason: text(&f.reason),
        app_id: text(&f.app),
        sign_in_risk: text(&f.risk),
        ca_outcome: text(&f.outcome),
        policy: text(&f.policy),
        since: Some(state.now() - Duration::days(days)),
        limit: 200,
        ..Default::default()
    };
    let events = state.store.list_sign_ins(&q).await?;
    let (jar, c) = chrome(&state, jar, &ctx, "sign-ins", &Flash::default());
    let export_query = serde_urlencoded::to_string([
        ("username", f.username.trim()),
        ("result", f.result.trim()),
        ("failure_reason", f.reason.trim()),
        ("app", f.app.trim()),
        ("risk", f.risk.trim()),
        ("outcome", f.outcome.trim()),
        ("policy", f.policy.trim()),
    ])
    .unwrap_or_default();
    let page = SignInsPage {
        c,
        signins: signin_rows(events),
        f_username: f.username,
        f_result: f.result,
        f_app: f.app,
        f_risk: f.risk,
        f_outcome: f.outcome,
        f_policy: f.policy,
        f_reason: f.reason,
        f_days: days,
        export_query,
        retention: crate::ops::retention::view(&state),
    };
    Ok((jar, render(&page)).into_response())
}

pub struct AuditRow {
    seq: i64,
    at: String,
    actor: String,
    ip: String,
    action: String,
    target: String,
    change: String,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    c: Chrome,
    entries: Vec<AuditRow>,
    chain_ok: bool,
    chain_msg: String,
}

fn audit_row(e: trustplane_core::audit::AuditEntry) -> AuditRow {
    AuditRow {
        seq: e.seq,
        at: OffsetDateTime::from_unix_timestamp_nanos(i128::from(e.at_ms) * 1_000_000)
            .map(fmt_time)
            .unwrap_or_default(),
        actor: e.actor_name,
        ip: e.ip.unwrap_or_default(),
        action: e.action,
        target: format!("{} {}", e.target_type, e.target_id.unwrap_or_default()),
        change: e.after.or(e.before).unwrap_or_default(),
    }
}

/// The audit actions that make up registration and reset activity.
pub const REGISTRATION_ACTIONS: [&str; 9] = [
    "mfa.method.add",
    "mfa.method.remove",
    "mfa.method.rename",
    "mfa.recovery_codes.issue",
    "mfa.recovery_codes.delete",
    "mfa.reregistration.require",
    "tap.issue",
    "user.password.reset",
    "user.password.change",
];

#[derive(Template)]
#[template(path = "admin/registration_activity.html")]
struct RegistrationActivityPage {
    c: Chrome,
    entries: Vec<AuditRow>,
    registered: usize,
    users: usize,
}

/// `GET /admin/registration-activity`: who registered, changed or removed security info and
/// who reset a password, newest first (from the audit log), and how many users have a second
/// factor.
pub async fn registration_activity(
    State(state): State<AppState>,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
) -> PageResult {
    need(&ctx, Permission::AuditLogRead)?;
    let mut entries = Vec::new();
    for action in REGISTRATION_ACTIONS {
        entries.extend(
            state
                .store
                .list_audit(&AuditQuery {
                    action: Some(action.to_string()),
                    limit: 200,
                    ..Default::default()
                })
                .await?,
        );
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.seq));
    entries.truncate(200);
    let all = state
        .store
        .list_users(&trustplane_store::UserQuery {
            limit: 10_000,
            ..Default::default()
        })
        .await?;
    let mut registered = 0;
    for u in &all {
        if !state.store.list_mfa_methods(u.id).await?.is_empty() {
            registered += 1;
        }
    }
    let (jar, c) = chrome(&state, jar, &ctx, "registration", &Flash::default());
    let page = RegistrationActivityPage {
        c,
        entries: entries.into_iter().map(audit_row).collect(),
        registered,
        users: all.len(),
    };
    Ok((jar, render(&page)).into_response())
}

pub async fn audit(
    State(state): State<AppState>,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
) -> PageResult {
    need(&ctx, Permission::AuditLogRead)?;
    let entries = state
        .store
        .list_audit(&AuditQuery {
            limit: 200,
            ..Default::default()
        })
        .await?;
    let (chain_ok, chain_msg) = match state.store.verify_audit().await? {
        Ok(n) => (true, format!("{n} entries verified.")),
        Err(e) => (false, e.to_string()),
    };
    let (jar, c) = chrome(&state, jar, &ctx, "audit", &Flash::default());
    let page = AuditPage {
        c,
        chain_ok,
        chain_msg,
        entries: entries.into_iter().map(audit_row).collect(),
    };
    Ok((jar, render(&page)).into_response())
}

// --- API tokens --------------------------------------------------------------------------

pub struct TokenRow {
    id: Uuid,
    name: String,
    role: &'static str,
    created: String,
    expires: String,
    last_used: String,
    usable: bool,
}

#[derive(Template)]
#[template(path = "admin/tokens.html")]
struct TokensPage {
    c: Chrome,
    tokens: Vec<TokenRow>,
    all_roles: [Role; 4],
    new_secret: Option<String>,
}

async fn tokens_page(
    state: &AppState,
    jar: CookieJar,
    ctx: &SessionCtx,
    flash: &Flash,
    new_secret: Option<String>,
) -> PageResult {
    need(ctx, Permission::TokensManage)?;
    let now = state.now();
    let list = state.store.list_api_tokens().await?;
    let (jar, c) = chrome(state, jar, ctx, "tokens", flash);
    let page = TokensPage {
        c,
        all_roles: Role::ALL,
        new_secret,
        tokens: list
            .into_iter()
            .map(|t| TokenRow {
                usable: t.is_usable(now),
                id: t.id,
                name: t.name,
                role: t.role.label(),
                created: fmt_time(t.created_at),
                expires: fmt_time(t.expires_at),
                last_used: t
                    .last_used_at
                    .map(fmt_time)
                    .unwrap_or_else(|| "never".into()),
            })
            .collect(),
    };
    Ok((jar, render(&page)).into_response())
}

pub async fn tokens(
    State(state): State<AppState>,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
    Query(flash): Query<Flash>,
) -> PageResult {
    tokens_page(&state, jar, &ctx, &flash, None).await
}

#[derive(Deserialize)]
pub struct TokenForm {
    name: String,
    role: String,
    expires: String,
}

pub async fn create_token(
    State(state): State<AppState>,
    req: RequestCtx,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
    CsrfForm(f): CsrfForm<TokenForm>,
) -> PageResult {
    need(&ctx, Permission::TokensManage)?;
    let r = async {
        let role: Role = f.role.parse()?;
        let lifetime = parse_lifetime(&f.expires)?;
        ops(&state)
            .create_token(&ctx.actor(req.ip), &f.name, role, lifetime)
            .await
    }
    .await;
    match r {
        // The secret is rendered once in the response, never put in a URL.
        Ok((_, secret)) => tokens_page(&state, jar, &ctx, &Flash::default(), Some(secret)).await,
        Err(e) => Ok(back_with_error(&state, "/admin/tokens", &e)),
    }
}

pub async fn revoke_token(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<CsrfOnlyForm>,
) -> PageResult {
    need(&ctx, Permission::TokensManage)?;
    ops(&state).revoke_token(&ctx.actor(req.ip), id).await?;
    Ok(Redirect::to("/admin/tokens?ok=revoked").into_response())
}

/// Whether the administrator's roles allow changing this user's password or sign-in methods
/// ([`crate::ops::Ops::ensure_may_act`]); `denied` is the refusal shown.
async fn may_change_sign_in(
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
    match ops(&state)
        .remove_mfa_method(&ctx.actor(req.ip), id, method)
        .await
    {
        Ok(()) => Ok(Redirect::to(&format!("{here}?ok=method")).into_response()),
        Err(e) => Ok(back_with_error(&state, &here, &e)),
    }
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
    match ops(&state)
        .require_reregistration(&ctx.actor(req.ip), id)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("{here}?ok=reregister")).into_response()),
        Err(e) => Ok(back_with_error(&state, &here, &e)),
    }
}

#[derive(Template)]
#[template(path = "admin/tap_issued.html")]
struct TapIssuedPage {
    c: Chrome,
    user: User,
    pass: String,
    expires: String,
    one_time: bool,
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
struct TemporaryPasswordPage {
    c: Chrome,
    user: User,
    password: String,
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
