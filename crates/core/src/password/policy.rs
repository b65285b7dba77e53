//! The password policy (configuration) and its validation.

use super::normalize::{default_alternatives, default_substitutions};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// NIST SP 800-63B: a chosen password has at least 8 characters; no policy may go lower.
pub const NIST_MIN_LENGTH: usize = 8;
/// NIST SP 800-63B: at least 64 characters must be allowed.
pub const NIST_MAX_LENGTH_AT_LEAST: usize = 64;
/// Highest `max_length` a policy may set: longer inputs are refused before any work, which
/// bounds the cost of one evaluation.
pub const MAX_LENGTH_CEILING: usize = 4096;

/// The policy a password is checked against. Deserialises from the `[password]` table of the
/// configuration; every field has a default, unknown fields are refused.
///
/// ```toml
/// [password]
/// min_length = 12      # never below 8
/// max_length = 256     # at least 64
/// min_score = 5
/// [password.substitutions]
/// "0" = "o"
/// "$" = "s"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordPolicy {
    /// Minimum length in characters after NFKC (NIST SP 800-63B: at least 8; default 12).
    pub min_length: usize,
    /// Maximum length in characters after NFKC (at least 64; default 256).
    pub max_length: usize,
    /// Points a password needs: each banned term or predictable pattern found counts 1, each
    /// other character 1, a decoration of digits and symbols next to a term 1 per 4
    /// characters (default 5).
    pub min_score: u32,
    /// Character substitutions applied after NFKC and lower-casing (single characters to
    /// single characters, e.g. `{"0" = "o", "$" = "s"}`). Replaces the defaults when given.
    #[serde(with = "char_map")]
    pub substitutions: BTreeMap<char, char>,
    /// Second readings of ambiguous characters (default `1 → i`, `| → i`): a password that
    /// contains one is also scored with these taking precedence, and the lower score counts.
    #[serde(with = "char_map")]
    pub alternatives: BTreeMap<char, char>,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            min_length: 12,
            max_length: 256,
            min_score: 5,
            substitutions: default_substitutions(),
            alternatives: default_alternatives(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("min_length must be at least 8 (NIST SP 800-63B)")]
    MinLengthTooLow,
    #[error("max_length must be at least 64 (NIST SP 800-63B) and at least min_length")]
    MaxLengthTooLow,
    #[error("max_length must be at most 4096")]
    MaxLengthTooHigh,
    #[error("min_score must be at least 1")]
    MinScoreTooLow,
    #[error("substitution {0:?} maps a character to a control character or itself")]
    BadSubstitution(char),
}

impl PasswordPolicy {
    /// Checks the policy; the configuration loader calls this and refuses to start on error.
    /// (Evaluation also clamps to the NIST floor, so an unchecked policy is never weaker.)
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.min_length < NIST_MIN_LENGTH {
            return Err(PolicyError::MinLengthTooLow);
        }
        if self.max_length < NIST_MAX_LENGTH_AT_LEAST || self.max_length < self.min_length {
            return Err(PolicyError::MaxLengthTooLow);
        }
        if self.max_length > MAX_LENGTH_CEILING {
            return Err(PolicyError::MaxLengthTooHigh);
        }
        if self.min_score < 1 {
            return Err(PolicyError::MinScoreTooLow);
        }
        for (from, to) in self.substitutions.iter().chain(&self.alternatives) {
            if from == to || to.is_control() || from.is_control() {
                return Err(PolicyError::BadSubstitution(*from));
            }
        }
        Ok(())
    }

    /// Minimum length actually enforced (never below the NIST floor).
    pub fn effective_min_length(&self) -> usize {
        self.min_length.max(NIST_MIN_LENGTH)
    }

    /// Maximum length actually enforced.
    pub fn effective_max_length(&self) -> usize {
        self.max_length
            .clamp(NIST_MAX_LENGTH_AT_LEAST, MAX_LENGTH_CEILING)
            .max(self.effective_min_length())
    }

    /// Score actually required.
    pub fn effective_min_score(&self) -> u32 {
        self.min_score.max(1)
    }
}

/// Serialises a `char → char` map as a map of one-character strings (TOML and JSON keys are
/// strings).
mod char_map {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(m: &BTreeMap<char, char>, s: S) -> Result<S::Ok, S::Error> {
        m.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<String, String>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<char, char>, D::Error> {
        let raw = BTreeMap::<String, String>::deserialize(d)?;
        let one = |s: &str| {
            let mut it = s.chars();
            match (it.next(), it.next()) {
                (Some(c), None) => Ok(c),
                _ => Err(D::Error::custom(format!(
                    "substitutions map single characters to single characters; `{s}` is not one"
                ))),
            }
        };
        raw.iter().map(|(k, v)| Ok((one(k)?, one(v)?))).collect()
    }
}
