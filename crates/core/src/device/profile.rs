//! Configuration profiles: desired settings assigned to platforms and groups. The agent
//! reports what it observes; the server judges each assigned setting from that observation
//! (compliant, drift, not applicable, error). Reporting only: nothing is changed on the
//! device.

use super::compliance::compare_versions;
use crate::access::DevicePlatform;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use uuid::Uuid;

/// What the agent observed for one setting (the report's `value`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Observed {
    Bool(bool),
    Seconds(u64),
    Version(String),
    Names(Vec<String>),
    NotApplicable,
}

/// The settings an agent observes (the report's `setting`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingKind {
    DiskEncryption,
    FirewallActive,
    ScreenLockTimeout,
    OsVersion,
    AutomaticSecurityUpdates,
    SecureBoot,
    InstalledPackages,
    RunningProcesses,
    SshRootLogin,
}

/// A desired setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "setting", rename_all = "snake_case")]
pub enum DesiredSetting {
    DiskEncryption,
    FirewallActive,
    ScreenLockTimeoutAtMost { seconds: u64 },
    MinimumOsVersion { version: String },
    AutomaticSecurityUpdates,
    SecureBoot,
    RequiredPackages { names: Vec<String> },
    ForbiddenPackages { names: Vec<String> },
    RequiredProcesses { names: Vec<String> },
    ForbiddenProcesses { names: Vec<String> },
    SshRootLoginDisabled,
}

impl DesiredSetting {
    /// The observation that decides it.
    pub fn observed_by(&self) -> SettingKind {
        match self {
            DesiredSetting::DiskEncryption => SettingKind::DiskEncryption,
            DesiredSetting::FirewallActive => SettingKind::FirewallActive,
            DesiredSetting::ScreenLockTimeoutAtMost { .. } => SettingKind::ScreenLockTimeout,
            DesiredSetting::MinimumOsVersion { .. } => SettingKind::OsVersion,
            DesiredSetting::AutomaticSecurityUpdates => SettingKind::AutomaticSecurityUpdates,
            DesiredSetting::SecureBoot => SettingKind::SecureBoot,
            DesiredSetting::RequiredPackages { .. } | DesiredSetting::ForbiddenPackages { .. } => {
                SettingKind::InstalledPackages
            }
            DesiredSetting::RequiredProcesses { .. }
            | DesiredSetting::ForbiddenProcesses { .. } => SettingKind::RunningProcesses,
            DesiredSetting::SshRootLoginDisabled => SettingKind::SshRootLogin,
        }
    }

