//! The fix PR merges only once its head's required checks pass. An approval records who
//! approved which head; healbot then reads the base branch's required checks and the head's
//! check runs, suites and commit statuses (`forge::checks`). Green: it merges. Still running:
//! the operation stays in review and the escalation clock's tick looks again. Failing: one
//! comment on the PR per failing head and set of checks, and healbot waits for a re-run that
//! passes or a person's `/heal retry`. Waiting longer than `required_checks_timeout_seconds`
//! escalates.

use super::artifacts::Approval;
use super::{artifacts, Orchestrator, OrchestratorError};
use crate::forge::checks::{verdict, CheckResult, ChecksVerdict, SAFETY_GATES_CHECK};
use crate::forge::CommitSha;
use crate::model::OperationId;
use crate::operation::{OpState, Operation};
use chrono::{DateTime, Utc};
use serde_json::json;

/// What an approval led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MergeOutcome {
    Merged(CommitSha),
    /// Required checks still running (named).
    Waiting(Vec<String>),
    /// Checks failed on the head (named).
    ChecksFailed(Vec<String>),
}

impl MergeOutcome {
    /// The answer to the person who approved `head`.
    pub fn reply(&self, who: &str, head: &CommitSha) -> String {
        match self {
            MergeOutcome::Merged(_) => format!(
                "@{who} approved {}: merged; the canary starts now.",
                head.short()
            ),
            MergeOutcome::Waiting(names) => format!(
                "@{who} approved {}: healbot merges it once the required checks pass \
                 (waiting for {}).",
                head.short(),
                names.join(", ")
            ),
            MergeOutcome::ChecksFailed(names) => format!(
                "@{who} approved {}, but it is not merged: checks failed ({}).",
                head.short(),
                names.join(", ")
            ),
        }
    }

    /// The answer to `/heal retry` from `who` on an approved fix at `head`.
    pub(crate) fn retry_reply(&self, who: &str, head: &CommitSha) -> String {
        match self {
            MergeOutcome::Merged(_) => format!(
                "@{who}: the checks on {} pass now: merged; the canary starts now.",
                head.short()
            ),
            MergeOutcome::Waiting(names) => format!(
                "@{who}: the checks on {} are still running (waiting for {}); healbot merges                  once they pass.",
                head.short(),
                names.join(", ")
            ),
            MergeOutcome::ChecksFailed(names) => format!(
                "@{who}: the checks on {} still fail ({}).",
                head.short(),
                names.join(", ")
            ),
        }
    }
}

