//! Evaluation: which policies apply (assignments and conditions, exclusions win, a missing
//! signal never includes nor excludes), what they demand, and the combined outcome.

use std::sync::Arc;

use time::Duration;

use super::compiled::{
    CompiledConditions, CompiledGrant, CompiledPolicy, Control, LocExclude, LocInclude, PolicySet,
    TargetScope, UserScope, risk_bit,
};
use super::context::{AccessContext, TargetRequest};
use super::decision::{
    ControlResult, Decision, NotAppliedReason as R, Outcome, PolicyRecord, PolicyResult,
    Requirement, SessionDecision,
};
use super::index::{GroupSet, Who, roles_mask};
use super::model::{
    FilterMode, GrantControl, Operator, PersistentBrowser, PolicyState, SignInFrequency,
};
use super::strength::AuthFacts;
use crate::risk::RiskLevel;

/// Tolerance of `every_time` sign-in frequency (redirects, clock skew).
pub const EVERY_TIME_TOLERANCE: Duration = Duration::minutes(5);

/// Evaluates the request against the candidate policies found through the index. The
/// outcome and session controls are those of [`explain`]; only candidate policies get a
/// record ([`Decision::complete`] is `false`).
pub fn evaluate(set: &PolicySet, ctx: &AccessContext) -> Decision {
    let prep = Prepared::new(ctx);
    let mut candidates = Vec::new();
    set.index
        .candidates(&ctx.target, &prep.who(), &mut candidates);
    run(
        set,
        &prep,
        candidates
            .iter()
            .filter_map(|i| set.policies.get(*i as usize)),
        false,
    )
}

/// Evaluates the request against every policy, with a record for each (sign-in log, what-if).
pub fn explain(set: &PolicySet, ctx: &AccessContext) -> Decision {
    let prep = Prepared::new(ctx);
    run(set, &prep, set.policies.iter(), true)
}

/// The request, prepared once for all policies.
struct Prepared<'a> {
    ctx: &'a AccessContext,
    user: u128,
    groups: GroupSet,
    roles: u8,
    facts: AuthFacts,
}

impl<'a> Prepared<'a> {
    fn new(ctx: &'a AccessContext) -> Self {
        let groups = GroupSet::new(ctx.subject.groups.iter().map(|g| g.as_u128()));
        Prepared {
            ctx,
            user: ctx.subject.user_id.as_u128(),
            groups,
            roles: roles_mask(&ctx.subject.roles),
            facts: AuthFacts::of(&ctx.authentication.methods),
        }
    }

    fn who(&self) -> Who<'_> {
        Who {
            user: self.user,
            groups: &self.groups,
            roles: self.roles,
        }
    }
}

/// What one enforced or report-only policy demands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Need {
    Reauth,
    Control(Control),
}

#[derive(Default)]
struct Needs {
    all: Vec<Need>,
    any: Vec<Vec<Need>>,
}

fn run<'p>(
    set: &PolicySet,
    prep: &Prepared,
    policies: impl Iterator<Item = &'p CompiledPolicy>,
    complete: bool,
) -> Decision {
    let mut block: Option<Arc<str>> = None;
    let mut needs = Needs::default();
    let mut session = SessionDecision::default();
    let mut records = Vec::with_capacity(policies.size_hint().0);
    for p in policies {
        let (record, mut own) = assess(set, prep, p);
        if record.enforced {
            if matches!(p.grant, CompiledGrant::Block) && block.is_none() {
                block = Some(p.id.clone());
            }
            needs.all.append(&mut own.all);
            needs.any.append(&mut own.any);
            merge_session(&mut session, p);
        }
        records.push(record);
    }
    let outcome = match block {
        Some(by) => Outcome::Block { by },
        None if needs.all.is_empty() && needs.any.is_empty() => Outcome::Allow,
        None => Outcome::Requires(normalize(set, &needs)),
    };
    Decision {
        outcome,
        session,
        records,
        complete,
        policies_total: set.policies.len(),
    }
}

