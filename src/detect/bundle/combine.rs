//! How a bundle's sections become one incident: the alert group, error logs, error spans and
//! metric readings each give signals; the kinds that agree give the confidence; the service's
//! logs (or a recent deploy) give the pattern and the title.

use super::{Bundle, BundleError, Deploy, DEPLOY_WINDOW_SECS, LOG_LINES_PER_SERVICE};
use crate::config::detection::DetectionPolicy;
use crate::detect::grouping::{AlertGrouper, GroupEvent};
use crate::detect::pattern::{classify, ErrorPattern, PatternMatch};
use crate::detect::rules::Firing;
use crate::detect::{Incident, IncidentId, Severity, Signal};
use crate::signals::alertmanager::parse_webhook;
use crate::signals::traces::{deepest_error, parse_traces, Span};
use crate::signals::{logfile, ErrorLogLine, ServiceHealth};
use std::collections::{BTreeMap, BTreeSet};

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
    let grouped = alert_group(bundle, now)?;
    let logs = error_logs(bundle);
    let (origin, span_signals) = error_spans(bundle)?;
    let firings = metric_firings(bundle, policy);

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
        None => pick_service(&signals, &logs, &firings, origin.as_deref()),
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
    let (log, pattern) = pattern_of(bundle, &logs, &service, origin.as_deref(), detected_at);
    let title = title_of(grouped.as_ref(), log, pattern.as_ref(), &firings, &service);
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

/// The alert group the first firing alert opens: service, severity, title and alert signals.
fn alert_group(bundle: &Bundle, now: i64) -> Result<Option<Incident>, BundleError> {
    let Some(body) = &bundle.alertmanager else {
        return Ok(None);
    };
    let bytes =
        serde_json::to_vec(body).map_err(|e| BundleError::field("alertmanager", e.to_string()))?;
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
    Ok(grouper.get(&id).map(|g| g.incident.clone()))
}

/// Error log lines per service, the most frequent first.
fn error_logs(bundle: &Bundle) -> Vec<ErrorLogLine> {
    let mut logs = Vec::new();
    for (service, text) in &bundle.logs {
        let records = logfile::join_records(text.0.iter().map(String::as_str));
        logs.extend(
            logfile::summarize(service, &records)
                .into_iter()
                .take(LOG_LINES_PER_SERVICE),
        );
    }
    logs
}

/// The service where the errors began, and one signal per service whose spans erred.
fn error_spans(bundle: &Bundle) -> Result<(Option<String>, Vec<Signal>), BundleError> {
    let spans: Vec<Span> = match &bundle.traces {
        None => Vec::new(),
        Some(body) => parse_traces(&body.to_string()).map_err(|e| match e {
            crate::signals::traces::TraceError::Invalid { field, message } => {
                BundleError::field(section_field("traces", &field), message)
            }
        })?,
    };
    let Some(origin) = deepest_error(&spans) else {
        return Ok((None, Vec::new()));
    };
    let mut erring: BTreeMap<&str, (u64, &Span)> = BTreeMap::new();
    for s in spans.iter().filter(|s| s.error) {
        erring.entry(&s.service).or_insert((0, s)).0 += 1;
    }
    let signals = erring
        .into_iter()
        .map(|(service, (errors, first))| Signal::ErrorSpan {
            service: service.to_string(),
            span: first.name.clone(),
            errors,
            origin: origin.service.clone(),
            message: first.message.clone(),
        })
        .collect();
    Ok((Some(origin.service), signals))
}

/// The metric readings through the detection rules.
fn metric_firings(bundle: &Bundle, policy: &DetectionPolicy) -> Vec<Firing> {
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
    crate::detect::rules::evaluate(&health, policy)
}

/// The log line the incident is about and its pattern: the service's stack trace first, then
/// any error line of it, then the origin's; a recent deploy when no known pattern matches.
fn pattern_of<'a>(
    bundle: &Bundle,
    logs: &'a [ErrorLogLine],
    service: &str,
    origin: Option<&str>,
    detected_at: i64,
) -> (Option<&'a ErrorLogLine>, Option<PatternMatch>) {
    let log = logs
        .iter()
        .find(|l| l.service == service && l.stacktrace.is_some())
        .or_else(|| logs.iter().find(|l| l.service == service))
        .or_else(|| origin.and_then(|o| logs.iter().find(|l| l.service == o)));
    let mut pattern = log.map(|l| classify(l.stacktrace.as_deref().unwrap_or(&l.message)));
    if pattern
        .as_ref()
        .is_none_or(|p| p.pattern == ErrorPattern::Unknown)
    {
        if let Some(d) = recent_deploys(bundle, service, detected_at).first() {
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
    (log, pattern)
}

/// The alert's title with what the logs say went wrong (the matched exception line when a
/// pattern recognised it, else the logged message); without an alert, the service and that.
fn title_of(
    grouped: Option<&Incident>,
    log: Option<&ErrorLogLine>,
    pattern: Option<&PatternMatch>,
    firings: &[Firing],
    service: &str,
) -> String {
    let what = log.map(|l| match pattern {
        Some(p) if !matches!(p.pattern, ErrorPattern::Unknown | ErrorPattern::BadDeploy) => {
            p.evidence.clone()
        }
        _ => l.message.clone(),
    });
    match (grouped, what) {
        (Some(g), Some(w)) if !g.title.contains(&w) => format!("{} — {w}", g.title),
        (Some(g), _) => g.title.clone(),
        (None, Some(w)) => format!("{service}: {w}"),
        (None, None) => match firings.iter().find(|f| f.service == service) {
            Some(f) => format!("{service}: {} {} above {}", f.metric, f.value, f.threshold),
            None => format!("{service}: error spans"),
        },
    }
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
    firings: &[Firing],
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
