//! Sign-in (the `signin/` stage of the spine in docs/architecture.md). The flows themselves
//! still live in `login.rs` and `webauthn.rs`; every way in ends through [`complete`].

pub mod complete;
