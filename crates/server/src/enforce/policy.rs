//! Conditional access at the edge: the policy set in force (versioned in the store, compiled
//! once per version and shared), the signals of a request turned into an
//! [`AccessContext`], and the decision written to the sign-in log. The decision itself is the
//! core's pure `access::evaluate`; there is no second policy path.

use crate::edge::error::AppError;
use arc_swap::ArcSwapOption;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use time::OffsetDateTime;
use trustplane_core::access::{
    self, AccessContext, Authentication, Catalog, ClientAppType, Decision, DevicePlatform,
    LintDirectory, Network, Outcome, PolicySet, PolicySetDocument, StaticCatalog, Subject,
    TargetRequest, Warning,
};
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_core::authn::MethodUse;
use trustplane_core::risk::{DetectionState, RiskLevel, user_risk_level};
use trustplane_store::Store;
use uuid::Uuid;

/// The application id of trustplane itself (My account and the admin console). Until OIDC
/// clients and forward-auth routes exist, it is the only application policies can target.
pub const PORTAL_APP: &str = "trustplane";

/// A compiled policy set and the version it came from (0: none saved yet).
pub struct Loaded {
    pub version: i64,
    pub set: Arc<PolicySet>,
    /// The policy event epoch it was read at (see [`PolicyCache::peek`]).
    pub epoch: u64,
}

/// The policy set in force, recompiled only when the stored version changes.
#[derive(Default)]
pub struct PolicyCache {
    current: ArcSwapOption<Loaded>,
    /// Bumped by every policy change event (continuous access evaluation); the loaded set is
    /// trusted without asking the store only while it was loaded at the current epoch.
    epoch: std::sync::atomic::AtomicU64,
}

/// Accepts every reference: a stored version was validated when it was saved, and a user or
/// group deleted since must not stop every sign-in (the policy just no longer matches it).
struct StoredCatalog;

impl Catalog for StoredCatalog {
    fn has_user(&self, _: Uuid) -> bool {
        true
    }
    fn has_group(&self, _: Uuid) -> bool {
        true
    }
    fn has_application(&self, _: &str) -> bool {
        true
    }
    fn has_sensitivity_label(&self, _: &str) -> bool {
        true
    }
    fn has_authentication_context(&self, _: &str) -> bool {
        true
    }
    fn has_terms_of_use(&self, _: &str) -> bool {
        true
    }
}

impl PolicyCache {
    /// The policy set in force. A stored version that no longer compiles (it cannot happen
    /// through the API) is an error, never "no policies": failing open is not an option.
    pub async fn get(&self, store: &dyn Store) -> Result<Arc<Loaded>, AppError> {
        use std::sync::atomic::Ordering;
        let epoch = self.epoch.load(Ordering::SeqCst);
        let stored = store.current_policy_version().await?;
        let version = stored.as_ref().map_or(0, |v| v.version);
        if let Some(cur) = self.current.load_full()
            && cur.version == version
        {
            if cur.epoch == epoch {
                return Ok(cur);
            }
            let again = Arc::new(Loaded {
                version,
                set: cur.set.clone(),
                epoch,
            });
            self.current.store(Some(again.clone()));
            return Ok(again);
        }
        let compiled = match &stored {
            None => access::compile(PolicySetDocument::default(), &StoredCatalog)
                .map_err(|e| e.iter().map(ToString::to_string).collect::<Vec<_>>()),
            Some(v) => access::parse_json(&v.document)
                .map_err(|e| vec![e.to_string()])
                .and_then(|doc| {
                    access::compile(doc, &StoredCatalog)
                        .map_err(|e| e.iter().map(ToString::to_string).collect())
                }),
        };
        let set = compiled.map_err(|errors| {
            tracing::error!(
                version,
                ?errors,
                "the stored conditional access policy set does not compile"
            );
            AppError::internal()
        })?;
        let loaded = Arc::new(Loaded {
            version,
            set: Arc::new(set),
            epoch,
        });
        self.current.store(Some(loaded.clone()));
        Ok(loaded)
    }

    /// The policy set in force without a store query, when no policy change event arrived
    /// since it was loaded (forward-auth cache hits); `None`: call [`PolicyCache::get`].
    pub fn peek(&self) -> Option<Arc<Loaded>> {
        use std::sync::atomic::Ordering;
        let cur = self.current.load_full()?;
        (cur.epoch == self.epoch.load(Ordering::SeqCst)).then_some(cur)
    }

    /// A policy change event: the next [`PolicyCache::peek`] misses until a `get` reloads.
    pub fn invalidate(&self) {
        use std::sync::atomic::Ordering;
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }
}