/// One policy's record, and what it demands of this request (nothing unless it applies).
fn assess(set: &PolicySet, prep: &Prepared, p: &CompiledPolicy) -> (PolicyRecord, Needs) {
    let mut record = PolicyRecord {
        policy_id: p.id.clone(),
        state: p.state,
        applied: false,
        enforced: false,
        excluded_by: None,
        result: PolicyResult::Disabled,
        controls: Vec::new(),
        reauthentication_required: false,
    };
    let mut own = Needs::default();
    if p.state == PolicyState::Disabled {
        return (record, own);
    }
    if let Some(reason) = scope(set, p, prep) {
        record.excluded_by = Some(reason);
        record.result = PolicyResult::NotApplied;
        return (record, own);
    }
    record.applied = true;
    record.enforced = p.state == PolicyState::Enabled;
    match &p.grant {
        CompiledGrant::Block => record.result = PolicyResult::Block,
        CompiledGrant::None => {}
        CompiledGrant::Require { operator, controls } => {
            require(set, prep, *operator, controls, &mut record, &mut own);
        }
    }
    if let Some(f) = p.frequency
        && stale(prep.ctx, f)
    {
        record.reauthentication_required = true;
        own.all.push(Need::Reauth);
    }
    if record.result != PolicyResult::Block {
        record.result = if own.all.is_empty() && own.any.is_empty() {
            PolicyResult::Satisfied
        } else {
            PolicyResult::Unsatisfied {
                requirements: normalize(set, &own),
            }
        };
    }
    (record, own)
}

/// Checks a policy's grant controls into its record, and adds the unmet ones to what it
/// demands: every unmet one for operator "all"; for "one of", nothing if any is met, else the
/// alternatives (a single one is a plain requirement).
fn require(
    set: &PolicySet,
    prep: &Prepared,
    operator: Operator,
    controls: &[(GrantControl, Control)],
    record: &mut PolicyRecord,
    own: &mut Needs,
) {
    for (gc, c) in controls {
        record.controls.push(ControlResult {
            control: gc.clone(),
            met: met(set, prep, *c),
        });
    }
    let unmet = controls
        .iter()
        .zip(&record.controls)
        .filter(|(_, r)| !r.met)
        .map(|((_, c), _)| Need::Control(*c));
    match operator {
        Operator::All => own.all.extend(unmet),
        Operator::One => {
            if record.controls.iter().all(|r| !r.met) {
                let mut alts: Vec<Need> = unmet.collect();
                if alts.len() == 1 {
                    own.all.append(&mut alts);
                } else if !alts.is_empty() {
                    own.any.push(alts);
                }
            }
        }
    }
}

/// Adds an enforced policy's session controls: the shortest sign-in frequency wins, and a
/// persistent browser session set to "never" wins over "always".
fn merge_session(session: &mut SessionDecision, p: &CompiledPolicy) {
    if let Some(f) = p.frequency {
        session.sign_in_frequency = Some(session.sign_in_frequency.map_or(f, |s| s.min(f)));
    }
    match (p.persistent_browser, session.persistent_browser) {
        (Some(PersistentBrowser::Never), _) => {
            session.persistent_browser = Some(PersistentBrowser::Never);
        }
        (Some(PersistentBrowser::Always), None) => {
            session.persistent_browser = Some(PersistentBrowser::Always);
        }
        _ => {}
    }
}

/// Whether the primary sign-in is older than the frequency allows. No primary sign-in at all
/// is stale: a missing signal never satisfies a control.
fn stale(ctx: &AccessContext, f: SignInFrequency) -> bool {
    let Some(at) = ctx.authentication.primary_at else {
        return true;
    };
    let max = match f {
        SignInFrequency::EveryTime => EVERY_TIME_TOLERANCE,
        SignInFrequency::EveryHours(h) => Duration::hours(i64::from(h)),
    };
    ctx.now - at > max
}

