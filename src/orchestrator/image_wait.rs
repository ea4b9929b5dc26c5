//! Before the first canary step: the image the canary deploys must exist. With a service
//! `image:` template the merged commit's image is built by CI, which may still be running when
//! the PR merges; healbot asks the registry (`gitops::image`) until it answers yes, up to
//! `image_wait_seconds` (policies/escalation.yaml), then pauses for a person rather than point
//! the Rollout at an image that is not there.

use super::artifacts::RolloutPlan;
use super::{artifacts, Orchestrator, OrchestratorError};
use crate::gitops::image::{ImagePresence, ImageRef};
use crate::notify::NotificationKind;
use crate::operation::{OpState, Operation};
use serde_json::json;
use std::time::{Duration, Instant};

impl Orchestrator {
    /// Whether the canary may start: no templated image, or the registry has it. `false`: the
    /// operation was paused for a person (the image did not appear in time).
    pub(super) async fn image_is_ready(
        &self,
        op: &Operation,
        plan: &RolloutPlan,
    ) -> Result<bool, OrchestratorError> {
        let Some(reference) = &plan.canary_image else {
            return Ok(true);
        };
        let key = artifacts::image_ready(reference);
        if op.effects.contains_key(&key.key(&op.id)) {
            return Ok(true);
        }
        let image =
            ImageRef::parse(reference).map_err(|e| OrchestratorError::stage("canary", e))?;
        let wait = self.policies.escalation.image_wait();
        let every = (wait / 20).clamp(Duration::from_millis(200), Duration::from_secs(15));
        let started = Instant::now();
        let mut last: String;
        loop {
            match self.settings.registry.presence(&image).await {
                Ok(ImagePresence::Present { digest }) => {
                    let detail = json!({"image": reference, "digest": digest,
                        "waited_ms": started.elapsed().as_millis() as u64});
                    self.journal.effect(&op.id, &key, &detail).await?;
                    return Ok(true);
                }
                Ok(ImagePresence::Missing) => last = "not in the registry".into(),
                Err(e) => last = e.to_string(),
            }
            if started.elapsed() >= wait {
                break;
            }
            tokio::time::sleep(every.min(wait.saturating_sub(started.elapsed()))).await;
        }
        let why = format!(
            "the image `{reference}` is not available after {} s ({last})",
            wait.as_secs()
        );
        if let Ok(pr) = Self::pr_of(op) {
            self.mirror(
                op,
                pr,
                &format!("image-missing-{}", op.last_seq),
                "image.missing",
                json!({"image": reference, "waited_seconds": wait.as_secs(), "last": last}),
                &format!(
                    "No canary yet: {why}. healbot checks `HEAD /v2/{}/manifests/{}` on `{}`. \
                     Once CI has pushed it, `/heal resume` checks again; `/heal rollback` undoes \
                     the merge.",
                    image.repository, image.tag, image.registry
                ),
            )
            .await?;
        }
        self.transition(op, OpState::PausedForHumanReview, &why)
            .await?;
        self.notify(
            op,
            NotificationKind::Escalation,
            "healbot: the fix's image is not in the registry",
            &why,
        )
        .await;
        Ok(false)
    }
}
