//! `healbot rca`'s whole path from a metrics table to a ranking: find (or take) the anomaly
//! start, score every series robustly, group by service, read the scores through the
//! dependency graph and add trace evidence. Each line of the ranking says what each signal
//! contributed, so a person can see why a service is first.

use super::changepoint::{pettitt, vote};
use super::metrics::{
    by_service, restarts, score_series, series, ColumnScore, ScoreOptions, ServiceMetrics,
};
use super::rank::{RankedService, RcaReport};
use super::table::MetricTable;
use super::traces::{evidence as trace_evidence, TraceEvidence};
use super::walk::{settle, WalkOptions};
use crate::signals::traces::Span;
use crate::topology::DependencyGraph;
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiagnoseOptions {
    pub score: ScoreOptions,
    pub walk: WalkOptions,
    /// Share of the ranking score that comes from the walk over the graph (the rest from the
    /// service's own metrics).
    pub graph_weight: f64,
    /// Weight of trace evidence, added on top.
    pub trace_weight: f64,
    /// Metric scores at or above this count as anomalous in the report.
    pub anomaly_threshold: f64,
}

impl Default for DiagnoseOptions {
    fn default() -> DiagnoseOptions {
        DiagnoseOptions {
            score: ScoreOptions::default(),
            walk: WalkOptions::default(),
            graph_weight: 0.5,
            trace_weight: 0.3,
            anomaly_threshold: 3.0,
        }
    }
}

/// How the anomaly start was known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StartSource {
    Given,
    Found,
}

/// One line of the ranking: `{service, metric, score}` as the contract says, with the
/// evidence behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Culprit {
    pub service: String,
    /// The metric that drove the service's own evidence.
    pub metric: String,
    /// The ranking score: the sum of the contributions in `evidence`.
    pub score: f64,
    /// When the anomaly started (unix seconds), given or found.
    pub anomaly_start: f64,
    pub evidence: Evidence,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// The service's own metrics: contribution to the score, and the strongest column.
    pub metrics: MetricContribution,
    /// What the walk over the dependency graph added; absent without a graph.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graph: Option<f64>,
    /// What the traces added; absent without traces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traces: Option<TraceContribution>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricContribution {
    pub contribution: f64,
    /// Robust z of the strongest column's shift.
    pub z: f64,
    /// The strongest columns (at most three).
    pub columns: Vec<ColumnScore>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceContribution {
    pub contribution: f64,
    #[serde(flatten)]
    pub detail: TraceEvidence,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnosis {
    pub anomaly_start: f64,
    pub start: StartSource,
    pub ranking: Vec<Culprit>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DiagnoseError {
    #[error("{file}: no samples before the anomaly start {start} to fit a baseline on")]
    NoBaseline { file: String, start: f64 },
    #[error("{file}: no samples at or after the anomaly start {start}")]
    NoAnomalyWindow { file: String, start: f64 },
    #[error(
        "{file}: found no moment where the series change ({rows} samples); pass --anomaly-start"
    )]
    NoChange { file: String, rows: usize },
    #[error("{file}: no column has samples on both sides of the anomaly start")]
    NoEvidence { file: String },
}

/// Rows before the found start that stay outside the baseline: a fault ramps up, and the
/// vote may land a little after its first effects.
const FOUND_START_GUARD: usize = 0;

