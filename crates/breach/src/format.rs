//! The on-disk format of a breach filter (version 2, all integers little-endian):
//!
//! ```text
//! header (64 bytes)
//!   0  magic        "TPBREACH"
//!   8  version      u32 = 2
//!  12  shards       u32 = 256
//!  16  threshold    u64   minimum breach count of the hashes included
//!  24  hashes       u64   distinct hashes included
//!  32  checksum     SHA-256 of (body ‖ header bytes 0..32)
//! body: for each of the 256 shards (first byte of the SHA-1 = 0x00 … 0xff)
//!       keys         u64   hashes in this shard (0: nothing follows)
//!       descriptor   20 bytes: seed u64, segment_length u32, segment_length_mask u32,
//!                    segment_count_length u32 (xorf's BinaryFuse8 descriptor)
//!       length       u64   fingerprint bytes
//!       fingerprints `length` bytes
//! ```
//!
//! The checksum is verified before a filter is used, and every shard's descriptor is checked
//! against its fingerprint length, so that no file (corrupt or crafted) can make a lookup read
//! out of bounds.

use super::{BreachFilter, Shard};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};

pub const MAGIC: &[u8; 8] = b"TPBREACH";
pub const VERSION: u32 = 2;
pub const SHARDS: usize = 256;
pub const HEADER_LEN: usize = 64;
pub const DESCRIPTOR_LEN: usize = 20;

pub(crate) enum ReadError {
    Io(std::io::Error),
    Corrupt(String),
}

fn corrupt(m: impl Into<String>) -> ReadError {
    ReadError::Corrupt(m.into())
}

/// The first 32 header bytes (everything but the checksum).
pub(crate) fn header_fields(threshold: u64, hashes: u64) -> [u8; 32] {
    let mut h = [0u8; 32];
    h[0..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(SHARDS as u32).to_le_bytes());
    h[16..24].copy_from_slice(&threshold.to_le_bytes());
    h[24..32].copy_from_slice(&hashes.to_le_bytes());
    h
}

/// Writes one shard's record and feeds it to the checksum.
pub(crate) fn write_shard(
    out: &mut impl Write,
    sum: &mut Sha256,
    shard: Option<&Shard>,
) -> std::io::Result<u64> {
    let mut emit = |bytes: &[u8]| -> std::io::Result<()> {
        sum.update(bytes);
        out.write_all(bytes)
    };
    match shard {
        None => {
            emit(&0u64.to_le_bytes())?;
            Ok(8)
        }
        Some(s) => {
            emit(&s.keys.to_le_bytes())?;
            emit(&s.descriptor)?;
            emit(&(s.fingerprints.len() as u64).to_le_bytes())?;
            emit(&s.fingerprints)?;
            Ok(8 + DESCRIPTOR_LEN as u64 + 8 + s.fingerprints.len() as u64)
        }
    }
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[o..o + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

/// Checks that a descriptor can only index inside `len` fingerprints.
fn check_descriptor(d: &[u8; DESCRIPTOR_LEN], len: u64) -> Result<(), ReadError> {
    let segment_length = u64::from(u32_at(d, 8));
    let mask = u64::from(u32_at(d, 12));
    let segment_count_length = u64::from(u32_at(d, 16));
    let ok = segment_length.is_power_of_two()
        && mask == segment_length - 1
        && segment_count_length % segment_length == 0
        && segment_count_length + 2 * segment_length == len;
    if ok {
        Ok(())
    } else {
        Err(corrupt("inconsistent shard descriptor"))
    }
}

/// The body being read: bytes left (from the file length) and the running checksum.
struct Body<R> {
    r: R,
    remaining: u64,
    sum: Sha256,
}

impl<R: Read> Body<R> {
    fn take(&mut self, buf: &mut [u8]) -> Result<(), ReadError> {
        if (buf.len() as u64) > self.remaining {
            return Err(corrupt("truncated"));
        }
        self.r.read_exact(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => corrupt("truncated"),
            _ => ReadError::Io(e),
        })?;
        self.remaining -= buf.len() as u64;
        self.sum.update(&*buf);
        Ok(())
    }
}

/// Reads a filter from `r`, whose total length is `len`.
/// The hash count of a filter file's header (magic and version checked; the body and its
/// checksum are not read).
pub(crate) fn header_hashes(mut r: impl Read) -> Result<u64, ReadError> {
    let mut header = [0u8; HEADER_LEN];
    r.read_exact(&mut header).map_err(ReadError::Io)?;
    if &header[0..8] != MAGIC || u32_at(&header, 8) != VERSION {
        return Err(corrupt("bad magic or version"));
    }
    Ok(u64_at(&header, 24))
}

pub(crate) fn read(mut r: impl Read, len: u64) -> Result<BreachFilter, ReadError> {
    let mut header = [0u8; HEADER_LEN];
    if len < HEADER_LEN as u64 {
        return Err(corrupt("file too short for a header (truncated?)"));
    }
    r.read_exact(&mut header).map_err(ReadError::Io)?;
    if &header[0..8] != MAGIC {
        return Err(corrupt("bad magic (not a breach filter file)"));
    }
    let version = u32_at(&header, 8);
    if version != VERSION {
        return Err(corrupt(format!(
            "unsupported version {version} (expected {VERSION}); re-run the import"
        )));
    }
    if u32_at(&header, 12) as usize != SHARDS {
        return Err(corrupt("unexpected shard count"));
    }
    let threshold = u64_at(&header, 16);
    let hashes = u64_at(&header, 24);
    let mut body = Body {
        r,
        remaining: len - HEADER_LEN as u64,
        sum: Sha256::new(),
    };
    let mut shards = Vec::with_capacity(SHARDS);
    let mut total_keys = 0u64;
    for _ in 0..SHARDS {
        let mut n = [0u8; 8];
        body.take(&mut n)?;
        let keys = u64::from_le_bytes(n);
        if keys == 0 {
            shards.push(None);
            continue;
        }
        let mut descriptor = [0u8; DESCRIPTOR_LEN];
        body.take(&mut descriptor)?;
        body.take(&mut n)?;
        let fp_len = u64::from_le_bytes(n);
        if fp_len > body.remaining {
            return Err(corrupt("truncated"));
        }
        check_descriptor(&descriptor, fp_len)?;
        let size = usize::try_from(fp_len).map_err(|_| corrupt("shard too large"))?;
        let mut fingerprints = vec![0u8; size].into_boxed_slice();
        body.take(&mut fingerprints)?;
        total_keys = total_keys.saturating_add(keys);
        shards.push(Some(Shard {
            keys,
            descriptor,
            fingerprints,
        }));
    }
    let (remaining, mut sum) = (body.remaining, body.sum);
    if remaining != 0 {
        return Err(corrupt("trailing bytes after the last shard"));
    }
    sum.update(&header[0..32]);
    if sum.finalize().as_slice() != &header[32..64] {
        return Err(corrupt("checksum mismatch (truncated or modified)"));
    }
    if total_keys != hashes {
        return Err(corrupt("hash count does not match the shards"));
    }
    Ok(BreachFilter {
        shards,
        threshold,
        hashes,
    })
}