fn met(set: &PolicySet, prep: &Prepared, c: Control) -> bool {
    let ctx = prep.ctx;
    match c {
        Control::Strength(i) => set
            .strengths
            .get(usize::from(i))
            .is_some_and(|s| s.satisfied(&prep.facts)),
        Control::CompliantDevice => ctx.device.as_ref().is_some_and(|d| d.compliant),
        Control::RegisteredDevice => ctx
            .device
            .as_ref()
            .is_some_and(|d| d.registered || d.managed || d.compliant),
        Control::PasswordChange => ctx.password_changed,
        Control::RegisterSecurityInfo => ctx.subject.mfa_registered,
        Control::Terms(i) => set
            .terms
            .get(i as usize)
            .is_some_and(|t| ctx.terms_accepted.iter().any(|a| a.as_str() == &**t)),
    }
}

/// The first assignment or condition that keeps `p` from applying, or `None` if it applies.
/// The assignments are checked first (users, then the target), then the conditions, in the
/// order below; the first that fails is the one reported.
fn scope(set: &PolicySet, p: &CompiledPolicy, prep: &Prepared) -> Option<R> {
    let ctx = prep.ctx;
    let c = &p.conditions;
    user_assignment(&p.users, prep)
        .or_else(|| target_assignment(&p.target, &ctx.target))
        .or_else(|| risk_condition(c, ctx))
        .or_else(|| platform_condition(c, ctx))
        .or_else(|| location_condition(set, c, ctx))
        .or_else(|| client_app_condition(c, ctx))
        .or_else(|| device_filter_condition(c, ctx))
        .or_else(|| label_condition(c, ctx))
}

/// Users: included as a user, through a group or a role (or all users), and not excluded in
/// any of these ways.
fn user_assignment(u: &UserScope, prep: &Prepared) -> Option<R> {
    let included = u.all
        || u.users.binary_search(&prep.user).is_ok()
        || prep.groups.intersects(&u.groups)
        || u.roles & prep.roles != 0;
    if !included {
        return Some(R::UserNotIncluded);
    }
    if u.ex_users.binary_search(&prep.user).is_ok()
        || prep.groups.intersects(&u.ex_groups)
        || u.ex_roles & prep.roles != 0
    {
        return Some(R::UserExcluded);
    }
    None
}

/// The target: an application (included and not excluded), a user action, or an
/// authentication context the application requests. A policy never applies to a request of
/// another kind than its target.
fn target_assignment(target: &TargetScope, request: &TargetRequest) -> Option<R> {
    match (target, request) {
        (
            TargetScope::Applications {
                all,
                include,
                exclude,
            },
            TargetRequest::Application { id, .. },
        ) => {
            let find = |l: &[String]| l.binary_search_by(|s| s.as_str().cmp(id)).is_ok();
            if !*all && !find(include) {
                Some(R::ApplicationNotTargeted)
            } else if find(exclude) {
                Some(R::ApplicationExcluded)
            } else {
                None
            }
        }
        (TargetScope::Applications { .. }, TargetRequest::UserAction(_)) => {
            Some(R::ApplicationNotTargeted)
        }
        (TargetScope::UserActions(actions), TargetRequest::UserAction(a)) => {
            (!actions.contains(a)).then_some(R::UserActionNotTargeted)
        }
        (TargetScope::UserActions(_), TargetRequest::Application { .. }) => {
            Some(R::UserActionNotTargeted)
        }
        (
            TargetScope::AuthContexts(wanted),
            TargetRequest::Application {
                authentication_contexts,
                ..
            },
        ) => {
            let requested = authentication_contexts
                .iter()
                .any(|c| wanted.binary_search(c).is_ok());
            (!requested).then_some(R::AuthenticationContextNotRequested)
        }
        (TargetScope::AuthContexts(_), TargetRequest::UserAction(_)) => {
            Some(R::AuthenticationContextNotRequested)
        }
    }
}

