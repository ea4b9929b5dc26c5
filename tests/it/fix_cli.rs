//! `healbot fix` through the real binary: a Rust crate whose example panics (the trace is made
//! by running it), fixed by a template that returns the function's own error; the patch is
//! validated by running the example in a copy, and the repository, its tests and the example
//! stay untouched. Exit codes 1 (nothing validates) and 2 (bad input).

use std::path::Path;
use std::process::{Command, Output};

/// A healbot.yaml whose `validation:` section gives the sandboxed check this machine's Rust
/// toolchain (read-only), as an installation names its toolchains.
fn sandbox_config() -> &'static Path {
    static CONFIG: std::sync::OnceLock<(tempfile::TempDir, std::path::PathBuf)> =
        std::sync::OnceLock::new();
    let (_, path) = CONFIG.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let validation: String = crate::support::toolchain::rust_yaml()
            .lines()
            .map(|l| format!("  {l}\n"))
            .collect();
        let path = dir.path().join("healbot.yaml");
        std::fs::write(&path, format!("state_dir: s\nvalidation:\n{validation}")).unwrap();
        (dir, path)
    });
    path
}

fn healbot(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_healbot"));
    cmd.args(args);
    if args.first() == Some(&"fix") {
        cmd.arg("--config").arg(sandbox_config());
    }
    cmd.output().expect("the healbot binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const LIB: &str = "/// Bytes left after the header.\npub fn payload_len(frame: &[u8], header: usize) -> Result<usize, String> {\n    let n = frame.len() - header;\n    Ok(n)\n}\n";
const REPRO: &str = "fn main() {\n    match framing::payload_len(&[1, 2], 4) {\n        Ok(n) => println!(\"{n}\"),\n        Err(e) => println!(\"rejected: {e}\"),\n    }\n}\n";
const TEST: &str = "#[test]\nfn a_frame_longer_than_its_header() {\n    assert_eq!(framing::payload_len(&[0; 8], 4), Ok(4));\n}\n";

/// A crate `framing` whose example panics, and the real trace of running it.
fn crate_with_panic(dir: &Path) -> String {
    for (file, text) in [
        ("Cargo.toml", "[package]\nname = \"framing\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n"),
        ("src/lib.rs", LIB),
        ("examples/repro.rs", REPRO),
        ("tests/frames.rs", TEST),
    ] {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let run = Command::new(env!("CARGO"))
        .args(["run", "-q", "--offline", "--example", "repro"])
        .current_dir(dir)
        .env("RUST_BACKTRACE", "1")
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .output()
        .expect("cargo runs");
    assert!(
        !run.status.success(),
        "the example should panic: {}",
        text(&run)
    );
    let trace = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(
        trace.contains("attempt to subtract with overflow"),
        "{trace}"
    );
    std::fs::remove_dir_all(dir.join("target")).unwrap();
    trace
}

#[test]
fn a_rust_panic_gets_a_validated_patch_that_returns_the_functions_error() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("framing");
    let trace = crate_with_panic(&repo);
    let trace_file = dir.path().join("trace.txt");
    std::fs::write(&trace_file, &trace).unwrap();
    let check = "cargo run -q --offline --example repro && cargo test -q --offline";
    let out = healbot(&[
        "fix",
        "--repo",
        repo.to_str().unwrap(),
        "--trace",
        trace_file.to_str().unwrap(),
        "--check",
        check,
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the JSON contract");
    assert_eq!(v["validated"], true);
    assert_eq!(v["fix"]["kind"], "template");
    assert_eq!(v["fix"]["template"], "rust.checked-sub-question");
    assert_eq!(
        (v["fix"]["file"].as_str(), v["fix"]["line"].as_u64()),
        (Some("src/lib.rs"), Some(3))
    );
    let diff = v["diff"].as_str().unwrap();
    assert!(
        diff.contains("+    let n = frame.len().checked_sub(header).ok_or_else(|| String::from("),
        "{diff}"
    );
    // One line changed: only the bytes that must change.
    assert_eq!(
        diff.lines()
            .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
            .count(),
        1
    );
    assert_eq!(v["check"]["command"], check);
    assert_eq!(v["check"]["exit_code"], 0);
    assert!(v["check"]["seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(v["check"]["baseline_exit_code"], 101);
    for c in v["candidates"].as_array().unwrap() {
        for key in ["kind", "template", "file", "line", "outcome"] {
            assert!(c.get(key).is_some(), "{key}: {c}");
        }
        let file = c["file"].as_str().unwrap();
        assert!(
            file != "examples/repro.rs" && !file.starts_with("tests/"),
            "{c}"
        );
    }
    // The repository is as it was.
    assert_eq!(
        std::fs::read_to_string(repo.join("src/lib.rs")).unwrap(),
        LIB
    );
    assert!(!repo.join("target").exists());
}

#[test]
fn nothing_that_passes_is_exit_1_and_bad_input_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("framing");
    let trace = crate_with_panic(&repo);
    let trace_file = dir.path().join("trace.txt");
    std::fs::write(&trace_file, &trace).unwrap();
    let out = healbot(&[
        "fix",
        "--repo",
        repo.to_str().unwrap(),
        "--trace",
        trace_file.to_str().unwrap(),
        "--check",
        "exit 1",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("no validated fix\n"), "{stdout}");
    assert!(stdout.contains("check failed (exit 1)"), "{stdout}");

    let junk = dir.path().join("junk.txt");
    std::fs::write(&junk, "all quiet\n").unwrap();
    for args in [
        vec![
            "fix",
            "--repo",
            "no/such/dir",
            "--trace",
            trace_file.to_str().unwrap(),
        ],
        vec![
            "fix",
            "--repo",
            repo.to_str().unwrap(),
            "--trace",
            "no/such/trace",
        ],
        vec![
            "fix",
            "--repo",
            repo.to_str().unwrap(),
            "--trace",
            junk.to_str().unwrap(),
        ],
    ] {
        let out = healbot(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}
