//! Where healbot reads the state of production: metrics, error logs and traces. The
//! orchestrator sees only these traits; the demo's traffic simulator, Prometheus, Loki,
//! Elasticsearch, log files, Jaeger, Tempo and Hypertrace implement them.

pub mod alertmanager;
pub mod elasticsearch;
pub mod hypertrace;
pub mod jaeger;
pub mod logfile;
pub mod loki;
pub mod prometheus;
pub mod tempo;
pub mod trace_source;
pub mod traces;

use crate::model::MetricSamples;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A service's current readings over the source's recent window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceHealth {
    pub service: String,
    pub requests: u64,
    pub error_rate: f64,
    pub latency_p95_ms: f64,
    pub latency_p99_ms: f64,
    pub cpu_utilization: f64,
    pub memory_utilization: f64,
}

/// Canary and baseline samples from the same interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanaryObservation {
    /// The canary's traffic weight when the samples were taken.
    pub weight: u8,
    pub baseline: MetricSamples,
    pub canary: MetricSamples,
}

/// An error log line, with its stack trace joined back together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorLogLine {
    pub service: String,
    pub message: String,
    pub stacktrace: Option<String>,
    pub count: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("metrics source: {0}")]
    Metrics(String),
    #[error("log source: {0}")]
    Logs(String),
    #[error("no data for service {0}")]
    NoData(String),
}

#[async_trait]
pub trait MetricsSource: Send + Sync {
    /// Readings for every service the source knows, over its most recent window.
    async fn health(&self) -> Result<Vec<ServiceHealth>, SignalError>;
    /// Canary and baseline samples of `service` over one judging interval.
    async fn canary_samples(&self, service: &str) -> Result<CanaryObservation, SignalError>;
    /// The mean error rate of `service` over the SLO window ending now, for the error budget.
    /// `None` when the source keeps no such history.
    async fn slo_window_error_rate(
        &self,
        service: &str,
        window: std::time::Duration,
    ) -> Result<Option<f64>, SignalError>;
}

#[async_trait]
pub trait LogSource: Send + Sync {
    /// Error lines of `service` in the source's recent window, most frequent first.
    async fn error_logs(&self, service: &str) -> Result<Vec<ErrorLogLine>, SignalError>;
}
