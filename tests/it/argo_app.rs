//! Argo-managed mode through the GitHub App: Argo Rollouts' notifications posted to
//! `/webhooks/argo` are mirrored on the fix PR with their audit footer, an abort makes healbot
//! write Git back (stable image at weight 0 on main, revert PR, `RolledBack`), and a
//! notification about a Rollout no operation deploys changes nothing.

use crate::support::app::{App, AppOptions, REPO};
use healbot::model::Clock;
use healbot::operation::OpState;
use serde_json::{json, Value};

const ARGO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/argo");

/// `.github/healbot.yml` with the payment service's canary run by Argo Rollouts in the
/// `payments` namespace.
pub(crate) const ARGO_CONFIG: &str = "services:
  - name: payment-service
    language: python
    paths: [\".\"]
    manifests: [\"deploy/rollout.yaml\"]
    rollout: argo
    namespace: payments
validation:
  command: \"python3 -m unittest discover -s tests -q\"
  timeout_seconds: 60
approvers:
  permission: write
";

/// An operation merged and handed to Argo Rollouts, waiting for its notifications.
async fn deploying() -> App {
    let mut t = App::start_with(AppOptions {
        repo_config: Some(ARGO_CONFIG.into()),
        ..AppOptions::default()
    })
    .await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    t.production.heal();
    t.approve(1, 1).await;
    t.fake
        .expect_comments(&["approved", "Argo Rollouts runs the canary steps"]);
    assert_eq!(t.states().await, [OpState::Deploying(0)]);
    t
}

/// Posts `testdata/argo/<name>` about the Rollout `rollout` and waits until it is handled.
async fn notify(t: &mut App, name: &str, rollout: &str) {
    let text = std::fs::read_to_string(format!("{ARGO}/{name}")).unwrap();
    let mut body: Value = serde_json::from_str(&text).unwrap();
    body["rollout"] = json!(rollout);
    body["namespace"] = json!("payments");
    crate::support::app::post_json(t, "/webhooks/argo", &body).await;
}

fn manifest_on_main(t: &App) -> String {
    let main_sha = t.fake.branch(REPO, "main").unwrap();
    t.fake.file(REPO, &main_sha, "deploy/rollout.yaml").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_notification_is_mirrored_on_the_pr_and_audited() {
    let mut t = deploying().await;
    notify(&mut t, "step-completed.json", "payment-service").await;
    let comments = t.fake.bot_comments();
    let last = comments.last().unwrap();
    assert!(
        last.contains("`payments/payment-service` revision 7 finished canary step 2")
            && last.contains("(canary at 10% of traffic)")
            && last.contains("<sub>healbot audit · seq"),
        "{last}"
    );
    t.fake
        .expect_comments(&["revision 7 finished canary step 2"]);
    // Argo (or a retry) sending it again changes nothing.
    notify(&mut t, "step-completed.json", "payment-service").await;
    t.fake.expect_comments(&[]);
    let argo: Vec<(String, String)> = t
        .audit_actions()
        .await
        .into_iter()
        .filter(|(_, a)| a.starts_with("argo."))
        .collect();
    assert_eq!(
        argo,
        [("healbot".to_string(), "argo.step_completed".to_string())]
    );
    assert_eq!(t.states().await, [OpState::Deploying(0)]);
    t.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_writes_git_back_to_the_stable_image() {
    let mut t = deploying().await;
    let before = manifest_on_main(&t);
    let image = before.lines().find(|l| l.contains("image:")).unwrap();
    assert!(!image.contains("v1.4.2"), "the canary is on main: {image}");
    notify(&mut t, "aborted.json", "payment-service").await;
    t.fake.expect_comments(&[
        "Argo Rollouts aborted `payments/payment-service` revision 7",
        "Rolled back: `v1.4.2` is stable again",
    ]);
    assert_eq!(t.states().await, [OpState::RolledBack]);
    let manifest = manifest_on_main(&t);
    let image = manifest.lines().find(|l| l.contains("image:")).unwrap();
    assert!(image.contains("payment-service:v1.4.2"), "{manifest}");
    assert!(manifest.contains("setWeight: 0"), "{manifest}");
    assert_eq!(t.fake.pr_numbers(REPO), vec![1, 2], "the revert PR");
    let reasons: Vec<String> = t.operations().await[0]
        .history
        .iter()
        .map(|h| h.2.clone())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("Argo Rollouts aborted payment-service: RolloutAborted")),
        "{reasons:#?}"
    );
    let actions = t.audit_actions().await;
    for action in ["argo.aborted", "deploy.rolled_back", "notify.sent"] {
        assert!(
            actions.iter().any(|(_, a)| a == action),
            "{action}: {actions:#?}"
        );
    }
    t.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_for_an_unknown_rollout_changes_nothing() {
    let mut t = deploying().await;
    let manifest = manifest_on_main(&t);
    let actions = t.audit_actions().await.len();
    notify(&mut t, "aborted.json", "checkout").await;
    notify(&mut t, "step-completed.json", "checkout").await;
    t.fake.expect_comments(&[]);
    assert_eq!(t.states().await, [OpState::Deploying(0)]);
    assert_eq!(manifest_on_main(&t), manifest);
    assert_eq!(t.audit_actions().await.len(), actions);
    assert_eq!(t.fake.pr_numbers(REPO), vec![1]);
    t.fake.assert_clean();
}

/// `rollout: argo` in `.github/healbot.yml`: after the merge healbot commits only the new image
/// (Argo's own steps move the weight), waits for Argo, and verifies once Argo says completed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argo_managed_services_are_handed_to_argo_and_verified_when_it_completes() {
    let config = ARGO_CONFIG;
    let mut t = App::start_with(AppOptions {
        repo_config: Some(config.into()),
        ..AppOptions::default()
    })
    .await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    let weight_before = manifest_on_main(&t)
        .lines()
        .find(|l| l.contains("setWeight"))
        .unwrap()
        .to_string();
    t.production.heal();
    t.approve(1, 1).await;
    t.fake
        .expect_comments(&["approved", "Argo Rollouts runs the canary steps"]);
    assert_eq!(t.states().await, [OpState::Deploying(0)]);
    let manifest = manifest_on_main(&t);
    let image = manifest.lines().find(|l| l.contains("image:")).unwrap();
    assert!(
        !image.contains("v1.4.2"),
        "the new image is on main: {image}"
    );
    let weight = manifest.lines().find(|l| l.contains("setWeight")).unwrap();
    assert_eq!(weight, weight_before, "healbot leaves the weights to Argo");

    notify(&mut t, "completed.json", "payment-service").await;
    t.fake
        .expect_comments(&["payment-service", "Verification at 100%"]);
    assert_eq!(t.states().await, [OpState::Completed]);
    t.fake.assert_clean();
}

/// Argo-managed mode cannot stall (issue 15 §7): the escalation clock runs while healbot waits
/// for Argo, each notification starts the step's clock again, and a step with no word from Argo
/// for `argo_step_timeout_minutes` (10 by default) pauses the operation for a person, said on
/// the PR and in a notification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_argo_step_without_progress_times_out_and_asks_a_person() {
    let mut t = deploying().await;
    let start = t.clock.now();
    let at = |m: i64| start + chrono::Duration::minutes(m);
    assert_eq!(t.app.clock_tick(at(9)).await.unwrap(), 0, "within the step");
    assert_eq!(t.states().await, [OpState::Deploying(0)]);

    // Argo finishes a step 8 minutes in: the next step has its own 10 minutes.
    t.clock.advance(chrono::Duration::minutes(8));
    notify(&mut t, "step-completed.json", "payment-service").await;
    t.fake.expect_comments(&["finished canary step 2"]);
    // 15 minutes of waiting on Argo: the first escalation step goes out (Deploying counts as
    // waiting), while the step itself, 7 minutes old, has not timed out.
    assert_eq!(t.app.clock_tick(at(15)).await.unwrap(), 1);
    assert_eq!(t.states().await, [OpState::Deploying(0)]);
    let ops = t.operations().await;
    assert!(
        ops[0].effects.keys().any(|k| k.contains("/escalation/")),
        "{:?}",
        ops[0].effects.keys()
    );
    t.fake.expect_comments(&[]);

    // 11 minutes after the last notification: the step timed out.
    assert_eq!(t.app.clock_tick(at(19)).await.unwrap(), 1);
    assert_eq!(t.states().await, [OpState::PausedForHumanReview]);
    t.fake
        .expect_comments(&["reported no progress on `deploy/rollout.yaml`"]);
    let actions = t.audit_actions().await;
    assert!(actions.iter().any(|(_, a)| a == "argo.step_timed_out"));
    let last_notify = actions.iter().rposition(|(_, a)| a == "notify.sent");
    let timed_out = actions.iter().position(|(_, a)| a == "argo.step_timed_out");
    assert!(last_notify > timed_out, "a person is told");
    // Once is enough: the next turns send the ladder for the pause, never a second pause.
    assert_eq!(t.app.clock_tick(at(20)).await.unwrap(), 0);
    t.fake.expect_comments(&[]);
    t.fake.assert_clean();
}
