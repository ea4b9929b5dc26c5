//! Metric evidence per service: each column becomes a series (counters as rates), fitted on
//! the normal window, and scored by how far the anomaly window sits from it in the direction
//! that counts. A service's score is its strongest column, and the column is named, so a
//! person sees "memory of orders-db", not a bare number.

use super::robust::{fit, quantile, Baseline, FloorOptions, ScaleFloor};
use super::series::{is_counter, rates, resolution, Direction, MetricKind};
use super::table::{split_column, MetricTable};
use crate::topology::DependencyGraph;
use serde::Serialize;
use std::collections::HashMap;

/// How columns are scored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreOptions {
    pub floor: FloorOptions,
    /// A gauge's shift is read at this quantile of the anomaly window's robust z-scores (and
    /// the mirror one for drops): a shift held through the window scores, a spike or a burst
    /// that covers a fraction of it does not. A rate (a counter's) is read as its trimmed
    /// mean instead: events are sparse, and the median of a rare event's rate is zero.
    pub window_quantile: f64,
    /// How much a move against the bad direction counts (a memory drop after a restart).
    pub against_direction: f64,
    /// The window is cut into this many consecutive parts and a column scores its weakest
    /// part: a fault persists, a batch job or a burst does not.
    pub parts: usize,
    /// The share of the window at its end that must show the shift too (0: none asked). A
    /// fault holds until someone mends it (or the service restarts, which ends the window),
    /// so it is there at the window's end; a neighbour's batch job that covered most of the
    /// window, but ended, is not. This holds for a found start too, whose window is not cut
    /// into parts (it may begin early).
    pub tail: f64,
}

impl Default for ScoreOptions {
    fn default() -> ScoreOptions {
        ScoreOptions {
            floor: FloorOptions::default(),
            window_quantile: 0.5,
            against_direction: 0.0,
            parts: 2,
            tail: 0.1,
        }
    }
}

/// One column's score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnScore {
    pub column: String,
    pub service: String,
    pub metric: String,
    pub kind: MetricKind,
    /// Whether the column was a counter, scored as a per-second rate.
    pub rate: bool,
    /// Robust z of the shift, in the bad direction; 0 when the column moved the other way.
    pub score: f64,
    /// The normal window's median, and the anomaly window's median (rates for counters).
    pub before: f64,
    pub after: f64,
    pub scale_floor: ScaleFloor,
    /// When the scored window began (unix seconds): a found start scores two windows, and
    /// this is the one that drove the score. Absent for `serve`'s readings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_start: Option<f64>,
}

/// A service's evidence from its metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceMetrics {
    pub service: String,
    /// The column that drove the score.
    pub metric: String,
    pub kind: MetricKind,
    pub score: f64,
    /// Strongest column of a kind that stays in the service (CPU, memory, network, disk).
    pub local: f64,
    /// Strongest column of a kind that travels up to callers (latency, errors, traffic).
    pub propagating: f64,
    /// Whether any column of such a kind was measured (a database often has none).
    pub has_propagating: bool,
    /// Its columns, strongest first.
    pub columns: Vec<ColumnScore>,
}

/// A column as the scorer sees it: rates for counters, and its quantum.
pub struct Series {
    pub column: String,
    pub service: String,
    pub metric: String,
    pub kind: MetricKind,
    pub rate: bool,
    pub values: Vec<f64>,
    pub resolution: Option<f64>,
    /// Rows where a counter fell: it began again from zero (empty for gauges).
    pub resets: Vec<usize>,
}

