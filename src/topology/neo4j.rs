//! The dependency graph in Neo4j, for teams that keep their service catalog there: every
//! `(:Service)` node (with optional `criticality` and `kind`) and every
//! `(a:Service)-[:DEPENDS_ON]->(b:Service)` relation, read (import) or written (export,
//! `healbot graph export`). The Bolt client is behind the `neo4j` cargo feature; turning rows
//! into a graph is plain code and always built.

use super::graph::DependencyGraph;

/// One `(:Service)` node as the query returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRow {
    pub name: String,
    pub criticality: Option<f64>,
    pub kind: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Neo4jError {
    #[error("neo4j {uri}: {reason}")]
    Query { uri: String, reason: String },
    #[error("neo4j: service {name:?} has criticality {value}, outside [0, 1]")]
    Criticality { name: String, value: f64 },
    #[error("neo4j: a Service node has no name")]
    NoName,
    #[error("healbot was built without Neo4j support: rebuild with `--features neo4j`")]
    NotBuilt,
}

/// The services query: every node, so services without relations are in the graph too.
pub const SERVICES_QUERY: &str =
    "MATCH (s:Service) RETURN s.name AS name, s.criticality AS criticality, s.kind AS kind";
/// The dependencies query.
pub const EDGES_QUERY: &str =
    "MATCH (a:Service)-[:DEPENDS_ON]->(b:Service) RETURN a.name AS caller, b.name AS callee";

/// Builds the graph from the two queries' rows.
pub fn graph_from_rows(
    services: &[ServiceRow],
    edges: &[(String, String)],
) -> Result<DependencyGraph, Neo4jError> {
    let mut graph = DependencyGraph::new();
    for s in services {
        if s.name.trim().is_empty() {
            return Err(Neo4jError::NoName);
        }
        if let Some(c) = s.criticality {
            if !(0.0..=1.0).contains(&c) {
                return Err(Neo4jError::Criticality {
                    name: s.name.clone(),
                    value: c,
                });
            }
        }
        graph.add_service(&s.name, s.criticality);
        if let Some(kind) = &s.kind {
            graph.set_kind(&s.name, kind);
        }
    }
    for (caller, callee) in edges {
        if caller != callee {
            graph.add_dependency(caller, callee);
        }
    }
    Ok(graph)
}

/// Whether `location` names a Neo4j server rather than a file.
pub fn is_neo4j_uri(location: &str) -> bool {
    ["bolt://", "bolt+s://", "neo4j://", "neo4j+s://"]
        .iter()
        .any(|p| location.starts_with(p))
}

/// Reads the graph from the server at `uri`.
#[cfg(feature = "neo4j")]
pub async fn load(uri: &str, user: &str, password: &str) -> Result<DependencyGraph, Neo4jError> {
    use neo4rs::{query, Graph};
    let err = |e: &dyn std::fmt::Display| Neo4jError::Query {
        uri: uri.to_string(),
        reason: e.to_string(),
    };
    let db = Graph::new(uri, user, password).await.map_err(|e| err(&e))?;
    let mut rows = db
        .execute(query(SERVICES_QUERY))
        .await
        .map_err(|e| err(&e))?;
    let mut services = Vec::new();
    while let Some(row) = rows.next().await.map_err(|e| err(&e))? {
        services.push(ServiceRow {
            name: row.get::<String>("name").map_err(|e| err(&e))?,
            criticality: row.get::<Option<f64>>("criticality").unwrap_or(None),
            kind: row.get::<Option<String>>("kind").unwrap_or(None),
        });
    }
    let mut rows = db.execute(query(EDGES_QUERY)).await.map_err(|e| err(&e))?;
    let mut edges = Vec::new();
    while let Some(row) = rows.next().await.map_err(|e| err(&e))? {
        edges.push((
            row.get::<String>("caller").map_err(|e| err(&e))?,
            row.get::<String>("callee").map_err(|e| err(&e))?,
        ));
    }
    graph_from_rows(&services, &edges)
}

/// The statement that writes one service (created if new, its properties set when known).
pub const SERVICE_MERGE: &str = "MERGE (s:Service {name: $name}) \
     SET s.criticality = coalesce($criticality, s.criticality), s.kind = coalesce($kind, s.kind)";
/// The statement that writes one dependency.
pub const EDGE_MERGE: &str = "MATCH (a:Service {name: $caller}), (b:Service {name: $callee}) \
     MERGE (a)-[:DEPENDS_ON]->(b)";

/// Writes `graph` to the server at `uri` (MERGE: what is there already stays).
#[cfg(feature = "neo4j")]
pub async fn export(
    uri: &str,
    user: &str,
    password: &str,
    graph: &DependencyGraph,
) -> Result<(), Neo4jError> {
    use neo4rs::{query, Graph};
    let err = |e: &dyn std::fmt::Display| Neo4jError::Query {
        uri: uri.to_string(),
        reason: e.to_string(),
    };
    let db = Graph::new(uri, user, password).await.map_err(|e| err(&e))?;
    for name in graph.services() {
        let node = graph.node(name);
        db.run(
            query(SERVICE_MERGE)
                .param("name", name)
                .param("criticality", node.and_then(|n| n.criticality))
                .param("kind", node.and_then(|n| n.kind.clone())),
        )
        .await
        .map_err(|e| err(&e))?;
    }
    for (caller, callee) in graph.edges() {
        db.run(
            query(EDGE_MERGE)
                .param("caller", caller)
                .param("callee", callee),
        )
        .await
        .map_err(|e| err(&e))?;
    }
    Ok(())
}

/// Without the feature: a clear error instead of writing nothing.
#[cfg(not(feature = "neo4j"))]
pub async fn export(
    _uri: &str,
    _user: &str,
    _password: &str,
    _graph: &DependencyGraph,
) -> Result<(), Neo4jError> {
    Err(Neo4jError::NotBuilt)
}

/// Without the feature: a clear error instead of a silent empty graph.
#[cfg(not(feature = "neo4j"))]
pub async fn load(_uri: &str, _user: &str, _password: &str) -> Result<DependencyGraph, Neo4jError> {
    Err(Neo4jError::NotBuilt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, criticality: Option<f64>, kind: Option<&str>) -> ServiceRow {
        ServiceRow {
            name: name.into(),
            criticality,
            kind: kind.map(str::to_string),
        }
    }

    #[test]
    fn rows_make_the_graph() {
        let services = [
            row("api", Some(1.0), None),
            row("payments", Some(0.9), None),
            row("postgres", None, Some("database")),
            row("lonely", None, None),
        ];
        let edges = [
            ("api".to_string(), "payments".to_string()),
            ("payments".to_string(), "postgres".to_string()),
        ];
        let g = graph_from_rows(&services, &edges).unwrap();
        assert_eq!(g.len(), 4);
        assert_eq!(g.dependencies("payments"), vec!["postgres"]);
        assert_eq!(g.dependents("payments"), vec!["api"]);
        assert_eq!(
            g.node("postgres").unwrap().kind.as_deref(),
            Some("database")
        );
        assert_eq!(g.criticality("api"), Some(1.0));
    }

    #[test]
    fn a_bad_criticality_is_named() {
        let e = graph_from_rows(&[row("x", Some(3.0), None)], &[]).unwrap_err();
        assert!(e.to_string().contains("\"x\" has criticality 3"), "{e}");
    }

    #[test]
    fn uris_are_told_from_paths() {
        assert!(is_neo4j_uri("bolt://localhost:7687"));
        assert!(is_neo4j_uri("neo4j+s://db.example:7687"));
        assert!(!is_neo4j_uri("testdata/catalog.yaml"));
    }
}
