//! The sign-in log: one record per attempt, successful or not. `details` is free-form JSON so
//! that later capabilities (risk, conditional access records) enrich it without a migration.

use crate::authn::DenyReason;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInResult {
    Success,
    Failure,
    /// First factor passed; further steps are pending.
    Interrupted,
}

impl SignInResult {
    pub fn as_str(self) -> &'static str {
        match self {
            SignInResult::Success => "success",
            SignInResult::Failure => "failure",
            SignInResult::Interrupted => "interrupted",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "success" => Some(SignInResult::Success),
            "failure" => Some(SignInResult::Failure),
            "interrupted" => Some(SignInResult::Interrupted),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignInEvent {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub user_id: Option<Uuid>,
    /// The login name as typed (truncated), also for unknown users.
    pub username: String,
    pub result: SignInResult,
    pub failure_reason: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub correlation_id: String,
    /// RFC 8176 `amr` values of the methods performed.
    pub methods: Vec<String>,
    pub details: serde_json::Value,
}

impl SignInEvent {
    pub fn failure_reason_of(reason: DenyReason) -> Option<String> {
        Some(reason.code().to_string())
    }
}
