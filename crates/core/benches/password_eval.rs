//! Evaluation harness (not a timing benchmark): how many common passwords, variants derived
//! from them, and strong passwords trustplane's password protection refuses, next to what
//! zxcvbn (score < 3) refuses on the same sets. Deterministic (fixed seeds).
//!
//! `cargo bench -p trustplane-core --bench password_eval`
//!
//! The corpus and its generator are in tests/support/mutations.rs: the ranked 30,000-password
//! list in the repository, split by rank into a tuning split (3 of every 4) and a held-out
//! split (ranks 4, 8, 12, …); variants drawn with a different seed per split. The goals are
//! asserted on the held-out split by tests/password_corpus.rs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use trustplane_core::password::{BannedList, PasswordChecker, PasswordPolicy, UserTerms};

#[path = "../tests/support/mutations.rs"]
mod mutations;

struct Row {
    name: String,
    n: usize,
    policy: usize,
    score: usize,
    zxcvbn: usize,
}

fn measure(name: &str, set: &[String], checker: &PasswordChecker<'_>) -> Row {
    let user = UserTerms::default();
    let (mut policy, mut score, mut zx) = (0, 0, 0);
    for pw in set {
        let v = checker.evaluate(&user, pw);
        if !v.accepted {
            policy += 1;
        }
        if v.score < v.required_score {
            score += 1;
        }
        if u8::from(zxcvbn::zxcvbn(pw, &[]).score()) < 3 {
            zx += 1;
        }
    }
    Row {
        name: name.to_string(),
        n: set.len(),
        policy,
        score,
        zxcvbn: zx,
    }
}

fn pct(k: usize, n: usize) -> String {
    if n == 0 {
        "–".into()
    } else {
        format!("{:.1} %", 100.0 * k as f64 / n as f64)
    }
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is ignored.
    let common = mutations::common_passwords();
    assert_eq!(common.len(), 30_000);
    let (tuning, held) = mutations::split(&common);
    let policy = PasswordPolicy::default();
    let global = BannedList::global().unwrap();
    let empty = BannedList::empty();
    let checker = PasswordChecker::new(&policy, &global, &empty);
    let tuning_variants = mutations::variants(&tuning, mutations::SEED_TUNING);
    let held_variants = mutations::variants(&held, mutations::SEED_HELD_OUT);
    let long = |v: &[String]| -> Vec<String> {
        v.iter()
            .filter(|p| p.chars().count() >= 12)
            .cloned()
            .collect()
    };
    let mut rows = vec![
        measure("common, tuning split", &tuning, &checker),
        measure("common, held-out split", &held, &checker),
        measure("variants, tuning split", &tuning_variants, &checker),
        measure("variants, held-out split", &held_variants, &checker),
        measure(
            "variants, held-out split, ≥ 12 characters",
            &long(&held_variants),
            &checker,
        ),
    ];
    let strong = mutations::strong_sets();
    for (name, set) in &strong {
        rows.push(measure(name, set, &checker));
    }
    println!(
        "| set | n | refused by trustplane (policy) | trustplane score < 5 alone | zxcvbn score < 3 |"
    );
    println!("|---|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} |",
            r.name,
            r.n,
            pct(r.policy, r.n),
            pct(r.score, r.n),
            pct(r.zxcvbn, r.n)
        );
    }
    println!();
    println!("Examples of held-out variants: {:?}", &held_variants[..16]);
    // Only the tuning split's misses are shown: the held-out split is for measuring.
    let missed: Vec<&String> = tuning_variants
        .iter()
        .filter(|p| checker.evaluate(&UserTerms::default(), p).accepted)
        .take(30)
        .collect();
    println!("Tuning-split variants accepted (first 30): {missed:?}");
    for (name, set) in &strong {
        let refused: Vec<&String> = set
            .iter()
            .filter(|p| !checker.evaluate(&UserTerms::default(), p).accepted)
            .take(6)
            .collect();
        println!("{name}, refused (first 6): {refused:?}");
    }
}
