//! `healbot audit verify` and `healbot audit log` as a user runs them: on a log written by the
//! real file store, intact and then tampered in each of the four ways issue 2 names, checking
//! the exit code and the seq the output names.

use healbot::audit::{AuditEntry, AuditStore, FileAuditStore, NewEntry};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ENTRIES: usize = 10;

struct Log {
    _dir: tempfile::TempDir,
    path: PathBuf,
    entries: Vec<AuditEntry>,
}

impl Log {
    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.path)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn rewrite(&self, lines: &[String]) {
        std::fs::write(&self.path, lines.join("\n") + "\n").unwrap();
    }
}

async fn written_log() -> Log {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let store = FileAuditStore::open(&path).unwrap();
    let mut entries = Vec::new();
    for i in 0..ENTRIES {
        let (action, detail) = match i {
            0 => (
                "operation.opened",
                serde_json::json!({"incident": {"service": "payment-service"}}),
            ),
            _ => (
                "operation.transition",
                serde_json::json!({"from": "Detected", "to": "Analyzing", "reason": format!("step {i}")}),
            ),
        };
        entries.push(
            store
                .append(NewEntry {
                    operation_id: format!("op-{}", i % 2),
                    correlation_id: format!("corr-{i}"),
                    actor: "healbot".into(),
                    action: action.into(),
                    detail,
                })
                .await
                .unwrap(),
        );
    }
    drop(store);
    Log {
        _dir: dir,
        path,
        entries,
    }
}

fn healbot(args: &[&str], file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_healbot"))
        .args(args)
        .arg(file)
        .output()
        .unwrap()
}

fn verify(file: &Path) -> (i32, String) {
    let out = healbot(&["audit", "verify"], file);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

fn assert_broken_at(file: &Path, seq: u64, line: usize, reason_words: &str) {
    let (code, out) = verify(file);
    assert_eq!(code, 1, "{out}");
    let first = out.lines().next().unwrap_or_default();
    let expected = format!("chain broken at seq {seq} (line {line}): ");
    assert!(
        first.starts_with(&expected),
        "expected {expected:?}, got {out}"
    );
    assert!(
        first.contains(reason_words),
        "expected {reason_words:?} in {out}"
    );
}

#[tokio::test]
async fn intact_chain_verifies() {
    let log = written_log().await;
    let (code, out) = verify(&log.path);
    assert_eq!(code, 0, "{out}");
    let head = log.entries.last().unwrap();
    assert_eq!(
        out.trim(),
        format!(
            "chain holds: {ENTRIES} entries, head seq {} hash {}",
            head.seq, head.hash
        )
    );
}

/// Failure matrix row 14 (audit tampering), run by `failure_matrix`.
pub(crate) async fn edited_field_is_named_at_its_seq() {
    let log = written_log().await;
    let mut lines = log.lines();
    let edited = lines[4].replace("step 4", "step 4, nothing to see");
    assert_ne!(edited, lines[4]);
    lines[4] = edited;
    log.rewrite(&lines);
    assert_broken_at(&log.path, 5, 5, "edited");
}

/// Failure matrix row 14 (audit tampering), run by `failure_matrix`.
pub(crate) async fn deleted_entry_is_named_at_the_entry_after_the_gap() {
    let log = written_log().await;
    let mut lines = log.lines();
    lines.remove(4);
    log.rewrite(&lines);
    assert_broken_at(&log.path, 6, 5, "seq 5 was expected");
}

/// Failure matrix row 14 (audit tampering), run by `failure_matrix`.
pub(crate) async fn reordered_entries_are_named_at_the_first_out_of_place() {
    let log = written_log().await;
    let mut lines = log.lines();
    lines.swap(6, 7);
    log.rewrite(&lines);
    assert_broken_at(&log.path, 8, 7, "out of order");
}

#[tokio::test]
async fn truncated_last_line_is_named_with_the_seq_it_should_have() {
    let log = written_log().await;
    let bytes = std::fs::read(&log.path).unwrap();
    std::fs::write(&log.path, &bytes[..bytes.len() - 25]).unwrap();
    assert_broken_at(&log.path, ENTRIES as u64, ENTRIES, "cut off");
}

#[tokio::test]
async fn crash_cut_log_verifies_again_after_the_store_repairs_it() {
    let log = written_log().await;
    let bytes = std::fs::read(&log.path).unwrap();
    std::fs::write(&log.path, &bytes[..bytes.len() - 25]).unwrap();
    let store = FileAuditStore::open(&log.path).unwrap();
    let repair = store.repaired().cloned().unwrap();
    assert_eq!(repair.seq, ENTRIES as u64);
    assert!(repair.partial_path.exists());
    drop(store);
    let (code, out) = verify(&log.path);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("{} entries", ENTRIES - 1)), "{out}");
}

