//! Users, groups, roles and the bootstrap token ([`IdentityStore`]).

use super::query::{has_nul, like_pattern, now_ms, prefixed, safe};
use super::{SqlStore, append_in, audited_change, commit_if_changed, conflict, db};
use crate::changes::Change;
use crate::rows::{GROUP_COLS, GroupRow, LoginRow, USER_COLS, UserRow, convert, ms, role};
use crate::{IdentityStore, LoginRecord, Result, StoreError, UserQuery};
use async_trait::async_trait;
use sqlx::AnyConnection;
use time::OffsetDateTime;
use trustplane_core::audit::AuditDraft;
use trustplane_core::identity::{Group, Role, User, fold_name};
use uuid::Uuid;

async fn insert_user(
    conn: &mut AnyConnection,
    user: &User,
    password_hash: Option<&str>,
    roles: &[Role],
) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, username, username_folded, display_name, email, status, \
         password_hash, password_must_change, created_at, updated_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,0,$8,$9)",
    )
    .bind(user.id.to_string())
    .bind(&user.username)
    .bind(fold_name(&user.username))
    .bind(&user.display_name)
    .bind(&user.email)
    .bind(user.status.as_str())
    .bind(password_hash)
    .bind(ms(user.created_at))
    .bind(ms(user.updated_at))
    .execute(&mut *conn)
    .await
    .map_err(conflict("a user with this login name"))?;
    for role in roles {
        sqlx::query("INSERT INTO role_assignments (user_id, role, assigned_at) VALUES ($1,$2,$3)")
            .bind(user.id.to_string())
            .bind(role.as_str())
            .bind(ms(user.created_at))
            .execute(&mut *conn)
            .await
            .map_err(db)?;
    }
    Ok(())
}

impl SqlStore {
    async fn fetch_users(&self, sql: String, bind: &str) -> Result<Vec<User>> {
        let rows: Vec<UserRow> = sqlx::query_as(safe(sql))
            .bind(bind)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        convert(rows)
    }
}

#[async_trait]
impl IdentityStore for SqlStore {
    async fn create_user(
        &self,
        user: &User,
        password_hash: Option<&str>,
        roles: &[Role],
        audit: AuditDraft,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        insert_user(&mut tx, user, password_hash, roles).await?;
        append_in(&self.audit, &mut tx, &audit).await?;
        tx.commit().await
    }

    async fn get_user(&self, id: Uuid) -> Result<Option<User>> {
        let row: Option<UserRow> =
            sqlx::query_as(safe(format!("SELECT {USER_COLS} FROM users WHERE id = $1")))
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
        row.map(User::try_from).transpose()
    }

    async fn find_user(&self, username: &str) -> Result<Option<User>> {
        if has_nul(username) {
            return Ok(None);
        }
        let row: Option<UserRow> = sqlx::query_as(safe(format!(
            "SELECT {USER_COLS} FROM users WHERE username_folded = $1"
        )))
        .bind(fold_name(username))
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(User::try_from).transpose()
    }

