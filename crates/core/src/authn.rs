//! The login flow as an explicit state machine (after kanidm's `authsession`).
//!
//! The edge performs the I/O (looks the user up, verifies the password against the stored
//! hash or a dummy hash) and feeds the *outcome* in; the machine decides what comes next.
//! Later steps (second factor, registration interrupt, password-change interrupt, conditional
//! access) are added as [`Step`] variants, not as flags in handlers.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// An authentication method, with its RFC 8176 `amr` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    Password,
    /// A time-based one-time password from an authenticator app.
    Totp,
    /// A single-use recovery code.
    RecoveryCode,
    /// A Temporary Access Pass issued by an administrator: strong on its own (it satisfies
    /// MFA, as in Entra ID), reported as `otp` + `mfa`.
    TemporaryAccessPass,
    /// A one-time code sent to a verified email address.
    EmailCode,
    /// A WebAuthn credential (security key or passkey): `hwk` when device-bound, `swk` when
    /// synced (backup eligible), plus `user` when the authenticator verified the user (PIN or
    /// biometric), which makes it phishing-resistant MFA on its own (`mfa`).
    Webauthn {
        synced: bool,
        user_verified: bool,
    },
}

impl AuthMethod {
    /// RFC 8176 Authentication Method Reference value.
    pub fn amr(self) -> &'static str {
        match self {
            AuthMethod::Password => "pwd",
            AuthMethod::Totp
            | AuthMethod::RecoveryCode
            | AuthMethod::TemporaryAccessPass
            | AuthMethod::EmailCode => "otp",
            AuthMethod::Webauthn { synced: false, .. } => "hwk",
            AuthMethod::Webauthn { synced: true, .. } => "swk",
        }
    }

    /// Whether the method itself verified the user (RFC 8176 `user`): a WebAuthn assertion
    /// with the UV flag.
    pub fn user_verified(self) -> bool {
        matches!(
            self,
            AuthMethod::Webauthn {
                user_verified: true,
                ..
            }
        )
    }

    /// Strong enough alone to count as MFA.
    fn is_mfa_alone(self) -> bool {
        self == AuthMethod::TemporaryAccessPass || self.user_verified()
    }

    /// The factor category (RFC 8176 `mfa` means two different categories were used).
    fn factor(self) -> Factor {
        match self {
            AuthMethod::Password => Factor::Knowledge,
            AuthMethod::Totp
            | AuthMethod::RecoveryCode
            | AuthMethod::TemporaryAccessPass
            | AuthMethod::EmailCode
            | AuthMethod::Webauthn { .. } => Factor::Possession,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Factor {
    Knowledge,
    Possession,
}

/// One method the user performed, and when: sign-in frequency checks read these times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodUse {
    pub method: AuthMethod,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// The RFC 8176 `amr` values of these methods, de-duplicated, in order, plus `mfa` when two
/// different factor categories were used.
pub fn amr(methods: &[MethodUse]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for m in methods {
        let v = m.method.amr();
        if !out.contains(&v) {
            out.push(v);
        }
        if m.method.user_verified() && !out.contains(&"user") {
            out.push("user");
        }
    }
    let first = methods.first().map(|m| m.method.factor());
    if methods.iter().any(|m| Some(m.method.factor()) != first)
        || methods.iter().any(|m| m.method.is_mfa_alone())
    {
        out.push("mfa");
    }
    out
}

/// The `acr` values trustplane issues and accepts, weakest first: what a session's methods
/// prove, named after the built-in authentication strengths.
pub const ACR_VALUES: [&str; 4] = [
    "single_factor",
    "mfa",
    "passwordless_mfa",
    "phishing_resistant_mfa",
];

/// The strongest [`ACR_VALUES`] entry these methods meet. `phishing_resistant_mfa` and
/// `passwordless_mfa` need a WebAuthn assertion with user verification (a passkey, bound to
/// its origin), `mfa` two factor categories or a method strong alone.
pub fn acr_of(methods: &[MethodUse]) -> &'static str {
    if methods.iter().any(|m| m.method.user_verified()) {
        "phishing_resistant_mfa"
    } else if amr(methods).contains(&"mfa") {
        "mfa"
    } else {
        "single_factor"
    }
}

/// Whether methods meeting `have` also meet the `acr` value `want` (unknown values: no).
pub fn acr_satisfies(have: &str, want: &str) -> bool {
    let rank = |v: &str| ACR_VALUES.iter().position(|x| *x == v);
    match (rank(have), rank(want)) {
        (Some(h), Some(w)) => h >= w,
        _ => false,
    }
}

/// When the user last actively authenticated (OIDC `auth_time`, `max_age`): the time of the
/// latest method performed.
pub fn last_authenticated(methods: &[MethodUse]) -> Option<OffsetDateTime> {
    methods.iter().map(|m| m.at).max()
}

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

/// Why a login was refused. The code is stored in the sign-in log; the user only ever sees
/// [`DenyReason::public_message`], which is the same for every credential failure so that the
/// response does not reveal whether an account exists or is disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenyReason {
    UnknownUser,
    WrongPassword,
    AccountDisabled,
    RateLimited,
    FlowExpired,
    /// MFA is required but the user has no second factor and may register none.
    SecondFactorUnavailable,
    /// A conditional access policy blocks this sign-in.
    BlockedByPolicy,
    /// Conditional access requires something this sign-in cannot provide (a compliant or
    /// registered device, an authentication strength the user has no method for).
    PolicyRequirementUnavailable,
}

