//! Risk detections: evidence that an account or a sign-in may be compromised. The risk engine
//! (user risk and sign-in risk levels for conditional access) aggregates them; this module holds
//! the detection model and the pure rules for how a detection is raised and remediated.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// How risky a detection makes the user (or the sign-in), as in Entra ID Protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    Low,
    Medium,
    High,
}

impl RiskLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
        }
    }

    pub fn parse(s: &str) -> Option<RiskLevel> {
        match s {
            "low" => Some(RiskLevel::Low),
            "medium" => Some(RiskLevel::Medium),
            "high" => Some(RiskLevel::High),
            _ => None,
        }
    }
}

/// What was detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectionKind {
    /// The user's valid password is in a breached-password corpus (user risk; offline
    /// detection, raised when the user signs in with it).
    LeakedCredentials,
}

impl DetectionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DetectionKind::LeakedCredentials => "leaked_credentials",
        }
    }

    pub fn parse(s: &str) -> Option<DetectionKind> {
        match s {
            "leaked_credentials" => Some(DetectionKind::LeakedCredentials),
            _ => None,
        }
    }

    /// The level a detection of this kind carries. Leaked credentials are high: whoever holds
    /// the corpus can sign in as the user.
    pub fn default_level(self) -> RiskLevel {
        match self {
            DetectionKind::LeakedCredentials => RiskLevel::High,
        }
    }

    /// Whether the detection is about the user (user risk) or about one sign-in.
    pub fn is_user_risk(self) -> bool {
        match self {
            DetectionKind::LeakedCredentials => true,
        }
    }

    /// Human-readable description for the console.
    pub fn describe(self) -> &'static str {
        match self {
            DetectionKind::LeakedCredentials => {
                "The user's password was found in a breached-password corpus."
            }
        }
    }
}

/// Where a detection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectionState {
    /// Still raising the user's risk.
    AtRisk,
    /// The user fixed it (e.g. changed the leaked password).
    Remediated,
    /// An administrator dismissed it.
    Dismissed,
}

impl DetectionState {
    pub fn as_str(self) -> &'static str {
        match self {
            DetectionState::AtRisk => "at_risk",
            DetectionState::Remediated => "remediated",
            DetectionState::Dismissed => "dismissed",
        }
    }

    pub fn parse(s: &str) -> Option<DetectionState> {
        match s {
            "at_risk" => Some(DetectionState::AtRisk),
            "remediated" => Some(DetectionState::Remediated),
            "dismissed" => Some(DetectionState::Dismissed),
            _ => None,
        }
    }
}

/// One risk detection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskDetection {
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: DetectionKind,
    pub level: RiskLevel,
    pub state: DetectionState,
    /// What raised it (`sign_in`, `admin`, a connector name).
    pub source: String,
    /// The sign-in (correlation id) during which it was raised, if any.
    pub correlation_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub detected_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl RiskDetection {
    /// A new, active detection of `kind` at `now`.
    pub fn new(
        id: Uuid,
        user_id: Uuid,
        kind: DetectionKind,
        source: &str,
        correlation_id: Option<String>,
        now: OffsetDateTime,
    ) -> RiskDetection {
        RiskDetection {
            id,
            user_id,
            kind,
            level: kind.default_level(),
            state: DetectionState::AtRisk,
            source: source.to_string(),
            correlation_id,
            detected_at: now,
            updated_at: now,
        }
    }
}

/// The user's risk level: the highest level among their active user-risk detections, `None`
/// when there is none.
pub fn user_risk_level(detections: &[RiskDetection]) -> Option<RiskLevel> {
    detections
        .iter()
        .filter(|d| d.state == DetectionState::AtRisk && d.kind.is_user_risk())
        .map(|d| d.level)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-25 10:00 UTC);

    fn det(state: DetectionState) -> RiskDetection {
        let mut d = RiskDetection::new(
            Uuid::from_u128(1),
            Uuid::from_u128(2),
            DetectionKind::LeakedCredentials,
            "sign_in",
            None,
            T0,
        );
        d.state = state;
        d
    }

    #[test]
    fn leaked_credentials_are_high_user_risk() {
        let d = det(DetectionState::AtRisk);
        assert_eq!(d.level, RiskLevel::High);
        assert_eq!(user_risk_level(&[d]), Some(RiskLevel::High));
    }

    #[test]
    fn remediated_and_dismissed_detections_do_not_count() {
        assert_eq!(user_risk_level(&[]), None);
        assert_eq!(
            user_risk_level(&[
                det(DetectionState::Remediated),
                det(DetectionState::Dismissed)
            ]),
            None
        );
    }

    #[test]
    fn codes_round_trip() {
        let k = DetectionKind::LeakedCredentials;
        assert_eq!(DetectionKind::parse(k.as_str()), Some(k));
        for s in [
            DetectionState::AtRisk,
            DetectionState::Remediated,
            DetectionState::Dismissed,
        ] {
            assert_eq!(DetectionState::parse(s.as_str()), Some(s));
        }
        for l in [RiskLevel::Low, RiskLevel::Medium, RiskLevel::High] {
            assert_eq!(RiskLevel::parse(l.as_str()), Some(l));
        }
        assert_eq!(DetectionKind::parse("LEAKED"), None);
    }
}
