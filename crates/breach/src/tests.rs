#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use std::path::PathBuf;

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

fn out_path() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("breached.filter");
    (dir, out)
}

fn import_str(text: &str, out: &Path, threshold: u64) -> Result<ImportStats, BreachError> {
    import(text.as_bytes(), out, threshold, |_| {})
}

#[test]
fn import_and_lookup() {
    let (_dir, out) = out_path();
    let text = hibp(&[("P@ssw0rd", 100_000), ("rare one", 1)], 1_200_000);
    let mut calls = vec![];
    let stats = import(text.as_bytes(), &out, 2, |s| calls.push(*s)).unwrap();
    // Progress: once per million lines, then the final figures.
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].lines, 1_000_000);
    assert_eq!(*calls.last().unwrap(), stats);
    assert_eq!(stats.lines, 1_200_002);
    assert_eq!(stats.bytes, text.len() as u64);
    assert_eq!(stats.below_threshold, 1 + 1_200_000 / 50);
    assert_eq!(stats.hashes, 1_200_002 - stats.below_threshold);
    assert_eq!(stats.filter_bytes, std::fs::metadata(&out).unwrap().len());
    let f = BreachFilter::load(&out).unwrap();
    assert_eq!(f.threshold, 2);
    assert_eq!(f.hashes, stats.hashes);
    assert!(f.contains_password("P@ssw0rd"));
    assert!(
        !f.contains_password("rare one"),
        "below the count threshold"
    );
    // Every kept filler is found (no false negatives).
    for i in (0..1_200_000u64).filter(|i| 1 + i % 50 >= 2).step_by(101) {
        assert!(f.contains_password(&format!("filler-{i}")), "{i}");
    }
    // False positives: about 1/256 (0.39 %): between 0.2 % and 0.6 % of 100,000 misses.
    let fp = (0..100_000)
        .filter(|i| f.contains_password(&format!("never-{i}")))
        .count();
    assert!((200..600).contains(&fp), "false positives: {fp}");
    // Compact: with ~4,600 keys per shard a binary fuse filter needs ~1.34 bytes per key; at
    // Pwned Passwords scale (millions per shard) the factor falls to ~1.13 (docs/benchmarks.md).
    let per = f.bytes_per_hash();
    assert!(per < 1.4, "{per} bytes per hash");
    assert!(stats.bytes_per_hash() < per + 0.01);
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("breached.filter")]);
}

#[test]
fn threshold_decides_what_is_kept() {
    let text = hibp(
        &[("seen once", 1), ("seen ten times", 10), ("seen 11", 11)],
        0,
    );
    for (threshold, once, ten, eleven) in [
        (0, true, true, true),
        (1, true, true, true),
        (10, false, true, true),
        (11, false, false, true),
        (12, false, false, false),
    ] {
        let (_dir, out) = out_path();
        let stats = import_str(&text, &out, threshold).unwrap();
        let f = BreachFilter::load(&out).unwrap();
        assert_eq!(f.contains_password("seen once"), once, "{threshold}");
        assert_eq!(f.contains_password("seen ten times"), ten, "{threshold}");
        assert_eq!(f.contains_password("seen 11"), eleven, "{threshold}");
        assert_eq!(
            stats.hashes,
            [once, ten, eleven].iter().filter(|x| **x).count() as u64
        );
    }
}

#[test]
fn plain_sha1_lines_mixed_case_and_duplicates() {
    let (_dir, out) = out_path();
    let mut lines = vec![
        sha1_hex("hunter2").to_lowercase(),
        sha1_hex("letmein"),
        format!("  {}:5  ", sha1_hex("dragon")),
    ];
    lines.sort_by_key(|l| l.trim().to_uppercase());
    let dup = lines[1].clone();
    lines.insert(1, dup);
    lines.insert(0, String::new());
    let stats = import_str(&(lines.join("\n") + "\n"), &out, 1_000).unwrap();
    // Plain SHA-1 lines have no count: they are kept whatever the threshold.
    let f = BreachFilter::load(&out).unwrap();
    assert!(f.contains_password("hunter2"));
    assert!(f.contains_password("letmein"));
    assert!(!f.contains_password("dragon"), "count 5 is below 1,000");
    assert_eq!(stats.hashes, 2);
    assert_eq!(stats.lines, 5);
}

#[test]
fn bad_lines_name_the_line() {
    let (_dir, out) = out_path();
    let bad = format!("{}:3\r\nnot-a-hash:4\r\n", sha1_hex("a"));
    let e = import_str(&bad, &out, 1).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("line 2: expected a 40-character hexadecimal SHA-1"),
        "{e}"
    );
    assert!(e.to_string().contains("not-a-hash:4"), "{e}");
    let bad = format!("\n\n{}:many\n", sha1_hex("a"));
    let e = import_str(&bad, &out, 1).unwrap_err();
    assert!(matches!(e, BreachError::BadLine { line: 3, .. }), "{e}");
    assert!(e.to_string().contains("not a whole number"), "{e}");
    let mut two = [sha1_hex("a"), sha1_hex("b")];
    two.sort();
    two.reverse();
    let e = import_str(&(two.join("\n") + "\n"), &out, 1).unwrap_err();
    assert!(matches!(e, BreachError::Unsorted { line: 2 }), "{e}");
    assert!(e.to_string().contains("sort"), "{e}");
    // Invalid UTF-8 is a bad line, not a crash.
    let e = import(&b"\xff\xfe:1\n"[..], &out, 1, |_| {}).unwrap_err();
    assert!(matches!(e, BreachError::BadLine { line: 1, .. }), "{e}");
    assert!(!out.exists(), "a failed import writes nothing");
    assert_eq!(
        std::fs::read_dir(out.parent().unwrap()).unwrap().count(),
        0,
        "no temporary file left behind"
    );
}

