//! What healbot's calls to the GitHub API cost, for `/metrics`: calls by method and status,
//! their latency, and the primary rate limit GitHub says is left. Process-wide (like a
//! Prometheus client's default registry), because every GitHub client of the process spends
//! the same installation's budget and `/metrics` reports the process.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds, in seconds, of the latency histogram's buckets.
pub(crate) const LATENCY_BUCKETS: [f64; 9] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The calls of the whole process.
pub(crate) static API_STATS: ApiStats = ApiStats::new();

pub(crate) struct ApiStats {
    /// (method, status or "error") → calls.
    calls: Mutex<BTreeMap<(&'static str, String), u64>>,
    /// Per bucket (not cumulative); the last slot is `+Inf`.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    /// Sum of latencies in microseconds.
    sum_micros: AtomicU64,
    /// `X-RateLimit-Remaining` of the last response that carried it; -1 before any.
    remaining: AtomicI64,
}

/// A copy of the figures, for rendering.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiSnapshot {
    pub calls: BTreeMap<(&'static str, String), u64>,
    /// Cumulative counts per bucket bound, `+Inf` last.
    pub cumulative: Vec<u64>,
    pub sum_seconds: f64,
    pub remaining: Option<u64>,
}

impl ApiStats {
    const fn new() -> ApiStats {
        ApiStats {
            calls: Mutex::new(BTreeMap::new()),
            buckets: [const { AtomicU64::new(0) }; LATENCY_BUCKETS.len() + 1],
            sum_micros: AtomicU64::new(0),
            remaining: AtomicI64::new(-1),
        }
    }

    /// One call: `status` is the HTTP status, `None` when no response came.
    pub fn observe(
        &self,
        method: &'static str,
        status: Option<u16>,
        took: Duration,
        remaining: Option<u64>,
    ) {
        let status = status.map_or_else(|| "error".to_string(), |s| s.to_string());
        if let Ok(mut calls) = self.calls.lock() {
            *calls.entry((method, status)).or_default() += 1;
        }
        let seconds = took.as_secs_f64();
        let slot = LATENCY_BUCKETS
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        if let Some(r) = remaining {
            self.remaining
                .store(i64::try_from(r).unwrap_or(i64::MAX), Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> ApiSnapshot {
        let mut running = 0;
        let cumulative = self
            .buckets
            .iter()
            .map(|b| {
                running += b.load(Ordering::Relaxed);
                running
            })
            .collect();
        let remaining = self.remaining.load(Ordering::Relaxed);
        ApiSnapshot {
            calls: self.calls.lock().map(|c| c.clone()).unwrap_or_default(),
            cumulative,
            sum_seconds: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
            remaining: u64::try_from(remaining).ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_buckets_and_keeps_the_last_remaining() {
        let stats = ApiStats::new();
        stats.observe("GET", Some(200), Duration::from_millis(70), Some(4999));
        stats.observe("GET", Some(200), Duration::from_secs(40), None);
        stats.observe("POST", None, Duration::from_millis(1), None);
        let s = stats.snapshot();
        assert_eq!(s.calls[&("GET", "200".to_string())], 2);
        assert_eq!(s.calls[&("POST", "error".to_string())], 1);
        // 1 ms and 70 ms below 0.1 s; 40 s only in +Inf.
        assert_eq!(s.cumulative[0], 1);
        assert_eq!(s.cumulative[1], 2);
        assert_eq!(*s.cumulative.last().unwrap(), 3);
        assert_eq!(s.remaining, Some(4999));
    }
}
