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

use super::pattern::{classify, ErrorPattern, PatternMatch};
use super::{Incident, IncidentId, Severity, Signal};
use crate::config::detection::DetectionPolicy;
use crate::config::yaml::{check_unit, parse_strict, FieldError};
use crate::detect::grouping::{AlertGrouper, GroupEvent};
use crate::signals::alertmanager::parse_webhook;
use crate::signals::traces::{deepest_error, parse_traces, Span};
use crate::signals::{logfile, ErrorLogLine, ServiceHealth};
use serde::{Deserialize, Deserializer};
use std::collections::{BTreeMap, BTreeSet};
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
    pub fn in_file(self, file: &str) -> BundleError {
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

/// The kinds of signal that can agree on a service, in the order they are reported.
pub const KINDS: [&str; 4] = ["alert", "metric", "error_log", "error_span"];

/// The kind of a signal, as in [`KINDS`].
pub fn kind_of(signal: &Signal) -> &'static str {
    match signal {
        Signal::Alert { .. } => "alert",
        Signal::Metric { .. } => "metric",
        Signal::ErrorLog { .. } => "error_log",
        Signal::ErrorSpan { .. } => "error_span",
    }
}

/// The service a signal is evidence against: error spans point at where the error began.
fn points_at(signal: &Signal) -> &str {
    match signal {
        Signal::ErrorSpan { origin, .. } => origin,
        other => other.service(),
    }
}

/// How far the kinds of signal agree on `service` (formula in the module comment), with the
/// kinds that agree and those that point only elsewhere.
pub fn confidence(
    signals: &[Signal],
    service: &str,
) -> (f64, Vec<&'static str>, Vec<&'static str>) {
    let mut agree = Vec::new();
    let mut disagree = Vec::new();
    for kind in KINDS {
        let mut of_kind = signals.iter().filter(|s| kind_of(s) == kind).peekable();
        if of_kind.peek().is_none() {
            continue;
        }
        if of_kind.any(|s| points_at(s) == service) {
            agree.push(kind);
        } else {
            disagree.push(kind);
        }
    }
    let (a, d) = (agree.len() as f64, disagree.len() as f64);
    let c = if agree.is_empty() {
        0.0
    } else {
        (1.0 - 0.5f64.powf(a)) * a / (a + d)
    };
    (c, agree, disagree)
}

/// The deploys of `service` within [`DEPLOY_WINDOW_SECS`] before `at`, latest first.
pub fn recent_deploys<'a>(bundle: &'a Bundle, service: &str, at: i64) -> Vec<&'a Deploy> {
    let mut out: Vec<&Deploy> = bundle
        .deploys
        .iter()
        .filter(|d| d.service == service && d.at <= at && at - d.at <= DEPLOY_WINDOW_SECS)
        .collect();
    out.sort_by_key(|d| std::cmp::Reverse(d.at));
    out
}

/// Builds the bundle's one incident with the embedded detection policy.
pub fn incident(bundle: &Bundle, now: i64) -> Result<Incident, BundleError> {
    let policy = crate::config::policy::PolicySet::embedded().detection;
    incident_with(bundle, &policy, now)
}

