//! `healbot serve`'s root-cause report: the shared ranking ([`super::combine::combine`]) put
//! into what the PR says. The root cause's own readings, what each signal added to its score,
//! how its dependencies look, which anomalous callers are its symptoms and which anomalous
//! services it does not explain, with a causal chain that ends at the service the incident was
//! raised on and a confidence a person can weigh.

use super::diagnose::Culprit;
use super::rank::{RankedService, RcaReport, ServiceEvidence};
use crate::topology::DependencyGraph;
use std::collections::{HashMap, HashSet};

/// The most confident a ranking made from metrics and a graph is allowed to sound.
const MAX_CONFIDENCE: f64 = 0.95;

/// Symptoms and rivals explained one by one; the rest are counted. A person reads ten lines,
/// not a thousand.
const MAX_LINES: usize = 10;

/// What the ranking is reported against.
pub(super) struct Reading<'a> {
    pub graph: &'a DependencyGraph,
    /// The evidence the ranking was made from: its details are the sentences' numbers.
    pub evidence: &'a [ServiceEvidence],
    /// The service the incident was raised on.
    pub symptom: Option<&'a str>,
    /// Whether `ranking[0]` is the symptom because nothing was anomalous.
    pub fallback: bool,
    pub threshold: f64,
}

/// The report on `ranking` (most likely origin first, never empty).
pub(super) fn report(ranking: &[Culprit], r: &Reading) -> RcaReport {
    let (graph, threshold) = (r.graph, r.threshold);
    let root = &ranking[0];
    let by_name: HashMap<&str, &Culprit> =
        ranking.iter().map(|c| (c.service.as_str(), c)).collect();
    let is_anomalous = |c: &Culprit| c.evidence.metrics.z >= threshold;
    let anomalous: HashSet<&str> = ranking
        .iter()
        .filter(|c| is_anomalous(c))
        .map(|c| c.service.as_str())
        .collect();
    let callers: HashSet<&str> = graph
        .transitive_dependents(&root.service)
        .into_iter()
        .collect();
    let explained: Vec<&Culprit> = ranking[1..]
        .iter()
        .filter(|c| is_anomalous(c) && callers.contains(c.service.as_str()))
        .collect();
    let explained_names: HashSet<&str> = explained.iter().map(|c| c.service.as_str()).collect();
    let rivals: Vec<&Culprit> = ranking[1..]
        .iter()
        .filter(|c| !explained_names.contains(c.service.as_str()))
        .collect();
    let confidence = if anomalous.is_empty() {
        0.3 * (root.evidence.metrics.z / threshold.max(f64::EPSILON)).clamp(0.0, 1.0)
    } else {
        let strength = 0.5
            + 0.5 * (root.evidence.metrics.z / (2.0 * threshold.max(f64::EPSILON))).clamp(0.0, 1.0);
        let rival = rivals.first().map_or(0.0, |c| c.score.max(0.0));
        let lead = if root.score > 0.0 {
            root.score / (root.score + rival)
        } else {
            0.0
        };
        let covered = explained.len() + usize::from(is_anomalous(root));
        let coverage = covered as f64 / anomalous.len() as f64;
        strength * lead * coverage.sqrt()
    }
    .clamp(0.0, MAX_CONFIDENCE);

    let mut lines = vec![describe(root, r)];
    if !r.fallback {
        lines.push(contributions(root));
    }
    for dep in graph.dependencies(&root.service) {
        lines.push(match by_name.get(dep) {
            Some(c) if is_anomalous(c) => format!(
                "{dep} ({} score {:.1}), which {} depends on, is anomalous too but ranks lower \
                 ({:.2} against {:.2})",
                c.metric, c.evidence.metrics.z, root.service, c.score, root.score
            ),
            Some(c) => format!(
                "{dep}, which {} depends on, looks healthy ({} score {:.1})",
                root.service, c.metric, c.evidence.metrics.z
            ),
            None => format!("{dep}, which {} depends on, shows no anomaly", root.service),
        });
    }
    for c in explained.iter().take(MAX_LINES) {
        let causes: Vec<&str> = graph
            .transitive_dependencies(&c.service)
            .into_iter()
            .filter(|d| anomalous.contains(d))
            .collect();
        lines.push(format!(
            "{} ({} score {:.1}) is a symptom: it depends on anomalous {}",
            c.service,
            c.metric,
            c.evidence.metrics.z,
            causes.join(", ")
        ));
    }
    if explained.len() > MAX_LINES {
        lines.push(format!(
            "{} more anomalous services depend on {}",
            explained.len() - MAX_LINES,
            root.service
        ));
    }
    let deps = graph.dependencies(&root.service);
    let unexplained: Vec<&&Culprit> = rivals
        .iter()
        .filter(|c| is_anomalous(c) && !deps.contains(&c.service.as_str()))
        .collect();
    for c in unexplained.iter().take(MAX_LINES) {
        lines.push(format!(
            "{} ({} score {:.1}) is anomalous too and does not depend on {}: it ranks {:.2}",
            c.service, c.metric, c.evidence.metrics.z, root.service, c.score
        ));
    }
    if unexplained.len() > MAX_LINES {
        lines.push(format!(
            "{} more anomalous services do not depend on {}",
            unexplained.len() - MAX_LINES,
            root.service
        ));
    }
    if r.fallback {
        lines.push(format!(
            "no service reaches the anomaly threshold {threshold}; {} is named because the \
             incident was raised on it",
            root.service
        ));
    } else if anomalous.is_empty() {
        lines.push(format!(
            "no service reaches the anomaly threshold {threshold}; {} only scores highest",
            root.service
        ));
    }
    if !graph.is_empty() {
        for c in ranking.iter().filter(|c| !graph.contains(&c.service)) {
            lines.push(format!("{} is not in the dependency graph", c.service));
        }
    }

    RcaReport {
        root_cause: root.service.clone(),
        ranking: ranking
            .iter()
            .map(|c| RankedService {
                service: c.service.clone(),
                metric: c.metric.clone(),
                score: c.score,
            })
            .collect(),
        causal_chain: chain(graph, &root.service, &anomalous, r.symptom),
        evidence: lines,
        confidence,
    }
}

