//! What healbot tells people: the PR body (evidence, risk, gates, audit head), progress
//! comments with the audit footer, status and explain replies, and the timeline with its MTTR
//! breakdown. Text only: nothing here changes state.

use super::artifacts::{self, in_scan};
use super::{OperationSpec, OrchestratorError};
use crate::audit::AuditEntry;
use crate::canary::CanaryReport;
use crate::fix::Patch;
use crate::forge::markdown::{inline_code, plain_text};
use crate::forge::CommitSha;
use crate::gates::GateReport;
use crate::localize::Localization;
use crate::model::OperationId;
use crate::operation::{Journal, OpState, Operation};
use crate::plan::FixPlan;
use crate::rca::rank::RcaReport;
use std::fmt::Write;

/// The footer every bot comment ends with, naming the audit entry it mirrors by its full
/// hash: every PR is then an outside anchor of the chain (`healbot audit verify
/// --expect-head SEQ:HASH` checks one).
pub fn footer(entry: &AuditEntry) -> String {
    format!(
        "<sub>healbot audit · seq {} · hash {}</sub>",
        entry.seq, entry.hash
    )
}

fn missing(what: &str) -> OrchestratorError {
    OrchestratorError::stage("report", format!("no {what} recorded"))
}

pub(crate) fn pr_body(
    op: &Operation,
    spec: &OperationSpec,
    base: &CommitSha,
    audit_head: Option<(u64, String)>,
    graph: &crate::topology::graph::DependencyGraph,
    permalink: Option<String>,
    rollout: &str,
) -> Result<String, OrchestratorError> {
    let rca: RcaReport = op
        .artifact(&artifacts::RCA)?
        .ok_or_else(|| missing("RCA"))?;
    let loc: Option<Localization> = op.artifact(&artifacts::LOCALIZATION)?;
    let selection = op.artifact(&artifacts::FIX)?;
    let chosen = selection.as_ref().and_then(|s| s.chosen.as_ref());
    // Only a config fix stands without a code location (a slow service with no trace).
    let config_only = chosen.filter(|c| c.kind == crate::plan::FixKind::Config);
    let patch: Patch = op
        .artifact(&artifacts::PATCH)?
        .ok_or_else(|| missing("patch"))?;
    let plan: FixPlan = op
        .artifact(&artifacts::PLAN)?
        .ok_or_else(|| missing("plan"))?;
    let gates: Option<GateReport> = op.artifact(&artifacts::GATES)?;
    let validation = op.artifact(&artifacts::VALIDATION)?;
    let repro = op.artifact(&artifacts::REPRODUCTION)?;
    let inc = &spec.incident;
    let mut b = String::new();
    let _ = writeln!(b, "## Incident {}\n", inc.id);
    // The title and the service come from the alert: quoted inert (no Markdown, HTML or
    // mention reaches the PR).
    let _ = writeln!(
        b,
        "**{}** — severity `{}`, service {}.\n",
        plain_text(&inc.title),
        inc.severity,
        inline_code(&inc.service)
    );
    // The incident's own pattern, else the one analysis found without a trace.
    let pattern = match &inc.pattern {
        Some(p) => Some(p.clone()),
        None => op.artifact(&artifacts::PATTERN)?,
    };
    if let Some(p) = &pattern {
        let _ = writeln!(
            b,
            "Error pattern `{}` ({:.0}% confidence): {}\n",
            p.pattern.id(),
            p.confidence * 100.0,
            inline_code(&p.evidence)
        );
    }
    let _ = writeln!(
        b,
        "## Root cause: `{}` ({:.0}% confidence)\n",
        rca.root_cause,
        rca.confidence * 100.0
    );
    let _ = writeln!(b, "```mermaid\n{}```\n", graph.to_mermaid(&rca.root_cause));
    let _ = writeln!(b, "Causal chain: {}\n", rca.causal_chain.join(" → "));
    for e in &rca.evidence {
        let _ = writeln!(b, "- {e}");
    }
    let _ = writeln!(b, "\n## Location\n");
    let link = |place: String| match &permalink {
        Some(url) => format!("[{place}]({url})"),
        None => place,
    };
    match (&loc, config_only) {
        (Some(l), _) => {
            let top = l
                .candidates
                .first()
                .ok_or_else(|| missing("localized location"))?;
            let _ = writeln!(
                b,
                "{} in `{}` (at {}) — {}\n",
                link(format!("`{}:{}`", top.file, top.line)),
                top.function,
                base.short(),
                top.reason
            );
        }
        (None, Some(c)) => {
            let setting = c
                .applied
                .as_ref()
                .map(|a| format!(" `{}`", a.path))
                .unwrap_or_default();
            let _ = writeln!(
                b,
                "No code location: the incident has no stack trace, and the fix is a \
                 configuration change for a {} incident. The setting{setting} is at {} (at {}).\n",
                incident_kind(pattern.as_ref()),
                link(format!("`{}:{}`", patch.file, patch.line)),
                base.short()
            );
        }
        (None, None) => return Err(missing("localization")),
    }
    match chosen {
        Some(c) => {
            let _ = writeln!(b, "## Fix ({}): `{}`\n", c.kind, c.id);
            if let Some(r) = &c.reverted {
                let _ = writeln!(
                    b,
                    "Reverts commit {} (\"{}\"){}.\n",
                    r.sha,
                    r.summary,
                    match r.mode {
                        crate::fix::revert_cause::RevertMode::Full => "",
                        crate::fix::revert_cause::RevertMode::Hunk => ", only the faulty hunk",
                    }
                );
            }
            let _ = writeln!(b, "Why: {}\n", c.reason);
            let (added, removed) = c
                .patches
                .iter()
                .fold((0, 0), |(a, r), p| (a + p.lines_added, r + p.lines_removed));
            let files = c.patches.len();
            let diff: String = c.patches.iter().map(|p| p.diff.as_str()).collect();
            let _ = writeln!(
                b,
                "{} — {files} file{}, +{added} −{removed} lines.\n\n```diff\n{diff}```\n",
                c.summary,
                if files == 1 { "" } else { "s" },
            );
        }
        None => {
            let _ = writeln!(b, "## Fix ({}): `{}`\n", plan.fix_kind, patch.template_id);
            let _ = writeln!(
                b,
                "{} — {} file, +{} −{} lines.\n\n```diff\n{}```\n",
                patch.summary, 1, patch.lines_added, patch.lines_removed, patch.diff
            );
        }
    }
    if let Some(s) = &selection {
        if !s.considered.is_empty() || !s.skipped.is_empty() {
            let _ = writeln!(b, "<details><summary>Fixes considered</summary>\n");
            let _ = writeln!(b, "| # | kind | fix | outcome |\n|---|---|---|---|");
            for (i, c) in s.considered.iter().enumerate() {
                let _ = writeln!(
                    b,
                    "| {} | {} | {} | {} |",
                    i + 1,
                    c.kind,
                    table_cell(&c.description),
                    table_cell(&c.outcome)
                );
            }
            for skipped in &s.skipped {
                let _ = writeln!(b, "\n- not offered: {}", table_cell(skipped));
            }
            let _ = writeln!(b, "\n</details>\n");
        }
    }
    if let Some(v) = &validation {
        let _ = writeln!(b, "Validation: {}\n", v.summary);
    }
    if let Some(r) = &repro {
        let _ = writeln!(
            b,
            "Reproduction on the patched code: {} requests, {} errors ({:.1}%).\n",
            r.requests,
            r.errors,
            r.error_rate * 100.0
        );
    }
    let _ = writeln!(b, "## Risk: {:.2} ({})\n", plan.risk.total, plan.risk.level);
    let _ = writeln!(
        b,
        "| factor | value | weight | contribution |\n|---|---|---|---|"
    );
    for f in &plan.risk.factors {
        let _ = writeln!(
            b,
            "| {} | {:.2} | {:.2} | {:.3} |",
            f.name, f.value, f.weight, f.contribution
        );
    }
    // Which rollout, why, and what it means for this PR.
    let _ = writeln!(b, "\n## Strategy: {}\n", plan.decision.strategy);
    for r in &plan.decision.reasons {
        let _ = writeln!(b, "- {r}");
    }
    let _ = writeln!(b, "\n{rollout}");
    if let Some(g) = &gates {
        let _ = writeln!(b, "\n## Safety gates\n\n{}", g.to_markdown_table());
    }
    if let Some((seq, hash)) = audit_head {
        let _ = writeln!(
            b,
            "\n---\n<sub>healbot audit head · seq {seq} · hash {hash}</sub>"
        );
    }
    Ok(b)
}

