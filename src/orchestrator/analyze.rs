//! The Analyzing state: root cause over the dependency graph, the faulty code from the stack
//! trace, a validated patch, and a plan with its risk. Each result is recorded as a stage
//! output before the next starts, so a resumed operation skips what is already done.

use super::{Orchestrator, OrchestratorError, ReproOutcome};
use crate::coord::{OpState, Operation};
use crate::fix::{self, Patch};
use crate::incident::pattern::classify;
use crate::localize::{self, Localization};
use crate::notify::NotificationKind;
use crate::plan::{FixChoice, FixKind, FixPlan, RiskInput};
use crate::rca::rank::{rank, RankOptions, RcaReport, ServiceEvidence};
use serde::{de::DeserializeOwned, Serialize};
use std::future::Future;
use std::path::PathBuf;

impl Orchestrator {
    /// Returns the stage output `name`, computing and recording it first if the log lacks it.
    pub(crate) async fn stage_output<T, F, Fut>(
        &self,
        op: &Operation,
        name: &str,
        compute: F,
    ) -> Result<T, OrchestratorError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, OrchestratorError>>,
    {
        if let Some(done) = op.artifact::<T>(name) {
            return Ok(done);
        }
        let value = compute().await?;
        self.journal.artifact(&op.id, name, &value).await?;
        Ok(value)
    }

    pub(crate) fn worktree(&self, op: &Operation, name: &str) -> PathBuf {
        self.settings.scratch.join(&op.id.0).join(name)
    }

