//! The Neo4j import against a real server. No Neo4j can be installed here, so this runs only in
//! a build with `--features neo4j` and with `NEO4J_URI` set (see the README); it writes a small
//! catalog under a label prefix of its own, reads it back through `healbot::topology::neo4j::load`,
//! and deletes it.

#[cfg(feature = "neo4j")]
#[tokio::test]
async fn the_graph_is_read_from_neo4j() {
    use neo4rs::{query, Graph};
    let Ok(uri) = std::env::var("NEO4J_URI") else {
        eprintln!("NEO4J_URI is not set: the Neo4j test needs a server (see README)");
        return;
    };
    let user = std::env::var("NEO4J_USER").unwrap_or_else(|_| "neo4j".into());
    let password = std::env::var("NEO4J_PASSWORD").unwrap_or_default();
    let db = Graph::new(&uri, &user, &password).await.expect("connect");
    let run = format!("hbtest{}", std::process::id());
    let name = |s: &str| format!("{run}-{s}");
    db.run(
        query(
            "CREATE (a:Service {name: $a, criticality: 1.0})-[:DEPENDS_ON]->
                    (p:Service {name: $p, criticality: 0.9})-[:DEPENDS_ON]->
                    (d:Service {name: $d, kind: 'database'})",
        )
        .param("a", name("api"))
        .param("p", name("payments"))
        .param("d", name("postgres")),
    )
    .await
    .expect("create");
    let graph = healbot::topology::neo4j::load(&uri, &user, &password)
        .await
        .expect("load");
    db.run(
        query("MATCH (s:Service) WHERE s.name STARTS WITH $run DETACH DELETE s")
            .param("run", run.clone()),
    )
    .await
    .expect("clean up");
    assert_eq!(
        graph.dependencies(&name("payments")),
        vec![name("postgres")]
    );
    assert_eq!(graph.dependents(&name("payments")), vec![name("api")]);
    assert_eq!(
        graph.node(&name("postgres")).unwrap().kind.as_deref(),
        Some("database")
    );
}
