//! The login flow as an explicit state machine (after kanidm's `authsession`).
//!
//! The edge performs the I/O (looks the user up, verifies the password against the stored
//! hash or a dummy hash) and feeds the *outcome* in; the machine decides what comes next.
//! Later steps (second factor, registration interrupt, password-change interrupt, conditional
//! access) are added as [`Step`] variants, not as flags in handlers.
//!
//! The parts, each in its own file:
//! - `method`: authentication methods and what they prove (`amr`, `acr`, last sign-in time);
//! - `flow`: the [`LoginFlow`] state machine, what a sign-in is for and the first-factor input;
//! - `steps`: the steps after the first factor and their outcomes;
//! - `deny_reason`: why a login was refused, and which refusals count against the lock.

mod deny_reason;
mod flow;
mod method;
mod steps;

pub use deny_reason::DenyReason;
pub use flow::{FLOW_LIFETIME, FirstFactorOutcome, FlowTarget, LoginFlow, LoginState};
pub use method::{
    ACR_VALUES, AuthMethod, MethodUse, acr_of, acr_satisfies, amr, last_authenticated,
};
pub use steps::{PasswordChangeReason, Step, StepOutcome};

#[cfg(test)]
mod lock_rule_tests;
#[cfg(test)]
mod tests;
