//! `healbot audit verify --against-pr`: the footers healbot left on a real PR flow (the app
//! against the stateful fake GitHub) anchor the log; a log cut before them fails, and a footer
//! typed by someone else proves nothing.

use crate::support::app::{App, REPO};
use crate::support::github::{test_key_path, APP_ID};
use std::path::{Path, PathBuf};

fn write_config(dir: &Path, api_url: &str) -> PathBuf {
    std::fs::write(dir.join("secret"), "webhook-secret-value\n").unwrap();
    let text = format!(
        "state_dir: state\n\
         webhook_secret_files: [secret]\n\
         github:\n  app_id: {APP_ID}\n  private_key_file: {key}\n  api_url: {api_url}\n\
         prometheus:\n  url: http://127.0.0.1:9\n\
         catalog: {root}/testdata/services/payment-service/catalog.yaml\n",
        key = test_key_path().display(),
        root = env!("CARGO_MANIFEST_DIR"),
    );
    let path = dir.join("healbot.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn verify_against_pr(log: &Path, config: &Path) -> (Option<i32>, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_healbot"))
        .args(["audit", "verify"])
        .arg(log)
        .args(["--against-pr", &format!("{REPO}#1"), "--config"])
        .arg(config)
        .output()
        .await
        .expect("run healbot audit verify");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prs_footers_anchor_the_log() {
    let mut t = App::start().await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    let cfg_dir = tempfile::tempdir().unwrap();
    let config = write_config(cfg_dir.path(), &t.fake.url());
    let log = App::state_dir(t.state.path()).join("audit.jsonl");

    // A footer someone else typed, naming a history that never was: ignored.
    let forged = format!("<sub>healbot audit · seq 1 · hash {}</sub>", "0".repeat(64));
    t.fake.add_comment(REPO, 1, "mallory", &forged);
    let (code, text) = verify_against_pr(&log, &config).await;
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("is in the log"), "{text}");

    // The log cut before the entry the PR's comment mirrors: the PR proves it was there.
    let kept = tempfile::tempdir().unwrap();
    let cut = kept.path().join("audit.jsonl");
    let lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    std::fs::write(&cut, format!("{}\n", lines[..2].join("\n"))).unwrap();
    let (code, text) = verify_against_pr(&cut, &config).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("entries were cut off"), "{text}");

    // A PR healbot never wrote on is an error, not a silent pass.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_healbot"))
        .args(["audit", "verify"])
        .arg(&log)
        .args(["--against-pr", &format!("{REPO}#99"), "--config"])
        .arg(&config)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    t.fake.assert_clean();
}
