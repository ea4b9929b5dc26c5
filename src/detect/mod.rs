//! Detection: what healbot acts on. Alerts are grouped into incidents (`grouping`), readings go
//! through the detection rules (`rules`), a bundle of alerts, logs, traces, metrics and deploys
//! becomes one incident with a multi-signal confidence (`bundle`), an error is classified into a
//! pattern (`pattern`), and a recorded incident can be read back (`incident_file`). Every later
//! stage starts from an [`Incident`]; nothing here knows about those stages.

pub mod bundle;
pub mod grouping;
pub mod incident_file;
pub mod pattern;
pub mod rules;

use crate::model::{IncidentId, Severity};
use serde::{Deserialize, Serialize};

pub use pattern::{ErrorPattern, PatternMatch};

/// One observation that contributed to an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Signal {
    /// A metric crossed a detection rule's threshold.
    Metric {
        service: String,
        metric: String,
        value: f64,
        threshold: f64,
        rule: String,
    },
    /// An error log line, with the stack trace joined back together when there was one.
    ErrorLog {
        service: String,
        message: String,
        stacktrace: Option<String>,
    },
    /// An alert from Alertmanager.
    Alert {
        service: String,
        name: String,
        fingerprint: String,
        summary: String,
    },
    /// Spans of `service` that ended in error; `origin` is the service of the deepest erroring
    /// span of those traces, where the error began.
    ErrorSpan {
        service: String,
        /// The first erroring span's operation name.
        span: String,
        /// How many of the service's spans erred.
        errors: u64,
        origin: String,
        #[serde(default)]
        message: Option<String>,
    },
}

impl Signal {
    pub fn service(&self) -> &str {
        match self {
            Signal::Metric { service, .. }
            | Signal::ErrorLog { service, .. }
            | Signal::Alert { service, .. }
            | Signal::ErrorSpan { service, .. } => service,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: IncidentId,
    /// The service the signals point at; RCA may name another one as the root cause.
    pub service: String,
    pub severity: Severity,
    pub title: String,
    /// Unix seconds.
    pub detected_at: i64,
    pub signals: Vec<Signal>,
    pub pattern: Option<PatternMatch>,
    /// How far independent kinds of signal agree on `service`, in [0, 1] (see
    /// [`bundle::confidence`]). Absent from incidents recorded before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
}

impl Incident {
    /// The first stack trace any signal carries.
    pub fn stacktrace(&self) -> Option<&str> {
        self.signals.iter().find_map(|s| match s {
            Signal::ErrorLog {
                stacktrace: Some(t),
                ..
            } => Some(t.as_str()),
            _ => None,
        })
    }
}
