//! The reference model for the property tests: a naive linear evaluator over the policy
//! *document*, written independently of the engine (no index, no compiled form, no parser:
//! the three device filter rules the generators use are evaluated by hand).

use std::net::IpAddr;
use std::sync::Arc;

use time::Duration;

use super::*;
use crate::authn::amr;

pub(super) const RULES: [&str; 3] = [
    "device.is_compliant == true",
    r#"device.extension_attribute1 == "kiosk" || device.is_managed == false"#,
    r#"!(device.platform in ["ios", "android"])"#,
];

// ---- the reference model -----------------------------------------------------------------

fn kleene_or(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    }
}

fn ref_rule(rule: &str, d: Option<&DeviceSignals>) -> Option<bool> {
    let d = d?;
    match RULES.iter().position(|r| *r == rule) {
        Some(0) => Some(d.compliant),
        Some(1) => kleene_or(
            d.extension_attributes[0].as_ref().map(|v| v == "kiosk"),
            Some(!d.managed),
        ),
        _ => d
            .platform
            .map(|p| !matches!(p, DevicePlatform::Ios | DevicePlatform::Android)),
    }
}

fn in_location(id: &str, c: &AccessContext) -> bool {
    match id {
        "office" => c
            .network
            .ip
            .is_some_and(|ip| matches!(ip, IpAddr::V4(v4) if v4.octets()[0] == 10)),
        _ => c.network.country.as_deref() == Some("FR"),
    }
}

fn ref_applies(p: &Policy, c: &AccessContext) -> bool {
    let (inc, exc) = (&p.assignments.users.include, &p.assignments.users.exclude);
    let s = &c.subject;
    let included = inc.all
        || inc.users.contains(&s.user_id)
        || inc.groups.iter().any(|g| s.groups.contains(g))
        || inc.roles.iter().any(|r| s.roles.contains(r));
    let excluded = exc.users.contains(&s.user_id)
        || exc.groups.iter().any(|g| s.groups.contains(g))
        || exc.roles.iter().any(|r| s.roles.contains(r));
    if !included || excluded {
        return false;
    }
    let a = &p.assignments;
    let target_ok = match &c.target {
        TargetRequest::Application {
            id,
            authentication_contexts,
            ..
        } => {
            if let Some(apps) = &a.applications {
                let inc = match &apps.include {
                    AllOr::All => true,
                    AllOr::List(l) => l.contains(id),
                };
                inc && !apps.exclude.contains(id)
            } else if let Some(ctxs) = &a.authentication_contexts {
                ctxs.iter().any(|x| authentication_contexts.contains(x))
            } else {
                false
            }
        }
        TargetRequest::UserAction(action) => {
            a.user_actions.as_ref().is_some_and(|l| l.contains(action))
        }
    };
    if !target_ok {
        return false;
    }
    let k = &p.conditions;
    if let Some(l) = &k.user_risk_levels
        && !c.user_risk.is_some_and(|r| l.contains(&r))
    {
        return false;
    }
    if let Some(l) = &k.sign_in_risk_levels
        && !c.sign_in_risk.is_some_and(|r| l.contains(&r))
    {
        return false;
    }
    if let Some(pc) = &k.device_platforms {
        let inc = match &pc.include {
            AllOr::All => true,
            AllOr::List(l) => c.platform.is_some_and(|p| l.contains(&p)),
        };
        if !inc || c.platform.is_some_and(|p| pc.exclude.contains(&p)) {
            return false;
        }
    }
    if let Some(lc) = &k.locations {
        let inc = match &lc.include {
            LocationInclude::All => true,
            LocationInclude::AllTrusted => in_location("office", c),
            LocationInclude::Locations(l) => l.iter().any(|x| in_location(x, c)),
        };
        let exc = match &lc.exclude {
            LocationExclude::AllTrusted => in_location("office", c),
            LocationExclude::Locations(l) => l.iter().any(|x| in_location(x, c)),
        };
        if !inc || exc {
            return false;
        }
    }
    if let Some(l) = &k.client_app_types
        && !l.contains(&c.client_app)
    {
        return false;
    }
    if let Some(f) = &k.device_filter {
        let m = ref_rule(&f.rule, c.device.as_ref()) == Some(true);
        if m != (f.mode == FilterMode::Include) {
            return false;
        }
    }
    if let Some(l) = &k.sensitivity_labels {
        let label = match &c.target {
            TargetRequest::Application {
                sensitivity_label, ..
            } => sensitivity_label.clone(),
            TargetRequest::UserAction(_) => None,
        };
        if !label.is_some_and(|x| l.contains(&x)) {
            return false;
        }
    }
    true
}

/// Reference requirement: (rank, name) so that order and implication are spelled out by hand.
fn ref_req(ctl: &GrantControl) -> Requirement {
    match ctl {
        GrantControl::Mfa => Requirement::AuthenticationStrength {
            strength: Arc::from("mfa"),
        },
        GrantControl::AuthenticationStrength(s) => Requirement::AuthenticationStrength {
            strength: s.clone(),
        },
        GrantControl::CompliantDevice => Requirement::CompliantDevice,
        GrantControl::RegisteredDevice => Requirement::RegisteredDevice,
        GrantControl::PasswordChange => Requirement::PasswordChange,
        GrantControl::TermsOfUse(t) => Requirement::TermsOfUse { id: t.clone() },
        GrantControl::RegisterSecurityInfo => Requirement::RegisterSecurityInfo,
    }
}

