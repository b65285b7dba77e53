//! The policy document: what an administrator writes (JSON or YAML), before validation.
//!
//! Every struct denies unknown fields so that a typo (`exlude`) is an error, never a silently
//! ignored condition. The shapes are documented with a full example in
//! `docs/conditional-access.md`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::identity::Role;
use crate::risk::RiskLevel;

/// A whole policy set: policies plus the named locations and custom authentication strengths
/// they refer to (the built-in strengths always exist).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySetDocument {
    #[serde(default)]
    pub policies: Vec<Policy>,
    #[serde(default)]
    pub named_locations: Vec<NamedLocation>,
    #[serde(default)]
    pub authentication_strengths: Vec<AuthenticationStrength>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyState {
    Enabled,
    /// Evaluated and recorded, never enforced.
    ReportOnly,
    Disabled,
}

/// One conditional access policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// A slug: lowercase letters, digits, `-` and `_`, at most 64 characters.
    pub id: String,
    pub name: String,
    pub state: PolicyState,
    pub assignments: Assignments,
    #[serde(default, skip_serializing_if = "Conditions::is_empty")]
    pub conditions: Conditions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<Grant>,
    #[serde(default, skip_serializing_if = "SessionControls::is_empty")]
    pub session: SessionControls,
}

/// Who and what a policy is about. Exactly one of `applications`, `user_actions`,
/// `authentication_contexts` is the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assignments {
    pub users: UserAssignment,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applications: Option<ApplicationAssignment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_actions: Option<Vec<UserAction>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_contexts: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserAssignment {
    pub include: UserInclude,
    #[serde(default)]
    pub exclude: UserExclude,
}

/// Users in scope: `all: true` (every user) or any of the listed users, members of the listed
/// groups, holders of the listed roles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserInclude {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<Uuid>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Uuid>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Role>,
}

/// Users taken out of scope; an exclusion always wins over an inclusion.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserExclude {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<Uuid>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Uuid>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Role>,
}

