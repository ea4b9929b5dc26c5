//! After merge: the canary's steps as commits to the service's Argo Rollout manifest, and the
//! judge's verdict between them (`canary::progression` says what follows a verdict). With
//! `rollout: argo`, Argo Rollouts runs the steps instead; healbot commits only the image and
//! follows Argo's notifications (`argo_mode.rs`).

use super::artifacts::{self, default_namespace, BlueGreenServices, RolloutPlan};
use super::{Orchestrator, OrchestratorError};
use crate::canary::progression::{self, Next};
use crate::canary::{judge, CanaryReport};
use crate::forge::{CommitSha, RepoRef};
use crate::gitops::image::{ImageRef, ImageTemplate};
use crate::gitops::rollout::RolloutManifest;
use crate::gitops::BlueGreenRollout;
use crate::notify::NotificationKind;
use crate::operation::{Effect, OpState, Operation};
use crate::rca::rank::RcaReport;
use serde_json::json;

impl RolloutPlan {
    /// What a canary step writes as the image: the whole templated reference, or the tag.
    pub(crate) fn canary_ref(&self) -> &str {
        self.canary_image.as_deref().unwrap_or(&self.canary_tag)
    }

    /// What a rollback writes as the image.
    pub(crate) fn stable_ref(&self) -> &str {
        self.stable_image.as_deref().unwrap_or(&self.stable_tag)
    }
}

impl Orchestrator {
    pub(super) async fn rollout_plan(
        &self,
        op: &Operation,
    ) -> Result<RolloutPlan, OrchestratorError> {
        let spec = Self::spec(op)?;
        self.stage_output(op, &artifacts::ROLLOUT, || async {
            let rca: RcaReport = op
                .artifact(&artifacts::RCA)?
                .ok_or_else(|| OrchestratorError::stage("canary", "no RCA recorded"))?;
            let config = self.repo_config(&spec).await?;
            let argo_managed = config
                .service(&rca.root_cause)
                .is_some_and(|s| s.rollout.mode() == crate::config::repo::RolloutMode::Argo);
            let target = config
                .service(&rca.root_cause)
                .and_then(|s| s.rollout.target())
                .cloned();
            let manifest = target
                .as_ref()
                .map(|t| &t.path)
                .or_else(|| {
                    config
                        .service(&rca.root_cause)
                        .and_then(|s| s.manifests.first())
                })
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
                .effect(&artifacts::MERGE)?
                .ok_or_else(|| OrchestratorError::stage("canary", "no merge recorded"))?;
            let manifest_repo = target.as_ref().map(|t| RepoRef(t.repo.clone()));
            let manifest_branch = target.and_then(|t| t.branch);
            let home = manifest_repo.as_ref().unwrap_or(&spec.repo);
            self.check_installed(home, &spec.repo).await?;
            let branch = match &manifest_branch {
                Some(b) => b.clone(),
                None => self.forge.default_branch(home).await?,
            };
            let text = self.read_manifest(home, &branch, &manifest).await?;
            let (rollout, blue_green) = read_rollout(&text, &manifest)?;
            let stable_tag = rollout
                .tag
                .ok_or_else(|| {
                    OrchestratorError::stage("canary", format!("{manifest}: the image has no tag"))
                })?
                .to_string();
            let namespace = config
                .service(&rca.root_cause)
                .and_then(|s| s.namespace.clone())
                .or_else(|| rollout.namespace.clone())
                .unwrap_or_else(default_namespace);
            let template = config
                .service(&rca.root_cause)
                .and_then(|s| s.image.as_deref())
                .map(ImageTemplate::parse)
                .transpose()
                .map_err(|e| OrchestratorError::stage("canary", e))?;
            let (canary_tag, canary_image, stable_image) = match template {
                Some(t) => {
                    let reference = t.reference(&merged.0);
                    let image = ImageRef::parse(&reference)
                        .map_err(|e| OrchestratorError::stage("canary", e))?;
                    (image.tag, Some(reference), Some(rollout.image.clone()))
                }
                None => (merged.short().to_string(), None, None),
            };
            Ok(RolloutPlan {
                manifest,
                stable_tag,
                canary_tag,
                service: rca.root_cause,
                argo_managed,
                namespace,
                manifest_repo,
                manifest_branch,
                canary_image,
                stable_image,
                blue_green,
            })
        })
        .await
    }

