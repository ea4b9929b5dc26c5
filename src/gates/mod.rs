//! Safety gates: checks run after the plan and before the lock, each against one observation of
//! the running system (error budget, blast radius, recent failures, cooldown, capacity,
//! incident rate) or one policy (freeze windows, protected paths). Each reports what it saw,
//! its threshold and a verdict; the worst verdict decides whether healbot goes on, waits for a
//! person or stops. One file per gate so each can be read and tested alone.

pub mod blast_radius;
pub mod capacity;
pub mod cooldown;
pub mod error_budget;
pub mod freeze;
pub mod incident_rate;
pub mod protected_paths;
pub mod recent_failures;

use crate::config::freeze::FreezePolicy;
use crate::config::gates::GatesPolicy;
use crate::config::policy::PolicySet;
use crate::config::protected_paths::ProtectedPathsPolicy;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What the gates look at. The metrics source fills the rates and utilisations, the audit
/// history the failures, deploys and incident count, the plan the blast radius and paths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateContext {
    /// The service the fix ships to.
    pub service: String,
    pub now: DateTime<Utc>,
    /// The service's current error rate, in [0, 1]; shown next to the budget.
    pub error_rate: f64,
    /// Share of the SLO window's error budget consumed (1.0 = exhausted); see
    /// [`crate::config::gates::ErrorBudgetGate::consumed`].
    pub error_budget_consumed: f64,
    /// Share of the other services that depend on the service, in [0, 1].
    pub blast_radius: f64,
    /// Consecutive failed healbot operations on the service, newest backwards.
    pub consecutive_failures: u32,
    /// `None` when the service has no deploy on record.
    pub seconds_since_last_deploy: Option<u64>,
    /// In [0, 1].
    pub cpu_utilisation: f64,
    /// In [0, 1].
    pub memory_utilisation: f64,
    /// Incidents opened in the incident-rate window (the last hour by default).
    pub incidents_last_hour: u32,
    /// Paths the fix changes, relative to the repository root.
    pub changed_paths: Vec<String>,
}

/// Ordered from best to worst, so the report's verdict is the maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GateVerdict {
    Pass,
    /// A person decides through the PR.
    Pause,
    /// The operation stops.
    Block,
}

impl fmt::Display for GateVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GateVerdict::Pass => "pass",
            GateVerdict::Pause => "pause",
            GateVerdict::Block => "block",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    pub name: String,
    pub observed: String,
    pub threshold: String,
    pub verdict: GateVerdict,
    pub reason: String,
}

impl GateResult {
    fn new(
        name: &str,
        observed: String,
        threshold: String,
        verdict: GateVerdict,
        reason: String,
    ) -> GateResult {
        GateResult {
            name: name.to_string(),
            observed,
            threshold,
            verdict,
            reason,
        }
    }

