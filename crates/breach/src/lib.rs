//! Breached passwords: imports a Have I Been Pwned "Pwned Passwords" SHA-1 list (lines
//! `HASH:COUNT`, or plain SHA-1 lines) into a binary fuse filter of about 1.13 bytes per hash
//! with a false-positive rate of about 1/256, and answers "was this password breached?" in well
//! under a microsecond.
//!
//! The filter is split into 256 shards by the first byte of the hash. HIBP files are sorted by
//! hash, so each shard's keys arrive together: the import keeps one shard's keys in memory at a
//! time (constant memory apart from the filter itself) and refuses unsorted input clearly.
//!
//! File format (little-endian): magic `TPBREACH`, version `u32`, threshold `u64`, hash count
//! `u64`, shard count `u32`, SHA-256 of everything after the header, then per shard a `u64`
//! length and the CBOR encoding of its filter. A truncated or corrupt file fails to load with a clear
//! error, and the caller keeps the filter it had.

use sha2::Digest;
use std::io::{BufRead, Write};
use std::path::Path;
use xorf::{BinaryFuse8, Filter};

const MAGIC: &[u8; 8] = b"TPBREACH";
const VERSION: u32 = 1;
const SHARDS: usize = 256;
const HEADER_LEN: usize = 8 + 4 + 8 + 8 + 4 + 32;

#[derive(Debug, thiserror::Error)]
pub enum BreachError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("line {line}: {msg}")]
    BadLine { line: u64, msg: String },
    #[error(
        "line {line}: hashes are not in ascending order; Pwned Passwords files are sorted by hash (sort the file first)"
    )]
    Unsorted { line: u64 },
    #[error("the filter file is not a trustplane breach filter or is corrupt: {0}")]
    Corrupt(String),
    #[error("cannot build the filter: {0}")]
    Build(String),
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportStats {
    pub lines: u64,
    pub bytes: u64,
    /// Hashes kept (count at or above the threshold).
    pub hashes: u64,
    /// Hashes skipped for a count below the threshold.
    pub below_threshold: u64,
    pub filter_bytes: u64,
}

/// The first 8 bytes of a SHA-1, as the filter key.
fn key(sha1: &[u8; 20]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&sha1[..8]);
    u64::from_be_bytes(b)
}

fn parse_hex20(s: &str) -> Option<[u8; 20]> {
    if s.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        let hex = std::str::from_utf8(chunk).ok()?;
        out[i] = u8::from_str_radix(hex, 16).ok()?;
    }
    Some(out)
}

/// A loaded filter.
pub struct BreachFilter {
    shards: Vec<Option<BinaryFuse8>>,
    pub threshold: u64,
    pub hashes: u64,
}

impl std::fmt::Debug for BreachFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BreachFilter")
            .field("threshold", &self.threshold)
            .field("hashes", &self.hashes)
            .finish()
    }
}

impl BreachFilter {
    pub fn contains_sha1(&self, sha1: &[u8; 20]) -> bool {
        match self.shards.get(sha1[0] as usize) {
            Some(Some(f)) => f.contains(&key(sha1)),
            _ => false,
        }
    }

    pub fn contains_password(&self, password: &str) -> bool {
        let digest: [u8; 20] = sha1::Sha1::digest(password.as_bytes()).into();
        self.contains_sha1(&digest)
    }

    /// Bytes of fingerprints held in memory.
    pub fn fingerprint_bytes(&self) -> usize {
        self.shards.iter().flatten().map(|f| f.len()).sum()
    }

    pub fn load(path: &Path) -> Result<BreachFilter, BreachError> {
        let bytes = std::fs::read(path).map_err(|source| BreachError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<BreachFilter, BreachError> {
        let corrupt = |m: &str| BreachError::Corrupt(m.to_string());
        if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
            return Err(corrupt("bad magic or too short"));
        }
        let u32_at =
            |o: usize| u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
        let u64_at = |o: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[o..o + 8]);
            u64::from_le_bytes(b)
        };
        if u32_at(8) != VERSION {
            return Err(corrupt("unsupported version"));
        }
        let threshold = u64_at(12);
        let hashes = u64_at(20);
        if u32_at(28) as usize != SHARDS {
            return Err(corrupt("unexpected shard count"));
        }
        let body = &bytes[HEADER_LEN..];
        if sha2::Sha256::digest(body).as_slice() != &bytes[32..64] {
            return Err(corrupt("checksum mismatch (truncated or modified)"));
        }
        let mut shards = Vec::with_capacity(SHARDS);
        let mut off = 0usize;
        for _ in 0..SHARDS {
            if off + 8 > body.len() {
                return Err(corrupt("truncated shard table"));
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&body[off..off + 8]);
            let len =
                usize::try_from(u64::from_le_bytes(b)).map_err(|_| corrupt("shard too large"))?;
            off += 8;
            if len == 0 {
                shards.push(None);
                continue;
            }
            let end = off
                .checked_add(len)
                .filter(|e| *e <= body.len())
                .ok_or_else(|| corrupt("truncated shard"))?;
            let f: BinaryFuse8 = ciborium::from_reader(&body[off..end])
                .map_err(|e| BreachError::Corrupt(e.to_string()))?;
            shards.push(Some(f));
            off = end;
        }
        if off != body.len() {
            return Err(corrupt("trailing bytes"));
        }
        Ok(BreachFilter {
            shards,
            threshold,
            hashes,
        })
    }
}