    pub(super) async fn read_manifest(
        &self,
        repo: &RepoRef,
        branch: &str,
        path: &str,
    ) -> Result<String, OrchestratorError> {
        self.forge
            .read_file(repo, branch, path)
            .await?
            .ok_or_else(|| {
                OrchestratorError::stage(
                    "canary",
                    format!("{path} not found on {branch} of {}", repo.0),
                )
            })
    }

    /// The repository and branch `plan`'s manifest is read from and committed to.
    pub(super) async fn manifest_home(
        &self,
        own: &RepoRef,
        plan: &RolloutPlan,
    ) -> Result<(RepoRef, String), OrchestratorError> {
        let repo = plan.manifest_repo.clone().unwrap_or_else(|| own.clone());
        let branch = match &plan.manifest_branch {
            Some(b) => b.clone(),
            None => self.forge.default_branch(&repo).await?,
        };
        Ok((repo, branch))
    }

    /// Lands the manifest with `tag` at `weight` percent, once per key (`landing.rs`): the
    /// commit now on the branch, or `None` when a step PR did not merge in time.
    pub(super) async fn commit_manifest(
        &self,
        op: &Operation,
        plan: &RolloutPlan,
        effect: &Effect<CommitSha>,
        tag: &str,
        weight: u8,
        message: &str,
    ) -> Result<Option<CommitSha>, OrchestratorError> {
        let edit = |text: &str| {
            match &plan.blue_green {
                // 0: the preview (or, with the stable image, the abort); 100: the promotion.
                Some(_) => BlueGreenRollout::parse(text, &plan.manifest).and_then(|m| {
                    if weight >= 100 {
                        m.promote(tag)
                    } else {
                        m.preview(tag)
                    }
                }),
                None => RolloutManifest::parse(text, &plan.manifest)
                    .and_then(|m| m.with_canary_step(tag, u32::from(weight))),
            }
            .map_err(|e| OrchestratorError::stage_from("canary", e))
        };
        self.land_manifest(op, plan, effect, message, &edit).await
    }

    /// Whether Argo Rollouts runs this operation's steps (healbot then waits in `Deploying`).
    pub(crate) fn argo_managed(op: &Operation) -> Result<bool, OrchestratorError> {
        Ok(op
            .artifact(&artifacts::ROLLOUT)?
            .is_some_and(|p| p.argo_managed))
    }

    pub(crate) async fn start_canary(&self, op: &Operation) -> Result<(), OrchestratorError> {
        let plan = self.rollout_plan(op).await?;
        if !self.image_is_ready(op, &plan).await? {
            return Ok(());
        }
        if plan.argo_managed {
            return self.hand_to_argo(op, &plan).await;
        }
        let steps = self.steps_for(op, &plan)?;
        let first = progression::first_step(&steps)
            .ok_or_else(|| OrchestratorError::stage("canary", "no canary steps configured"))?;
        self.step_to(op, first).await
    }

    /// The weights this operation's rollout goes through: DIRECT goes to 100% in one step
    /// (verification still judges it there); CANARY and MANUAL_REVIEW take the canary steps.
    fn steps_for(&self, op: &Operation, plan: &RolloutPlan) -> Result<Vec<u8>, OrchestratorError> {
        if plan.blue_green.is_some() {
            // Blue-green has no partial traffic: the preview is judged, then promoted.
            return Ok(vec![0, 100]);
        }
        let strategy = op.artifact(&artifacts::PLAN)?.map(|p| p.decision.strategy);
        Ok(match strategy {
            Some(crate::plan::Strategy::Direct) => vec![100],
            _ => self.settings.canary_steps.clone(),
        })
    }

