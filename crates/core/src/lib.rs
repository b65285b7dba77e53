//! trustplane core: domain types and pure logic. No I/O, no clock reads, no randomness:
//! everything that varies is a parameter, so the logic is deterministic and testable.

pub mod access;
pub mod audit;
pub mod authn;
pub mod credential;
pub mod device;
pub mod hashing;
pub mod identity;
pub mod mfa;
pub mod password;
pub mod risk;
pub mod session;
pub mod signin;
pub mod signin_risk;
