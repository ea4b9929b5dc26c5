//! Who must approve a fix before healbot merges it. DIRECT and CANARY need one allowed person;
//! MANUAL_REVIEW needs the policy's `manual_review_approvals` distinct people (never one), and
//! where the repository's CODEOWNERS owns a changed file, one of that file's owners among
//! them. Only approvals of the commit healbot validated count. The overrides call this before
//! merging; the merge itself stays in `pr.rs`.

use super::artifacts::{approved_by, APPROVED_BY, FIX, PATCH, PLAN};
use super::{Orchestrator, OrchestratorError};
use crate::config::codeowners::{is_owner, CodeOwners, CODEOWNERS_PATHS};
use crate::forge::CommitSha;
use crate::operation::Operation;
use crate::plan::Strategy;

/// What the fix needs before it may be merged.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApprovalNeed {
    pub strategy: Strategy,
    /// Distinct people.
    pub approvals: u32,
    /// Each changed file CODEOWNERS owns, with its owners; one of them must approve it.
    pub owned: Vec<(String, Vec<String>)>,
}

impl ApprovalNeed {
    /// What the strategy means for this PR: who must approve it and how it rolls out.
    pub fn describe(&self, canary_steps: &[u8]) -> String {
        let steps: Vec<String> = canary_steps.iter().map(|w| format!("{w}%")).collect();
        let canary = format!(
            "canary steps {} (judged against the stable version below 100%), then verification",
            steps.join(" → ")
        );
        match self.strategy {
            Strategy::Direct => "DIRECT: merged on one approval, then out in one step to 100% \
                 and verified there; a failed verification rolls it back."
                .to_string(),
            Strategy::Canary => format!("CANARY: merged on one approval, then {canary}."),
            Strategy::ManualReview => {
                let owners = if self.owned.is_empty() {
                    String::new()
                } else {
                    let files: Vec<String> = self
                        .owned
                        .iter()
                        .map(|(f, o)| {
                            let o: Vec<String> = o.iter().map(|x| format!("@{x}")).collect();
                            format!("`{f}` ({})", o.join(", "))
                        })
                        .collect();
                    format!(
                        ", among them a code owner of {} (CODEOWNERS)",
                        files.join(", ")
                    )
                };
                format!(
                    "MANUAL_REVIEW: merged only after {} approvals of the validated commit from \
                     distinct people allowed to approve{owners}; a single approval never merges \
                     it. Then {canary}.",
                    self.approvals
                )
            }
        }
    }
}

/// How far the approvals of the validated commit are.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ApprovalStatus {
    Enough,
    /// What is still missing, in words for the PR.
    Missing(String),
}

impl Orchestrator {
    /// What the fix needs, from its strategy, the repository's policies and CODEOWNERS.
    pub(crate) async fn approval_need(
        &self,
        op: &Operation,
    ) -> Result<ApprovalNeed, OrchestratorError> {
        let spec = Self::spec(op)?;
        let strategy = op
            .artifact(&PLAN)?
            .map_or(Strategy::ManualReview, |p| p.decision.strategy);
        if strategy != Strategy::ManualReview {
            return Ok(ApprovalNeed {
                strategy,
                approvals: 1,
                owned: Vec::new(),
            });
        }
        let policies = self.policies_for(&spec).await?;
        let approvals = policies.risk.strategy.manual_review_approvals;
        let files = changed_files(op)?;
        let branch = self.forge.default_branch(&spec.repo).await?;
        let mut owners = None;
        for path in CODEOWNERS_PATHS {
            if let Some(text) = self.forge.read_file(&spec.repo, &branch, path).await? {
                let (parsed, problems) = CodeOwners::parse(&text);
                for p in problems {
                    tracing::warn!(repo = %spec.repo.0, file = path, "CODEOWNERS {p}");
                }
                owners = Some(parsed);
                break;
            }
        }
        let owned = match owners {
            None => Vec::new(),
            Some(o) => files
                .into_iter()
                .filter_map(|f| {
                    let who = o.owners(&f).to_vec();
                    (!who.is_empty()).then_some((f, who))
                })
                .collect(),
        };
        Ok(ApprovalNeed {
            strategy,
            approvals,
            owned,
        })
    }

    /// Records that `who` approved `head` (once per person and commit).
    pub(crate) async fn record_approval(
        &self,
        op: &Operation,
        who: &str,
        head: &CommitSha,
    ) -> Result<(), OrchestratorError> {
        let key = approved_by(who, head);
        if !op.has_effect(&key) {
            self.journal
                .effect(&op.id, &key, &serde_json::json!({"actor": who}))
                .await?;
        }
        Ok(())
    }

