//! The KPI fold and its exposition, on logs built through the real journal.

use super::*;
use crate::audit::AuditEntry;
use crate::audit::{verify_entries, MemoryAuditStore};
use crate::lock::{LockResource, MemoryLockManager};
use crate::model::OperationId;
use crate::operation::OpState;
use serde_json::json;

/// Forces `ts` of every entry to `minute:second` offsets, re-chaining the log.
fn retime(entries: &[AuditEntry], seconds: &[(u64, i64)]) -> Vec<AuditEntry> {
    let mut prev = crate::audit::GENESIS_HASH.to_string();
    entries
        .iter()
        .map(|e| {
            let mut e = e.clone();
            if let Some((_, s)) = seconds.iter().find(|(seq, _)| *seq == e.seq) {
                let t = chrono::DateTime::from_timestamp(1_790_000_000 + s, 0).unwrap();
                e.ts = t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            }
            e.prev_hash = prev.clone();
            e.hash = crate::audit::hash_entry(&e);
            prev = e.hash.clone();
            e
        })
        .collect()
}

async fn walk(j: &Journal, id: &OperationId, states: &[OpState]) {
    for s in states {
        j.transition(id, *s, "healbot", "test").await.unwrap();
    }
}

use OpState::*;
const TO_REVIEW: [OpState; 6] = [
    Analyzing,
    Planned,
    AwaitingGates,
    Locked,
    PrOpen,
    AwaitingReview,
];

async fn plan(j: &Journal, id: &OperationId) {
    j.artifact(
        id,
        &crate::operation::Artifact::new("plan"),
        &json!({"service": "payment-service", "fix_kind": "template",
                    "template_id": "python.none-guard"}),
    )
    .await
    .unwrap();
}

/// A completed op, a paused-then-completed op, an op rolled back by the canary whose fix a
/// later op shipped, and an op that waited on a lock and escalated.
async fn journal() -> Journal {
    let j = Journal::replay(Arc::new(MemoryAuditStore::new()))
        .await
        .unwrap();
    let done = [Merged, Deploying(10), Verifying, Completed];
    let a = OperationId("op-a".into());
    j.open(&a, "a", "healbot", json!({})).await.unwrap();
    walk(&j, &a, &TO_REVIEW).await;
    walk(&j, &a, &done).await;

    let b = OperationId("op-b".into());
    j.open(&b, "b", "healbot", json!({})).await.unwrap();
    plan(&j, &b).await;
    walk(&j, &b, &TO_REVIEW).await;
    walk(&j, &b, &[Merged, Deploying(10), RollingBack, RolledBack]).await;

    let c = OperationId("op-c".into());
    j.open(&c, "c", "healbot", json!({})).await.unwrap();
    plan(&j, &c).await;
    walk(&j, &c, &TO_REVIEW).await;
    j.note(&c, "alice", "operation.paused", json!({}))
        .await
        .unwrap();
    walk(&j, &c, &[PausedForHumanReview, AwaitingReview]).await;
    walk(&j, &c, &done).await;

    let d = OperationId("op-d".into());
    j.open(&d, "d", "healbot", json!({})).await.unwrap();
    walk(&j, &d, &[Analyzing, Planned, AwaitingGates]).await;
    j.note(&d, "healbot", "conflict.detected", json!({}))
        .await
        .unwrap();
    j.note(&d, "healbot", "lock.blocked", json!({}))
        .await
        .unwrap();
    walk(&j, &d, &[Escalated]).await;
    j
}

#[tokio::test]
async fn canary_verdicts_are_counted_and_give_the_success_rate() {
    let j = Journal::replay(Arc::new(MemoryAuditStore::new()))
        .await
        .unwrap();
    let a = OperationId("op-a".into());
    j.open(&a, "a", "healbot", json!({})).await.unwrap();
    for verdict in ["Pass", "Pass", "Pass", "Fail", "Inconclusive"] {
        j.note(
            &a,
            "healbot",
            "canary.judged",
            json!({"weight": 10, "verdict": verdict}),
        )
        .await
        .unwrap();
    }
    let entries = j.store().entries().await.unwrap();
    let k = Kpis::from_entries(&entries);
    assert_eq!(k.canary_success_rate(), Some(0.75));
    let mut text = String::new();
    k.render(&mut text);
    assert!(
        text.contains("healbot_canary_verdicts_total{verdict=\"pass\"} 3\n"),
        "{text}"
    );
    assert!(text.contains("healbot_canary_verdicts_total{verdict=\"inconclusive\"} 1\n"));
    assert!(
        text.contains("healbot_canary_success_rate 0.75\n"),
        "{text}"
    );
    // Before any verdict the rate has no sample rather than a made-up 0.
    let mut empty = String::new();
    Kpis::from_entries(&[]).render(&mut empty);
    assert!(!empty.contains("\nhealbot_canary_success_rate "), "{empty}");
}

