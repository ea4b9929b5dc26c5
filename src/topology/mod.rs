//! The dependency graph everyone uses: who calls whom and how critical each service is. RCA
//! walks it, detection groups alerts over it, the gates take the blast radius from it and the
//! conflict check asks whether two operations touch related services. It is read from a YAML
//! catalog, the repositories' `depends_on:`, traces, service-mesh metrics or Neo4j, and merged.

pub mod discover;
pub mod graph;
pub mod mesh;
pub mod neo4j;
pub mod render;
pub mod shared;
pub mod spans;

pub use graph::{DependencyGraph, GraphError, ServiceNode};
pub use shared::SharedGraph;
