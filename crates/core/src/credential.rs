//! Credential primitives: Argon2id password hashes in PHC string form, and hashing of
//! high-entropy secrets (session ids, API tokens) for storage.
//!
//! Randomness (salts) is passed in by the caller so this module stays deterministic.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Argon2id cost parameters. The default follows OWASP's password storage cheat sheet:
/// m = 19456 KiB, t = 2, p = 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HashParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for HashParams {
    fn default() -> Self {
        HashParams {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("invalid Argon2 parameters: {0}")]
    Params(String),
    #[error("could not hash the password: {0}")]
    Hash(String),
    #[error("stored password hash is malformed")]
    MalformedHash,
}

impl HashParams {
    fn argon2(&self) -> Result<Argon2<'static>, CredentialError> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| CredentialError::Params(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// Validates the parameters (also enforces a sane floor: at least OWASP's weakest
    /// recommended setting, m=7168 KiB with t=5, expressed as m*t >= 35840).
    pub fn validate(&self) -> Result<(), CredentialError> {
        self.argon2()?;
        if u64::from(self.memory_kib) * u64::from(self.iterations) < 35_840 {
            return Err(CredentialError::Params(
                "memory_kib * iterations must be at least 35840 (OWASP minimum)".into(),
            ));
        }
        Ok(())
    }
}

/// Hashes `password` with Argon2id and `salt` (at least 16 random bytes from the caller).
pub fn hash_password(
    password: &str,
    params: &HashParams,
    salt: &[u8],
) -> Result<String, CredentialError> {
    let salt = SaltString::encode_b64(salt).map_err(|e| CredentialError::Hash(e.to_string()))?;
    let hash = params
        .argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| CredentialError::Hash(e.to_string()))?;
    Ok(hash.to_string())
}

/// Result of checking a password against a stored PHC string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyOutcome {
    /// Wrong password (or malformed hash: never a match).
    Mismatch,
    /// Correct password, hash parameters current.
    Match,
    /// Correct password, but the stored hash uses other parameters or algorithm: the caller
    /// should re-hash the password with current parameters and store it.
    MatchNeedsRehash,
}

impl VerifyOutcome {
    pub fn is_match(self) -> bool {
        !matches!(self, VerifyOutcome::Mismatch)
    }
}

/// Verifies `password` against `phc`. Verification uses the parameters stored in the hash.
pub fn verify_password(password: &str, phc: &str, current: &HashParams) -> VerifyOutcome {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return VerifyOutcome::Mismatch;
    };
    if Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_err()
    {
        return VerifyOutcome::Mismatch;
    }
    if hash_is_current(&parsed, current) {
        VerifyOutcome::Match
    } else {
        VerifyOutcome::MatchNeedsRehash
    }
}

fn hash_is_current(parsed: &PasswordHash<'_>, current: &HashParams) -> bool {
    if parsed.algorithm.as_str() != "argon2id" {
        return false;
    }
    let Ok(p) = Params::try_from(parsed) else {
        return false;
    };
    p.m_cost() == current.memory_kib
        && p.t_cost() == current.iterations
        && p.p_cost() == current.parallelism
}

/// SHA-256 of a high-entropy secret (session id, API token, one-time link). These secrets
/// carry 256 bits of randomness, so a fast hash is the right tool: a database leak reveals
/// nothing usable, and lookup by hash stays an index seek.
pub fn secret_digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Constant-time equality for secrets of possibly different lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> HashParams {
        HashParams {
            memory_kib: 8192,
            iterations: 5,
            parallelism: 1,
        }
    }

    #[test]
    fn hash_verifies_and_rejects_wrong_password() {
        let h = hash_password("correct horse", &fast(), &[7u8; 16]).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=8192,t=5,p=1$"));
        assert_eq!(
            verify_password("correct horse", &h, &fast()),
            VerifyOutcome::Match
        );
        assert_eq!(
            verify_password("correct horsE", &h, &fast()),
            VerifyOutcome::Mismatch
        );
    }

    #[test]
    fn old_parameters_ask_for_rehash() {
        let h = hash_password("pw", &fast(), &[1u8; 16]).unwrap();
        let newer = HashParams::default();
        assert_eq!(
            verify_password("pw", &h, &newer),
            VerifyOutcome::MatchNeedsRehash
        );
        assert_eq!(verify_password("nope", &h, &newer), VerifyOutcome::Mismatch);
    }

    #[test]
    fn malformed_hash_never_matches() {
        for bad in ["", "plain", "$argon2id$v=19$m=1,t=1,p=1$xx$yy"] {
            assert_eq!(
                verify_password("", bad, &fast()),
                VerifyOutcome::Mismatch,
                "{bad}"
            );
        }
    }

    #[test]
    fn default_params_are_owasp() {
        let p = HashParams::default();
        assert_eq!((p.memory_kib, p.iterations, p.parallelism), (19456, 2, 1));
        assert!(p.validate().is_ok());
        assert!(
            HashParams {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn digest_is_stable_hex() {
        assert_eq!(
            secret_digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
