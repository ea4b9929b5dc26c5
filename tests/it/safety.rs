//! The seed design's safety rows, each an automated test through the GitHub App: an alert comes
//! in, and the reaction (blocked, paused, escalated, waited, failed closed) is what the row
//! says, with the audit log and the notifications to show for it. The rows are
//! `pub(crate)` scenarios that `failure_matrix` runs, one test per row.

use crate::locks::RedisServer;
use crate::support::app::{comment, App, AppOptions, LOG, REPO};
use healbot::audit::file::FileAuditStore;
use healbot::detect::Incident;
use healbot::forge::RepoRef;
use healbot::model::Clock;
use healbot::model::OperationId;
use healbot::model::{IncidentId, Severity};
use healbot::operation::{Journal, OpState};
use healbot::orchestrator::OperationSpec;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The repository config with order-service and postgres' owner declared too, so alerts on
/// them reach this repository.
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

/// The embedded policies with short lock waits and fast backend retries, for tests.
fn quick_policies(root: &Path) -> PathBuf {
    crate::support::app::policies_with(
        root,
        &[
            (
                "locks.yaml",
                "wait_timeout_seconds: 120",
                "wait_timeout_seconds: 2",
            ),
            ("locks.yaml", "attempts: 5", "attempts: 3"),
            (
                "locks.yaml",
                "initial_backoff_ms: 200",
                "initial_backoff_ms: 50",
            ),
        ],
    )
}

fn quick(t: &tempfile::TempDir) -> AppOptions {
    AppOptions {
        policies_dir: Some(quick_policies(t.path())),
        ..AppOptions::default()
    }
}

async fn reason_of_last(t: &App) -> String {
    let ops = t.operations().await;
    let op = ops.last().unwrap();
    op.history.last().unwrap().2.clone()
}

/// order-service's own alert, while payment-service's fix waits for review: the second
/// operation pauses on its conflict with the first.
async fn order_service_pauses_on_a_conflict(t: &mut App) {
    t.alert_on("order-service").await;
    t.settle().await;
    assert_eq!(
        t.states().await,
        [OpState::AwaitingReview, OpState::PausedForHumanReview]
    );
    let reason = reason_of_last(t).await;
    assert!(reason.contains("paused by a conflict"), "{reason}");
}

async fn notified(t: &App) -> usize {
    t.audit_actions()
        .await
        .iter()
        .filter(|(_, a)| a == "notify.sent")
        .count()
}

/// Failure matrix row 13 (lock timeout), run by `failure_matrix`.
pub(crate) async fn same_service_second_operation_waits_on_the_lock_then_escalates() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = quick(&dir);
    options.repo_config = Some(TWO_SERVICES.into());
    let mut t = App::start_in(dir, options).await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    // order-service's alert: its root cause is payment-service, whose lock the first holds.
    t.alert_on("order-service").await;
    t.settle().await;
    assert_eq!(
        t.states().await,
        [OpState::AwaitingReview, OpState::Escalated]
    );
    let reason = reason_of_last(&t).await;
    assert!(reason.contains("lock wait timed out"), "{reason}");
    let actions = t.audit_actions().await;
    assert!(actions.iter().any(|(_, a)| a == "lock.blocked"));
    assert!(notified(&t).await >= 2, "review request and escalation");
    assert_eq!(t.fake.pr_numbers(REPO), vec![1], "no second PR");
    t.fake.assert_clean();
}

/// Failure matrix row 6 (concurrent incident through a dependency), run by `failure_matrix`.
pub(crate) async fn a_fix_through_a_dependency_pauses_for_a_person() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = quick(&dir);
    options.repo_config = Some(TWO_SERVICES.into());
    options.logs = vec![("order-service".into(), LOG.into())];
    let mut t = App::start_in(dir, options).await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    // Now order-service fails on its own while payment-service's fix waits for review.
    t.production.edit(|s| {
        s.error_rates.insert("payment-service".into(), 0.001);
        s.error_rates.insert("user-service".into(), 0.001);
    });
    order_service_pauses_on_a_conflict(&mut t).await;
    assert!(t
        .audit_actions()
        .await
        .iter()
        .any(|(_, a)| a == "conflict.detected"));
    t.fake.assert_clean();
}

