//! Integration tests: `healbot demo` end to end through the real binary — the three scenarios,
//! a person approving through `healbot pr`, crash and resume at every state with nothing done
//! twice, and bad input that names the file and field.

use healbot::forge::{Forge, LocalForge, PrNumber, PrState, PullRequest, RepoRef};
use std::path::Path;
use std::process::{Command, Output};

fn healbot(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_healbot"));
    cmd.args(args).env_remove("HEALBOT_FAILPOINT");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run healbot")
}

use crate::support::output_text as text;

/// A demo run with little traffic, so that the tests stay quick.
fn demo(workdir: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Output {
    let dir = workdir.to_str().expect("utf-8 temp path");
    let mut args = vec!["demo", "--workdir", dir, "--requests", "200"];
    args.extend_from_slice(extra);
    healbot(&args, envs)
}

fn repo() -> RepoRef {
    RepoRef("payment-service".into())
}

async fn prs(state: &Path) -> Vec<PullRequest> {
    let forge = LocalForge::open(state).expect("open forge");
    forge.list_prs(&repo()).expect("list PRs")
}

/// Commit summaries on `main`, newest first.
fn main_log(workdir: &Path) -> Vec<(String, usize)> {
    let git = git2::Repository::open(workdir.join("repos/payment-service")).expect("open repo");
    let mut walk = git.revwalk().expect("revwalk");
    walk.push_ref("refs/heads/main").expect("main");
    walk.map(|oid| {
        let c = git.find_commit(oid.expect("oid")).expect("commit");
        (
            c.summary().ok().flatten().unwrap_or_default().to_string(),
            c.parent_count(),
        )
    })
    .collect()
}

fn manifest(workdir: &Path) -> String {
    std::fs::read_to_string(workdir.join("repos/payment-service/deploy/rollout.yaml"))
        .expect("read rollout.yaml")
}

fn assert_chain_holds(workdir: &Path) {
    let log = workdir.join("audit.jsonl");
    let out = healbot(&["audit", "verify", log.to_str().expect("utf-8")], &[]);
    assert!(out.status.success(), "{}", text(&out));
}

/// Every bot comment ends with a footer naming an audit entry whose hash it quotes.
fn assert_comments_mirror_audit(workdir: &Path, pr: &PullRequest) {
    let log = std::fs::read_to_string(workdir.join("audit.jsonl")).expect("read audit log");
    let entries: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
        .collect();
    let footer = regex::Regex::new(r"healbot audit · seq (\d+) · hash ([0-9a-f]{64})").unwrap();
    let bot: Vec<_> = pr
        .comments
        .iter()
        .filter(|c| c.author.ends_with("[bot]"))
        .collect();
    assert!(!bot.is_empty(), "healbot commented on {}", pr.number);
    for c in bot {
        let caps = footer
            .captures(&c.body)
            .unwrap_or_else(|| panic!("comment without audit footer: {}", c.body));
        let seq: u64 = caps[1].parse().unwrap();
        let entry = entries
            .iter()
            .find(|e| e["seq"] == seq)
            .unwrap_or_else(|| panic!("footer names seq {seq}, which is not in the log"));
        assert_eq!(
            entry["hash"].as_str().unwrap(),
            &caps[2],
            "the footer quotes the full hash"
        );
    }
}

/// Failure matrix row 3 (null pointer), run by `failure_matrix`.
pub(crate) async fn payment_null_is_fixed_canaried_and_closed() {
    let dir = tempfile::tempdir().unwrap();
    let out = demo(dir.path(), &[], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("pattern null_dereference"), "{stdout}");
    assert!(stdout.contains(": Completed"), "{stdout}");
    assert!(stdout.contains("total (MTTR)"), "{stdout}");

    let prs = prs(dir.path()).await;
    assert_eq!(prs.len(), 1, "one PR");
    let pr = &prs[0];
    assert_eq!(pr.state, PrState::Merged);
    assert!(pr.labels.contains(&"healbot".to_string()));
    assert!(pr.labels.iter().any(|l| l.starts_with("risk:")));
    for part in [
        "## Root cause: `payment-service`",
        "```mermaid",
        "`payment_processor.py:26` in `process_payment`",
        "python.none-guard",
        "+    if user.email is not None:",
        "## Risk:",
        "## Safety gates",
        "healbot audit head",
    ] {
        assert!(
            pr.body.contains(part),
            "PR body lacks {part:?}:\n{}",
            pr.body
        );
    }
    assert_comments_mirror_audit(dir.path(), pr);

    let log = main_log(dir.path());
    let canary: Vec<&str> = log
        .iter()
        .filter(|(s, _)| s.starts_with("deploy(payment-service): canary"))
        .map(|(s, _)| s.as_str())
        .collect();
    assert_eq!(canary.len(), 3, "{log:?}");
    assert!(canary[0].ends_with("at 100%") && canary[2].ends_with("at 10%"));
    assert_eq!(
        log.iter().filter(|(_, parents)| *parents == 2).count(),
        1,
        "one merge commit"
    );
    let rollout = manifest(dir.path());
    assert!(rollout.contains("- setWeight: 100"), "{rollout}");
    assert!(
        !rollout.contains("v1.4.2 # the stable release"),
        "new image: {rollout}"
    );
    assert!(
        rollout.contains("# healbot drives the canary from Git"),
        "comments kept"
    );
    assert_chain_holds(dir.path());
}

#[tokio::test]
async fn bad_canary_rolls_back_opens_a_revert_and_escalates() {
    let dir = tempfile::tempdir().unwrap();
    let out = demo(dir.path(), &["--scenario", "bad-canary"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(": RolledBack"), "{stdout}");
    assert!(
        stdout.contains("notified [Escalation] healbot rolled back a fix"),
        "{stdout}"
    );

    let prs = prs(dir.path()).await;
    assert_eq!(prs.len(), 2, "the fix and its revert");
    assert_eq!(prs[0].state, PrState::Merged);
    assert!(prs[0].body.contains("python.retry-backoff"));
    assert_eq!(prs[1].state, PrState::Open);
    assert!(prs[1].title.starts_with("Revert healbot fix"));
    assert!(prs[0]
        .comments
        .iter()
        .any(|c| c.body.starts_with("Canary at 10%: **Fail**")));
    let rollout = manifest(dir.path());
    assert!(
        rollout.contains("payment-service:v1.4.2 # the stable release"),
        "{rollout}"
    );
    assert!(rollout.contains("- setWeight: 0"), "{rollout}");
    assert!(main_log(dir.path())[0]
        .0
        .starts_with("rollback(payment-service)"));
    assert_chain_holds(dir.path());
}

/// Failure matrix row 5 (concurrent incident on the same service), run by `failure_matrix`.
pub(crate) async fn concurrent_incident_waits_on_the_lock_and_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let out = demo(dir.path(), &["--scenario", "concurrent"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let log = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let blocked: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["action"] == "lock.blocked")
        .collect();
    assert_eq!(blocked.len(), 1, "{log}");
    assert!(blocked[0]["operation_id"]
        .as_str()
        .unwrap()
        .ends_with("-order"));
    assert_eq!(blocked[0]["detail"]["resource"], "service:payment-service");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("-order: Cancelled"), "{stdout}");
    assert_eq!(
        prs(dir.path()).await.len(),
        1,
        "no second PR for the same fix"
    );
    assert_chain_holds(dir.path());
}

#[tokio::test]
async fn a_person_approves_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let out = demo(dir.path(), &["--pause-for-review"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("waits for you"));
    let state = dir.path().to_str().unwrap();

    // Inside a code block the command does nothing.
    let quoted = healbot(
        &[
            "pr",
            "comment",
            "1",
            "```\n/heal approve\n```",
            "--state-dir",
            state,
            "--as",
            "alice",
        ],
        &[],
    );
    assert!(quoted.status.success(), "{}", text(&quoted));
    assert_eq!(prs(dir.path()).await[0].state, PrState::Open);

    let out = healbot(
        &[
            "pr",
            "comment",
            "1",
            "/heal approve",
            "--state-dir",
            state,
            "--as",
            "alice",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("alice approved"),
        "{}",
        text(&out)
    );
    let prs = prs(dir.path()).await;
    assert_eq!(prs[0].state, PrState::Merged);
    let log = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("\"actor\":\"alice\"")
                && l.contains("\"action\":\"review.approved\""))
    );
    assert!(log.contains("verified at 100%; incident resolved"), "{log}");
    assert_chain_holds(dir.path());
}