/// The root cause's strongest reading against the threshold, with what the readings say in
/// words: every anomalous one, or the strongest when none is.
fn describe(root: &Culprit, r: &Reading) -> String {
    let z = root.evidence.metrics.z;
    let state = if z >= r.threshold {
        "anomalous"
    } else {
        "below the anomaly threshold"
    };
    let mut line = format!(
        "{}: {} score {z:.1} ({state}, threshold {})",
        root.service, root.metric, r.threshold
    );
    let mine: Vec<&ServiceEvidence> = r
        .evidence
        .iter()
        .filter(|e| e.service == root.service && e.detail.is_some())
        .collect();
    let loud: Vec<&&ServiceEvidence> = mine.iter().filter(|e| e.score >= r.threshold).collect();
    let details: Vec<&str> = if loud.is_empty() {
        mine.iter()
            .max_by(|a, b| a.score.total_cmp(&b.score))
            .into_iter()
            .filter_map(|e| e.detail.as_deref())
            .collect()
    } else {
        loud.iter().filter_map(|e| e.detail.as_deref()).collect()
    };
    if details.is_empty() && root.evidence.metrics.columns.is_empty() {
        line.push_str("; the incident was raised on it, and no reading says more");
    }
    for d in details {
        line.push_str("; ");
        line.push_str(d);
    }
    line
}

/// What each signal added to the root cause's ranking score.
fn contributions(root: &Culprit) -> String {
    let e = &root.evidence;
    let mut line = format!(
        "{} ranks first with {:.2}: its own readings {:.2}",
        root.service, root.score, e.metrics.contribution
    );
    if let Some(g) = e.graph {
        line.push_str(&format!(", the dependency graph {g:.2}"));
    }
    if let Some(t) = e.traces.as_ref().filter(|t| t.contribution > 0.0) {
        line.push_str(&format!(
            ", where errors begin in the traces {:.2} ({} erring spans)",
            t.contribution, t.detail.error_origins
        ));
    }
    line
}

