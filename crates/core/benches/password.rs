//! Password protection benchmarks: one evaluation with the full global list plus 1,000
//! organisation terms (goal: median under 50 µs), and the cost of building the lists.
//!
//! `CARGO_TARGET_DIR=… cargo bench -p trustplane-core --bench password`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{BenchmarkId, Criterion, black_box, criterion_group, criterion_main};
use trustplane_core::password::{BannedList, PasswordChecker, PasswordPolicy, UserTerms};

/// 1,000 pronounceable organisation terms (product names, places, codenames), deterministic.
fn custom_terms() -> Vec<String> {
    const ONSETS: [&str; 16] = [
        "b", "c", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "tr",
    ];
    const VOWELS: [&str; 6] = ["a", "e", "i", "o", "u", "ea"];
    const CODAS: [&str; 8] = ["", "n", "r", "s", "x", "l", "m", "nt"];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    let mut out = Vec::new();
    while out.len() < 1000 {
        let syllables = 2 + next(3);
        let w: String = (0..syllables)
            .map(|_| {
                format!(
                    "{}{}{}",
                    ONSETS[next(ONSETS.len())],
                    VOWELS[next(VOWELS.len())],
                    CODAS[next(CODAS.len())]
                )
            })
            .collect();
        if !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let policy = PasswordPolicy::default();
    let global = BannedList::global().unwrap();
    let terms = custom_terms();
    let custom = BannedList::from_terms(&terms, &policy.substitutions).unwrap();
    assert_eq!(custom.len(), 1000);
    let checker = PasswordChecker::new(&policy, &global, &custom);
    let user = UserTerms {
        first_name: Some("Alice"),
        last_name: Some("Liddell"),
        display_name: Some("Alice Liddell"),
        login: Some("aliddell"),
        email: Some("alice.liddell@wonderland.example"),
        organisation: Some("Wonderland Trading"),
    };
    let mut g = c.benchmark_group("password_evaluate");
    for (name, pw) in [
        ("common_variant", "P@ssw0rd2024!"),
        ("random_16", "vG7#kq2!Lm9$wZ4p"),
        ("passphrase_4_words", "gusset pewter thimble saddle"),
        ("with_ambiguous_1", "Tr1cky-L1ttle-Gh0st-1984"),
        ("unicode_20", "mój kot lubi śnieg zimą"),
        (
            "long_64",
            "correct horse battery staple and a few more words to reach 64ch",
        ),
        ("max_256", &"gusset pewter thimble saddle ".repeat(9)[..256]),
    ] {
        assert!(pw.len() <= 256);
        g.bench_with_input(BenchmarkId::from_parameter(name), pw, |b, pw| {
            b.iter(|| checker.evaluate(black_box(&user), black_box(pw)))
        });
    }
    g.bench_function("refuse_10kb", |b| {
        let big = "y".repeat(10_000);
        b.iter(|| checker.evaluate(black_box(&user), black_box(&big)))
    });
    g.finish();

    let mut g = c.benchmark_group("password_build");
    g.sample_size(10);
    g.bench_function("global_list", |b| b.iter(BannedList::global));
    g.bench_function("custom_1000_terms", |b| {
        b.iter(|| BannedList::from_terms(black_box(&terms), &policy.substitutions))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
