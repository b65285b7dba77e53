//! `trustplane admin user …` and `trustplane admin group …`: users and groups on the
//! configured database, through the same operations (and audit entries) as the API.

use crate::CliError;
use clap::Subcommand;
use std::io::Read;
use trustplane_core::audit::Actor;
use trustplane_core::identity::{Group, Role, UserStatus};
use trustplane_server::edge::error::AppError;
use trustplane_server::ops::{NewUser, Ops};
use trustplane_store::UserQuery;

#[derive(Subcommand)]
pub enum UserCmd {
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
pub enum GroupCmd {
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

pub async fn users(ops: &Ops, actor: &Actor, cmd: UserCmd) -> Result<(), CliError> {
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
            let new = NewUser {
                username: login,
                display_name,
                email,
                password,
                roles,
            };
            let user = ops.create_user(actor, new).await?;
            println!("Created user {} ({}).", user.username, user.id);
        }
        UserCmd::List { json } => list_users(ops, json).await?,
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

async fn list_users(ops: &Ops, json: bool) -> Result<(), CliError> {
    let users = ops
        .store
        .list_users(&UserQuery {
            search: None,
            limit: 1000,
            offset: 0,
        })
        .await?;
    if json {
        println!("{}", crate::pretty(&users)?);
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
    Ok(())
}

pub async fn groups(ops: &Ops, actor: &Actor, cmd: GroupCmd) -> Result<(), CliError> {
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

async fn find_group(ops: &Ops, name: &str) -> Result<Group, CliError> {
    ops.store
        .find_group(name)
        .await?
        .ok_or_else(|| CliError::App(AppError::not_found("group")))
}
