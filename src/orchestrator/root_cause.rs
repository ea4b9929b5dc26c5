//! Which service is the root cause: evidence from its metrics (error rate against the SLO,
//! p99 latency against the detection rule), from where the incident's error spans begin, and
//! from a recent deploy of an already anomalous service, ranked over the dependency graph by
//! the same ranking as `healbot rca` ([`rank_evidence`]).

use super::artifacts::{self, in_scan};
use super::{Orchestrator, OrchestratorError};
use crate::operation::OpState;
use crate::rca::rank::{RcaReport, ServiceEvidence};
use crate::rca::rank_evidence;
use std::collections::BTreeMap;

impl Orchestrator {
    /// Ranks services by their error rate against the SLO and their p99 latency against the
    /// `latency_p99_ms` detection rule (a ratio of 3 or more is anomalous), read through the
    /// graph by the same ranking as `healbot rca` ([`rank_evidence`]): a service whose
    /// dependencies explain its symptoms passes the blame down, and with none anomalous the
    /// alerted service is named. Two more kinds of evidence count: the service where the
    /// incident's error spans begin (the deepest erroring span), which is anomalous and, as
    /// trace evidence, adds its share of the erring spans, and a deploy of an already
    /// anomalous service shortly before the incident.
    pub(super) async fn root_cause(
        &self,
        incident: &crate::detect::Incident,
        op: &crate::model::OperationId,
    ) -> Result<RcaReport, OrchestratorError> {
        const ANOMALOUS: f64 = 3.0;
        let slo = self.policies.gates.error_budget.slo_error_rate;
        let latency = latency_objective(&self.policies.detection);
        let mut evidence: Vec<ServiceEvidence> = self
            .metrics
            .health()
            .await?
            .into_iter()
            .filter(|h| h.requests > 0)
            .flat_map(|h| {
                let slow = latency.map(|objective| latency_evidence(&h, objective));
                let errors = ServiceEvidence {
                    score: h.error_rate / slo,
                    detail: Some(format!(
                        "{}: {:.1}% errors over {} requests (SLO {:.1}%)",
                        h.service,
                        h.error_rate * 100.0,
                        h.requests,
                        slo * 100.0
                    )),
                    service: h.service,
                    metric: "error_rate".into(),
                };
                std::iter::once(errors).chain(slow)
            })
            .collect();
        let origins = error_origins(incident);
        evidence.extend(span_origins(&origins, ANOMALOUS));
        // A deploy does not make a healthy service anomalous; it makes an anomalous one the
        // likelier cause.
        for (service, age) in self.recent_deploys(op).await {
            let worst = evidence
                .iter()
                .filter(|e| e.service == service)
                .map(|e| e.score)
                .fold(0.0, f64::max);
            if worst >= ANOMALOUS {
                evidence.push(ServiceEvidence {
                    score: worst * 1.5,
                    detail: Some(format!(
                        "{service} is anomalous and was deployed {age} s before this incident"
                    )),
                    service,
                    metric: "recent_deploy".into(),
                });
            }
        }
        rank_evidence(
            &self.graph.current(),
            &evidence,
            &origins,
            Some(&incident.service),
            ANOMALOUS,
            incident.detected_at as f64,
        )
        .map_err(|e| OrchestratorError::stage_from("rca", e))
    }
}

/// A deploy this recent (seconds) is evidence against the deployed service.
const RECENT_DEPLOY_SECS: i64 = 30 * 60;

/// The latency objective in ms: the lowest `latency_p99_ms` detection rule, the p99 at which
/// an incident opens. None without such a rule: latency is then no evidence.
fn latency_objective(detection: &crate::config::DetectionPolicy) -> Option<f64> {
    detection
        .rules_for(crate::config::DetectedMetric::LatencyP99Ms)
        .map(|r| r.above)
        .reduce(f64::min)
}

/// A service's p99 against the latency objective: three times over is anomalous, as three
/// times the SLO error rate is.
fn latency_evidence(h: &crate::signals::ServiceHealth, objective: f64) -> ServiceEvidence {
    ServiceEvidence {
        service: h.service.clone(),
        metric: "latency_p99".into(),
        score: h.latency_p99_ms / objective,
        detail: Some(format!(
            "{}: p99 latency {:.0} ms (objective {objective:.0} ms)",
            h.service, h.latency_p99_ms
        )),
    }
}

/// The erring spans of the incident by the service their errors began in.
fn error_origins(incident: &crate::detect::Incident) -> BTreeMap<String, u64> {
    let mut by_origin: BTreeMap<String, u64> = BTreeMap::new();
    for s in &incident.signals {
        if let crate::detect::Signal::ErrorSpan { origin, errors, .. } = s {
            *by_origin.entry(origin.clone()).or_default() += errors;
        }
    }
    by_origin
}

