//! The dependency graph as the traces show it: a span whose parent sits in another service is
//! a call from the parent's service to the span's. Built for volume (a million spans in well
//! under a second): spans are indexed by a hash of their ids, and services are interned.

use super::graph::DependencyGraph;
use crate::signals::traces::Span;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

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

/// The keys are already hashes: pass them through.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// FNV-1a over the trace id, a separator and the span id.
fn key(trace: &str, span: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in trace.as_bytes().iter().chain(b"/").chain(span.as_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

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
    let mut index: HashMap<u64, u32, BuildHasherDefault<Identity>> =
        HashMap::with_capacity_and_hasher(spans.len(), BuildHasherDefault::default());
    for (i, s) in spans.iter().enumerate() {
        index.insert(key(&s.trace_id, &s.span_id), i as u32);
    }
    let mut counts: HashMap<(u32, u32), (u64, u64)> = HashMap::new();
    for (i, span) in spans.iter().enumerate() {
        let Some(parent) = span.parent_id.as_deref() else {
            continue;
        };
        let Some(&p) = index.get(&key(&span.trace_id, parent)) else {
            continue;
        };
        let ps = &spans[p as usize];
        // A hash collision is not a parent.
        if ps.span_id != parent || ps.trace_id != span.trace_id {
            continue;
        }
        let (a, b) = (service_of[p as usize], service_of[i]);
        if a != b {
            let c = counts.entry((a, b)).or_default();
            c.0 += 1;
            c.1 += u64::from(span.error);
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
    fn jaeger_spans_give_the_same_shape() {
        let g = from_spans(&parse_traces(&fixture("jaeger.json")).unwrap());
        assert_eq!(g.graph.dependencies("frontend"), ["orders"]);
        assert_eq!(g.graph.dependencies("orders"), ["orders-db"]);
    }
}
