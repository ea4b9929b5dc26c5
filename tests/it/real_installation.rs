//! Issue 15's "done when": the whole path of a real installation against the fake GitHub, with
//! real git over HTTP for the clones. Payment-service keeps its Rollout in a separate deploy
//! repository whose branch requires a passing check and whose canary Argo Rollouts runs; the
//! fix PR's CI fails and then passes; the registry has the merge commit's image only after a
//! delay; the review is held longer than the lock TTL while a second incident on the same
//! service waits; and the Argo-managed step that gets no word from Argo times out and asks a
//! person.

use crate::support::app::{policies_with, App, AppOptions, REPO, SERVICE_DIR};
use crate::support::github_ci::{Ci, Protection};
use crate::support::registry::{FakeRegistry, REGISTRY_PASSWORD};
use healbot::model::Clock;
use healbot::operation::OpState;
use std::path::Path;
use std::time::Duration;

const DEPLOY: &str = "acme/deploy";
const MANIFEST: &str = "apps/payment/rollout.yaml";

fn config(registry: &str) -> String {
    format!(
        "services:
  - name: payment-service
    language: python
    paths: [\".\"]
    manifests: [\"deploy/rollout.yaml\"]
    rollout: {{repo: {DEPLOY}, branch: release, path: {MANIFEST}, mode: argo}}
    namespace: payments
    image: {registry}/acme/payment-service:{{sha}}
  - name: order-service
    language: python
    paths: [\"orders\"]
validation:
  command: \"python3 -m unittest discover -s tests -q\"
  timeout_seconds: 60
approvers:
  permission: write
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_path_of_a_real_installation() {
    let registry = FakeRegistry::start().await;
    let dir = tempfile::tempdir().unwrap();
    let policies = policies_with(
        dir.path(),
        &[
            ("locks.yaml", "ttl_seconds: 300", "ttl_seconds: 1"),
            (
                "locks.yaml",
                "wait_timeout_seconds: 120",
                "wait_timeout_seconds: 3",
            ),
            (
                "escalation.yaml",
                "image_wait_seconds: 900",
                "image_wait_seconds: 30",
            ),
        ],
    );
    let token = dir.path().join("registry-token");
    std::fs::write(&token, format!("{REGISTRY_PASSWORD}\n")).unwrap();
    let mut t = App::start_in(
        dir,
        AppOptions {
            policies_dir: Some(policies),
            repo_config: Some(config(&registry.host())),
            registry_token_file: Some(token),
            ..AppOptions::default()
        },
    )
    .await;
    // The deploy repository: Argo CD watches `release`, which requires `deploy-lint`.
    let seeded = t
        .fake
        .add_repo(DEPLOY, "main", &[("README.md", "deploy\n")]);
    t.fake.create_branch(DEPLOY, "release", &seeded);
    let rollout =
        std::fs::read_to_string(Path::new(SERVICE_DIR).join("deploy/rollout.yaml")).unwrap();
    t.fake
        .push(DEPLOY, "release", &[(MANIFEST, &rollout)], "payment\n");
    let protect = |repo: &str, branch: &str, check: &str| {
        t.fake.protect(
            repo,
            branch,
            Protection::Rules {
                required_checks: vec![check.into()],
                required_approvals: 0,
            },
        )
    };
    protect(DEPLOY, "release", "deploy-lint");
    t.fake.set_ci(
        DEPLOY,
        "deploy-lint",
        Ci::PassAfter(Duration::from_millis(300)),
    );
    // The service repository's main requires ci/test, which fails on the fix at first.
    protect(REPO, "main", "ci/test");
    t.fake.set_ci(REPO, "ci/test", Ci::Fail);

    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);

    // The review is held for 2.5 lock TTLs; a second incident on the same service waits for
    // the lock and gives up without opening a PR.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    t.alert_on("order-service").await;
    t.settle().await;
    assert_eq!(
        t.states().await,
        [OpState::AwaitingReview, OpState::Escalated]
    );
    assert_eq!(t.fake.pr_numbers(REPO), vec![1], "no second fix PR");

    // Approved while CI fails: not merged, said once.
    t.production.heal();
    t.approve(1, 9401).await;
    t.fake
        .expect_comments(&["Not merged: checks failed on", "approved"]);
    assert!(t.fake.merge_calls().is_empty());

    // CI re-runs green; CI pushes the image 1.5 s after the merge. The clock's tick merges,
    // the canary waits for the image, and the hand-over to Argo is a step PR on `release`.
    let head = t.head(1).await;
    t.fake
        .rerun(REPO, &head, "ci/test", Ci::PassAfter(Duration::ZERO));
    registry.publish_after("acme/payment-service", Duration::from_millis(1500));
    t.app.clock_tick(t.clock.now()).await.unwrap();
    t.settle().await;
    assert_eq!(
        t.states().await,
        [OpState::Deploying(0), OpState::Escalated]
    );
    t.fake.expect_comments(&[
        "goes through acme/deploy#2",
        "Argo Rollouts runs the canary steps",
    ]);
    let deployed = t.fake.file(DEPLOY, "release", MANIFEST).unwrap();
    let merged: String = {
        let ops = t.operations().await;
        serde_json::from_value(ops[0].effects[&format!("{}/merge", ops[0].id)].clone()).unwrap()
    };
    let image = format!("{}/acme/payment-service:{merged}", registry.host());
    assert!(deployed.contains(&format!("image: {image}")), "{deployed}");
    let prs = t.fake.prs_of(DEPLOY);
    assert_eq!(prs.len(), 1);
    assert!(
        prs[0].1.starts_with("healbot/step-") && !prs[0].2,
        "{prs:?}"
    );

    // Argo never reports: 11 minutes later the step timed out and a person is asked.
    let later = t.clock.now() + chrono::Duration::minutes(11);
    t.app.clock_tick(later).await.unwrap();
    assert_eq!(
        t.states().await,
        [OpState::PausedForHumanReview, OpState::Escalated]
    );
    t.fake
        .expect_comments(&["Argo Rollouts reported no progress on `apps/payment/rollout.yaml`"]);
    let actions = t.audit_actions().await;
    for action in [
        "pr.checks_failed",
        "deploy.step_pr_opened",
        "argo.step_timed_out",
    ] {
        assert!(actions.iter().any(|(_, a)| a == action), "{action}");
    }
    t.fake.assert_clean();
}
