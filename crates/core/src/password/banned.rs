//! Banned-term lists and the fuzzy substring matcher.
//!
//! A banned term matches any window of the normalised password (of at least
//! [`MIN_WINDOW_LEN`] characters) that is within Levenshtein distance one of it: one character
//! inserted, deleted or replaced. The index is one Aho-Corasick automaton over every term and
//! every one-deletion variant of it (the "symmetric deletion" neighbourhood):
//!
//! - scanning the password finds the windows equal to a term (distance 0) or to one of its
//!   deletion variants (a character deleted);
//! - scanning the password with character `k` removed finds, among the matches that straddle
//!   position `k`, the windows where `k` was inserted into a term (distance 1) or where `k`
//!   replaced a term's character (the term and the window lose the same character); these are
//!   verified with a bounded edit distance, because deleting one character from each side can
//!   also pair two strings at distance two.
//!
//! So a search costs one automaton pass over the password plus one short pass (at most twice
//! the longest term) per character, independent of the number of terms.

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::nfa::contiguous::NFA;
use aho_corasick::{Anchored, MatchKind};
use std::collections::{BTreeMap, HashMap};

/// Terms shorter than this (after normalisation) are refused: they would match too much.
pub const MIN_TERM_LEN: usize = 4;
/// Longest term accepted, in characters after normalisation.
pub const MAX_TERM_LEN: usize = 64;
/// Shortest password window that can match a term. A one-character deletion from a
/// 4-character term (3 characters) is too common to mean anything, so it does not count.
pub const MIN_WINDOW_LEN: usize = 4;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BannedListError {
    #[error("banned term {0:?} is shorter than {MIN_TERM_LEN} characters after normalisation")]
    TooShort(String),
    #[error("banned term is longer than {MAX_TERM_LEN} characters")]
    TooLong,
    #[error("the built-in banned list is corrupt: {0}")]
    Corrupt(String),
    #[error("cannot build the banned-term index: {0}")]
    Index(String),
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

/// One banned term found in a password window `[start, end)` (character positions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TermMatch {
    pub start: usize,
    pub end: usize,
    pub term: u32,
}

/// A list of banned terms in matching form, indexed for fuzzy substring search.
/// Build it once (for the global list: once per process) and share it: it is immutable,
/// `Send` and `Sync`.
#[derive(Clone, Default)]
pub struct BannedList {
    terms: Vec<Box<[char]>>,
    /// For each automaton pattern, the range of `entries` (terms it stands for).
    spans: Vec<(u32, u32)>,
    /// Terms (by index) an automaton pattern stands for.
    entries: Vec<u32>,
    automaton: Option<NFA>,
    max_len: usize,
}

impl std::fmt::Debug for BannedList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the terms themselves (they may be confidential organisation words).
        f.debug_struct("BannedList")
            .field("terms", &self.terms.len())
            .field("patterns", &self.spans.len())
            .finish()
    }
}

/// Encodes `chars` as UTF-8 into `buf`, and in `at` the character index of each byte offset
/// that starts a character (plus the end).
fn encode(chars: &[char], buf: &mut String, at: &mut Vec<u32>) {
    buf.clear();
    at.clear();
    for (i, c) in chars.iter().enumerate() {
        let idx = u32::try_from(i).unwrap_or(u32::MAX);
        for _ in 0..c.len_utf8() {
            at.push(idx);
        }
        buf.push(*c);
    }
    at.push(u32::try_from(chars.len()).unwrap_or(u32::MAX));
}

impl BannedList {
    /// An empty list (matches nothing).
    pub fn empty() -> BannedList {
        BannedList::default()
    }

