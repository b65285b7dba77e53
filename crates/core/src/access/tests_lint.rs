//! Lint warnings and templates.

use super::tests::{catalog, ctx, policy, policy_set, u};
use super::*;
use crate::identity::Role;
use crate::risk::RiskLevel;

fn codes(set: &PolicySet, dir: &LintDirectory) -> Vec<(String, WarningCode)> {
    lint(set, dir)
        .into_iter()
        .map(|w| (w.policy_id, w.code))
        .collect()
}

fn admin(id: u128, group: u128) -> DirectoryUser {
    DirectoryUser {
        id: u(id),
        groups: vec![u(group)],
        roles: vec![Role::GlobalAdministrator],
    }
}

fn scoped(id: &str, users: &str, grant: &str) -> String {
    format!(
        r#"{{"id": "{id}", "name": "{id}", "state": "enabled",
          "assignments": {{"users": {users}, "applications": {{"include": "all"}}}}, {grant}}}"#
    )
}

#[test]
fn block_locking_out_every_global_administrator() {
    let dir = LintDirectory {
        administrators: vec![admin(1, 100), admin(2, 101)],
        ..Default::default()
    };
    let excl_one = format!(
        r#"{{"include": {{"all": true}}, "exclude": {{"users": ["{}"]}}}}"#,
        u(2)
    );
    let set = policy_set(&[
        &scoped(
            "all",
            r#"{"include": {"roles": ["global_administrator"]}}"#,
            r#""grant": "block""#,
        ),
        &scoped("spared", &excl_one, r#""grant": "block""#),
        &scoped(
            "mfa",
            r#"{"include": {"roles": ["global_administrator"]}}"#,
            r#""grant": {"operator": "all", "controls": ["mfa"]}"#,
        ),
    ]);
    let w = lint(&set, &dir);
    let lockouts: Vec<_> = w
        .iter()
        .filter(|w| w.code == WarningCode::LocksOutAdministrators)
        .collect();
    assert_eq!(lockouts.len(), 1);
    assert_eq!(lockouts[0].policy_id, "all");
    assert!(
        lockouts[0]
            .message
            .contains("blocks all 2 global administrator(s)"),
        "{}",
        lockouts[0].message
    );
    // A block on one application that is not the console is no lock-out.
    let one_app = r#"{"id": "one", "name": "one", "state": "enabled",
        "assignments": {"users": {"include": {"all": true}}, "applications": {"include": ["app1"]}}, "grant": "block"}"#;
    let set = policy_set(&[one_app]);
    let mut dir = dir;
    assert!(
        !codes(&set, &dir)
            .iter()
            .any(|c| c.1 == WarningCode::LocksOutAdministrators)
    );
    dir.console_application = Some("app1".into());
    assert!(
        codes(&set, &dir)
            .iter()
            .any(|c| c.1 == WarningCode::LocksOutAdministrators)
    );
}

#[test]
fn emergency_access_exclusions() {
    let set = policy_set(&[&policy("no-excl", "")]);
    assert_eq!(
        codes(&set, &LintDirectory::default()),
        vec![("no-excl".to_string(), WarningCode::NoExclusions)]
    );
    let glass = DirectoryUser {
        id: u(20),
        groups: vec![u(120)],
        roles: vec![],
    };
    let dir = LintDirectory {
        emergency_access: vec![glass],
        ..Default::default()
    };
    assert_eq!(
        codes(&set, &dir),
        vec![(
            "no-excl".to_string(),
            WarningCode::EmergencyAccessNotExcluded
        )]
    );
    let by_group = scoped(
        "by-group",
        &format!(
            r#"{{"include": {{"all": true}}, "exclude": {{"groups": ["{}"]}}}}"#,
            u(120)
        ),
        r#""grant": "block""#,
    );
    let set = policy_set(&[&by_group]);
    assert!(codes(&set, &dir).is_empty());
    assert!(codes(&set, &LintDirectory::default()).is_empty());
}

