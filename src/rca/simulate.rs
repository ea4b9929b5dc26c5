//! A fault-injection simulator for evaluating the ranking the way microservice RCA datasets
//! are built: a call graph of services (Sock Shop's), one-second samples of CPU, memory, load
//! and latency percentiles with noisy baselines (drift, autocorrelated noise, spikes), and a
//! CPU hog or memory leak injected into one service whose latency spills up to its callers.
//! The true root cause is known, so AC@k can be measured (`cargo run --example rca_eval`).

use super::baro::{rank_table, MetricTable};
use super::graph::DependencyGraph;
use super::rank::RankOptions;

/// Sock Shop's services and what each calls.
const SOCK_SHOP: [(&str, &[&str]); 13] = [
    ("front-end", &["carts", "orders", "catalogue", "user"]),
    (
        "orders",
        &["carts", "payment", "shipping", "user", "orders-db"],
    ),
    ("carts", &["carts-db"]),
    ("catalogue", &["catalogue-db"]),
    ("user", &["user-db"]),
    ("payment", &[]),
    ("shipping", &["rabbitmq"]),
    ("queue-master", &["rabbitmq"]),
    ("rabbitmq", &[]),
    ("carts-db", &[]),
    ("orders-db", &[]),
    ("catalogue-db", &[]),
    ("user-db", &[]),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Cpu,
    Memory,
}

#[derive(Debug, Clone)]
pub struct SimCase {
    pub table: MetricTable,
    pub graph: DependencyGraph,
    pub root_cause: String,
    pub fault: Fault,
    pub anomaly_start: f64,
}

/// A small deterministic generator, so the evaluation needs no crate and repeats exactly.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-12), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    pub fn below(&mut self, n: usize) -> usize {
        ((self.uniform() * n as f64) as usize).min(n.saturating_sub(1))
    }
}

pub fn sock_shop() -> DependencyGraph {
    let mut g = DependencyGraph::new();
    for (service, deps) in SOCK_SHOP {
        g.add_service(service, None);
        for d in deps {
            g.add_dependency(service, d);
        }
    }
    g
}

/// One case: 600 s of samples, the fault starting between 360 s and 420 s.
pub fn simulate(seed: u64) -> SimCase {
    let mut rng = Lcg(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03);
    let graph = sock_shop();
    let names: Vec<&str> = SOCK_SHOP.iter().map(|(s, _)| *s).collect();
    let root = names[rng.below(names.len())];
    let fault = if rng.uniform() < 0.5 {
        Fault::Cpu
    } else {
        Fault::Memory
    };
    let rows = 600usize;
    let start = 360 + rng.below(60);
    let hurt: Vec<&str> = graph.transitive_dependents(root);
    let t0 = 1_700_000_000.0;
    let mut columns = Vec::new();
    let mut values = Vec::new();
    for &service in &names {
        let (is_root, is_hurt) = (service == root, hurt.contains(&service));
        // Each service has its own baseline level and noise.
        let cpu0 = 0.1 + 0.4 * rng.uniform();
        let mem0 = 0.2 + 0.5 * rng.uniform();
        let load0 = 20.0 + 80.0 * rng.uniform();
        let lat0 = 5.0 + 60.0 * rng.uniform();
        let severity = 0.6 + 0.8 * rng.uniform();
        for metric in ["cpu", "mem", "load", "lat_50", "lat_90"] {
            let (level, sd) = match metric {
                "cpu" => (cpu0, 0.04 * cpu0 + 0.01),
                "mem" => (mem0, 0.01),
                "load" => (load0, 0.08 * load0),
                "lat_50" => (lat0, 0.1 * lat0),
                _ => (lat0 * 2.0, 0.2 * lat0),
            };
            let mut ar = 0.0;
            let drift = 0.1 * level * rng.normal() / rows as f64;
            let series = (0..rows)
                .map(|t| {
                    ar = 0.7 * ar + rng.normal() * sd;
                    let mut x = level + ar + drift * t as f64;
                    // Spikes in the baseline: GC pauses, cron jobs.
                    if rng.uniform() < 0.01 {
                        x += sd * (3.0 + 4.0 * rng.uniform());
                    }
                    if t >= start {
                        let ramp = ((t - start) as f64 / 20.0).min(1.0);
                        x += ramp
                            * effect(metric, fault, is_root, is_hurt, severity, level, t - start);
                    }
                    x.max(0.0)
                })
                .collect();
            columns.push(format!("{service}_{metric}"));
            values.push(series);
        }
    }
    SimCase {
        table: MetricTable {
            times: (0..rows).map(|t| t0 + t as f64).collect(),
            columns,
            values,
        },
        graph,
        root_cause: root.to_string(),
        fault,
        anomaly_start: t0 + start as f64,
    }
}

