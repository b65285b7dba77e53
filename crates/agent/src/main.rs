//! `trustplane-agent`: registers this device with trustplane (device authorization grant and
//! a certificate from the installation's device CA), reports its posture signed with the
//! device key, enrolls it in management, renews its certificate and unregisters it.
//! Linux only; other platforms may submit the documented JSON report through the API.

mod client;
mod posture;
mod state;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "trustplane-agent", version, about)]
struct Cli {
    /// The state directory (device key, certificate, registration).
    #[arg(
        long,
        env = "TRUSTPLANE_AGENT_STATE",
        default_value = "/var/lib/trustplane-agent"
    )]
    state_dir: PathBuf,
    /// A PEM CA certificate to trust for the server besides the system's (private CAs, tests).
    #[arg(long, global = true)]
    server_ca: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Register this device: approve the code shown in a browser, then the device gets its
    /// certificate.
    Register {
        /// The trustplane server (its public URL).
        #[arg(long)]
        server: String,
        /// The device's name (default: the host name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Show the registration and the certificate's validity.
    Status,
    /// Collect the posture and send it (or only print it).
    Report {
        #[arg(long)]
        print: bool,
    },
    /// Enroll the device in management.
    Enroll,
    /// Unregister the device and delete its key.
    Unregister,
    /// Report on an interval and when the posture changes; renew the certificate in time.
    Run {
        /// Seconds between reports.
        #[arg(long, default_value_t = 900)]
        interval: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !cfg!(target_os = "linux") {
        eprintln!(
            "trustplane-agent supports Linux only; other platforms can submit the documented \
             JSON report through the API (docs/device-protocol.md)"
        );
        return ExitCode::from(2);
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let dir = state::StateDir(cli.state_dir.clone());
    let extra_ca = match &cli.server_ca {
        Some(p) => Some(
            std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?,
        ),
        None => None,
    };
    match cli.command {
        Cmd::Register { server, name } => register(&dir, &server, name, extra_ca.as_deref()).await,
        Cmd::Status => {
            status(&dir)?;
            let n = fetch_profiles(&dir, extra_ca.as_deref()).await?;
            println!(
                "configuration profiles assigned: {n} (in {})",
                dir.0.join("profiles.json").display()
            );
            Ok(())
        }
        Cmd::Report { print: true } => {
            println!(
                "{}",
                serde_json::to_string_pretty(&posture::collect()).unwrap_or_default()
            );
            Ok(())
        }
        Cmd::Report { print: false } => report(&dir, extra_ca.as_deref(), true).await.map(|_| ()),
        Cmd::Enroll => enroll(&dir, extra_ca.as_deref()).await,
        Cmd::Unregister => unregister(&dir, extra_ca.as_deref()).await,
        Cmd::Run { interval } => daemon(&dir, extra_ca.as_deref(), interval).await,
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "linux device".into())
}

fn key_der(pem: &str) -> Result<Vec<u8>, String> {
    let key =
        rcgen::KeyPair::from_pem(pem).map_err(|_| "the device key is unreadable".to_string())?;
    Ok(key.serialize_der())
}

async fn register(
    dir: &state::StateDir,
    server: &str,
    name: Option<String>,
    extra_ca: Option<&str>,
) -> Result<(), String> {
    if let Some(r) = dir.registration()? {
        return Err(format!(
            "this device is already registered with {} as {}; run unregister first",
            r.server, r.device_id
        ));
    }
    dir.create()?;
    let client = client::Client::new(server, extra_ca)?;
    let token = client
        .device_grant(|d| {
            println!(
                "To register this device, open {} and enter the code {}",
                d["verification_uri"].as_str().unwrap_or_default(),
                d["user_code"].as_str().unwrap_or_default()
            );
            if let Some(u) = d["verification_uri_complete"].as_str() {
                println!("(or open {u})");
            }
            use std::io::Write;
            let _ = std::io::stdout().flush();
        })
        .await?;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|_| "cannot generate the device key".to_string())?;
    let host = hostname();
    let csr = rcgen::CertificateParams::new(vec![host.clone()])
        .and_then(|p| p.serialize_request(&key))
        .and_then(|c| c.pem())
        .map_err(|e| format!("cannot make the certificate request: {e}"))?;
    let report = posture::collect();
    let body = serde_json::json!({
        "csr_pem": csr,
        "display_name": name.unwrap_or_else(|| host.clone()),
        "platform": "linux",
        "os_version": report["os_version"],
        "hostname": host,
        "manufacturer": report["manufacturer"],
        "model": report["model"],
    });
    // The key is on disk (0600) before the server knows it: a crash after registration
    // never leaves a certificate without its key.
    dir.save_key(&key.serialize_pem())?;
    let v = client.register(&token, &body).await?;
    let cert = v["certificate_pem"]
        .as_str()
        .ok_or("no certificate in the answer")?;
    state::write_atomic(&dir.cert(), cert.as_bytes(), 0o644)?;
    state::write_atomic(
        &dir.ca(),
        v["ca_pem"].as_str().unwrap_or_default().as_bytes(),
        0o644,
    )?;
    let id = v["device_id"]
        .as_str()
        .ok_or("no device id in the answer")?;
    dir.save_registration(&state::Registration {
        server: client.server.clone(),
        device_id: id.to_string(),
        not_after: v["not_after"].as_i64().unwrap_or(0),
        last_report_hash: None,
    })?;
    println!(
        "Registered as {id}; certificate in {}",
        dir.cert().display()
    );
    Ok(())
}

fn registered(dir: &state::StateDir) -> Result<state::Registration, String> {
    dir.registration()?
        .ok_or_else(|| "this device is not registered; run register --server URL".to_string())
}

fn status(dir: &state::StateDir) -> Result<(), String> {
    let r = registered(dir)?;
    dir.load_key()?;
    let left = r.not_after - time::OffsetDateTime::now_utc().unix_timestamp();
    println!("server: {}\ndevice: {}", r.server, r.device_id);
    println!(
        "certificate: {} (valid {} more days)",
        dir.cert().display(),
        left / 86_400
    );
    Ok(())
}

/// Sends the posture; returns whether it was sent (`force`, or it changed since the last one).
async fn report(
    dir: &state::StateDir,
    extra_ca: Option<&str>,
    force: bool,
) -> Result<bool, String> {
    use sha2::Digest;
    let mut r = registered(dir)?;
    let key = key_der(&dir.load_key()?)?;
    let posture = posture::collect();
    let mut stable = posture.clone();
    stable["collected_at"] = serde_json::Value::Null;
    let hash = hex::encode(sha2::Sha256::digest(stable.to_string()));
    if !force && r.last_report_hash.as_deref() == Some(hash.as_str()) {
        return Ok(false);
    }
    let client = client::Client::new(&r.server, extra_ca)?;
    let path = format!("/api/v1/devices/{}/reports", r.device_id);
    let (status, v) = client
        .signed(
            &key,
            &r.device_id,
            reqwest::Method::POST,
            &path,
            Some(&posture),
        )
        .await?;
    if status != reqwest::StatusCode::ACCEPTED {
        return Err(format!(
            "the report was refused ({status}): {}",
            v["message"].as_str().unwrap_or_default()
        ));
    }
    println!(
        "compliance: {}",
        v["compliance"].as_str().unwrap_or("unknown")
    );
    for reason in v["reasons"].as_array().into_iter().flatten() {
        println!("  - {}", reason["message"].as_str().unwrap_or_default());
    }
    r.last_report_hash = Some(hash);
    dir.save_registration(&r)?;
    Ok(true)
}

async fn enroll(dir: &state::StateDir, extra_ca: Option<&str>) -> Result<(), String> {
    let r = registered(dir)?;
    let key = key_der(&dir.load_key()?)?;
    let client = client::Client::new(&r.server, extra_ca)?;
    let path = format!("/api/v1/devices/{}/enroll", r.device_id);
    let (status, v) = client
        .signed(&key, &r.device_id, reqwest::Method::POST, &path, None)
        .await?;
    if !status.is_success() {
        return Err(format!(
            "enrollment was refused ({status}): {}",
            v["message"].as_str().unwrap_or_default()
        ));
    }
    println!("enrolled: this device is managed");
    Ok(())
}

async fn unregister(dir: &state::StateDir, extra_ca: Option<&str>) -> Result<(), String> {
    let r = registered(dir)?;
    let key = key_der(&dir.load_key()?)?;
    let client = client::Client::new(&r.server, extra_ca)?;
    let path = format!("/api/v1/devices/{}", r.device_id);
    let (status, v) = client
        .signed(&key, &r.device_id, reqwest::Method::DELETE, &path, None)
        .await?;
    if status != reqwest::StatusCode::NO_CONTENT {
        return Err(format!(
            "unregistration was refused ({status}): {}",
            v["message"].as_str().unwrap_or_default()
        ));
    }
    dir.remove_all()?;
    println!("unregistered; the device key was deleted");
    Ok(())
}

/// A new key and certificate when less than 30 days remain, proven with the current key.
async fn renew_if_due(dir: &state::StateDir, extra_ca: Option<&str>) -> Result<(), String> {
    let mut r = registered(dir)?;
    if r.not_after - time::OffsetDateTime::now_utc().unix_timestamp() > 30 * 86_400 {
        return Ok(());
    }
    let current = key_der(&dir.load_key()?)?;
    let fresh = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|_| "cannot generate a key".to_string())?;
    let csr = rcgen::CertificateParams::new(vec![hostname()])
        .and_then(|p| p.serialize_request(&fresh))
        .and_then(|c| c.pem())
        .map_err(|e| format!("cannot make the certificate request: {e}"))?;
    let client = client::Client::new(&r.server, extra_ca)?;
    let path = format!("/api/v1/devices/{}/renew", r.device_id);
    let (status, v) = client
        .signed(
            &current,
            &r.device_id,
            reqwest::Method::POST,
            &path,
            Some(&serde_json::json!({ "csr_pem": csr })),
        )
        .await?;
    if !status.is_success() {
        return Err(format!(
            "renewal was refused ({status}): {}",
            v["message"].as_str().unwrap_or_default()
        ));
    }
    dir.save_key(&fresh.serialize_pem())?;
    state::write_atomic(
        &dir.cert(),
        v["certificate_pem"].as_str().unwrap_or_default().as_bytes(),
        0o644,
    )?;
    r.not_after = v["not_after"].as_i64().unwrap_or(r.not_after);
    dir.save_registration(&r)?;
    println!("certificate renewed");
    Ok(())
}

