//! Predictable patterns that need no list: repeated characters (`aaaa`, `!!!!`), sequences
//! (`abcd`, `6789`, `zyxw`) and a block repeating the one before it (`abcabc`, `Xy7!Xy7!`).
//! A run of repeated characters or a sequence counts as one point, like a banned term; the
//! repetitions of a block count nothing (see `derived.rs`).

use super::normalize::Normalized;
use super::score::{Found, Source};

/// Shortest run of one repeated character that counts as a pattern.
pub const MIN_REPEAT: usize = 3;
/// Shortest sequence (`abcd`) that counts as a pattern.
pub const MIN_SEQUENCE: usize = 4;
/// Longest block checked for an immediate repetition.
pub const MAX_BLOCK: usize = 32;

/// Pushes the windows `[s, e)` of the run `[start, end)` that start at `start` or end at `end`
/// and have at least `min` characters (enough for the scorer to combine them with terms).
fn push_run(start: usize, end: usize, min: usize, out: &mut Vec<Found>) {
    if end - start < min {
        return;
    }
    for e in start + min..=end {
        out.push(Found {
            start,
            end: e,
            source: Source::Pattern,
        });
    }
    for s in start + 1..=end - min {
        out.push(Found {
            start: s,
            end,
            source: Source::Pattern,
        });
    }
}

fn class(c: char) -> Option<u8> {
    if c.is_ascii_digit() {
        Some(0)
    } else if c.is_ascii_lowercase() {
        Some(1)
    } else {
        None
    }
}

/// Appends every predictable pattern of `n`.
pub(super) fn find_patterns(n: &Normalized, out: &mut Vec<Found>) {
    let p = &n.chars;
    let len = p.len();
    // Repeated characters (after substitution, so `111` and `lll` are both runs).
    let mut i = 0;
    while i < len {
        let mut j = i + 1;
        while j < len && p[j] == p[i] {
            j += 1;
        }
        push_run(i, j, MIN_REPEAT, out);
        i = j;
    }
    // Sequences of ASCII letters or digits, up or down by one (before substitution, so that
    // `1234` is still a sequence).
    let f = &n.folded;
    for step in [1i64, -1] {
        let mut i = 0;
        while i < len {
            let mut j = i + 1;
            if let Some(cls) = class(f[i]) {
                while j < len
                    && class(f[j]) == Some(cls)
                    && i64::from(u32::from(f[j])) - i64::from(u32::from(f[j - 1])) == step
                {
                    j += 1;
                }
            }
            push_run(i, j, MIN_SEQUENCE, out);
            i = if j - i > 1 { j - 1 } else { j };
        }
    }
    // A block repeated right after itself, once or more (not single-character runs, found
    // above): the repetitions add nothing to the block (a derived part, 0 points).
    for start in 2..len {
        for b in 2..=MAX_BLOCK.min(start) {
            let block = &p[start - b..start];
            if block.iter().all(|c| *c == block[0]) {
                continue;
            }
            let mut end = start;
            while end + b <= len && p[end..end + b] == *block {
                end += b;
                out.push(Found {
                    start,
                    end,
                    source: Source::Derived,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::normalize::{default_substitutions, normalize};

    fn windows(s: &str) -> Vec<(usize, usize)> {
        let n = normalize(s, &default_substitutions(), None);
        let mut out = vec![];
        find_patterns(&n, &mut out);
        let mut w: Vec<(usize, usize)> = out.iter().map(|f| (f.start, f.end)).collect();
        w.sort();
        w.dedup();
        w
    }

    #[test]
    fn repeats_sequences_and_blocks() {
        assert!(windows("xaaaax").contains(&(1, 5)));
        assert!(windows("x1111x").contains(&(1, 5)));
        assert!(windows("qabcdeq").contains(&(1, 6)));
        assert!(windows("q98765q").contains(&(1, 6)));
        assert!(windows("q7890q").is_empty(), "0 does not follow 9");
        assert!(windows("kx7!kx7!").contains(&(4, 8)));
        assert!(windows("kx7kx7kx7").contains(&(3, 9)));
        assert!(windows("abab").contains(&(2, 4)));
        // Nothing in an ordinary word.
        assert!(
            windows("tangerine").is_empty(),
            "{:?}",
            windows("tangerine")
        );
        assert!(windows("aab").is_empty());
        assert!(windows("abc").is_empty());
    }
}
