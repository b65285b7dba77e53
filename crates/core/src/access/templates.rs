//! Starting points for common policies, all `disabled` so that adding one changes nothing until
//! an administrator reviews it (and adds exclusions for emergency-access accounts).

use super::model::{
    AllOr, ApplicationAssignment, Assignments, ClientAppType, Conditions, Grant, GrantControl,
    Operator, Policy, PolicyState, RequireControls, SessionControls, SignInFrequency,
    UserAssignment, UserInclude,
};
use crate::identity::Role;
use crate::risk::RiskLevel;

fn all_apps(users: UserInclude) -> Assignments {
    Assignments {
        users: UserAssignment {
            include: users,
            exclude: Default::default(),
        },
        applications: Some(ApplicationAssignment {
            include: AllOr::All,
            exclude: Vec::new(),
        }),
        user_actions: None,
        authentication_contexts: None,
    }
}

fn all_users() -> UserInclude {
    UserInclude {
        all: true,
        ..UserInclude::default()
    }
}

fn require(controls: Vec<GrantControl>) -> Option<Grant> {
    Some(Grant::Require(RequireControls {
        operator: Operator::All,
        controls,
    }))
}

fn template(id: &str, name: &str, assignments: Assignments, grant: Option<Grant>) -> Policy {
    Policy {
        id: id.into(),
        name: name.into(),
        state: PolicyState::Disabled,
        assignments,
        conditions: Conditions::default(),
        grant,
        session: SessionControls::default(),
    }
}

/// The built-in templates.
///
/// "Require MFA registration" targets all users and all applications with the
/// `register_security_info` control (users without MFA methods must register before they get
/// in), rather than the `register_security_info` user action: the user action scopes policies
/// *about* the registration page (e.g. "only register from a trusted location"), whereas this
/// template is about making everyone register.
pub fn templates() -> Vec<Policy> {
    let mfa_admins = template(
        "require-mfa-admins",
        "Require MFA for admins",
        all_apps(UserInclude {
            roles: Role::ALL.to_vec(),
            ..UserInclude::default()
        }),
        require(vec![GrantControl::Mfa]),
    );

    let registration = template(
        "require-mfa-registration",
        "Require MFA registration",
        all_apps(all_users()),
        require(vec![GrantControl::RegisterSecurityInfo]),
    );

    let mut legacy = template(
        "block-legacy-authentication",
        "Block legacy authentication",
        all_apps(all_users()),
        Some(Grant::Block),
    );
    legacy.conditions.client_app_types = Some(vec![ClientAppType::Other]);

    let mut sign_in_risk = template(
        "sign-in-risk-mfa",
        "Sign-in risk medium and above requires MFA",
        all_apps(all_users()),
        require(vec![GrantControl::Mfa]),
    );
    sign_in_risk.conditions.sign_in_risk_levels = Some(vec![RiskLevel::Medium, RiskLevel::High]);
    sign_in_risk.session.sign_in_frequency = Some(SignInFrequency::EveryTime);

    let mut user_risk = template(
        "user-risk-password-change",
        "User risk high requires secure password change",
        all_apps(all_users()),
        require(vec![GrantControl::Mfa, GrantControl::PasswordChange]),
    );
    user_risk.conditions.user_risk_levels = Some(vec![RiskLevel::High]);
    user_risk.session.sign_in_frequency = Some(SignInFrequency::EveryTime);

    vec![mfa_admins, registration, legacy, sign_in_risk, user_risk]
}
