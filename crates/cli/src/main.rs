//! `trustplane`: the server and its administration commands.
//!
//! Admin commands work directly on the configured database; they are safe while the server
//! runs (SQLite in WAL mode serialises writers, PostgreSQL is transactional), and every change
//! they make is audited with the operating-system user as the actor.
//!
//! This file holds the command line's top level, the dispatch and the helpers the command
//! groups share; each group (its clap definitions and handlers) has its own module.

mod admin;
mod apps;
mod audit;
mod breach;
mod devices;
mod oidc;
mod password;
mod policy;
mod risk;
mod serve;
mod users;

use clap::{Args, Parser, Subcommand};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use trustplane_core::audit::Actor;
use trustplane_server::edge::error::AppError;
use trustplane_server::ops::Ops;
use trustplane_server::platform::config::{Config, Overrides};
use trustplane_store::Store;

#[derive(Parser)]
#[command(
    name = "trustplane",
    version,
    about = "Self-hosted Zero Trust access control plane"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Global {
    /// Configuration file (TOML).
    #[arg(long, global = true, env = "TRUSTPLANE_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (default ./trustplane-data).
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://… (default: SQLite in the data directory).
    #[arg(long, global = true)]
    database_url: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on (default 127.0.0.1:8420).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Administration on the configured database.
    #[command(subcommand)]
    Admin(admin::AdminCmd),
    /// Password protection.
    #[command(subcommand)]
    Password(password::PasswordCmd),
    /// Conditional access policies: show, set, versions, what-if, impact replay.
    #[command(subcommand)]
    Policy(policy::PolicyCmd),
    /// OpenID Connect provider: clients.
    #[command(subcommand)]
    Oidc(oidc::OidcCmd),
    /// Applications protected through forward-auth and OIDC, their routes and labels.
    #[command(subcommand)]
    Apps(apps::AppsCmd),
    /// Sensitivity labels and authentication contexts (information protection).
    #[command(subcommand)]
    Labels(apps::LabelsCmd),
    /// Signing keys of assertions and tokens: list, rotate.
    #[command(subcommand)]
    Keys(apps::KeysCmd),
    /// Registered devices: list, show, disable, enable, delete, stale cleanup.
    #[command(subcommand)]
    Devices(devices::DevicesCmd),
    /// Sign-in risk: replay labelled login attempts through the risk model.
    #[command(subcommand)]
    Risk(risk::RiskCmd),
}

#[derive(Debug)]
pub(crate) enum CliError {
    App(AppError),
    Other(String),
}

impl From<AppError> for CliError {
    fn from(e: AppError) -> Self {
        CliError::App(e)
    }
}

impl From<trustplane_store::StoreError> for CliError {
    fn from(e: trustplane_store::StoreError) -> Self {
        CliError::Other(e.to_string())
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::App(e) => write!(f, "{} ({})", e.message, e.code),
            CliError::Other(s) => f.write_str(s),
        }
    }
}

