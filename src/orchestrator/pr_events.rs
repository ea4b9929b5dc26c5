//! What happens to an operation's PR outside healbot's own writes: a person merges it on the
//! forge, closes it without merging, or pushes to its branch. Each is an audit entry with the
//! person as actor; a merge by a person starts the canary as an approval does.

use super::artifacts::{self, in_scan};
use super::{Orchestrator, OrchestratorError};
use crate::config::repo::OnPush;
use crate::forge::{CommitSha, PrNumber, RepoRef};
use crate::model::OperationId;
use crate::operation::{OpState, Operation};
use serde_json::json;

impl Orchestrator {
    /// The operation whose fix PR is `pr` in `repo`.
    pub(crate) async fn operation_for(&self, repo: &RepoRef, pr: PrNumber) -> Option<Operation> {
        self.journal.operations().await.into_iter().find(|op| {
            Self::spec(op).is_ok_and(|s| &s.repo == repo)
                && in_scan(op.effect(&artifacts::PR)) == Some(pr)
        })
    }

    /// The PR was merged. When healbot merged it, this is the echo of its own write; when a
    /// person merged it (the forge let them, so they may), it counts as their approval.
    pub(crate) async fn pr_merged(
        &self,
        repo: &RepoRef,
        pr: PrNumber,
        merge_sha: &CommitSha,
        head: &CommitSha,
        actor: &str,
    ) -> Result<Option<OperationId>, OrchestratorError> {
        let Some(op) = self.operation_for(repo, pr).await else {
            return Ok(None);
        };
        if op.has_effect(&artifacts::MERGE) || op.state.is_terminal() {
            return Ok(Some(op.id));
        }
        if !head.0.is_empty() && Self::validated_head(&op)?.as_ref() != Some(head) {
            // A person merged a head healbot never validated: that is their change, and
            // healbot does not take it to production.
            self.journal
                .note(
                    &op.id,
                    actor,
                    "pr.merged_unvalidated",
                    json!({"pr": pr, "merge_sha": merge_sha, "head_sha": head}),
                )
                .await?;
            let why = format!(
                "{pr} merged by {actor} at {}, a commit healbot did not validate",
                head.short()
            );
            return self.cancel_by(&op, actor, &why).await;
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
        self.journal
            .effect(&op.id, &artifacts::MERGE, merge_sha)
            .await?;
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
    pub(crate) async fn pr_closed(
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
        let why = format!("{pr} closed without merging by {actor}");
        self.cancel_by(&op, actor, &why).await
    }

    /// Someone other than healbot pushed to the PR's branch. Approvals are bound to the commit
    /// healbot validated, so the push voids any earlier one, and the pusher may not approve.
    /// Before the merge, the repository's `approvers.on_push` says what follows: the operation
    /// is cancelled (the default), or the pushed head goes through the check again.
    pub(crate) async fn pr_head_moved(
        &self,
        repo: &RepoRef,
        pr: PrNumber,
        head: &CommitSha,
        actor: &str,
    ) -> Result<Option<OperationId>, OrchestratorError> {
        let Some(op) = self.operation_for(repo, pr).await else {
            return Ok(None);
        };
        if op.state.is_terminal() || Self::validated_head(&op)?.as_ref() == Some(head) {
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
        if op.has_effect(&artifacts::MERGE) || Self::deployed(&op) {
            // Merged already: what reached production is the validated commit.
            return Ok(Some(op.id));
        }
        let mut pushers = Self::pushers(&op)?;
        if !pushers.iter().any(|p| p.eq_ignore_ascii_case(actor)) {
            pushers.push(actor.to_string());
            self.journal
                .effect(&op.id, &artifacts::PUSHERS, &pushers)
                .await?;
        }
        let op = self.journal.operation(&op.id).await?;
        let spec = Self::spec(&op)?;
        let policy = match self.repo_config(&spec).await {
            Ok(config) => config.approvers.on_push,
            Err(e) => {
                tracing::warn!(operation = %op.id, error = %e, "no repository config; a push cancels");
                OnPush::Cancel
            }
        };
        let name = format!("push-{}", head.0);
        match policy {
            OnPush::Cancel => {
                let text = format!(
                    "@{actor} pushed {} to the fix branch. healbot validated only {}, so it no \
                     longer acts on this PR (`approvers.on_push: cancel` in \
                     `.github/healbot.yml`): the operation is cancelled and the service lock \
                     released. Merging it is now a person's change like any other.",
                    head.short(),
                    Self::validated_head(&op)?
                        .map(|v| v.short().to_string())
                        .unwrap_or_else(|| "another commit".into())
                );
                self.mirror(
                    &op,
                    pr,
                    &name,
                    "pr.push_cancelled",
                    json!({"head_sha": head}),
                    &text,
                )
                .await?;
                let why = format!("{actor} pushed {} to the fix branch", head.short());
                self.cancel_by(&op, actor, &why).await
            }
            OnPush::Revalidate => {
                let dir = self.worktree(&op, "pushed");
                self.workspaces.export(&spec.repo, &head.0, &dir).await?;
                let (command, outcome) = self.repo_check(&spec, &dir).await?;
                let detail = json!({
                    "head_sha": head,
                    "command": command,
                    "passed": outcome.passed,
                    "exit_code": outcome.exit_code,
                    "timed_out": outcome.timed_out,
                });
                if outcome.passed {
                    self.journal
                        .effect(&op.id, &artifacts::REVALIDATED, head)
                        .await?;
                    let text = format!(
                        "@{actor} pushed {}: healbot ran the check on it again and it passed. \
                         Approvals given before do not count; someone who did not push to this \
                         branch must approve {} to merge it.",
                        head.short(),
                        head.short()
                    );
                    self.mirror(&op, pr, &name, "pr.revalidated", detail, &text)
                        .await?;
                    return Ok(Some(op.id));
                }
                let text = format!(
                    "@{actor} pushed {}: healbot ran the check on it again and it failed, so \
                     the operation is cancelled and the service lock released.",
                    head.short()
                );
                self.mirror(&op, pr, &name, "pr.revalidation_failed", detail, &text)
                    .await?;
                let why = format!("the check failed on {} pushed by {actor}", head.short());
                self.cancel_by(&op, actor, &why).await
            }
        }
    }

    /// A person's act on the PR ends the operation: cancelled with `reason` as `actor`, and
    /// the service lock released.
    async fn cancel_by(
        &self,
        op: &Operation,
        actor: &str,
        reason: &str,
    ) -> Result<Option<OperationId>, OrchestratorError> {
        self.journal
            .transition(&op.id, OpState::Cancelled, actor, reason)
            .await?;
        self.release_lock(op).await;
        Ok(Some(op.id.clone()))
    }

    pub(crate) fn deployed(op: &Operation) -> bool {
        op.history
            .iter()
            .any(|(_, s, _)| matches!(s, OpState::Merged | OpState::Deploying(_)))
    }
}
