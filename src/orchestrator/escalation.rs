//! Waiting has a clock: after 15, 30 and 60 minutes (policies/escalation.yaml) the people on the
//! next step's channels hear about it. It covers every state in which healbot does not act on
//! its own: waiting for a person, and waiting for Argo Rollouts in `rollout: argo` mode (whose
//! steps also time out, `argo_clock.rs`). Each step goes out once per wait; a step sent is an
//! effect in the audit log, so a restart never sends it again.

use super::{Orchestrator, OrchestratorError};
use crate::notify::{Notification, NotificationKind};
use chrono::{DateTime, Utc};
use serde_json::json;

impl Orchestrator {
    /// Sends every escalation step that is due at `now`; returns how many went out.
    pub async fn escalate_waiting(&self, now: DateTime<Utc>) -> Result<usize, OrchestratorError> {
        let waiting: Vec<_> = self
            .journal
            .operations()
            .await
            .into_iter()
            .filter(|op| op.state.is_waiting() || Self::waits_on_argo(op))
            .collect();
        if waiting.is_empty() {
            return Ok(0);
        }
        let mut sent = 0;
        for op in waiting {
            // The wait began with the transition into the current state.
            let Some(&(since_seq, _, ref reason)) = op.history.last() else {
                continue;
            };
            let Some(since) = op.history_at.get(&since_seq) else {
                continue;
            };
            let waited = (now - *since).to_std().unwrap_or_default();
            for step in self.policies.escalation.steps_due(waited) {
                let key = super::artifacts::escalation_sent(since_seq, step.after_minutes);
                if op.has_effect(&key) {
                    continue;
                }
                let severity = Self::spec(&op)
                    .map(|s| s.incident.severity)
                    .unwrap_or(crate::model::Severity::High);
                let n = Notification {
                    kind: NotificationKind::Escalation,
                    severity,
                    operation_id: op.id.0.clone(),
                    title: format!(
                        "healbot has waited {} min for {} ({})",
                        step.after_minutes,
                        if op.state.is_waiting() {
                            "a person"
                        } else {
                            "Argo Rollouts"
                        },
                        op.state
                    ),
                    body: reason.clone(),
                };
                if let Err(e) = self.notifier.notify_channels(&step.notify, &n).await {
                    tracing::warn!(operation = %op.id, error = %e, "escalation not delivered");
                }
                self.journal
                    .effect(
                        &op.id,
                        &key,
                        &json!({"after_minutes": step.after_minutes, "channels": step.notify}),
                    )
                    .await?;
                sent += 1;
            }
        }
        Ok(sent)
    }
}
