//! After merge: canary steps as commits to the service's Argo Rollout manifest, a statistical
//! judgement of canary against stable between steps, verification at 100%, and rollback (the
//! stable image back in Git at once, a revert PR of the fix, a person asked to take over).

use super::{Orchestrator, OrchestratorError};
use crate::coord::{OpState, Operation};
use crate::deploy::canary::{judge, CanaryReport, CanaryVerdict};
use crate::fix::Patch;
use crate::forge::{CommitSha, FileChange, NewPullRequest, PrNumber};
use crate::gitops::rollout::RolloutManifest;
use crate::notify::NotificationKind;
use crate::rca::rank::RcaReport;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Which manifest the canary moves and between which images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutPlan {
    pub manifest: String,
    pub stable_tag: String,
    pub canary_tag: String,
    pub service: String,
    /// Argo Rollouts runs the steps; healbot waits for its notifications.
    #[serde(default)]
    pub argo_managed: bool,
}

/// What verification at 100% measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub passed: bool,
    pub checks: Vec<(String, bool, String)>,
}

impl Orchestrator {
    async fn rollout_plan(&self, op: &Operation) -> Result<RolloutPlan, OrchestratorError> {
        let spec = Self::spec(op)?;
        self.stage_output(op, "rollout", || async {
            let rca: RcaReport = op
                .artifact("rca")
                .ok_or_else(|| OrchestratorError::stage("canary", "no RCA recorded"))?;
            let config = self.repo_config(&spec).await?;
            let argo_managed = config
                .service(&rca.root_cause)
                .is_some_and(|s| s.rollout == crate::config::repo::RolloutMode::Argo);
            let manifest = config
                .service(&rca.root_cause)
                .and_then(|s| s.manifests.first())
                .ok_or_else(|| {
                    OrchestratorError::stage(
                        "canary",
                        format!(
                            ".github/healbot.yml names no manifest for {}",
                            rca.root_cause
                        ),
                    )
                })?
                .to_string();
            let merged: CommitSha = op
                .effect(&format!("{}/merge", op.id))
                .ok_or_else(|| OrchestratorError::stage("canary", "no merge recorded"))?;
            let text = self.read_manifest(&spec.repo, &manifest).await?;
            let rollout = RolloutManifest::parse(&text, &manifest)
                .map_err(|e| OrchestratorError::stage("canary", e))?;
            let stable_tag = rollout
                .image_tag()
                .ok_or_else(|| {
                    OrchestratorError::stage("canary", format!("{manifest}: the image has no tag"))
                })?
                .to_string();
            Ok(RolloutPlan {
                manifest,
                stable_tag,
                canary_tag: merged.short().to_string(),
                service: rca.root_cause,
                argo_managed,
            })
        })
        .await
    }

    async fn read_manifest(
        &self,
        repo: &crate::forge::RepoRef,
        path: &str,
    ) -> Result<String, OrchestratorError> {
        let branch = self.forge.default_branch(repo).await?;
        self.forge
            .read_file(repo, &branch, path)
            .await?
            .ok_or_else(|| {
                OrchestratorError::stage("canary", format!("{path} not found on {branch}"))
            })
    }

    /// Commits the manifest with `tag` at `weight` percent, once per key.
    async fn commit_manifest(
        &self,
        op: &Operation,
        plan: &RolloutPlan,
        effect: &str,
        tag: &str,
        weight: u8,
        message: &str,
    ) -> Result<CommitSha, OrchestratorError> {
        let spec = Self::spec(op)?;
        let guard = self.ensure_lock(op).await?;
        self.once(op, effect, |key| async move {
            // Fencing: a holder whose lock lapsed must not move production.
            self.locks.validate(&guard).await?;
            let text = self.read_manifest(&spec.repo, &plan.manifest).await?;
            let updated = RolloutManifest::parse(&text, &plan.manifest)
                .and_then(|m| m.with_image_and_weight(tag, u32::from(weight)))
                .map_err(|e| OrchestratorError::stage("canary", e))?;
            let branch = self.forge.default_branch(&spec.repo).await?;
            let change = FileChange {
                path: plan.manifest.clone(),
                content: Some(updated),
            };
            Ok(self
                .forge
                .commit(&spec.repo, &branch, message, &[change], &key)
                .await?)
        })
        .await
    }

