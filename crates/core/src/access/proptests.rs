//! Model-based property tests: the indexed engine against a tiny, naive, linear reference
//! evaluator written separately here (it reads the policy *document*, not the compiled set).
//!
//! Policies and contexts are decoded from random bytes over a small universe (3 users, 3
//! groups, 2 roles, 2 apps, 1 authentication context, 2 named locations, 3 device filter
//! rules) so that scopes overlap often.

use std::net::IpAddr;

use proptest::prelude::*;
use time::Duration;

use super::reference::{RULES, reference};
use super::tests::{T0, ctx, u};
use super::*;
use crate::authn::{AuthMethod, MethodUse};
use crate::identity::Role;
use crate::risk::RiskLevel;

const LOCS: &str = r#"[
  {"id": "office", "name": "Office", "trusted": true, "ip_ranges": ["10.0.0.0/8"]},
  {"id": "france", "name": "France", "countries": ["FR"]}
]"#;

fn catalog() -> StaticCatalog {
    let mut c = super::tests::catalog();
    c.applications.insert("app2".into());
    c
}

fn pick<T: Clone>(bits: u8, items: &[T]) -> Vec<T> {
    items
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, x)| x.clone())
        .collect()
}

fn nonempty<T: Clone>(bits: u8, items: &[T]) -> Vec<T> {
    let v = pick(bits, items);
    if v.is_empty() { items[..1].to_vec() } else { v }
}

