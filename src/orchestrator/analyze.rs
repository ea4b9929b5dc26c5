//! The Analyzing state: the root cause (`root_cause.rs`), the faulty code from the stack
//! trace, a validated patch, and a plan with its risk. Each result is recorded as a stage
//! output before the next starts, so a resumed operation skips what is already done. A slow
//! service with no trace has no code to localize: it gets `high_latency` and a config fix only.

use super::artifacts;
use super::artifacts::{ChosenFix, Considered, FixSelection, RevertedCommit, ValidationReport};
use super::{OperationSpec, Orchestrator, OrchestratorError, ReproOutcome};
use crate::detect::pattern::{classify, latency_from_signals, LATENCY_CONFIDENCE};
use crate::detect::{ErrorPattern, PatternMatch};
use crate::fix::config::{AppliedConfigFix, ConfigBounds};

use crate::fix::{self, CandidateInput, Candidates, ConfigInput, Fix, FixCandidate, Patch};
use crate::localize::{self, Localization};
use crate::notify::NotificationKind;
use crate::operation::{Artifact, OpState, Operation};
use crate::plan::{FixChoice, FixKind, FixPlan, RiskInput};
use crate::rca::rank::RcaReport;
use serde::{de::DeserializeOwned, Serialize};
use std::future::Future;
use std::path::{Path, PathBuf};

/// How long before the incident a commit that changed a localized line still counts as its
/// cause: a revert is proposed only for a change this recent.
pub(crate) const REVERT_WINDOW_SECS: i64 = 48 * 3600;

impl FixSelection {
    /// The escalation reason when nothing was chosen.
    fn why_none(&self) -> String {
        self.why_none_or(|skipped| {
            format!("no fix template matches the faulty code: a person decides ({skipped})")
        })
    }

    /// The escalation reason when the config-only selection (no code location) chose nothing:
    /// which settings were looked for, and where.
    fn why_no_config(&self, pattern: &str, service: &str) -> String {
        self.why_none_or(|skipped| {
            let kinds: Vec<String> = fix::config::kinds_for(pattern)
                .iter()
                .map(|k| k.to_string())
                .collect();
            format!(
                "no stack trace, and no setting a config fix for `{pattern}` raises ({}) in \
                 the config files of {service}: a person decides ({skipped})",
                kinds.join(", ")
            )
        })
    }

    /// A refused check, else a recurring config fix, else the failed validations, else
    /// `nothing(skipped)`.
    fn why_none_or(&self, nothing: impl FnOnce(String) -> String) -> String {
        if let Some(why) = &self.refused {
            return format!("the check command did not run, so no fix is validated: {why}");
        }
        let failed: Vec<String> = self
            .considered
            .iter()
            .map(|c| format!("{}: {}", c.description, c.outcome))
            .collect();
        match (&self.escalation, failed.is_empty()) {
            (Some(e), true) => e.clone(),
            (_, false) => format!("no fix passed validation: {}", failed.join("; ")),
            (None, true) => nothing(self.skipped.join("; ")),
        }
    }
}

fn kind_of(fix: &Fix) -> FixKind {
    match fix {
        Fix::Revert(_) => FixKind::Revert,
        Fix::Template(_) => FixKind::Template,
        Fix::Config(_) => FixKind::Config,
    }
}

impl ChosenFix {
    fn new(
        candidate: FixCandidate,
        validation: ValidationReport,
        service: &str,
        pattern: &str,
    ) -> ChosenFix {
        let kind = kind_of(&candidate.fix);
        let patches = candidate.fix.patches();
        let deleted = candidate.fix.deleted();
        let (id, reverted, applied) = match &candidate.fix {
            Fix::Revert(r) => (
                patches[0].template_id.clone(),
                Some(RevertedCommit {
                    sha: r.sha.clone(),
                    summary: r.summary.clone(),
                    mode: r.mode,
                    message: r.message(),
                }),
                None,
            ),
            Fix::Template(p) => (p.template_id.clone(), None, None),
            Fix::Config(c) => (
                c.kind.id().to_string(),
                None,
                Some(c.applied(service, pattern)),
            ),
        };
        ChosenFix {
            kind,
            id,
            summary: patches[0].summary.clone(),
            reason: candidate.reason,
            reverted,
            patches,
            deleted,
            applied,
            validation,
        }
    }
}

