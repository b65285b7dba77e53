//! Banned-term lists and the fuzzy substring matcher.
//!
//! A banned term matches anywhere inside the normalised password, exactly or at edit distance
//! one (one character inserted, deleted or replaced). The index holds every term and every
//! one-deletion variant of it (the "symmetric deletion" method): a window of the password is
//! within distance one of a term exactly when the window, or one of its one-deletion variants,
//! equals the term or one of the term's one-deletion variants. Candidates are then verified
//! with a bounded edit distance, so hash collisions and distance-2 coincidences never match.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Terms shorter than this (after normalisation) are not listed: they would match too much.
pub const MIN_TERM_LEN: usize = 4;
/// Longest term we index (longer terms are truncated out of the list with an error).
pub const MAX_TERM_LEN: usize = 64;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BannedListError {
    #[error("banned term {0:?} is shorter than {MIN_TERM_LEN} characters after normalisation")]
    TooShort(String),
    #[error("banned term is longer than {MAX_TERM_LEN} characters")]
    TooLong,
    #[error("the built-in banned list is corrupt: {0}")]
    Corrupt(String),
}

/// A pass-through hasher: keys are already well-mixed 64-bit hashes.
#[derive(Default)]
pub struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Index = HashMap<u64, Vec<u32>, BuildHasherDefault<PreHashed>>;

/// FNV-1a over the characters, with a final avalanche so the low bits are usable by the map.
fn hash_chars(chars: impl Iterator<Item = char>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for c in chars {
        h ^= u64::from(u32::from(c));
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // splitmix64 finaliser
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

fn hash_without(s: &[char], skip: usize) -> u64 {
    hash_chars(
        s.iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, c)| *c),
    )
}

/// Levenshtein distance of `a` and `b` is at most one.
pub fn within_one(a: &[char], b: &[char]) -> bool {
    let (la, lb) = (a.len(), b.len());
    if la.abs_diff(lb) > 1 {
        return false;
    }
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    if prefix == la.min(lb) {
        return true;
    }
    let (ra, rb) = (&a[prefix..], &b[prefix..]);
    match la.cmp(&lb) {
        std::cmp::Ordering::Equal => ra[1..] == rb[1..],
        std::cmp::Ordering::Greater => ra[1..] == *rb,
        std::cmp::Ordering::Less => *ra == rb[1..],
    }
}

/// A list of banned terms in matching form, indexed for fuzzy substring search.
#[derive(Debug, Clone, Default)]
pub struct BannedList {
    terms: Vec<Vec<char>>,
    index: Index,
    /// Window lengths worth looking at (term lengths ± 1).
    window_lens: Vec<usize>,
}

/// One banned term found in a password window `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermMatch {
    pub start: usize,
    pub end: usize,
    pub term: u32,
}

