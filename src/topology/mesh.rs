//! The dependency graph as a service mesh sees it, from its request counters in Prometheus:
//! Istio's `istio_requests_total` by `source_workload` → `destination_workload` (counted by
//! the destination's proxy only, or every request counts twice), Linkerd's `request_total` on
//! outbound series by `deployment` → `dst_deployment`. A workload name is what the mesh calls
//! the Deployment, the service's name in the catalog as a rule.

use super::graph::DependencyGraph;
use crate::signals::prometheus::{PrometheusClient, PrometheusError};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mesh {
    Istio,
    Linkerd,
}

/// Istio and Linkerd say "unknown" (or nothing) for callers outside the mesh.
const UNKNOWN: [&str; 2] = ["", "unknown"];

impl Mesh {
    /// The PromQL for the calls between workloads over the last `window_seconds`.
    pub fn query(self, window_seconds: u64) -> String {
        let w = window_seconds.max(1);
        match self {
            Mesh::Istio => format!(
                "sum by (source_workload, destination_workload) \
                 (increase(istio_requests_total{{reporter=\"destination\"}}[{w}s]))"
            ),
            Mesh::Linkerd => format!(
                "sum by (deployment, dst_deployment) \
                 (increase(request_total{{direction=\"outbound\"}}[{w}s]))"
            ),
        }
    }

    fn labels(self) -> (&'static str, &'static str) {
        match self {
            Mesh::Istio => ("source_workload", "destination_workload"),
            Mesh::Linkerd => ("deployment", "dst_deployment"),
        }
    }
}

/// One caller → callee pair and the requests counted over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct MeshEdge {
    pub caller: String,
    pub callee: String,
    pub requests: f64,
}

/// The edges the mesh counted requests on over the last `window_seconds`.
pub async fn edges(
    client: &PrometheusClient,
    mesh: Mesh,
    window_seconds: u64,
) -> Result<Vec<MeshEdge>, PrometheusError> {
    let result = client.query(&mesh.query(window_seconds), None).await?;
    let (from, to) = mesh.labels();
    let mut out: Vec<MeshEdge> = result
        .series()
        .iter()
        .filter_map(|s| {
            let caller = s.labels.get(from).map(String::as_str).unwrap_or("");
            let callee = s.labels.get(to).map(String::as_str).unwrap_or("");
            let requests = s.samples.last().map_or(0.0, |x| x.value);
            (!UNKNOWN.contains(&caller)
                && !UNKNOWN.contains(&callee)
                && caller != callee
                && requests > 0.0)
                .then(|| MeshEdge {
                    caller: caller.to_string(),
                    callee: callee.to_string(),
                    requests,
                })
        })
        .collect();
    out.sort_by(|a, b| (&a.caller, &a.callee).cmp(&(&b.caller, &b.callee)));
    Ok(out)
}

/// The graph of those edges.
pub fn graph(edges: &[MeshEdge]) -> DependencyGraph {
    let mut g = DependencyGraph::new();
    for e in edges {
        g.add_dependency(&e.caller, &e.callee);
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_count_each_request_once() {
        let q = Mesh::Istio.query(300);
        assert!(
            q.contains("reporter=\"destination\"") && q.contains("[300s]"),
            "{q}"
        );
        let q = Mesh::Linkerd.query(60);
        assert!(
            q.contains("direction=\"outbound\"") && q.contains("dst_deployment"),
            "{q}"
        );
    }
}
