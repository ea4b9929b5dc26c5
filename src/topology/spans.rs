//! The dependency graph as the traces show it: a span whose parent sits in another service is
//! a call from the parent's service to the span's. Built for volume (a million spans in well
//! under a second): spans are grouped by trace (parents are in the same trace), and services
//! are interned.

use super::graph::DependencyGraph;
use crate::signals::traces::Span;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Calls from one service to another, counted over the spans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallEdge {
    pub caller: String,
    pub callee: String,
    pub calls: u64,
    /// Calls whose callee span erred.
    pub errors: u64,
}

/// A dependency graph derived from traces, with the call counts behind each edge.
#[derive(Debug, Clone)]
pub struct TraceGraph {
    pub graph: DependencyGraph,
    /// Sorted by caller, then callee.
    pub edges: Vec<CallEdge>,
}

/// A fast hash of a trace id (FxHash's mixing, eight bytes at a time). Only for grouping:
/// ids are compared in full before they count, so colliding ids (by chance or crafted) only
/// make a group larger, and large groups are indexed with the standard library's hasher.
fn group_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0;
    for chunk in bytes.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    h
}

/// Groups up to this size find parents by a linear scan; larger ones through a map.
const SCAN_LIMIT: usize = 32;

/// Every parent → child span pair that crosses services becomes (or weighs) an edge from the
/// parent's service to the child's. A parent that is not among the spans gives no edge.
pub fn from_spans(spans: &[Span]) -> TraceGraph {
    let mut names: Vec<&str> = Vec::new();
    let mut service_ids: HashMap<&str, u32> = HashMap::new();
    let service_of: Vec<u32> = spans
        .iter()
        .map(|s| {
            *service_ids.entry(s.service.as_str()).or_insert_with(|| {
                names.push(s.service.as_str());
                (names.len() - 1) as u32
            })
        })
        .collect();
    // Parents are in the same trace: sort the spans by trace and look within each trace.
    let mut order: Vec<(u64, u32)> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (group_hash(s.trace_id.as_bytes()), i as u32))
        .collect();
    order.sort_unstable();
    let mut counts: HashMap<(u32, u32), (u64, u64)> = HashMap::new();
    let mut count = |parent: usize, child: usize| {
        let (a, b) = (service_of[parent], service_of[child]);
        if a != b {
            let c = counts.entry((a, b)).or_default();
            c.0 += 1;
            c.1 += u64::from(spans[child].error);
        }
    };
    for group in order.chunk_by(|x, y| x.0 == y.0) {
        if group.len() <= SCAN_LIMIT {
            for &(_, child) in group {
                let span = &spans[child as usize];
                let Some(parent) = span.parent_id.as_deref() else {
                    continue;
                };
                if let Some(&(_, p)) = group.iter().find(|&&(_, p)| {
                    let ps = &spans[p as usize];
                    ps.span_id == parent && ps.trace_id == span.trace_id
                }) {
                    count(p as usize, child as usize);
                }
            }
        } else {
            let index: HashMap<(&str, &str), u32> = group
                .iter()
                .map(|&(_, i)| {
                    let s = &spans[i as usize];
                    ((s.trace_id.as_str(), s.span_id.as_str()), i)
                })
                .collect();
            for &(_, child) in group {
                let span = &spans[child as usize];
                if let Some(&p) = span
                    .parent_id
                    .as_deref()
                    .and_then(|parent| index.get(&(span.trace_id.as_str(), parent)))
                {
                    count(p as usize, child as usize);
                }
            }
        }
    }
    let mut graph = DependencyGraph::new();
    for name in &names {
        graph.add_service(name, None);
    }
    let sorted: BTreeMap<(&str, &str), (u64, u64)> = counts
        .into_iter()
        .map(|((a, b), c)| ((names[a as usize], names[b as usize]), c))
        .collect();
    let edges = sorted
        .into_iter()
        .map(|((caller, callee), (calls, errors))| {
            graph.add_dependency(caller, callee);
            CallEdge {
                caller: caller.to_string(),
                callee: callee.to_string(),
                calls,
                errors,
            }
        })
        .collect();
    TraceGraph { graph, edges }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::traces::parse_traces;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/testdata/signals/traces/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn otlp_spans_give_the_graph_and_call_counts() {
        let g = from_spans(&parse_traces(&fixture("otlp.json")).unwrap());
        assert_eq!(g.graph.dependencies("frontend"), ["checkout"]);
        assert_eq!(g.graph.dependencies("checkout"), ["payments", "postgres"]);
        let edge = g
            .edges
            .iter()
            .find(|e| e.caller == "checkout" && e.callee == "payments")
            .unwrap();
        assert_eq!((edge.calls, edge.errors), (2, 1));
    }

    #[test]
    fn a_large_trace_and_a_missing_parent() {
        let span = |id: usize, parent: Option<usize>, service: &str| Span {
            trace_id: "t".into(),
            span_id: format!("{id}"),
            parent_id: parent.map(|p| format!("{p}")),
            service: service.into(),
            name: String::new(),
            start_ns: 0,
            end_ns: 0,
            error: false,
            message: None,
        };
        // 100 spans in one trace (the map path), each calling the next service.
        let mut spans: Vec<Span> = (0..100)
            .map(|i| span(i, i.checked_sub(1), &format!("s{}", i % 3)))
            .collect();
        spans.push(span(500, Some(999), "orphan"));
        let g = from_spans(&spans);
        let calls: u64 = g.edges.iter().map(|e| e.calls).sum();
        assert_eq!(calls, 99);
        assert_eq!(g.graph.dependencies("s0"), ["s1"]);
        assert!(g.graph.contains("orphan") && g.graph.dependents("orphan").is_empty());
    }

    #[test]
    fn jaeger_spans_give_the_same_shape() {
        let g = from_spans(&parse_traces(&fixture("jaeger.json")).unwrap());
        assert_eq!(g.graph.dependencies("frontend"), ["orders"]);
        assert_eq!(g.graph.dependencies("orders"), ["orders-db"]);
    }
}
