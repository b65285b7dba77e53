//! Sessions and API tokens ([`SessionStore`]).

use super::query::{Where, prefixed, safe};
use super::{SqlStore, append_in, audited_change, commit_if_changed, conflict, db};
use crate::changes::Change;
use crate::rows::{
    SESSION_COLS, SessionRow, SessionUserRow, TOKEN_COLS, TokenRow, USER_COLS, convert, ms,
};
use crate::{Result, SessionStore, SessionWithUser, StoreError};
use async_trait::async_trait;
use time::OffsetDateTime;
use trustplane_core::audit::AuditDraft;
use trustplane_core::identity::User;
use trustplane_core::session::{ApiToken, Session};
use uuid::Uuid;

#[async_trait]
impl SessionStore for SqlStore {
    async fn create_session(&self, s: &Session, secret_hash: &str) -> Result<()> {
        let methods =
            serde_json::to_string(&s.methods).map_err(|e| StoreError::Database(e.to_string()))?;
        sqlx::query(
            "INSERT INTO sessions (id, secret_hash, user_id, created_at, last_seen_at, \
             idle_expires_at, absolute_expires_at, revoked_at, ip, user_agent, methods) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,NULL,$8,$9,$10)",
        )
        .bind(s.id.to_string())
        .bind(secret_hash)
        .bind(s.user_id.to_string())
        .bind(ms(s.created_at))
        .bind(ms(s.last_seen_at))
        .bind(ms(s.idle_expires_at))
        .bind(ms(s.absolute_expires_at))
        .bind(&s.ip)
        .bind(&s.user_agent)
        .bind(methods)
        .execute(&self.pool)
        .await
        .map_err(conflict("session"))?;
        Ok(())
    }

    async fn session_by_secret(&self, secret_hash: &str) -> Result<Option<SessionWithUser>> {
        let row: Option<SessionUserRow> = sqlx::query_as(safe(format!(
            "SELECT {SESSION_COLS}, {} FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.secret_hash = $1",
            prefixed(USER_COLS, "u")
        )))
        .bind(secret_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| {
            Ok(SessionWithUser {
                session: Session::try_from(r.session)?,
                user: User::try_from(r.user)?,
            })
        })
        .transpose()
    }

    async fn get_session(&self, id: Uuid) -> Result<Option<Session>> {
        let row: Option<SessionRow> = sqlx::query_as(safe(format!(
            "SELECT {SESSION_COLS} FROM sessions s WHERE s.id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(Session::try_from).transpose()
    }

    async fn touch_session(
        &self,
        id: Uuid,
        last_seen: OffsetDateTime,
        idle_expires: OffsetDateTime,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE sessions SET last_seen_at = $1, idle_expires_at = $2 \
             WHERE id = $3 AND revoked_at IS NULL",
        )
        .bind(ms(last_seen))
        .bind(ms(idle_expires))
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn step_up_session(
        &self,
        id: Uuid,
        methods: &[trustplane_core::authn::MethodUse],
        audit: AuditDraft,
    ) -> Result<bool> {
        let methods =
            serde_json::to_string(methods).map_err(|e| StoreError::Database(e.to_string()))?;
        audited_change!(
            self,
            audit,
            sqlx::query("UPDATE sessions SET methods = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(methods)
                .bind(id.to_string())
        )
    }

    async fn revoke_session(
        &self,
        id: Uuid,
        at: OffsetDateTime,
        audit: Option<AuditDraft>,
    ) -> Result<bool> {
        let q =
            sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(ms(at))
                .bind(id.to_string());
        // Announced also when nothing changed: the caller may hold a stale view of it.
        let mut tx = self.begin_write().await?;
        let n = q.execute(&mut *tx).await.map_err(db)?.rows_affected();
        if n > 0
            && let Some(a) = audit
        {
            append_in(&self.audit, &mut tx, &a).await?;
        }
        tx.announce(Change::Session(id)).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        at: OffsetDateTime,
        audit: Option<AuditDraft>,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(ms(at))
        .bind(user_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if let Some(a) = audit {
            append_in(&self.audit, &mut tx, &a).await?;
        }
        tx.announce(Change::User(user_id)).await?;
        tx.commit().await?;
        Ok(n)
    }

    async fn list_sessions(
        &self,
        user_id: Option<Uuid>,
        active_at: Option<OffsetDateTime>,
        limit: i64,
    ) -> Result<Vec<Session>> {
        let mut w = Where::default();
        if let Some(u) = user_id {
            w.push("s.user_id = ?", u.to_string());
        }
        if let Some(t) = active_at {
            w.clause("s.revoked_at IS NULL");
            w.push_i("s.idle_expires_at > ?", ms(t));
            w.push_i("s.absolute_expires_at > ?", ms(t));
        }
        let sql = format!(
            "SELECT {SESSION_COLS} FROM sessions s{} ORDER BY s.created_at DESC LIMIT {}",
            w.sql(),
            limit.clamp(1, 1000)
        );
        let rows: Vec<SessionRow> = w.fetch_all(sql, &self.pool).await?;
        convert(rows)
    }

    async fn create_api_token(
        &self,
        t: &ApiToken,
        secret_hash: &str,
        audit: AuditDraft,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, name, role, secret_hash, created_at, expires_at, \
             created_by, last_used_at, revoked_at) VALUES ($1,$2,$3,$4,$5,$6,$7,NULL,NULL)",
        )
        .bind(t.id.to_string())
        .bind(&t.name)
        .bind(t.role.as_str())
        .bind(secret_hash)
        .bind(ms(t.created_at))
        .bind(ms(t.expires_at))
        .bind(&t.created_by)
        .execute(&mut *tx)
        .await
        .map_err(conflict("API token"))?;
        append_in(&self.audit, &mut tx, &audit).await?;
        tx.commit().await
    }

    async fn api_token_by_secret(&self, secret_hash: &str) -> Result<Option<ApiToken>> {
        let row: Option<TokenRow> = sqlx::query_as(safe(format!(
            "SELECT {TOKEN_COLS} FROM api_tokens WHERE secret_hash = $1"
        )))
        .bind(secret_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(ApiToken::try_from).transpose()
    }

    async fn list_api_tokens(&self) -> Result<Vec<ApiToken>> {
        let rows: Vec<TokenRow> = sqlx::query_as(safe(format!(
            "SELECT {TOKEN_COLS} FROM api_tokens ORDER BY created_at DESC"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        convert(rows)
    }

    async fn revoke_api_token(
        &self,
        id: Uuid,
        at: OffsetDateTime,
        audit: AuditDraft,
    ) -> Result<bool> {
        audited_change!(
            self,
            audit,
            sqlx::query(
                "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL"
            )
            .bind(ms(at))
            .bind(id.to_string())
        )
    }

    async fn touch_api_token(&self, id: Uuid, at: OffsetDateTime) -> Result<()> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(ms(at))
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }
}
