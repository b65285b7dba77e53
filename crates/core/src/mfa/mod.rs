//! Second factors. TOTP (RFC 6238) through the `totp-rs` crate: SHA-1, 6 digits, 30-second
//! steps, one step of clock skew either way, and each step usable once (the caller stores the
//! last accepted step and passes it back in). Pure: the time is a parameter.

pub mod email;
pub mod policy;
pub mod tap;
pub mod webauthn;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

/// Seconds per TOTP step.
pub const TOTP_STEP: u64 = 30;
/// Digits per code.
pub const TOTP_DIGITS: usize = 6;
/// Steps of clock skew accepted either way.
pub const TOTP_SKEW: u64 = 1;
/// Secret length generated for new enrolments (160 bits, as RFC 4226 recommends).
pub const TOTP_SECRET_LEN: usize = 20;

/// The kinds of second factor a user can register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaKind {
    Totp,
    /// A verified email address that receives one-time codes.
    Email,
    /// A device-bound WebAuthn credential (security key, or a passkey that cannot leave its
    /// device).
    SecurityKey,
    /// A synced WebAuthn passkey (backup eligible: copied by a passkey provider).
    Passkey,
}

impl MfaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MfaKind::Totp => "totp",
            MfaKind::Email => "email",
            MfaKind::SecurityKey => "security_key",
            MfaKind::Passkey => "passkey",
        }
    }

    pub fn parse(s: &str) -> Option<MfaKind> {
        match s {
            "totp" => Some(MfaKind::Totp),
            "email" => Some(MfaKind::Email),
            "security_key" => Some(MfaKind::SecurityKey),
            "passkey" => Some(MfaKind::Passkey),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            MfaKind::Totp => "Authenticator app",
            MfaKind::Email => "Email",
            MfaKind::SecurityKey => "Security key (device-bound)",
            MfaKind::Passkey => "Passkey (synced)",
        }
    }

    /// Whether this is a WebAuthn credential.
    pub fn is_webauthn(self) -> bool {
        matches!(self, MfaKind::SecurityKey | MfaKind::Passkey)
    }
}

/// A registered second factor (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaMethod {
    pub id: uuid::Uuid,
    pub user_id: uuid::Uuid,
    pub kind: MfaKind,
    /// The user's name for it ("Phone").
    pub label: String,
    /// TOTP: the last accepted step.
    pub last_step: Option<u64>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<time::OffsetDateTime>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MfaError {
    #[error("a TOTP secret must be at least 16 bytes")]
    SecretTooShort,
}

fn totp(secret: &[u8]) -> Result<TOTP, MfaError> {
    if secret.len() < 16 {
        return Err(MfaError::SecretTooShort);
    }
    Ok(TOTP::new_unchecked(
        Algorithm::SHA1,
        TOTP_DIGITS,
        0,
        TOTP_STEP,
        secret.to_vec(),
    ))
}

/// The code for the step that contains `unix_time`.
pub fn totp_code(secret: &[u8], unix_time: u64) -> Result<String, MfaError> {
    Ok(totp(secret)?.generate(unix_time))
}

/// What a submitted TOTP code amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpCheck {
    /// Valid for `step`; the caller must record it as used (atomically: only if it is newer
    /// than the last used step) before accepting.
    Valid { step: u64 },
    /// A valid code whose step was already used (or is older than one that was).
    Replayed,
    /// Not a valid code now.
    Invalid,
}

/// Checks `code` at `unix_time`, accepting the current step and one either side, never a step
/// at or before `last_step`. Every candidate is compared in constant time.
pub fn verify_totp(
    secret: &[u8],
    code: &str,
    unix_time: u64,
    last_step: Option<u64>,
) -> Result<TotpCheck, MfaError> {
    let t = totp(secret)?;
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != TOTP_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(TotpCheck::Invalid);
    }
    let now = unix_time / TOTP_STEP;
    let mut found = None;
    for step in now.saturating_sub(TOTP_SKEW)..=now + TOTP_SKEW {
        let expected = t.generate(step * TOTP_STEP);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && found.is_none() {
            found = Some(step);
        }
    }
    Ok(match found {
        None => TotpCheck::Invalid,
        Some(step) if last_step.is_some_and(|last| step <= last) => TotpCheck::Replayed,
        Some(step) => TotpCheck::Valid { step },
    })
}

/// Recovery codes issued at a time.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Random bytes behind one recovery code (the code shows 50 of their bits).
pub const RECOVERY_CODE_BYTES: usize = 7;

/// A recovery code as shown to the user: 10 base32 characters in two groups (`abcde-fghij`,
/// 50 bits), from random bytes the caller supplies.
pub fn format_recovery_code(random: &[u8; RECOVERY_CODE_BYTES]) -> String {
    let s = base32(random).to_ascii_lowercase();
    format!("{}-{}", &s[..5], &s[5..10])
}

