//! `healbot serve`'s ranking: its live readings (error rates and latencies against their
//! objectives, where error spans begin, recent deploys) become scored columns and go through
//! the same [`combine`] as `healbot rca`'s metrics.

use super::combine::combine;
use super::diagnose::{Culprit, DiagnoseOptions, Evidence, MetricContribution};
use super::explain;
use super::metrics::{by_service, ColumnScore};
use super::rank::{RcaError, RcaReport, ServiceEvidence};
use super::robust::ScaleFloor;
use super::series::MetricKind;
use super::traces::TraceEvidence;
use crate::topology::DependencyGraph;
use std::collections::{BTreeMap, HashMap};

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
            window_start: None,
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
