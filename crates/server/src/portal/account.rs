//! The user's own account page (`/my`): profile, sessions, devices, recent sign-ins, password.

use crate::edge::auth::{PageUser, RequestCtx, resolve_session};
use crate::edge::error::AppError;
use crate::edge::pages::{
    Chrome, CsrfForm, CsrfOnlyForm, Flash, PageError, PageResult, fmt_time, render,
};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use trustplane_core::audit::AuditDraft;
use trustplane_core::identity::User;
use uuid::Uuid;

pub async fn root(State(state): State<AppState>, jar: CookieJar) -> Response {
    match resolve_session(&state, &jar).await {
        Ok(Some(ctx)) if ctx.roles.is_admin() => Redirect::to("/admin").into_response(),
        Ok(Some(_)) => Redirect::to("/my").into_response(),
        _ => Redirect::to("/login").into_response(),
    }
}

pub struct SessionRow {
    id: Uuid,
    created: String,
    last_seen: String,
    ip: String,
    agent: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "my.html")]
struct MyPage {
    c: Chrome,
    user: User,
    groups: Vec<String>,
    roles: Vec<&'static str>,
    sessions: Vec<SessionRow>,
    signins: Vec<MySignIn>,
    devices: Vec<MyDevice>,
}

/// One of the user's own registered devices.
pub struct MyDevice {
    id: Uuid,
    name: String,
    platform: &'static str,
    compliance: &'static str,
    compliance_badge: &'static str,
    enabled: bool,
    last_seen: String,
}

/// One of the user's own recent sign-ins (so they can spot one that was not them).
pub struct MySignIn {
    at: String,
    ok: bool,
    what: String,
    ip: String,
    agent: String,
}

impl From<trustplane_core::signin::SignInEvent> for MySignIn {
    fn from(e: trustplane_core::signin::SignInEvent) -> Self {
        use trustplane_core::signin::SignInResult;
        let what = match (e.result, e.failure_reason.as_deref()) {
            (SignInResult::Success, _) => "Signed in".to_string(),
            (SignInResult::Interrupted, _) => "Password accepted; more was asked".to_string(),
            (_, Some("blocked_by_policy")) => "Blocked by your organisation's policy".to_string(),
            (_, Some("policy_requirement_unavailable")) => {
                "Refused: the policy asked for more than this sign-in had".to_string()
            }
            (_, Some(r)) if r.contains("password") => "Wrong password".to_string(),
            (_, Some(r)) if r.contains("rate") => "Too many attempts".to_string(),
            _ => "Failed".to_string(),
        };
        MySignIn {
            at: fmt_time(e.at),
            ok: e.result == SignInResult::Success,
            what,
            ip: e.ip.unwrap_or_default(),
            agent: e.user_agent.unwrap_or_default().chars().take(60).collect(),
        }
    }
}

fn flash_text(code: &str) -> Option<String> {
    let text = match code {
        "password" => "Your password was changed. Other sessions were signed out.",
        "revoked" => "The session was signed out.",
        "device_removed" => "The device was removed: it no longer counts as yours.",
        "wrong_password" => "The current password is not correct.",
        _ => return None,
    };
    Some(text.to_string())
}

pub async fn my(
    State(state): State<AppState>,
    jar: CookieJar,
    PageUser(ctx): PageUser,
    Query(flash): Query<Flash>,
) -> PageResult {
    let now = state.now();
    let groups = state.store.groups_of(ctx.user.id).await?;
    let sessions = state
        .store
        .list_sessions(Some(ctx.user.id), Some(now), 100)
        .await?;
    let signins = state
        .store
        .list_sign_ins(&trustplane_store::SignInQuery {
            user_id: Some(ctx.user.id),
            limit: 10,
            ..Default::default()
        })
        .await?;
    let devices = state
        .store
        .list_devices(&trustplane_store::DeviceQuery {
            owner_id: Some(ctx.user.id),
            limit: 100,
            ..Default::default()
        })
        .await?;
    let (jar, csrf) = state.csrf_issue(jar);
    let mut c = Chrome::new(&ctx, csrf, "my");
    c.notice = flash.ok.as_deref().and_then(flash_text);
    c.error = flash.err.as_deref().and_then(flash_text).or_else(|| {
        crate::edge::pages::verified_error(&state, flash.err.as_deref(), flash.sig.as_deref())
    });
    let page = MyPage {
        c,
        roles: ctx.roles.0.iter().map(|r| r.label()).collect(),
        groups: groups.into_iter().map(|g| g.name).collect(),
        sessions: sessions
            .into_iter()
            .map(|s| SessionRow {
                current: s.id == ctx.session.id,
                id: s.id,
                created: fmt_time(s.created_at),
                last_seen: fmt_time(s.last_seen_at),
                ip: s.ip.unwrap_or_default(),
                agent: s.user_agent.unwrap_or_default().chars().take(60).collect(),
            })
            .collect(),
        signins: signins.into_iter().map(MySignIn::from).collect(),
        devices: devices
            .into_iter()
            .map(|d| MyDevice {
                id: d.id,
                name: d.display_name,
                platform: d.platform.as_str(),
                compliance: d.compliance.label(),
                compliance_badge: d.compliance.badge(),
                enabled: d.state == trustplane_core::device::DeviceState::Enabled,
                last_seen: fmt_time(d.last_seen),
            })
            .collect(),
        user: ctx.user,
    };
    Ok((jar, render(&page)).into_response())
}