/// What kind of incident a config fix answers, in words: `latency` for `high_latency`.
fn incident_kind(pattern: Option<&crate::detect::PatternMatch>) -> String {
    use crate::detect::ErrorPattern;
    match pattern.map(|p| p.pattern) {
        Some(ErrorPattern::HighLatency) => "latency".into(),
        Some(p) => format!("`{}`", p.id()),
        None => "operational".into(),
    }
}

/// Text for one markdown table cell: on one line, pipes escaped.
fn table_cell(text: &str) -> String {
    text.replace('\n', " ").replace('|', "\\|")
}

/// The judge's verdict on a step, titled `what` ("Canary at 10%", "Blue-green preview").
pub(crate) fn canary_comment(what: &str, r: &CanaryReport) -> String {
    let mut s = format!(
        "{what}: **{:?}** (score {:.0}). {}\n\n| metric | classification | p-value | effect size |\n|---|---|---|---|\n",
        r.verdict, r.score, r.reason
    );
    for m in &r.metrics {
        let _ = writeln!(
            s,
            "| {} | {:?} | {} | {} |",
            m.name,
            m.classification,
            m.p_value.map_or("–".into(), |p| format!("{p:.4}")),
            m.effect_size.map_or("–".into(), |e| format!("{e:.3}"))
        );
    }
    s
}

