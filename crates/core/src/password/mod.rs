//! Password protection: refuses weak passwords and their variants, organisation terms and
//! personal information, with an algorithm modelled on (and stricter than) the one Microsoft
//! documents for Entra Password Protection, within the NIST SP 800-63B rules (length, every
//! character allowed, no composition rules).
//!
//! Pure: the lists are built once by the caller and passed in; nothing here reads a file, the
//! clock or a random source. The algorithm is specified in docs/password-protection.md.
//!
//! ```
//! use trustplane_core::password::{BannedList, PasswordChecker, PasswordPolicy, UserTerms};
//! let policy = PasswordPolicy::default();
//! let global = BannedList::global().unwrap(); // once per process
//! let custom = BannedList::from_terms(["Contoso"], &policy.substitutions).unwrap();
//! let checker = PasswordChecker::new(&policy, &global, &custom);
//! let user = UserTerms { first_name: Some("Alice"), ..Default::default() };
//! assert!(!checker.evaluate(&user, "C0ntoso2024!").accepted);
//! assert!(checker.evaluate(&user, "gusset pewter thimble").accepted);
//! ```

pub mod banned;
mod derived;
mod keyboard;
pub mod normalize;
mod patterns;
mod personal;
pub mod policy;
mod score;
mod verdict;

pub use banned::{BannedList, BannedListError};
pub use personal::{PERSONAL_FUZZY_MIN_LEN, UserTerms};
pub use policy::{PasswordPolicy, PolicyError};
pub use verdict::{Reason, Verdict};

use banned::TermMatch;
use normalize::{Normalized, nfkc_len, normalize};
use score::{Found, Source};

/// Checks passwords against a policy, the global list and the organisation's custom list.
/// Cheap to construct (three references): make one per check or keep one around.
#[derive(Debug, Clone, Copy)]
pub struct PasswordChecker<'a> {
    pub policy: &'a PasswordPolicy,
    pub global: &'a BannedList,
    pub custom: &'a BannedList,
}

/// Characters refused outright: control characters (Cc) and the Unicode line and paragraph
/// separators, which no one types into a password field on purpose.
fn is_refused_char(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

impl<'a> PasswordChecker<'a> {
    pub fn new(
        policy: &'a PasswordPolicy,
        global: &'a BannedList,
        custom: &'a BannedList,
    ) -> PasswordChecker<'a> {
        PasswordChecker {
            policy,
            global,
            custom,
        }
    }

    /// Checks raw bytes (as read from a terminal or a form), refusing invalid UTF-8.
    pub fn evaluate_bytes(&self, user: &UserTerms<'_>, candidate: &[u8]) -> Verdict {
        match std::str::from_utf8(candidate) {
            Ok(s) => self.evaluate(user, s),
            Err(_) => Verdict::refused(Reason::InvalidUtf8, self.policy.effective_min_score()),
        }
    }

    /// Checks one candidate password for one user.
    pub fn evaluate(&self, user: &UserTerms<'_>, candidate: &str) -> Verdict {
        let required = self.policy.effective_min_score();
        let min_length = self.policy.effective_min_length();
        let max_length = self.policy.effective_max_length();
        // 1. Cheap refusals first: a 10 KB paste is refused before any normalisation.
        //    (NFKC can shrink a string only by composing marks, never to a quarter.)
        let raw_len = candidate.chars().count();
        if raw_len > max_length.saturating_mul(4) {
            return Verdict::refused(
                Reason::TooLong {
                    length: raw_len,
                    max: max_length,
                },
                required,
            );
        }
        if candidate.trim().is_empty() {
            return Verdict::refused(Reason::Empty, required);
        }
        if candidate.chars().any(is_refused_char) {
            return Verdict::refused(Reason::ControlCharacters, required);
        }
        // 2. Length after NFKC.
        let length = nfkc_len(candidate);
        if length > max_length {
            return Verdict::refused(
                Reason::TooLong {
                    length,
                    max: max_length,
                },
                required,
            );
        }
        // 3. Score every reading; the lowest counts.
        let personal = personal::personal_terms(user, &self.policy.substitutions);
        let primary = normalize(candidate, &self.policy.substitutions, None);
        let mut best = self.score(&primary, &personal);
        if candidate
            .chars()
            .any(|c| self.policy.alternatives.contains_key(&c))
        {
            let alt = normalize(
                candidate,
                &self.policy.substitutions,
                Some(&self.policy.alternatives),
            );
            let other = self.score(&alt, &personal);
            if other.0 < best.0 {
                best = other;
            }
        }
        let (score, sources) = best;
        // 4. Verdict.
        let mut reasons = Vec::new();
        if length < min_length {
            reasons.push(Reason::TooShort {
                length,
                min: min_length,
            });
        }
        if score < required {
            for s in &sources {
                let r = match s {
                    Source::Personal => Reason::ContainsPersonalInfo,
                    Source::Organisation => Reason::OrganisationTerm,
                    Source::Global => Reason::CommonPassword,
                    Source::Pattern | Source::Derived => Reason::PredictablePattern,
                };
                if !reasons.contains(&r) {
                    reasons.push(r);
                }
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

    /// Score of one reading, and which kinds of piece the cheapest cover used.
    fn score(&self, n: &Normalized, personal: &[(Vec<char>, Source)]) -> (u32, Vec<Source>) {
        let mut found: Vec<Found> = Vec::new();
        let mut buf: Vec<TermMatch> = Vec::new();
        for (list, source) in [
            (self.global, Source::Global),
            (self.custom, Source::Organisation),
        ] {
            buf.clear();
            list.find(&n.chars, &mut buf);
            // A digit or symbol next to a term is a decoration, not a typo: `password1` is
            // "password" plus a decoration (2 points), not a fuzzy match of it (1 point).
            // (The exact match of the term without it is in `buf` too.)
            buf.retain(|m| {
                let term = list.term_chars(m.term);
                let window = &n.chars[m.start..m.end];
                let extra_at = |i: usize| n.was_letter.get(i).is_some_and(|l| !*l);
                !(window.len() == term.len() + 1
                    && ((extra_at(m.start) && window[1..] == *term)
                        || (extra_at(m.end - 1) && window[..term.len()] == *term)))
            });
            found.extend(buf.iter().map(|m| Found {
                start: m.start,
                end: m.end,
                source,
            }));
        }
        personal::find_personal(personal, &n.chars, &mut found);
        // Terms written backwards (`drowssap`, `ecila`): the password reversed, exact matches.
        let len = n.chars.len();
        let reversed: Vec<char> = n.chars.iter().rev().copied().collect();
        let back = |start: usize, end: usize| (len - end, len - start);
        for (list, source) in [
            (self.global, Source::Global),
            (self.custom, Source::Organisation),
        ] {
            buf.clear();
            list.find_exact(&reversed, &mut buf);
            found.extend(buf.iter().map(|m| {
                let (start, end) = back(m.start, m.end);
                Found { start, end, source }
            }));
        }
        let mut rev_personal = Vec::new();
        personal::find_personal(personal, &reversed, &mut rev_personal);
        found.extend(rev_personal.iter().map(|f| {
            let (start, end) = back(f.start, f.end);
            Found { start, end, ..*f }
        }));
        patterns::find_patterns(n, &mut found);
        derived::find_derived(n, &mut found);
        found.sort_by_key(|f| (f.start, f.end, f.source));
        found.dedup();
        score::score(n, &found)
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_derived;
