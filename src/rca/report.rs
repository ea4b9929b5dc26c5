//! A diagnosis put as the report the pipeline and `healbot rca`'s text output use: the root
//! cause, the anomalous callers it explains, the evidence in sentences and a confidence.

use super::diagnose::{Diagnosis, StartSource};
use super::rank::{RankedService, RcaReport};
use crate::topology::DependencyGraph;

impl Diagnosis {
    /// The report; `threshold` is the metric score from which a caller counts as anomalous
    /// (and so as explained by the root cause, on the causal chain).
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
                if let Some(from) = c.window_start.filter(|&w| w != self.anomaly_start) {
                    line.push_str(&format!(", scored from {from}"));
                }
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
