//! The seed's KPIs on `/metrics`, computed from the audit log rather than counted in memory: the
//! log is healbot's only durable memory, so the figures survive restarts and every replica that
//! reads the same log reports the same numbers. Only the lock gauges come from the lock backend
//! (shared across replicas with Redis).
//!
//! Definitions (an "operation" is one incident's healing, opened by `operation.opened`):
//! - `healbot_incidents_detected_total`: operations opened.
//! - `healbot_operations_started_total`: operations that passed the safety gates and took their service
//!   lock (entered `Locked`) at least once: the point where healbot starts changing things.
//! - `healbot_operations_paused_total`: transitions into `PausedForHumanReview` (a gate or a person
//!   paused the operation); an operation paused twice counts twice.
//! - `healbot_incident_resolution_seconds` (histogram): for each `Completed` operation, the time of its
//!   `Completed` transition minus the time of its `operation.opened` entry.
//! - `healbot_incidents_auto_resolved_total`: `Completed` operations that never went through
//!   `PausedForHumanReview` or `Escalated`: no person acted on them beyond the approval (or
//!   merge) of the fix PR.
//! - `healbot_rollbacks_total`: transitions into `RollingBack`, whoever asked for them.
//! - `healbot_rollbacks_incorrect_total`: automatic rollbacks (no `operation.rollback_requested` by a
//!   person) whose fix was shipped after all: a later-opened operation with the same fix plan
//!   (service, fix kind, template, reverted commit) reached `Completed`. The canary threw away
//!   a fix that was fine.
//! - `healbot_conflicts_detected_total`: `conflict.detected` entries.
//! - `healbot_lock_wait_seconds` (histogram): for each time an operation took its service lock, the time
//!   from its `lock.blocked` entry to the `Locked` transition (0 when the lock was free); a wait
//!   that ended in `Escalated`, `Cancelled` or `Failed` instead is observed up to that
//!   transition. Waits still in progress are not observed.
//! - `healbot_active_locks`, `healbot_lock_age_seconds{resource,owner}` (gauges): the lock backend's locks now.
//! - `healbot_audit_events_total`: entries in the audit log.
//! - `healbot_canary_verdicts_total{verdict}`: `canary.judged` entries by verdict;
//!   `healbot_canary_success_rate` (gauge): pass / (pass + marginal + fail) over them.
//! - `healbot_hash_chain_valid` (gauge): 1 when the whole chain verifies, 0 when it does not or the log
//!   cannot be read. Verified again when the log's head moves, and at least once a minute.

use crate::audit::{AuditEntry, AuditStore, ChainChecker};
use crate::lock::{LockInfo, LockManager};
use crate::operation::state::action;
use crate::operation::{Journal, OpState};
use chrono::{DateTime, FixedOffset};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Upper bounds of `healbot_incident_resolution_seconds`' buckets (30 s to 4 h).
pub const RESOLUTION_BUCKETS: [f64; 10] = [
    30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0,
];
/// Upper bounds of `healbot_lock_wait_seconds`' buckets (100 ms to 10 min).
pub const LOCK_WAIT_BUCKETS: [f64; 10] =
    [0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0];

/// How long the chain is followed entry by entry before all of it is read and verified again
/// (an edit of an old entry shows then).
const REVERIFY_AFTER: Duration = Duration::from_secs(300);

/// A cumulative histogram in the Prometheus sense.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Observations per bucket (not cumulative); the last slot is `+Inf`.
    counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, value: f64) {
        let value = value.max(0.0);
        let slot = self
            .bounds
            .iter()
            .position(|&b| value <= b)
            .unwrap_or(self.bounds.len());
        self.counts[slot] += 1;
        self.sum += value;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, bound) in self.bounds.iter().enumerate() {
            cumulative += self.counts[i];
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}", self.sum);
        let _ = writeln!(out, "{name}_count {}", self.count);
    }
}

/// The KPIs that come from the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct Kpis {
    pub incident_resolution: Histogram,
    pub incidents_detected: u64,
    pub incidents_auto_resolved: u64,
    pub rollbacks: u64,
    pub rollbacks_incorrect: u64,
    pub operations_started: u64,
    pub operations_paused: u64,
    pub conflicts_detected: u64,
    pub lock_wait: Histogram,
    pub audit_events: u64,
    /// `canary.judged` entries by verdict (`pass`, `marginal`, `fail`, `inconclusive`).
    pub canary_verdicts: BTreeMap<String, u64>,
}

