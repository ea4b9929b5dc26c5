//! AwaitingGates → Locked: the safety gates over live metrics and the audit history, then the
//! service lock. A gate that blocks escalates, one that pauses waits for a person, and a lock
//! held by another operation is waited for (audited) up to the policy's limit.

use super::artifacts::{self, LOCK};
use super::conflicts::ConflictOutcome;
use super::{Orchestrator, OrchestratorError};
use crate::gates::{self, GateContext, GateReport, GateVerdict};
use crate::lock::{check_order, retry_backend, LockError, LockGuard, LockResource};
use crate::model::LockScope;
use crate::notify::NotificationKind;
use crate::operation::{OpState, Operation};
use crate::rca::rank::RcaReport;
use serde_json::json;

/// The gates that did not pass, for reasons and notifications.
fn gate_summary(report: &GateReport) -> String {
    report
        .failing()
        .iter()
        .map(|g| {
            format!(
                "{} {} (threshold {}): {}",
                g.name, g.observed, g.threshold, g.reason
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The scopes of the locks `op` holds now (its service lock, from `Locked` until it finishes or
/// escalates).
fn held_scopes(op: &Operation) -> Vec<LockScope> {
    artifacts::in_scan(op.effect(&LOCK))
        .filter(|_| super::lock_keeper::holds_lock(op))
        .map(|g| vec![g.resource.scope])
        .unwrap_or_default()
}

impl Orchestrator {
    pub(crate) async fn gate_and_lock(&self, op: &Operation) -> Result<(), OrchestratorError> {
        let spec = Self::spec(op)?;
        let rca: RcaReport = op
            .artifact(&artifacts::RCA)?
            .ok_or_else(|| OrchestratorError::stage("gates", "no RCA recorded"))?;
        let service = rca.root_cause.clone();
        let changed: Vec<String> = match op.artifact(&artifacts::FIX)?.and_then(|s| s.chosen) {
            // Every file the fix writes or deletes, for the protected-paths gate.
            Some(c) => c
                .patches
                .into_iter()
                .map(|p| p.file)
                .chain(c.deleted)
                .collect(),
            None => op
                .artifact(&artifacts::PATCH)?
                .map(|p| vec![p.file])
                .unwrap_or_default(),
        };

        // A person who resumed a paused operation has overridden the gates that paused it.
        let overridden = op
            .history
            .iter()
            .rev()
            .take(2)
            .any(|(_, s, _)| *s == OpState::PausedForHumanReview);
        if !overridden {
            let ctx = self.gate_context(op, &service, changed).await?;
            let policies = self.policies_for(&spec).await?;
            let report: GateReport = gates::evaluate_policies(&ctx, &policies);
            self.journal
                .artifact(&op.id, &artifacts::GATES, &report)
                .await?;
            match report.verdict {
                GateVerdict::Block => {
                    let why = gate_summary(&report);
                    return self
                        .escalate(op, &format!("blocked by safety gates: {why}"))
                        .await;
                }
                GateVerdict::Pause => {
                    let why = gate_summary(&report);
                    self.transition(
                        op,
                        OpState::PausedForHumanReview,
                        &format!("paused by safety gates: {why}"),
                    )
                    .await?;
                    self.notify(
                        op,
                        NotificationKind::Escalation,
                        "healbot paused for a person",
                        &format!("{why}. Resume with `healbot ops resume` or /heal resume."),
                    )
                    .await;
                    return Ok(());
                }
                GateVerdict::Pass => {}
            }
            match self.resolve_conflicts(op, &service).await? {
                ConflictOutcome::Proceed => {}
                ConflictOutcome::Paused | ConflictOutcome::Stopped => return Ok(()),
            }
        }

        let resource = LockResource::service(&service);
        // The lock order of policies/locks.yaml: an operation that still holds a lock may take
        // only a later scope (`lock::check_order`), so two operations never wait on each other.
        check_order(&held_scopes(op), resource.scope)?;
        let owner = op.id.0.clone();
        let first_try = retry_backend(&self.policies.locks, || {
            self.locks
                .try_acquire(&resource, &owner, self.settings.lock_ttl)
        })
        .await;
        let guard = match first_try {
            Ok(g) => g,
            Err(LockError::Backend(reason)) => {
                // Fail closed: without a lock nothing ships; a person takes over.
                return self
                    .escalate(
                        op,
                        &format!(
                            "the lock backend is unreachable after {} attempts ({reason}); nothing was deployed",
                            self.policies.locks.retry.attempts.max(1)
                        ),
                    )
                    .await;
            }
            Err(LockError::Held { holder, .. }) => {
                self.journal
                    .note(
                        &op.id,
                        &self.settings.actor,
                        "lock.blocked",
                        json!({"resource": resource.key(), "holder": holder}),
                    )
                    .await?;
                let waited = self
                    .locks
                    .acquire(
                        &resource,
                        &owner,
                        self.settings.lock_ttl,
                        self.settings.lock_wait,
                    )
                    .await;
                match waited {
                    Ok(g) => {
                        if !self.still_active(&spec.incident, &service).await? {
                            self.locks.release(&g).await.ok();
                            return self
                                .transition(
                                    op,
                                    OpState::Cancelled,
                                    &format!(
                                        "resolved while waiting for {resource} (held by {holder}): the service is healthy now"
                                    ),
                                )
                                .await;
                        }
                        g
                    }
                    Err(e @ LockError::Timeout { .. }) => {
                        return self
                            .escalate(op, &format!("lock wait timed out: {e}"))
                            .await;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        };
        self.journal.effect(&op.id, &LOCK, &guard).await?;
        self.transition(
            op,
            OpState::Locked,
            &format!("{resource} locked (fencing token {})", guard.fencing),
        )
        .await
    }

    async fn gate_context(
        &self,
        op: &Operation,
        service: &str,
        changed_paths: Vec<String>,
    ) -> Result<GateContext, OrchestratorError> {
        let health = self.metrics.health().await?;
        let h = health.iter().find(|h| h.service == service);
        let now = self.clock.now();
        let history = super::report::service_history(&self.journal, service, &op.id, now).await;
        let budget = &self.policies.gates.error_budget;
        let window = std::time::Duration::from_secs(u64::from(budget.window_days) * 86_400);
        let mean = self.metrics.slo_window_error_rate(service, window).await?;
        Ok(GateContext {
            service: service.to_string(),
            error_rate: h.map_or(0.0, |h| h.error_rate),
            // Unknown history is no data: the gate pauses rather than guess.
            error_budget_consumed: mean.map_or(f64::NAN, |m| budget.consumed(m)),
            blast_radius: self.graph.current().blast_radius(service),
            consecutive_failures: history.consecutive_failures,
            seconds_since_last_deploy: history.seconds_since_last_deploy.map(|s| s.max(0) as u64),
            cpu_utilisation: h.map_or(0.0, |h| h.cpu_utilization),
            memory_utilisation: h.map_or(0.0, |h| h.memory_utilization),
            incidents_last_hour: history.incidents_last_hour,
            now,
            changed_paths,
        })
    }

    /// Whether the incident's service still breaks a detection rule.
    async fn still_active(
        &self,
        incident: &crate::detect::Incident,
        service: &str,
    ) -> Result<bool, OrchestratorError> {
        let threshold = self
            .policies
            .detection
            .rules_for(crate::config::detection::DetectedMetric::ErrorRate)
            .map(|r| r.above)
            .fold(f64::INFINITY, f64::min);
        let health = self.metrics.health().await?;
        Ok(health
            .iter()
            .filter(|h| h.service == service || h.service == incident.service)
            .any(|h| h.error_rate > threshold))
    }

    /// The lock this operation holds, re-taken if this process does not hold it any more
    /// (a restart with the in-memory backend) and nobody else does. Side effects call this
    /// first: without a valid lock nothing is written (fail closed).
    pub(crate) async fn ensure_lock(&self, op: &Operation) -> Result<LockGuard, OrchestratorError> {
        if let Some(g) = op.effect(&LOCK)? {
            if self.locks.validate(&g).await.is_ok() {
                return Ok(g);
            }
        }
        let service = op
            .artifact(&artifacts::RCA)?
            .map(|r| r.root_cause)
            .ok_or_else(|| OrchestratorError::stage("lock", "no RCA recorded"))?;
        let guard = self
            .locks
            .try_acquire(
                &LockResource::service(&service),
                &op.id.0,
                self.settings.lock_ttl,
            )
            .await?;
        self.journal.effect(&op.id, &LOCK, &guard).await?;
        Ok(guard)
    }

    pub(crate) async fn release_lock(&self, op: &Operation) {
        let Ok(fresh) = self.journal.operation(&op.id).await else {
            return;
        };
        let guard = match fresh.effect(&LOCK) {
            Ok(Some(guard)) => guard,
            Ok(None) => return,
            // Nothing to release by: the lock lapses at its TTL. Said loudly, not skipped.
            Err(e) => {
                tracing::error!(operation = %op.id, error = %e, "lock not released");
                return;
            }
        };
        if self.locks.release(&guard).await.is_ok() {
            let _ = self
                .journal
                .note(
                    &op.id,
                    &self.settings.actor,
                    "lock.released",
                    json!({"resource": guard.resource.key(), "fencing": guard.fencing}),
                )
                .await;
        }
    }
}
