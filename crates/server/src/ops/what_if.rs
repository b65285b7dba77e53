//! Conditional access tools for administrators: what-if (the decision for a hypothetical
//! request) and impact replay (a draft policy set against the stored sign-in log).

use crate::edge::error::AppError;
use crate::enforce::policy::{self, Signals, outcome_code};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::net::IpAddr;
use time::Duration;
use trustplane_core::access::{
    AccessContext, ClientAppType, DevicePlatform, DeviceSignals, Outcome, PolicySet, TargetRequest,
    evaluate, explain,
};
use trustplane_core::authn::{AuthMethod, MethodUse};
use trustplane_core::risk::RiskLevel;
use trustplane_store::SignInQuery;
use trustplane_store::Store;

/// A hypothetical request. Unset signals stay unknown (and a missing signal never makes a
/// condition match, as in a real request).
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatIf {
    /// Login name or user id.
    pub user: String,
    /// Application id (default: trustplane itself).
    #[serde(default)]
    pub app: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub ip: Option<IpAddr>,
    /// ISO 3166-1 alpha-2 country code.
    #[serde(default)]
    pub country: Option<String>,
    /// android, ios, windows, macos or linux.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub platform: Option<DevicePlatform>,
    /// browser, mobile_desktop or other (default browser).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub client: Option<ClientAppType>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub sign_in_risk: Option<RiskLevel>,
    /// Default: the user's real risk level.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub user_risk: Option<RiskLevel>,
    /// A device with this compliance state (unset: no device).
    #[serde(default)]
    pub device_compliant: Option<bool>,
    /// A registered device (its id): its real state — registered, managed, compliant,
    /// platform, model — is used (overrides `device_compliant` and `platform`).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub device: Option<uuid::Uuid>,
    /// The user has also passed a second factor (default: password only).
    #[serde(default)]
    pub mfa_done: bool,
}

/// Runs what-if against the policy set in force; returns the decision with a record for
/// every policy and the signals used.
pub async fn what_if(
    store: &dyn Store,
    cache: &crate::enforce::policy::PolicyCache,
    w: &WhatIf,
    now: time::OffsetDateTime,
) -> Result<serde_json::Value, AppError> {
    let user = match uuid::Uuid::parse_str(w.user.trim()) {
        Ok(id) => store.get_user(id).await?,
        Err(_) => store.find_user(w.user.trim()).await?,
    }
    .ok_or_else(|| AppError::bad_request("unknown_user", format!("no user {:?}", w.user)))?;
    let mut methods = vec![MethodUse {
        method: AuthMethod::Password,
        at: now,
    }];
    if w.mfa_done {
        methods.push(MethodUse {
            method: AuthMethod::Totp,
            at: now,
        });
    }
    let mut ctx = policy::context(
        store,
        Signals {
            user_id: user.id,
            methods: &methods,
            primary_at: Some(now),
            ip: w.ip,
            country: None,
            user_agent: None,
            client_app: w.client.unwrap_or(ClientAppType::Browser),
            target: TargetRequest::Application {
                id: w
                    .app
                    .clone()
                    .unwrap_or_else(|| policy::PORTAL_APP.to_string()),
                sensitivity_label: None,
                authentication_contexts: Vec::new(),
            },
            password_changed: false,
            now,
        },
    )
    .await?;
    if let Some(c) = &w.country {
        let c = c.trim().to_ascii_uppercase();
        if c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_uppercase()) {
            return Err(AppError::bad_request(
                "invalid_country",
                "country must be a two-letter ISO 3166-1 code such as FR",
            ));
        }
        ctx.network.country = Some(c);
    }
    ctx.platform = w.platform;
    ctx.sign_in_risk = w.sign_in_risk;
    if w.user_risk.is_some() {
        ctx.user_risk = w.user_risk;
    }
    ctx.device = w.device_compliant.map(|compliant| DeviceSignals {
        registered: true,
        compliant,
        ..Default::default()
    });
    if let Some(id) = w.device {
        let d = store
            .get_device(id)
            .await?
            .ok_or_else(|| AppError::bad_request("unknown_device", format!("no device {id}")))?;
        // A disabled device, or one whose certificate expired, is no device.
        ctx.device = d.signals(now);
        if ctx.device.is_some() {
            ctx.platform = Some(d.platform);
        }
    }
    let loaded = cache.get(store).await?;
    let d = explain(&loaded.set, &ctx);
    Ok(serde_json::json!({
        "version": loaded.version,
        "user": user.username,
        "outcome": outcome_code(&d.outcome),
        "decision": d.outcome,
        "session": d.session,
        "records": d.records,
        "signals": ctx,
    }))
}

