//! The dependency graph's part of the ranking: a random walk over the anomalous services, in
//! the manner of MicroRCA and RCD. A walker on a service moves to a dependency as far as that
//! dependency's symptoms can explain its caller's (latency and errors travel up the calls; a
//! dependency's busy CPU explains nothing upstream unless it also answers slowly), stays as
//! far as the service is more anomalous than what explains it below, and drifts back to
//! callers a little; it restarts on services in proportion to their own anomaly (personalised
//! PageRank).
//! Where the walk settles is the likely origin. Services without evidence take no part: a
//! walker never enters them.

use crate::topology::DependencyGraph;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WalkOptions {
    /// Weight of a step back to a caller, relative to a step to a dependency.
    pub backward: f64,
    /// Probability of restarting from the personalisation vector at each step.
    pub restart: f64,
    pub iterations: usize,
}

impl Default for WalkOptions {
    fn default() -> WalkOptions {
        WalkOptions {
            backward: 0.2,
            restart: 0.15,
            iterations: 50,
        }
    }
}

/// `anomaly[i]` in [0, 1] for `services[i]`, and `explains[i]` in [0, 1], how far its
/// symptoms that travel to callers are anomalous; returns where the walk settles, normalised
/// so the largest is 1. Services missing from `graph` have no edges.
pub fn settle(
    graph: &DependencyGraph,
    services: &[&str],
    anomaly: &[f64],
    explains: &[f64],
    options: &WalkOptions,
) -> Vec<f64> {
    let n = services.len();
    if n == 0 {
        return Vec::new();
    }
    let index: HashMap<&str, usize> = services.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    // Out-weights of every node: to its dependencies, back to its callers, and itself.
    let mut edges: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n];
    for (u, name) in services.iter().enumerate() {
        let deps: Vec<usize> = graph
            .dependencies(name)
            .into_iter()
            .filter_map(|d| index.get(d).copied())
            .collect();
        let callers: Vec<usize> = graph
            .dependents(name)
            .into_iter()
            .filter_map(|c| index.get(c).copied())
            .collect();
        let worst_dep = deps.iter().map(|&d| explains[d]).fold(0.0, f64::max);
        let out = &mut edges[u];
        for &d in &deps {
            out.push((d, explains[d]));
        }
        for &c in &callers {
            out.push((c, options.backward * anomaly[c]));
        }
        // A service stays blamed as far as it is anomalous (or explains its callers) beyond
        // what its dependencies explain.
        out.push((u, (anomaly[u].max(explains[u]) - worst_dep).max(0.0)));
        let total: f64 = out.iter().map(|(_, w)| w).sum();
        if total > 0.0 {
            for (_, w) in out.iter_mut() {
                *w /= total;
            }
        } else {
            out.clear();
        }
    }
    let mass: f64 = anomaly.iter().sum();
    let personal: Vec<f64> = if mass > 0.0 {
        anomaly.iter().map(|a| a / mass).collect()
    } else {
        vec![1.0 / n as f64; n]
    };
    let mut pi = personal.clone();
    let mut next = vec![0.0; n];
    for _ in 0..options.iterations {
        next.iter_mut().for_each(|x| *x = 0.0);
        let mut dangling = 0.0;
        for (u, out) in edges.iter().enumerate() {
            if out.is_empty() {
                dangling += pi[u];
                continue;
            }
            for &(v, w) in out {
                next[v] += pi[u] * w;
            }
        }
        for (v, x) in next.iter_mut().enumerate() {
            *x = (1.0 - options.restart) * (*x + dangling * personal[v])
                + options.restart * personal[v];
        }
        std::mem::swap(&mut pi, &mut next);
    }
    let top = pi.iter().copied().fold(0.0, f64::max);
    if top > 0.0 {
        pi.iter().map(|x| x / top).collect()
    } else {
        pi
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_settles_on_the_failing_dependency() {
        // front → orders → db; orders is the fault; front is loud, db is quiet.
        let mut g = DependencyGraph::new();
        g.add_dependency("front", "orders");
        g.add_dependency("orders", "db");
        g.add_dependency("front", "catalogue");
        let services = ["front", "orders", "db", "catalogue"];
        let a = [1.0, 0.8, 0.05, 0.1];
        let pi = settle(&g, &services, &a, &a, &WalkOptions::default());
        let best = (0..4).max_by(|&a, &b| pi[a].total_cmp(&pi[b])).unwrap();
        assert_eq!(services[best], "orders", "{pi:?}");
        // Nothing anomalous below: the front itself.
        let a = [1.0, 0.0, 0.0, 0.0];
        let pi = settle(&g, &services, &a, &a, &WalkOptions::default());
        assert_eq!(pi[0], 1.0, "{pi:?}");
        // A busy catalogue that answers as fast as ever explains nothing of the front's.
        let pi = settle(
            &g,
            &services,
            &[0.6, 0.0, 0.0, 1.0],
            &[0.6, 0.0, 0.0, 0.0],
            &WalkOptions::default(),
        );
        assert!(pi[0] > 0.5 && pi[3] > 0.5, "{pi:?}");
    }

    #[test]
    fn an_unrelated_anomaly_keeps_its_own_mass() {
        let mut g = DependencyGraph::new();
        g.add_dependency("a", "b");
        g.add_service("c", None);
        let a = [0.5, 0.9, 0.6];
        let pi = settle(&g, &["a", "b", "c"], &a, &a, &WalkOptions::default());
        assert_eq!(pi[1], 1.0, "{pi:?}");
        assert!(pi[2] > pi[0], "{pi:?}");
    }
}
