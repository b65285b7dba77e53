//! Semantic validation of a policy set document against the directory [`Catalog`], and
//! compilation into an indexed [`PolicySet`]. Every error names the field it is about
//! (`policies[2].conditions.locations.include[0]: unknown named location "ofice"`), and all
//! errors are returned at once.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use uuid::Uuid;

use super::catalog::{Catalog, ValidationError, ValidationErrorKind};
use super::compiled::{
    CompiledConditions, CompiledGrant, CompiledPolicy, Control, LocExclude, LocInclude, PolicySet,
    TargetScope, UserScope, risk_bit, role_bit,
};
use super::definitions;
use super::filter;
use super::index::Index;
use super::location::Location;
use super::model::{
    AllOr, ApplicationAssignment, Assignments, Grant, GrantControl, LocationExclude,
    LocationInclude, Operator, Policy, PolicySetDocument, RequireControls, SignInFrequency,
    UserAssignment,
};
use super::strength::{Strength, implication_matrix};

fn valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_')
}

pub(super) struct V<'a> {
    pub(super) errors: Vec<ValidationError>,
    pub(super) catalog: &'a dyn Catalog,
}

impl V<'_> {
    pub(super) fn err(&mut self, path: impl Into<String>, kind: ValidationErrorKind) {
        self.errors.push(ValidationError {
            path: path.into(),
            kind,
        });
    }

    pub(super) fn id_and_name(
        &mut self,
        path: &str,
        id: &str,
        name: &str,
        seen: &mut HashMap<String, String>,
    ) {
        if !valid_id(id) {
            self.err(
                format!("{path}.id"),
                ValidationErrorKind::InvalidId(id.into()),
            );
        } else if let Some(first) = seen.get(id) {
            let first = first.clone();
            self.err(
                format!("{path}.id"),
                ValidationErrorKind::DuplicateId {
                    id: id.into(),
                    first,
                },
            );
        } else {
            seen.insert(id.into(), format!("{path}.id"));
        }
        if name.trim().is_empty() {
            self.err(format!("{path}.name"), ValidationErrorKind::EmptyName);
        }
    }

    pub(super) fn non_empty<T>(&mut self, path: String, list: &[T], what: &'static str) {
        if list.is_empty() {
            self.err(path, ValidationErrorKind::EmptyList(what));
        }
    }
}

const OMIT: &str = "must not be empty; omit the condition instead";

