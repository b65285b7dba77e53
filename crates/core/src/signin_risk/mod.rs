//! Sign-in risk scoring (issue 16, first part): how unlike a user's own history, and how like
//! an attack, a sign-in attempt looks. Pure and bounded: the caller passes every attempt in
//! time order (`score` before `observe`), nothing here reads a clock or does I/O.
//!
//! The model follows Freeman et al., "Who are you? A statistical approach to measuring user
//! authenticity" (NDSS 2016): for each feature of the attempt (network, place, browser, OS,
//! device type) the score adds `ln P(value | attacker) − ln P(value | user)`, where the attacker
//! is modelled by the organisation-wide population and the user by their own successful
//! sign-ins smoothed toward the population (so a value the user never used weighs more the
//! longer their history). Two population signals are added: how many distinct accounts the
//! source address tried recently (spraying and stuffing come from few addresses and many
//! accounts) and how many of its recent attempts failed.

pub mod model;

pub use model::{Attempt, Scored, SigninRiskModel};
