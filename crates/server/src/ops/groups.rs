//! Group operations: create, read, delete, membership.

use crate::edge::error::AppError;
use crate::ops::Ops;
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_core::identity::{Group, validate_name};
use uuid::Uuid;

impl Ops {
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
}
