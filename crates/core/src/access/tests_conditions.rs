//! Evaluation: each assignment and condition, and the missing-signal rules.

use std::sync::Arc;

use super::tests::{ctx, policy, policy_set, u};
use super::*;
use crate::identity::Role;
use crate::risk::RiskLevel;

pub(super) fn reason(set: &PolicySet, c: &AccessContext, id: &str) -> Option<NotAppliedReason> {
    let d = explain(set, c);
    d.record(id).unwrap().excluded_by
}

#[test]
fn users_include_exclude_and_exclusion_wins() {
    let p = |inc: &str, exc: &str| {
        format!(
            r#"{{"id": "p", "name": "P", "state": "enabled",
              "assignments": {{"users": {{"include": {inc}, "exclude": {exc}}},
                               "applications": {{"include": "all"}}}}, "grant": "block"}}"#
        )
    };
    let c = ctx(); // user 1, group 100
    let cases = [
        (
            format!(r#"{{"users": ["{}"]}}"#, u(1)),
            "{}".to_string(),
            None,
        ),
        (
            format!(r#"{{"users": ["{}"]}}"#, u(2)),
            "{}".into(),
            Some(NotAppliedReason::UserNotIncluded),
        ),
        (
            format!(r#"{{"groups": ["{}"]}}"#, u(100)),
            "{}".into(),
            None,
        ),
        (
            r#"{"roles": ["security_reader"]}"#.into(),
            "{}".into(),
            Some(NotAppliedReason::UserNotIncluded),
        ),
        (
            r#"{"all": true}"#.into(),
            format!(r#"{{"users": ["{}"]}}"#, u(1)),
            Some(NotAppliedReason::UserExcluded),
        ),
        (
            format!(r#"{{"users": ["{}"]}}"#, u(1)),
            format!(r#"{{"groups": ["{}"]}}"#, u(100)),
            Some(NotAppliedReason::UserExcluded),
        ),
        (
            r#"{"all": true}"#.into(),
            r#"{"roles": ["security_reader"]}"#.into(),
            None,
        ),
        (
            r#"{}"#.into(),
            "{}".into(),
            Some(NotAppliedReason::UserNotIncluded),
        ),
    ];
    for (inc, exc, want) in cases {
        let set = policy_set(&[&p(&inc, &exc)]);
        assert_eq!(reason(&set, &c, "p"), want, "include {inc} exclude {exc}");
    }
    let mut admin = ctx();
    admin.subject.roles = vec![Role::SecurityReader];
    let set = policy_set(&[&p(r#"{"all": true}"#, r#"{"roles": ["security_reader"]}"#)]);
    assert_eq!(
        reason(&set, &admin, "p"),
        Some(NotAppliedReason::UserExcluded)
    );
    assert_eq!(evaluate(&set, &admin).outcome, Outcome::Allow);
}

#[test]
fn targets_apps_actions_and_contexts() {
    let p = |id: &str, target: &str| {
        format!(
            r#"{{"id": "{id}", "name": "P", "state": "enabled",
              "assignments": {{"users": {{"include": {{"all": true}}}}, {target}}}, "grant": "block"}}"#
        )
    };
    let set = policy_set(&[
        &p(
            "apps",
            r#""applications": {"include": ["app1", "app2"], "exclude": []}"#,
        ),
        &p(
            "all-but-1",
            r#""applications": {"include": "all", "exclude": ["app1"]}"#,
        ),
        &p("action", r#""user_actions": ["register_security_info"]"#),
        &p("ctx", r#""authentication_contexts": ["c1"]"#),
    ]);
    let c = ctx();
    let r = |c: &AccessContext, id| reason(&set, c, id);
    assert_eq!(r(&c, "apps"), None);
    assert_eq!(
        r(&c, "all-but-1"),
        Some(NotAppliedReason::ApplicationExcluded)
    );
    assert_eq!(
        r(&c, "action"),
        Some(NotAppliedReason::UserActionNotTargeted)
    );
    assert_eq!(
        r(&c, "ctx"),
        Some(NotAppliedReason::AuthenticationContextNotRequested)
    );
    let mut c2 = ctx();
    c2.target = TargetRequest::Application {
        id: "console".into(),
        sensitivity_label: None,
        authentication_contexts: vec!["c2".into(), "c1".into()],
    };
    assert_eq!(
        r(&c2, "apps"),
        Some(NotAppliedReason::ApplicationNotTargeted)
    );
    assert_eq!(r(&c2, "all-but-1"), None);
    assert_eq!(r(&c2, "ctx"), None);
    let mut c3 = ctx();
    c3.target = TargetRequest::UserAction(UserAction::RegisterSecurityInfo);
    assert_eq!(r(&c3, "action"), None);
    assert_eq!(
        r(&c3, "apps"),
        Some(NotAppliedReason::ApplicationNotTargeted)
    );
    assert_eq!(
        r(&c3, "ctx"),
        Some(NotAppliedReason::AuthenticationContextNotRequested)
    );
    assert_eq!(
        evaluate(&set, &c3).outcome,
        Outcome::Block {
            by: Arc::from("action")
        }
    );
}

#[test]
fn risk_conditions_and_no_risk() {
    let set = policy_set(&[
        &policy(
            "sr",
            r#""conditions": {"sign_in_risk_levels": ["medium", "high"]}, "grant": "block""#,
        ),
        &policy(
            "ur",
            r#""conditions": {"user_risk_levels": ["high"]}, "grant": "block""#,
        ),
    ]);
    let mut c = ctx();
    assert_eq!(reason(&set, &c, "sr"), Some(NotAppliedReason::SignInRisk));
    assert_eq!(reason(&set, &c, "ur"), Some(NotAppliedReason::UserRisk));
    c.sign_in_risk = Some(RiskLevel::Low);
    assert_eq!(reason(&set, &c, "sr"), Some(NotAppliedReason::SignInRisk));
    c.sign_in_risk = Some(RiskLevel::Medium);
    assert_eq!(reason(&set, &c, "sr"), None);
    c.user_risk = Some(RiskLevel::High);
    assert_eq!(reason(&set, &c, "ur"), None);
}

#[test]
fn platforms_and_missing_platform() {
    let set = policy_set(&[
        &policy(
            "list",
            r#""conditions": {"device_platforms": {"include": ["windows", "linux"]}}, "grant": "block""#,
        ),
        &policy(
            "all-but-ios",
            r#""conditions": {"device_platforms": {"include": "all", "exclude": ["ios"]}}, "grant": "block""#,
        ),
    ]);
    let mut c = ctx();
    assert_eq!(reason(&set, &c, "list"), None);
    assert_eq!(reason(&set, &c, "all-but-ios"), None);
    c.platform = Some(DevicePlatform::Ios);
    assert_eq!(
        reason(&set, &c, "list"),
        Some(NotAppliedReason::DevicePlatformNotIncluded)
    );
    assert_eq!(
        reason(&set, &c, "all-but-ios"),
        Some(NotAppliedReason::DevicePlatformExcluded)
    );
    // Unknown platform: never included by a list, never excluded.
    c.platform = None;
    assert_eq!(
        reason(&set, &c, "list"),
        Some(NotAppliedReason::DevicePlatformNotIncluded)
    );
    assert_eq!(reason(&set, &c, "all-but-ios"), None);
}

#[test]
fn locations_and_missing_network_signals() {
    let set = policy_set(&[
        &policy(
            "outside-trusted",
            r#""conditions": {"locations": {"include": "all", "exclude": "all_trusted"}}, "grant": "block""#,
        ),
        &policy(
            "from-office",
            r#""conditions": {"locations": {"include": ["office"]}}, "grant": "block""#,
        ),
        &policy(
            "trusted-only",
            r#""conditions": {"locations": {"include": "all_trusted"}}, "grant": "block""#,
        ),
        &policy(
            "not-france",
            r#""conditions": {"locations": {"include": "all", "exclude": ["france"]}}, "grant": "block""#,
        ),
        &policy(
            "us-or-unknown",
            r#""conditions": {"locations": {"include": ["us-or-unknown"]}}, "grant": "block""#,
        ),
    ]);
    let r = |c: &AccessContext, id| reason(&set, c, id);
    let mut c = ctx(); // 203.0.113.5, FR
    assert_eq!(r(&c, "outside-trusted"), None);
    assert_eq!(
        r(&c, "from-office"),
        Some(NotAppliedReason::LocationNotIncluded)
    );
    assert_eq!(
        r(&c, "trusted-only"),
        Some(NotAppliedReason::LocationNotIncluded)
    );
    assert_eq!(
        r(&c, "not-france"),
        Some(NotAppliedReason::LocationExcluded)
    );
    assert_eq!(
        r(&c, "us-or-unknown"),
        Some(NotAppliedReason::LocationNotIncluded)
    );
    c.network.ip = Some("10.9.8.7".parse().unwrap());
    assert_eq!(
        r(&c, "outside-trusted"),
        Some(NotAppliedReason::LocationExcluded)
    );
    assert_eq!(r(&c, "from-office"), None);
    assert_eq!(r(&c, "trusted-only"), None);
    c.network.ip = Some("2001:db8::1".parse().unwrap());
    assert_eq!(r(&c, "from-office"), None);
    // No IP, no country: a missing signal neither includes nor excludes.
    c.network = Network::default();
    assert_eq!(
        r(&c, "outside-trusted"),
        None,
        "block outside trusted still blocks"
    );
    assert_eq!(
        r(&c, "from-office"),
        Some(NotAppliedReason::LocationNotIncluded)
    );
    assert_eq!(
        r(&c, "trusted-only"),
        Some(NotAppliedReason::LocationNotIncluded)
    );
    assert_eq!(
        r(&c, "not-france"),
        None,
        "an unknown country is not excluded as France"
    );
    // ... unless the location explicitly counts unknown countries in.
    assert_eq!(r(&c, "us-or-unknown"), None);
    assert!(matches!(evaluate(&set, &c).outcome, Outcome::Block { .. }));
}

#[test]
fn client_app_types() {
    let set = policy_set(&[&policy(
        "legacy",
        r#""conditions": {"client_app_types": ["other"]}, "grant": "block""#,
    )]);
    let mut c = ctx();
    assert_eq!(
        reason(&set, &c, "legacy"),
        Some(NotAppliedReason::ClientAppType)
    );
    c.client_app = ClientAppType::Other;
    assert_eq!(
        evaluate(&set, &c).outcome,
        Outcome::Block {
            by: Arc::from("legacy")
        }
    );
}

#[test]
fn device_filter_modes_and_missing_device() {
    let rule = r#"device.extension_attribute1 == \"kiosk\" || device.is_managed == false"#;
    let set = policy_set(&[
        &policy(
            "inc",
            &format!(
                r#""conditions": {{"device_filter": {{"mode": "include", "rule": "{rule}"}}}}, "grant": "block""#
            ),
        ),
        &policy(
            "exc",
            &format!(
                r#""conditions": {{"device_filter": {{"mode": "exclude", "rule": "{rule}"}}}}, "grant": "block""#
            ),
        ),
    ]);
    let mut c = ctx();
    // No device: the rule is unknown; include mode does not include, exclude mode does not exclude.
    assert_eq!(
        reason(&set, &c, "inc"),
        Some(NotAppliedReason::DeviceFilter)
    );
    assert_eq!(reason(&set, &c, "exc"), None);
    let mut d = DeviceSignals {
        managed: true,
        ..DeviceSignals::default()
    };
    c.device = Some(d.clone());
    // managed == false is false, extension_attribute1 unknown: the rule is unknown.
    assert_eq!(
        reason(&set, &c, "inc"),
        Some(NotAppliedReason::DeviceFilter)
    );
    assert_eq!(reason(&set, &c, "exc"), None);
    d.extension_attributes[0] = Some("kiosk".into());
    c.device = Some(d.clone());
    assert_eq!(reason(&set, &c, "inc"), None);
    assert_eq!(
        reason(&set, &c, "exc"),
        Some(NotAppliedReason::DeviceFilter)
    );
    d.extension_attributes[0] = Some("desk".into());
    c.device = Some(d);
    assert_eq!(
        reason(&set, &c, "inc"),
        Some(NotAppliedReason::DeviceFilter)
    );
    assert_eq!(reason(&set, &c, "exc"), None);
}

#[test]
fn sensitivity_labels() {
    let set = policy_set(&[&policy(
        "conf",
        r#""conditions": {"sensitivity_labels": ["confidential"]}, "grant": "block""#,
    )]);
    let mut c = ctx();
    assert_eq!(
        reason(&set, &c, "conf"),
        Some(NotAppliedReason::SensitivityLabel)
    );
    c.target = TargetRequest::Application {
        id: "app1".into(),
        sensitivity_label: Some("public".into()),
        authentication_contexts: vec![],
    };
    assert_eq!(
        reason(&set, &c, "conf"),
        Some(NotAppliedReason::SensitivityLabel)
    );
    c.target = TargetRequest::Application {
        id: "app1".into(),
        sensitivity_label: Some("confidential".into()),
        authentication_contexts: vec![],
    };
    assert_eq!(reason(&set, &c, "conf"), None);
}

#[test]
fn first_excluding_condition_is_reported() {
    // Excluded by user first, even though the location would exclude too.
    let p = format!(
        r#"{{"id": "p", "name": "P", "state": "enabled",
          "assignments": {{"users": {{"include": {{"all": true}}, "exclude": {{"users": ["{}"]}}}},
                           "applications": {{"include": ["app2"]}}}},
          "conditions": {{"locations": {{"include": ["office"]}}}}, "grant": "block"}}"#,
        u(1)
    );
    let set = policy_set(&[&p]);
    assert_eq!(
        reason(&set, &ctx(), "p"),
        Some(NotAppliedReason::UserExcluded)
    );
    let mut c = ctx();
    c.subject.user_id = u(2);
    assert_eq!(
        reason(&set, &c, "p"),
        Some(NotAppliedReason::ApplicationNotTargeted)
    );
}
