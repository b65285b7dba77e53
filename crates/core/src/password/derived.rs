//! Derived parts: pieces of a password that add nothing a guesser would not try next, because
//! they repeat, mirror or extend what came before them, or follow a rule (sequences, keyboard
//! walks, dates). zxcvbn's repeat, reverse, sequence, spatial and date matchers find the same
//! things; here they become pieces for the scorer:
//!
//! - **repeat** (0 points): a character equal to the one before it (`xx`, `!!!`); a block
//!   repeating the block right before it (`2323` in `23232323`); any window of at least
//!   [`MIN_COPY`] characters that already occurred earlier (`summer` in `summer!summer`);
//! - **mirror** (0 points): a window of at least [`MIN_COPY`] characters that is an earlier
//!   window reversed (`hsi` in `swordfishhsi`);
//! - **sequence** (0 points after its first character): letters or digits going up or down
//!   by a constant step of 1 or 2 (`123`, `cba`, `2468`), at least [`MIN_RUN`] long;
//! - **keyboard walk** (0 points after its first key): keys that touch on a QWERTY keyboard
//!   or the numeric keypad (`qwert`, `1qaz`, `!@#$`, `7410`): at least 4 keys, or
//!   [`MIN_RUN`] in a straight line;
//! - **date** (1 point): 4 to 8 digits, or day, month and year with a separator, that read as
//!   a date or a year from 1900 to 2099 (`1993`, `311299`, `12/05/1990`).
//!
//! Repeats and mirrors are found on the normalised characters (so `P@ss` repeats `pass`);
//! sequences, walks and dates on the characters as typed (after NFKC and lower-casing).

use super::keyboard::{Layout, step};
use super::normalize::Normalized;
use super::score::{Found, Source};

/// Shortest earlier window whose copy or mirror counts as derived.
pub const MIN_COPY: usize = 3;
/// Longest window emitted for one copy or mirror (longer ones chain: a suffix of a copy is a
/// copy too).
pub const MAX_COPY: usize = 32;
/// Shortest sequence, and shortest straight keyboard walk.
pub const MIN_RUN: usize = 3;
/// Shortest keyboard walk that turns.
pub const MIN_WALK_WITH_TURNS: usize = 4;

fn derived(start: usize, end: usize, out: &mut Vec<Found>) {
    out.push(Found {
        start,
        end,
        source: Source::Derived,
    });
}

/// Appends every derived part of `n`.
pub(super) fn find_derived(n: &Normalized, out: &mut Vec<Found>) {
    repeats_and_mirrors(&n.chars, out);
    sequences(&n.folded, out);
    walks(&n.folded, Layout::Qwerty, out);
    walks(&n.folded, Layout::Keypad, out);
    dates(&n.folded, out);
}

/// Repeated characters, copies and mirrors of earlier windows.
fn repeats_and_mirrors(p: &[char], out: &mut Vec<Found>) {
    let len = p.len();
    for i in 1..len {
        if p[i] == p[i - 1] {
            derived(i, i + 1, out);
        }
    }
    // Longest copy starting at each position of a window that starts before it: along each
    // diagonal (offset d), the run of equal characters from i onwards. (A copy may overlap
    // its source: `2e2e2e` after `2e` is a periodic repeat.)
    let mut copy = vec![0usize; len];
    for d in 1..len {
        let mut run = 0usize;
        for i in (d..len).rev() {
            run = if p[i] == p[i - d] { run + 1 } else { 0 };
            copy[i] = copy[i].max(run);
        }
    }
    // Longest mirror starting at each position: p[s..s+l] == reverse(p[j+1-l..=j]), j < s.
    // Pairs (j, s) with the same j + s extend into each other; walk each such anti-diagonal
    // from its outer end inwards.
    let mut mirror = vec![0usize; len];
    for c in 1..=(2 * len).saturating_sub(3) {
        let mut run = 0usize;
        let mut s = c.min(len - 1);
        // j = c - s < s; the pair before (j - 1, s + 1) was the previous step.
        while 2 * s > c {
            let j = c - s;
            run = if p[j] == p[s] { run + 1 } else { 0 };
            mirror[s] = mirror[s].max(run);
            s -= 1;
        }
    }
    for s in 0..len {
        let m = copy[s].max(mirror[s]).min(MAX_COPY);
        for l in MIN_COPY..=m {
            derived(s, s + l, out);
        }
    }
}

