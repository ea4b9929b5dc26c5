//! Argo-managed mode: Argo Rollouts runs the canary steps and tells healbot what happened.
//! Each notification is an audit entry (`argo.<event>`) mirrored on the fix PR; a completed
//! rollout hands over to healbot's verification, and an abort makes healbot write Git back
//! (Argo never writes Git: without this, Git says the new revision while the cluster runs the
//! stable one). The write-back is the ordinary rollback: stable image at weight 0, revert PR,
//! a person told.

use super::artifacts::{self, in_scan};
use super::{Orchestrator, OrchestratorError};
use crate::canary::argo_notification::{RolloutEvent, RolloutNotification, RolloutPhase};
use crate::forge::markdown::{inline_code, plain_text};
use crate::gitops::rollout::RolloutManifest;
use crate::model::OperationId;
use crate::operation::{OpState, Operation};
use serde_json::json;

/// The name of the event in audit actions (`argo.<name>`).
fn event_name(event: &RolloutEvent) -> &'static str {
    match event {
        RolloutEvent::StepCompleted { .. } => "step_completed",
        RolloutEvent::Updated => "updated",
        RolloutEvent::Paused { .. } => "paused",
        RolloutEvent::Aborted { .. } => "aborted",
        RolloutEvent::Completed => "completed",
        RolloutEvent::AnalysisFailed { .. } => "analysis_failed",
    }
}

/// What makes two notifications the same one: Argo (or a retry) may send it twice, and the
/// PR gets one comment. Without a revision only the delivery says which one it is.
fn identity(n: &RolloutNotification, delivery: &str) -> String {
    let what = match (&n.event, n.revision) {
        (RolloutEvent::StepCompleted { step, .. }, Some(_)) => format!("step-{step}"),
        (RolloutEvent::Updated, Some(_)) => "updated".into(),
        (RolloutEvent::Aborted { .. }, Some(_)) => "aborted".into(),
        (RolloutEvent::Completed, Some(_)) => "completed".into(),
        (
            RolloutEvent::AnalysisFailed {
                analysis_run: Some(run),
            },
            Some(_),
        ) => format!("analysis-{run}"),
        // A rollout may pause more than once per revision, and the rest carry no revision.
        _ => return format!("argo-{delivery}"),
    };
    let revision = n.revision.unwrap_or_default();
    format!("argo-{}-{}-r{revision}-{what}", n.namespace, n.rollout)
}

/// The PR comment for a notification. Argo's names and messages are quoted inert.
fn comment(n: &RolloutNotification, rolls_back: bool) -> String {
    let name = inline_code(&format!("{}/{}", n.namespace, n.rollout));
    let revision = n
        .revision
        .map(|r| format!(" revision {r}"))
        .unwrap_or_default();
    let mut text = match &n.event {
        RolloutEvent::StepCompleted { step, weight } => {
            let weight = weight
                .map(|w| format!(" (canary at {w}% of traffic)"))
                .unwrap_or_default();
            format!("Argo Rollouts: {name}{revision} finished canary step {step}{weight}.")
        }
        RolloutEvent::Updated => format!("Argo Rollouts: {name} started rolling out{revision}."),
        RolloutEvent::Paused { reason } => format!(
            "Argo Rollouts paused {name}{revision}{}.",
            reason
                .as_ref()
                .map(|r| format!(": {}", plain_text(r)))
                .unwrap_or_default()
        ),
        RolloutEvent::Aborted { reason } => {
            format!(
                "Argo Rollouts aborted {name}{revision}: {}",
                plain_text(reason)
            )
        }
        RolloutEvent::Completed => {
            format!("Argo Rollouts fully promoted {name}{revision}.")
        }
        RolloutEvent::AnalysisFailed { analysis_run } => format!(
            "Argo Rollouts: analysis{} failed for {name}{revision}.",
            analysis_run
                .as_ref()
                .map(|r| format!(" run {}", inline_code(r)))
                .unwrap_or_default()
        ),
    };
    if rolls_back {
        text.push_str(
            "\n\nThe cluster is back on the stable revision; healbot writes Git back to match.",
        );
    }
    text
}

impl Orchestrator {
    /// The live operation (merged, not finished) whose service Argo Rollouts deploys
    /// (`rollout: argo`) in the notification's namespace, and whose rollout plan names the
    /// service or whose manifest is that Rollout. The most recent one when several do. A
    /// healbot-managed rollout is never moved by Argo's notifications.
    pub(crate) async fn argo_operation(&self, n: &RolloutNotification) -> Option<Operation> {
        let mut found = None;
        for op in self.journal.operations().await {
            let in_namespace = in_scan(op.artifact(&artifacts::ROLLOUT))
                .is_some_and(|p| p.argo_managed && p.namespace == n.namespace);
            if in_namespace && Self::live(&op) && self.deploys(&op, &n.rollout).await {
                let newer = found.as_ref().is_none_or(|f: &Operation| {
                    op.history.first().map(|h| h.0) > f.history.first().map(|h| h.0)
                });
                if newer {
                    found = Some(op);
                }
            }
        }
        found
    }

