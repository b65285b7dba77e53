//! Scoring: the cheapest description of the password, in points.
//!
//! Entra Password Protection counts one point per banned term found and one per remaining
//! character. We compute the same kind of score, but as the *minimum* over every way of
//! covering the password with non-overlapping pieces (dynamic programming over positions), so
//! the choice of matches can never flatter a password:
//!
//! - a character: 1 point;
//! - a banned term, personal or organisation term, or predictable pattern found: 1 point;
//! - a *derived* part (see `derived.rs`): a repeat or mirror of what came before, or the
//!   continuation of a sequence or keyboard walk: 0 points;
//! - a *decoration*: a run of characters that were digits, symbols or spaces directly before
//!   or after a term (`2024!` in `Password2024!`): 1 point per 4 characters (rounded up).
//!   Appending digits and symbols is the most common way to dress up a weak password, and
//!   Entra's rule would count `2024!` as 5 fresh characters.

use super::normalize::Normalized;

/// Where a piece came from: decides the reason reported.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Hash)]
pub(super) enum Source {
    Personal,
    Organisation,
    Global,
    Pattern,
    /// Repeats, mirrors or extends what came before: costs nothing.
    Derived,
}

/// A window `[start, end)` of the normalised password matched by something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Found {
    pub start: usize,
    pub end: usize,
    pub source: Source,
}

/// Characters of decoration priced per point.
pub const DECORATION_CHARS_PER_POINT: usize = 4;
/// Longest decoration considered in one piece (longer runs are split, which only costs more).
pub const MAX_DECORATION: usize = 16;

#[derive(Clone, Copy)]
struct Edge {
    from: usize,
    to: usize,
    cost: u32,
    /// Only from a position where a term ends (a trailing decoration).
    after_term: bool,
    /// Leaves the walk at the end of a term (so a trailing decoration may follow).
    ends_term: bool,
    source: Option<Source>,
}

/// How a state was reached: (previous position, previous state, source of the piece).
type Step = Option<(usize, usize, Option<Source>)>;

fn decoration_cost(len: usize) -> u32 {
    u32::try_from(len.div_ceil(DECORATION_CHARS_PER_POINT)).unwrap_or(u32::MAX)
}

/// The minimum score of `n` given the pieces `found`, and the sources of the pieces used.
pub(super) fn score(n: &Normalized, found: &[Found]) -> (u32, Vec<Source>) {
    let len = n.chars.len();
    let edges = edges(n, found);
    let covers = Covers::cheapest(len, &edges);
    let points = u32::try_from(covers.best[len][0] >> TIE_BITS).unwrap_or(u32::MAX);
    (points, covers.sources(len))
}

/// The pieces that can cover the password, sorted by where they start: every piece found,
/// each term with the leading decoration before it, and the trailing decorations after
/// where a term ends.
fn edges(n: &Normalized, found: &[Found]) -> Vec<Edge> {
    let len = n.chars.len();
    let decoration = |i: usize| n.was_letter.get(i).is_some_and(|l| !*l);
    let mut edges: Vec<Edge> = Vec::with_capacity(found.len() * 2);
    let mut term_ends: Vec<usize> = Vec::new();
    for f in found {
        let term = !matches!(f.source, Source::Pattern | Source::Derived);
        edges.push(Edge {
            from: f.start,
            to: f.end,
            cost: u32::from(f.source != Source::Derived),
            after_term: false,
            ends_term: term,
            source: Some(f.source),
        });
        if !term {
            continue;
        }
        term_ends.push(f.end);
        // Leading decoration + term.
        let mut from = f.start;
        while from > 0 && decoration(from - 1) && f.start - (from - 1) <= MAX_DECORATION {
            from -= 1;
            edges.push(Edge {
                from,
                to: f.end,
                cost: 1 + decoration_cost(f.start - from),
                after_term: false,
                ends_term: true,
                source: Some(f.source),
            });
        }
    }
    term_ends.sort_unstable();
    term_ends.dedup();
    for e in term_ends {
        let mut to = e;
        while to < len && decoration(to) && to + 1 - e <= MAX_DECORATION {
            to += 1;
            edges.push(Edge {
                from: e,
                to,
                cost: decoration_cost(to - e),
                after_term: true,
                ends_term: false,
                source: None,
            });
        }
    }
    edges.sort_by_key(|e| e.from);
    edges
}

