//! The canary judge's configuration (`policies/canary.yaml`, and `healbot canary judge
//! --config`): per-metric direction, criticality, weights, absolute thresholds and the traffic
//! a verdict needs. Read from YAML or JSON and validated, naming the field at fault.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;

/// Which change of a metric counts against the canary.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Only a rise is bad (error rate, latency).
    #[default]
    Increase,
    /// Only a fall is bad (throughput, success rate).
    Decrease,
    /// Any change is bad.
    Either,
}

/// What to do with NaN (and infinite) samples, which Prometheus returns for empty windows.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum NanStrategy {
    /// Keep the sample as 0 (Kayenta's `replace`).
    #[serde(alias = "replace")]
    None,
    /// Drop the sample (Kayenta's `remove`).
    #[default]
    Remove,
}

/// Which statistic of the canary's samples an absolute threshold applies to.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ThresholdStat {
    #[default]
    Mean,
    Median,
    Max,
    Min,
}

/// How one metric is judged. Every field has a default, so a config names only what differs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MetricConfig {
    pub direction: Direction,
    /// A failure of this metric fails the run whatever the score.
    pub critical: bool,
    /// Missing data counts as a failure instead of being left out.
    #[serde(alias = "mustHaveData")]
    pub must_have_data: bool,
    #[serde(alias = "nanStrategy")]
    pub nan_strategy: NanStrategy,
    /// Weight of the metric within its group.
    pub weight: f64,
    pub group: String,
    /// Kayenta's effect-size bound: a significant rise fails only when the mean ratio
    /// canary/baseline is above this (1.0: any significant rise; 1.1: more than 10 %).
    #[serde(alias = "allowedIncrease")]
    pub allowed_increase: f64,
    /// A significant fall fails only when the mean ratio is below this (1.0, or e.g. 0.9).
    #[serde(alias = "allowedDecrease")]
    pub allowed_decrease: f64,
    /// A significant shift fails only when its Hodges–Lehmann estimate is at least this large,
    /// in the metric's own unit (e.g. 5 for `latency_ms`): on sub-millisecond latencies a 25 %
    /// rise is scheduling noise that no user notices. 0: any significant shift counts.
    #[serde(alias = "minShift")]
    pub min_shift: f64,
    /// Absolute upper limit for the canary (Flagger's `thresholdRange.max`).
    pub max: Option<f64>,
    /// Absolute lower limit for the canary (Flagger's `thresholdRange.min`).
    pub min: Option<f64>,
    /// The statistic of the canary's samples that `max`/`min` apply to.
    pub threshold_on: ThresholdStat,
}

impl Default for MetricConfig {
    fn default() -> Self {
        MetricConfig {
            direction: Direction::Increase,
            critical: false,
            must_have_data: false,
            nan_strategy: NanStrategy::Remove,
            weight: 1.0,
            group: DEFAULT_GROUP.to_string(),
            allowed_increase: 1.0,
            allowed_decrease: 1.0,
            min_shift: 0.0,
            max: None,
            min: None,
            threshold_on: ThresholdStat::Mean,
        }
    }
}

/// Group of the metrics that name none.
pub const DEFAULT_GROUP: &str = "default";

/// How a whole canary run is judged. Metrics it does not name get [`MetricConfig::default`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct JudgeConfig {
    /// Score (0–100) at or above which the canary passes.
    pub pass_score: f64,
    /// Score at or above which the canary is marginal (a person decides); below it, it fails.
    pub marginal_score: f64,
    /// Fewer samples than this in the request metric or any critical metric, on either side,
    /// make the run `Inconclusive`.
    pub min_samples: usize,
    /// The metric that counts requests; checked for `min_samples` and `min_requests` when the
    /// data or the config has it.
    pub request_metric: Option<String>,
    /// Fewer canary requests than this (the sum of the request metric's samples) make the run
    /// `Inconclusive`.
    pub min_requests: Option<f64>,
    /// Confidence of the Hodges–Lehmann interval (Kayenta: 0.98).
    pub confidence: f64,
    /// A shift counts only when its interval clears `tolerance × |estimate|` (Kayenta: 0.25).
    pub tolerance: f64,
    /// Weight of each group in the run score; a group not listed weighs the sum of the weights
    /// of its metrics that have data (so list all groups or none).
    pub group_weights: BTreeMap<String, f64>,
    pub metrics: BTreeMap<String, MetricConfig>,
}

impl Default for JudgeConfig {
    fn default() -> Self {
        JudgeConfig {
            pass_score: 90.0,
            marginal_score: 75.0,
            min_samples: 10,
            request_metric: Some("requests".to_string()),
            min_requests: None,
            confidence: 0.98,
            tolerance: 0.25,
            group_weights: BTreeMap::new(),
            metrics: BTreeMap::new(),
        }
    }
}

/// A judge config that could not be read or makes no sense.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ConfigError {
    #[error("not valid {format}{}: {message}", at(.field.as_deref()))]
    Parse {
        format: &'static str,
        /// Path of the offending field (`metrics.error_rate.critical`), when known.
        field: Option<String>,
        message: String,
    },
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
}

