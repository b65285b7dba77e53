//! Unit tests: each reason, the documented examples, and bad input.

use super::*;
use std::sync::OnceLock;

pub(super) fn global() -> &'static BannedList {
    static G: OnceLock<BannedList> = OnceLock::new();
    G.get_or_init(|| BannedList::global().unwrap())
}

pub(super) fn policy() -> &'static PasswordPolicy {
    static P: OnceLock<PasswordPolicy> = OnceLock::new();
    P.get_or_init(PasswordPolicy::default)
}

pub(super) fn custom() -> &'static BannedList {
    static C: OnceLock<BannedList> = OnceLock::new();
    C.get_or_init(|| {
        BannedList::from_terms(["Contoso", "Fabrikam", "Seattle"], &policy().substitutions).unwrap()
    })
}

pub(super) fn alice() -> UserTerms<'static> {
    UserTerms {
        first_name: Some("Alice"),
        last_name: Some("Liddell"),
        login: Some("aliddell"),
        email: Some("alice.liddell@example.com"),
        organisation: Some("Wonderland"),
        ..Default::default()
    }
}

pub(super) fn check(pw: &str) -> Verdict {
    PasswordChecker::new(policy(), global(), custom()).evaluate(&alice(), pw)
}

fn codes(v: &Verdict) -> Vec<&'static str> {
    v.codes()
}

#[test]
fn strong_passwords_pass() {
    for pw in [
        "correct horse battery staple",
        "vG7#kq2!Lm9$wZ4p",
        "Tangerine-Orbit-Quiver-57",
        "mój kot lubi śnieg zimą",
        "gusset pewter thimble",
    ] {
        let v = check(pw);
        assert!(v.accepted, "{pw}: {v:?}");
        assert!(v.score >= 5);
        assert!(v.reasons.is_empty());
    }
}

#[test]
fn common_passwords_and_dressed_up_variants_fail() {
    for pw in [
        "password",
        "P@ssw0rd2024!",
        "password1234",
        "Passw0rd!!!!",
        "qwertyuiop12",
        "1234567890123",
        "letmein12345",
        "iloveyou2024",
        "Dragon2024!!",
        "MonkeyMonkey12",
        "!!Sunshine2025",
        "baseball1985#",
        "trustno1trustno1",
    ] {
        let v = check(pw);
        assert!(!v.accepted, "{pw}: {v:?}");
        assert!(v.score < 5, "{pw}: {v:?}");
    }
    let v = check("P@ssw0rd2024!");
    assert_eq!(
        codes(&v),
        vec!["common_password", "insufficient_score"],
        "{v:?}"
    );
    // "password" (1 point) + the decoration "2024!" (2 points for 5 characters).
    assert_eq!(v.score, 3);
    // A digit next to a term is a decoration, not a typo: 2 points, as Entra counts it.
    assert_eq!(check("monkey1").score, 2);
}

#[test]
fn microsoft_fuzzy_examples() {
    // Banned `abcdef` matches `abcdeg`, `abcdefg` and `abcde`.
    let list = BannedList::from_terms(["abcdef"], &policy().substitutions).unwrap();
    let checker = PasswordChecker::new(policy(), &list, custom());
    for pw in ["abcdeg", "abcdefg", "abcde", "abcdef"] {
        let v = checker.evaluate(&UserTerms::default(), pw);
        assert_eq!(v.score, 1, "{pw}: {v:?}");
        assert!(codes(&v).contains(&"common_password"));
    }
}

#[test]
fn organisation_and_personal_terms_fail() {
    let v = check("Contoso2024!");
    assert!(codes(&v).contains(&"organisation_term"), "{v:?}");
    let v = check("F@brikam#2025");
    assert!(codes(&v).contains(&"organisation_term"), "{v:?}");
    // Fuzzy organisation term.
    let v = check("Seatle2024!!");
    assert!(codes(&v).contains(&"organisation_term"), "{v:?}");
    let v = check("Liddell.2024!");
    assert_eq!(
        codes(&v),
        vec!["contains_personal_info", "insufficient_score"],
        "{v:?}"
    );
    let v = check("alice.liddell!");
    assert!(codes(&v).contains(&"contains_personal_info"), "{v:?}");
    // The organisation name counts as an organisation term.
    let v = check("Wonderland99!");
    assert!(codes(&v).contains(&"organisation_term"), "{v:?}");
    // Without the user's terms the same password scores higher.
    let anon = PasswordChecker::new(policy(), global(), custom())
        .evaluate(&UserTerms::default(), "Liddell.2024!");
    assert!(anon.score > check("Liddell.2024!").score);
    // Messages explain without revealing the list.
    assert_eq!(
        Reason::OrganisationTerm.message(),
        "Contains a word associated with this organisation."
    );
    for v in [check("Contoso2024!"), check("P@ssw0rd2024!")] {
        for m in v.messages() {
            assert!(!m.to_lowercase().contains("contoso") && !m.contains("password2"));
        }
    }
}

