//! Conditional access decision time at 10, 100, 1,000 and 10,000 realistic mixed policies, for
//! a user in 50 groups. `evaluate` is the fast (indexed) path every enforcement point calls;
//! `explain` records every policy (sign-in log, what-if) and is linear by design.
//!
//! `cargo bench -p trustplane-core --bench access`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::Duration as StdDuration;

use criterion::{BenchmarkId, Criterion, black_box, criterion_group, criterion_main};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use trustplane_core::access::*;
use trustplane_core::authn::{AuthMethod, MethodUse};
use trustplane_core::identity::Role;
use trustplane_core::risk::RiskLevel;
use uuid::Uuid;

const T0: OffsetDateTime = datetime!(2026-11-25 10:00 UTC);

/// xorshift64*: small, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pct(&mut self, p: usize) -> bool {
        self.below(100) < p
    }
}

struct World {
    groups: Vec<Uuid>,
    apps: Vec<String>,
    users: Vec<Uuid>,
}

fn world(n: usize) -> World {
    World {
        groups: (0..(n / 2).max(200))
            .map(|i| Uuid::from_u128(0x1000_0000 + i as u128))
            .collect(),
        apps: (0..(n / 10).max(20)).map(|i| format!("app-{i}")).collect(),
        users: (0..1000)
            .map(|i| Uuid::from_u128(0x2000_0000 + i as u128))
            .collect(),
    }
}

/// A realistic mix: mostly group-scoped policies on a few applications; a few for all users,
/// for admin roles, on all applications, on authentication contexts and user actions; grants
/// of MFA, strengths, devices, terms, blocks and session-only policies; some conditions.
/// The parts are drawn from `r` in a fixed order (state, users, target, conditions, grant
/// and session), so a seed always gives the same policies.
fn policy(i: usize, w: &World, r: &mut Rng) -> Policy {
    let state = match r.below(100) {
        0..=79 => PolicyState::Enabled,
        80..=94 => PolicyState::ReportOnly,
        _ => PolicyState::Disabled,
    };
    let users = users(w, r);
    let (applications, user_actions, authentication_contexts) = target(w, r);
    let conditions = conditions(r, user_actions.is_some());
    let (grant, session) = grant_and_session(r);
    Policy {
        id: format!("policy-{i:05}"),
        name: format!("Policy {i}"),
        state,
        assignments: Assignments {
            users,
            applications,
            user_actions,
            authentication_contexts,
        },
        conditions,
        grant,
        session,
    }
}

/// Mostly one to three groups (sometimes a user too), a few for all users or admin roles;
/// half exclude the break-glass group.
fn users(w: &World, r: &mut Rng) -> UserAssignment {
    let mut include = UserInclude::default();
    match r.below(100) {
        0..=1 => include.all = true,
        2..=6 => include.roles = vec![Role::GlobalAdministrator, Role::SecurityAdministrator],
        _ => {
            for _ in 0..1 + r.below(3) {
                include.groups.push(w.groups[r.below(w.groups.len())]);
            }
            if r.pct(20) {
                include.users.push(w.users[r.below(w.users.len())]);
            }
        }
    }
    let mut exclude = UserExclude::default();
    if r.pct(50) {
        exclude.groups.push(w.groups[0]); // break-glass group
    }
    UserAssignment { include, exclude }
}

type Target = (
    Option<ApplicationAssignment>,
    Option<Vec<UserAction>>,
    Option<Vec<String>>,
);

/// Mostly one to three applications, some all applications, a few authentication contexts
/// or a user action.
fn target(w: &World, r: &mut Rng) -> Target {
    match r.below(100) {
        0..=9 => (
            Some(ApplicationAssignment {
                include: AllOr::All,
                exclude: if r.pct(30) {
                    vec![w.apps[r.below(w.apps.len())].clone()]
                } else {
                    vec![]
                },
            }),
            None,
            None,
        ),
        10..=94 => (
            Some(ApplicationAssignment {
                include: AllOr::List(
                    (0..1 + r.below(3))
                        .map(|_| w.apps[r.below(w.apps.len())].clone())
                        .collect(),
                ),
                exclude: vec![],
            }),
            None,
            None,
        ),
        95..=97 => (None, None, Some(vec![format!("c{}", r.below(5))])),
        _ => (None, Some(vec![UserAction::RegisterSecurityInfo]), None),
    }
}

/// Some locations, platforms, client apps, sign-in risk, device filter and (not for a user
/// action) sensitivity label conditions.
fn conditions(r: &mut Rng, user_action: bool) -> Conditions {
    let mut conditions = Conditions::default();
    if r.pct(30) {
        conditions.locations = Some(LocationCondition {
            include: LocationInclude::All,
            exclude: LocationExclude::AllTrusted,
        });
    }
    if r.pct(20) {
        conditions.device_platforms = Some(PlatformCondition {
            include: AllOr::List(vec![DevicePlatform::Ios, DevicePlatform::Android]),
            exclude: vec![],
        });
    }
    if r.pct(10) {
        conditions.client_app_types = Some(vec![ClientAppType::Other]);
    }
    if r.pct(15) {
        conditions.sign_in_risk_levels = Some(vec![RiskLevel::Medium, RiskLevel::High]);
    }
    if r.pct(10) {
        conditions.device_filter = Some(DeviceFilter {
            mode: FilterMode::Exclude,
            rule: r#"device.trust_type == "managed" && device.extension_attribute3 in ["kiosk", "lab"]"#.into(),
        });
    }
    if r.pct(5) && !user_action {
        conditions.sensitivity_labels = Some(vec!["confidential".into()]);
    }
    conditions
}

