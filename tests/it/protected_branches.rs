//! Protected branches (issue 15 §3): where the branch Argo watches is protected, every canary
//! step is a `healbot/step-…` PR that healbot merges once its required checks pass; a step PR
//! whose checks never pass stops the operation for a person after the step timeout. The fake
//! GitHub enforces the protection (a direct ref update is refused, a merge before the checks
//! pass is refused), so a direct commit could not pass these tests.

use crate::deploy_repo::{repo_config, rollout_yaml, DEPLOY, MANIFEST};
use crate::support::app::{policies_with, App, AppOptions};
use crate::support::github_ci::{Ci, Protection};
use healbot::operation::OpState;
use std::time::Duration;

const CHECK: &str = "deploy-lint";

/// The app with its manifests in acme/deploy@release, which requires `deploy-lint`.
async fn start(step_timeout_seconds: u64, ci: Ci) -> App {
    let dir = tempfile::tempdir().unwrap();
    let policies = policies_with(
        dir.path(),
        &[(
            "escalation.yaml",
            "step_merge_timeout_seconds: 1800",
            &format!("step_merge_timeout_seconds: {step_timeout_seconds}"),
        )],
    );
    let t = App::start_in(
        dir,
        AppOptions {
            policies_dir: Some(policies),
            repo_config: Some(repo_config()),
            ..AppOptions::default()
        },
    )
    .await;
    let seeded = t
        .fake
        .add_repo(DEPLOY, "main", &[("README.md", "deploy\n")]);
    t.fake.create_branch(DEPLOY, "release", &seeded);
    let rollout = rollout_yaml();
    t.fake
        .push(DEPLOY, "release", &[(MANIFEST, &rollout)], "payment\n");
    t.fake.protect(
        DEPLOY,
        "release",
        Protection::Rules {
            required_checks: vec![CHECK.into()],
            required_approvals: 0,
        },
    );
    t.fake.set_ci(DEPLOY, CHECK, ci);
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_canary_step_is_a_pr_merged_once_its_check_passes() {
    let mut t = start(60, Ci::PassAfter(Duration::from_millis(400))).await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    t.production.heal();
    t.approve(1, 9201).await;
    assert_eq!(t.state_of_only_operation().await, OpState::Completed);
    t.fake.expect_comments(&[
        "approved",
        "goes through acme/deploy#2",
        "10% of traffic",
        "Canary at 10%: **Pass**",
        "goes through acme/deploy#3",
        "50% of traffic",
        "Canary at 50%: **Pass**",
        "goes through acme/deploy#4",
        "100% of traffic",
        "Verification at 100%",
    ]);
    // One step PR per canary step, each merged; none left open.
    let prs = t.fake.prs_of(DEPLOY);
    assert_eq!(prs.len(), 3, "{prs:?}");
    assert!(prs
        .iter()
        .all(|(_, head, open)| head.starts_with("healbot/step-") && !open));
    let deployed = t.fake.file(DEPLOY, "release", MANIFEST).unwrap();
    assert!(deployed.contains("setWeight: 100"), "{deployed}");
    // The release branch moved only by merges: every commit on it since the seed has two parents.
    let tip = t.fake.branch(DEPLOY, "release").unwrap();
    assert_eq!(t.fake.commit_parents(&tip).len(), 2);
    // No direct ref update of the protected branch was tried.
    let refused = t.fake.seen().into_iter().filter(|s| {
        s.method == "PATCH"
            && s.path
                .ends_with(&format!("{DEPLOY}/git/refs/heads/release"))
    });
    assert_eq!(refused.count(), 0);
    // Every step's route, branch, commit and PR are recorded effects, so a restart reuses them.
    let op = &t.operations().await[0];
    for weight in [10, 50, 100] {
        for part in ["route", "branch", "commit", "pr"] {
            let key = format!("{}/step/canary/{weight}/{part}", op.id);
            assert!(op.effects.contains_key(&key), "{key}");
        }
    }
    t.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_pr_whose_check_never_passes_stops_for_a_person() {
    let mut t = start(2, Ci::Never).await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    let before = t.fake.file(DEPLOY, "release", MANIFEST);
    t.production.heal();
    t.approve(1, 9202).await;
    t.fake.expect_comments(&[
        "approved",
        "goes through acme/deploy#2",
        "The deploy step is stuck: step PR acme/deploy#2 did not merge within 2 s (waiting for deploy-lint)",
    ]);
    assert_eq!(
        t.state_of_only_operation().await,
        OpState::PausedForHumanReview
    );
    assert_eq!(
        t.fake.file(DEPLOY, "release", MANIFEST),
        before,
        "nothing reached production"
    );
    let actions = t.audit_actions().await;
    assert!(actions.iter().any(|(_, a)| a == "deploy.step_pr_timed_out"));
    assert!(actions.iter().any(|(_, a)| a == "notify.sent"));
    // The check passes later and a person resumes: the same step PR merges, no second one.
    t.fake.rerun(
        DEPLOY,
        &t.fake.branch(DEPLOY, &t.fake.prs_of(DEPLOY)[0].1).unwrap(),
        CHECK,
        Ci::PassAfter(Duration::ZERO),
    );
    t.fake.set_ci(DEPLOY, CHECK, Ci::PassAfter(Duration::ZERO));
    let resume = crate::support::app::comment(&t.fake, 1, "alice", "/heal resume");
    t.deliver("issue_comment", "resume-9202", &resume).await;
    assert_eq!(t.state_of_only_operation().await, OpState::Completed);
    t.fake.expect_comments(&[
        "resumed the operation at Merged",
        "10% of traffic",
        "Canary at 10%: **Pass**",
        "goes through acme/deploy#3",
        "50% of traffic",
        "Canary at 50%: **Pass**",
        "goes through acme/deploy#4",
        "100% of traffic",
        "Verification at 100%",
    ]);
    let prs = t.fake.prs_of(DEPLOY);
    assert_eq!(prs.len(), 3, "one PR per step, the first reused: {prs:?}");
    assert!(prs.iter().all(|(_, _, open)| !open));
    t.fake.assert_clean();
}
