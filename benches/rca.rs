//! The ranking at scale: a 10,000-service, 100,000-edge dependency graph and five minutes of
//! one-second samples for 50 metrics (target: under 50 ms per ranking).

use criterion::{criterion_group, criterion_main, Criterion};
use healbot::rca::baro::{rank_table, MetricTable, BARO_ANOMALY_THRESHOLD};
use healbot::rca::simulate::Lcg;
use healbot::rca::{DependencyGraph, RankOptions};
use std::hint::black_box;

const SERVICES: usize = 10_000;
const EDGES: usize = 100_000;

fn graph(rng: &mut Lcg) -> DependencyGraph {
    let mut g = DependencyGraph::new();
    for i in 0..SERVICES {
        g.add_service(&format!("svc-{i}"), None);
    }
    // Callers have lower numbers than what they call: a DAG, as service graphs mostly are.
    while g.edge_count() < EDGES {
        let a = rng.below(SERVICES - 1);
        let b = a + 1 + rng.below(SERVICES - a - 1);
        g.add_dependency(&format!("svc-{a}"), &format!("svc-{b}"));
    }
    g
}

/// 25 services × (cpu, lat_90), 300 rows; the last service's CPU shifts at row 200 and the
/// latency of everything sampled rises with it.
fn table(rng: &mut Lcg) -> MetricTable {
    let mut columns = Vec::new();
    let mut values = Vec::new();
    for k in 0..25 {
        let service = format!("svc-{}", k * 400 + 399);
        for metric in ["cpu", "lat_90"] {
            let series = (0..300)
                .map(|t| {
                    let shift = if t >= 200 && (metric == "lat_90" || k == 24) {
                        5.0
                    } else {
                        0.0
                    };
                    1.0 + 0.1 * rng.normal() + shift
                })
                .collect();
            columns.push(format!("{service}_{metric}"));
            values.push(series);
        }
    }
    MetricTable {
        times: (0..300).map(|t| 1_700_000_000.0 + t as f64).collect(),
        columns,
        values,
    }
}

fn bench(c: &mut Criterion) {
    let mut rng = Lcg(42);
    let g = graph(&mut rng);
    let t = table(&mut rng);
    let options = RankOptions {
        anomaly_threshold: BARO_ANOMALY_THRESHOLD,
        ..RankOptions::default()
    };
    c.bench_function("rca 10k services 100k edges 50 metrics x 300 s", |b| {
        b.iter(|| {
            rank_table(
                black_box(&t),
                Some(1_700_000_200.0),
                Some(&g),
                &options,
                "bench",
            )
            .map(|r| r.ranking.len())
        })
    });
    c.bench_function("rca same, anomaly start estimated", |b| {
        b.iter(|| {
            rank_table(black_box(&t), None, Some(&g), &options, "bench").map(|r| r.ranking.len())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
