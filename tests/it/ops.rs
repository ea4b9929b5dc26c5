//! `healbot ops` through the real binary on a demo work directory that waits for review: the
//! operation is listed as AwaitingReview, `ops pause` pauses it, `ops approve` merges and
//! completes it, with the person as actor in an audit chain that still verifies.

use std::path::Path;
use std::process::{Command, Output};

fn healbot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_healbot"))
        .args(args)
        .env_remove("HEALBOT_FAILPOINT")
        .env_remove("HEALBOT_STATE")
        .output()
        .expect("run healbot")
}

use crate::support::output_text as text;

fn ok(args: &[&str]) -> String {
    let out = healbot(args);
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The one operation's row in `ops list`: (id, state).
fn only_row(state: &Path) -> (String, String) {
    let listed = ok(&["ops", "list", "--state", state.to_str().unwrap()]);
    let rows: Vec<&str> = listed.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{listed}");
    assert!(listed.starts_with("ID"), "{listed}");
    let cells: Vec<&str> = rows[0].split_whitespace().collect();
    assert_eq!(cells[2], "payment-service", "{listed}");
    assert_eq!(cells[3], "#1", "{listed}");
    // The same row for scripts.
    let json = ok(&[
        "ops",
        "list",
        "--format",
        "json",
        "--state-dir",
        state.to_str().unwrap(),
    ]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(rows.len(), 1, "{json}");
    assert_eq!(rows[0]["id"], cells[0], "{json}");
    assert_eq!(rows[0]["state"], cells[1], "{json}");
    assert_eq!(rows[0]["pr"], 1, "{json}");
    (cells[0].to_string(), cells[1].to_string())
}

#[test]
fn a_person_pauses_then_approves_by_operation_id() {
    let dir = tempfile::tempdir().unwrap();
    let workdir = dir.path().to_str().unwrap();
    ok(&[
        "demo",
        "--workdir",
        workdir,
        "--requests",
        "200",
        "--pause-for-review",
    ]);
    let (id, state) = only_row(dir.path());
    assert!(id.starts_with("op-"), "{id}");
    assert_eq!(state, "AwaitingReview");

    let paused = ok(&["ops", "pause", &id, "--state", workdir, "--as", "alice"]);
    assert!(paused.contains("alice paused"), "{paused}");
    assert_eq!(only_row(dir.path()).1, "PausedForHumanReview");
    let open = ok(&["ops", "list", "--open", "--state", workdir]);
    assert!(open.contains(&id), "{open}");

    let bot = healbot(&["ops", "approve", &id, "--state", workdir, "--as", "healbot"]);
    assert!(!bot.status.success(), "{}", text(&bot));
    let unknown = healbot(&[
        "ops", "approve", "op-nope", "--state", workdir, "--as", "alice",
    ]);
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("no operation op-nope"),
        "{}",
        text(&unknown)
    );

    let approved = ok(&["ops", "approve", &id, "--state", workdir, "--as", "alice"]);
    assert!(approved.contains("alice approved"), "{approved}");
    assert!(approved.contains(&format!("{id}: Completed")), "{approved}");
    assert_eq!(only_row(dir.path()).1, "Completed");
    let open = ok(&["ops", "list", "--open", "--state", workdir]);
    assert!(open.contains("no operations"), "{open}");

    let log = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    for action in ["operation.paused", "review.approved"] {
        assert!(
            log.lines().any(|l| l.contains("\"actor\":\"alice\"")
                && l.contains(&format!("\"action\":\"{action}\""))),
            "{action}"
        );
    }
    ok(&[
        "audit",
        "verify",
        dir.path().join("audit.jsonl").to_str().unwrap(),
    ]);
}

/// An app whose only operation a gate (blast radius) paused before it had a PR.
async fn paused_by_a_gate() -> (crate::support::app::App, healbot::model::OperationId) {
    let t = crate::safety::postgres_fails_under_payment_service().await;
    assert_eq!(
        t.states().await,
        [healbot::operation::OpState::PausedForHumanReview]
    );
    let id = t.operations().await[0].id.clone();
    (t, id)
}

/// A gate paused the operation before it had a PR: `ops` acts on it by id all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_without_a_pr_is_resumed_or_cancelled_by_id() {
    use crate::support::app::REPO;
    use healbot::forge::HealCommand;
    use healbot::operation::OpState;

    let (t, id) = paused_by_a_gate().await;
    let orchestrator = t.app.orchestrator().clone();
    let lines = orchestrator
        .override_operation(&id, "alice", HealCommand::Approve)
        .await
        .unwrap();
    assert!(lines[0].contains("cannot approve"), "{lines:?}");
    // A person's resume overrides the gate's pause: the fix PR opens and waits for review.
    let lines = orchestrator
        .override_operation(&id, "alice", HealCommand::Resume)
        .await
        .unwrap();
    assert!(lines[0].contains("alice resumed"), "{lines:?}");
    assert_eq!(t.states().await, [OpState::AwaitingReview]);
    assert_eq!(t.fake.pr_numbers(REPO), vec![1]);
    let actions = t.audit_actions().await;
    assert!(actions.contains(&("alice".into(), "operation.resumed".into())));

    let (t, id) = paused_by_a_gate().await;
    let lines = t
        .app
        .orchestrator()
        .override_operation(&id, "alice", HealCommand::Rollback)
        .await
        .unwrap();
    assert!(lines[0].contains("cancelled"), "{lines:?}");
    assert_eq!(t.states().await, [OpState::Cancelled]);
    let actions = t.audit_actions().await;
    assert!(actions.contains(&("alice".into(), "operation.rollback_requested".into())));
    assert!(t.fake.pr_numbers(REPO).is_empty());
}

