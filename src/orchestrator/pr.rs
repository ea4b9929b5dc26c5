//! From a validated patch to a merged PR: the validation worktree, branch, commit and PR, the
//! review request, and the merge once a person approved. Every forge write is keyed, so a
//! replay finds what an earlier run already did.

use super::artifacts::{
    self, ValidationReport, BASE, COMMIT, FIX, GATES, LOCALIZATION, PATCH, PLAN, PR,
};
use super::{OperationSpec, Orchestrator, OrchestratorError};
use crate::config::repo::RepoConfig;
use crate::fix::validate::{check_syntax, run_check, CheckOutcome, CheckRequest};
use crate::fix::Patch;
use crate::forge::{CommitSha, FileChange, GateCheck, NewPullRequest, PrNumber};
use crate::notify::NotificationKind;
use crate::operation::{Effect, OpState, Operation};
use serde::{de::DeserializeOwned, Serialize};
use std::future::Future;
use std::time::Duration;

impl Orchestrator {
    /// Runs `f` once per operation and key: a recorded result is returned as it is.
    /// A record that does not decode fails the operation: `f` runs only when none exists.
    pub(crate) async fn once<T, F, Fut>(
        &self,
        op: &Operation,
        effect: &Effect<T>,
        f: F,
    ) -> Result<T, OrchestratorError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<T, OrchestratorError>>,
    {
        if let Some(done) = op.effect(effect)? {
            return Ok(done);
        }
        let value = f(effect.key(&op.id)).await?;
        self.journal.effect(&op.id, effect, &value).await?;
        Ok(value)
    }

    /// The repository's `.github/healbot.yml`, from the shared cache.
    pub(crate) async fn repo_config(
        &self,
        spec: &OperationSpec,
    ) -> Result<std::sync::Arc<RepoConfig>, OrchestratorError> {
        match self.repo_configs.get(self.forge.as_ref(), &spec.repo).await {
            Ok(Some(config)) => Ok(config),
            Ok(None) => Err(OrchestratorError::stage(
                "config",
                format!("{} has no .github/healbot.yml", spec.repo.0),
            )),
            Err(super::repo_configs::ConfigLookupError::Forge(e)) => Err(e.into()),
            Err(e) => Err(OrchestratorError::stage_from("config", e)),
        }
    }

    /// Validates a fix of one or more files in a fresh copy of the base revision: every
    /// changed file re-parses, then the repository's check command passes.
    /// The policies for this operation's repository: the global set, tightened by the
    /// repository's `policy:` section (which can never loosen it).
    pub(crate) async fn policies_for(
        &self,
        spec: &OperationSpec,
    ) -> Result<std::sync::Arc<crate::config::PolicySet>, OrchestratorError> {
        let config = self.repo_config(spec).await?;
        match &config.policy {
            None => Ok(self.policies.clone()),
            Some(p) => p
                .apply_to(&self.policies)
                .map(std::sync::Arc::new)
                .map_err(|e| OrchestratorError::stage_in("config", ".github/healbot.yml", e)),
        }
    }

