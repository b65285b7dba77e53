//! What [`super::evaluate`] returns: the outcome, the session controls to apply, and one record
//! per policy (stored with every sign-in log entry, shown by the what-if tool).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::model::{GrantControl, PersistentBrowser, PolicyState, SignInFrequency};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub outcome: Outcome,
    /// Session controls of the enforced policies that applied.
    pub session: SessionDecision,
    /// One record per policy looked at, in policy id order.
    pub records: Vec<PolicyRecord>,
    /// `true` when `records` holds every policy of the set ([`super::explain`]). When `false`
    /// ([`super::evaluate`]), only candidate policies have a record: every policy without one
    /// was out of scope (its users or its target do not include this request) or disabled.
    pub complete: bool,
    /// Number of policies in the set.
    pub policies_total: usize,
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        self.outcome == Outcome::Allow
    }

    /// The record of a policy, if it has one (see [`Decision::complete`]).
    pub fn record(&self, policy_id: &str) -> Option<&PolicyRecord> {
        self.records
            .binary_search_by(|r| (*r.policy_id).cmp(policy_id))
            .ok()
            .and_then(|i| self.records.get(i))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Allow,
    /// Refused by an enforced block policy (the first by id when several apply).
    Block {
        by: Arc<str>,
    },
    /// Allowed once these are satisfied, in the order they should be asked for.
    Requires(Vec<Requirement>),
}

/// Something the caller can still satisfy.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Requirement {
    /// Sign in again: the primary sign-in is older than a sign-in frequency allows.
    Reauthenticate,
    /// Register methods usable for MFA.
    RegisterSecurityInfo,
    /// Satisfy this authentication strength (`mfa` for the MFA control).
    AuthenticationStrength {
        strength: Arc<str>,
    },
    CompliantDevice,
    RegisteredDevice,
    /// A secure password change (after MFA).
    PasswordChange,
    TermsOfUse {
        id: Arc<str>,
    },
    /// Any one of these.
    OneOf {
        any: Vec<Requirement>,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDecision {
    /// The strictest sign-in frequency demanded.
    pub sign_in_frequency: Option<SignInFrequency>,
    /// `never` wins over `always`.
    pub persistent_browser: Option<PersistentBrowser>,
}

/// The first assignment or condition that kept a policy from applying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotAppliedReason {
    UserNotIncluded,
    UserExcluded,
    ApplicationNotTargeted,
    ApplicationExcluded,
    UserActionNotTargeted,
    AuthenticationContextNotRequested,
    UserRisk,
    SignInRisk,
    DevicePlatformNotIncluded,
    DevicePlatformExcluded,
    LocationNotIncluded,
    LocationExcluded,
    ClientAppType,
    DeviceFilter,
    SensitivityLabel,
}

impl NotAppliedReason {
    /// Stable machine code (same as the serialised form).
    pub fn code(self) -> &'static str {
        use NotAppliedReason as R;
        match self {
            R::UserNotIncluded => "user_not_included",
            R::UserExcluded => "user_excluded",
            R::ApplicationNotTargeted => "application_not_targeted",
            R::ApplicationExcluded => "application_excluded",
            R::UserActionNotTargeted => "user_action_not_targeted",
            R::AuthenticationContextNotRequested => "authentication_context_not_requested",
            R::UserRisk => "user_risk",
            R::SignInRisk => "sign_in_risk",
            R::DevicePlatformNotIncluded => "device_platform_not_included",
            R::DevicePlatformExcluded => "device_platform_excluded",
            R::LocationNotIncluded => "location_not_included",
            R::LocationExcluded => "location_excluded",
            R::ClientAppType => "client_app_type",
            R::DeviceFilter => "device_filter",
            R::SensitivityLabel => "sensitivity_label",
        }
    }
}

/// What a policy did, or for a report-only policy what it would have done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum PolicyResult {
    Disabled,
    NotApplied,
    Block,
    /// Applied and every demanded control (and the sign-in frequency) was met.
    Satisfied,
    /// Applied; these are still needed.
    Unsatisfied {
        requirements: Vec<Requirement>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlResult {
    pub control: GrantControl,
    pub met: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRecord {
    pub policy_id: Arc<str>,
    pub state: PolicyState,
    /// All assignments and conditions matched.
    pub applied: bool,
    /// Applied and enabled: it counted towards the outcome. A report-only policy that
    /// applied has `applied: true, enforced: false`, and its `result` is what it would have
    /// done.
    pub enforced: bool,
    /// The first assignment or condition that kept it from applying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excluded_by: Option<NotAppliedReason>,
    pub result: PolicyResult,
    /// The grant controls it demanded, each with whether it was met (empty unless applied).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controls: Vec<ControlResult>,
    /// Its sign-in frequency was exceeded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reauthentication_required: bool,
}
