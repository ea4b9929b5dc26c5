//! Planning: given a candidate fix, how risky it is to ship and how it should go out. The plan
//! is the input of the safety gates and is shown in the PR; it knows nothing of the stages after.

pub mod risk;
pub mod strategy;

pub use risk::{score, RiskFactor, RiskInput, RiskLevel, RiskScore};
pub use strategy::{choose, Strategy, StrategyDecision};

use crate::config::risk::RiskPolicy;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of change the fix is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FixKind {
    /// A code edit from a fix template (`python.none-guard`…).
    Template,
    /// Reverting the commit that introduced the fault.
    Revert,
    /// A configuration or manifest change (limits, pool sizes, flags).
    Config,
}

impl fmt::Display for FixKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FixKind::Template => "template",
            FixKind::Revert => "revert",
            FixKind::Config => "config",
        })
    }
}

/// The chosen fix, with the risk and rollout decision it was given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixPlan {
    pub service: String,
    pub fix_kind: FixKind,
    /// The template id for [`FixKind::Template`] (`python.none-guard`).
    pub template_id: Option<String>,
    /// The commit a [`FixKind::Revert`] undoes (full sha).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverted_commit: Option<String>,
    /// How sure healbot is that the fix addresses the fault, in [0, 1].
    pub confidence: f64,
    /// Share of the other services that depend on the service, in [0, 1].
    pub blast_radius: f64,
    pub risk: RiskScore,
    pub decision: StrategyDecision,
}

/// What [`FixPlan::new`] needs besides the risk input.
#[derive(Debug, Clone, PartialEq)]
pub struct FixChoice {
    pub service: String,
    pub fix_kind: FixKind,
    pub template_id: Option<String>,
    /// The commit a revert undoes.
    pub reverted_commit: Option<String>,
    pub confidence: f64,
    pub blast_radius: f64,
}

impl FixPlan {
    /// Scores the risk and chooses the strategy for `fix`.
    pub fn new(fix: FixChoice, input: &RiskInput, policy: &RiskPolicy) -> FixPlan {
        let risk = score(input, policy);
        let decision = choose(&risk, fix.confidence, fix.blast_radius, policy);
        FixPlan {
            service: fix.service,
            fix_kind: fix.fix_kind,
            template_id: fix.template_id,
            reverted_commit: fix.reverted_commit,
            confidence: fix.confidence,
            blast_radius: fix.blast_radius,
            risk,
            decision,
        }
    }

    pub fn strategy(&self) -> Strategy {
        self.decision.strategy
    }

    #[cfg(test)]
    /// The plan section of the PR body: decision, reasons and the risk breakdown.
    pub fn to_markdown(&self) -> String {
        let fix = match (&self.reverted_commit, &self.template_id) {
            (Some(sha), _) => format!("{} of `{}`", self.fix_kind, &sha[..sha.len().min(10)]),
            (None, Some(id)) => format!("{} `{id}`", self.fix_kind),
            (None, None) => self.fix_kind.to_string(),
        };
        let mut out = format!(
            "**Strategy: {}** · fix: {fix} on `{}` · confidence {:.0}% · blast radius {:.0}% · \
             risk {:.2} ({})\n\n",
            self.decision.strategy,
            self.service,
            self.confidence * 100.0,
            self.blast_radius * 100.0,
            self.risk.total,
            self.risk.level,
        );
        for reason in &self.decision.reasons {
            out.push_str(&format!("- {reason}\n"));
        }
        out.push('\n');
        out.push_str(&self.risk.to_markdown_table());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PolicySet;
    use crate::model::Severity;
    use chrono::TimeZone;

    #[test]
    fn plan_bundles_risk_and_decision() {
        let policy = PolicySet::embedded().risk;
        let input = RiskInput {
            criticality: 0.9,
            lines_changed: 3,
            severity: Severity::High,
            at: chrono::Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap(),
        };
        let fix = FixChoice {
            service: "payment-service".to_string(),
            fix_kind: FixKind::Template,
            template_id: Some("python.none-guard".to_string()),
            reverted_commit: None,
            confidence: 0.9,
            blast_radius: 0.1,
        };
        let plan = FixPlan::new(fix, &input, &policy);
        assert_eq!(plan.strategy(), Strategy::Canary);
        let md = plan.to_markdown();
        assert!(
            md.starts_with("**Strategy: CANARY** · fix: template `python.none-guard`"),
            "{md}"
        );
        assert!(md.contains("| timing |"), "{md}");
    }

    #[test]
    fn a_revert_plan_names_the_reverted_commit() {
        let policy = PolicySet::embedded().risk;
        let input = RiskInput {
            criticality: 0.5,
            lines_changed: 4,
            severity: Severity::High,
            at: chrono::Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap(),
        };
        let fix = FixChoice {
            service: "payment-service".to_string(),
            fix_kind: FixKind::Revert,
            template_id: Some("revert.full".to_string()),
            reverted_commit: Some("0123456789abcdef0123456789abcdef01234567".to_string()),
            confidence: 0.8,
            blast_radius: 0.1,
        };
        let plan = FixPlan::new(fix, &input, &policy);
        assert!(
            plan.to_markdown().contains("fix: revert of `0123456789`"),
            "{}",
            plan.to_markdown()
        );
        // Plans recorded before reverts existed still read.
        let mut old = serde_json::to_value(&plan).unwrap();
        old.as_object_mut().unwrap().remove("reverted_commit");
        let back: FixPlan = serde_json::from_value(old).unwrap();
        assert_eq!(back.reverted_commit, None);
    }
}
