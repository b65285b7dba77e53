//! Evaluation: controls, strengths, frequency, requirement order, one-of, report-only, records.

use std::sync::Arc;

use time::Duration;

use super::tests::{T0, add_method, ctx, policy, policy_set};
use super::*;
use crate::authn::AuthMethod;

fn strength(id: &str) -> Requirement {
    Requirement::AuthenticationStrength {
        strength: Arc::from(id),
    }
}

fn requires(set: &PolicySet, c: &AccessContext) -> Vec<Requirement> {
    match evaluate(set, c).outcome {
        Outcome::Requires(r) => r,
        other => panic!("expected requirements, got {other:?}"),
    }
}

const MFA: &str = r#""grant": {"operator": "all", "controls": ["mfa"]}"#;

#[test]
fn no_policy_allows() {
    let set = policy_set(&[]);
    let d = evaluate(&set, &ctx());
    assert_eq!(d.outcome, Outcome::Allow);
    assert!(d.records.is_empty());
}

#[test]
fn strengths_strongest_wins_and_custom() {
    let set = policy_set(&[
        &policy("a-mfa", MFA),
        &policy(
            "b-phish",
            r#""grant": {"operator": "all", "controls": [{"authentication_strength": "phishing_resistant_mfa"}]}"#,
        ),
        &policy(
            "c-pwless",
            r#""grant": {"operator": "all", "controls": [{"authentication_strength": "passwordless_mfa"}]}"#,
        ),
    ]);
    let mut c = ctx();
    assert_eq!(requires(&set, &c), vec![strength("phishing_resistant_mfa")]);
    add_method(&mut c, AuthMethod::Totp);
    assert_eq!(requires(&set, &c), vec![strength("phishing_resistant_mfa")]);
    let mut c = ctx();
    add_method(
        &mut c,
        AuthMethod::Webauthn {
            synced: true,
            user_verified: true,
        },
    );
    assert_eq!(evaluate(&set, &c).outcome, Outcome::Allow);

    let custom = policy_set(&[
        &policy(
            "k",
            r#""grant": {"operator": "all", "controls": [{"authentication_strength": "key-or-totp"}]}"#,
        ),
        &policy("m", MFA),
    ]);
    let mut c = ctx();
    // key-or-totp implies mfa: only the custom strength is asked for.
    assert_eq!(requires(&custom, &c), vec![strength("key-or-totp")]);
    add_method(&mut c, AuthMethod::EmailCode);
    // password + email code is MFA but not key-or-totp.
    assert_eq!(requires(&custom, &c), vec![strength("key-or-totp")]);
    add_method(&mut c, AuthMethod::Totp);
    assert_eq!(evaluate(&custom, &c).outcome, Outcome::Allow);
}

#[test]
fn fixed_requirement_order_and_dedup() {
    let set = policy_set(&[
        &policy(
            "a",
            r#""grant": {"operator": "all", "controls": [{"terms_of_use": "tou2"}, "registered_device", {"terms_of_use": "tou1"}]}"#,
        ),
        &policy(
            "b",
            r#""grant": {"operator": "all", "controls": ["mfa", "password_change"]}"#,
        ),
        &policy(
            "c",
            r#""grant": {"operator": "all", "controls": ["compliant_device", "register_security_info", "mfa"]}"#,
        ),
        &policy(
            "d",
            r#""session": {"sign_in_frequency": {"every_hours": 1}}"#,
        ),
    ]);
    let mut c = ctx();
    c.subject.mfa_registered = false;
    c.now = T0 + Duration::hours(2);
    assert_eq!(
        requires(&set, &c),
        vec![
            Requirement::Reauthenticate,
            Requirement::RegisterSecurityInfo,
            strength("mfa"),
            Requirement::CompliantDevice,
            Requirement::PasswordChange,
            Requirement::TermsOfUse {
                id: Arc::from("tou1")
            },
            Requirement::TermsOfUse {
                id: Arc::from("tou2")
            },
        ],
        "registered device is covered by compliant device; mfa asked once"
    );
    c.terms_accepted = vec!["tou1".into(), "tou2".into()];
    c.password_changed = true;
    c.subject.mfa_registered = true;
    c.device = Some(DeviceSignals {
        registered: true,
        compliant: true,
        ..Default::default()
    });
    add_method(&mut c, AuthMethod::Totp);
    c.authentication.primary_at = Some(c.now);
    assert_eq!(evaluate(&set, &c).outcome, Outcome::Allow);
}

