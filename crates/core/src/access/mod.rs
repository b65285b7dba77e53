//! Conditional access: the one pure function every enforcement point calls.
//!
//! ```text
//! parse_json / parse_yaml  ->  PolicySetDocument
//! compile(document, &catalog)  ->  PolicySet  (validated, device filters parsed, indexed)
//! evaluate(&set, &context)  ->  Decision      (fast path: candidate policies only)
//! explain(&set, &context)   ->  Decision      (a record for every policy; same outcome)
//! lint(&set, &directory)    ->  Vec<Warning>
//! templates()               ->  Vec<Policy>   (all disabled)
//! ```
//!
//! No I/O, no clock (the request time is in the context), no randomness. The semantics are
//! documented in `docs/conditional-access.md`.

mod catalog;
mod compiled;
pub mod context;
pub mod decision;
mod definitions;
mod evaluate;
pub mod filter;
mod index;
mod lint;
mod location;
pub mod model;
mod model_de;
mod parse;
pub mod strength;
mod templates;
mod validate;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_conditions;
#[cfg(test)]
mod tests_eval;
#[cfg(test)]
mod tests_filter;
#[cfg(test)]
mod tests_lint;

pub use catalog::{Catalog, StaticCatalog, ValidationError, ValidationErrorKind};
pub use compiled::PolicySet;
pub use context::{
    AccessContext, Authentication, DeviceSignals, Network, Subject, TargetRequest, TrustType,
};
pub use decision::{
    ControlResult, Decision, NotAppliedReason, Outcome, PolicyRecord, PolicyResult, Requirement,
    SessionDecision,
};
pub use evaluate::{EVERY_TIME_TOLERANCE, evaluate, explain};
pub use lint::{DirectoryUser, LintDirectory, Warning, WarningCode, lint};
pub use model::*;
pub use parse::{ParseError, parse_json, parse_yaml};
pub use templates::templates;
pub use validate::compile;

/// Reading and validating in one step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("{0}")]
    Parse(#[from] ParseError),
    #[error("{} validation error(s); first: {}", .0.len(), .0.first().map(ToString::to_string).unwrap_or_default())]
    Invalid(Vec<ValidationError>),
}

impl PolicyError {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            PolicyError::Parse(_) => "policy_parse",
            PolicyError::Invalid(_) => "policy_invalid",
        }
    }
}

impl PolicySet {
    /// Parses JSON and compiles it against the catalog.
    pub fn from_json(text: &str, catalog: &dyn Catalog) -> Result<PolicySet, PolicyError> {
        compile(parse_json(text)?, catalog).map_err(PolicyError::Invalid)
    }

    /// Parses YAML and compiles it against the catalog.
    pub fn from_yaml(text: &str, catalog: &dyn Catalog) -> Result<PolicySet, PolicyError> {
        compile(parse_yaml(text)?, catalog).map_err(PolicyError::Invalid)
    }
}