/// Blocks, MFA, strengths, devices and terms; the rest session-only (a sign-in frequency);
/// some never keep a persistent browser session.
fn grant_and_session(r: &mut Rng) -> (Option<Grant>, SessionControls) {
    let controls = |v: Vec<GrantControl>| {
        Some(Grant::Require(RequireControls {
            operator: Operator::All,
            controls: v,
        }))
    };
    let mut session = SessionControls::default();
    let grant = match r.below(100) {
        0..=14 => Some(Grant::Block),
        15..=44 => controls(vec![GrantControl::Mfa]),
        45..=59 => controls(vec![GrantControl::AuthenticationStrength(
            "phishing_resistant_mfa".into(),
        )]),
        60..=69 => controls(vec![GrantControl::Mfa, GrantControl::CompliantDevice]),
        70..=79 => Some(Grant::Require(RequireControls {
            operator: Operator::One,
            controls: vec![
                GrantControl::CompliantDevice,
                GrantControl::RegisteredDevice,
            ],
        })),
        80..=84 => controls(vec![GrantControl::TermsOfUse("tou".into())]),
        _ => {
            session.sign_in_frequency =
                Some(SignInFrequency::EveryHours([1, 4, 8, 12][r.below(4)]));
            None
        }
    };
    if r.pct(10) {
        session.persistent_browser = Some(PersistentBrowser::Never);
    }
    (grant, session)
}

fn policy_set(n: usize) -> (PolicySet, World) {
    let w = world(n);
    let mut r = Rng(0x9e37_79b9_7f4a_7c15 ^ n as u64);
    let doc = PolicySetDocument {
        policies: (0..n).map(|i| policy(i, &w, &mut r)).collect(),
        named_locations: vec![NamedLocation {
            id: "office".into(),
            name: "Office".into(),
            trusted: true,
            ip_ranges: Some(vec!["198.51.100.0/24".into(), "2001:db8::/32".into()]),
            countries: None,
            include_unknown_countries: false,
        }],
        authentication_strengths: vec![],
    };
    let catalog = StaticCatalog {
        users: w.users.iter().copied().collect(),
        groups: w.groups.iter().copied().collect(),
        applications: w.apps.iter().cloned().collect(),
        sensitivity_labels: ["confidential".to_string()].into(),
        authentication_contexts: (0..5).map(|i| format!("c{i}")).collect(),
        terms_of_use: ["tou".to_string()].into(),
    };
    (compile(doc, &catalog).unwrap(), w)
}

/// A user in 50 groups (one of them the most used), signed in with password + TOTP, on a
/// Windows browser outside the office.
fn context(w: &World, r: &mut Rng) -> AccessContext {
    let groups = (0..50)
        .map(|_| w.groups[1 + r.below(w.groups.len() - 1)])
        .collect();
    AccessContext {
        subject: Subject {
            user_id: w.users[r.below(w.users.len())],
            groups,
            roles: vec![],
            mfa_registered: true,
        },
        authentication: Authentication {
            methods: vec![
                MethodUse {
                    method: AuthMethod::Password,
                    at: T0,
                },
                MethodUse {
                    method: AuthMethod::Totp,
                    at: T0,
                },
            ],
            primary_at: Some(T0),
        },
        now: T0 + Duration::minutes(90),
        target: TargetRequest::Application {
            id: w.apps[r.below(w.apps.len())].clone(),
            sensitivity_label: None,
            authentication_contexts: vec![],
        },
        network: Network {
            ip: Some("203.0.113.9".parse().unwrap()),
            country: Some("FR".into()),
        },
        client_app: ClientAppType::Browser,
        platform: Some(DevicePlatform::Windows),
        device: Some(DeviceSignals {
            registered: true,
            managed: true,
            compliant: true,
            trust_type: Some(TrustType::Managed),
            platform: Some(DevicePlatform::Windows),
            ..DeviceSignals::default()
        }),
        sign_in_risk: None,
        user_risk: None,
        terms_accepted: vec![],
        password_changed: false,
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("access");
    g.warm_up_time(StdDuration::from_secs(1));
    g.measurement_time(StdDuration::from_secs(3));
    for n in [10, 100, 1_000, 10_000] {
        let (set, w) = policy_set(n);
        let mut r = Rng(42);
        // 64 different requests, cycled, so the numbers are not one lucky request.
        let ctxs: Vec<AccessContext> = (0..64).map(|_| context(&w, &mut r)).collect();
        let candidates: usize = ctxs.iter().map(|c| evaluate(&set, c).records.len()).sum();
        println!(
            "{n} policies: {:.1} candidate policies per request on average",
            candidates as f64 / ctxs.len() as f64
        );
        let mut i = 0;
        g.bench_with_input(BenchmarkId::new("evaluate", n), &set, |b, set| {
            b.iter(|| {
                i = (i + 1) % ctxs.len();
                black_box(evaluate(set, black_box(&ctxs[i])))
            })
        });
        let mut i = 0;
        g.bench_with_input(BenchmarkId::new("explain", n), &set, |b, set| {
            b.iter(|| {
                i = (i + 1) % ctxs.len();
                black_box(explain(set, black_box(&ctxs[i])))
            })
        });
    }
    g.finish();
    let mut g = c.benchmark_group("access_compile");
    g.sample_size(10);
    for n in [100, 10_000] {
        g.bench_function(BenchmarkId::new("compile", n), |b| {
            b.iter(|| black_box(policy_set(n)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
