//! Admin console, conditional access: the policy set (edit as JSON or YAML, lint, versions,
//! restore), what-if, impact replay, and the sign-in detail with its per-policy record.

use crate::edge::auth::{AdminPage, SessionCtx};
use crate::edge::error::AppError;
use crate::edge::pages::Flash;
use crate::edge::pages::{Chrome, CsrfForm, PageResult, fmt_time, need, render, render_status};
use crate::enforce::policy;
use crate::ops::what_if::{ReplayReport, WhatIf};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use trustplane_core::identity::Permission;
use uuid::Uuid;

fn chrome(
    state: &AppState,
    jar: CookieJar,
    ctx: &SessionCtx,
    flash: &Flash,
) -> (CookieJar, Chrome) {
    let notice = flash.ok.as_deref().map(|o| match o {
        "restored" => "The version was restored as the newest one.".to_string(),
        _ => "The policy set was saved as a new version.".to_string(),
    });
    Chrome::with_flash(state, jar, ctx, "conditional-access", flash, notice)
}

pub struct PolicyRow {
    id: String,
    name: String,
    state: String,
    grant: String,
}

pub struct VersionRow {
    version: i64,
    at: String,
    by: String,
    comment: String,
}

#[derive(Template)]
#[template(path = "admin/conditional_access.html")]
struct PoliciesPage {
    c: Chrome,
    can_write: bool,
    version: i64,
    policies: Vec<PolicyRow>,
    warnings: Vec<String>,
    document: String,
    comment: String,
    errors: Vec<String>,
    versions: Vec<VersionRow>,
    templates: String,
}