    pub(crate) async fn analyze(&self, op: &Operation) -> Result<(), OrchestratorError> {
        let spec = Self::spec(op)?;
        let rca: RcaReport = self
            .stage_output(op, "rca", || self.root_cause(&spec.incident.service))
            .await?;
        let trace: Option<String> = self
            .stage_output(op, "trace", || async {
                Ok(match spec.incident.stacktrace() {
                    Some(t) => Some(t.to_string()),
                    // An alert carries no trace: the root cause's error logs may.
                    None => self
                        .logs
                        .error_logs(&rca.root_cause)
                        .await?
                        .into_iter()
                        .find_map(|l| l.stacktrace),
                })
            })
            .await?;
        let Some(trace) = trace else {
            return self
                .escalate(
                    op,
                    "no stack trace in the incident: a person has to find the code",
                )
                .await;
        };
        let pattern = spec
            .incident
            .pattern
            .clone()
            .unwrap_or_else(|| classify(&trace));
        let min_confidence = self.policies.risk.strategy.min_confidence;
        if pattern.confidence < min_confidence {
            return self
                .escalate(
                    op,
                    &format!(
                        "unknown error pattern (confidence {:.0}% < {:.0}%): a person decides",
                        pattern.confidence * 100.0,
                        min_confidence * 100.0
                    ),
                )
                .await;
        }

        let base = self.worktree(op, "base");
        let base_sha = self
            .stage_output(op, "base", || async {
                let sha = self.workspaces.export(&spec.repo, "HEAD", &base).await?;
                Ok(sha.0)
            })
            .await?;
        if !base.exists() {
            // Resumed on another machine or after cleanup: the recorded revision, again.
            self.workspaces.export(&spec.repo, &base_sha, &base).await?;
        }

        let localization: Localization = self
            .stage_output(op, "localization", || async {
                localize::localize_detailed(&base, &trace, 5)
                    .map_err(|e| OrchestratorError::stage("localize", e))
            })
            .await?;
        if localization.candidates.is_empty() {
            return self
                .escalate(
                    op,
                    "no frame of the stack trace maps to a file in the repository",
                )
                .await;
        }

        let patch: Option<Patch> = self
            .stage_output(op, "patch", || async {
                match fix::propose(
                    &base,
                    &localization,
                    pattern.pattern.id(),
                    &self.templates,
                    spec.prefer_template.as_deref(),
                ) {
                    Ok(p) => Ok(Some(p)),
                    Err(e) => {
                        tracing::info!(operation = %op.id, error = %e, "no template fits");
                        Ok(None)
                    }
                }
            })
            .await?;
        let Some(patch) = patch else {
            return self
                .escalate(
                    op,
                    "no fix template matches the faulty code: a person decides",
                )
                .await;
        };

        let validation = self
            .stage_output(op, "validation", || {
                self.validate(op, &spec, &base_sha, &patch)
            })
            .await?;
        if !validation.passed {
            return self
                .escalate(
                    op,
                    &format!("the patch failed validation: {}", validation.summary),
                )
                .await;
        }

        if let Some(reproducer) = &self.reproducer {
            let repro: ReproOutcome = self
                .stage_output(op, "reproduction", || async {
                    let patched = self.worktree(op, "patched");
                    Ok(reproducer.reproduce(&patched).await?)
                })
                .await?;
            let before = spec
                .incident
                .signals
                .iter()
                .find_map(|s| match s {
                    crate::incident::Signal::Metric { metric, value, .. }
                        if metric == "error_rate" =>
                    {
                        Some(*value)
                    }
                    _ => None,
                })
                .unwrap_or(1.0);
            if repro.error_rate >= before {
                return self
                    .escalate(
                        op,
                        &format!(
                            "the patched code still fails on the workload ({:.1}% errors): a person decides",
                            repro.error_rate * 100.0
                        ),
                    )
                    .await;
            }
        }

        let plan: FixPlan = self
            .stage_output(op, "plan", || async {
                let service = rca.root_cause.clone();
                let blast_radius = self.graph.blast_radius(&service);
                let input = RiskInput {
                    criticality: self.graph.criticality(&service).unwrap_or(0.5),
                    lines_changed: (patch.lines_added + patch.lines_removed) as u32,
                    severity: spec.incident.severity,
                    at: chrono::Utc::now(),
                };
                let choice = FixChoice {
                    service,
                    fix_kind: FixKind::Template,
                    template_id: Some(patch.template_id.clone()),
                    // Sure of the pattern and sure of the template, both.
                    confidence: patch.confidence * pattern.confidence,
                    blast_radius,
                };
                Ok(FixPlan::new(choice, &input, &self.policies.risk))
            })
            .await?;
        self.transition(
            op,
            OpState::Planned,
            &format!(
                "{} at {}:{} ({}), risk {:.2}, strategy {:?}",
                rca.root_cause,
                patch.file,
                localization.candidates[0].line,
                patch.template_id,
                plan.risk.total,
                plan.decision.strategy
            ),
        )
        .await
    }

    /// Ranks services by their error rate against the SLO (a ratio of 3 or more is
    /// anomalous), then by the graph: an anomalous service with healthy dependencies is the cause.
    async fn root_cause(&self, symptom: &str) -> Result<RcaReport, OrchestratorError> {
        let slo = self.policies.gates.error_budget.slo_error_rate;
        let evidence: Vec<ServiceEvidence> = self
            .metrics
            .health()
            .await?
            .into_iter()
            .filter(|h| h.requests > 0)
            .map(|h| ServiceEvidence {
                score: h.error_rate / slo,
                detail: Some(format!(
                    "{}: {:.1}% errors over {} requests (SLO {:.1}%)",
                    h.service,
                    h.error_rate * 100.0,
                    h.requests,
                    slo * 100.0
                )),
                service: h.service,
                metric: "error_rate".into(),
            })
            .collect();
        let options = RankOptions {
            anomaly_threshold: 3.0,
            symptom: Some(symptom.to_string()),
        };
        rank(&self.graph, &evidence, &options).map_err(|e| OrchestratorError::stage("rca", e))
    }

    pub(crate) async fn escalate(
        &self,
        op: &Operation,
        reason: &str,
    ) -> Result<(), OrchestratorError> {
        self.transition(op, OpState::Escalated, reason).await?;
        self.release_lock(op).await;
        self.notify(
            op,
            NotificationKind::Escalation,
            "healbot needs a person",
            reason,
        )
        .await;
        Ok(())
    }
}
