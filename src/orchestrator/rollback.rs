//! Rolling back: the stable image back in the Rollout manifest at once, a revert PR of the fix,
//! and a person asked to take over. What is written comes from `verify::rollback`; each write
//! is an effect done once.

use super::{artifacts, Orchestrator, OrchestratorError};
use crate::fix::Patch;
use crate::forge::{CommitSha, FileChange, NewPullRequest, PrNumber};
use crate::notify::NotificationKind;
use crate::operation::{OpState, Operation};
use crate::verify::rollback::{restore, Rollback};
use serde_json::json;

impl Orchestrator {
    pub(crate) async fn roll_back(&self, op: &Operation) -> Result<(), OrchestratorError> {
        let spec = Self::spec(op)?;
        let plan = self.rollout_plan(op).await?;
        let reason = op
            .history
            .last()
            .map(|(_, _, r)| r.clone())
            .unwrap_or_default();
        // A person may have named the image to go back to (`healbot ops rollback --to`).
        let target: String = op
            .artifact(&artifacts::ROLLBACK_TARGET)?
            .unwrap_or_else(|| plan.stable_ref().to_string());
        let rollback = Rollback {
            incident: &spec.incident.id,
            service: &plan.service,
            reason: &reason,
            stable_tag: &target,
            manifest: &plan.manifest,
        };
        let Some(manifest_sha) = self
            .commit_manifest(
                op,
                &plan,
                &artifacts::ROLLBACK_MANIFEST,
                &target,
                0,
                &rollback.manifest_message(),
            )
            .await?
        else {
            // The rollback's step PR did not merge in time: a person has been asked.
            return Ok(());
        };
        let undo = self.undo_changes(op, &spec).await?;
        let base_branch = self.forge.default_branch(&spec.repo).await?;
        let branch = rollback.branch();
        let (spec, undo, branch) = (&spec, &undo, &branch);
        self.once(op, &artifacts::ROLLBACK_BRANCH, |_| async {
            let head = self.forge.branch_head(&spec.repo, &base_branch).await?;
            self.forge.create_branch(&spec.repo, branch, &head).await?;
            Ok(branch.clone())
        })
        .await?;
        self.once(op, &artifacts::ROLLBACK_COMMIT, |key| async move {
            let message = rollback.commit_message();
            Ok(self
                .forge
                .commit(&spec.repo, branch, &message, undo, &key)
                .await?)
        })
        .await
        .map(|_: CommitSha| ())?;
        let fix_pr = Self::pr_of(op)?;
        let revert: PrNumber = self
            .once(op, &artifacts::ROLLBACK_PR, |_| async {
                let pr = NewPullRequest {
                    title: rollback.pr_title(),
                    body: rollback.pr_body(fix_pr, &manifest_sha),
                    head: branch.clone(),
                    base: base_branch.clone(),
                    labels: vec!["healbot".into(), "revert".into()],
                };
                Ok(self.forge.open_pr(&spec.repo, &pr).await?)
            })
            .await?;
        self.mirror(
            op,
            fix_pr,
            "rolled-back",
            "deploy.rolled_back",
            json!({"manifest_commit": manifest_sha, "revert_pr": revert}),
            &rollback.comment(&manifest_sha, revert),
        )
        .await?;
        self.transition(
            op,
            OpState::RolledBack,
            &format!(
                "{} {target} restored; revert PR {revert}",
                if target == plan.stable_tag {
                    "stable"
                } else {
                    "revision"
                }
            ),
        )
        .await?;
        self.release_lock(op).await;
        self.notify(
            op,
            NotificationKind::Escalation,
            "healbot rolled back a fix",
            &format!("{reason}. Revert PR {revert} is open; please take over."),
        )
        .await;
        Ok(())
    }
}

impl Orchestrator {
    /// The file changes that take the fix back out: every patched file as it was, and every
    /// file the fix deleted as it was at the fix's base.
    async fn undo_changes(
        &self,
        op: &Operation,
        spec: &super::OperationSpec,
    ) -> Result<Vec<FileChange>, OrchestratorError> {
        let chosen = op.artifact(&artifacts::FIX)?.and_then(|s| s.chosen);
        let Some(chosen) = chosen else {
            let patch: Patch = op
                .artifact(&artifacts::PATCH)?
                .ok_or_else(|| OrchestratorError::stage("rollback", "no patch recorded"))?;
            return Ok(restore([(patch.file, patch.original)], []));
        };
        let patched = chosen.patches.into_iter().map(|p| (p.file, p.original));
        let mut deleted = Vec::new();
        if !chosen.deleted.is_empty() {
            let base: String = op
                .artifact(&artifacts::BASE)?
                .ok_or_else(|| OrchestratorError::stage("rollback", "no base recorded"))?;
            for path in chosen.deleted {
                let content = self.forge.read_file(&spec.repo, &base, &path).await?;
                deleted.push((path, content));
            }
        }
        Ok(restore(patched, deleted))
    }
}