/// Every column of the table as a series (counters turned into rates).
pub fn series(table: &MetricTable, graph: Option<&DependencyGraph>) -> Vec<Series> {
    table
        .columns
        .iter()
        .zip(&table.values)
        .map(|(column, raw)| {
            let (service, metric) = split_column(column, graph);
            let rate = is_counter(&metric);
            let values = if rate {
                rates(&table.times, raw)
            } else {
                raw.clone()
            };
            // A counter's quantum is one event per interval: read it off the raw counter.
            let resolution = if rate {
                let step = median_step(&table.times);
                resolution(raw).map(|r| r / step)
            } else {
                resolution(raw)
            };
            Series {
                column: column.clone(),
                service,
                kind: MetricKind::of(&metric),
                metric,
                rate,
                values,
                resolution,
                resets: if rate { resets(raw) } else { Vec::new() },
            }
        })
        .collect()
}

fn median_step(times: &[f64]) -> f64 {
    let mut steps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    if steps.is_empty() {
        return 1.0;
    }
    steps.sort_by(f64::total_cmp);
    quantile(&steps, 0.5).max(f64::EPSILON)
}

/// Rows where a cumulative counter is below its last present sample.
fn resets(counter: &[f64]) -> Vec<usize> {
    let mut last: Option<f64> = None;
    let mut out = Vec::new();
    for (i, &x) in counter.iter().enumerate().filter(|(_, x)| x.is_finite()) {
        if last.is_some_and(|l| x < l) {
            out.push(i);
        }
        last = Some(x);
    }
    out
}

/// The first row at or after `start` where a service restarted, per service: most of its
/// counters began again from zero at once (a container killed, for running out of memory
/// most often). What the service did before that row is the fault's; after it, a fresh
/// container that has not met the fault yet, or not fully.
pub fn restarts(series: &[Series], start: usize) -> HashMap<String, usize> {
    let mut counters: HashMap<&str, usize> = HashMap::new();
    let mut at: HashMap<(&str, usize), usize> = HashMap::new();
    for s in series.iter().filter(|s| s.rate) {
        *counters.entry(&s.service).or_default() += 1;
        for &r in s.resets.iter().filter(|&&r| r > start) {
            *at.entry((&s.service, r)).or_default() += 1;
        }
    }
    let mut out: HashMap<String, usize> = HashMap::new();
    for ((service, row), n) in at {
        let total = counters[service];
        if total >= 2 && 2 * n > total {
            let first = out.entry(service.to_string()).or_insert(row);
            *first = (*first).min(row);
        }
    }
    out
}

/// Scores one series: rows before `start` are normal, rows from `start` up to `end` (all
/// the rest when `None`) are scored.
pub(crate) fn score_series(
    s: &Series,
    start: usize,
    end: Option<usize>,
    options: &ScoreOptions,
) -> Option<ColumnScore> {
    let end = end.unwrap_or(s.values.len()).min(s.values.len());
    let start = start.min(end);
    let (normal, window) = (&s.values[..start], &s.values[start..end]);
    let baseline: Baseline = fit(normal, s.resolution, options.floor)?;
    let shift = |part: &[f64]| -> Option<f64> {
        let mut z: Vec<f64> = part
            .iter()
            .filter(|x| x.is_finite())
            .map(|&x| baseline.z(x))
            .collect();
        if z.is_empty() {
            return None;
        }
        z.sort_by(f64::total_cmp);
        let (up, down) = if s.rate {
            let m = trimmed_mean(&z, 0.1);
            (m.max(0.0), (-m).max(0.0))
        } else {
            (
                quantile(&z, options.window_quantile).max(0.0),
                (-quantile(&z, 1.0 - options.window_quantile)).max(0.0),
            )
        };
        Some(match s.kind.direction() {
            Direction::Up => up + options.against_direction * down,
            Direction::Both => up.max(down),
        })
    };
    // A fault lasts until someone mends it: the shift must hold in every part of the window,
    // where a neighbour's batch job or a burst of users comes and goes within it.
    let parts = options.parts.clamp(1, window.len().max(1));
    let chunk = window.len().div_ceil(parts).max(1);
    let score = window
        .chunks(chunk)
        .filter_map(shift)
        .fold(None, |acc: Option<f64>, x| {
            Some(acc.map_or(x, |a| a.min(x)))
        })?;
    let score = if options.tail > 0.0 {
        let k = ((window.len() as f64 * options.tail).ceil() as usize).clamp(1, window.len());
        shift(&window[window.len() - k..]).map_or(score, |t| score.min(t))
    } else {
        score
    };
    let mut after: Vec<f64> = window.iter().copied().filter(|x| x.is_finite()).collect();
    after.sort_by(f64::total_cmp);
    Some(ColumnScore {
        column: s.column.clone(),
        service: s.service.clone(),
        metric: s.metric.clone(),
        kind: s.kind,
        rate: s.rate,
        score,
        before: baseline.median,
        after: quantile(&after, 0.5),
        scale_floor: baseline.floor,
        window_start: None,
    })
}