/// User risk, then sign-in risk: the level must be in the condition's list. No risk (`None`)
/// is in no risk level list.
fn risk_condition(c: &CompiledConditions, ctx: &AccessContext) -> Option<R> {
    let outside = |mask: Option<u8>, level: Option<RiskLevel>| {
        mask.is_some_and(|mask| level.is_none_or(|r| mask & risk_bit(r) == 0))
    };
    if outside(c.user_risk, ctx.user_risk) {
        Some(R::UserRisk)
    } else if outside(c.sign_in_risk, ctx.sign_in_risk) {
        Some(R::SignInRisk)
    } else {
        None
    }
}

/// Device platforms: "all" includes an unknown platform, a list never does; an unknown
/// platform is never excluded.
fn platform_condition(c: &CompiledConditions, ctx: &AccessContext) -> Option<R> {
    let (include, exclude) = c.platforms?;
    let bit = ctx.platform.map(|p| 1u8 << (p as u8));
    let included = match include {
        None => true,
        Some(m) => bit.is_some_and(|b| m & b != 0),
    };
    if !included {
        return Some(R::DevicePlatformNotIncluded);
    }
    if bit.is_some_and(|b| exclude & b != 0) {
        return Some(R::DevicePlatformExcluded);
    }
    None
}

/// Locations: the request's network must be in an included location (all, any trusted one, or
/// one listed) and in no excluded one.
fn location_condition(set: &PolicySet, c: &CompiledConditions, ctx: &AccessContext) -> Option<R> {
    let (include, exclude) = c.locations.as_ref()?;
    let net = &ctx.network;
    let any_trusted = || set.locations.iter().any(|l| l.trusted && l.contains(net));
    let any_of = |l: &[u16]| {
        l.iter().any(|i| {
            set.locations
                .get(usize::from(*i))
                .is_some_and(|l| l.contains(net))
        })
    };
    let included = match include {
        LocInclude::All => true,
        LocInclude::AllTrusted => any_trusted(),
        LocInclude::List(l) => any_of(l),
    };
    if !included {
        return Some(R::LocationNotIncluded);
    }
    let excluded = match exclude {
        LocExclude::AllTrusted => any_trusted(),
        LocExclude::List(l) => any_of(l),
    };
    if excluded {
        return Some(R::LocationExcluded);
    }
    None
}

/// Client app types: the request's must be listed.
fn client_app_condition(c: &CompiledConditions, ctx: &AccessContext) -> Option<R> {
    let mask = c.client_apps?;
    (mask & (1 << (ctx.client_app as u8)) == 0).then_some(R::ClientAppType)
}

/// The device filter: only a definite match counts (three-valued evaluation, see `filter`), to
/// include or to exclude.
fn device_filter_condition(c: &CompiledConditions, ctx: &AccessContext) -> Option<R> {
    let (mode, rule) = c.device_filter.as_ref()?;
    let matched = rule.eval(ctx.device.as_ref()) == Some(true);
    let applies = match mode {
        FilterMode::Include => matched,
        FilterMode::Exclude => !matched,
    };
    (!applies).then_some(R::DeviceFilter)
}

/// Sensitivity labels: the application's label must be listed (a user action has none).
fn label_condition(c: &CompiledConditions, ctx: &AccessContext) -> Option<R> {
    let labels = c.labels.as_ref()?;
    let label = match &ctx.target {
        TargetRequest::Application {
            sensitivity_label, ..
        } => sensitivity_label.as_deref(),
        TargetRequest::UserAction(_) => None,
    };
    label
        .is_none_or(|l| labels.binary_search_by(|s| s.as_str().cmp(l)).is_err())
        .then_some(R::SensitivityLabel)
}

/// `a` is satisfied whenever `b` is.
fn implies(set: &PolicySet, b: Need, a: Need) -> bool {
    match (b, a) {
        _ if a == b => true,
        (Need::Control(Control::Strength(x)), Need::Control(Control::Strength(y))) => set
            .implies
            .get(usize::from(x))
            .and_then(|r| r.get(usize::from(y)))
            .copied()
            .unwrap_or(false),
        (Need::Control(Control::CompliantDevice), Need::Control(Control::RegisteredDevice)) => true,
        _ => false,
    }
}

