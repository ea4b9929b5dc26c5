//! Argo-managed mode cannot stall. Argo Rollouts runs the steps and healbot waits for its
//! notifications; a notification that never comes (a `pause: {}` nobody promotes, a lost
//! webhook, a controller that is down) would leave the operation in `Deploying` for ever. Each
//! step gets `argo_step_timeout_minutes` (policies/escalation.yaml): past it without a word from
//! Argo, the operation pauses for a person, the PR says why, and the escalation ladder runs on.

use super::{artifacts, Orchestrator, OrchestratorError};
use crate::notify::NotificationKind;
use crate::operation::{OpState, Operation};
use chrono::{DateTime, Utc};
use serde_json::json;

impl Orchestrator {
    /// Whether `op` waits on Argo Rollouts (merged, handed over, not yet completed).
    pub(crate) fn waits_on_argo(op: &Operation) -> bool {
        // In a scan over every operation: one unreadable record is logged, not fatal.
        matches!(op.state, OpState::Deploying(_))
            && Self::argo_managed(op).unwrap_or_else(|e| {
                tracing::error!(operation = %op.id, error = %e, "unreadable rollout plan skipped");
                false
            })
    }

    /// Records when Argo last reported on `op` (`identity` names the notification, so a
    /// repeated one does not move the clock).
    pub(crate) async fn argo_progress(
        &self,
        op: &Operation,
        identity: &str,
    ) -> Result<(), OrchestratorError> {
        let key = artifacts::argo_progress(identity);
        if !op.effects.contains_key(&key.key(&op.id)) {
            self.journal
                .effect(&op.id, &key, &json!({"at": self.clock.now()}))
                .await?;
        }
        Ok(())
    }

    /// When the current Argo step began: the hand-over, or Argo's latest notification since.
    fn argo_step_since(op: &Operation) -> Option<DateTime<Utc>> {
        let (seq, _, _) = op.history.last()?;
        let entered = *op.history_at.get(seq)?;
        let prefix = format!("{}/{}/", op.id, artifacts::ARGO_PROGRESS);
        let latest = op
            .effects
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(_, v)| serde_json::from_value::<DateTime<Utc>>(v["at"].clone()).ok())
            .max();
        Some(latest.map_or(entered, |l| l.max(entered)))
    }

    /// The operations whose Argo step has run past the timeout at `now`.
    pub(crate) async fn stalled_argo_steps(
        &self,
        now: DateTime<Utc>,
    ) -> Vec<crate::model::OperationId> {
        let timeout = self.policies.escalation.argo_step_timeout();
        self.journal
            .operations()
            .await
            .into_iter()
            .filter(Self::waits_on_argo)
            .filter(|op| {
                Self::argo_step_since(op)
                    .is_some_and(|since| (now - since).to_std().unwrap_or_default() >= timeout)
            })
            .map(|op| op.id)
            .collect()
    }

    /// Pauses operation `id` for a person when its Argo step is still past the timeout at
    /// `now` (read again: a notification may have arrived meanwhile). Returns whether it did.
    pub(crate) async fn argo_step_timed_out(
        &self,
        id: &crate::model::OperationId,
        now: DateTime<Utc>,
    ) -> Result<bool, OrchestratorError> {
        let op = self.journal.operation(id).await?;
        let timeout = self.policies.escalation.argo_step_timeout();
        let Some(since) = Self::argo_step_since(&op).filter(|_| Self::waits_on_argo(&op)) else {
            return Ok(false);
        };
        let waited = (now - since).to_std().unwrap_or_default();
        if waited < timeout {
            return Ok(false);
        }
        let plan = artifacts::in_scan(op.artifact(&artifacts::ROLLOUT));
        let rollout = plan
            .as_ref()
            .map(|p| format!("`{}` (namespace `{}`)", p.manifest, p.namespace))
            .unwrap_or_else(|| "the Rollout".into());
        let why = format!(
            "Argo Rollouts reported no progress on {rollout} for {} min (step timeout {} min)",
            waited.as_secs() / 60,
            timeout.as_secs() / 60
        );
        if let Ok(pr) = Self::pr_of(&op) {
            self.mirror(
                &op,
                pr,
                &format!("argo-stalled-{}", op.last_seq),
                "argo.step_timed_out",
                json!({"waited_seconds": waited.as_secs(), "timeout_seconds": timeout.as_secs()}),
                &format!(
                    "{why}. healbot stopped waiting and asks a person: check the Rollout \
                     (`kubectl argo rollouts get rollout …`), then `/heal promote` to wait for \
                     Argo again or `/heal rollback` to write the stable revision back."
                ),
            )
            .await?;
        }
        self.transition(&op, OpState::PausedForHumanReview, &why)
            .await?;
        self.notify(
            &op,
            NotificationKind::Escalation,
            "healbot: an Argo Rollouts step timed out",
            &why,
        )
        .await;
        Ok(true)
    }
}
