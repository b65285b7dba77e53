//! Device compliance: a policy per platform, judged against the device's latest posture, with a
//! grace period for fixable failures and a validity period for silent devices (as Intune's
//! "mark device non-compliant after N days" and "compliance status validity period").

use super::record::{Device, DeviceState, MachineRisk};
use crate::access::DevicePlatform;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use time::{Duration, OffsetDateTime};

/// Where a device stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum ComplianceState {
    Compliant,
    /// A rule fails but the grace period has not run out: still compliant for access.
    InGrace {
        #[serde(with = "time::serde::rfc3339")]
        failing_since: OffsetDateTime,
        #[serde(with = "time::serde::rfc3339")]
        until: OffsetDateTime,
    },
    NonCompliant {
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
        /// It became non-compliant because a grace period ran out (so a fixable failure
        /// gets no new one until the device has been compliant again).
        #[serde(default)]
        grace_expired: bool,
    },
}

impl ComplianceState {
    /// Whether conditional access counts the device as compliant.
    pub fn is_compliant(&self) -> bool {
        matches!(
            self,
            ComplianceState::Compliant | ComplianceState::InGrace { .. }
        )
    }

    /// As people read it.
    pub fn label(&self) -> &'static str {
        match self {
            ComplianceState::Compliant => "compliant",
            ComplianceState::InGrace { .. } => "in grace period",
            ComplianceState::NonCompliant { .. } => "not compliant",
        }
    }

    /// The badge style pages show it with: `ok`, `warn` or `bad`.
    pub fn badge(&self) -> &'static str {
        match self {
            ComplianceState::Compliant => "ok",
            ComplianceState::InGrace { .. } => "warn",
            ComplianceState::NonCompliant { .. } => "bad",
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            ComplianceState::Compliant => "compliant",
            ComplianceState::InGrace { .. } => "in_grace",
            ComplianceState::NonCompliant { .. } => "non_compliant",
        }
    }
}

/// What to assume for a device no compliance policy applies to (Entra's "mark devices with no
/// compliance policy assigned as").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoPolicyDefault {
    Compliant,
    /// The secure default.
    #[default]
    NonCompliant,
}

/// A compliance policy for one platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompliancePolicy {
    pub id: String,
    pub name: String,
    pub platform: DevicePlatform,
    /// The highest machine risk still compliant (`None`: risk is not judged).
    #[serde(default)]
    pub max_machine_risk: Option<MachineRisk>,
    #[serde(default)]
    pub minimum_os_version: Option<String>,
    #[serde(default)]
    pub require_disk_encryption: bool,
    #[serde(default)]
    pub require_firewall: bool,
    #[serde(default)]
    pub require_secure_boot: bool,
    /// Assigned configuration profile settings must not drift.
    #[serde(default)]
    pub require_profile_settings: bool,
    /// How long a fixable failure is tolerated before the device is non-compliant.
    #[serde(default)]
    pub grace_period_days: u32,
    /// A device that has not reported for this long is non-compliant (default 30).
    #[serde(default = "default_validity")]
    pub validity_period_days: u32,
    /// Tell the user by email when the device enters grace or becomes non-compliant.
    #[serde(default)]
    pub notify_user: bool,
}

fn default_validity() -> u32 {
    30
}

/// The device's latest posture as the server judged it from the agent's report (the server
/// recomputes every value from observations; it never trusts a verdict the agent sent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posture {
    #[serde(with = "time::serde::rfc3339")]
    pub reported_at: OffsetDateTime,
    pub os_version: Option<String>,
    /// `None`: not observed (the probe failed or does not apply).
    pub disk_encrypted: Option<bool>,
    pub firewall_active: Option<bool>,
    pub secure_boot: Option<bool>,
    /// Assigned profile settings that drifted or could not be read (their names).
    pub drifted_settings: Vec<String>,
}

/// Why a device is not (or not fully) compliant: a stable code and a sentence that tells the
/// user what to fix on the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplianceReason {
    pub code: String,
    pub message: String,
    /// Failures that are not fixable by waiting out a grace period (risk, silence, disabled).
    pub immediate: bool,
}

impl ComplianceReason {
    fn new(code: &str, message: impl Into<String>, immediate: bool) -> ComplianceReason {
        ComplianceReason {
            code: code.to_string(),
            message: message.into(),
            immediate,
        }
    }
}

pub struct ComplianceInput<'a> {
    pub device: &'a Device,
    /// The policy for the device's platform, if one is assigned.
    pub policy: Option<&'a CompliancePolicy>,
    pub no_policy: NoPolicyDefault,
    pub posture: Option<&'a Posture>,
    pub previous: &'a ComplianceState,
    pub now: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplianceOutcome {
    pub state: ComplianceState,
    pub reasons: Vec<ComplianceReason>,
}

impl ComplianceOutcome {
    /// Whether the user should be told (the device entered grace or became non-compliant).
    pub fn worsened_from(&self, previous: &ComplianceState) -> bool {
        let rank = |s: &ComplianceState| match s {
            ComplianceState::Compliant => 0,
            ComplianceState::InGrace { .. } => 1,
            ComplianceState::NonCompliant { .. } => 2,
        };
        rank(&self.state) > rank(previous)
    }

    /// Whether access decisions about the device may change (a continuous-access event).
    pub fn access_changed_from(&self, previous: &ComplianceState) -> bool {
        self.state.is_compliant() != previous.is_compliant()
    }
}

