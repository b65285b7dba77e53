//! Server integration tests: each test starts the real server on a random port and talks to
//! it over HTTP. One binary with modules (each file in tests/ would link its own binary).

// Tests fail by panicking; helpers outside #[test] fns unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod access;
mod agent;
mod api;
mod cae;
mod devices;
mod devices_nginx;
mod forward_auth;
mod forward_auth_input;
mod forward_auth_proxies;
mod harness;
mod limits;
mod login;
mod mail;
mod mfa;
mod oidc;
mod oidc_client_auth;
mod oidc_tokens;
mod password_flow;
mod password_names;
mod postgres;
mod proxies;
mod reset;
mod resources;
mod robustness;
mod stepup;
mod storage_faults;
mod web_api;
mod web_csrf;
mod webauthn;
