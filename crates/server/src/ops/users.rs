//! User operations: create, read, update, delete, roles; never remove the last global
//! administrator.

use crate::edge::error::AppError;
use crate::ops::Ops;
use crate::ops::permission_name;
use axum::http::StatusCode;
use serde::Serialize;
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_core::identity::{
    Permission, Role, RoleSet, User, UserStatus, validate_email, validate_name, validate_username,
};
use uuid::Uuid;

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
pub(super) struct UserAudit<'a> {
    pub(super) username: &'a str,
    pub(super) display_name: &'a str,
    pub(super) email: &'a Option<String>,
    pub(super) status: UserStatus,
}

pub(super) fn user_audit(u: &User) -> UserAudit<'_> {
    UserAudit {
        username: &u.username,
        display_name: &u.display_name,
        email: &u.email,
        status: u.status,
    }
}

impl Ops {
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

    pub(crate) async fn ensure_not_last_global_admin(
        &self,
        id: Uuid,
        verb: &str,
    ) -> Result<(), AppError> {
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
}
