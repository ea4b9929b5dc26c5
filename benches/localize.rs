//! Time of one `localize` call on the Rust sample service's real backtrace: trace parsing,
//! repository scan, syn analysis of the in-app files and ranking (no git blame: the sample
//! is not its own repository).

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::path::Path;

fn localize(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo = root.join("testdata/services/rust-sample");
    let trace = std::fs::read_to_string(root.join("testdata/traces/rust-sample-unwrap-full.txt"))
        .expect("the sample trace is checked in");
    c.bench_function("localize rust-sample full backtrace", |b| {
        b.iter(|| healbot::localize::localize(black_box(&repo), black_box(&trace), 5))
    });
}

criterion_group!(benches, localize);
criterion_main!(benches);
