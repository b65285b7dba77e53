//! Password protection: refuses weak passwords and their variants, organisation terms and
//! personal information, with an algorithm modelled on (and stricter than) the one Microsoft
//! documents for Entra Password Protection. Pure: lists are built once and passed in.
//! The algorithm is specified in docs/password-protection.md.

pub mod banned;
pub mod normalize;

pub use banned::{BannedList, BannedListError};

use banned::TermMatch;
use normalize::{ALTERNATIVES, Normalized, default_substitutions, normalize, normalize_term};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The policy a password is checked against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordPolicy {
    /// Minimum length in characters (NIST SP 800-63B: at least 8; default 12).
    pub min_length: usize,
    /// Maximum length in characters (at least 64).
    pub max_length: usize,
    /// Points a password needs: each banned term found counts 1, each other character 1.
    pub min_score: u32,
    /// Character substitutions applied after NFKC and lower-casing (single characters,
    /// e.g. `{"0" = "o", "$" = "s"}`).
    #[serde(with = "subst_serde")]
    pub substitutions: BTreeMap<char, char>,
}

mod subst_serde {
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

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            min_length: 12,
            max_length: 256,
            min_score: 5,
            substitutions: default_substitutions(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("min_length must be at least 8 (NIST SP 800-63B)")]
    MinLengthTooLow,
    #[error("max_length must be at least 64 and at least min_length")]
    MaxLengthTooLow,
    #[error("min_score must be at least 1")]
    MinScoreTooLow,
}

impl PasswordPolicy {
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.min_length < 8 {
            return Err(PolicyError::MinLengthTooLow);
        }
        if self.max_length < 64 || self.max_length < self.min_length {
            return Err(PolicyError::MaxLengthTooLow);
        }
        if self.min_score < 1 {
            return Err(PolicyError::MinScoreTooLow);
        }
        Ok(())
    }
}

/// What we know about the person whose password it is.
#[derive(Debug, Clone, Default)]
pub struct UserTerms<'a> {
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
    pub display_name: Option<&'a str>,
    pub login: Option<&'a str>,
    pub email: Option<&'a str>,
    pub organisation: Option<&'a str>,
}

/// Why a password was refused. Codes are stable; messages never reveal list contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Reason {
    Empty,
    InvalidUtf8,
    ControlCharacters,
    TooShort { length: usize, min: usize },
    TooLong { length: usize, max: usize },
    CommonPassword,
    OrganisationTerm,
    ContainsPersonalInfo,
    InsufficientScore { score: u32, required: u32 },
    Breached,
}