pub(crate) fn status(op: &Operation) -> String {
    let last = op
        .history
        .last()
        .map(|(_, _, r)| r.as_str())
        .unwrap_or_default();
    format!("Operation {} is **{}**: {last}", op.id, op.state)
}

pub(crate) fn explain(op: &Operation) -> String {
    let mut s = status(op);
    // A reply to a person: a record that cannot be read is said, not left out.
    match op.artifact(&artifacts::RCA) {
        Ok(Some(rca)) => {
            let _ = write!(
                s,
                "\n\nRoot cause `{}`: {}",
                rca.root_cause,
                rca.evidence.join("; ")
            );
        }
        Ok(None) => {}
        Err(e) => {
            let _ = write!(s, "\n\n{e}");
        }
    }
    match op.artifact(&artifacts::PLAN) {
        Ok(Some(plan)) => {
            let _ = write!(
                s,
                "\n\nRisk {:.2}, strategy {:?}: {}",
                plan.risk.total,
                plan.decision.strategy,
                plan.decision.reasons.join("; ")
            );
        }
        Ok(None) => {}
        Err(e) => {
            let _ = write!(s, "\n\n{e}");
        }
    }
    s
}

/// What the audit history says about a service, for the gates.
#[derive(Debug, Default, Clone)]
pub(crate) struct ServiceHistory {
    pub consecutive_failures: u32,
    pub seconds_since_last_deploy: Option<i64>,
    pub incidents_last_hour: u32,
}

pub(crate) async fn service_history(
    journal: &Journal,
    service: &str,
    except: &OperationId,
    now: chrono::DateTime<chrono::Utc>,
) -> ServiceHistory {
    let mut ops: Vec<Operation> = journal
        .operations()
        .await
        .into_iter()
        .filter(|op| &op.id != except)
        .filter(|op| {
            in_scan(op.artifact(&artifacts::RCA)).is_some_and(|r| r.root_cause == service)
                || op.opened["incident"]["service"].as_str() == Some(service)
        })
        .collect();
    ops.sort_by_key(|op| op.history.first().map(|h| h.0));
    let mut h = ServiceHistory::default();
    for op in ops.iter().rev() {
        match op.state {
            OpState::RolledBack | OpState::Failed => h.consecutive_failures += 1,
            OpState::Completed => break,
            _ => {}
        }
    }
    for op in &ops {
        if let Some(opened) = op
            .history
            .first()
            .and_then(|(seq, _, _)| op.history_at.get(seq))
        {
            if (now - *opened).num_seconds() < 3600 {
                h.incidents_last_hour += 1;
            }
        }
        for (seq, state, _) in &op.history {
            if matches!(state, OpState::Deploying(_)) {
                if let Some(t) = op.history_at.get(seq) {
                    let age = (now - *t).num_seconds();
                    h.seconds_since_last_deploy =
                        Some(h.seconds_since_last_deploy.map_or(age, |a| a.min(age)));
                }
            }
        }
    }
    h
}

/// One line of the demo's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineRow {
    pub seconds: f64,
    pub operation: String,
    pub component: String,
    pub action: String,
    pub state: String,
}

/// Which part of healbot an effect key (`<op>/<effect>/…`) belongs to.
fn effect_component(key: &str) -> &'static str {
    match key.split('/').nth(1).unwrap_or_default() {
        "lock" => "lock",
        "canary" | "rollback" => "gitops",
        "override" => "review",
        _ => "forge",
    }
}

fn component(action: &str) -> &str {
    action.split('.').next().unwrap_or(action)
}