    /// Records a notification on operation `id` (audit entry and PR comment, once per
    /// notification) and acts on it. Returns the operation when it must be driven on: to
    /// verification after a completed rollout, to rollback after an abort.
    pub(crate) async fn argo_event(
        &self,
        id: &OperationId,
        delivery: &str,
        n: &RolloutNotification,
    ) -> Result<Option<OperationId>, OrchestratorError> {
        // Read again: a drive may have moved the operation on since it was looked up.
        let op = self.journal.operation(id).await?;
        if !Self::live(&op) {
            tracing::info!(operation = %op.id, state = %op.state, trigger = %n.trigger,
                "argo notification for an operation no longer deploying; ignored");
            return Ok(None);
        }
        if !Self::argo_managed(&op)? {
            tracing::warn!(operation = %op.id, trigger = %n.trigger,
                "argo notification for a healbot-managed rollout; ignored");
            return Ok(None);
        }
        let aborted = matches!(n.event, RolloutEvent::Aborted { .. })
            || n.phase == Some(RolloutPhase::Degraded);
        let moves = aborted || n.event == RolloutEvent::Completed;
        // The first revision Argo reports for this deploy is the operation's; a notification
        // about another revision (someone else's deploy, or a replay) does not move it.
        let pin = artifacts::ARGO_REVISION;
        match (n.revision, op.effect(&pin)?) {
            (Some(got), Some(pinned)) if got != pinned => {
                tracing::warn!(operation = %op.id, got, pinned, trigger = %n.trigger,
                    "argo notification for another revision; ignored");
                return Ok(None);
            }
            (Some(got), None) => {
                self.journal.effect(&op.id, &pin, &got).await?;
            }
            (None, _) if moves => {
                tracing::warn!(operation = %op.id, trigger = %n.trigger,
                    "argo notification without a revision cannot move an operation; ignored");
                return Ok(None);
            }
            _ => {}
        }
        // Any word from Argo about this revision starts the step clock again.
        self.argo_progress(&op, &identity(n, delivery)).await?;
        let action = format!("argo.{}", event_name(&n.event));
        let detail = detail(n, delivery);
        let text = comment(n, aborted);
        match op.effect(&artifacts::PR)? {
            Some(pr) => {
                self.mirror(&op, pr, &identity(n, delivery), &action, detail, &text)
                    .await?;
            }
            None => {
                self.journal
                    .note(&op.id, &self.settings.actor, &action, detail)
                    .await?;
            }
        }
        if aborted {
            if op.state != OpState::RollingBack {
                let why = match &n.event {
                    RolloutEvent::Aborted { reason } => reason.clone(),
                    _ => n.message.clone().unwrap_or_else(|| "Degraded".into()),
                };
                // The reason reaches the revert PR and `/heal status`: quoted inert.
                let why = plain_text(&why);
                self.transition(
                    &op,
                    OpState::RollingBack,
                    &format!("Argo Rollouts aborted {}: {why}", n.rollout),
                )
                .await?;
            }
            return Ok(Some(op.id));
        }
        if n.event == RolloutEvent::Completed {
            if let OpState::Deploying(_) = op.state {
                self.transition(
                    &op,
                    OpState::Verifying,
                    &format!("Argo Rollouts promoted {} to 100%; verifying", n.rollout),
                )
                .await?;
                return Ok(Some(op.id));
            }
        }
        Ok(None)
    }

    /// Merged and not finished: Argo's notifications are about its deploy.
    fn live(op: &Operation) -> bool {
        match op.state {
            OpState::Merged | OpState::Deploying(_) | OpState::Verifying | OpState::RollingBack => {
                true
            }
            OpState::PausedForHumanReview => Self::deployed(op),
            _ => false,
        }
    }

    /// Whether `op` deploys the Rollout named `rollout`.
    async fn deploys(&self, op: &Operation, rollout: &str) -> bool {
        let plan = in_scan(op.artifact(&artifacts::ROLLOUT));
        let service = match &plan {
            Some(plan) => Some(plan.service.clone()),
            None => in_scan(op.artifact(&artifacts::RCA)).map(|r| r.root_cause),
        };
        if service.as_deref() == Some(rollout) {
            return true;
        }
        // The Rollout may be named otherwise than the service: its manifest says.
        let (Some(plan), Ok(spec)) = (plan, Self::spec(op)) else {
            return false;
        };
        let Ok((repo, branch)) = self.manifest_home(&spec.repo, &plan).await else {
            return false;
        };
        match self.forge.read_file(&repo, &branch, &plan.manifest).await {
            Ok(Some(text)) => {
                RolloutManifest::parse(&text, &plan.manifest).is_ok_and(|m| m.name() == rollout)
            }
            _ => false,
        }
    }
}

fn detail(n: &RolloutNotification, delivery: &str) -> serde_json::Value {
    let (step, weight, analysis_run) = match &n.event {
        RolloutEvent::StepCompleted { step, weight } => (Some(*step), *weight, None),
        RolloutEvent::AnalysisFailed { analysis_run } => (None, None, analysis_run.clone()),
        _ => (None, None, None),
    };
    json!({
        "delivery": delivery,
        "trigger": n.trigger,
        "rollout": n.rollout,
        "namespace": n.namespace,
        "revision": n.revision,
        "phase": n.phase.as_ref().map(phase_name),
        "message": n.message,
        "step": step,
        "weight": weight,
        "analysis_run": analysis_run,
    })
}

fn phase_name(p: &RolloutPhase) -> String {
    match p {
        RolloutPhase::Healthy => "Healthy".into(),
        RolloutPhase::Progressing => "Progressing".into(),
        RolloutPhase::Paused => "Paused".into(),
        RolloutPhase::Degraded => "Degraded".into(),
        RolloutPhase::Other(other) => other.clone(),
    }
}
