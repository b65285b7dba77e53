//! The sign-in log ([`SignInLogStore`]).

use super::query::{Where, loggable, safe};
use super::{SqlStore, db};
use crate::rows::{SIGN_IN_COLS, SignInRow, convert, ms};
use crate::{Result, SignInLogStore, SignInQuery, StoreError};
use async_trait::async_trait;
use trustplane_core::signin::SignInEvent;
use uuid::Uuid;

#[async_trait]
impl SignInLogStore for SqlStore {
    async fn record_sign_in(&self, e: &SignInEvent) -> Result<()> {
        let methods =
            serde_json::to_string(&e.methods).map_err(|x| StoreError::Database(x.to_string()))?;
        let d = &e.details;
        let text = |v: &serde_json::Value| v.as_str().map(loggable);
        let applied: Vec<&str> = d["conditional_access"]["applied"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        let ca_policies = (!applied.is_empty()).then(|| format!(",{},", applied.join(",")));
        sqlx::query(safe(format!(
            "INSERT INTO sign_ins ({SIGN_IN_COLS}, app_id, sign_in_risk, ca_outcome, ca_policies) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)"
        )))
        .bind(e.id.to_string())
        .bind(ms(e.at))
        .bind(e.user_id.map(|u| u.to_string()))
        .bind(loggable(&e.username))
        .bind(e.result.as_str())
        .bind(e.failure_reason.as_deref().map(loggable))
        .bind(e.ip.as_deref().map(loggable))
        .bind(e.user_agent.as_deref().map(loggable))
        .bind(loggable(&e.correlation_id))
        .bind(methods)
        .bind(e.details.to_string())
        .bind(text(&d["app"]))
        .bind(text(&d["sign_in_risk"]))
        .bind(text(&d["conditional_access"]["outcome"]))
        .bind(ca_policies.map(|p| loggable(&p)))
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn list_sign_ins(&self, q: &SignInQuery) -> Result<Vec<SignInEvent>> {
        let mut w = Where::default();
        if let Some(u) = q.user_id {
            w.push("user_id = ?", u.to_string());
        }
        if let Some(u) = &q.username {
            // `lower()` on both sides: Rust's folding differs from SQLite's ASCII-only one.
            w.push("lower(username) = lower(?)", loggable(u.trim()));
        }
        if let Some(r) = q.result {
            w.push("result = ?", r.as_str().to_string());
        }
        if let Some(r) = &q.failure_reason {
            w.push("failure_reason = ?", loggable(r));
        }
        if let Some(t) = q.since {
            w.push_i("at >= ?", ms(t));
        }
        if let Some(t) = q.until {
            w.push_i("at < ?", ms(t));
        }
        if let Some(a) = &q.app_id {
            w.push("app_id = ?", loggable(a));
        }
        if let Some(r) = &q.sign_in_risk {
            w.push("sign_in_risk = ?", loggable(r));
        }
        if let Some(o) = &q.ca_outcome {
            w.push("ca_outcome = ?", loggable(o));
        }
        if let Some(p) = &q.policy {
            // Policy ids are slugs (no commas, no LIKE wildcards survive validation); escape
            // anyway so a stray `%` or `_` matches itself.
            let escaped = p
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            w.push("ca_policies LIKE ? ESCAPE '\\'", format!("%,{escaped},%"));
        }
        let sql = format!(
            "SELECT {SIGN_IN_COLS} FROM sign_ins{} ORDER BY at DESC, id DESC LIMIT {}",
            w.sql(),
            q.limit.clamp(1, 10_000)
        );
        let rows: Vec<SignInRow> = w.fetch_all(sql, &self.pool).await?;
        convert(rows)
    }

    async fn get_sign_in(&self, id: Uuid) -> Result<Option<SignInEvent>> {
        let rows: Vec<SignInRow> = sqlx::query_as(safe(format!(
            "SELECT {SIGN_IN_COLS} FROM sign_ins WHERE id = $1"
        )))
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(convert(rows)?.into_iter().next())
    }
}