impl Reason {
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
            Reason::InsufficientScore { .. } => "insufficient_score",
            Reason::Breached => "breached",
        }
    }

    /// Plain words for the person choosing the password.
    pub fn message(&self) -> String {
        match self {
            Reason::Empty => "Enter a password.".into(),
            Reason::InvalidUtf8 => "The password is not valid text.".into(),
            Reason::ControlCharacters => "The password contains control characters.".into(),
            Reason::TooShort { length, min } => format!("Too short: {length} of {min} characters."),
            Reason::TooLong { max, .. } => format!("Too long: at most {max} characters."),
            Reason::CommonPassword => "Contains a commonly used password.".into(),
            Reason::OrganisationTerm => "Contains a word associated with this organisation.".into(),
            Reason::ContainsPersonalInfo => "Contains your name or username.".into(),
            Reason::InsufficientScore { .. } => {
                "Too easy to guess: add more words or characters of your own.".into()
            }
            Reason::Breached => "This password has appeared in a data breach.".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub accepted: bool,
    pub score: u32,
    pub required_score: u32,
    pub reasons: Vec<Reason>,
}

impl Verdict {
    fn refused(reason: Reason, required: u32) -> Verdict {
        Verdict {
            accepted: false,
            score: 0,
            required_score: required,
            reasons: vec![reason],
        }
    }

    /// Refuses an accepted verdict for an outside reason (e.g. the breach filter).
    pub fn refuse(&mut self, reason: Reason) {
        self.accepted = false;
        self.reasons.push(reason);
    }

    /// All messages, for a page.
    pub fn messages(&self) -> Vec<String> {
        self.reasons.iter().map(Reason::message).collect()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Source {
    Global,
    Custom,
    Personal,
}

#[derive(Clone, Copy, Debug)]
struct Found {
    start: usize,
    end: usize,
    source: Source,
}

/// Checks passwords against a policy, the global list and the organisation's custom list.
pub struct PasswordChecker<'a> {
    pub policy: &'a PasswordPolicy,
    pub global: &'a BannedList,
    pub custom: &'a BannedList,
}

impl PasswordChecker<'_> {
    /// Checks raw bytes (refusing invalid UTF-8).
    pub fn evaluate_bytes(&self, user: &UserTerms<'_>, candidate: &[u8]) -> Verdict {
        match std::str::from_utf8(candidate) {
            Ok(s) => self.evaluate(user, s),
            Err(_) => Verdict::refused(Reason::InvalidUtf8, self.policy.min_score),
        }
    }

    pub fn evaluate(&self, user: &UserTerms<'_>, candidate: &str) -> Verdict {
        let required = self.policy.min_score;
        // Cheap checks first: never run the matcher on a 10 KB input.
        let raw_len = candidate.chars().count();
        if raw_len > self.policy.max_length.saturating_mul(4) {
            return Verdict::refused(
                Reason::TooLong {
                    length: raw_len,
                    max: self.policy.max_length,
                },
                required,
            );
        }
        if candidate.trim().is_empty() {
            return Verdict::refused(Reason::Empty, required);
        }
        if candidate.chars().any(char::is_control) {
            return Verdict::refused(Reason::ControlCharacters, required);
        }
        let primary = normalize(candidate, &self.policy.substitutions, &[]);
        let length = primary.chars.len();
        if length > self.policy.max_length {
            return Verdict::refused(
                Reason::TooLong {
                    length,
                    max: self.policy.max_length,
                },
                required,
            );
        }
        let personal = personal_terms(user, &self.policy.substitutions);
        let mut best = self.score(&primary, &personal);
        if candidate.contains(['1', '|']) {
            let alt = normalize(candidate, &self.policy.substitutions, &ALTERNATIVES);
            let other = self.score(&alt, &personal);
            if other.0 < best.0 {
                best = other;
            }
        }
        let (score, sources) = best;
        let mut reasons = Vec::new();
        if length < self.policy.min_length {
            reasons.push(Reason::TooShort {
                length,
                min: self.policy.min_length,
            });
        }
        if score < required {
            for s in sources {
                reasons.push(match s {
                    Source::Global => Reason::CommonPassword,
                    Source::Custom => Reason::OrganisationTerm,
                    Source::Personal => Reason::ContainsPersonalInfo,
                });
            }
            reasons.push(Reason::InsufficientScore { score, required });
        }
        Verdict {
            accepted: reasons.is_empty(),
            score,
            required_score: required,
            reasons,
        }
    }

    /// Entra-style score of one normalisation, and which kinds of term were found.
    fn score(&self, n: &Normalized, personal: &[Vec<char>]) -> (u32, Vec<Source>) {
        let p = &n.chars;
        let mut found: Vec<Found> = Vec::new();
        let mut buf: Vec<TermMatch> = Vec::new();
        for (list, source) in [(self.global, Source::Global), (self.custom, Source::Custom)] {
            buf.clear();
            list.find(p, &mut buf);
            found.extend(buf.iter().map(|m| Found {
                start: m.start,
                end: m.end,
                source,
            }));
        }
        for term in personal {
            let t = term.len();
            if t == 0 || t > p.len() {
                continue;
            }
            for start in 0..=p.len() - t {
                if p[start..start + t] == term[..] {
                    found.push(Found {
                        start,
                        end: start + t,
                        source: Source::Personal,
                    });
                }
            }
        }
        // Longest matches first; then personal before organisation before global, so the
        // most specific explanation wins a tie.
        found.sort_by(|a, b| {
            (b.end - b.start)
                .cmp(&(a.end - a.start))
                .then(b.source.cmp(&a.source))
                .then(a.start.cmp(&b.start))
        });
        let has_letter = |f: &Found| n.was_letter[f.start..f.end].iter().any(|l| *l);
        let mut covered = vec![false; p.len()];
        let mut chosen: Vec<Found> = Vec::new();
        // 1. Terms with letters in them ("password", "p@ssw0rd").
        for f in found.iter().filter(|f| has_letter(f)) {
            if covered[f.start..f.end].iter().any(|c| *c) {
                continue;
            }
            covered[f.start..f.end].iter_mut().for_each(|c| *c = true);
            chosen.push(*f);
        }
        // 2. Dressing: a run of digits and symbols directly before or after such a term
        //    ("password2024!") scores one point in all, whatever it contains: it is the most
        //    common way to dress up a weak password.
        let mut score = 0u32;
        let mut i = 0;
        while i < p.len() {
            if covered[i] || n.was_letter[i] {
                i += 1;
                continue;
            }
            let mut j = i;
            while j < p.len() && !covered[j] && !n.was_letter[j] {
                j += 1;
            }
            if (i > 0 && covered[i - 1]) || (j < p.len() && covered[j]) {
                covered[i..j].iter_mut().for_each(|c| *c = true);
                score += 1;
            }
            i = j;
        }
        // 3. Terms made of digits and symbols only ("123456") in what remains.
        for f in found.iter().filter(|f| !has_letter(f)) {
            if covered[f.start..f.end].iter().any(|c| *c) {
                continue;
            }
            covered[f.start..f.end].iter_mut().for_each(|c| *c = true);
            chosen.push(*f);
        }
        // 4. One point per term found, one per remaining character.
        score += chosen.len() as u32;
        score += covered.iter().filter(|c| !**c).count() as u32;
        let mut sources: Vec<Source> = chosen.iter().map(|f| f.source).collect();
        sources.sort();
        sources.dedup();
        sources.reverse();
        (score, sources)
    }
}

/// Personal terms of at least 4 characters: names, login (and its parts), email local part
/// (and its parts), organisation.
fn personal_terms(user: &UserTerms<'_>, subst: &BTreeMap<char, char>) -> Vec<Vec<char>> {
    let mut raw: Vec<&str> = Vec::new();
    for v in [user.first_name, user.last_name, user.organisation]
        .into_iter()
        .flatten()
    {
        raw.push(v);
    }
    for v in [user.display_name, user.login, user.email]
        .into_iter()
        .flatten()
    {
        let local = v.split('@').next().unwrap_or(v);
        raw.push(local);
        raw.extend(
            local
                .split(|c: char| c == '.' || c == '_' || c == '-' || c == '+' || c.is_whitespace()),
        );
    }
    let mut out: Vec<Vec<char>> = raw
        .into_iter()
        .map(|s| normalize_term(s, subst).chars().collect::<Vec<char>>())
        .filter(|t| t.len() >= banned::MIN_TERM_LEN)
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests;
