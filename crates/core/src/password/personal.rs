//! Terms specific to one user (names, login, email) and to the organisation (its name).

use super::banned::{MIN_TERM_LEN, MIN_WINDOW_LEN, within_one};
use super::normalize::normalize_term;
use super::score::{Found, Source};
use std::collections::BTreeMap;

/// Personal terms this long or longer also match at edit distance one (`Liddel` for
/// `Liddell`); shorter ones match exactly, so that a name like `Mark` does not swallow `dark`.
pub const PERSONAL_FUZZY_MIN_LEN: usize = 6;

/// What we know about the person whose password it is. Every field is optional; each value
/// (and each part of it) counts if it has at least 4 characters after normalisation.
#[derive(Debug, Clone, Default)]
pub struct UserTerms<'a> {
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
    /// Whole display name; its words count as names too.
    pub display_name: Option<&'a str>,
    /// Login name; its parts (split at `. _ - +` and spaces, digits stripped) count too.
    pub login: Option<&'a str>,
    /// Email address: its local part and that part's pieces count (not the domain).
    pub email: Option<&'a str>,
    /// The organisation's name (and its words): reported as `organisation_term`.
    pub organisation: Option<&'a str>,
}

fn is_separator(c: char) -> bool {
    matches!(c, '.' | '_' | '-' | '+' | '@') || c.is_whitespace()
}

/// Raw candidate terms of one value: the whole (without separators) and its parts, each also
/// without leading and trailing digits and symbols (`jsmith84` → `jsmith`).
fn parts(value: &str, out: &mut Vec<String>) {
    let strip = |s: &str| -> String { s.trim_matches(|c: char| !c.is_alphabetic()).to_string() };
    let whole: String = value.chars().filter(|c| !is_separator(*c)).collect();
    out.push(strip(&whole));
    out.push(whole);
    for p in value.split(is_separator).filter(|p| !p.is_empty()) {
        out.push(strip(p));
        out.push(p.to_string());
    }
}

/// The user's terms in matching form, each with its source, deduplicated.
pub(super) fn personal_terms(
    user: &UserTerms<'_>,
    subst: &BTreeMap<char, char>,
) -> Vec<(Vec<char>, Source)> {
    let mut personal = Vec::new();
    for v in [
        user.first_name,
        user.last_name,
        user.display_name,
        user.login,
    ]
    .into_iter()
    .flatten()
    {
        parts(v, &mut personal);
    }
    if let Some(email) = user.email {
        let local = email.rsplit_once('@').map_or(email, |(l, _)| l);
        parts(local, &mut personal);
    }
    let mut organisation = Vec::new();
    if let Some(org) = user.organisation {
        parts(org, &mut organisation);
    }
    personal.sort_unstable();
    personal.dedup();
    organisation.sort_unstable();
    organisation.dedup();
    let mut out: Vec<(Vec<char>, Source)> = Vec::new();
    for (raw, source) in personal
        .iter()
        .map(|t| (t, Source::Personal))
        .chain(organisation.iter().map(|t| (t, Source::Organisation)))
    {
        let t: Vec<char> = normalize_term(raw, subst).chars().collect();
        if t.len() >= MIN_TERM_LEN && !out.iter().any(|(o, _)| *o == t) {
            out.push((t, source));
        }
    }
    out
}

/// Appends every window of `p` that contains a personal term (exactly, or within edit
/// distance one for terms of at least [`PERSONAL_FUZZY_MIN_LEN`] characters).
pub(super) fn find_personal(terms: &[(Vec<char>, Source)], p: &[char], out: &mut Vec<Found>) {
    let n = p.len();
    for (t, source) in terms {
        let l = t.len();
        let mut push = |start: usize, end: usize| {
            if end <= n && end - start >= MIN_WINDOW_LEN && within_one(&p[start..end], t) {
                out.push(Found {
                    start,
                    end,
                    source: *source,
                });
            }
        };
        if l < PERSONAL_FUZZY_MIN_LEN {
            for start in 0..(n + 1).saturating_sub(l) {
                if p[start..start + l] == t[..] {
                    push(start, start + l);
                }
            }
            continue;
        }
        // One edit leaves either the first half or the second half of the term intact, so
        // a match starts with the first half or ends with the second: find those, then
        // verify the windows around them.
        let (a, b) = t.split_at(l / 2);
        for i in 0..(n + 1).saturating_sub(a.len()) {
            if p[i..i + a.len()] == *a {
                for w in l - 1..=l + 1 {
                    push(i, i + w);
                }
            }
        }
        for j in 0..(n + 1).saturating_sub(b.len()) {
            if p[j..j + b.len()] == *b {
                let end = j + b.len();
                for w in l - 1..=l + 1 {
                    if let Some(start) = end.checked_sub(w) {
                        push(start, end);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::normalize::default_substitutions;

    fn terms(user: &UserTerms<'_>) -> Vec<(String, Source)> {
        personal_terms(user, &default_substitutions())
            .into_iter()
            .map(|(t, s)| (t.into_iter().collect(), s))
            .collect()
    }

    #[test]
    fn names_login_email_and_organisation_parts() {
        let t = terms(&UserTerms {
            first_name: Some("Alice"),
            last_name: Some("Liddell"),
            display_name: Some("Alice Liddell"),
            login: Some("a.liddell84"),
            email: Some("alice.liddell@wonderland.example"),
            organisation: Some("Wonderland Trading"),
        });
        let has = |s: &str, src: Source| t.iter().any(|(x, y)| x == s && *y == src);
        assert!(has("alice", Source::Personal), "{t:?}");
        assert!(has("liddell", Source::Personal));
        assert!(has("aliceliddell", Source::Personal));
        assert!(has("aliddell", Source::Personal), "digits stripped: {t:?}");
        assert!(has("wonderland", Source::Organisation));
        assert!(has("trading", Source::Organisation));
        // The email domain is not a personal term; short parts are dropped.
        assert!(!t.iter().any(|(x, _)| x == "example" || x.len() < 4));
    }

    #[test]
    fn short_names_match_exactly_long_ones_fuzzily() {
        let t = personal_terms(
            &UserTerms {
                first_name: Some("Mark"),
                last_name: Some("Liddell"),
                ..Default::default()
            },
            &default_substitutions(),
        );
        let find = |p: &str| {
            let mut out = vec![];
            find_personal(&t, &p.chars().collect::<Vec<_>>(), &mut out);
            out.len()
        };
        assert!(find("xxmarkxx") > 0);
        assert_eq!(find("xxdarkxx"), 0);
        assert!(find("xxliddelxx") > 0);
        assert!(
            find("xxlidde11xx") == 0,
            "raw digits are not normalised here"
        );
    }
}