    pub(crate) async fn validate(
        &self,
        op: &Operation,
        spec: &OperationSpec,
        base_sha: &str,
        patches: &[Patch],
        deleted: &[String],
    ) -> Result<ValidationReport, OrchestratorError> {
        let patched = self.worktree(op, "patched");
        if patched.exists() {
            // An earlier candidate's files must not leak into this one's check.
            std::fs::remove_dir_all(&patched)
                .map_err(|e| OrchestratorError::stage_in("validate", patched.display(), e))?;
        }
        self.workspaces
            .export(&spec.repo, base_sha, &patched)
            .await?;
        let io = |path: &std::path::Path, e: std::io::Error| {
            OrchestratorError::stage_in("validate", path.display(), e)
        };
        for patch in patches {
            let target = patched.join(&patch.file);
            if deleted.contains(&patch.file) {
                if target.exists() {
                    std::fs::remove_file(&target).map_err(|e| io(&target, e))?;
                }
                continue;
            }
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
            }
            std::fs::write(&target, &patch.patched).map_err(|e| io(&target, e))?;
        }
        let mut parsed = Vec::new();
        for patch in patches.iter().filter(|p| !deleted.contains(&p.file)) {
            match reparse(&patch.file, &patch.patched) {
                Ok(true) => parsed.push(patch.file.clone()),
                Ok(false) => {}
                Err(e) => {
                    return Ok(ValidationReport {
                        passed: false,
                        syntax: e.clone(),
                        check: None,
                        summary: format!("patched file does not parse: {e}"),
                    })
                }
            }
        }
        let check = Some(self.repo_check(spec, &patched).await?);
        let passed = check.as_ref().is_none_or(|(_, c)| c.passed);
        let summary = match &check {
            Some((cmd, c)) if c.refused.is_some() => format!(
                "`{cmd}` did not run: {}",
                c.refused.as_deref().unwrap_or_default()
            ),
            Some((cmd, c)) if c.passed => {
                format!(
                    "re-parses; `{cmd}` passed in {:.1} s",
                    c.duration.as_secs_f64()
                )
            }
            Some((cmd, c)) if c.timed_out => format!("`{cmd}` timed out: {}", c.output_tail),
            Some((cmd, c)) => format!("`{cmd}` failed (exit {:?}): {}", c.exit_code, c.output_tail),
            None => "re-parses; no validation command configured".to_string(),
        };
        let check = check.map(|(_, c)| c);
        let syntax = if parsed.len() == patches.len().saturating_sub(deleted.len()) {
            "re-parses without errors".to_string()
        } else {
            format!(
                "re-parses without errors ({} of {} changed files have a parser)",
                parsed.len(),
                patches.len().saturating_sub(deleted.len())
            )
        };
        Ok(ValidationReport {
            passed,
            syntax,
            check,
            summary,
        })
    }

    /// Runs the repository's check command in `dir`: the command and what it did.
    pub(crate) async fn repo_check(
        &self,
        spec: &OperationSpec,
        dir: &std::path::Path,
    ) -> Result<(String, CheckOutcome), OrchestratorError> {
        let config = self.repo_config(spec).await?;
        let v = &config.validation;
        let request = CheckRequest {
            repo: Some(&spec.repo.0),
            ..CheckRequest::new(dir, &v.command, Duration::from_secs(v.timeout_seconds))
        };
        let outcome = run_check(&self.settings.sandbox, request).await;
        Ok((v.command.clone(), outcome))
    }

    pub(crate) async fn open_pull_request(&self, op: &Operation) -> Result<(), OrchestratorError> {
        let guard = self.ensure_lock(op).await?;
        let spec = Self::spec(op)?;
        let patch: Patch = op
            .artifact(&PATCH)?
            .ok_or_else(|| OrchestratorError::stage("pr", "no patch recorded"))?;
        // Every file of the chosen fix (a revert may touch several); an operation recorded
        // before fixes had kinds has the one patch.
        let chosen = op.artifact(&FIX)?.and_then(|s| s.chosen);
        let changes: Vec<FileChange> = match &chosen {
            Some(c) => c
                .patches
                .iter()
                .map(|p| FileChange {
                    path: p.file.clone(),
                    content: (!c.deleted.contains(&p.file)).then(|| p.patched.clone()),
                })
                .collect(),
            None => vec![FileChange {
                path: patch.file.clone(),
                content: Some(patch.patched.clone()),
            }],
        };
        let kind = chosen
            .as_ref()
            .map_or(crate::plan::FixKind::Template, |c| c.kind);
        let base_sha: String = op
            .artifact(&BASE)?
            .ok_or_else(|| OrchestratorError::stage("pr", "no base revision recorded"))?;
        let base_branch = self.forge.default_branch(&spec.repo).await?;
        let branch = format!("healbot/{}", crate::model::safe_id(&spec.incident.id.0));
        let (spec, patch, branch, changes) = (&spec, &patch, &branch, &changes);
        let chosen = &chosen;

        self.locks.validate(&guard).await?;
        self.once(op, &artifacts::BRANCH, |_| async {
            self.forge
                .create_branch(&spec.repo, branch, &CommitSha(base_sha.clone()))
                .await?;
            Ok(branch.clone())
        })
        .await?;
        let commit: CommitSha = self
            .once(op, &COMMIT, |key| async move {
                let message = match chosen.as_ref().and_then(|c| c.reverted.as_ref()) {
                    // What `git revert` writes, so tools that look for it find it.
                    Some(r) => format!(
                        "{}\n\n{}\n\nIncident: {}\nFix: revert",
                        r.message, spec.incident.title, spec.incident.id
                    ),
                    None => format!(
                        "fix({}): {}\n\n{}\n\nIncident: {}\nFix: {kind}\nTemplate: {}",
                        spec.incident.service,
                        patch.summary,
                        spec.incident.title,
                        spec.incident.id,
                        patch.template_id
                    ),
                };
                Ok(self
                    .forge
                    .commit(&spec.repo, branch, &message, changes, &key)
                    .await?)
            })
            .await?;
        let head = self
            .journal
            .store()
            .head()
            .await
            .map_err(crate::operation::JournalError::from)?;
        let fresh = self.journal.operation(&op.id).await?;
        // The faulty line; without a code location (a config fix for a slow service with no
        // trace), the setting the fix raises.
        let location = match fresh.artifact(&LOCALIZATION)? {
            Some(l) => l.candidates.into_iter().next().map(|c| (c.file, c.line)),
            None if kind == crate::plan::FixKind::Config => Some((patch.file.clone(), patch.line)),
            None => None,
        };
        let permalink = location.and_then(|(file, line)| {
            self.forge
                .permalink(&spec.repo, &CommitSha(base_sha.clone()), &file, line)
        });
        let need = self.approval_need(&fresh).await?;
        let body = super::report::pr_body(
            &fresh,
            spec,
            &CommitSha(base_sha.clone()),
            head,
            &self.graph.current(),
            permalink,
            &need.describe(&self.settings.canary_steps),
        )?;
        let plan: crate::plan::FixPlan = fresh
            .artifact(&PLAN)?
            .ok_or_else(|| OrchestratorError::stage("pr", "no plan recorded"))?;
        let pr: PrNumber = self
            .once(op, &PR, |_| async {
                let new = NewPullRequest {
                    title: format!(
                        "healbot {kind} fix: {} ({})",
                        chosen.as_ref().map_or(&patch.summary, |c| &c.summary),
                        spec.incident.id
                    ),
                    body,
                    head: branch.clone(),
                    base: base_branch.clone(),
                    labels: vec!["healbot".into(), format!("risk:{}", plan.risk.level)],
                };
                Ok(self.forge.open_pr(&spec.repo, &new).await?)
            })
            .await?;
        if let Some(gates) = fresh.artifact(&GATES)? {
            let passed = gates.verdict == crate::gates::GateVerdict::Pass;
            let check = GateCheck {
                title: if passed {
                    format!("All {} safety gates passed", gates.results.len())
                } else {
                    "Safety gates overridden by a person".to_string()
                },
                summary: gates.to_markdown_table(),
                passed,
            };
            let (check, commit) = (&check, &commit);
            self.once(op, &artifacts::GATES_CHECK, |_| async move {
                Ok(self.forge.publish_gates(&spec.repo, commit, check).await?)
            })
            .await?;
        }
        self.transition(
            op,
            OpState::PrOpen,
            &format!("PR {pr} opened from {branch} ({})", commit.short()),
        )
        .await
    }

    pub(crate) async fn request_review(&self, op: &Operation) -> Result<(), OrchestratorError> {
        let pr = Self::pr_of(op)?;
        if let Some(why) = self.deploy_repo_problem(op).await? {
            // Merging would ship a fix nobody can deploy: a person installs the App first.
            self.mirror(
                op,
                pr,
                "deploy-repo-not-installed",
                "deploy.repository_unreachable",
                serde_json::json!({ "reason": why }),
                &format!("This fix cannot be deployed yet: {why}."),
            )
            .await?;
            // Escalated is reached from review (the state machine has no PrOpen → Escalated);
            // `/heal retry` later runs this check again.
            self.transition(
                op,
                OpState::AwaitingReview,
                &format!("{pr} opened; its deploy repository is unreachable"),
            )
            .await?;
            return self.escalate(op, &why).await;
        }
        let need = self.approval_need(op).await?;
        let who = if need.approvals > 1 {
            format!(
                "It needs {} approvals from distinct people (review, or `/heal approve`; \
                 strategy {})",
                need.approvals, need.strategy
            )
        } else {
            "Approve it (review, or `/heal approve`)".to_string()
        };
        let text = format!(
            "The fix is ready for review. {who} to merge and start the rollout; \
             `/heal reject <reason>` closes it; `/heal help` lists every command."
        );
        let text = text.as_str();
        self.mirror(
            op,
            pr,
            "review-requested",
            "review.requested",
            serde_json::json!({}),
            text,
        )
        .await?;
        self.transition(
            op,
            OpState::AwaitingReview,
            &format!("waiting for review on {pr}"),
        )
        .await?;
        self.notify(
            op,
            NotificationKind::Info,
            "healbot opened a fix PR",
            &format!("review {pr}"),
        )
        .await;
        Ok(())
    }

    /// Merges the validated head (its checks passed, `required_checks.rs`) and moves the
    /// operation on; returns the merge commit.
    pub(crate) async fn merge(
        &self,
        op: &Operation,
        approver: &str,
    ) -> Result<CommitSha, OrchestratorError> {
        let spec = Self::spec(op)?;
        let pr = Self::pr_of(op)?;
        let guard = self.ensure_lock(op).await?;
        self.locks.validate(&guard).await?;
        let validated = Self::validated_head(op)?
            .ok_or_else(|| OrchestratorError::stage("merge", "no validated commit recorded"))?;
        let validated = &validated;
        let sha: CommitSha = self
            .once(op, &artifacts::MERGE, |_| async {
                Ok(self.forge.merge(&spec.repo, pr, validated).await?)
            })
            .await?;
        self.transition(
            op,
            OpState::Merged,
            &format!("{pr} approved by {approver}, merged as {}", sha.short()),
        )
        .await?;
        Ok(sha)
    }

    /// The commit an approval may merge: healbot's own fix commit, or the head it checked
    /// again after someone pushed (`approvers.on_push: revalidate`).
    pub(crate) fn validated_head(op: &Operation) -> Result<Option<CommitSha>, OrchestratorError> {
        match op.effect(&artifacts::REVALIDATED)? {
            Some(head) => Ok(Some(head)),
            None => Ok(op.effect(&COMMIT)?),
        }
    }

    /// Everyone but healbot who pushed to the fix branch: none of them may approve it.
    pub(crate) fn pushers(op: &Operation) -> Result<Vec<String>, OrchestratorError> {
        Ok(op.effect(&artifacts::PUSHERS)?.unwrap_or_default())
    }

    pub(crate) fn pr_of(op: &Operation) -> Result<PrNumber, OrchestratorError> {
        op.effect(&PR)?
            .ok_or_else(|| OrchestratorError::stage("pr", "no PR recorded"))
    }

    /// Records `action` in the audit log, then posts `text` on the PR with a footer naming
    /// that entry. `name` makes the comment idempotent: a hidden marker finds a comment an
    /// interrupted earlier run already posted.
    pub(crate) async fn mirror(
        &self,
        op: &Operation,
        pr: PrNumber,
        name: &str,
        action: &str,
        detail: serde_json::Value,
        text: &str,
    ) -> Result<u64, OrchestratorError> {
        let spec = Self::spec(op)?;
        self.once(op, &artifacts::comment(name), |key| async move {
            let marker = format!("<!-- healbot:{key} -->");
            let existing = self.forge.pull_request(&spec.repo, pr).await?;
            // Only healbot's own comments count: an outsider's copy of the marker must not
            // suppress the comment (and its audit entry).
            let own = self.forge.own_login().await?;
            if let Some(c) = existing
                .comments
                .iter()
                .find(|c| c.author == own && c.body.contains(&marker))
            {
                return Ok(c.id);
            }
            let entry = self
                .journal
                .note(&op.id, &self.settings.actor, action, detail)
                .await?;
            let footer = super::report::footer(&entry);
            Ok(self
                .forge
                .comment(&spec.repo, pr, &format!("{text}\n\n{footer}\n{marker}"))
                .await?)
        })
        .await
    }
}

/// Re-parses one changed file: `Ok(true)` when it parses, `Ok(false)` when no parser covers
/// its language (the check command is then the only judge), `Err` with the parse error.
fn reparse(file: &str, text: &str) -> Result<bool, String> {
    let yaml = [".yaml", ".yml"].iter().any(|e| file.ends_with(e));
    if yaml {
        return crate::gitops::yaml_edit::YamlDoc::parse(text, file)
            .map(|_| true)
            .map_err(|e| e.to_string());
    }
    match check_syntax(file, text) {
        Ok(()) => Ok(true),
        Err(crate::fix::ValidationError::Unsupported { .. }) => Ok(false),
        Err(e) => Err(e.to_string()),
    }
}
