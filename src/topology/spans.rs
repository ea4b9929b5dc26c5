//! The dependency graph as the traces show it: a span whose parent sits in another service is
//! a call from the parent's service to the span's. Built for volume (a million spans in well
//! under a second): spans are read in their own order, a trace's spans found as runs of
//! consecutive equal trace ids (exports from Jaeger, Tempo and OTLP come grouped by trace), and
//! services are interned.

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

/// Traces up to this size find parents by a linear scan; larger ones through a map.
const SCAN_LIMIT: usize = 32;

/// Every parent → child span pair that crosses services becomes (or weighs) an edge from the
/// parent's service to the child's. A parent that is not among the spans gives no edge; when
/// a trace repeats a span id, the first such span is the parent.
pub fn from_spans(spans: &[Span]) -> TraceGraph {
    let (names, service_of) = intern_services(spans);
    let traces = TraceIndex::new(spans);
    let mut counts: HashMap<(u32, u32), (u64, u64)> = HashMap::new();
    for members in traces.iter() {
        for_each_call(spans, members, |parent, child| {
            let (a, b) = (service_of[parent], service_of[child]);
            if a != b {
                let c = counts.entry((a, b)).or_default();
                c.0 += 1;
                c.1 += u64::from(spans[child].error);
            }
        });
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

/// The services in order of first appearance, and each span's service as an index into them.
/// Consecutive spans of one service (common within a trace) are interned once.
fn intern_services(spans: &[Span]) -> (Vec<&str>, Vec<u32>) {
    let mut names: Vec<&str> = Vec::new();
    let mut ids: HashMap<&str, u32> = HashMap::new();
    let mut previous: Option<(&str, u32)> = None;
    let service_of = spans
        .iter()
        .map(|s| {
            let name = s.service.as_str();
            if let Some((p, id)) = previous {
                if p == name {
                    return id;
                }
            }
            let id = *ids.entry(name).or_insert_with(|| {
                names.push(name);
                (names.len() - 1) as u32
            });
            previous = Some((name, id));
            id
        })
        .collect();
    (names, service_of)
}

/// The spans of each trace, as indices in input order. A trace's spans are found as runs of
/// consecutive spans with the same trace id; only the runs are looked up by id (with the
/// standard library's keyed hasher, as the ids come from outside), so a trace split over
/// several runs is still one trace.
struct TraceIndex {
    /// Span indices, trace after trace.
    members: Vec<u32>,
    /// Where each trace's spans end in `members`.
    ends: Vec<usize>,
}

impl TraceIndex {
    fn new(spans: &[Span]) -> TraceIndex {
        let mut trace_of: HashMap<&str, u32> = HashMap::new();
        // (trace, first span, one past the last span) of each run.
        let mut runs: Vec<(u32, u32, u32)> = Vec::new();
        let mut start = 0;
        while start < spans.len() {
            let id = spans[start].trace_id.as_str();
            let end = start
                + 1
                + spans[start + 1..]
                    .iter()
                    .take_while(|s| s.trace_id == id)
                    .count();
            let next = trace_of.len() as u32;
            let trace = *trace_of.entry(id).or_insert(next);
            runs.push((trace, start as u32, end as u32));
            start = end;
        }
        // Place each run at its trace's slot (a counting sort: traces in order of first
        // appearance, each trace's runs in input order).
        let mut ends = vec![0usize; trace_of.len()];
        for &(trace, from, to) in &runs {
            ends[trace as usize] += (to - from) as usize;
        }
        let mut total = 0;
        for end in &mut ends {
            total += *end;
            *end = total;
        }
        let mut members = vec![0u32; spans.len()];
        if runs.len() == ends.len() {
            // Every trace is one run: the input order already groups them.
            for (slot, i) in members.iter_mut().zip(0u32..) {
                *slot = i;
            }
        } else {
            let mut next: Vec<usize> = std::iter::once(0)
                .chain(ends.iter().copied())
                .take(ends.len())
                .collect();
            for &(trace, from, to) in &runs {
                let at = &mut next[trace as usize];
                for (slot, i) in members[*at..].iter_mut().zip(from..to) {
                    *slot = i;
                }
                *at += (to - from) as usize;
            }
        }
        TraceIndex { members, ends }
    }

    fn iter(&self) -> impl Iterator<Item = &[u32]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(from, to)| &self.members[from..to])
    }
}

