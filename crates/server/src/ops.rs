//! Administrative operations shared by the admin API, the admin console and the CLI: input
//! validation, safety rules (never remove the last global administrator) and audit entries.
//! Each operation is one store transaction together with its audit entry.

pub mod audit_chain;
pub mod health;
pub mod readiness;
pub mod retention;
pub mod signin_export;
pub mod what_if;

/// Health, readiness and metrics.
pub fn router() -> axum::Router<crate::state::AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics_endpoint))
}

use crate::edge::error::AppError;
use crate::platform::secrets::{random_salt, random_token};
use axum::http::StatusCode;
use serde::Serialize;
use std::sync::{Arc, OnceLock};
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_core::credential::{HashParams, hash_password, secret_digest};
use trustplane_core::identity::{
    Group, Permission, Role, RoleSet, User, UserStatus, validate_email, validate_name,
    validate_username,
};
use trustplane_core::mfa::policy::{MethodsPolicy, Targets};
use trustplane_core::mfa::tap::{self, TemporaryAccessPass};
use trustplane_core::password::{
    BannedList, PasswordChecker, PasswordPolicy, UserTerms, Verdict, normalize::normalize_term,
};
use trustplane_core::session::ApiToken;
use trustplane_store::Store;
use uuid::Uuid;

/// The built-in global banned list, decompressed and indexed once per process.
pub fn global_banned() -> Result<&'static BannedList, AppError> {
    static GLOBAL: OnceLock<Result<BannedList, String>> = OnceLock::new();
    GLOBAL
        .get_or_init(|| BannedList::global().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| {
            tracing::error!(error = %e, "the built-in banned password list is unusable");
            AppError::internal()
        })
}

/// The API name of a permission (`users_reset_password`).
pub fn permission_name(p: Permission) -> String {
    serde_json::to_value(p)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// A refused password as an API error: every reason in plain words, none revealing the lists.
pub fn password_error(v: &Verdict) -> AppError {
    AppError::bad_request("password_rejected", v.messages().join(" "))
}

/// Hashes on a blocking thread (Argon2id takes tens of milliseconds by design).
pub async fn hash(password: &str, params: HashParams) -> Result<String, AppError> {
    let pw = password.to_string();
    tokio::task::spawn_blocking(move || hash_password(&pw, &params, &random_salt()))
        .await
        .map_err(|_| AppError::internal())?
        .map_err(|e| {
            tracing::error!(error = %e, "password hashing failed");
            AppError::internal()
        })
}

#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    pub roles: Vec<Role>,
}

/// The public view of a user in audit entries (never a password hash).
#[derive(Serialize)]
struct UserAudit<'a> {
    username: &'a str,
    display_name: &'a str,
    email: &'a Option<String>,
    status: UserStatus,
}

fn user_audit(u: &User) -> UserAudit<'_> {
    UserAudit {
        username: &u.username,
        display_name: &u.display_name,
        email: &u.email,
        status: u.status,
    }
}

/// The compiled organisation banned list, with the store revision it was built from.
#[derive(Default)]
pub struct BannedCache(std::sync::Mutex<Option<(i64, Arc<BannedList>)>>);

impl BannedCache {
    fn get(&self, rev: i64) -> Option<Arc<BannedList>> {
        let g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.as_ref()
            .filter(|(r, _)| *r == rev)
            .map(|(_, l)| l.clone())
    }

    fn put(&self, rev: i64, list: Arc<BannedList>) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *g = Some((rev, list));
    }
}

/// Settings name of the authentication methods policy.
pub const METHODS_POLICY: &str = "auth_methods";

pub struct Ops {
    pub store: Arc<dyn Store>,
    pub params: HashParams,
    pub password_policy: PasswordPolicy,
    pub organisation: String,
    pub breach: Option<Arc<trustplane_breach::BreachFilter>>,
    pub banned_cache: Option<Arc<BannedCache>>,
    /// The server's hashing workers (none in the CLI: a blocking thread per hash).
    pub hash_pool: Option<Arc<crate::platform::hashpool::HashPool>>,
    /// The one clock (the server's; the system clock in the CLI).
    pub clock: Arc<dyn crate::platform::clock::Clock>,
}