fn failing_text(failed: &[CheckResult]) -> String {
    failed
        .iter()
        .map(|c| match &c.url {
            Some(url) => format!("- [`{}`]({url})", c.name),
            None => format!("- `{}`", c.name),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Orchestrator {
    /// Records `approver`'s approval of the validated head and merges once checks allow.
    pub(crate) async fn approve_and_merge(
        &self,
        op: &Operation,
        approver: &str,
    ) -> Result<MergeOutcome, OrchestratorError> {
        if op.has_effect(&artifacts::MERGE) {
            // Merged before a crash: only the transition is left to do.
            return Ok(MergeOutcome::Merged(self.merge(op, approver).await?));
        }
        let head = Self::validated_head(op)?
            .ok_or_else(|| OrchestratorError::stage("merge", "no validated commit recorded"))?;
        let approval = Approval {
            by: approver.to_string(),
            head,
            at: self.clock.now(),
        };
        self.journal
            .effect(&op.id, &artifacts::APPROVAL, &approval)
            .await?;
        let op = self.journal.operation(&op.id).await?;
        self.merge_when_green(&op).await
    }

    /// Merges the approved head if its checks pass; otherwise says why not (once per head and
    /// failure) and leaves the operation in review.
    pub(crate) async fn merge_when_green(
        &self,
        op: &Operation,
    ) -> Result<MergeOutcome, OrchestratorError> {
        let approval = op
            .effect(&artifacts::APPROVAL)?
            .ok_or_else(|| OrchestratorError::stage("merge", "no approval recorded"))?;
        if Self::validated_head(op)?.as_ref() != Some(&approval.head) {
            // Someone pushed since: the approval was for another commit.
            return Ok(MergeOutcome::Waiting(vec![format!(
                "an approval of the new head (the last was for {})",
                approval.head.short()
            )]));
        }
        let spec = Self::spec(op)?;
        let base = self.forge.default_branch(&spec.repo).await?;
        let rules = self.forge.branch_rules(&spec.repo, &base).await?;
        let checks = self.forge.commit_checks(&spec.repo, &approval.head).await?;
        match verdict(&rules.required_checks, &checks, &[SAFETY_GATES_CHECK]) {
            ChecksVerdict::Passed => {
                let sha = self.merge(op, &approval.by).await?;
                Ok(MergeOutcome::Merged(sha))
            }
            ChecksVerdict::Pending { waiting } => Ok(MergeOutcome::Waiting(waiting)),
            ChecksVerdict::Failed { failed } => {
                let pr = Self::pr_of(op)?;
                let mut ids: Vec<&str> = failed.iter().map(|c| c.name.as_str()).collect();
                ids.sort_unstable();
                let name = format!(
                    "checks-failed-{}-{}",
                    approval.head.short(),
                    crate::model::safe_id(&ids.join("+"))
                );
                self.mirror(
                    op,
                    pr,
                    &name,
                    "pr.checks_failed",
                    json!({"head_sha": approval.head, "failed": failed}),
                    &format!(
                        "Not merged: checks failed on {}:\n\n{}\n\nhealbot merges once a re-run \
                         passes; `/heal retry` checks again now, `/heal reject` closes the PR.",
                        approval.head.short(),
                        failing_text(&failed)
                    ),
                )
                .await?;
                Ok(MergeOutcome::ChecksFailed(
                    ids.iter().map(|s| s.to_string()).collect(),
                ))
            }
        }
    }

    /// Approved fix PRs still waiting for their checks.
    pub(crate) async fn approved_unmerged(&self) -> Vec<OperationId> {
        self.journal
            .operations()
            .await
            .into_iter()
            .filter(|op| op.state == OpState::AwaitingReview)
            .filter(|op| !op.has_effect(&artifacts::MERGE))
            .filter(|op| {
                let approval = artifacts::in_scan(op.effect(&artifacts::APPROVAL));
                let validated = Self::validated_head(op).ok().flatten();
                approval.is_some_and(|a| Some(a.head) == validated)
            })
            .map(|op| op.id)
            .collect()
    }

    /// One look at an approved fix PR's checks at `now`: merged (`true`: drive it on), still
    /// waiting, or escalated once the wait passed `required_checks_timeout_seconds`.
    pub(crate) async fn recheck_approved(
        &self,
        id: &OperationId,
        now: DateTime<Utc>,
    ) -> Result<bool, OrchestratorError> {
        let op = self.journal.operation(id).await?;
        if !self.approved_unmerged().await.contains(id) {
            return Ok(false);
        }
        match self.merge_when_green(&op).await? {
            MergeOutcome::Merged(_) => return Ok(true),
            MergeOutcome::Waiting(_) | MergeOutcome::ChecksFailed(_) => {}
        }
        let Some(approval) = op.effect(&artifacts::APPROVAL)? else {
            return Ok(false);
        };
        // Counted from the approval, or from the return to review after a retry.
        let entered = op
            .history
            .last()
            .and_then(|(seq, _, _)| op.history_at.get(seq).copied());
        let since = entered.map_or(approval.at, |e| e.max(approval.at));
        let timeout = self.policies.escalation.required_checks_timeout();
        if (now - since).to_std().unwrap_or_default() < timeout {
            return Ok(false);
        }
        let op = self.journal.operation(id).await?;
        let why = format!(
            "the required checks on {} did not pass within {} s of the approval",
            approval.head.short(),
            timeout.as_secs()
        );
        let pr = Self::pr_of(&op)?;
        self.mirror(
            &op,
            pr,
            &format!("checks-timeout-{}", op.last_seq),
            "pr.checks_timed_out",
            json!({"head_sha": approval.head, "timeout_seconds": timeout.as_secs()}),
            &format!(
                "Not merged: {why}. A person takes over; `/heal retry` starts the wait again."
            ),
        )
        .await?;
        self.escalate(&op, &why).await?;
        Ok(false)
    }
}
