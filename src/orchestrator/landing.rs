//! How a manifest commit (a canary step, the Argo hand-over, a rollback) lands on the branch
//! Argo watches. healbot reads the branch's rules first: where the App may push, the commit goes
//! straight onto the branch; where the branch is protected (a PR is required, checks must pass,
//! or the rules cannot be read), the commit goes onto a `healbot/step-…` branch, a step PR is
//! opened, and healbot merges it once its required checks pass. Each part (the route, branch,
//! commit, PR and the merge) is an effect done once, so a replica that restarts finds the step
//! PR it opened instead of opening a second. A step PR that has not merged within
//! `step_merge_timeout_seconds` stops the operation for a person; it never waits silently.

use super::artifacts::{Landing, RolloutPlan, StepPr};
use super::{artifacts, Orchestrator, OrchestratorError};
use crate::forge::checks::{verdict, ChecksVerdict, SAFETY_GATES_CHECK};
use crate::forge::{CommitSha, FileChange, ForgeError, NewPullRequest, PrState, RepoRef};
use crate::notify::NotificationKind;
use crate::operation::{Effect, OpState, Operation};
use serde_json::json;
use std::time::Duration;

/// What to write: the manifest's new text from its current text.
pub(super) type Edit<'a> = &'a (dyn Fn(&str) -> Result<String, OrchestratorError> + Sync);

