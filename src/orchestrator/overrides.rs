//! The human-override channel: a review or a `/heal` command on an operation's PR, from GitHub
//! or the local CLI, becomes an audited act with the person as actor. Every command is answered
//! on the PR, and a replayed event (same source id) is recognised and not applied twice.

use super::{artifacts, Orchestrator, OrchestratorError};
use crate::forge::{HealCommand, Override, OverrideKind, ReviewState};
use crate::model::OperationId;
use crate::operation::{OpState, Operation};
use serde_json::json;

/// What applying an override did.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub operation: OperationId,
    /// The answers posted on the PR.
    pub replies: Vec<String>,
    /// Whether the operation can now be carried on.
    pub drive: bool,
}

impl Applied {
    fn nothing(operation: OperationId) -> Applied {
        Applied {
            operation,
            replies: Vec::new(),
            drive: false,
        }
    }
}

impl Orchestrator {
    /// The operation whose fix PR is the override's PR.
    pub(crate) async fn operation_for_pr(&self, ov: &Override) -> Option<Operation> {
        self.operation_for(&ov.repo, ov.pr).await
    }

    /// Applies one override and drives the operation on; returns the replies for the person.
    pub(crate) async fn handle_override(
        &self,
        ov: Override,
    ) -> Result<Vec<String>, OrchestratorError> {
        let applied = self.apply_override(ov).await?;
        let mut lines = applied.replies;
        if applied.drive {
            let progress = self.drive(&applied.operation).await?;
            lines.push(format!("{}: {:?}", applied.operation, progress));
        }
        Ok(lines)
    }

