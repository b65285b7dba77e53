//! Console: registered devices (list with filters and keyset paging, detail with the latest
//! posture and the compliance reasons, disable/enable/delete).

use crate::edge::auth::{AdminPage, RequestCtx};
use crate::edge::error::AppError;
use crate::edge::pages::{Chrome, CsrfForm, PageResult, fmt_time, need, render};
use crate::edge::pages::{CsrfOnlyForm, Flash};
use crate::signals::device_trust::admin::{ListParams, query};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use trustplane_core::audit::AuditDraft;
use trustplane_core::device::{ComplianceState, Device, DeviceState, SettingResult, SettingStatus};
use trustplane_core::identity::Permission;
use uuid::Uuid;

pub struct DeviceRow {
    id: Uuid,
    name: String,
    owner: String,
    platform: &'static str,
    os: String,
    trust: &'static str,
    enabled: bool,
    compliance: &'static str,
    compliance_badge: &'static str,
    risk: &'static str,
    last_seen: String,
}

#[derive(Template)]
#[template(path = "admin/devices.html")]
struct DevicesPage {
    c: Chrome,
    rows: Vec<DeviceRow>,
    search: String,
    state: String,
    compliance: String,
    next: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct DevicesQuery {
    #[serde(default)]
    search: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    compliance: String,
    before: Option<Uuid>,
    #[serde(flatten)]
    flash: Flash,
}

async fn row(state: &AppState, d: Device) -> Result<DeviceRow, AppError> {
    let owner = state
        .store
        .get_user(d.owner_id)
        .await?
        .map(|u| u.username)
        .unwrap_or_else(|| "(deleted)".into());
    Ok(DeviceRow {
        id: d.id,
        name: d.display_name,
        owner,
        platform: d.platform.as_str(),
        os: d.os_version.unwrap_or_default(),
        trust: d.trust_type.as_str(),
        enabled: d.state == DeviceState::Enabled,
        compliance: d.compliance.label(),
        compliance_badge: d.compliance.badge(),
        risk: d.machine_risk.as_str(),
        last_seen: fmt_time(d.last_seen),
    })
}

fn chrome(
    state: &AppState,
    jar: CookieJar,
    ctx: &crate::edge::auth::SessionCtx,
    flash: &Flash,
) -> (CookieJar, Chrome) {
    let notice = flash.ok.as_deref().map(|o| match o {
        "disabled" => {
            "The device was disabled: it no longer counts for conditional access.".to_string()
        }
        "enabled" => "The device was enabled.".to_string(),
        _ => "The device was deleted.".to_string(),
    });
    Chrome::with_flash(state, jar, ctx, "devices", flash, notice)
}

/// `GET /admin/devices`.
pub async fn list(
    State(state): State<AppState>,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
    Query(q): Query<DevicesQuery>,
) -> PageResult {
    need(&ctx, Permission::DevicesRead)?;
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let p = ListParams {
        search: nonempty(&q.search),
        state: nonempty(&q.state),
        compliance: nonempty(&q.compliance),
        before: q.before,
        limit: Some(50),
        ..Default::default()
    };
    let devices = state.store.list_devices(&query(&p, state.now())?).await?;
    let next = (devices.len() == 50)
        .then(|| devices.last().map(|d| d.id))
        .flatten();
    let mut rows = Vec::with_capacity(devices.len());
    for d in devices {
        rows.push(row(&state, d).await?);
    }
    let next = next.map(|id| {
        serde_urlencoded::to_string([
            ("search", q.search.as_str()),
            ("state", q.state.as_str()),
            ("compliance", q.compliance.as_str()),
            ("before", &id.to_string()),
        ])
        .unwrap_or_default()
    });
    let (jar, c) = chrome(&state, jar, &ctx, &q.flash);
    let page = DevicesPage {
        c,
        rows,
        search: q.search,
        state: q.state,
        compliance: q.compliance,
        next,
    };
    Ok((jar, render(&page)).into_response())
}

pub struct Reason {
    code: String,
    message: String,
}

pub struct Observation {
    setting: String,
    value: String,
}

/// An assigned configuration-profile setting as judged from the latest report.
pub struct ProfileSetting {
    profile: String,
    setting: String,
    status: &'static str,
    ok: bool,
    expected: String,
    observed: String,
}

#[derive(Template)]
#[template(path = "admin/device.html")]
struct DevicePage {
    c: Chrome,
    d: DeviceRow,
    hostname: String,
    model: String,
    serial: String,
    fingerprint: String,
    cert_not_after: String,
    first_seen: String,
    last_report: String,
    compliance_detail: String,
    reasons: Vec<Reason>,
    observations: Vec<Observation>,
    settings: Vec<ProfileSetting>,
    may_write: bool,
}

/// The assigned profile settings as judged from the latest report, for the page.
fn setting_rows(results: Vec<SettingResult>) -> Vec<ProfileSetting> {
    results
        .into_iter()
        .map(|r| ProfileSetting {
            ok: r.status == SettingStatus::Compliant,
            status: match r.status {
                SettingStatus::Compliant => "compliant",
                SettingStatus::Drift => "drift",
                SettingStatus::NotApplicable => "not applicable",
                SettingStatus::Error => "error",
            },
            profile: r.profile_id,
            setting: r.setting,
            expected: r.expected,
            observed: r.observed.unwrap_or_default(),
        })
        .collect()
}

/// The latest report's observations (setting name, described value or the agent's error),
/// for the page.
fn observation_rows(
    observations: &[crate::signals::device_trust::posture::Observation],
) -> Vec<Observation> {
    observations
        .iter()
        .map(|o| Observation {
            setting: serde_json::to_string(&o.setting)
                .unwrap_or_default()
                .trim_matches('"')
                .replace('_', " "),
            value: match &o.error {
                Some(e) => format!("error: {e}"),
                None => crate::signals::device_trust::posture::describe(&o.value),
            },
        })
        .collect()
}

/// The compliance state in a sentence.
fn compliance_detail(compliance: &ComplianceState) -> String {
    match compliance {
        ComplianceState::Compliant => "Meets its compliance policy.".to_string(),
        ComplianceState::InGrace { until, .. } => {
            format!("Failing, tolerated until {}.", fmt_time(*until))
        }
        ComplianceState::NonCompliant { since, .. } => {
            format!("Not compliant since {}.", fmt_time(*since))
        }
    }
}

/// `GET /admin/devices/{id}`.
pub async fn detail(
    State(state): State<AppState>,
    jar: CookieJar,
    AdminPage(ctx): AdminPage,
    Path(id): Path<Uuid>,
    Query(flash): Query<Flash>,
) -> PageResult {
    need(&ctx, Permission::DevicesRead)?;
    let d = state
        .store
        .get_device(id)
        .await?
        .ok_or_else(|| AppError::not_found("device"))?;
    let posture_json = state.store.device_posture(id).await?;
    let report = posture_json.as_deref().and_then(|p| {
        serde_json::from_str::<crate::signals::device_trust::posture::PostureReport>(p).ok()
    });
    let cfg = crate::signals::device_trust::compliance::load(&state).await?;
    let now = state.now();
    let stored = crate::signals::device_trust::profiles::stored_posture(&state, &d).await?;
    let judged = crate::signals::device_trust::compliance::judge(
        &cfg,
        &d,
        stored.as_ref().map(|(p, _)| p),
        now,
    );
    let settings = stored
        .map(|(_, results)| setting_rows(results))
        .unwrap_or_default();
    let observations = report
        .map(|r| observation_rows(&r.observations))
        .unwrap_or_default();
    let compliance_detail = compliance_detail(&d.compliance);
    let (jar, c) = chrome(&state, jar, &ctx, &flash);
    let page = DevicePage {
        c,
        hostname: d.hostname.clone().unwrap_or_default(),
        model: [d.manufacturer.clone(), d.model.clone()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" "),
        serial: d.cert_serial.clone(),
        fingerprint: d.cert_fingerprint.clone(),
        cert_not_after: fmt_time(d.cert_not_after),
        first_seen: fmt_time(d.first_seen),
        last_report: d
            .last_report_at
            .map(fmt_time)
            .unwrap_or_else(|| "never".into()),
        compliance_detail,
        reasons: judged
            .reasons
            .into_iter()
            .map(|r| Reason {
                code: r.code,
                message: r.message,
            })
            .collect(),
        observations,
        settings,
        may_write: ctx.roles.allows(Permission::DevicesWrite),
        d: row(&state, d).await?,
    };
    Ok((jar, render(&page)).into_response())
}

async fn act(
    state: &AppState,
    req: &RequestCtx,
    ctx: &crate::edge::auth::SessionCtx,
    id: Uuid,
    action: &str,
) -> Result<(), crate::edge::pages::PageError> {
    need(ctx, Permission::DevicesWrite)?;
    let audit = AuditDraft::new(&ctx.actor(req.ip), action, "device", Some(id.to_string()));
    let found = match action {
        "device.disable" => {
            state
                .store
                .set_device_state(id, DeviceState::Disabled, audit)
                .await?
        }
        "device.enable" => {
            state
                .store
                .set_device_state(id, DeviceState::Enabled, audit)
                .await?
        }
        _ => state.store.delete_device(id, audit).await?,
    };
    if !found && state.store.get_device(id).await?.is_none() {
        return Err(AppError::not_found("device").into());
    }
    Ok(())
}

/// `POST /admin/devices/{id}/disable`.
pub async fn disable(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<CsrfOnlyForm>,
) -> PageResult {
    act(&state, &req, &ctx, id, "device.disable").await?;
    Ok(Redirect::to(&format!("/admin/devices/{id}?ok=disabled")).into_response())
}

/// `POST /admin/devices/{id}/enable`.
pub async fn enable(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<CsrfOnlyForm>,
) -> PageResult {
    act(&state, &req, &ctx, id, "device.enable").await?;
    Ok(Redirect::to(&format!("/admin/devices/{id}?ok=enabled")).into_response())
}

/// `POST /admin/devices/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    req: RequestCtx,
    AdminPage(ctx): AdminPage,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<CsrfOnlyForm>,
) -> PageResult {
    act(&state, &req, &ctx, id, "device.delete").await?;
    Ok(Redirect::to("/admin/devices?ok=deleted").into_response())
}

/// This resource's routes.
pub(super) fn routes() -> axum::Router<crate::state::AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/admin/devices", get(list))
        .route("/admin/devices/{id}", get(detail))
        .route("/admin/devices/{id}/disable", post(disable))
        .route("/admin/devices/{id}/enable", post(enable))
        .route("/admin/devices/{id}/delete", post(delete))
}
