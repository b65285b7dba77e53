//! The password mutation corpus: common passwords, variants derived from them the way people
//! derive passwords, and strong passwords. Deterministic (fixed seeds, no clock, no files
//! other than the ranked list in the repository), shared by the threshold test
//! (`tests/password_corpus.rs`) and the measurement (`benches/password_eval.rs`).
//!
//! **Split.** The ranked list (`data/password/common-passwords.txt.gz`, 30,000 passwords) is
//! split by rank: every fourth password (ranks 4, 8, 12, …: 7,500) is *held out*; the other
//! 22,500 are the *tuning* split. Variants of the two splits are drawn with different seeds.
//! Only the tuning split was looked at while the scorer was developed; the thresholds are
//! asserted, and the figures in docs/benchmarks.md reported, on the held-out split.
//!
//! **Variants** (each base password gets [`VARIANTS_PER_PASSWORD`]): one core change —
//! none, the word doubled (`facebookfacebook`), doubled around a separator, followed by its own
//! tail reversed (`swordfishhsi`), written backwards, one typo (a letter inserted, replaced or
//! deleted), or its first two or three characters repeated (`23232323`) — then capitalisation
//! (first letter, or all: `ELISABETH`), leetspeak, an occasional prefix, and one or two
//! suffixes: a year, a two-digit year, a date, digits, symbols, a sequence (`123`, `abc`), a
//! keyboard walk (`qwe`, `!@#`, `1qaz`) or a repeated symbol.
//!
//! **Strong passwords** (each set [`STRONG_SAMPLES`]): random strings of 12 letters and
//! digits, 16 and 20 printable ASCII characters, and passphrases of 4 and 5 random words of
//! the BIP-39 English list (2,048 words), with a separator and optional capitals.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;

/// Variants drawn per base password.
pub const VARIANTS_PER_PASSWORD: usize = 2;
/// Passwords per strong set.
pub const STRONG_SAMPLES: usize = 2_000;
/// Seeds: variants of the tuning split, of the held-out split, and the strong sets.
pub const SEED_TUNING: u64 = 0x7475_6e69_6e67_0001;
pub const SEED_HELD_OUT: u64 = 0x6865_6c64_6f75_7402;
pub const SEED_STRONG: u64 = 0x7374_726f_6e67_0003;

/// xorshift64*: small, deterministic, good enough to draw test data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// The ranked list of common passwords shipped in the repository.
pub fn common_passwords() -> Vec<String> {
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

/// Whether the password at `index` (rank − 1) is in the held-out split.
pub fn held_out(index: usize) -> bool {
    index % 4 == 3
}

/// The two splits of the common passwords: (tuning, held-out).
pub fn split(common: &[String]) -> (Vec<String>, Vec<String>) {
    let (mut tuning, mut held) = (Vec::new(), Vec::new());
    for (i, pw) in common.iter().enumerate() {
        if held_out(i) {
            held.push(pw.clone());
        } else {
            tuning.push(pw.clone());
        }
    }
    (tuning, held)
}

const LEET: [(char, &[char]); 8] = [
    ('a', &['@', '4']),
    ('o', &['0']),
    ('e', &['3']),
    ('i', &['1', '!']),
    ('s', &['$', '5']),
    ('t', &['7']),
    ('l', &['1']),
    ('b', &['8']),
];

fn capitalise(s: &str) -> String {
    let mut cs = s.chars();
    cs.next()
        .map(|f| f.to_uppercase().chain(cs).collect())
        .unwrap_or_default()
}

fn digits(rng: &mut Rng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rng.below(10) as u8))
        .collect()
}

fn year(rng: &mut Rng) -> usize {
    1950 + rng.below(80)
}

/// One suffix people add to satisfy a composition rule or a change.
fn suffix(rng: &mut Rng) -> String {
    let y = year(rng);
    match rng.below(13) {
        0 => y.to_string(),
        1 => format!("{y}!"),
        2 => format!("{:02}", y % 100),
        3 => {
            let (d, m) = (1 + rng.below(28), 1 + rng.below(12));
            match rng.below(3) {
                0 => format!("{d:02}{m:02}{y}"),
                1 => format!("{m:02}{d:02}{:02}", y % 100),
                _ => format!("{d:02}.{m:02}.{y}"),
            }
        }
        4 => {
            let n = 1 + rng.below(4);
            digits(rng, n)
        }
        5 => rng
            .pick(&["!", "!!", "?", ".", "#", "*", "$", "!?", "#!", "@"])
            .to_string(),
        6 => rng
            .pick(&["123", "1234", "12345", "123!", "321", "abc", "789", "012"])
            .to_string(),
        7 => rng
            .pick(&[
                "qwe", "qwerty", "asdf", "zxc", "!@#", "!@#$", "1qaz", "qaz", "147",
            ])
            .to_string(),
        8 => format!("{}{y}", rng.pick(&["#", "!", "_", ".", "@"])),
        9 => format!("@{:02}", rng.below(100)),
        10 => {
            let c = *rng.pick(&['!', '1', '0', '*', '$']);
            std::iter::repeat_n(c, 2 + rng.below(3)).collect()
        }
        11 => rng
            .pick(&["007", "69", "1", "01", "11", "99", "2000"])
            .to_string(),
        _ => {
            let n = 2 + rng.below(3);
            digits(rng, n) + *rng.pick(&["!", "#", "?"])
        }
    }
}

