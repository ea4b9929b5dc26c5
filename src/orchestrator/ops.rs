//! Acting on an operation by its id rather than through its PR: `healbot ops` is how a person
//! steers healbot when GitHub is down or the operation has no PR yet (a gate paused it). With a
//! PR the act takes the same override path as a review or a `/heal` command; without one it is
//! the same audited act (the person as actor, then the transition), minus the reply on the PR.

use super::runbook::Acted;
use super::{Orchestrator, OrchestratorError, Progress};
use crate::forge::{HealCommand, Override, OverrideKind};
use crate::model::OperationId;
use crate::operation::OpState;
use serde_json::json;

impl Orchestrator {
    /// Applies `command` (approve, pause, resume or rollback) to operation `id` as `actor`,
    /// drives the operation on when it can go on, and returns the lines to show the person.
    pub async fn override_operation(
        &self,
        id: &OperationId,
        actor: &str,
        command: HealCommand,
    ) -> Result<Vec<String>, OrchestratorError> {
        let acted = self.apply_operation_override(id, actor, command).await?;
        let mut lines = acted.lines;
        if acted.drive {
            let progress: Progress = self.drive(id).await?;
            lines.push(format!("{id}: {progress:?}"));
        }
        Ok(lines)
    }

    /// Applies `command` to operation `id` as `actor` without driving it on: `drive` says
    /// whether it can go on now (a server hands that to whichever replica takes it).
    pub(crate) async fn apply_operation_override(
        &self,
        id: &OperationId,
        actor: &str,
        command: HealCommand,
    ) -> Result<Acted, OrchestratorError> {
        let op = self.journal.operation(id).await?;
        let spec = Self::spec(&op)?;
        if let Some(pr) = op.effect(&super::artifacts::PR)? {
            let head_sha = self.forge.pull_request(&spec.repo, pr).await?.head_sha;
            let ov = Override {
                actor_id: None,
                repo: spec.repo,
                pr,
                actor: actor.to_string(),
                // The log's head at the time: the same command twice in a row is one act.
                source_id: format!("cli:{}:{}:{command:?}", op.id, op.last_seq),
                kind: OverrideKind::Command { command },
                head_sha,
            };
            let applied = self.apply_override(ov).await?;
            return Ok(Acted {
                lines: applied.replies,
                drive: applied.drive,
            });
        }
        let note = |action: &'static str| {
            self.journal
                .note(&op.id, actor, action, json!({"source": "cli", "pr": null}))
        };
        let (reply, drive) = match command {
            HealCommand::Pause
                if !op.state.is_terminal() && op.state != OpState::PausedForHumanReview =>
            {
                note("operation.paused").await?;
                self.journal
                    .transition(
                        &op.id,
                        OpState::PausedForHumanReview,
                        actor,
                        "paused by a person",
                    )
                    .await?;
                (format!("{actor} paused the operation."), false)
            }
            HealCommand::Resume if op.state == OpState::PausedForHumanReview => {
                let back = op.paused_from.unwrap_or(OpState::AwaitingGates);
                note("operation.resumed").await?;
                self.journal
                    .transition(&op.id, back, actor, "resumed by a person")
                    .await?;
                (format!("{actor} resumed the operation at {back}."), true)
            }
            HealCommand::Rollback if !op.state.is_terminal() => {
                // Without a PR nothing reached the repository or production: nothing to undo,
                // so the operation is cancelled and its lock (if any) freed.
                note("operation.rollback_requested").await?;
                self.journal
                    .transition(
                        &op.id,
                        OpState::Cancelled,
                        actor,
                        &format!("rollback requested by {actor} before any PR: nothing to undo"),
                    )
                    .await?;
                self.release_lock(&op).await;
                (
                    format!("{actor} asked for a rollback; nothing was shipped, so the operation is cancelled."),
                    false,
                )
            }
            other => (
                format!(
                    "{actor}: cannot {} while the operation is {} and has no PR.",
                    format!("{other:?}").to_lowercase(),
                    op.state
                ),
                false,
            ),
        };
        Ok(Acted {
            lines: vec![reply],
            drive,
        })
    }
}