fn init_tracing(cfg_format: Option<&str>, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRUSTPLANE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let json = match cfg_format {
        Some("json") => true,
        Some("pretty") => false,
        _ => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

/// The operating-system user, for the audit log: `SUDO_USER`, `USER`, `LOGNAME`, or the uid.
fn os_user() -> String {
    ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .or_else(|| {
            let status = std::fs::read_to_string("/proc/self/status").ok()?;
            let uid = status.lines().find(|l| l.starts_with("Uid:"))?;
            Some(format!("uid {}", uid.split_whitespace().nth(1)?))
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Commands whose output is piped (`trustplane policy templates | head -1`) end quietly when
/// the reader goes away, as other Unix tools do. Rust ignores SIGPIPE, so `println!` would
/// panic on the broken pipe instead. `serve` keeps ignoring it: its sockets report EPIPE as an
/// error on the one connection.
fn exit_quietly_on_broken_pipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any other thread exists; `SIG_DFL` is a
    // valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve { .. }) {
        exit_quietly_on_broken_pipe();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async_main(cli))
}

async fn async_main(cli: Cli) -> ExitCode {
    let listen = match &cli.command {
        Command::Serve { listen } => *listen,
        _ => None,
    };
    let overrides = Overrides {
        config_file: cli.global.config.clone(),
        data: cli.global.data.clone(),
        listen,
        database_url: cli.global.database_url.clone(),
    };
    let cfg = match Config::load(&overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Serve { .. } => {
            init_tracing(cfg.log_format.as_deref(), "info");
            serve::run(cfg).await
        }
        Command::Password(cmd) => {
            init_tracing(cfg.log_format.as_deref(), "warn");
            // Not `exit`: 1 is a refused password, so an error exits with 2.
            match password::run(cfg, cmd).await {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Risk(cmd) => exit(risk::run(cmd)),
        Command::Admin(cmd) => {
            init_tracing(cfg.log_format.as_deref(), "warn");
            exit(admin::run(&cfg, cmd).await)
        }
        command => {
            init_tracing(cfg.log_format.as_deref(), "warn");
            exit(on_store(&cfg, command).await)
        }
    }
}

/// The command groups that work on the store alone, audited as the operating-system user.
async fn on_store(cfg: &Config, command: Command) -> Result<ExitCode, CliError> {
    let (store, _) = open_ops(cfg).await?;
    let actor = Actor::cli(&os_user());
    match command {
        Command::Policy(cmd) => policy::run(store, &actor, cmd).await,
        Command::Apps(cmd) => apps::apps(store, &actor, cmd).await,
        Command::Labels(cmd) => apps::labels(store, &actor, cmd).await,
        Command::Keys(cmd) => {
            let key = master_key(cfg)?;
            apps::keys(store, &key.derive("signing-keys"), &actor, cmd).await
        }
        Command::Devices(cmd) => devices::run(store, &actor, cmd).await,
        Command::Oidc(cmd) => oidc::run(store, &actor, cmd).await,
        _ => Err(CliError::Other("unexpected command".into())),
    }
}

/// The exit code of a command: its own, or 1 with the error on standard error.
fn exit(result: Result<ExitCode, CliError>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn master_key(cfg: &Config) -> Result<trustplane_server::platform::secrets::MasterKey, CliError> {
    trustplane_server::platform::secrets::MasterKey::load_or_create(&cfg.secret_key_path())
        .map_err(|e| CliError::Other(e.to_string()))
}

/// The configured database, its audit chain keyed with the master key.
async fn open_store(cfg: &Config) -> Result<trustplane_store::SqlStore, CliError> {
    trustplane_server::platform::secrets::ensure_private_dir(cfg.data_dir())
        .map_err(|e| CliError::Other(e.to_string()))?;
    let key = master_key(cfg)?;
    Ok(trustplane_server::ops::audit_chain::open_store(cfg, &key).await?)
}

async fn open_ops(cfg: &Config) -> Result<(Arc<dyn Store>, Ops), CliError> {
    let store: Arc<dyn Store> = Arc::new(open_store(cfg).await?);
    let breach = cfg
        .load_breach_filter()
        .map_err(|e| CliError::Other(format!("breached-password filter: {e}")))?;
    let ops = Ops::new(store.clone(), cfg.password_hash)
        .with_password_policy(cfg.password.clone(), &cfg.organisation)
        .with_breach_filter(breach.map(Arc::new));
    Ok((store, ops))
}

/// Pretty-printed JSON.
pub(crate) fn pretty<T: serde::Serialize>(v: &T) -> Result<String, CliError> {
    serde_json::to_string_pretty(v).map_err(|e| CliError::Other(e.to_string()))
}

/// The text of FILE, or of standard input when FILE is `-`.
pub(crate) fn read_input(file: &str) -> Result<String, CliError> {
    if file == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| CliError::Other(format!("reading standard input: {e}")))?;
        Ok(s)
    } else {
        std::fs::read_to_string(file).map_err(|e| CliError::Other(format!("reading {file}: {e}")))
    }
}
