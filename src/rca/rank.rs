//! Root-cause ranking: per-service anomaly evidence (a robust z-score, an error-rate ratio…)
//! read through the dependency graph. Failures travel up the call graph, so among anomalous
//! services the one whose own dependencies are healthy is the likely origin, and its anomalous
//! callers are symptoms: it ranks above them even when their numbers look worse.

use crate::topology::graph::DependencyGraph;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// One piece of evidence that a service misbehaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceEvidence {
    pub service: String,
    /// What was measured: `error_rate`, `latency_p95_ms`, `cpu`…
    pub metric: String,
    /// How anomalous; at or above [`RankOptions::anomaly_threshold`] counts as anomalous. A
    /// robust z-score, or an error rate divided by the SLO error rate, both fit the default.
    pub score: f64,
    /// Anything a person should read next to the number (`error rate 15% vs 0.1% before`).
    #[serde(default)]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RankOptions {
    /// Scores at or above this are anomalous. 3 suits robust z-scores and error-rate ratios.
    pub anomaly_threshold: f64,
    /// The service the incident was raised on; the causal chain then ends there. When no
    /// service is anomalous it is the root cause.
    pub symptom: Option<String>,
}

impl Default for RankOptions {
    fn default() -> RankOptions {
        RankOptions {
            anomaly_threshold: 3.0,
            symptom: None,
        }
    }
}