impl Ops {
    pub fn new(store: Arc<dyn Store>, params: HashParams) -> Self {
        Ops {
            store,
            params,
            password_policy: PasswordPolicy::default(),
            organisation: String::new(),
            breach: None,
            banned_cache: None,
            hash_pool: None,
            clock: Arc::new(crate::platform::clock::SystemClock),
        }
    }

    pub fn with_clock(mut self, clock: Arc<dyn crate::platform::clock::Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    pub fn with_hash_pool(mut self, pool: Arc<crate::platform::hashpool::HashPool>) -> Self {
        self.hash_pool = Some(pool);
        self
    }

    /// Hashes a new password: on the server's hashing workers when there are some.
    async fn hash(&self, password: &str) -> Result<String, AppError> {
        let Some(pool) = &self.hash_pool else {
            return hash(password, self.params).await;
        };
        let (pw, params, salt) = (password.to_string(), self.params, random_salt());
        pool.run(crate::platform::hashpool::Lane::Normal, move |mem| {
            trustplane_core::hashing::hash_password_in(mem, &pw, &params, &salt)
        })
        .await
        .map_err(|_| AppError::busy())?
        .map_err(|e| {
            tracing::error!(error = %e, "password hashing failed");
            AppError::internal()
        })
    }

    pub fn with_banned_cache(mut self, cache: Arc<BannedCache>) -> Self {
        self.banned_cache = Some(cache);
        self
    }

    pub fn with_breach_filter(mut self, f: Option<Arc<trustplane_breach::BreachFilter>>) -> Self {
        self.breach = f;
        self
    }

    pub fn with_password_policy(mut self, policy: PasswordPolicy, organisation: &str) -> Self {
        self.password_policy = policy;
        self.organisation = organisation.to_string();
        self
    }

    /// The organisation's custom banned list, as stored now. Compiling it takes about 20 ms
    /// per thousand terms, so it is cached and rebuilt only when the store's revision counter
    /// for the terms moved (one indexed read per check; every instance sees changes at once).
    pub async fn custom_banned(&self) -> Result<Arc<BannedList>, AppError> {
        let rev = self.store.banned_terms_revision().await?;
        if let Some(cache) = &self.banned_cache
            && let Some(list) = cache.get(rev)
        {
            return Ok(list);
        }
        let terms = self.store.list_banned_terms().await?;
        let list =
            BannedList::from_normalized(terms.iter().map(|t| t.term.as_str())).map_err(|e| {
                tracing::error!(error = %e, "a stored banned term is unusable");
                AppError::internal()
            })?;
        let list = Arc::new(list);
        if let Some(cache) = &self.banned_cache {
            // Read the revision before the terms: the cached list is never older than `rev`.
            cache.put(rev, list.clone());
        }
        Ok(list)
    }

    /// Evaluates a candidate password for a user (identified by login, display name and
    /// email, for the personal-information check).
    pub async fn evaluate_password(
        &self,
        login: &str,
        display_name: &str,
        email: Option<&str>,
        password: &str,
    ) -> Result<Verdict, AppError> {
        let custom = self.custom_banned().await?;
        let checker = PasswordChecker {
            policy: &self.password_policy,
            global: global_banned()?,
            custom: &custom,
        };
        let mut names = display_name.split_whitespace();
        let first = names.next();
        let last = names.next_back();
        let org = Some(self.organisation.as_str()).filter(|o| !o.is_empty() && *o != "trustplane");
        let mut verdict = checker.evaluate(
            &UserTerms {
                first_name: first,
                last_name: last,
                display_name: Some(display_name),
                login: Some(login),
                email,
                organisation: org,
            },
            password,
        );
        if let Some(f) = &self.breach
            && f.contains_password(password)
        {
            verdict.refuse(trustplane_core::password::Reason::Breached);
        }
        Ok(verdict)
    }

    /// Refuses the password with every reason unless it passes password protection.
    pub async fn check_new_password(
        &self,
        login: &str,
        display_name: &str,
        email: Option<&str>,
        password: &str,
    ) -> Result<(), AppError> {
        let v = self
            .evaluate_password(login, display_name, email, password)
            .await?;
        if v.accepted {
            Ok(())
        } else {
            Err(password_error(&v))
        }
    }

    /// Adds organisation-specific banned terms (normalised; at least 4 characters each).
    pub async fn add_banned_terms(&self, actor: &Actor, terms: &[String]) -> Result<u64, AppError> {
        let mut pairs = Vec::new();
        for t in terms {
            let display = t.trim();
            if display.is_empty() {
                continue;
            }
            if display.chars().any(char::is_control) || display.chars().count() > 64 {
                return Err(AppError::bad_request(
                    "invalid_term",
                    format!(
                        "`{}` is not a usable term (1 to 64 printable characters).",
                        display.chars().take(64).collect::<String>()
                    ),
                ));
            }
            let norm = normalize_term(display, &self.password_policy.substitutions);
            if norm.chars().count() < trustplane_core::password::banned::MIN_TERM_LEN {
                return Err(AppError::bad_request(
                    "term_too_short",
                    format!(
                        "`{display}` is shorter than 4 characters; short terms would refuse too much."
                    ),
                ));
            }
            pairs.push((norm, display.to_string()));
        }
        if pairs.is_empty() {
            return Err(AppError::bad_request("no_terms", "No terms given."));
        }
        let audit = AuditDraft::new(actor, "password.banned_terms.add", "banned_terms", None)
            .after(&pairs.iter().map(|(_, d)| d.as_str()).collect::<Vec<_>>());
        Ok(self
            .store
            .add_banned_terms(&pairs, &actor.id, audit)
            .await?)
    }

    pub async fn remove_banned_term(&self, actor: &Actor, term: &str) -> Result<bool, AppError> {
        let norm = normalize_term(term, &self.password_policy.substitutions);
        let audit = AuditDraft::new(
            actor,
            "password.banned_terms.remove",
            "banned_terms",
            Some(norm.clone()),
        )
        .before(&term);
        Ok(self.store.remove_banned_term(&norm, audit).await?)
    }

    pub async fn create_user(&self, actor: &Actor, input: NewUser) -> Result<User, AppError> {
        let username = validate_username(&input.username)?;
        let display_name = match input.display_name.as_deref().map(str::trim) {
            Some(d) if !d.is_empty() => validate_name("display_name", d)?,
            _ => username.clone(),
        };
        let email = match input.email.as_deref().map(str::trim) {
            Some(e) if !e.is_empty() => Some(validate_email(e)?),
            _ => None,
        };
        let hash = match &input.password {
            Some(pw) => {
                self.check_new_password(&username, &display_name, email.as_deref(), pw)
                    .await?;
                Some(self.hash(pw).await?)
            }
            None => None,
        };
        let now = self.now();
        let user = User {
            id: Uuid::now_v7(),
            username,
            display_name,
            email,
            status: UserStatus::Enabled,
            created_at: now,
            updated_at: now,
        };
        let audit = AuditDraft::new(actor, "user.create", "user", Some(user.id.to_string())).after(
            &serde_json::json!({
                "user": user_audit(&user),
                "roles": input.roles,
                "password_set": hash.is_some(),
            }),
        );
        self.store
            .create_user(&user, hash.as_deref(), &input.roles, audit)
            .await?;
        Ok(user)
    }

    /// Refuses (403) an administrator with `roles` acting with permission `p` on the
    /// credentials or sessions of user `target` when the one rule,
    /// [`RoleSet::may_act_on`], does not allow it. The API and the console both ask here.
    pub async fn ensure_may_act(
        &self,
        roles: &RoleSet,
        p: Permission,
        target: Uuid,
    ) -> Result<(), AppError> {
        if !roles.allows(p) {
            return Err(AppError::forbidden(format!(
                "This needs the `{}` permission, which your roles do not grant.",
                permission_name(p)
            )));
        }
        let target_roles = RoleSet(self.store.roles_of(target).await?);
        if roles.may_act_on(p, &target_roles) {
            Ok(())
        } else {
            Err(AppError::forbidden(
                "Your role may act only on users without an administrator role and on helpdesk administrators; a global administrator may act on anyone.",
            ))
        }
    }

    pub async fn user(&self, id: Uuid) -> Result<User, AppError> {
        self.store
            .get_user(id)
            .await?
            .ok_or_else(|| AppError::not_found("user"))
    }

    pub async fn user_by_name(&self, username: &str) -> Result<User, AppError> {
        self.store
            .find_user(username)
            .await?
            .ok_or_else(|| AppError::not_found("user"))
    }

    /// Updates display name, email and status. Disabling revokes every session.
    pub async fn update_user(
        &self,
        actor: &Actor,
        id: Uuid,
        display_name: Option<String>,
        email: Option<Option<String>>,
        status: Option<UserStatus>,
    ) -> Result<User, AppError> {
        let before = self.user(id).await?;
        let mut after = before.clone();
        if let Some(d) = display_name {
            after.display_name = validate_name("display_name", &d)?;
        }
        if let Some(e) = email {
            after.email = match e.as_deref().map(str::trim) {
                Some(e) if !e.is_empty() => Some(validate_email(e)?),
                _ => None,
            };
        }
        if let Some(s) = status {
            if s == UserStatus::Disabled && before.status == UserStatus::Enabled {
                self.ensure_not_last_global_admin(id, "disable").await?;
            }
            after.status = s;
        }
        after.updated_at = self.now();
        let action = match (before.status, after.status) {
            (UserStatus::Enabled, UserStatus::Disabled) => "user.disable",
            (UserStatus::Disabled, UserStatus::Enabled) => "user.enable",
            _ => "user.update",
        };
        let audit = AuditDraft::new(actor, action, "user", Some(id.to_string()))
            .before(&user_audit(&before))
            .after(&user_audit(&after));
        self.store.update_user(&after, audit).await?;
        if after.status == UserStatus::Disabled {
            self.store
                .revoke_user_sessions(id, after.updated_at, None)
                .await?;
        }
        Ok(after)
    }

    pub async fn delete_user(&self, actor: &Actor, id: Uuid) -> Result<(), AppError> {
        let before = self.user(id).await?;
        self.ensure_not_last_global_admin(id, "delete").await?;
        let audit = AuditDraft::new(actor, "user.delete", "user", Some(id.to_string()))
            .before(&user_audit(&before));
        self.store.delete_user(id, audit).await?;
        Ok(())
    }

    /// Sets a password (admin reset or CLI); with `must_change` the user has to choose a new
    /// one at their next sign-in. All of the user's sessions are revoked in the same
    /// transaction.
    pub async fn set_password(
        &self,
        actor: &Actor,
        id: Uuid,
        password: &str,
        must_change: bool,
    ) -> Result<(), AppError> {
        let user = self.user(id).await?;
        self.check_new_password(
            &user.username,
            &user.display_name,
            user.email.as_deref(),
            password,
        )
        .await?;
        let h = self.hash(password).await?;
        let now = self.now();
        let audit = AuditDraft::new(actor, "user.password.set", "user", Some(id.to_string()))
            .after(&serde_json::json!({
                "username": user.username,
                "sessions_revoked": true,
                "must_change": must_change,
            }));
        self.store
            .set_password_hash(id, &h, must_change, Some(now), Some(audit))
            .await?;
        Ok(())
    }

    /// Sets a generated temporary password (100 random bits, shown once to the administrator)
    /// that the user must change at their next sign-in; every session of the user is revoked.
    pub async fn temporary_password(&self, actor: &Actor, id: Uuid) -> Result<String, AppError> {
        use rand::RngCore;
        let mut raw = [0u8; 25];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let b32 = trustplane_core::mfa::base32(&raw).to_ascii_lowercase();
        let password = format!(
            "{}-{}-{}-{}-{}",
            &b32[0..4],
            &b32[4..8],
            &b32[8..12],
            &b32[12..16],
            &b32[16..20]
        );
        self.set_password(actor, id, &password, true).await?;
        Ok(password)
    }

    /// The authentication methods policy in force (the default until an administrator saves
    /// one). A stored policy that no longer parses is an error, never a silent default.
    pub async fn methods_policy(&self) -> Result<MethodsPolicy, AppError> {
        match self.store.get_setting(METHODS_POLICY).await? {
            None => Ok(MethodsPolicy::default()),
            Some(json) => serde_json::from_str(&json).map_err(|e| {
                tracing::error!(error = %e, "the stored authentication methods policy is unreadable");
                AppError::internal()
            }),
        }
    }

    /// Validates and saves the authentication methods policy (audited with before and after).
    pub async fn set_methods_policy(
        &self,
        actor: &Actor,
        policy: &MethodsPolicy,
    ) -> Result<(), AppError> {
        policy
            .validate()
            .map_err(|e| AppError::bad_request("invalid_policy", e.to_string()))?;
        for t in [
            &policy.totp.users,
            &policy.recovery_codes.users,
            &policy.temporary_access_pass.users,
            &policy.require_mfa,
            &policy.registration.users,
        ] {
            if let Targets::Groups { groups } = t {
                for g in groups {
                    if self.store.get_group(*g).await?.is_none() {
                        return Err(AppError::bad_request(
                            "unknown_group",
                            format!("No group with id {g}."),
                        ));
                    }
                }
            }
        }
        let before = self.methods_policy().await?;
        let json = serde_json::to_string(policy).map_err(|_| AppError::internal())?;
        let audit = AuditDraft::new(
            actor,
            "policy.auth_methods.update",
            "policy",
            Some(METHODS_POLICY.into()),
        )
        .before(&before)
        .after(policy);
        self.store.put_setting(METHODS_POLICY, &json, audit).await?;
        Ok(())
    }

    /// Issues a Temporary Access Pass (replacing the user's earlier one); returns it with the
    /// pass, which is shown once and stored only as its SHA-256.
    pub async fn issue_tap(
        &self,
        actor: &Actor,
        user_id: Uuid,
        lifetime: time::Duration,
        one_time: bool,
    ) -> Result<(TemporaryAccessPass, String), AppError> {
        use rand::RngCore;
        let user = self.user(user_id).await?;
        let lifetime = tap::check_lifetime(lifetime)
            .map_err(|e| AppError::bad_request("invalid_lifetime", e.to_string()))?;
        let groups: Vec<Uuid> = self
            .store
            .groups_of(user_id)
            .await?
            .into_iter()
            .map(|g| g.id)
            .collect();
        if !self.methods_policy().await?.tap_allowed(&groups) {
            return Err(AppError::bad_request(
                "method_not_allowed",
                "The authentication methods policy does not allow a Temporary Access Pass for this user.",
            ));
        }
        let mut raw = [0u8; tap::PASS_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let pass = tap::format_pass(&raw);
        let canonical = tap::normalize_pass(&pass).ok_or_else(AppError::internal)?;
        let now = self.now();
        let t = TemporaryAccessPass {
            id: Uuid::now_v7(),
            user_id,
            one_time,
            created_at: now,
            expires_at: now + lifetime,
            created_by: actor.id.clone(),
            used_at: None,
        };
        let audit = AuditDraft::new(actor, "tap.issue", "user", Some(user_id.to_string())).after(
            &serde_json::json!({
                "username": user.username,
                "expires_at": t.expires_at.unix_timestamp(),
                "one_time": one_time,
            }),
        );
        self.store
            .issue_tap(&t, &secret_digest(&canonical), audit)
            .await?;
        Ok((t, pass))
    }

    pub async fn revoke_tap(&self, actor: &Actor, user_id: Uuid) -> Result<bool, AppError> {
        let audit = AuditDraft::new(actor, "tap.revoke", "user", Some(user_id.to_string()));
        Ok(self.store.revoke_tap(user_id, audit).await?)
    }

    /// Removes one of a user's second factors (audited); with none left, their recovery codes
    /// go too. `NotFound` when the method is not this user's.
    pub async fn remove_mfa_method(
        &self,
        actor: &Actor,
        user_id: Uuid,
        method_id: Uuid,
    ) -> Result<(), AppError> {
        let Some(m) = self
            .store
            .list_mfa_methods(user_id)
            .await?
            .into_iter()
            .find(|m| m.id == method_id)
        else {
            return Err(AppError::not_found("method"));
        };
        let audit = AuditDraft::new(
            actor,
            "mfa.method.remove",
            "user",
            Some(user_id.to_string()),
        )
        .before(&serde_json::json!({ "method": m.id, "kind": m.kind.as_str(), "label": m.label }));
        self.store.remove_mfa_method(method_id, audit).await?;
        if self.store.list_mfa_methods(user_id).await?.is_empty()
            && self.store.unused_recovery_codes(user_id).await? > 0
        {
            let audit = AuditDraft::new(
                actor,
                "mfa.recovery_codes.delete",
                "user",
                Some(user_id.to_string()),
            );
            self.store
                .replace_recovery_codes(user_id, &[], self.now(), audit)
                .await?;
        }
        Ok(())
    }

    /// "Require re-registration of MFA": removes every second factor and recovery code of the
    /// user, signs them out everywhere, and makes their next sign-in register a method (no
    /// postponing). Returns how many methods were removed.
    pub async fn require_reregistration(
        &self,
        actor: &Actor,
        user_id: Uuid,
    ) -> Result<u64, AppError> {
        let audit = AuditDraft::new(
            actor,
            "mfa.reregistration.require",
            "user",
            Some(user_id.to_string()),
        );
        match self
            .store
            .require_reregistration(user_id, self.now(), audit)
            .await
        {
            Ok(n) => Ok(n),
            Err(trustplane_store::StoreError::NotFound(_)) => Err(AppError::not_found("user")),
            Err(e) => Err(e.into()),
        }
    }

    async fn ensure_not_last_global_admin(&self, id: Uuid, verb: &str) -> Result<(), AppError> {
        let holders = self.store.role_holders(Role::GlobalAdministrator).await?;
        let enabled: Vec<&User> = holders.iter().filter(|u| u.is_enabled()).collect();
        if enabled.len() == 1 && enabled[0].id == id {
            return Err(AppError::new(
                StatusCode::CONFLICT,
                "last_global_administrator",
                format!("Refusing to {verb} the last enabled global administrator."),
            ));
        }
        Ok(())
    }

    pub async fn assign_role(&self, actor: &Actor, id: Uuid, role: Role) -> Result<bool, AppError> {
        let user = self.user(id).await?;
        let audit = AuditDraft::new(actor, "role.assign", "user", Some(id.to_string()))
            .after(&serde_json::json!({"username": user.username, "role": role}));
        Ok(self.store.assign_role(id, role, audit).await?)
    }

    pub async fn unassign_role(
        &self,
        actor: &Actor,
        id: Uuid,
        role: Role,
    ) -> Result<bool, AppError> {
        let user = self.user(id).await?;
        if role == Role::GlobalAdministrator {
            self.ensure_not_last_global_admin(id, "remove the role of")
                .await?;
        }
        let audit = AuditDraft::new(actor, "role.unassign", "user", Some(id.to_string()))
            .before(&serde_json::json!({"username": user.username, "role": role}));
        Ok(self.store.unassign_role(id, role, audit).await?)
    }

    pub async fn create_group(
        &self,
        actor: &Actor,
        name: &str,
        description: &str,
    ) -> Result<Group, AppError> {
        let group = Group {
            id: Uuid::now_v7(),
            name: validate_name("name", name)?,
            description: description.trim().chars().take(1000).collect(),
            created_at: self.now(),
        };
        let audit = AuditDraft::new(actor, "group.create", "group", Some(group.id.to_string()))
            .after(&group);
        self.store.create_group(&group, audit).await?;
        Ok(group)
    }

    pub async fn group(&self, id: Uuid) -> Result<Group, AppError> {
        self.store
            .get_group(id)
            .await?
            .ok_or_else(|| AppError::not_found("group"))
    }

    pub async fn delete_group(&self, actor: &Actor, id: Uuid) -> Result<(), AppError> {
        let g = self.group(id).await?;
        let audit =
            AuditDraft::new(actor, "group.delete", "group", Some(id.to_string())).before(&g);
        Ok(self.store.delete_group(id, audit).await?)
    }

    pub async fn add_member(
        &self,
        actor: &Actor,
        group_id: Uuid,
        user_id: Uuid,
    ) -> Result<bool, AppError> {
        let g = self.group(group_id).await?;
        let u = self.user(user_id).await?;
        let audit = AuditDraft::new(actor, "group.member.add", "group", Some(g.id.to_string()))
            .after(&serde_json::json!({"group": g.name, "user": u.username, "user_id": u.id}));
        Ok(self.store.add_member(group_id, user_id, audit).await?)
    }

    pub async fn remove_member(
        &self,
        actor: &Actor,
        group_id: Uuid,
        user_id: Uuid,
    ) -> Result<bool, AppError> {
        let g = self.group(group_id).await?;
        let u = self.user(user_id).await?;
        let audit = AuditDraft::new(
            actor,
            "group.member.remove",
            "group",
            Some(g.id.to_string()),
        )
        .before(&serde_json::json!({"group": g.name, "user": u.username, "user_id": u.id}));
        Ok(self.store.remove_member(group_id, user_id, audit).await?)
    }

    /// Creates an API token; returns it with the secret, which is shown once and never stored.
    pub async fn create_token(
        &self,
        actor: &Actor,
        name: &str,
        role: Role,
        lifetime: time::Duration,
    ) -> Result<(ApiToken, String), AppError> {
        if lifetime <= time::Duration::ZERO || lifetime > time::Duration::days(366) {
            return Err(AppError::bad_request(
                "invalid_expiry",
                "Token lifetime must be between 1 minute and 366 days.",
            ));
        }
        let now = self.now();
        let token = ApiToken {
            id: Uuid::now_v7(),
            name: validate_name("name", name)?,
            role,
            created_at: now,
            expires_at: now + lifetime,
            created_by: actor.id.clone(),
            last_used_at: None,
            revoked_at: None,
        };
        let secret = format!("tpat_{}", random_token());
        let audit = AuditDraft::new(
            actor,
            "token.create",
            "api_token",
            Some(token.id.to_string()),
        )
        .after(&token);
        self.store
            .create_api_token(&token, &secret_digest(&secret), audit)
            .await?;
        Ok((token, secret))
    }

    pub async fn revoke_token(&self, actor: &Actor, id: Uuid) -> Result<bool, AppError> {
        let audit = AuditDraft::new(actor, "token.revoke", "api_token", Some(id.to_string()));
        Ok(self.store.revoke_api_token(id, self.now(), audit).await?)
    }

    pub async fn revoke_session(&self, actor: &Actor, session_id: Uuid) -> Result<bool, AppError> {
        let audit = AuditDraft::new(
            actor,
            "session.revoke",
            "session",
            Some(session_id.to_string()),
        );
        Ok(self
            .store
            .revoke_session(session_id, self.now(), Some(audit))
            .await?)
    }
}

/// Parses a lifetime like `90d`, `12h`, `30m`.
pub fn parse_lifetime(s: &str) -> Result<time::Duration, AppError> {
    let s = s.trim();
    let bad = || {
        AppError::bad_request(
            "invalid_expiry",
            format!("`{s}` is not a lifetime: use a number with d, h or m (e.g. 90d)"),
        )
    };
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = num.parse().map_err(|_| bad())?;
    if n <= 0 {
        return Err(bad());
    }
    let lifetime = match unit {
        "d" => crate::platform::durations::days(n),
        "h" => crate::platform::durations::hours(n),
        "m" => crate::platform::durations::minutes(n),
        _ => return Err(bad()),
    };
    lifetime.ok_or_else(|| {
        AppError::bad_request(
            "invalid_expiry",
            format!("`{s}` is too long a lifetime (at most 366 days)"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_parse() {
        assert_eq!(parse_lifetime("90d").unwrap(), time::Duration::days(90));
        assert_eq!(parse_lifetime("12h").unwrap(), time::Duration::hours(12));
        for bad in [
            "",
            "d",
            "0d",
            "-1d",
            "5y",
            "abc",
            "9999999999999999d",
            "9223372036854775807m",
        ] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
    }
}