/// As [`incident`], with the detection rules given.
pub fn incident_with(
    bundle: &Bundle,
    policy: &DetectionPolicy,
    now: i64,
) -> Result<Incident, BundleError> {
    // The alert group: service, severity, title and the alert signals.
    let grouped = match &bundle.alertmanager {
        None => None,
        Some(body) => {
            let bytes = serde_json::to_vec(body)
                .map_err(|e| BundleError::field("alertmanager", e.to_string()))?;
            let message = parse_webhook(&bytes).map_err(|e| match e {
                crate::signals::alertmanager::AlertmanagerError::Invalid { field, message } => {
                    BundleError::field(section_field("alertmanager", &field), message)
                }
            })?;
            let mut grouper = AlertGrouper::new();
            let events = grouper.ingest(&message, bundle.detected_at.unwrap_or(now));
            let opened = events.iter().find_map(|e| match e {
                GroupEvent::Opened(id) => Some(id.clone()),
                _ => None,
            });
            let Some(id) = opened else {
                let why = events
                    .iter()
                    .find_map(|e| match e {
                        GroupEvent::Ignored { reason, .. } => Some(reason.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| "no alert".into());
                return Err(BundleError::field(
                    "alertmanager.alerts",
                    format!("no firing alert opens an incident ({why})"),
                ));
            };
            grouper.get(&id).map(|g| g.incident.clone())
        }
    };

    // Error logs, per service.
    let mut logs: Vec<ErrorLogLine> = Vec::new();
    for (service, text) in &bundle.logs {
        let records = logfile::join_records(text.0.iter().map(String::as_str));
        logs.extend(
            logfile::summarize(service, &records)
                .into_iter()
                .take(LOG_LINES_PER_SERVICE),
        );
    }

    // Error spans: one signal per service whose spans erred, naming where the error began.
    let spans: Vec<Span> = match &bundle.traces {
        None => Vec::new(),
        Some(body) => parse_traces(&body.to_string()).map_err(|e| match e {
            crate::signals::traces::TraceError::Invalid { field, message } => {
                BundleError::field(section_field("traces", &field), message)
            }
        })?,
    };
    let origin = deepest_error(&spans);
    let mut span_signals = Vec::new();
    if let Some(origin) = &origin {
        let mut erring: BTreeMap<&str, (u64, &Span)> = BTreeMap::new();
        for s in spans.iter().filter(|s| s.error) {
            erring.entry(&s.service).or_insert((0, s)).0 += 1;
        }
        for (service, (errors, first)) in erring {
            span_signals.push(Signal::ErrorSpan {
                service: service.to_string(),
                span: first.name.clone(),
                errors,
                origin: origin.service.clone(),
                message: first.message.clone(),
            });
        }
    }

    // Metric readings through the detection rules.
    let health: Vec<ServiceHealth> = bundle
        .metrics
        .iter()
        .map(|(service, m)| ServiceHealth {
            service: service.clone(),
            // Unknown traffic counts as some: the readings were taken from something.
            requests: m.requests.unwrap_or(1),
            error_rate: m.error_rate.unwrap_or(0.0),
            latency_p95_ms: m.latency_p95_ms.unwrap_or(0.0),
            latency_p99_ms: m.latency_p99_ms.unwrap_or(0.0),
            cpu_utilization: m.cpu_utilization.unwrap_or(0.0),
            memory_utilization: m.memory_utilization.unwrap_or(0.0),
        })
        .collect();
    let firings = super::rules::evaluate(&health, policy);

    let mut signals: Vec<Signal> = Vec::new();
    if let Some(g) = &grouped {
        signals.extend(g.signals.iter().cloned());
    }
    signals.extend(firings.iter().map(|f| Signal::Metric {
        service: f.service.clone(),
        metric: f.metric.name().to_string(),
        value: f.value,
        threshold: f.threshold,
        rule: f.rule.clone(),
    }));
    signals.extend(logs.iter().map(|l| Signal::ErrorLog {
        service: l.service.clone(),
        message: l.message.clone(),
        stacktrace: l.stacktrace.clone(),
    }));
    signals.extend(span_signals);
    if signals.is_empty() {
        return Err(BundleError::field(
            "(document)",
            "no signal: give at least one of alertmanager, logs (with error lines), traces (with an error span) or metrics above a detection rule",
        ));
    }

    let service = match &grouped {
        Some(g) => g.service.clone(),
        None => pick_service(
            &signals,
            &logs,
            &firings,
            origin.as_ref().map(|o| o.service.as_str()),
        ),
    };
    let severity = match &grouped {
        Some(g) => g.severity,
        None => firings
            .iter()
            .filter(|f| f.service == service)
            .map(|f| f.severity)
            .max()
            .unwrap_or(Severity::Medium),
    };
    let detected_at = bundle
        .detected_at
        .or(grouped.as_ref().map(|g| g.detected_at))
        .unwrap_or(now);

    // The pattern: the service's stack trace first, then any error line of it, then the origin's.
    let log = logs
        .iter()
        .find(|l| l.service == service && l.stacktrace.is_some())
        .or_else(|| logs.iter().find(|l| l.service == service))
        .or_else(|| {
            origin
                .as_ref()
                .and_then(|o| logs.iter().find(|l| l.service == o.service))
        });
    let mut pattern = log.map(|l| classify(l.stacktrace.as_deref().unwrap_or(&l.message)));
    if pattern
        .as_ref()
        .is_none_or(|p| p.pattern == ErrorPattern::Unknown)
    {
        if let Some(d) = recent_deploys(bundle, &service, detected_at).first() {
            pattern = Some(PatternMatch {
                pattern: ErrorPattern::BadDeploy,
                confidence: 0.6,
                evidence: format!(
                    "{} deployed revision {} {} s before the anomaly",
                    d.service,
                    d.revision,
                    detected_at - d.at
                ),
            });
        }
    }

    // What the logs say went wrong: the matched error (the exception line) when a pattern
    // recognised it, else the logged message.
    let what = log.map(|l| match &pattern {
        Some(p) if !matches!(p.pattern, ErrorPattern::Unknown | ErrorPattern::BadDeploy) => {
            p.evidence.clone()
        }
        _ => l.message.clone(),
    });
    let title = match (&grouped, what) {
        (Some(g), Some(w)) if !g.title.contains(&w) => format!("{} — {w}", g.title),
        (Some(g), _) => g.title.clone(),
        (None, Some(w)) => format!("{service}: {w}"),
        (None, None) => match firings.iter().find(|f| f.service == service) {
            Some(f) => format!("{service}: {} {} above {}", f.metric, f.value, f.threshold),
            None => format!("{service}: error spans"),
        },
    };
    let id = match (&bundle.id, &grouped) {
        (Some(id), _) => IncidentId::new(id),
        (None, Some(g)) => g.id.clone(),
        (None, None) => IncidentId::new(&format!("bundle-{service}-{detected_at}")),
    };
    let (c, _, _) = confidence(&signals, &service);
    Ok(Incident {
        id,
        service,
        severity,
        title,
        detected_at,
        signals,
        pattern,
        confidence: Some(c),
    })
}

/// `alertmanager` + `alerts[0].startsAt` → `alertmanager.alerts[0].startsAt`.
fn section_field(section: &str, field: &str) -> String {
    match field {
        "" | "." | "body" => section.to_string(),
        f => format!("{section}.{}", f.trim_start_matches('.')),
    }
}

/// The service most kinds point at, without an alert to say.
fn pick_service(
    signals: &[Signal],
    logs: &[ErrorLogLine],
    firings: &[super::rules::Firing],
    origin: Option<&str>,
) -> String {
    let candidates: BTreeSet<&str> = signals.iter().map(points_at).collect();
    let traced = |s: &str| {
        logs.iter()
            .any(|l| l.service == s && l.stacktrace.is_some())
    };
    let breach = |s: &str| {
        firings
            .iter()
            .filter(|f| f.service == s)
            .map(|f| f.value / f.threshold.max(f64::MIN_POSITIVE))
            .fold(0.0, f64::max)
    };
    candidates
        .into_iter()
        .max_by(|a, b| {
            let key = |s: &str| (confidence(signals, s).1.len(), origin == Some(s), traced(s));
            key(a)
                .cmp(&key(b))
                .then_with(|| breach(a).total_cmp(&breach(b)))
                // Alphabetically first wins a full tie.
                .then_with(|| b.cmp(a))
        })
        .unwrap_or_default()
        .to_string()
}

/// Signals of an incident counted by kind, in [`KINDS`] order, for a summary line.
pub fn count_by_kind(signals: &[Signal]) -> Vec<(&'static str, usize)> {
    KINDS
        .iter()
        .map(|k| (*k, signals.iter().filter(|s| kind_of(s) == *k).count()))
        .filter(|(_, n)| *n > 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../testdata/incidents/payment-bundle.yaml");
    const NOW: i64 = 1_800_000_000;

    fn build(text: &str) -> Result<Incident, BundleError> {
        incident(&parse(text)?, NOW)
    }

    const ALERT: &str = r#"
alertmanager:
  alerts:
    - status: firing
      labels: { alertname: PaymentErrors, service: payment-service, severity: critical }
      annotations: { summary: payments fail }
      startsAt: "2026-11-27T22:06:39Z"
"#;

    const LOGS: &str = r#"
logs:
  payment-service:
    - "2026-11-27 22:06:39,002 ERROR Unhandled exception on POST /pay"
    - "Traceback (most recent call last):"
    - "  File \"/app/receipts.py\", line 9, in send_receipt"
    - "    local, domain = address.split(\"@\", 1)"
    - "AttributeError: 'NoneType' object has no attribute 'split'"
"#;

    const TRACES: &str = r#"
traces:
  data:
    - traceID: t1
      processes:
        p1: { serviceName: order-service }
        p2: { serviceName: payment-service }
      spans:
        - { traceID: t1, spanID: a, operationName: POST /orders, processID: p1, startTime: 1, duration: 10, tags: [ { key: error, type: bool, value: true } ] }
        - { traceID: t1, spanID: b, operationName: POST /pay, processID: p2, startTime: 2, duration: 5, references: [ { refType: CHILD_OF, traceID: t1, spanID: a } ], tags: [ { key: error, type: bool, value: true } ] }
"#;

    const METRICS: &str = r#"
metrics:
  payment-service: { requests: 600, error_rate: 0.3 }
"#;

    #[test]
    fn the_sample_bundle_is_one_payment_incident() {
        let inc = build(SAMPLE).unwrap();
        assert_eq!(inc.id.0, "inc-bundle-payment-1");
        assert_eq!(inc.service, "payment-service");
        assert_eq!(inc.severity, Severity::High);
        assert!(
            inc.title.starts_with("payment-service: PaymentErrors"),
            "{}",
            inc.title
        );
        let p = inc.pattern.as_ref().unwrap();
        assert_eq!(p.pattern, ErrorPattern::NullDereference);
        let trace = inc.stacktrace().unwrap();
        assert!(
            trace.contains("/app/receipts.py") && trace.contains("AttributeError"),
            "{trace}"
        );
        let kinds = count_by_kind(&inc.signals);
        assert_eq!(
            kinds.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            KINDS.to_vec(),
            "{kinds:?}"
        );
        assert_eq!(inc.confidence, Some(0.9375));
        // Old incident files and new ones share the format.
        let back: Incident = serde_json::from_str(&serde_json::to_string(&inc).unwrap()).unwrap();
        assert_eq!(back, inc);
    }

    #[test]
    fn alert_section_gives_service_severity_and_title() {
        let inc = build(ALERT).unwrap();
        assert_eq!(inc.service, "payment-service");
        assert_eq!(inc.severity, Severity::Critical);
        assert_eq!(inc.title, "payment-service: PaymentErrors — payments fail");
        assert_eq!(inc.detected_at, 1_795_817_199);
        assert_eq!(inc.confidence, Some(0.5));
    }

    #[test]
    fn log_section_joins_the_traceback_and_classifies_it() {
        let inc = build(LOGS).unwrap();
        assert_eq!(inc.service, "payment-service");
        assert_eq!(inc.signals.len(), 1);
        assert!(
            matches!(&inc.signals[0], Signal::ErrorLog { stacktrace: Some(t), .. } if t.lines().count() == 5)
        );
        assert_eq!(inc.pattern.unwrap().pattern, ErrorPattern::NullDereference);
        assert_eq!(inc.detected_at, NOW);
    }

    #[test]
    fn trace_section_names_each_erring_service_and_the_origin() {
        let inc = build(TRACES).unwrap();
        assert_eq!(inc.service, "payment-service", "the origin, not the caller");
        let spans: Vec<(&str, &str)> = inc
            .signals
            .iter()
            .filter_map(|s| match s {
                Signal::ErrorSpan {
                    service, origin, ..
                } => Some((service.as_str(), origin.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(
            spans,
            [
                ("order-service", "payment-service"),
                ("payment-service", "payment-service")
            ]
        );
    }

    #[test]
    fn metric_section_fires_the_detection_rules() {
        let inc = build(METRICS).unwrap();
        let rules: Vec<&str> = inc
            .signals
            .iter()
            .filter_map(|s| match s {
                Signal::Metric { rule, .. } => Some(rule.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(rules, ["high-error-rate", "critical-error-rate"]);
        assert_eq!(inc.severity, Severity::Critical);
        // Below every rule, or without traffic: nothing to go on.
        let quiet = "metrics:\n  payment-service: { requests: 600, error_rate: 0.001 }\n";
        assert!(build(quiet).unwrap_err().to_string().contains("no signal"));
        let idle = "metrics:\n  payment-service: { requests: 0, error_rate: 0.5 }\n";
        assert!(build(idle).is_err());
    }

    #[test]
    fn a_recent_deploy_is_the_suspect_when_logs_name_no_pattern() {
        let text = format!(
            "{METRICS}deploys:\n  - {{ service: payment-service, revision: abc123, at: {} }}\n  - {{ service: payment-service, revision: old, at: 1 }}\n",
            NOW - 120
        );
        let inc = build(&text).unwrap();
        let p = inc.pattern.unwrap();
        assert_eq!(p.pattern, ErrorPattern::BadDeploy);
        assert!(p.evidence.contains("abc123 120 s"), "{}", p.evidence);
    }

    #[test]
    fn confidence_rises_with_each_agreeing_kind() {
        let mut text = String::from(ALERT);
        let mut last = build(&text).unwrap().confidence.unwrap();
        for section in [METRICS, LOGS, TRACES] {
            text.push_str(section);
            let c = build(&text).unwrap().confidence.unwrap();
            assert!(c > last && c <= 1.0, "{last} → {c} after {section}");
            last = c;
        }
        assert_eq!(last, 0.9375);
    }

    #[test]
    fn kinds_pointing_elsewhere_lower_the_confidence() {
        let other = "metrics:\n  user-service: { requests: 600, error_rate: 0.3 }\n";
        let agreeing = build(&format!("{ALERT}{LOGS}"))
            .unwrap()
            .confidence
            .unwrap();
        let split = build(&format!("{ALERT}{LOGS}{other}")).unwrap();
        assert_eq!(split.service, "payment-service");
        let (c, agree, disagree) = confidence(&split.signals, &split.service);
        assert_eq!(
            (agree, disagree),
            (vec!["alert", "error_log"], vec!["metric"])
        );
        assert!(c < agreeing, "{c} vs {agreeing}");
        assert_eq!(confidence(&split.signals, "nobody").0, 0.0);
    }

    #[test]
    fn a_bad_field_is_named() {
        for (text, field) in [
            (
                "logs:\n  payment-service: 42\n",
                "logs.payment-service: invalid type",
            ),
            (
                "metrics:\n  payment-service: { error_rate: 1.5 }\n",
                "metrics.payment-service.error_rate: must be in [0, 1]",
            ),
            (
                "metrics:\n  payment-service: { errors: 3 }\n",
                "metrics.payment-service",
            ),
            (
                "deploys:\n  - { service: payment-service, revision: a }\n",
                "deploys[0]",
            ),
            (
                "deploys:\n  - { service: '', revision: a, at: 1 }\n",
                "deploys[0].service",
            ),
            ("trace:\n  data: []\n", "unknown field `trace`"),
            ("id: ../x\nlogs: {}\n", "id: must be"),
            (
                "alertmanager:\n  alerts:\n    - { status: firing, startsAt: yesterday }\n",
                "alertmanager.alerts[0].startsAt",
            ),
            (
                "alertmanager:\n  alerts:\n    - { status: firing, labels: { alertname: X } }\n",
                "alertmanager.alerts: no firing alert",
            ),
            ("traces:\n  spans: []\n", "traces: neither OTLP"),
            ("traces:\n  resourceSpans: 3\n", "traces.resourceSpans"),
            ("", "(document)"),
        ] {
            let err = build(text).unwrap_err().to_string();
            assert!(err.contains(field), "{text:?}: {err}");
        }
    }

    #[test]
    fn load_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.yaml");
        std::fs::write(&path, "logs:\n  payment-service: 42\n").unwrap();
        let err = load(&path, NOW).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "incident bundle {}: logs.payment-service",
                path.display()
            )),
            "{err}"
        );
        let err = load(&dir.path().join("none.yaml"), NOW)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read"), "{err}");
    }

    #[test]
    fn json_bundles_parse_too() {
        let json = r#"{"logs": {"svc": "2026-11-27 22:00:01,002 ERROR boom"}}"#;
        let inc = build(json).unwrap();
        assert_eq!(
            (inc.service.as_str(), inc.title.as_str()),
            ("svc", "svc: boom")
        );
    }
}