/// The mean of `sorted` without the `share` smallest and largest values.
fn trimmed_mean(sorted: &[f64], share: f64) -> f64 {
    let cut = (sorted.len() as f64 * share) as usize;
    let kept = &sorted[cut..sorted.len() - cut];
    if kept.is_empty() {
        return quantile(sorted, 0.5);
    }
    kept.iter().sum::<f64>() / kept.len() as f64
}

/// Groups column scores by service, strongest service first.
pub(crate) fn by_service(columns: Vec<ColumnScore>) -> Vec<ServiceMetrics> {
    let mut services: Vec<ServiceMetrics> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for c in columns {
        let i = *index.entry(c.service.clone()).or_insert_with(|| {
            services.push(ServiceMetrics {
                service: c.service.clone(),
                metric: String::new(),
                kind: MetricKind::Other,
                score: f64::NEG_INFINITY,
                local: 0.0,
                propagating: 0.0,
                has_propagating: false,
                columns: Vec::new(),
            });
            services.len() - 1
        });
        let s = &mut services[i];
        if c.kind.propagates() {
            s.has_propagating = true;
            s.propagating = s.propagating.max(c.score);
        } else {
            s.local = s.local.max(c.score);
        }
        if c.score > s.score {
            s.score = c.score;
            s.metric = c.metric.clone();
            s.kind = c.kind;
        }
        s.columns.push(c);
    }
    for s in &mut services {
        s.columns
            .sort_by(|a, b| b.score.total_cmp(&a.score).then(a.column.cmp(&b.column)));
    }
    services.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.service.cmp(&b.service)));
    services
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(columns: &[(&str, Vec<f64>)]) -> MetricTable {
        let rows = columns[0].1.len();
        MetricTable {
            times: (0..rows).map(|t| 1000.0 + t as f64).collect(),
            columns: columns.iter().map(|(c, _)| c.to_string()).collect(),
            values: columns.iter().map(|(_, v)| v.clone()).collect(),
        }
    }

    fn wiggle(n: usize, level: f64, sd: f64) -> Vec<f64> {
        (0..n)
            .map(|i| level + sd * (((i * 7919) % 13) as f64 / 6.0 - 1.0))
            .collect()
    }

    #[test]
    fn a_flat_database_step_does_not_outscore_a_real_shift() {
        let mut db = vec![1_048_576_000.0; 100];
        for x in &mut db[80..] {
            *x *= 1.3;
        }
        let mut cpu = wiggle(100, 0.2, 0.01);
        for x in &mut cpu[60..] {
            *x += 0.3;
        }
        let t = table(&[("orders-db_mem", db), ("payment_cpu", cpu)]);
        let scored: Vec<ColumnScore> = series(&t, None)
            .iter()
            .filter_map(|s| score_series(s, 60, None, &ScoreOptions::default()))
            .collect();
        let services = by_service(scored);
        assert_eq!(services[0].service, "payment", "{services:#?}");
        assert_eq!(services[0].metric, "cpu");
        let db = &services[1];
        assert!(db.score < 10.0, "{db:#?}");
        assert_eq!(db.columns[0].scale_floor, ScaleFloor::Resolution);
    }

    #[test]
    fn a_burst_over_the_window_that_ends_before_the_readings_do_is_no_fault() {
        // A neighbour's batch job from row 60 to 95 covers most of the window (60..100), and
        // its median with it; the fault in `pay_cpu` holds to the end.
        let mut job = wiggle(100, 0.2, 0.01);
        for x in &mut job[60..95] {
            *x += 0.6;
        }
        let mut fault = wiggle(100, 0.2, 0.01);
        for x in &mut fault[60..] {
            *x += 0.3;
        }
        let t = table(&[("batch_cpu", job), ("pay_cpu", fault)]);
        let whole = ScoreOptions {
            parts: 1,
            ..ScoreOptions::default()
        };
        let score = |options: &ScoreOptions| -> Vec<f64> {
            series(&t, None)
                .iter()
                .filter_map(|s| score_series(s, 60, None, options))
                .map(|c| c.score)
                .collect()
        };
        let untested = score(&ScoreOptions { tail: 0.0, ..whole });
        assert!(untested[0] > untested[1], "{untested:?}");
        let tested = score(&whole);
        assert!(tested[0] < 1.0 && tested[1] > 10.0, "{tested:?}");
    }

    #[test]
    fn memory_drops_do_not_count_and_counters_are_rates() {
        let mut mem = wiggle(100, 500.0, 5.0);
        for x in &mut mem[60..] {
            *x = 100.0;
        }
        let requests: Vec<f64> = (0..100)
            .map(|t| {
                if t < 60 {
                    10.0 * t as f64
                } else {
                    600.0 + 30.0 * (t - 60) as f64
                }
            })
            .collect();
        let t = table(&[("a_mem", mem), ("b_requests_total", requests)]);
        let s = series(&t, None);
        assert!(!s[0].rate && s[1].rate);
        let a = score_series(&s[0], 60, None, &ScoreOptions::default()).unwrap();
        assert_eq!(a.score, 0.0);
        let b = score_series(&s[1], 60, None, &ScoreOptions::default()).unwrap();
        assert_eq!((b.before, b.after), (10.0, 30.0));
        // The counter only ever moved in steps of 10 per second: 30 is two steps above 10.
        assert_eq!(
            (b.score, b.scale_floor),
            (2.0, ScaleFloor::Resolution),
            "{b:?}"
        );
    }

    #[test]
    fn a_restart_ends_the_window_of_the_service_that_restarted() {
        // b's memory climbs from row 60, the container is killed at 70 and comes back fresh:
        // its counters begin again from zero, its memory is as before.
        let mut mem = wiggle(100, 500.0, 5.0);
        for (i, x) in mem[60..70].iter_mut().enumerate() {
            *x += 60.0 * (i + 1) as f64;
        }
        let counter = |rate: f64| -> Vec<f64> {
            (0..100)
                .map(|t| {
                    if t < 70 {
                        1e4 + rate * t as f64
                    } else {
                        rate * (t - 69) as f64
                    }
                })
                .collect()
        };
        let t = table(&[
            ("b_mem", mem),
            ("b_requests_total", counter(10.0)),
            ("b_errors_total", counter(1.0)),
            ("c_requests_total", counter(5.0)[..].to_vec()),
        ]);
        let s = series(&t, None);
        let r = restarts(&s, 60);
        assert_eq!(r.get("b"), Some(&70), "{r:?}");
        // c has one counter: a reset of one counter is no restart.
        assert_eq!(r.get("c"), None);
        let whole = score_series(&s[0], 60, None, &ScoreOptions::default()).unwrap();
        let before_kill = score_series(&s[0], 60, Some(70), &ScoreOptions::default()).unwrap();
        assert!(whole.score < 1.0, "{whole:?}");
        assert!(before_kill.score > 5.0, "{before_kill:?}");
    }
}