fn rank(r: &Requirement) -> u8 {
    match r {
        Requirement::Reauthenticate => 0,
        Requirement::RegisterSecurityInfo => 1,
        Requirement::AuthenticationStrength { strength } => match &**strength {
            "mfa" => 2,
            "passwordless_mfa" => 3,
            _ => 4,
        },
        Requirement::CompliantDevice => 5,
        Requirement::RegisteredDevice => 6,
        Requirement::PasswordChange => 7,
        Requirement::TermsOfUse { .. } => 8,
        Requirement::OneOf { any } => any.iter().map(rank).min().unwrap_or(9),
    }
}

/// `a` satisfied implies `b` satisfied (built-in strengths only in these tests).
fn ref_implies(a: &Requirement, b: &Requirement) -> bool {
    let (ra, rb) = (rank(a), rank(b));
    a == b || (matches!(ra, 3 | 4) && matches!(rb, 2..=4)) || (ra == 5 && rb == 6)
}

fn ref_met(ctl: &GrantControl, c: &AccessContext) -> bool {
    let uv = c
        .authentication
        .methods
        .iter()
        .any(|m| m.method.user_verified());
    match ctl {
        GrantControl::Mfa => amr(&c.authentication.methods).contains(&"mfa"),
        GrantControl::AuthenticationStrength(_) => uv,
        GrantControl::CompliantDevice => c.device.as_ref().is_some_and(|d| d.compliant),
        GrantControl::RegisteredDevice => c
            .device
            .as_ref()
            .is_some_and(|d| d.registered || d.managed || d.compliant),
        GrantControl::PasswordChange => c.password_changed,
        GrantControl::TermsOfUse(t) => c.terms_accepted.iter().any(|a| **a == **t),
        GrantControl::RegisterSecurityInfo => c.subject.mfa_registered,
    }
}

pub(super) fn reference(doc: &PolicySetDocument, c: &AccessContext) -> Outcome {
    let mut blocks: Vec<&str> = Vec::new();
    let mut plain: Vec<Requirement> = Vec::new();
    let mut any: Vec<Vec<Requirement>> = Vec::new();
    for p in &doc.policies {
        if p.state != PolicyState::Enabled || !ref_applies(p, c) {
            continue;
        }
        match &p.grant {
            Some(Grant::Block) => blocks.push(&p.id),
            Some(Grant::Require(r)) => {
                let unmet: Vec<Requirement> = r
                    .controls
                    .iter()
                    .filter(|x| !ref_met(x, c))
                    .map(ref_req)
                    .collect();
                if r.operator == Operator::All {
                    plain.extend(unmet);
                } else if unmet.len() == r.controls.len() {
                    if unmet.len() == 1 {
                        plain.extend(unmet)
                    } else {
                        any.push(unmet)
                    }
                }
            }
            None => {}
        }
        if let Some(f) = p.session.sign_in_frequency {
            let max = match f {
                SignInFrequency::EveryTime => Duration::minutes(5),
                SignInFrequency::EveryHours(h) => Duration::hours(i64::from(h)),
            };
            if c.authentication
                .primary_at
                .is_none_or(|at| c.now - at > max)
            {
                plain.push(Requirement::Reauthenticate);
            }
        }
    }
    if let Some(first) = blocks.iter().min() {
        return Outcome::Block {
            by: Arc::from(*first),
        };
    }
    let mut out: Vec<Requirement> = Vec::new();
    for a in &plain {
        let dominated = plain
            .iter()
            .any(|b| b != a && ref_implies(b, a) && (!ref_implies(a, b) || rank(b) > rank(a)));
        if !dominated && !out.contains(a) {
            out.push(a.clone());
        }
    }
    let mut ones: Vec<Vec<Requirement>> = Vec::new();
    for alts in any {
        if alts.iter().any(|x| plain.iter().any(|b| ref_implies(b, x))) {
            continue;
        }
        let mut alts = alts;
        alts.sort_by_key(rank);
        if !ones.contains(&alts) {
            ones.push(alts);
        }
    }
    let ranks = |v: &[Requirement]| v.iter().map(rank).collect::<Vec<u8>>();
    // Every way of meeting `s` meets `w`.
    let stronger = |s: &[Requirement], w: &[Requirement]| {
        s.iter().all(|y| w.iter().any(|x| ref_implies(y, x)))
    };
    for a in &ones {
        let redundant = ones
            .iter()
            .any(|b| b != a && stronger(b, a) && (!stronger(a, b) || ranks(b) > ranks(a)));
        if !redundant {
            out.push(Requirement::OneOf { any: a.clone() });
        }
    }
    out.sort_by_key(|r| {
        let alts = match r {
            Requirement::OneOf { any } => ranks(any),
            _ => vec![],
        };
        (rank(r), matches!(r, Requirement::OneOf { .. }), alts)
    });
    if out.is_empty() {
        Outcome::Allow
    } else {
        Outcome::Requires(out)
    }
}
