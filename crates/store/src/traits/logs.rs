//! The sign-in log and the audit log.

use crate::Result;
use async_trait::async_trait;
use time::OffsetDateTime;
use trustplane_core::audit::{AuditDraft, AuditEntry, ChainError};
use trustplane_core::signin::{SignInEvent, SignInResult};
use uuid::Uuid;

#[derive(Debug, Clone, Default)]
pub struct SignInQuery {
    pub user_id: Option<Uuid>,
    /// Exact (case-insensitive) login name as typed.
    pub username: Option<String>,
    pub result: Option<SignInResult>,
    pub failure_reason: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    /// The application signed in to (`details.app`).
    pub app_id: Option<String>,
    /// Sign-in risk level (`details.sign_in_risk`): low, medium, high.
    pub sign_in_risk: Option<String>,
    /// Conditional access outcome (`details.conditional_access.outcome`): allow, block,
    /// requires.
    pub ca_outcome: Option<String>,
    /// A policy that applied (enabled or report-only).
    pub policy: Option<String>,
    pub limit: i64,
}

#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only entries with `seq < before_seq` (paging backwards from the newest).
    pub before_seq: Option<i64>,
    pub action: Option<String>,
    pub target_id: Option<String>,
    pub limit: i64,
}

/// The sign-in log.
#[async_trait]
pub trait SignInLogStore: Send + Sync {
    // --- sign-in log -----------------------------------------------------------------------
    async fn record_sign_in(&self, event: &SignInEvent) -> Result<()>;
    async fn list_sign_ins(&self, q: &SignInQuery) -> Result<Vec<SignInEvent>>;
    async fn get_sign_in(&self, id: Uuid) -> Result<Option<SignInEvent>>;
}

/// The keyed, hash-chained audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    // --- audit log -------------------------------------------------------------------------
    async fn append_audit(&self, draft: AuditDraft) -> Result<AuditEntry>;
    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>>;
    /// Walks the whole chain in order; `Ok(Err(_))` names the first broken entry.
    async fn verify_audit(&self) -> Result<std::result::Result<u64, ChainError>>;
}
