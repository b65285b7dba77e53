//! A registered device: its identity (the certificate trustplane issued to its key), what it
//! reported about itself, and the state that conditional access reads.

use super::compliance::ComplianceState;
use crate::access::{DevicePlatform, DeviceSignals, TrustType};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

/// Whether a device may be used at all. A disabled device keeps its record (for the sign-in
/// log and investigation) but is not a device for conditional access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    Enabled,
    Disabled,
}

impl DeviceState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceState::Enabled => "enabled",
            DeviceState::Disabled => "disabled",
        }
    }

    pub fn parse(s: &str) -> Option<DeviceState> {
        match s {
            "enabled" => Some(DeviceState::Enabled),
            "disabled" => Some(DeviceState::Disabled),
            _ => None,
        }
    }
}

/// The machine risk an endpoint-protection (EDR) product reports, as in Defender for Endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MachineRisk {
    None,
    Low,
    Medium,
    High,
}

impl MachineRisk {
    pub fn as_str(self) -> &'static str {
        match self {
            MachineRisk::None => "none",
            MachineRisk::Low => "low",
            MachineRisk::Medium => "medium",
            MachineRisk::High => "high",
        }
    }

    pub fn parse(s: &str) -> Option<MachineRisk> {
        match s {
            "none" => Some(MachineRisk::None),
            "low" => Some(MachineRisk::Low),
            "medium" => Some(MachineRisk::Medium),
            "high" => Some(MachineRisk::High),
            _ => None,
        }
    }
}

/// A registered device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub id: Uuid,
    /// The user who registered it.
    pub owner_id: Uuid,
    pub display_name: String,
    pub platform: DevicePlatform,
    pub os_version: Option<String>,
    pub hostname: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub trust_type: TrustType,
    pub state: DeviceState,
    /// Serial number of the current device certificate (lowercase hex).
    pub cert_serial: String,
    /// SHA-256 of the current certificate's DER, lowercase hex: what a proxy passes.
    pub cert_fingerprint: String,
    #[serde(with = "time::serde::rfc3339")]
    pub cert_not_after: OffsetDateTime,
    /// The current certificate (PEM): its key verifies the device's signed requests.
    pub certificate_pem: String,
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_report_at: Option<OffsetDateTime>,
    pub compliance: ComplianceState,
    pub machine_risk: MachineRisk,
}

impl Device {
    /// What conditional access knows about this device; `None` when it is disabled (a
    /// disabled device is no device) or its certificate expired.
    pub fn signals(&self, now: OffsetDateTime) -> Option<DeviceSignals> {
        if self.state == DeviceState::Disabled || now >= self.cert_not_after {
            return None;
        }
        Some(DeviceSignals {
            device_id: Some(self.id.to_string()),
            display_name: Some(self.display_name.clone()),
            platform: Some(self.platform),
            os_version: self.os_version.clone(),
            trust_type: Some(self.trust_type),
            registered: true,
            managed: self.trust_type == TrustType::Managed,
            compliant: self.compliance.is_compliant(),
            manufacturer: self.manufacturer.clone(),
            model: self.model.clone(),
            extension_attributes: Default::default(),
        })
    }
}

/// The fingerprint trustplane records and proxies pass: SHA-256 of the certificate's DER,
/// lowercase hex without separators.
pub fn fingerprint_of(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// A fingerprint as a proxy may send it (`AB:CD:…`, upper case, `sha256:`/`SHA256=` prefixes)
/// in the form trustplane stores; `None` when it is not 32 bytes of hex.
pub fn normalise_fingerprint(s: &str) -> Option<String> {
    let t = s.trim();
    let t = t
        .strip_prefix("sha256:")
        .or_else(|| t.strip_prefix("SHA256:"))
        .or_else(|| t.strip_prefix("sha256="))
        .or_else(|| t.strip_prefix("SHA256="))
        .unwrap_or(t);
    let hexed: String = t.chars().filter(|c| *c != ':').collect();
    if hexed.len() != 64 || !hexed.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Some(hexed.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(now: OffsetDateTime) -> Device {
        Device {
            id: Uuid::from_u128(1),
            owner_id: Uuid::from_u128(2),
            display_name: "laptop".into(),
            platform: DevicePlatform::Linux,
            os_version: Some("12.4".into()),
            hostname: Some("ada-laptop".into()),
            manufacturer: None,
            model: None,
            trust_type: TrustType::Registered,
            state: DeviceState::Enabled,
            cert_serial: "01".into(),
            cert_fingerprint: "ab".repeat(32),
            cert_not_after: now + time::Duration::days(90),
            certificate_pem: String::new(),
            first_seen: now,
            last_seen: now,
            last_report_at: None,
            compliance: ComplianceState::Compliant,
            machine_risk: MachineRisk::None,
        }
    }

    #[test]
    fn an_enabled_device_is_registered_and_a_managed_one_managed() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let mut d = device(now);
        let s = d.signals(now).unwrap();
        assert!(s.registered && !s.managed && s.compliant);
        assert_eq!(s.device_id.as_deref(), Some(d.id.to_string().as_str()));
        d.trust_type = TrustType::Managed;
        d.compliance = ComplianceState::NonCompliant {
            since: now,
            grace_expired: false,
        };
        let s = d.signals(now).unwrap();
        assert!(s.managed && !s.compliant);
    }

    #[test]
    fn a_disabled_device_or_an_expired_certificate_is_no_device() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let mut d = device(now);
        d.state = DeviceState::Disabled;
        assert_eq!(d.signals(now), None);
        let d = device(now);
        assert_eq!(d.signals(d.cert_not_after), None);
        assert!(
            d.signals(d.cert_not_after - time::Duration::seconds(1))
                .is_some()
        );
    }

    #[test]
    fn fingerprints_are_normalised_from_what_proxies_send() {
        let f = fingerprint_of(b"certificate");
        assert_eq!(f.len(), 64);
        let colons: Vec<String> = f
            .to_ascii_uppercase()
            .as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        assert_eq!(normalise_fingerprint(&colons.join(":")), Some(f.clone()));
        assert_eq!(
            normalise_fingerprint(&format!("sha256:{f}")),
            Some(f.clone())
        );
        assert_eq!(normalise_fingerprint(&f[..62]), None);
        assert_eq!(normalise_fingerprint(&format!("{}zz", &f[..62])), None);
        assert_eq!(normalise_fingerprint(""), None);
    }
}