#[test]
fn one_of_operator() {
    let one = r#""grant": {"operator": "one", "controls": ["compliant_device", "mfa", {"terms_of_use": "tou1"}]}"#;
    let set = policy_set(&[&policy("one", one)]);
    let mut c = ctx();
    assert_eq!(
        requires(&set, &c),
        vec![Requirement::OneOf {
            any: vec![
                strength("mfa"),
                Requirement::CompliantDevice,
                Requirement::TermsOfUse {
                    id: Arc::from("tou1")
                }
            ]
        }]
    );
    c.terms_accepted = vec!["tou1".into()];
    assert_eq!(
        evaluate(&set, &c).outcome,
        Outcome::Allow,
        "one alternative met"
    );
    // An alternative required anyway by another policy makes the one-of redundant.
    let set = policy_set(&[
        &policy("one", one),
        &policy(
            "two",
            r#""grant": {"operator": "all", "controls": [{"authentication_strength": "phishing_resistant_mfa"}]}"#,
        ),
    ]);
    assert_eq!(
        requires(&set, &ctx()),
        vec![strength("phishing_resistant_mfa")]
    );
    let rec = explain(&set, &ctx());
    let r = rec.record("one").unwrap();
    assert_eq!(
        r.controls.iter().map(|c| c.met).collect::<Vec<_>>(),
        [false, false, false]
    );
}