impl ConfigError {
    fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl JudgeConfig {
    /// Reads a config from YAML or JSON (a text starting with `{` is read as JSON, for its
    /// sharper error messages) and validates it. An empty text gives the defaults.
    pub(crate) fn from_yaml_or_json(text: &str) -> Result<Self, ConfigError> {
        let trimmed = text.trim_start();
        let cfg: JudgeConfig = if trimmed.is_empty() {
            JudgeConfig::default()
        } else if trimmed.starts_with('{') {
            let mut de = serde_json::Deserializer::from_str(text);
            let cfg = with_path("JSON", &mut de)?;
            de.end().map_err(|e| ConfigError::Parse {
                format: "JSON",
                field: None,
                message: e.to_string(),
            })?;
            cfg
        } else {
            with_path("YAML", serde_norway::Deserializer::from_str(text))?
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks the values that the judge's safety depends on, naming the field at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (field, v) in [
            ("pass_score", self.pass_score),
            ("marginal_score", self.marginal_score),
        ] {
            if !(0.0..=100.0).contains(&v) {
                return Err(ConfigError::invalid(
                    field,
                    format!("must lie in 0..=100, got {v}"),
                ));
            }
        }
        if self.marginal_score > self.pass_score {
            return Err(ConfigError::invalid(
                "marginal_score",
                format!(
                    "must not exceed pass_score ({} > {})",
                    self.marginal_score, self.pass_score
                ),
            ));
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(ConfigError::invalid(
                "confidence",
                format!("must lie strictly between 0 and 1, got {}", self.confidence),
            ));
        }
        non_negative("tolerance", self.tolerance)?;
        if let Some(v) = self.min_requests {
            non_negative("min_requests", v)?;
        }
        for (group, &w) in &self.group_weights {
            non_negative(&format!("group_weights.{group}"), w)?;
        }
        for (name, m) in &self.metrics {
            let field = |f: &str| format!("metrics.{name}.{f}");
            non_negative(&field("weight"), m.weight)?;
            non_negative(&field("min_shift"), m.min_shift)?;
            if m.group.trim().is_empty() {
                return Err(ConfigError::invalid(field("group"), "must not be empty"));
            }
            if !(m.allowed_increase.is_finite() && m.allowed_increase >= 1.0) {
                return Err(ConfigError::invalid(
                    field("allowed_increase"),
                    format!(
                        "is a mean ratio canary/baseline, at least 1 (1.1 allows 10 % more), got {}",
                        m.allowed_increase
                    ),
                ));
            }
            if !(0.0..=1.0).contains(&m.allowed_decrease) {
                return Err(ConfigError::invalid(
                    field("allowed_decrease"),
                    format!(
                        "is a mean ratio canary/baseline in 0..=1 (0.9 allows 10 % less), got {}",
                        m.allowed_decrease
                    ),
                ));
            }
            for (f, v) in [("max", m.max), ("min", m.min)] {
                if let Some(v) = v {
                    if !v.is_finite() {
                        return Err(ConfigError::invalid(field(f), "must be a finite number"));
                    }
                }
            }
            if let (Some(min), Some(max)) = (m.min, m.max) {
                if min > max {
                    return Err(ConfigError::invalid(
                        field("min"),
                        format!("is above max ({min} > {max})"),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn at(field: Option<&str>) -> String {
    field.map(|f| format!(" at {f}")).unwrap_or_default()
}

/// Deserializes a config, keeping the path of the field an error is about.
fn with_path<'de, D>(format: &'static str, de: D) -> Result<JudgeConfig, ConfigError>
where
    D: serde::Deserializer<'de>,
{
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = (path != ".").then_some(path);
        let mut message = e.into_inner().to_string();
        // serde_norway may start its message with the path (or its parent's) too; say it once.
        if let (Some(f), Some((head, rest))) = (&field, message.split_once(": ")) {
            if f.starts_with(head) {
                message = rest.to_string();
            }
        }
        ConfigError::Parse {
            format,
            field,
            message,
        }
    })
}

fn non_negative(field: &str, v: f64) -> Result<(), ConfigError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            field,
            format!("must be a finite number >= 0, got {v}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> JudgeConfig {
        JudgeConfig::from_yaml_or_json(yaml).expect("valid config")
    }

    #[test]
    fn config_reads_yaml_and_json_and_names_bad_fields() {
        let yaml =
            config("pass_score: 95\nmetrics:\n  error_rate:\n    critical: true\n    max: 0.02\n");
        let json = config(
            r#"{"pass_score": 95, "metrics": {"error_rate": {"critical": true, "max": 0.02}}}"#,
        );
        assert_eq!(yaml, json);
        assert_eq!(yaml.marginal_score, 75.0);
        assert_eq!(yaml.metrics["error_rate"].direction, Direction::Increase);
        assert_eq!(config(""), JudgeConfig::default());

        let err = |text: &str| {
            JudgeConfig::from_yaml_or_json(text)
                .expect_err(text)
                .to_string()
        };
        let unknown = err("metrics:\n  error_rate:\n    critcal: true\n");
        assert!(unknown.contains("critcal"), "{unknown}");
        assert!(unknown.contains("at metrics.error_rate"), "{unknown}");
        let wrong_type = err("metrics:\n  error_rate:\n    critical: maybe\n");
        assert!(
            wrong_type.contains("at metrics.error_rate.critical"),
            "{wrong_type}"
        );
        let json = err(r#"{"metrics": {"e": {"weight": "heavy"}}}"#);
        assert!(json.contains("at metrics.e.weight"), "{json}");
        assert!(err("metrics:\n  e:\n    direction: up\n").contains("up"));
        assert!(err("marginal_score: 95\n").contains("marginal_score"));
        assert!(err("confidence: 1.5\n").contains("confidence"));
        assert!(err("metrics:\n  e: {weight: -1}\n").contains("metrics.e.weight"));
        assert!(err("metrics:\n  e: {allowed_increase: 0.1}\n").contains("allowed_increase"));
        assert!(err("metrics:\n  e: {min: 5, max: 1}\n").contains("metrics.e.min"));
        assert!(err("{\"pass_score\": }").starts_with("not valid JSON"));
    }
}
