//! The service dependency graph: who calls whom, how critical each service is. Root-cause
//! ranking walks it (a failing dependency explains its failing callers), the plan and gates
//! take the blast radius from it, and the PR shows it with the root cause highlighted. Loaded
//! from a YAML catalog here; traces or Neo4j can fill it through `add_dependency`.

use crate::config::yaml::{check_unit, parse_strict, FieldError};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceNode {
    pub name: String,
    /// In [0, 1]; `None` when the source does not say (a graph derived from traces).
    pub criticality: Option<f64>,
    /// `database`, `cache`, `queue`…; `None` for an ordinary service.
    pub kind: Option<String>,
}

/// Edges point from a caller to what it depends on.
#[derive(Debug, Clone, Default)]
pub struct DependencyGraph {
    graph: DiGraph<ServiceNode, ()>,
    index: HashMap<String, NodeIndex>,
}

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {error}")]
    Invalid { file: String, error: FieldError },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Catalog {
    services: Vec<CatalogService>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogService {
    name: String,
    /// In [0, 1]; optional: a service without one is treated as of middling criticality
    /// ([`DEFAULT_CRITICALITY`]) where criticality matters.
    #[serde(default)]
    criticality: Option<f64>,
    #[serde(default)]
    kind: Option<String>,
    /// Accepted for catalogs that carry it; criticality is what healbot uses.
    #[serde(default)]
    #[allow(dead_code)]
    tier: Option<u32>,
    #[serde(default)]
    depends_on: Vec<String>,
}

/// The criticality of a service whose source does not say.
pub const DEFAULT_CRITICALITY: f64 = 0.5;

/// Above this many services, the Mermaid view shows only the highlighted service's
/// neighbourhood: a PR body has a size limit and people cannot read a thousand boxes.
pub(crate) const MERMAID_FULL_GRAPH_LIMIT: usize = 40;

impl DependencyGraph {
    pub fn new() -> DependencyGraph {
        DependencyGraph::default()
    }

    pub(crate) fn load_catalog(path: &Path) -> Result<DependencyGraph, GraphError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| GraphError::Read {
            file: file.clone(),
            source,
        })?;
        DependencyGraph::from_catalog_yaml(&text, &file)
    }

    /// Parses a catalog (`services: [{name, depends_on?, criticality?, kind?}]`); `source_name`
    /// names the file in errors. Every dependency must be a listed service.
    pub fn from_catalog_yaml(text: &str, source_name: &str) -> Result<DependencyGraph, GraphError> {
        let invalid = |error| GraphError::Invalid {
            file: source_name.to_string(),
            error,
        };
        let catalog: Catalog = parse_strict(text).map_err(invalid)?;
        let mut graph = DependencyGraph::new();
        for (i, s) in catalog.services.iter().enumerate() {
            if s.name.trim().is_empty() {
                return Err(invalid(FieldError::new(
                    format!("services[{i}].name"),
                    "must not be empty",
                )));
            }
            if graph.contains(&s.name) {
                return Err(invalid(FieldError::new(
                    format!("services[{i}].name"),
                    format!("duplicate service {:?}", s.name),
                )));
            }
            if let Some(c) = s.criticality {
                check_unit(&format!("services[{i}].criticality"), c).map_err(invalid)?;
            }
            let node = graph.insert_service(&s.name, s.criticality);
            graph.graph[node].kind = s.kind.clone();
        }

        let mut unknown = Vec::new();
        for (i, s) in catalog.services.iter().enumerate() {
            for (j, dep) in s.depends_on.iter().enumerate() {
                if dep == &s.name {
                    return Err(invalid(FieldError::new(
                        format!("services[{i}].depends_on[{j}]"),
                        format!("{:?} cannot depend on itself", s.name),
                    )));
                }
                if graph.contains(dep) {
                    graph.add_dependency(&s.name, dep);
                } else {
                    unknown.push((format!("services[{i}].depends_on[{j}]"), dep.clone()));
                }
            }
        }
        if let Some((field, name)) = unknown.first() {
            let mut message = format!("unknown service {name:?} (not listed under services)");
            if unknown.len() > 1 {
                let others: Vec<String> = unknown[1..]
                    .iter()
                    .map(|(f, n)| format!("{n:?} at {f}"))
                    .collect();
                message.push_str(&format!("; also unknown: {}", others.join(", ")));
            }
            return Err(invalid(FieldError::new(field.clone(), message)));
        }
        Ok(graph)
    }

    /// Sets what a service is (`database`, `cache`, `queue`); adds it if it is new.
    pub(crate) fn set_kind(&mut self, name: &str, kind: &str) {
        let node = self.insert_service(name, None);
        self.graph[node].kind = Some(kind.to_string());
    }

    /// Adds a service, or sets the criticality of one already there.
    pub fn add_service(&mut self, name: &str, criticality: Option<f64>) {
        self.insert_service(name, criticality);
    }

    fn insert_service(&mut self, name: &str, criticality: Option<f64>) -> NodeIndex {
        if let Some(&node) = self.index.get(name) {
            if criticality.is_some() {
                self.graph[node].criticality = criticality;
            }
            return node;
        }
        let node = self.graph.add_node(ServiceNode {
            name: name.to_string(),
            criticality,
            kind: None,
        });
        self.index.insert(name.to_string(), node);
        node
    }

    /// Records that `caller` depends on `dependency`, adding either service if it is new.
    pub fn add_dependency(&mut self, caller: &str, dependency: &str) {
        let a = self.insert_service(caller, None);
        let b = self.insert_service(dependency, None);
        if a != b && self.graph.find_edge(a, b).is_none() {
            self.graph.add_edge(a, b, ());
        }
    }

    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }

    pub fn contains(&self, service: &str) -> bool {
        self.index.contains_key(service)
    }

    /// Service names in the order they were added.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.graph.node_weights().map(|n| n.name.as_str())
    }

    pub fn node(&self, service: &str) -> Option<&ServiceNode> {
        self.index.get(service).map(|&i| &self.graph[i])
    }

    pub fn criticality(&self, service: &str) -> Option<f64> {
        self.node(service).and_then(|n| n.criticality)
    }

    /// Every edge as `(caller, dependency)`, in the order they were added.
    pub fn edges(&self) -> impl Iterator<Item = (&str, &str)> {
        self.graph.edge_indices().filter_map(|e| {
            let (a, b) = self.graph.edge_endpoints(e)?;
            Some((self.graph[a].name.as_str(), self.graph[b].name.as_str()))
        })
    }

    /// Adds every service and edge of `other`; what `other` says of a service's criticality
    /// and kind fills in only what this graph does not know.
    pub fn merge(&mut self, other: &DependencyGraph) {
        for node in other.graph.node_weights() {
            let index = self.insert_service(&node.name, None);
            let mine = &mut self.graph[index];
            if mine.criticality.is_none() {
                mine.criticality = node.criticality;
            }
            if mine.kind.is_none() {
                mine.kind = node.kind.clone();
            }
        }
        for (a, b) in other.edges() {
            self.add_dependency(a, b);
        }
    }

    /// What `service` calls directly, by name.
    pub fn dependencies(&self, service: &str) -> Vec<&str> {
        self.neighbours(service, Direction::Outgoing)
    }

    /// What calls `service` directly, by name.
    pub fn dependents(&self, service: &str) -> Vec<&str> {
        self.neighbours(service, Direction::Incoming)
    }

    /// Every service `service` depends on, directly or not (not itself).
    pub(crate) fn transitive_dependencies(&self, service: &str) -> Vec<&str> {
        self.reach(service, Direction::Outgoing)
    }

    /// Every service that depends on `service`, directly or not: those hurt when it fails.
    pub(crate) fn transitive_dependents(&self, service: &str) -> Vec<&str> {
        self.reach(service, Direction::Incoming)
    }

    /// Every service that depends, directly or not, on at least one of `services`. A service
    /// of the set is included only when it depends on another one (or on itself via a cycle).
    pub(crate) fn dependents_of_any<'a>(
        &self,
        services: impl IntoIterator<Item = &'a str>,
    ) -> Vec<&str> {
        let mut seen = vec![false; self.graph.node_count()];
        let mut queue: std::collections::VecDeque<NodeIndex> = services
            .into_iter()
            .filter_map(|s| self.index.get(s).copied())
            .flat_map(|n| self.graph.neighbors_directed(n, Direction::Incoming))
            .collect();
        let mut names = Vec::new();
        while let Some(node) = queue.pop_front() {
            if !seen[node.index()] {
                seen[node.index()] = true;
                names.push(self.graph[node].name.as_str());
                queue.extend(self.graph.neighbors_directed(node, Direction::Incoming));
            }
        }
        names
    }

    /// Share of the other services affected when `service` fails (those that reach it through
    /// `depends_on`); 0 for an unknown service or a graph of one.
    pub fn blast_radius(&self, service: &str) -> f64 {
        let others = self.len().saturating_sub(1);
        if others == 0 || !self.contains(service) {
            return 0.0;
        }
        self.transitive_dependents(service).len() as f64 / others as f64
    }

    /// The shortest chain from `from` up its callers to `to` (`[from, …, to]`), if `to`
    /// depends on `from` at all.
    pub(crate) fn path_to_dependent(&self, from: &str, to: &str) -> Option<Vec<&str>> {
        let (&start, &goal) = (self.index.get(from)?, self.index.get(to)?);
        // Breadth-first up the callers, remembering how each service was reached.
        let mut previous: Vec<Option<NodeIndex>> = vec![None; self.graph.node_count()];
        let mut seen = vec![false; self.graph.node_count()];
        seen[start.index()] = true;
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(node) = queue.pop_front() {
            if node == goal {
                let mut path = vec![self.graph[node].name.as_str()];
                let mut at = node;
                while let Some(p) = previous[at.index()] {
                    path.push(self.graph[p].name.as_str());
                    at = p;
                }
                path.reverse();
                return Some(path);
            }
            for caller in self.graph.neighbors_directed(node, Direction::Incoming) {
                if !seen[caller.index()] {
                    seen[caller.index()] = true;
                    previous[caller.index()] = Some(node);
                    queue.push_back(caller);
                }
            }
        }
        None
    }

    /// A Mermaid flowchart (callers → dependencies) with `highlight` styled as the root cause.
    /// Large graphs are cut down to the services that depend on `highlight` or that it depends on.
    pub(crate) fn to_mermaid(&self, highlight: &str) -> String {
        let shown: Vec<NodeIndex> = if self.len() <= MERMAID_FULL_GRAPH_LIMIT {
            self.graph.node_indices().collect()
        } else {
            let mut names = self.transitive_dependents(highlight);
            names.extend(self.transitive_dependencies(highlight));
            names.push(highlight);
            let mut nodes: Vec<NodeIndex> = names
                .iter()
                .filter_map(|n| self.index.get(*n).copied())
                .collect();
            nodes.sort();
            nodes.dedup();
            nodes.truncate(MERMAID_FULL_GRAPH_LIMIT);
            nodes
        };
        let mut out = String::from("graph LR\n");
        for &node in &shown {
            let n = &self.graph[node];
            let label = n.name.replace('"', "#quot;");
            let shape = if n.kind.as_deref() == Some("database") {
                format!("n{}[(\"{label}\")]", node.index())
            } else {
                format!("n{}[\"{label}\"]", node.index())
            };
            out.push_str(&format!("  {shape}\n"));
        }
        for edge in self.graph.edge_indices() {
            if let Some((a, b)) = self.graph.edge_endpoints(edge) {
                if shown.contains(&a) && shown.contains(&b) {
                    out.push_str(&format!("  n{} --> n{}\n", a.index(), b.index()));
                }
            }
        }
        if let Some(node) = self.index.get(highlight) {
            out.push_str("  classDef rootcause fill:#ffd6d6,stroke:#d00000,stroke-width:3px\n");
            out.push_str(&format!("  class n{} rootcause\n", node.index()));
        }
        out
    }

    fn neighbours(&self, service: &str, direction: Direction) -> Vec<&str> {
        let Some(&node) = self.index.get(service) else {
            return Vec::new();
        };
        let mut names: Vec<&str> = self
            .graph
            .neighbors_directed(node, direction)
            .map(|n| self.graph[n].name.as_str())
            .collect();
        names.sort_unstable();
        names
    }

    fn reach(&self, service: &str, direction: Direction) -> Vec<&str> {
        let Some(&start) = self.index.get(service) else {
            return Vec::new();
        };
        let mut seen = vec![false; self.graph.node_count()];
        seen[start.index()] = true;
        let mut queue = std::collections::VecDeque::from([start]);
        let mut names = Vec::new();
        while let Some(node) = queue.pop_front() {
            for next in self.graph.neighbors_directed(node, direction) {
                if !seen[next.index()] {
                    seen[next.index()] = true;
                    names.push(self.graph[next].name.as_str());
                    queue.push_back(next);
                }
            }
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment() -> DependencyGraph {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/services/payment-service/catalog.yaml");
        DependencyGraph::load_catalog(&path).unwrap()
    }

    fn error(text: &str) -> String {
        DependencyGraph::from_catalog_yaml(text, "catalog.yaml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn loads_the_payment_catalog() {
        let g = payment();
        assert_eq!(g.len(), 19);
        assert_eq!(g.edge_count(), 21);
        assert_eq!(g.criticality("payment-service"), Some(0.9));
        assert_eq!(g.dependencies("payment-service"), ["postgres_primary"]);
        assert_eq!(
            g.dependents("payment-service"),
            ["order-service", "user-service"]
        );
        assert_eq!(
            g.node("postgres_primary").unwrap().kind.as_deref(),
            Some("database")
        );
        let mut deps = g.transitive_dependents("postgres_primary");
        deps.sort_unstable();
        assert_eq!(
            deps,
            [
                "api-gateway",
                "order-service",
                "payment-service",
                "user-service"
            ]
        );
    }

    #[test]
    fn blast_radius_is_the_share_of_others_reaching_the_service() {
        let g = payment();
        assert!((g.blast_radius("postgres_primary") - 4.0 / 18.0).abs() < 1e-12);
        assert!((g.blast_radius("payment-service") - 3.0 / 18.0).abs() < 1e-12);
        assert!((g.blast_radius("user-service") - 1.0 / 18.0).abs() < 1e-12);
        assert_eq!(g.blast_radius("api-gateway"), 0.0);
        assert_eq!(g.blast_radius("unknown"), 0.0);
    }

    #[test]
    fn blast_radius_survives_cycles() {
        let mut g = DependencyGraph::new();
        g.add_dependency("a", "b");
        g.add_dependency("b", "c");
        g.add_dependency("c", "a");
        g.add_service("d", None);
        assert!((g.blast_radius("a") - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn dependents_of_any_walks_up_from_every_start() {
        let g = payment();
        let mut up = g.dependents_of_any(["postgres_primary", "user-service"]);
        up.sort_unstable();
        assert_eq!(
            up,
            [
                "api-gateway",
                "order-service",
                "payment-service",
                "user-service"
            ]
        );
        assert!(g.dependents_of_any(["api-gateway"]).is_empty());
    }

    #[test]
    fn path_up_from_a_dependency_to_its_caller() {
        let g = payment();
        assert_eq!(
            g.path_to_dependent("postgres_primary", "user-service")
                .unwrap(),
            ["postgres_primary", "payment-service", "user-service"]
        );
        assert!(g
            .path_to_dependent("user-service", "postgres_primary")
            .is_none());
    }

    #[test]
    fn unknown_dependencies_are_all_reported_with_their_fields() {
        let e = error(
            "services:
  - {name: a, criticality: 0.5, depends_on: [b, postgres]}
  - {name: b, criticality: 0.5, depends_on: [redis]}
",
        );
        assert_eq!(
            e,
            "catalog.yaml: services[0].depends_on[1]: unknown service \"postgres\" (not listed \
             under services); also unknown: \"redis\" at services[1].depends_on[0]"
        );
    }

    #[test]
    fn loading_errors_name_file_and_field() {
        let e = error("services:\n  - {name: a, criticality: 1.5}\n");
        assert_eq!(
            e,
            "catalog.yaml: services[0].criticality: must be in [0, 1], got 1.5"
        );
        let e =
            error("services:\n  - {name: a, criticality: 0.5}\n  - {name: a, criticality: 0.5}\n");
        assert!(e.contains("services[1].name: duplicate service"), "{e}");
        let e = error("services:\n  - {name: a, criticality: 0.5, depends: []}\n");
        assert!(
            e.starts_with("catalog.yaml: services[0].depends: unknown field"),
            "{e}"
        );
        let e = error("services:\n  - {name: a, criticality: 0.5, depends_on: [a]}\n");
        assert!(e.contains("cannot depend on itself"), "{e}");
        let g = DependencyGraph::from_catalog_yaml(
            "services:\n  - {name: a, depends_on: [b]}\n  - name: b\n",
            "catalog.yaml",
        )
        .unwrap();
        assert_eq!((g.len(), g.criticality("a")), (2, None));
        assert_eq!(g.dependencies("a"), ["b"]);
    }

    #[test]
    fn mermaid_highlights_the_root_cause() {
        let m = payment().to_mermaid("payment-service");
        assert!(m.starts_with("graph LR\n"));
        assert!(m.contains("n3[\"payment-service\"]"), "{m}");
        assert!(m.contains("n11[(\"postgres_primary\")]"), "{m}");
        assert!(m.contains("n1 --> n3"), "{m}");
        assert!(m.ends_with("class n3 rootcause\n"), "{m}");
    }

    #[test]
    fn mermaid_of_a_large_graph_keeps_the_neighbourhood() {
        let mut g = DependencyGraph::new();
        for i in 0..100 {
            g.add_dependency(&format!("s{i}"), &format!("s{}", i + 1000));
        }
        g.add_dependency("caller", "s5");
        let m = g.to_mermaid("s5");
        assert_eq!(m.lines().filter(|l| l.contains("[\"")).count(), 3, "{m}");
    }
}
