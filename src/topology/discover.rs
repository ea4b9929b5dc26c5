//! The graph healbot uses, put together from every source healbot.yaml names: the catalog,
//! local checkouts' `depends_on:`, the traces (Jaeger, Tempo or Hypertrace), the service mesh's
//! request counters in Prometheus, and Neo4j. Each edge remembers which sources saw it. A
//! source that fails is reported and left out; the others still count.

use super::graph::DependencyGraph;
use super::mesh::{self, Mesh};
use crate::config::repo::RepoConfig;
use crate::config::topology::{MeshKind, TopologyConfig, TracesBackend};
use crate::signals::hypertrace::HypertraceTraces;
use crate::signals::jaeger::JaegerTraces;
use crate::signals::prometheus::PrometheusClient;
use crate::signals::tempo::TempoTraces;
use crate::signals::trace_source::{TraceSource, TraceSourceError, Window};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

/// What discovery found: the merged graph and, per edge, the sources that saw it.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    pub graph: DependencyGraph,
    pub edge_sources: BTreeMap<(String, String), BTreeSet<String>>,
    /// Unix seconds.
    pub refreshed_at: f64,
    /// Sources that failed, one line each.
    pub problems: Vec<String>,
}

impl Discovered {
    /// Adds one source's graph under `source`.
    pub fn add(&mut self, source: &str, graph: &DependencyGraph) {
        self.graph.merge(graph);
        for (a, b) in graph.edges() {
            self.edge_sources
                .entry((a.to_string(), b.to_string()))
                .or_default()
                .insert(source.to_string());
        }
    }
}

/// Where each part of the graph comes from.
pub struct Discovery {
    pub catalog: Option<PathBuf>,
    pub config: TopologyConfig,
    prometheus: Option<PrometheusClient>,
    traces: Option<Box<dyn TraceSource>>,
    hypertrace_edges: Option<HypertraceTraces>,
}

/// The graph snapshot as `healbot graph show --format json` prints it and `serve` keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub refreshed_at: f64,
    pub services: Vec<SnapshotService>,
    pub edges: Vec<SnapshotEdge>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotService {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criticality: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotEdge {
    pub caller: String,
    pub callee: String,
    pub sources: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error(transparent)]
    Traces(#[from] TraceSourceError),
    #[error(transparent)]
    Prometheus(#[from] crate::signals::prometheus::PrometheusError),
    #[error("graph snapshot {path}: {reason}")]
    Snapshot { path: String, reason: String },
}

impl Discovery {
    pub fn new(
        catalog: Option<PathBuf>,
        config: TopologyConfig,
        prometheus_url: Option<&str>,
    ) -> Result<Discovery, DiscoveryError> {
        let prometheus = match (config.mesh, prometheus_url) {
            (Some(_), Some(url)) => Some(PrometheusClient::new(url, Duration::from_secs(10))?),
            _ => None,
        };
        let (traces, hypertrace_edges): (Option<Box<dyn TraceSource>>, _) =
            match config.traces.as_ref().filter(|_| config.from_traces) {
                Some(t) => match &t.backend {
                    TracesBackend::Jaeger { url } => {
                        (Some(Box::new(JaegerTraces::new(url, t.timeout)?)), None)
                    }
                    TracesBackend::Tempo { url } => {
                        (Some(Box::new(TempoTraces::new(url, t.timeout)?)), None)
                    }
                    // Hypertrace aggregates the service graph itself: ask for its edges.
                    TracesBackend::Hypertrace { url, tenant } => (
                        None,
                        Some(HypertraceTraces::new(url, tenant.clone(), t.timeout)?),
                    ),
                },
                None => (None, None),
            };
        Ok(Discovery {
            catalog,
            config,
            prometheus,
            traces,
            hypertrace_edges,
        })
    }

    /// Reads every source now; `now` is unix seconds.
    pub async fn discover(&self, now: f64) -> Discovered {
        let mut found = Discovered {
            refreshed_at: now,
            ..Discovered::default()
        };
        if let Some(path) = &self.catalog {
            match DependencyGraph::load_catalog(path) {
                Ok(g) => found.add("catalog", &g),
                Err(e) => found.problems.push(e.to_string()),
            }
        }
        for dir in &self.config.repositories {
            let file = dir.join(".github/healbot.yml");
            match RepoConfig::load(&file) {
                Ok(repo) => found.add("repository", &declared_by(&repo)),
                Err(e) => found.problems.push(e.to_string()),
            }
        }
        let lookback = self
            .config
            .traces
            .as_ref()
            .map_or(900.0, |t| t.lookback.as_secs_f64());
        let window = Window {
            from: now - lookback,
            to: now,
        };
        if let Some(source) = &self.traces {
            match source.spans(window).await {
                Ok(spans) => found.add(source.name(), &super::spans::from_spans(&spans).graph),
                Err(e) => found.problems.push(e.to_string()),
            }
        }
        if let Some(h) = &self.hypertrace_edges {
            match h.edges(window).await {
                Ok(edges) => {
                    let mut g = DependencyGraph::new();
                    for e in edges.iter().filter(|e| e.caller != e.callee) {
                        g.add_dependency(&e.caller, &e.callee);
                    }
                    found.add("hypertrace", &g);
                }
                Err(e) => found.problems.push(e.to_string()),
            }
        }
        if let (Some(kind), Some(client)) = (self.config.mesh, &self.prometheus) {
            let (mesh_kind, name) = match kind {
                MeshKind::Istio => (Mesh::Istio, "istio"),
                MeshKind::Linkerd => (Mesh::Linkerd, "linkerd"),
            };
            match mesh::edges(client, mesh_kind, self.config.mesh_window.as_secs()).await {
                Ok(edges) => found.add(name, &mesh::graph(&edges)),
                Err(e) => found.problems.push(e.to_string()),
            }
        }
        if let Some(uri) = &self.config.neo4j_url {
            let user = std::env::var("NEO4J_USER").unwrap_or_else(|_| "neo4j".to_string());
            let password = std::env::var("NEO4J_PASSWORD").unwrap_or_default();
            match super::neo4j::load(uri, &user, &password).await {
                Ok(g) => found.add("neo4j", &g),
                Err(e) => found.problems.push(e.to_string()),
            }
        }
        found
    }
}

impl Discovered {
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            refreshed_at: self.refreshed_at,
            services: self
                .graph
                .services()
                .filter_map(|s| self.graph.node(s))
                .map(|n| SnapshotService {
                    name: n.name.clone(),
                    criticality: n.criticality,
                    kind: n.kind.clone(),
                })
                .collect(),
            edges: self
                .graph
                .edges()
                .map(|(a, b)| SnapshotEdge {
                    caller: a.to_string(),
                    callee: b.to_string(),
                    sources: self
                        .edge_sources
                        .get(&(a.to_string(), b.to_string()))
                        .map(|s| s.iter().cloned().collect())
                        .unwrap_or_default(),
                })
                .collect(),
            problems: self.problems.clone(),
        }
    }
}

