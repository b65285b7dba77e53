//! Streaming import of a Pwned Passwords file into a filter file.

use super::format::{self, DESCRIPTOR_LEN, HEADER_LEN, SHARDS};
use super::{BreachError, Shard, key};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufRead, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use xorf::{BinaryFuse8, DmaSerializable};

/// `progress` is called after every this many lines, and once at the end.
pub const PROGRESS_EVERY_LINES: u64 = 1_000_000;

/// What an import did (also passed to the progress callback as it goes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportStats {
    /// Lines read (including blank ones).
    pub lines: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Distinct hashes kept (count at or above the threshold, or no count).
    pub hashes: u64,
    /// Hashes left out for a count below the threshold.
    pub below_threshold: u64,
    /// Size of the filter file written (0 until the end).
    pub filter_bytes: u64,
}

impl ImportStats {
    /// File bytes per kept hash.
    pub fn bytes_per_hash(&self) -> f64 {
        if self.hashes == 0 {
            0.0
        } else {
            self.filter_bytes as f64 / self.hashes as f64
        }
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn parse_sha1(hex: &[u8]) -> Option<[u8; 20]> {
    if hex.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *o = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
    }
    Some(out)
}

/// A count: decimal digits (saturating at `u64::MAX`).
fn parse_count(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.saturating_mul(10).saturating_add(u64::from(c - b'0'));
    }
    Some(n)
}

/// A line for an error message: printable, at most 60 characters.
fn excerpt(line: &[u8]) -> String {
    let s: String = String::from_utf8_lossy(line)
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(60)
        .collect();
    if line.len() > 60 {
        format!("{s}…")
    } else {
        s
    }
}

/// One parsed line: the hash and its count (`None`: plain SHA-1 line, count unknown).
fn parse_line(text: &[u8], line: u64) -> Result<([u8; 20], Option<u64>), BreachError> {
    let bad = |msg: String| BreachError::BadLine { line, msg };
    let (hex, count) = match text.iter().position(|c| *c == b':') {
        Some(i) => (text[..i].trim_ascii(), Some(text[i + 1..].trim_ascii())),
        None => (text, None),
    };
    let Some(hash) = parse_sha1(hex) else {
        return Err(bad(format!(
            "expected a 40-character hexadecimal SHA-1, optionally followed by `:COUNT`; found `{}`",
            excerpt(text)
        )));
    };
    let count = match count {
        None => None,
        Some(c) => Some(
            parse_count(c)
                .ok_or_else(|| bad(format!("count `{}` is not a whole number", excerpt(c))))?,
        ),
    };
    Ok((hash, count))
}

/// Builds one shard's filter from its keys (sorted and deduplicated here).
fn build_shard(keys: &mut Vec<u64>) -> Result<Option<Shard>, BreachError> {
    keys.sort_unstable();
    keys.dedup();
    if keys.is_empty() {
        return Ok(None);
    }
    let f = BinaryFuse8::try_from(&*keys).map_err(|e| BreachError::Build(e.to_string()))?;
    let mut descriptor = [0u8; DESCRIPTOR_LEN];
    f.dma_copy_descriptor_to(&mut descriptor);
    Ok(Some(Shard {
        keys: keys.len() as u64,
        descriptor,
        fingerprints: f.fingerprints,
    }))
}

fn temp_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "breached.filter".into());
    out.with_file_name(format!(".{name}.import-{}", std::process::id()))
}

/// Streams a Pwned Passwords file into a filter written atomically at `out`.
///
/// - Lines are `HASH:COUNT` (the HIBP format: 40 hex digits, any case, a colon, the number of
///   times the password was seen) or a plain `HASH` (count unknown: always kept). CRLF line
///   ends, surrounding spaces and blank lines are fine.
/// - Hashes with a count below `threshold` are left out (`threshold` 0 or 1 keeps everything).
/// - The input must be sorted by hash (HIBP files are); out-of-order input fails with
///   [`BreachError::Unsorted`] naming the line. A bad line fails with [`BreachError::BadLine`]
///   naming it. Nothing is written on failure: the previous filter file stays as it was.
/// - `progress` is called every [`PROGRESS_EVERY_LINES`] lines and once at the end.
///
/// Memory: the keys of one shard (8 bytes per hash of the largest shard, plus the filter
/// construction's scratch space), never the whole input or the whole filter.
pub fn import(
    input: impl BufRead,
    out: &Path,
    threshold: u64,
    progress: impl FnMut(&ImportStats),
) -> Result<ImportStats, BreachError> {
    import_guarded(input, out, threshold, progress, |_| Ok(()))
}