/// Calls `call(parent, child)` for each span of one trace whose parent is in that trace.
fn for_each_call(spans: &[Span], members: &[u32], mut call: impl FnMut(usize, usize)) {
    if members.len() <= SCAN_LIMIT {
        for &child in members {
            let Some(parent) = spans[child as usize].parent_id.as_deref() else {
                continue;
            };
            if let Some(&p) = members
                .iter()
                .find(|&&p| spans[p as usize].span_id == parent)
            {
                call(p as usize, child as usize);
            }
        }
    } else {
        let mut index: HashMap<&str, u32> = HashMap::with_capacity(members.len());
        for &i in members {
            index.entry(spans[i as usize].span_id.as_str()).or_insert(i);
        }
        for &child in members {
            let parent = spans[child as usize].parent_id.as_deref();
            if let Some(&p) = parent.and_then(|parent| index.get(parent)) {
                call(p as usize, child as usize);
            }
        }
    }
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

    fn span(trace: &str, id: usize, parent: Option<usize>, service: &str) -> Span {
        Span {
            trace_id: trace.into(),
            span_id: format!("{id}"),
            parent_id: parent.map(|p| format!("{p}")),
            service: service.into(),
            name: String::new(),
            start_ns: 0,
            end_ns: 0,
            error: false,
            message: None,
        }
    }

    fn calls(g: &TraceGraph) -> Vec<(&str, &str, u64)> {
        g.edges
            .iter()
            .map(|e| (e.caller.as_str(), e.callee.as_str(), e.calls))
            .collect()
    }

    #[test]
    fn a_large_trace_and_a_missing_parent() {
        let span = |id: usize, parent: Option<usize>, service: &str| span("t", id, parent, service);
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

    #[test]
    fn interleaved_traces_with_the_same_span_ids_stay_apart() {
        // Two traces, span by span in turn; each reuses the other's span ids.
        let spans = vec![
            span("a", 1, None, "web"),
            span("b", 1, None, "batch"),
            span("a", 2, Some(1), "api"),
            span("b", 2, Some(1), "queue"),
            span("a", 3, Some(2), "db"),
            span("b", 3, Some(2), "db"),
        ];
        let g = from_spans(&spans);
        assert_eq!(
            calls(&g),
            [
                ("api", "db", 1),
                ("batch", "queue", 1),
                ("queue", "db", 1),
                ("web", "api", 1)
            ]
        );
    }

    #[test]
    fn a_trace_in_two_separate_runs_is_one_trace() {
        // Trace "a" arrives in two batches with "b" between; the children of the second batch
        // have their parents in the first. Once small (the scan), once large (the map).
        for size in [3, 2 * SCAN_LIMIT] {
            let mut spans: Vec<Span> = (0..size)
                .map(|i| span("a", i, i.checked_sub(1), ["x", "y"][i % 2]))
                .collect();
            spans.push(span("b", 0, None, "other"));
            spans.push(span("b", 1, Some(0), "z"));
            spans.extend((size..2 * size).map(|i| span("a", i, Some(i - size), "z")));
            let g = from_spans(&spans);
            let expected = (size - 1 + size) as u64 + 1;
            assert_eq!(g.edges.iter().map(|e| e.calls).sum::<u64>(), expected);
            assert_eq!(g.graph.dependencies("x"), ["y", "z"]);
            assert_eq!(g.graph.dependencies("other"), ["z"]);
        }
    }

    #[test]
    fn a_repeated_span_id_names_its_first_span_as_the_parent() {
        for size in [3, 2 * SCAN_LIMIT] {
            let mut spans = vec![span("t", 0, None, "first"), span("t", 0, None, "second")];
            spans.extend((1..size).map(|i| span("t", 1000 + i, Some(0), "leaf")));
            let g = from_spans(&spans);
            assert_eq!(calls(&g), [("first", "leaf", size as u64 - 1)]);
        }
    }
}