/// What the fold below keeps per operation.
#[derive(Default)]
struct Track {
    opened_seq: u64,
    opened_at: Option<DateTime<FixedOffset>>,
    locked_once: bool,
    needed_a_person: bool,
    blocked_at: Option<DateTime<FixedOffset>>,
    rollback_requested: bool,
    automatic_rollback: bool,
    completed: bool,
    /// (service, fix kind, template, reverted commit) of the operation's plan.
    plan: Option<String>,
}

fn seconds(from: DateTime<FixedOffset>, to: DateTime<FixedOffset>) -> f64 {
    (to - from).num_microseconds().unwrap_or(0) as f64 / 1e6
}

/// The KPIs folded so far and what the fold needs to take the next entries: a scrape reads only
/// what was appended since the last one, checked to chain on from it.
pub struct KpiFold {
    kpis: Kpis,
    ops: BTreeMap<String, Track>,
    chain: ChainChecker,
    valid: bool,
    seen: u64,
}

impl Default for KpiFold {
    fn default() -> Self {
        Self::new()
    }
}

impl KpiFold {
    pub fn new() -> KpiFold {
        KpiFold {
            kpis: Kpis {
                incident_resolution: Histogram::new(&RESOLUTION_BUCKETS),
                incidents_detected: 0,
                incidents_auto_resolved: 0,
                rollbacks: 0,
                rollbacks_incorrect: 0,
                operations_started: 0,
                operations_paused: 0,
                conflicts_detected: 0,
                lock_wait: Histogram::new(&LOCK_WAIT_BUCKETS),
                audit_events: 0,
                canary_verdicts: BTreeMap::new(),
            },
            ops: BTreeMap::new(),
            chain: ChainChecker::new(),
            valid: true,
            seen: 0,
        }
    }

    /// The last seq folded.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Whether every entry folded so far chains on from the one before.
    pub fn chain_holds(&self) -> bool {
        self.valid
    }

    /// Folds the next entries, in seq order.
    pub fn feed(&mut self, entries: &[AuditEntry]) {
        for e in entries {
            self.valid = self.valid && self.chain.check_entry(e).is_ok();
            self.seen = e.seq;
            self.entry(e);
        }
    }

    fn entry(&mut self, e: &AuditEntry) {
        let k = &mut self.kpis;
        k.audit_events += 1;
        let ts = DateTime::parse_from_rfc3339(&e.ts).ok();
        if e.action == action::OPENED {
            k.incidents_detected += 1;
            self.ops.insert(
                e.operation_id.clone(),
                Track {
                    opened_seq: e.seq,
                    opened_at: ts,
                    ..Track::default()
                },
            );
            return;
        }
        let Some(op) = self.ops.get_mut(e.operation_id.as_str()) else {
            return;
        };
        match e.action.as_str() {
            action::TRANSITION => {
                if let Ok(to) = serde_json::from_value::<OpState>(e.detail["to"].clone()) {
                    k.transition(op, to, ts);
                }
            }
            action::ARTIFACT if e.detail["name"] == "plan" => {
                let p = &e.detail["value"];
                op.plan = Some(
                    serde_json::json!([
                        p["service"],
                        p["fix_kind"],
                        p["template_id"],
                        p["reverted_commit"]
                    ])
                    .to_string(),
                );
            }
            "lock.blocked" => op.blocked_at = ts.or(op.blocked_at),
            "conflict.detected" => k.conflicts_detected += 1,
            "canary.judged" => {
                if let Some(verdict) = e.detail["verdict"].as_str() {
                    *k.canary_verdicts
                        .entry(verdict.to_ascii_lowercase())
                        .or_default() += 1;
                }
            }
            "operation.rollback_requested" => op.rollback_requested = true,
            _ => {}
        }
    }

    /// The KPIs now. A rollback is incorrect once a later operation completes the same plan,
    /// which can happen long after the rollback: it is counted at each look, not when folded.
    pub fn kpis(&self) -> Kpis {
        let mut k = self.kpis.clone();
        k.rollbacks_incorrect = self
            .ops
            .values()
            .filter(|rolled| {
                rolled.automatic_rollback
                    && rolled.plan.is_some()
                    && self.ops.values().any(|later| {
                        later.opened_seq > rolled.opened_seq
                            && later.completed
                            && later.plan == rolled.plan
                    })
            })
            .count() as u64;
        k
    }
}

