//! Argon2id on caller-owned memory: a hashing worker keeps one block buffer (19 MiB at the
//! default parameters) and reuses it for every hash and verification, so resident memory is
//! (workers × buffer) however many sign-ins run. The results are byte-for-byte the same PHC
//! strings as [`crate::credential::hash_password`] / [`crate::credential::verify_password`].

use crate::credential::{CredentialError, HashParams, VerifyOutcome, constant_time_eq};
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// The most memory one verification may borrow beyond the worker's buffer (a stored hash with
/// larger parameters than the current ones, e.g. imported): 256 MiB. Larger is never a match.
const MAX_BORROWED_BLOCKS: usize = 256 * 1024;

/// One worker's reusable Argon2 memory.
#[derive(Default)]
pub struct HashMemory {
    blocks: Vec<Block>,
}

impl HashMemory {
    /// A buffer sized for `params` (allocated now, so a worker's footprint is known at start).
    pub fn for_params(params: &HashParams) -> Self {
        let mut m = HashMemory::default();
        if let Ok(p) = argon2_params(params, None) {
            m.blocks = vec![Block::new(); p.block_count()];
        }
        m
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.blocks.len() * Block::SIZE
    }

    /// Runs `f` on `n` blocks: this buffer when it is large enough (it grows once to the
    /// current parameters), a temporary one for a rare larger stored hash.
    fn with_blocks<T>(&mut self, n: usize, keep: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
        if n <= self.blocks.len() {
            return f(&mut self.blocks[..n]);
        }
        if n <= keep {
            self.blocks.resize(n, Block::new());
            return f(&mut self.blocks[..n]);
        }
        let mut tmp = vec![Block::new(); n];
        f(&mut tmp)
    }
}

fn argon2_params(p: &HashParams, output_len: Option<usize>) -> Result<Params, CredentialError> {
    Params::new(p.memory_kib, p.iterations, p.parallelism, output_len)
        .map_err(|e| CredentialError::Params(e.to_string()))
}

fn keep_blocks(current: &HashParams) -> usize {
    argon2_params(current, None).map_or(0, |p| p.block_count())
}

/// [`crate::credential::hash_password`] on `mem`.
pub fn hash_password_in(
    mem: &mut HashMemory,
    password: &str,
    params: &HashParams,
    salt: &[u8],
) -> Result<String, CredentialError> {
    let hash_err = |e: &dyn std::fmt::Display| CredentialError::Hash(e.to_string());
    let salt_string = SaltString::encode_b64(salt).map_err(|e| hash_err(&e))?;
    let p = argon2_params(params, None)?;
    let ctx = Argon2::new(Algorithm::Argon2id, Version::V0x13, p.clone());
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let keep = keep_blocks(params);
    mem.with_blocks(p.block_count(), keep, |blocks| {
        ctx.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, blocks)
    })
    .map_err(|e| hash_err(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&p).map_err(|e| hash_err(&e))?,
        salt: Some(salt_string.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| hash_err(&e))?),
    };
    Ok(phc.to_string())
}

/// [`crate::credential::verify_password`] on `mem`.
pub fn verify_password_in(
    mem: &mut HashMemory,
    password: &str,
    phc: &str,
    current: &HashParams,
) -> VerifyOutcome {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return VerifyOutcome::Mismatch;
    };
    let (Ok(alg), Some(expected), Some(salt)) = (
        Algorithm::try_from(parsed.algorithm),
        parsed.hash,
        parsed.salt,
    ) else {
        return VerifyOutcome::Mismatch;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return VerifyOutcome::Mismatch,
    };
    let Ok(p) = Params::try_from(&parsed) else {
        return VerifyOutcome::Mismatch;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return VerifyOutcome::Mismatch;
    };
    let n = p.block_count();
    let keep = keep_blocks(current);
    if n > keep.max(MAX_BORROWED_BLOCKS) {
        return VerifyOutcome::Mismatch;
    }
    let ctx = Argon2::new(alg, version, p.clone());
    let mut out = vec![0u8; expected.len()];
    let ok = mem
        .with_blocks(n, keep, |blocks| {
            ctx.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, blocks)
        })
        .is_ok();
    if !ok || !constant_time_eq(&out, expected.as_bytes()) {
        return VerifyOutcome::Mismatch;
    }
    let current_params = alg == Algorithm::Argon2id
        && p.m_cost() == current.memory_kib
        && p.t_cost() == current.iterations
        && p.p_cost() == current.parallelism;
    if current_params {
        VerifyOutcome::Match
    } else {
        VerifyOutcome::MatchNeedsRehash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::{hash_password, verify_password};

    fn small() -> HashParams {
        HashParams {
            memory_kib: 8192,
            iterations: 5,
            parallelism: 1,
        }
    }

    #[test]
    fn same_phc_as_the_allocating_path_and_memory_is_reused() {
        let params = small();
        let mut mem = HashMemory::for_params(&params);
        assert_eq!(mem.bytes(), 8192 * 1024);
        let salt = [7u8; 16];
        let a = hash_password_in(&mut mem, "pw one", &params, &salt).unwrap();
        let b = hash_password("pw one", &params, &salt).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            verify_password_in(&mut mem, "pw one", &b, &params),
            VerifyOutcome::Match
        );
        assert_eq!(
            verify_password_in(&mut mem, "pw two", &b, &params),
            VerifyOutcome::Mismatch
        );
        assert_eq!(mem.bytes(), 8192 * 1024, "no growth for current parameters");
    }

    #[test]
    fn other_parameters_and_algorithms_verify_and_ask_for_a_rehash() {
        let old = HashParams {
            memory_kib: 4096,
            iterations: 9,
            parallelism: 2,
        };
        let h = hash_password("legacy", &old, &[1u8; 16]).unwrap();
        let mut mem = HashMemory::for_params(&small());
        assert_eq!(
            verify_password_in(&mut mem, "legacy", &h, &small()),
            VerifyOutcome::MatchNeedsRehash
        );
        assert_eq!(
            verify_password("legacy", &h, &small()),
            VerifyOutcome::MatchNeedsRehash
        );
        // Larger than the buffer: a temporary allocation, the buffer keeps its size.
        let big = HashParams {
            memory_kib: 16384,
            iterations: 3,
            parallelism: 1,
        };
        let h = hash_password("bigger", &big, &[2u8; 16]).unwrap();
        assert_eq!(
            verify_password_in(&mut mem, "bigger", &h, &small()),
            VerifyOutcome::MatchNeedsRehash
        );
        assert_eq!(mem.bytes(), 8192 * 1024);
    }

    #[test]
    fn malformed_and_oversized_hashes_never_match() {
        let mut mem = HashMemory::default();
        for bad in [
            "",
            "plain",
            "$argon2id$v=19$m=1,t=1,p=1$xx$yy",
            "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
            "$scrypt$ln=16,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
        ] {
            assert_eq!(
                verify_password_in(&mut mem, "x", bad, &small()),
                VerifyOutcome::Mismatch,
                "{bad}"
            );
        }
        assert_eq!(mem.bytes(), 0);
    }
}
