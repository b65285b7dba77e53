//! Server integration tests: each test starts the real server on a random port and talks to
//! it over HTTP. One binary with modules (each file in tests/ would link its own binary).

mod api;
mod harness;
mod login;
mod postgres;
mod robustness;