impl Kpis {
    /// Folds a whole log, in seq order. Entries it does not understand are only counted.
    pub fn from_entries(entries: &[AuditEntry]) -> Kpis {
        let mut fold = KpiFold::new();
        fold.feed(entries);
        fold.kpis()
    }

    fn transition(&mut self, op: &mut Track, to: OpState, ts: Option<DateTime<FixedOffset>>) {
        match to {
            OpState::Locked => {
                if !op.locked_once {
                    op.locked_once = true;
                    self.operations_started += 1;
                }
                let waited = match (op.blocked_at.take(), ts) {
                    (Some(from), Some(to)) => seconds(from, to),
                    _ => 0.0,
                };
                self.lock_wait.observe(waited);
            }
            OpState::Escalated | OpState::Cancelled | OpState::Failed => {
                if let (Some(from), Some(to)) = (op.blocked_at.take(), ts) {
                    self.lock_wait.observe(seconds(from, to));
                }
            }
            _ => {}
        }
        match to {
            OpState::PausedForHumanReview => {
                self.operations_paused += 1;
                op.needed_a_person = true;
            }
            OpState::Escalated => op.needed_a_person = true,
            OpState::RollingBack => {
                self.rollbacks += 1;
                op.automatic_rollback = !op.rollback_requested;
            }
            OpState::Completed => {
                op.completed = true;
                if let (Some(from), Some(to)) = (op.opened_at, ts) {
                    self.incident_resolution.observe(seconds(from, to));
                }
                if !op.needed_a_person {
                    self.incidents_auto_resolved += 1;
                }
            }
            _ => {}
        }
    }

