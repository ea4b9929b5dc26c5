//! Before an operation takes its lock: the operations already running that it could hurt or be
//! hurt by, through the dependency graph (`lock::conflict`). The policy's action decides:
//! proceed, wait (a same-service wait is the lock's job), pause for a person, or abort.

use super::artifacts::{self, in_scan};
use super::{Orchestrator, OrchestratorError};
use crate::config::ConflictAction;
use crate::lock::conflict::{detect, ActiveOperation, ConflictKind, ConflictReport};
use crate::operation::{OpState, Operation};
use std::time::{Duration, Instant};

/// What the operation does about its conflicts.
pub(crate) enum ConflictOutcome {
    Proceed,
    Paused,
    Stopped,
}

/// The service an operation changes: its root cause once known, else the incident's.
fn service_of(op: &Operation) -> Option<String> {
    if let Some(rca) = in_scan(op.artifact(&artifacts::RCA)) {
        return Some(rca.root_cause);
    }
    Orchestrator::spec(op).ok().map(|s| s.incident.service)
}

/// An operation still able to change production (not finished, not handed to a person).
fn active(op: &Operation) -> bool {
    !op.state.is_terminal() && op.state != OpState::Escalated && op.has_artifact(&artifacts::RCA)
}

fn deploying(state: OpState) -> bool {
    matches!(
        state,
        OpState::Merged | OpState::Deploying(_) | OpState::Verifying | OpState::RollingBack
    )
}

/// A wait the lock does not cover: on another service's deploy or a shared resource.
fn waits_beyond_lock(report: &ConflictReport) -> bool {
    report
        .conflicts
        .iter()
        .any(|c| c.action == ConflictAction::Wait && c.kind != ConflictKind::SameService)
}

impl Orchestrator {
    async fn conflict_report(
        &self,
        op: &Operation,
        service: &str,
    ) -> Result<ConflictReport, OrchestratorError> {
        let spec = Self::spec(op)?;
        let candidate = ActiveOperation {
            id: op.id.0.clone(),
            service: service.to_string(),
            incident: spec.incident.id.0.clone(),
            deploying: false,
        };
        let others: Vec<ActiveOperation> = self
            .journal
            .operations()
            .await
            .into_iter()
            .filter(|o| o.id != op.id && active(o))
            .filter_map(|o| {
                Some(ActiveOperation {
                    service: service_of(&o)?,
                    incident: Self::spec(&o).ok()?.incident.id.0,
                    deploying: deploying(o.state),
                    id: o.id.0,
                })
            })
            .collect();
        Ok(detect(
            &self.graph.current(),
            &self.policies.conflicts,
            &candidate,
            &others,
            None,
        ))
    }

    /// Checks conflicts, waiting (up to the lock wait) for those the policy says to wait out.
    pub(crate) async fn resolve_conflicts(
        &self,
        op: &Operation,
        service: &str,
    ) -> Result<ConflictOutcome, OrchestratorError> {
        let started = Instant::now();
        let mut report = self.conflict_report(op, service).await?;
        if !report.conflicts.is_empty() {
            self.journal
                .note(
                    &op.id,
                    &self.settings.actor,
                    "conflict.detected",
                    serde_json::to_value(&report)
                        .map_err(|e| OrchestratorError::stage_from("conflicts", e))?,
                )
                .await?;
            self.journal
                .artifact(&op.id, &artifacts::CONFLICTS, &report)
                .await?;
        }
        while report.action == ConflictAction::Wait && waits_beyond_lock(&report) {
            if started.elapsed() >= self.settings.lock_wait {
                self.escalate(
                    op,
                    &format!(
                        "waited {} s for conflicting operations: {}",
                        started.elapsed().as_secs(),
                        report.reason
                    ),
                )
                .await?;
                return Ok(ConflictOutcome::Stopped);
            }
            tokio::time::sleep(Duration::from_millis(250).min(self.settings.lock_wait)).await;
            report = self.conflict_report(op, service).await?;
        }
        match report.action {
            ConflictAction::Proceed | ConflictAction::Wait => Ok(ConflictOutcome::Proceed),
            ConflictAction::PauseForReview => {
                let why = format!("paused by a conflict: {}", report.reason);
                self.transition(op, OpState::PausedForHumanReview, &why)
                    .await?;
                self.notify(
                    op,
                    crate::notify::NotificationKind::Escalation,
                    "healbot paused for a person",
                    &format!("{why}. Resume with /heal resume once it is safe."),
                )
                .await;
                Ok(ConflictOutcome::Paused)
            }
            ConflictAction::Abort => {
                self.transition(
                    op,
                    OpState::Cancelled,
                    &format!("stopped by a conflict: {}", report.reason),
                )
                .await?;
                self.release_lock(op).await;
                Ok(ConflictOutcome::Stopped)
            }
        }
    }
}