/// The runbook acts on a demo waiting for review: `list --reasons` says why it waits, acts that
/// do not apply are refused with exit 1 and nothing written, and `force-complete` ends it as the
/// person, with their reason in the audit chain.
#[test]
fn a_person_reads_why_it_waits_and_force_completes_it() {
    let dir = tempfile::tempdir().unwrap();
    let workdir = dir.path().to_str().unwrap();
    ok(&[
        "demo",
        "--workdir",
        workdir,
        "--requests",
        "200",
        "--pause-for-review",
    ]);
    let (id, _) = only_row(dir.path());
    let reasons = ok(&["ops", "list", "--reasons", "--state-dir", workdir]);
    let header = reasons.lines().next().unwrap();
    assert!(header.ends_with("WAITED  BY       REASON"), "{reasons}");
    assert!(reasons.contains("AwaitingReview"), "{reasons}");
    assert!(
        reasons.contains(&format!("    next: healbot ops approve {id}")),
        "{reasons}"
    );
    let log = dir.path().join("audit.jsonl");
    let before = std::fs::read_to_string(&log).unwrap();

    for (args, says) in [
        (vec!["promote", &id], "cannot promote"),
        (vec!["resume", &id], "it is not paused"),
        (vec!["rollback", &id, "--to", "v1.4.1"], "never deployed"),
        (
            vec!["force-complete", &id, "--reason", " "],
            "--reason needs a text",
        ),
        (vec!["promote", "op-nope"], "no operation op-nope"),
    ] {
        let mut full = vec!["ops"];
        full.extend(&args);
        full.extend(["--state-dir", workdir, "--as", "alice"]);
        let out = healbot(&full);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    assert_eq!(std::fs::read_to_string(&log).unwrap(), before);

    let done = ok(&[
        "ops",
        "force-complete",
        &id,
        "--reason",
        "fixed by hand in the hotfix release",
        "--state-dir",
        workdir,
        "--as",
        "alice",
    ]);
    assert!(done.contains("alice force-completed"), "{done}");
    assert!(done.contains(&format!("{id}: Completed")), "{done}");
    let entries: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let forced = entries
        .iter()
        .find(|e| e["action"] == "operation.force_completed")
        .expect("an audit entry for the act");
    assert_eq!(forced["actor"], "alice");
    assert_eq!(
        forced["detail"]["reason"],
        "fixed by hand in the hotfix release"
    );
    let last_transition = entries
        .iter()
        .rev()
        .find(|e| e["action"] == "operation.transition")
        .unwrap();
    assert_eq!(last_transition["detail"]["to"]["state"], "Completed");
    assert_eq!(last_transition["detail"]["forced"], true);
    let again = healbot(&[
        "ops",
        "force-complete",
        &id,
        "--reason",
        "x",
        "--state-dir",
        workdir,
    ]);
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already Completed"),
        "{}",
        text(&again)
    );
    let none = ok(&["ops", "list", "--reasons", "--state-dir", workdir]);
    assert!(none.contains("waits for a person"), "{none}");
    ok(&["audit", "verify", log.to_str().unwrap()]);
}
