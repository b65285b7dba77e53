//! The outcome of a check: accepted or not, the score, and typed reasons with stable codes.

use serde::{Deserialize, Serialize};

/// Why a password was refused. The `code` is stable (API, logs, translations); `message()` is
/// plain text for the person choosing the password and never reveals list contents or which
/// term matched.
///
/// Serialises as `{"code": "too_short", "length": 9, "min": 12}` (fields only where shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Reason {
    /// Empty or only white space.
    Empty,
    /// Raw bytes that are not UTF-8 ([`super::PasswordChecker::evaluate_bytes`]).
    InvalidUtf8,
    /// Control characters (tab, newline, NUL, …, and line/paragraph separators).
    ControlCharacters,
    TooShort {
        length: usize,
        min: usize,
    },
    TooLong {
        length: usize,
        max: usize,
    },
    /// A term of the global banned list (or a variant of one) was found.
    CommonPassword,
    /// A term of the organisation's banned list, or the organisation's name, was found.
    OrganisationTerm,
    /// The user's name, login or email was found.
    ContainsPersonalInfo,
    /// Repeated characters (`aaaa`), sequences (`abcd`, `4321`) or a repeated block.
    PredictablePattern,
    /// The score is below the policy's minimum.
    InsufficientScore {
        score: u32,
        required: u32,
    },
    /// Found in the breached-password filter (added by the caller, see [`Verdict::refuse`]).
    Breached,
}

impl Reason {
    /// The stable machine code (the `code` field of the JSON form).
    pub fn code(&self) -> &'static str {
        match self {
            Reason::Empty => "empty",
            Reason::InvalidUtf8 => "invalid_utf8",
            Reason::ControlCharacters => "control_characters",
            Reason::TooShort { .. } => "too_short",
            Reason::TooLong { .. } => "too_long",
            Reason::CommonPassword => "common_password",
            Reason::OrganisationTerm => "organisation_term",
            Reason::ContainsPersonalInfo => "contains_personal_info",
            Reason::PredictablePattern => "predictable_pattern",
            Reason::InsufficientScore { .. } => "insufficient_score",
            Reason::Breached => "breached",
        }
    }

    /// Plain words for the person choosing the password.
    pub fn message(&self) -> String {
        match self {
            Reason::Empty => "Enter a password.".into(),
            Reason::InvalidUtf8 => "The password is not valid text.".into(),
            Reason::ControlCharacters => {
                "The password contains control characters (such as a tab or a line break).".into()
            }
            Reason::TooShort { length, min } => {
                format!("Too short: {length} of {min} characters.")
            }
            Reason::TooLong { max, .. } => format!("Too long: at most {max} characters."),
            Reason::CommonPassword => "Contains a commonly used password.".into(),
            Reason::OrganisationTerm => "Contains a word associated with this organisation.".into(),
            Reason::ContainsPersonalInfo => "Contains your name or username.".into(),
            Reason::PredictablePattern => {
                "Contains repeated characters or an easy sequence.".into()
            }
            Reason::InsufficientScore { .. } => {
                "Too easy to guess: add more words or characters of your own.".into()
            }
            Reason::Breached => "This password has appeared in a data breach.".into(),
        }
    }
}

/// The result of a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub accepted: bool,
    /// Points scored (0 when refused before scoring: empty, too long, control characters).
    pub score: u32,
    pub required_score: u32,
    /// Empty when accepted. Ordered: length, what was found (personal, organisation, common,
    /// pattern), then `insufficient_score`, then reasons added by the caller.
    pub reasons: Vec<Reason>,
}

impl Verdict {
    pub(super) fn refused(reason: Reason, required: u32) -> Verdict {
        Verdict {
            accepted: false,
            score: 0,
            required_score: required,
            reasons: vec![reason],
        }
    }

    /// Refuses for an outside reason (e.g. [`Reason::Breached`] from the breach filter).
    pub fn refuse(&mut self, reason: Reason) {
        self.accepted = false;
        if !self.reasons.contains(&reason) {
            self.reasons.push(reason);
        }
    }

    /// All messages, for a page.
    pub fn messages(&self) -> Vec<String> {
        self.reasons.iter().map(Reason::message).collect()
    }

    /// All codes.
    pub fn codes(&self) -> Vec<&'static str> {
        self.reasons.iter().map(Reason::code).collect()
    }
}