impl DenyReason {
    /// Whether a first factor `method` refused for this reason counts against the sign-in
    /// lock. One rule for every way in: only a wrong guess of a secret counts (a password or a
    /// Temporary Access Pass), for an unknown or disabled account too, so that the lock reveals
    /// nothing about which accounts exist. Refusals by a limit or by policy are no guess, and a
    /// passkey answer guesses no secret (counting refused answers would let anyone lock an
    /// account with garbage).
    pub fn counts_against_lock(self, method: AuthMethod) -> bool {
        let guessable = matches!(
            method,
            AuthMethod::Password | AuthMethod::TemporaryAccessPass
        );
        guessable
            && matches!(
                self,
                DenyReason::UnknownUser | DenyReason::WrongPassword | DenyReason::AccountDisabled
            )
    }

    pub fn code(self) -> &'static str {
        match self {
            DenyReason::UnknownUser => "unknown_user",
            DenyReason::WrongPassword => "wrong_password",
            DenyReason::AccountDisabled => "account_disabled",
            DenyReason::RateLimited => "rate_limited",
            DenyReason::FlowExpired => "flow_expired",
            DenyReason::SecondFactorUnavailable => "second_factor_unavailable",
            DenyReason::BlockedByPolicy => "blocked_by_policy",
            DenyReason::PolicyRequirementUnavailable => "policy_requirement_unavailable",
        }
    }

    pub fn public_message(self) -> &'static str {
        match self {
            DenyReason::UnknownUser | DenyReason::WrongPassword | DenyReason::AccountDisabled => {
                "Incorrect username or password."
            }
            DenyReason::RateLimited => "Too many sign-in attempts. Wait a minute and try again.",
            DenyReason::FlowExpired => "Your sign-in took too long. Please start again.",
            // Only reached after a correct password, so it reveals nothing to a guesser.
            DenyReason::SecondFactorUnavailable => {
                "Your organisation requires a second factor, but none is available to your account. Contact your administrator."
            }
            // Also only after a correct first factor; the policy itself is never named.
            DenyReason::BlockedByPolicy => {
                "Your organisation's access policy does not allow this sign-in."
            }
            DenyReason::PolicyRequirementUnavailable => {
                "Your organisation's access policy requires something this sign-in cannot provide, such as a managed device or a passkey you have not registered."
            }
        }
    }
}

