//! Console: OpenID Connect clients (list, register, delete).

use crate::edge::auth::{AdminPage, RequestCtx, SessionCtx};
use crate::edge::pages::{Chrome, CsrfForm, PageResult, need, render};
use crate::edge::pages::{CsrfOnlyForm, Flash};
use crate::enforce::oidc::clients::{self, NewClient};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use trustplane_core::identity::Permission;

pub struct ClientRow {
    id: String,
    name: String,
    app_id: String,
    public: bool,
    grants: String,
    redirects: String,
}

#[derive(Template)]
#[template(path = "admin/oidc_clients.html")]
struct ClientsPage {
    c: Chrome,
    can_write: bool,
    clients: Vec<ClientRow>,
    apps: Vec<(String, String)>,
    /// (client id, secret) right after registration.
    new_secret: Option<(String, String)>,
}

async fn page(
    state: &AppState,
    jar: CookieJar,
    ctx: &SessionCtx,
    flash: &Flash,
    new_secret: Option<(String, String)>,
) -> PageResult {
    need(ctx, Permission::PolicyRead)?;
    let notice = flash.ok.as_deref().map(|o| match o {
        "deleted" => "The client was deleted.".to_string(),
        _ => "Saved.".to_string(),
    });
    let (jar, c) = Chrome::with_flash(state, jar, ctx, "oidc", flash, notice);
    let clients = state
        .store
        .list_oidc_clients()
        .await?
        .into_iter()
        .map(|cl| ClientRow {
            public: cl.is_public(),
            grants: cl.grant_types.join(", "),
            redirects: cl.redirect_uris.join(" "),
            id: cl.id,
            name: cl.name,
            app_id: cl.app_id,
        })
        .collect();
    let apps = state
        .store
        .list_applications()
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect();
    let page = ClientsPage {
        can_write: ctx.roles.allows(Permission::PolicyWrite),
        c,
        clients,
        apps,
        new_secret,
    };
    Ok((jar, render(&page)).into_response())
}

/// `GET /admin/oidc/clients`.
pub async fn clients(
    State(state): State<AppState>,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
    Query(flash): Query<Flash>,
) -> PageResult {
    page(&state, jar, &ctx, &flash, None).await
}

#[derive(Deserialize)]
pub struct CreateForm {
    name: String,
    app_id: String,
    kind: String,
    redirect_uris: String,
    #[serde(default)]
    post_logout_redirect_uris: String,
    #[serde(default)]
    scopes: String,
    #[serde(default)]
    groups_claim: Option<String>,
}

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// `POST /admin/oidc/clients`.
pub async fn create(
    State(state): State<AppState>,
    req: RequestCtx,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
    CsrfForm(f): CsrfForm<CreateForm>,
) -> PageResult {
    need(&ctx, Permission::PolicyWrite)?;
    let scopes: Vec<String> = f.scopes.split_whitespace().map(String::from).collect();
    let n = NewClient {
        name: f.name,
        app_id: f.app_id,
        public: f.kind == "public",
        redirect_uris: lines(&f.redirect_uris),
        post_logout_redirect_uris: lines(&f.post_logout_redirect_uris),
        scopes: (!scopes.is_empty()).then_some(scopes),
        groups_claim: f.groups_claim.is_some(),
        ..NewClient::default()
    };
    match clients::create(state.store.as_ref(), &ctx.actor(req.ip), n, state.now()).await {
        // The secret is rendered once in the response, never put in a URL.
        Ok((c, Some(secret))) => {
            page(&state, jar, &ctx, &Flash::default(), Some((c.id, secret))).await
        }
        Ok((_, None)) => Ok(Redirect::to("/admin/oidc/clients?ok=created").into_response()),
        Err(e) => Ok(Redirect::to(&crate::edge::pages::with_error(
            &state,
            "/admin/oidc/clients",
            &e.message,
        ))
        .into_response()),
    }
}

/// `POST /admin/oidc/clients/{id}/secret`: replaces a confidential client's secret and shows
/// the new one once (in the response, never in a URL).
pub async fn rotate_secret(
    State(state): State<AppState>,
    req: RequestCtx,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<CsrfOnlyForm>,
) -> PageResult {
    need(&ctx, Permission::PolicyWrite)?;
    match clients::rotate_secret(state.store.as_ref(), &ctx.actor(req.ip), &id, state.now()).await {
        Ok((c, secret)) => page(&state, jar, &ctx, &Flash::default(), Some((c.id, secret))).await,
        Err(e) => Ok(Redirect::to(&crate::edge::pages::with_error(
            &state,
            "/admin/oidc/clients",
            &e.message,
        ))
        .into_response()),
    }
}

/// `POST /admin/oidc/clients/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<CsrfOnlyForm>,
) -> PageResult {
    need(&ctx, Permission::PolicyWrite)?;
    clients::delete(state.store.as_ref(), &ctx.actor(req.ip), &id).await?;
    Ok(Redirect::to("/admin/oidc/clients?ok=deleted").into_response())
}

/// This resource's routes.
pub(super) fn routes() -> axum::Router<crate::state::AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/admin/oidc/clients", get(clients).post(create))
        .route("/admin/oidc/clients/{id}/delete", post(delete))
        .route("/admin/oidc/clients/{id}/secret", post(rotate_secret))
}