/// `[root, …, symptom]` along the callers when the symptom is known and reachable; otherwise
/// the root followed by its anomalous callers, nearest first.
fn chain(
    graph: &DependencyGraph,
    root: &str,
    anomalous: &HashSet<&str>,
    symptom: Option<&str>,
) -> Vec<String> {
    if let Some(path) = symptom.and_then(|s| graph.path_to_dependent(root, s)) {
        return path.into_iter().map(str::to_string).collect();
    }
    let mut out = vec![root.to_string()];
    out.extend(
        graph
            .transitive_dependents(root)
            .into_iter()
            .filter(|s| anomalous.contains(s))
            .map(str::to_string),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::super::rank::RcaError;
    use super::super::serve_evidence::rank_evidence;
    use super::*;
    use std::collections::BTreeMap;

    /// The demo's shop: the gateway calls users, orders, catalog and search; users and orders
    /// call payments, which calls `postgres_primary`; orders call inventory and shipping.
    fn shop() -> DependencyGraph {
        DependencyGraph::from_catalog_yaml(
            include_str!("../../testdata/services/payment-service/catalog.yaml"),
            "catalog.yaml",
        )
        .unwrap()
    }

    fn ev(service: &str, metric: &str, score: f64) -> ServiceEvidence {
        ServiceEvidence {
            service: service.to_string(),
            metric: metric.to_string(),
            score,
            detail: Some(format!("{service} {metric} reading")),
        }
    }

    fn rank(evidence: &[ServiceEvidence], symptom: &str) -> RcaReport {
        rank_evidence(&shop(), evidence, &BTreeMap::new(), Some(symptom), 3.0, 0.0).unwrap()
    }

    fn order(report: &RcaReport) -> Vec<&str> {
        report.ranking.iter().map(|r| r.service.as_str()).collect()
    }

    fn line<'a>(report: &'a RcaReport, start: &str) -> &'a str {
        report
            .evidence
            .iter()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line starting {start:?}: {:#?}", report.evidence))
    }

    #[test]
    fn the_graph_moves_the_blame_from_louder_callers_to_their_dependency() {
        let report = rank(
            &[
                ev("user-service", "error_rate", 14.0),
                ev("order-service", "error_rate", 12.0),
                ev("payment-service", "error_rate", 10.0),
                ev("postgres_primary", "error_rate", 0.8),
            ],
            "order-service",
        );
        assert_eq!(report.root_cause, "payment-service", "{report:#?}");
        assert_eq!(&order(&report)[3..], ["postgres_primary"]);
        assert_eq!(report.causal_chain, ["payment-service", "order-service"]);
        assert!(report.confidence > 0.8, "{}", report.confidence);
        assert_eq!(
            report.evidence[0],
            "payment-service: error_rate score 10.0 (anomalous, threshold 3); payment-service \
             error_rate reading"
        );
        assert!(line(&report, "payment-service ranks first with ").contains("dependency graph"));
        line(
            &report,
            "postgres_primary, which payment-service depends on, looks healthy (error_rate score 0.8)",
        );
        line(
            &report,
            "user-service (error_rate score 14.0) is a symptom: it depends on anomalous \
             payment-service",
        );
        line(
            &report,
            "order-service (error_rate score 12.0) is a symptom",
        );

        // A caller failing twice as often as its dependency has trouble of its own: the
        // dependency explains only part of it, and the report says it is unsure.
        let report = rank(
            &[
                ev("user-service", "error_rate", 20.0),
                ev("order-service", "error_rate", 18.0),
                ev("payment-service", "error_rate", 9.0),
            ],
            "order-service",
        );
        assert_eq!(report.root_cause, "user-service", "{report:#?}");
        assert!(report.confidence < 0.5, "{}", report.confidence);
        line(
            &report,
            "payment-service (error_rate score 9.0), which user-service depends on, is anomalous \
             too but ranks lower",
        );
    }

    #[test]
    fn a_dependency_whose_latency_explains_its_callers_is_the_cause_and_its_cpu_is_not() {
        // payment-service is slow and so is its database: the database explains it.
        let slow_db = rank(
            &[
                ev("payment-service", "latency_p99", 12.0),
                ev("postgres_primary", "latency_p99", 8.0),
            ],
            "payment-service",
        );
        assert_eq!(slow_db.root_cause, "postgres_primary", "{slow_db:#?}");
        assert_eq!(
            slow_db.causal_chain,
            ["postgres_primary", "payment-service"]
        );
        // A busy database that answers on time explains no caller's latency.
        let busy_db = rank(
            &[
                ev("payment-service", "latency_p99", 12.0),
                ev("postgres_primary", "cpu", 4.0),
            ],
            "payment-service",
        );
        assert_eq!(busy_db.root_cause, "payment-service", "{busy_db:#?}");
        line(
            &busy_db,
            "postgres_primary (cpu score 4.0), which payment-service depends on, is anomalous \
             too but ranks lower",
        );
    }

    #[test]
    fn with_nothing_anomalous_the_alerted_service_is_named_with_low_confidence() {
        // payment-service 1.6× over its latency objective; others score higher, none anomalous.
        let report = rank(
            &[
                ev("api-gateway", "error_rate", 2.0),
                ev("payment-service", "latency_p99", 1.6),
                ev("payment-service", "error_rate", 0.1),
                ev("user-service", "error_rate", 2.5),
            ],
            "payment-service",
        );
        assert_eq!(report.root_cause, "payment-service");
        assert_eq!(report.ranking[0].metric, "latency_p99");
        assert_eq!(report.causal_chain, ["payment-service"]);
        assert!(
            report.confidence > 0.1 && report.confidence <= 0.3,
            "{}",
            report.confidence
        );
        // The strongest reading's words, not the weaker one's.
        assert_eq!(
            report.evidence[0],
            "payment-service: latency_p99 score 1.6 (below the anomaly threshold, threshold 3); \
             payment-service latency_p99 reading"
        );
        assert!(
            report
                .evidence
                .iter()
                .any(|l| l
                    .ends_with("payment-service is named because the incident was raised on it"))
        );

        // No reading of the alerted service at all: still named, at no confidence to speak of.
        let report = rank(&[ev("user-service", "cpu", 2.0)], "payment-service");
        assert_eq!(report.root_cause, "payment-service");
        assert_eq!(report.ranking[0].metric, "alert");
        assert_eq!(order(&report), ["payment-service", "user-service"]);
        assert_eq!(report.confidence, 0.0);
        assert!(report.evidence[0].ends_with("no reading says more"));

        // An anomalous service elsewhere outranks the alerted one.
        let report = rank(
            &[
                ev("payment-service", "latency_p99", 1.6),
                ev("postgres_primary", "latency_p99", 4.0),
            ],
            "payment-service",
        );
        assert_eq!(report.root_cause, "postgres_primary");
        assert_eq!(report.causal_chain, ["postgres_primary", "payment-service"]);
    }

    #[test]
    fn where_the_error_spans_begin_decides_between_equal_readings() {
        // Orders fail because one of their dependencies does; both fail alike.
        let evidence = [
            ev("order-service", "error_rate", 8.0),
            ev("payment-service", "error_rate", 6.0),
            ev("inventory-service", "error_rate", 6.0),
        ];
        let origins = |service: &str| BTreeMap::from([(service.to_string(), 5)]);
        for origin in ["payment-service", "inventory-service"] {
            let mut with_spans = evidence.to_vec();
            with_spans.push(ev(origin, "error_span_origin", 3.5));
            let report = rank_evidence(
                &shop(),
                &with_spans,
                &origins(origin),
                Some("order-service"),
                3.0,
                0.0,
            )
            .unwrap();
            assert_eq!(report.root_cause, origin, "{report:#?}");
            assert!(
                line(&report, &format!("{origin} ranks first with "))
                    .ends_with("where errors begin in the traces 0.30 (5 erring spans)"),
                "{:#?}",
                report.evidence
            );
            let rival = if origin == "payment-service" {
                "inventory-service"
            } else {
                "payment-service"
            };
            line(
                &report,
                &format!("{rival} (error_rate score 6.0) is anomalous too and does not depend on {origin}"),
            );
        }
        // Payments look healthy by their error rate, but the errors begin there: the spans
        // make them anomalous, and the graph takes the blame down from orders.
        let report = rank_evidence(
            &shop(),
            &[
                ev("order-service", "error_rate", 8.0),
                ev("payment-service", "error_rate", 0.5),
                ev("payment-service", "error_span_origin", 3.5),
            ],
            &origins("payment-service"),
            Some("order-service"),
            3.0,
            0.0,
        )
        .unwrap();
        assert_eq!(report.root_cause, "payment-service", "{report:#?}");
        assert_eq!(report.ranking[0].metric, "error_span_origin");
        assert!(report.evidence[0].ends_with("payment-service error_span_origin reading"));
    }

    #[test]
    fn an_anomaly_the_root_cause_does_not_explain_lowers_the_confidence() {
        let one = rank(
            &[ev("payment-service", "error_rate", 9.0)],
            "payment-service",
        );
        let two = rank(
            &[
                ev("payment-service", "error_rate", 9.0),
                ev("search-service", "cpu", 8.0),
            ],
            "payment-service",
        );
        assert_eq!(two.root_cause, "payment-service");
        assert!(
            two.confidence < one.confidence - 0.2,
            "{} vs {}",
            two.confidence,
            one.confidence
        );
    }

    #[test]
    fn services_outside_the_graph_are_said_to_be_and_no_evidence_is_an_error() {
        let report = rank(
            &[
                ev("payment-service", "error_rate", 9.0),
                ev("ledger", "error_rate", 0.2),
            ],
            "payment-service",
        );
        line(&report, "ledger is not in the dependency graph");
        assert_eq!(
            rank_evidence(
                &shop(),
                &[ev("x", "cpu", f64::NAN)],
                &BTreeMap::new(),
                None,
                3.0,
                0.0
            ),
            Err(RcaError::NoEvidence)
        );
    }
}
