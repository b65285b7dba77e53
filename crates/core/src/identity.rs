//! Identities: users, groups and administrative roles with their permissions.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;
use uuid::Uuid;

/// Longest login name we accept (characters).
pub const MAX_USERNAME_LEN: usize = 128;
/// Longest display name / group name we accept (characters).
pub const MAX_NAME_LEN: usize = 256;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} is too long (at most {max} characters)")]
    TooLong { field: &'static str, max: usize },
    #[error("{field} contains characters that are not allowed: {detail}")]
    InvalidCharacters {
        field: &'static str,
        detail: &'static str,
    },
    #[error(
        "unknown role `{0}` (known: global_administrator, security_administrator, helpdesk_administrator, security_reader)"
    )]
    UnknownRole(String),
    #[error("email address is not valid")]
    InvalidEmail,
}

impl IdentityError {
    /// Stable machine code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            IdentityError::Empty { .. } => "empty_field",
            IdentityError::TooLong { .. } => "field_too_long",
            IdentityError::InvalidCharacters { .. } => "invalid_characters",
            IdentityError::UnknownRole(_) => "unknown_role",
            IdentityError::InvalidEmail => "invalid_email",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Enabled,
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Enabled => "enabled",
            UserStatus::Disabled => "disabled",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "enabled" => Some(UserStatus::Enabled),
            "disabled" => Some(UserStatus::Disabled),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: Uuid,
    /// The login name as the admin typed it; uniqueness is case-insensitive.
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub status: UserStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl User {
    pub fn is_enabled(&self) -> bool {
        self.status == UserStatus::Enabled
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Normalised key for case-insensitive uniqueness of login names and group names.
pub fn fold_name(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Validates a login name: 1..=128 characters, no whitespace or control characters, and none
/// of the characters that would make it ambiguous in headers, URLs or logs.
pub fn validate_username(name: &str) -> Result<String, IdentityError> {
    let name = name.trim();
    let field = "username";
    if name.is_empty() {
        return Err(IdentityError::Empty { field });
    }
    if name.chars().count() > MAX_USERNAME_LEN {
        return Err(IdentityError::TooLong {
            field,
            max: MAX_USERNAME_LEN,
        });
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(IdentityError::InvalidCharacters {
            field,
            detail: "no spaces or control characters",
        });
    }
    if name
        .chars()
        .any(|c| matches!(c, '/' | '\\' | '"' | '\'' | '<' | '>' | ',' | ';' | ':'))
    {
        return Err(IdentityError::InvalidCharacters {
            field,
            detail: "none of / \\ \" ' < > , ; :",
        });
    }
    Ok(name.to_string())
}

/// Validates a free-text name (display name, group name).
pub fn validate_name(field: &'static str, name: &str) -> Result<String, IdentityError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(IdentityError::Empty { field });
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(IdentityError::TooLong {
            field,
            max: MAX_NAME_LEN,
        });
    }
    if name.chars().any(char::is_control) {
        return Err(IdentityError::InvalidCharacters {
            field,
            detail: "no control characters",
        });
    }
    Ok(name.to_string())
}

/// Minimal structural email validation (one `@`, non-empty parts, a dot in the domain).
pub fn validate_email(email: &str) -> Result<String, IdentityError> {
    let email = email.trim();
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(IdentityError::InvalidEmail);
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(IdentityError::InvalidEmail);
    };
    if local.is_empty() || domain.contains('@') || !domain.contains('.') || domain.starts_with('.')
    {
        return Err(IdentityError::InvalidEmail);
    }
    Ok(email.to_string())
}

/// Administrative roles, modelled on the directory roles of Entra ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Can do everything.
    GlobalAdministrator,
    /// Reads everything, manages security settings and revokes sessions; cannot manage users.
    SecurityAdministrator,
    /// Resets passwords and sign-in methods and revokes sessions of non-administrators and of
    /// other helpdesk administrators; reads users and groups.
    HelpdeskAdministrator,
    /// Reads security information (users, sessions, sign-in and audit logs); changes nothing.
    SecurityReader,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::GlobalAdministrator,
        Role::SecurityAdministrator,
        Role::HelpdeskAdministrator,
        Role::SecurityReader,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::GlobalAdministrator => "global_administrator",
            Role::SecurityAdministrator => "security_administrator",
            Role::HelpdeskAdministrator => "helpdesk_administrator",
            Role::SecurityReader => "security_reader",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::GlobalAdministrator => "Global administrator",
            Role::SecurityAdministrator => "Security administrator",
            Role::HelpdeskAdministrator => "Helpdesk administrator",
            Role::SecurityReader => "Security reader",
        }
    }

    /// Whether an administrator limited to non-administrators (a helpdesk administrator) may
    /// still act on the credentials of a holder of this role. Entra ID's rule: helpdesk and
    /// password administrators may reset the passwords of non-administrators and of each
    /// other, never of any other administrator, readers included (a reader's account reads
    /// the audit and sign-in logs the helpdesk may not see).
    pub fn open_to_helpdesk(self) -> bool {
        matches!(self, Role::HelpdeskAdministrator)
    }

    /// Whether holders of this role may act on anyone's credentials (Entra ID: global and
    /// privileged authentication administrators).
    pub fn acts_on_every_account(self) -> bool {
        matches!(self, Role::GlobalAdministrator)
    }

    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::GlobalAdministrator => &Permission::ALL,
            Role::SecurityAdministrator => &[
                UsersRead,
                GroupsRead,
                SessionsRead,
                SessionsRevoke,
                SignInLogRead,
                AuditLogRead,
                PolicyRead,
                PolicyWrite,
                DevicesRead,
                DevicesWrite,
            ],
            Role::HelpdeskAdministrator => &[
                UsersRead,
                GroupsRead,
                UsersResetPassword,
                SessionsRead,
                SessionsRevoke,
                SignInLogRead,
                DevicesRead,
            ],
            Role::SecurityReader => &[
                UsersRead,
                GroupsRead,
                SessionsRead,
                SignInLogRead,
                AuditLogRead,
                PolicyRead,
                DevicesRead,
            ],
        }
    }

    pub fn has(self, p: Permission) -> bool {
        self.permissions().contains(&p)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = IdentityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(IdentityError::UnknownRole(s))
    }
}

