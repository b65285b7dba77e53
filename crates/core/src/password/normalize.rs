//! Normalisation: Unicode NFKC, lower-case, then character substitutions (leetspeak).
//!
//! Each normalised character remembers the character it came from after NFKC and lower-casing
//! (`folded`, used to spot sequences such as `1234`) and whether that was a letter (so that
//! scoring can tell "password" + "2024" from "password" + "life").

use std::collections::BTreeMap;
use unicode_normalization::UnicodeNormalization;

/// The default substitutions. `1` and `|` are ambiguous (l or i): see [`default_alternatives`].
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

/// Second readings of ambiguous characters: when a password contains one of them, it is also
/// evaluated with these substitutions taking precedence, and the lower score counts.
pub fn default_alternatives() -> BTreeMap<char, char> {
    [('1', 'i'), ('|', 'i')].into_iter().collect()
}

/// A password in matching form.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Normalized {
    /// After NFKC, lower-casing and substitutions: what banned terms are matched against.
    pub chars: Vec<char>,
    /// After NFKC and lower-casing only (same positions as `chars`).
    pub folded: Vec<char>,
    /// Whether the source character (after NFKC, before substitution) was a letter.
    pub was_letter: Vec<bool>,
}

/// NFKC + lower-case, each character with whether it was a letter.
pub fn fold(s: &str) -> Vec<(char, bool)> {
    let mut out = Vec::with_capacity(s.len());
    if s.is_ascii() {
        // NFKC is the identity on ASCII: skip the decomposition machinery.
        out.extend(
            s.chars()
                .map(|c| (c.to_ascii_lowercase(), c.is_ascii_alphabetic())),
        );
        return out;
    }
    for c in s.nfkc() {
        let letter = c.is_alphabetic();
        for l in c.to_lowercase() {
            out.push((l, letter));
        }
    }
    out
}

/// Length in Unicode scalar values after NFKC (the length NIST SP 800-63B rules apply to).
pub fn nfkc_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.nfkc().count()
    }
}

/// Full normalisation with a substitution table; `overrides` take precedence over it.
pub fn normalize(
    s: &str,
    subst: &BTreeMap<char, char>,
    overrides: Option<&BTreeMap<char, char>>,
) -> Normalized {
    let folded = fold(s);
    let mut n = Normalized {
        chars: Vec::with_capacity(folded.len()),
        folded: Vec::with_capacity(folded.len()),
        was_letter: Vec::with_capacity(folded.len()),
    };
    for (c, letter) in folded {
        let mapped = overrides
            .and_then(|o| o.get(&c))
            .or_else(|| subst.get(&c))
            .copied()
            .unwrap_or(c);
        n.chars.push(mapped);
        n.folded.push(c);
        n.was_letter.push(letter);
    }
    n
}

/// Normalises a banned term or user term to its matching form (surrounding space trimmed).
pub fn normalize_term(s: &str, subst: &BTreeMap<char, char>) -> String {
    normalize(s.trim(), subst, None).chars.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(n: &Normalized) -> String {
        n.chars.iter().collect()
    }

    #[test]
    fn nfkc_lowercase_and_leet() {
        let s = default_substitutions();
        let n = normalize("P@$$w0rd!", &s, None);
        assert_eq!(text(&n), "passwordi");
        assert_eq!(n.folded.iter().collect::<String>(), "p@$$w0rd!");
        assert_eq!(
            n.was_letter,
            vec![true, false, false, false, true, false, true, true, false]
        );
        // Full-width letters and ligatures fold (NFKC).
        assert_eq!(normalize_term("ＰＡＳＳ", &s), "pass");
        assert_eq!(normalize_term("ﬁsh", &s), "fish");
        assert_eq!(normalize_term("  Contoso ", &s), "contoso");
        let alt = default_alternatives();
        assert_eq!(text(&normalize("adm1n", &s, Some(&alt))), "admin");
        assert_eq!(text(&normalize("adm1n", &s, None)), "admln");
    }

    #[test]
    fn length_is_counted_after_nfkc() {
        assert_eq!(nfkc_len("abc"), 3);
        // "e" + combining acute composes to one character.
        assert_eq!(nfkc_len("e\u{301}"), 1);
        // A ligature expands to two.
        assert_eq!(nfkc_len("ﬁ"), 2);
        assert_eq!(nfkc_len("żółw"), 4);
    }
}
