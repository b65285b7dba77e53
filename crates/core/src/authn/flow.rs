//! The login flow itself: what it is for, its state, and the transitions the edge drives by
//! feeding in the first-factor and step outcomes.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::method::Factor;
use super::{AuthMethod, DenyReason, MethodUse, Step, StepOutcome, amr};

/// What a sign-in is for, when it is not the portal itself: the application asking (through
/// forward-auth or OIDC), with its sensitivity label and the authentication contexts it
/// requests, and an authentication strength it demands (OIDC `acr_values`). Conditional access
/// is evaluated for this target, and the strength is required on top of what policies ask.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowTarget {
    pub app: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitivity_label: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authentication_contexts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strength: Option<String>,
}

/// What the edge found when it checked the first factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstFactorOutcome {
    /// The password matched an enabled user.
    Verified { user_id: Uuid },
    /// No such user (a dummy hash was verified so that timing matches).
    UnknownUser,
    /// The user exists but the password did not match (or the user has no password).
    WrongPassword { user_id: Uuid },
    /// The password matched but the account is disabled.
    Disabled { user_id: Uuid },
    /// Too many attempts for this IP address or account.
    RateLimited { user_id: Option<Uuid> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum LoginState {
    /// Waiting for username and password.
    AwaitingFirstFactor,
    /// First factor done; `pending` steps remain, the first one is current.
    InProgress { user_id: Uuid, pending: Vec<Step> },
    /// All steps complete: the edge issues a session.
    Success { user_id: Uuid },
    /// Refused.
    Denied { reason: DenyReason },
}

/// A login attempt. Serialisable so that a multi-step flow can be kept server-side between
/// requests (any instance can continue it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginFlow {
    pub state: LoginState,
    pub methods: Vec<MethodUse>,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// A password change step was completed in this flow (conditional access's "secure
    /// password change" is then met).
    #[serde(default)]
    pub password_changed: bool,
    /// A conditional access sign-in frequency caps the session this flow issues (minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_session_minutes: Option<u32>,
    /// Conditional access asks for a persistent browser session (the cookie outlives the
    /// browser, until the session expires).
    #[serde(default)]
    pub persistent_browser: bool,
    /// The application this sign-in is for (none: the portal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<FlowTarget>,
}

/// How long a login flow may take from start to finish.
pub const FLOW_LIFETIME: Duration = Duration::minutes(15);

impl LoginFlow {
    pub fn new(now: OffsetDateTime) -> Self {
        LoginFlow {
            state: LoginState::AwaitingFirstFactor,
            methods: Vec::new(),
            started_at: now,
            password_changed: false,
            max_session_minutes: None,
            persistent_browser: false,
            target: None,
        }
    }

    /// The application this sign-in is for (see [`FlowTarget`]).
    pub fn with_target(mut self, target: Option<FlowTarget>) -> Self {
        self.target = target;
        self
    }

    /// A step-up of an existing session: the user is already authenticated with `methods`
    /// (kept, with their times); conditional access then adds the steps still missing.
    pub fn step_up(user_id: Uuid, methods: Vec<MethodUse>, now: OffsetDateTime) -> Self {
        LoginFlow {
            state: LoginState::InProgress {
                user_id,
                pending: Vec::new(),
            },
            methods,
            ..LoginFlow::new(now)
        }
    }

    fn expired(&self, now: OffsetDateTime) -> bool {
        now - self.started_at > FLOW_LIFETIME || now < self.started_at
    }

    fn deny(mut self, reason: DenyReason) -> Self {
        self.state = LoginState::Denied { reason };
        self
    }

    /// Feeds the first-factor outcome. `steps_for` tells which further steps this user must
    /// complete (empty for a plain password sign-in); it is only consulted on success.
    pub fn first_factor(
        self,
        outcome: FirstFactorOutcome,
        now: OffsetDateTime,
        steps_for: impl FnOnce(Uuid) -> Vec<Step>,
    ) -> Self {
        self.first_factor_with(AuthMethod::Password, outcome, now, steps_for)
    }

    /// [`LoginFlow::first_factor`] with another first-factor method (e.g. a Temporary Access
    /// Pass).
    pub fn first_factor_with(
        mut self,
        method: AuthMethod,
        outcome: FirstFactorOutcome,
        now: OffsetDateTime,
        steps_for: impl FnOnce(Uuid) -> Vec<Step>,
    ) -> Self {
        if self.state != LoginState::AwaitingFirstFactor {
            return self;
        }
        if self.expired(now) {
            return self.deny(DenyReason::FlowExpired);
        }
        match outcome {
            FirstFactorOutcome::UnknownUser => self.deny(DenyReason::UnknownUser),
            FirstFactorOutcome::WrongPassword { .. } => self.deny(DenyReason::WrongPassword),
            FirstFactorOutcome::Disabled { .. } => self.deny(DenyReason::AccountDisabled),
            FirstFactorOutcome::RateLimited { .. } => self.deny(DenyReason::RateLimited),
            FirstFactorOutcome::Verified { user_id } => {
                self.methods.push(MethodUse { method, at: now });
                let pending = steps_for(user_id);
                self.state = if pending.is_empty() {
                    LoginState::Success { user_id }
                } else {
                    LoginState::InProgress { user_id, pending }
                };
                self
            }
        }
    }

    /// Refuses a flow whose first factor passed (e.g. MFA required and impossible).
    pub fn refuse(self, reason: DenyReason) -> Self {
        match self.state {
            LoginState::InProgress { .. } | LoginState::Success { .. } => self.deny(reason),
            _ => self,
        }
    }

    /// The step the user has to complete now, if any.
    pub fn current_step(&self) -> Option<&Step> {
        match &self.state {
            LoginState::InProgress { pending, .. } => pending.first(),
            _ => None,
        }
    }

    /// Feeds the outcome of the current step. An outcome that does not belong to the current
    /// step leaves the flow unchanged.
    pub fn complete_step(mut self, outcome: StepOutcome, now: OffsetDateTime) -> Self {
        if self.expired(now) {
            return self.deny(DenyReason::FlowExpired);
        }
        let LoginState::InProgress { user_id, pending } = &mut self.state else {
            return self;
        };
        let matches = match (pending.first(), &outcome) {
            (Some(Step::ChangePassword { .. }), StepOutcome::PasswordChanged) => true,
            (Some(Step::SecondFactor { .. }), StepOutcome::SecondFactor(m))
            | (Some(Step::RegisterSecondFactor { .. }), StepOutcome::Registered(m)) => {
                m.factor() != Factor::Knowledge
            }
            (
                Some(Step::RegisterSecondFactor { can_skip: true }),
                StepOutcome::RegistrationPostponed,
            ) => true,
            (Some(Step::AcceptTerms { id }), StepOutcome::TermsAccepted(accepted)) => {
                id == accepted
            }
            _ => false,
        };
        if !matches {
            return self;
        }
        pending.remove(0);
        if outcome == StepOutcome::PasswordChanged {
            self.password_changed = true;
        }
        if let StepOutcome::SecondFactor(method) | StepOutcome::Registered(method) = outcome {
            self.methods.push(MethodUse { method, at: now });
        }
        if pending.is_empty() {
            self.state = LoginState::Success { user_id: *user_id };
        }
        self
    }

    pub fn user_id(&self) -> Option<Uuid> {
        match &self.state {
            LoginState::InProgress { user_id, .. } | LoginState::Success { user_id } => {
                Some(*user_id)
            }
            _ => None,
        }
    }

    /// The `amr` values of the methods performed so far (see [`amr`]).
    pub fn amr(&self) -> Vec<&'static str> {
        amr(&self.methods)
    }
}
