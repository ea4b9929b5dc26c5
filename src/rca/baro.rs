//! Metric-first ranking in the manner of BARO: for each `<service>_<metric>` series of a wide
//! CSV, fit the median and interquartile range on the samples before the anomaly starts and
//! score the series by its largest robust z-score after it. The scores become
//! [`ServiceEvidence`] for the graph-aware ranking in [`super::rank`]. Robust statistics, because
//! a baseline with a few spikes must not hide a real shift.

use crate::topology::graph::DependencyGraph;
use super::rank::{rank, RankOptions, RcaError, RcaReport, ServiceEvidence};
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// A wide CSV: one `time` column (unix seconds) and one column per `<service>_<metric>`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricTable {
    pub times: Vec<f64>,
    pub columns: Vec<String>,
    /// `values[column][row]`; a missing or unparsable cell is NaN.
    pub values: Vec<Vec<f64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricScore {
    pub column: String,
    pub service: String,
    pub metric: String,
    /// Largest robust z-score after the anomaly start.
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BaroError {
    #[error("{file}: line {line}: {message}")]
    Csv {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{file}: no samples before the anomaly start {start} to fit a baseline on")]
    NoBaseline { file: String, start: f64 },
    #[error("{file}: no samples at or after the anomaly start {start}")]
    NoAnomalyWindow { file: String, start: f64 },
    #[error("{file}: too few samples ({rows}) to find where the anomaly starts; pass it")]
    TooShort { file: String, rows: usize },
}

/// The anomaly threshold for ranking BARO scores: each is the largest robust z-score over the
/// whole anomaly window, so healthy series with ordinary spikes reach 3–5; 6 keeps them out of
/// the graph rule (measured with `rca::simulate`: AC@1 0.58 at 3, 1.0 at 6, 0.9 at 10).
pub const BARO_ANOMALY_THRESHOLD: f64 = 6.0;

/// Cap on one sample's contribution when locating the anomaly start, so one spike cannot
/// outweigh a shift across many series.
const START_SCORE_CAP: f64 = 10.0;

impl MetricTable {
    /// Parses the CSV; `file` names it in errors.
    pub fn parse_csv(text: &str, file: &str) -> Result<MetricTable, BaroError> {
        let err = |line: usize, message: String| BaroError::Csv {
            file: file.to_string(),
            line,
            message,
        };
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let Some((_, header)) = lines.next() else {
            return Err(err(
                1,
                "empty file: expected a header `time,<service>_<metric>,…`".into(),
            ));
        };
        let header: Vec<String> = header
            .split(',')
            .map(|c| c.trim().trim_matches('"').to_string())
            .collect();
        if !matches!(
            header.first().map(String::as_str),
            Some("time" | "timestamp")
        ) {
            return Err(err(
                1,
                format!("the first column must be `time`, got {:?}", header[0]),
            ));
        }
        if header.len() < 2 {
            return Err(err(1, "no metric columns after `time`".into()));
        }
        let columns = header[1..].to_vec();
        let mut times = Vec::new();
        let mut values = vec![Vec::new(); columns.len()];
        for (index, line) in lines {
            let cells: Vec<&str> = line
                .split(',')
                .map(|c| c.trim().trim_matches('"'))
                .collect();
            if cells.len() != header.len() {
                return Err(err(
                    index + 1,
                    format!("{} cells, the header has {}", cells.len(), header.len()),
                ));
            }
            let time: f64 = cells[0]
                .parse()
                .map_err(|_| err(index + 1, format!("time {:?} is not a number", cells[0])))?;
            times.push(time);
            for (column, cell) in values.iter_mut().zip(&cells[1..]) {
                column.push(cell.parse().unwrap_or(f64::NAN));
            }
        }
        if times.is_empty() {
            return Err(err(2, "no samples after the header".into()));
        }
        Ok(MetricTable {
            times,
            columns,
            values,
        })
    }

    /// Where the series shift most, as one change point over all columns (each sample scored
    /// against the first third, which is taken as normal).
    pub fn estimate_anomaly_start(&self) -> Option<f64> {
        let n = self.times.len();
        if n < 6 {
            return None;
        }
        let reference = n / 3;
        let mut load = vec![0.0; n];
        for column in &self.values {
            let Some((median, scale)) = fit(&column[..reference]) else {
                continue;
            };
            for (l, x) in load.iter_mut().zip(column) {
                if x.is_finite() {
                    *l += ((x - median).abs() / scale).min(START_SCORE_CAP);
                }
            }
        }
        // The split that best separates a low mean before from a high mean after.
        let total: f64 = load.iter().sum();
        let mut before = 0.0;
        let mut best = (f64::MIN, None);
        for t in 1..n {
            before += load[t - 1];
            let (left, right) = (t as f64, (n - t) as f64);
            let shift = (total - before) / right - before / left;
            let gain = shift * (left * right / n as f64).sqrt();
            if shift > 0.0 && gain > best.0 {
                best = (gain, Some(self.times[t]));
            }
        }
        best.1
    }

    /// Scores every column, highest first. Without `anomaly_start` it is estimated.
    pub fn score(
        &self,
        anomaly_start: Option<f64>,
        graph: Option<&DependencyGraph>,
        file: &str,
    ) -> Result<Vec<MetricScore>, BaroError> {
        let start = match anomaly_start {
            Some(s) => s,
            None => self.estimate_anomaly_start().ok_or(BaroError::TooShort {
                file: file.to_string(),
                rows: self.times.len(),
            })?,
        };
        let baseline: Vec<usize> = (0..self.times.len())
            .filter(|&i| self.times[i] < start)
            .collect();
        let after: Vec<usize> = (0..self.times.len())
            .filter(|&i| self.times[i] >= start)
            .collect();
        if baseline.is_empty() {
            return Err(BaroError::NoBaseline {
                file: file.to_string(),
                start,
            });
        }
        if after.is_empty() {
            return Err(BaroError::NoAnomalyWindow {
                file: file.to_string(),
                start,
            });
        }
        let mut scores: Vec<MetricScore> = self
            .columns
            .iter()
            .zip(&self.values)
            .map(|(column, series)| {
                let normal: Vec<f64> = baseline.iter().map(|&i| series[i]).collect();
                let score = match fit(&normal) {
                    Some((median, scale)) => after
                        .iter()
                        .map(|&i| series[i])
                        .filter(|x| x.is_finite())
                        .map(|x| (x - median) / scale)
                        .fold(f64::NAN, f64::max),
                    None => f64::NAN,
                };
                let (service, metric) = split_column(column, graph);
                MetricScore {
                    column: column.clone(),
                    service,
                    metric,
                    score,
                }
            })
            .filter(|s| s.score.is_finite())
            .collect();
        scores.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.column.cmp(&b.column)));
        Ok(scores)
    }
}