/// Failure matrix row 7 (error budget), run by `failure_matrix`.
pub(crate) async fn an_exhausted_error_budget_blocks() {
    let mut t = App::start().await;
    t.production.edit(|s| s.slo_error_rate = Some(0.02));
    t.alert().await;
    assert_eq!(t.states().await, [OpState::Escalated]);
    let reason = reason_of_last(&t).await;
    assert!(
        reason.contains("blocked by safety gates: error_budget"),
        "{reason}"
    );
    assert!(t.fake.pr_numbers(REPO).is_empty());
    t.fake.assert_clean();
}

/// The database under payment-service fails (4 of 18 other services depend on it) and the
/// alert on payment-service has been handled.
pub(crate) async fn postgres_fails_under_payment_service() -> App {
    let mut t = App::start_with(AppOptions {
        logs: vec![("postgres_primary".into(), LOG.into())],
        ..AppOptions::default()
    })
    .await;
    t.production.edit(|s| {
        s.error_rates.insert("postgres_primary".into(), 0.3);
    });
    t.alert().await;
    t
}

/// Failure matrix row 8 (blast radius), run by `failure_matrix`.
pub(crate) async fn a_blast_radius_over_a_fifth_pauses() {
    let t = postgres_fails_under_payment_service().await;
    assert_eq!(t.states().await, [OpState::PausedForHumanReview]);
    let reason = reason_of_last(&t).await;
    assert!(reason.contains("blast_radius"), "{reason}");
    assert!(t.fake.pr_numbers(REPO).is_empty());
    t.fake.assert_clean();
}

/// Failure matrix row 9 (cooldown), run by `failure_matrix`.
pub(crate) async fn cooldown_after_a_deploy_blocks_the_next_fix() {
    let mut t = App::start().await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    t.production.heal();
    t.approve(1, 1).await;
    assert_eq!(t.states().await, [OpState::Completed]);
    t.expect_full_rollout();
    // Alertmanager says it is over; then it breaks again, too soon after the last deploy.
    t.resolve_alerts_on("payment-service").await;
    assert!(t
        .audit_actions()
        .await
        .iter()
        .any(|(_, a)| a == "incident.resolved"));
    t.production
        .edit(|s| *s.error_rates.get_mut("payment-service").unwrap() = 0.2);
    t.alert_on("payment-service").await;
    t.settle().await;
    assert_eq!(t.states().await, [OpState::Completed, OpState::Escalated]);
    let reason = reason_of_last(&t).await;
    assert!(reason.contains("cooldown"), "{reason}");
    t.fake.assert_clean();
}

/// Failure matrix row 16 (Redis partition), run by `failure_matrix`.
pub(crate) async fn redis_partition_fails_closed_and_nothing_ships() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut options = quick(&dir);
    options.redis_url = Some(redis.url());
    let mut t = App::start_in(dir, options).await;

    // Lost before the lock is taken: retried, then escalated; no PR.
    redis.stop();
    t.alert().await;
    assert_eq!(t.states().await, [OpState::Escalated]);
    let reason = reason_of_last(&t).await;
    assert!(reason.contains("lock backend is unreachable"), "{reason}");
    assert!(t.fake.pr_numbers(REPO).is_empty());
    let tries = t
        .audit_actions()
        .await
        .iter()
        .filter(|(_, a)| a == "notify.sent")
        .count();
    assert_eq!(tries, 1, "one escalation, after the retries");
    t.fake.assert_clean();
}

/// Failure matrix row 16 (Redis partition), run by `failure_matrix`.
pub(crate) async fn redis_lost_after_the_pr_opens_blocks_the_merge() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut options = quick(&dir);
    options.redis_url = Some(redis.url());
    let mut t = App::start_in(dir, options).await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    let main_before = t.fake.branch(REPO, "main").unwrap();
    redis.stop();
    t.production.heal();
    t.approve(1, 1).await;
    t.fake
        .expect_comments(&["the lock service is unreachable; nothing was merged or deployed"]);
    assert_eq!(t.states().await, [OpState::AwaitingReview]);
    assert_eq!(t.fake.branch(REPO, "main"), Some(main_before));
    redis.restart();
    t.approve(1, 2).await;
    assert_eq!(t.states().await, [OpState::Completed]);
    t.expect_full_rollout();
    t.fake.assert_clean();
}

