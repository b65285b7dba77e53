//! Derived passwords (issue 12, item 11): parts that repeat, mirror or extend what came
//! before, sequences, keyboard walks and dates earn no points, and the user's own name counts
//! as a banned term. Each test lists passwords that were accepted before derived parts were
//! scored.

use super::tests::{global, policy};
use super::*;

fn anon(pw: &str) -> Verdict {
    let empty = BannedList::empty();
    PasswordChecker::new(policy(), global(), &empty).evaluate(&UserTerms::default(), pw)
}

fn assert_refused(pws: &[&str], max_score: u32) {
    for pw in pws {
        let v = anon(pw);
        assert!(!v.accepted, "{pw}: {v:?}");
        assert!(v.score <= max_score, "{pw}: {v:?}");
    }
}

#[test]
fn the_word_repeated() {
    assert_refused(
        &[
            "facebookfacebook",
            "Facebook!facebook",
            "tazdevil-tazdevil",
            "letmein.letmein.",
        ],
        4,
    );
    // Each repetition costs nothing: the doubled word scores what the word scores.
    assert_eq!(anon("facebookfacebook").score, anon("facebook").score);
    assert_eq!(anon("zqxjvkzqxjvk2024").score, anon("zqxjvk2024").score);
}

#[test]
fn the_word_and_its_own_tail_reversed() {
    assert_refused(&["swordfishhsi#1", "swordfishhsif", "Sunshineenihs!"], 4);
    // Written backwards entirely.
    assert_refused(&["drowssaP2024!!", "enihsnus#1985"], 4);
}

#[test]
fn upper_cased_word_and_a_sequence() {
    assert_refused(
        &[
            "ELISABETH123",
            "ELISABETH12345",
            "PRINCESSabcd",
            "MICHELLE2468",
        ],
        3,
    );
    // The sequence adds nothing after its first character.
    assert!(anon("Zqxjvkw123456789").score <= anon("Zqxjvkw1").score);
}

#[test]
fn a_year_after_a_repeated_number() {
    assert_refused(&["232323231993", "121212122024", "4545454519870"], 4);
}

#[test]
fn keyboard_walks() {
    assert_refused(
        &[
            "zxcvbnm,./123",
            "!@#$%^&*()_+",
            "Football1qaz2wsx",
            "poiuytrewq12",
            "asdfghjkl;'!",
            "7410258963Xy",
        ],
        4,
    );
}

#[test]
fn dates() {
    // A date is one point wherever it stands, not only as a decoration next to a word.
    assert_refused(
        &[
            "Michael12/05/1990",
            "tigger31121999!",
            "Jessica@19881231",
            "abc-31.12.1999",
            "Mx12/05/1990!!",
            "19/04/1987-xyz",
        ],
        4,
    );
}

#[test]
fn derived_parts_cost_nothing_but_new_characters_still_count() {
    // Strong passwords with an incidental double letter or short walk stay strong.
    for pw in [
        "vG7#kq2!Lm9$wZ4p",
        "gusset pewter thimble",
        "Tangerine-Orbit-Quiver-57",
        "correct horse battery staple",
    ] {
        let v = anon(pw);
        assert!(v.accepted, "{pw}: {v:?}");
    }
}

fn carol() -> UserTerms<'static> {
    UserTerms {
        first_name: Some("Carol"),
        last_name: Some("Danvers"),
        display_name: Some("Carol Danvers"),
        login: Some("cdanvers"),
        email: Some("carol.danvers@example.com"),
        ..Default::default()
    }
}

#[test]
fn the_users_own_name_counts_as_a_banned_term() {
    let empty = BannedList::empty();
    let checker = PasswordChecker::new(policy(), global(), &empty);
    for pw in [
        "Carol2024!!!xx",
        "Danvers#1985!!",
        "lorac-Carol-2024",
        "CDanvers2024!!zz",
        "carol.danvers.1",
    ] {
        let v = checker.evaluate(&carol(), pw);
        assert!(!v.accepted, "{pw}: {v:?}");
        assert!(
            v.reasons.contains(&Reason::ContainsPersonalInfo),
            "{pw}: {v:?}"
        );
    }
    // Someone else may use the same password: the name is only banned for its owner.
    let v = checker.evaluate(&UserTerms::default(), "Carol2024!!!xq7");
    assert!(v.accepted, "{v:?}");
}

#[test]
fn documented_examples() {
    // docs/password-protection.md quotes these scores.
    let v = anon("correct horse battery staple");
    assert!(v.accepted && v.score == 11, "{v:?}");
    let v = anon("P@ssw0rd2024!");
    assert_eq!((v.accepted, v.score), (false, 3), "{v:?}");
    assert_eq!(v.codes(), vec!["common_password", "insufficient_score"]);
    let v = anon("qwertyuiop12");
    assert_eq!((v.accepted, v.score), (false, 2), "{v:?}");
    let empty = BannedList::empty();
    let checker = PasswordChecker::new(policy(), global(), &empty);
    let v = checker.evaluate(&carol(), "Danvers.Carol.7");
    assert_eq!(
        (v.accepted, v.score, v.codes()),
        (
            false,
            3,
            vec!["contains_personal_info", "insufficient_score"]
        )
    );
    assert!(anon("Danvers.Carol.7").accepted);
}