/// Judges a device. Disabled devices, machine risk above the policy's limit and silence past
/// the validity period make it non-compliant at once; every other failing rule starts (or
/// continues) the grace period and makes it non-compliant when the grace period ran out.
pub fn evaluate(input: &ComplianceInput<'_>) -> ComplianceOutcome {
    let now = input.now;
    let mut reasons = Vec::new();
    if input.device.state == DeviceState::Disabled {
        reasons.push(ComplianceReason::new(
            "device_disabled",
            "This device was disabled by an administrator. Contact your help desk.",
            true,
        ));
    }
    let Some(policy) = input.policy else {
        if input.no_policy == NoPolicyDefault::NonCompliant {
            reasons.push(ComplianceReason::new(
                "no_policy",
                "No compliance policy applies to this device's platform, and such devices are \
                 not trusted. Contact your help desk.",
                true,
            ));
        }
        return settle(input, reasons);
    };
    if let Some(max) = policy.max_machine_risk
        && input.device.machine_risk > max
    {
        reasons.push(ComplianceReason::new(
            "machine_risk",
            format!(
                "Your endpoint protection reports {} risk on this device. Follow its \
                 instructions to remove the threat.",
                input.device.machine_risk.as_str()
            ),
            true,
        ));
    }
    let validity = Duration::days(i64::from(policy.validity_period_days));
    match input.posture {
        Some(p) if now - p.reported_at < validity => reasons.extend(posture_failures(policy, p)),
        _ => reasons.push(ComplianceReason::new(
            "stale_report",
            format!(
                "This device has not reported its state for {} days. Make sure the trustplane \
                 agent is running.",
                policy.validity_period_days
            ),
            true,
        )),
    }
    let mut out = settle(input, reasons);
    if let ComplianceState::InGrace { failing_since, .. } = out.state {
        let until = failing_since + Duration::days(i64::from(policy.grace_period_days));
        out.state = if now >= until {
            ComplianceState::NonCompliant {
                since: until,
                grace_expired: true,
            }
        } else {
            ComplianceState::InGrace {
                failing_since,
                until,
            }
        };
    }
    out
}

/// Turns reasons into a state: none → compliant; an immediate one → non-compliant now (or
/// since it already was); fixable ones → in grace since the failure began (the grace length
/// is applied by the caller that knows the policy), or still non-compliant.
fn settle(input: &ComplianceInput<'_>, reasons: Vec<ComplianceReason>) -> ComplianceOutcome {
    let now = input.now;
    let state = if reasons.is_empty() {
        ComplianceState::Compliant
    } else if reasons.iter().any(|r| r.immediate) {
        match input.previous {
            ComplianceState::NonCompliant { since, .. } => ComplianceState::NonCompliant {
                since: *since,
                grace_expired: false,
            },
            _ => ComplianceState::NonCompliant {
                since: now,
                grace_expired: false,
            },
        }
    } else {
        match input.previous {
            // Its grace period already ran out: no new one until it has been compliant again.
            ComplianceState::NonCompliant {
                since,
                grace_expired: true,
            } => ComplianceState::NonCompliant {
                since: *since,
                grace_expired: true,
            },
            ComplianceState::InGrace { failing_since, .. } => ComplianceState::InGrace {
                failing_since: *failing_since,
                until: *failing_since,
            },
            // Compliant, or non-compliant for reasons now gone (no report yet, risk, no
            // policy): the fixable failure starts its grace period now.
            _ => ComplianceState::InGrace {
                failing_since: now,
                until: now,
            },
        }
    };
    ComplianceOutcome { state, reasons }
}

fn posture_failures(policy: &CompliancePolicy, p: &Posture) -> Vec<ComplianceReason> {
    let mut out = Vec::new();
    if let Some(min) = &policy.minimum_os_version {
        let ok = p
            .os_version
            .as_deref()
            .is_some_and(|v| compare_versions(v, min).is_some_and(|o| o != Ordering::Less));
        if !ok {
            out.push(ComplianceReason::new(
                "os_version",
                format!("Update the operating system to version {min} or later."),
                false,
            ));
        }
    }
    let checks = [
        (
            policy.require_disk_encryption,
            p.disk_encrypted,
            "disk_encryption",
            "Turn on disk encryption for the system disk.",
        ),
        (
            policy.require_firewall,
            p.firewall_active,
            "firewall",
            "Turn on the firewall.",
        ),
        (
            policy.require_secure_boot,
            p.secure_boot,
            "secure_boot",
            "Turn on Secure Boot in the firmware settings.",
        ),
    ];
    for (required, observed, code, message) in checks {
        if required && observed != Some(true) {
            out.push(ComplianceReason::new(code, message, false));
        }
    }
    if policy.require_profile_settings && !p.drifted_settings.is_empty() {
        out.push(ComplianceReason::new(
            "profile_drift",
            format!(
                "Fix these settings required by your organisation: {}.",
                p.drifted_settings.join(", ")
            ),
            false,
        ));
    }
    out
}

/// Compares dotted versions numerically per component ("22.04" < "22.10", "6.1.0-13-amd64"
/// reads as 6.1.0; missing components are 0). `None` when either has no leading number.
pub fn compare_versions(a: &str, b: &str) -> Option<Ordering> {
    let (x, y) = (numeric_parts(a)?, numeric_parts(b)?);
    let n = x.len().max(y.len());
    for i in 0..n {
        let (p, q) = (
            x.get(i).copied().unwrap_or(0),
            y.get(i).copied().unwrap_or(0),
        );
        match p.cmp(&q) {
            Ordering::Equal => continue,
            o => return Some(o),
        }
    }
    Some(Ordering::Equal)
}

fn numeric_parts(v: &str) -> Option<Vec<u64>> {
    let mut out = Vec::new();
    for part in v.trim().split('.') {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() {
            break;
        }
        out.push(digits.parse().ok()?);
        if digits.len() < part.len() {
            break;
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
#[path = "compliance_tests.rs"]
mod tests;