fn decode_policy(id: &str, b: &[u8; 13]) -> Policy {
    let users3 = [u(1), u(2), u(3)];
    let groups3 = [u(100), u(101), u(102)];
    let state = match b[0] % 4 {
        0 | 1 => PolicyState::Enabled,
        2 => PolicyState::ReportOnly,
        _ => PolicyState::Disabled,
    };
    let include = if b[1] & 1 != 0 {
        UserInclude {
            all: true,
            ..Default::default()
        }
    } else {
        UserInclude {
            all: false,
            users: pick(b[1] >> 1, &users3),
            groups: pick(b[1] >> 4, &groups3),
            roles: if b[1] & 0x80 != 0 {
                vec![Role::GlobalAdministrator]
            } else {
                vec![]
            },
        }
    };
    let exclude = if b[2] & 0x80 != 0 {
        UserExclude {
            users: pick(b[2], &users3),
            groups: pick(b[2] >> 3, &groups3),
            roles: if b[2] & 0x40 != 0 {
                vec![Role::SecurityReader]
            } else {
                vec![]
            },
        }
    } else {
        UserExclude::default()
    };
    let apps = |include: AllOr<String>, exclude: Vec<String>| {
        (Some(ApplicationAssignment { include, exclude }), None, None)
    };
    let (applications, user_actions, authentication_contexts) = match b[3] % 8 {
        0..=2 => apps(AllOr::All, vec![]),
        3 => apps(AllOr::List(vec!["app1".into()]), vec![]),
        4 => apps(AllOr::List(vec!["app2".into()]), vec![]),
        5 => (None, Some(vec![UserAction::RegisterSecurityInfo]), None),
        6 => (None, None, Some(vec!["c1".to_string()])),
        _ => apps(AllOr::All, vec!["app2".into()]),
    };
    let is_action = user_actions.is_some();
    let levels = [RiskLevel::Low, RiskLevel::Medium, RiskLevel::High];
    let has = b[4] & b[5];
    let mut conditions = Conditions::default();
    if has & 1 != 0 {
        conditions.user_risk_levels = Some(nonempty(b[6], &levels));
    }
    if has & 2 != 0 {
        conditions.sign_in_risk_levels = Some(nonempty(b[6] >> 3, &levels));
    }
    if has & 4 != 0 {
        conditions.device_platforms = Some(PlatformCondition {
            include: if b[7] & 1 != 0 {
                AllOr::All
            } else {
                AllOr::List(nonempty(
                    b[7] >> 1,
                    &[DevicePlatform::Windows, DevicePlatform::Ios],
                ))
            },
            exclude: if b[7] & 8 != 0 {
                vec![DevicePlatform::Ios]
            } else {
                vec![]
            },
        });
    }
    if has & 8 != 0 {
        conditions.locations = Some(LocationCondition {
            include: match b[8] % 4 {
                0 => LocationInclude::All,
                1 => LocationInclude::AllTrusted,
                2 => LocationInclude::Locations(vec!["office".into()]),
                _ => LocationInclude::Locations(vec!["france".into()]),
            },
            exclude: match (b[8] >> 2) % 3 {
                0 => LocationExclude::default(),
                1 => LocationExclude::AllTrusted,
                _ => LocationExclude::Locations(vec!["france".into()]),
            },
        });
    }
    if has & 16 != 0 {
        conditions.client_app_types = Some(nonempty(
            b[9],
            &[
                ClientAppType::Other,
                ClientAppType::Browser,
                ClientAppType::MobileDesktop,
            ],
        ));
    }
    if has & 32 != 0 {
        conditions.device_filter = Some(DeviceFilter {
            mode: if b[9] & 0x20 != 0 {
                FilterMode::Exclude
            } else {
                FilterMode::Include
            },
            rule: RULES[usize::from((b[9] >> 3) % 3)].into(),
        });
    }
    if has & 64 != 0 && !is_action {
        conditions.sensitivity_labels = Some(vec!["confidential".into()]);
    }
    let operator = if b[10] & 8 != 0 {
        Operator::One
    } else {
        Operator::All
    };
    let grant = match b[10] % 8 {
        0 | 7 => Some(Grant::Block),
        1 => None,
        _ if b[10] & 16 != 0 && operator == Operator::All => {
            Some(Grant::Require(RequireControls {
                operator,
                controls: vec![GrantControl::Mfa, GrantControl::PasswordChange],
            }))
        }
        _ => {
            let strength = if b[11] & 64 != 0 {
                "passwordless_mfa"
            } else {
                "phishing_resistant_mfa"
            };
            let mut controls = pick(
                b[11],
                &[
                    GrantControl::Mfa,
                    GrantControl::AuthenticationStrength(strength.into()),
                    GrantControl::CompliantDevice,
                    GrantControl::RegisteredDevice,
                    GrantControl::TermsOfUse("tou1".into()),
                    GrantControl::RegisterSecurityInfo,
                ],
            );
            if b[11] & 3 == 3 {
                controls.remove(0);
            }
            if controls.is_empty() {
                controls.push(GrantControl::Mfa);
            }
            Some(Grant::Require(RequireControls { operator, controls }))
        }
    };
    let mut session = SessionControls {
        sign_in_frequency: match b[12] % 4 {
            0 => None,
            1 => Some(SignInFrequency::EveryHours(1)),
            2 => Some(SignInFrequency::EveryHours(4)),
            _ => Some(SignInFrequency::EveryTime),
        },
        persistent_browser: match (b[12] >> 2) % 3 {
            0 => None,
            1 => Some(PersistentBrowser::Always),
            _ => Some(PersistentBrowser::Never),
        },
    };
    if grant.is_none() && session.is_empty() {
        session.sign_in_frequency = Some(SignInFrequency::EveryHours(1));
    }
    Policy {
        id: id.into(),
        name: id.into(),
        state,
        assignments: Assignments {
            users: UserAssignment { include, exclude },
            applications,
            user_actions,
            authentication_contexts,
        },
        conditions,
        grant,
        session,
    }
}

