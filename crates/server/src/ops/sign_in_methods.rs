//! Sign-in method operations: the authentication methods policy, Temporary Access Passes,
//! removing a user's method, requiring re-registration.

use crate::edge::error::AppError;
use crate::ops::METHODS_POLICY;
use crate::ops::Ops;
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_core::credential::secret_digest;
use trustplane_core::mfa::policy::{MethodsPolicy, Targets};
use trustplane_core::mfa::tap::{self, TemporaryAccessPass};
use uuid::Uuid;

impl Ops {
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
        let groups: Vec<Uuid> = self.store.group_ids_of(user_id).await?;
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
}
