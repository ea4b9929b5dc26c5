//! What a root-cause ranking is made of and what it produces: `healbot serve`'s evidence from
//! its live sources (an error rate over the SLO, a p99 over its objective, where error spans
//! begin, a recent deploy), and the report the pipeline carries into the PR (root cause,
//! ranking, causal chain, evidence in sentences). The ranking itself is
//! [`super::combine::combine`], one for `healbot rca` and `serve`.

use serde::{Deserialize, Serialize};

/// One piece of evidence that a service misbehaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceEvidence {
    pub service: String,
    /// What was measured: `error_rate`, `latency_p95_ms`, `cpu`…
    pub metric: String,
    /// How anomalous; at or above the anomaly threshold (3 in `serve`) counts as anomalous. A
    /// robust z-score, or an error rate divided by the SLO error rate, both fit the default.
    pub score: f64,
    /// Anything a person should read next to the number (`error rate 15% vs 0.1% before`).
    #[serde(default)]
    pub detail: Option<String>,
}

/// One line of the ranking, as `healbot rca` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedService {
    pub service: String,
    /// The service's most anomalous metric.
    pub metric: String,
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RcaReport {
    pub root_cause: String,
    /// Most likely origin first.
    pub ranking: Vec<RankedService>,
    /// From the root cause up through its callers to the symptom services.
    pub causal_chain: Vec<String>,
    /// Why, in sentences a person can check.
    pub evidence: Vec<String>,
    /// In [0, 1].
    pub confidence: f64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RcaError {
    #[error("no evidence with a numeric score: nothing to rank")]
    NoEvidence,
}
