//! `healbot rca`'s whole path from a metrics table to a ranking: find (or take) the anomaly
//! start, score every series robustly, group by service, read the scores through the
//! dependency graph and add trace evidence. Each line of the ranking says what each signal
//! contributed, so a person can see why a service is first.

use super::changepoint::{pettitt, vote};
use super::explain;
use super::metrics::{by_service, series, ColumnScore, ScoreOptions, ServiceMetrics};
use super::rank::{RankedService, RcaError, RcaReport, ServiceEvidence};
use super::robust::ScaleFloor;
use super::series::MetricKind;
use super::table::MetricTable;
use super::traces::{evidence as trace_evidence, TraceEvidence};
use super::walk::{settle, WalkOptions};
use super::windows::{score_columns, window_starts};
use crate::signals::traces::Span;
use crate::topology::DependencyGraph;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

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
    /// `healbot serve`: the readings are of the moment the incident was detected.
    Detected,
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

/// Rows a found start leaves on either side: a baseline to compare with, a window to score.
fn vote_margin(rows: usize) -> usize {
    (rows / 10).max(5)
}

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
            let row = vote(&changes, rows, vote_margin(rows)).ok_or(DiagnoseError::NoChange {
                file: file.to_string(),
                rows,
            })?;
            (row.saturating_sub(FOUND_START_GUARD), StartSource::Found)
        }
    };
    // A found start may land early, and the first part of the window then holds normal
    // samples: persistence is only asked of a window known to begin with the fault.
    let mut score_options = options.score;
    if source == StartSource::Found {
        score_options.parts = 1;
    }
    let found = source == StartSource::Found;
    let starts = window_starts(start_row, found, rows, vote_margin(rows));
    let columns = score_columns(&all, &starts, &score_options);
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

/// The ranking `healbot serve` makes from the readings of its live sources: each piece of
/// evidence (an error rate over the SLO, a p99 over the latency objective, where the error
/// spans begin, a recent deploy) is a column scored against its objective, and the columns go
/// through the same [`combine`] as `healbot rca`'s, graph and all. `error_origins` (erring
/// spans by the service they began in) are its trace evidence, as the spans are `healbot
/// rca`'s: the share of the errors that began in a service adds to its score. With nothing
/// anomalous (no score at `threshold`), the evidence points nowhere, and the service the
/// incident was raised on (`symptom`) is a better guess than whichever healthy service scores
/// highest.
pub fn rank_evidence(
    graph: &DependencyGraph,
    evidence: &[ServiceEvidence],
    error_origins: &BTreeMap<String, u64>,
    symptom: Option<&str>,
    threshold: f64,
    detected_at: f64,
) -> Result<RcaReport, RcaError> {
    let columns: Vec<ColumnScore> = evidence
        .iter()
        .filter(|e| e.score.is_finite())
        .map(|e| ColumnScore {
            column: format!("{}_{}", e.service, e.metric),
            service: e.service.clone(),
            metric: e.metric.clone(),
            kind: evidence_kind(&e.metric),
            rate: false,
            score: e.score.max(0.0),
            before: 1.0,
            after: e.score,
            scale_floor: ScaleFloor::Objective,
        })
        .collect();
    if columns.is_empty() {
        return Err(RcaError::NoEvidence);
    }
    let services = by_service(columns);
    let quiet = services.iter().all(|s| s.score < threshold);
    let all_errors: u64 = error_origins.values().sum();
    let traces: Option<HashMap<String, TraceEvidence>> = (all_errors > 0).then(|| {
        error_origins
            .iter()
            .map(|(service, &errors)| {
                let detail = TraceEvidence {
                    score: errors as f64 / all_errors as f64,
                    error_origins: errors,
                    self_time_ratio: None,
                };
                (service.clone(), detail)
            })
            .collect()
    });
    let mut ranking = combine(
        services,
        Some(graph),
        traces.as_ref(),
        &DiagnoseOptions::default(),
        detected_at,
    );
    let fallback = symptom.filter(|_| quiet);
    if let Some(symptom) = fallback {
        let at = ranking.iter().position(|c| c.service == symptom);
        let culprit = match at {
            Some(i) => ranking.remove(i),
            None => Culprit {
                service: symptom.to_string(),
                metric: "alert".into(),
                score: 0.0,
                anomaly_start: detected_at,
                evidence: Evidence {
                    metrics: MetricContribution {
                        contribution: 0.0,
                        z: 0.0,
                        columns: Vec::new(),
                    },
                    graph: None,
                    traces: None,
                },
            },
        };
        ranking.insert(0, culprit);
    }
    Ok(explain::report(
        &ranking,
        &explain::Reading {
            graph,
            evidence,
            symptom,
            fallback: fallback.is_some(),
            threshold,
        },
    ))
}

/// What kind of signal a piece of `serve`'s evidence is: errors and where they begin travel up
/// to callers, as latency does; a deploy stays with its service.
fn evidence_kind(metric: &str) -> MetricKind {
    match metric {
        "error_span_origin" => MetricKind::Errors,
        "recent_deploy" => MetricKind::Other,
        m => MetricKind::of(m),
    }
}

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
                StartSource::Detected => "when the incident was detected",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(service: &str, metric: &str, score: f64) -> ServiceEvidence {
        ServiceEvidence {
            service: service.into(),
            metric: metric.into(),
            score,
            detail: None,
        }
    }

    fn shop() -> DependencyGraph {
        let mut g = DependencyGraph::new();
        g.add_dependency("api-gateway", "order-service");
        g.add_dependency("order-service", "payment-service");
        g.add_dependency("order-service", "user-service");
        g
    }

    #[test]
    fn serve_evidence_goes_through_the_same_ranking() {
        // The gateway and orders are slow because payment is: payment comes first.
        let report = rank_evidence(
            &shop(),
            &[
                ev("api-gateway", "latency_p99", 3.6),
                ev("order-service", "latency_p99", 3.4),
                ev("payment-service", "latency_p99", 3.2),
                ev("user-service", "error_rate", 0.5),
            ],
            &BTreeMap::new(),
            Some("api-gateway"),
            3.0,
            1000.0,
        )
        .unwrap();
        assert_eq!(report.root_cause, "payment-service", "{report:#?}");
        assert_eq!(
            report.causal_chain,
            ["payment-service", "order-service", "api-gateway"]
        );
        assert!(
            report.evidence.iter().any(|l| l.contains("graph")),
            "{:?}",
            report.evidence
        );
    }

    #[test]
    fn without_anomalies_the_symptom_is_named() {
        let none = BTreeMap::new();
        let quiet = [
            ev("api-gateway", "error_rate", 2.0),
            ev("user-service", "cpu", 2.5),
        ];
        let report =
            rank_evidence(&shop(), &quiet, &none, Some("payment-service"), 3.0, 0.0).unwrap();
        assert_eq!(report.root_cause, "payment-service");
        assert_eq!(report.ranking[0].metric, "alert");
        assert_eq!(report.causal_chain, ["payment-service"]);
        assert!(report.confidence <= 0.3);
        assert!(
            report
                .evidence
                .iter()
                .any(|l| l
                    .ends_with("payment-service is named because the incident was raised on it"))
        );
        // An anomalous service outranks the symptom.
        let loud = [ev("user-service", "error_rate", 8.0)];
        let report =
            rank_evidence(&shop(), &loud, &none, Some("payment-service"), 3.0, 0.0).unwrap();
        assert_eq!(report.root_cause, "user-service");
        assert_eq!(
            rank_evidence(&shop(), &[], &none, None, 3.0, 0.0),
            Err(RcaError::NoEvidence)
        );
    }
}
