//! Metric samples as the signals adapters read them and the canary judge compares them.

use std::collections::BTreeMap;

/// Samples per metric name, the canary judge's input (`{"error_rate": [...], ...}`).
pub type MetricSamples = BTreeMap<String, Vec<f64>>;
