//! The signals of one request, built at the edge (login flow, OIDC token/refresh, forward-auth)
//! and handed to [`super::evaluate`]. Serialisable so the what-if tool can take one as input.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::model::{ClientAppType, DevicePlatform, UserAction};
use crate::authn::MethodUse;
use crate::identity::Role;
use crate::risk::RiskLevel;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessContext {
    pub subject: Subject,
    pub authentication: Authentication,
    /// The time of the request (read once by the edge).
    #[serde(with = "time::serde::rfc3339")]
    pub now: OffsetDateTime,
    pub target: TargetRequest,
    #[serde(default)]
    pub network: Network,
    pub client_app: ClientAppType,
    /// The platform the user agent reports; `None` when it could not be told.
    #[serde(default)]
    pub platform: Option<DevicePlatform>,
    /// The device, when it identified itself (registered device certificate / agent).
    #[serde(default)]
    pub device: Option<DeviceSignals>,
    /// `None` = no risk detected.
    #[serde(default)]
    pub sign_in_risk: Option<RiskLevel>,
    /// `None` = no risk detected.
    #[serde(default)]
    pub user_risk: Option<RiskLevel>,
    /// Ids of the terms of use the user has accepted.
    #[serde(default)]
    pub terms_accepted: Vec<String>,
    /// The user completed a (secure) password change in this flow.
    #[serde(default)]
    pub password_changed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub user_id: Uuid,
    #[serde(default)]
    pub groups: Vec<Uuid>,
    #[serde(default)]
    pub roles: Vec<Role>,
    /// The user has registered methods usable for MFA.
    #[serde(default)]
    pub mfa_registered: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authentication {
    /// The methods performed in this session, with their times.
    #[serde(default)]
    pub methods: Vec<MethodUse>,
    /// When the primary (interactive) sign-in happened; `None` before any sign-in.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub primary_at: Option<OffsetDateTime>,
}

/// What the request is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetRequest {
    Application {
        id: String,
        /// The sensitivity label of the application (or of the resource asked for).
        #[serde(default)]
        sensitivity_label: Option<String>,
        /// Authentication contexts the application requests for this access.
        #[serde(default)]
        authentication_contexts: Vec<String>,
    },
    UserAction(UserAction),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    #[serde(default)]
    pub ip: Option<IpAddr>,
    /// ISO 3166-1 alpha-2 country of the IP address, when the GeoIP lookup found one.
    #[serde(default)]
    pub country: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrustType {
    /// Registered by its user (bring your own device).
    Registered,
    /// Enrolled in the organisation's management.
    Managed,
}

impl TrustType {
    pub fn as_str(self) -> &'static str {
        match self {
            TrustType::Registered => "registered",
            TrustType::Managed => "managed",
        }
    }
}

/// What is known about the device. An absent attribute is unknown, not empty: a filter
/// comparison on it is neither true nor false (see `filter`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSignals {
    #[serde(default)]
    pub device_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub platform: Option<DevicePlatform>,
    #[serde(default)]
    pub os_version: Option<String>,
    #[serde(default)]
    pub trust_type: Option<TrustType>,
    #[serde(default)]
    pub registered: bool,
    #[serde(default)]
    pub managed: bool,
    #[serde(default)]
    pub compliant: bool,
    #[serde(default)]
    pub manufacturer: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    /// `extension_attribute1` … `extension_attribute15` (index 0 is attribute 1).
    #[serde(default)]
    pub extension_attributes: [Option<String>; 15],
}