/// One line of the ranking, as `healbot rca` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedService {
    pub service: String,
    /// The service's most anomalous metric.
    pub metric: String,
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RcaReport {
    pub root_cause: String,
    /// Most likely origin first.
    pub ranking: Vec<RankedService>,
    /// From the root cause up through its callers to the symptom services.
    pub causal_chain: Vec<String>,
    /// Why, in sentences a person can check.
    pub evidence: Vec<String>,
    /// In [0, 1].
    pub confidence: f64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RcaError {
    #[error("no evidence with a numeric score: nothing to rank")]
    NoEvidence,
}

/// The most confident a ranking made from metrics and a graph is allowed to sound.
const MAX_CONFIDENCE: f64 = 0.95;

/// Symptoms explained one by one in the evidence; the rest are counted. Each explanation walks
/// the graph, and a person reads ten lines, not a thousand.
const MAX_SYMPTOM_LINES: usize = 10;

/// Ranks the services named in `evidence`. Services missing from `graph` are treated as having
/// no dependencies.
pub fn rank(
    graph: &DependencyGraph,
    evidence: &[ServiceEvidence],
    options: &RankOptions,
) -> Result<RcaReport, RcaError> {
    let mut best = best_per_service(evidence);
    if best.is_empty() {
        return Err(RcaError::NoEvidence);
    }
    let threshold = options.anomaly_threshold;
    // With nothing anomalous the evidence points nowhere, and the service the incident was
    // raised on is a better guess than whichever healthy service scores highest.
    let fallback = options
        .symptom
        .as_deref()
        .filter(|_| best.iter().all(|e| e.score < threshold));
    if let Some(s) = fallback.filter(|s| best.iter().all(|e| e.service != *s)) {
        best.push(ServiceEvidence {
            service: s.to_string(),
            metric: "alert".into(),
            score: 0.0,
            detail: Some("the incident was raised on it; no metric says more".into()),
        });
    }
    let anomalous: HashSet<&str> = best
        .iter()
        .filter(|e| e.score >= threshold)
        .map(|e| e.service.as_str())
        .collect();
    let downstream_anomalous = has_anomalous_dependency(graph, &anomalous);
    // In a cycle of anomalous services none has healthy dependencies; then all are candidates.
    let any_candidate = anomalous.iter().any(|s| !downstream_anomalous.contains(s));
    let group = |service: &str| -> u8 {
        if fallback == Some(service) {
            0
        } else if !anomalous.contains(service) {
            2
        } else if any_candidate && downstream_anomalous.contains(service) {
            1
        } else {
            0
        }
    };

    // Group once per service: the sort compares many times.
    let mut grouped: Vec<(u8, &ServiceEvidence)> =
        best.iter().map(|e| (group(&e.service), e)).collect();
    grouped.sort_by(|(ga, a), (gb, b)| {
        ga.cmp(gb)
            .then(b.score.total_cmp(&a.score))
            .then(a.service.cmp(&b.service))
    });
    let ranked: Vec<&ServiceEvidence> = grouped.iter().map(|(_, e)| *e).collect();
    let root = ranked[0];
    let scores: HashMap<&str, &ServiceEvidence> =
        best.iter().map(|e| (e.service.as_str(), e)).collect();

    let causal_chain = chain(graph, &root.service, &anomalous, options.symptom.as_deref());
    let explained = graph
        .transitive_dependents(&root.service)
        .into_iter()
        .filter(|s| anomalous.contains(s))
        .count();
    let runner_up = grouped
        .iter()
        .skip(1)
        .find(|(g, _)| *g == 0)
        .map_or(0.0, |(_, e)| e.score);
    let confidence = confidence(root.score, runner_up, threshold, explained, anomalous.len());

    let mut lines = Vec::new();
    lines.push(describe(root, threshold));
    for dep in graph.dependencies(&root.service) {
        lines.push(match scores.get(dep) {
            Some(e) if e.score >= threshold => format!(
                "{dep} ({}) is anomalous too, but {} is the deepest anomalous service found",
                e.metric, root.service
            ),
            Some(e) => format!(
                "{dep}, which {} depends on, looks healthy ({} score {:.1})",
                root.service, e.metric, e.score
            ),
            None => format!("{dep}, which {} depends on, shows no anomaly", root.service),
        });
    }
    let symptoms: Vec<&ServiceEvidence> = grouped
        .iter()
        .skip(1)
        .filter(|(g, _)| *g == 1)
        .map(|(_, e)| *e)
        .collect();
    for e in symptoms.iter().take(MAX_SYMPTOM_LINES) {
        let causes: Vec<&str> = graph
            .transitive_dependencies(&e.service)
            .into_iter()
            .filter(|d| anomalous.contains(d))
            .collect();
        lines.push(format!(
            "{} ({} score {:.1}) is a symptom: it depends on anomalous {}",
            e.service,
            e.metric,
            e.score,
            causes.join(", ")
        ));
    }
    if symptoms.len() > MAX_SYMPTOM_LINES {
        lines.push(format!(
            "{} more anomalous services depend on anomalous services",
            symptoms.len() - MAX_SYMPTOM_LINES
        ));
    }
    if fallback.is_some() {
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
    for e in &best {
        if !graph.is_empty() && !graph.contains(&e.service) {
            lines.push(format!("{} is not in the dependency graph", e.service));
        }
    }

    Ok(RcaReport {
        root_cause: root.service.clone(),
        ranking: ranked
            .iter()
            .map(|e| RankedService {
                service: e.service.clone(),
                metric: e.metric.clone(),
                score: e.score,
            })
            .collect(),
        causal_chain,
        evidence: lines,
        confidence,
    })
}

impl RcaReport {
    #[cfg(test)]
    /// The root-cause section of the PR body: chain, confidence, evidence, and the graph with
    /// the root cause highlighted.
    pub fn to_markdown(&self, graph: &DependencyGraph) -> String {
        let mut out = format!(
            "**Root cause: `{}`** (confidence {:.0}%)\n\nCausal chain: {}\n\n",
            self.root_cause,
            self.confidence * 100.0,
            self.causal_chain
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(" → ")
        );
        for line in &self.evidence {
            out.push_str(&format!("- {line}\n"));
        }
        if graph.contains(&self.root_cause) {
            out.push_str(&format!(
                "\n```mermaid\n{}```\n",
                graph.to_mermaid(&self.root_cause)
            ));
        }
        out
    }
}

/// Each service's strongest evidence; evidence without a numeric score is ignored.
fn best_per_service(evidence: &[ServiceEvidence]) -> Vec<ServiceEvidence> {
    let mut best: HashMap<&str, &ServiceEvidence> = HashMap::new();
    for e in evidence.iter().filter(|e| !e.score.is_nan()) {
        match best.get(e.service.as_str()) {
            Some(b) if b.score >= e.score => {}
            _ => {
                best.insert(&e.service, e);
            }
        }
    }
    best.into_values().cloned().collect()
}

/// The services with an anomalous service somewhere below them: one breadth-first walk up the
/// callers of every anomalous service, so the cost stays linear in the graph.
fn has_anomalous_dependency<'a>(
    graph: &'a DependencyGraph,
    anomalous: &HashSet<&str>,
) -> HashSet<&'a str> {
    graph
        .dependents_of_any(anomalous.iter().copied())
        .into_iter()
        .collect()
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

/// Strength of the root's own signal × its lead over the next candidate × the share of the
/// anomalous services it explains.
fn confidence(top: f64, runner_up: f64, threshold: f64, explained: usize, anomalous: usize) -> f64 {
    let threshold = threshold.max(f64::EPSILON);
    if anomalous == 0 {
        return (0.3 * (top / threshold).clamp(0.0, 1.0)).min(MAX_CONFIDENCE);
    }
    let strength = 0.5 + 0.5 * (top / (2.0 * threshold)).clamp(0.0, 1.0);
    let lead = if top > 0.0 {
        top / (top + runner_up.max(0.0))
    } else {
        0.5
    };
    let coverage = ((explained + 1) as f64 / anomalous as f64).clamp(0.0, 1.0);
    (strength * lead * coverage.sqrt()).clamp(0.0, MAX_CONFIDENCE)
}

fn describe(e: &ServiceEvidence, threshold: f64) -> String {
    let state = if e.score >= threshold {
        "anomalous"
    } else {
        "below the anomaly threshold"
    };
    let mut line = format!(
        "{}: {} score {:.1} ({state}, threshold {threshold})",
        e.service, e.metric, e.score
    );
    if let Some(detail) = &e.detail {
        line.push_str(&format!("; {detail}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn payment() -> DependencyGraph {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/services/payment-service/catalog.yaml");
        DependencyGraph::load_catalog(&path).unwrap()
    }

    fn ev(service: &str, metric: &str, score: f64) -> ServiceEvidence {
        ServiceEvidence {
            service: service.to_string(),
            metric: metric.to_string(),
            score,
            detail: None,
        }
    }

    fn order(report: &RcaReport) -> Vec<&str> {
        report.ranking.iter().map(|r| r.service.as_str()).collect()
    }

    #[test]
    fn root_cause_beats_its_louder_callers() {
        let evidence = [
            ev("user-service", "error_rate", 20.0),
            ev("order-service", "error_rate", 18.0),
            ev("payment-service", "error_rate", 9.0),
            ev("postgres_primary", "latency_p95_ms", 0.8),
        ];
        let report = rank(&payment(), &evidence, &RankOptions::default()).unwrap();
        assert_eq!(report.root_cause, "payment-service");
        assert_eq!(
            order(&report),
            [
                "payment-service",
                "user-service",
                "order-service",
                "postgres_primary"
            ]
        );
        assert_eq!(
            report.causal_chain,
            ["payment-service", "order-service", "user-service"]
        );
        assert!(report
            .evidence
            .iter()
            .any(|l| l
                .starts_with("postgres_primary, which payment-service depends on, looks healthy")));
        assert!(report
            .evidence
            .iter()
            .any(|l| l.starts_with("user-service (error_rate score 20.0) is a symptom")));
        assert!(report.confidence > 0.8, "{}", report.confidence);
        let md = report.to_markdown(&payment());
        assert!(
            md.starts_with("**Root cause: `payment-service`** (confidence 95%)"),
            "{md}"
        );
        assert!(
            md.contains("Causal chain: `payment-service` → `order-service`"),
            "{md}"
        );
        assert!(md.contains("```mermaid\ngraph LR\n"), "{md}");
    }

    #[test]
    fn the_deepest_anomalous_service_wins() {
        let evidence = [
            ev("payment-service", "latency_p95_ms", 12.0),
            ev("postgres_primary", "cpu", 4.0),
        ];
        let report = rank(&payment(), &evidence, &RankOptions::default()).unwrap();
        assert_eq!(report.root_cause, "postgres_primary");
    }

    #[test]
    fn symptom_fixes_the_end_of_the_chain() {
        let evidence = [ev("payment-service", "error_rate", 9.0)];
        let options = RankOptions {
            symptom: Some("user-service".to_string()),
            ..RankOptions::default()
        };
        let report = rank(&payment(), &evidence, &options).unwrap();
        assert_eq!(report.causal_chain, ["payment-service", "user-service"]);
    }

    #[test]
    fn two_unrelated_anomalies_lower_the_confidence() {
        let one = rank(
            &payment(),
            &[ev("payment-service", "error_rate", 9.0)],
            &RankOptions::default(),
        )
        .unwrap();
        let mut g = payment();
        g.add_service("search", Some(0.3));
        let two = rank(
            &g,
            &[
                ev("payment-service", "error_rate", 9.0),
                ev("search", "cpu", 8.0),
            ],
            &RankOptions::default(),
        )
        .unwrap();
        assert_eq!(two.root_cause, "payment-service");
        assert!(
            two.confidence < one.confidence - 0.2,
            "{} vs {}",
            two.confidence,
            one.confidence
        );
    }

    #[test]
    fn without_anomalies_the_top_score_is_a_weak_guess() {
        let report = rank(
            &payment(),
            &[
                ev("payment-service", "error_rate", 1.0),
                ev("user-service", "cpu", 2.0),
            ],
            &RankOptions::default(),
        )
        .unwrap();
        assert_eq!(report.root_cause, "user-service");
        assert!(report.confidence <= 0.3);
    }

    #[test]
    fn without_anomalies_the_symptom_is_the_root_cause() {
        let options = RankOptions {
            symptom: Some("payment-service".to_string()),
            ..RankOptions::default()
        };
        // payment-service 1.6× over its latency objective; others score higher, none anomalous.
        let report = rank(
            &payment(),
            &[
                ev("api-gateway", "error_rate", 2.0),
                ev("payment-service", "latency_p99", 1.6),
                ev("user-service", "error_rate", 2.5),
            ],
            &options,
        )
        .unwrap();
        assert_eq!(report.root_cause, "payment-service");
        assert_eq!(report.causal_chain, ["payment-service"]);
        assert!(report.confidence <= 0.3, "{}", report.confidence);
        assert!(
            report
                .evidence
                .iter()
                .any(|l| l
                    .ends_with("payment-service is named because the incident was raised on it"))
        );

        // No evidence on the symptom at all: still named, with a score of 0.
        let report = rank(&payment(), &[ev("user-service", "cpu", 2.0)], &options).unwrap();
        assert_eq!(report.root_cause, "payment-service");
        assert_eq!(report.ranking[0].metric, "alert");
        assert_eq!(order(&report), ["payment-service", "user-service"]);

        // An anomalous service elsewhere outranks the symptom as before.
        let report = rank(
            &payment(),
            &[
                ev("payment-service", "latency_p99", 1.6),
                ev("postgres_primary", "latency_p99", 4.0),
            ],
            &options,
        )
        .unwrap();
        assert_eq!(report.root_cause, "postgres_primary");
    }

    #[test]
    fn anomalous_cycle_still_ranks_by_score() {
        let mut g = DependencyGraph::new();
        g.add_dependency("a", "b");
        g.add_dependency("b", "a");
        let report = rank(
            &g,
            &[ev("a", "cpu", 5.0), ev("b", "cpu", 7.0)],
            &RankOptions::default(),
        )
        .unwrap();
        assert_eq!(report.root_cause, "b");
    }

    #[test]
    fn best_metric_per_service_and_no_evidence_error() {
        let report = rank(
            &payment(),
            &[
                ev("payment-service", "cpu", 4.0),
                ev("payment-service", "error_rate", 9.0),
            ],
            &RankOptions::default(),
        )
        .unwrap();
        assert_eq!(report.ranking.len(), 1);
        assert_eq!(report.ranking[0].metric, "error_rate");
        assert_eq!(
            rank(
                &payment(),
                &[ev("x", "cpu", f64::NAN)],
                &RankOptions::default()
            ),
            Err(RcaError::NoEvidence)
        );
    }
}
