//! The one ranking both `healbot rca` and `serve` make: each service's own metric evidence,
//! what the walk over the dependency graph adds (a root cause explains its callers'
//! symptoms), and what the traces add, each contribution kept so the ranking can say why.

use super::diagnose::{Culprit, DiagnoseOptions, Evidence, MetricContribution, TraceContribution};
use super::metrics::ServiceMetrics;
use super::traces::TraceEvidence;
use super::walk::settle;
use crate::topology::DependencyGraph;
use std::collections::HashMap;

/// The ranking from each service's metric evidence, the graph and the traces.
pub fn combine(
    services: Vec<ServiceMetrics>,
    graph: Option<&DependencyGraph>,
    traces: Option<&HashMap<String, TraceEvidence>>,
    options: &DiagnoseOptions,
    anomaly_start: f64,
) -> Vec<Culprit> {
    let top = services.iter().map(|s| s.score).fold(0.0, f64::max);
    let anomaly: Vec<f64> = services
        .iter()
        .map(|s| {
            if top > 0.0 {
                (s.score / top).max(0.0)
            } else {
                0.0
            }
        })
        .collect();
    let names: Vec<&str> = services.iter().map(|s| s.service.as_str()).collect();
    let walked = graph.filter(|g| !g.is_empty()).map(|g| {
        let explains = explaining(g, &services, top);
        settle(g, &names, &anomaly, &explains, &options.walk)
    });
    let trace_top = traces
        .map(|t| t.values().map(|e| e.score).fold(0.0, f64::max))
        .unwrap_or(0.0);
    let mut ranking: Vec<Culprit> = services
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (own, graph_part) = match &walked {
                Some(pi) => (
                    (1.0 - options.graph_weight) * anomaly[i],
                    Some(options.graph_weight * pi[i]),
                ),
                None => (anomaly[i], None),
            };
            let trace_part = traces.map(|t| {
                let detail = t.get(&s.service).cloned().unwrap_or_default();
                let contribution = if trace_top > 0.0 {
                    options.trace_weight * detail.score / trace_top
                } else {
                    0.0
                };
                TraceContribution {
                    contribution,
                    detail,
                }
            });
            let score = own
                + graph_part.unwrap_or(0.0)
                + trace_part.as_ref().map_or(0.0, |t| t.contribution);
            Culprit {
                service: s.service.clone(),
                metric: s.metric.clone(),
                score,
                anomaly_start,
                evidence: Evidence {
                    metrics: MetricContribution {
                        contribution: own,
                        z: s.score,
                        columns: s.columns.iter().take(3).cloned().collect(),
                    },
                    graph: graph_part,
                    traces: trace_part,
                },
            }
        })
        .collect();
    ranking.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.evidence.metrics.z.total_cmp(&a.evidence.metrics.z))
            .then(a.service.cmp(&b.service))
    });
    ranking
}

/// How far each service's symptoms that reach its callers (latency, errors) are anomalous,
/// in [0, 1]. A service measured without such columns (a database seen only through its
/// container) is judged by its callers: when the median of its callers is slow or failing,
/// it may be why, a little less surely than a service seen doing it.
fn explaining(graph: &DependencyGraph, services: &[ServiceMetrics], top: f64) -> Vec<f64> {
    if top <= 0.0 {
        return vec![0.0; services.len()];
    }
    let by_name: HashMap<&str, &ServiceMetrics> =
        services.iter().map(|s| (s.service.as_str(), s)).collect();
    services
        .iter()
        .map(|s| {
            if s.has_propagating {
                return (s.propagating / top).clamp(0.0, 1.0);
            }
            let mut callers: Vec<f64> = graph
                .dependents(&s.service)
                .into_iter()
                .filter_map(|c| by_name.get(c))
                .filter(|c| c.has_propagating)
                .map(|c| c.propagating / top)
                .collect();
            if callers.is_empty() {
                return 0.0;
            }
            callers.sort_by(f64::total_cmp);
            // One slow caller may be slow by itself; several slow callers point below them.
            let share = if callers.len() > 1 {
                UNSEEN_SHARE
            } else {
                UNSEEN_SHARE_ONE_CALLER
            };
            share * callers[(callers.len() - 1) / 2].clamp(0.0, 1.0)
        })
        .collect()
}

/// How much of its callers' symptoms a dependency without its own latency or error columns
/// is taken to have.
const UNSEEN_SHARE: f64 = 0.9;
const UNSEEN_SHARE_ONE_CALLER: f64 = 0.6;
