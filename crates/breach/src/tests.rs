#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

fn sha1_hex(pw: &str) -> String {
    let d: [u8; 20] = sha1::Sha1::digest(pw.as_bytes()).into();
    d.iter().map(|b| format!("{b:02X}")).collect()
}

/// A HIBP-style file: the given passwords with counts, plus `n` filler hashes, sorted.
fn hibp(passwords: &[(&str, u64)], n: u64) -> String {
    let mut lines: Vec<String> = passwords
        .iter()
        .map(|(p, c)| format!("{}:{c}", sha1_hex(p)))
        .collect();
    for i in 0..n {
        lines.push(format!(
            "{}:{}",
            sha1_hex(&format!("filler-{i}")),
            1 + i % 50
        ));
    }
    lines.sort();
    lines.join("\r\n") + "\r\n"
}

#[test]
fn import_and_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("breached.filter");
    let text = hibp(&[("P@ssw0rd", 100_000), ("rare one", 1)], 200_000);
    let mut calls = 0;
    let stats = import(text.as_bytes(), &out, 2, |_| calls += 1).unwrap();
    assert!(calls >= 1);
    assert_eq!(stats.lines, 200_002);
    assert!(stats.below_threshold > 0);
    let f = BreachFilter::load(&out).unwrap();
    assert_eq!(f.threshold, 2);
    assert!(f.contains_password("P@ssw0rd"));
    assert!(
        !f.contains_password("rare one"),
        "below the count threshold"
    );
    // Every kept filler is found (no false negatives).
    for i in (0..200_000u64).filter(|i| 1 + i % 50 >= 2).step_by(997) {
        assert!(f.contains_password(&format!("filler-{i}")));
    }
    // False positives are rare (~1/256).
    let fp = (0..20_000)
        .filter(|i| f.contains_password(&format!("never-{i}")))
        .count();
    assert!(fp < 200, "false positives: {fp}");
    // Compact. With ~780 keys per shard a binary fuse filter needs ~1.5 bytes per key; at
    // Pwned Passwords scale (hundreds of thousands per shard) the factor falls to ~1.13.
    let per = f.fingerprint_bytes() as f64 / stats.hashes as f64;
    assert!(per < 1.6, "{per} bytes per hash");
}

#[test]
fn plain_sha1_lines_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f");
    let mut lines = [sha1_hex("hunter2").to_lowercase(), sha1_hex("letmein")];
    lines.sort_by_key(|l| l.to_uppercase());
    import((lines.join("\n") + "\n").as_bytes(), &out, 10, |_| {}).unwrap();
    let f = BreachFilter::load(&out).unwrap();
    assert!(f.contains_password("hunter2"));
    assert!(f.contains_password("letmein"));
}

#[test]
fn bad_lines_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f");
    let bad = format!("{}:3\nnot-a-hash:4\n", sha1_hex("a"));
    let e = import(bad.as_bytes(), &out, 1, |_| {}).unwrap_err();
    assert!(e.to_string().starts_with("line 2:"), "{e}");
    let bad = format!("{}:many\n", sha1_hex("a"));
    assert!(
        import(bad.as_bytes(), &out, 1, |_| {})
            .unwrap_err()
            .to_string()
            .contains("not a number")
    );
    let mut two = [sha1_hex("a"), sha1_hex("b")];
    two.sort();
    two.reverse();
    let e = import((two.join("\n") + "\n").as_bytes(), &out, 1, |_| {}).unwrap_err();
    assert!(matches!(e, BreachError::Unsorted { line: 2 }), "{e}");
    assert!(!out.exists(), "a failed import writes nothing");
}

#[test]
fn empty_input_gives_an_empty_filter() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f");
    let s = import(&b""[..], &out, 1, |_| {}).unwrap();
    assert_eq!(s.hashes, 0);
    let f = BreachFilter::load(&out).unwrap();
    assert!(!f.contains_password("anything"));
}

#[test]
fn corrupt_or_truncated_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f");
    import(hibp(&[("x", 5)], 5_000).as_bytes(), &out, 1, |_| {}).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    assert!(BreachFilter::from_bytes(&bytes).is_ok());
    let truncated = &bytes[..bytes.len() - 10];
    assert!(matches!(
        BreachFilter::from_bytes(truncated),
        Err(BreachError::Corrupt(_))
    ));
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0xff;
    assert!(
        BreachFilter::from_bytes(&flipped)
            .unwrap_err()
            .to_string()
            .contains("checksum")
    );
    assert!(BreachFilter::from_bytes(b"hello").is_err());
    assert!(matches!(
        BreachFilter::load(&dir.path().join("missing")),
        Err(BreachError::Io { .. })
    ));
}
