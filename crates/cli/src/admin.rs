//! `trustplane admin …`: administration on the configured database. Users and groups are in
//! [`crate::users`], the audit log in [`crate::audit`]; roles, API tokens, banned password
//! terms, the authentication methods policy and the sign-in log are here.

use crate::users::{self, GroupCmd, UserCmd};
use crate::{CliError, audit, master_key, open_ops, open_store, os_user, pretty, read_input};
use clap::{Args, Subcommand};
use std::process::ExitCode;
use trustplane_core::audit::Actor;
use trustplane_core::identity::Role;
use trustplane_server::edge::error::AppError;
use trustplane_server::ops::{Ops, parse_lifetime};
use trustplane_server::platform::config::Config;

#[derive(Subcommand)]
pub enum AdminCmd {
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
    SignIns(SignInsArgs),
}

#[derive(Args)]
pub struct SignInsArgs {
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
}

#[derive(Subcommand)]
pub enum AuthMethodsCmd {
    /// Print the policy in force as JSON.
    Show,
    /// Replace the policy with the JSON document in FILE (`-` for standard input).
    Set { file: String },
}

#[derive(Subcommand)]
pub enum BannedTermCmd {
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
pub enum RoleCmd {
    /// Assign an admin role: global_administrator, security_administrator,
    /// helpdesk_administrator or security_reader.
    Assign { login: String, role: String },
    /// Remove an admin role.
    Unassign { login: String, role: String },
}

#[derive(Subcommand)]
pub enum TokenCmd {
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

pub async fn run(cfg: &Config, cmd: AdminCmd) -> Result<ExitCode, CliError> {
    let (_, ops) = open_ops(cfg).await?;
    let actor = Actor::cli(&os_user());
    match cmd {
        AdminCmd::User(cmd) => users::users(&ops, &actor, cmd).await?,
        AdminCmd::Group(cmd) => users::groups(&ops, &actor, cmd).await?,
        AdminCmd::Role(cmd) => role(&ops, &actor, cmd).await?,
        AdminCmd::Token(cmd) => token(&ops, &actor, cmd).await?,
        AdminCmd::BannedTerm(cmd) => banned_term(&ops, &actor, cmd).await?,
        AdminCmd::AuthMethods(cmd) => auth_methods(&ops, &actor, cmd).await?,
        AdminCmd::SignIns(args) => sign_ins(&ops, args).await?,
        AdminCmd::Audit(cmd) => {
            let key = master_key(cfg)?;
            let sql = open_store(cfg).await?;
            return audit::run(&sql, &key, cmd).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn role(ops: &Ops, actor: &Actor, cmd: RoleCmd) -> Result<(), CliError> {
    match cmd {
        RoleCmd::Assign { login, role } => {
            let role: Role = role.parse().map_err(AppError::from)?;
            let user = ops.user_by_name(&login).await?;
            let changed = ops.assign_role(actor, user.id, role).await?;
            println!(
                "{}",
                if changed {
                    format!("Assigned {role} to {}.", user.username)
                } else {
                    format!("{} already has {role}.", user.username)
                }
            );
        }
        RoleCmd::Unassign { login, role } => {
            let role: Role = role.parse().map_err(AppError::from)?;
            let user = ops.user_by_name(&login).await?;
            ops.unassign_role(actor, user.id, role).await?;
            println!("Removed {role} from {}.", user.username);
        }
    }
    Ok(())
}

async fn token(ops: &Ops, actor: &Actor, cmd: TokenCmd) -> Result<(), CliError> {
    let TokenCmd::Create {
        role,
        expires,
        name,
    } = cmd;
    let role: Role = role.parse().map_err(AppError::from)?;
    let lifetime = parse_lifetime(&expires)?;
    let (token, secret) = ops.create_token(actor, &name, role, lifetime).await?;
    eprintln!(
        "Created API token {} ({}), expires {}. It is shown only once:",
        token.id, role, token.expires_at
    );
    println!("{secret}");
    Ok(())
}

async fn banned_term(ops: &Ops, actor: &Actor, cmd: BannedTermCmd) -> Result<(), CliError> {
    match cmd {
        BannedTermCmd::Add { terms } => {
            let n = ops.add_banned_terms(actor, &terms).await?;
            println!("Added {n} new term(s).");
        }
        BannedTermCmd::Remove { term } => {
            if ops.remove_banned_term(actor, &term).await? {
                println!("Removed.");
            } else {
                return Err(CliError::App(AppError::not_found("banned term")));
            }
        }
        BannedTermCmd::List => {
            for t in ops.store.list_banned_terms().await? {
                println!("{:<32} {}", t.display, t.added_at);
            }
        }
    }
    Ok(())
}

async fn auth_methods(ops: &Ops, actor: &Actor, cmd: AuthMethodsCmd) -> Result<(), CliError> {
    match cmd {
        AuthMethodsCmd::Show => println!("{}", pretty(&ops.methods_policy().await?)?),
        AuthMethodsCmd::Set { file } => {
            let text = read_input(&file)?;
            let policy: trustplane_core::mfa::policy::MethodsPolicy =
                serde_json::from_str(&text)
                    .map_err(|e| CliError::Other(format!("{file}: not a valid policy: {e}")))?;
            ops.set_methods_policy(actor, &policy).await?;
            println!("Authentication methods policy saved.");
        }
    }
    Ok(())
}

async fn sign_ins(ops: &Ops, args: SignInsArgs) -> Result<(), CliError> {
    let SignInsArgs {
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
    } = args;
    let result = match result.as_deref() {
        None => None,
        Some(r) => Some(
            trustplane_core::signin::SignInResult::parse(r).ok_or_else(|| {
                CliError::Other("--result must be success, failure or interrupted".into())
            })?,
        ),
    };
    let events = ops
        .store
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
    Ok(())
}
