//! What happens to an operation's PR outside healbot's own writes: a person merges it on the
//! forge, closes it without merging, or pushes to its branch. Each is an audit entry with the
//! person as actor; a merge by a person starts the canary as an approval does.

use super::{Orchestrator, OrchestratorError};
use crate::forge::{CommitSha, PrNumber, RepoRef};
use crate::model::OperationId;
use crate::operation::{OpState, Operation};
use serde_json::json;

impl Orchestrator {
    /// The operation whose fix PR is `pr` in `repo`.
    pub async fn operation_for(&self, repo: &RepoRef, pr: PrNumber) -> Option<Operation> {
        self.journal.operations().await.into_iter().find(|op| {
            Self::spec(op).is_ok_and(|s| &s.repo == repo)
                && op.effect::<PrNumber>(&format!("{}/pr", op.id)) == Some(pr)
        })
    }

    /// The PR was merged. When healbot merged it, this is the echo of its own write; when a
    /// person merged it (the forge let them, so they may), it counts as their approval.
    pub async fn pr_merged(
        &self,
        repo: &RepoRef,
        pr: PrNumber,
        merge_sha: &CommitSha,
        actor: &str,
    ) -> Result<Option<OperationId>, OrchestratorError> {
        let Some(op) = self.operation_for(repo, pr).await else {
            return Ok(None);
        };
        let merge_key = format!("{}/merge", op.id);
        if op.effects.contains_key(&merge_key) || op.state.is_terminal() {
            return Ok(Some(op.id));
        }
        let awaiting = op.state == OpState::AwaitingReview
            || (op.state == OpState::PausedForHumanReview
                && op.paused_from == Some(OpState::AwaitingReview));
        self.journal
            .note(
                &op.id,
                actor,
                "pr.merged_by_person",
                json!({"pr": pr, "merge_sha": merge_sha}),
            )
            .await?;
        self.journal.effect(&op.id, &merge_key, merge_sha).await?;
        if !awaiting {
            // Merged while healbot was not waiting for it (before its review request, say):
            // recorded, and the operation carries on from where it is.
            return Ok(Some(op.id));
        }
        if op.state == OpState::PausedForHumanReview {
            self.journal
                .transition(&op.id, OpState::AwaitingReview, actor, "resumed by a merge")
                .await?;
        }
        self.journal
            .transition(
                &op.id,
                OpState::Merged,
                actor,
                &format!("{pr} merged by {actor} as {}", merge_sha.short()),
            )
            .await?;
        Ok(Some(op.id))
    }

    /// The PR was closed without a merge: before anything reached production that cancels the
    /// operation and frees its lock; afterwards it is only recorded.
    pub async fn pr_closed(
        &self,
        repo: &RepoRef,
        pr: PrNumber,
        actor: &str,
    ) -> Result<Option<OperationId>, OrchestratorError> {
        let Some(op) = self.operation_for(repo, pr).await else {
            return Ok(None);
        };
        if op.state.is_terminal() || Self::deployed(&op) {
            return Ok(Some(op.id));
        }
        self.journal
            .note(&op.id, actor, "pr.closed", json!({"pr": pr}))
            .await?;
        self.journal
            .transition(
                &op.id,
                OpState::Cancelled,
                actor,
                &format!("{pr} closed without merging by {actor}"),
            )
            .await?;
        self.release_lock(&op).await;
        Ok(Some(op.id))
    }

    /// Someone pushed to the PR's branch. Approvals are bound to the head they were given on,
    /// so the push voids any earlier one; recorded so the history says why.
    pub async fn pr_head_moved(
        &self,
        repo: &RepoRef,
        pr: PrNumber,
        head: &CommitSha,
        actor: &str,
    ) -> Result<Option<OperationId>, OrchestratorError> {
        let Some(op) = self.operation_for(repo, pr).await else {
            return Ok(None);
        };
        if op.state.is_terminal() {
            return Ok(Some(op.id));
        }
        self.journal
            .note(
                &op.id,
                actor,
                "pr.head_moved",
                json!({"pr": pr, "head_sha": head, "approvals": "void"}),
            )
            .await?;
        Ok(Some(op.id))
    }

    pub(crate) fn deployed(op: &Operation) -> bool {
        op.history
            .iter()
            .any(|(_, s, _)| matches!(s, OpState::Merged | OpState::Deploying(_)))
    }
}