#[test]
fn targets_nobody_and_duplicates() {
    let id1 = u(1);
    let set = policy_set(&[
        &scoped("empty", r#"{"include": {}}"#, r#""grant": "block""#),
        &scoped(
            "cancelled",
            &format!(r#"{{"include": {{"users": ["{id1}"]}}, "exclude": {{"users": ["{id1}"]}}}}"#),
            r#""grant": "block""#,
        ),
        &format!(
            r#"{{"id": "apps-cancelled", "name": "x", "state": "enabled",
              "assignments": {{"users": {{"include": {{"users": ["{id1}"]}}}},
                "applications": {{"include": ["app1"], "exclude": ["app1", "app2"]}}}}, "grant": "block"}}"#
        ),
        &scoped(
            "dup-a",
            &format!(r#"{{"include": {{"users": ["{id1}"]}}}}"#),
            r#""grant": {"operator": "all", "controls": ["mfa", "compliant_device"]}"#,
        ),
        &scoped(
            "dup-b",
            &format!(r#"{{"include": {{"users": ["{id1}", "{id1}"]}}}}"#),
            r#""grant": {"operator": "all", "controls": ["compliant_device", "mfa"]}"#,
        )
        .replace("\"enabled\"", "\"report_only\""),
        &scoped(
            "not-dup",
            &format!(r#"{{"include": {{"users": ["{id1}"]}}}}"#),
            r#""grant": {"operator": "one", "controls": ["compliant_device", "mfa"]}"#,
        ),
    ]);
    assert_eq!(
        codes(&set, &LintDirectory::default()),
        vec![
            ("apps-cancelled".to_string(), WarningCode::TargetsNobody),
            ("cancelled".to_string(), WarningCode::TargetsNobody),
            ("dup-b".to_string(), WarningCode::Duplicate),
            ("empty".to_string(), WarningCode::TargetsNobody),
        ]
    );
    let w = lint(&set, &LintDirectory::default());
    assert!(w.iter().any(|w| {
        w.message
            .contains("same assignments, conditions and controls as policy \"dup-a\"")
    }));
}

#[test]
fn templates_are_disabled_valid_and_do_what_they_say() {
    let t = templates();
    assert_eq!(t.len(), 5);
    assert!(t.iter().all(|p| p.state == PolicyState::Disabled));
    let doc = PolicySetDocument {
        policies: t.clone(),
        ..Default::default()
    };
    let set = compile(doc.clone(), &StaticCatalog::default()).unwrap();
    assert!(
        evaluate(&set, &ctx()).is_allowed(),
        "disabled templates change nothing"
    );
    // Enabled, they behave as named.
    let mut enabled = doc;
    for p in &mut enabled.policies {
        p.state = PolicyState::Enabled;
    }
    let set = compile(enabled, &catalog()).unwrap();
    let mut c = ctx();
    assert!(
        evaluate(&set, &c).is_allowed(),
        "a plain user at no risk passes"
    );
    c.client_app = ClientAppType::Other;
    assert_eq!(
        evaluate(&set, &c).outcome,
        Outcome::Block {
            by: "block-legacy-authentication".into()
        }
    );
    let mut c = ctx();
    c.subject.roles = vec![Role::HelpdeskAdministrator];
    assert_eq!(
        evaluate(&set, &c).outcome,
        Outcome::Requires(vec![Requirement::AuthenticationStrength {
            strength: "mfa".into()
        }])
    );
    let mut c = ctx();
    c.subject.mfa_registered = false;
    assert_eq!(
        evaluate(&set, &c).outcome,
        Outcome::Requires(vec![Requirement::RegisterSecurityInfo])
    );
    let mut c = ctx();
    c.user_risk = Some(RiskLevel::High);
    assert_eq!(
        evaluate(&set, &c).outcome,
        Outcome::Requires(vec![
            Requirement::AuthenticationStrength {
                strength: "mfa".into()
            },
            Requirement::PasswordChange
        ])
    );
    let mut c = ctx();
    c.sign_in_risk = Some(RiskLevel::Medium);
    assert_eq!(
        evaluate(&set, &c).outcome,
        Outcome::Requires(vec![Requirement::AuthenticationStrength {
            strength: "mfa".into()
        }])
    );
}
