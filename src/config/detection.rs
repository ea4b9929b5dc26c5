//! `policies/detection.yaml`: the rules that turn a metric into an incident (error rate over a
//! window, latency percentiles, saturation), each with the severity the incident gets.

use super::yaml::{check_at_least, check_unit, FieldError};
use crate::model::Severity;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectionPolicy {
    pub rules: Vec<DetectionRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectionRule {
    /// Unique; incidents and audit entries name the rule that fired.
    pub name: String,
    pub metric: DetectedMetric,
    /// The rule fires when the metric, aggregated over the window, is strictly above this.
    pub above: f64,
    pub window_seconds: u32,
    pub severity: Severity,
    /// PromQL for the Prometheus source; the embedded source computes `metric` itself.
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// What a rule measures. Ratios are in [0, 1]; latencies in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectedMetric {
    ErrorRate,
    LatencyP50Ms,
    LatencyP95Ms,
    LatencyP99Ms,
    CpuUtilisation,
    MemoryUtilisation,
    /// Any other bounded resource: connection pool, queue, thread pool use.
    Saturation,
}

impl DetectedMetric {
    pub(crate) fn is_ratio(self) -> bool {
        !matches!(
            self,
            DetectedMetric::LatencyP50Ms
                | DetectedMetric::LatencyP95Ms
                | DetectedMetric::LatencyP99Ms
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            DetectedMetric::ErrorRate => "error_rate",
            DetectedMetric::LatencyP50Ms => "latency_p50_ms",
            DetectedMetric::LatencyP95Ms => "latency_p95_ms",
            DetectedMetric::LatencyP99Ms => "latency_p99_ms",
            DetectedMetric::CpuUtilisation => "cpu_utilisation",
            DetectedMetric::MemoryUtilisation => "memory_utilisation",
            DetectedMetric::Saturation => "saturation",
        }
    }
}

impl fmt::Display for DetectedMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl DetectionRule {
    pub fn fires(&self, value: f64) -> bool {
        value > self.above
    }
}

impl DetectionPolicy {
    /// The rules that watch `metric`, in file order.
    pub(crate) fn rules_for(&self, metric: DetectedMetric) -> impl Iterator<Item = &DetectionRule> {
        self.rules.iter().filter(move |r| r.metric == metric)
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        if self.rules.is_empty() {
            return Err(FieldError::new(
                "rules",
                "must hold at least one rule, or nothing is ever detected",
            ));
        }
        let mut names = HashSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let at = |f: &str| format!("rules[{i}].{f}");
            if rule.name.trim().is_empty() {
                return Err(FieldError::new(at("name"), "must not be empty"));
            }
            if !names.insert(rule.name.as_str()) {
                return Err(FieldError::new(
                    at("name"),
                    format!("duplicate rule name {:?}", rule.name),
                ));
            }
            if rule.metric.is_ratio() {
                check_unit(&at("above"), rule.above)?;
            } else if !(rule.above.is_finite() && rule.above > 0.0) {
                return Err(FieldError::new(
                    at("above"),
                    format!("must be a latency in ms above 0, got {}", rule.above),
                ));
            }
            check_at_least(&at("window_seconds"), u64::from(rule.window_seconds), 1)?;
            if matches!(&rule.query, Some(q) if q.trim().is_empty()) {
                return Err(FieldError::new(at("query"), "must not be empty when given"));
            }
        }
        Ok(())
    }
}