/// One sign-in the draft would have decided differently.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReplayChange {
    pub sign_in_id: String,
    pub at: String,
    pub username: String,
    /// Outcome recorded at the time: allow, block or requires (with requirements).
    #[schema(value_type = Object)]
    pub before: serde_json::Value,
    #[schema(value_type = Object)]
    pub after: serde_json::Value,
}

/// What a draft policy set would have changed over the sign-ins of the last `days` days.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReplayReport {
    pub days: u32,
    /// Sign-ins with recorded signals (evaluated by conditional access at the time).
    pub evaluated: usize,
    /// Sign-ins in the window without recorded signals (failed first factors, older
    /// entries): they cannot be replayed.
    pub skipped: usize,
    pub changed: usize,
    pub newly_blocked: usize,
    pub no_longer_blocked: usize,
    pub newly_challenged: usize,
    pub no_longer_challenged: usize,
    pub users_affected: Vec<String>,
    /// At most 500, newest first.
    pub changes: Vec<ReplayChange>,
}

fn summary(o: &Outcome) -> serde_json::Value {
    serde_json::json!({ "outcome": outcome_code(o), "decision": o })
}

/// Replays the sign-ins of the last `days` days (1..=90) against `draft`, comparing with the
/// decision recorded at the time. Nothing is stored.
pub async fn replay(
    store: &dyn Store,
    draft: &PolicySet,
    days: u32,
    now: time::OffsetDateTime,
) -> Result<ReplayReport, AppError> {
    if !(1..=90).contains(&days) {
        return Err(AppError::bad_request(
            "invalid_days",
            "days must be between 1 and 90",
        ));
    }
    let events = store
        .list_sign_ins(&SignInQuery {
            since: Some(now - Duration::days(i64::from(days))),
            limit: 10_000,
            ..Default::default()
        })
        .await?;
    let mut r = ReplayReport {
        days,
        evaluated: 0,
        skipped: 0,
        changed: 0,
        newly_blocked: 0,
        no_longer_blocked: 0,
        newly_challenged: 0,
        no_longer_challenged: 0,
        users_affected: Vec::new(),
        changes: Vec::new(),
    };
    let mut users = BTreeSet::new();
    for e in events {
        let ca = &e.details["conditional_access"];
        let (Ok(ctx), Ok(before)) = (
            serde_json::from_value::<AccessContext>(ca["signals"].clone()),
            serde_json::from_value::<Outcome>(ca["decision"].clone()),
        ) else {
            r.skipped += 1;
            continue;
        };
        r.evaluated += 1;
        let after = evaluate(draft, &ctx).outcome;
        if after == before {
            continue;
        }
        r.changed += 1;
        let blocked = |o: &Outcome| matches!(o, Outcome::Block { .. });
        let challenged = |o: &Outcome| matches!(o, Outcome::Requires(_));
        match (blocked(&before), blocked(&after)) {
            (false, true) => r.newly_blocked += 1,
            (true, false) => r.no_longer_blocked += 1,
            _ => {}
        }
        match (challenged(&before), challenged(&after)) {
            (false, true) => r.newly_challenged += 1,
            (true, false) => r.no_longer_challenged += 1,
            _ => {}
        }
        users.insert(e.username.clone());
        if r.changes.len() < 500 {
            r.changes.push(ReplayChange {
                sign_in_id: e.id.to_string(),
                at: e
                    .at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                username: e.username,
                before: summary(&before),
                after: summary(&after),
            });
        }
    }
    r.users_affected = users.into_iter().collect();
    Ok(r)
}