#[test]
fn a_failed_import_keeps_the_previous_filter() {
    let (_dir, out) = out_path();
    import_str(&hibp(&[("old", 5)], 100), &out, 1).unwrap();
    let before = std::fs::read(&out).unwrap();
    let bad = hibp(&[("new", 5)], 100) + "garbage\n";
    assert!(import_str(&bad, &out, 1).is_err());
    assert_eq!(std::fs::read(&out).unwrap(), before);
    assert!(BreachFilter::load(&out).unwrap().contains_password("old"));
}

#[test]
fn empty_input_gives_an_empty_filter() {
    let (_dir, out) = out_path();
    let s = import(&b""[..], &out, 1, |_| {}).unwrap();
    assert_eq!(s.hashes, 0);
    assert_eq!(s.lines, 0);
    let f = BreachFilter::load(&out).unwrap();
    assert_eq!(f.hashes, 0);
    assert!(!f.contains_password("anything"));
    assert_eq!(f.bytes_per_hash(), 0.0);
    assert!(!BreachFilter::empty().contains_password("anything"));
}

#[test]
fn corrupt_or_truncated_files_are_refused() {
    let (dir, out) = out_path();
    import_str(&hibp(&[("x", 5)], 5_000), &out, 1).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    assert!(
        BreachFilter::from_bytes(&bytes)
            .unwrap()
            .contains_password("x")
    );
    let err = |b: &[u8]| BreachFilter::from_bytes(b).unwrap_err().to_string();
    // Truncated anywhere: in the header, in a shard table, in fingerprints.
    for cut in [0, 10, 63, 64, 70, 200, bytes.len() / 2, bytes.len() - 1] {
        let e = err(&bytes[..cut]);
        assert!(
            e.contains("truncated") || e.contains("too short"),
            "{cut}: {e}"
        );
    }
    // A flipped bit anywhere is caught.
    for pos in [20, 30, 40, bytes.len() / 3, bytes.len() - 1] {
        let mut flipped = bytes.clone();
        flipped[pos] ^= 0x01;
        assert!(BreachFilter::from_bytes(&flipped).is_err(), "{pos}");
    }
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0xff;
    assert!(err(&flipped).contains("checksum"));
    // Trailing data, another file type, an older version.
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(err(&longer).contains("trailing"));
    assert!(err(b"hello").contains("too short"));
    assert!(err(&[b'x'; 100]).contains("magic"));
    let mut v1 = bytes.clone();
    v1[8] = 1;
    assert!(err(&v1).contains("version 1"));
    // The same checks apply to files on disk; a missing file is an I/O error.
    let bad = dir.path().join("bad");
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(
        BreachFilter::load(&bad),
        Err(BreachError::Corrupt(_))
    ));
    assert!(matches!(
        BreachFilter::load(&dir.path().join("missing")),
        Err(BreachError::Io { .. })
    ));
}

#[test]
fn a_crafted_descriptor_cannot_cause_out_of_bounds_reads() {
    // Rewrite a shard's descriptor to claim a larger table, then fix the checksum as an
    // attacker could: the structural check still refuses it.
    let (_dir, out) = out_path();
    import_str(&hibp(&[], 3_000), &out, 1).unwrap();
    let mut bytes = std::fs::read(&out).unwrap();
    let first = format::HEADER_LEN;
    assert_ne!(bytes[first..first + 8], [0u8; 8], "shard 0 has keys");
    // segment_count_length of shard 0's descriptor.
    let scl = first + 8 + 16;
    bytes[scl..scl + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut sum = sha2::Sha256::new();
    sum.update(&bytes[64..]);
    sum.update(&bytes[..32]);
    let digest = sum.finalize();
    bytes[32..64].copy_from_slice(&digest);
    let e = BreachFilter::from_bytes(&bytes).unwrap_err().to_string();
    assert!(e.contains("descriptor"), "{e}");
}

#[test]
fn lookups_by_digest_match_lookups_by_password() {
    let (_dir, out) = out_path();
    import_str(&hibp(&[("correct horse", 3)], 1_000), &out, 1).unwrap();
    let f = BreachFilter::load(&out).unwrap();
    let d: [u8; 20] = sha1::Sha1::digest(b"correct horse").into();
    assert!(f.contains_sha1(&d));
    assert!(f.contains_password("correct horse"));
    // The hash is of the exact bytes: case matters.
    assert!(!f.contains_password("Correct horse") || !f.contains_password("correct Horse"));
    assert!(format!("{f:?}").contains("hashes: 1001"));
}
