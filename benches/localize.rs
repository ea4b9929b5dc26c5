//! Time of one `localize` call (issue 16: under 1 s on a 100,000-line repository), on the Rust
//! sample service's real backtrace: trace cleaning and parsing, repository scan, tree-sitter
//! analysis of the in-app files, ranking on and off the stack (no git blame: the tree is not a
//! repository).
//!
//! - `rust-sample`: the sample service alone (two files).
//! - `100k lines, std message`: the sample inside a tree of real Rust — this crate's own
//!   `src/` and `tests/`, copied as many times as needed for at least 100,000 lines.
//! - `100k lines, own message`: the same tree and a panic whose message is the program's own
//!   (`expect("…")`), which makes localization search every Rust file for the message's text.
//!
//! The anchor, measured in the same run, reads every file of the big tree once: the ratio says
//! how many full reads of the repository one call costs.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::path::Path;

const MIN_LINES: usize = 100_000;

/// Copies `from` under `to`, Rust files only; returns the lines copied.
fn copy_rust(from: &Path, to: &Path) -> usize {
    let mut lines = 0;
    for entry in std::fs::read_dir(from).expect("readable source tree") {
        let entry = entry.expect("readable entry");
        let path = entry.path();
        let dest = to.join(entry.file_name());
        if path.is_dir() {
            std::fs::create_dir_all(&dest).expect("writable temp dir");
            lines += copy_rust(&path, &dest);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("UTF-8 source");
            lines += text.lines().count();
            std::fs::write(&dest, text).expect("writable temp dir");
        }
    }
    lines
}

fn read_all(dir: &Path) -> usize {
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir).expect("readable dir") {
        let path = entry.expect("readable entry").path();
        if path.is_dir() {
            bytes += read_all(&path);
        } else {
            bytes += std::fs::read(&path).expect("readable file").len();
        }
    }
    bytes
}

fn localize(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sample = root.join("testdata/services/rust-sample");
    let trace = std::fs::read_to_string(root.join("testdata/traces/rust-sample-unwrap-full.txt"))
        .expect("the sample trace is checked in");
    c.bench_function("localize rust-sample full backtrace", |b| {
        b.iter(|| healbot::localize::localize(black_box(&sample), black_box(&trace), 5))
    });

    let big = tempfile::tempdir().expect("temp dir");
    let mut lines = copy_rust(&sample, big.path());
    let mut copy = 0;
    while lines < MIN_LINES {
        for part in ["src", "tests"] {
            let to = big.path().join(format!("copies/copy{copy}/{part}"));
            std::fs::create_dir_all(&to).expect("writable temp dir");
            lines += copy_rust(&root.join(part), &to);
        }
        copy += 1;
    }
    eprintln!("big tree: {lines} lines of Rust");
    c.bench_function("anchor: read every file of the 100k-line tree", |b| {
        b.iter(|| read_all(black_box(big.path())))
    });
    c.bench_function("localize 100k lines, std message", |b| {
        b.iter(|| healbot::localize::localize(black_box(big.path()), black_box(&trace), 5))
    });
    let own = trace.replace(
        "called `Option::unwrap()` on a `None` value",
        "a greeting needs a name in the query",
    );
    c.bench_function("localize 100k lines, own message", |b| {
        b.iter(|| healbot::localize::localize(black_box(big.path()), black_box(&own), 5))
    });
}

criterion_group!(benches, localize);
criterion_main!(benches);
