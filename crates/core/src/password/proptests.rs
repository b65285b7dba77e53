//! Property tests: banned terms and their variants are refused, strong passwords accepted.

use super::tests::{check, global, policy};
use super::*;
use proptest::prelude::*;

fn term_strategy() -> impl Strategy<Value = String> {
    (0..global().len()).prop_map(|i| global().term(i as u32))
}

/// Letter → look-alike, the inverse of the default substitutions.
const LEET: [(char, char); 12] = [
    ('o', '0'),
    ('l', '1'),
    ('s', '$'),
    ('a', '@'),
    ('e', '3'),
    ('t', '7'),
    ('i', '!'),
    ('b', '8'),
    ('g', '9'),
    ('a', '4'),
    ('s', '5'),
    ('t', '+'),
];

/// A term scores `max` points or fewer (1 when the whole password is the term or a variant
/// of it), and is named as a common password. Checked without personal or organisation
/// terms, which could explain it first.
fn assert_term(pw: &str, max: u32) -> Result<(), TestCaseError> {
    let empty = BannedList::empty();
    let v = PasswordChecker::new(policy(), global(), &empty).evaluate(&UserTerms::default(), pw);
    prop_assert!(!v.accepted, "{} {:?}", pw, v);
    prop_assert!(v.score <= max, "{} {:?}", pw, v);
    prop_assert!(
        v.reasons.contains(&Reason::CommonPassword),
        "{} {:?}",
        pw,
        v
    );
    Ok(())
}

fn assert_one_term(pw: &str) -> Result<(), TestCaseError> {
    assert_term(pw, 1)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn every_banned_term_is_refused(t in term_strategy()) {
        assert_one_term(&t)?;
    }

    #[test]
    fn edit_distance_one_variants_are_refused(
        t in term_strategy(),
        pos in any::<prop::sample::Index>(),
        c in "[a-z0-9#%&*]",
        op in 0u8..3,
    ) {
        let mut chars: Vec<char> = t.chars().collect();
        let i = pos.index(chars.len());
        let ch = c.chars().next().unwrap();
        match op {
            0 => chars[i] = ch,
            1 => chars.insert(i, ch),
            _ => { chars.remove(i); }
        }
        let v: String = chars.into_iter().collect();
        if v.chars().count() >= banned::MIN_WINDOW_LEN {
            // A digit or symbol next to the term is a decoration (1 more point), anything else
            // is a fuzzy match of the whole. "Next to" is judged on the result: inserting `6`
            // at position 1 of `666le666` also gives `6` + the term, and near the end, the
            // term + `6`.
            let n = v.chars().count();
            let decorated = op == 1
                && !ch.is_alphabetic()
                && (v.chars().skip(1).eq(t.chars()) || v.chars().take(n - 1).eq(t.chars()));
            let max = if decorated { 2 } else { 1 };
            assert_term(&v, max)?;
        } else {
            // A 3-character remnant of a 4-character term is refused for its length.
            prop_assert!(!check(&v).accepted);
        }
    }

    #[test]
    fn substitution_and_case_variants_are_refused(t in term_strategy(), mask in any::<u64>(), pick in any::<u64>()) {
        let v: String = t.chars().enumerate().map(|(i, c)| {
            let bit = (mask >> (i % 64)) & 1 == 1;
            let options: Vec<char> = LEET.iter().filter(|(l, _)| *l == c).map(|(_, d)| *d).collect();
            if bit && !options.is_empty() {
                options[(pick as usize + i) % options.len()]
            } else if bit {
                c.to_uppercase().next().unwrap_or(c)
            } else {
                c
            }
        }).collect();
        assert_one_term(&v)?;
    }

    #[test]
    fn variants_are_found_inside_a_longer_password(t in term_strategy(), pos in any::<prop::sample::Index>(), c in "[a-z]") {
        // A substituted term embedded in a passphrase still costs the passphrase points:
        // with the term the score is lower than with 8 random letters in its place.
        let mut chars: Vec<char> = t.chars().collect();
        let i = pos.index(chars.len());
        chars[i] = c.chars().next().unwrap();
        let v: String = chars.into_iter().collect();
        let with_term = check(&format!("gusset {v} pewter")).score;
        let without = check("gusset qxzjvkwp pewter").score;
        prop_assert!(with_term < without, "{} {} {}", v, with_term, without);
    }

    #[test]
    fn appending_digits_or_symbols_does_not_lift_a_short_password(
        t in term_strategy(),
        tail in "[0-9!@#$%^&*?.]{0,8}",
        front in "[0-9!#]{0,2}",
        upper in any::<bool>(),
    ) {
        let t = if upper {
            let mut c = t.chars();
            c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
        } else {
            t
        };
        let pw = format!("{front}{t}{tail}");
        prop_assume!(pw.chars().count() <= 16);
        let v = check(&pw);
        prop_assert!(!v.accepted, "{}", pw);
        prop_assert!(v.score < 5, "{} {:?}", pw, v);
    }

    #[test]
    fn random_twenty_character_passwords_are_accepted(pw in "[!-~]{20}") {
        let v = check(&pw);
        prop_assert!(v.accepted, "{} {:?}", pw, v);
    }

    #[test]
    fn random_five_word_passphrases_are_accepted(
        words in prop::sample::subsequence(WORDS.to_vec(), 5).prop_shuffle(),
        sep in prop::sample::select(&[" ", "-", ".", "_", ""][..]),
    ) {
        let pw = words.join(sep);
        let v = check(&pw);
        prop_assert!(v.accepted, "{} {:?}", pw, v);
    }

    #[test]
    fn evaluation_is_total_and_deterministic(pw in "\\PC{0,80}") {
        // Any printable input gets a verdict with consistent fields, the same each time.
        let a = check(&pw);
        let b = check(&pw);
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(a.accepted, a.reasons.is_empty());
        prop_assert_eq!(a.required_score, 5);
    }
}

/// Unusual words (a fixed diceware-like set): none of them is, or contains, a term of the global
/// list (checked: `jerkin`, `kumquat` and `ratchet` are terms, `yarrow`, `lintel` and `mullion`
/// contain `arrow`, `intel` and `lion`; five such words joined without a separator scored 4).
const WORDS: [&str; 40] = [
    "gusset", "pewter", "sorrel", "tamarind", "nacelle", "bollard", "quoin", "wimple", "fettle",
    "gimbal", "hawser", "parsnip", "ramekin", "spindle", "vellum", "whelk", "fathom", "zither",
    "bodkin", "chervil", "dirndl", "eyelet", "filbert", "gherkin", "hassock", "inkwell", "gantry",
    "jodhpur", "jonquil", "plinth", "oxbow", "pinion", "quahog", "sorghum", "sextant", "trowel",
    "thimble", "saddle", "trellis", "lichen",
];
