//! A service lock lasts as long as its operation (issue 15 §6): the lock's TTL is shorter than
//! the time a fix PR waits for review, the holder renews it, and a second incident on the same
//! service waits for it instead of opening a second PR.

use crate::support::app::{policies_with, App, AppOptions, REPO};
use healbot::lock::LockResource;
use healbot::operation::OpState;
use std::time::Duration;

/// order-service as a second service of the repository: its alerts' root cause is
/// payment-service, so they want payment-service's lock.
const TWO_SERVICES: &str = "services:
  - name: payment-service
    language: python
    paths: [\".\"]
    manifests: [\"deploy/rollout.yaml\"]
  - name: order-service
    language: python
    paths: [\"orders\"]
validation:
  command: \"python3 -m unittest discover -s tests -q\"
  timeout_seconds: 60
approvers:
  permission: write
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_longer_than_the_lock_ttl_keeps_the_lock_and_a_second_incident_waits() {
    let dir = tempfile::tempdir().unwrap();
    // A 1 s TTL (renewed every 333 ms) and a 3 s wait for a held lock.
    let policies = policies_with(
        dir.path(),
        &[
            ("locks.yaml", "ttl_seconds: 300", "ttl_seconds: 1"),
            (
                "locks.yaml",
                "wait_timeout_seconds: 120",
                "wait_timeout_seconds: 3",
            ),
        ],
    );
    let mut t = App::start_in(
        dir,
        AppOptions {
            policies_dir: Some(policies),
            repo_config: Some(TWO_SERVICES.into()),
            ..AppOptions::default()
        },
    )
    .await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    let locks = t.app.orchestrator().locks.clone();
    let service = LockResource::service("payment-service");
    let held = locks.list().await.unwrap();
    assert_eq!(held.len(), 1, "{held:?}");
    let first = held[0].clone();
    assert_eq!(first.resource, service);

    // The review stays open for 2.5 TTLs: the lock is still the first operation's, with the
    // same fencing token (renewed, never lapsed and taken again).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let held = locks.list().await.unwrap();
    assert_eq!(held.len(), 1, "the lock lapsed during the review");
    assert_eq!(
        (&held[0].owner, held[0].fencing),
        (&first.owner, first.fencing)
    );
    assert!(held[0].age_ms >= 2500, "{:?}", held[0]);

    // A second incident whose root cause is the same service waits for the lock (3 s, three
    // TTLs) and escalates; it never opens a PR of its own.
    t.alert_on("order-service").await;
    t.settle().await;
    assert_eq!(
        t.states().await,
        [OpState::AwaitingReview, OpState::Escalated]
    );
    let ops = t.operations().await;
    let reason = &ops[1].history.last().unwrap().2;
    assert!(reason.contains("lock wait timed out"), "{reason}");
    assert_eq!(t.fake.pr_numbers(REPO), vec![1], "no second PR");

    // The first operation still holds its lock, so its merge and canary pass the fencing check.
    t.production.heal();
    t.approve(1, 1).await;
    t.expect_full_rollout();
    assert_eq!(t.states().await, [OpState::Completed, OpState::Escalated]);
    assert!(
        locks.list().await.unwrap().is_empty(),
        "released when it completed"
    );
    t.fake.assert_clean();
}