#[test]
fn predictable_patterns_fail() {
    for pw in [
        "aaaaaaaaaaaaaaaa",
        "abcdefghijklmnop",
        "9876543210987",
        "Xy7Xy7Xy7Xy7",
        "Summer!Summer!Summer!",
    ] {
        let v = check(pw);
        assert!(!v.accepted, "{pw}: {v:?}");
    }
    let v = check("zzzzzzzzzzzzzzzzzzzz");
    assert!(codes(&v).contains(&"predictable_pattern"), "{v:?}");
}

#[test]
fn length_rules_follow_nist() {
    let v = check("tiny");
    assert_eq!(v.reasons[0], Reason::TooShort { length: 4, min: 12 });
    assert_eq!(v.reasons[0].message(), "Too short: 4 of 12 characters.");
    let v = check("gusset pewte");
    assert!(v.accepted, "12 characters is enough: {v:?}");
    let v = check("gusset pewt");
    assert_eq!(
        v.reasons,
        vec![Reason::TooShort {
            length: 11,
            min: 12
        }]
    );
    // Length is counted after NFKC: "e" + combining accent is one character.
    let v = check("gusset pewe\u{301}");
    assert_eq!(
        v.reasons[0],
        Reason::TooShort {
            length: 11,
            min: 12
        }
    );
    // 64 characters and Unicode are fine; composition rules do not exist.
    // (Not one phrase repeated: a repetition adds nothing.)
    let long: String = "zebra quilt mantle orbit fennel gusset pewter thimble saddle lichen"
        .chars()
        .take(64)
        .collect();
    assert_eq!(long.chars().count(), 64);
    assert!(check(&long).accepted, "{:?}", check(&long));
    assert!(check("ąęłńóśźż ĄĘŁŃÓŚŹŻ ǅ").accepted);
    assert!(check("日本語のパスワードです長い").accepted);
    assert!(matches!(
        check(&"x".repeat(300)).reasons[0],
        Reason::TooLong {
            length: 300,
            max: 256
        }
    ));
    // 10 KB is refused before any matching.
    assert_eq!(
        check(&"y".repeat(10_000)).reasons,
        vec![Reason::TooLong {
            length: 10_000,
            max: 256
        }]
    );
}

#[test]
fn bad_input() {
    assert_eq!(check("").reasons, vec![Reason::Empty]);
    assert_eq!(check("              ").reasons, vec![Reason::Empty]);
    assert_eq!(check("\u{3000}\u{3000}").reasons, vec![Reason::Empty]);
    assert_eq!(
        check("abc\u{0}defghijklmn").reasons,
        vec![Reason::ControlCharacters]
    );
    assert_eq!(
        check("tab\tseparated words here").reasons,
        vec![Reason::ControlCharacters]
    );
    assert_eq!(
        check("line\u{2028}separator words").reasons,
        vec![Reason::ControlCharacters]
    );
    let checker = PasswordChecker::new(policy(), global(), custom());
    let v = checker.evaluate_bytes(&UserTerms::default(), &[0x66, 0xff, 0xfe, 0x67]);
    assert_eq!(v.reasons, vec![Reason::InvalidUtf8]);
    assert_eq!(v.reasons[0].code(), "invalid_utf8");
    let v = checker.evaluate_bytes(&UserTerms::default(), "gusset pewter thimble".as_bytes());
    assert!(v.accepted);
}

#[test]
fn ambiguous_characters_are_read_both_ways() {
    // "adm1n" reads as "admln" with 1 → l, and as "admin" with 1 → i.
    let list = BannedList::from_terms(["administrator"], &policy().substitutions).unwrap();
    let checker = PasswordChecker::new(policy(), &list, custom());
    let v = checker.evaluate(&UserTerms::default(), "Adm1n1strator");
    assert_eq!(v.score, 1, "{v:?}");
}

#[test]
fn policy_validation_and_clamping() {
    assert!(PasswordPolicy::default().validate().is_ok());
    let low = PasswordPolicy {
        min_length: 6,
        ..Default::default()
    };
    assert_eq!(low.validate(), Err(PolicyError::MinLengthTooLow));
    // An unvalidated policy still never goes below the NIST floor.
    let v = PasswordChecker::new(&low, global(), custom()).evaluate(&alice(), "gusset");
    assert_eq!(v.reasons[0], Reason::TooShort { length: 6, min: 8 });
    let short_max = PasswordPolicy {
        max_length: 32,
        ..Default::default()
    };
    assert_eq!(short_max.validate(), Err(PolicyError::MaxLengthTooLow));
    let huge = PasswordPolicy {
        max_length: 1 << 20,
        ..Default::default()
    };
    assert_eq!(huge.validate(), Err(PolicyError::MaxLengthTooHigh));
    let zero = PasswordPolicy {
        min_score: 0,
        ..Default::default()
    };
    assert_eq!(zero.validate(), Err(PolicyError::MinScoreTooLow));
    let mut odd = PasswordPolicy::default();
    odd.substitutions.insert('x', 'x');
    assert_eq!(odd.validate(), Err(PolicyError::BadSubstitution('x')));
    // A stricter policy refuses more.
    let strict = PasswordPolicy {
        min_score: 30,
        min_length: 16,
        ..Default::default()
    };
    let v = PasswordChecker::new(&strict, global(), custom()).evaluate(&alice(), "gusset pewter");
    assert_eq!(codes(&v).first(), Some(&"too_short"), "{v:?}");
    assert_eq!(codes(&v).last(), Some(&"insufficient_score"), "{v:?}");
    assert!(check("gusset pewter thimble").accepted);
}

