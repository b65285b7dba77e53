//! Admin console, security section: password protection (policy, organisation banned terms,
//! breached-password filter) and risk detections.

use crate::edge::auth::{AdminPage, RequestCtx, SessionCtx};
use crate::edge::error::AppError;
use crate::edge::pages::{Chrome, CsrfForm, PageResult, fmt_time, need, render};
use crate::edge::pages::{CsrfOnlyForm, Flash};
use crate::signals::breach::{BreachStatus, Reload};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use std::collections::HashMap;
use trustplane_core::audit::AuditDraft;
use trustplane_core::identity::Permission;
use trustplane_core::mfa::policy::{
    MethodSetting, MethodsPolicy, RegistrationSetting, SsprSetting, Targets,
};
use trustplane_core::risk::{DetectionState, RiskDetection};
use uuid::Uuid;

fn chrome(
    state: &AppState,
    jar: CookieJar,
    ctx: &SessionCtx,
    nav: &'static str,
    flash: &Flash,
) -> (CookieJar, Chrome) {
    let notice = flash.ok.as_deref().and_then(|code| {
        let text = match code {
            "terms" => "Banned terms added.",
            "removed" => "Banned term removed.",
            "reloaded" => "The breached-password filter was reloaded.",
            "dismissed" => "The detection was dismissed.",
            _ => return None,
        };
        Some(text.to_string())
    });
    Chrome::with_flash(state, jar, ctx, nav, flash, notice)
}

fn back_with_error(state: &AppState, path: &str, message: &str) -> Response {
    Redirect::to(&crate::edge::pages::with_error(state, path, message)).into_response()
}

// --- password protection ---------------------------------------------------------------------

pub struct TermRow {
    display: String,
    term: String,
    added: String,
    added_by: String,
}

#[derive(Template)]
#[template(path = "admin/password_protection.html")]
struct PasswordProtectionPage {
    c: Chrome,
    can_write: bool,
    min_length: usize,
    max_length: usize,
    min_score: u32,
    breach: BreachStatus,
    terms: Vec<TermRow>,
}

pub async fn password_protection(
    State(state): State<AppState>,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
    Query(flash): Query<Flash>,
) -> PageResult {
    need(&ctx, Permission::PolicyRead)?;
    let terms = state.store.list_banned_terms().await?;
    // `added_by` is the actor id (`user:<uuid>`, `token:<uuid>`, `cli:<name>`); show names.
    let mut names: HashMap<String, String> = HashMap::new();
    for t in &terms {
        if names.contains_key(&t.added_by) {
            continue;
        }
        let shown = match t
            .added_by
            .strip_prefix("user:")
            .and_then(|id| Uuid::parse_str(id).ok())
        {
            Some(id) => state
                .store
                .get_user(id)
                .await?
                .map_or_else(|| t.added_by.clone(), |u| u.username),
            None => t.added_by.clone(),
        };
        names.insert(t.added_by.clone(), shown);
    }
    let (jar, c) = chrome(&state, jar, &ctx, "password", &flash);
    let policy = &state.cfg.password;
    let page = PasswordProtectionPage {
        c,
        can_write: ctx.roles.allows(Permission::PolicyWrite),
        min_length: policy.effective_min_length(),
        max_length: policy.effective_max_length(),
        min_score: policy.effective_min_score(),
        breach: state.breach.status(),
        terms: terms
            .into_iter()
            .map(|t| TermRow {
                display: t.display,
                term: t.term,
                added: fmt_time(t.added_at),
                added_by: names.get(&t.added_by).cloned().unwrap_or(t.added_by),
            })
            .collect(),
    };
    Ok((jar, render(&page)).into_response())
}

#[derive(Deserialize)]
pub struct TermsForm {
    /// One term per line (commas also separate).
    terms: String,
}

const HERE: &str = "/admin/password-protection";

pub async fn add_terms(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    CsrfForm(f): CsrfForm<TermsForm>,
) -> PageResult {
    need(&ctx, Permission::PolicyWrite)?;
    let terms: Vec<String> = f
        .terms
        .split(['\n', ','])
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    if terms.is_empty() {
        return Ok(back_with_error(&state, HERE, "Enter at least one term."));
    }
    match state
        .ops()
        .add_banned_terms(&ctx.actor(req.ip), &terms)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("{HERE}?ok=terms")).into_response()),
        Err(e) => Ok(back_with_error(&state, HERE, &e.message)),
    }
}

#[derive(Deserialize)]
pub struct RemoveTermForm {
    term: String,
}

