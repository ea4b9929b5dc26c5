//! The risk of shipping a fix, as a weighted sum of four factors in [0, 1] (criticality, change
//! size, severity, timing) with the weights from `policies/risk.yaml`. The breakdown is kept so
//! the PR can show why the number is what it is.

use crate::config::risk::RiskPolicy;
use crate::model::Severity;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub struct RiskInput {
    /// The service's criticality from the catalog, in [0, 1].
    pub criticality: f64,
    /// Lines added plus lines removed by the fix.
    pub lines_changed: u32,
    pub severity: Severity,
    /// When the fix would ship.
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskLevel {
    Low,
    Medium,
    High,
}

impl fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskFactor {
    pub name: String,
    /// The factor in [0, 1].
    pub value: f64,
    pub weight: f64,
    /// `value × weight`.
    pub contribution: f64,
    /// Where the value comes from, for a person reading the PR.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskScore {
    /// Sum of the contributions, in [0, 1].
    pub total: f64,
    pub level: RiskLevel,
    pub factors: Vec<RiskFactor>,
}

/// Scores `input` with the weights, change-size scale and peak hours of `policy`.
pub fn score(input: &RiskInput, policy: &RiskPolicy) -> RiskScore {
    let w = &policy.weights;
    // An unknown criticality is taken as the highest: the safe side.
    let criticality = if input.criticality.is_finite() {
        input.criticality.clamp(0.0, 1.0)
    } else {
        1.0
    };
    let full = f64::from(policy.change_size.full_at_lines.max(1));
    let change_size = (f64::from(input.lines_changed) / full).min(1.0);
    let peak = policy.timing.peak_hours.contains(input.at);
    let timing = if peak {
        policy.timing.peak
    } else {
        policy.timing.off_peak
    };

    let factor = |name: &str, value: f64, weight: f64, detail: String| RiskFactor {
        name: name.to_string(),
        value,
        weight,
        contribution: value * weight,
        detail,
    };
    let factors = vec![
        factor(
            "criticality",
            criticality,
            w.criticality,
            "service criticality from the catalog".to_string(),
        ),
        factor(
            "change_size",
            change_size,
            w.change_size,
            format!(
                "{} lines changed of {} for the full factor",
                input.lines_changed, policy.change_size.full_at_lines
            ),
        ),
        factor(
            "severity",
            input.severity.factor(),
            w.severity,
            format!("incident severity {}", input.severity),
        ),
        factor(
            "timing",
            timing,
            w.timing,
            format!(
                "{} ({})",
                if peak { "peak hours" } else { "off-peak" },
                policy.timing.peak_hours
            ),
        ),
    ];
    let total = factors
        .iter()
        .map(|f| f.contribution)
        .sum::<f64>()
        .clamp(0.0, 1.0);
    RiskScore {
        total,
        level: level(total, policy),
        factors,
    }
}

/// The level uses the strategy thresholds, so "high" risk and MANUAL_REVIEW mean the same line.
pub fn level(total: f64, policy: &RiskPolicy) -> RiskLevel {
    if total > policy.strategy.manual_review_above {
        RiskLevel::High
    } else if total > policy.strategy.canary_above {
        RiskLevel::Medium
    } else {
        RiskLevel::Low
    }
}

impl RiskScore {
    #[cfg(test)]
    /// The breakdown as a Markdown table for the PR body.
    pub fn to_markdown_table(&self) -> String {
        let mut out = String::from(
            "| Factor | Value | Weight | Contribution | Why |\n|---|---:|---:|---:|---|\n",
        );
        for f in &self.factors {
            out.push_str(&format!(
                "| {} | {:.2} | {:.2} | {:.3} | {} |\n",
                f.name,
                f.value,
                f.weight,
                f.contribution,
                f.detail.replace('|', "\\|")
            ));
        }
        out.push_str(&format!(
            "| **risk** | | | **{:.3}** | {} |\n",
            self.total, self.level
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PolicySet;
    use chrono::TimeZone;

    fn policy() -> RiskPolicy {
        PolicySet::embedded().risk
    }

    /// Monday noon UTC: inside the default peak hours.
    fn peak() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap()
    }

    /// Sunday 03:00 UTC: off-peak.
    fn night() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 7, 3, 0, 0).unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn weighted_sum_of_the_four_factors() {
        let input = RiskInput {
            criticality: 0.9,
            lines_changed: 4,
            severity: Severity::High,
            at: peak(),
        };
        let s = score(&input, &policy());
        // 0.9·0.4 + (4/200)·0.3 + 0.75·0.2 + 1.0·0.1
        assert!(close(s.total, 0.36 + 0.006 + 0.15 + 0.1), "{}", s.total);
        assert_eq!(s.level, RiskLevel::Medium);
        let names: Vec<&str> = s.factors.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["criticality", "change_size", "severity", "timing"]);
        let sum: f64 = s.factors.iter().map(|f| f.contribution).sum();
        assert!(close(sum, s.total));
    }

    #[test]
    fn off_peak_and_change_size_cap() {
        let input = RiskInput {
            criticality: 1.0,
            lines_changed: 10_000,
            severity: Severity::Critical,
            at: night(),
        };
        let s = score(&input, &policy());
        assert!(close(s.factors[1].value, 1.0));
        assert!(close(s.factors[3].value, 0.3));
        assert!(close(s.total, 0.4 + 0.3 + 0.2 + 0.03));
        assert_eq!(s.level, RiskLevel::High);
    }

    #[test]
    fn small_change_on_a_minor_service_is_low() {
        let input = RiskInput {
            criticality: 0.2,
            lines_changed: 2,
            severity: Severity::Low,
            at: night(),
        };
        let s = score(&input, &policy());
        assert_eq!(s.level, RiskLevel::Low);
    }

    #[test]
    fn out_of_range_criticality_is_clamped_and_nan_is_worst_case() {
        let mut input = RiskInput {
            criticality: 7.0,
            lines_changed: 0,
            severity: Severity::Low,
            at: night(),
        };
        assert!(close(score(&input, &policy()).factors[0].value, 1.0));
        input.criticality = f64::NAN;
        assert!(close(score(&input, &policy()).factors[0].value, 1.0));
    }

    #[test]
    fn level_boundaries_are_strictly_above() {
        let p = policy();
        assert_eq!(level(0.4, &p), RiskLevel::Low);
        assert_eq!(level(0.41, &p), RiskLevel::Medium);
        assert_eq!(level(0.7, &p), RiskLevel::Medium);
        assert_eq!(level(0.71, &p), RiskLevel::High);
    }

    #[test]
    fn markdown_table_lists_every_factor() {
        let input = RiskInput {
            criticality: 0.9,
            lines_changed: 4,
            severity: Severity::High,
            at: peak(),
        };
        let table = score(&input, &policy()).to_markdown_table();
        assert_eq!(table.lines().count(), 2 + 4 + 1);
        assert!(
            table.contains("| criticality | 0.90 | 0.40 | 0.360 |"),
            "{table}"
        );
    }
}