/// The audit log as a timeline, relative to `start` (unix seconds, fractional).
pub fn timeline(entries: &[AuditEntry], start: f64) -> Vec<TimelineRow> {
    let mut states = std::collections::BTreeMap::<String, String>::new();
    entries
        .iter()
        .map(|e| {
            let t = chrono::DateTime::parse_from_rfc3339(&e.ts)
                .map(|t| t.timestamp_micros() as f64 / 1e6)
                .unwrap_or(start);
            let state = states
                .entry(e.operation_id.clone())
                .or_insert_with(|| "Detected".into());
            let action = match e.action.as_str() {
                crate::operation::state::action::TRANSITION => {
                    if let Ok(to) = serde_json::from_value::<OpState>(e.detail["to"].clone()) {
                        *state = to.to_string();
                    }
                    format!(
                        "→ {}: {}",
                        state,
                        e.detail["reason"].as_str().unwrap_or_default()
                    )
                }
                crate::operation::state::action::EFFECT => {
                    format!("done {}", e.detail["key"].as_str().unwrap_or_default())
                }
                crate::operation::state::action::ARTIFACT => {
                    format!("recorded {}", e.detail["name"].as_str().unwrap_or_default())
                }
                other => other.to_string(),
            };
            TimelineRow {
                seconds: t - start,
                operation: e.operation_id.clone(),
                component: match e.action.as_str() {
                    crate::operation::state::action::TRANSITION => "operation".into(),
                    crate::operation::state::action::ARTIFACT => e.detail["name"]
                        .as_str()
                        .map(|n| n.split('/').next().unwrap_or(n).to_string())
                        .unwrap_or_default(),
                    crate::operation::state::action::EFFECT => {
                        effect_component(e.detail["key"].as_str().unwrap_or_default()).into()
                    }
                    other => component(other).to_string(),
                },
                action,
                state: state.clone(),
            }
        })
        .collect()
}

