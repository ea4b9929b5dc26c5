//! `healbot policy check` as an operator runs it before deploying a policy change: the
//! repository's `policies/` passes with exit 0 and one summary line; a broken copy fails with a
//! one-line reason that names the file and the field.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn healbot(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_healbot"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A copy of `policies/` with the first `from` in `file` replaced by `to`.
fn broken_copy(file: &str, from: &str, to: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo().join("policies")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let mut text = std::fs::read_to_string(&path).unwrap();
        if name == file {
            assert!(text.contains(from), "{file} has no {from:?}");
            text = text.replacen(from, to, 1);
        }
        std::fs::write(dir.path().join(&name), text).unwrap();
    }
    dir
}

fn stderr_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr}");
    stderr
}

#[test]
fn shipped_policies_pass_with_a_one_line_summary() {
    // Default DIR is `policies`, relative to where it runs.
    let out = healbot(&["policy", "check"], &repo());
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.trim().lines().count(), 1, "{stdout}");
    assert!(stdout.starts_with("policies: ok: "), "{stdout}");

    let out = healbot(&["policy", "check", "policies"], &repo());
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn broken_policies_fail_naming_file_and_field() {
    let cases = [
        (
            "risk.yaml",
            "timing: 0.1",
            "timing: 1.5",
            "risk.yaml: weights.timing: must be in [0, 1], got 1.5",
        ),
        (
            "risk.yaml",
            "canary_above: 0.4",
            "canary_abov: 0.4",
            "risk.yaml: strategy.canary_abov: unknown field",
        ),
        (
            "gates.yaml",
            "pause_above: 0.20",
            "pause_above: 2.0",
            "gates.yaml: blast_radius.pause_above: must be in [0, 1]",
        ),
        (
            "gates.yaml",
            "min_minutes_since_deploy: 10",
            "min_minutes_since_deploy: soon",
            "gates.yaml: cooldown.min_minutes_since_deploy: invalid type",
        ),
        (
            "detection.yaml",
            "above: 0.02",
            "above: 2",
            "detection.yaml: rules[0].above: must be in [0, 1], got 2",
        ),
        (
            "locks.yaml",
            "SERVICE: 2",
            "SERVICE: 1",
            "locks.yaml: order.SERVICE: must be 2",
        ),
        (
            "escalation.yaml",
            "low: [log]",
            "low: [carrier-pigeon]",
            "escalation.yaml: routing.low[0]: unknown variant `carrier-pigeon`",
        ),
        (
            "freeze.yaml",
            "windows: []",
            "windows: [{name: x, start: 2025-01-02T00:00:00Z, end: 2025-01-01T00:00:00Z}]",
            "freeze.yaml: windows[0].end: must be after start",
        ),
    ];
    for (file, from, to, expected) in cases {
        let dir = broken_copy(file, from, to);
        let out = healbot(&["policy", "check", dir.path().to_str().unwrap()], &repo());
        assert!(!out.status.success(), "{file}: {to:?} passed");
        let line = stderr_line(&out);
        assert!(
            line.contains(expected),
            "{file}: expected {expected:?} in {line:?}"
        );
        assert!(
            line.contains(&dir.path().join(file).display().to_string()),
            "{line}"
        );
    }
}

#[test]
fn missing_file_and_missing_dir_are_named() {
    let dir = broken_copy("risk.yaml", "", "");
    std::fs::remove_file(dir.path().join("gates.yaml")).unwrap();
    let out = healbot(&["policy", "check", dir.path().to_str().unwrap()], &repo());
    assert!(!out.status.success());
    let line = stderr_line(&out);
    assert!(line.contains("gates.yaml: missing"), "{line}");

    let out = healbot(&["policy", "check", "no-such-dir"], &repo());
    assert!(!out.status.success());
    assert!(stderr_line(&out).contains("no-such-dir: not a directory"));
}

#[test]
fn repository_config_is_checked_against_the_policies() {
    let sample = repo().join("testdata/services/payment-service/.github/healbot.yml");
    let out = healbot(&["policy", "check-repo", sample.to_str().unwrap()], &repo());
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("payment-service"));

    let dir = tempfile::tempdir().unwrap();
    let loose = dir.path().join("healbot.yml");
    let text = std::fs::read_to_string(&sample).unwrap() + "policy:\n  min_confidence: 0.5\n";
    std::fs::write(&loose, text).unwrap();
    let out = healbot(&["policy", "check-repo", loose.to_str().unwrap()], &repo());
    assert!(!out.status.success());
    let line = stderr_line(&out);
    assert!(
        line.contains("healbot.yml: policy.min_confidence: may only be raised"),
        "{line}"
    );
}
