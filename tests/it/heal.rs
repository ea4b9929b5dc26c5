//! Integration tests: `healbot heal --incident FILE` through the real binary — the sample
//! bundle heals like the demo (confidence shown, PR opened, audit chain intact), and a broken
//! bundle is refused with the field named before anything is set up.

use std::process::{Command, Output};

fn healbot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_healbot"))
        .args(args)
        .env_remove("HEALBOT_FAILPOINT")
        .output()
        .expect("run healbot")
}

use crate::support::output_text as text;

#[test]
fn a_bundle_is_healed_with_its_confidence_and_a_pr() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("w");
    let bundle = format!(
        "{}/testdata/incidents/payment-bundle.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = healbot(&[
        "heal",
        "--incident",
        &bundle,
        "--workdir",
        work.to_str().unwrap(),
        "--requests",
        "200",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "service:    payment-service",
        "signals:    alert 1, metric 2, error_log 1, error_span 3",
        "confidence: 94% (4 of 4 kinds agree",
        "pattern:    null_dereference",
        "errors begin in payment-service",
        "PR #1 opened from healbot/inc-bundle-payment-1",
        "op-inc-bundle-payment-1: Completed",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?}:\n{}",
            text(&out)
        );
    }
    let log = work.join("audit.jsonl");
    let verify = healbot(&["audit", "verify", log.to_str().unwrap()]);
    assert!(verify.status.success(), "{}", text(&verify));
}

#[test]
fn a_broken_bundle_names_the_field_and_sets_nothing_up() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("w");
    let bad = dir.path().join("bad.yaml");
    let sample = std::fs::read_to_string(format!(
        "{}/testdata/incidents/payment-bundle.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let broken = sample.replace(
        "payment-service: { requests: 600, error_rate: 0.157",
        "payment-service: { requests: 600, error_rate: 15.7",
    );
    assert_ne!(broken, sample);
    std::fs::write(&bad, broken).unwrap();
    let out = healbot(&[
        "heal",
        "--incident",
        bad.to_str().unwrap(),
        "--workdir",
        work.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yaml") && err.contains("metrics.payment-service.error_rate"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!work.exists(), "nothing is set up for a bad bundle");
}

#[test]
fn a_bundle_is_healed_in_a_repository_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("payments");
    let src =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/services/payment-service");
    copy_dir(&src, &repo);
    let bundle = format!(
        "{}/testdata/incidents/payment-bundle.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = healbot(&[
        "heal",
        "--incident",
        &bundle,
        "--repo",
        repo.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("validated fix: template python.none-guard at payment_processor.py:26"),
        "{stdout}"
    );
    assert!(
        stdout.contains("+    if user.email is not None:"),
        "{stdout}"
    );
    // The repository itself is never modified.
    let before = std::fs::read_to_string(src.join("payment_processor.py")).unwrap();
    let after = std::fs::read_to_string(repo.join("payment_processor.py")).unwrap();
    assert_eq!(before, after);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}
