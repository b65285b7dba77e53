//! API tokens: list, creation (the secret shown once), revocation.

use crate::console::chrome::back_with_error;
use crate::console::chrome::chrome;
use crate::console::chrome::ops;
use crate::edge::auth::{AdminPage, RequestCtx, SessionCtx};
use crate::edge::pages::{Chrome, CsrfForm, PageResult, fmt_time, need, render};
use crate::edge::pages::{CsrfOnlyForm, Flash};
use crate::ops::parse_lifetime;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use trustplane_core::identity::{Permission, Role};
use uuid::Uuid;

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
pub(super) struct TokensPage {
    pub(super) c: Chrome,
    pub(super) tokens: Vec<TokenRow>,
    pub(super) all_roles: [Role; 4],
    pub(super) new_secret: Option<String>,
}

pub(super) async fn tokens_page(
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

/// This resource's routes.
pub(super) fn routes() -> axum::Router<crate::state::AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/admin/tokens", get(tokens).post(create_token))
        .route("/admin/tokens/{id}/revoke", post(revoke_token))
}
