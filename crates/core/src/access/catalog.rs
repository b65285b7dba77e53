//! What validation checks against (the directory [`Catalog`]) and what it reports
//! ([`ValidationError`], with the path of the field and a stable code).

use std::collections::HashSet;

use serde::Serialize;
use uuid::Uuid;

use super::filter::FilterError;

/// What the directory knows; the edge provides it (from the store) when a policy set is saved.
pub trait Catalog {
    fn has_user(&self, id: Uuid) -> bool;
    fn has_group(&self, id: Uuid) -> bool;
    fn has_application(&self, id: &str) -> bool;
    fn has_sensitivity_label(&self, id: &str) -> bool;
    fn has_authentication_context(&self, id: &str) -> bool;
    fn has_terms_of_use(&self, id: &str) -> bool;
}

/// A [`Catalog`] held in memory.
#[derive(Debug, Clone, Default)]
pub struct StaticCatalog {
    pub users: HashSet<Uuid>,
    pub groups: HashSet<Uuid>,
    pub applications: HashSet<String>,
    pub sensitivity_labels: HashSet<String>,
    pub authentication_contexts: HashSet<String>,
    pub terms_of_use: HashSet<String>,
}

impl Catalog for StaticCatalog {
    fn has_user(&self, id: Uuid) -> bool {
        self.users.contains(&id)
    }
    fn has_group(&self, id: Uuid) -> bool {
        self.groups.contains(&id)
    }
    fn has_application(&self, id: &str) -> bool {
        self.applications.contains(id)
    }
    fn has_sensitivity_label(&self, id: &str) -> bool {
        self.sensitivity_labels.contains(id)
    }
    fn has_authentication_context(&self, id: &str) -> bool {
        self.authentication_contexts.contains(id)
    }
    fn has_terms_of_use(&self, id: &str) -> bool {
        self.terms_of_use.contains(id)
    }
}

/// One problem in a policy set, with the path of the field it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{path}: {kind}")]
pub struct ValidationError {
    pub path: String,
    #[serde(serialize_with = "kind_as_message")]
    pub kind: ValidationErrorKind,
}

fn kind_as_message<S: serde::Serializer>(k: &ValidationErrorKind, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    let mut st = s.serialize_struct("kind", 2)?;
    st.serialize_field("code", k.code())?;
    st.serialize_field("message", &k.to_string())?;
    st.end()
}

impl ValidationError {
    /// Stable machine code of the problem.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationErrorKind {
    #[error("must not be empty")]
    EmptyName,
    #[error(
        "\"{0}\" is not a valid id (lowercase letters, digits, '-' and '_', starting with a letter or digit, at most 64 characters)"
    )]
    InvalidId(String),
    #[error("duplicate id \"{id}\" (first used at {first})")]
    DuplicateId { id: String, first: String },
    #[error("\"{0}\" is a built-in authentication strength and cannot be redefined")]
    BuiltinStrength(String),
    #[error("unknown user {0}")]
    UnknownUser(Uuid),
    #[error("unknown group {0}")]
    UnknownGroup(Uuid),
    #[error("unknown application \"{0}\"")]
    UnknownApplication(String),
    #[error("unknown sensitivity label \"{0}\"")]
    UnknownSensitivityLabel(String),
    #[error("unknown authentication context \"{0}\"")]
    UnknownAuthenticationContext(String),
    #[error("unknown terms of use \"{0}\"")]
    UnknownTermsOfUse(String),
    #[error("unknown named location \"{0}\"")]
    UnknownLocation(String),
    #[error("unknown authentication strength \"{0}\"")]
    UnknownStrength(String),
    #[error("{0}")]
    EmptyList(&'static str),
    #[error("{0}")]
    Impossible(&'static str),
    #[error("duplicate control \"{0}\"")]
    DuplicateControl(&'static str),
    #[error(
        "\"mfa\" and an authentication strength cannot be combined in one policy; require the strength alone (\"mfa\" is itself a built-in strength)"
    )]
    MfaWithStrength,
    #[error("{0}")]
    PasswordChange(&'static str),
    #[error("invalid device filter: {0}")]
    Filter(FilterError),
    #[error("invalid CIDR range \"{0}\"")]
    InvalidCidr(String),
    #[error("\"{0}\" is not an uppercase ISO 3166-1 alpha-2 country code")]
    InvalidCountry(String),
    #[error("must be between 1 and 8760 hours, got {0}")]
    FrequencyOutOfRange(u32),
}

impl ValidationErrorKind {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        use ValidationErrorKind as K;
        match self {
            K::EmptyName => "empty_name",
            K::InvalidId(_) => "invalid_id",
            K::DuplicateId { .. } => "duplicate_id",
            K::BuiltinStrength(_) => "builtin_strength",
            K::UnknownUser(_) => "unknown_user",
            K::UnknownGroup(_) => "unknown_group",
            K::UnknownApplication(_) => "unknown_application",
            K::UnknownSensitivityLabel(_) => "unknown_sensitivity_label",
            K::UnknownAuthenticationContext(_) => "unknown_authentication_context",
            K::UnknownTermsOfUse(_) => "unknown_terms_of_use",
            K::UnknownLocation(_) => "unknown_location",
            K::UnknownStrength(_) => "unknown_strength",
            K::EmptyList(_) => "empty_list",
            K::Impossible(_) => "impossible_combination",
            K::DuplicateControl(_) => "duplicate_control",
            K::MfaWithStrength => "mfa_with_strength",
            K::PasswordChange(_) => "password_change_combination",
            K::Filter(e) => e.code(),
            K::InvalidCidr(_) => "invalid_cidr",
            K::InvalidCountry(_) => "invalid_country",
            K::FrequencyOutOfRange(_) => "frequency_out_of_range",
        }
    }
}