/// Seconds spent in each stage of one operation: detect, analyze, gates and lock, PR and
/// review, canary, verify.
pub fn mttr_breakdown(
    entries: &[AuditEntry],
    op: &OperationId,
    detected_at: f64,
) -> Vec<(String, f64)> {
    let mut marks: Vec<(OpState, f64)> = Vec::new();
    for e in entries.iter().filter(|e| e.operation_id == op.0) {
        let t = chrono::DateTime::parse_from_rfc3339(&e.ts)
            .map(|t| t.timestamp_micros() as f64 / 1e6)
            .unwrap_or(detected_at);
        if e.action == crate::operation::state::action::OPENED {
            marks.push((OpState::Detected, t));
        } else if e.action == crate::operation::state::action::TRANSITION {
            if let Ok(to) = serde_json::from_value::<OpState>(e.detail["to"].clone()) {
                marks.push((to, t));
            }
        }
    }
    let at = |pred: &dyn Fn(OpState) -> bool| marks.iter().find(|(s, _)| pred(*s)).map(|(_, t)| *t);
    let opened = at(&|s| s == OpState::Detected).unwrap_or(detected_at);
    let planned = at(&|s| s == OpState::Planned);
    let locked = at(&|s| s == OpState::Locked);
    let merged = at(&|s| s == OpState::Merged);
    let verifying = at(&|s| s == OpState::Verifying);
    let end = marks.last().map(|(_, t)| *t);
    let span = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b >= a => b - a,
        _ => 0.0,
    };
    vec![
        ("detect".into(), (opened - detected_at).max(0.0)),
        (
            "analyze (RCA, localize, fix, validate)".into(),
            span(Some(opened), planned),
        ),
        ("gates and lock".into(), span(planned, locked)),
        ("PR and review".into(), span(locked, merged)),
        ("canary".into(), span(merged, verifying)),
        ("verify".into(), span(verifying, end)),
        ("total (MTTR)".into(), span(Some(detected_at), end)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{ErrorPattern, PatternMatch};
    use crate::plan::{FixChoice, FixKind, RiskInput};

    /// An operation as the config-only path records it: no localization, a `pattern`.
    fn config_only_op() -> (Operation, OperationSpec) {
        let incident = crate::detect::Incident {
            id: crate::model::IncidentId("alert-payment-service".into()),
            service: "payment-service".into(),
            severity: crate::model::Severity::High,
            title: "payment-service: SlowP99".into(),
            detected_at: 0,
            signals: Vec::new(),
            pattern: None,
            confidence: None,
        };
        let patch = Patch {
            file: "deploy/rollout.yaml".into(),
            original: "spec:\n  replicas: 4\n".into(),
            patched: "spec:\n  replicas: 6\n".into(),
            diff: "-  replicas: 4\n+  replicas: 6\n".into(),
            template_id: "config.replicas".into(),
            confidence: 0.7,
            risk: crate::fix::Risk::Low,
            summary: "Raise replicas `spec.replicas` in deploy/rollout.yaml from 4 to 6".into(),
            lines_added: 1,
            lines_removed: 1,
            line: 2,
        };
        let chosen = super::super::artifacts::ChosenFix {
            kind: FixKind::Config,
            id: "config.replicas".into(),
            summary: patch.summary.clone(),
            reason: "`high_latency` is a config pattern".into(),
            reverted: None,
            patches: vec![patch.clone()],
            deleted: Vec::new(),
            applied: Some(crate::fix::config::AppliedConfigFix {
                service: "payment-service".into(),
                pattern: "high_latency".into(),
                kind: crate::fix::config::ConfigKind::Replicas,
                file: "deploy/rollout.yaml".into(),
                path: "spec.replicas".into(),
            }),
            validation: super::super::artifacts::ValidationReport {
                passed: true,
                syntax: "re-parses without errors".into(),
                check: None,
                summary: "re-parses".into(),
            },
        };
        let plan = FixPlan::new(
            FixChoice {
                service: "payment-service".into(),
                fix_kind: FixKind::Config,
                template_id: Some("config.replicas".into()),
                reverted_commit: None,
                confidence: 0.5,
                blast_radius: 0.1,
            },
            &RiskInput {
                criticality: 0.5,
                lines_changed: 2,
                severity: crate::model::Severity::High,
                at: chrono::Utc::now(),
            },
            &crate::config::PolicySet::embedded().risk,
        );
        let rca = RcaReport {
            root_cause: "payment-service".into(),
            ranking: Vec::new(),
            causal_chain: vec!["payment-service".into()],
            evidence: vec!["payment-service: p99 latency 4400 ms (objective 1500 ms)".into()],
            confidence: 0.3,
        };
        let selection = super::super::artifacts::FixSelection {
            chosen: Some(chosen),
            ..Default::default()
        };
        let pattern = PatternMatch {
            pattern: ErrorPattern::HighLatency,
            confidence: 0.75,
            evidence: "alert SlowP99".into(),
        };
        let json = |v: serde_json::Result<serde_json::Value>| v.unwrap();
        let artifacts = [
            ("rca", json(serde_json::to_value(&rca))),
            ("patch", json(serde_json::to_value(&patch))),
            ("plan", json(serde_json::to_value(&plan))),
            ("fix", json(serde_json::to_value(&selection))),
            ("pattern", json(serde_json::to_value(&pattern))),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let op = Operation {
            id: OperationId("op-1".into()),
            correlation_id: "alert-payment-service".into(),
            state: OpState::AwaitingGates,
            paused_from: None,
            opened: serde_json::Value::Null,
            effects: Default::default(),
            artifacts,
            history: Vec::new(),
            history_at: Default::default(),
            last_seq: 0,
        };
        let spec = OperationSpec {
            incident,
            repo: crate::forge::RepoRef("acme/payment-service".into()),
        };
        (op, spec)
    }

    #[test]
    fn a_config_fix_without_a_code_location_says_so() {
        let (mut op, spec) = config_only_op();
        let graph = crate::topology::graph::DependencyGraph::from_catalog_yaml(
            include_str!("../../testdata/services/payment-service/catalog.yaml"),
            "catalog.yaml",
        )
        .unwrap();
        let base = CommitSha("1f2c7ecd6731727e258a1f56068ce2756f188ee9".into());
        let url = "https://github.example/acme/payment-service/blob/1f2c7ec/deploy/rollout.yaml#L2";
        let body = pr_body(&op, &spec, &base, None, &graph, Some(url.into()), "").unwrap();
        assert!(
            body.contains("Error pattern `high_latency` (75% confidence): `alert SlowP99`"),
            "{body}"
        );
        assert!(
            body.contains(&format!(
                "No code location: the incident has no stack trace, and the fix is a \
                 configuration change for a latency incident. The setting `spec.replicas` is at \
                 [`deploy/rollout.yaml:2`]({url}) (at 1f2c7ec)."
            )),
            "{body}"
        );
        assert!(
            body.contains("## Fix (config): `config.replicas`"),
            "{body}"
        );

        // Without a localization only a config fix stands: anything else is an error, not a
        // panic.
        let mut selection = op.artifact(&artifacts::FIX).unwrap().unwrap();
        selection.chosen.as_mut().unwrap().kind = FixKind::Template;
        op.artifacts.insert(
            artifacts::FIX.name().into(),
            serde_json::to_value(&selection).unwrap(),
        );
        let err = pr_body(&op, &spec, &base, None, &graph, None, "").unwrap_err();
        assert!(
            err.to_string().contains("no localization recorded"),
            "{err}"
        );
    }
}