fn grant_summary(p: &serde_json::Value) -> String {
    match &p["grant"] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(g) => {
            let controls: Vec<String> = g
                .get("controls")
                .and_then(|c| c.as_array())
                .map(|a| {
                    a.iter()
                        .map(|c| match c {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string().replace(['{', '}', '"'], ""),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let op = g.get("operator").and_then(|o| o.as_str()).unwrap_or("all");
            controls.join(if op == "one" { " or " } else { " and " })
        }
        _ => "session controls only".into(),
    }
}

#[allow(clippy::too_many_arguments)]
async fn policies_page(
    state: &AppState,
    jar: CookieJar,
    ctx: &SessionCtx,
    flash: &Flash,
    document: Option<String>,
    comment: String,
    errors: Vec<String>,
    status: StatusCode,
) -> PageResult {
    let store = state.store.as_ref();
    let loaded = state.policies.get(store).await?;
    let doc = serde_json::to_value(loaded.set.document()).map_err(|_| AppError::internal())?;
    let policies = doc["policies"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| PolicyRow {
            id: p["id"].as_str().unwrap_or_default().to_string(),
            name: p["name"].as_str().unwrap_or_default().to_string(),
            state: p["state"].as_str().unwrap_or_default().to_string(),
            grant: grant_summary(p),
        })
        .collect();
    let warnings =
        trustplane_core::access::lint(&loaded.set, &policy::lint_directory(store).await?)
            .into_iter()
            .map(|w| format!("{}: {}", w.policy_id, w.message))
            .collect();
    let versions = store
        .list_policy_versions(20)
        .await?
        .into_iter()
        .map(|v| VersionRow {
            version: v.version,
            at: fmt_time(v.created_at),
            by: v.created_by,
            comment: v.comment,
        })
        .collect();
    let (jar, c) = chrome(state, jar, ctx, flash);
    let page = PoliciesPage {
        c,
        can_write: ctx.roles.allows(Permission::PolicyWrite),
        version: loaded.version,
        policies,
        warnings,
        document: match document {
            Some(d) => d,
            None => serde_json::to_string_pretty(&doc).map_err(|_| AppError::internal())?,
        },
        comment,
        errors,
        versions,
        templates: serde_json::to_string_pretty(&trustplane_core::access::templates())
            .map_err(|_| AppError::internal())?,
    };
    Ok((jar, render_status(status, &page)).into_response())
}

/// `GET /admin/conditional-access`.
pub async fn policies(
    State(state): State<AppState>,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
    Query(flash): Query<Flash>,
) -> PageResult {
    need(&ctx, Permission::PolicyRead)?;
    policies_page(
        &state,
        jar,
        &ctx,
        &flash,
        None,
        String::new(),
        Vec::new(),
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
pub struct SaveForm {
    document: String,
    based_on: i64,
    #[serde(default)]
    comment: String,
    /// `json` or `yaml`.
    #[serde(default)]
    format: String,
}

/// `POST /admin/conditional-access`: saves the edited document as a new version. A refused
/// document comes back in the editor with every problem listed; nothing is stored.
pub async fn save(
    State(state): State<AppState>,
    req: crate::edge::auth::RequestCtx,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
    CsrfForm(f): CsrfForm<SaveForm>,
) -> PageResult {
    need(&ctx, Permission::PolicyWrite)?;
    let store = state.store.as_ref();
    let actor = trustplane_core::audit::Actor::user(
        ctx.user.id,
        &ctx.user.username,
        req.ip.map(|i| i.to_string()),
    );
    let result = match policy::validate(store, &f.document, f.format == "yaml").await {
        Ok(set) => policy::save(
            store,
            &actor,
            &set,
            f.based_on,
            f.comment.trim(),
            state.now(),
        )
        .await
        .map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(Redirect::to("/admin/conditional-access?ok=saved").into_response()),
        Err(e) => {
            let errors = e
                .message
                .split("; ")
                .map(|s| s.to_string())
                .collect::<Vec<_>>();
            policies_page(
                &state,
                jar,
                &ctx,
                &Flash::default(),
                Some(f.document),
                f.comment,
                errors,
                e.status,
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct RestoreForm {
    based_on: i64,
}

/// `POST /admin/conditional-access/versions/{version}/restore`.
pub async fn restore(
    State(state): State<AppState>,
    req: crate::edge::auth::RequestCtx,
    AdminPage(ctx): AdminPage,
    Path(version): Path<i64>,
    CsrfForm(f): CsrfForm<RestoreForm>,
) -> PageResult {
    need(&ctx, Permission::PolicyWrite)?;
    let store = state.store.as_ref();
    let v = store
        .policy_version(version)
        .await?
        .ok_or_else(|| AppError::not_found("policy version"))?;
    let actor = trustplane_core::audit::Actor::user(
        ctx.user.id,
        &ctx.user.username,
        req.ip.map(|i| i.to_string()),
    );
    let done = match policy::validate(store, &v.document, false).await {
        Ok(set) => {
            policy::save(
                store,
                &actor,
                &set,
                f.based_on,
                &format!("restored version {version}"),
                state.now(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    Ok(match done {
        Ok(_) => Redirect::to("/admin/conditional-access?ok=restored").into_response(),
        Err(e) => Redirect::to(&crate::edge::pages::with_error(
            &state,
            "/admin/conditional-access",
            &e.message,
        ))
        .into_response(),
    })
}

/// What-if form fields (all optional but the user; empty means unknown).
#[derive(Deserialize, Default)]
pub struct WhatIfForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    app: String,
    #[serde(default)]
    ip: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    platform: String,
    #[serde(default)]
    client: String,
    #[serde(default)]
    sign_in_risk: String,
    #[serde(default)]
    user_risk: String,
    #[serde(default)]
    device: String,
    #[serde(default)]
    mfa: String,
}

pub struct RecordRow {
    policy: String,
    state: String,
    applied: bool,
    result: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "admin/what_if.html")]
struct WhatIfPage {
    c: Chrome,
    f: WhatIfForm,
    outcome: Option<String>,
    decision: String,
    records: Vec<RecordRow>,
    error: Option<String>,
}

/// One record as a table row.
pub fn record_rows(records: &serde_json::Value) -> Vec<RecordRow> {
    records
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let controls: Vec<String> = r["controls"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    let name = match &c["control"] {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string().replace(['{', '}', '"'], ""),
                    };
                    format!(
                        "{name} {}",
                        if c["met"] == true { "met" } else { "not met" }
                    )
                })
                .collect();
            let detail = match r["excluded_by"].as_str() {
                Some(why) => format!("not applied: {why}"),
                None => controls.join(", "),
            };
            RecordRow {
                policy: r["policy_id"].as_str().unwrap_or_default().to_string(),
                state: r["state"].as_str().unwrap_or_default().to_string(),
                applied: r["applied"] == true,
                result: r["result"]["result"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                detail,
            }
        })
        .collect()
}

fn opt<T: serde::de::DeserializeOwned>(field: &str, v: &str) -> Result<Option<T>, AppError> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    serde_json::from_value(serde_json::Value::String(v.to_string()))
        .map(Some)
        .map_err(|_| AppError::bad_request("invalid_field", format!("{field}: {v:?} is not valid")))
}

fn what_if_request(f: &WhatIfForm) -> Result<WhatIf, AppError> {
    Ok(WhatIf {
        user: f.user.trim().to_string(),
        app: Some(f.app.trim().to_string()).filter(|s| !s.is_empty()),
        ip: match f.ip.trim() {
            "" => None,
            ip => Some(ip.parse().map_err(|_| {
                AppError::bad_request("invalid_ip", format!("{ip:?} is not an IP address"))
            })?),
        },
        country: Some(f.country.trim().to_string()).filter(|s| !s.is_empty()),
        platform: opt("platform", &f.platform)?,
        client: opt("client", &f.client)?,
        sign_in_risk: opt("sign-in risk", &f.sign_in_risk)?,
        user_risk: opt("user risk", &f.user_risk)?,
        device_compliant: match f.device.as_str() {
            "compliant" => Some(true),
            "noncompliant" => Some(false),
            _ => None,
        },
        mfa_done: f.mfa == "on",
        device: None,
    })
}

/// `GET /admin/conditional-access/what-if`: the form, and the decision when a user is given.
pub async fn what_if(
    State(state): State<AppState>,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
    Query(f): Query<WhatIfForm>,
) -> PageResult {
    need(&ctx, Permission::PolicyRead)?;
    let (mut outcome, mut decision, mut records, mut error) = (None, String::new(), vec![], None);
    if !f.user.trim().is_empty() {
        let r = match what_if_request(&f) {
            Ok(w) => {
                crate::ops::what_if::what_if(state.store.as_ref(), &state.policies, &w, state.now())
                    .await
            }
            Err(e) => Err(e),
        };
        match r {
            Ok(v) => {
                outcome = v["outcome"].as_str().map(str::to_string);
                decision = v["decision"].to_string();
                records = record_rows(&v["records"]);
            }
            Err(e) if e.status == StatusCode::BAD_REQUEST => error = Some(e.message),
            Err(e) => return Err(e.into()),
        }
    }
    let (jar, csrf) = state.csrf_issue(jar);
    let page = WhatIfPage {
        c: Chrome::new(&ctx, csrf, "what-if"),
        f,
        outcome,
        decision,
        records,
        error,
    };
    Ok((jar, render(&page)).into_response())
}

#[derive(Template)]
#[template(path = "admin/replay.html")]
struct ReplayPage {
    c: Chrome,
    draft: String,
    days: u32,
    report: Option<ReplayReport>,
    errors: Vec<String>,
}

/// `GET /admin/conditional-access/replay`.
pub async fn replay_form(
    State(state): State<AppState>,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
) -> PageResult {
    need(&ctx, Permission::PolicyRead)?;
    need(&ctx, Permission::SignInLogRead)?;
    let loaded = state.policies.get(state.store.as_ref()).await?;
    let (jar, csrf) = state.csrf_issue(jar);
    let page = ReplayPage {
        c: Chrome::new(&ctx, csrf, "replay"),
        draft: serde_json::to_string_pretty(loaded.set.document())
            .map_err(|_| AppError::internal())?,
        days: 7,
        report: None,
        errors: Vec::new(),
    };
    Ok((jar, render(&page)).into_response())
}

#[derive(Deserialize)]
pub struct ReplayForm {
    draft: String,
    days: u32,
    #[serde(default)]
    format: String,
}

/// `POST /admin/conditional-access/replay`: the report (nothing is saved).
pub async fn replay(
    State(state): State<AppState>,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
    CsrfForm(f): CsrfForm<ReplayForm>,
) -> PageResult {
    need(&ctx, Permission::PolicyRead)?;
    need(&ctx, Permission::SignInLogRead)?;
    let store = state.store.as_ref();
    let result = match policy::validate(store, &f.draft, f.format == "yaml").await {
        Ok(set) => crate::ops::what_if::replay(store, &set, f.days, state.now()).await,
        Err(e) => Err(e),
    };
    let (report, errors, status) = match result {
        Ok(r) => (Some(r), Vec::new(), StatusCode::OK),
        Err(e) if e.status == StatusCode::BAD_REQUEST => (
            None,
            e.message.split("; ").map(str::to_string).collect(),
            e.status,
        ),
        Err(e) => return Err(e.into()),
    };
    let (jar, csrf) = state.csrf_issue(jar);
    let page = ReplayPage {
        c: Chrome::new(&ctx, csrf, "replay"),
        draft: f.draft,
        days: f.days,
        report,
        errors,
    };
    Ok((jar, render_status(status, &page)).into_response())
}

#[derive(Template)]
#[template(path = "admin/signin_detail.html")]
struct SignInDetailPage {
    c: Chrome,
    at: String,
    username: String,
    result: String,
    reason: String,
    ip: String,
    agent: String,
    methods: String,
    correlation_id: String,
    app: String,
    outcome: String,
    decision: String,
    version: String,
    records: Vec<RecordRow>,
    signals: String,
}

/// `GET /admin/sign-ins/{id}`: one sign-in with every signal and the per-policy record.
pub async fn sign_in_detail(
    State(state): State<AppState>,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
    Path(id): Path<Uuid>,
) -> PageResult {
    need(&ctx, Permission::SignInLogRead)?;
    let e = state
        .store
        .get_sign_in(id)
        .await?
        .ok_or_else(|| AppError::not_found("sign-in"))?;
    let ca = &e.details["conditional_access"];
    let (jar, csrf) = state.csrf_issue(jar);
    let page = SignInDetailPage {
        c: Chrome::new(&ctx, csrf, "sign-ins"),
        at: fmt_time(e.at),
        username: e.username,
        result: e.result.as_str().to_string(),
        reason: e.failure_reason.unwrap_or_default(),
        ip: e.ip.unwrap_or_default(),
        agent: e.user_agent.unwrap_or_default(),
        methods: e.methods.join(" "),
        correlation_id: e.correlation_id,
        app: e.details["app"].as_str().unwrap_or_default().to_string(),
        outcome: ca["outcome"].as_str().unwrap_or_default().to_string(),
        decision: if ca.is_null() {
            String::new()
        } else {
            ca["decision"].to_string()
        },
        version: ca["version"].to_string(),
        records: record_rows(&ca["records"]),
        signals: if ca["signals"].is_null() {
            String::new()
        } else {
            serde_json::to_string_pretty(&ca["signals"]).unwrap_or_default()
        },
    };
    Ok((jar, render(&page)).into_response())
}

/// This resource's routes.
pub(super) fn routes() -> axum::Router<crate::state::AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/admin/sign-ins/{id}", get(sign_in_detail))
        .route("/admin/conditional-access", get(policies).post(save))
        .route(
            "/admin/conditional-access/versions/{version}/restore",
            post(restore),
        )
        .route("/admin/conditional-access/what-if", get(what_if))
        .route(
            "/admin/conditional-access/replay",
            get(replay_form).post(replay),
        )
}