#[test]
fn policy_deserialises_from_config() {
    let p: PasswordPolicy = serde_json::from_str(r#"{"min_length": 14}"#).unwrap();
    assert_eq!(p.min_length, 14);
    assert_eq!(p.max_length, 256);
    assert_eq!(p.substitutions, PasswordPolicy::default().substitutions);
    let j = serde_json::to_value(PasswordPolicy::default()).unwrap();
    assert_eq!(j["substitutions"]["0"], "o");
    assert_eq!(j["alternatives"]["1"], "i");
    let back: PasswordPolicy = serde_json::from_value(j).unwrap();
    assert_eq!(back, PasswordPolicy::default());
    let bad = serde_json::from_str::<PasswordPolicy>(r#"{"substitutions": {"ab": "c"}}"#);
    assert!(bad.unwrap_err().to_string().contains("single characters"));
    let unknown = serde_json::from_str::<PasswordPolicy>(r#"{"min_lenght": 14}"#);
    assert!(unknown.is_err());
    // Custom substitutions replace the defaults.
    let p: PasswordPolicy = serde_json::from_str(r#"{"substitutions": {"0": "o"}}"#).unwrap();
    assert_eq!(p.substitutions.len(), 1);
}

#[test]
fn verdict_json_shape_and_refuse() {
    let mut v = check("password");
    let j = serde_json::to_value(&v).unwrap();
    assert_eq!(j["accepted"], false);
    assert_eq!(j["reasons"][0]["code"], "too_short");
    assert_eq!(j["reasons"][0]["length"], 8);
    assert_eq!(j["reasons"][0]["min"], 12);
    assert_eq!(j["reasons"][1]["code"], "common_password");
    let mut ok = check("gusset pewter thimble");
    assert!(ok.accepted);
    ok.refuse(Reason::Breached);
    ok.refuse(Reason::Breached);
    assert!(!ok.accepted);
    assert_eq!(ok.codes(), vec!["breached"]);
    v.refuse(Reason::Breached);
    assert_eq!(v.codes().last(), Some(&"breached"));
    let back: Verdict = serde_json::from_value(serde_json::to_value(&v).unwrap()).unwrap();
    assert_eq!(back, v);
}

#[test]
fn every_reason_has_a_code_and_a_message() {
    let all = [
        Reason::Empty,
        Reason::InvalidUtf8,
        Reason::ControlCharacters,
        Reason::TooShort { length: 9, min: 12 },
        Reason::TooLong {
            length: 300,
            max: 256,
        },
        Reason::CommonPassword,
        Reason::OrganisationTerm,
        Reason::ContainsPersonalInfo,
        Reason::PredictablePattern,
        Reason::InsufficientScore {
            score: 2,
            required: 5,
        },
        Reason::Breached,
    ];
    for r in &all {
        let j = serde_json::to_value(r).unwrap();
        assert_eq!(j["code"], r.code());
        assert!(r.message().ends_with('.'));
    }
    assert_eq!(
        Reason::TooShort { length: 9, min: 12 }.message(),
        "Too short: 9 of 12 characters."
    );
    assert_eq!(
        Reason::CommonPassword.message(),
        "Contains a commonly used password."
    );
}

/// The ranked public corpus the global list was derived from (see the derivation script).
pub(super) fn corpus() -> Vec<String> {
    use std::io::Read;
    static GZ: &[u8] = include_bytes!("../../../../data/password/common-passwords.txt.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(GZ)
        .read_to_string(&mut text)
        .unwrap();
    text.lines().map(str::to_string).collect()
}

/// Ranks used to derive the global list (the rest is the hold-out set).
pub(super) const DERIVED_FROM_TOP: usize = 10_000;

#[test]
fn every_top_corpus_password_is_refused_by_its_score() {
    // Each of the 10,000 most common passwords, as it appears in the corpus, scores under the
    // threshold (most are also too short, but the score alone must refuse them).
    let corpus = corpus();
    assert_eq!(corpus.len(), 30_000);
    let empty = BannedList::empty();
    let checker = PasswordChecker::new(policy(), global(), &empty);
    let not_caught: Vec<(usize, &String, u32)> = corpus[..DERIVED_FROM_TOP]
        .iter()
        .enumerate()
        .filter_map(|(rank, pw)| {
            let v = checker.evaluate(&UserTerms::default(), pw);
            (v.score >= 5).then_some((rank + 1, pw, v.score))
        })
        .collect();
    assert!(not_caught.is_empty(), "{not_caught:?}");
}