/// Diagnoses `table`; `file` names it in errors.
pub fn diagnose(
    table: &MetricTable,
    anomaly_start: Option<f64>,
    graph: Option<&DependencyGraph>,
    spans: Option<&[Span]>,
    options: &DiagnoseOptions,
    file: &str,
) -> Result<Diagnosis, DiagnoseError> {
    let rows = table.times.len();
    let all = series(table, graph);
    let (start_row, source) = match anomaly_start {
        Some(start) => {
            let row = table.times.iter().position(|&t| t >= start).unwrap_or(rows);
            if row == 0 {
                return Err(DiagnoseError::NoBaseline {
                    file: file.to_string(),
                    start,
                });
            }
            if row == rows {
                return Err(DiagnoseError::NoAnomalyWindow {
                    file: file.to_string(),
                    start,
                });
            }
            (row, StartSource::Given)
        }
        None => {
            let changes: Vec<_> = all
                .iter()
                .filter_map(|s| pettitt(&s.values, s.kind.direction()))
                .collect();
            let row = vote(&changes, rows, (rows / 10).max(5)).ok_or(DiagnoseError::NoChange {
                file: file.to_string(),
                rows,
            })?;
            (row.saturating_sub(FOUND_START_GUARD), StartSource::Found)
        }
    };
    let restarted = restarts(&all, start_row);
    // A found start may land early, and the first part of the window then holds normal
    // samples: persistence is only asked of a window known to begin with the fault.
    let mut score_options = options.score;
    if source == StartSource::Found {
        score_options.parts = 1;
    }
    let columns: Vec<ColumnScore> = all
        .iter()
        .filter_map(|s| {
            score_series(
                s,
                start_row,
                restarted.get(&s.service).copied(),
                &score_options,
            )
        })
        .filter(|c| c.score.is_finite())
        .collect();
    if columns.is_empty() {
        return Err(DiagnoseError::NoEvidence {
            file: file.to_string(),
        });
    }
    let services = by_service(columns);
    let start_time = table.times[start_row];
    let traces = spans.map(|s| trace_evidence(s, start_time));
    Ok(Diagnosis {
        anomaly_start: start_time,
        start: source,
        ranking: combine(services, graph, traces.as_ref(), options, start_time),
    })
}

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

impl Diagnosis {
    /// The report the pipeline and `healbot rca`'s text output use: the root cause, the
    /// anomalous callers it explains, and the evidence in sentences.
    pub fn report(&self, graph: Option<&DependencyGraph>, threshold: f64) -> RcaReport {
        let empty = DependencyGraph::new();
        let graph = graph.unwrap_or(&empty);
        let root = self.ranking.first();
        let root_name = root.map(|r| r.service.clone()).unwrap_or_default();
        let anomalous: Vec<&str> = self
            .ranking
            .iter()
            .filter(|r| r.evidence.metrics.z >= threshold)
            .map(|r| r.service.as_str())
            .collect();
        let mut causal_chain = vec![root_name.clone()];
        causal_chain.extend(
            graph
                .transitive_dependents(&root_name)
                .into_iter()
                .filter(|s| anomalous.contains(s))
                .map(str::to_string),
        );
        let mut evidence = vec![format!(
            "anomaly start {} ({})",
            self.anomaly_start,
            match self.start {
                StartSource::Given => "given",
                StartSource::Found => "found from the change in the series",
            }
        )];
        for r in self.ranking.iter().take(5) {
            let mut line = format!("{}: score {:.2}", r.service, r.score);
            if let Some(c) = r.evidence.metrics.columns.first() {
                line.push_str(&format!(
                    "; metrics {:.2} ({} z {:.1}: {:.4} → {:.4}{})",
                    r.evidence.metrics.contribution,
                    c.column,
                    c.score,
                    c.before,
                    c.after,
                    if c.rate { " per second" } else { "" }
                ));
            }
            if let Some(g) = r.evidence.graph {
                line.push_str(&format!("; graph {g:.2}"));
            }
            if let Some(t) = &r.evidence.traces {
                line.push_str(&format!("; traces {:.2}", t.contribution));
            }
            evidence.push(line);
        }
        let confidence = match (self.ranking.first(), self.ranking.get(1)) {
            (Some(a), Some(b)) if a.score > 0.0 => (a.score - b.score) / a.score,
            (Some(_), None) => 1.0,
            _ => 0.0,
        }
        .clamp(0.0, 0.95);
        RcaReport {
            root_cause: root_name,
            ranking: self
                .ranking
                .iter()
                .map(|r| RankedService {
                    service: r.service.clone(),
                    metric: r.metric.clone(),
                    score: r.score,
                })
                .collect(),
            causal_chain,
            evidence,
            confidence,
        }
    }
}
