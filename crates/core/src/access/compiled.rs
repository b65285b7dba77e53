//! The compiled policy set: validated, references resolved to indices, device filters parsed,
//! id lists sorted for binary search, policies sorted by id (so that evaluation never depends
//! on the order in which policies were written).

use std::sync::Arc;

use super::filter::Expr;
use super::index::Index;
use super::location::Location;
use super::model::{
    FilterMode, GrantControl, Operator, PersistentBrowser, PolicySetDocument, PolicyState,
    SignInFrequency, UserAction,
};
use super::strength::Strength;
use crate::identity::Role;
use crate::risk::RiskLevel;

/// A validated, indexed policy set, ready for [`super::evaluate`]. Build it with
/// [`super::compile`]; it is immutable and cheap to share (`Arc<PolicySet>`) between requests.
#[derive(Debug, Clone)]
pub struct PolicySet {
    /// The source document, policies sorted by id (same order as `policies`).
    pub(crate) document: PolicySetDocument,
    pub(crate) policies: Vec<CompiledPolicy>,
    pub(crate) locations: Vec<Location>,
    /// Built-ins first (see [`super::strength::BUILTIN`]), then custom ones.
    pub(crate) strengths: Vec<Strength>,
    /// `implies[a][b]`: satisfying strength `a` satisfies strength `b`.
    pub(crate) implies: Vec<Vec<bool>>,
    /// Terms-of-use ids referred to by any policy, sorted (controls refer to them by index).
    pub(crate) terms: Vec<Arc<str>>,
    pub(crate) index: Index,
}

impl PolicySet {
    /// The validated source document (policies sorted by id).
    pub fn document(&self) -> &PolicySetDocument {
        &self.document
    }

    /// Number of policies, in every state.
    pub fn len(&self) -> usize {
        self.policies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// Whether the methods `performed` meet authentication strength `id` (built-in or custom);
    /// `None` for an unknown strength. The login flow uses it to offer only the second
    /// factors that can meet what a policy demands.
    pub fn strength_met(&self, id: &str, performed: &[crate::authn::MethodUse]) -> Option<bool> {
        let facts = super::strength::AuthFacts::of(performed);
        self.strengths
            .iter()
            .find(|s| &*s.id == id)
            .map(|s| s.satisfied(&facts))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledPolicy {
    pub id: Arc<str>,
    pub state: PolicyState,
    pub users: UserScope,
    pub target: TargetScope,
    pub conditions: CompiledConditions,
    pub grant: CompiledGrant,
    pub frequency: Option<SignInFrequency>,
    pub persistent_browser: Option<PersistentBrowser>,
}

/// Ids as `u128` (sorted) for fast comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct UserScope {
    pub all: bool,
    pub users: Vec<u128>,
    pub groups: Vec<u128>,
    pub roles: u8,
    pub ex_users: Vec<u128>,
    pub ex_groups: Vec<u128>,
    pub ex_roles: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum TargetScope {
    Applications {
        all: bool,
        include: Vec<String>,
        exclude: Vec<String>,
    },
    UserActions(Vec<UserAction>),
    AuthContexts(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum LocInclude {
    All,
    AllTrusted,
    List(Vec<u16>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum LocExclude {
    AllTrusted,
    List(Vec<u16>),
}

/// Bit masks over small enums; `None` = not a condition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct CompiledConditions {
    pub user_risk: Option<u8>,
    pub sign_in_risk: Option<u8>,
    /// (include: `None` = all platforms, exclude)
    pub platforms: Option<(Option<u8>, u8)>,
    pub locations: Option<(LocInclude, LocExclude)>,
    pub client_apps: Option<u8>,
    pub device_filter: Option<(FilterMode, Expr)>,
    pub labels: Option<Vec<String>>,
}

impl CompiledConditions {
    pub fn is_empty(&self) -> bool {
        self == &CompiledConditions::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CompiledGrant {
    /// Session controls only.
    None,
    Block,
    Require {
        operator: Operator,
        controls: Vec<(GrantControl, Control)>,
    },
}

/// A grant control with its references resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Control {
    RegisterSecurityInfo,
    Strength(u16),
    CompliantDevice,
    RegisteredDevice,
    PasswordChange,
    Terms(u32),
}

pub(crate) fn role_bit(r: Role) -> u8 {
    match r {
        Role::GlobalAdministrator => 1,
        Role::SecurityAdministrator => 2,
        Role::HelpdeskAdministrator => 4,
        Role::SecurityReader => 8,
    }
}

pub(crate) fn risk_bit(r: RiskLevel) -> u8 {
    match r {
        RiskLevel::Low => 1,
        RiskLevel::Medium => 2,
        RiskLevel::High => 4,
    }
}

/// Whether two sorted lists share an element.
pub(crate) fn intersects(a: &[u128], b: &[u128]) -> bool {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if small.is_empty() {
        return false;
    }
    small.iter().any(|x| large.binary_search(x).is_ok())
}