    /// Whether Argo Rollouts runs this operation's steps (healbot then waits in `Deploying`).
    pub(crate) fn argo_managed(op: &Operation) -> bool {
        op.artifact::<RolloutPlan>("rollout")
            .is_some_and(|p| p.argo_managed)
    }

    pub(crate) async fn start_canary(&self, op: &Operation) -> Result<(), OrchestratorError> {
        let plan = self.rollout_plan(op).await?;
        if plan.argo_managed {
            return self.hand_to_argo(op, &plan).await;
        }
        let first = *self
            .settings
            .canary_steps
            .first()
            .ok_or_else(|| OrchestratorError::stage("canary", "no canary steps configured"))?;
        self.step_to(op, first).await
    }

    async fn step_to(&self, op: &Operation, weight: u8) -> Result<(), OrchestratorError> {
        let plan = self.rollout_plan(op).await?;
        let sha = self
            .commit_manifest(
                op,
                &plan,
                &format!("canary/{weight}"),
                &plan.canary_tag,
                weight,
                &format!(
                    "deploy({}): canary {} at {weight}%",
                    plan.service, plan.canary_tag
                ),
            )
            .await?;
        let pr = Self::pr_of(op)?;
        self.mirror(
            op,
            pr,
            &format!("canary-{weight}"),
            "canary.step",
            json!({"weight": weight, "commit": sha, "image_tag": plan.canary_tag}),
            &format!(
                "Canary step: `{}` now takes {weight}% of traffic (commit {}).",
                plan.canary_tag,
                sha.short()
            ),
        )
        .await?;
        self.transition(
            op,
            OpState::Deploying(weight),
            &format!("canary {} at {weight}% ({})", plan.canary_tag, sha.short()),
        )
        .await
    }

    pub(crate) async fn judge_step(
        &self,
        op: &Operation,
        weight: u8,
    ) -> Result<(), OrchestratorError> {
        if weight >= 100 {
            // At 100% the canary is the stable: nothing is left to compare it with, so the
            // judgement from here on is verification against the SLO.
            return self
                .transition(op, OpState::Verifying, "promoted to 100%; verifying")
                .await;
        }
        let plan = self.rollout_plan(op).await?;
        let report: CanaryReport = self
            .stage_output(op, &format!("canary/{weight}"), || async {
                tokio::time::sleep(self.settings.canary_wait).await;
                let seen = self.metrics.canary_samples(&plan.service).await?;
                Ok(judge(&seen.baseline, &seen.canary, &self.policies.canary))
            })
            .await?;
        let pr = Self::pr_of(op)?;
        self.mirror(
            op,
            pr,
            &format!("verdict-{weight}"),
            "canary.judged",
            json!({"weight": weight, "score": report.score, "verdict": report.verdict}),
            &super::report::canary_comment(weight, &report),
        )
        .await?;
        match report.verdict {
            CanaryVerdict::Pass => {
                let next = self
                    .settings
                    .canary_steps
                    .iter()
                    .copied()
                    .find(|w| *w > weight);
                match next {
                    Some(next) => self.step_to(op, next).await,
                    None => {
                        self.transition(op, OpState::Verifying, "canary passed at every step")
                            .await
                    }
                }
            }
            CanaryVerdict::Fail => {
                self.transition(
                    op,
                    OpState::RollingBack,
                    &format!("canary failed at {weight}%: {}", report.reason),
                )
                .await
            }
            CanaryVerdict::Marginal | CanaryVerdict::Inconclusive => {
                let why = format!(
                    "canary {:?} at {weight}% (score {:.0}): {}",
                    report.verdict, report.score, report.reason
                );
                self.transition(op, OpState::PausedForHumanReview, &why)
                    .await?;
                self.notify(
                    op,
                    NotificationKind::Escalation,
                    "healbot canary needs a person",
                    &format!("{why}. `/heal promote` to go on, `/heal rollback` to roll back."),
                )
                .await;
                Ok(())
            }
        }
    }