    /// Whether the approvals of `validated` meet `need`.
    pub(crate) fn approval_status(
        op: &Operation,
        need: &ApprovalNeed,
        validated: &CommitSha,
    ) -> ApprovalStatus {
        let approvers = approvers_of(op, validated);
        let have = approvers.len() as u32;
        let mut missing = Vec::new();
        if have < need.approvals {
            missing.push(format!(
                "{} of {} approvals from distinct people ({}); {} more needed",
                have,
                need.approvals,
                need.strategy,
                need.approvals - have
            ));
        }
        for (file, owners) in &need.owned {
            if !approvers.iter().any(|a| is_owner(owners, a)) {
                let names: Vec<String> = owners.iter().map(|o| format!("@{o}")).collect();
                missing.push(format!(
                    "an approval by a code owner of `{file}` ({}; a team's member merges it on \
                     GitHub, healbot cannot check team membership)",
                    names.join(", ")
                ));
            }
        }
        if missing.is_empty() {
            ApprovalStatus::Enough
        } else {
            ApprovalStatus::Missing(missing.join("; "))
        }
    }
}

/// Everyone who approved `head`, once each.
fn approvers_of(op: &Operation, head: &CommitSha) -> Vec<String> {
    let prefix = format!("{}/{APPROVED_BY}/", op.id);
    let suffix = format!("/{}", head.0);
    op.effects
        .keys()
        .filter_map(|k| k.strip_prefix(&prefix)?.strip_suffix(&suffix))
        .map(str::to_string)
        .collect()
}

/// The files the fix changes.
fn changed_files(op: &Operation) -> Result<Vec<String>, OrchestratorError> {
    if let Some(chosen) = op.artifact(&FIX)?.and_then(|s| s.chosen) {
        return Ok(chosen.patches.into_iter().map(|p| p.file).collect());
    }
    Ok(op.artifact(&PATCH)?.map(|p| p.file).into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OperationId;

    fn op_with(approvals: &[(&str, &str)]) -> Operation {
        let id = OperationId("op-1".into());
        let mut op = Operation {
            id: id.clone(),
            correlation_id: "c".into(),
            state: crate::operation::OpState::AwaitingReview,
            paused_from: None,
            opened: serde_json::Value::Null,
            effects: Default::default(),
            artifacts: Default::default(),
            history: Vec::new(),
            history_at: Default::default(),
            last_seq: 0,
        };
        for (who, sha) in approvals {
            let key = approved_by(who, &CommitSha(sha.to_string()));
            op.effects
                .insert(key.key(&id), serde_json::json!({"actor": who}));
        }
        op
    }

    fn need(approvals: u32, owned: &[(&str, &[&str])]) -> ApprovalNeed {
        ApprovalNeed {
            strategy: Strategy::ManualReview,
            approvals,
            owned: owned
                .iter()
                .map(|(f, o)| (f.to_string(), o.iter().map(|s| s.to_string()).collect()))
                .collect(),
        }
    }

    #[test]
    fn distinct_people_on_the_validated_commit_count() {
        let head = CommitSha("abc".into());
        let one = op_with(&[("alice", "abc"), ("Alice", "abc"), ("bob", "old")]);
        let ApprovalStatus::Missing(why) =
            Orchestrator::approval_status(&one, &need(2, &[]), &head)
        else {
            panic!("one person is not two");
        };
        assert!(why.contains("1 of 2 approvals"), "{why}");
        let two = op_with(&[("alice", "abc"), ("bob", "abc")]);
        assert_eq!(
            Orchestrator::approval_status(&two, &need(2, &[]), &head),
            ApprovalStatus::Enough
        );
    }

    #[test]
    fn an_owned_file_waits_for_one_of_its_owners() {
        let head = CommitSha("abc".into());
        let two = op_with(&[("alice", "abc"), ("bob", "abc")]);
        let owned = need(2, &[("pay.py", &["carol", "acme/payments"])]);
        let ApprovalStatus::Missing(why) = Orchestrator::approval_status(&two, &owned, &head)
        else {
            panic!("no owner approved");
        };
        assert!(why.contains("code owner of `pay.py`"), "{why}");
        assert!(!why.contains("approvals from"), "the count is met: {why}");
        let with_owner = op_with(&[("alice", "abc"), ("Carol", "abc")]);
        assert_eq!(
            Orchestrator::approval_status(&with_owner, &owned, &head),
            ApprovalStatus::Enough
        );
    }
}