/// Streams a Pwned Passwords file into a filter written atomically at `out` (temp file +
/// rename). Hashes with a count below `threshold` are left out; plain SHA-1 lines (no count)
/// are always kept. `progress` is called every 1,000,000 lines.
pub fn import(
    input: impl BufRead,
    out: &Path,
    threshold: u64,
    mut progress: impl FnMut(&ImportStats),
) -> Result<ImportStats, BreachError> {
    let mut stats = ImportStats::default();
    let mut shard_bytes: Vec<Vec<u8>> = vec![Vec::new(); SHARDS];
    let mut current_shard: Option<u8> = None;
    let mut keys: Vec<u64> = Vec::new();
    let mut last: Option<[u8; 20]> = None;
    let flush = |shard: u8,
                 keys: &mut Vec<u64>,
                 shard_bytes: &mut Vec<Vec<u8>>|
     -> Result<(), BreachError> {
        keys.sort_unstable();
        keys.dedup();
        if !keys.is_empty() {
            let f = BinaryFuse8::try_from(&*keys).map_err(|e| BreachError::Build(e.to_string()))?;
            let mut buf = Vec::new();
            ciborium::into_writer(&f, &mut buf).map_err(|e| BreachError::Build(e.to_string()))?;
            shard_bytes[shard as usize] = buf;
        }
        keys.clear();
        Ok(())
    };
    let mut line = String::new();
    let mut reader = input;
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| BreachError::BadLine {
                line: stats.lines + 1,
                msg: format!("cannot read: {e}"),
            })?;
        if n == 0 {
            break;
        }
        stats.lines += 1;
        stats.bytes += n as u64;
        let text = line.trim_end_matches(['\n', '\r']).trim();
        if text.is_empty() {
            continue;
        }
        let (hex, count) = match text.split_once(':') {
            Some((h, c)) => {
                let c: u64 = c.trim().parse().map_err(|_| BreachError::BadLine {
                    line: stats.lines,
                    msg: format!("count `{c}` is not a number"),
                })?;
                (h.trim(), Some(c))
            }
            None => (text, None),
        };
        let Some(hash) = parse_hex20(hex) else {
            return Err(BreachError::BadLine {
                line: stats.lines,
                msg: "expected a 40-character hexadecimal SHA-1".into(),
            });
        };
        if let Some(prev) = last
            && hash < prev
        {
            return Err(BreachError::Unsorted { line: stats.lines });
        }
        last = Some(hash);
        if count.is_some_and(|c| c < threshold) {
            stats.below_threshold += 1;
            continue;
        }
        if current_shard != Some(hash[0]) {
            if let Some(s) = current_shard {
                flush(s, &mut keys, &mut shard_bytes)?;
            }
            current_shard = Some(hash[0]);
        }
        keys.push(key(&hash));
        stats.hashes += 1;
        if stats.lines % 1_000_000 == 0 {
            progress(&stats);
        }
    }
    if let Some(s) = current_shard {
        flush(s, &mut keys, &mut shard_bytes)?;
    }
    let mut body = Vec::new();
    for s in &shard_bytes {
        body.extend_from_slice(&(s.len() as u64).to_le_bytes());
        body.extend_from_slice(s);
    }
    stats.filter_bytes = (HEADER_LEN + body.len()) as u64;
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&VERSION.to_le_bytes());
    header.extend_from_slice(&threshold.to_le_bytes());
    header.extend_from_slice(&stats.hashes.to_le_bytes());
    header.extend_from_slice(&(SHARDS as u32).to_le_bytes());
    header.extend_from_slice(&sha2::Sha256::digest(&body));
    let io = |source| BreachError::Io {
        path: out.display().to_string(),
        source,
    };
    let tmp = out.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&header).map_err(io)?;
        f.write_all(&body).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, out).map_err(io)?;
    progress(&stats);
    Ok(stats)
}

#[cfg(test)]
mod tests;
