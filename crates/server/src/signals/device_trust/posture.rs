//! The posture report an agent sends (or any client through the API), as documented in
//! `docs/device-protocol.md`, bounded, and read into what compliance judges.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use trustplane_core::device::Posture;

const MAX_OBSERVATIONS: usize = 64;
const MAX_NAMES: usize = 4096;
const MAX_TEXT: usize = 256;

pub use trustplane_core::device::{Observed, SettingKind as Setting};

/// An observed value as a person reads it.
pub fn describe(v: &Observed) -> String {
    match v {
        Observed::Bool(true) => "yes".into(),
        Observed::Bool(false) => "no".into(),
        Observed::Seconds(s) => format!("{s} s"),
        Observed::Version(v) => v.clone(),
        Observed::Names(n) if n.len() > 12 => {
            format!("{} names ({}, …)", n.len(), n[..12].join(", "))
        }
        Observed::Names(n) => n.join(", "),
        Observed::NotApplicable => "not applicable".into(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    pub setting: Setting,
    pub value: Observed,
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostureReport {
    pub platform: String,
    #[serde(default)]
    pub os_name: Option<String>,
    #[serde(default)]
    pub os_version: Option<String>,
    #[serde(default)]
    pub kernel: Option<String>,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub manufacturer: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub collected_at: Option<String>,
    #[serde(default)]
    pub observations: Vec<Observation>,
}

impl PostureReport {
    /// Bounds every list and text; one observation per setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.observations.len() > MAX_OBSERVATIONS {
            return Err(format!("at most {MAX_OBSERVATIONS} observations"));
        }
        let texts = [
            &self.os_name,
            &self.os_version,
            &self.kernel,
            &self.hostname,
            &self.manufacturer,
            &self.model,
            &self.collected_at,
        ];
        if self.platform.len() > MAX_TEXT
            || texts
                .iter()
                .any(|t| t.as_ref().is_some_and(|s| s.len() > MAX_TEXT))
        {
            return Err(format!("texts are at most {MAX_TEXT} bytes"));
        }
        let mut seen = Vec::new();
        for o in &self.observations {
            if seen.contains(&o.setting) {
                return Err(format!("the setting {:?} is reported twice", o.setting));
            }
            seen.push(o.setting);
            match &o.value {
                Observed::Names(n) if n.len() > MAX_NAMES => {
                    return Err(format!("name lists hold at most {MAX_NAMES} names"));
                }
                Observed::Names(n) if n.iter().any(|s| s.len() > MAX_TEXT) => {
                    return Err(format!("names are at most {MAX_TEXT} bytes"));
                }
                Observed::Version(v) if v.len() > MAX_TEXT => {
                    return Err(format!("versions are at most {MAX_TEXT} bytes"));
                }
                _ => {}
            }
            if o.error.as_ref().is_some_and(|e| e.len() > 1024) {
                return Err("observation errors are at most 1024 bytes".into());
            }
        }
        Ok(())
    }

    fn flag(&self, s: Setting) -> Option<bool> {
        self.observations
            .iter()
            .find(|o| o.setting == s && o.error.is_none())
            .and_then(|o| match o.value {
                Observed::Bool(b) => Some(b),
                _ => None,
            })
    }

    /// The observation of a setting: `None` when not reported, `Err` when the agent could not
    /// read it.
    pub fn observation(&self, s: Setting) -> Option<Result<&Observed, &str>> {
        self.observations
            .iter()
            .find(|o| o.setting == s)
            .map(|o| match &o.error {
                Some(e) => Err(e.as_str()),
                None => Ok(&o.value),
            })
    }

    /// What compliance judges, received at `now` (the agent's own time is not trusted).
    pub fn posture(&self, now: OffsetDateTime) -> Posture {
        let os_version = self
            .observations
            .iter()
            .find_map(|o| match (&o.setting, &o.value) {
                (Setting::OsVersion, Observed::Version(v)) if o.error.is_none() => Some(v.clone()),
                _ => None,
            })
            .or_else(|| self.os_version.clone());
        Posture {
            reported_at: now,
            os_version,
            disk_encrypted: self.flag(Setting::DiskEncryption),
            firewall_active: self.flag(Setting::FirewallActive),
            secure_boot: self.flag(Setting::SecureBoot),
            drifted_settings: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(json: serde_json::Value) -> PostureReport {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn the_documented_report_reads_into_a_posture() {
        let r = report(serde_json::json!({
            "platform": "linux", "os_name": "Debian GNU/Linux", "os_version": "12",
            "observations": [
                {"setting": "disk_encryption", "value": {"bool": true}},
                {"setting": "firewall_active", "value": {"bool": false}},
                {"setting": "secure_boot", "value": "not_applicable"},
                {"setting": "os_version", "value": {"version": "12.4"}},
                {"setting": "installed_packages", "value": {"names": ["openssh-server"]}},
            ]
        }));
        assert_eq!(r.validate(), Ok(()));
        let p = r.posture(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(p.disk_encrypted, Some(true));
        assert_eq!(p.firewall_active, Some(false));
        assert_eq!(p.secure_boot, None);
        assert_eq!(p.os_version.as_deref(), Some("12.4"));
    }

    #[test]
    fn an_observation_with_an_error_counts_as_unknown_and_duplicates_are_refused() {
        let r = report(serde_json::json!({
            "platform": "linux",
            "observations": [
                {"setting": "disk_encryption", "value": {"bool": true}, "error": "lsblk failed"},
            ]
        }));
        assert_eq!(r.posture(OffsetDateTime::UNIX_EPOCH).disk_encrypted, None);
        let twice = report(serde_json::json!({
            "platform": "linux",
            "observations": [
                {"setting": "secure_boot", "value": {"bool": true}},
                {"setting": "secure_boot", "value": {"bool": false}},
            ]
        }));
        assert!(twice.validate().unwrap_err().contains("twice"));
        let names: Vec<String> = (0..5000).map(|i| format!("p{i}")).collect();
        let big = report(serde_json::json!({
            "platform": "linux",
            "observations": [{"setting": "installed_packages", "value": {"names": names}}]
        }));
        assert!(big.validate().is_err());
        assert!(
            serde_json::from_value::<PostureReport>(serde_json::json!({
                "platform": "linux",
                "observations": [{"setting": "teleportation", "value": {"bool": true}}]
            }))
            .is_err()
        );
    }
}
