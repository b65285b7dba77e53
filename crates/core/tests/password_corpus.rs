//! The password-protection goals, asserted over the held-out split of the mutation corpus
//! (tests/support/mutations.rs): at least 99 % of common passwords and 95 % of their variants
//! refused, at most 2 % of strong passwords (random strings, 5-word passphrases) refused.
//! Deterministic. The full table (both splits, next to zxcvbn):
//! `cargo bench -p trustplane-core --bench password_eval`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "support/mutations.rs"]
mod mutations;

use trustplane_core::password::{BannedList, PasswordChecker, PasswordPolicy, UserTerms};

fn refused(checker: &PasswordChecker<'_>, set: &[String]) -> (usize, Vec<String>) {
    let user = UserTerms::default();
    let mut accepted = Vec::new();
    let mut n = 0;
    for pw in set {
        if checker.evaluate(&user, pw).accepted {
            accepted.push(pw.clone());
        } else {
            n += 1;
        }
    }
    (n, accepted)
}

fn percent(k: usize, n: usize) -> f64 {
    100.0 * k as f64 / n as f64
}

#[test]
fn held_out_mutation_corpus_meets_the_goals() {
    let common = mutations::common_passwords();
    assert_eq!(common.len(), 30_000);
    let (_, held) = mutations::split(&common);
    assert_eq!(held.len(), 7_500);
    let variants = mutations::variants(&held, mutations::SEED_HELD_OUT);
    let policy = PasswordPolicy::default();
    let global = BannedList::global().unwrap();
    let empty = BannedList::empty();
    let checker = PasswordChecker::new(&policy, &global, &empty);

    let (k, missed) = refused(&checker, &held);
    let p = percent(k, held.len());
    println!("common passwords refused: {p:.2} %");
    assert!(
        p >= 99.0,
        "{p:.2} % refused; accepted: {:?}",
        &missed[..missed.len().min(20)]
    );

    let (k, missed) = refused(&checker, &variants);
    let p = percent(k, variants.len());
    println!("variants refused: {p:.2} %");
    assert!(
        p >= 95.0,
        "{p:.2} % refused; accepted: {:?}",
        &missed[..missed.len().min(40)]
    );

    for (name, set) in mutations::strong_sets()
        .into_iter()
        .take(mutations::STRONG_GOAL_SETS)
    {
        let (k, _) = refused(&checker, &set);
        let p = percent(k, set.len());
        let examples: Vec<&String> = set
            .iter()
            .filter(|pw| !checker.evaluate(&UserTerms::default(), pw).accepted)
            .take(10)
            .collect();
        println!("{name}: {p:.2} % refused");
        assert!(p <= 2.0, "{name}: {p:.2} % refused, e.g. {examples:?}");
    }
}

#[test]
fn the_corpus_is_deterministic_and_contains_each_mutation_class() {
    let common = mutations::common_passwords();
    let (tuning, held) = mutations::split(&common);
    assert_eq!(tuning.len() + held.len(), common.len());
    let a = mutations::variants(&held[..200], mutations::SEED_HELD_OUT);
    let b = mutations::variants(&held[..200], mutations::SEED_HELD_OUT);
    assert_eq!(a, b);
    assert_eq!(a.len(), 200 * mutations::VARIANTS_PER_PASSWORD);
    let strong = mutations::strong_sets();
    assert_eq!(strong, mutations::strong_sets());
    // Every class of the examples is drawn (doubled, tail reversed, upper-cased,
    // repeated block), in the tuning split's variants.
    let v = mutations::variants(&tuning, mutations::SEED_TUNING);
    let has = |f: &dyn Fn(&str, &str) -> bool| {
        tuning
            .iter()
            .flat_map(|p| std::iter::repeat_n(p, mutations::VARIANTS_PER_PASSWORD))
            .zip(&v)
            .any(|(p, v)| f(p, v))
    };
    assert!(has(&|p, v| p.len() >= 4 && v == format!("{p}{p}")));
    assert!(has(&|p, v| {
        let tail: String = p.chars().rev().take(3).collect();
        p.len() >= 6 && v.starts_with(&format!("{p}{tail}"))
    }));
    assert!(has(&|p, v| p.len() >= 4
        && p.chars().all(|c| c.is_ascii_lowercase())
        && v.starts_with(&p.to_uppercase())));
    assert!(has(&|p, v| p.is_ascii()
        && p.len() >= 3
        && v.starts_with(&p[..2].repeat(3))));
}