/// Runs the demo (`scenario`) until the process kills itself (SIGKILL) right after
/// `failpoint` is durable, then resumes it to `ends`; returns the work directory.
fn crash_then_resume(failpoint: &str, scenario: &[&str], ends: &str) -> tempfile::TempDir {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let crashed = demo(dir.path(), scenario, &[("HEALBOT_FAILPOINT", failpoint)]);
    assert_eq!(
        crashed.status.signal(),
        Some(9),
        "{failpoint} was not reached: {}",
        text(&crashed)
    );
    assert!(String::from_utf8_lossy(&crashed.stderr).contains("failpoint"));
    let resumed = demo(dir.path(), &["--resume"], &[]);
    assert!(resumed.status.success(), "{failpoint}: {}", text(&resumed));
    let stdout = String::from_utf8_lossy(&resumed.stdout);
    assert!(
        stdout.contains(&format!(": {ends}")),
        "{failpoint}: {stdout}"
    );
    dir
}

/// No comment of `pr` was posted twice (each carries its idempotency key as a marker).
fn assert_no_comment_twice(pr: &PullRequest, failpoint: &str) {
    let markers: Vec<&str> = pr
        .comments
        .iter()
        .filter_map(|c| c.body.split("<!-- healbot:").nth(1))
        .collect();
    let mut unique = markers.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        markers.len(),
        unique.len(),
        "{failpoint}: a comment posted twice on #{}",
        pr.number.0
    );
}