    /// Builds a list from terms already in matching form (see [`super::normalize::normalize_term`]);
    /// duplicates are dropped. A term shorter than [`MIN_TERM_LEN`] or longer than
    /// [`MAX_TERM_LEN`] characters is an error: silently dropping it would hide a mistake.
    pub fn from_normalized<I, S>(terms: I) -> Result<BannedList, BannedListError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list = BannedList::default();
        let mut seen: HashMap<Box<[char]>, ()> = HashMap::new();
        let mut patterns: Vec<String> = Vec::new();
        let mut pattern_id: HashMap<String, usize> = HashMap::new();
        let mut per_pattern: Vec<Vec<u32>> = Vec::new();
        for t in terms {
            let chars: Box<[char]> = t.as_ref().chars().collect();
            if chars.len() < MIN_TERM_LEN {
                return Err(BannedListError::TooShort(t.as_ref().to_string()));
            }
            if chars.len() > MAX_TERM_LEN {
                return Err(BannedListError::TooLong);
            }
            if seen.insert(chars.clone(), ()).is_some() {
                continue;
            }
            let idx = u32::try_from(list.terms.len()).map_err(|_| BannedListError::TooLong)?;
            let mut add = |p: String| {
                let id = *pattern_id.entry(p.clone()).or_insert_with(|| {
                    patterns.push(p);
                    per_pattern.push(Vec::new());
                    per_pattern.len() - 1
                });
                if let Some(v) = per_pattern.get_mut(id)
                    && v.last() != Some(&idx)
                {
                    v.push(idx);
                }
            };
            add(chars.iter().collect());
            for skip in 0..chars.len() {
                add(chars
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != skip)
                    .map(|(_, c)| *c)
                    .collect());
            }
            list.max_len = list.max_len.max(chars.len());
            list.terms.push(chars);
        }
        for v in per_pattern {
            let start = u32::try_from(list.entries.len()).map_err(|_| BannedListError::TooLong)?;
            list.entries.extend(v);
            let end = u32::try_from(list.entries.len()).map_err(|_| BannedListError::TooLong)?;
            list.spans.push((start, end));
        }
        if !patterns.is_empty() {
            let ac = NFA::builder()
                .match_kind(MatchKind::Standard)
                .build(&patterns)
                .map_err(|e| BannedListError::Index(e.to_string()))?;
            list.automaton = Some(ac);
        }
        Ok(list)
    }

    /// Builds a list from terms as people type them: each is normalised with `subst` (NFKC,
    /// lower-case, substitutions, surrounding space trimmed) and duplicates are dropped.
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

    /// The built-in global list: base terms derived from a public corpus of common passwords
    /// (see docs/password-protection.md), stored gzip-compressed in the binary. This
    /// decompresses and indexes it (about 30 ms): call it once at start and share the result.
    pub fn global() -> Result<BannedList, BannedListError> {
        let text = global_terms_text()?;
        Self::from_normalized(text.lines().map(str::trim).filter(|l| !l.is_empty()))
    }

    /// Number of distinct terms.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Term `i` in matching form (empty if out of range). For tests and tools: user-facing
    /// messages never name the term that matched.
    pub fn term(&self, i: u32) -> String {
        self.terms
            .get(i as usize)
            .map(|t| t.iter().collect())
            .unwrap_or_default()
    }

    /// Term `i` in matching form, as characters (empty if out of range).
    pub fn term_chars(&self, i: u32) -> &[char] {
        self.terms.get(i as usize).map_or(&[], |t| t)
    }

    fn terms_of(&self, pattern: usize) -> &[u32] {
        match self.spans.get(pattern) {
            Some(&(s, e)) => self.entries.get(s as usize..e as usize).unwrap_or(&[]),
            None => &[],
        }
    }

    /// Appends every window of `p` (at least [`MIN_WINDOW_LEN`] characters) within edit
    /// distance one of a term, sorted and without duplicates.
    pub fn find(&self, p: &[char], out: &mut Vec<TermMatch>) {
        self.find_impl(p, out, true);
    }

    /// Appends every window of `p` equal to a term (no edit), sorted and without duplicates:
    /// one automaton pass, for secondary readings such as the password reversed.
    pub fn find_exact(&self, p: &[char], out: &mut Vec<TermMatch>) {
        self.find_impl(p, out, false);
    }

    fn find_impl(&self, p: &[char], out: &mut Vec<TermMatch>, fuzzy: bool) {
        let Some(nfa) = &self.automaton else {
            return;
        };
        if p.len() < MIN_WINDOW_LEN {
            return;
        }
        let Ok(start) = nfa.start_state(Anchored::No) else {
            return;
        };
        let first = out.len();
        let scan = Scan::new(self, nfa, p);
        let states = scan.whole_password(start, fuzzy, out);
        if fuzzy {
            scan.without_each_character(&states, out);
        }
        out[first..].sort_unstable();
        let mut tail = out.split_off(first);
        tail.dedup();
        out.append(&mut tail);
    }
}