/// A step that must be completed after the first factor before a session is issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "step")]
pub enum Step {
    /// The user must prove a second factor with one of their registered methods.
    SecondFactor { methods: Vec<crate::mfa::MfaKind> },
    /// The user has no second factor and must register one now (the registration proves
    /// possession, so it satisfies MFA for this sign-in); `can_skip` while a postponement
    /// allowed by the methods policy lasts.
    RegisterSecondFactor { can_skip: bool },
    /// The user must choose a new password (admin-forced, or leaked credentials detected).
    /// Always after `SecondFactor`: a leaked password alone must not let anyone set a new one.
    ChangePassword { reason: PasswordChangeReason },
    /// Conditional access requires the user to accept these terms of use (once).
    AcceptTerms { id: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordChangeReason {
    AdminRequired,
    LeakedCredentials,
    /// A conditional access policy requires a secure password change (e.g. high user risk).
    PolicyRequired,
}

/// Outcome of one pending step, as checked by the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    PasswordChanged,
    /// A second factor was verified with this method.
    SecondFactor(AuthMethod),
    /// A second factor was registered (and its first code verified) with this method.
    Registered(AuthMethod),
    /// The user postponed registration (only while allowed).
    RegistrationPostponed,
    /// The user accepted these terms of use.
    TermsAccepted(String),
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

#[cfg(test)]
mod lock_rule_tests {
    use super::*;

    const ALL: [DenyReason; 8] = [
        DenyReason::UnknownUser,
        DenyReason::WrongPassword,
        DenyReason::AccountDisabled,
        DenyReason::RateLimited,
        DenyReason::FlowExpired,
        DenyReason::SecondFactorUnavailable,
        DenyReason::BlockedByPolicy,
        DenyReason::PolicyRequirementUnavailable,
    ];

    fn counted(method: AuthMethod) -> Vec<DenyReason> {
        ALL.into_iter()
            .filter(|r| r.counts_against_lock(method))
            .collect()
    }

    #[test]
    fn a_wrong_password_counts_whoever_the_account_is() {
        assert_eq!(
            counted(AuthMethod::Password),
            [
                DenyReason::UnknownUser,
                DenyReason::WrongPassword,
                DenyReason::AccountDisabled
            ]
        );
    }

    #[test]
    fn a_wrong_temporary_access_pass_counts_like_a_password() {
        assert_eq!(
            counted(AuthMethod::TemporaryAccessPass),
            counted(AuthMethod::Password)
        );
    }

    #[test]
    fn a_refused_passkey_answer_never_counts() {
        for synced in [false, true] {
            for user_verified in [false, true] {
                assert!(
                    counted(AuthMethod::Webauthn {
                        synced,
                        user_verified
                    })
                    .is_empty()
                );
            }
        }
    }

    #[test]
    fn limits_and_policy_never_count() {
        for r in [
            DenyReason::RateLimited,
            DenyReason::FlowExpired,
            DenyReason::SecondFactorUnavailable,
            DenyReason::BlockedByPolicy,
            DenyReason::PolicyRequirementUnavailable,
        ] {
            assert!(!r.counts_against_lock(AuthMethod::Password), "{r:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-25 10:00 UTC);

    fn uid() -> Uuid {
        Uuid::from_u128(42)
    }

    #[test]
    fn password_success_without_steps() {
        let f = LoginFlow::new(T0).first_factor(
            FirstFactorOutcome::Verified { user_id: uid() },
            T0,
            |_| vec![],
        );
        assert_eq!(f.state, LoginState::Success { user_id: uid() });
        assert_eq!(f.amr(), vec!["pwd"]);
        assert_eq!(f.methods[0].at, T0);
    }

    #[test]
    fn credential_failures_look_the_same_to_the_user() {
        let outcomes = [
            FirstFactorOutcome::UnknownUser,
            FirstFactorOutcome::WrongPassword { user_id: uid() },
            FirstFactorOutcome::Disabled { user_id: uid() },
        ];
        let mut messages = vec![];
        let mut codes = vec![];
        for o in outcomes {
            let f = LoginFlow::new(T0).first_factor(o, T0, |_| vec![]);
            let LoginState::Denied { reason } = f.state else {
                panic!("not denied")
            };
            messages.push(reason.public_message());
            codes.push(reason.code());
            assert!(f.methods.is_empty());
        }
        assert!(messages.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(
            codes,
            vec!["unknown_user", "wrong_password", "account_disabled"]
        );
    }

    #[test]
    fn steps_must_be_completed_in_order() {
        let step = Step::ChangePassword {
            reason: PasswordChangeReason::LeakedCredentials,
        };
        let f = LoginFlow::new(T0).first_factor(
            FirstFactorOutcome::Verified { user_id: uid() },
            T0,
            |_| vec![step.clone()],
        );
        assert_eq!(f.current_step(), Some(&step));
        assert_eq!(f.user_id(), Some(uid()));
        let f = f.complete_step(StepOutcome::PasswordChanged, T0 + Duration::minutes(1));
        assert_eq!(f.state, LoginState::Success { user_id: uid() });
    }

    #[test]
    fn second_factor_then_password_change_gives_mfa() {
        let steps = vec![
            Step::SecondFactor {
                methods: vec![crate::mfa::MfaKind::Totp],
            },
            Step::ChangePassword {
                reason: PasswordChangeReason::LeakedCredentials,
            },
        ];
        let f = LoginFlow::new(T0).first_factor(
            FirstFactorOutcome::Verified { user_id: uid() },
            T0,
            |_| steps.clone(),
        );
        // The password change cannot jump the queue.
        let same = f
            .clone()
            .complete_step(StepOutcome::PasswordChanged, T0 + Duration::seconds(5));
        assert_eq!(same.current_step(), Some(&steps[0]));
        // A knowledge factor does not count as a second factor.
        let same = f.clone().complete_step(
            StepOutcome::SecondFactor(AuthMethod::Password),
            T0 + Duration::seconds(5),
        );
        assert_eq!(same.current_step(), Some(&steps[0]));
        let f = f.complete_step(
            StepOutcome::SecondFactor(AuthMethod::Totp),
            T0 + Duration::seconds(10),
        );
        assert_eq!(f.current_step(), Some(&steps[1]));
        assert_eq!(f.methods[1].at, T0 + Duration::seconds(10));
        let f = f.complete_step(StepOutcome::PasswordChanged, T0 + Duration::seconds(20));
        assert_eq!(f.state, LoginState::Success { user_id: uid() });
        assert_eq!(f.amr(), vec!["pwd", "otp", "mfa"]);
    }

    #[test]
    fn registration_step_counts_as_mfa_and_can_be_postponed_only_when_allowed() {
        let verified = |can_skip| {
            LoginFlow::new(T0).first_factor(
                FirstFactorOutcome::Verified { user_id: uid() },
                T0,
                |_| vec![Step::RegisterSecondFactor { can_skip }],
            )
        };
        let f = verified(false).complete_step(StepOutcome::RegistrationPostponed, T0);
        assert!(
            matches!(f.state, LoginState::InProgress { .. }),
            "no skipping"
        );
        let f = verified(true).complete_step(StepOutcome::RegistrationPostponed, T0);
        assert_eq!(f.state, LoginState::Success { user_id: uid() });
        assert_eq!(f.amr(), vec!["pwd"]);
        let f = verified(false).complete_step(StepOutcome::Registered(AuthMethod::Totp), T0);
        assert_eq!(f.state, LoginState::Success { user_id: uid() });
        assert_eq!(f.amr(), vec!["pwd", "otp", "mfa"]);
        // Refusing after the first factor.
        let f = verified(false).refuse(DenyReason::SecondFactorUnavailable);
        assert_eq!(
            f.state,
            LoginState::Denied {
                reason: DenyReason::SecondFactorUnavailable
            }
        );
    }

    #[test]
    fn a_temporary_access_pass_alone_is_mfa() {
        let f = LoginFlow::new(T0).first_factor_with(
            AuthMethod::TemporaryAccessPass,
            FirstFactorOutcome::Verified { user_id: uid() },
            T0,
            |_| vec![],
        );
        assert_eq!(f.state, LoginState::Success { user_id: uid() });
        assert_eq!(f.amr(), vec!["otp", "mfa"]);
    }

    #[test]
    fn a_passkey_with_user_verification_alone_is_mfa() {
        for (synced, first) in [(false, "hwk"), (true, "swk")] {
            let f = LoginFlow::new(T0).first_factor_with(
                AuthMethod::Webauthn {
                    synced,
                    user_verified: true,
                },
                FirstFactorOutcome::Verified { user_id: uid() },
                T0,
                |_| vec![],
            );
            assert_eq!(f.state, LoginState::Success { user_id: uid() });
            assert_eq!(f.amr(), vec![first, "user", "mfa"]);
        }
        // Without user verification a key is one possession factor, not MFA.
        let m = |method| MethodUse { method, at: T0 };
        let key = AuthMethod::Webauthn {
            synced: false,
            user_verified: false,
        };
        assert_eq!(amr(&[m(key)]), vec!["hwk"]);
        // As a second factor after a password.
        assert_eq!(
            amr(&[m(AuthMethod::Password), m(key)]),
            vec!["pwd", "hwk", "mfa"]
        );
        let f = LoginFlow::new(T0)
            .first_factor(FirstFactorOutcome::Verified { user_id: uid() }, T0, |_| {
                vec![Step::SecondFactor {
                    methods: vec![crate::mfa::MfaKind::Passkey],
                }]
            })
            .complete_step(
                StepOutcome::SecondFactor(AuthMethod::Webauthn {
                    synced: true,
                    user_verified: true,
                }),
                T0,
            );
        assert_eq!(f.amr(), vec!["pwd", "swk", "user", "mfa"]);
        // The method round-trips through JSON (sessions store it).
        let json = serde_json::to_string(&f.methods).unwrap();
        let back: Vec<MethodUse> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, f.methods);
    }

    #[test]
    fn expired_flow_is_denied() {
        let f = LoginFlow::new(T0).first_factor(
            FirstFactorOutcome::Verified { user_id: uid() },
            T0 + Duration::minutes(16),
            |_| vec![],
        );
        assert_eq!(
            f.state,
            LoginState::Denied {
                reason: DenyReason::FlowExpired
            }
        );
    }

    #[test]
    fn first_factor_cannot_be_replayed_on_a_finished_flow() {
        let f = LoginFlow::new(T0).first_factor(FirstFactorOutcome::UnknownUser, T0, |_| vec![]);
        let again = f.clone().first_factor(
            FirstFactorOutcome::Verified { user_id: uid() },
            T0,
            |_| vec![],
        );
        assert_eq!(f, again);
    }

    #[test]
    fn flow_round_trips_through_json() {
        let f = LoginFlow::new(T0).first_factor(
            FirstFactorOutcome::Verified { user_id: uid() },
            T0,
            |_| {
                vec![Step::ChangePassword {
                    reason: PasswordChangeReason::AdminRequired,
                }]
            },
        );
        let json = serde_json::to_string(&f).unwrap();
        let back: LoginFlow = serde_json::from_str(&json).unwrap();
        assert_eq!(f, back);
    }

    #[test]
    fn acr_reflects_the_strongest_proof() {
        let at = |method| MethodUse { method, at: T0 };
        assert_eq!(acr_of(&[at(AuthMethod::Password)]), "single_factor");
        assert_eq!(
            acr_of(&[at(AuthMethod::Password), at(AuthMethod::Totp)]),
            "mfa"
        );
        let uv = AuthMethod::Webauthn {
            synced: true,
            user_verified: true,
        };
        assert_eq!(acr_of(&[at(uv)]), "phishing_resistant_mfa");
        // A security key without user verification is a second factor, not a passkey.
        let no_uv = AuthMethod::Webauthn {
            synced: false,
            user_verified: false,
        };
        assert_eq!(acr_of(&[at(AuthMethod::Password), at(no_uv)]), "mfa");
        assert!(acr_satisfies("phishing_resistant_mfa", "mfa"));
        assert!(acr_satisfies("mfa", "mfa"));
        assert!(!acr_satisfies("mfa", "phishing_resistant_mfa"));
        assert!(!acr_satisfies("single_factor", "mfa"));
        assert!(!acr_satisfies("mfa", "gold"));
        assert_eq!(last_authenticated(&[]), None);
        let later = T0 + Duration::minutes(3);
        assert_eq!(
            last_authenticated(&[
                at(AuthMethod::Password),
                MethodUse {
                    method: AuthMethod::Totp,
                    at: later
                }
            ]),
            Some(later)
        );
    }

    #[test]
    fn a_step_up_keeps_the_session_methods_and_waits_for_steps() {
        let methods = vec![MethodUse {
            method: AuthMethod::Password,
            at: T0,
        }];
        let f = LoginFlow::step_up(uid(), methods.clone(), T0 + Duration::minutes(10));
        assert_eq!(f.methods, methods);
        assert_eq!(f.user_id(), Some(uid()));
        assert_eq!(f.current_step(), None);
    }
}