    pub(crate) async fn verify(&self, op: &Operation) -> Result<(), OrchestratorError> {
        let plan = self.rollout_plan(op).await?;
        let verification: Verification = self
            .stage_output(op, "verification", || async {
                let health = self.metrics.health().await?;
                let slo = self.policies.gates.error_budget.slo_error_rate;
                let p99_limit = self
                    .policies
                    .detection
                    .rules_for(crate::config::detection::DetectedMetric::LatencyP99Ms)
                    .map(|r| r.above)
                    .fold(f64::INFINITY, f64::min);
                let mut checks = Vec::new();
                match health.iter().find(|h| h.service == plan.service) {
                    Some(h) => {
                        checks.push((
                            "error rate under SLO".to_string(),
                            h.error_rate <= slo,
                            format!("{:.2}% (SLO {:.2}%)", h.error_rate * 100.0, slo * 100.0),
                        ));
                        checks.push((
                            "latency p99".to_string(),
                            h.latency_p99_ms <= p99_limit,
                            format!("{:.2} ms (limit {p99_limit} ms)", h.latency_p99_ms),
                        ));
                        checks.push((
                            "health check".to_string(),
                            h.requests > 0,
                            format!("{} requests served", h.requests),
                        ));
                    }
                    None => checks.push((
                        "health check".to_string(),
                        false,
                        format!("no readings for {}", plan.service),
                    )),
                }
                if let Some(url) = self.health_url(op, &plan.service).await? {
                    checks.push(http_health(&url).await);
                }
                for dep in self.graph.current().dependencies(&plan.service) {
                    if let Some(h) = health.iter().find(|h| h.service == dep) {
                        checks.push((
                            format!("dependency {dep}"),
                            h.error_rate <= slo,
                            format!("{:.2}% errors", h.error_rate * 100.0),
                        ));
                    }
                }
                Ok(Verification {
                    passed: checks.iter().all(|c| c.1),
                    checks,
                })
            })
            .await?;
        let pr = Self::pr_of(op)?;
        let lines: Vec<String> = verification
            .checks
            .iter()
            .map(|(name, ok, observed)| {
                format!("- {} {name}: {observed}", if *ok { "✅" } else { "❌" })
            })
            .collect();
        self.mirror(
            op,
            pr,
            "verification",
            "deploy.verified",
            json!({"passed": verification.passed}),
            &format!("Verification at 100%:\n{}", lines.join("\n")),
        )
        .await?;
        if !verification.passed {
            return self
                .transition(op, OpState::RollingBack, "verification at 100% failed")
                .await;
        }
        self.transition(
            op,
            OpState::Completed,
            "verified at 100%; incident resolved",
        )
        .await?;
        self.release_lock(op).await;
        self.notify(
            op,
            NotificationKind::Resolved,
            "healbot resolved the incident",
            &format!("{} verified at 100%", plan.canary_tag),
        )
        .await;
        Ok(())
    }

