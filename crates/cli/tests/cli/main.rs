//! The `trustplane` binary as an operator uses it, one module per topic.

// Tests fail by panicking; helpers outside #[test] fns unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod admin;
mod apps;
mod audit;
mod devices;
mod password;
mod policy;
mod risk;
mod setup;