/// Median and a scale for robust z-scores: the IQR, else the standard deviation for a baseline
/// that is mostly constant, else 1 (as scikit-learn's RobustScaler does).
fn fit(samples: &[f64]) -> Option<(f64, f64)> {
    let mut xs: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let median = quantile(&xs, 0.5);
    let iqr = quantile(&xs, 0.75) - quantile(&xs, 0.25);
    let scale = if iqr > 1e-12 {
        iqr
    } else {
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64).sqrt();
        if sd > 1e-12 {
            sd
        } else {
            1.0
        }
    };
    Some((median, scale))
}

/// Linear interpolation between closest ranks; `sorted` is not empty.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Splits `orders-db_mem` into service and metric. Service names may hold `_`
/// (`postgres_primary_cpu`), so a graph's service names are tried first, then known metric
/// names, then the first `_`.
pub fn split_column(column: &str, graph: Option<&DependencyGraph>) -> (String, String) {
    if let Some(graph) = graph {
        let service = graph
            .services()
            .filter(|s| {
                column.len() > s.len() + 1
                    && column.starts_with(s)
                    && column.as_bytes()[s.len()] == b'_'
            })
            .max_by_key(|s| s.len());
        if let Some(s) = service {
            return (s.to_string(), column[s.len() + 1..].to_string());
        }
    }
    static KNOWN: OnceLock<Option<Regex>> = OnceLock::new();
    let known = KNOWN.get_or_init(|| {
        Regex::new(concat!(
            r"^(.+?)_(",
            r"(?:lat|latency)(?:[_-]p?\d+)?(?:_ms)?",
            r"|cpu(?:_utilisation|_usage)?|mem(?:ory)?(?:_utilisation|_usage)?",
            r"|load|workload|error_rate|errors|requests|rps|saturation",
            r"|disk(?:_\w+)?|net(?:work)?_(?:in|out|rx|tx)",
            r")$",
        ))
        .ok()
    });
    if let Some(c) = known.as_ref().and_then(|re| re.captures(column)) {
        return (c[1].to_string(), c[2].to_string());
    }
    match column.split_once('_') {
        Some((service, metric)) => (service.to_string(), metric.to_string()),
        None => (column.to_string(), String::new()),
    }
}