/// Kills the demo right after `failpoint`, resumes it, and checks that the operation
/// completes with every side effect done exactly once.
pub(crate) async fn crash_and_resume(failpoint: &str) {
    let dir = crash_then_resume(failpoint, &[], "Completed");
    let prs = prs(dir.path()).await;
    assert_eq!(prs.len(), 1, "{failpoint}: one PR");
    let forge = LocalForge::open(dir.path()).unwrap();
    let pr = forge.pull_request(&repo(), PrNumber(1)).await.unwrap();
    let git = git2::Repository::open(dir.path().join("repos/payment-service")).unwrap();
    let head = git.revparse_single(&pr.head).unwrap().id();
    let base = git.revparse_single("v1.4.2").unwrap().id();
    let (ahead, _) = git.graph_ahead_behind(head, base).unwrap();
    assert_eq!(ahead, 1, "{failpoint}: one fix commit on {}", pr.head);

    let log = main_log(dir.path());
    let canary = log.iter().filter(|(s, _)| s.starts_with("deploy(")).count();
    assert_eq!(canary, 3, "{failpoint}: three canary commits: {log:?}");
    assert_eq!(
        log.iter().filter(|(_, p)| *p == 2).count(),
        1,
        "{failpoint}: one merge"
    );
    assert_no_comment_twice(&pr, failpoint);
    assert_chain_holds(dir.path());
}

/// The rollback path under the same crash (the bad-canary scenario): rolled back with each of
/// its side effects done once.
async fn crash_and_resume_rollback(failpoint: &str) {
    let dir = crash_then_resume(failpoint, &["--scenario", "bad-canary"], "RolledBack");
    let prs = prs(dir.path()).await;
    assert_eq!(prs.len(), 2, "{failpoint}: the fix and one revert");
    let log = main_log(dir.path());
    let rollbacks = log
        .iter()
        .filter(|(s, _)| s.starts_with("rollback("))
        .count();
    assert_eq!(rollbacks, 1, "{failpoint}: one rollback commit: {log:?}");
    for pr in &prs {
        assert_no_comment_twice(pr, failpoint);
    }
    assert_chain_holds(dir.path());
}

macro_rules! rollback_crash_tests {
    ($($name:ident: $point:expr,)*) => {$(
        #[tokio::test]
        async fn $name() {
            crash_and_resume_rollback($point).await;
        }
    )*};
}

rollback_crash_tests! {
    crash_after_rolling_back: "state:RollingBack",
    crash_after_rollback_manifest: "effect:rollback/manifest",
    crash_after_rollback_pr: "effect:rollback/pr",
    crash_after_rolled_back: "state:RolledBack",
}

macro_rules! crash_tests {
    ($($name:ident: $point:expr,)*) => {$(
        #[tokio::test]
        async fn $name() {
            crash_and_resume($point).await;
        }
    )*};
}

crash_tests! {
    crash_after_analyzing: "state:Analyzing",
    crash_after_planned: "state:Planned",
    crash_after_awaiting_gates: "state:AwaitingGates",
    crash_after_locked: "state:Locked",
    crash_after_branch: "effect:branch",
    crash_after_commit: "effect:commit",
    crash_after_pr: "effect:pr",
    crash_after_pr_open: "state:PrOpen",
    crash_after_awaiting_review: "state:AwaitingReview",
    crash_after_merge: "effect:merge",
    crash_after_merged: "state:Merged",
    crash_after_canary_commit: "effect:canary/10",
    crash_after_deploying_10: "state:Deploying(10%)",
    // state:Deploying(50%), mid-canary, is failure matrix row 15 (orchestrator crash).
    crash_after_deploying_100: "state:Deploying(100%)",
    crash_after_verifying: "state:Verifying",
    crash_after_completed: "state:Completed",
}

