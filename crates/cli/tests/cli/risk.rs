//! `trustplane risk replay`: labelled login attempts through the sign-in risk model.

use crate::support::*;

/// `risk replay` reads the RBA schema, scores every row, reports the separation of takeovers,
/// writes scores for every row, and names the line of a malformed row (writing nothing).
#[test]
fn risk_replay_scores_labelled_traffic_and_names_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let generated = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/risk-traffic.py"
        ))
        .args(["--users", "150", "--days", "30", "--seed", "3"])
        .output()
        .unwrap();
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let csv = d.join("traffic.csv");
    std::fs::write(&csv, &generated.stdout).unwrap();
    let scores = d.join("scores.csv");
    let out = ok(&run(
        d,
        &[
            "risk",
            "replay",
            csv.to_str().unwrap(),
            "--json",
            "--warmup-days",
            "7",
            "--scores-out",
            scores.to_str().unwrap(),
        ],
        None,
    ));
    let v = json(&out);
    let rows = v["rows"].as_u64().unwrap();
    assert!(v["account_takeovers"].as_u64().unwrap() > 0, "{v}");
    assert!(v["roc_auc_takeover"].as_f64().unwrap() > 0.8, "{v}");
    let written = std::fs::read_to_string(&scores).unwrap();
    assert!(written.starts_with("index,score,level,detections\n"));
    assert_eq!(
        written.lines().count() as u64,
        rows + 1,
        "a score for every row"
    );
    // A malformed row: its line is named and no scores file is written.
    let mut text = String::from_utf8(generated.stdout).unwrap();
    text.push_str(
        "99999,not a time,u,,1.2.3.4,DE,-,Berlin,3320,x,Chrome 1,Linux,desktop,True,False,False\n",
    );
    std::fs::write(&csv, text).unwrap();
    let bad_scores = d.join("bad.csv");
    let out = run(
        d,
        &[
            "risk",
            "replay",
            csv.to_str().unwrap(),
            "--scores-out",
            bad_scores.to_str().unwrap(),
        ],
        None,
    );
    let err = refused(&out);
    assert!(err.contains(&format!("line {}", rows + 2)), "{err}");
    assert!(!bad_scores.exists());
}
