//! The runbook's acts that no PR command has: declaring an operation done by hand
//! (`healbot ops force-complete`) and rolling a deployed fix back to a revision a person names
//! (`healbot ops rollback --to`). Each is an audited act with the person as actor and their
//! reason, answered on the PR when there is one; neither drives the operation on itself, so
//! the caller decides where that happens (here, or on the replica that takes it from the queue).

use super::{artifacts, Orchestrator, OrchestratorError};
use crate::forge::PrNumber;
use crate::model::OperationId;
use crate::operation::OpState;
use serde_json::json;

/// Audit actions the runbook acts write.
pub mod action {
    pub(crate) const FORCE_COMPLETED: &str = "operation.force_completed";
    pub(crate) const ROLLBACK_REQUESTED: &str = "operation.rollback_requested";
}

/// What a runbook act did: the lines for the person, and whether the operation should now be
/// driven on.
#[derive(Debug, Clone, PartialEq)]
pub struct Acted {
    pub lines: Vec<String>,
    pub drive: bool,
}

impl Orchestrator {
    /// Declares operation `id` `Completed` as `actor`, for `reason` (required): the lock is
    /// released and nothing is rolled back or forward — the Rollout manifest stays as it is.
    pub(crate) async fn force_complete(
        &self,
        id: &OperationId,
        actor: &str,
        reason: &str,
    ) -> Result<Acted, OrchestratorError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(OrchestratorError::stage(
                "force-complete",
                "a reason is required (--reason TEXT)",
            ));
        }
        let op = self.journal.operation(id).await?;
        if op.state.is_terminal() {
            return Err(OrchestratorError::stage(
                "force-complete",
                format!("operation {id} is already {}", op.state),
            ));
        }
        let pr = op.effect(&artifacts::PR)?;
        self.journal
            .note(
                &op.id,
                actor,
                action::FORCE_COMPLETED,
                json!({"reason": reason, "from": op.state, "pr": pr}),
            )
            .await?;
        self.journal
            .force_complete(
                &op.id,
                actor,
                &format!("force-completed by {actor}: {reason}"),
            )
            .await?;
        self.release_lock(&op).await;
        let mut lines = vec![format!(
            "{actor} force-completed {id} (was {}): {reason}",
            op.state
        )];
        if matches!(op.state, OpState::Deploying(_) | OpState::RollingBack)
            || op
                .paused_from
                .is_some_and(|s| matches!(s, OpState::Deploying(_)))
        {
            lines.push(
                "the Rollout manifest was left as it is: check which image production runs"
                    .to_string(),
            );
        }
        if let Some(pr) = pr {
            let text = format!(
                "@{actor} marked this operation completed by hand (it was {}): {reason}",
                op.state
            );
            lines.extend(
                self.answer_best_effort(id, pr, "force-completed", &text)
                    .await,
            );
        }
        Ok(Acted {
            lines,
            drive: false,
        })
    }

    /// Rolls operation `id` back to image tag `revision` instead of the stable one: the
    /// operation must have deployed (merged) and be able to roll back from where it is.
    pub(crate) async fn roll_back_to(
        &self,
        id: &OperationId,
        actor: &str,
        revision: &str,
    ) -> Result<Acted, OrchestratorError> {
        let refuse = |reason: String| Err(OrchestratorError::stage("rollback", reason));
        if !crate::gitops::rollout::is_image_tag(revision) {
            return refuse(format!(
                "--to {revision:?} is not an image tag ([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})"
            ));
        }
        let op = self.journal.operation(id).await?;
        if !Self::deployed(&op) {
            return refuse(format!(
                "operation {id} is {} and never deployed: there is no revision to go back to \
                 (a plain `healbot ops rollback` stops it)",
                op.state
            ));
        }
        if !op.state.can_go(OpState::RollingBack, op.paused_from) {
            return refuse(format!(
                "operation {id} is {}: it cannot roll back from there",
                op.state
            ));
        }
        if let Some(plan) = op.artifact(&artifacts::ROLLOUT)? {
            if plan.canary_tag == revision {
                return refuse(format!(
                    "{revision} is the fix's own image; roll back to an earlier one (stable: {})",
                    plan.stable_tag
                ));
            }
        }
        self.journal
            .note(
                &op.id,
                actor,
                action::ROLLBACK_REQUESTED,
                json!({"source": "cli", "to": revision}),
            )
            .await?;
        self.journal
            .artifact(&op.id, &artifacts::ROLLBACK_TARGET, &revision.to_string())
            .await?;
        self.journal
            .transition(
                &op.id,
                OpState::RollingBack,
                actor,
                &format!("rollback to {revision} requested by {actor}"),
            )
            .await?;
        let mut lines = vec![format!(
            "{actor} asked for a rollback of {id} to {revision}"
        )];
        if let Some(pr) = op.effect(&artifacts::PR)? {
            let text = format!("@{actor} asked for a rollback to `{revision}`: restoring it now.");
            let name = format!("rollback-to-{}", op.last_seq);
            lines.extend(self.answer_best_effort(id, pr, &name, &text).await);
        }
        Ok(Acted { lines, drive: true })
    }

    /// Posts an answer on the PR; the act is already recorded, so a forge that is down (the
    /// reason a person uses the CLI) costs only the comment, which is said.
    async fn answer_best_effort(
        &self,
        id: &OperationId,
        pr: PrNumber,
        name: &str,
        text: &str,
    ) -> Option<String> {
        let op = self.journal.operation(id).await.ok()?;
        match self
            .mirror(&op, pr, name, "override.answered", json!({}), text)
            .await
        {
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(operation = %id, error = %e, "cannot answer on the PR");
                Some(format!("(not said on PR {pr}: {e})"))
            }
        }
    }
}