    /// Applies one override and answers it on the PR, without driving the operation on: a
    /// server hands the driving to a task of its own so that a canary's wait does not hold
    /// up the next webhook.
    pub(crate) async fn apply_override(&self, ov: Override) -> Result<Applied, OrchestratorError> {
        let op = self
            .operation_for_pr(&ov)
            .await
            .ok_or_else(|| OrchestratorError::NoOperationForPr(ov.pr.0, ov.repo.0.clone()))?;
        if ov.actor == self.settings.actor || ov.actor.ends_with("[bot]") {
            return Ok(Applied::nothing(op.id));
        }
        let seen_key = artifacts::override_seen(&ov.source_id);
        if op.has_effect(&seen_key) {
            return Ok(Applied {
                operation: op.id,
                replies: vec![format!("{} was already handled", ov.source_id)],
                drive: false,
            });
        }
        let reply = match self.apply(&op, &ov).await {
            Ok(reply) => reply,
            // A record that cannot be read stops the operation here as it would in a step.
            Err(e @ OrchestratorError::Record(_)) => {
                self.fail(&op, &e).await?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        // Marked handled only after it took effect: a crash in between re-applies it, and
        // every act is a no-op in the state it leads to.
        self.journal
            .effect(
                &op.id,
                &seen_key,
                &json!({"actor": ov.actor, "kind": ov.kind}),
            )
            .await?;
        let op = self.journal.operation(&op.id).await?;
        let name = format!("reply-{}", ov.source_id);
        self.mirror(
            &op,
            ov.pr,
            &name,
            "override.answered",
            json!({"actor": ov.actor}),
            &reply,
        )
        .await?;
        Ok(Applied {
            drive: !op.state.is_waiting() && !op.state.is_terminal(),
            operation: op.id,
            replies: vec![reply],
        })
    }

    /// Posts `text` on an operation's PR as an audited answer; `name` keeps it to one post.
    /// `false` when no operation owns the PR.
    pub async fn answer(
        &self,
        repo: &crate::forge::RepoRef,
        pr: crate::forge::PrNumber,
        name: &str,
        text: &str,
    ) -> Result<bool, OrchestratorError> {
        let Some(op) = self.operation_for(repo, pr).await else {
            return Ok(false);
        };
        self.mirror(&op, pr, name, "override.answered", json!({}), text)
            .await?;
        Ok(true)
    }

    /// A person who may not act on the PR tried to: the refusal is an audit entry with that
    /// person as actor, and the answer on the PR says why.
    pub(crate) async fn refuse_override(
        &self,
        ov: &Override,
        reason: &str,
    ) -> Result<Option<OperationId>, OrchestratorError> {
        let Some(op) = self.operation_for_pr(ov).await else {
            return Ok(None);
        };
        let seen_key = artifacts::override_seen(&ov.source_id);
        if op.has_effect(&seen_key) {
            return Ok(Some(op.id));
        }
        self.journal
            .note(
                &op.id,
                &ov.actor,
                "override.refused",
                json!({"pr": ov.pr, "kind": ov.kind, "reason": reason, "source": ov.source_id}),
            )
            .await?;
        self.journal
            .effect(
                &op.id,
                &seen_key,
                &json!({"actor": ov.actor, "refused": reason}),
            )
            .await?;
        let text = format!("@{}: not done: {reason}", ov.actor);
        let name = format!("reply-{}", ov.source_id);
        self.mirror(
            &op,
            ov.pr,
            &name,
            "override.answered",
            json!({"actor": ov.actor, "refused": true}),
            &text,
        )
        .await?;
        Ok(Some(op.id))
    }

    async fn apply(&self, op: &Operation, ov: &Override) -> Result<String, OrchestratorError> {
        let who = &ov.actor;
        let record = |action: &'static str| {
            self.journal.note(
                &op.id,
                who,
                action,
                json!({"pr": ov.pr, "head_sha": ov.head_sha, "source": ov.source_id}),
            )
        };
        match &ov.kind {
            OverrideKind::Review {
                state: ReviewState::Approved,
            }
            | OverrideKind::Command {
                command: HealCommand::Approve,
            } => {
                let approvable = op.state == OpState::AwaitingReview
                    || (op.state == OpState::PausedForHumanReview
                        && op.paused_from == Some(OpState::AwaitingReview));
                if !approvable {
                    return Ok(format!(
                        "@{who}: nothing to approve while the operation is {}.",
                        op.state
                    ));
                }
                let spec = Self::spec(op)?;
                let pr = self.forge.pull_request(&spec.repo, ov.pr).await?;
                if Self::pushers(op)?
                    .iter()
                    .any(|p| p.eq_ignore_ascii_case(who))
                {
                    return Ok(format!(
                        "@{who}: you pushed to this PR's branch, so your approval does not \
                         count; someone else must approve it."
                    ));
                }
                let validated = Self::validated_head(op)?;
                if validated.as_ref() != Some(&pr.head_sha) {
                    return Ok(format!(
                        "@{who}: the PR head {} is not the commit healbot validated{}; \
                         nothing was merged.",
                        pr.head_sha.short(),
                        validated
                            .map(|v| format!(" ({})", v.short()))
                            .unwrap_or_default()
                    ));
                }
                if pr.head_sha != ov.head_sha {
                    return Ok(format!(
                        "@{who}: your approval was for {}, but the PR head is now {}; approve again.",
                        ov.head_sha.short(),
                        pr.head_sha.short()
                    ));
                }
                record("review.approved").await?;
                self.record_approval(op, who, &pr.head_sha).await?;
                let op = self.journal.operation(&op.id).await?;
                let need = self.approval_need(&op).await?;
                if let super::approvals::ApprovalStatus::Missing(what) =
                    Self::approval_status(&op, &need, &pr.head_sha)
                {
                    return Ok(format!(
                        "@{who} approved {}; not merged yet: {what}.",
                        ov.head_sha.short()
                    ));
                }
                if op.state == OpState::PausedForHumanReview {
                    self.journal
                        .transition(&op.id, OpState::AwaitingReview, who, "resumed by approval")
                        .await?;
                }
                let op = self.journal.operation(&op.id).await?;
                let outcome = self.approve_and_merge(&op, who).await?;
                Ok(outcome.reply(who, &ov.head_sha))
            }
            OverrideKind::Review {
                state: ReviewState::ChangesRequested,
            }
            | OverrideKind::Command {
                command: HealCommand::Pause,
            } => {
                if op.state.is_terminal() || op.state == OpState::PausedForHumanReview {
                    return Ok(format!(
                        "@{who}: the operation is {}; nothing to pause.",
                        op.state
                    ));
                }
                record("operation.paused").await?;
                self.journal
                    .transition(
                        &op.id,
                        OpState::PausedForHumanReview,
                        who,
                        "paused by a person",
                    )
                    .await?;
                Ok(format!(
                    "@{who} paused the operation. `/heal resume` carries on."
                ))
            }
            OverrideKind::Review {
                state: ReviewState::Dismissed,
            }
            | OverrideKind::Command {
                command: HealCommand::Resume,
            } => {
                if op.state != OpState::PausedForHumanReview {
                    return Ok(format!(
                        "@{who}: the operation is {}, not paused.",
                        op.state
                    ));
                }
                let back = op.paused_from.unwrap_or(OpState::AwaitingReview);
                record("operation.resumed").await?;
                if let OpState::Deploying(w) = back {
                    // Resuming a canary step means judging it again on fresh samples.
                    self.journal
                        .artifact(&op.id, &artifacts::canary_verdict(w), &None)
                        .await?;
                }
                self.journal
                    .transition(&op.id, back, who, "resumed by a person")
                    .await?;
                Ok(format!("@{who} resumed the operation at {back}."))
            }
            OverrideKind::Review {
                state: ReviewState::Commented,
            } => Ok(format!("@{who}: noted.")),
            OverrideKind::Command {
                command: HealCommand::Reject { .. },
            }
            | OverrideKind::Command {
                command: HealCommand::Abort,
            } if !Self::deployed(op) => {
                let reason = match &ov.kind {
                    OverrideKind::Command {
                        command: HealCommand::Reject { reason: Some(r) },
                    } => r.clone(),
                    _ => "rejected".to_string(),
                };
                if op.state.is_terminal() {
                    return Ok(format!("@{who}: the operation is already {}.", op.state));
                }
                record("operation.rejected").await?;
                self.journal
                    .transition(
                        &op.id,
                        OpState::Cancelled,
                        who,
                        &format!("rejected by {who}: {reason}"),
                    )
                    .await?;
                let spec = Self::spec(op)?;
                self.forge.close(&spec.repo, ov.pr).await?;
                self.release_lock(op).await;
                Ok(format!(
                    "@{who} rejected the fix ({reason}); the PR is closed and the lock released."
                ))
            }
            OverrideKind::Command {
                command: HealCommand::Rollback,
            }
            | OverrideKind::Command {
                command: HealCommand::Abort,
            }
            | OverrideKind::Command {
                command: HealCommand::Reject { .. },
            } => {
                if !op.state.can_go(OpState::RollingBack, op.paused_from) {
                    return Ok(format!("@{who}: cannot roll back from {}.", op.state));
                }
                record("operation.rollback_requested").await?;
                self.journal
                    .transition(
                        &op.id,
                        OpState::RollingBack,
                        who,
                        &format!("rollback requested by {who}"),
                    )
                    .await?;
                Ok(format!(
                    "@{who} asked for a rollback: restoring the stable image now."
                ))
            }
            OverrideKind::Command {
                command: HealCommand::Promote,
            } => {
                let Some(OpState::Deploying(w)) = op
                    .paused_from
                    .filter(|_| op.state == OpState::PausedForHumanReview)
                else {
                    return Ok(format!(
                        "@{who}: nothing to promote while the operation is {}.",
                        op.state
                    ));
                };
                record("canary.promoted").await?;
                // The person's judgement replaces the canary's verdict for this step.
                self.journal
                    .artifact(
                        &op.id,
                        &artifacts::canary_verdict(w),
                        &Some(crate::canary::CanaryReport {
                            score: 100.0,
                            verdict: crate::canary::CanaryVerdict::Pass,
                            metrics: Vec::new(),
                            reason: format!("promoted by {who}"),
                        }),
                    )
                    .await?;
                self.journal
                    .transition(
                        &op.id,
                        OpState::Deploying(w),
                        who,
                        &format!("promoted by {who}"),
                    )
                    .await?;
                Ok(format!("@{who} promoted the canary past {w}%."))
            }
            OverrideKind::Command {
                command: HealCommand::Retry,
            } if op.state == OpState::AwaitingReview && op.has_effect(&artifacts::APPROVAL) => {
                // An approved fix whose checks failed or ran long: look again now, and the
                // timeout starts over.
                record("operation.retried").await?;
                let approval = op.effect(&artifacts::APPROVAL)?;
                if let Some(mut approval) = approval {
                    approval.at = self.clock.now();
                    self.journal
                        .effect(&op.id, &artifacts::APPROVAL, &approval)
                        .await?;
                }
                let op = self.journal.operation(&op.id).await?;
                let head = Self::validated_head(&op)?.unwrap_or(ov.head_sha.clone());
                let outcome = self.merge_when_green(&op).await?;
                Ok(outcome.retry_reply(who, &head))
            }
            OverrideKind::Command {
                command: HealCommand::Retry,
            } => {
                if op.state != OpState::Escalated {
                    return Ok(format!(
                        "@{who}: only an escalated operation can be retried (it is {}).",
                        op.state
                    ));
                }
                record("operation.retried").await?;
                self.journal
                    .transition(&op.id, OpState::AwaitingGates, who, "retried by a person")
                    .await?;
                Ok(format!(
                    "@{who} retried the operation: checking the gates again."
                ))
            }
            OverrideKind::Command {
                command: HealCommand::Status,
            } => Ok(super::report::status(op)),
            OverrideKind::Command {
                command: HealCommand::Explain,
            } => Ok(super::report::explain(op)),
            OverrideKind::Command {
                command: HealCommand::Help,
            } => Ok(HealCommand::help_text().to_string()),
        }
    }
}