    /// The Prometheus text exposition of these KPIs.
    pub fn render(&self, out: &mut String) {
        self.incident_resolution.render(
            out,
            "healbot_incident_resolution_seconds",
            "Seconds from an operation's opening to its Completed transition.",
        );
        for (name, help, value) in [
            (
                "healbot_incidents_detected_total",
                "Operations opened, one per incident.",
                self.incidents_detected,
            ),
            (
                "healbot_incidents_auto_resolved_total",
                "Completed operations that were never paused or escalated.",
                self.incidents_auto_resolved,
            ),
            (
                "healbot_rollbacks_total",
                "Transitions into RollingBack.",
                self.rollbacks,
            ),
            (
                "healbot_rollbacks_incorrect_total",
                "Automatic rollbacks whose fix a later operation shipped successfully.",
                self.rollbacks_incorrect,
            ),
            (
                "healbot_operations_started_total",
                "Operations that passed the gates and took their service lock.",
                self.operations_started,
            ),
            (
                "healbot_operations_paused_total",
                "Transitions into PausedForHumanReview.",
                self.operations_paused,
            ),
            (
                "healbot_conflicts_detected_total",
                "conflict.detected audit entries.",
                self.conflicts_detected,
            ),
            (
                "healbot_audit_events_total",
                "Entries in the audit log.",
                self.audit_events,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        self.lock_wait.render(
            out,
            "healbot_lock_wait_seconds",
            "Seconds an operation waited for its service lock.",
        );
        self.render_canary(out);
    }

    /// The share of judged canary steps that passed, among those judged pass, marginal or
    /// fail (an inconclusive step is neither); `None` before any.
    pub fn canary_success_rate(&self) -> Option<f64> {
        let n = |v: &str| self.canary_verdicts.get(v).copied().unwrap_or(0);
        let judged = n("pass") + n("marginal") + n("fail");
        (judged > 0).then(|| n("pass") as f64 / judged as f64)
    }

    fn render_canary(&self, out: &mut String) {
        out.push_str(
            "# HELP healbot_canary_verdicts_total Canary steps judged, by verdict.\n\
             # TYPE healbot_canary_verdicts_total counter\n",
        );
        for verdict in ["pass", "marginal", "fail", "inconclusive"] {
            let _ = writeln!(
                out,
                "healbot_canary_verdicts_total{{verdict=\"{verdict}\"}} {}",
                self.canary_verdicts.get(verdict).copied().unwrap_or(0)
            );
        }
        out.push_str(
            "# HELP healbot_canary_success_rate Judged canary steps that passed, among pass, marginal and fail.\n\
             # TYPE healbot_canary_success_rate gauge\n",
        );
        if let Some(rate) = self.canary_success_rate() {
            let _ = writeln!(out, "healbot_canary_success_rate {rate}");
        }
    }
}

/// Escapes a label value for the text format.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The lock gauges; nothing when the backend cannot be listed.
pub fn render_locks(out: &mut String, locks: Option<&[LockInfo]>) {
    let Some(locks) = locks else {
        return;
    };
    let _ = writeln!(
        out,
        "# HELP healbot_active_locks Locks held now.\n# TYPE healbot_active_locks gauge\nhealbot_active_locks {}",
        locks.len()
    );
    out.push_str(
        "# HELP healbot_lock_age_seconds Seconds each held lock has been held.\n\
         # TYPE healbot_lock_age_seconds gauge\n",
    );
    for l in locks {
        let _ = writeln!(
            out,
            "healbot_lock_age_seconds{{resource=\"{}\",owner=\"{}\"}} {}",
            label(&l.resource.key()),
            label(&l.owner),
            l.age_ms as f64 / 1000.0
        );
    }
}

pub fn render_chain(out: &mut String, valid: bool) {
    let _ = writeln!(
        out,
        "# HELP healbot_hash_chain_valid 1 when the audit log's hash chain verifies.\n\
         # TYPE healbot_hash_chain_valid gauge\nhealbot_hash_chain_valid {}",
        u8::from(valid)
    );
}

struct Cached {
    fold: KpiFold,
    head: Option<(u64, String)>,
    verified: Instant,
    /// False while the log cannot be read: the chain is then not known to hold.
    readable: bool,
}

/// Renders the KPIs of one journal and lock backend. A scrape folds only the entries appended
/// since the last one; the whole log is read and verified again every [`REVERIFY_AFTER`], or
/// when the head is not a continuation of what was folded.
pub struct KpiSource {
    journal: Arc<Journal>,
    locks: Arc<dyn LockManager>,
    cache: tokio::sync::Mutex<Option<Cached>>,
}

impl KpiSource {
    pub fn new(journal: Arc<Journal>, locks: Arc<dyn LockManager>) -> KpiSource {
        KpiSource {
            journal,
            locks,
            cache: tokio::sync::Mutex::new(None),
        }
    }

    /// The KPIs in the Prometheus text format.
    pub async fn render(&self) -> String {
        let mut out = String::new();
        let mut cache = self.cache.lock().await;
        if let Err(e) = self.refresh(&mut cache).await {
            tracing::warn!(error = %e, "cannot read the audit log for /metrics");
            match cache.as_mut() {
                Some(c) => c.readable = false,
                None => {
                    render_chain(&mut out, false);
                    return out;
                }
            }
        }
        if let Some(c) = cache.as_ref() {
            c.fold.kpis().render(&mut out);
            render_chain(&mut out, c.readable && c.fold.chain_holds());
        }
        drop(cache);
        match self.locks.list().await {
            Ok(locks) => render_locks(&mut out, Some(&locks)),
            Err(e) => tracing::warn!(error = %e, "cannot list locks for /metrics"),
        }
        out
    }

    async fn refresh(&self, cache: &mut Option<Cached>) -> Result<(), crate::audit::AuditError> {
        let store: &dyn AuditStore = self.journal.store().as_ref();
        let head = store.head().await?;
        let head_seq = head.as_ref().map_or(0, |h| h.0);
        let follows_on = cache.as_ref().is_some_and(|c| {
            c.readable
                && c.verified.elapsed() < REVERIFY_AFTER
                && (head_seq > c.fold.seen() || head == c.head)
        });
        match cache.as_mut() {
            Some(c) if follows_on => {
                if head != c.head {
                    let new = store.entries_after(c.fold.seen()).await?;
                    c.fold.feed(&new);
                    if let Some(last) = new.last() {
                        c.head = Some((last.seq, last.hash.clone()));
                    }
                }
            }
            _ => {
                let entries = store.entries().await?;
                let mut fold = KpiFold::new();
                fold.feed(&entries);
                *cache = Some(Cached {
                    fold,
                    head: entries.last().map(|e| (e.seq, e.hash.clone())),
                    verified: Instant::now(),
                    readable: true,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{verify_entries, MemoryAuditStore};
    use crate::lock::{LockResource, MemoryLockManager};
    use crate::model::OperationId;
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
}
