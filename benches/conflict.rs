//! Conflict detection on a generated 10,000-service graph (issue 6): how long the detector takes
//! to check a new operation against the running ones, walking the graph transitively each time.
//! `cargo bench --bench conflict -- --test` runs each case once.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use healbot::config::PolicySet;
use healbot::lock::conflict::{detect, ActiveOperation};
use healbot::topology::graph::DependencyGraph;
use std::fmt::Write;

const SERVICES: usize = 10_000;
const LAYERS: usize = 10;
const DATABASES: usize = 20;

/// A small deterministic generator, so every run benches the same graph.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % below
    }
}

/// Layers of services, each calling three services of the next layer; the last layer calls
/// one of the shared databases.
fn graph() -> DependencyGraph {
    let per_layer = (SERVICES - DATABASES) / LAYERS;
    let name = |layer: usize, i: usize| format!("s{layer}-{i}");
    let mut rng = Lcg(42);
    let mut yaml = String::from("services:\n");
    for d in 0..DATABASES {
        writeln!(
            yaml,
            "  - {{name: db-{d}, criticality: 1.0, kind: database}}"
        )
        .unwrap();
    }
    for layer in 0..LAYERS {
        for i in 0..per_layer {
            let deps: Vec<String> = if layer + 1 == LAYERS {
                vec![format!("db-{}", rng.next(DATABASES))]
            } else {
                let mut d: Vec<String> = (0..3)
                    .map(|_| name(layer + 1, rng.next(per_layer)))
                    .collect();
                d.sort();
                d.dedup();
                d
            };
            writeln!(
                yaml,
                "  - {{name: {}, criticality: 0.5, depends_on: [{}]}}",
                name(layer, i),
                deps.join(", ")
            )
            .unwrap();
        }
    }
    DependencyGraph::from_catalog_yaml(&yaml, "generated").expect("generated catalog")
}

fn detection(c: &mut Criterion) {
    let g = graph();
    let policy = PolicySet::embedded().conflicts;
    let services: Vec<String> = g.services().map(str::to_string).collect();
    let mut rng = Lcg(7);
    let mut group = c.benchmark_group("conflict_detect_10k");
    group.sample_size(20);
    for active_count in [10usize, 100] {
        let active: Vec<ActiveOperation> = (0..active_count)
            .map(|i| ActiveOperation {
                id: format!("op-{i}"),
                service: services[rng.next(services.len())].clone(),
                incident: format!("inc-{i}"),
                deploying: i % 4 == 0,
            })
            .collect();
        // A mid-graph service: many callers above, many dependencies below.
        let candidate = ActiveOperation {
            id: "new".into(),
            service: format!("s{}-17", LAYERS / 2),
            incident: "inc-new".into(),
            deploying: false,
        };
        group.bench_function(BenchmarkId::new("active_operations", active_count), |b| {
            b.iter(|| detect(&g, &policy, &candidate, &active, None))
        });
    }
    group.finish();
}

criterion_group!(benches, detection);
criterion_main!(benches);