fn seq_class(c: char) -> Option<u8> {
    if c.is_ascii_digit() {
        Some(0)
    } else if c.is_ascii_lowercase() {
        Some(1)
    } else {
        None
    }
}

/// Runs of letters or digits with a constant step of ±1 or ±2: every character after the
/// first is derived.
fn sequences(f: &[char], out: &mut Vec<Found>) {
    let len = f.len();
    let delta = |i: usize| -> Option<i64> {
        let (a, b) = (f[i - 1], f[i]);
        let cls = seq_class(a)?;
        (seq_class(b) == Some(cls))
            .then(|| i64::from(u32::from(b)) - i64::from(u32::from(a)))
            .filter(|d| matches!(d, -2 | -1 | 1 | 2))
    };
    let mut i = 1;
    while i < len {
        let Some(d) = delta(i) else {
            i += 1;
            continue;
        };
        let start = i - 1;
        let mut end = i + 1;
        while end < len && delta(end) == Some(d) {
            end += 1;
        }
        if end - start >= MIN_RUN {
            for k in start + 1..end {
                derived(k, k + 1, out);
            }
        }
        // The last character may start the next run.
        i = end;
    }
}

/// Keyboard walks on `layout`: every key after the first is derived.
fn walks(f: &[char], layout: Layout, out: &mut Vec<Found>) {
    let len = f.len();
    let mut i = 1;
    while i < len {
        let Some(first) = step(layout, f[i - 1], f[i]) else {
            i += 1;
            continue;
        };
        let start = i - 1;
        let mut end = i + 1;
        let mut straight = true;
        while end < len {
            match step(layout, f[end - 1], f[end]) {
                Some(d) => {
                    straight &= d == first;
                    end += 1;
                }
                None => break,
            }
        }
        let n = end - start;
        if n >= MIN_WALK_WITH_TURNS || (straight && n >= MIN_RUN) {
            for k in start + 1..end {
                derived(k, k + 1, out);
            }
        }
        i = end;
    }
}

fn number(ds: &[char]) -> Option<u32> {
    if ds.is_empty() || ds.len() > 4 {
        return None;
    }
    ds.iter()
        .try_fold(0u32, |acc, c| Some(acc * 10 + c.to_digit(10)?))
}

fn is_year(ds: &[char]) -> bool {
    match ds.len() {
        2 => number(ds).is_some(),
        4 => number(ds).is_some_and(|y| (1900..=2099).contains(&y)),
        _ => false,
    }
}

fn day_month(a: &[char], b: &[char]) -> bool {
    let ok = |d: &[char], m: &[char]| {
        number(d).is_some_and(|d| (1..=31).contains(&d))
            && number(m).is_some_and(|m| (1..=12).contains(&m))
    };
    a.len() <= 2 && b.len() <= 2 && (ok(a, b) || ok(b, a))
}

/// Day, month and year in any usual order.
fn is_date_parts(x: &[char], y: &[char], z: &[char]) -> bool {
    (is_year(z) && day_month(x, y)) || (is_year(x) && day_month(y, z))
}

/// `w` (digits, possibly with one kind of separator) reads as a date.
fn is_date(w: &[char]) -> bool {
    let sep = |c: &char| matches!(c, '/' | '-' | '.' | '_' | ' ' | '\\');
    if w.iter().all(char::is_ascii_digit) {
        let l = w.len();
        if l == 4 && is_year(w) {
            return true;
        }
        if l == 4 {
            // mmdd or ddmm
            return day_month(&w[..2], &w[2..]);
        }
        // Split into three parts of 1–2, 1–2 and 2 or 4 digits, in any order.
        for a in 1..=4usize.min(l) {
            for b in 1..=4usize.min(l - a) {
                if a + b >= l {
                    continue;
                }
                let (x, rest) = w.split_at(a);
                let (y, z) = rest.split_at(b);
                if is_date_parts(x, y, z) {
                    return true;
                }
            }
        }
        return false;
    }
    let Some(s) = w.iter().find(|c| sep(c)) else {
        return false;
    };
    let parts: Vec<&[char]> = w.split(|c| c == s).collect();
    match parts.as_slice() {
        [x, y, z] => {
            [x, y, z]
                .iter()
                .all(|p| !p.is_empty() && p.iter().all(char::is_ascii_digit))
                && is_date_parts(x, y, z)
        }
        _ => false,
    }
}