#[tokio::test]
async fn counts_follow_the_definitions() {
    let j = journal().await;
    let entries = j.store().entries().await.unwrap();
    // op-a opens at 0 s and completes at 95 s; op-d waits 7 s on the lock.
    let a_done = entries
        .iter()
        .find(|e| e.operation_id == "op-a" && e.detail["to"]["state"] == "Completed")
        .unwrap()
        .seq;
    let blocked = entries
        .iter()
        .find(|e| e.action == "lock.blocked")
        .unwrap()
        .seq;
    let timed: Vec<(u64, i64)> = entries
        .iter()
        .map(|e| {
            let s = if e.seq == a_done {
                95
            } else if e.seq == blocked {
                100
            } else if e.seq > blocked {
                107
            } else {
                0
            };
            (e.seq, s)
        })
        .collect();
    let entries = retime(&entries, &timed);
    assert!(verify_entries(&entries).holds());
    let k = Kpis::from_entries(&entries);
    assert_eq!(k.incidents_detected, 4);
    assert_eq!(k.operations_started, 3);
    assert_eq!(k.incidents_auto_resolved, 1, "op-c was paused");
    assert_eq!(k.incident_resolution.count, 2);
    assert_eq!(k.rollbacks, 1);
    assert_eq!(k.rollbacks_incorrect, 1, "op-c shipped op-b's fix");
    assert_eq!(k.operations_paused, 1);
    assert_eq!(k.conflicts_detected, 1);
    assert_eq!(k.audit_events, entries.len() as u64);
    assert_eq!(k.lock_wait.count, 4, "three free locks and one wait");
    assert!((k.lock_wait.sum - 7.0).abs() < 1e-9, "{}", k.lock_wait.sum);

    let mut text = String::new();
    k.render(&mut text);
    assert!(text.contains("healbot_incident_resolution_seconds_bucket{le=\"30\"} 1\n"));
    assert!(text.contains("healbot_incident_resolution_seconds_bucket{le=\"120\"} 2\n"));
    assert!(text.contains("healbot_incident_resolution_seconds_bucket{le=\"+Inf\"} 2\n"));
    assert!(text.contains("healbot_incident_resolution_seconds_count 2\n"));
    assert!(text.contains("healbot_incident_resolution_seconds_sum 95\n"));
    assert!(text.contains("healbot_lock_wait_seconds_bucket{le=\"5\"} 3\n"));
    assert!(text.contains("healbot_lock_wait_seconds_bucket{le=\"15\"} 4\n"));
    assert!(text.contains(
        "# TYPE healbot_rollbacks_incorrect_total counter\nhealbot_rollbacks_incorrect_total 1\n"
    ));
}

#[tokio::test]
async fn a_rollback_a_person_asked_for_is_not_incorrect() {
    let j = Journal::replay(Arc::new(MemoryAuditStore::new()))
        .await
        .unwrap();
    for (id, requested) in [("op-x", true), ("op-y", false)] {
        let id = OperationId(id.into());
        j.open(&id, "x", "healbot", json!({})).await.unwrap();
        plan(&j, &id).await;
        walk(&j, &id, &TO_REVIEW).await;
        if requested {
            j.note(&id, "alice", "operation.rollback_requested", json!({}))
                .await
                .unwrap();
            walk(&j, &id, &[Merged, RollingBack, RolledBack]).await;
        } else {
            walk(&j, &id, &[Merged, Deploying(10), Verifying, Completed]).await;
        }
    }
    let k = Kpis::from_entries(&j.store().entries().await.unwrap());
    assert_eq!((k.rollbacks, k.rollbacks_incorrect), (1, 0));
}

#[tokio::test]
async fn source_renders_locks_and_notices_a_broken_chain() {
    let j = Arc::new(journal().await);
    let locks = Arc::new(MemoryLockManager::new());
    locks
        .try_acquire(
            &LockResource::service("payment-service"),
            "op-\"q\"",
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    let source = KpiSource::new(j.clone(), locks);
    let text = source.render().await;
    assert!(text.contains("healbot_hash_chain_valid 1\n"), "{text}");
    assert!(text.contains("healbot_active_locks 1\n"));
    assert!(text.contains(
        "healbot_lock_age_seconds{resource=\"service:payment-service\",owner=\"op-\\\"q\\\"\"} "
    ));
    assert_eq!(source.render().await.lines().count(), text.lines().count());

    let mut entries = j.store().entries().await.unwrap();
    entries[2].actor = "mallory".into();
    let broken = verify_entries(&entries).holds();
    assert!(!broken);
    let mut out = String::new();
    render_chain(&mut out, broken);
    assert_eq!(out.lines().last(), Some("healbot_hash_chain_valid 0"));
}

#[tokio::test]
async fn a_scrape_folds_only_what_was_appended_and_agrees_with_a_full_fold() {
    let j = Arc::new(journal().await);
    let source = KpiSource::new(j.clone(), Arc::new(MemoryLockManager::new()));
    let before = source.render().await;
    let id = OperationId("op-late".into());
    j.open(&id, "late", "healbot", json!({})).await.unwrap();
    plan(&j, &id).await;
    walk(&j, &id, &TO_REVIEW).await;
    walk(&j, &id, &[Merged, Deploying(10), Verifying, Completed]).await;
    let after = source.render().await;
    assert_ne!(before, after);
    let entries = j.store().entries().await.unwrap();
    let mut full = String::new();
    Kpis::from_entries(&entries).render(&mut full);
    assert!(after.starts_with(&full), "{after}\n---\n{full}");
    assert!(after.contains("healbot_hash_chain_valid 1\n"));

    let (first, rest) = entries.split_at(entries.len() / 2);
    let mut fold = KpiFold::new();
    fold.feed(first);
    fold.feed(rest);
    assert_eq!(fold.kpis(), Kpis::from_entries(&entries));
    assert!(fold.chain_holds());
    // An entry missing between two scrapes breaks the chain.
    let mut gap = KpiFold::new();
    gap.feed(first);
    gap.feed(&rest[1..]);
    assert!(!gap.chain_holds());
}
