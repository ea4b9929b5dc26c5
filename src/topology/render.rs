//! The graph in the forms people read it in: JSON (the snapshot), Mermaid (for a PR body or a
//! Markdown page) and Graphviz dot.

use super::discover::Snapshot;

/// A Mermaid flowchart, callers → dependencies; databases drawn as cylinders.
pub fn mermaid(snapshot: &Snapshot) -> String {
    let id = ids(snapshot);
    let mut out = String::from("graph LR\n");
    for (i, s) in snapshot.services.iter().enumerate() {
        let label = s.name.replace('"', "#quot;");
        if s.kind.as_deref() == Some("database") {
            out.push_str(&format!("  n{i}[(\"{label}\")]\n"));
        } else {
            out.push_str(&format!("  n{i}[\"{label}\"]\n"));
        }
    }
    for e in &snapshot.edges {
        if let (Some(a), Some(b)) = (id.get(e.caller.as_str()), id.get(e.callee.as_str())) {
            out.push_str(&format!("  n{a} --> n{b}\n"));
        }
    }
    out
}

/// Graphviz dot; each edge's label names the sources that saw it.
pub fn dot(snapshot: &Snapshot) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut out = String::from("digraph dependencies {\n  rankdir=LR;\n");
    for s in &snapshot.services {
        let shape = if s.kind.as_deref() == Some("database") {
            "cylinder"
        } else {
            "box"
        };
        out.push_str(&format!("  {} [shape={shape}];\n", quote(&s.name)));
    }
    for e in &snapshot.edges {
        out.push_str(&format!(
            "  {} -> {} [label={}];\n",
            quote(&e.caller),
            quote(&e.callee),
            quote(&e.sources.join(","))
        ));
    }
    out.push_str("}\n");
    out
}

fn ids(snapshot: &Snapshot) -> std::collections::HashMap<&str, usize> {
    snapshot
        .services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::discover::{SnapshotEdge, SnapshotService};

    #[test]
    fn mermaid_and_dot() {
        let snap = Snapshot {
            refreshed_at: 0.0,
            services: vec![
                SnapshotService {
                    name: "front".into(),
                    criticality: None,
                    kind: None,
                },
                SnapshotService {
                    name: "db \"main\"".into(),
                    criticality: None,
                    kind: Some("database".into()),
                },
            ],
            edges: vec![SnapshotEdge {
                caller: "front".into(),
                callee: "db \"main\"".into(),
                sources: vec!["catalog".into(), "jaeger".into()],
            }],
            problems: vec![],
        };
        assert_eq!(
            mermaid(&snap),
            "graph LR\n  n0[\"front\"]\n  n1[(\"db #quot;main#quot;\")]\n  n0 --> n1\n"
        );
        let d = dot(&snap);
        assert!(
            d.contains("\"front\" -> \"db \\\"main\\\"\" [label=\"catalog,jaeger\"];"),
            "{d}"
        );
        assert!(d.contains("[shape=cylinder]"), "{d}");
    }
}