fn decode_ctx(c: &[u8; 8]) -> AccessContext {
    let mut x = ctx();
    x.subject.user_id = u(1 + u128::from(c[0] % 3));
    x.subject.groups = pick(c[0] >> 2, &[u(100), u(101), u(102)]);
    x.subject.roles = pick(c[1], &[Role::GlobalAdministrator, Role::SecurityReader]);
    x.subject.mfa_registered = c[1] & 4 != 0;
    if c[1] & 8 != 0 {
        x.authentication.methods.push(MethodUse {
            method: AuthMethod::Totp,
            at: T0,
        });
    }
    if c[1] & 16 != 0 {
        let method = AuthMethod::Webauthn {
            synced: c[1] & 32 != 0,
            user_verified: true,
        };
        x.authentication.methods.push(MethodUse { method, at: T0 });
    }
    x.password_changed = c[1] & 64 != 0;
    x.terms_accepted = if c[1] & 128 != 0 {
        vec!["tou1".into()]
    } else {
        vec![]
    };
    x.authentication.primary_at = [None, Some(1), Some(10), Some(120), Some(300)]
        [usize::from(c[2] % 5)]
    .map(|m| x.now - Duration::minutes(m));
    let label = (c[3] & 8 != 0).then(|| "confidential".to_string());
    x.target = match c[3] % 5 {
        0 | 1 => TargetRequest::Application {
            id: "app1".into(),
            sensitivity_label: label,
            authentication_contexts: vec![],
        },
        2 => TargetRequest::Application {
            id: "app2".into(),
            sensitivity_label: label,
            authentication_contexts: vec![],
        },
        3 => TargetRequest::UserAction(UserAction::RegisterSecurityInfo),
        _ => TargetRequest::Application {
            id: "app1".into(),
            sensitivity_label: label,
            authentication_contexts: vec!["c1".into()],
        },
    };
    x.network.ip = [None, Some("10.1.1.1"), Some("203.0.113.5")][usize::from(c[4] % 3)]
        .map(|s| s.parse::<IpAddr>().unwrap());
    x.network.country =
        [None, Some("FR"), Some("US")][usize::from((c[4] >> 2) % 3)].map(String::from);
    x.client_app = [
        ClientAppType::Browser,
        ClientAppType::MobileDesktop,
        ClientAppType::Other,
    ][usize::from(c[5] % 3)];
    x.platform = [
        None,
        Some(DevicePlatform::Windows),
        Some(DevicePlatform::Ios),
        Some(DevicePlatform::Android),
    ][usize::from((c[5] >> 2) % 4)];
    x.device = (c[6] & 1 != 0).then(|| {
        let mut d = DeviceSignals {
            compliant: c[6] & 2 != 0,
            managed: c[6] & 4 != 0,
            registered: c[6] & 8 != 0,
            platform: (c[6] & 32 != 0).then_some(DevicePlatform::Ios),
            ..Default::default()
        };
        if c[6] & 16 != 0 {
            d.extension_attributes[0] = Some("kiosk".into());
        }
        d
    });
    let risk = [
        None,
        Some(RiskLevel::Low),
        Some(RiskLevel::Medium),
        Some(RiskLevel::High),
    ];
    x.sign_in_risk = risk[usize::from(c[7] % 4)];
    x.user_risk = risk[usize::from((c[7] >> 2) % 4)];
    x
}

// ---- properties --------------------------------------------------------------------------

fn build(specs: &[[u8; 13]]) -> (PolicySetDocument, PolicySet) {
    let policies = specs
        .iter()
        .enumerate()
        .map(|(i, b)| decode_policy(&format!("p{i:02}"), b))
        .collect();
    let doc = PolicySetDocument {
        policies,
        named_locations: serde_json::from_str(LOCS).unwrap(),
        authentication_strengths: vec![],
    };
    match compile(doc.clone(), &catalog()) {
        Ok(set) => (doc, set),
        Err(e) => panic!("generated policy set invalid: {e:?}"),
    }
}

fn specs() -> impl Strategy<Value = Vec<[u8; 13]>> {
    prop::collection::vec(any::<[u8; 13]>(), 0..12)
}

