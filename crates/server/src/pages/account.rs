//! Sign-in, sign-out, first-administrator bootstrap, and the user's own account page.

use super::{Chrome, CsrfForm, PageError, PageResult, fmt_time, render, render_status};
use crate::auth::{PageUser, RequestCtx, resolve_session};
use crate::error::AppError;
use crate::login::{LoginOutcome, password_login};
use crate::state::AppState;
use crate::stepup::SignInRequest;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use time::OffsetDateTime;
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_core::authn::{DenyReason, FlowTarget, LoginFlow, LoginState};
use trustplane_core::credential::secret_digest;
use trustplane_core::identity::{User, UserStatus, validate_name, validate_username};
use uuid::Uuid;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    organisation: &'a str,
    csrf: String,
    next: &'a str,
    /// The application asking (hidden fields `app` and `acr`).
    app: &'a str,
    acr: &'a str,
    /// Re-authentication asked for by the application.
    reauth: bool,
    /// The asking application's name, when it is registered.
    app_name: String,
    username: &'a str,
    error: Option<&'a str>,
    notice: Option<&'a str>,
}

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    #[serde(default)]
    next: String,
    #[serde(default)]
    signed_out: Option<String>,
    #[serde(default)]
    expired: Option<String>,
    #[serde(default)]
    app: Option<String>,
    #[serde(default)]
    prompt: Option<String>,
    /// Seconds; anything not a number is ignored.
    #[serde(default)]
    max_age: Option<String>,
    #[serde(default)]
    acr: Option<String>,
}

impl LoginQuery {
    fn request(&self) -> SignInRequest {
        let opt = |s: &Option<String>| s.clone().filter(|v| !v.is_empty());
        SignInRequest {
            app: opt(&self.app),
            prompt: opt(&self.prompt),
            max_age: self.max_age.as_deref().and_then(|m| m.parse().ok()),
            acr: opt(&self.acr),
        }
    }
}

pub async fn root(State(state): State<AppState>, jar: CookieJar) -> Response {
    match resolve_session(&state, &jar).await {
        Ok(Some(ctx)) if ctx.roles.is_admin() => Redirect::to("/admin").into_response(),
        Ok(Some(_)) => Redirect::to("/my").into_response(),
        _ => Redirect::to("/login").into_response(),
    }
}

pub async fn login_form(
    State(state): State<AppState>,
    ctx: RequestCtx,
    jar: CookieJar,
    Query(q): Query<LoginQuery>,
) -> Result<Response, AppError> {
    let next = crate::applications::safe_return(state.store.as_ref(), &q.next).await;
    let now = state.now();
    let request = q.request();
    // An application sent the browser here: with a session that needs no re-authentication,
    // step it up (or go straight back when it already satisfies the application).
    if request.is_for_application()
        && let Some(session) = resolve_session(&state, &jar).await?
        && !request.needs_reauthentication(&session.session.methods, now)
    {
        let target = crate::stepup::flow_target(&state, &request, &next).await?;
        // A policy's sign-in frequency wants a fresh sign-in: the form below, not a step-up.
        if !crate::login_access::requires_reauthentication(
            &state,
            &ctx,
            session.user.id,
            &session.session.methods,
            target.as_ref(),
            now,
        )
        .await?
        {
            return step_up(&state, &ctx, jar, session, target, &next, now).await;
        }
    }
    // The device cookie, so that a successful sign-in from this browser can be remembered
    // (smart lockout: `crate::limits::device`).
    let jar = crate::limits::device::ensure(&state, jar);
    let (jar, csrf) = state.csrf_issue(jar);
    let page = LoginPage {
        organisation: &state.cfg.organisation,
        csrf,
        next: &next,
        app: request.app.as_deref().unwrap_or_default(),
        acr: request.acr.as_deref().unwrap_or_default(),
        reauth: request.is_for_application(),
        app_name: app_name(&state, request.app.as_deref()).await?,
        username: "",
        error: q
            .expired
            .as_ref()
            .map(|_| DenyReason::FlowExpired.public_message()),
        notice: q.signed_out.as_ref().map(|_| "You have signed out."),
    };
    Ok((jar, render(&page)).into_response())
}

async fn app_name(state: &AppState, app: Option<&str>) -> Result<String, AppError> {
    Ok(match app {
        Some(id) => state
            .store
            .get_application(id)
            .await?
            .map(|a| a.name)
            .unwrap_or_default(),
        None => String::new(),
    })
}