impl Snapshot {
    pub fn graph(&self) -> DependencyGraph {
        let mut g = DependencyGraph::new();
        for s in &self.services {
            g.add_service(&s.name, s.criticality);
            if let Some(kind) = &s.kind {
                g.set_kind(&s.name, kind);
            }
        }
        for e in &self.edges {
            if e.caller != e.callee {
                g.add_dependency(&e.caller, &e.callee);
            }
        }
        g
    }

    pub fn read(path: &std::path::Path) -> Result<Snapshot, DiscoveryError> {
        let error = |reason: String| DiscoveryError::Snapshot {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| error(e.to_string()))
    }

    /// Writes through a temporary file, so a reader never sees half a snapshot.
    pub fn write(&self, path: &std::path::Path) -> Result<(), DiscoveryError> {
        let error = |reason: String| DiscoveryError::Snapshot {
            path: path.display().to_string(),
            reason,
        };
        let text = serde_json::to_string_pretty(self).map_err(|e| error(e.to_string()))?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(|e| error(e.to_string()))?;
        std::fs::rename(&tmp, path).map_err(|e| error(e.to_string()))
    }
}

/// The services a repository's `.github/healbot.yml` declares and what each `depends_on`.
pub(crate) fn declared_by(repo: &RepoConfig) -> DependencyGraph {
    let mut g = DependencyGraph::new();
    for s in &repo.services {
        g.add_service(&s.name, None);
        for d in &s.depends_on {
            g.add_dependency(&s.name, d);
        }
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn catalog_and_repositories_merge_with_their_sources() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = dir.path().join("catalog.yaml");
        std::fs::write(
            &catalog,
            "services:\n  - {name: front, depends_on: [orders], criticality: 0.9}\n  - name: orders\n",
        )
        .unwrap();
        let repo = dir.path().join("orders-repo");
        std::fs::create_dir_all(repo.join(".github")).unwrap();
        std::fs::write(
            repo.join(".github/healbot.yml"),
            "services:\n  - name: orders\n    language: go\n    paths: [.]\n    depends_on: [orders-db]\n\
             validation: {command: make test, timeout_seconds: 60}\n\
             approvers: {permission: write, allow: []}\n",
        )
        .unwrap();
        let config = TopologyConfig {
            repositories: vec![repo, dir.path().join("missing")],
            ..TopologyConfig::default()
        };
        let d = Discovery::new(Some(catalog), config, None).unwrap();
        let found = d.discover(1_700_000_000.0).await;
        assert_eq!(found.graph.dependencies("orders"), ["orders-db"]);
        assert_eq!(found.graph.criticality("front"), Some(0.9));
        assert_eq!(found.problems.len(), 1, "{:?}", found.problems);
        assert!(
            found.problems[0].contains("missing"),
            "{:?}",
            found.problems
        );
        let snap = found.snapshot();
        let edge = snap.edges.iter().find(|e| e.caller == "orders").unwrap();
        assert_eq!(edge.sources, ["repository"]);
        let path = dir.path().join("topology.json");
        snap.write(&path).unwrap();
        let again = Snapshot::read(&path).unwrap();
        assert_eq!(again, snap);
        assert_eq!(again.graph().edge_count(), 2);
    }
}