/// What an administrator may do. Every admin endpoint names exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    UsersRead,
    UsersWrite,
    UsersResetPassword,
    GroupsRead,
    GroupsWrite,
    RolesAssign,
    SessionsRead,
    SessionsRevoke,
    SignInLogRead,
    AuditLogRead,
    TokensManage,
    PolicyRead,
    PolicyWrite,
    /// See registered devices, their posture and compliance.
    DevicesRead,
    /// Disable, delete and clean up devices.
    DevicesWrite,
}

impl Permission {
    pub const ALL: [Permission; 15] = [
        Permission::UsersRead,
        Permission::UsersWrite,
        Permission::UsersResetPassword,
        Permission::GroupsRead,
        Permission::GroupsWrite,
        Permission::RolesAssign,
        Permission::SessionsRead,
        Permission::SessionsRevoke,
        Permission::SignInLogRead,
        Permission::AuditLogRead,
        Permission::TokensManage,
        Permission::PolicyRead,
        Permission::PolicyWrite,
        Permission::DevicesRead,
        Permission::DevicesWrite,
    ];
}

/// The roles an actor holds, for permission checks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleSet(pub Vec<Role>);

impl RoleSet {
    pub fn allows(&self, p: Permission) -> bool {
        self.0.iter().any(|r| r.has(p))
    }
    pub fn is_admin(&self) -> bool {
        !self.0.is_empty()
    }
    /// The one rule for acting on another user's credentials and sign-ins (set or reset a
    /// password, issue a Temporary Access Pass, remove methods, require re-registration,
    /// revoke sessions): the actor needs the permission `p`; a global administrator may act
    /// on anyone; every other administrator only on accounts whose roles are all open to the
    /// helpdesk ([`Role::open_to_helpdesk`]: non-administrators and helpdesk administrators).
    /// Anything wider would let a helpdesk administrator take over a more privileged account
    /// by resetting its password and signing in as it.
    pub fn may_act_on(&self, p: Permission, target: &RoleSet) -> bool {
        if !self.allows(p) {
            return false;
        }
        if self.0.iter().any(|r| r.acts_on_every_account()) {
            return true;
        }
        target.0.iter().all(|r| r.open_to_helpdesk())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_validated() {
        assert_eq!(validate_username("  alice "), Ok("alice".into()));
        assert!(matches!(
            validate_username(""),
            Err(IdentityError::Empty { .. })
        ));
        assert!(validate_username("a b").is_err());
        assert!(validate_username("a\u{7}b").is_err());
        assert!(validate_username("x'; DROP TABLE users;--").is_err());
        assert!(validate_username(&"a".repeat(129)).is_err());
        assert!(validate_username("alice@example.com").is_ok());
    }

    #[test]
    fn emails_are_validated() {
        assert!(validate_email("a@b.example").is_ok());
        for bad in ["", "a", "a@b", "@b.c", "a@@b.c", "a b@c.d", "a@.c"] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn roles_parse_and_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert_eq!(
            "Global-Administrator".parse::<Role>(),
            Ok(Role::GlobalAdministrator)
        );
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn permissions_are_enforced_per_role() {
        let reader = RoleSet(vec![Role::SecurityReader]);
        assert!(reader.allows(Permission::AuditLogRead));
        assert!(!reader.allows(Permission::UsersWrite));
        assert!(!reader.allows(Permission::SessionsRevoke));
        let helpdesk = RoleSet(vec![Role::HelpdeskAdministrator]);
        assert!(helpdesk.allows(Permission::UsersResetPassword));
        assert!(!helpdesk.allows(Permission::AuditLogRead));
        assert!(!helpdesk.allows(Permission::RolesAssign));
        let global = RoleSet(vec![Role::GlobalAdministrator]);
        assert!(Permission::ALL.iter().all(|p| global.allows(*p)));
        assert!(!RoleSet::default().allows(Permission::UsersRead));
    }

    #[test]
    fn helpdesk_acts_only_on_non_administrators_and_each_other() {
        use Permission::{SessionsRevoke, UsersResetPassword};
        let helpdesk = RoleSet(vec![Role::HelpdeskAdministrator]);
        let global = RoleSet(vec![Role::GlobalAdministrator]);
        let secadmin = RoleSet(vec![Role::SecurityAdministrator]);
        let reader = RoleSet(vec![Role::SecurityReader]);
        let plain = RoleSet::default();
        assert!(helpdesk.may_act_on(UsersResetPassword, &plain));
        assert!(helpdesk.may_act_on(UsersResetPassword, &helpdesk));
        for target in [&global, &secadmin, &reader] {
            assert!(
                !helpdesk.may_act_on(UsersResetPassword, target),
                "{target:?}"
            );
            assert!(!helpdesk.may_act_on(SessionsRevoke, target), "{target:?}");
            assert!(global.may_act_on(UsersResetPassword, target), "{target:?}");
        }
        // A helpdesk role next to a reader role does not open the account.
        let both = RoleSet(vec![Role::HelpdeskAdministrator, Role::SecurityReader]);
        assert!(!helpdesk.may_act_on(UsersResetPassword, &both));
        // Without the permission, nothing: a reader resets no one, a security administrator
        // revokes only what is open to the helpdesk.
        assert!(!reader.may_act_on(UsersResetPassword, &plain));
        assert!(!secadmin.may_act_on(UsersResetPassword, &plain));
        assert!(secadmin.may_act_on(SessionsRevoke, &plain));
        assert!(!secadmin.may_act_on(SessionsRevoke, &global));
        assert!(!plain.may_act_on(UsersResetPassword, &plain));
    }
}