pub async fn remove_term(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    CsrfForm(f): CsrfForm<RemoveTermForm>,
) -> PageResult {
    need(&ctx, Permission::PolicyWrite)?;
    match state
        .ops()
        .remove_banned_term(&ctx.actor(req.ip), &f.term)
        .await
    {
        Ok(true) => Ok(Redirect::to(&format!("{HERE}?ok=removed")).into_response()),
        Ok(false) => Ok(back_with_error(&state, HERE, "No such banned term.")),
        Err(e) => Ok(back_with_error(&state, HERE, &e.message)),
    }
}

/// Reloads the breached-password filter now and reports what happened.
pub async fn reload_breach(state: &AppState) -> Result<Reload, AppError> {
    let slot = state.breach.clone();
    tokio::task::spawn_blocking(move || slot.reload(true))
        .await
        .map_err(|_| AppError::internal())
}

pub async fn reload_breach_page(
    State(state): State<AppState>,
    AdminPage(ctx): AdminPage,
    CsrfForm(_): CsrfForm<CsrfOnlyForm>,
) -> PageResult {
    need(&ctx, Permission::PolicyWrite)?;
    match reload_breach(&state).await? {
        Reload::Loaded { .. } | Reload::Unchanged => {
            Ok(Redirect::to(&format!("{HERE}?ok=reloaded")).into_response())
        }
        Reload::Missing => Ok(back_with_error(
            &state,
            HERE,
            "There is no filter file to load; import one with `trustplane password import-breached`.",
        )),
        Reload::Failed(m) => Ok(back_with_error(
            &state,
            HERE,
            &format!("The filter file cannot be used ({m}); the previous filter stays in use."),
        )),
    }
}

// --- risk detections -------------------------------------------------------------------------

pub struct RiskRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub username: String,
    pub kind: &'static str,
    pub description: &'static str,
    pub level: &'static str,
    pub state: &'static str,
    pub active: bool,
    pub source: String,
    pub detected: String,
    pub updated: String,
}

/// Rows for a list of detections, with user names looked up once per user.
pub async fn risk_rows(
    state: &AppState,
    detections: Vec<RiskDetection>,
) -> Result<Vec<RiskRow>, AppError> {
    let mut names: HashMap<Uuid, String> = HashMap::new();
    let mut rows = Vec::with_capacity(detections.len());
    for d in detections {
        let username = match names.get(&d.user_id) {
            Some(n) => n.clone(),
            None => {
                let name = state
                    .store
                    .get_user(d.user_id)
                    .await?
                    .map_or_else(|| d.user_id.to_string(), |u| u.username);
                names.insert(d.user_id, name.clone());
                name
            }
        };
        rows.push(RiskRow {
            id: d.id,
            user_id: d.user_id,
            username,
            kind: d.kind.as_str(),
            description: d.kind.describe(),
            level: d.level.as_str(),
            state: d.state.as_str(),
            active: d.state == DetectionState::AtRisk,
            source: d.source,
            detected: fmt_time(d.detected_at),
            updated: fmt_time(d.updated_at),
        });
    }
    Ok(rows)
}

#[derive(Template)]
#[template(path = "admin/risk.html")]
struct RiskPage {
    c: Chrome,
    can_dismiss: bool,
    only_active: bool,
    rows: Vec<RiskRow>,
}

#[derive(Deserialize, Default)]
pub struct RiskQuery {
    #[serde(default)]
    all: Option<String>,
    #[serde(flatten)]
    flash: Flash,
}

pub async fn risk_detections(
    State(state): State<AppState>,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
    Query(q): Query<RiskQuery>,
) -> PageResult {
    need(&ctx, Permission::PolicyRead)?;
    let only_active = q.all.is_none();
    let filter = only_active.then_some(DetectionState::AtRisk);
    let list = state.store.list_risk_detections(None, filter, 500).await?;
    let rows = risk_rows(&state, list).await?;
    let (jar, c) = chrome(&state, jar, &ctx, "risk", &q.flash);
    let page = RiskPage {
        c,
        can_dismiss: ctx.roles.allows(Permission::PolicyWrite),
        only_active,
        rows,
    };
    Ok((jar, render(&page)).into_response())
}