/// One realistic variant of `pw` (never `pw` itself).
pub fn variant(pw: &str, rng: &mut Rng) -> String {
    loop {
        let chars: Vec<char> = pw.chars().collect();
        let mut v: String = match rng.below(20) {
            0..=6 => pw.to_string(),
            7 | 8 => format!("{pw}{pw}"),
            9 => format!("{pw}{}{pw}", rng.pick(&["!", "-", "_", ".", "1", " "])),
            10 | 11 => {
                // The word followed by its own tail reversed: swordfish + hsi.
                let k = 2 + rng.below(chars.len().clamp(2, 4) - 1);
                let tail: String = chars.iter().rev().take(k).collect();
                format!("{pw}{tail}")
            }
            12 => chars.iter().rev().collect(),
            13..=15 if chars.len() >= 5 => {
                // One typo: a letter inserted, replaced or deleted.
                let mut c = chars.clone();
                let i = rng.below(c.len());
                let letter = char::from(b'a' + rng.below(26) as u8);
                match rng.below(3) {
                    0 => c.insert(i, letter),
                    1 => c[i] = letter,
                    _ => {
                        c.remove(i);
                    }
                }
                c.into_iter().collect()
            }
            16 if chars.len() >= 2 => {
                // The first two or three characters repeated: 232323 → 23232323.
                let b = 2 + rng.below(2).min(chars.len() - 2);
                let block: String = chars[..b].iter().collect();
                block.repeat(3 + rng.below(2))
            }
            _ => pw.to_string(),
        };
        if rng.chance(30) {
            v = v
                .chars()
                .map(|c| match LEET.iter().find(|(l, _)| *l == c) {
                    Some((_, subs)) if rng.chance(60) => *rng.pick(subs),
                    _ => c,
                })
                .collect();
        }
        match rng.below(10) {
            0..=3 => v = capitalise(&v),
            4 => v = v.to_uppercase(),
            _ => {}
        }
        if rng.chance(8) {
            v = format!("{}{v}", rng.pick(&["!", "1", "#", "@", "123", "_"]));
        }
        if rng.chance(85) {
            v.push_str(&suffix(rng));
            if rng.chance(20) {
                v.push_str(&suffix(rng));
            }
        }
        if v != pw {
            return v;
        }
    }
}

/// [`VARIANTS_PER_PASSWORD`] variants of each password, drawn with `seed`.
pub fn variants(passwords: &[String], seed: u64) -> Vec<String> {
    let mut rng = Rng(seed);
    passwords
        .iter()
        .flat_map(|p| {
            (0..VARIANTS_PER_PASSWORD)
                .map(|_| variant(p, &mut rng))
                .collect::<Vec<_>>()
        })
        .collect()
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
                capitalise(w)
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(sep)
}

/// The strong sets, by name. The first four are the ones the ≤ 2 % goal applies to.
pub fn strong_sets() -> Vec<(&'static str, Vec<String>)> {
    let mut rng = Rng(SEED_STRONG);
    let printable: Vec<u8> = (33u8..=126).collect();
    let alnum: Vec<u8> = (b'0'..=b'9')
        .chain(b'a'..=b'z')
        .chain(b'A'..=b'Z')
        .collect();
    let mut sets = Vec::new();
    for (name, len, alphabet) in [
        ("random 12 letters and digits", 12, &alnum),
        ("random 16 printable ASCII", 16, &printable),
        ("random 20 printable ASCII", 20, &printable),
    ] {
        let set = (0..STRONG_SAMPLES)
            .map(|_| random_chars(&mut rng, len, alphabet))
            .collect();
        sets.push((name, set));
    }
    sets.push((
        "5 random BIP-39 words (55 bits)",
        (0..STRONG_SAMPLES)
            .map(|_| passphrase(&mut rng, 5))
            .collect(),
    ));
    sets.push((
        "4 random BIP-39 words (44 bits)",
        (0..STRONG_SAMPLES)
            .map(|_| passphrase(&mut rng, 4))
            .collect(),
    ));
    sets
}

/// Strong sets the ≤ 2 % goal applies to (random strings and 5-word passphrases).
pub const STRONG_GOAL_SETS: usize = 4;