/// One search of a password: the password, its UTF-8 encoding for the automaton and the maps
/// between the encoding's bytes and the password's characters.
struct Scan<'a> {
    list: &'a BannedList,
    nfa: &'a NFA,
    p: &'a [char],
    buf: String,
    /// The character index of each byte offset that starts a character (plus the end).
    at: Vec<u32>,
    /// Byte offset of each character (and of the end).
    offsets: Vec<usize>,
}

impl<'a> Scan<'a> {
    fn new(list: &'a BannedList, nfa: &'a NFA, p: &'a [char]) -> Self {
        let n = p.len();
        let mut buf = String::with_capacity(n + 8);
        let mut at: Vec<u32> = Vec::with_capacity(n + 8);
        encode(p, &mut buf, &mut at);
        let mut offsets: Vec<usize> = Vec::with_capacity(n + 1);
        offsets.extend(buf.char_indices().map(|(i, _)| i));
        offsets.push(buf.len());
        Scan {
            list,
            nfa,
            p,
            buf,
            at,
            offsets,
        }
    }

    fn char_at(&self, byte: usize) -> Option<usize> {
        self.at.get(byte).map(|c| *c as usize)
    }

    /// Appends the terms of automaton pattern `pattern` within edit distance one of the
    /// window `[s, e)` (windows shorter than [`MIN_WINDOW_LEN`] or past the end: none).
    fn verify(&self, s: usize, e: usize, pattern: usize, out: &mut Vec<TermMatch>) {
        if e - s < MIN_WINDOW_LEN || e > self.p.len() {
            return;
        }
        let window = &self.p[s..e];
        for &term in self.list.terms_of(pattern) {
            if let Some(t) = self.list.terms.get(term as usize)
                && within_one(window, t)
            {
                out.push(TermMatch {
                    start: s,
                    end: e,
                    term,
                });
            }
        }
    }

    /// 1. One pass over the password: windows equal to a term or to one of its deletion
    ///    variants (distance 0 or 1), and those windows with the next or previous
    ///    character added (an insertion or a replacement at the window's edge).
    ///    Returns the automaton's state at each character boundary for step 2.
    fn whole_password(
        &self,
        start: StateID,
        fuzzy: bool,
        out: &mut Vec<TermMatch>,
    ) -> Vec<StateID> {
        let nfa = self.nfa;
        let mut states = Vec::with_capacity(self.p.len() + 1);
        let mut sid = start;
        for (b, &byte) in self.buf.as_bytes().iter().enumerate() {
            if self.buf.is_char_boundary(b) {
                states.push(sid);
            }
            sid = nfa.next_state(Anchored::No, sid, byte);
            if nfa.is_match(sid) {
                for i in 0..nfa.match_len(sid) {
                    let pid = nfa.match_pattern(sid, i);
                    let end = b + 1;
                    let (Some(s), Some(e)) =
                        (self.char_at(end - nfa.pattern_len(pid)), self.char_at(end))
                    else {
                        continue;
                    };
                    self.matched_window(s, e, pid.as_usize(), fuzzy, out);
                }
            }
        }
        states
    }

