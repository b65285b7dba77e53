//! Randomness and the operator's master key.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::Sha256;
use std::path::Path;

/// 32 random bytes, URL-safe base64 (43 characters): session ids, tokens, CSRF seeds.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

pub fn random_salt() -> [u8; 16] {
    let mut b = [0u8; 16];
    OsRng.fill_bytes(&mut b);
    b
}

/// The master key, from which purpose-specific keys are derived with HMAC-SHA256.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot read or write the secret key file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("secret key file {0} is malformed (expected 32 bytes, base64)")]
    Malformed(String),
    #[error(
        "secret key file {0} is empty (left by an interrupted first start?). If this installation \
         never started successfully, delete the file and start again; otherwise restore it from \
         your backup: data sealed with the lost key cannot be read without it"
    )]
    Empty(String),
    #[error(
        "secret key file {0} is writable by other users, who could replace the key: refusing to \
         use it (chmod 600 it and check who changed it)"
    )]
    Permissions(String),
}

impl MasterKey {
    pub fn from_bytes(b: [u8; 32]) -> Self {
        MasterKey(b)
    }

    /// Reads the key file, creating it (mode 0600, in a directory of mode 0700) on first use.
    ///
    /// The new key is written atomically (temporary file, fsync, link, fsync of the
    /// directory): a first start on a full disk leaves no key file at all, and the next start
    /// creates one. An existing key file that is empty or cut short is refused with a message
    /// (never silently replaced: secrets sealed under the lost key would become unreadable and
    /// the audit chain unverifiable). A key file that others can write is refused; one that
    /// others can read is accepted with a warning.
    pub fn load_or_create(path: &Path) -> Result<MasterKey, SecretError> {
        let io = |source| SecretError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            ensure_private_dir(dir)?;
        }
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse_existing(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                OsRng.fill_bytes(&mut key);
                let text = format!("{}\n", STANDARD.encode(key));
                if crate::platform::files::write_new_atomic(path, text.as_bytes()).map_err(io)? {
                    Ok(MasterKey(key))
                } else {
                    // Another process created it first: use theirs.
                    let text = std::fs::read_to_string(path).map_err(io)?;
                    Self::parse_existing(path, &text)
                }
            }
            Err(e) => Err(io(e)),
        }
    }

    fn parse_existing(path: &Path, text: &str) -> Result<MasterKey, SecretError> {
        let shown = path.display().to_string();
        match crate::platform::files::key_file_access(path) {
            Ok(crate::platform::files::KeyFileAccess::WritableByOthers) => {
                return Err(SecretError::Permissions(shown));
            }
            Ok(crate::platform::files::KeyFileAccess::ReadableByOthers) => tracing::warn!(
                path = %shown,
                "the secret key file is readable by other users: restrict it (chmod 600) and \
                 consider the key exposed"
            ),
            _ => {}
        }
        if text.trim().is_empty() {
            return Err(SecretError::Empty(shown));
        }
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| SecretError::Malformed(shown.clone()))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| SecretError::Malformed(shown))?;
        Ok(MasterKey(key))
    }

    /// A key for one purpose (`"csrf"`, …), so that one key's use never helps attack another.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        self.mac(purpose.as_bytes())
    }

    fn mac(&self, msg: &[u8]) -> [u8; 32] {
        let mut m = match <Hmac<Sha256> as Mac>::new_from_slice(&self.0) {
            Ok(m) => m,
            // HMAC accepts keys of any length, so this cannot happen.
            Err(_) => unreachable!("HMAC-SHA256 rejected a 32-byte key"),
        };
        m.update(msg);
        m.finalize().into_bytes().into()
    }
}

/// HMAC-SHA256 of `msg` under `key`, URL-safe base64.
pub fn hmac_b64(key: &[u8; 32], msg: &[u8]) -> String {
    MasterKey(*key).mac_b64(msg)
}

impl MasterKey {
    fn mac_b64(&self, msg: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(msg))
    }
}