#[test]
fn sign_in_frequency_and_session_controls() {
    let set = policy_set(&[
        &policy(
            "h4",
            r#""session": {"sign_in_frequency": {"every_hours": 4}, "persistent_browser": "always"}"#,
        ),
        &policy(
            "h8",
            r#""session": {"sign_in_frequency": {"every_hours": 8}, "persistent_browser": "never"}"#,
        ),
    ]);
    let mut c = ctx();
    let d = evaluate(&set, &c);
    assert_eq!(d.outcome, Outcome::Allow);
    assert_eq!(
        d.session.sign_in_frequency,
        Some(SignInFrequency::EveryHours(4))
    );
    assert_eq!(d.session.persistent_browser, Some(PersistentBrowser::Never));
    c.now = T0 + Duration::hours(4);
    assert_eq!(
        evaluate(&set, &c).outcome,
        Outcome::Allow,
        "exactly N hours is still fresh"
    );
    c.now = T0 + Duration::hours(5);
    assert_eq!(requires(&set, &c), vec![Requirement::Reauthenticate]);
    let d = explain(&set, &c);
    assert!(d.record("h4").unwrap().reauthentication_required);
    assert!(!d.record("h8").unwrap().reauthentication_required);
    c.authentication.primary_at = None;
    c.now = T0;
    assert_eq!(
        requires(&set, &c),
        vec![Requirement::Reauthenticate],
        "no primary sign-in is stale"
    );

    let every = policy_set(&[
        &policy("e", r#""session": {"sign_in_frequency": "every_time"}"#),
        &policy(
            "h",
            r#""session": {"sign_in_frequency": {"every_hours": 1}}"#,
        ),
    ]);
    let mut c = ctx();
    c.now = T0 + Duration::minutes(5);
    let d = evaluate(&every, &c);
    assert_eq!(d.outcome, Outcome::Allow);
    assert_eq!(
        d.session.sign_in_frequency,
        Some(SignInFrequency::EveryTime)
    );
    c.now = T0 + Duration::minutes(6);
    assert_eq!(requires(&every, &c), vec![Requirement::Reauthenticate]);
}

#[test]
fn report_only_and_disabled_are_recorded_but_never_enforced() {
    let set = policy_set(&[
        &policy("block-ro", r#""grant": "block""#).replace("\"enabled\"", "\"report_only\""),
        &policy("mfa-ro", MFA).replace("\"enabled\"", "\"report_only\""),
        &policy("off", r#""grant": "block""#).replace("\"enabled\"", "\"disabled\""),
    ]);
    let c = ctx();
    let d = explain(&set, &c);
    assert_eq!(d.outcome, Outcome::Allow);
    assert!(d.complete);
    let r = d.record("block-ro").unwrap();
    assert!(r.applied && !r.enforced);
    assert_eq!(r.result, PolicyResult::Block);
    let r = d.record("mfa-ro").unwrap();
    assert_eq!(
        r.result,
        PolicyResult::Unsatisfied {
            requirements: vec![strength("mfa")]
        }
    );
    assert_eq!(
        r.controls,
        vec![ControlResult {
            control: GrantControl::Mfa,
            met: false
        }]
    );
    let r = d.record("off").unwrap();
    assert_eq!(
        (r.state, r.applied, &r.result),
        (PolicyState::Disabled, false, &PolicyResult::Disabled)
    );
    let fast = evaluate(&set, &c);
    assert_eq!(fast.outcome, d.outcome);
    assert!(!fast.complete);
    assert!(
        fast.record("off").is_none(),
        "disabled policies are not candidates"
    );
    assert_eq!(fast.policies_total, 3);
}

#[test]
fn block_names_the_first_policy_by_id_and_beats_requirements() {
    let set = policy_set(&[
        &policy("zz-block", ""),
        &policy("aa-mfa", MFA),
        &policy("mm-block", ""),
    ]);
    assert_eq!(
        evaluate(&set, &ctx()).outcome,
        Outcome::Block {
            by: Arc::from("mm-block")
        }
    );
}

#[test]
fn decision_serialises_for_the_sign_in_log() {
    let set = policy_set(&[
        &policy("p", MFA),
        &policy(
            "q",
            r#""conditions": {"client_app_types": ["other"]}, "grant": "block""#,
        ),
    ]);
    let d = explain(&set, &ctx());
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "outcome": {"requires": [{"type": "authentication_strength", "strength": "mfa"}]},
            "session": {"sign_in_frequency": null, "persistent_browser": null},
            "records": [
                {"policy_id": "p", "state": "enabled", "applied": true, "enforced": true,
                 "result": {"result": "unsatisfied", "requirements": [{"type": "authentication_strength", "strength": "mfa"}]},
                 "controls": [{"control": "mfa", "met": false}]},
                {"policy_id": "q", "state": "enabled", "applied": false, "enforced": false,
                 "excluded_by": "client_app_type", "result": {"result": "not_applied"}}
            ],
            "complete": true,
            "policies_total": 2
        })
    );
    let back: Decision = serde_json::from_value(v).unwrap();
    assert_eq!(back, d);
}

#[test]
fn a_one_of_covered_by_a_stricter_one_of_is_dropped() {
    let set = policy_set(&[
        &policy(
            "a",
            r#""grant": {"operator": "one", "controls": ["register_security_info", {"authentication_strength": "passwordless_mfa"}]}"#,
        ),
        &policy(
            "b",
            r#""grant": {"operator": "one", "controls": ["register_security_info", {"authentication_strength": "phishing_resistant_mfa"}]}"#,
        ),
        &policy(
            "c",
            r#""grant": {"operator": "one", "controls": ["mfa", "compliant_device"]}"#,
        ),
        &policy(
            "d",
            r#""grant": {"operator": "one", "controls": [{"authentication_strength": "phishing_resistant_mfa"}, "compliant_device"]}"#,
        ),
    ]);
    let mut c = ctx();
    c.subject.mfa_registered = false;
    // a and b are equivalent (the later strength is kept); d is stricter than c.
    assert_eq!(
        requires(&set, &c),
        vec![
            Requirement::OneOf {
                any: vec![
                    Requirement::RegisterSecurityInfo,
                    strength("phishing_resistant_mfa")
                ]
            },
            Requirement::OneOf {
                any: vec![
                    strength("phishing_resistant_mfa"),
                    Requirement::CompliantDevice
                ]
            },
        ]
    );
}