impl UserExclude {
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty() && self.roles.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationAssignment {
    /// `"all"` or a list of application ids.
    pub include: AllOr<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserAction {
    /// Registering or changing authentication methods (security info).
    RegisterSecurityInfo,
}

/// Conditions; an absent condition is not a condition (it matches everything).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_risk_levels: Option<Vec<RiskLevel>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_risk_levels: Option<Vec<RiskLevel>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_platforms: Option<PlatformCondition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locations: Option<LocationCondition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_app_types: Option<Vec<ClientAppType>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_filter: Option<DeviceFilter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitivity_labels: Option<Vec<String>>,
}

impl Conditions {
    pub fn is_empty(&self) -> bool {
        self == &Conditions::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DevicePlatform {
    Android,
    Ios,
    Windows,
    Macos,
    Linux,
}

impl DevicePlatform {
    pub const ALL: [DevicePlatform; 5] = [
        DevicePlatform::Android,
        DevicePlatform::Ios,
        DevicePlatform::Windows,
        DevicePlatform::Macos,
        DevicePlatform::Linux,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DevicePlatform::Android => "android",
            DevicePlatform::Ios => "ios",
            DevicePlatform::Windows => "windows",
            DevicePlatform::Macos => "macos",
            DevicePlatform::Linux => "linux",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformCondition {
    /// `"all"` or a list of platforms.
    pub include: AllOr<DevicePlatform>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<DevicePlatform>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationCondition {
    pub include: LocationInclude,
    #[serde(default, skip_serializing_if = "LocationExclude::is_empty")]
    pub exclude: LocationExclude,
}

/// `"all"`, `"all_trusted"`, or a list of named location ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocationInclude {
    All,
    AllTrusted,
    Locations(Vec<String>),
}

/// `"all_trusted"` or a list of named location ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocationExclude {
    AllTrusted,
    Locations(Vec<String>),
}

impl Default for LocationExclude {
    fn default() -> Self {
        LocationExclude::Locations(Vec::new())
    }
}

impl LocationExclude {
    pub fn is_empty(&self) -> bool {
        matches!(self, LocationExclude::Locations(v) if v.is_empty())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAppType {
    Browser,
    /// Modern-authentication mobile apps and desktop clients.
    MobileDesktop,
    /// Legacy authentication clients (basic authentication protocols).
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterMode {
    /// The policy applies only to devices matching the rule.
    Include,
    /// The policy does not apply to devices matching the rule.
    Exclude,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceFilter {
    pub mode: FilterMode,
    /// An expression in the device filter language (see `filter`).
    pub rule: String,
}

/// Grant controls: `"block"`, or `{operator, controls}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    Block,
    Require(RequireControls),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequireControls {
    pub operator: Operator,
    pub controls: Vec<GrantControl>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// Every control is required.
    All,
    /// Any one control suffices.
    One,
}

/// One grant control. Unit controls are strings (`"mfa"`); the others are one-key objects
/// (`{"authentication_strength": "phishing_resistant_mfa"}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantControl {
    Mfa,
    AuthenticationStrength(Arc<str>),
    CompliantDevice,
    RegisteredDevice,
    PasswordChange,
    TermsOfUse(Arc<str>),
    RegisterSecurityInfo,
}

impl GrantControl {
    /// Stable machine name of the control kind.
    pub fn kind(&self) -> &'static str {
        match self {
            GrantControl::Mfa => "mfa",
            GrantControl::AuthenticationStrength(_) => "authentication_strength",
            GrantControl::CompliantDevice => "compliant_device",
            GrantControl::RegisteredDevice => "registered_device",
            GrantControl::PasswordChange => "password_change",
            GrantControl::TermsOfUse(_) => "terms_of_use",
            GrantControl::RegisterSecurityInfo => "register_security_info",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionControls {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_frequency: Option<SignInFrequency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_browser: Option<PersistentBrowser>,
}

impl SessionControls {
    pub fn is_empty(&self) -> bool {
        self.sign_in_frequency.is_none() && self.persistent_browser.is_none()
    }
}

/// How old the primary sign-in may be. Ordered from strictest: `every_time` is stricter than
/// any number of hours, fewer hours are stricter than more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInFrequency {
    /// Re-authenticate every time (with a 5-minute tolerance for clock skew and redirects).
    EveryTime,
    EveryHours(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersistentBrowser {
    Always,
    Never,
}

/// A named location: either IP ranges or countries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedLocation {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub trusted: bool,
    /// CIDR ranges, IPv4 or IPv6 (`203.0.113.0/24`, `2001:db8::/32`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_ranges: Option<Vec<String>>,
    /// ISO 3166-1 alpha-2 codes, uppercase (`FR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub countries: Option<Vec<String>>,
    /// Whether a request whose country is unknown counts as in this location.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_unknown_countries: bool,
}

/// A custom authentication strength: the method combinations it accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthenticationStrength {
    pub id: String,
    pub name: String,
    pub combinations: Vec<Vec<MethodKind>>,
}

/// The fixed vocabulary of method kinds in custom authentication strengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodKind {
    Password,
    Totp,
    EmailCode,
    RecoveryCode,
    TemporaryAccessPass,
    /// A device-bound WebAuthn credential that verified the user (security key, platform
    /// authenticator).
    PasskeyDeviceBound,
    /// A synced WebAuthn credential that verified the user.
    PasskeySynced,
}

impl MethodKind {
    pub const ALL: [MethodKind; 7] = [
        MethodKind::Password,
        MethodKind::Totp,
        MethodKind::EmailCode,
        MethodKind::RecoveryCode,
        MethodKind::TemporaryAccessPass,
        MethodKind::PasskeyDeviceBound,
        MethodKind::PasskeySynced,
    ];
}

/// `"all"` or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllOr<T> {
    All,
    List(Vec<T>),
}