/// What the fault adds to one series at `since` seconds into the fault.
fn effect(
    metric: &str,
    fault: Fault,
    root: bool,
    hurt: bool,
    sev: f64,
    level: f64,
    since: usize,
) -> f64 {
    match (metric, root, hurt) {
        ("cpu", true, _) if fault == Fault::Cpu => 0.35 * sev,
        // A leak grows until the container limit.
        ("mem", true, _) if fault == Fault::Memory => (0.0015 * sev * since as f64).min(0.3),
        ("lat_50", true, _) => level * 0.6 * sev,
        ("lat_90", true, _) => level * 1.2 * sev,
        // Callers wait on the slow dependency: their latency rises more than the root's.
        ("lat_50", false, true) => level * 0.9 * sev,
        ("lat_90", false, true) => level * 1.8 * sev,
        // Callers time out and retry: their CPU rises a little, their throughput drops.
        ("cpu", false, true) => 0.03 * sev,
        ("load", _, true) | ("load", true, _) => -0.25 * level * sev,
        _ => 0.0,
    }
}

/// The CSV `healbot rca` reads.
pub fn to_csv(table: &MetricTable) -> String {
    let mut out = String::from("time");
    for c in &table.columns {
        out.push(',');
        out.push_str(c);
    }
    out.push('\n');
    for (row, t) in table.times.iter().enumerate() {
        out.push_str(&format!("{t}"));
        for column in &table.values {
            out.push_str(&format!(",{:.4}", column[row]));
        }
        out.push('\n');
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Accuracy {
    pub cases: usize,
    pub ac1: f64,
    pub ac3: f64,
    pub avg5: f64,
}

/// AC@1, AC@3 and Avg@5 over `cases` simulated faults, with or without the graph and the
/// known anomaly start.
pub fn evaluate(cases: usize, with_graph: bool, known_start: bool, threshold: f64) -> Accuracy {
    let options = RankOptions {
        anomaly_threshold: threshold,
        ..RankOptions::default()
    };
    let (mut top1, mut top3, mut avg5) = (0usize, 0usize, 0.0);
    for seed in 0..cases as u64 {
        let case = simulate(seed);
        let start = known_start.then_some(case.anomaly_start);
        let graph = with_graph.then_some(&case.graph);
        let pos = rank_table(&case.table, start, graph, &options, "sim")
            .ok()
            .and_then(|r| r.ranking.iter().position(|s| s.service == case.root_cause));
        top1 += usize::from(pos == Some(0));
        top3 += usize::from(pos.is_some_and(|p| p < 3));
        avg5 += (1..=5).filter(|k| pos.is_some_and(|p| p < *k)).count() as f64 / 5.0;
    }
    let n = cases.max(1) as f64;
    Accuracy {
        cases,
        ac1: top1 as f64 / n,
        ac3: top3 as f64 / n,
        avg5: avg5 / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_are_deterministic_and_parse_back() {
        let a = simulate(7);
        let b = simulate(7);
        assert_eq!(a.root_cause, b.root_cause);
        assert_eq!(a.table, b.table);
        let csv = to_csv(&a.table);
        let parsed = MetricTable::parse_csv(&csv, "sim.csv").unwrap();
        assert_eq!(parsed.columns.len(), 13 * 5);
        assert!(parsed.columns.contains(&"orders-db_mem".to_string()));
    }

    #[test]
    fn the_true_root_cause_ranks_first_in_nearly_every_case() {
        let t = crate::rca::baro::BARO_ANOMALY_THRESHOLD;
        let with_graph = evaluate(60, true, true, t);
        let estimated = evaluate(60, true, false, t);
        let metrics_only = evaluate(60, false, true, t);
        let old_threshold = evaluate(60, true, true, 3.0);
        eprintln!("graph, known start:     {with_graph:?}");
        eprintln!("graph, estimated start: {estimated:?}");
        eprintln!("metrics only:           {metrics_only:?}");
        eprintln!("graph, threshold 3:     {old_threshold:?}");
        assert!(
            with_graph.ac1 >= 0.95 && with_graph.ac3 >= 0.95,
            "{with_graph:?}"
        );
        assert!(estimated.ac1 >= 0.85, "{estimated:?}");
    }
}
