//! The canary: between the steps of a rollout, healbot judges the canary's metrics against the
//! stable's and decides whether to go on, pause for a person or roll back. The judge and its
//! statistics are pure (`judge`, `stats`) and read their configuration (`config`) from
//! `policies/canary.yaml`; `samples` reads the samples files of `healbot canary judge`;
//! `progression` decides the next step from a verdict; `argo_notification` reads what Argo
//! Rollouts says about a canary it runs itself. Nothing here does I/O: the orchestrator commits
//! the steps and asks the metrics source for samples.

pub mod argo_notification;
pub mod config;
pub mod judge;
pub mod progression;
pub mod samples;
pub mod stats;

pub use config::{
    ConfigError, Direction, JudgeConfig, MetricConfig, NanStrategy, ThresholdStat, DEFAULT_GROUP,
};
pub use judge::{judge, CanaryReport, CanaryVerdict, MetricClassification, MetricVerdict};
pub use samples::{parse_samples, SamplesError};
