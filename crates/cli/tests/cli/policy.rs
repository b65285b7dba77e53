//! `trustplane policy …`: conditional access from the command line: validation, versions,
//! restore, what-if and replay.

use crate::support::*;
use std::path::{Path, PathBuf};

/// `gina` in the group `contractors`, and a policy file blocking contractors outside the
/// office (not saved yet).
fn contractors_policy(d: &Path) -> PathBuf {
    create_user(d, "gina");
    ok(&run(d, &["admin", "group", "create", "contractors"], None));
    ok(&run(
        d,
        &["admin", "group", "add-member", "contractors", "gina"],
        None,
    ));
    let groups = ok(&run(d, &["admin", "group", "list"], None));
    let gid = groups
        .split_whitespace()
        .find(|w| w.len() == 36 && w.matches('-').count() == 4)
        .unwrap_or_else(|| panic!("no group id in {groups}"))
        .to_string();
    let good = d.join("policies.yaml");
    std::fs::write(
        &good,
        format!(
            "policies:\n  - id: block-contractors-abroad\n    name: Block contractors outside the office\n    state: enabled\n    assignments:\n      users:\n        include:\n          groups: [\"{gid}\"]\n      applications:\n        include: all\n    conditions:\n      locations:\n        include: all\n        exclude: all_trusted\n    grant: block\nnamed_locations:\n  - id: office\n    name: Office\n    trusted: true\n    ip_ranges: [\"198.51.100.0/24\"]\n"
        ),
    )
    .unwrap();
    good
}

/// [`contractors_policy`], saved as version 1 with the comment `first`.
fn contractors_policy_saved(d: &Path) -> PathBuf {
    let good = contractors_policy(d);
    let out = ok(&run(
        d,
        &[
            "policy",
            "set",
            good.to_str().unwrap(),
            "--comment",
            "first",
        ],
        None,
    ));
    assert!(out.contains("version 1"), "{out}");
    good
}

#[test]
fn an_invalid_policy_set_is_refused_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    contractors_policy(d);
    // An invalid document is refused with the field named; nothing is saved.
    let bad = d.join("bad.yaml");
    std::fs::write(
        &bad,
        "named_locations:\n  - id: office\n    name: Office\n    trusted: true\n    ip_ranges: [\"10.0.0.0/33\"]\n",
    )
    .unwrap();
    let err = refused(&run(d, &["policy", "set", bad.to_str().unwrap()], None));
    assert!(err.contains("named_locations[0].ip_ranges[0]"), "{err}");
    assert!(ok(&run(d, &["policy", "versions"], None)).trim().is_empty());
}

#[test]
fn policy_sets_are_versioned_and_restored() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    contractors_policy_saved(d);
    let versions = ok(&run(d, &["policy", "versions"], None));
    assert!(versions.contains("first"), "{versions}");
    // Restore makes a new version.
    let out = ok(&run(d, &["policy", "restore", "1"], None));
    assert!(out.contains("as version 2"), "{out}");
    let shown = ok(&run(d, &["policy", "show"], None));
    assert!(shown.contains("block-contractors-abroad"));
}

#[test]
fn what_if_explains_the_decision_for_a_hypothetical_request() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    contractors_policy_saved(d);
    let what_if = |args: &[&str]| {
        let mut all = vec!["policy", "what-if", "--user", "gina"];
        all.extend_from_slice(args);
        run(d, &all, None)
    };
    // What-if: from the office the policy is excluded; from elsewhere, blocked; with no
    // address at all, blocked too (a missing signal never excludes).
    let office = ok(&what_if(&["--ip", "198.51.100.7"]));
    assert!(office.starts_with("decision: allow"), "{office}");
    assert!(
        office.contains("not applied: location_excluded"),
        "{office}"
    );
    let v = json(&ok(&what_if(&["--ip", "203.0.113.9", "--json"])));
    assert_eq!(v["outcome"], "block");
    assert_eq!(v["decision"]["block"]["by"], "block-contractors-abroad");
    let unknown = ok(&what_if(&[]));
    assert!(unknown.starts_with("decision: block"), "{unknown}");
    assert!(refused(&what_if(&["--client", "fax"])).contains("--client"));
}

#[test]
fn a_draft_is_replayed_against_recent_sign_ins() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = contractors_policy_saved(d);
    let replay = |days: &str| {
        let draft = good.to_str().unwrap();
        run(
            d,
            &["policy", "replay", "--draft", draft, "--days", days],
            None,
        )
    };
    // Replay: no sign-ins yet, so nothing to replay (and it says so).
    let out = ok(&replay("7"));
    assert!(out.starts_with("0 sign-ins replayed"), "{out}");
    refused(&replay("400"));
}