/// Windows of 4 to 10 characters, starting and ending with a digit, that read as a date.
fn dates(f: &[char], out: &mut Vec<Found>) {
    let len = f.len();
    for s in 0..len {
        if !f[s].is_ascii_digit() {
            continue;
        }
        for e in s + 4..=(s + 10).min(len) {
            let w = &f[s..e];
            if !w[w.len() - 1].is_ascii_digit() {
                continue;
            }
            if !w
                .iter()
                .all(|c| c.is_ascii_digit() || matches!(c, '/' | '-' | '.' | '_' | ' ' | '\\'))
            {
                break;
            }
            if is_date(w) {
                out.push(Found {
                    start: s,
                    end: e,
                    source: Source::Pattern,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::normalize::{default_substitutions, normalize};

    /// Windows found, as (start, end, zero cost?).
    fn found(s: &str) -> Vec<(usize, usize, bool)> {
        let n = normalize(s, &default_substitutions(), None);
        let mut out = vec![];
        find_derived(&n, &mut out);
        let mut w: Vec<(usize, usize, bool)> = out
            .iter()
            .map(|f| (f.start, f.end, f.source == Source::Derived))
            .collect();
        w.sort();
        w.dedup();
        w
    }

    fn derived_chars(s: &str) -> Vec<usize> {
        let mut v: Vec<usize> = found(s)
            .into_iter()
            .filter(|(_, _, d)| *d)
            .flat_map(|(a, b, _)| a..b)
            .collect();
        v.sort();
        v.dedup();
        v
    }

    #[test]
    fn repeats_copies_and_mirrors() {
        assert_eq!(derived_chars("xxk"), vec![1]);
        assert!(found("facebookfacebook").contains(&(8, 16, true)));
        assert!(found("summer!summer").contains(&(7, 13, true)));
        // "hsi" mirrors "ish" just before it.
        assert!(found("swordfishhsi").contains(&(9, 12, true)));
        // A mirror further back counts too.
        assert!(found("stop-pots").contains(&(5, 9, true)));
        assert!(found("23232323").contains(&(2, 8, true)));
        // Nothing in an ordinary word.
        assert!(
            derived_chars("tangerine").is_empty(),
            "{:?}",
            found("tangerine")
        );
    }

    #[test]
    fn sequences_and_walks() {
        assert_eq!(derived_chars("elisabeth123"), vec![10, 11]);
        assert_eq!(derived_chars("zyxw"), vec![1, 2, 3]);
        assert_eq!(derived_chars("2468"), vec![1, 2, 3]);
        assert_eq!(derived_chars("qwerty"), vec![1, 2, 3, 4, 5]);
        assert_eq!(derived_chars("1qaz2wsx"), vec![1, 2, 3, 5, 6, 7]);
        assert_eq!(derived_chars("!@#$"), vec![1, 2, 3]);
        assert_eq!(derived_chars("7410"), vec![1, 2, 3]);
        // A 3-key walk that turns is not enough.
        assert!(derived_chars("qwsm").is_empty(), "{:?}", found("qwsm"));
        assert!(derived_chars("ab").is_empty());
    }

    #[test]
    fn dates_cost_one_point() {
        let dates = |s: &str| -> Vec<(usize, usize)> {
            found(s)
                .into_iter()
                .filter(|(_, _, d)| !*d)
                .map(|(a, b, _)| (a, b))
                .collect()
        };
        assert!(dates("x1993").contains(&(1, 5)));
        assert!(dates("311299").contains(&(0, 6)));
        assert!(dates("12/05/1990").contains(&(0, 10)));
        assert!(dates("20240229").contains(&(0, 8)));
        assert!(!dates("x1893").contains(&(1, 5)));
        assert!(dates("99999").is_empty());
        assert!(dates("12/05-1990").iter().all(|w| w.1 - w.0 <= 5));
    }
}
