//! The command line as a person and a script use it: completions, JSON listings, durations,
//! a closed pipe, `--state` words that are not folders.

use std::io::Read;
use std::process::{Command, Stdio};

fn healbot(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_healbot"))
        .args(args)
        .output()
        .expect("run healbot")
}

#[test]
fn completions_for_each_shell_name_the_subcommands() {
    for shell in ["bash", "zsh", "fish"] {
        let out = healbot(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {out:?}");
        let script = String::from_utf8_lossy(&out.stdout);
        for sub in ["demo", "serve", "localize", "audit"] {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    let out = healbot(&["completions", "tcsh"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("tcsh"));
}

#[test]
fn a_closed_pipe_ends_the_listing_without_a_panic() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_healbot"))
        .args(["templates", "list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Read one byte, then close the pipe as `head -c1` would.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
}

#[test]
fn templates_list_as_json() {
    let out = healbot(&["templates", "list", "--format", "json"]);
    assert!(out.status.success(), "{out:?}");
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!rows.is_empty());
    assert!(rows
        .iter()
        .all(|r| r["id"].is_string() && r["patterns"].is_array()));
}

#[test]
fn policy_check_as_json_reports_ok_and_errors() {
    let out = healbot(&["policy", "check", "policies", "--format", "json"]);
    assert!(out.status.success(), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true);

    let dir = tempfile::tempdir().unwrap();
    let out = healbot(&[
        "policy",
        "check",
        dir.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert!(
        report["error"].as_str().unwrap().contains(".yaml"),
        "{report}"
    );
}

#[test]
fn durations_take_units() {
    // No Redis needed to see the flag parsed: the command fails on the missing backend, not on
    // `30m`.
    let out = Command::new(env!("CARGO_BIN_EXE_healbot"))
        .args(["locks", "force-release", "--older-than", "30m"])
        .env_remove("HEALBOT_REDIS_URL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no lock backend"), "{stderr}");
    let out = healbot(&["locks", "force-release", "--older-than", "soon"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a duration"), "{stderr}");
}

#[test]
fn a_pr_state_word_is_a_filter_not_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    // `pr list --state open` filters; the folder comes from --state-dir.
    let out = healbot(&[
        "pr",
        "list",
        "--state",
        "open",
        "--state-dir",
        dir.path().to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("opening the local forge in open"),
        "{stderr}"
    );
    assert!(stderr.contains("no repository is registered"), "{stderr}");
    // Where `--state` is the old folder flag, a state word is refused with the new name.
    let out = healbot(&["ops", "list", "--state", "open"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("--state-dir"), "{stderr}");
}

#[test]
fn errors_are_printed_once() {
    let out = healbot(&["audit", "verify", "/nonexistent/audit.jsonl"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(stderr.matches("No such file").count(), 1, "{stderr}");
}

#[test]
fn log_format_json_is_accepted_everywhere() {
    let out = healbot(&["--log-format", "json", "templates", "list"]);
    assert!(out.status.success(), "{out:?}");
    let out = healbot(&["templates", "list", "--log-format", "text"]);
    assert!(out.status.success(), "{out:?}");
}
