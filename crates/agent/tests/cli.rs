//! The agent binary as an operator runs it without a server (the end-to-end run against a real
//! server is `crates/server/tests/it/agent.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_trustplane-agent");

#[test]
fn report_print_collects_the_documented_posture() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("--state-dir")
        .arg(dir.path())
        .args(["report", "--print"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["platform"], "linux");
    let settings: Vec<&str> = v["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["setting"].as_str().unwrap())
        .collect();
    for s in [
        "os_version",
        "disk_encryption",
        "firewall_active",
        "ssh_root_login",
    ] {
        assert!(settings.contains(&s), "{settings:?}");
    }
}

#[test]
fn commands_need_a_registration_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in ["status", "report", "enroll", "unregister"] {
        let out = Command::new(BIN)
            .arg("--state-dir")
            .arg(dir.path())
            .arg(cmd)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{cmd}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not registered"), "{cmd}: {err}");
    }
    let out = Command::new(BIN)
        .arg("--state-dir")
        .arg(dir.path())
        .args(["register", "--server", "ftp://example.com"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("http(s) URL"));
}
