//! Raw Argon2id cost at the default (OWASP) parameters: the floor under every password
//! sign-in. Compare with the end-to-end sign-in rate in docs/benchmarks.md.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use trustplane_core::credential::{HashParams, hash_password, verify_password};

fn argon2id(c: &mut Criterion) {
    let params = HashParams::default();
    let hash = match hash_password("correct horse battery staple", &params, &[7u8; 16]) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("cannot hash: {e}");
            return;
        }
    };
    let mut g = c.benchmark_group("argon2id_owasp_m19456_t2_p1");
    g.sample_size(30);
    g.bench_function("verify", |b| {
        b.iter(|| verify_password(black_box("correct horse battery staple"), &hash, &params))
    });
    g.finish();
}

criterion_group!(benches, argon2id);
criterion_main!(benches);