    /// A gate whose input is not a number: nobody can say it is safe, so a person decides.
    fn no_data(name: &str, what: &str, threshold: String) -> GateResult {
        GateResult::new(
            name,
            "no data".to_string(),
            threshold,
            GateVerdict::Pause,
            format!("{what} is unknown; a person decides"),
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReport {
    pub results: Vec<GateResult>,
    /// The worst verdict of all results.
    pub verdict: GateVerdict,
}

impl GateReport {
    pub(crate) fn from_results(results: Vec<GateResult>) -> GateReport {
        let verdict = results
            .iter()
            .map(|r| r.verdict)
            .max()
            .unwrap_or(GateVerdict::Pass);
        GateReport { results, verdict }
    }

    /// The results that did not pass, worst first.
    pub fn failing(&self) -> Vec<&GateResult> {
        let mut failing: Vec<&GateResult> = self
            .results
            .iter()
            .filter(|r| r.verdict != GateVerdict::Pass)
            .collect();
        failing.sort_by_key(|r| std::cmp::Reverse(r.verdict));
        failing
    }

    /// The gate table for the PR body and the check run.
    pub(crate) fn to_markdown_table(&self) -> String {
        let mut out = String::from(
            "| Gate | Observed | Threshold | Verdict | Reason |\n|---|---|---|---|---|\n",
        );
        for r in &self.results {
            out.push_str(&format!(
                "| {} | {} | {} | {} {} | {} |\n",
                cell(&r.name),
                cell(&r.observed),
                cell(&r.threshold),
                icon(r.verdict),
                r.verdict,
                cell(&r.reason),
            ));
        }
        out.push_str(&format!(
            "\n**Gates: {} {}**\n",
            icon(self.verdict),
            self.verdict
        ));
        out
    }
}

fn icon(verdict: GateVerdict) -> &'static str {
    match verdict {
        GateVerdict::Pass => "✅",
        GateVerdict::Pause => "⏸️",
        GateVerdict::Block => "⛔",
    }
}

/// Keeps a table cell one cell: no pipes, no line breaks.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Runs the six seed gates always, and the freeze and protected-paths gates when their
/// policies have entries.
pub fn evaluate(
    ctx: &GateContext,
    gates: &GatesPolicy,
    freeze: &FreezePolicy,
    protected: &ProtectedPathsPolicy,
) -> GateReport {
    let mut results = vec![
        error_budget::check(ctx, &gates.error_budget),
        blast_radius::check(ctx, &gates.blast_radius),
        recent_failures::check(ctx, &gates.recent_failures),
        cooldown::check(ctx, &gates.cooldown),
        capacity::check(ctx, &gates.capacity),
        incident_rate::check(ctx, &gates.incident_rate),
    ];
    if !freeze.is_empty() {
        results.push(freeze::check(ctx, freeze));
    }
    if !protected.is_empty() {
        results.push(protected_paths::check(ctx, protected));
    }
    GateReport::from_results(results)
}

/// [`evaluate`] with every gate policy of a policy set.
pub(crate) fn evaluate_policies(ctx: &GateContext, policies: &PolicySet) -> GateReport {
    evaluate(
        ctx,
        &policies.gates,
        &policies.freeze,
        &policies.protected_paths,
    )
}

fn pct(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;

    /// A healthy system: every seed gate passes.
    pub(crate) fn calm() -> GateContext {
        GateContext {
            service: "payment-service".to_string(),
            now: Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap(),
            error_rate: 0.001,
            error_budget_consumed: 0.1,
            blast_radius: 0.1,
            consecutive_failures: 0,
            seconds_since_last_deploy: Some(86_400),
            cpu_utilisation: 0.3,
            memory_utilisation: 0.4,
            incidents_last_hour: 1,
            changed_paths: vec!["payment_processor.py".to_string()],
        }
    }

    pub(crate) fn policies() -> PolicySet {
        PolicySet::embedded()
    }

    #[test]
    fn calm_system_passes_all_gates() {
        let report = evaluate_policies(&calm(), &policies());
        assert_eq!(report.verdict, GateVerdict::Pass, "{report:#?}");
        let names: Vec<&str> = report.results.iter().map(|r| r.name.as_str()).collect();
        // No freeze windows in the default policy; protected paths are listed.
        assert_eq!(
            names,
            [
                "error_budget",
                "blast_radius",
                "recent_failures",
                "cooldown",
                "capacity",
                "incident_rate",
                "protected_paths"
            ]
        );
    }

    #[test]
    fn worst_verdict_wins() {
        let mut ctx = calm();
        ctx.blast_radius = 0.5;
        let report = evaluate_policies(&ctx, &policies());
        assert_eq!(report.verdict, GateVerdict::Pause);
        ctx.seconds_since_last_deploy = Some(60);
        let report = evaluate_policies(&ctx, &policies());
        assert_eq!(report.verdict, GateVerdict::Block);
        let failing: Vec<&str> = report.failing().iter().map(|r| r.name.as_str()).collect();
        assert_eq!(failing, ["cooldown", "blast_radius"]);
    }

    #[test]
    fn markdown_table_has_one_row_per_gate_and_escapes_cells() {
        let mut report = evaluate_policies(&calm(), &policies());
        report.results[0].reason = "a | b\nc".to_string();
        let table = report.to_markdown_table();
        assert!(table.contains("a \\| b c"), "{table}");
        let rows = table.lines().filter(|l| l.starts_with("| ")).count();
        assert_eq!(rows, 1 + report.results.len());
        assert!(table.contains("**Gates: ✅ pass**"), "{table}");
    }
}
