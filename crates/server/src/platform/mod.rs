//! What every stage stands on: configuration, the clock, secrets and private files, signing
//! keys and JOSE, the password-hashing pool, outgoing mail, checked durations.

pub mod clock;
pub mod config;
pub mod durations;
pub mod files;
pub mod hashpool;
pub mod jose;
pub mod keyring;
pub mod keys;
pub mod mail;
pub mod metrics;
pub mod secrets;
