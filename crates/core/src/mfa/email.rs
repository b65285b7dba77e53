//! One-time codes sent by email: a second factor at sign-in, the proof that a user owns an
//! address they register, and one way to verify identity in self-service password reset.
//!
//! Codes are 8 digits (so they are never confused with a 6-digit TOTP code or a 10-character
//! recovery code), live 10 minutes, are single-use and allow a few wrong guesses each. Only a
//! keyed hash of a code is stored; the edge compares hashes in constant time.

use serde::{Deserialize, Serialize};
use time::Duration;

/// Digits per code (as Entra ID's email one-time passcodes).
pub const EMAIL_CODE_DIGITS: usize = 8;
/// How long a code may be used.
pub const EMAIL_CODE_LIFETIME: Duration = Duration::minutes(10);
/// Wrong guesses allowed against one code before it is void.
pub const EMAIL_CODE_MAX_ATTEMPTS: u32 = 5;
/// Codes sent to one user within [`EMAIL_CODE_WINDOW`] at most.
pub const EMAIL_CODES_PER_WINDOW: u32 = 5;
pub const EMAIL_CODE_WINDOW: Duration = Duration::minutes(15);

/// What a code is for; a code only works for its own purpose and ceremony.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodePurpose {
    SignIn,
    VerifyAddress,
    PasswordReset,
}

impl CodePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            CodePurpose::SignIn => "sign_in",
            CodePurpose::VerifyAddress => "verify_address",
            CodePurpose::PasswordReset => "password_reset",
        }
    }
}

/// A uniformly distributed code from 8 random bytes (the bias of the reduction is below
/// 10^8 / 2^64, i.e. negligible).
pub fn code_from_random(random: [u8; 8]) -> String {
    let n = u64::from_le_bytes(random) % 100_000_000;
    format!("{n:0EMAIL_CODE_DIGITS$}")
}

/// The code as typed (spaces and dashes allowed), or `None` when it cannot be an email code.
pub fn normalize_email_code(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    (code.len() == EMAIL_CODE_DIGITS && code.bytes().all(|b| b.is_ascii_digit())).then_some(code)
}

/// A plausible email address: one `@`, a non-empty local part, a dotted domain, no spaces,
/// at most 254 characters (RFC 5321). Deliverability is proven by the code, not by this.
pub fn plausible_address(addr: &str) -> bool {
    let Some((local, domain)) = addr.split_once('@') else {
        return false;
    };
    addr.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !addr
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
}

/// The address with most of the local part hidden ("m•••@example.com"), for pages that must
/// show where a code went without disclosing the address.
pub fn mask_address(addr: &str) -> String {
    match addr.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}•••@{domain}")
        }
        None => "•••".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_eight_digits_with_leading_zeros() {
        assert_eq!(code_from_random([0; 8]), "00000000");
        let c = code_from_random(7u64.to_le_bytes());
        assert_eq!(c, "00000007");
        let c = code_from_random(u64::MAX.to_le_bytes());
        assert_eq!(c.len(), 8);
        assert!(c.bytes().all(|b| b.is_ascii_digit()));
    }

    #[test]
    fn typed_codes_are_normalised() {
        assert_eq!(normalize_email_code(" 1234-5678 "), Some("12345678".into()));
        assert_eq!(normalize_email_code("1234 5678"), Some("12345678".into()));
        assert_eq!(normalize_email_code("123456"), None, "a TOTP code");
        assert_eq!(normalize_email_code("abcdefgh"), None);
        assert_eq!(
            normalize_email_code("１２３４５６７８"),
            None,
            "only ASCII digits"
        );
    }

    #[test]
    fn addresses() {
        assert!(plausible_address("mia@example.com"));
        assert!(!plausible_address("mia@localhost"));
        assert!(!plausible_address("@example.com"));
        assert!(!plausible_address("mia@@example.com"));
        assert!(!plausible_address("mia example@example.com"));
        assert!(!plausible_address("Mia <mia@example.com>"));
        assert_eq!(mask_address("mia@example.com"), "m•••@example.com");
    }
}
