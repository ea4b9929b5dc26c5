//! An incident bundle: one file (YAML or JSON) that carries what an on-call person has at hand
//! when something breaks — the Alertmanager notification, the error log lines, the traces, and
//! optionally metric readings and recent deploys — so that `healbot heal --incident FILE` can
//! run the pipeline without any live signal source. [`incident`] folds the sections into ONE
//! [`Incident`] with a confidence.
//!
//! ```yaml
//! id: inc-payment-1            # optional; the branch is healbot/<id>
//! detected_at: 1795823199      # optional unix seconds; else the alert's startsAt, else now
//! alertmanager: { ... }        # an Alertmanager v4 webhook body
//! logs:                        # per service: log text, or a list of lines
//!   payment-service: |
//!     2026-11-27 22:00:01,002 ERROR Unhandled exception ...
//! traces: { resourceSpans: [ ... ] }   # OTLP JSON, or Jaeger JSON ({ data: [ ... ] })
//! metrics:                     # per service readings, like ServiceHealth; all optional
//!   payment-service: { requests: 600, error_rate: 0.15, latency_p99_ms: 900 }
//! deploys:
//!   - { service: payment-service, revision: 3f2a9c1, at: 1795823000 }
//! ```
//!
//! **Service, severity, title.** The first firing alert group gives them (as
//! [`AlertGrouper`] would open the incident). Without an alert, the service most signal kinds
//! point at is chosen (ties: the error-span origin, then a service whose logs hold a stack
//! trace, then the largest metric breach); severity is the worst detection rule that fired
//! (medium when none did).
//!
//! **Confidence.** Four independent kinds of signal can point at a service: a firing *alert*
//! on it, a *metric* above a rule of the detection policy, an *error log* line of it, and
//! *error spans* whose deepest erroring span is in it. With `a` kinds agreeing on the
//! incident's service and `d` kinds present that point only at other services,
//!
//! ```text
//! confidence = (1 − 0.5^a) · a / (a + d)
//! ```
//!
//! i.e. each agreeing kind is taken as an independent witness that is right half the time
//! (one kind 0.5, two 0.75, three 0.875, four 0.9375), scaled down by the share of kinds that
//! disagree. No agreeing kind gives 0.
//!
//! **Deploys.** A deploy of the incident's service within [`DEPLOY_WINDOW_SECS`] before the
//! detection time is a bad-deploy suspect: when the logs name no known error pattern, the
//! incident's pattern is `bad_deploy`.
//!
//! Every error names the section and field (`logs.payment-service: …`); nothing here panics
//! on input.

mod combine;
#[cfg(test)]
mod tests;

pub use combine::{
    confidence, count_by_kind, incident, incident_with, kind_of, recent_deploys, KINDS,
};

use super::Incident;
use crate::config::yaml::{check_unit, parse_strict, FieldError};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// A deploy this long (seconds) before detection is a suspect.
pub const DEPLOY_WINDOW_SECS: i64 = 30 * 60;

/// Error log lines kept per service (most frequent first).
const LOG_LINES_PER_SERVICE: usize = 5;

/// The file as written; sections are checked and interpreted by [`incident`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub detected_at: Option<i64>,
    /// An Alertmanager v4 webhook body (Grafana's variant too).
    #[serde(default)]
    pub alertmanager: Option<serde_json::Value>,
    /// Service → its log text.
    #[serde(default)]
    pub logs: BTreeMap<String, LogText>,
    /// OTLP JSON (`resourceSpans`) or Jaeger JSON (`data`).
    #[serde(default)]
    pub traces: Option<serde_json::Value>,
    #[serde(default)]
    pub metrics: BTreeMap<String, MetricReading>,
    #[serde(default)]
    pub deploys: Vec<Deploy>,
}

/// Log text as one block, or as a list of lines.
#[derive(Debug, Clone, PartialEq)]
pub struct LogText(pub Vec<String>);

impl<'de> Deserialize<'de> for LogText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<LogText, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = LogText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("log text or a list of log lines")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<LogText, E> {
                Ok(LogText(v.lines().map(str::to_string).collect()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<LogText, A::Error> {
                let mut lines = Vec::new();
                while let Some(line) = seq.next_element::<String>()? {
                    lines.extend(line.lines().map(str::to_string));
                }
                Ok(LogText(lines))
            }
        }
        d.deserialize_any(V)
    }
}

