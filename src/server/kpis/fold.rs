//! The fold of the audit log into the KPIs: one pass over the entries in seq order, keeping per
//! operation only what the definitions in `kpis` need, and checking that the chain holds.

use super::{Histogram, Kpis, LOCK_WAIT_BUCKETS, RESOLUTION_BUCKETS};
use crate::audit::{AuditEntry, ChainChecker};
use crate::operation::state::action;
use crate::operation::OpState;
use chrono::{DateTime, FixedOffset};
use std::collections::BTreeMap;

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
    pub(crate) fn chain_holds(&self) -> bool {
        self.valid
    }

    /// Folds the next entries, in seq order.
    pub(crate) fn feed(&mut self, entries: &[AuditEntry]) {
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
}
