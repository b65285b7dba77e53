//! `trustplane`: the server and its administration commands.
//!
//! Admin commands work directly on the configured database; they are safe while the server
//! runs (SQLite in WAL mode serialises writers, PostgreSQL is transactional), and every change
//! they make is audited with the operating-system user as the actor.

mod apps;
mod audit;
mod breach;
mod devices;
mod oidc;
mod policy;
mod risk;

use clap::{Args, Parser, Subcommand};
use std::io::{IsTerminal, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use trustplane_core::audit::Actor;
use trustplane_core::identity::{Role, UserStatus};
use trustplane_server::edge::error::AppError;
use trustplane_server::ops::{NewUser, Ops, parse_lifetime};
use trustplane_server::platform::config::{Config, Overrides};
use trustplane_store::{Store, UserQuery};

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
    Admin(AdminCmd),
    /// Password protection.
    #[command(subcommand)]
    Password(PasswordCmd),
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

#[derive(Subcommand)]
enum PasswordCmd {
    /// Check a candidate password (read from standard input) against password protection.
    /// Exit code 0 when accepted, 1 when refused.
    Check {
        /// Also check for this user's name, login and email.
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Import a Have I Been Pwned "Pwned Passwords" SHA-1 file (HASH:COUNT lines, sorted by
    /// hash; plain SHA-1 lines also accepted) into the breached-password filter. The previous
    /// filter stays in place if the import fails, and an import that would remove more than
    /// half of its hashes is refused unless --replace is given. A running server loads the new
    /// filter by itself (within `breached_filter_reload_seconds`); no restart is needed. The
    /// import is audited with the hash counts before and after.
    ImportBreached {
        file: PathBuf,
        /// Leave out hashes seen fewer times than this.
        #[arg(long, default_value_t = 1)]
        threshold: u64,
        /// Replace the filter even if the new one holds less than half as many hashes.
        #[arg(long)]
        replace: bool,
    },
}

#[derive(Subcommand)]
enum AdminCmd {
    #[command(subcommand)]
    User(UserCmd),
    #[command(subcommand)]
    Group(GroupCmd),
    #[command(subcommand)]
    Role(RoleCmd),
    #[command(subcommand)]
    Token(TokenCmd),
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// Organisation-specific banned password terms.
    #[command(subcommand)]
    BannedTerm(BannedTermCmd),
    /// The authentication methods policy (second factors, MFA requirement, registration).
    #[command(subcommand)]
    AuthMethods(AuthMethodsCmd),
    /// The sign-in log, newest first.
    SignIns {
        /// Login name as typed.
        #[arg(long)]
        user: Option<String>,
        /// success, failure or interrupted.
        #[arg(long)]
        result: Option<String>,
        #[arg(long)]
        reason: Option<String>,
        /// Application id.
        #[arg(long)]
        app: Option<String>,
        /// Conditional access outcome: allow, block or requires.
        #[arg(long)]
        outcome: Option<String>,
        /// A conditional access policy id that applied.
        #[arg(long)]
        policy: Option<String>,
        /// Sign-in risk: low, medium or high.
        #[arg(long)]
        risk: Option<String>,
        /// Only the last N days.
        #[arg(long, default_value_t = 7)]
        days: i64,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// table, csv or jsonl.
        #[arg(long, default_value = "table")]
        format: String,
    },
}

#[derive(Subcommand)]
enum AuthMethodsCmd {
    /// Print the policy in force as JSON.
    Show,
    /// Replace the policy with the JSON document in FILE (`-` for standard input).
    Set { file: String },
}

#[derive(Subcommand)]
enum BannedTermCmd {
    /// Add terms (at least 4 characters each).
    Add {
        #[arg(required = true)]
        terms: Vec<String>,
    },
    /// Remove a term.
    Remove { term: String },
    /// List the terms.
    List,
}

#[derive(Subcommand)]
enum UserCmd {
    /// Create a user.
    Create {
        login: String,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// Read the initial password from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Assign an admin role (repeatable).
        #[arg(long)]
        role: Vec<String>,
    },
    /// List users.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Disable a user (revokes every session).
    Disable { login: String },
    /// Enable a user.
    Enable { login: String },
    /// Delete a user.
    Delete { login: String },
    /// Set a user's password (revokes every session).
    SetPassword {
        login: String,
        /// Read the new password from standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Require the user to choose a new password at their next sign-in.
        #[arg(long)]
        must_change: bool,
    },
}

#[derive(Subcommand)]
enum GroupCmd {
    /// Create a group.
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Add a user to a group.
    AddMember { group: String, login: String },
    /// Remove a user from a group.
    RemoveMember { group: String, login: String },
    /// List groups.
    List,
}

#[derive(Subcommand)]
enum RoleCmd {
    /// Assign an admin role: global_administrator, security_administrator,
    /// helpdesk_administrator or security_reader.
    Assign { login: String, role: String },
    /// Remove an admin role.
    Unassign { login: String, role: String },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Create an API token and print it once.
    Create {
        #[arg(long)]
        role: String,
        /// Lifetime such as 90d, 12h, 30m.
        #[arg(long, default_value = "90d")]
        expires: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
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

fn read_password_stdin() -> Result<String, CliError> {
    let mut s = String::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut s)
        .map_err(|e| CliError::Other(format!("cannot read the password from stdin: {e}")))?;
    // One trailing newline (from `echo` or a here-string) is not part of the password.
    let pw = s
        .strip_suffix("\r\n")
        .or_else(|| s.strip_suffix('\n'))
        .unwrap_or(&s);
    Ok(pw.to_string())
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
            serve(cfg).await
        }
        Command::Password(cmd) => {
            init_tracing(cfg.log_format.as_deref(), "warn");
            match password_cmd(cfg, cmd).await {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Policy(cmd) => {
            init_tracing(cfg.log_format.as_deref(), "warn");
            let store = open_ops(&cfg).await.map(|(store, _)| store);
            exit(match store {
                Ok(store) => policy::run(store, &Actor::cli(&os_user()), cmd).await,
                Err(e) => Err(e),
            })
        }
        Command::Apps(_) | Command::Labels(_) | Command::Keys(_) => {
            init_tracing(cfg.log_format.as_deref(), "warn");
            let actor = Actor::cli(&os_user());
            exit(match open_ops(&cfg).await {
                Ok((store, _)) => match cli.command {
                    Command::Apps(cmd) => apps::apps(store, &actor, cmd).await,
                    Command::Labels(cmd) => apps::labels(store, &actor, cmd).await,
                    Command::Keys(cmd) => {
                        match trustplane_server::platform::secrets::MasterKey::load_or_create(
                            &cfg.secret_key_path(),
                        ) {
                            Ok(key) => {
                                apps::keys(store, &key.derive("signing-keys"), &actor, cmd).await
                            }
                            Err(e) => Err(CliError::Other(e.to_string())),
                        }
                    }
                    _ => Err(CliError::Other("unexpected command".into())),
                },
                Err(e) => Err(e),
            })
        }
        Command::Risk(cmd) => exit(risk::run(cmd)),
        Command::Devices(cmd) => {
            init_tracing(cfg.log_format.as_deref(), "warn");
            exit(match open_ops(&cfg).await {
                Ok((store, _)) => devices::run(store, &Actor::cli(&os_user()), cmd).await,
                Err(e) => Err(e),
            })
        }
        Command::Oidc(cmd) => {
            init_tracing(cfg.log_format.as_deref(), "warn");
            exit(match open_ops(&cfg).await {
                Ok((store, _)) => oidc::run(store, &Actor::cli(&os_user()), cmd).await,
                Err(e) => Err(e),
            })
        }
        Command::Admin(cmd) => {
            init_tracing(cfg.log_format.as_deref(), "warn");
            exit(admin(cfg, cmd).await)
        }
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

async fn serve(cfg: Config) -> ExitCode {
    let db_kind = if cfg.database_url().starts_with("sqlite:") {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    let data = cfg.data.display().to_string();
    let server = match trustplane_server::prepare(cfg).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = server.local_addr;
    // Handlers first: a signal right after the announcement below must shut down gracefully.
    let shutdown = trustplane_server::shutdown_signal();
    tracing::info!(%addr, database = db_kind, data = %data, "trustplane listening");
    println!("trustplane is listening on http://{addr} ({db_kind}, data in {data})");
    match &server.bootstrap_url {
        // Printed to the terminal, never to the log: the link is a one-time secret.
        Some(url) => println!(
            "\nNo administrator exists yet. Open this one-time link within 24 hours to create one:\n\n    {url}\n\nor run: trustplane admin user create LOGIN --role global_administrator --password-stdin\n"
        ),
        None => println!("Sign in at http://{addr}/login"),
    }
    match server.run(shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
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

async fn password_cmd(cfg: Config, cmd: PasswordCmd) -> Result<ExitCode, CliError> {
    let (user, json) = match cmd {
        PasswordCmd::Check { user, json } => (user, json),
        PasswordCmd::ImportBreached {
            file,
            threshold,
            replace,
        } => {
            let store = open_store(&cfg).await?;
            return breach::import_breached(
                &cfg,
                &store,
                &Actor::cli(&os_user()),
                &file,
                threshold,
                replace,
            )
            .await;
        }
    };
    let (_, ops) = open_ops(&cfg).await?;
    let mut raw = Vec::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_end(&mut raw)
        .map_err(|e| CliError::Other(format!("cannot read standard input: {e}")))?;
    let raw = raw
        .strip_suffix(b"\r\n")
        .or_else(|| raw.strip_suffix(b"\n"))
        .unwrap_or(&raw)
        .to_vec();
    let verdict = match String::from_utf8(raw) {
        Err(e) => trustplane_core::password::PasswordChecker {
            policy: &ops.password_policy,
            global: trustplane_server::ops::global_banned()?,
            custom: &*ops.custom_banned().await?,
        }
        .evaluate_bytes(&Default::default(), e.as_bytes()),
        Ok(pw) => match &user {
            Some(login) => {
                let u = ops.user_by_name(login).await?;
                ops.evaluate_password(&u.username, &u.display_name, u.email.as_deref(), &pw)
                    .await?
            }
            None => ops.evaluate_password("", "", None, &pw).await?,
        },
    };
    if json {
        let reasons: Vec<serde_json::Value> = verdict
            .reasons
            .iter()
            .map(|r| serde_json::json!({"code": r.code(), "message": r.message()}))
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "accepted": verdict.accepted,
                "score": verdict.score,
                "required_score": verdict.required_score,
                "reasons": reasons,
            })
        );
    } else if verdict.accepted {
        println!(
            "accepted (score {} of at least {})",
            verdict.score, verdict.required_score
        );
    } else {
        println!(
            "refused (score {} of at least {})",
            verdict.score, verdict.required_score
        );
        for m in verdict.messages() {
            println!("  - {m}");
        }
    }
    Ok(if verdict.accepted {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn admin(cfg: Config, cmd: AdminCmd) -> Result<ExitCode, CliError> {
    let (store, ops) = open_ops(&cfg).await?;
    let actor = Actor::cli(&os_user());
    match cmd {
        AdminCmd::User(u) => user_cmd(&ops, &actor, u).await?,
        AdminCmd::Group(g) => group_cmd(&ops, &actor, g).await?,
        AdminCmd::Role(RoleCmd::Assign { login, role }) => {
            let role: Role = role.parse().map_err(AppError::from)?;
            let user = ops.user_by_name(&login).await?;
            let changed = ops.assign_role(&actor, user.id, role).await?;
            println!(
                "{}",
                if changed {
                    format!("Assigned {role} to {}.", user.username)
                } else {
                    format!("{} already has {role}.", user.username)
                }
            );
        }
        AdminCmd::Role(RoleCmd::Unassign { login, role }) => {
            let role: Role = role.parse().map_err(AppError::from)?;
            let user = ops.user_by_name(&login).await?;
            ops.unassign_role(&actor, user.id, role).await?;
            println!("Removed {role} from {}.", user.username);
        }
        AdminCmd::Token(TokenCmd::Create {
            role,
            expires,
            name,
        }) => {
            let role: Role = role.parse().map_err(AppError::from)?;
            let lifetime = parse_lifetime(&expires)?;
            let (token, secret) = ops.create_token(&actor, &name, role, lifetime).await?;
            eprintln!(
                "Created API token {} ({}), expires {}. It is shown only once:",
                token.id, role, token.expires_at
            );
            println!("{secret}");
        }
        AdminCmd::BannedTerm(BannedTermCmd::Add { terms }) => {
            let n = ops.add_banned_terms(&actor, &terms).await?;
            println!("Added {n} new term(s).");
        }
        AdminCmd::BannedTerm(BannedTermCmd::Remove { term }) => {
            if ops.remove_banned_term(&actor, &term).await? {
                println!("Removed.");
            } else {
                return Err(CliError::App(AppError::not_found("banned term")));
            }
        }
        AdminCmd::BannedTerm(BannedTermCmd::List) => {
            for t in store.list_banned_terms().await? {
                println!("{:<32} {}", t.display, t.added_at);
            }
        }
        AdminCmd::AuthMethods(AuthMethodsCmd::Show) => {
            let p = ops.methods_policy().await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&p).map_err(|e| CliError::Other(e.to_string()))?
            );
        }
        AdminCmd::AuthMethods(AuthMethodsCmd::Set { file }) => {
            let text = if file == "-" {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                    .map_err(|e| CliError::Other(format!("reading standard input: {e}")))?;
                s
            } else {
                std::fs::read_to_string(&file)
                    .map_err(|e| CliError::Other(format!("reading {file}: {e}")))?
            };
            let policy: trustplane_core::mfa::policy::MethodsPolicy =
                serde_json::from_str(&text)
                    .map_err(|e| CliError::Other(format!("{file}: not a valid policy: {e}")))?;
            ops.set_methods_policy(&actor, &policy).await?;
            println!("Authentication methods policy saved.");
        }
        AdminCmd::SignIns {
            user,
            result,
            reason,
            app,
            outcome,
            policy,
            risk,
            days,
            limit,
            format,
        } => {
            let result = match result.as_deref() {
                None => None,
                Some(r) => Some(trustplane_core::signin::SignInResult::parse(r).ok_or_else(
                    || CliError::Other("--result must be success, failure or interrupted".into()),
                )?),
            };
            let events = store
                .list_sign_ins(&trustplane_store::SignInQuery {
                    username: user,
                    result,
                    failure_reason: reason,
                    app_id: app,
                    ca_outcome: outcome,
                    policy,
                    sign_in_risk: risk,
                    since: Some(
                        time::OffsetDateTime::now_utc() - time::Duration::days(days.clamp(1, 3650)),
                    ),
                    limit,
                    ..Default::default()
                })
                .await?;
            match format.as_str() {
                "csv" => {
                    let bytes = trustplane_server::ops::signin_export::csv_bytes(&events)?;
                    print!("{}", String::from_utf8_lossy(&bytes));
                }
                "jsonl" => print!("{}", trustplane_server::ops::signin_export::jsonl(events)?),
                "table" => {
                    for e in events {
                        println!(
                            "{}  {:<20} {:<11} {:<32} {:<9} {}",
                            e.at,
                            e.username,
                            e.result.as_str(),
                            e.failure_reason.as_deref().unwrap_or("-"),
                            e.details["conditional_access"]["outcome"]
                                .as_str()
                                .unwrap_or("-"),
                            e.ip.as_deref().unwrap_or("-"),
                        );
                    }
                }
                other => {
                    return Err(CliError::Other(format!(
                        "--format must be table, csv or jsonl, not {other:?}"
                    )));
                }
            }
        }
        AdminCmd::Audit(cmd) => {
            let key = master_key(&cfg)?;
            let sql = open_store(&cfg).await?;
            return audit::run(&sql, &key, cmd).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn user_cmd(ops: &Ops, actor: &Actor, cmd: UserCmd) -> Result<(), CliError> {
    match cmd {
        UserCmd::Create {
            login,
            display_name,
            email,
            password_stdin,
            role,
        } => {
            let roles = role
                .iter()
                .map(|r| r.parse::<Role>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(AppError::from)?;
            let password = if password_stdin {
                Some(read_password_stdin()?)
            } else {
                None
            };
            let user = ops
                .create_user(
                    actor,
                    NewUser {
                        username: login,
                        display_name,
                        email,
                        password,
                        roles,
                    },
                )
                .await?;
            println!("Created user {} ({}).", user.username, user.id);
        }
        UserCmd::List { json } => {
            let users = ops
                .store
                .list_users(&UserQuery {
                    search: None,
                    limit: 1000,
                    offset: 0,
                })
                .await?;
            if json {
                let v = serde_json::to_string_pretty(&users)
                    .map_err(|e| CliError::Other(e.to_string()))?;
                println!("{v}");
            } else {
                println!("{:<24} {:<28} {:<9} ID", "LOGIN", "DISPLAY NAME", "STATUS");
                for u in users {
                    println!(
                        "{:<24} {:<28} {:<9} {}",
                        u.username,
                        u.display_name,
                        u.status.as_str(),
                        u.id
                    );
                }
            }
        }
        UserCmd::Disable { login } => {
            let u = ops.user_by_name(&login).await?;
            ops.update_user(actor, u.id, None, None, Some(UserStatus::Disabled))
                .await?;
            println!("Disabled {} and revoked their sessions.", u.username);
        }
        UserCmd::Enable { login } => {
            let u = ops.user_by_name(&login).await?;
            ops.update_user(actor, u.id, None, None, Some(UserStatus::Enabled))
                .await?;
            println!("Enabled {}.", u.username);
        }
        UserCmd::Delete { login } => {
            let u = ops.user_by_name(&login).await?;
            ops.delete_user(actor, u.id).await?;
            println!("Deleted {}.", u.username);
        }
        UserCmd::SetPassword {
            login, must_change, ..
        } => {
            let u = ops.user_by_name(&login).await?;
            let pw = read_password_stdin()?;
            ops.set_password(actor, u.id, &pw, must_change).await?;
            println!(
                "Password set for {}; their sessions were revoked.",
                u.username
            );
        }
    }
    Ok(())
}

async fn group_cmd(ops: &Ops, actor: &Actor, cmd: GroupCmd) -> Result<(), CliError> {
    match cmd {
        GroupCmd::Create { name, description } => {
            let g = ops.create_group(actor, &name, &description).await?;
            println!("Created group {} ({}).", g.name, g.id);
        }
        GroupCmd::AddMember { group, login } | GroupCmd::RemoveMember { group, login }
            if group.is_empty() || login.is_empty() =>
        {
            return Err(CliError::Other("group and login must not be empty".into()));
        }
        GroupCmd::AddMember { group, login } => {
            let g = find_group(ops, &group).await?;
            let u = ops.user_by_name(&login).await?;
            let added = ops.add_member(actor, g.id, u.id).await?;
            println!(
                "{}",
                if added {
                    format!("Added {} to {}.", u.username, g.name)
                } else {
                    format!("{} is already in {}.", u.username, g.name)
                }
            );
        }
        GroupCmd::RemoveMember { group, login } => {
            let g = find_group(ops, &group).await?;
            let u = ops.user_by_name(&login).await?;
            ops.remove_member(actor, g.id, u.id).await?;
            println!("Removed {} from {}.", u.username, g.name);
        }
        GroupCmd::List => {
            for g in ops.store.list_groups().await? {
                println!("{:<32} {}", g.name, g.id);
            }
        }
    }
    Ok(())
}

async fn find_group(ops: &Ops, name: &str) -> Result<trustplane_core::identity::Group, CliError> {
    ops.store
        .find_group(name)
        .await?
        .ok_or_else(|| CliError::App(AppError::not_found("group")))
}