/// One service's readings; what is left out is not known (and fires no rule).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricReading {
    /// Requests in the window; 0 means no traffic, so no rule fires.
    #[serde(default)]
    pub requests: Option<u64>,
    #[serde(default)]
    pub error_rate: Option<f64>,
    #[serde(default)]
    pub latency_p95_ms: Option<f64>,
    #[serde(default)]
    pub latency_p99_ms: Option<f64>,
    #[serde(default, alias = "cpu_utilisation")]
    pub cpu_utilization: Option<f64>,
    #[serde(default, alias = "memory_utilisation")]
    pub memory_utilization: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    pub service: String,
    pub revision: String,
    /// Unix seconds.
    pub at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("incident bundle {file}: cannot read it: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// `file` is empty when the bundle did not come from a file.
    #[error("{}{field}: {message}", if file.is_empty() { String::new() } else { format!("incident bundle {file}: ") })]
    Field {
        file: String,
        field: String,
        message: String,
    },
}

impl BundleError {
    fn field(field: impl Into<String>, message: impl Into<String>) -> BundleError {
        BundleError::Field {
            file: String::new(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error, naming the file it came from.
    pub(crate) fn in_file(self, file: &str) -> BundleError {
        match self {
            BundleError::Field { field, message, .. } => BundleError::Field {
                file: file.to_string(),
                field,
                message,
            },
            other => other,
        }
    }
}

fn from_field_error(e: FieldError) -> BundleError {
    BundleError::field(
        if e.field.is_empty() {
            "(document)".to_string()
        } else {
            e.field
        },
        e.message,
    )
}

/// Reads a bundle and builds its incident, every error naming the file and the field.
pub fn load(path: &Path, now: i64) -> Result<(Bundle, Incident), BundleError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| BundleError::Read {
        file: file.clone(),
        source,
    })?;
    let bundle = parse(&text).map_err(|e| e.in_file(&file))?;
    let incident = incident(&bundle, now).map_err(|e| e.in_file(&file))?;
    Ok((bundle, incident))
}

/// Parses the document strictly: an unknown section or field is an error, not ignored.
pub fn parse(text: &str) -> Result<Bundle, BundleError> {
    let bundle: Bundle = parse_strict(text).map_err(from_field_error)?;
    if let Some(id) = &bundle.id {
        if id.trim().is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(BundleError::field(
                "id",
                "must be non-empty ASCII letters, digits, '-', '_' or '.' (it names a git branch)",
            ));
        }
    }
    for service in bundle.logs.keys() {
        if service.trim().is_empty() {
            return Err(BundleError::field("logs", "a service name is empty"));
        }
    }
    for (service, m) in &bundle.metrics {
        if service.trim().is_empty() {
            return Err(BundleError::field("metrics", "a service name is empty"));
        }
        let at = |f: &str| format!("metrics.{service}.{f}");
        for (name, value) in [
            ("error_rate", m.error_rate),
            ("cpu_utilization", m.cpu_utilization),
            ("memory_utilization", m.memory_utilization),
        ] {
            if let Some(v) = value {
                check_unit(&at(name), v).map_err(from_field_error)?;
            }
        }
        for (name, value) in [
            ("latency_p95_ms", m.latency_p95_ms),
            ("latency_p99_ms", m.latency_p99_ms),
        ] {
            if let Some(v) = value.filter(|v| !(v.is_finite() && *v >= 0.0)) {
                return Err(BundleError::field(
                    at(name),
                    format!("must be milliseconds >= 0, got {v}"),
                ));
            }
        }
    }
    for (i, d) in bundle.deploys.iter().enumerate() {
        if d.service.trim().is_empty() {
            return Err(BundleError::field(
                format!("deploys[{i}].service"),
                "must not be empty",
            ));
        }
        if d.revision.trim().is_empty() {
            return Err(BundleError::field(
                format!("deploys[{i}].revision"),
                "must not be empty",
            ));
        }
    }
    Ok(bundle)
}
