//! Normalisation: Unicode NFKC, lower-case, then character substitutions (leetspeak).
//!
//! Each normalised character remembers whether the character it came from was a letter, so that
//! scoring can tell "password" + "2024" from "password" + "life".

use std::collections::BTreeMap;
use unicode_normalization::UnicodeNormalization;

/// The default substitutions. `1` and `|` are ambiguous (l or i): the checker tries both.
pub fn default_substitutions() -> BTreeMap<char, char> {
    [
        ('0', 'o'),
        ('1', 'l'),
        ('$', 's'),
        ('@', 'a'),
        ('3', 'e'),
        ('4', 'a'),
        ('5', 's'),
        ('7', 't'),
        ('!', 'i'),
        ('|', 'l'),
        ('+', 't'),
        ('8', 'b'),
        ('9', 'g'),
    ]
    .into_iter()
    .collect()
}

/// Second readings of ambiguous characters, tried as an alternative normalisation.
pub const ALTERNATIVES: [(char, char); 2] = [('1', 'i'), ('|', 'i')];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    pub chars: Vec<char>,
    /// Whether the source character (after NFKC, before substitution) was a letter.
    pub was_letter: Vec<bool>,
}

/// NFKC + lower-case only (used for terms and for length counting).
pub fn fold(s: &str) -> Vec<(char, bool)> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.nfkc() {
        let letter = c.is_alphabetic();
        for l in c.to_lowercase() {
            out.push((l, letter));
        }
    }
    out
}

/// Full normalisation with a substitution table (and optional overrides taking precedence).
pub fn normalize(s: &str, subst: &BTreeMap<char, char>, overrides: &[(char, char)]) -> Normalized {
    let folded = fold(s);
    let mut chars = Vec::with_capacity(folded.len());
    let mut was_letter = Vec::with_capacity(folded.len());
    for (c, letter) in folded {
        let mapped = overrides
            .iter()
            .find(|(from, _)| *from == c)
            .map(|(_, to)| *to)
            .or_else(|| subst.get(&c).copied())
            .unwrap_or(c);
        chars.push(mapped);
        was_letter.push(letter);
    }
    Normalized { chars, was_letter }
}

/// Normalises a banned term or user term to its matching form.
pub fn normalize_term(s: &str, subst: &BTreeMap<char, char>) -> String {
    normalize(s.trim(), subst, &[]).chars.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfkc_lowercase_and_leet() {
        let s = default_substitutions();
        let n = normalize("P@$$w0rd!", &s, &[]);
        assert_eq!(n.chars.iter().collect::<String>(), "passwordi");
        assert_eq!(
            n.was_letter,
            vec![true, false, false, false, true, false, true, true, false]
        );
        // Full-width letters and ligatures fold (NFKC).
        assert_eq!(normalize_term("ＰＡＳＳ", &s), "pass");
        assert_eq!(normalize_term("ﬁsh", &s), "fish");
        assert_eq!(
            normalize("adm1n", &s, &ALTERNATIVES)
                .chars
                .iter()
                .collect::<String>(),
            "admin"
        );
    }
}
