//! Warnings about policy sets that are valid but probably wrong: locking out every
//! administrator, no exclusion for emergency-access accounts, targeting nobody, duplicates.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::compiled::{
    CompiledConditions, CompiledGrant, CompiledPolicy, PolicySet, TargetScope, UserScope,
    intersects, role_bit,
};
use super::index::roles_mask;
use super::model::{PersistentBrowser, PolicyState, SignInFrequency};
use crate::identity::Role;

/// A user of the directory, as far as lint needs to know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryUser {
    pub id: Uuid,
    #[serde(default)]
    pub groups: Vec<Uuid>,
    #[serde(default)]
    pub roles: Vec<Role>,
}

/// What lint needs from the directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LintDirectory {
    /// Users holding an administrative role (at least the global administrators).
    #[serde(default)]
    pub administrators: Vec<DirectoryUser>,
    /// Emergency-access ("break-glass") accounts, if the organisation named them.
    #[serde(default)]
    pub emergency_access: Vec<DirectoryUser>,
    /// The application id of the admin console; a block on it locks administrators out too.
    #[serde(default)]
    pub console_application: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningCode {
    LocksOutAdministrators,
    EmergencyAccessNotExcluded,
    NoExclusions,
    TargetsNobody,
    Duplicate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    pub code: WarningCode,
    pub policy_id: String,
    pub message: String,
}

fn covers(u: &UserScope, who: &DirectoryUser) -> bool {
    let id = who.id.as_u128();
    let mut groups: Vec<u128> = who.groups.iter().map(|g| g.as_u128()).collect();
    groups.sort_unstable();
    let roles = roles_mask(&who.roles);
    let included = u.all
        || u.users.binary_search(&id).is_ok()
        || intersects(&u.groups, &groups)
        || u.roles & roles != 0;
    let excluded = u.ex_users.binary_search(&id).is_ok()
        || intersects(&u.ex_groups, &groups)
        || u.ex_roles & roles != 0;
    included && !excluded
}

fn subset<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    a.iter().all(|x| b.contains(x))
}

fn targets_nobody(p: &CompiledPolicy) -> Option<&'static str> {
    let u = &p.users;
    if !u.all && u.users.is_empty() && u.groups.is_empty() && u.roles == 0 {
        return Some("it includes no users, groups or roles");
    }
    if !u.all
        && subset(&u.users, &u.ex_users)
        && subset(&u.groups, &u.ex_groups)
        && u.roles & !u.ex_roles == 0
    {
        return Some("every user, group and role it includes is also excluded");
    }
    if let TargetScope::Applications {
        all: false,
        include,
        exclude,
    } = &p.target
        && subset(include, exclude)
    {
        return Some("every application it includes is also excluded");
    }
    None
}

#[derive(PartialEq, Eq, Hash)]
struct Shape<'a> {
    users: &'a UserScope,
    target: &'a TargetScope,
    conditions: &'a CompiledConditions,
    grant: String,
    frequency: Option<SignInFrequency>,
    persistent_browser: Option<PersistentBrowser>,
}

fn shape(p: &CompiledPolicy) -> Shape<'_> {
    let grant = match &p.grant {
        CompiledGrant::None => "none".to_string(),
        CompiledGrant::Block => "block".to_string(),
        CompiledGrant::Require { operator, controls } => {
            let mut c: Vec<_> = controls.iter().map(|(_, c)| *c).collect();
            c.sort_unstable();
            format!("{operator:?}{c:?}")
        }
    };
    Shape {
        users: &p.users,
        target: &p.target,
        conditions: &p.conditions,
        grant,
        frequency: p.frequency,
        persistent_browser: p.persistent_browser,
    }
}

/// Lints a policy set. Warnings are in policy id order.
pub fn lint(set: &PolicySet, dir: &LintDirectory) -> Vec<Warning> {
    let mut out = Vec::new();
    let mut warn = |code, p: &CompiledPolicy, message: String| {
        out.push(Warning {
            code,
            policy_id: p.id.to_string(),
            message,
        });
    };
    let global_admins: Vec<&DirectoryUser> = dir
        .administrators
        .iter()
        .filter(|a| roles_mask(&a.roles) & role_bit(Role::GlobalAdministrator) != 0)
        .collect();
    let mut shapes: HashMap<Shape, &str> = HashMap::new();
    for p in &set.policies {
        if p.state == PolicyState::Disabled {
            continue;
        }
        if let Some(first) = shapes.get(&shape(p)) {
            warn(
                WarningCode::Duplicate,
                p,
                format!("has the same assignments, conditions and controls as policy \"{first}\""),
            );
        } else {
            shapes.insert(shape(p), &p.id);
        }
        if let Some(why) = targets_nobody(p) {
            warn(
                WarningCode::TargetsNobody,
                p,
                format!("targets nobody: {why}"),
            );
        }
        if p.state != PolicyState::Enabled {
            continue;
        }
        let console_targeted = match &p.target {
            TargetScope::Applications {
                all,
                include,
                exclude,
            } => match &dir.console_application {
                Some(app) => (*all || include.contains(app)) && !exclude.contains(app),
                None => *all && exclude.is_empty(),
            },
            _ => false,
        };
        if p.grant == CompiledGrant::Block
            && console_targeted
            && !global_admins.is_empty()
            && global_admins.iter().all(|a| covers(&p.users, a))
        {
            let when = if p.conditions.is_empty() {
                ""
            } else {
                " whenever its conditions match"
            };
            warn(
                WarningCode::LocksOutAdministrators,
                p,
                format!(
                    "blocks all {} global administrator(s){when}; exclude at least one administrator or an emergency-access account",
                    global_admins.len()
                ),
            );
        }
        if p.users.all {
            if dir.emergency_access.is_empty() {
                if p.users.ex_users.is_empty() && p.users.ex_groups.is_empty() {
                    warn(
                        WarningCode::NoExclusions,
                        p,
                        "includes all users and excludes no user or group; exclude your emergency-access accounts".into(),
                    );
                }
            } else {
                for e in &dir.emergency_access {
                    if covers(&p.users, e) {
                        warn(
                            WarningCode::EmergencyAccessNotExcluded,
                            p,
                            format!(
                                "includes all users but does not exclude emergency-access account {}",
                                e.id
                            ),
                        );
                    }
                }
            }
        }
    }
    out
}