    async fn step_to(&self, op: &Operation, weight: u8) -> Result<(), OrchestratorError> {
        let plan = self.rollout_plan(op).await?;
        let Some(sha) = self
            .commit_manifest(
                op,
                &plan,
                &artifacts::canary_commit(weight),
                plan.canary_ref(),
                weight,
                &format!(
                    "deploy({}): canary {} at {weight}%",
                    plan.service, plan.canary_tag
                ),
            )
            .await?
        else {
            return Ok(());
        };
        let pr = Self::pr_of(op)?;
        self.mirror(
            op,
            pr,
            &format!("canary-{weight}"),
            "canary.step",
            json!({"weight": weight, "commit": sha, "image_tag": plan.canary_tag}),
            &step_text(&plan, weight, &sha),
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
        if !progression::is_judged(weight) {
            return self
                .transition(op, OpState::Verifying, "promoted to 100%; verifying")
                .await;
        }
        let plan = self.rollout_plan(op).await?;
        // A step a person resumed has a `null` verdict: it is judged again on fresh samples.
        let key = artifacts::canary_verdict(weight);
        let report: CanaryReport = match op.artifact(&key)?.flatten() {
            Some(report) => report,
            None => {
                tokio::time::sleep(self.settings.canary_wait).await;
                let seen = self.metrics.canary_samples(&plan.service).await?;
                let report = judge(&seen.baseline, &seen.canary, &self.policies.canary);
                self.journal
                    .artifact(&op.id, &key, &Some(report.clone()))
                    .await?;
                report
            }
        };
        let pr = Self::pr_of(op)?;
        self.mirror(
            op,
            pr,
            &format!("verdict-{weight}"),
            "canary.judged",
            json!({"weight": weight, "score": report.score, "verdict": report.verdict}),
            &super::report::canary_comment(
                &match plan.blue_green {
                    Some(_) => "Blue-green preview".to_string(),
                    None => format!("Canary at {weight}%"),
                },
                &report,
            ),
        )
        .await?;
        match progression::after(&self.steps_for(op, &plan)?, weight, &report) {
            Next::StepTo(next) => self.step_to(op, next).await,
            Next::Verify => {
                self.transition(op, OpState::Verifying, "canary passed at every step")
                    .await
            }
            Next::RollBack(why) => self.transition(op, OpState::RollingBack, &why).await,
            Next::AskAPerson(why) => {
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
}

/// What a step means, for the PR.
fn step_text(plan: &RolloutPlan, weight: u8, sha: &CommitSha) -> String {
    match &plan.blue_green {
        Some(bg) if weight >= 100 => format!(
            "Blue-green promotion: `{}` passed its preview; Argo now promotes it to the active \
             Service `{}` (commit {}, `autoPromotionEnabled: true`).",
            plan.canary_tag,
            bg.active,
            sha.short()
        ),
        Some(bg) => format!(
            "Blue-green preview: `{}` runs behind the preview Service `{}` while the active \
             Service `{}` keeps serving the stable version (commit {}).",
            plan.canary_tag,
            bg.preview,
            bg.active,
            sha.short()
        ),
        None => format!(
            "Canary step: `{}` now takes {weight}% of traffic (commit {}).",
            plan.canary_tag,
            sha.short()
        ),
    }
}

/// What the plan needs of a Rollout of either strategy.
struct RolloutFacts {
    tag: Option<String>,
    image: String,
    namespace: Option<String>,
}

fn read_rollout(
    text: &str,
    manifest: &str,
) -> Result<(RolloutFacts, Option<BlueGreenServices>), OrchestratorError> {
    let e = |e| OrchestratorError::stage_from("canary", e);
    if BlueGreenRollout::is_blue_green(text) {
        let r = BlueGreenRollout::parse(text, manifest).map_err(e)?;
        let namespace = crate::gitops::YamlDoc::parse(text, manifest)
            .ok()
            .and_then(|d| d.get("metadata.namespace").ok())
            .filter(|n| !n.is_empty());
        let services = BlueGreenServices {
            active: r.active_service().to_string(),
            preview: r.preview_service().to_string(),
        };
        let facts = RolloutFacts {
            tag: r.image_tag().map(str::to_string),
            image: r.image().to_string(),
            namespace,
        };
        return Ok((facts, Some(services)));
    }
    let r = RolloutManifest::parse(text, manifest).map_err(e)?;
    let facts = RolloutFacts {
        tag: r.image_tag().map(str::to_string),
        image: r.image().to_string(),
        namespace: r.namespace(),
    };
    Ok((facts, None))
}

impl Orchestrator {
    /// Argo-managed: the new image goes into the Rollout (its weights untouched), and Argo runs
    /// the strategy's steps; healbot follows its notifications until it completes or aborts.
    async fn hand_to_argo(
        &self,
        op: &Operation,
        plan: &RolloutPlan,
    ) -> Result<(), OrchestratorError> {
        let edit = |text: &str| {
            RolloutManifest::parse(text, &plan.manifest)
                .and_then(|m| m.with_canary_image(plan.canary_ref()))
                .map_err(|e| OrchestratorError::stage_from("canary", e))
        };
        let message = format!(
            "deploy({}): {} (Argo Rollouts runs the canary steps)",
            plan.service, plan.canary_tag
        );
        let Some(sha) = self
            .land_manifest(op, plan, &artifacts::ARGO_IMAGE, &message, &edit)
            .await?
        else {
            return Ok(());
        };
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