/// Fetches the configuration profiles assigned to this device into `profiles.json` (what the
/// server will judge the next reports against; the agent does not change the system).
async fn fetch_profiles(dir: &state::StateDir, extra_ca: Option<&str>) -> Result<usize, String> {
    let r = registered(dir)?;
    let key = key_der(&dir.load_key()?)?;
    let client = client::Client::new(&r.server, extra_ca)?;
    let path = format!("/api/v1/devices/{}/profiles", r.device_id);
    let (status, v) = client
        .signed(&key, &r.device_id, reqwest::Method::GET, &path, None)
        .await?;
    if !status.is_success() {
        return Err(format!(
            "profiles were refused ({status}): {}",
            v["message"].as_str().unwrap_or_default()
        ));
    }
    let profiles = v["profiles"].clone();
    let n = profiles.as_array().map_or(0, Vec::len);
    let json = serde_json::to_vec_pretty(&profiles).map_err(|e| e.to_string())?;
    state::write_atomic(&dir.0.join("profiles.json"), &json, 0o644)?;
    Ok(n)
}

async fn daemon(
    dir: &state::StateDir,
    extra_ca: Option<&str>,
    interval: u64,
) -> Result<(), String> {
    registered(dir)?;
    let mut last_full = std::time::Instant::now() - std::time::Duration::from_secs(interval);
    loop {
        if let Err(e) = renew_if_due(dir, extra_ca).await {
            eprintln!("warning: {e}");
        }
        if let Err(e) = fetch_profiles(dir, extra_ca).await {
            eprintln!("warning: {e}");
        }
        let due = last_full.elapsed().as_secs() >= interval;
        match report(dir, extra_ca, due).await {
            Ok(true) if due => last_full = std::time::Instant::now(),
            Ok(_) => {}
            Err(e) => eprintln!("warning: {e}"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(60.min(interval.max(1)))).await;
    }
}
