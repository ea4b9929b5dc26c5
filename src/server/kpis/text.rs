//! The Prometheus text exposition of the KPIs, the lock gauges and the chain gauge.

use super::Kpis;
use crate::lock::LockInfo;
use std::fmt::Write;

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

    pub fn render(&self, out: &mut String, name: &str, help: &str) {
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

impl Kpis {
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
    pub(crate) fn canary_success_rate(&self) -> Option<f64> {
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