impl Orchestrator {
    /// Lands `edit` of the plan's manifest with `message`, once per `effect`; returns the
    /// commit now on the branch (the step PR's merge commit on a protected branch). `None`: the
    /// step PR did not merge in time, and the operation now waits for a person.
    pub(super) async fn land_manifest(
        &self,
        op: &Operation,
        plan: &RolloutPlan,
        effect: &Effect<CommitSha>,
        message: &str,
        edit: Edit<'_>,
    ) -> Result<Option<CommitSha>, OrchestratorError> {
        if let Some(done) = op.effect(effect)? {
            return Ok(Some(done));
        }
        let spec = Self::spec(op)?;
        let guard = self.ensure_lock(op).await?;
        // Fencing: a holder whose lock lapsed must not move production.
        self.locks.validate(&guard).await?;
        let (repo, branch) = self.manifest_home(&spec.repo, plan).await?;
        let (repo, branch) = (&repo, &branch);
        let route = self
            .once(op, &artifacts::step_route(effect.name()), |_| async {
                let rules = self.forge.branch_rules(repo, branch).await?;
                Ok(if rules.allows_direct_commit() {
                    Landing::Direct
                } else {
                    Landing::PullRequest {
                        required_checks: rules.required_checks,
                        required_approvals: rules.required_approvals,
                        rules_unknown: rules.unknown,
                    }
                })
            })
            .await?;
        match route {
            Landing::Direct => {
                let sha = self
                    .once(op, effect, |key| async move {
                        let text = self.read_manifest(repo, branch, &plan.manifest).await?;
                        let change = FileChange {
                            path: plan.manifest.clone(),
                            content: Some(edit(&text)?),
                        };
                        Ok(self
                            .forge
                            .commit(repo, branch, message, &[change], &key)
                            .await?)
                    })
                    .await?;
                Ok(Some(sha))
            }
            Landing::PullRequest {
                required_checks, ..
            } => {
                self.land_by_pr(
                    op,
                    plan,
                    effect,
                    message,
                    edit,
                    (repo, branch),
                    &required_checks,
                )
                .await
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn land_by_pr(
        &self,
        op: &Operation,
        plan: &RolloutPlan,
        effect: &Effect<CommitSha>,
        message: &str,
        edit: Edit<'_>,
        (repo, base): (&RepoRef, &String),
        required: &[String],
    ) -> Result<Option<CommitSha>, OrchestratorError> {
        let name = effect.name();
        let step_branch = format!(
            "healbot/step-{}-{}",
            crate::model::safe_id(&op.id.0),
            crate::model::safe_id(&name.replace('/', "-"))
        );
        let step_branch = &step_branch;
        self.once(op, &artifacts::step_branch(name), |_| async {
            let head = self.forge.branch_head(repo, base).await?;
            self.forge.create_branch(repo, step_branch, &head).await?;
            Ok(step_branch.clone())
        })
        .await?;
        let commit: CommitSha = self
            .once(op, &artifacts::step_commit(name), |key| async move {
                let text = self
                    .read_manifest(repo, step_branch, &plan.manifest)
                    .await?;
                let change = FileChange {
                    path: plan.manifest.clone(),
                    content: Some(edit(&text)?),
                };
                Ok(self
                    .forge
                    .commit(repo, step_branch, message, &[change], &key)
                    .await?)
            })
            .await?;
        let fix_pr = Self::pr_of(op).ok();
        let spec = Self::spec(op)?;
        let step: StepPr = self
            .once(op, &artifacts::step_pr(name), |_| async {
                let title = message.lines().next().unwrap_or(message).to_string();
                let body = format!(
                    "healbot moves `{}` of `{}` through a pull request because `{base}` is \
                     protected. It merges this PR itself once its required checks pass{}.\n\n\
                     Operation `{}`{}.",
                    plan.manifest,
                    plan.service,
                    if required.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", required.join(", "))
                    },
                    op.id,
                    fix_pr
                        .map(|p| format!(", fix PR {}{p}", spec.repo.0))
                        .unwrap_or_default()
                );
                let new = NewPullRequest {
                    title,
                    body,
                    head: step_branch.clone(),
                    base: base.clone(),
                    labels: vec!["healbot".into(), "healbot-step".into()],
                };
                let number = self.forge.open_pr(repo, &new).await?;
                Ok(StepPr {
                    number,
                    branch: step_branch.clone(),
                    opened_at: self.clock.now(),
                })
            })
            .await?;
        if let Some(pr) = fix_pr {
            self.mirror(
                op,
                pr,
                &format!("step-pr-{}", name.replace('/', "-")),
                "deploy.step_pr_opened",
                json!({"repo": repo, "pr": step.number, "commit": commit, "required_checks": required}),
                &format!(
                    "`{base}` of {} is protected, so this step goes through {}{}: healbot merges \
                     it once its required checks pass{}.",
                    repo.0,
                    repo.0,
                    step.number,
                    if required.is_empty() {
                        String::new()
                    } else {
                        format!(" (`{}`)", required.join("`, `"))
                    }
                ),
            )
            .await?;
        }
        self.wait_and_merge(op, effect, repo, &step, required).await
    }

    /// Polls the step PR until it merged (by healbot once green, or by a person), or until
    /// the timeout, counted from when it was opened or the operation last resumed.
    async fn wait_and_merge(
        &self,
        op: &Operation,
        effect: &Effect<CommitSha>,
        repo: &RepoRef,
        step: &StepPr,
        required: &[String],
    ) -> Result<Option<CommitSha>, OrchestratorError> {
        let timeout = self.policies.escalation.step_merge_timeout();
        let every = (timeout / 30).clamp(Duration::from_millis(200), Duration::from_secs(15));
        let resumed = op
            .history
            .last()
            .and_then(|(seq, _, _)| op.history_at.get(seq).copied());
        let since = resumed.map_or(step.opened_at, |r| r.max(step.opened_at));
        let mut last;
        loop {
            let pull = self.forge.pull_request(repo, step.number).await?;
            match pull.state {
                PrState::Merged => {
                    let sha = pull.merge_sha.ok_or_else(|| {
                        OrchestratorError::stage(
                            "deploy",
                            format!("{} has no merge commit", step.number),
                        )
                    })?;
                    self.journal.effect(&op.id, effect, &sha).await?;
                    return Ok(Some(sha));
                }
                PrState::Closed => {
                    last = format!("{} in {} was closed without merging", step.number, repo.0);
                }
                PrState::Open => {
                    let checks = self.forge.commit_checks(repo, &pull.head_sha).await?;
                    match verdict(required, &checks, &[SAFETY_GATES_CHECK]) {
                        ChecksVerdict::Passed => {
                            match self.forge.merge(repo, step.number, &pull.head_sha).await {
                                Ok(sha) => {
                                    self.journal.effect(&op.id, effect, &sha).await?;
                                    return Ok(Some(sha));
                                }
                                // The branch asks for more than checks (a review): a person.
                                Err(ForgeError::Conflict(why)) => last = why,
                                Err(e) => return Err(e.into()),
                            }
                        }
                        ChecksVerdict::Pending { waiting } => {
                            last = format!("waiting for {}", waiting.join(", "))
                        }
                        ChecksVerdict::Failed { failed } => {
                            let names: Vec<_> = failed.iter().map(|c| c.name.as_str()).collect();
                            last = format!("failing: {}", names.join(", "))
                        }
                    }
                }
            }
            let waited = (self.clock.now() - since).to_std().unwrap_or_default();
            if waited >= timeout || pull.state == PrState::Closed {
                break;
            }
            tokio::time::sleep(every.min(timeout - waited)).await;
        }
        self.step_did_not_land(op, repo, step, &last, timeout)
            .await?;
        Ok(None)
    }

    /// The step PR did not merge in time: the fix PR says why, and a person is asked.
    async fn step_did_not_land(
        &self,
        op: &Operation,
        repo: &RepoRef,
        step: &StepPr,
        last: &str,
        timeout: Duration,
    ) -> Result<(), OrchestratorError> {
        let why = format!(
            "step PR {}{} did not merge within {} s ({last})",
            repo.0,
            step.number,
            timeout.as_secs()
        );
        let rolling_back = op.state == OpState::RollingBack;
        if let Ok(pr) = Self::pr_of(op) {
            let next = if rolling_back {
                "Merge it by hand to restore the stable image, or `/heal rollback` to try again."
            } else {
                "Once it can merge, `/heal resume` carries on; `/heal rollback` rolls back."
            };
            self.mirror(
                op,
                pr,
                &format!("step-stalled-{}", op.last_seq),
                "deploy.step_pr_timed_out",
                json!({"repo": repo, "pr": step.number, "timeout_seconds": timeout.as_secs(), "last": last}),
                &format!("The deploy step is stuck: {why}. {next}"),
            )
            .await?;
        }
        let to = if rolling_back {
            OpState::Escalated
        } else {
            OpState::PausedForHumanReview
        };
        self.transition(op, to, &why).await?;
        self.notify(
            op,
            NotificationKind::Escalation,
            "healbot: a deploy step PR did not merge",
            &why,
        )
        .await;
        Ok(())
    }
}