// Costs are compared as (points, tie-break): among covers with the same points, prefer
// the one that names the user's own information, then the organisation's terms, then any
// match over plain characters, so that the reasons say what was found.
const INF: u64 = u64::MAX / 4;
const TIE_BITS: u32 = 20;

fn tie(source: Option<Source>, chars: bool) -> u64 {
    match source {
        Some(Source::Personal) => 0,
        Some(Source::Organisation) => 1,
        Some(_) => 2,
        None if chars => 3,
        None => 0,
    }
}

fn weigh(points: u32, tie: u64) -> u64 {
    (u64::from(points) << TIE_BITS) + tie
}

/// The cheapest covers of every prefix of the password (dynamic programming over positions).
struct Covers {
    /// best[i][0]: cheapest cover of [0, i); best[i][1]: the same, ending with a term.
    best: Vec<[u64; 2]>,
    back: Vec<[Step; 2]>,
}

impl Covers {
    /// The cheapest covers of a password of `len` characters by plain characters and `edges`
    /// (sorted by where they start).
    fn cheapest(len: usize, edges: &[Edge]) -> Covers {
        let mut c = Covers {
            best: vec![[INF; 2]; len + 1],
            back: vec![[None; 2]; len + 1],
        };
        c.best[0][0] = 0;
        let mut next = 0;
        for i in 0..=len {
            if i < len && c.best[i][0] < INF {
                let cost = c.best[i][0] + weigh(1, tie(None, true));
                c.relax(i + 1, 0, cost, (i, 0, None));
            }
            while let Some(e) = edges.get(next).filter(|e| e.from == i).copied() {
                next += 1;
                let state = usize::from(e.after_term);
                let base = c.best[i][state];
                if base >= INF || e.to > len {
                    continue;
                }
                let cost = base + weigh(e.cost, tie(e.source, false));
                c.relax(e.to, 0, cost, (i, state, e.source));
                if e.ends_term {
                    c.relax(e.to, 1, cost, (i, state, e.source));
                }
            }
        }
        c
    }

    fn relax(&mut self, to: usize, state: usize, cost: u64, how: (usize, usize, Option<Source>)) {
        if cost < self.best[to][state] {
            self.best[to][state] = cost;
            self.back[to][state] = Some(how);
        }
    }

    /// The sources of the pieces of the cheapest cover of the whole password (of `len`
    /// characters), sorted, each once.
    fn sources(&self, len: usize) -> Vec<Source> {
        let mut sources = Vec::new();
        let (mut pos, mut state) = (len, 0);
        while let Some((from, from_state, source)) = self.back[pos][state] {
            if let Some(s) = source
                && !sources.contains(&s)
            {
                sources.push(s);
            }
            pos = from;
            state = from_state;
        }
        sources.sort();
        sources
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::normalize::{default_substitutions, normalize};

    fn run(pw: &str, found: &[(usize, usize, Source)]) -> (u32, Vec<Source>) {
        let n = normalize(pw, &default_substitutions(), None);
        let f: Vec<Found> = found
            .iter()
            .map(|&(start, end, source)| Found { start, end, source })
            .collect();
        score(&n, &f)
    }

    #[test]
    fn entra_counting_without_decoration() {
        // No match: one point per character.
        assert_eq!(run("abcdefgh", &[]), (8, vec![]));
        // A term is one point, other characters one each.
        assert_eq!(run("xxpasswordyy", &[(2, 10, Source::Global)]).0, 5);
    }

    #[test]
    fn decoration_is_one_point_per_four_characters() {
        let g = Source::Global;
        assert_eq!(run("password1", &[(0, 8, g)]).0, 2);
        assert_eq!(run("password2024!", &[(0, 8, g)]).0, 3);
        assert_eq!(run("!!password2024", &[(2, 10, g)]).0, 3);
        // Letters after a term are not decoration.
        assert_eq!(run("passwordxyz", &[(0, 8, g)]).0, 4);
    }

    #[test]
    fn the_cheapest_cover_wins() {
        let g = Source::Global;
        // Greedy longest-first would take "bcdefg" and leave 4 characters; two shorter terms
        // cover everything.
        let (s, src) = run(
            "abcdefgh",
            &[(1, 7, g), (0, 4, g), (4, 8, Source::Organisation)],
        );
        assert_eq!(s, 2);
        assert_eq!(src, vec![Source::Organisation, Source::Global]);
    }
}
