// Maintains a service dependency graph as services are decommissioned and links dropped, then
// computes shortest paths, as a topology tool would.
use petgraph::algo::dijkstra;
use petgraph::graph::{DiGraph, NodeIndex};

fn main() {
    let mut g: DiGraph<&str, u32> = DiGraph::new();
    let names = ["gateway", "auth", "orders", "payments", "ledger", "mail"];
    let n: Vec<NodeIndex> = names.iter().map(|s| g.add_node(*s)).collect();
    for (a, b, w) in [(0, 1, 1), (0, 2, 2), (2, 3, 3), (3, 4, 1), (2, 5, 4), (5, 4, 2), (1, 4, 9)] {
        g.add_edge(n[a], n[b], w);
    }
    let e = g.find_edge(n[0], n[2]).unwrap();
    g.remove_edge(e);
    g.remove_node(n[1]);
    for node in g.node_indices() {
        let out: Vec<&str> = g.neighbors(node).map(|m| g[m]).collect();
        println!("{} -> {:?}", g[node], out);
    }
    let dist = dijkstra(&g, n[0], None, |e| *e.weight());
    println!("{} reachable from gateway", dist.len());
}