/// Dismisses an active detection (the administrator judged it harmless).
pub async fn dismiss_detection_op(
    state: &AppState,
    actor: &trustplane_core::audit::Actor,
    id: Uuid,
) -> Result<(), AppError> {
    let Some(d) = state.store.get_risk_detection(id).await? else {
        return Err(AppError::not_found("risk detection"));
    };
    let audit = AuditDraft::new(
        actor,
        "risk.detection.dismiss",
        "user",
        Some(d.user_id.to_string()),
    )
    .after(&serde_json::json!({ "detection": id, "kind": d.kind.as_str() }));
    let changed = state
        .store
        .close_risk_detection(id, DetectionState::Dismissed, state.now(), audit)
        .await?;
    if changed {
        Ok(())
    } else {
        Err(AppError::new(
            axum::http::StatusCode::CONFLICT,
            "not_active",
            "This detection is no longer active.",
        ))
    }
}

pub async fn dismiss_detection(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<CsrfOnlyForm>,
) -> PageResult {
    need(&ctx, Permission::PolicyWrite)?;
    match dismiss_detection_op(&state, &ctx.actor(req.ip), id).await {
        Ok(()) => Ok(Redirect::to("/admin/risk?ok=dismissed").into_response()),
        Err(e) => Ok(back_with_error(&state, "/admin/risk", &e.message)),
    }
}

// --- authentication methods policy -----------------------------------------------------------

#[derive(Template)]
#[template(path = "admin/auth_methods.html")]
struct AuthMethodsPage {
    c: Chrome,
    can_write: bool,
    totp: TargetView,
    recovery: TargetView,
    tap: TargetView,
    email: TargetView,
    sspr: TargetView,
    sspr_methods: u8,
    require: TargetView,
    registration: TargetView,
    postpone_days: u32,
    webauthn: TargetView,
    webauthn_attestation: bool,
    webauthn_aaguids: String,
}

/// A `Targets` as the form shows it: mode and group names.
pub struct TargetView {
    mode: &'static str,
    groups: String,
}

async fn target_view(state: &AppState, t: &Targets) -> Result<TargetView, AppError> {
    Ok(match t {
        Targets::None => TargetView {
            mode: "none",
            groups: String::new(),
        },
        Targets::All => TargetView {
            mode: "all",
            groups: String::new(),
        },
        Targets::Groups { groups } => {
            let mut names = Vec::new();
            for g in groups {
                names.push(
                    state
                        .store
                        .get_group(*g)
                        .await?
                        .map_or_else(|| g.to_string(), |g| g.name),
                );
            }
            TargetView {
                mode: "groups",
                groups: names.join(", "),
            }
        }
    })
}

pub async fn auth_methods(
    State(state): State<AppState>,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
    Query(flash): Query<Flash>,
) -> PageResult {
    need(&ctx, Permission::PolicyRead)?;
    let p = state.ops().methods_policy().await?;
    let (jar, mut c) = chrome(&state, jar, &ctx, "auth-methods", &flash);
    if flash.ok.as_deref() == Some("saved") {
        c.notice = Some("The authentication methods policy was saved.".into());
    }
    let page = AuthMethodsPage {
        c,
        can_write: ctx.roles.allows(Permission::PolicyWrite),
        totp: target_view(&state, &p.totp.users).await?,
        recovery: target_view(&state, &p.recovery_codes.users).await?,
        tap: target_view(&state, &p.temporary_access_pass.users).await?,
        email: target_view(&state, &p.email.users).await?,
        sspr: target_view(&state, &p.sspr.users).await?,
        sspr_methods: p.sspr.methods_required,
        require: target_view(&state, &p.require_mfa).await?,
        registration: target_view(&state, &p.registration.users).await?,
        postpone_days: p.registration.postpone_days,
        webauthn: target_view(&state, &p.webauthn.users).await?,
        webauthn_attestation: p.webauthn.require_attestation,
        webauthn_aaguids: p
            .webauthn
            .allowed_aaguids
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    };
    Ok((jar, render(&page)).into_response())
}

#[derive(Deserialize)]
pub struct AuthMethodsForm {
    totp_mode: String,
    #[serde(default)]
    totp_groups: String,
    recovery_mode: String,
    #[serde(default)]
    recovery_groups: String,
    tap_mode: String,
    #[serde(default)]
    tap_groups: String,
    email_mode: String,
    #[serde(default)]
    email_groups: String,
    sspr_mode: String,
    #[serde(default)]
    sspr_groups: String,
    sspr_methods: String,
    require_mode: String,
    #[serde(default)]
    require_groups: String,
    registration_mode: String,
    #[serde(default)]
    registration_groups: String,
    postpone_days: String,
    /// Security keys and passkeys (absent from older forms: everyone).
    #[serde(default)]
    webauthn_mode: String,
    #[serde(default)]
    webauthn_groups: String,
    #[serde(default)]
    webauthn_attestation: Option<String>,
    #[serde(default)]
    webauthn_aaguids: String,
}

