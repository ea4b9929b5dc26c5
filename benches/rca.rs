//! The ranking and the graph discovery at scale. RCA: a 10,000-service, 100,000-edge
//! dependency graph and five minutes of one-second samples for 50 metrics (target: under
//! 50 ms on one core), with the anomaly start given and found. Discovery: the dependency graph
//! from 1,000,000 spans (target: under 1 s). Each is measured next to an anchor in the same
//! run (sorting the same number of values), so the figures read as ratios on any machine.

use criterion::{criterion_group, criterion_main, Criterion};
use healbot::rca::{diagnose, DiagnoseOptions, MetricTable};
use healbot::signals::traces::Span;
use healbot::topology::DependencyGraph;
use std::hint::black_box;

const SERVICES: usize = 10_000;
const EDGES: usize = 100_000;
const SPANS: usize = 1_000_000;

/// A small deterministic generator, so the bench needs no crate.
struct Lcg(u64);
impl Lcg {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-12), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
    fn below(&mut self, n: usize) -> usize {
        ((self.uniform() * n as f64) as usize).min(n.saturating_sub(1))
    }
}

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

/// 25 services × (cpu, latency), 300 rows; the last service's CPU shifts at row 200 and the
/// latency of everything sampled rises with it.
fn table(rng: &mut Lcg) -> MetricTable {
    let mut columns = Vec::new();
    let mut values = Vec::new();
    for k in 0..25 {
        let service = format!("svc-{}", k * 400 + 399);
        for metric in ["cpu", "latency-90"] {
            let series = (0..300)
                .map(|t| {
                    let shift = if t >= 200 && (metric == "latency-90" || k == 24) {
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

/// Traces of four to twelve spans over a thousand services that call along a sparse graph
/// (about ten dependencies each, as service graphs are), each span's parent in its trace.
fn spans(rng: &mut Lcg) -> Vec<Span> {
    let services = 1000;
    let deps: Vec<Vec<usize>> = (0..services)
        .map(|_| (0..10).map(|_| rng.below(services)).collect())
        .collect();
    let mut out = Vec::with_capacity(SPANS);
    let mut trace = 0u64;
    while out.len() < SPANS {
        trace += 1;
        let len = 4 + rng.below(9);
        let first = out.len();
        let mut service_of = vec![rng.below(services)];
        for i in 0..len {
            let parent = (i > 0).then(|| rng.below(i));
            let service = match parent {
                Some(p) => deps[service_of[p]][rng.below(10)],
                None => service_of[0],
            };
            if i > 0 {
                service_of.push(service);
            }
            out.push(Span {
                trace_id: format!("{trace:032x}"),
                span_id: format!("{:016x}", first + i),
                parent_id: parent.map(|p| format!("{:016x}", first + p)),
                service: format!("svc-{service}"),
                name: "op".into(),
                start_ns: 0,
                end_ns: 1_000,
                error: rng.uniform() < 0.01,
                message: None,
            });
        }
    }
    out.truncate(SPANS);
    out
}

fn bench(c: &mut Criterion) {
    let mut rng = Lcg(42);
    let g = graph(&mut rng);
    let t = table(&mut rng);
    let options = DiagnoseOptions::default();
    let anchor: Vec<f64> = (0..t.values.len() * 300).map(|_| rng.uniform()).collect();
    c.bench_function("anchor: sort 15,000 floats", |b| {
        b.iter(|| {
            let mut v = anchor.clone();
            v.sort_by(f64::total_cmp);
            black_box(v[0])
        })
    });
    c.bench_function("rca 10k services 100k edges 50 metrics x 300 s", |b| {
        b.iter(|| {
            diagnose(
                black_box(&t),
                Some(1_700_000_200.0),
                Some(&g),
                None,
                &options,
                "bench",
            )
            .map(|d| d.ranking.len())
        })
    });
    c.bench_function("rca same, anomaly start found", |b| {
        b.iter(|| {
            diagnose(black_box(&t), None, Some(&g), None, &options, "bench")
                .map(|d| d.ranking.len())
        })
    });
    let spans = spans(&mut rng);
    let keys: Vec<u64> = (0..SPANS).map(|_| rng.uniform().to_bits()).collect();
    let mut group = c.benchmark_group("discovery");
    group.sample_size(10);
    group.bench_function("anchor: sort 1,000,000 u64", |b| {
        b.iter(|| {
            let mut v = keys.clone();
            v.sort_unstable();
            black_box(v[0])
        })
    });
    group.bench_function("graph from 1,000,000 spans", |b| {
        b.iter(|| {
            healbot::topology::spans::from_spans(black_box(&spans))
                .edges
                .len()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