/// The services the incident's error spans say the errors began in, as evidence: anomalous
/// at least, more so the more erring spans point there.
fn span_origins(origins: &BTreeMap<String, u64>, anomalous: f64) -> Vec<ServiceEvidence> {
    origins
        .iter()
        .map(|(origin, &errors)| ServiceEvidence {
            score: anomalous * (1.0 + (errors as f64).ln_1p() / 10.0),
            detail: Some(format!(
                "the incident's error spans begin in {origin} ({errors} erring spans)"
            )),
            service: origin.clone(),
            metric: "error_span_origin".into(),
        })
        .collect()
}

impl Orchestrator {
    /// Services healbot deployed within [`RECENT_DEPLOY_SECS`], with the age of that deploy
    /// in seconds.
    async fn recent_deploys(&self, except: &crate::model::OperationId) -> Vec<(String, i64)> {
        let now = self.clock.now();
        let mut latest: std::collections::BTreeMap<String, i64> = Default::default();
        for op in self.journal.operations().await {
            if &op.id == except {
                continue;
            }
            let Some(service) = in_scan(op.artifact(&artifacts::RCA)).map(|r| r.root_cause) else {
                continue;
            };
            for (seq, state, _) in &op.history {
                if let (OpState::Deploying(_), Some(t)) = (state, op.history_at.get(seq)) {
                    let age = (now - *t).num_seconds().max(0);
                    let slot = latest.entry(service.clone()).or_insert(age);
                    *slot = (*slot).min(age);
                }
            }
        }
        latest
            .into_iter()
            .filter(|(_, age)| *age <= RECENT_DEPLOY_SECS)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_far_over_the_objective_is_anomalous() {
        let objective = latency_objective(&crate::config::PolicySet::embedded().detection);
        assert_eq!(objective, Some(1500.0), "the slow-p99 rule");
        let health = |service: &str, p99: f64| crate::signals::ServiceHealth {
            service: service.into(),
            requests: 1200,
            error_rate: 0.0,
            latency_p95_ms: p99 / 2.0,
            latency_p99_ms: p99,
            cpu_utilization: 0.4,
            memory_utilization: 0.5,
        };
        // payment-service 3.2× over; its callers are slow because they wait on it.
        let evidence: Vec<ServiceEvidence> = [
            health("api-gateway", 5400.0),
            health("order-service", 5000.0),
            health("payment-service", 4800.0),
            health("postgres_primary", 30.0),
        ]
        .iter()
        .map(|h| latency_evidence(h, 1500.0))
        .collect();
        assert_eq!(evidence[2].metric, "latency_p99");
        assert!((evidence[2].score - 3.2).abs() < 1e-9);
        assert_eq!(
            evidence[2].detail.as_deref(),
            Some("payment-service: p99 latency 4800 ms (objective 1500 ms)")
        );
        let report = rank_on_the_demo_shop(&evidence, &BTreeMap::new());
        assert_eq!(report.root_cause, "payment-service");
        assert_eq!(report.ranking[0].metric, "latency_p99");
        // No latency rule: latency is no evidence.
        let none = crate::config::DetectionPolicy { rules: Vec::new() };
        assert_eq!(latency_objective(&none), None);
    }

    #[test]
    fn error_spans_point_at_where_the_errors_begin() {
        let span = |service: &str, origin: &str, errors| crate::detect::Signal::ErrorSpan {
            service: service.into(),
            span: "POST /pay".into(),
            errors,
            origin: origin.into(),
            message: None,
        };
        let incident = crate::detect::Incident {
            id: crate::model::IncidentId("i".into()),
            service: "api-gateway".into(),
            severity: crate::model::Severity::High,
            title: "t".into(),
            detected_at: 0,
            signals: vec![
                span("api-gateway", "payment-service", 4),
                span("order-service", "payment-service", 3),
            ],
            pattern: None,
            confidence: None,
        };
        let origins = error_origins(&incident);
        assert_eq!(origins["payment-service"], 7);
        let evidence = span_origins(&origins, 3.0);
        assert_eq!(evidence.len(), 1);
        assert_eq!(evidence[0].service, "payment-service");
        assert!(evidence[0].score >= 3.0, "anomalous: {}", evidence[0].score);
        assert!(evidence[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("7 erring spans"));
        let report = rank_on_the_demo_shop(&evidence, &origins);
        assert_eq!(report.root_cause, "payment-service");
    }

    /// Ranks `evidence` over the demo's catalog for an incident raised on the gateway.
    fn rank_on_the_demo_shop(
        evidence: &[ServiceEvidence],
        origins: &BTreeMap<String, u64>,
    ) -> crate::rca::RcaReport {
        let graph = crate::topology::graph::DependencyGraph::from_catalog_yaml(
            include_str!("../../testdata/services/payment-service/catalog.yaml"),
            "catalog.yaml",
        )
        .unwrap();
        rank_evidence(&graph, evidence, origins, Some("api-gateway"), 3.0, 0.0).unwrap()
    }
}
