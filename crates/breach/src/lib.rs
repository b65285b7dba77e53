//! Breached passwords: imports a Have I Been Pwned "Pwned Passwords" SHA-1 list (lines
//! `HASH:COUNT`, or plain SHA-1 lines) into a binary fuse filter of about 1.13 bytes per hash
//! with a false-positive rate of about 1/256 (0.39 %) and no false negatives, and answers
//! "was this password breached?" in well under a microsecond.
//!
//! - **Sharding.** 256 [`xorf::BinaryFuse8`] filters, one per first byte of the SHA-1; the
//!   filter key is the next 8 bytes. Pwned Passwords files are sorted by hash, so each shard's
//!   hashes arrive together: the import holds one shard's keys at a time and writes each
//!   shard's filter to disk as soon as the stream passes it (constant memory: about
//!   16 bytes per hash of the *largest shard*, ~60 MB for the full 2 billion-line list).
//!   Unsorted input is refused with the line number and the advice to sort it.
//! - **File format** (see [`format`]): a 64-byte header (magic, version, shard count,
//!   threshold, hash count, SHA-256 over body and header fields), then per shard the key count,
//!   the filter descriptor and the fingerprints. Written to a temporary file in the same
//!   directory, synced, then renamed over the old file: a reader sees the old filter or the new
//!   one, never half of one. A truncated, modified or foreign file fails to load with a clear
//!   error and the caller keeps the filter it had.
//!
//! ```no_run
//! use trustplane_breach::{BreachFilter, import};
//! use std::path::Path;
//! let input = std::io::BufReader::new(std::fs::File::open("pwned-passwords-sha1.txt")?);
//! let stats = import(input, Path::new("breached.filter"), 1, |p| {
//!     eprintln!("{} lines, {} MB", p.lines, p.bytes >> 20)
//! })?;
//! let filter = BreachFilter::load(Path::new("breached.filter"))?;
//! assert!(filter.contains_password("P@ssw0rd"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod format;
mod import;

pub use import::{ImportStats, PROGRESS_EVERY_LINES, import, import_guarded};

use sha1::Digest;
use std::path::Path;
use xorf::{BinaryFuse8Ref, Filter, FilterRef};

#[derive(Debug, thiserror::Error)]
pub enum BreachError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot read the input at line {line}: {source}")]
    Read { line: u64, source: std::io::Error },
    #[error("line {line}: {msg}")]
    BadLine { line: u64, msg: String },
    #[error(
        "line {line}: hashes are not in ascending order; Pwned Passwords files are sorted by hash (sort the file first, e.g. `LC_ALL=C sort -o sorted.txt FILE`)"
    )]
    Unsorted { line: u64 },
    #[error("the filter file is not a trustplane breach filter or is corrupt: {0}")]
    Corrupt(String),
    #[error("cannot build the filter: {0}")]
    Build(String),
    #[error("{0}")]
    Refused(String),
}

/// The number of hashes in the filter file at `path`, read from its header only (cheap even
/// for a full Pwned Passwords filter): `Ok(None)` when there is no file.
pub fn stored_hashes(path: &Path) -> Result<Option<u64>, BreachError> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(BreachError::Io {
                path: path.display().to_string(),
                source,
            });
        }
    };
    format::header_hashes(file).map(Some).map_err(|e| match e {
        format::ReadError::Io(e) => BreachError::Corrupt(e.to_string()),
        format::ReadError::Corrupt(m) => BreachError::Corrupt(m),
    })
}

/// One shard: a binary fuse filter's descriptor and fingerprints.
#[derive(Clone)]
pub(crate) struct Shard {
    pub(crate) keys: u64,
    pub(crate) descriptor: [u8; format::DESCRIPTOR_LEN],
    pub(crate) fingerprints: Box<[u8]>,
}

/// A loaded breached-password filter. Immutable, `Send + Sync`: load it once and share it
/// (e.g. in an `Arc`), and swap in a new one after an import.
#[derive(Clone)]
pub struct BreachFilter {
    pub(crate) shards: Vec<Option<Shard>>,
    /// Minimum breach count of the hashes included (from the import).
    pub threshold: u64,
    /// Number of distinct hashes included.
    pub hashes: u64,
}

impl std::fmt::Debug for BreachFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BreachFilter")
            .field("threshold", &self.threshold)
            .field("hashes", &self.hashes)
            .field("fingerprint_bytes", &self.fingerprint_bytes())
            .finish()
    }
}

/// The filter key of a SHA-1: bytes 1..9 (byte 0 chose the shard).
pub(crate) fn key(sha1: &[u8; 20]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&sha1[1..9]);
    u64::from_be_bytes(b)
}

impl BreachFilter {
    /// A filter that contains nothing.
    pub fn empty() -> BreachFilter {
        BreachFilter {
            shards: vec![None; format::SHARDS],
            threshold: 0,
            hashes: 0,
        }
    }

    /// Whether this SHA-1 digest is (probably: see the false-positive rate) in the filter.
    pub fn contains_sha1(&self, sha1: &[u8; 20]) -> bool {
        match self.shards.get(usize::from(sha1[0])) {
            Some(Some(s)) => {
                BinaryFuse8Ref::from_dma(&s.descriptor, &s.fingerprints).contains(&key(sha1))
            }
            _ => false,
        }
    }

    /// Whether this password (its UTF-8 bytes, exactly as typed) is in the filter.
    pub fn contains_password(&self, password: &str) -> bool {
        let digest: [u8; 20] = sha1::Sha1::digest(password.as_bytes()).into();
        self.contains_sha1(&digest)
    }

    /// Bytes of fingerprints held in memory (the filter's size, less ~20 bytes per shard).
    pub fn fingerprint_bytes(&self) -> u64 {
        self.shards
            .iter()
            .flatten()
            .map(|s| s.fingerprints.len() as u64)
            .sum()
    }

    /// Memory per included hash, in bytes (0 for an empty filter).
    pub fn bytes_per_hash(&self) -> f64 {
        if self.hashes == 0 {
            0.0
        } else {
            self.fingerprint_bytes() as f64 / self.hashes as f64
        }
    }

    /// Loads a filter file written by [`import`], verifying its header, structure and
    /// checksum. Reads the file once, shard by shard (no second copy in memory).
    pub fn load(path: &Path) -> Result<BreachFilter, BreachError> {
        let io = |source| BreachError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        format::read(std::io::BufReader::with_capacity(1 << 20, file), len).map_err(|e| match e {
            format::ReadError::Io(source) => io(source),
            format::ReadError::Corrupt(m) => BreachError::Corrupt(m),
        })
    }

    /// Parses a filter from the bytes of a filter file (same checks as [`BreachFilter::load`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<BreachFilter, BreachError> {
        format::read(bytes, bytes.len() as u64).map_err(|e| match e {
            format::ReadError::Io(e) => BreachError::Corrupt(e.to_string()),
            format::ReadError::Corrupt(m) => BreachError::Corrupt(m),
        })
    }
}

#[cfg(test)]
mod tests;