    /// Automaton pattern `pattern` matched the window `[s, e)`: appends its terms (only those
    /// equal to the window unless `fuzzy`) and, when `fuzzy`, verifies the window grown by the
    /// previous or the next character.
    fn matched_window(
        &self,
        s: usize,
        e: usize,
        pattern: usize,
        fuzzy: bool,
        out: &mut Vec<TermMatch>,
    ) {
        if e - s >= MIN_WINDOW_LEN {
            for &term in self.list.terms_of(pattern) {
                if !fuzzy && *self.list.term_chars(term) != self.p[s..e] {
                    continue;
                }
                out.push(TermMatch {
                    start: s,
                    end: e,
                    term,
                });
            }
        }
        if !fuzzy {
            return;
        }
        if s > 0 {
            self.verify(s - 1, e, pattern, out);
        }
        self.verify(s, e + 1, pattern, out);
    }

    /// 2. Windows with an inserted or replaced character k inside: continue the scan from
    ///    the state before k as if k were not there, and keep the matches that began
    ///    before k (they straddle it); put k back into the window and verify.
    fn without_each_character(&self, states: &[StateID], out: &mut Vec<TermMatch>) {
        let nfa = self.nfa;
        let bytes = self.buf.as_bytes();
        let n = self.p.len();
        let reach = self.list.max_len;
        for k in 1..n.saturating_sub(1) {
            let (Some(&sid_k), Some(&bk), Some(&after)) =
                (states.get(k), self.offsets.get(k), self.offsets.get(k + 1))
            else {
                continue;
            };
            let width = after - bk;
            let stop = self
                .offsets
                .get((k + reach).min(n))
                .copied()
                .unwrap_or(bytes.len());
            let mut sid = sid_k;
            for (e, &byte) in bytes.iter().enumerate().take(stop).skip(after) {
                sid = nfa.next_state(Anchored::No, sid, byte);
                if !nfa.is_match(sid) {
                    continue;
                }
                let end = e + 1;
                for i in 0..nfa.match_len(sid) {
                    let pid = nfa.match_pattern(sid, i);
                    // Start of the match in the password without k, in bytes.
                    let Some(q_start) = (end - width).checked_sub(nfa.pattern_len(pid)) else {
                        continue;
                    };
                    if q_start >= bk {
                        continue; // entirely after k: found in step 1
                    }
                    if let (Some(s), Some(e)) = (self.char_at(q_start), self.char_at(end)) {
                        self.verify(s, e, pid.as_usize(), out);
                    }
                }
            }
        }
    }
}

/// The compressed global list shipped in the binary.
static GLOBAL_GZ: &[u8] = include_bytes!("../../../../data/password/global-banned.txt.gz");