impl BannedList {
    /// Builds a list from already-normalised terms; duplicates are dropped.
    pub fn from_normalized<I, S>(terms: I) -> Result<BannedList, BannedListError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut seen = HashSet::new();
        let mut list = BannedList::default();
        let mut lens = std::collections::BTreeSet::new();
        for t in terms {
            let chars: Vec<char> = t.as_ref().chars().collect();
            if chars.len() < MIN_TERM_LEN {
                return Err(BannedListError::TooShort(t.as_ref().to_string()));
            }
            if chars.len() > MAX_TERM_LEN {
                return Err(BannedListError::TooLong);
            }
            if !seen.insert(chars.clone()) {
                continue;
            }
            let idx = u32::try_from(list.terms.len()).map_err(|_| BannedListError::TooLong)?;
            let mut keys = vec![hash_chars(chars.iter().copied())];
            keys.extend((0..chars.len()).map(|i| hash_without(&chars, i)));
            keys.sort_unstable();
            keys.dedup();
            for k in keys {
                list.index.entry(k).or_default().push(idx);
            }
            for l in chars.len().saturating_sub(1)..=chars.len() + 1 {
                lens.insert(l);
            }
            list.terms.push(chars);
        }
        list.window_lens = lens.into_iter().collect();
        Ok(list)
    }

    /// Builds a list from raw terms (normalising them with `subst`).
    pub fn from_terms<I, S>(
        terms: I,
        subst: &BTreeMap<char, char>,
    ) -> Result<BannedList, BannedListError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let normalized: Vec<String> = terms
            .into_iter()
            .map(|t| super::normalize::normalize_term(t.as_ref(), subst))
            .collect();
        Self::from_normalized(normalized)
    }

    /// The built-in global list (base terms derived from a public corpus of common passwords;
    /// see docs/password-protection.md), decompressed once by the caller at start.
    pub fn global() -> Result<BannedList, BannedListError> {
        use std::io::Read;
        static DATA: &[u8] = include_bytes!("../../../../data/password/global-banned.txt.gz");
        let mut text = String::new();
        flate2::read::GzDecoder::new(DATA)
            .read_to_string(&mut text)
            .map_err(|e| BannedListError::Corrupt(e.to_string()))?;
        Self::from_normalized(text.lines().map(str::trim).filter(|l| !l.is_empty()))
    }

    pub fn len(&self) -> usize {
        self.terms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn term(&self, i: u32) -> String {
        self.terms
            .get(i as usize)
            .map(|t| t.iter().collect())
            .unwrap_or_default()
    }

    /// Every window of `p` within edit distance one of a term (possibly overlapping).
    pub fn find(&self, p: &[char], out: &mut Vec<TermMatch>) {
        if self.terms.is_empty() {
            return;
        }
        let mut candidates: Vec<u32> = Vec::new();
        for start in 0..p.len() {
            for &w in &self.window_lens {
                let end = start + w;
                if end > p.len() {
                    break;
                }
                let window = &p[start..end];
                candidates.clear();
                if let Some(v) = self.index.get(&hash_chars(window.iter().copied())) {
                    candidates.extend_from_slice(v);
                }
                for skip in 0..w {
                    if let Some(v) = self.index.get(&hash_without(window, skip)) {
                        candidates.extend_from_slice(v);
                    }
                }
                if candidates.is_empty() {
                    continue;
                }
                candidates.sort_unstable();
                candidates.dedup();
                for &c in &candidates {
                    if let Some(term) = self.terms.get(c as usize)
                        && within_one(window, term)
                    {
                        out.push(TermMatch {
                            start,
                            end,
                            term: c,
                        });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn edit_distance_one() {
        for (a, b, ok) in [
            ("abcdef", "abcdef", true),
            ("abcdef", "abcdeg", true),
            ("abcdef", "abcdefg", true),
            ("abcdef", "abcde", true),
            ("abcdef", "bcdef", true),
            ("abcdef", "abxdef", true),
            ("abcdef", "abdcef", false),
            ("abcdef", "abcd", false),
            ("abcdef", "xbcdex", false),
        ] {
            assert_eq!(within_one(&chars(a), &chars(b)), ok, "{a} {b}");
        }
    }

    #[test]
    fn finds_exact_and_fuzzy_terms_inside() {
        let l = BannedList::from_normalized(["abcdef", "contoso"]).unwrap();
        let mut m = vec![];
        l.find(&chars("xxabcdegxx"), &mut m);
        assert!(m.iter().any(|m| l.term(m.term) == "abcdef"));
        m.clear();
        l.find(&chars("mycontosso"), &mut m);
        assert!(m.iter().any(|m| l.term(m.term) == "contoso"));
        m.clear();
        l.find(&chars("nothing here at all"), &mut m);
        assert!(m.is_empty());
    }

    #[test]
    fn global_list_loads() {
        let g = BannedList::global().unwrap();
        assert!(g.len() > 2000, "{}", g.len());
        let mut m = vec![];
        g.find(&chars("password"), &mut m);
        assert!(!m.is_empty());
    }

    #[test]
    fn short_terms_are_refused() {
        assert_eq!(
            BannedList::from_normalized(["abc"]).unwrap_err(),
            BannedListError::TooShort("abc".into())
        );
    }
}
