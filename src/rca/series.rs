//! What a column measures, read from its name: the kind of signal (CPU, memory, latency,
//! errors, traffic, network), which way is bad (a memory rise is a symptom, a memory drop is
//! not), and whether it is a cumulative counter that must become a rate before anything else
//! (a counter only ever grows, so its raw values look like an anomaly everywhere).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    Cpu,
    Memory,
    Latency,
    Errors,
    Traffic,
    Network,
    Disk,
    Other,
}

/// Which deviations count as anomalous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Up,
    Both,
}

impl MetricKind {
    /// Classifies a metric name (the part after the service): `container_cpu_usage_seconds_total`
    /// is CPU, `latency-90` latency, `http_requests_total` traffic.
    pub fn of(metric: &str) -> MetricKind {
        let m = metric.to_ascii_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| m.contains(w));
        if has(&["error", "err_", "fail", "5xx", "exception", "fault"]) || m == "err" {
            MetricKind::Errors
        } else if has(&[
            "latency",
            "duration",
            "response_time",
            "rt_",
            "lat_",
            "lat-",
        ]) || m == "lat"
            || m == "rt"
            || has(&["_p50", "_p90", "_p95", "_p99", "p50", "p90", "p95", "p99"])
                && !has(&["cpu", "mem"])
        {
            MetricKind::Latency
        } else if has(&["cpu"]) {
            MetricKind::Cpu
        } else if has(&["mem", "heap", "rss", "working_set"]) {
            MetricKind::Memory
        } else if has(&["net", "rx", "tx", "receive", "transmit", "packets", "tcp"]) {
            MetricKind::Network
        } else if has(&["disk", "fs_", "io_", "iops"]) {
            MetricKind::Disk
        } else if has(&[
            "request",
            "rps",
            "qps",
            "load",
            "throughput",
            "calls",
            "count",
        ]) {
            MetricKind::Traffic
        } else {
            MetricKind::Other
        }
    }

    pub fn direction(self) -> Direction {
        match self {
            MetricKind::Cpu
            | MetricKind::Memory
            | MetricKind::Latency
            | MetricKind::Errors
            | MetricKind::Disk => Direction::Up,
            MetricKind::Traffic | MetricKind::Network | MetricKind::Other => Direction::Both,
        }
    }

    /// Whether a fault in a dependency shows up in this signal of its callers too: latency
    /// and errors travel up the calls; a container's CPU and memory stay where they are, and
    /// traffic moves everywhere at once (users wait longer, so everyone sees fewer requests).
    pub(crate) fn propagates(self) -> bool {
        matches!(self, MetricKind::Latency | MetricKind::Errors)
    }

    pub fn name(self) -> &'static str {
        match self {
            MetricKind::Cpu => "cpu",
            MetricKind::Memory => "memory",
            MetricKind::Latency => "latency",
            MetricKind::Errors => "errors",
            MetricKind::Traffic => "traffic",
            MetricKind::Network => "network",
            MetricKind::Disk => "disk",
            MetricKind::Other => "other",
        }
    }
}

/// Prometheus' naming rule for cumulative counters (`_total`; `_count` and `_sum` of
/// histograms and summaries).
pub(crate) fn is_counter(metric: &str) -> bool {
    let m = metric.to_ascii_lowercase();
    m.ends_with("_total")
        || m.ends_with("_count")
        || m.ends_with("_sum")
        || m.ends_with("_counter")
        || m == "total"
}

/// Per-second rates of a cumulative counter, as Prometheus' `rate()` reads them: the increase
/// since the last present sample over the time between them; a decrease is a restart, after
/// which the counter counted up from zero. The first sample and missing samples give NaN.
pub fn rates(times: &[f64], counter: &[f64]) -> Vec<f64> {
    let mut out = vec![f64::NAN; counter.len()];
    let mut last: Option<(f64, f64)> = None;
    for (i, (&t, &x)) in times.iter().zip(counter).enumerate() {
        if !x.is_finite() {
            continue;
        }
        if let Some((lt, lx)) = last {
            let dt = t - lt;
            if dt > 0.0 {
                let increase = if x >= lx { x - lx } else { x };
                out[i] = increase / dt;
            }
        }
        last = Some((t, x));
    }
    out
}

/// The smallest step between distinct consecutive present values: the quantum a gauge is
/// reported in (a byte count rounded to MiB, a counter's one event per interval). `None` for
/// a series that never changes.
pub fn resolution(values: &[f64]) -> Option<f64> {
    let mut last: Option<f64> = None;
    let mut best = f64::INFINITY;
    for &x in values.iter().filter(|x| x.is_finite()) {
        if let Some(l) = last {
            let d = (x - l).abs();
            if d > 0.0 && d < best {
                best = d;
            }
        }
        last = Some(x);
    }
    best.is_finite().then_some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_names() {
        for (name, kind) in [
            ("cpu", MetricKind::Cpu),
            ("container_cpu_usage_seconds_total", MetricKind::Cpu),
            ("mem", MetricKind::Memory),
            ("container_memory_working_set_bytes", MetricKind::Memory),
            ("latency-90", MetricKind::Latency),
            ("lat_50", MetricKind::Latency),
            ("request_duration_seconds_p99", MetricKind::Latency),
            ("errors_total", MetricKind::Errors),
            ("error_rate", MetricKind::Errors),
            ("requests_total", MetricKind::Traffic),
            ("load", MetricKind::Traffic),
            ("net_rx_bytes_total", MetricKind::Network),
            (
                "container_network_transmit_bytes_total",
                MetricKind::Network,
            ),
            ("queue_depth", MetricKind::Other),
        ] {
            assert_eq!(MetricKind::of(name), kind, "{name}");
        }
        assert_eq!(MetricKind::Memory.direction(), Direction::Up);
        assert_eq!(MetricKind::Traffic.direction(), Direction::Both);
    }

    #[test]
    fn counters_become_rates_across_gaps_and_restarts() {
        assert!(is_counter("requests_total") && is_counter("x_count"));
        assert!(!is_counter("mem") && !is_counter("total_memory"));
        let times = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
        let counter = [10.0, 12.0, f64::NAN, 18.0, 3.0, 5.0];
        let r = rates(&times, &counter);
        assert!(r[0].is_nan() && r[2].is_nan());
        assert_eq!(&r[1..2], &[2.0]);
        // 12 → 18 over two seconds; then a restart counted 3 from zero.
        assert_eq!(&r[3..], &[3.0, 3.0, 2.0]);
    }

    #[test]
    fn resolution_is_the_smallest_step() {
        assert_eq!(resolution(&[5.0, 5.0, 7.0, 7.0, 8.0]), Some(1.0));
        assert_eq!(resolution(&[5.0, f64::NAN, 5.0]), None);
    }
}