/// Validates a document against the catalog and compiles it. Returns every error found.
pub fn compile(
    doc: PolicySetDocument,
    catalog: &dyn Catalog,
) -> Result<PolicySet, Vec<ValidationError>> {
    let mut v = V {
        errors: Vec::new(),
        catalog,
    };
    let strengths = definitions::strengths(&mut v, &doc);
    let locations = definitions::locations(&mut v, &doc);
    let terms: Vec<Arc<str>> = doc
        .policies
        .iter()
        .filter_map(|p| match &p.grant {
            Some(Grant::Require(r)) => Some(r.controls.iter()),
            _ => None,
        })
        .flatten()
        .filter_map(|c| match c {
            GrantControl::TermsOfUse(t) => Some(&**t),
            _ => None,
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(Arc::from)
        .collect();
    let mut seen = HashMap::new();
    let mut compiled = Vec::with_capacity(doc.policies.len());
    for (i, p) in doc.policies.iter().enumerate() {
        let path = format!("policies[{i}]");
        v.id_and_name(&path, &p.id, &p.name, &mut seen);
        if let Some(c) = policy(&mut v, &path, p, &strengths, &locations, &terms) {
            compiled.push(c);
        }
    }
    if !v.errors.is_empty() {
        return Err(v.errors);
    }
    let mut doc = doc;
    doc.policies.sort_by(|a, b| a.id.cmp(&b.id));
    compiled.sort_by(|a, b| a.id.cmp(&b.id));
    let index = Index::build(&compiled);
    Ok(PolicySet {
        document: doc,
        policies: compiled,
        implies: implication_matrix(&strengths),
        strengths,
        locations,
        terms,
        index,
    })
}

fn ids(v: &mut V, path: &str, ids: &[Uuid], group: bool) -> Vec<u128> {
    for (j, id) in ids.iter().enumerate() {
        let known = if group {
            v.catalog.has_group(*id)
        } else {
            v.catalog.has_user(*id)
        };
        if !known {
            let kind = if group {
                ValidationErrorKind::UnknownGroup(*id)
            } else {
                ValidationErrorKind::UnknownUser(*id)
            };
            v.err(format!("{path}[{j}]"), kind);
        }
    }
    let mut out: Vec<u128> = ids.iter().map(|u| u.as_u128()).collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn strings(
    v: &mut V,
    path: &str,
    list: &[String],
    known: fn(&dyn Catalog, &str) -> bool,
    unknown: fn(String) -> ValidationErrorKind,
) -> Vec<String> {
    for (j, s) in list.iter().enumerate() {
        if !known(v.catalog, s) {
            v.err(format!("{path}[{j}]"), unknown(s.clone()));
        }
    }
    let mut out = list.to_vec();
    out.sort_unstable();
    out.dedup();
    out
}

fn policy(
    v: &mut V,
    path: &str,
    p: &Policy,
    strengths: &[Strength],
    locations: &[Location],
    terms: &[Arc<str>],
) -> Option<CompiledPolicy> {
    let users = user_scope(v, path, &p.assignments.users);
    let target = target_scope(v, path, &p.assignments)?;
    let conditions = conditions(v, path, p, &target, locations);
    let grant = grant(v, path, p, strengths, terms);
    if let Some(SignInFrequency::EveryHours(h)) = p.session.sign_in_frequency
        && !(1..=8760).contains(&h)
    {
        v.err(
            format!("{path}.session.sign_in_frequency.every_hours"),
            ValidationErrorKind::FrequencyOutOfRange(h),
        );
    }
    if matches!(grant, CompiledGrant::None) && p.session.is_empty() {
        v.err(
            path,
            ValidationErrorKind::Impossible(
                "a policy needs grant controls, session controls or both",
            ),
        );
    }
    Some(CompiledPolicy {
        id: Arc::from(p.id.as_str()),
        state: p.state,
        users,
        target,
        conditions,
        grant,
        frequency: p.session.sign_in_frequency,
        persistent_browser: p.session.persistent_browser,
    })
}

/// The users assignment: "all" alone or specific users, groups and roles, all known to the
/// directory.
fn user_scope(v: &mut V, path: &str, u: &UserAssignment) -> UserScope {
    let up = format!("{path}.assignments.users");
    let inc = &u.include;
    if inc.all && !(inc.users.is_empty() && inc.groups.is_empty() && inc.roles.is_empty()) {
        v.err(
            format!("{up}.include"),
            ValidationErrorKind::Impossible(
                "\"all: true\" cannot be combined with specific users, groups or roles",
            ),
        );
    }
    let ex = &u.exclude;
    UserScope {
        all: inc.all,
        users: ids(v, &format!("{up}.include.users"), &inc.users, false),
        groups: ids(v, &format!("{up}.include.groups"), &inc.groups, true),
        roles: inc.roles.iter().fold(0, |m, r| m | role_bit(*r)),
        ex_users: ids(v, &format!("{up}.exclude.users"), &ex.users, false),
        ex_groups: ids(v, &format!("{up}.exclude.groups"), &ex.groups, true),
        ex_roles: ex.roles.iter().fold(0, |m, r| m | role_bit(*r)),
    }
}

/// The target: exactly one of applications, user actions or authentication contexts, not
/// empty, every one known to the directory. `None` (with an error) when not exactly one is
/// given: the policy cannot be compiled further.
fn target_scope(v: &mut V, path: &str, a: &Assignments) -> Option<TargetScope> {
    let ap = format!("{path}.assignments");
    let target = match (&a.applications, &a.user_actions, &a.authentication_contexts) {
        (Some(apps), None, None) => application_scope(v, &ap, apps),
        (None, Some(actions), None) => {
            v.non_empty(
                format!("{ap}.user_actions"),
                actions,
                "must list at least one user action",
            );
            let mut actions = actions.clone();
            actions.sort_unstable();
            actions.dedup();
            TargetScope::UserActions(actions)
        }
        (None, None, Some(ctxs)) => {
            v.non_empty(
                format!("{ap}.authentication_contexts"),
                ctxs,
                "must list at least one authentication context",
            );
            TargetScope::AuthContexts(strings(
                v,
                &format!("{ap}.authentication_contexts"),
                ctxs,
                |c, s| c.has_authentication_context(s),
                ValidationErrorKind::UnknownAuthenticationContext,
            ))
        }
        _ => {
            v.err(
                ap,
                ValidationErrorKind::Impossible(
                    "exactly one target is required: applications, user_actions or authentication_contexts",
                ),
            );
            return None;
        }
    };
    Some(target)
}

/// Targeted applications: "all" or a non-empty list, and the excluded ones, all known.
fn application_scope(v: &mut V, ap: &str, apps: &ApplicationAssignment) -> TargetScope {
    let (all, include) = match &apps.include {
        AllOr::All => (true, Vec::new()),
        AllOr::List(l) => {
            v.non_empty(
                format!("{ap}.applications.include"),
                l,
                "must list at least one application, or be \"all\"",
            );
            let l = strings(
                v,
                &format!("{ap}.applications.include"),
                l,
                |c, s| c.has_application(s),
                ValidationErrorKind::UnknownApplication,
            );
            (false, l)
        }
    };
    let exclude = strings(
        v,
        &format!("{ap}.applications.exclude"),
        &apps.exclude,
        |c, s| c.has_application(s),
        ValidationErrorKind::UnknownApplication,
    );
    TargetScope::Applications {
        all,
        include,
        exclude,
    }
}

fn location_refs(v: &mut V, path: &str, ids: &[String], locations: &[Location]) -> Vec<u16> {
    let mut out = Vec::new();
    for (j, id) in ids.iter().enumerate() {
        match locations.iter().position(|l| &*l.id == id.as_str()) {
            Some(i) => out.push(u16::try_from(i).unwrap_or(u16::MAX)),
            None => v.err(
                format!("{path}[{j}]"),
                ValidationErrorKind::UnknownLocation(id.clone()),
            ),
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn conditions(
    v: &mut V,
    path: &str,
    p: &Policy,
    target: &TargetScope,
    locations: &[Location],
) -> CompiledConditions {
    let c = &p.conditions;
    let cp = format!("{path}.conditions");
    let mut out = CompiledConditions::default();
    if let Some(l) = &c.user_risk_levels {
        v.non_empty(format!("{cp}.user_risk_levels"), l, OMIT);
        out.user_risk = Some(l.iter().fold(0, |m, r| m | risk_bit(*r)));
    }
    if let Some(l) = &c.sign_in_risk_levels {
        v.non_empty(format!("{cp}.sign_in_risk_levels"), l, OMIT);
        out.sign_in_risk = Some(l.iter().fold(0, |m, r| m | risk_bit(*r)));
    }
    if let Some(pc) = &c.device_platforms {
        let bits =
            |l: &[super::model::DevicePlatform]| l.iter().fold(0u8, |m, p| m | (1 << (*p as u8)));
        let include = match &pc.include {
            AllOr::All => None,
            AllOr::List(l) => {
                v.non_empty(
                    format!("{cp}.device_platforms.include"),
                    l,
                    "must list at least one platform, or be \"all\"",
                );
                Some(bits(l))
            }
        };
        out.platforms = Some((include, bits(&pc.exclude)));
    }
    if let Some(lc) = &c.locations {
        let lp = format!("{cp}.locations");
        let include = match &lc.include {
            LocationInclude::All => LocInclude::All,
            LocationInclude::AllTrusted => LocInclude::AllTrusted,
            LocationInclude::Locations(l) => {
                v.non_empty(
                    format!("{lp}.include"),
                    l,
                    "must list at least one named location, or be \"all\" or \"all_trusted\"",
                );
                LocInclude::List(location_refs(v, &format!("{lp}.include"), l, locations))
            }
        };
        let exclude = match &lc.exclude {
            LocationExclude::AllTrusted => LocExclude::AllTrusted,
            LocationExclude::Locations(l) => {
                LocExclude::List(location_refs(v, &format!("{lp}.exclude"), l, locations))
            }
        };
        out.locations = Some((include, exclude));
    }
    if let Some(l) = &c.client_app_types {
        v.non_empty(format!("{cp}.client_app_types"), l, OMIT);
        out.client_apps = Some(l.iter().fold(0, |m, t| m | (1 << (*t as u8))));
    }
    if let Some(f) = &c.device_filter {
        match filter::parse(&f.rule) {
            Ok(e) => out.device_filter = Some((f.mode, e)),
            Err(e) => v.err(
                format!("{cp}.device_filter.rule"),
                ValidationErrorKind::Filter(e),
            ),
        }
    }
    if let Some(l) = &c.sensitivity_labels {
        let lp = format!("{cp}.sensitivity_labels");
        v.non_empty(lp.clone(), l, OMIT);
        if matches!(target, TargetScope::UserActions(_)) {
            v.err(
                lp.clone(),
                ValidationErrorKind::Impossible(
                    "sensitivity labels belong to applications; a policy targeting user actions would never apply",
                ),
            );
        }
        out.labels = Some(strings(
            v,
            &lp,
            l,
            |c, s| c.has_sensitivity_label(s),
            ValidationErrorKind::UnknownSensitivityLabel,
        ));
    }
    out
}

fn grant(
    v: &mut V,
    path: &str,
    p: &Policy,
    strengths: &[Strength],
    terms: &[Arc<str>],
) -> CompiledGrant {
    let r = match &p.grant {
        None => return CompiledGrant::None,
        Some(Grant::Block) => return CompiledGrant::Block,
        Some(Grant::Require(r)) => r,
    };
    let gp = format!("{path}.grant");
    v.non_empty(
        format!("{gp}.controls"),
        &r.controls,
        "must list at least one control (or use \"block\")",
    );
    let mut controls = Vec::new();
    let mut has_mfa_or_strength = false;
    let mut password_change_at = None;
    for (j, c) in r.controls.iter().enumerate() {
        let cpath = format!("{gp}.controls[{j}]");
        if r.controls[..j].contains(c) {
            v.err(
                cpath.clone(),
                ValidationErrorKind::DuplicateControl(c.kind()),
            );
            continue;
        }
        let is_strength = matches!(
            c,
            GrantControl::Mfa | GrantControl::AuthenticationStrength(_)
        );
        if is_strength && has_mfa_or_strength {
            v.err(cpath.clone(), ValidationErrorKind::MfaWithStrength);
        }
        has_mfa_or_strength |= is_strength;
        if matches!(c, GrantControl::PasswordChange) {
            password_change_at = Some(j);
        }
        if let Some(control) = resolve_control(v, &cpath, c, strengths, terms) {
            controls.push((c.clone(), control));
        }
    }
    if let Some(at) = password_change_at {
        check_password_change(v, &gp, r, at, has_mfa_or_strength);
    }
    CompiledGrant::Require {
        operator: r.operator,
        controls,
    }
}

/// One grant control with its references resolved: an authentication strength by its index
/// (`None`, with an error, when unknown), terms of use by their index in `terms` (an error
/// when the directory does not know them).
fn resolve_control(
    v: &mut V,
    cpath: &str,
    c: &GrantControl,
    strengths: &[Strength],
    terms: &[Arc<str>],
) -> Option<Control> {
    Some(match c {
        GrantControl::Mfa => Control::Strength(0),
        GrantControl::AuthenticationStrength(id) => {
            match strengths.iter().position(|s| s.id == *id) {
                Some(i) => Control::Strength(u16::try_from(i).unwrap_or(u16::MAX)),
                None => {
                    v.err(
                        format!("{cpath}.authentication_strength"),
                        ValidationErrorKind::UnknownStrength(id.to_string()),
                    );
                    return None;
                }
            }
        }
        GrantControl::CompliantDevice => Control::CompliantDevice,
        GrantControl::RegisteredDevice => Control::RegisteredDevice,
        GrantControl::PasswordChange => Control::PasswordChange,
        GrantControl::RegisterSecurityInfo => Control::RegisterSecurityInfo,
        GrantControl::TermsOfUse(id) => {
            if !v.catalog.has_terms_of_use(id) {
                v.err(
                    format!("{cpath}.terms_of_use"),
                    ValidationErrorKind::UnknownTermsOfUse(id.to_string()),
                );
            }
            let i = terms.binary_search_by(|t| (**t).cmp(&**id)).unwrap_or(0);
            Control::Terms(u32::try_from(i).unwrap_or(u32::MAX))
        }
    })
}

/// The rules of a password change control (the one at `at`): operator "all", combined only
/// with mfa or an authentication strength, and never without one.
fn check_password_change(
    v: &mut V,
    gp: &str,
    r: &RequireControls,
    at: usize,
    has_mfa_or_strength: bool,
) {
    if r.operator != Operator::All {
        v.err(
            format!("{gp}.operator"),
            ValidationErrorKind::PasswordChange(
                "password_change requires operator \"all\" (it cannot be one alternative among others)",
            ),
        );
    }
    for (j, c) in r.controls.iter().enumerate() {
        if !matches!(
            c,
            GrantControl::Mfa
                | GrantControl::AuthenticationStrength(_)
                | GrantControl::PasswordChange
        ) {
            v.err(
                format!("{gp}.controls[{j}]"),
                ValidationErrorKind::PasswordChange(
                    "password_change can only be combined with mfa or an authentication strength",
                ),
            );
        }
    }
    if !has_mfa_or_strength {
        v.err(
            format!("{gp}.controls[{at}]"),
            ValidationErrorKind::PasswordChange(
                "password_change requires mfa or an authentication strength as well (a stolen password alone must not let anyone set a new one)",
            ),
        );
    }
}
