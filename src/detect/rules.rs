//! Turns readings into incidents. The rules in `policies/detection.yaml` decide what fires;
//! services that fire together and are connected in the dependency graph are one incident
//! (a failing database should not page three teams), carried by the service whose error logs
//! hold a stack trace.

use super::{pattern::classify, Incident, IncidentId, Severity, Signal};
use crate::config::detection::{DetectedMetric, DetectionPolicy};
use crate::signals::{ErrorLogLine, ServiceHealth};
use crate::topology::graph::DependencyGraph;

/// One rule that fired on one service.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    pub service: String,
    pub rule: String,
    pub metric: DetectedMetric,
    pub value: f64,
    pub threshold: f64,
    pub severity: Severity,
}

fn reading(h: &ServiceHealth, metric: DetectedMetric) -> Option<f64> {
    match metric {
        DetectedMetric::ErrorRate => Some(h.error_rate),
        DetectedMetric::LatencyP95Ms => Some(h.latency_p95_ms),
        DetectedMetric::LatencyP99Ms => Some(h.latency_p99_ms),
        DetectedMetric::CpuUtilisation => Some(h.cpu_utilization),
        DetectedMetric::MemoryUtilisation => Some(h.memory_utilization),
        DetectedMetric::LatencyP50Ms | DetectedMetric::Saturation => None,
    }
}

/// Every rule that fires on the readings.
pub fn evaluate(health: &[ServiceHealth], policy: &DetectionPolicy) -> Vec<Firing> {
    let mut out = Vec::new();
    for h in health.iter().filter(|h| h.requests > 0) {
        for rule in &policy.rules {
            if let Some(value) = reading(h, rule.metric) {
                if rule.fires(value) {
                    out.push(Firing {
                        service: h.service.clone(),
                        rule: rule.name.clone(),
                        metric: rule.metric,
                        value,
                        threshold: rule.above,
                        severity: rule.severity,
                    });
                }
            }
        }
    }
    out
}

/// Whether one service reaches the other through the dependency graph, either way.
fn connected(graph: &DependencyGraph, a: &str, b: &str) -> bool {
    graph.transitive_dependencies(a).contains(&b) || graph.transitive_dependents(a).contains(&b)
}

/// Groups firings into incidents: firing services connected through the graph share one.
/// `logs` are the error lines per service; `now` and `seq` make the incident id.
pub fn incidents(
    firings: &[Firing],
    logs: &[ErrorLogLine],
    graph: &DependencyGraph,
    now: i64,
    id_prefix: &str,
) -> Vec<Incident> {
    let mut services: Vec<&str> = firings.iter().map(|f| f.service.as_str()).collect();
    services.sort();
    services.dedup();
    let mut groups: Vec<Vec<&str>> = Vec::new();
    for s in services {
        let linked: Vec<usize> = groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.iter().any(|o| connected(graph, s, o)))
            .map(|(i, _)| i)
            .collect();
        match linked.as_slice() {
            [] => groups.push(vec![s]),
            [first, rest @ ..] => {
                let first = *first;
                for &i in rest.iter().rev() {
                    let merged = groups.remove(i);
                    groups[first].extend(merged);
                }
                groups[first].push(s);
            }
        }
    }
    groups
        .into_iter()
        .enumerate()
        .map(|(n, group)| {
            let carrier = group
                .iter()
                .copied()
                .find(|s| {
                    logs.iter()
                        .any(|l| l.service == *s && l.stacktrace.is_some())
                })
                .or_else(|| {
                    firings
                        .iter()
                        .filter(|f| group.contains(&f.service.as_str()))
                        .max_by(|a, b| a.value.total_cmp(&b.value))
                        .map(|f| f.service.as_str())
                })
                .unwrap_or(group[0]);
            let mut signals: Vec<Signal> = firings
                .iter()
                .filter(|f| group.contains(&f.service.as_str()))
                .map(|f| Signal::Metric {
                    service: f.service.clone(),
                    metric: f.metric.name().to_string(),
                    value: f.value,
                    threshold: f.threshold,
                    rule: f.rule.clone(),
                })
                .collect();
            let log = logs.iter().find(|l| l.service == carrier);
            if let Some(l) = log {
                signals.push(Signal::ErrorLog {
                    service: l.service.clone(),
                    message: l.message.clone(),
                    stacktrace: l.stacktrace.clone(),
                });
            }
            let severity = firings
                .iter()
                .filter(|f| group.contains(&f.service.as_str()))
                .map(|f| f.severity)
                .max()
                .unwrap_or(Severity::Medium);
            let top = firings
                .iter()
                .filter(|f| f.service == carrier)
                .max_by(|a, b| a.severity.cmp(&b.severity));
            let title = match (top, log) {
                (Some(f), Some(l)) => format!(
                    "{carrier}: {} {:.1}% > {:.1}% — {}",
                    f.metric,
                    f.value * 100.0,
                    f.threshold * 100.0,
                    l.message
                ),
                (Some(f), None) => {
                    format!("{carrier}: {} {} above {}", f.metric, f.value, f.threshold)
                }
                _ => format!("{carrier}: detection rules fired"),
            };
            let pattern = log.map(|l| classify(l.stacktrace.as_deref().unwrap_or(&l.message)));
            Incident {
                id: IncidentId::new(&format!("{id_prefix}-{now}-{}", n + 1)),
                service: carrier.to_string(),
                severity,
                title,
                detected_at: now,
                signals,
                pattern,
                confidence: None,
            }
        })
        .collect()
}
