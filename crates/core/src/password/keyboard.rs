//! Keyboard layouts for walks (`qwerty`, `1qaz2wsx`, `!@#$`, `7410`): which keys touch.
//!
//! Two layouts, as zxcvbn models them: the QWERTY main block, drawn slanted (each row shifted
//! half a key to the right of the one above, so a key touches two keys above and two below),
//! with shifted characters on the same key as their base; and the numeric keypad, a grid where
//! a key touches its eight neighbours.

/// The QWERTY rows, unshifted and shifted (the key left of `1` is left out, so that each row
/// starts half a key right of the one above, as the keys sit).
const QWERTY: [(&str, &str); 4] = [
    ("1234567890-=", "!@#$%^&*()_+"),
    ("qwertyuiop[]\\", "QWERTYUIOP{}|"),
    ("asdfghjkl;'", "ASDFGHJKL:\""),
    ("zxcvbnm,./", "ZXCVBNM<>?"),
];

/// The numeric keypad, one string per row (`.` is a gap).
const KEYPAD: [&str; 5] = ["./*-", "789+", "456.", "123.", "0..."];

/// Which layout a position belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Layout {
    Qwerty,
    Keypad,
}

/// Row and column of `c` on the QWERTY block (`c` already lower-cased or not).
fn qwerty_pos(c: char) -> Option<(i32, i32)> {
    for (row, (plain, shifted)) in (0i32..).zip(QWERTY) {
        for (col, (a, b)) in (0i32..).zip(plain.chars().zip(shifted.chars())) {
            if c == a || c == b {
                return Some((row, col));
            }
        }
    }
    None
}

fn keypad_pos(c: char) -> Option<(i32, i32)> {
    if c == '.' {
        return None;
    }
    for (row, keys) in (0i32..).zip(KEYPAD) {
        for (col, k) in (0i32..).zip(keys.chars()) {
            if k == c {
                return Some((row, col));
            }
        }
    }
    None
}

/// The direction from `a` to `b` on `layout` when the two keys touch (a small number naming
/// the direction, so that a walk can tell a straight line from a turn), else `None`.
pub(super) fn step(layout: Layout, a: char, b: char) -> Option<u8> {
    let (pa, pb) = match layout {
        Layout::Qwerty => (qwerty_pos(a)?, qwerty_pos(b)?),
        Layout::Keypad => (keypad_pos(a)?, keypad_pos(b)?),
    };
    let (dr, dc) = (pb.0 - pa.0, pb.1 - pa.1);
    let touching = match layout {
        // Slanted: same row ±1; the row above at the same column or one to the right; the row
        // below at the same column or one to the left.
        Layout::Qwerty => matches!((dr, dc), (0, -1 | 1) | (-1, 0 | 1) | (1, -1 | 0)),
        Layout::Keypad => dr.abs() <= 1 && dc.abs() <= 1 && (dr, dc) != (0, 0),
    };
    if !touching {
        return None;
    }
    u8::try_from((dr + 1) * 3 + (dc + 1)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours() {
        let q = Layout::Qwerty;
        for (a, b) in [
            ('q', 'w'),
            ('q', '1'),
            ('q', '2'),
            ('q', 'a'),
            ('a', 'z'),
            ('s', 'x'),
            ('1', '2'),
            ('!', '@'),
            ('p', '['),
            ('l', ';'),
            ('m', ','),
        ] {
            assert!(step(q, a, b).is_some(), "{a}{b}");
            assert!(step(q, b, a).is_some(), "{b}{a}");
        }
        for (a, b) in [('q', 'e'), ('q', 's'), ('a', 'x'), ('1', 'a'), ('q', 'q')] {
            assert!(step(q, a, b).is_none(), "{a}{b}");
        }
        let k = Layout::Keypad;
        assert!(step(k, '7', '4').is_some());
        assert!(step(k, '1', '5').is_some());
        assert!(step(k, '0', '1').is_some());
        assert!(step(k, '0', '3').is_none());
        assert!(step(k, 'a', '3').is_none());
        // Straight lines keep their direction.
        assert_eq!(step(q, 'q', 'w'), step(q, 'w', 'e'));
        assert_ne!(step(q, 'q', 'w'), step(q, 'w', 's'));
    }
}