#[test]
fn unreadable_file_exits_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.jsonl");
    let out = healbot(&["audit", "verify"], &missing);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("nope.jsonl"), "{stderr}");
}

#[tokio::test]
async fn log_prints_a_timeline_filtered_by_operation() {
    let log = written_log().await;
    let out = healbot(&["audit", "log", "--operation", "op-1"], &log.path);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("operation.transition"))
        .collect();
    assert_eq!(rows.len(), ENTRIES / 2, "{text}");
    assert!(rows.iter().all(|r| r.contains("op-1")), "{text}");
    assert!(text.contains("Detected → Analyzing: step 3"), "{text}");
    assert!(text.contains("chain holds: 10 entries"), "{text}");
}

#[tokio::test]
async fn verify_and_log_speak_json_for_scripts() {
    let log = written_log().await;
    let out = healbot(&["audit", "verify", "--format", "json"], &log.path);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["holds"], true);
    assert_eq!(v["entries"], ENTRIES as u64);
    assert_eq!(v["head"]["hash"], log.entries.last().unwrap().hash.as_str());
    let out = healbot(
        &["audit", "log", "--format", "json", "--operation", "op-1"],
        &log.path,
    );
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<AuditEntry> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), ENTRIES / 2);
    assert!(lines.iter().all(|e| e.operation_id == "op-1"));
    // A broken chain: exit 1 and the break in the JSON.
    let mut lines = log.lines();
    lines.remove(3);
    log.rewrite(&lines);
    let out = healbot(&["audit", "verify", "--format", "json"], &log.path);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["holds"], false);
    assert_eq!(v["broken"]["seq"], 5);
}

#[tokio::test]
async fn backup_truncate_and_rebuild_as_an_operator_runs_them() {
    let log = written_log().await;
    let dir = log.path.parent().unwrap();
    let backup = dir.join("backup.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_healbot"))
        .args(["audit", "backup"])
        .arg(&log.path)
        .arg("--to")
        .arg(&backup)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("read back and verified"),
        "{out:?}"
    );
    assert_eq!(verify(&backup).0, 0);
    // Cut the last three entries off: they are kept in a file and the cut is an entry.
    let out = Command::new(env!("CARGO_BIN_EXE_healbot"))
        .args(["audit", "truncate"])
        .arg(&log.path)
        .args([
            "--at",
            "8",
            "--as",
            "oncall",
            "--reason",
            "bad deploy entries",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{text} {out:?}");
    assert!(text.contains("cut 3 (seq 8 on)"), "{text}");
    let (code, verified) = verify(&log.path);
    assert_eq!(code, 0, "{verified}");
    let last: AuditEntry = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(
        (last.seq, last.action.as_str(), last.actor.as_str()),
        (8, "audit.truncated", "oncall")
    );
    // Rebuild needs the key.
    let out = Command::new(env!("CARGO_BIN_EXE_healbot"))
        .args(["audit", "rebuild"])
        .arg(&log.path)
        .args(["--from", "2", "--reason", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "clap refuses without --key");
}
