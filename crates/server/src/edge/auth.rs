//! Who is calling: browser sessions (cookie) and API tokens (bearer), as axum extractors.

use crate::edge::error::AppError;
use crate::state::{AppState, CSRF_HEADER};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use std::net::{IpAddr, SocketAddr};
use time::OffsetDateTime;
use trustplane_core::audit::Actor;
use trustplane_core::credential::secret_digest;
use trustplane_core::identity::{Permission, RoleSet, User};
use trustplane_core::session::{ApiToken, Session};

/// Per-request context set by middleware.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    /// The request's time, read once from the state's clock at the edge.
    pub now: OffsetDateTime,
    pub correlation_id: String,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// The SHA-256 of the browser's `tp_device` cookie, when it sent a well-formed one
    /// (`crate::signin::limits::device_cookie`).
    pub device: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestCtx {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        parts
            .extensions
            .get::<RequestCtx>()
            .cloned()
            .ok_or_else(AppError::internal)
    }
}

pub fn peer(parts: &Parts) -> Option<SocketAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// A signed-in browser session with its user and roles.
#[derive(Debug, Clone)]
pub struct SessionCtx {
    pub session: Session,
    pub user: User,
    pub roles: RoleSet,
}

impl SessionCtx {
    pub fn actor(&self, ip: Option<IpAddr>) -> Actor {
        Actor::user(self.user.id, &self.user.username, ip.map(|i| i.to_string()))
    }
}

/// Looks up the session named by the session cookie (`tp_session`, `__Host-tp_session` on
/// https deployments; see `edge::cookies`): it must exist, be unrevoked and
/// unexpired, and its user must be enabled. Refreshes the idle deadline (at most once a
/// minute).
pub async fn resolve_session(
    state: &AppState,
    jar: &CookieJar,
) -> Result<Option<SessionCtx>, AppError> {
    let Some(secret) = state.session_secret(jar) else {
        return Ok(None);
    };
    let Some(found) = state
        .store
        .session_by_secret(&secret_digest(secret))
        .await?
    else {
        return Ok(None);
    };
    let now = state.now();
    if found.session.check(now).is_err() || !found.user.is_enabled() {
        return Ok(None);
    }
    let mut session = found.session;
    if let Some(idle) = session.touch(now, &state.session_policy) {
        state.store.touch_session(session.id, now, idle).await?;
        session.last_seen_at = now;
        session.idle_expires_at = idle;
    }
    let roles = RoleSet(state.store.roles_of(found.user.id).await?);
    Ok(Some(SessionCtx {
        session,
        user: found.user,
        roles,
    }))
}

/// A page that needs a signed-in user; anonymous visitors are sent to the login page.
pub struct PageUser(pub SessionCtx);

pub struct LoginRedirect(String);

impl IntoResponse for LoginRedirect {
    fn into_response(self) -> Response {
        Redirect::to(&self.0).into_response()
    }
}

pub enum PageRejection {
    Login(LoginRedirect),
    Error(AppError),
}

impl IntoResponse for PageRejection {
    fn into_response(self) -> Response {
        match self {
            PageRejection::Login(r) => r.into_response(),
            PageRejection::Error(e) => crate::edge::pages::error_page(&e),
        }
    }
}

impl FromRequestParts<AppState> for PageUser {
    type Rejection = PageRejection;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        match resolve_session(state, &jar).await {
            Ok(Some(ctx)) => Ok(PageUser(ctx)),
            Ok(None) => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/my");
                let q = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
                Err(PageRejection::Login(LoginRedirect(format!("/login?{q}"))))
            }
            Err(e) => Err(PageRejection::Error(e)),
        }
    }
}

/// An admin-console page: a signed-in user holding at least one admin role.
pub struct AdminPage(pub SessionCtx);

impl FromRequestParts<AppState> for AdminPage {
    type Rejection = PageRejection;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let PageUser(ctx) = PageUser::from_request_parts(parts, state).await?;
        if !ctx.roles.is_admin() {
            return Err(PageRejection::Error(AppError::forbidden(
                "The admin console is for administrators.",
            )));
        }
        Ok(AdminPage(ctx))
    }
}

/// Who called the JSON API.
#[derive(Debug, Clone)]
pub enum Principal {
    User(Box<SessionCtx>),
    Token(ApiToken),
}

#[derive(Debug, Clone)]
pub struct ApiCaller {
    pub principal: Principal,
    pub roles: RoleSet,
    pub ip: Option<IpAddr>,
}

impl ApiCaller {
    pub fn require(&self, p: Permission) -> Result<(), AppError> {
        if self.roles.allows(p) {
            Ok(())
        } else {
            Err(AppError::forbidden(format!(
                "This needs the `{}` permission, which your roles do not grant.",
                crate::ops::permission_name(p)
            )))
        }
    }

    pub fn actor(&self) -> Actor {
        let ip = self.ip.map(|i| i.to_string());
        match &self.principal {
            Principal::User(s) => Actor::user(s.user.id, &s.user.username, ip),
            Principal::Token(t) => Actor::token(t.id, &t.name, ip),
        }
    }

    pub fn session(&self) -> Option<&SessionCtx> {
        match &self.principal {
            Principal::User(s) => Some(s),
            Principal::Token(_) => None,
        }
    }
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let ip = state.client_ip(peer(parts), &parts.headers);
        if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
            let value = auth.to_str().map_err(|_| AppError::unauthenticated())?;
            let Some(secret) = value.strip_prefix("Bearer ").map(str::trim) else {
                return Err(AppError::unauthenticated());
            };
            let now = state.now();
            let token = state
                .store
                .api_token_by_secret(&secret_digest(secret))
                .await?
                .filter(|t| t.is_usable(now))
                .ok_or_else(AppError::unauthenticated)?;
            let stale = token
                .last_used_at
                .is_none_or(|t| now - t > time::Duration::minutes(1));
            if stale {
                state.store.touch_api_token(token.id, now).await?;
            }
            return Ok(ApiCaller {
                roles: RoleSet(vec![token.role]),
                principal: Principal::Token(token),
                ip,
            });
        }
        let jar = CookieJar::from_headers(&parts.headers);
        let ctx = resolve_session(state, &jar)
            .await?
            .ok_or_else(AppError::unauthenticated)?;
        if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            let submitted = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            state.csrf_verify(&jar, submitted)?;
        }
        Ok(ApiCaller {
            roles: ctx.roles.clone(),
            principal: Principal::User(Box::new(ctx)),
            ip,
        })
    }
}