/// The catalog a new policy set is validated against: the users and groups it names must
/// exist, and applications are those trustplane knows.
async fn catalog_for(
    store: &dyn Store,
    doc: &PolicySetDocument,
) -> Result<StaticCatalog, AppError> {
    let json = serde_json::to_value(doc).map_err(|_| AppError::internal())?;
    let mut users = HashSet::new();
    let mut groups = HashSet::new();
    for p in json["policies"].as_array().into_iter().flatten() {
        for side in ["include", "exclude"] {
            let s = &p["assignments"]["users"][side];
            for u in s["users"].as_array().into_iter().flatten() {
                if let Some(id) = u.as_str().and_then(|s| Uuid::parse_str(s).ok())
                    && store.get_user(id).await?.is_some()
                {
                    users.insert(id);
                }
            }
            for g in s["groups"].as_array().into_iter().flatten() {
                if let Some(id) = g.as_str().and_then(|s| Uuid::parse_str(s).ok())
                    && store.get_group(id).await?.is_some()
                {
                    groups.insert(id);
                }
            }
        }
    }
    let terms_of_use = store
        .list_terms()
        .await?
        .into_iter()
        .map(|t| t.id)
        .collect();
    let mut applications = HashSet::from([PORTAL_APP.to_string()]);
    for a in store.list_applications().await? {
        applications.insert(a.id);
    }
    let sensitivity_labels = store
        .list_sensitivity_labels()
        .await?
        .into_iter()
        .map(|l| l.id)
        .collect();
    let authentication_contexts = store
        .list_authentication_contexts()
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    Ok(StaticCatalog {
        users,
        groups,
        applications,
        terms_of_use,
        sensitivity_labels,
        authentication_contexts,
    })
}

/// Refuses (409) removing a sensitivity label or authentication context that the policy set
/// in force names: the set must stay valid without it.
pub async fn refuse_if_policies_use(
    state: &crate::state::AppState,
    label: Option<&str>,
    context: Option<&str>,
) -> Result<(), AppError> {
    let loaded = state.policies.get(state.store.as_ref()).await?;
    let doc = loaded.set.document().clone();
    let mut catalog = catalog_for(state.store.as_ref(), &doc).await?;
    if let Some(l) = label {
        catalog.sensitivity_labels.remove(l);
    }
    if let Some(c) = context {
        catalog.authentication_contexts.remove(c);
    }
    match access::compile(doc, &catalog) {
        Ok(_) => Ok(()),
        Err(_) => Err(AppError::new(
            axum::http::StatusCode::CONFLICT,
            "in_use_by_policy",
            "A conditional access policy names it; change the policy first.",
        )),
    }
}

/// A refused policy set: every problem, each naming its field.
pub fn invalid(errors: Vec<String>) -> AppError {
    AppError::bad_request(
        "invalid_policy",
        format!(
            "{} problem(s) in the policy set; nothing was changed. {}",
            errors.len(),
            errors.join("; ")
        ),
    )
}

/// Parses (JSON, or YAML when `yaml`) and validates a policy set document against the
/// directory. Nothing is stored.
pub async fn validate(store: &dyn Store, text: &str, yaml: bool) -> Result<PolicySet, AppError> {
    let doc = if yaml {
        access::parse_yaml(text)
    } else {
        access::parse_json(text)
    }
    .map_err(|e| invalid(vec![e.to_string()]))?;
    let catalog = catalog_for(store, &doc).await?;
    access::compile(doc, &catalog).map_err(|e| invalid(e.iter().map(ToString::to_string).collect()))
}

/// What lint needs: administrators, so that no policy locks every one of them out.
pub async fn lint_directory(store: &dyn Store) -> Result<LintDirectory, AppError> {
    let mut dir = LintDirectory {
        console_application: Some(PORTAL_APP.to_string()),
        ..Default::default()
    };
    let mut seen = HashSet::new();
    for role in trustplane_core::identity::Role::ALL {
        for u in store.role_holders(role).await? {
            if !seen.insert(u.id) {
                continue;
            }
            let groups = store.group_ids_of(u.id).await?;
            dir.administrators.push(access::DirectoryUser {
                id: u.id,
                groups,
                roles: store.roles_of(u.id).await?,
            });
        }
    }
    Ok(dir)
}