/// The canonical form of a typed recovery code (case, spaces and dashes ignored), or `None`
/// when it cannot be one.
pub fn normalize_recovery_code(input: &str) -> Option<String> {
    let s: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (s.len() == 10
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)))
    .then_some(s)
}

/// RFC 4648 base32 without padding, as authenticator apps expect it.
pub fn base32(secret: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(secret.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in secret {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The `otpauth://` URI an authenticator app scans (Key Uri Format).
pub fn otpauth_uri(secret: &[u8], issuer: &str, account: &str) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP}",
        enc(issuer),
        enc(account),
        base32(secret),
        enc(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    /// RFC 6238 Appendix B, SHA-1 column (8-digit codes; we use the last 6).
    #[test]
    fn rfc_6238_appendix_b_vectors() {
        for (time, eight) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(totp_code(RFC_SECRET, time).unwrap(), eight[2..], "t={time}");
        }
    }

    #[test]
    fn one_step_of_skew_either_way_and_no_more() {
        let t = 1_234_567_890;
        let step = t / TOTP_STEP;
        for (offset, ok) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code_time = (t as i64 + offset * TOTP_STEP as i64) as u64;
            let code = totp_code(RFC_SECRET, code_time).unwrap();
            let r = verify_totp(RFC_SECRET, &code, t, None).unwrap();
            if ok {
                assert_eq!(
                    r,
                    TotpCheck::Valid {
                        step: (step as i64 + offset) as u64
                    }
                );
            } else {
                assert_eq!(r, TotpCheck::Invalid, "offset {offset}");
            }
        }
    }

    #[test]
    fn a_step_is_used_once() {
        let t = 2_000_000_000;
        let code = totp_code(RFC_SECRET, t).unwrap();
        let TotpCheck::Valid { step } = verify_totp(RFC_SECRET, &code, t, None).unwrap() else {
            panic!("valid")
        };
        assert_eq!(
            verify_totp(RFC_SECRET, &code, t, Some(step)).unwrap(),
            TotpCheck::Replayed
        );
        // An older step than the last used one is refused too.
        let old = totp_code(RFC_SECRET, t - TOTP_STEP).unwrap();
        assert_eq!(
            verify_totp(RFC_SECRET, &old, t, Some(step)).unwrap(),
            TotpCheck::Replayed
        );
        // The next step is fine.
        let next = totp_code(RFC_SECRET, t + TOTP_STEP).unwrap();
        assert!(matches!(
            verify_totp(RFC_SECRET, &next, t + TOTP_STEP, Some(step)).unwrap(),
            TotpCheck::Valid { .. }
        ));
    }

    #[test]
    fn malformed_codes_are_invalid() {
        for code in ["", "12345", "1234567", "abcdef", "12 34 5x", "１２３４５６"] {
            assert_eq!(
                verify_totp(RFC_SECRET, code, 59, None).unwrap(),
                TotpCheck::Invalid,
                "{code:?}"
            );
        }
        // Spaces inside are tolerated (apps show "123 456").
        let code = totp_code(RFC_SECRET, 59).unwrap();
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert!(matches!(
            verify_totp(RFC_SECRET, &spaced, 59, None).unwrap(),
            TotpCheck::Valid { .. }
        ));
        assert_eq!(
            verify_totp(b"short", "123456", 59, None),
            Err(MfaError::SecretTooShort)
        );
    }

    #[test]
    fn recovery_codes_format_and_normalise() {
        let code = format_recovery_code(&[0xff, 0, 0x12, 0x34, 0x56, 0x78, 0x9a]);
        assert_eq!(code.len(), 11);
        assert_eq!(&code[5..6], "-");
        let canonical = normalize_recovery_code(&code).unwrap();
        assert_eq!(canonical.len(), 10);
        for typed in [
            code.to_uppercase(),
            code.replace('-', " "),
            format!(" {code} "),
        ] {
            assert_eq!(
                normalize_recovery_code(&typed).as_deref(),
                Some(canonical.as_str())
            );
        }
        for bad in [
            "",
            "123456",
            "abcde-fghi",
            "abcde-fghijk",
            "abcde-fgh1j",
            "abcde_fghij",
        ] {
            assert_eq!(normalize_recovery_code(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn base32_and_uri() {
        // RFC 4648 test vectors (without padding).
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"fo"), "MZXQ");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(RFC_SECRET), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let uri = otpauth_uri(RFC_SECRET, "Example Corp", "alice@example.com");
        assert_eq!(
            uri,
            "otpauth://totp/Example%20Corp:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Example%20Corp&algorithm=SHA1&digits=6&period=30"
        );
    }
}