/// Failure matrix row 17 (consecutive failures), run by `failure_matrix`.
pub(crate) async fn three_failures_in_a_row_pause_for_a_person() {
    let dir = tempfile::tempdir().unwrap();
    // The history: three earlier operations on payment-service that failed.
    let state = App::state_dir(dir.path());
    std::fs::create_dir_all(&state).unwrap();
    {
        let store = FileAuditStore::open(state.join("audit.jsonl")).unwrap();
        let journal = Journal::replay(Arc::new(store)).await.unwrap();
        for n in 1..=3 {
            let incident = Incident {
                id: IncidentId(format!("earlier-{n}")),
                service: "payment-service".into(),
                severity: Severity::High,
                title: "payment-service errors".into(),
                detected_at: 1_795_800_000 + n,
                signals: vec![],
                pattern: None,
                confidence: None,
            };
            let spec = OperationSpec {
                incident,
                repo: RepoRef(REPO.into()),
            };
            let id = OperationId(format!("op-earlier-{n}"));
            journal
                .open(
                    &id,
                    &format!("earlier-{n}"),
                    "healbot",
                    serde_json::to_value(&spec).unwrap(),
                )
                .await
                .unwrap();
            journal
                .transition(&id, OpState::Failed, "healbot", "validation failed")
                .await
                .unwrap();
        }
    }
    let mut t = App::start_in(dir, AppOptions::default()).await;
    t.alert().await;
    let states = t.states().await;
    assert_eq!(
        states.last(),
        Some(&OpState::PausedForHumanReview),
        "{states:?}"
    );
    let reason = reason_of_last(&t).await;
    assert!(reason.contains("recent_failures"), "{reason}");
    t.fake.assert_clean();
}

/// Failure matrix row 19 (unknown pattern), run by `failure_matrix`.
pub(crate) async fn an_unknown_error_pattern_escalates() {
    let unknown = "2026-11-28 02:00:01,002 ERROR Unhandled exception on POST /pay
Traceback (most recent call last):
  File \"/app/payment_processor.py\", line 26, in process_payment
    send_receipt(user.email, payment_id, amount_cents)
FluxCapacitorError: temporal displacement 1.21 gigawatts
";
    let mut t = App::start_with(AppOptions {
        logs: vec![("payment-service".into(), unknown.into())],
        ..AppOptions::default()
    })
    .await;
    t.alert().await;
    assert_eq!(t.states().await, [OpState::Escalated]);
    let reason = reason_of_last(&t).await;
    assert!(reason.contains("unknown error pattern"), "{reason}");
    assert!(notified(&t).await >= 1);
    assert!(t.fake.pr_numbers(REPO).is_empty());
    t.fake.assert_clean();
}

/// Failure matrix row 20 (human override), run by `failure_matrix`.
pub(crate) async fn a_person_pauses_then_approves_and_it_resumes() {
    let mut t = App::start().await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    t.deliver(
        "issue_comment",
        "p-1",
        &comment(&t.fake, 1, "alice", "/heal pause"),
    )
    .await;
    t.fake.expect_comments(&["@alice paused the operation"]);
    assert_eq!(t.states().await, [OpState::PausedForHumanReview]);
    t.production.heal();
    t.approve(1, 5).await;
    assert_eq!(t.states().await, [OpState::Completed]);
    t.expect_full_rollout();
    t.fake.assert_clean();
}