/// `b` makes `a` redundant: it implies it, and when both imply each other (equivalent
/// strengths) the later one in the fixed order is kept.
fn dominates(set: &PolicySet, b: Need, a: Need) -> bool {
    b != a && implies(set, b, a) && (!implies(set, a, b) || b > a)
}

/// De-duplicates and orders requirements: a requirement implied by another required one is
/// dropped (the strongest strength demanded stays; a compliant device covers a registered
/// one), a one-of whose alternative is already required, or that a stricter one-of covers, is
/// dropped; then the fixed order:
/// re-authentication, security info registration, authentication strength, compliant device,
/// registered device, password change, terms of use; a one-of sits with its first
/// alternative, after the plain requirements of that kind.
fn normalize(set: &PolicySet, needs: &Needs) -> Vec<Requirement> {
    // The common case (one policy demanding one thing) needs no merging.
    if needs.any.is_empty() && needs.all.len() == 1 {
        return needs.all.iter().map(|n| requirement(set, *n)).collect();
    }
    let mut all = needs.all.clone();
    all.sort_unstable();
    all.dedup();
    let kept: Vec<Need> = all
        .iter()
        .copied()
        .filter(|a| !all.iter().any(|b| dominates(set, *b, *a)))
        .collect();
    let mut items: Vec<(Need, u8, Vec<Need>)> = kept.iter().map(|n| (*n, 0, vec![*n])).collect();
    let mut any: Vec<Vec<Need>> = Vec::new();
    for alts in &needs.any {
        if alts
            .iter()
            .any(|alt| all.iter().any(|b| implies(set, *b, *alt)))
        {
            continue;
        }
        let mut alts = alts.clone();
        alts.sort_unstable();
        alts.dedup();
        any.push(alts);
    }
    any.sort();
    any.dedup();
    // A one-of is redundant when another one-of is at least as demanding: every alternative of
    // the other implies one of its alternatives (equivalent ones: the later is kept).
    // Satisfying any alternative of `strong` satisfies `weak`.
    let at_least = |strong: &[Need], weak: &[Need]| {
        strong
            .iter()
            .all(|y| weak.iter().any(|x| implies(set, *y, *x)))
    };
    for a in &any {
        if any
            .iter()
            .any(|b| b != a && at_least(b, a) && (!at_least(a, b) || b > a))
        {
            continue;
        }
        if let Some(first) = a.first() {
            items.push((*first, 1, a.clone()));
        }
    }
    items.sort();
    items.dedup();
    items
        .into_iter()
        .map(|(n, kind, alts)| {
            if kind == 0 {
                requirement(set, n)
            } else {
                Requirement::OneOf {
                    any: alts.into_iter().map(|a| requirement(set, a)).collect(),
                }
            }
        })
        .collect()
}

fn requirement(set: &PolicySet, n: Need) -> Requirement {
    match n {
        Need::Reauth => Requirement::Reauthenticate,
        Need::Control(c) => match c {
            Control::RegisterSecurityInfo => Requirement::RegisterSecurityInfo,
            Control::Strength(i) => Requirement::AuthenticationStrength {
                strength: set
                    .strengths
                    .get(usize::from(i))
                    .map_or_else(|| Arc::from("mfa"), |s| s.id.clone()),
            },
            Control::CompliantDevice => Requirement::CompliantDevice,
            Control::RegisteredDevice => Requirement::RegisteredDevice,
            Control::PasswordChange => Requirement::PasswordChange,
            Control::Terms(i) => Requirement::TermsOfUse {
                id: set
                    .terms
                    .get(i as usize)
                    .cloned()
                    .unwrap_or_else(|| Arc::from("")),
            },
        },
    }
}
