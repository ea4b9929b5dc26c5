//! The demo's traffic as a Prometheus target: every request the embedded cluster measured is
//! counted in `http_requests_total{service,track,code}` and observed in the histogram
//! `http_request_duration_seconds{service,track}`, served in the text exposition format on a
//! loopback address, so that `healbot demo --prometheus URL` reads its signals from a real
//! Prometheus scraping this endpoint. Counters only grow, as Prometheus expects.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// Requests and latencies of one (service, track) since the exporter started.
#[derive(Debug, Clone)]
struct Totals {
    ok: u64,
    errors: u64,
    /// Requests per bucket (not cumulative), one per upper bound, then +Inf.
    buckets: Vec<u64>,
    sum_seconds: f64,
}

/// Upper bounds of the latency buckets: 10 µs to ~15 s, each 10% wider than the last, so that
/// a quantile interpolated inside a bucket is off by less than the canary judge's tolerance.
fn bounds() -> Vec<f64> {
    let mut out = Vec::new();
    let mut b = 1e-5;
    while b < 15.0 {
        out.push(b);
        b *= 1.1;
    }
    out
}

pub struct Exporter {
    bounds: Vec<f64>,
    series: Mutex<BTreeMap<(String, String), Totals>>,
}

impl Default for Exporter {
    fn default() -> Self {
        Exporter::new()
    }
}

impl Exporter {
    pub fn new() -> Exporter {
        Exporter {
            bounds: bounds(),
            series: Mutex::new(BTreeMap::new()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<(String, String), Totals>) -> T) -> T {
        f(&mut self.series.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Exports the series of (service, track) at zero, so that Prometheus sees them start from
    /// nothing and `increase` counts the first requests too.
    pub fn register(&self, service: &str, track: &str) {
        let empty = Totals {
            ok: 0,
            errors: 0,
            buckets: vec![0; self.bounds.len() + 1],
            sum_seconds: 0.0,
        };
        self.with(|s| {
            s.entry((service.to_string(), track.to_string()))
                .or_insert(empty);
        });
    }

    /// Counts one request.
    pub fn observe(&self, service: &str, track: &str, ok: bool, seconds: f64) {
        self.register(service, track);
        let bucket = self.bounds.partition_point(|b| *b < seconds);
        self.with(|s| {
            if let Some(t) = s.get_mut(&(service.to_string(), track.to_string())) {
                if ok {
                    t.ok += 1;
                } else {
                    t.errors += 1;
                }
                t.buckets[bucket] += 1;
                t.sum_seconds += seconds.max(0.0);
            }
        });
    }

    /// Requests of `service` counted so far, over its tracks.
    pub fn requests(&self, service: &str) -> u64 {
        self.with(|s| {
            s.iter()
                .filter(|((svc, _), _)| svc == service)
                .map(|(_, t)| t.ok + t.errors)
                .sum()
        })
    }

    /// The text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let series = self.with(|s| s.clone());
        let mut out = String::from(
            "# HELP http_requests_total Requests the demo's embedded traffic served.\n\
             # TYPE http_requests_total counter\n",
        );
        for ((svc, track), t) in &series {
            let labels = format!("service=\"{}\",track=\"{}\"", esc(svc), esc(track));
            let _ = writeln!(out, "http_requests_total{{{labels},code=\"200\"}} {}", t.ok);
            let _ = writeln!(
                out,
                "http_requests_total{{{labels},code=\"500\"}} {}",
                t.errors
            );
        }
        out.push_str(
            "# HELP http_request_duration_seconds Latency the demo's embedded traffic measured.\n\
             # TYPE http_request_duration_seconds histogram\n",
        );
        for ((svc, track), t) in &series {
            let labels = format!("service=\"{}\",track=\"{}\"", esc(svc), esc(track));
            let mut cumulative = 0;
            for (le, n) in self.bounds.iter().zip(&t.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "http_request_duration_seconds_bucket{{{labels},le=\"{le:e}\"}} {cumulative}"
                );
            }
            let count = t.ok + t.errors;
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}\n\
                 http_request_duration_seconds_sum{{{labels}}} {}\n\
                 http_request_duration_seconds_count{{{labels}}} {count}",
                t.sum_seconds
            );
        }
        out
    }

    /// Binds `addr` now (so that a taken port is an error before anything is set up) and
    /// serves `GET /metrics` from a background task for as long as the runtime lives.
    pub async fn serve(self: &Arc<Self>, addr: &str) -> anyhow::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            anyhow::anyhow!("cannot listen for the metrics exporter on {addr}: {e}")
        })?;
        let bound = listener.local_addr()?;
        let me = self.clone();
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let me = me.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        me.render(),
                    )
                }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(bound)
    }
}

/// A label value in the exposition format.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_accumulate_and_buckets_are_cumulative() {
        let e = Exporter::new();
        e.register("svc", "canary");
        e.observe("svc", "stable", true, 0.002);
        e.observe("svc", "stable", false, 0.2);
        e.observe("svc", "stable", true, 0.002);
        let text = e.render();
        assert!(
            text.contains("http_requests_total{service=\"svc\",track=\"stable\",code=\"200\"} 2\n")
        );
        assert!(
            text.contains("http_requests_total{service=\"svc\",track=\"stable\",code=\"500\"} 1\n")
        );
        assert!(
            text.contains("http_requests_total{service=\"svc\",track=\"canary\",code=\"200\"} 0\n")
        );
        assert!(text.contains(
            "http_request_duration_seconds_bucket{service=\"svc\",track=\"stable\",le=\"+Inf\"} 3\n"
        ));
        assert_eq!(e.requests("svc"), 3);
        let counts: Vec<u64> = text
            .lines()
            .filter(|l| {
                l.starts_with(
                    "http_request_duration_seconds_bucket{service=\"svc\",track=\"stable\"",
                )
            })
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
        e.observe("svc", "stable", true, 0.002);
        assert!(e
            .render()
            .contains("http_requests_total{service=\"svc\",track=\"stable\",code=\"200\"} 3\n"));
    }
}
