//! `policies/risk.yaml`: how much each factor weighs in the risk of shipping a fix, and the
//! thresholds that turn risk, confidence and blast radius into a rollout strategy.

use super::window::WeeklyWindow;
use super::yaml::{check_at_least, check_unit, FieldError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskPolicy {
    pub weights: RiskWeights,
    pub strategy: StrategyThresholds,
    pub change_size: ChangeSizePolicy,
    pub timing: TimingPolicy,
}

/// `risk = criticality·w1 + change_size·w2 + severity·w3 + timing·w4`; the weights sum to 1 so
/// that the risk stays in [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskWeights {
    pub criticality: f64,
    pub change_size: f64,
    pub severity: f64,
    pub timing: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyThresholds {
    /// Risk above this: a person reviews and rolls out (MANUAL_REVIEW); also "high" risk.
    pub manual_review_above: f64,
    /// Risk above this: canary steps (CANARY); also "medium" risk. At or below: DIRECT.
    pub canary_above: f64,
    /// A fix whose confidence is under this always goes to a person.
    pub min_confidence: f64,
    /// A root cause whose blast radius is over this always goes to a person.
    pub max_blast_radius: f64,
    /// Approvals a MANUAL_REVIEW fix needs, from distinct people, before healbot merges it;
    /// at least 2, so one person never ships a fix healbot found risky.
    #[serde(default = "default_manual_review_approvals")]
    pub manual_review_approvals: u32,
    /// Whether a low-risk fix may go out DIRECT (one step to 100% and verification); when
    /// `false` it gets the canary instead.
    #[serde(default = "default_direct_allowed")]
    pub direct_allowed: bool,
}

/// Fewest approvals `manual_review_approvals` may ask for.
pub(crate) const MIN_MANUAL_REVIEW_APPROVALS: u32 = 2;

fn default_manual_review_approvals() -> u32 {
    MIN_MANUAL_REVIEW_APPROVALS
}

fn default_direct_allowed() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeSizePolicy {
    /// Lines changed (added + removed) at which the change-size factor reaches 1.
    pub full_at_lines: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimingPolicy {
    pub peak_hours: WeeklyWindow,
    /// Timing factor inside peak hours.
    pub peak: f64,
    /// Timing factor outside peak hours.
    pub off_peak: f64,
}

/// How far the weights may sum away from 1 (YAML decimals are not exact).
pub(crate) const WEIGHT_SUM_TOLERANCE: f64 = 0.01;

impl RiskPolicy {
    pub fn validate(&self) -> Result<(), FieldError> {
        let w = &self.weights;
        for (name, value) in [
            ("criticality", w.criticality),
            ("change_size", w.change_size),
            ("severity", w.severity),
            ("timing", w.timing),
        ] {
            check_unit(&format!("weights.{name}"), value)?;
        }
        let sum = w.criticality + w.change_size + w.severity + w.timing;
        if (sum - 1.0).abs() > WEIGHT_SUM_TOLERANCE {
            return Err(FieldError::new(
                "weights",
                format!("must sum to 1 (±{WEIGHT_SUM_TOLERANCE}), got {sum:.3}"),
            ));
        }

        let s = &self.strategy;
        check_unit("strategy.manual_review_above", s.manual_review_above)?;
        check_unit("strategy.canary_above", s.canary_above)?;
        if s.canary_above >= s.manual_review_above {
            return Err(FieldError::new(
                "strategy.canary_above",
                format!(
                    "must be below strategy.manual_review_above ({}), got {}",
                    s.manual_review_above, s.canary_above
                ),
            ));
        }
        check_unit("strategy.min_confidence", s.min_confidence)?;
        check_unit("strategy.max_blast_radius", s.max_blast_radius)?;
        check_at_least(
            "strategy.manual_review_approvals",
            u64::from(s.manual_review_approvals),
            u64::from(MIN_MANUAL_REVIEW_APPROVALS),
        )?;

        check_at_least(
            "change_size.full_at_lines",
            u64::from(self.change_size.full_at_lines),
            1,
        )?;

        self.timing.peak_hours.validate("timing.peak_hours")?;
        check_unit("timing.peak", self.timing.peak)?;
        check_unit("timing.off_peak", self.timing.off_peak)?;
        Ok(())
    }
}
