//! The device's posture as the agent reads it from the system (Linux). Each setting is read
//! by a small function over a file or a command's output; the parsing is pure (and tested
//! with real-looking fixtures). A setting that does not apply (no such tool or file) is
//! `not_applicable`; a probe that fails reports its error. Commands time out after 5 s.

pub mod parse;

use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs a command for at most five seconds; `None` when it is not installed.
fn run(cmd: &str, args: &[&str]) -> Option<Result<String, String>> {
    let mut child = match Command::new(cmd)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => return Some(Err(format!("{cmd}: {e}"))),
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Some(Err(format!("{cmd} did not answer within 5 s")));
            }
            Err(e) => return Some(Err(format!("{cmd}: {e}"))),
        }
    }
    match child.wait_with_output() {
        Ok(o) => Some(Ok(String::from_utf8_lossy(&o.stdout).into_owned())),
        Err(e) => Some(Err(format!("{cmd}: {e}"))),
    }
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn observation(setting: &str, r: Option<Result<Value, String>>) -> Value {
    match r {
        None => json!({ "setting": setting, "value": "not_applicable" }),
        Some(Ok(v)) => json!({ "setting": setting, "value": v }),
        Some(Err(e)) => json!({ "setting": setting, "value": "not_applicable", "error": e }),
    }
}

fn flag(b: bool) -> Value {
    json!({ "bool": b })
}

/// The posture report (the documented JSON of `docs/device-protocol.md`).
pub fn collect() -> Value {
    let os = read("/etc/os-release")
        .map(|t| parse::os_release(&t))
        .unwrap_or_default();
    let kernel = read("/proc/sys/kernel/osrelease").map(|k| k.trim().to_string());
    let hostname = read("/proc/sys/kernel/hostname").map(|h| h.trim().to_string());
    let dmi = |f: &str| read(&format!("/sys/class/dmi/id/{f}")).map(|v| v.trim().to_string());
    let disk = run("lsblk", &["-J", "-o", "NAME,TYPE,MOUNTPOINTS"])
        .map(|r| r.and_then(|t| parse::root_on_crypt(&t)).map(flag));
    let firewall = match run("nft", &["list", "ruleset"]) {
        Some(Ok(t)) => Some(Ok(flag(parse::nft_active(&t)))),
        other => run("ufw", &["status"])
            .map(|r| r.map(|t| flag(parse::ufw_active(&t))))
            .or(other.map(|r| r.map(|_| flag(false)))),
    };
    let secure_boot =
        run("mokutil", &["--sb-state"]).map(|r| r.map(|t| flag(parse::mokutil_enabled(&t))));
    let updates = read("/etc/apt/apt.conf.d/20auto-upgrades")
        .map(|t| Ok(flag(parse::unattended_upgrades(&t))));
    let ssh = read("/etc/ssh/sshd_config").map(|main| {
        let mut texts = vec![main];
        if let Ok(dir) = std::fs::read_dir("/etc/ssh/sshd_config.d") {
            let mut extra: Vec<_> = dir
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "conf"))
                .collect();
            extra.sort();
            // sshd reads the Include at the top of sshd_config first: first match wins.
            let mut included: Vec<String> = extra
                .iter()
                .filter_map(|p| std::fs::read_to_string(p).ok())
                .collect();
            included.append(&mut texts);
            texts = included;
        }
        // The observed value: whether root may log in over SSH.
        Ok(flag(!parse::root_login_disabled(&texts)))
    });
    let processes = std::fs::read_dir("/proc").ok().map(|d| {
        let mut names: Vec<String> = d
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .chars()
                    .all(|c| c.is_ascii_digit())
            })
            .filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok())
            .map(|s| s.trim().to_string())
            .collect();
        names.sort();
        names.dedup();
        names.truncate(4096);
        Ok(json!({ "names": names }))
    });
    let os_version = os.version_id.clone().map(|v| Ok(json!({ "version": v })));
    json!({
        "platform": "linux",
        "os_name": os.name,
        "os_version": os.version_id,
        "kernel": kernel,
        "hostname": hostname,
        "manufacturer": dmi("sys_vendor"),
        "model": dmi("product_name"),
        "collected_at": time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .ok(),
        "observations": [
            observation("os_version", os_version),
            observation("disk_encryption", disk),
            observation("firewall_active", firewall),
            observation("secure_boot", secure_boot),
            observation("automatic_security_updates", updates),
            observation("ssh_root_login", ssh),
            observation("running_processes", processes),
        ],
    })
}