impl Orchestrator {
    /// Returns the stage output `name`, computing and recording it first if the log lacks it.
    /// A recorded output that does not decode fails the operation rather than be recomputed.
    pub(crate) async fn stage_output<T, F, Fut>(
        &self,
        op: &Operation,
        key: &Artifact<T>,
        compute: F,
    ) -> Result<T, OrchestratorError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, OrchestratorError>>,
    {
        if let Some(done) = op.artifact(key)? {
            return Ok(done);
        }
        let value = compute().await?;
        self.journal.artifact(&op.id, key, &value).await?;
        Ok(value)
    }

    pub(crate) fn worktree(&self, op: &Operation, name: &str) -> PathBuf {
        // Ids come from alerts: each part is made safe, so the folder stays under scratch.
        crate::model::path_under(&self.settings.scratch, &[&op.id.0, name])
    }

    pub(crate) async fn analyze(&self, op: &Operation) -> Result<(), OrchestratorError> {
        let spec = Self::spec(op)?;
        let rca: RcaReport = self
            .stage_output(op, &artifacts::RCA, || {
                self.root_cause(&spec.incident, &op.id)
            })
            .await?;
        let trace: Option<String> = self
            .stage_output(op, &artifacts::TRACE, || async {
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
        let pattern = match &trace {
            Some(trace) => spec
                .incident
                .pattern
                .clone()
                .unwrap_or_else(|| classify(trace)),
            // A slow service without a trace: no code to find, but a setting may be what ran
            // out. Recorded so the PR body can name it.
            None => match without_trace(&spec.incident, &rca) {
                Ok(p) => {
                    self.stage_output(op, &artifacts::PATTERN, || async { Ok(p) })
                        .await?
                }
                Err(why) => return self.escalate(op, &why).await,
            },
        };
        let policies = self.policies_for(&spec).await?;
        let min_confidence = policies.risk.strategy.min_confidence;
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
            .stage_output(op, &artifacts::BASE, || async {
                let sha = self.workspaces.export(&spec.repo, "HEAD", &base).await?;
                Ok(sha.0)
            })
            .await?;
        if !base.exists() {
            // Resumed on another machine or after cleanup: the recorded revision, again.
            self.workspaces.export(&spec.repo, &base_sha, &base).await?;
        }

        // No trace, no localization: the config-only path below.
        let localization: Option<Localization> = match &trace {
            Some(trace) => {
                let l: Localization = self
                    .stage_output(op, &artifacts::LOCALIZATION, || async {
                        localize::localize_detailed(&base, trace, 5)
                            .map_err(|e| OrchestratorError::stage_from("localize", e))
                    })
                    .await?;
                if l.candidates.is_empty() {
                    return self
                        .escalate(
                            op,
                            "no frame of the stack trace maps to a file in the repository",
                        )
                        .await;
                }
                Some(l)
            }
            None => None,
        };

        let selection: FixSelection = self
            .stage_output(op, &artifacts::FIX, || async {
                match &localization {
                    Some(l) => {
                        self.select_fix(op, &spec, &base, &base_sha, l, pattern.pattern.id())
                            .await
                    }
                    None => {
                        self.select_config_fix(op, &spec, &base, &base_sha, pattern.pattern.id())
                            .await
                    }
                }
            })
            .await?;
        let Some(chosen) = selection.chosen.clone() else {
            let why = match &localization {
                Some(_) => selection.why_none(),
                None => selection.why_no_config(pattern.pattern.id(), &spec.incident.service),
            };
            return self.escalate(op, &why).await;
        };
        // The primary patch and the validation, under the names later stages read.
        let patch: Patch = self
            .stage_output(op, &artifacts::PATCH, || async {
                Ok(chosen.patches[0].clone())
            })
            .await?;
        let _validation: ValidationReport = self
            .stage_output(op, &artifacts::VALIDATION, || async {
                Ok(chosen.validation.clone())
            })
            .await?;

        if let Some(reproducer) = &self.reproducer {
            let repro: ReproOutcome = self
                .stage_output(op, &artifacts::REPRODUCTION, || async {
                    let patched = self.worktree(op, "patched");
                    Ok(reproducer.reproduce(&patched).await?)
                })
                .await?;
            let before = spec
                .incident
                .signals
                .iter()
                .find_map(|s| match s {
                    crate::detect::Signal::Metric { metric, value, .. }
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
            .stage_output(op, &artifacts::PLAN, || async {
                let service = rca.root_cause.clone();
                let graph = self.graph.current();
                let blast_radius = graph.blast_radius(&service);
                let lines: usize = chosen
                    .patches
                    .iter()
                    .map(|p| p.lines_added + p.lines_removed)
                    .sum();
                let input = RiskInput {
                    criticality: graph
                        .criticality(&service)
                        .unwrap_or(crate::topology::graph::DEFAULT_CRITICALITY),
                    lines_changed: lines as u32,
                    severity: spec.incident.severity,
                    at: self.clock.now(),
                };
                let choice = FixChoice {
                    service,
                    fix_kind: chosen.kind,
                    template_id: Some(chosen.id.clone()),
                    reverted_commit: chosen.reverted.as_ref().map(|r| r.sha.clone()),
                    // Sure of the pattern and sure of the fix, both.
                    confidence: patch.confidence * pattern.confidence,
                    blast_radius,
                };
                Ok(FixPlan::new(choice, &input, &policies.risk))
            })
            .await?;
        let place = match &localization {
            Some(l) => format!("at {}:{}", l.candidates[0].file, l.candidates[0].line),
            None => "config only, no code location".to_string(),
        };
        self.transition(
            op,
            OpState::Planned,
            &format!(
                "{} {place} ({} fix {}), risk {:.2}, strategy {:?}",
                rca.root_cause, chosen.kind, chosen.id, plan.risk.total, plan.decision.strategy
            ),
        )
        .await
    }

    /// SapFix's order: each candidate in turn (revert, template, config) is validated, and the
    /// first that passes is the fix.
    async fn select_fix(
        &self,
        op: &Operation,
        spec: &OperationSpec,
        base: &Path,
        base_sha: &str,
        localization: &Localization,
        pattern: &str,
    ) -> Result<FixSelection, OrchestratorError> {
        let found = self
            .fix_candidates(op, spec, base, base_sha, localization, pattern)
            .await?;
        self.validate_candidates(op, spec, base_sha, found, pattern)
            .await
    }

    /// Config fixes only, for an incident with no code location: the settings of the
    /// pattern's kinds in the service's declared config files.
    async fn select_config_fix(
        &self,
        op: &Operation,
        spec: &OperationSpec,
        base: &Path,
        base_sha: &str,
        pattern: &str,
    ) -> Result<FixSelection, OrchestratorError> {
        let config_files = self.config_files(op, spec).await;
        let bounds =
            ConfigBounds::embedded().map_err(|e| OrchestratorError::stage_from("fix", e))?;
        let applied = self.applied_config_fixes(op).await?;
        let found = fix::config_candidates(&ConfigInput {
            repo: base,
            pattern,
            service: &spec.incident.service,
            config_files: &config_files,
            history: &applied,
            bounds: &bounds,
        });
        self.validate_candidates(op, spec, base_sha, found, pattern)
            .await
    }

    /// Validates each candidate in turn until one passes; the rest are listed, not tried.
    async fn validate_candidates(
        &self,
        op: &Operation,
        spec: &OperationSpec,
        base_sha: &str,
        found: Candidates,
        pattern: &str,
    ) -> Result<FixSelection, OrchestratorError> {
        let mut selection = FixSelection {
            skipped: found.skipped,
            escalation: found.escalation,
            ..FixSelection::default()
        };
        for candidate in found.candidates {
            let kind = kind_of(&candidate.fix);
            let description = candidate.fix.describe();
            let reason = candidate.reason.clone();
            if selection.chosen.is_some() {
                selection.considered.push(Considered {
                    kind,
                    description,
                    reason,
                    outcome: "not tried: an earlier candidate validated".into(),
                });
                continue;
            }
            let validation = self
                .validate(
                    op,
                    spec,
                    base_sha,
                    &candidate.fix.patches(),
                    &candidate.fix.deleted(),
                )
                .await?;
            let outcome = if validation.passed {
                format!("chosen: {}", validation.summary)
            } else {
                format!("failed validation: {}", validation.summary)
            };
            tracing::info!(operation = %op.id, fix = %description, %outcome, "fix candidate");
            selection.considered.push(Considered {
                kind,
                description,
                reason,
                outcome,
            });
            // Not this candidate's fault: no other would fare better.
            if let Some(why) = validation.check.as_ref().and_then(|c| c.refused.clone()) {
                selection.refused = Some(why);
                break;
            }
            if validation.passed {
                selection.chosen = Some(ChosenFix::new(
                    candidate,
                    validation,
                    &spec.incident.service,
                    pattern,
                ));
            }
        }
        Ok(selection)
    }

    /// The candidates for this incident. Reverts need the repository's history, which the
    /// workspace provider may not have; config fixes look at the service's manifests.
    async fn fix_candidates(
        &self,
        op: &Operation,
        spec: &OperationSpec,
        base: &Path,
        base_sha: &str,
        localization: &Localization,
        pattern: &str,
    ) -> Result<Candidates, OrchestratorError> {
        let checkout = self.worktree(op, "history");
        let (repo, no_history) = match self
            .workspaces
            .history(&spec.repo, base_sha, &checkout)
            .await
        {
            // The checkout is of the same commit as `base`, with its history.
            Ok(true) => (checkout, None),
            Ok(false) => (
                base.to_path_buf(),
                Some(format!(
                    "revert: no git history of {} here (the workspace holds its tree only)",
                    spec.repo.0
                )),
            ),
            Err(e) => (
                base.to_path_buf(),
                Some(format!(
                    "revert: cannot read the history of {}: {e}",
                    spec.repo.0
                )),
            ),
        };
        let service = spec.incident.service.as_str();
        let config_files = self.config_files(op, spec).await;
        let bounds =
            ConfigBounds::embedded().map_err(|e| OrchestratorError::stage_from("fix", e))?;
        let applied = self.applied_config_fixes(op).await?;
        let input = CandidateInput {
            repo: &repo,
            localization,
            pattern,
            templates: &self.templates,
            incident_start: Some(spec.incident.detected_at),
            revert_window_secs: REVERT_WINDOW_SECS,
            service,
            config_files: &config_files,
            history: &applied,
            bounds: &bounds,
        };
        let mut found = fix::candidates(&input);
        if let Some(why) = no_history {
            found.skipped.retain(|s| !s.starts_with("revert:"));
            found.skipped.insert(0, why);
        }
        Ok(found)
    }

    /// The incident service's config files (`manifests` in its `.github/healbot.yml`).
    async fn config_files(&self, op: &Operation, spec: &OperationSpec) -> Vec<String> {
        let service = spec.incident.service.as_str();
        match self.repo_config(spec).await {
            Ok(c) => c
                .services
                .iter()
                .filter(|s| s.name == service)
                .flat_map(|s| s.manifests.iter().cloned())
                .collect(),
            Err(e) => {
                tracing::info!(operation = %op.id, error = %e, "no manifests for config fixes");
                Vec::new()
            }
        }
    }

    /// Config fixes that earlier operations carried through to the end. One whose fix record
    /// cannot be read is an error: leaving it out could let a fix repeat past its limit.
    async fn applied_config_fixes(
        &self,
        op: &Operation,
    ) -> Result<Vec<AppliedConfigFix>, OrchestratorError> {
        let mut applied = Vec::new();
        for o in self.journal.operations().await {
            if o.id == op.id || o.state != OpState::Completed {
                continue;
            }
            if let Some(fix) = o.artifact(&artifacts::FIX)?.and_then(|s| s.chosen) {
                applied.extend(fix.applied);
            }
        }
        Ok(applied)
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

/// An incident with no stack trace goes on only as a latency incident whose root cause is the
/// service itself: its settings are the ones a config fix can raise. Otherwise the escalation
/// reason.
fn without_trace(
    incident: &crate::detect::Incident,
    rca: &RcaReport,
) -> Result<PatternMatch, String> {
    let Some(p) = latency_pattern(incident, rca) else {
        return Err("no stack trace in the incident: a person has to find the code".into());
    };
    if rca.root_cause != incident.service {
        return Err(format!(
            "no stack trace: {} is slow, but the root cause is {}, and a config fix raises only \
             {}'s settings: a person decides",
            incident.service, rca.root_cause, incident.service
        ));
    }
    Ok(p)
}

/// The `high_latency` pattern of an incident with no stack trace: from its own signals (a
/// latency alert or metric), else from the RCA when the root cause's worst metric is its p99
/// over the objective. None for an incident whose signals include an error rate.
fn latency_pattern(incident: &crate::detect::Incident, rca: &RcaReport) -> Option<PatternMatch> {
    let errors = incident.signals.iter().any(
        |s| matches!(s, crate::detect::Signal::Metric { metric, .. } if metric == "error_rate"),
    );
    if errors {
        return None;
    }
    latency_from_signals(&incident.signals).or_else(|| {
        let top = rca.ranking.iter().find(|r| r.service == rca.root_cause)?;
        (top.metric == "latency_p99" && top.score > 1.0).then(|| PatternMatch {
            pattern: ErrorPattern::HighLatency,
            confidence: LATENCY_CONFIDENCE,
            evidence: rca
                .evidence
                .iter()
                .find(|e| e.contains("p99 latency"))
                .cloned()
                .unwrap_or_else(|| format!("{}: p99 latency over the objective", rca.root_cause)),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_escalation_says_why_no_fix_was_chosen() {
        let mut s = FixSelection {
            skipped: vec!["revert: no localized line was changed shortly before".into()],
            ..FixSelection::default()
        };
        assert!(s
            .why_none()
            .starts_with("no fix template matches the faulty code"));
        assert!(s.why_none().contains("revert: no localized line"));
        let config = s.why_no_config("high_latency", "payment-service");
        assert!(
            config.starts_with(
                "no stack trace, and no setting a config fix for `high_latency` raises \
                 (replicas, cpu-limit, timeout) in the config files of payment-service"
            ),
            "{config}"
        );
        s.escalation = Some("`pool-size` was already raised 2 times".into());
        assert_eq!(s.why_none(), "`pool-size` was already raised 2 times");
        s.considered.push(Considered {
            kind: FixKind::Template,
            description: "template python.none-guard at app.py:3".into(),
            reason: "matches".into(),
            outcome: "failed validation: `pytest` failed".into(),
        });
        assert_eq!(
            s.why_none(),
            "no fix passed validation: template python.none-guard at app.py:3: failed \
             validation: `pytest` failed"
        );
        s.refused = Some("no sandbox to run the check in (bwrap is not installed)".into());
        assert_eq!(
            s.why_none(),
            "the check command did not run, so no fix is validated: no sandbox to run the \
             check in (bwrap is not installed)"
        );
    }

    #[test]
    fn without_a_trace_only_a_latency_incident_on_its_root_cause_goes_on() {
        use crate::detect::Signal;
        use crate::rca::rank::RankedService;
        let incident = |signals: Vec<Signal>| crate::detect::Incident {
            id: crate::model::IncidentId("i".into()),
            service: "payment-service".into(),
            severity: crate::model::Severity::High,
            title: "t".into(),
            detected_at: 0,
            signals,
            pattern: None,
            confidence: None,
        };
        let alert = |name: &str| Signal::Alert {
            service: "payment-service".into(),
            name: name.into(),
            fingerprint: "f".into(),
            summary: String::new(),
        };
        let rca = |root: &str, metric: &str, score: f64| RcaReport {
            root_cause: root.into(),
            ranking: vec![RankedService {
                service: root.into(),
                metric: metric.into(),
                score,
            }],
            causal_chain: vec![root.into()],
            evidence: vec![format!("{root}: p99 latency 2400 ms (objective 1500 ms)")],
            confidence: 0.5,
        };
        let slow = rca("payment-service", "latency_p99", 1.6);
        let p = without_trace(&incident(vec![alert("SlowP99")]), &slow).unwrap();
        assert_eq!(p.pattern, ErrorPattern::HighLatency);
        assert_eq!(p.evidence, "alert SlowP99");
        // An alert that does not say latency: the RCA's p99 evidence does.
        let p = without_trace(&incident(vec![alert("PaymentsDegraded")]), &slow).unwrap();
        assert_eq!(
            p.evidence,
            "payment-service: p99 latency 2400 ms (objective 1500 ms)"
        );
        let failing = rca("payment-service", "error_rate", 8.0);
        assert_eq!(
            without_trace(&incident(vec![alert("PaymentsDegraded")]), &failing).unwrap_err(),
            "no stack trace in the incident: a person has to find the code"
        );
        let elsewhere = rca("postgres_primary", "latency_p99", 3.2);
        let why = without_trace(&incident(vec![alert("SlowP99")]), &elsewhere).unwrap_err();
        assert!(why.contains("the root cause is postgres_primary"), "{why}");
    }
}
