use super::*;
use proptest::prelude::*;
use std::sync::OnceLock;

fn global() -> &'static BannedList {
    static G: OnceLock<BannedList> = OnceLock::new();
    G.get_or_init(|| BannedList::global().unwrap())
}

fn policy() -> &'static PasswordPolicy {
    static P: OnceLock<PasswordPolicy> = OnceLock::new();
    P.get_or_init(PasswordPolicy::default)
}

fn custom() -> BannedList {
    BannedList::from_terms(["Contoso", "Fabrikam", "Seattle"], &policy().substitutions).unwrap()
}

fn check(pw: &str) -> Verdict {
    let c = custom();
    let checker = PasswordChecker {
        policy: policy(),
        global: global(),
        custom: &c,
    };
    checker.evaluate(
        &UserTerms {
            first_name: Some("Alice"),
            last_name: Some("Liddell"),
            login: Some("aliddell"),
            email: Some("alice.liddell@example.com"),
            organisation: Some("Wonderland"),
            ..Default::default()
        },
        pw,
    )
}

fn codes(v: &Verdict) -> Vec<&'static str> {
    v.reasons.iter().map(Reason::code).collect()
}

#[test]
fn strong_passwords_pass() {
    for pw in [
        "correct horse battery staple",
        "vG7#kq2!Lm9$wZ4p",
        "Tangerine-Orbit-Quiver-57",
        "mój kot lubi śnieg zimą",
    ] {
        let v = check(pw);
        assert!(v.accepted, "{pw}: {v:?}");
        assert!(v.score >= 5);
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
    ] {
        let v = check(pw);
        assert!(!v.accepted, "{pw}: {v:?}");
    }
    let v = check("P@ssw0rd2024!");
    assert_eq!(
        codes(&v),
        vec!["common_password", "insufficient_score"],
        "{v:?}"
    );
}

#[test]
fn organisation_and_personal_terms_fail() {
    let v = check("Contoso2024!");
    assert!(codes(&v).contains(&"organisation_term"), "{v:?}");
    let v = check("F@brikam#2025");
    assert!(codes(&v).contains(&"organisation_term"), "{v:?}");
    let v = check("Liddell.2024!");
    assert!(codes(&v).contains(&"contains_personal_info"), "{v:?}");
    let v = check("Wonderland99!");
    assert!(codes(&v).contains(&"contains_personal_info"), "{v:?}");
    // The message explains without revealing the list.
    assert_eq!(
        Reason::OrganisationTerm.message(),
        "Contains a word associated with this organisation."
    );
}

#[test]
fn length_rules_follow_nist() {
    let v = check("tiny");
    assert_eq!(v.reasons[0], Reason::TooShort { length: 4, min: 12 });
    assert_eq!(v.reasons[0].message(), "Too short: 4 of 12 characters.");
    // 64 characters and Unicode are fine; composition rules do not exist.
    let long: String = "zebra quilt ".repeat(6).chars().take(64).collect();
    assert!(check(&long).accepted);
    assert!(matches!(
        check(&"x".repeat(300)).reasons[0],
        Reason::TooLong { .. }
    ));
    // 10 KB is refused before any matching.
    assert!(matches!(
        check(&"y".repeat(10_000)).reasons[0],
        Reason::TooLong { .. }
    ));
}

#[test]
fn bad_input() {
    assert_eq!(check("").reasons, vec![Reason::Empty]);
    assert_eq!(check("              ").reasons, vec![Reason::Empty]);
    assert_eq!(
        check("abc\u{0}defghijklmn").reasons,
        vec![Reason::ControlCharacters]
    );
    assert_eq!(
        check("tab\tseparated words here").reasons,
        vec![Reason::ControlCharacters]
    );
    let c = custom();
    let checker = PasswordChecker {
        policy: policy(),
        global: global(),
        custom: &c,
    };
    let v = checker.evaluate_bytes(&UserTerms::default(), &[0x66, 0xff, 0xfe, 0x67]);
    assert_eq!(v.reasons, vec![Reason::InvalidUtf8]);
}

