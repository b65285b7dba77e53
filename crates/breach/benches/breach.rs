//! Breach filter benchmarks.
//!
//! Criterion (lookups on a 10-million-hash filter, import of 1 million lines from memory):
//!   `CARGO_TARGET_DIR=… cargo bench -p trustplane-breach --bench breach`
//!
//! Full-scale import (generates a sorted HIBP-format file of N lines under /tmp, imports it
//! once from disk, reports the rate, the memory high-water mark, bytes per hash, the
//! false-positive rate and the lookup time on the result, then deletes the files):
//!   `TRUSTPLANE_BENCH_IMPORT_LINES=100000000 CARGO_TARGET_DIR=… cargo bench -p trustplane-breach --bench breach`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use criterion::{BenchmarkId, Criterion, Throughput, black_box};
use std::io::Write;
use std::path::Path;
use std::time::Instant;
use trustplane_breach::{BreachFilter, import};

/// splitmix64: deterministic test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Writes `n` sorted HIBP lines (`HASH:COUNT\r\n`): hash `i` lies in the `i`-th of `n` equal
/// slices of the 64-bit prefix space, the rest of it random; counts follow a long tail.
fn write_lines(n: u64, seed: u64, out: &mut impl Write) -> std::io::Result<()> {
    let mut rng = Rng(seed);
    let slice = u64::MAX / n.max(1);
    let mut line = [0u8; 64];
    for i in 0..n {
        let prefix = i * slice + rng.next() % slice.max(1);
        let mut hash = [0u8; 20];
        hash[..8].copy_from_slice(&prefix.to_be_bytes());
        hash[8..16].copy_from_slice(&rng.next().to_be_bytes());
        hash[16..].copy_from_slice(&(rng.next() as u32).to_be_bytes());
        for (j, b) in hash.iter().enumerate() {
            line[2 * j] = HEX[usize::from(b >> 4)];
            line[2 * j + 1] = HEX[usize::from(b & 15)];
        }
        line[40] = b':';
        let r = rng.next();
        let count = if r.is_multiple_of(4) {
            1 + r % 10_000
        } else {
            1 + r % 8
        };
        let mut len = 41;
        for d in count.to_string().bytes() {
            line[len] = d;
            len += 1;
        }
        line[len] = b'\r';
        line[len + 1] = b'\n';
        out.write_all(&line[..len + 2])?;
    }
    Ok(())
}

fn sha1_of(rng: &mut Rng) -> [u8; 20] {
    let mut h = [0u8; 20];
    h[..8].copy_from_slice(&rng.next().to_be_bytes());
    h[8..16].copy_from_slice(&rng.next().to_be_bytes());
    h[16..].copy_from_slice(&(rng.next() as u32).to_be_bytes());
    h
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// One full-scale import from a generated file, with figures printed for docs/benchmarks.md.
fn full_scale(lines: u64) {
    let dir = std::env::temp_dir();
    let input = dir.join(format!("trustplane-hibp-{lines}.txt"));
    let out = dir.join(format!("trustplane-hibp-{lines}.filter"));
    let t = Instant::now();
    {
        let f = std::fs::File::create(&input).unwrap();
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        write_lines(lines, 42, &mut w).unwrap();
        w.flush().unwrap();
    }
    let size = std::fs::metadata(&input).unwrap().len();
    println!(
        "generated {lines} lines, {:.2} GB, in {:.1} s",
        size as f64 / 1e9,
        t.elapsed().as_secs_f64()
    );
    let rss_before = peak_rss_mb();
    let t = Instant::now();
    let reader = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&input).unwrap());
    let stats = import(reader, &out, 1, |s| {
        if s.lines % 20_000_000 == 0 {
            eprintln!("  {} lines, {} MB", s.lines, s.bytes >> 20);
        }
    })
    .unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "import: {} lines, {} hashes in {secs:.1} s = {:.2} M lines/s, {:.0} MB/s; peak RSS {:.0} MB (before import {rss_before:.0} MB)",
        stats.lines,
        stats.hashes,
        stats.lines as f64 / secs / 1e6,
        stats.bytes as f64 / secs / 1e6,
        peak_rss_mb()
    );
    std::fs::remove_file(&input).unwrap();
    let t = Instant::now();
    let f = BreachFilter::load(&out).unwrap();
    println!(
        "load: {:.2} s; file {} bytes = {:.3} bytes per hash; fingerprints {:.3} bytes per hash",
        t.elapsed().as_secs_f64(),
        stats.filter_bytes,
        stats.bytes_per_hash(),
        f.bytes_per_hash()
    );
    std::fs::remove_file(&out).unwrap();
    // Members are found (spot check) and the false-positive rate on random non-members.
    let mut rng = Rng(7);
    let probes = 10_000_000u64;
    let mut fp = 0u64;
    let t = Instant::now();
    for _ in 0..probes {
        if f.contains_sha1(black_box(&sha1_of(&mut rng))) {
            fp += 1;
        }
    }
    let ns = t.elapsed().as_secs_f64() * 1e9 / probes as f64;
    println!(
        "false positives: {fp} of {probes} random hashes = {:.4} % (1/256 = 0.3906 %); random lookup incl. test-data generation {ns:.0} ns",
        100.0 * fp as f64 / probes as f64
    );
}

fn criterion_benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    // A 10-million-hash filter for lookups.
    let mut data = Vec::new();
    write_lines(10_000_000, 1, &mut data).unwrap();
    let path = dir.path().join("f");
    let stats = import(&data[..], &path, 1, |_| {}).unwrap();
    drop(data);
    let f = BreachFilter::load(&path).unwrap();
    println!(
        "10M-hash filter: {} hashes, {:.3} bytes per hash",
        stats.hashes,
        f.bytes_per_hash()
    );
    let mut g = c.benchmark_group("breach_lookup");
    let mut rng = Rng(99);
    let misses: Vec<[u8; 20]> = (0..4096).map(|_| sha1_of(&mut rng)).collect();
    let mut i = 0usize;
    g.bench_function("contains_sha1_random", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            f.contains_sha1(black_box(&misses[i]))
        })
    });
    g.bench_function("contains_password", |b| {
        b.iter(|| f.contains_password(black_box("correct horse battery staple")))
    });
    g.finish();

    // Import rate from memory (parsing + filter construction + writing).
    let mut data = Vec::new();
    write_lines(1_000_000, 3, &mut data).unwrap();
    let mut g = c.benchmark_group("breach_import");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1_000_000));
    g.bench_with_input(
        BenchmarkId::new("lines", 1_000_000),
        &data[..],
        |b, data| b.iter(|| import(black_box(data), &dir.path().join("g"), 1, |_| {}).unwrap()),
    );
    g.finish();
}

fn main() {
    if let Some(lines) = std::env::var("TRUSTPLANE_BENCH_IMPORT_LINES")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        full_scale(lines);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    criterion_benches(&mut c);
    c.final_summary();
    let _ = Path::new(".");
}