    async fn login_record(&self, username: &str) -> Result<Option<LoginRecord>> {
        if has_nul(username) {
            return Ok(None);
        }
        let row: Option<LoginRow> = sqlx::query_as(safe(format!(
            "SELECT {USER_COLS}, password_hash, password_must_change FROM users \
             WHERE username_folded = $1"
        )))
        .bind(fold_name(username))
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| {
            Ok(LoginRecord {
                user: User::try_from(r.user)?,
                password_hash: r.password_hash,
                password_must_change: r.password_must_change != 0,
            })
        })
        .transpose()
    }

    async fn list_users(&self, q: &UserQuery) -> Result<Vec<User>> {
        let limit = q.limit.clamp(1, 1000);
        let rows: Vec<UserRow> = match &q.search {
            Some(s) if !s.trim().is_empty() => sqlx::query_as(safe(format!(
                "SELECT {USER_COLS} FROM users WHERE username_folded LIKE $1 ESCAPE '\\' \
                 OR lower(display_name) LIKE lower($2) ESCAPE '\\' \
                 OR lower(email) LIKE lower($2) ESCAPE '\\' \
                 ORDER BY username_folded LIMIT $3 OFFSET $4"
            )))
            .bind(like_pattern(&fold_name(s)))
            .bind(like_pattern(s.trim()))
            .bind(limit)
            .bind(q.offset.max(0))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?,
            _ => sqlx::query_as(safe(format!(
                "SELECT {USER_COLS} FROM users ORDER BY username_folded LIMIT $1 OFFSET $2"
            )))
            .bind(limit)
            .bind(q.offset.max(0))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?,
        };
        convert(rows)
    }

    async fn count_users(&self) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        Ok(n)
    }

    async fn update_user(&self, user: &User, audit: AuditDraft) -> Result<()> {
        let changed: Result<bool> = audited_change!(
            self,
            audit,
            sqlx::query(
                "UPDATE users SET display_name = $1, email = $2, status = $3, updated_at = $4 \
                 WHERE id = $5"
            )
            .bind(&user.display_name)
            .bind(&user.email)
            .bind(user.status.as_str())
            .bind(ms(user.updated_at))
            .bind(user.id.to_string())
        );
        if changed? {
            Ok(())
        } else {
            Err(StoreError::NotFound("user"))
        }
    }

    async fn delete_user(&self, id: Uuid, audit: AuditDraft) -> Result<()> {
        let changed: Result<bool> = audited_change!(
            self,
            audit,
            sqlx::query("DELETE FROM users WHERE id = $1").bind(id.to_string())
        );
        if changed? {
            Ok(())
        } else {
            Err(StoreError::NotFound("user"))
        }
    }

    async fn set_password_hash(
        &self,
        user_id: Uuid,
        hash: &str,
        must_change: bool,
        revoke_sessions_at: Option<OffsetDateTime>,
        audit: Option<AuditDraft>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE users SET password_hash = $1, password_must_change = $2, updated_at = $3 \
             WHERE id = $4",
        )
        .bind(hash)
        .bind(i64::from(must_change))
        .bind(now_ms())
        .bind(user_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("user"));
        }
        if let Some(at) = revoke_sessions_at {
            sqlx::query(
                "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
            )
            .bind(ms(at))
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        if let Some(a) = audit {
            // A real change (not the silent re-hash) replaces a leaked password: the
            // leaked-credentials detections it raised are remediated in the same transaction.
            crate::risk::remediate_leaked_in(&mut tx, user_id, OffsetDateTime::now_utc()).await?;
            append_in(&self.audit, &mut tx, &a).await?;
            tx.announce(Change::User(user_id)).await?;
        } else if revoke_sessions_at.is_some() {
            tx.announce(Change::User(user_id)).await?;
        }
        tx.commit().await
    }

    async fn create_group(&self, group: &Group, audit: AuditDraft) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO user_groups (id, name, name_folded, description, created_at) \
             VALUES ($1,$2,$3,$4,$5)",
        )
        .bind(group.id.to_string())
        .bind(&group.name)
        .bind(fold_name(&group.name))
        .bind(&group.description)
        .bind(ms(group.created_at))
        .execute(&mut *tx)
        .await
        .map_err(conflict("a group with this name"))?;
        append_in(&self.audit, &mut tx, &audit).await?;
        tx.commit().await
    }

    async fn get_group(&self, id: Uuid) -> Result<Option<Group>> {
        let row: Option<GroupRow> = sqlx::query_as(safe(format!(
            "SELECT {GROUP_COLS} FROM user_groups WHERE id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(Group::try_from).transpose()
    }

    async fn find_group(&self, name: &str) -> Result<Option<Group>> {
        if has_nul(name) {
            return Ok(None);
        }
        let row: Option<GroupRow> = sqlx::query_as(safe(format!(
            "SELECT {GROUP_COLS} FROM user_groups WHERE name_folded = $1"
        )))
        .bind(fold_name(name))
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(Group::try_from).transpose()
    }

    async fn list_groups(&self) -> Result<Vec<Group>> {
        let rows: Vec<GroupRow> = sqlx::query_as(safe(format!(
            "SELECT {GROUP_COLS} FROM user_groups ORDER BY name_folded"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        convert(rows)
    }

    async fn delete_group(&self, id: Uuid, audit: AuditDraft) -> Result<()> {
        let changed: Result<bool> = audited_change!(
            self,
            audit,
            sqlx::query("DELETE FROM user_groups WHERE id = $1").bind(id.to_string())
        );
        if changed? {
            Ok(())
        } else {
            Err(StoreError::NotFound("group"))
        }
    }

    async fn add_member(&self, group_id: Uuid, user_id: Uuid, audit: AuditDraft) -> Result<bool> {
        audited_change!(
            self,
            audit,
            Change::User(user_id),
            sqlx::query(
                "INSERT INTO group_members (group_id, user_id, added_at) VALUES ($1,$2,$3) \
                 ON CONFLICT (group_id, user_id) DO NOTHING"
            )
            .bind(group_id.to_string())
            .bind(user_id.to_string())
            .bind(now_ms())
        )
    }

    async fn remove_member(
        &self,
        group_id: Uuid,
        user_id: Uuid,
        audit: AuditDraft,
    ) -> Result<bool> {
        audited_change!(
            self,
            audit,
            Change::User(user_id),
            sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                .bind(group_id.to_string())
                .bind(user_id.to_string())
        )
    }

    async fn group_members(&self, group_id: Uuid) -> Result<Vec<User>> {
        self.fetch_users(
            format!(
                "SELECT {} FROM users u JOIN group_members m ON m.user_id = u.id \
                 WHERE m.group_id = $1 ORDER BY u.username_folded",
                prefixed(USER_COLS, "u")
            ),
            &group_id.to_string(),
        )
        .await
    }

    async fn groups_of(&self, user_id: Uuid) -> Result<Vec<Group>> {
        let rows: Vec<GroupRow> = sqlx::query_as(safe(format!(
            "SELECT {} FROM user_groups g JOIN group_members m ON m.group_id = g.id \
             WHERE m.user_id = $1 ORDER BY g.name_folded",
            prefixed(GROUP_COLS, "g")
        )))
        .bind(user_id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        convert(rows)
    }

    async fn assign_role(&self, user_id: Uuid, role: Role, audit: AuditDraft) -> Result<bool> {
        audited_change!(
            self,
            audit,
            sqlx::query(
                "INSERT INTO role_assignments (user_id, role, assigned_at) VALUES ($1,$2,$3) \
                 ON CONFLICT (user_id, role) DO NOTHING"
            )
            .bind(user_id.to_string())
            .bind(role.as_str())
            .bind(now_ms())
        )
    }

    async fn unassign_role(&self, user_id: Uuid, role: Role, audit: AuditDraft) -> Result<bool> {
        audited_change!(
            self,
            audit,
            sqlx::query("DELETE FROM role_assignments WHERE user_id = $1 AND role = $2")
                .bind(user_id.to_string())
                .bind(role.as_str())
        )
    }

    async fn roles_of(&self, user_id: Uuid) -> Result<Vec<Role>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT role FROM role_assignments WHERE user_id = $1 ORDER BY role")
                .bind(user_id.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
        rows.iter().map(|(r,)| role(r)).collect()
    }

    async fn role_holders(&self, r: Role) -> Result<Vec<User>> {
        self.fetch_users(
            format!(
                "SELECT {} FROM users u JOIN role_assignments a ON a.user_id = u.id \
                 WHERE a.role = $1 ORDER BY u.username_folded",
                prefixed(USER_COLS, "u")
            ),
            r.as_str(),
        )
        .await
    }

    async fn set_bootstrap_token(
        &self,
        secret_hash: &str,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM bootstrap_tokens")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("INSERT INTO bootstrap_tokens (secret_hash, expires_at) VALUES ($1, $2)")
            .bind(secret_hash)
            .bind(ms(expires_at))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await
    }

    async fn bootstrap_token_valid(&self, secret_hash: &str, now: OffsetDateTime) -> Result<bool> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT expires_at FROM bootstrap_tokens WHERE secret_hash = $1 AND expires_at > $2",
        )
        .bind(secret_hash)
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        Ok(row.is_some())
    }

    async fn bootstrap_admin(
        &self,
        secret_hash: &str,
        now: OffsetDateTime,
        user: &User,
        password_hash: &str,
        audit: AuditDraft,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let n =
            sqlx::query("DELETE FROM bootstrap_tokens WHERE secret_hash = $1 AND expires_at > $2")
                .bind(secret_hash)
                .bind(ms(now))
                .execute(&mut *tx)
                .await
                .map_err(db)?
                .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("bootstrap token"));
        }
        insert_user(
            &mut tx,
            user,
            Some(password_hash),
            &[Role::GlobalAdministrator],
        )
        .await?;
        append_in(&self.audit, &mut tx, &audit).await?;
        tx.commit().await
    }
}