/// The global list as text, one normalised term per line.
pub fn global_terms_text() -> Result<String, BannedListError> {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::GzDecoder::new(GLOBAL_GZ)
        .read_to_string(&mut text)
        .map_err(|e| BannedListError::Corrupt(e.to_string()))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    /// Windows found, as (start, end, term).
    fn found(l: &BannedList, p: &str) -> Vec<(usize, usize, String)> {
        let mut m = vec![];
        l.find(&chars(p), &mut m);
        m.iter().map(|m| (m.start, m.end, l.term(m.term))).collect()
    }

    /// Reference: every window of at least MIN_WINDOW_LEN within distance one, by brute force.
    fn brute(terms: &[&str], p: &str) -> Vec<(usize, usize, String)> {
        let p = chars(p);
        let mut out = vec![];
        for s in 0..p.len() {
            for e in s + MIN_WINDOW_LEN..=p.len() {
                for t in terms {
                    if within_one(&p[s..e], &chars(t)) {
                        out.push((s, e, t.to_string()));
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
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
            ("", "a", true),
            ("ab", "ba", false),
        ] {
            assert_eq!(within_one(&chars(a), &chars(b)), ok, "{a} {b}");
        }
    }

    #[test]
    fn finds_exact_and_fuzzy_terms_inside() {
        let l = BannedList::from_normalized(["abcdef", "contoso"]).unwrap();
        // The examples Microsoft documents, inside longer passwords.
        for pw in ["xxabcdegxx", "xxabcdefgxx", "xxabcdexx", "abcdef"] {
            assert!(found(&l, pw).iter().any(|(_, _, t)| t == "abcdef"), "{pw}");
        }
        assert!(
            found(&l, "mycontosso")
                .iter()
                .any(|(_, _, t)| t == "contoso")
        );
        assert!(found(&l, "nothing here at all").is_empty());
        // Distance two is not a match.
        assert!(found(&l, "abxdxf").is_empty());
    }

    #[test]
    fn matches_agree_with_brute_force() {
        let terms = ["love", "password", "dragon", "qwerty", "żółwik", "aaaaaa"];
        let l = BannedList::from_normalized(terms).unwrap();
        for p in [
            "iloveyoupassword",
            "passw0rdragonn",
            "qwertyqwerty",
            "lovve dove glove",
            "żółwikiii",
            "aaaaaaaaaaaaa",
            "drag0nlovepasswordqwertz",
            "pasword",
            "xpassworx",
        ] {
            assert_eq!(found(&l, p), brute(&terms, p), "{p}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]

        /// The automaton search finds exactly what brute force finds, on a small alphabet
        /// (so that near misses are frequent) with a multi-byte character in it.
        #[test]
        fn search_equals_brute_force(
            terms in proptest::collection::vec("[abż1]{4,7}", 1..6),
            p in "[abżx1]{0,24}",
        ) {
            let l = BannedList::from_normalized(&terms).unwrap();
            let refs: Vec<&str> = terms.iter().map(String::as_str).collect();
            let mut want = brute(&refs, &p);
            want.dedup();
            let mut got = found(&l, &p);
            got.sort();
            got.dedup();
            // The list drops duplicate terms; brute force may list a window once per copy.
            want.sort();
            want.dedup();
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn short_windows_do_not_match() {
        // "lov" is one deletion from "love" but too short to mean anything.
        let l = BannedList::from_normalized(["love"]).unwrap();
        assert!(found(&l, "lov").is_empty());
        assert!(!found(&l, "lxve").is_empty());
        assert!(!found(&l, "loove").is_empty());
    }

    #[test]
    fn global_list_loads() {
        let g = BannedList::global().unwrap();
        assert!(g.len() > 2000, "{}", g.len());
        assert!(!found(&g, "password").is_empty());
        // Debug output never lists the terms.
        assert!(!format!("{g:?}").contains("password"));
    }

    #[test]
    fn bad_terms_are_refused_and_duplicates_dropped() {
        assert_eq!(
            BannedList::from_normalized(["abc"]).unwrap_err(),
            BannedListError::TooShort("abc".into())
        );
        assert_eq!(
            BannedList::from_normalized(["x".repeat(65)]).unwrap_err(),
            BannedListError::TooLong
        );
        let subst = super::super::normalize::default_substitutions();
        let l = BannedList::from_terms(["Contoso", "C0ntoso", " contoso "], &subst).unwrap();
        assert_eq!(l.len(), 1);
        assert!(BannedList::empty().is_empty());
        let mut m = vec![];
        BannedList::empty().find(&chars("anything"), &mut m);
        assert!(m.is_empty());
    }

    #[test]
    fn many_custom_terms() {
        let terms: Vec<String> = (0..2000).map(|i| format!("term{i:05}x")).collect();
        let l = BannedList::from_normalized(&terms).unwrap();
        assert_eq!(l.len(), 2000);
        assert!(
            found(&l, "myterm01234xpass")
                .iter()
                .any(|(_, _, t)| t == "term01234x")
        );
        assert!(
            found(&l, "myterm01234ypass")
                .iter()
                .any(|(_, _, t)| t == "term01234x")
        );
    }
}