/// Steps a live session up for an application: conditional access for the application
/// (and the strength it demands) decides which steps are missing; none: back to `next`.
async fn step_up(
    state: &AppState,
    ctx: &RequestCtx,
    jar: CookieJar,
    session: crate::auth::SessionCtx,
    target: Option<FlowTarget>,
    next: &str,
    now: OffsetDateTime,
) -> Result<Response, AppError> {
    let flow = LoginFlow::step_up(session.user.id, session.session.methods.clone(), now)
        .with_target(target);
    let (flow, _) = crate::login_access::apply(
        state,
        ctx,
        flow,
        crate::login_access::Stage::FirstFactor,
        now,
    )
    .await?;
    match &flow.state {
        LoginState::Denied { reason } => {
            tracing::info!(user = %session.user.id, app = crate::login_access::app_of(&flow),
                correlation_id = %ctx.correlation_id, "step-up refused by policy");
            Ok(super::flow::blocked_page(
                state,
                jar,
                *reason,
                &ctx.correlation_id,
            ))
        }
        LoginState::InProgress { pending, .. } if !pending.is_empty() => {
            let flow_secret = crate::secrets::random_token();
            crate::login::PendingLogin {
                flow,
                next: next.to_string(),
                username: session.user.username.clone(),
                attempts: 0,
                email_sent_to: None,
                step_up_session: Some(session.session.id),
                known_device: None,
            }
            .save(state, &flow_secret)
            .await?;
            Ok(super::flow::continue_response(state, jar, flow_secret))
        }
        // Nothing missing: the session already satisfies the application.
        _ => Ok(Redirect::to(next).into_response()),
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    app: String,
    #[serde(default)]
    acr: String,
}

impl LoginForm {
    fn request(&self) -> SignInRequest {
        SignInRequest::from_form(&self.app, &self.acr)
    }
}

pub async fn login_submit(
    State(state): State<AppState>,
    ctx: RequestCtx,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> PageResult {
    let next = crate::applications::safe_return(state.store.as_ref(), &form.next).await;
    let req = form.request();
    let target = crate::stepup::flow_target(&state, &req, &next).await?;
    // A browser that signed in as this user before waits in the hashing fast lane.
    let user_key = trustplane_core::identity::fold_name(form.username.trim());
    let lane = crate::known_browser::lane(&state, &ctx, &user_key).await;
    let outcome = crate::hashpool::LANE
        .scope(
            lane,
            password_login(&state, &ctx, &form.username, &form.password, &next, target),
        )
        .await?;
    match outcome {
        LoginOutcome::Continue { flow_secret } => {
            Ok(super::flow::continue_response(&state, jar, flow_secret))
        }
        LoginOutcome::Success {
            secret,
            persist_until,
            ..
        } => {
            let jar = jar.add(state.session_cookie(secret, persist_until));
            Ok((jar, super::redirect_after_form(&next)).into_response())
        }
        LoginOutcome::Denied(reason) if super::flow::is_policy_refusal(reason) => Ok(
            super::flow::blocked_page(&state, jar, reason, &ctx.correlation_id),
        ),
        LoginOutcome::Denied(reason) => {
            let (jar, csrf) = state.csrf_issue(jar);
            let status = if reason == DenyReason::RateLimited {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::UNAUTHORIZED
            };
            let page = LoginPage {
                organisation: &state.cfg.organisation,
                csrf,
                next: &next,
                app: &form.app,
                acr: &form.acr,
                reauth: req.is_for_application(),
                app_name: app_name(&state, req.app.as_deref()).await?,
                username: &form.username,
                error: Some(reason.public_message()),
                notice: None,
            };
            Ok((jar, render_status(status, &page)).into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfOnlyForm {}

pub async fn logout(
    State(state): State<AppState>,
    jar: CookieJar,
    CsrfForm(_): CsrfForm<CsrfOnlyForm>,
) -> PageResult {
    if let Some(ctx) = resolve_session(&state, &jar).await? {
        state
            .store
            .revoke_session(ctx.session.id, state.now(), None)
            .await?;
    }
    let jar = state.remove_session_cookie(jar);
    Ok((jar, Redirect::to("/login?signed_out=1")).into_response())
}

// --- bootstrap ---------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "bootstrap.html")]
struct BootstrapPage<'a> {
    csrf: String,
    token: &'a str,
    username: &'a str,
    display_name: &'a str,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct BootstrapQuery {
    #[serde(default)]
    token: String,
}

fn bootstrap_invalid() -> PageError {
    PageError(AppError::new(
        StatusCode::NOT_FOUND,
        "bootstrap_invalid",
        "This setup link is invalid, expired or already used. Restart trustplane to get a new one \
         (only while no administrator exists), or use `trustplane admin user create`.",
    ))
}

pub async fn bootstrap_form(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<BootstrapQuery>,
) -> PageResult {
    let now = state.now();
    if !state
        .store
        .bootstrap_token_valid(&secret_digest(&q.token), now)
        .await?
    {
        return Err(bootstrap_invalid());
    }
    let (jar, csrf) = state.csrf_issue(jar);
    let page = BootstrapPage {
        csrf,
        token: &q.token,
        username: "admin",
        display_name: "Administrator",
        error: None,
    };
    Ok((jar, render(&page)).into_response())
}

#[derive(Deserialize)]
pub struct BootstrapForm {
    token: String,
    username: String,
    #[serde(default)]
    display_name: String,
    password: String,
}

pub async fn bootstrap_submit(
    State(state): State<AppState>,
    ctx: RequestCtx,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<BootstrapForm>,
) -> PageResult {
    let now = state.now();
    let secret_hash = secret_digest(&form.token);
    if !state.store.bootstrap_token_valid(&secret_hash, now).await? {
        return Err(bootstrap_invalid());
    }
    let checked = match validate_username(&form.username)
        .map_err(AppError::from)
        .and_then(|u| {
            let d = if form.display_name.trim().is_empty() {
                u.clone()
            } else {
                validate_name("display_name", &form.display_name)?
            };
            Ok((u, d))
        }) {
        Ok((u, d)) => state
            .ops()
            .check_new_password(&u, &d, None, &form.password)
            .await
            .map(|()| (u, d)),
        Err(e) => Err(e),
    };
    let (username, display_name) = match checked {
        Ok(v) => v,
        Err(e) => {
            let (jar, csrf) = state.csrf_issue(jar);
            let page = BootstrapPage {
                csrf,
                token: &form.token,
                username: &form.username,
                display_name: &form.display_name,
                error: Some(&e.message),
            };
            return Ok((jar, render_status(StatusCode::BAD_REQUEST, &page)).into_response());
        }
    };
    let hash = state.hash_new_password(&form.password).await?;
    let user = User {
        id: Uuid::now_v7(),
        username,
        display_name,
        email: None,
        status: UserStatus::Enabled,
        created_at: now,
        updated_at: now,
    };
    let actor = Actor {
        id: "bootstrap".into(),
        name: "first-run setup".into(),
        ip: ctx.ip.map(|i| i.to_string()),
    };
    let audit = AuditDraft::new(&actor, "user.create", "user", Some(user.id.to_string()))
        .after(&serde_json::json!({"username": user.username, "roles": ["global_administrator"], "bootstrap": true}));
    state
        .store
        .bootstrap_admin(&secret_hash, now, &user, &hash, audit)
        .await
        .map_err(|e| match e {
            trustplane_store::StoreError::NotFound(_) => bootstrap_invalid(),
            other => PageError(other.into()),
        })?;
    tracing::info!(user = %user.username, "first administrator created");
    Ok(Redirect::to("/login?next=/admin").into_response())
}

// --- my account --------------------------------------------------------------------------

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

#[derive(Deserialize, Default)]
pub struct Flash {
    #[serde(default)]
    pub(crate) ok: Option<String>,
    #[serde(default)]
    pub(crate) err: Option<String>,
    #[serde(default)]
    pub(crate) sig: Option<String>,
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
    c.error = flash
        .err
        .as_deref()
        .and_then(flash_text)
        .or_else(|| super::verified_error(&state, flash.err.as_deref(), flash.sig.as_deref()));
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
        return Ok(Redirect::to(&super::with_error(&state, "/my", &e.message)).into_response());
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
    let (subject, body) = crate::mail::security_notice(
        &state.cfg.organisation,
        &ctx.user.display_name,
        "Your password was changed",
        req.ip,
    );
    state
        .notify(ctx.user.email.as_deref(), &subject, &body)
        .await;
    Ok(Redirect::to("/login?next=%2Fmy%3Fok%3Dpassword").into_response())
}
