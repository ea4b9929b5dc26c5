//! `healbot rca`'s whole path from a metrics table to a ranking: find (or take) the anomaly
//! start, score every series robustly, group by service, and hand the services to the shared
//! ranking ([`super::combine`]) with the graph and the trace evidence. Each line of the
//! ranking says what each signal contributed, so a person can see why a service is first.

use super::changepoint::{pettitt, vote};
use super::combine::combine;
use super::metrics::{by_service, series, ColumnScore, ScoreOptions};
use super::table::MetricTable;
use super::traces::{evidence as trace_evidence, TraceEvidence};
use super::walk::WalkOptions;
use super::windows::{score_columns, window_starts};
use crate::signals::traces::Span;
use crate::topology::DependencyGraph;
use serde::Serialize;

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
            (row, StartSource::Found)
        }
    };
    // A found start may land early, and the first part of the window then holds normal
    // samples: its window is not cut into parts (the shift must still hold at its end).
    let found = source == StartSource::Found;
    let mut score_options = options.score;
    if found {
        score_options.parts = 1;
    }
    let starts = window_starts(start_row, found, rows, vote_margin(rows));
    let columns = score_columns(&all, &table.times, &starts, &score_options);
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