/// A catalog where two services share one database and together reach 16 callers, among 60
/// unrelated services (so neither alone reaches a fifth of the graph).
fn wide_catalog(dir: &Path) -> PathBuf {
    let mut text = String::from("services:\n");
    let service = |name: &str, deps: &str| {
        format!("  - {{ name: {name}, criticality: 0.5, depends_on: [{deps}] }}\n")
    };
    text.push_str(&service("payment-service", "postgres_primary"));
    text.push_str(&service("order-service", "postgres_primary"));
    text.push_str(
        "  - { name: postgres_primary, kind: database, criticality: 0.9, depends_on: [] }\n",
    );
    for i in 1..=8 {
        text.push_str(&service(&format!("pay-caller-{i}"), "payment-service"));
        text.push_str(&service(&format!("order-caller-{i}"), "order-service"));
    }
    for i in 1..=60 {
        text.push_str(&service(&format!("other-{i}"), ""));
    }
    let path = dir.join("wide-catalog.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Failure matrix row 18 (high blast radius conflict), run by `failure_matrix`.
pub(crate) async fn a_conflict_reaching_many_services_pauses() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = quick(&dir);
    options.repo_config = Some(TWO_SERVICES.into());
    options.logs = vec![("order-service".into(), LOG.into())];
    options.catalog = Some(wide_catalog(dir.path()));
    let mut t = App::start_in(dir, options).await;
    t.production.edit(|s| {
        s.error_rates.clear();
        s.error_rates.insert("payment-service".into(), 0.16);
        s.error_rates.insert("postgres_primary".into(), 0.001);
    });
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    // order-service fails on its own; it shares payment-service's database.
    t.production.edit(|s| {
        s.error_rates.insert("payment-service".into(), 0.001);
        s.error_rates.insert("order-service".into(), 0.17);
    });
    order_service_pauses_on_a_conflict(&mut t).await;
    let ops = t.operations().await;
    let report = &ops[1].artifacts["conflicts"];
    assert_eq!(
        report["conflicts"][0]["kind"], "shared_resource",
        "{report}"
    );
    assert!(
        report["affected_services"].as_u64().unwrap() > 10,
        "{report}"
    );
    t.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_a_person_escalates_at_15_30_and_60_minutes() {
    let mut t = App::start().await;
    t.alert().await;
    t.fake.expect_comments(&["The fix is ready for review"]);
    let orchestrator = t.app.orchestrator().clone();
    let now = t.clock.now();
    let minutes = |m: i64| now + chrono::Duration::minutes(m);
    assert_eq!(orchestrator.escalate_waiting(minutes(10)).await.unwrap(), 0);
    assert_eq!(orchestrator.escalate_waiting(minutes(16)).await.unwrap(), 1);
    assert_eq!(
        orchestrator.escalate_waiting(minutes(20)).await.unwrap(),
        0,
        "once per step"
    );
    assert_eq!(orchestrator.escalate_waiting(minutes(61)).await.unwrap(), 2);
    let ops = t.operations().await;
    let steps: Vec<&String> = ops[0]
        .effects
        .keys()
        .filter(|k| k.contains("/escalation/"))
        .collect();
    assert_eq!(steps.len(), 3, "{steps:?}");
    t.fake.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_can_tighten_the_policy_but_not_loosen_it() {
    let config =
        |policy: &str| crate::support::app::payment_config("", &format!("policy:\n  {policy}\n"));

    // Stricter than the global 70%: the 92% sure None dereference is not sure enough here.
    let mut t = App::start_with(AppOptions {
        repo_config: Some(config("min_confidence: 0.95")),
        ..AppOptions::default()
    })
    .await;
    t.alert().await;
    assert_eq!(t.states().await, [OpState::Escalated]);
    let reason = reason_of_last(&t).await;
    assert!(reason.contains("92% < 95%"), "{reason}");
    t.fake.assert_clean();

    // Looser than the global policy: refused, naming the field.
    let mut t = App::start_with(AppOptions {
        repo_config: Some(config("min_confidence: 0.5")),
        ..AppOptions::default()
    })
    .await;
    t.alert().await;
    assert_eq!(t.states().await, [OpState::Failed]);
    let reason = reason_of_last(&t).await;
    assert!(reason.contains("policy.min_confidence"), "{reason}");
    assert!(t.fake.pr_numbers(REPO).is_empty());
    t.fake.assert_clean();
}