/// [`import`], with a last check before the new filter replaces the old one: `accept` sees
/// the finished import's statistics; an `Err(message)` discards the new filter (the previous
/// file stays as it was) and the import fails with [`BreachError::Refused`].
pub fn import_guarded(
    input: impl BufRead,
    out: &Path,
    threshold: u64,
    mut progress: impl FnMut(&ImportStats),
    accept: impl FnOnce(&ImportStats) -> Result<(), String>,
) -> Result<ImportStats, BreachError> {
    let tmp = temp_path(out);
    let file = File::create(&tmp).map_err(io_error(&tmp))?;
    let result = write_filter(input, file, &tmp, threshold, &mut progress).and_then(|stats| {
        accept(&stats).map_err(BreachError::Refused)?;
        Ok(stats)
    });
    match result {
        Ok(stats) => {
            replace(&tmp, out)?;
            progress(&stats);
            Ok(stats)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// An I/O error on the file at `path`.
fn io_error(path: &Path) -> impl Fn(std::io::Error) -> BreachError + '_ {
    |source| BreachError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes the filter of `input` into `file` (the temporary file at `tmp`): a blank header,
/// the shards as the sorted input completes them, then the header with the checksum, synced
/// to disk.
fn write_filter(
    input: impl BufRead,
    file: File,
    tmp: &Path,
    threshold: u64,
    progress: impl FnMut(&ImportStats),
) -> Result<ImportStats, BreachError> {
    let io = io_error(tmp);
    let mut w = BufWriter::with_capacity(1 << 20, file);
    w.write_all(&[0u8; HEADER_LEN]).map_err(&io)?;
    let mut shards = ShardWriter {
        w,
        sum: Sha256::new(),
        body: 0,
        next: 0,
        keys: Vec::new(),
    };
    let mut stats = read_hashes(input, threshold, progress, |hash| shards.add(hash, &io))?;
    shards.complete_before(SHARDS, &io)?;
    let ShardWriter {
        w, mut sum, body, ..
    } = shards;
    let fields = format::header_fields(threshold, stats.hashes);
    sum.update(fields);
    let mut file = w.into_inner().map_err(|e| io(e.into_error()))?;
    file.seek(SeekFrom::Start(0)).map_err(&io)?;
    file.write_all(&fields).map_err(&io)?;
    file.write_all(&sum.finalize()).map_err(&io)?;
    file.sync_all().map_err(&io)?;
    stats.filter_bytes = HEADER_LEN as u64 + body;
    Ok(stats)
}

/// Reads the input line by line: counts lines and bytes, calls `progress` every
/// [`PROGRESS_EVERY_LINES`] lines, checks that the hashes are sorted, skips repeated hashes
/// and those counted below `threshold`, and hands every hash kept to `keep`, in order.
fn read_hashes(
    mut input: impl BufRead,
    threshold: u64,
    mut progress: impl FnMut(&ImportStats),
    mut keep: impl FnMut(&[u8; 20]) -> Result<(), BreachError>,
) -> Result<ImportStats, BreachError> {
    let mut stats = ImportStats::default();
    let mut last: Option<[u8; 20]> = None;
    let mut line: Vec<u8> = Vec::with_capacity(64);
    loop {
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .map_err(|source| BreachError::Read {
                line: stats.lines + 1,
                source,
            })?;
        if n == 0 {
            break;
        }
        stats.lines += 1;
        stats.bytes += n as u64;
        if stats.lines % PROGRESS_EVERY_LINES == 0 {
            progress(&stats);
        }
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let (hash, count) = parse_line(text, stats.lines)?;
        if last.is_some_and(|prev| hash < prev) {
            return Err(BreachError::Unsorted { line: stats.lines });
        }
        if last == Some(hash) {
            continue;
        }
        last = Some(hash);
        if count.is_some_and(|c| c < threshold) {
            stats.below_threshold += 1;
            continue;
        }
        keep(&hash)?;
        stats.hashes += 1;
    }
    Ok(stats)
}

/// The shards of a filter file being written, in order, with the running checksum.
struct ShardWriter {
    w: BufWriter<File>,
    sum: Sha256,
    /// Bytes written after the header.
    body: u64,
    /// The next shard to write.
    next: usize,
    /// The keys of shard `next` so far.
    keys: Vec<u64>,
}

impl ShardWriter {
    /// Adds a kept hash to its shard, after writing every shard before it (the input is
    /// sorted: they are complete).
    fn add(
        &mut self,
        hash: &[u8; 20],
        io: &impl Fn(std::io::Error) -> BreachError,
    ) -> Result<(), BreachError> {
        self.complete_before(usize::from(hash[0]), io)?;
        self.keys.push(key(hash));
        Ok(())
    }

    /// Builds and writes every shard before `shard` not written yet.
    fn complete_before(
        &mut self,
        shard: usize,
        io: &impl Fn(std::io::Error) -> BreachError,
    ) -> Result<(), BreachError> {
        while self.next < shard {
            let s = build_shard(&mut self.keys)?;
            self.keys.clear();
            self.body += format::write_shard(&mut self.w, &mut self.sum, s.as_ref()).map_err(io)?;
            self.next += 1;
        }
        Ok(())
    }
}

/// Replaces `out` with the finished filter at `tmp`.
fn replace(tmp: &Path, out: &Path) -> Result<(), BreachError> {
    std::fs::rename(tmp, out).map_err(io_error(out))?;
    // Make the rename durable (best effort: not every platform can sync a directory).
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines() {
        let h = "0000000A1D4B746FAA3FD526FF6D5BC8052FDB38";
        let (hash, count) = parse_line(format!("{h}:12").as_bytes(), 1).unwrap();
        assert_eq!(hash[4], 0x1d);
        assert_eq!(count, Some(12));
        let (_, count) = parse_line(h.to_lowercase().as_bytes(), 1).unwrap();
        assert_eq!(count, None);
        assert_eq!(
            parse_line(format!("{h} : 7").as_bytes(), 1).unwrap().1,
            Some(7)
        );
        assert_eq!(
            parse_line(format!("{h}:99999999999999999999999").as_bytes(), 1)
                .unwrap()
                .1,
            Some(u64::MAX)
        );
        for bad in [
            format!("{h}:"),
            format!("{h}:-1"),
            format!("{h}:12x"),
            h[..39].to_string(),
            format!("{h}0"),
            format!("{}G:1", &h[..39]),
            "hello".to_string(),
        ] {
            let e = parse_line(bad.as_bytes(), 7).unwrap_err();
            assert!(e.to_string().starts_with("line 7: "), "{bad}: {e}");
        }
        assert!(excerpt(&[b'a'; 100]).ends_with('…'));
        assert_eq!(excerpt(b"a\x00b"), "a?b");
    }
}
