//! Integration tests: repair of the Rust sample service. Its real panic backtrace is localized,
//! a Rust template patches the `unwrap()` on None, the patched file re-parses, and the
//! service's own check command (`cargo check --offline`) passes on a copy of the repository.

use healbot::fix::{self, check_syntax, embedded_templates, propose};
use healbot::localize::localize_detailed;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sample() -> PathBuf {
    root().join("testdata/services/rust-sample")
}

/// Copies the sample's sources (not a build directory) to `to`.
fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" {
            continue;
        }
        let dest = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

#[test]
fn rust_sample_unwrap_ranks_first_for_both_backtrace_forms() {
    for trace in ["rust-sample-unwrap.txt", "rust-sample-unwrap-full.txt"] {
        let text = std::fs::read_to_string(root().join("testdata/traces").join(trace)).unwrap();
        let loc = localize_detailed(&sample(), &text, 5).unwrap();
        let top = &loc.candidates[0];
        assert_eq!(
            (top.file.as_str(), top.line, top.function.as_str()),
            ("src/handlers.rs", 34, "greet"),
            "{trace}: {:?}",
            loc.candidates
        );
        assert_eq!(top.expression.as_deref(), Some("req.query.get(\"name\")"));
        assert!(top.reason.contains("returns a Result"), "{}", top.reason);
        assert!(loc.candidates.len() >= 2, "the callers rank too");
    }
}

#[tokio::test]
async fn rust_sample_patch_reparses_and_cargo_check_passes() {
    let text =
        std::fs::read_to_string(root().join("testdata/traces/rust-sample-unwrap.txt")).unwrap();
    let loc = localize_detailed(&sample(), &text, 5).unwrap();
    let templates = embedded_templates().unwrap();
    let patch = propose(&sample(), &loc, "unwrap_on_none", &templates, None).unwrap();
    assert_eq!(patch.template_id, "rust.unwrap-none-ok-or");
    assert_eq!(patch.file, "src/handlers.rs");
    assert_eq!(
        (patch.lines_added, patch.lines_removed),
        (1, 1),
        "{}",
        patch.diff
    );
    // The function returns Result<_, String>: the None becomes its own error.
    assert!(patch.diff.contains(".ok_or_else("), "{}", patch.diff);
    check_syntax(&patch.file, &patch.patched).unwrap();

    let work = tempfile::tempdir().unwrap();
    copy_tree(&sample(), work.path());
    std::fs::write(work.path().join(&patch.file), &patch.patched).unwrap();
    // In the sandbox, with the toolchain and CARGO_HOME read-only, as `serve` runs it.
    let sandbox = crate::support::toolchain::rust();
    let check = || {
        fix::CheckRequest::new(
            work.path(),
            "cargo check --offline --quiet",
            Duration::from_secs(300),
        )
    };
    let outcome = fix::run_check(&sandbox, check()).await;
    assert!(outcome.passed, "{}", outcome.output_tail);

    // The unpatched crate builds too, so the check is not passing by accident.
    std::fs::write(work.path().join(&patch.file), &patch.original).unwrap();
    let broken = patch.patched.replace("?;", ";");
    std::fs::write(work.path().join(&patch.file), broken).unwrap();
    let outcome = fix::run_check(&sandbox, check()).await;
    assert!(!outcome.passed, "a type error must fail the check");
}

/// The time one `localize` call takes on the sample (debug build of the crate; the criterion
/// figure is `cargo bench --bench localize`). Printed for the report, bounded loosely.
#[test]
fn rust_sample_localize_time() {
    let text = std::fs::read_to_string(root().join("testdata/traces/rust-sample-unwrap-full.txt"))
        .unwrap();
    let runs = 50;
    let started = std::time::Instant::now();
    for _ in 0..runs {
        localize_detailed(&sample(), &text, 5).unwrap();
    }
    let per_call = started.elapsed() / runs;
    println!(
        "localize per call: {:.3} ms",
        per_call.as_secs_f64() * 1000.0
    );
    assert!(per_call < Duration::from_secs(1), "{per_call:?}");
}
