//! The real `trustplane-agent` binary, run as a process against a running server: it registers
//! through the device grant (approved by the user over HTTP, as a browser would), keeps its
//! key private, gets a certificate `openssl verify` accepts, reports its real posture, enrolls,
//! refuses a key others can read, and unregisters.

use crate::harness::*;
use std::io::BufRead;
use std::process::{Command, Stdio};

fn agent_bin() -> std::path::PathBuf {
    // target/debug/deps/it-… → target/debug/trustplane-agent (built by the workspace test run:
    // the agent's own tests need it).
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("trustplane-agent");
    assert!(
        bin.exists(),
        "{} is missing: build it with cargo build -p trustplane-agent (the workspace test run does)",
        bin.display()
    );
    bin
}

fn agent(state: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(agent_bin())
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .output()
        .unwrap()
}

/// Runs the agent off the async workers (the server answers meanwhile).
async fn agent_async(state: &std::path::Path, args: &[&'static str]) -> std::process::Output {
    let (state, args) = (state.to_path_buf(), args.to_vec());
    tokio::task::spawn_blocking(move || agent(&state, &args))
        .await
        .unwrap()
}

/// Runs the agent (as `agent_async`), which must succeed.
async fn agent_ok(state: &std::path::Path, args: &[&'static str]) -> std::process::Output {
    let out = agent_async(state, args).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `agent register` against the server, with `user` approving the code it shows in a
/// browser; the agent must succeed.
async fn register_as(s: &TestServer, user: &str, state: &std::path::Path) {
    let mut child = Command::new(agent_bin())
        .arg("--state-dir")
        .arg(state)
        .args([
            "register",
            "--server",
            s.base.as_str(),
            "--name",
            "Ada's laptop",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let code = tokio::task::spawn_blocking(move || {
        let mut lines = std::io::BufReader::new(stdout).lines();
        let line = lines.next().unwrap().unwrap();
        let code = line.rsplit(' ').next().unwrap().to_string();
        (code, lines)
    })
    .await
    .unwrap();
    let (user_code, rest) = code;
    // The user approves in their browser.
    crate::devices::approve_registration(s, user, &user_code).await;
    let out = tokio::task::spawn_blocking(move || {
        let status = child.wait().unwrap();
        let rest: Vec<String> = rest.map_while(Result::ok).collect();
        (status, rest)
    })
    .await
    .unwrap();
    assert!(out.0.success(), "{:?}", out.1);
    assert!(
        out.1.iter().any(|l| l.starts_with("Registered as ")),
        "{:?}",
        out.1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_agent_registers_reports_enrolls_and_unregisters() {
    let s = TestServer::start().await;
    s.user("ada", &[]).await;
    let state = tempfile::tempdir().unwrap();
    let st = state.path().join("agent");
    register_as(&s, "ada", &st).await;

    // The key is private; the certificate verifies against the published CA.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(st.join("device.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let v = Command::new("openssl")
        .args(["verify", "-purpose", "sslclient", "-CAfile"])
        .arg(st.join("ca.pem"))
        .arg(st.join("device.pem"))
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    let devices = s
        .state
        .store
        .list_devices(&trustplane_store::DeviceQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].display_name, "Ada's laptop");
    let id = devices[0].id;

    // A report of the real system, judged by the server.
    let out = agent_ok(&st, &["report"]).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("compliance: non_compliant"));
    assert!(s.state.store.device_posture(id).await.unwrap().is_some());
    // Status: registered, and the profiles assigned to it fetched (none here).
    let out = agent_ok(&st, &["status"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("configuration profiles assigned: 0"),
        "{text}"
    );
    assert!(st.join("profiles.json").exists());
    // Enrolled: managed.
    agent_ok(&st, &["enroll"]).await;
    let d = s.state.store.get_device(id).await.unwrap().unwrap();
    assert_eq!(d.trust_type.as_str(), "managed");
    // A key file others can read is refused.
    let key_mode = |mode| {
        std::fs::set_permissions(st.join("device.key"), std::fs::Permissions::from_mode(mode))
            .unwrap()
    };
    key_mode(0o644);
    let out = agent_async(&st, &["report"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("accessible to others"));
    key_mode(0o600);
    // Unregistered: gone on the server and on the device.
    agent_ok(&st, &["unregister"]).await;
    assert!(s.state.store.get_device(id).await.unwrap().is_none());
    assert!(!st.join("device.key").exists());
    s.stop().await;
}