#[test]
fn policy_validation() {
    assert!(PasswordPolicy::default().validate().is_ok());
    let low = PasswordPolicy {
        min_length: 6,
        ..Default::default()
    };
    assert_eq!(low.validate(), Err(PolicyError::MinLengthTooLow));
    let short_max = PasswordPolicy {
        max_length: 32,
        ..Default::default()
    };
    assert_eq!(short_max.validate(), Err(PolicyError::MaxLengthTooLow));
}

#[test]
fn policy_substitutions_round_trip_as_strings() {
    let p = PasswordPolicy::default();
    let j = serde_json::to_value(&p).unwrap();
    assert_eq!(j["substitutions"]["0"], "o");
    let back: PasswordPolicy = serde_json::from_value(j).unwrap();
    assert_eq!(back, p);
    let bad = serde_json::from_str::<PasswordPolicy>(r#"{"substitutions": {"ab": "c"}}"#);
    assert!(bad.unwrap_err().to_string().contains("single characters"));
}

#[test]
fn verdict_json_shape() {
    let v = check("password");
    let j = serde_json::to_value(&v).unwrap();
    assert_eq!(j["accepted"], false);
    assert_eq!(j["reasons"][0]["code"], "too_short");
}

// --- properties -------------------------------------------------------------------------

fn term_strategy() -> impl Strategy<Value = String> {
    (0..global().len()).prop_map(|i| global().term(i as u32))
}

const LEET: [(char, char); 8] = [
    ('o', '0'),
    ('l', '1'),
    ('s', '$'),
    ('a', '@'),
    ('e', '3'),
    ('t', '7'),
    ('i', '!'),
    ('b', '8'),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_banned_term_is_refused(t in term_strategy()) {
        prop_assert!(!check(&t).accepted);
    }

    #[test]
    fn edit_distance_one_variants_are_refused(t in term_strategy(), pos in any::<prop::sample::Index>(), c in "[a-z0-9]", op in 0u8..3) {
        let mut chars: Vec<char> = t.chars().collect();
        let i = pos.index(chars.len());
        let ch = c.chars().next().unwrap();
        match op {
            0 => chars[i] = ch,
            1 => chars.insert(i, ch),
            _ => { chars.remove(i); }
        }
        let v: String = chars.into_iter().collect();
        prop_assert!(!check(&v).accepted, "{} -> {}", t, v);
    }

    #[test]
    fn substitution_and_case_variants_are_refused(t in term_strategy(), mask in any::<u64>()) {
        let v: String = t.chars().enumerate().map(|(i, c)| {
            let bit = (mask >> (i % 64)) & 1 == 1;
            match LEET.iter().find(|(l, _)| *l == c) {
                Some((_, d)) if bit => *d,
                _ if bit => c.to_ascii_uppercase(),
                _ => c,
            }
        }).collect();
        prop_assert!(!check(&v).accepted, "{} -> {}", t, v);
    }

    #[test]
    fn appending_digits_or_symbols_does_not_lift_a_short_password(t in term_strategy(), tail in "[0-9!@#$%^&*?.]{0,8}", front in "[0-9!#]{0,2}") {
        let pw = format!("{front}{t}{tail}");
        prop_assume!(pw.chars().count() <= 16);
        prop_assert!(!check(&pw).accepted, "{}", pw);
    }

    #[test]
    fn random_twenty_character_passwords_are_accepted(pw in "[!-~]{20}") {
        let v = check(&pw);
        prop_assert!(v.accepted, "{} {:?}", pw, v);
    }

    #[test]
    fn random_five_word_passphrases_are_accepted(words in prop::collection::vec(prop::sample::select(&WORDS[..]), 5), sep in prop::sample::select(&[" ", "-", ".", "_"][..])) {
        let pw = words.join(sep);
        let v = check(&pw);
        prop_assert!(v.accepted, "{} {:?}", pw, v);
    }
}

const WORDS: [&str; 40] = [
    "quasar", "tundra", "walnut", "zephyr", "mosaic", "lantern", "gravel", "pigment", "nectar",
    "saddle", "thimble", "orchid", "ferret", "velvet", "cobalt", "marble", "trellis", "harbor",
    "juniper", "quill", "raven", "sprocket", "tandem", "umbra", "vortex", "wicket", "yodel",
    "almanac", "bramble", "cinder", "dapple", "embers", "fjord", "glacier", "hazel", "igloo",
    "jostle", "kettle", "lichen", "meadow",
];
