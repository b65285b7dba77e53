//! The sign-in page (`/login`), sign-out, and the first-administrator bootstrap.

use crate::edge::auth::{RequestCtx, resolve_session};
use crate::edge::error::AppError;
use crate::edge::pages::{CsrfForm, CsrfOnlyForm, PageError, PageResult, render, render_status};
use crate::enforce::stepup::SignInRequest;
use crate::signin::flow::{LoginOutcome, password_login};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
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

pub async fn login_form(
    State(state): State<AppState>,
    ctx: RequestCtx,
    jar: CookieJar,
    Query(q): Query<LoginQuery>,
) -> Result<Response, AppError> {
    let next = crate::enforce::app_routes::safe_return(state.store.as_ref(), &q.next).await;
    let now = state.now();
    let request = q.request();
    // An application sent the browser here: with a session that needs no re-authentication,
    // step it up (or go straight back when it already satisfies the application).
    if request.is_for_application()
        && let Some(session) = resolve_session(&state, &jar).await?
        && !request.needs_reauthentication(&session.session.methods, now)
    {
        let target = crate::enforce::stepup::flow_target(&state, &request, &next).await?;
        // A policy's sign-in frequency wants a fresh sign-in: the form below, not a step-up.
        if !crate::signin::conditions::requires_reauthentication(
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
    // (smart lockout: `crate::signin::limits::device_cookie`).
    let jar = crate::signin::limits::device_cookie::ensure(&state, jar);
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
    session: crate::edge::auth::SessionCtx,
    target: Option<FlowTarget>,
    next: &str,
    now: OffsetDateTime,
) -> Result<Response, AppError> {
    let flow = LoginFlow::step_up(session.user.id, session.session.methods.clone(), now)
        .with_target(target);
    let (flow, _) = crate::signin::conditions::apply(
        state,
        ctx,
        flow,
        crate::signin::conditions::Stage::FirstFactor,
        now,
    )
    .await?;
    match &flow.state {
        LoginState::Denied { reason } => {
            tracing::info!(user = %session.user.id, app = crate::signin::conditions::app_of(&flow),
                correlation_id = %ctx.correlation_id, "step-up refused by policy");
            Ok(crate::signin::step_pages::blocked_page(
                state,
                jar,
                *reason,
                &ctx.correlation_id,
            ))
        }
        LoginState::InProgress { pending, .. } if !pending.is_empty() => {
            let flow_secret = crate::platform::secrets::random_token();
            crate::signin::flow::PendingLogin {
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
            Ok(crate::signin::step_pages::continue_response(
                state,
                jar,
                flow_secret,
            ))
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
    let next = crate::enforce::app_routes::safe_return(state.store.as_ref(), &form.next).await;
    let req = form.request();
    let target = crate::enforce::stepup::flow_target(&state, &req, &next).await?;
    // A browser that signed in as this user before waits in the hashing fast lane.
    let user_key = trustplane_core::identity::fold_name(form.username.trim());
    let lane = crate::signals::known_browser::lane(&state, &ctx, &user_key).await;
    let outcome = crate::platform::hashpool::LANE
        .scope(
            lane,
            password_login(&state, &ctx, &form.username, &form.password, &next, target),
        )
        .await?;
    match outcome {
        LoginOutcome::Continue { flow_secret } => Ok(crate::signin::step_pages::continue_response(
            &state,
            jar,
            flow_secret,
        )),
        LoginOutcome::Success {
            secret,
            persist_until,
            ..
        } => {
            let jar = jar.add(state.session_cookie(secret, persist_until));
            Ok((jar, crate::edge::pages::redirect_after_form(&next)).into_response())
        }
        LoginOutcome::Denied(reason) if crate::signin::step_pages::is_policy_refusal(reason) => Ok(
            crate::signin::step_pages::blocked_page(&state, jar, reason, &ctx.correlation_id),
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
