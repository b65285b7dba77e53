//! Settings, conditional access policy versions, terms of use and risk detections.

use crate::{PolicyVersion, Result, TermsOfUse};
use async_trait::async_trait;
use time::OffsetDateTime;
use trustplane_core::audit::AuditDraft;
use trustplane_core::risk::{DetectionState, RiskDetection};
use uuid::Uuid;

/// Named settings (values changed with an audit entry).
#[async_trait]
pub trait SettingsStore: Send + Sync {
    // --- settings documents ---------------------------------------------------------------
    async fn get_setting(&self, name: &str) -> Result<Option<String>>;
    /// Creates or replaces a setting, with its audit entry, in one transaction.
    async fn put_setting(&self, name: &str, value: &str, audit: AuditDraft) -> Result<()>;
}

/// Conditional access policy versions.
#[async_trait]
pub trait AccessPolicyStore: Send + Sync {
    // --- conditional access -----------------------------------------------------------------
    /// The policy set in force (the newest version).
    async fn current_policy_version(&self) -> Result<Option<PolicyVersion>>;
    async fn policy_version(&self, version: i64) -> Result<Option<PolicyVersion>>;
    /// Newest first.
    async fn list_policy_versions(&self, limit: i64) -> Result<Vec<PolicyVersion>>;
    /// Saves a new version on top of `based_on` (0: none yet) with its audit entry, in one
    /// transaction; `Conflict` when `based_on` is not the newest version (optimistic
    /// concurrency: nobody overwrites a change they have not seen).
    async fn save_policy_version(
        &self,
        based_on: i64,
        document: &str,
        created_by: &str,
        comment: &str,
        now: OffsetDateTime,
        audit: AuditDraft,
    ) -> Result<PolicyVersion>;
}

/// Terms of use and their acceptance.
#[async_trait]
pub trait TermsStore: Send + Sync {
    // --- terms of use ---------------------------------------------------------------------
    /// `Conflict` when the id is taken.
    async fn create_terms(&self, t: &TermsOfUse, audit: AuditDraft) -> Result<()>;
    async fn list_terms(&self) -> Result<Vec<TermsOfUse>>;
    async fn get_terms(&self, id: &str) -> Result<Option<TermsOfUse>>;
    /// Removes the terms and every acceptance of them; false when there were none.
    async fn delete_terms(&self, id: &str, audit: AuditDraft) -> Result<bool>;
    /// Records that the user accepted (idempotent); `NotFound` for unknown terms.
    async fn accept_terms(&self, user_id: Uuid, terms_id: &str, at: OffsetDateTime) -> Result<()>;
    async fn accepted_terms(&self, user_id: Uuid) -> Result<Vec<String>>;
}

/// Risk detections.
#[async_trait]
pub trait RiskStore: Send + Sync {
    // --- risk detections ------------------------------------------------------------------
    async fn record_risk_detection(&self, d: &RiskDetection) -> Result<()>;
    /// Newest first; filtered by user and state when given.
    async fn list_risk_detections(
        &self,
        user_id: Option<Uuid>,
        state: Option<DetectionState>,
        limit: i64,
    ) -> Result<Vec<RiskDetection>>;
    async fn get_risk_detection(&self, id: Uuid) -> Result<Option<RiskDetection>>;
    /// Closes an active detection (dismissed by an admin, or remediated), with its audit entry.
    /// False when it does not exist or is no longer active.
    async fn close_risk_detection(
        &self,
        id: Uuid,
        to: DetectionState,
        at: OffsetDateTime,
        audit: AuditDraft,
    ) -> Result<bool>;
}
