//! Verification at 100%: the readings, the health probe and the limits go to
//! `verify::decide`; a pass completes the operation, a failure rolls it back.

use super::{Orchestrator, OrchestratorError};
use crate::notify::NotificationKind;
use crate::operation::{OpState, Operation};
use crate::verify::{self, Limits, Readings, Verification};
use serde_json::json;

impl Orchestrator {
    pub(crate) async fn verify(&self, op: &Operation) -> Result<(), OrchestratorError> {
        let plan = self.rollout_plan(op).await?;
        let verification: Verification = self
            .stage_output(op, &super::artifacts::VERIFICATION, || async {
                let health = self.metrics.health().await?;
                let limits = Limits {
                    slo_error_rate: self.policies.gates.error_budget.slo_error_rate,
                    latency_p99_ms: self
                        .policies
                        .detection
                        .rules_for(crate::config::detection::DetectedMetric::LatencyP99Ms)
                        .map(|r| r.above)
                        .fold(f64::INFINITY, f64::min),
                };
                let probe = match self.health_url(op, &plan.service).await? {
                    Some(url) => Some(self.health_probe.probe(&url).await),
                    None => None,
                };
                let graph = self.graph.current();
                let dependencies = graph.dependencies(&plan.service);
                let readings = Readings {
                    service: &plan.service,
                    health: &health,
                    dependencies: &dependencies,
                    probe: probe.as_ref(),
                };
                Ok(verify::decide(&readings, &limits))
            })
            .await?;
        let pr = Self::pr_of(op)?;
        let lines: Vec<String> = verification
            .checks
            .iter()
            .map(|c| {
                let mark = if c.passed { "✅" } else { "❌" };
                format!("- {mark} {}: {}", c.kind, c.observed)
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
