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

mod fold;
#[cfg(test)]
mod tests;
mod text;

pub use fold::KpiFold;
pub use text::{render_chain, render_locks, Histogram};

use crate::audit::AuditStore;
use crate::lock::LockManager;
use crate::operation::Journal;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Upper bounds of `healbot_incident_resolution_seconds`' buckets (30 s to 4 h).
pub(crate) const RESOLUTION_BUCKETS: [f64; 10] = [
    30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0,
];
/// Upper bounds of `healbot_lock_wait_seconds`' buckets (100 ms to 10 min).
pub(crate) const LOCK_WAIT_BUCKETS: [f64; 10] =
    [0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0];

/// How long the chain is followed entry by entry before all of it is read and verified again
/// (an edit of an old entry shows then).
const REVERIFY_AFTER: Duration = Duration::from_secs(300);

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
pub(crate) struct KpiSource {
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