    /// A short name for lists and reasons ("disk encryption", "required packages", …).
    pub fn name(&self) -> &'static str {
        match self {
            DesiredSetting::DiskEncryption => "disk encryption",
            DesiredSetting::FirewallActive => "firewall",
            DesiredSetting::ScreenLockTimeoutAtMost { .. } => "screen lock",
            DesiredSetting::MinimumOsVersion { .. } => "operating system version",
            DesiredSetting::AutomaticSecurityUpdates => "automatic security updates",
            DesiredSetting::SecureBoot => "Secure Boot",
            DesiredSetting::RequiredPackages { .. } => "required packages",
            DesiredSetting::ForbiddenPackages { .. } => "forbidden packages",
            DesiredSetting::RequiredProcesses { .. } => "required processes",
            DesiredSetting::ForbiddenProcesses { .. } => "forbidden processes",
            DesiredSetting::SshRootLoginDisabled => "SSH root login",
        }
    }

    fn expected(&self) -> String {
        match self {
            DesiredSetting::ScreenLockTimeoutAtMost { seconds } => {
                format!("locks after at most {seconds} s")
            }
            DesiredSetting::MinimumOsVersion { version } => format!("{version} or later"),
            DesiredSetting::RequiredPackages { names }
            | DesiredSetting::RequiredProcesses { names } => {
                format!("present: {}", names.join(", "))
            }
            DesiredSetting::ForbiddenPackages { names }
            | DesiredSetting::ForbiddenProcesses { names } => {
                format!("absent: {}", names.join(", "))
            }
            DesiredSetting::SshRootLoginDisabled => "disabled".into(),
            _ => "on".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigurationProfile {
    pub id: String,
    pub name: String,
    /// The platforms it applies to.
    pub platforms: Vec<DevicePlatform>,
    /// Groups whose members' devices it applies to (empty: every device of the platforms).
    #[serde(default)]
    pub groups: Vec<Uuid>,
    pub settings: Vec<DesiredSetting>,
}

impl ConfigurationProfile {
    /// Whether the profile is assigned to a device of `platform` whose owner is in `groups`.
    pub fn applies_to(&self, platform: DevicePlatform, groups: &[Uuid]) -> bool {
        self.platforms.contains(&platform)
            && (self.groups.is_empty() || self.groups.iter().any(|g| groups.contains(g)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingStatus {
    Compliant,
    Drift,
    NotApplicable,
    Error,
}

/// One assigned setting as judged from the device's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingResult {
    pub profile_id: String,
    pub setting: String,
    pub status: SettingStatus,
    pub expected: String,
    pub observed: Option<String>,
}

fn show(o: &Observed) -> String {
    match o {
        Observed::Bool(b) => if *b { "on" } else { "off" }.into(),
        Observed::Seconds(s) => format!("{s} s"),
        Observed::Version(v) => v.clone(),
        Observed::Names(n) => format!("{} names", n.len()),
        Observed::NotApplicable => "not applicable".into(),
    }
}

/// Judges one desired setting from its observation (`None`: not reported; `Err`: the agent
/// could not read it).
pub fn evaluate_setting(
    profile_id: &str,
    d: &DesiredSetting,
    observation: Option<Result<&Observed, &str>>,
) -> SettingResult {
    let result = |status, observed: Option<String>| SettingResult {
        profile_id: profile_id.to_string(),
        setting: d.name().to_string(),
        status,
        expected: d.expected(),
        observed,
    };
    let o = match observation {
        None => return result(SettingStatus::Error, Some("not reported".into())),
        Some(Err(e)) => return result(SettingStatus::Error, Some(format!("error: {e}"))),
        Some(Ok(Observed::NotApplicable)) => return result(SettingStatus::NotApplicable, None),
        Some(Ok(o)) => o,
    };
    let ok = match (d, o) {
        (
            DesiredSetting::DiskEncryption
            | DesiredSetting::FirewallActive
            | DesiredSetting::AutomaticSecurityUpdates
            | DesiredSetting::SecureBoot,
            Observed::Bool(b),
        ) => Some(*b),
        // The observation says whether root may log in.
        (DesiredSetting::SshRootLoginDisabled, Observed::Bool(allowed)) => Some(!*allowed),
        // 0 s means the screen never locks.
        (DesiredSetting::ScreenLockTimeoutAtMost { seconds }, Observed::Seconds(s)) => {
            Some(*s > 0 && s <= seconds)
        }
        (DesiredSetting::MinimumOsVersion { version }, Observed::Version(v)) => {
            match compare_versions(v, version) {
                Some(o) => Some(o != Ordering::Less),
                None => {
                    return result(
                        SettingStatus::Error,
                        Some(format!("unreadable version {v}")),
                    );
                }
            }
        }
        (
            DesiredSetting::RequiredPackages { names }
            | DesiredSetting::RequiredProcesses { names },
            Observed::Names(have),
        ) => Some(names.iter().all(|n| have.contains(n))),
        (
            DesiredSetting::ForbiddenPackages { names }
            | DesiredSetting::ForbiddenProcesses { names },
            Observed::Names(have),
        ) => Some(!names.iter().any(|n| have.contains(n))),
        _ => None,
    };
    match ok {
        Some(true) => result(SettingStatus::Compliant, Some(show(o))),
        Some(false) => result(SettingStatus::Drift, Some(show(o))),
        None => result(
            SettingStatus::Error,
            Some(format!("unexpected value {}", show(o))),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(d: DesiredSetting, o: Observed) -> SettingStatus {
        evaluate_setting("p", &d, Some(Ok(&o))).status
    }

    #[test]
    fn each_setting_is_judged_from_its_observation() {
        use DesiredSetting as D;
        use Observed as O;
        use SettingStatus as S;
        assert_eq!(judge(D::DiskEncryption, O::Bool(true)), S::Compliant);
        assert_eq!(judge(D::FirewallActive, O::Bool(false)), S::Drift);
        assert_eq!(judge(D::SshRootLoginDisabled, O::Bool(true)), S::Drift);
        assert_eq!(judge(D::SshRootLoginDisabled, O::Bool(false)), S::Compliant);
        let lock = D::ScreenLockTimeoutAtMost { seconds: 300 };
        assert_eq!(judge(lock.clone(), O::Seconds(300)), S::Compliant);
        assert_eq!(judge(lock.clone(), O::Seconds(301)), S::Drift);
        assert_eq!(judge(lock, O::Seconds(0)), S::Drift, "never locks");
        let os = D::MinimumOsVersion {
            version: "12.2".into(),
        };
        assert_eq!(judge(os.clone(), O::Version("12.10".into())), S::Compliant);
        assert_eq!(judge(os.clone(), O::Version("12.1".into())), S::Drift);
        assert_eq!(judge(os, O::Version("bookworm".into())), S::Error);
        let names = |v: &[&str]| O::Names(v.iter().map(|s| s.to_string()).collect());
        let req = D::RequiredPackages {
            names: vec!["auditd".into(), "clamav".into()],
        };
        assert_eq!(
            judge(req.clone(), names(&["auditd", "clamav", "vim"])),
            S::Compliant
        );
        assert_eq!(judge(req, names(&["auditd"])), S::Drift);
        let forbidden = D::ForbiddenProcesses {
            names: vec!["telnetd".into()],
        };
        assert_eq!(judge(forbidden.clone(), names(&["sshd"])), S::Compliant);
        assert_eq!(judge(forbidden, names(&["sshd", "telnetd"])), S::Drift);
        assert_eq!(judge(D::SecureBoot, O::NotApplicable), S::NotApplicable);
        assert_eq!(
            judge(D::SecureBoot, O::Seconds(3)),
            S::Error,
            "a value of the wrong kind"
        );
        assert_eq!(evaluate_setting("p", &D::SecureBoot, None).status, S::Error);
        assert_eq!(
            evaluate_setting("p", &D::SecureBoot, Some(Err("mokutil failed")))
                .observed
                .as_deref(),
            Some("error: mokutil failed")
        );
    }

    #[test]
    fn profiles_apply_by_platform_and_group() {
        let g = Uuid::from_u128(7);
        let p = ConfigurationProfile {
            id: "linux-baseline".into(),
            name: "Linux baseline".into(),
            platforms: vec![DevicePlatform::Linux],
            groups: vec![g],
            settings: vec![DesiredSetting::FirewallActive],
        };
        assert!(p.applies_to(DevicePlatform::Linux, &[g]));
        assert!(!p.applies_to(DevicePlatform::Linux, &[Uuid::from_u128(8)]));
        assert!(!p.applies_to(DevicePlatform::Windows, &[g]));
        let everyone = ConfigurationProfile {
            groups: vec![],
            ..p
        };
        assert!(everyone.applies_to(DevicePlatform::Linux, &[]));
        let json = r#"{"id":"x","name":"X","platforms":["linux"],"settings":[
            {"setting":"screen_lock_timeout_at_most","seconds":300},
            {"setting":"required_packages","names":["auditd"]},{"setting":"secure_boot"}]}"#;
        let parsed: ConfigurationProfile = serde_json::from_str(json).unwrap();
        assert_eq!(parsed.settings.len(), 3);
        assert!(
            serde_json::from_str::<ConfigurationProfile>(
                r#"{"id":"x","name":"X","platforms":["linux"],"settings":[{"setting":"teleport"}]}"#
            )
            .is_err()
        );
    }
}