/// `POST /my/devices/{id}/remove`: a user removes one of their own devices (someone else's
/// id is "not found").
pub async fn my_remove_device(
    State(state): State<AppState>,
    PageUser(ctx): PageUser,
    Path(id): Path<Uuid>,
    req: RequestCtx,
    CsrfForm(_): CsrfForm<CsrfOnlyForm>,
) -> PageResult {
    let Some(d) = state.store.get_device(id).await? else {
        return Err(PageError(AppError::not_found("device")));
    };
    if d.owner_id != ctx.user.id {
        return Err(PageError(AppError::not_found("device")));
    }
    let audit = trustplane_core::audit::AuditDraft::new(
        &ctx.actor(req.ip),
        "device.remove",
        "device",
        Some(id.to_string()),
    );
    state.store.delete_device(id, audit).await?;
    Ok(Redirect::to("/my?ok=device_removed").into_response())
}

pub async fn my_revoke_session(
    State(state): State<AppState>,
    PageUser(ctx): PageUser,
    Path(id): Path<Uuid>,
    req: RequestCtx,
    CsrfForm(_): CsrfForm<CsrfOnlyForm>,
) -> PageResult {
    // Only the user's own sessions: someone else's id is "not found".
    let Some(s) = state.store.get_session(id).await? else {
        return Err(PageError(AppError::not_found("session")));
    };
    if s.user_id != ctx.user.id {
        return Err(PageError(AppError::not_found("session")));
    }
    // Audited like an administrator's revocation, so that the change event reaches every
    // instance (continuous access evaluation).
    state.ops().revoke_session(&ctx.actor(req.ip), id).await?;
    Ok(Redirect::to("/my?ok=revoked").into_response())
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current_password: String,
    new_password: String,
}

pub async fn my_password(
    State(state): State<AppState>,
    req: RequestCtx,
    PageUser(ctx): PageUser,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> PageResult {
    let record = state
        .store
        .login_record(&ctx.user.username)
        .await?
        .ok_or_else(|| AppError::not_found("user"))?;
    let stored = record
        .password_hash
        .unwrap_or_else(|| state.dummy_hash.clone());
    let ok = state
        .verify_password(&form.current_password, stored)
        .await?
        .is_match();
    if !ok {
        return Ok(Redirect::to("/my?err=wrong_password").into_response());
    }
    if let Err(e) = state
        .ops()
        .check_new_password(
            &ctx.user.username,
            &ctx.user.display_name,
            ctx.user.email.as_deref(),
            &form.new_password,
        )
        .await
    {
        return Ok(
            Redirect::to(&crate::edge::pages::with_error(&state, "/my", &e.message))
                .into_response(),
        );
    }
    let hash = state.hash_new_password(&form.new_password).await?;
    let now = state.now();
    let actor = ctx.actor(req.ip);
    let audit = AuditDraft::new(
        &actor,
        "user.password.change",
        "user",
        Some(ctx.user.id.to_string()),
    );
    // Every session is revoked, this one included: the user signs in again with the new
    // password, which also proves they know it.
    state
        .store
        .set_password_hash(ctx.user.id, &hash, false, Some(now), Some(audit))
        .await?;
    let (subject, body) = crate::platform::mail::security_notice(
        &state.cfg.organisation,
        &ctx.user.display_name,
        "Your password was changed",
        req.ip,
        state.now(),
    );
    state
        .notify(ctx.user.email.as_deref(), &subject, &body)
        .await;
    Ok(Redirect::to("/login?next=%2Fmy%3Fok%3Dpassword").into_response())
}