/// Saves a validated policy set as a new version on top of `based_on`; returns the version
/// and the lint warnings. Audited with the previous and the new document.
pub async fn save(
    store: &dyn Store,
    actor: &Actor,
    set: &PolicySet,
    based_on: i64,
    comment: &str,
    now: time::OffsetDateTime,
) -> Result<(trustplane_store::PolicyVersion, Vec<Warning>), AppError> {
    let document =
        serde_json::to_string_pretty(set.document()).map_err(|_| AppError::internal())?;
    let before = store.current_policy_version().await?;
    let mut audit = AuditDraft::new(
        actor,
        "conditional_access.policy_set.save",
        "policy_set",
        Some((based_on + 1).to_string()),
    )
    .after(&serde_json::json!({ "comment": comment, "document": set.document() }));
    if let Some(b) = &before
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&b.document)
    {
        audit = audit.before(&serde_json::json!({ "version": b.version, "document": v }));
    }
    let saved = store
        .save_policy_version(
            based_on,
            &document,
            &actor.name,
            comment,
            now,
            audit,
        )
        .await
        .map_err(|e| match e {
            trustplane_store::StoreError::Conflict(_) => AppError::new(
                axum::http::StatusCode::CONFLICT,
                "version_conflict",
                format!(
                    "The policy set changed since version {based_on}: load the newest version, apply your change again and save."
                ),
            ),
            other => other.into(),
        })?;
    let warnings = access::lint(set, &lint_directory(store).await?);
    tracing::info!(version = saved.version, actor = %actor.name, "conditional access policy set saved");
    Ok((saved, warnings))
}

/// The platform a browser's user agent names (a hint: user agents can lie, so a policy
/// that must hold uses device compliance, not the platform).
pub fn platform_of(user_agent: Option<&str>) -> Option<DevicePlatform> {
    let ua = user_agent?;
    Some(if ua.contains("Android") {
        DevicePlatform::Android
    } else if ua.contains("iPhone") || ua.contains("iPad") || ua.contains("iPod") {
        DevicePlatform::Ios
    } else if ua.contains("Windows") {
        DevicePlatform::Windows
    } else if ua.contains("Macintosh") || ua.contains("Mac OS X") {
        DevicePlatform::Macos
    } else if ua.contains("Linux") || ua.contains("X11") || ua.contains("CrOS") {
        DevicePlatform::Linux
    } else {
        return None;
    })
}

/// The signals of a sign-in or a request by `user_id`, for conditional access.
pub struct Signals<'a> {
    pub user_id: Uuid,
    pub methods: &'a [MethodUse],
    pub primary_at: Option<OffsetDateTime>,
    pub ip: Option<IpAddr>,
    /// From the GeoIP database, when one is configured.
    pub country: Option<String>,
    pub user_agent: Option<&'a str>,
    pub client_app: ClientAppType,
    pub target: TargetRequest,
    pub password_changed: bool,
    pub now: OffsetDateTime,
}

/// Builds the [`AccessContext`] from the store and the request.
pub async fn context(store: &dyn Store, s: Signals<'_>) -> Result<AccessContext, AppError> {
    let groups = store.group_ids_of(s.user_id).await?;
    let roles = store.roles_of(s.user_id).await?;
    let mfa_registered = !store.list_mfa_methods(s.user_id).await?.is_empty();
    let detections = store
        .list_risk_detections(Some(s.user_id), Some(DetectionState::AtRisk), 100)
        .await?;
    let user_risk: Option<RiskLevel> = user_risk_level(&detections);
    Ok(AccessContext {
        subject: Subject {
            user_id: s.user_id,
            groups,
            roles,
            mfa_registered,
        },
        authentication: Authentication {
            methods: s.methods.to_vec(),
            primary_at: s.primary_at,
        },
        now: s.now,
        target: s.target,
        network: Network {
            ip: s.ip,
            country: s.country,
        },
        client_app: s.client_app,
        platform: platform_of(s.user_agent),
        device: None,
        // No sign-in risk engine yet: no sign-in is scored, so risk conditions never match
        // a real sign-in (what-if can still set one).
        sign_in_risk: None,
        user_risk,
        terms_accepted: store.accepted_terms(s.user_id).await?,
        password_changed: s.password_changed,
    })
}

/// The portal as a target.
pub fn portal() -> TargetRequest {
    TargetRequest::Application {
        id: PORTAL_APP.to_string(),
        sensitivity_label: None,
        authentication_contexts: Vec::new(),
    }
}

/// The outcome's machine name: `allow`, `block` or `requires`.
pub fn outcome_code(o: &Outcome) -> &'static str {
    match o {
        Outcome::Allow => "allow",
        Outcome::Block { .. } => "block",
        Outcome::Requires(_) => "requires",
    }
}

/// The sign-in log's view of a decision: outcome, the policies that applied (enforced or
/// report-only), the per-policy record, the version, and the signals (so impact replay can
/// evaluate a draft against the same request later).
pub fn log_entry(version: i64, d: &Decision, ctx: &AccessContext) -> serde_json::Value {
    let applied: Vec<&str> = d
        .records
        .iter()
        .filter(|r| r.applied)
        .map(|r| &*r.policy_id)
        .collect();
    serde_json::json!({
        "version": version,
        "outcome": outcome_code(&d.outcome),
        "decision": d.outcome,
        "applied": applied,
        "session": d.session,
        "records": d.records,
        "signals": ctx,
    })
}
