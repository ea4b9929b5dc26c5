//! Required checks before the fix merges (issue 15 §4): an approved fix PR merges only once the
//! checks its base branch requires pass on its head. A failing check is reported on the PR
//! once and the operation waits; a passing re-run merges it (on the clock's next tick), and so
//! does `/heal retry` once it passes; waiting past the timeout escalates. The fake GitHub
//! refuses a merge whose required checks have not passed.

use crate::support::app::{comment, policies_with, App, AppOptions, REPO};
use crate::support::github_ci::{Ci, Protection};
use healbot::model::Clock;
use healbot::operation::OpState;
use std::time::Duration;

const CHECK: &str = "ci/test";

/// The comments of a canary whose steps are PRs into the protected `main`.
const STEPPED_ROLLOUT: [&str; 9] = [
    "goes through acme/payment-service#2",
    "10% of traffic",
    "Canary at 10%: **Pass**",
    "goes through acme/payment-service#3",
    "50% of traffic",
    "Canary at 50%: **Pass**",
    "goes through acme/payment-service#4",
    "100% of traffic",
    "Verification at 100%",
];

async fn start(timeout_seconds: u64) -> App {
    let dir = tempfile::tempdir().unwrap();
    let policies = policies_with(
        dir.path(),
        &[(
            "escalation.yaml",
            "required_checks_timeout_seconds: 3600",
            &format!("required_checks_timeout_seconds: {timeout_seconds}"),
        )],
    );
    let t = App::start_in(
        dir,
        AppOptions {
            policies_dir: Some(policies),
            ..AppOptions::default()
        },
    )
    .await;
    // main requires ci/test, so the canary's own commits are step PRs too; CI fails on the fix.
    t.fake.protect(
        REPO,
        "main",
        Protection::Rules {
            required_checks: vec![CHECK.into()],
            required_approvals: 0,
        },
    );
    t.fake.set_ci(REPO, CHECK, Ci::Fail);
    t
}

async fn tick(t: &App) {
    t.app.clock_tick(t.clock.now()).await.unwrap();
    t.settle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_check_is_reported_once_and_a_passing_rerun_merges() {
    let mut t = start(3600).await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    t.production.heal();
    t.approve(1, 9301).await;
    t.fake
        .expect_comments(&["Not merged: checks failed on", "approved"]);
    assert_eq!(t.state_of_only_operation().await, OpState::AwaitingReview);
    assert!(
        t.fake.merge_calls().is_empty(),
        "nothing merged while CI fails"
    );
    // The clock looks again and again: the failure is not commented twice.
    tick(&t).await;
    tick(&t).await;
    t.fake.expect_comments(&[]);
    assert_eq!(t.state_of_only_operation().await, OpState::AwaitingReview);

    // Someone re-runs CI and it passes: the next tick merges, and the canary runs through step PRs.
    let head = t.head(1).await;
    t.fake.set_ci(REPO, CHECK, Ci::PassAfter(Duration::ZERO));
    t.fake
        .rerun(REPO, &head, CHECK, Ci::PassAfter(Duration::ZERO));
    tick(&t).await;
    assert_eq!(t.state_of_only_operation().await, OpState::Completed);
    t.fake.expect_comments(&STEPPED_ROLLOUT);
    let merges = t.fake.merge_calls();
    assert_eq!(
        merges[0]["sha"],
        serde_json::json!(head),
        "the fix merged at its checked head"
    );
    let actions = t.audit_actions().await;
    assert_eq!(
        actions
            .iter()
            .filter(|(_, a)| a == "pr.checks_failed")
            .count(),
        1
    );
    t.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heal_retry_merges_once_the_check_passes_and_a_timeout_escalates() {
    let mut t = start(2).await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    t.production.heal();
    t.approve(1, 9302).await;
    t.fake
        .expect_comments(&["Not merged: checks failed on", "approved"]);

    // Past the timeout with CI still red: escalated, said once on the PR.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    tick(&t).await;
    t.fake.expect_comments(&["did not pass within 2 s"]);
    assert_eq!(t.state_of_only_operation().await, OpState::Escalated);

    // `/heal retry` while still red: the operation goes back to review, checks again, reports.
    let head = t.head(1).await;
    t.fake
        .rerun(REPO, &head, CHECK, Ci::PassAfter(Duration::ZERO));
    t.fake.set_ci(REPO, CHECK, Ci::PassAfter(Duration::ZERO));
    let retry = comment(&t.fake, 1, "alice", "/heal retry");
    t.deliver("issue_comment", "retry-9302", &retry).await;
    t.fake.expect_comments(&["retried the operation"]);
    assert_eq!(t.state_of_only_operation().await, OpState::AwaitingReview);
    // In review with the approval on record and CI green: `/heal retry` merges now.
    let retry = comment(&t.fake, 1, "alice", "/heal retry");
    t.deliver("issue_comment", "retry-9302-b", &retry).await;
    assert_eq!(t.state_of_only_operation().await, OpState::Completed);
    let mut expected = vec!["pass now: merged"];
    expected.extend(STEPPED_ROLLOUT);
    t.fake.expect_comments(&expected);
    t.fake.assert_clean();
}