#[test]
fn a_bad_incident_file_names_the_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("w");
    let w = work.to_str().unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    for (file, field) in [
        ("bad-severity.json", "field `severity`"),
        ("bad-truncated.json", "field `signals[0]"),
    ] {
        let path = format!("{root}/testdata/incidents/{file}");
        let out = healbot(&["demo", "--incident", &path, "--workdir", w], &[]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(file) && err.contains(field), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!work.exists(), "nothing is set up for a bad incident");
    }
    let out = healbot(&["demo", "--incident", "/nonexistent/incident.json"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/incident.json") && err.contains("cannot read"),
        "{err}"
    );
}

#[tokio::test]
async fn a_recorded_incident_is_healed() {
    let dir = tempfile::tempdir().unwrap();
    let path = format!(
        "{}/testdata/incidents/payment-null.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = demo(dir.path(), &["--incident", &path], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("op-inc-recorded-1: Completed"));
}

#[test]
fn resume_needs_a_demo_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = demo(dir.path(), &["--resume"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("session.json"),
        "{}",
        text(&out)
    );
}

/// The orchestrator dropped mid-flight (its task aborted at an arbitrary await point), then a
/// new one started on the same log: the operation completes with nothing done twice.
#[tokio::test]
async fn a_dropped_orchestrator_resumes_from_the_log() {
    use healbot::demo::{DemoOptions, Scenario};
    use std::time::Duration;
    for delay_ms in [150u64, 900, 2500] {
        let dir = tempfile::tempdir().unwrap();
        let opts = DemoOptions {
            scenario: Scenario::PaymentNull,
            workdir: dir.path().to_path_buf(),
            requests: 200,
            seed: delay_ms,
            canary_wait: Duration::ZERO,
            scrape_interval: healbot::demo::SCRAPE_INTERVAL,
            pause_for_review: false,
            resume: false,
            incident: None,
        };
        let task = tokio::spawn(healbot::demo::run(opts.clone()));
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        task.abort();
        let _ = task.await;
        if !dir.path().join("session.json").exists() {
            continue; // dropped before the demo was set up: nothing to resume
        }
        // A crash frees the log at process exit; here a blocking task of the aborted run (a
        // Python traffic run) may still hold it for a moment.
        let mut tries = 0;
        let outcome = loop {
            match healbot::demo::run(DemoOptions {
                resume: true,
                ..opts.clone()
            })
            .await
            {
                Err(e) if format!("{e:#}").contains("one writer per log") && tries < 50 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                other => {
                    break other.unwrap_or_else(|e| panic!("resume after {delay_ms} ms: {e:#}"))
                }
            }
        };
        assert!(
            outcome.as_expected,
            "after {delay_ms} ms: {:?}",
            outcome.operations
        );
        let prs = prs(dir.path()).await;
        assert_eq!(prs.len(), 1, "after {delay_ms} ms");
        let canary = main_log(dir.path())
            .iter()
            .filter(|(s, _)| s.starts_with("deploy("))
            .count();
        assert_eq!(canary, 3, "after {delay_ms} ms");
        assert_chain_holds(dir.path());
    }
}

/// One measured interval answers health queries for the scrape interval, as a Prometheus
/// scrape does; a zero interval measures every time, and so does a new rollout state.
#[tokio::test]
async fn health_reads_one_interval_per_scrape() {
    use healbot::demo::Demo;
    use healbot::signals::MetricsSource;
    let served = |dir: &Path| -> u64 {
        let text = std::fs::read_to_string(dir.join("cluster/served.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["requests"]
            .as_u64()
            .unwrap()
    };
    for (scrape_ms, measured_twice) in [(60_000u64, false), (0, true)] {
        let dir = tempfile::tempdir().unwrap();
        let session = crate::support::demo_session(dir.path(), scrape_ms);
        let demo = Demo::create(dir.path(), session).await.expect("demo setup");
        let first = demo.cluster.health().await.unwrap();
        let after_one = served(dir.path());
        assert_eq!(after_one, 200);
        let second = demo.cluster.health().await.unwrap();
        assert_eq!(served(dir.path()) == 2 * after_one, measured_twice);
        if !measured_twice {
            assert_eq!(first, second, "a scrape answers with the same readings");
        }
    }
}