/// AAGUIDs typed one per line (or separated by commas or spaces).
fn parse_aaguids(text: &str) -> Result<Vec<uuid::Uuid>, String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<uuid::Uuid>().map_err(|_| {
                format!("Security keys: `{s}` is not an AAGUID (a UUID such as cb69481e-8ff7-4039-93ec-0a2729a154a8).")
            })
        })
        .collect()
}

/// Mode and comma-separated group names to `Targets`.
async fn parse_targets(
    state: &AppState,
    what: &str,
    mode: &str,
    names: &str,
) -> Result<Targets, String> {
    match mode {
        "none" => Ok(Targets::None),
        "all" => Ok(Targets::All),
        "groups" => {
            let mut groups = Vec::new();
            for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                match state.store.find_group(name).await {
                    Ok(Some(g)) => groups.push(g.id),
                    Ok(None) => return Err(format!("{what}: there is no group named `{name}`.")),
                    Err(e) => return Err(e.to_string()),
                }
            }
            if groups.is_empty() {
                return Err(format!("{what}: name at least one group."));
            }
            Ok(Targets::Groups { groups })
        }
        _ => Err(format!("{what}: choose everyone, some groups or nobody.")),
    }
}

pub async fn save_auth_methods(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    CsrfForm(f): CsrfForm<AuthMethodsForm>,
) -> PageResult {
    need(&ctx, Permission::PolicyWrite)?;
    const PAGE: &str = "/admin/authentication-methods";
    let parsed = async {
        let postpone_days: u32 = f
            .postpone_days
            .trim()
            .parse()
            .map_err(|_| "Days to postpone: a whole number from 0 to 14.".to_string())?;
        Ok::<_, String>(MethodsPolicy {
            totp: MethodSetting {
                users: parse_targets(&state, "Authenticator apps", &f.totp_mode, &f.totp_groups)
                    .await?,
            },
            recovery_codes: MethodSetting {
                users: parse_targets(
                    &state,
                    "Recovery codes",
                    &f.recovery_mode,
                    &f.recovery_groups,
                )
                .await?,
            },
            temporary_access_pass: MethodSetting {
                users: parse_targets(&state, "Temporary Access Pass", &f.tap_mode, &f.tap_groups)
                    .await?,
            },
            email: MethodSetting {
                users: parse_targets(&state, "Email codes", &f.email_mode, &f.email_groups).await?,
            },
            sspr: SsprSetting {
                users: parse_targets(&state, "Password reset", &f.sspr_mode, &f.sspr_groups)
                    .await?,
                methods_required: match f.sspr_methods.trim() {
                    "1" => 1,
                    "2" => 2,
                    _ => return Err("Password reset: ask for 1 or 2 methods.".to_string()),
                },
            },
            webauthn: trustplane_core::mfa::webauthn::WebauthnSetting {
                users: if f.webauthn_mode.is_empty() {
                    Targets::All
                } else {
                    parse_targets(
                        &state,
                        "Security keys and passkeys",
                        &f.webauthn_mode,
                        &f.webauthn_groups,
                    )
                    .await?
                },
                require_attestation: f.webauthn_attestation.is_some(),
                allowed_aaguids: parse_aaguids(&f.webauthn_aaguids)?,
            },
            require_mfa: parse_targets(&state, "Require MFA", &f.require_mode, &f.require_groups)
                .await?,
            registration: RegistrationSetting {
                users: parse_targets(
                    &state,
                    "Registration",
                    &f.registration_mode,
                    &f.registration_groups,
                )
                .await?,
                postpone_days,
            },
        })
    }
    .await;
    let policy = match parsed {
        Ok(p) => p,
        Err(m) => return Ok(back_with_error(&state, PAGE, &m)),
    };
    match state
        .ops()
        .set_methods_policy(&ctx.actor(req.ip), &policy)
        .await
    {
        Ok(()) => Ok(Redirect::to(&format!("{PAGE}?ok=saved")).into_response()),
        Err(e) => Ok(back_with_error(&state, PAGE, &e.message)),
    }
}

/// This resource's routes.
pub(super) fn routes() -> axum::Router<crate::state::AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/admin/password-protection", get(password_protection))
        .route("/admin/password-protection/terms", post(add_terms))
        .route("/admin/password-protection/terms/remove", post(remove_term))
        .route(
            "/admin/password-protection/reload",
            post(reload_breach_page),
        )
        .route("/admin/risk", get(risk_detections))
        .route(
            "/admin/authentication-methods",
            get(auth_methods).post(save_auth_methods),
        )
        .route("/admin/risk/{id}/dismiss", post(dismiss_detection))
}