    pub(crate) async fn roll_back(&self, op: &Operation) -> Result<(), OrchestratorError> {
        let spec = Self::spec(op)?;
        let plan = self.rollout_plan(op).await?;
        let reason = op
            .history
            .last()
            .map(|(_, _, r)| r.clone())
            .unwrap_or_default();
        let manifest_sha = self
            .commit_manifest(
                op,
                &plan,
                "rollback/manifest",
                &plan.stable_tag,
                0,
                &format!(
                    "rollback({}): back to {} — {reason}",
                    plan.service, plan.stable_tag
                ),
            )
            .await?;
        let undo = self.undo_changes(op, &spec).await?;
        let base_branch = self.forge.default_branch(&spec.repo).await?;
        let branch = format!("healbot/revert-{}", spec.incident.id);
        let (spec, undo, branch, reason, plan) = (&spec, &undo, &branch, &reason, &plan);
        self.once(op, "rollback/branch", |_| async {
            let head = self.forge.branch_head(&spec.repo, &base_branch).await?;
            self.forge.create_branch(&spec.repo, branch, &head).await?;
            Ok(branch.clone())
        })
        .await?;
        self.once(op, "rollback/commit", |key| async move {
            let message = format!(
                "Revert healbot fix for {}\n\nThe canary rejected it: {reason}",
                spec.incident.id
            );
            Ok(self
                .forge
                .commit(&spec.repo, branch, &message, undo, &key)
                .await?)
        })
        .await
        .map(|_: CommitSha| ())?;
        let fix_pr = Self::pr_of(op)?;
        let revert: PrNumber = self
            .once(op, "rollback/pr", |_| async {
                let pr = NewPullRequest {
                    title: format!("Revert healbot fix for {}", spec.incident.id),
                    body: format!(
                        "healbot rolled back {fix_pr}: {reason}.\n\nThe stable image `{}` is back in `{}` \
                         (commit {}). This PR reverts the code change; a person takes over from here.",
                        plan.stable_tag,
                        plan.manifest,
                        manifest_sha.short()
                    ),
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
            &format!(
                "Rolled back: `{}` is stable again (commit {}). Revert PR: {revert}. A person takes over.",
                plan.stable_tag,
                manifest_sha.short()
            ),
        )
        .await?;
        self.transition(
            op,
            OpState::RolledBack,
            &format!("stable {} restored; revert PR {revert}", plan.stable_tag),
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
        let chosen = op
            .artifact::<super::analyze::FixSelection>("fix")
            .and_then(|s| s.chosen);
        let Some(chosen) = chosen else {
            let patch: Patch = op
                .artifact("patch")
                .ok_or_else(|| OrchestratorError::stage("rollback", "no patch recorded"))?;
            return Ok(vec![FileChange {
                path: patch.file,
                content: Some(patch.original),
            }]);
        };
        let mut changes: Vec<FileChange> = chosen
            .patches
            .into_iter()
            .map(|p| FileChange {
                path: p.file,
                content: Some(p.original),
            })
            .collect();
        if !chosen.deleted.is_empty() {
            let base: String = op
                .artifact("base")
                .ok_or_else(|| OrchestratorError::stage("rollback", "no base recorded"))?;
            for path in chosen.deleted {
                let content = self.forge.read_file(&spec.repo, &base, &path).await?;
                changes.push(FileChange { path, content });
            }
        }
        Ok(changes)
    }
}

impl Orchestrator {
    /// The service's `health_url` from the repository config, if it names one.
    async fn health_url(
        &self,
        op: &Operation,
        service: &str,
    ) -> Result<Option<String>, OrchestratorError> {
        let spec = Self::spec(op)?;
        let config = self.repo_config(&spec).await?;
        Ok(config.service(service).and_then(|s| s.health_url.clone()))
    }
}

/// GET `url`: healthy on a 2xx within five seconds.
async fn http_health(url: &str) -> (String, bool, String) {
    let name = "HTTP health check".to_string();
    let client = match reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
    {
        Ok(c) => c,
        Err(e) => return (name, false, format!("no HTTP client: {e}")),
    };
    match client.get(url).send().await {
        Ok(resp) => {
            let status = resp.status();
            (
                name,
                status.is_success(),
                format!("GET {url} → {}", status.as_u16()),
            )
        }
        Err(e) => (name, false, format!("GET {url} failed: {e}")),
    }
}

impl Orchestrator {
    /// Argo-managed: the new image goes into the Rollout (its weights untouched), and Argo runs
    /// the strategy's steps; healbot follows its notifications until it completes or aborts.
    async fn hand_to_argo(
        &self,
        op: &Operation,
        plan: &RolloutPlan,
    ) -> Result<(), OrchestratorError> {
        let spec = Self::spec(op)?;
        let guard = self.ensure_lock(op).await?;
        let sha: CommitSha = self
            .once(op, "argo/image", |key| async move {
                self.locks.validate(&guard).await?;
                let text = self.read_manifest(&spec.repo, &plan.manifest).await?;
                let updated = RolloutManifest::parse(&text, &plan.manifest)
                    .and_then(|m| m.with_image_tag(&plan.canary_tag))
                    .map_err(|e| OrchestratorError::stage("canary", e))?;
                let branch = self.forge.default_branch(&spec.repo).await?;
                let change = FileChange {
                    path: plan.manifest.clone(),
                    content: Some(updated),
                };
                let message = format!(
                    "deploy({}): {} (Argo Rollouts runs the canary steps)",
                    plan.service, plan.canary_tag
                );
                Ok(self
                    .forge
                    .commit(&spec.repo, &branch, &message, &[change], &key)
                    .await?)
            })
            .await?;
        let pr = Self::pr_of(op)?;
        self.mirror(
            op,
            pr,
            "argo-handover",
            "canary.handed_to_argo",
            json!({"commit": sha, "image_tag": plan.canary_tag}),
            &format!(
                "Deploying `{}` (commit {}): Argo Rollouts runs the canary steps of `{}`; \
                 healbot follows its notifications, verifies at 100% and rolls back on an abort.",
                plan.canary_tag,
                sha.short(),
                plan.manifest
            ),
        )
        .await?;
        self.transition(
            op,
            OpState::Deploying(0),
            &format!(
                "{} handed to Argo Rollouts ({})",
                plan.canary_tag,
                sha.short()
            ),
        )
        .await
    }
}