/// Creates `dir` (and parents) with mode 0700, or makes an existing one 0700.
pub fn ensure_private_dir(dir: &Path) -> Result<(), SecretError> {
    crate::platform::files::private_dir(dir).map_err(|source| SecretError::DataDir {
        path: dir.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_is_created_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/secret.key");
        let k1 = MasterKey::load_or_create(&path).unwrap();
        let k2 = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(k1.derive("csrf"), k2.derive("csrf"));
        assert_ne!(k1.derive("csrf"), k1.derive("other"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let dmode = std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dmode & 0o777, 0o700);
        }
        assert!(!format!("{k1:?}").contains(&STANDARD.encode(k1.0)));
    }

    #[test]
    fn malformed_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        std::fs::write(&path, "not base64!").unwrap();
        assert!(matches!(
            MasterKey::load_or_create(&path),
            Err(SecretError::Malformed(_))
        ));
    }

    #[test]
    fn empty_or_truncated_key_file_is_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        std::fs::write(&path, "").unwrap();
        let err = MasterKey::load_or_create(&path).unwrap_err();
        assert!(matches!(err, SecretError::Empty(_)), "{err}");
        assert!(err.to_string().contains("delete the file"), "{err}");
        // Unchanged: never silently replaced.
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        std::fs::write(&path, &STANDARD.encode([1u8; 32])[..20]).unwrap();
        assert!(matches!(
            MasterKey::load_or_create(&path),
            Err(SecretError::Malformed(_))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn key_file_writable_by_others_is_refused_readable_is_accepted() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let k = MasterKey::load_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let again = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(k.derive("x"), again.derive("x"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(matches!(
            MasterKey::load_or_create(&path),
            Err(SecretError::Permissions(_))
        ));
    }

    #[test]
    fn tokens_are_random_and_long() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
    }
}

/// Seals a secret for storage: XChaCha20-Poly1305 with a random 192-bit nonce, bound to
/// `context` (associated data, e.g. the owner's id) so a sealed value cannot be moved to
/// another row. Output: URL-safe base64 of nonce ‖ ciphertext.
pub fn seal(key: &[u8; 32], context: &[u8], plaintext: &[u8]) -> Result<String, SealError> {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    let cipher = XChaCha20Poly1305::new(key.into());
    let mut nonce = [0u8; 24];
    OsRng.fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: context,
            },
        )
        .map_err(|_| SealError)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    Ok(URL_SAFE_NO_PAD.encode(out))
}

/// Opens a value sealed by [`seal`] with the same key and context.
pub fn open(key: &[u8; 32], context: &[u8], sealed: &str) -> Result<Vec<u8>, SealError> {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    let raw = URL_SAFE_NO_PAD.decode(sealed).map_err(|_| SealError)?;
    if raw.len() < 24 + 16 {
        return Err(SealError);
    }
    let (nonce, ct) = raw.split_at(24);
    XChaCha20Poly1305::new(key.into())
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ct,
                aad: context,
            },
        )
        .map_err(|_| SealError)
}

/// A sealed value did not open (wrong key, wrong context, or modified).
#[derive(Debug, thiserror::Error)]
#[error("sealed value cannot be opened")]
pub struct SealError;

#[cfg(test)]
mod seal_tests {
    use super::*;

    #[test]
    fn seal_round_trips_and_is_bound_to_key_and_context() {
        let k = [7u8; 32];
        let s = seal(&k, b"user:1", b"secret bytes").unwrap();
        assert_eq!(open(&k, b"user:1", &s).unwrap(), b"secret bytes");
        assert!(open(&k, b"user:2", &s).is_err());
        assert!(open(&[8u8; 32], b"user:1", &s).is_err());
        let mut tampered = s.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(open(&k, b"user:1", std::str::from_utf8(&tampered).unwrap()).is_err());
        assert!(open(&k, b"user:1", "short").is_err());
        // A fresh nonce each time.
        assert_ne!(s, seal(&k, b"user:1", b"secret bytes").unwrap());
    }
}