/// One piece of evidence per scored column.
pub fn to_evidence(scores: &[MetricScore]) -> Vec<ServiceEvidence> {
    scores
        .iter()
        .map(|s| ServiceEvidence {
            service: s.service.clone(),
            metric: s.metric.clone(),
            score: s.score,
            detail: Some(format!(
                "{}: largest robust z-score {:.1}",
                s.column, s.score
            )),
        })
        .collect()
}

/// The whole metric path: score the table, then rank the services through the graph (an
/// empty graph when there is none, which keeps the metric order).
pub fn rank_table(
    table: &MetricTable,
    anomaly_start: Option<f64>,
    graph: Option<&DependencyGraph>,
    options: &RankOptions,
    file: &str,
) -> Result<RcaReport, BaroRankError> {
    let scores = table.score(anomaly_start, graph, file)?;
    let empty = DependencyGraph::new();
    Ok(rank(
        graph.unwrap_or(&empty),
        &to_evidence(&scores),
        options,
    )?)
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BaroRankError {
    #[error(transparent)]
    Metrics(#[from] BaroError),
    #[error(transparent)]
    Rank(#[from] RcaError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_errors_name_file_and_line() {
        let e = MetricTable::parse_csv("ts,a_cpu\n1,2\n", "m.csv").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("m.csv: line 1: the first column must be `time`"),
            "{e}"
        );
        let e = MetricTable::parse_csv("time,a_cpu\n1,2\n2\n", "m.csv").unwrap_err();
        assert_eq!(e.to_string(), "m.csv: line 3: 1 cells, the header has 2");
        let e = MetricTable::parse_csv("time,a_cpu\nx,2\n", "m.csv").unwrap_err();
        assert!(e.to_string().contains("line 2: time \"x\""), "{e}");
    }

    #[test]
    fn columns_split_into_service_and_metric() {
        assert_eq!(
            split_column("carts_cpu", None),
            ("carts".into(), "cpu".into())
        );
        assert_eq!(
            split_column("orders-db_mem", None),
            ("orders-db".into(), "mem".into())
        );
        assert_eq!(
            split_column("carts_lat_90", None),
            ("carts".into(), "lat_90".into())
        );
        assert_eq!(
            split_column("postgres_primary_cpu", None),
            ("postgres_primary".into(), "cpu".into())
        );
        let mut g = DependencyGraph::new();
        g.add_service("my_svc", None);
        assert_eq!(
            split_column("my_svc_queue_depth", Some(&g)),
            ("my_svc".into(), "queue_depth".into())
        );
        assert_eq!(split_column("a_b_c", None), ("a".into(), "b_c".into()));
    }

    #[test]
    fn robust_z_uses_the_baseline_median_and_iqr() {
        // Baseline 1,2,3,4,5: median 3, IQR 2. After: 9 → z = 3.
        let text = "time,s_cpu\n1,1\n2,2\n3,3\n4,4\n5,5\n6,9\n7,3\n";
        let table = MetricTable::parse_csv(text, "m.csv").unwrap();
        let scores = table.score(Some(6.0), None, "m.csv").unwrap();
        assert_eq!(scores[0].score, 3.0);
        let e = table.score(Some(0.0), None, "m.csv").unwrap_err();
        assert!(matches!(e, BaroError::NoBaseline { .. }));
    }

    /// A small deterministic generator, so the simulated benchmark needs no crate.
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
    }

    /// Ten services in a call tree, four metrics each, noisy baselines; a CPU or memory fault
    /// in one service, whose latency spills into its callers.
    fn simulate(seed: u64, faulty: usize, memory: bool) -> (MetricTable, DependencyGraph) {
        let names: Vec<String> = (0..10).map(|i| format!("svc-{i}")).collect();
        let mut graph = DependencyGraph::new();
        for i in 1..10 {
            // svc-i depends on svc-(2i+1) and svc-(2i+2) when they exist: a tree with svc-0 on top.
            for child in [2 * i + 1, 2 * i + 2] {
                if child < 10 {
                    graph.add_dependency(&names[i], &names[child]);
                }
            }
            graph.add_dependency(&names[0], &names[i]);
        }
        let mut rng = Lcg(seed);
        let (rows, start) = (300usize, 200usize);
        let mut columns = Vec::new();
        let mut values = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let hurt = i == faulty
                || graph
                    .transitive_dependencies(name)
                    .contains(&names[faulty].as_str());
            for (metric, base, noise) in [
                ("cpu", 0.3, 0.03),
                ("mem", 0.5, 0.02),
                ("load", 10.0, 1.0),
                ("lat_90", 50.0, 5.0),
            ] {
                let series: Vec<f64> = (0..rows)
                    .map(|t| {
                        let mut x = base + noise * rng.normal();
                        if t >= start {
                            if i == faulty && metric == "cpu" && !memory {
                                x += 0.4;
                            }
                            if i == faulty && metric == "mem" && memory {
                                x += 0.3;
                            }
                            if hurt && metric == "lat_90" {
                                x += if i == faulty { 40.0 } else { 25.0 };
                            }
                        }
                        x
                    })
                    .collect();
                columns.push(format!("{name}_{metric}"));
                values.push(series);
            }
        }
        let times = (0..rows).map(|t| 1_000.0 + t as f64).collect();
        (
            MetricTable {
                times,
                columns,
                values,
            },
            graph,
        )
    }

    #[test]
    fn simulated_faults_rank_the_faulty_service_first() {
        let (mut top1, mut top3, mut avg5, mut cases) = (0, 0, 0.0, 0);
        for seed in 0..20u64 {
            let faulty = (seed as usize * 7) % 10;
            let (table, graph) = simulate(seed + 1, faulty, seed % 2 == 0);
            for start in [Some(1_200.0), None] {
                let report =
                    rank_table(&table, start, Some(&graph), &RankOptions::default(), "sim")
                        .unwrap();
                let truth = format!("svc-{faulty}");
                let pos = report.ranking.iter().position(|r| r.service == truth);
                cases += 1;
                top1 += usize::from(pos == Some(0));
                top3 += usize::from(pos.is_some_and(|p| p < 3));
                avg5 += (1..=5).filter(|k| pos.is_some_and(|p| p < *k)).count() as f64 / 5.0;
            }
        }
        let (ac1, ac3, avg5) = (
            top1 as f64 / cases as f64,
            top3 as f64 / cases as f64,
            avg5 / cases as f64,
        );
        eprintln!("simulated RCA: AC@1 {ac1:.2} AC@3 {ac3:.2} Avg@5 {avg5:.2} over {cases} cases");
        assert!(
            ac1 >= 0.9 && ac3 >= 0.95,
            "AC@1 {ac1} AC@3 {ac3} Avg@5 {avg5}"
        );
    }
}