proptest! {
    // 512 cases by default; PROPTEST_CASES=20000 for a longer run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn indexed_evaluate_matches_reference_and_explain(specs in specs(), c in any::<[u8; 8]>()) {
        let (doc, set) = build(&specs);
        let c = decode_ctx(&c);
        let fast = evaluate(&set, &c);
        let full = explain(&set, &c);
        prop_assert_eq!(&fast.outcome, &reference(&doc, &c));
        prop_assert_eq!(&fast.outcome, &full.outcome);
        prop_assert_eq!(&fast.session, &full.session);
        prop_assert_eq!(full.records.len(), set.len());
        for r in &fast.records {
            prop_assert_eq!(Some(r), full.record(&r.policy_id));
        }
        // Every policy the fast path skipped was out of scope or disabled.
        for r in &full.records {
            if fast.record(&r.policy_id).is_none() {
                prop_assert!(!r.applied);
            }
        }
    }

    #[test]
    fn exclusions_always_win(specs in specs(), c in any::<[u8; 8]>(), by_group in any::<bool>()) {
        let (mut doc, _) = build(&specs);
        let c = decode_ctx(&c);
        for p in &mut doc.policies {
            match (by_group, c.subject.groups.first()) {
                (true, Some(g)) => p.assignments.users.exclude.groups.push(*g),
                _ => p.assignments.users.exclude.users.push(c.subject.user_id),
            }
        }
        let set = compile(doc, &catalog()).unwrap();
        let d = explain(&set, &c);
        prop_assert_eq!(&d.outcome, &Outcome::Allow);
        for r in &d.records {
            prop_assert!(!r.applied);
            prop_assert!(r.excluded_by.is_none() || matches!(r.excluded_by, Some(NotAppliedReason::UserExcluded | NotAppliedReason::UserNotIncluded)));
        }
    }

    #[test]
    fn adding_a_block_never_unblocks(specs in specs(), extra in any::<[u8; 13]>(), c in any::<[u8; 8]>()) {
        let (doc, set) = build(&specs);
        let c = decode_ctx(&c);
        let before = evaluate(&set, &c).outcome;
        let mut doc2 = doc;
        let mut p = decode_policy("zz-extra", &extra);
        p.grant = Some(Grant::Block);
        doc2.policies.push(p);
        let after = evaluate(&compile(doc2, &catalog()).unwrap(), &c).outcome;
        if matches!(before, Outcome::Block { .. }) {
            prop_assert!(matches!(after, Outcome::Block { .. }), "{:?} -> {:?}", before, after);
        }
    }

    #[test]
    fn report_only_and_disabled_never_change_the_outcome(specs in specs(), c in any::<[u8; 8]>()) {
        let (doc, set) = build(&specs);
        let c = decode_ctx(&c);
        let mut only_enabled = doc;
        only_enabled.policies.retain(|p| p.state == PolicyState::Enabled);
        let reduced = compile(only_enabled, &catalog()).unwrap();
        prop_assert_eq!(evaluate(&set, &c).outcome, evaluate(&reduced, &c).outcome);
    }

    #[test]
    fn policy_order_never_changes_the_decision(specs in specs(), c in any::<[u8; 8]>(), seed in any::<u64>()) {
        let (doc, set) = build(&specs);
        let c = decode_ctx(&c);
        let mut shuffled = doc;
        let n = shuffled.policies.len();
        let mut s = seed | 1;
        for i in (1..n).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            shuffled.policies.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let set2 = compile(shuffled, &catalog()).unwrap();
        prop_assert_eq!(explain(&set, &c), explain(&set2, &c));
        prop_assert_eq!(evaluate(&set, &c), evaluate(&set2, &c));
    }
}

/// The generators above must exercise every outcome, or the properties prove little.
#[test]
fn generators_cover_every_outcome() {
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut byte = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 24) as u8
    };
    let (mut allow, mut block, mut requires, mut one_of, mut reauth) = (0, 0, 0, 0, 0);
    for _ in 0..2000 {
        let specs: Vec<[u8; 13]> = (0..6).map(|_| std::array::from_fn(|_| byte())).collect();
        let c: [u8; 8] = std::array::from_fn(|_| byte());
        let (_, set) = build(&specs);
        match evaluate(&set, &decode_ctx(&c)).outcome {
            Outcome::Allow => allow += 1,
            Outcome::Block { .. } => block += 1,
            Outcome::Requires(r) => {
                requires += 1;
                one_of += usize::from(r.iter().any(|r| matches!(r, Requirement::OneOf { .. })));
                reauth += usize::from(r.contains(&Requirement::Reauthenticate));
            }
        }
    }
    assert!(
        allow > 100 && block > 100 && requires > 100,
        "{allow} {block} {requires}"
    );
    assert!(one_of > 20 && reauth > 20, "{one_of} {reauth}");
}
